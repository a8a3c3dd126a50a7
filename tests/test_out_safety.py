"""``--out`` never deletes what motionpair did not write (issue 10, section 2).

``build --out`` and ``report --out`` replace a folder only when it is new, empty, or
carries motionpair's own marker (``.motionpair-dataset`` / ``.motionpair-report``);
anything else (a foreign folder, a regular file, a symbolic link, an input, a folder
inside an input or holding one) is refused with one line and exit 2, untouched. One
process writes a given ``--out`` at a time (a second build refuses at once with exit 1,
or waits with ``--wait``), SIGTERM removes the staging folder like Ctrl-C, and the
published folder has normal permissions.

Inputs: three real tang2018 folders linked file by file into tmp (``realsubset``); every
case runs the real CLI in a subprocess with this checkout's ``src`` first on the path.
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
from motionpair.build.dataset import build
from motionpair.config import BuildConfig
from realsubset import real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.fixture(scope="module")
def world(tang_dir, tmp_path_factory):
    """Linked real inputs, a warm cache, and one reference build (default config)."""
    base = tmp_path_factory.mktemp("outsafe")
    data = real_subset(tang_dir, base / "proj" / "data", writable=False)
    cache = base / "cache"
    ref = build([data], base / "ref", BuildConfig(), workers=2, cache_dir=cache)
    return {"base": base, "data": data, "cache": cache, "ref": ref.out,
            "ref_digest": tree_digest(ref.out), "data_digest": tree_digest(data)}


def _cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "motionpair", *map(str, args)]


def _build_cmd(world, out: Path | str, *extra: str) -> list[str]:
    opts = list(extra) if "--no-cache" in extra else ["--cache", str(world["cache"]), *extra]
    return _cmd("build", world["data"], "--out", out, "--workers", "2", *opts)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV, **kw)


def _one_line(res: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The refusal: exit ``code``, nothing on stdout, exactly one stderr line naming ``words``."""
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and not res.stdout.strip(), res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def _hidden_leftovers(folder: Path) -> list[str]:
    """Staging or set-aside folders left beside an ``--out`` (lock files are fine)."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name))


def test_foreign_folder_is_refused_and_kept(world, tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "f").write_text("k\n")
    line = _one_line(_run(_build_cmd(world, out)), 2, str(out), "not a motionpair dataset")
    assert "'f'" in line
    assert (out / "f").read_text() == "k\n" and sorted(p.name for p in out.iterdir()) == ["f"]
    assert not _hidden_leftovers(tmp_path)


def test_regular_file_out_is_refused_and_kept(world, tmp_path):
    out = tmp_path / "f"
    out.write_text("k\n")
    _one_line(_run(_build_cmd(world, out)), 2, str(out), "is a file")
    assert out.read_text() == "k\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # not moved aside


def test_symlink_out_is_refused(world, tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    (target / "f").write_text("k\n")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    _one_line(_run(_build_cmd(world, link)), 2, str(link), "symbolic link")
    assert link.is_symlink() and sorted(p.name for p in target.iterdir()) == ["f"]
    # a link to a motionpair dataset is refused as well: --out is replaced as a whole
    ds_link = tmp_path / "ds-link"
    ds_link.symlink_to(world["ref"], target_is_directory=True)
    _one_line(_run(_build_cmd(world, ds_link)), 2, "symbolic link")
    assert tree_digest(world["ref"]) == world["ref_digest"]


def test_out_holding_the_input_is_refused(world):
    proj = world["data"].parent  # proj/data is the input
    _one_line(_run(_build_cmd(world, proj)), 2, "contains input")
    assert tree_digest(world["data"]) == world["data_digest"]


def test_out_inside_or_equal_to_the_input_is_refused(world):
    for out in (world["data"] / "DANCE_W_4" / "ds", world["data"]):
        _one_line(_run(_build_cmd(world, out)), 2, "input")
        assert not (world["data"] / "DANCE_W_4" / "ds").exists()
    assert tree_digest(world["data"]) == world["data_digest"]


def test_cache_inside_out_is_refused(world, tmp_path):
    out = tmp_path / "ds"
    _one_line(_run(_cmd("build", world["data"], "--out", out, "--cache", out / "cache")),
              2, "cache")
    assert not out.exists()


def test_empty_folder_then_own_dataset_are_replaced(world, tmp_path):
    """An empty folder may be used; a rebuild over motionpair's own dataset works."""
    out = tmp_path / "ds"
    out.mkdir()
    assert _run(_build_cmd(world, out, "--hop-s", "2")).returncode == 0
    assert (out / ".motionpair-dataset").is_file()
    res = _run(_build_cmd(world, out))
    assert res.returncode == 0, res.stderr
    assert tree_digest(out) == world["ref_digest"]
    assert not _hidden_leftovers(tmp_path)


def test_published_folder_has_normal_permissions(world, tmp_path):
    out = tmp_path / "ds"
    res = _run(_build_cmd(world, out), preexec_fn=lambda: os.umask(0o022))
    assert res.returncode == 0, res.stderr
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777
             for p in [out, *out.rglob("*")]}
    bad = {k: oct(m) for k, m in modes.items()
           if m != (0o755 if (out / k).is_dir() else 0o644)}
    assert not bad, bad


def _staged(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.tmp-*"))


def _wait_for(cond, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 300
    while not cond():
        assert proc.poll() is None, f"build finished before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_second_build_to_the_same_out_refuses_at_once(world, tmp_path):
    """The first build keeps its staging folder and publishes a complete dataset."""
    out = tmp_path / "ds"
    first = subprocess.Popen(_build_cmd(world, out, "--no-cache"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_for(lambda: bool(_staged(out)), first, "the first build staged")
    staging = _staged(out)
    t0 = time.monotonic()
    second = _run(_build_cmd(world, out))
    _one_line(second, 1, "another motionpair process", "--wait")
    assert time.monotonic() - t0 < 60  # refused at once, not after waiting
    # a second build that would fail by itself (nothing to pair) must not touch it either
    empty = tmp_path / "empty-input"
    empty.mkdir()
    _one_line(_run(_cmd("build", empty, "--out", out, "--no-cache")), 1, "another")
    assert _staged(out) == staging and all(p.is_dir() for p in staging)
    waiter = subprocess.Popen(_build_cmd(world, out, "--wait"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    _, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1
    _, err2 = waiter.communicate(timeout=600)
    assert waiter.returncode == 0, err2
    assert tree_digest(out) == world["ref_digest"]
    ok = _run(_cmd("verify", out))
    assert ok.returncode == 0, ok.stderr
    assert not _hidden_leftovers(tmp_path)


def test_sigterm_removes_staging_and_keeps_previous(world, tmp_path):
    out = tmp_path / "ds"
    assert _run(_build_cmd(world, out, "--hop-s", "2")).returncode == 0
    prev = tree_digest(out)
    proc = subprocess.Popen(_build_cmd(world, out, "--no-cache"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_for(lambda: any(any(d.glob("shards/*/*.npy")) for d in _staged(out)), proc,
              "the first shard was written")
    os.kill(proc.pid, signal.SIGTERM)  # the main process alone, as `kill PID` does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == [
        "build stopped by SIGTERM: nothing published, unfinished output removed"], err
    time.sleep(1.0)  # a worker still writing would re-create the staging folder
    assert not _staged(out) and not _hidden_leftovers(tmp_path)
    assert tree_digest(out) == prev


def test_report_out_is_guarded(world, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("k\n")
    _one_line(_run(_cmd("report", world["ref"], "--out", foreign)), 2, "not a motionpair report")
    assert (foreign / "todo.txt").read_text() == "k\n"
    for bad in (world["ref"], world["ref"].parent):  # the dataset itself, or its parent
        _one_line(_run(_cmd("report", world["ref"], "--out", bad)), 2, "input")
    (tmp_path / "f").write_text("k\n")
    _one_line(_run(_cmd("report", world["ref"], "--out", tmp_path / "f")), 2, "is a file")
    assert (tmp_path / "f").read_text() == "k\n"
    rep = tmp_path / "rep"
    for _ in range(2):  # new, then over its own earlier report
        res = _run(_cmd("report", world["ref"], "--out", rep))
        assert res.returncode == 0, res.stderr
    assert (rep / ".motionpair-report").is_file() and (rep / "report.html").is_file()
    # motionpair's own outputs are replaced only by their own kind
    _one_line(_run(_build_cmd(world, rep)), 2, "a motionpair report, not a dataset")
    assert (rep / "report.html").is_file()
    assert tree_digest(world["ref"]) == world["ref_digest"]
