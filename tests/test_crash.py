"""A ``motionpair build`` killed with SIGKILL at any point leaves the previous dataset whole.

Each case builds a previous dataset (``--hop-s 2``) at ``--out``, starts a build with the
default config in a subprocess, and SIGKILLs its process group (main process, forkserver
and workers, as a killed job would be) at a point found by polling the filesystem: after
0.5 s, when the first shard file appears in the staging folder, when the manifest appears
there, and when ``build.json`` (the last file written before publishing) appears. Then:
``--out`` is byte-for-byte the previous dataset, nothing half-written is visible at
``--out``, and a rerun equals an uninterrupted build and leaves no staging folder behind.
Inputs: three real tang2018 folders, linked file by file into tmp.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digests import tree_digest
from motionpair.publish import publish, recover
from realsubset import real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: the subprocesses run this checkout's code (not whichever motionpair is installed)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(__file__).resolve().parents[1] / "src"),
     *filter(None, [os.environ.get("PYTHONPATH")])])}

@pytest.fixture(scope="module")
def setup(tang_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    data = real_subset(tang_dir, base / "data", writable=False)
    cache = base / "cache"
    ref = base / "ref"
    _run(data, ref, cache)  # the uninterrupted result (and a warm cache)
    _run(data, base / "prev-ref", cache, "--hop-s", "2")
    return {"data": data, "cache": cache, "base": base, "ref": tree_digest(ref),
            "prev": tree_digest(base / "prev-ref")}


def _cmd(data: Path, out: Path, cache: Path | None, *extra: str) -> list[str]:
    opts = ["--no-cache"] if cache is None else ["--cache", str(cache)]
    return [sys.executable, "-m", "motionpair", "build", str(data), "--out", str(out),
            "--workers", "2", *opts, *extra]


def _run(data, out, cache, *extra) -> None:
    res = subprocess.run(_cmd(data, out, cache, *extra), capture_output=True, text=True,
                         timeout=600, env=ENV)
    assert res.returncode == 0, res.stderr


def _staged(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.tmp-*"))


def _first_shard(out: Path) -> bool:
    return any(any(d.glob("shards/*/*.npy")) for d in _staged(out))


def _has(name: str):
    return lambda out: any((d / name).exists() for d in _staged(out))


def _after(seconds: float):
    t0 = time.monotonic()
    return lambda out: time.monotonic() - t0 >= seconds


#: kill point -> (condition polled every ~2 ms, use the warm cache?)
POINTS = {
    "after_0.5s": (_after(0.5), True),
    "mid_pairs": (_first_shard, False),  # --no-cache: the pairs phase lasts seconds
    "during_write": (_has("manifest.jsonl"), True),
    "before_publish": (_has("build.json"), True),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_leaves_previous_dataset(setup, point, tmp_path):
    out = tmp_path / "ds"
    cond, warm = POINTS[point]
    # the last kill points are a few milliseconds wide: a build may publish before the
    # ~2 ms poll sees them, so such an attempt is repeated (from the previous dataset again)
    for _attempt in range(5):
        _run(setup["data"], out, setup["cache"], "--hop-s", "2")
        assert tree_digest(out) == setup["prev"]
        proc = subprocess.Popen(_cmd(setup["data"], out, setup["cache"] if warm else None),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, env=ENV)
        hit = _kill_when(proc, lambda: cond(out))
        if hit:
            break
    else:
        pytest.fail(f"5 builds finished before reaching kill point {point!r}")
    _reap_group(proc.pid)
    # the previous dataset is intact, byte for byte; nothing half-written is visible there.
    # build.json is written just before the rename, so that kill may land after it: then
    # --out is the complete new dataset, the other atomic outcome
    allowed = [setup["prev"], setup["ref"]] if point == "before_publish" else [setup["prev"]]
    assert tree_digest(out) in allowed, f"--out is half-written after a kill at {point}"
    visible = sorted(p.name for p in out.parent.iterdir() if not p.name.startswith("."))
    assert visible == ["ds"], visible
    # a rerun completes, equals the uninterrupted build, and cleans up the staging folder
    _run(setup["data"], out, setup["cache"])
    assert tree_digest(out) == setup["ref"]
    assert not _staged(out)


def _kill_when(proc: subprocess.Popen, cond) -> bool:
    """SIGKILL ``proc``'s process group as soon as ``cond()`` holds; False if it finished."""
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if cond():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            return True
        time.sleep(0.002)
    proc.wait(timeout=60)
    return False


def _reap_group(pgid: int) -> None:
    """Wait until no process of the killed group is left (workers die with it)."""
    for _ in range(500):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def test_recover_restores_a_dataset_left_aside_mid_publish(tmp_path):
    """The two-rename fallback (no renameat2): a crash between the renames is undone."""
    out = tmp_path / "ds"
    (out / "shards").mkdir(parents=True)
    (out / "manifest.jsonl").write_text("previous\n")
    before = tree_digest(out)
    os.rename(out, tmp_path / ".ds.old-123")  # the first rename happened, then the crash
    (tmp_path / ".ds.tmp-abc").mkdir()  # and a staging folder was left behind
    notes = recover(out)
    assert tree_digest(out) == before and len(notes) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_publish_replaces_whole_folder(tmp_path):
    out, staged = tmp_path / "ds", tmp_path / ".ds.tmp-1"
    out.mkdir()
    (out / "old-only.txt").write_text("old")
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    publish(staged, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
