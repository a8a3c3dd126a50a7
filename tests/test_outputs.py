"""Every command keeps build's promises (issue 21, items 1-2; issue 20, item 8).

* One output discipline (``motionpair.outputs``): a folder is written only when new, empty or
  marked by that command; never inside an input, a dataset or another command's output;
  ``--json`` and ``--cache`` included. Each refusal: exit 2, one line, nothing touched.
* Nothing ``verify`` fails is consumed: export-shards, train and evaluate refuse it (exit 1);
  ``verify`` itself never raises; the loader never reads row -1 as the last window.
* ``prep-audio`` applies the build's truncation check; ``capture --same-performance`` never
  writes a non-finite camera offset.
* Lock files are removed after every build; the summary counts pairs in the dataset.

Inputs: three real tang2018 folders linked into tmp (``realsubset``) and one build of them;
damaged datasets are copies of that build changed at test time; the cut MP3 is the real
DANCE_W_4 audio's first 300 KB; the silent camera is a cut of the real dancer.avi with its
audio replaced by silence. Each case names the defect it reproduces (docs/robustness.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digests import tree_digest
from motionpair.build.dataset import build
from motionpair.config import BuildConfig
from realsubset import real_subset

pytestmark = [pytest.mark.realdata]

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.fixture(scope="module")
def world(tang_dir, tmp_path_factory, cache_dir):
    base = tmp_path_factory.mktemp("outputs")
    data = real_subset(tang_dir, base / "data", writable=False)
    summary = build([data], base / "ds", BuildConfig(), workers=2, cache_dir=cache_dir)
    return {"base": base, "data": data, "ds": summary.out, "summary": summary,
            "cache": cache_dir, "ds_digest": tree_digest(summary.out)}


def _run(*args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motionpair", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def _refused(res: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit ``code``, no traceback, one ``error:`` line naming ``words``."""
    text = res.stdout + res.stderr
    assert res.returncode == code, (res.returncode, text)
    assert "Traceback" not in text, text
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error")]
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def _foreign(folder: Path, *names: str) -> dict[str, str]:
    """A user's folder holding ``names`` (and src/main.py); returns its contents."""
    folder.mkdir(parents=True)
    (folder / "src").mkdir()
    (folder / "src" / "main.py").write_text("print('mine')\n")
    for n in names:
        (folder / n).write_text(f"user's {n}\n")
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def _same(folder: Path, before: dict[str, str]) -> bool:
    now = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    return now == before


def _copy(world, tmp_path: Path, name: str = "ds") -> Path:
    d = tmp_path / name
    shutil.copytree(world["ds"], d)
    return d


def _train_shard(d: Path) -> Path:
    rows = [json.loads(ln) for ln in (d / "manifest.jsonl").read_text().splitlines()]
    return d / next(r["shard"] for r in rows if r["split"] == "train")


def _val_shard(d: Path) -> Path:
    rows = [json.loads(ln) for ln in (d / "manifest.jsonl").read_text().splitlines()]
    return d / next(r["shard"] for r in rows if r["split"] == "val")


# -- 1. output discipline ------------------------------------------------------------------

def test_export_shards_keeps_a_folder_that_merely_holds_export_json(world, tmp_path):
    """Before: a user's folder holding some export.json was replaced (src/main.py lost)."""
    out = tmp_path / "proj"
    before = _foreign(out, "export.json")
    _refused(_run("export-shards", world["ds"], "--format", "webdataset", "--out", out), 2,
             "not a motionpair export")
    assert _same(out, before)


def test_export_shards_rewrites_its_own_export_and_not_inside_the_dataset(world, tmp_path):
    pytest.importorskip("webdataset")
    out = tmp_path / "wds"
    for _ in range(2):  # a new folder, then its own export again
        res = _run("export-shards", world["ds"], "--format", "webdataset", "--out", out)
        assert res.returncode == 0, res.stderr
    assert (out / ".motionpair-export").is_file()
    assert not list(tmp_path.glob(".wds.*")), "staging or lock file left"
    _refused(_run("export-shards", world["ds"], "--format", "webdataset", "--out",
                  world["ds"] / "wds"), 2, "input")
    assert tree_digest(world["ds"]) == world["ds_digest"]


def test_train_keeps_a_users_config_and_metrics(world, tmp_path):
    """Before: config.json replaced, training rows appended to metrics.csv, KeyError."""
    pytest.importorskip("torch")
    out = tmp_path / "run"
    before = _foreign(out, "config.json", "metrics.csv")
    _refused(_run("train", world["ds"], "--out", out, "--steps", "2"), 2, "not a motionpair run")
    assert _same(out, before)


@pytest.mark.parametrize("command", ["generate", "align"])
def test_generate_and_align_keep_same_named_files(world, tmp_path, command):
    """Before: generate's motion.npy/generate.json and align's alignment.json overwrote a
    user's files of the same name."""
    if command == "generate":
        pytest.importorskip("torch")
    out = tmp_path / "out"
    before = _foreign(out, "motion.npy", "generate.json", "alignment.json")
    args = (["generate", tmp_path / "run", world["data"] / "DANCE_W_4" / "audio.mp3"]
            if command == "generate" else ["align", world["data"]])
    _refused(_run(*args, "--out", out), 2, f"not a motionpair {command}")
    assert _same(out, before)


def test_prep_audio_keeps_a_foreign_playlist_folder(world, tmp_path):
    audio = tmp_path / "pl"
    audio.mkdir()
    (audio / "a.mp3").symlink_to(world["data"] / "DANCE_W_4" / "audio.mp3")
    before = _foreign(tmp_path / "out" / "pl", "manifest.json")
    _refused(_run("prep-audio", audio, "--out", tmp_path / "out"), 2, "prep-audio")
    assert _same(tmp_path / "out" / "pl", before)


def test_build_json_inside_out_is_refused_before_work(world, tmp_path):
    """Before: build --json OUT/manifest.jsonl replaced the published manifest."""
    ds = _copy(world, tmp_path)
    digest = tree_digest(ds)
    _refused(_run("build", world["data"], "--out", ds, "--cache", world["cache"], "--json",
                  ds / "manifest.jsonl"), 2, "--json", "overlaps")
    assert tree_digest(ds) == digest


def test_json_never_lands_in_a_dataset_or_over_a_non_json_file(world, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    _refused(_run("scan", world["data"], "--json", notes), 2, "does not hold JSON")
    assert notes.read_text() == "my notes\n"
    _refused(_run("scan", world["data"], "--json", world["ds"] / "scan.json"), 2,
             "motionpair dataset")
    assert tree_digest(world["ds"]) == world["ds_digest"]
    ok = tmp_path / "scan.json"
    for _ in range(2):  # a new file, then its own JSON again
        assert _run("scan", world["data"], "--json", ok).returncode == 0
    assert json.loads(ok.read_text())


def test_cache_inside_an_input_is_refused(world, tmp_path):
    """Before: --cache inside an input wrote cache folders there (7 bad playlists later)."""
    data = world["data"]
    digest = tree_digest(data)
    _refused(_run("build", data, "--out", tmp_path / "ds", "--cache", data / "cache"), 2,
             "--cache", "inside input")
    _refused(_run("align", data, "--cache", data / "DANCE_W_4" / "c"), 2, "inside input")
    assert tree_digest(data) == digest and not (tmp_path / "ds").exists()


def test_capture_refuses_a_foreign_root(dancer_video, tmp_path):
    pytest.importorskip("mediapipe")
    out = tmp_path / "root"
    before = _foreign(out, "audio")
    _refused(_run("capture", dancer_video, "--out", out), 2, "not a motionpair capture")
    assert _same(out, before)


def test_lock_files_are_removed_after_builds(world, tmp_path):
    """Before: .NAME.lock stayed beside --out, also after a build that published nothing."""
    out = tmp_path / "ds"
    build([world["data"]], out, BuildConfig(hop_s=2.0), workers=2, cache_dir=world["cache"])
    empty = tmp_path / "empty-input"
    empty.mkdir()
    res = _run("build", empty, "--out", tmp_path / "nothing", "--no-cache")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "empty-input"]


def test_summary_counts_the_pairs_in_the_dataset(world):
    """Before: "from 3 pairs" when one pair failed mid-build and the dataset held 2."""
    import dataclasses

    from motionpair.commands.build import build_summary

    s = world["summary"]
    assert build_summary(s, [world["data"]])["pairs"] == 3
    kept = [r for r in s.rows if "DANCE_W_4" not in r.id]
    assert build_summary(dataclasses.replace(s, rows=kept), [world["data"]])["pairs"] == 2


# -- 2. nothing verify fails is consumed ------------------------------------------------------

def _damage(d: Path, how: str) -> None:
    shard = _train_shard(d)
    rows = (d / "manifest.jsonl").read_text().splitlines()
    if how == "missing shard":
        shutil.rmtree(shard)
    elif how == "path leaves":
        r = json.loads(rows[0])
        r["shard"] = "../" + r["shard"]
        (d / "manifest.jsonl").write_text("\n".join([json.dumps(r), *rows[1:]]) + "\n")
    elif how == "empty manifest":
        (d / "manifest.jsonl").write_text("")
    elif how == "row 10^12":
        r = json.loads(rows[0])
        r["row"] = 10 ** 12
        (d / "manifest.jsonl").write_text("\n".join([json.dumps(r), *rows[1:]]) + "\n")
    elif how == "truncated":
        p = shard / "pose.npy"
        p.write_bytes(p.read_bytes()[:1000])
    elif how == "pickled":
        p = shard / "pose.npy"
        np.save(p, np.load(p).astype(object), allow_pickle=True)
    elif how == "dangling symlink":
        p = shard / "pose.npy"
        p.unlink()
        p.symlink_to(d.parent / "nowhere.npy")
    elif how == "nan in val":
        p = _val_shard(d) / "pose.npy"
        a = np.load(p)
        a[0, 0, 0, 0] = np.nan
        np.save(p, a)
    elif how == "int8 pose":
        p = shard / "pose.npy"
        np.save(p, np.load(p).astype(np.int8))


DAMAGES = ["missing shard", "path leaves", "empty manifest", "row 10^12", "truncated",
           "pickled", "dangling symlink", "nan in val", "int8 pose"]


@pytest.mark.parametrize("how", DAMAGES)
def test_verify_names_every_damage_without_a_traceback(world, tmp_path, how):
    """Before: an empty manifest or a damaged train shard raised from the norm-stats check."""
    from motionpair.consumers.verify import verify

    d = _copy(world, tmp_path)
    _damage(d, how)
    fails, _ = verify(d)
    assert fails, how
    if how in ("empty manifest", "truncated"):
        res = _run("verify", d)
        assert res.returncode == 1 and "Traceback" not in res.stdout + res.stderr
        assert "FAIL" in res.stdout + res.stderr


@pytest.mark.parametrize("how", ["missing shard", "path leaves", "empty manifest"])
def test_export_shards_refuses_what_verify_fails(world, tmp_path, how):
    """Before: exit 0 with that split's arrays missing, or "0 windows"."""
    d = _copy(world, tmp_path)
    _damage(d, how)
    res = _run("export-shards", d, "--format", "webdataset", "--out", tmp_path / "wds")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "fails `motionpair verify`" in res.stderr
    assert not (tmp_path / "wds").exists()


@pytest.mark.parametrize("how", ["nan in val", "int8 pose", "row 10^12"])
def test_train_and_evaluate_refuse_what_verify_fails(world, tmp_path, how):
    """Before: NaN in a val pose trained to "val MSE None" and exit 0; int8 pose trained."""
    pytest.importorskip("torch")
    d = _copy(world, tmp_path)
    _damage(d, how)
    res = _run("train", d, "--out", tmp_path / "run", "--steps", "2")
    assert res.returncode == 1 and "fails `motionpair verify`" in res.stderr, res.stderr
    assert not (tmp_path / "run").exists()
    res = _run("evaluate", tmp_path / "run", d)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr


def test_loader_never_reads_row_minus_one_as_the_last_window(world, tmp_path):
    pytest.importorskip("torch")
    from motionpair.consumers.loader import MotionPairDataset

    d = _copy(world, tmp_path)
    rows = (d / "manifest.jsonl").read_text().splitlines()
    r = json.loads(rows[0])
    r["row"] = -1
    (d / "manifest.jsonl").write_text("\n".join([json.dumps(r), *rows[1:]]) + "\n")
    with pytest.raises(ValueError, match="row -1"):
        MotionPairDataset(d, split=None, normalize=False)


def test_prep_audio_reports_a_cut_mp3_as_truncated(world, tmp_path):
    """Before: the first 300 KB of a real MP3 was "prepared" as a 12.4 s track."""
    pl = tmp_path / "pl"
    pl.mkdir()
    mp3 = (world["data"] / "DANCE_W_4" / "audio.mp3").resolve()
    (pl / "cut.mp3").write_bytes(mp3.read_bytes()[:300_000])
    res = _run("prep-audio", pl, "--out", tmp_path / "out")
    assert "Traceback" not in res.stderr
    assert "truncated audio" in res.stdout + res.stderr
    manifest = json.loads((tmp_path / "out" / "pl" / "manifest.json").read_text())
    assert manifest["tracks"] == [] and "truncated" in manifest["problems"][0]["reason"]


def test_capture_leaves_a_silent_camera_out_of_the_sync(dancer_video, tmp_path, cache_dir):
    """Before: a silent-audio camera got offset NaN, "0 problems", and scan rejected the
    whole session."""
    pytest.importorskip("mediapipe")
    import derived_video as dv
    from motionpair.capture import video

    a0 = dv.camera_cut(dancer_video, tmp_path / "derived-camA.mkv", 5.0, 12.0)
    a = video.decode_audio(dancer_video)
    frames = dv._decoded(dancer_video, a0 + 3.0, a0 + 15.0)
    t0 = frames[0][0]
    dv._encode(tmp_path / "derived-silent.mkv", [(t - t0, img) for t, img in frames],
               np.zeros(int(12.0 * a.sr_hz), np.float32), a.sr_hz)
    root = tmp_path / "root"
    res = _run("capture", tmp_path / "derived-camA.mkv", tmp_path / "derived-silent.mkv",
               "--out", root, "--rate-hz", "1", "--same-performance", "--cache", cache_dir)
    assert "Traceback" not in res.stderr, res.stderr
    assert "no finite offset" in res.stderr and "1 problem(s)" in res.stdout
    (s,) = sorted((root / "sessions").iterdir())
    meta = json.loads((s / "metadata.json").read_text())
    assert meta["cameras"] == ["derived-camA"]
    assert "NaN" not in (s / "metadata.json").read_text()
