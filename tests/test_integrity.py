"""Data integrity (issue 10 §4): shard names, duplicate recordings, what ``verify`` catches,
and output/cache failures that must not look like bad input.

Every dataset here is built at test time from real tang2018 folders (``realsubset``:
links to, or copies of, the three shortest real folders); every defect is made by
changing a COPY of a built dataset or of the inputs, never the shared data.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from motionpair.build.dataset import BuildError, build, write_manifest
from motionpair.build.pair import shard_name
from motionpair.build.scan import scan
from motionpair.cli import app
from motionpair.config import BuildConfig
from motionpair.consumers.verify import verify
from motionpair.store import DatasetError, read_manifest, shard_array
from motionpair.types import WindowRow
from realsubset import SHORT_SESSIONS, real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def small(tang_dir, tmp_path_factory, cache_dir):
    """A built dataset of the three shortest real folders (inputs linked, never copied)."""
    base = tmp_path_factory.mktemp("integrity")
    data = real_subset(tang_dir, base / "data", writable=False)
    res = build([data], base / "out", BuildConfig(), workers=1, cache_dir=cache_dir)
    assert verify(res.out)[0] == []
    return res


def _copy(small, tmp_path: Path) -> Path:
    dest = tmp_path / "ds"
    shutil.copytree(small.out, dest)
    return dest


def _rows(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "manifest.jsonl").read_text().splitlines()]


def _write_rows(d: Path, rows: list[dict]) -> None:
    """Rewrite manifest.jsonl AND manifest.parquet (so only the tested defect remains)."""
    write_manifest(d, [WindowRow.from_dict(r) for r in rows])


# ---------------------------------------------------------------------------- shard names

def test_shard_names_are_injective():
    """The old sanitiser mapped both ids to shards/motionmix__mix_a-...; the hash keeps them
    apart (ids in MotionMix's real pair-id format, session folder names differ by one char)."""
    a = "motionmix/mix a-2026-04-08T13-31-32Z/cam0/00_track"
    b = "motionmix/mix_a-2026-04-08T13-31-32Z/cam0/00_track"
    assert shard_name(a) != shard_name(b)
    assert shard_name(a).startswith("shards/motionmix__mix_a-2026-04-08T13-31-32Z__cam0")
    assert shard_name("tang2018/DANCE_W_4") == shard_name("tang2018/DANCE_W_4")  # stable


def test_verify_fails_when_two_pairs_share_a_shard(small, tmp_path):
    """What the colliding sanitiser produced: pair B's rows and record name pair A's shard."""
    d = _copy(small, tmp_path)
    rows = _rows(d)
    shards = sorted({r["shard"] for r in rows})
    a, b = shards[0], shards[1]
    n_a = sum(r["shard"] == a for r in rows)
    for r in rows:  # B's rows continue A's row numbers, as two writers into one folder would
        if r["shard"] == b:
            r["shard"], r["row"] = a, r["row"] + n_a
    _write_rows(d, rows)
    meta = json.loads((d / "dataset.json").read_text())
    for p in meta["pairs"]:
        if p["shard"] == b:
            p["shard"] = a
    (d / "dataset.json").write_text(json.dumps(meta, indent=2))
    fails, _ = verify(d)
    assert any("shared by 2 pairs" in f and a in f for f in fails), fails


# ---------------------------------------------------------------------------- verify

def test_verify_fails_on_flipped_shard_bytes(small, tmp_path):
    d = _copy(small, tmp_path)
    path = sorted((d / "shards").glob("*/pose.npy"))[0]
    data = bytearray(path.read_bytes())
    data[-4] ^= 0x01  # lowest mantissa byte of the last float: still finite, still loads
    path.write_bytes(bytes(data))
    assert np.isfinite(np.load(path)).all()
    fails, _ = verify(d)
    rel = path.relative_to(d).as_posix()
    assert any(f.startswith(rel) and "sha256" in f for f in fails), fails


def test_verify_fails_on_one_rows_times_shifted(small, tmp_path):
    """start_frame, start_s, end_s and the motion times of one row moved consistently by 7
    frames: every field agrees with every other, only the shard's mel frames tell."""
    d = _copy(small, tmp_path)
    rows = _rows(d)
    meta = json.loads((d / "dataset.json").read_text())
    clock = {p["shard"]: p["clock_map"] for p in meta["pairs"]}
    r = rows[len(rows) // 2]
    cm = clock[r["shard"]]
    r["start_frame"] += 7
    r["start_s"] = r["start_frame"] / r["fps"]
    r["end_s"] = (r["start_frame"] + r["n_frames"]) / r["fps"]
    r["motion_start_s"] = round((r["start_s"] - cm["offset_s"]) / cm["scale"], 9)
    r["motion_end_s"] = round((r["end_s"] - cm["offset_s"]) / cm["scale"], 9)
    _write_rows(d, rows)
    fails, _ = verify(d)
    assert any(r["id"] in f and "mel frames" in f for f in fails), fails


def test_verify_fails_on_motion_times_alone_shifted(small, tmp_path):
    d = _copy(small, tmp_path)
    rows = _rows(d)
    rows[3]["motion_start_s"] += 0.5
    rows[3]["motion_end_s"] += 0.5
    _write_rows(d, rows)
    fails, _ = verify(d)
    assert any(rows[3]["id"] in f and "clock map" in f for f in fails), fails


def test_verify_compares_parquet_field_by_field(small, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = _copy(small, tmp_path)
    rows = _rows(d)
    changed = [dict(r) for r in rows]
    changed[0]["start_s"] += 1.0
    changed[5]["split"] = "test" if changed[5]["split"] != "test" else "train"
    pq.write_table(pa.Table.from_pylist(changed), d / "manifest.parquet")  # jsonl untouched
    fails, _ = verify(d)
    assert any("row 1" in f and "start_s" in f for f in fails), fails
    assert any("row 6" in f and "split" in f for f in fails), fails


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_shard_paths_leaving_the_dataset_are_refused(small, tmp_path, kind):
    """A shard copied outside the dataset and named by ``../`` or an absolute path: the old
    loader followed it (the arrays are valid, so nothing else would notice)."""
    d = _copy(small, tmp_path)
    rows = _rows(d)
    victim = rows[0]["shard"]
    outside = tmp_path / "outside" / "shards" / "x"
    shutil.copytree(d / victim, outside)
    new = "../outside/shards/x" if kind == "dotdot" else str(outside)
    for r in rows:
        if r["shard"] == victim:
            r["shard"] = new
    _write_rows(d, rows)
    fails, _ = verify(d)
    assert any("leaves the dataset" in f and new in f for f in fails), fails
    with pytest.raises(DatasetError, match="leaves the dataset"):
        shard_array(d, new, "pose")
    torch_mod = pytest.importorskip("motionpair.torch")
    with pytest.raises(ValueError, match="leaves the dataset"):
        torch_mod.MotionPairDataset(d, split=None)


def test_verify_and_preview_of_a_cut_off_manifest(small, tmp_path):
    d = _copy(small, tmp_path)
    text = (d / "manifest.jsonl").read_bytes()
    (d / "manifest.jsonl").write_bytes(text[: len(text) // 2])  # cut mid-line
    fails, _ = verify(d)
    assert len(fails) == 1 and "manifest.jsonl: line" in fails[0] and "cut off" in fails[0]
    runner = CliRunner()
    res = runner.invoke(app, ["verify", str(d)])
    assert res.exit_code == 1 and "cut off" in res.output
    assert isinstance(res.exception, SystemExit)  # no traceback
    res = runner.invoke(app, ["preview", str(d), "--out", str(tmp_path / "p.png")])
    # refused before drawing, as verify fails it: a damaged dataset is an input problem (1)
    assert res.exit_code == 1 and "cut off" in res.output, res.output
    assert isinstance(res.exception, SystemExit)


# ---------------------------------------------------------------------------- duplicates

@pytest.fixture(scope="module")
def with_copies(tang_dir, tmp_path_factory):
    """The three real folders plus DANCE_W_4 again as DANCE_W_40 (hard links) and as
    DANCE_W_41 (a byte-identical copy)."""
    data = real_subset(tang_dir, tmp_path_factory.mktemp("dups") / "data", writable=True)
    shutil.copytree(data / "DANCE_W_4", data / "DANCE_W_40", copy_function=os.link)
    shutil.copytree(data / "DANCE_W_4", data / "DANCE_W_41")
    return data


def test_duplicate_recordings_are_reported(with_copies):
    inv = scan([with_copies])
    assert [d["sessions"] for d in inv.duplicates] == [["DANCE_W_4", "DANCE_W_40",
                                                        "DANCE_W_41"]]
    assert inv.to_dict()["duplicates"] == inv.duplicates


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_duplicate_recordings_stay_in_one_split(with_copies, tmp_path, cache_dir, seed):
    res = build([with_copies], tmp_path / "out", BuildConfig(seed=seed), workers=1,
                cache_dir=cache_dir)
    split = {r.session: r.split for r in res.rows}
    assert split["DANCE_W_4"] == split["DANCE_W_40"] == split["DANCE_W_41"], split
    assert res.split_info["duplicates_joined"] == {
        "DANCE_W_4": ["DANCE_W_4", "DANCE_W_40", "DANCE_W_41"]}
    inv = json.loads((res.out / "inventory.json").read_text())
    assert inv["duplicates"][0]["sessions"] == ["DANCE_W_4", "DANCE_W_40", "DANCE_W_41"]
    assert verify(res.out)[0] == []


def test_duplicates_share_time_blocks(with_copies, tmp_path, cache_dir):
    """--split-by time-block: a window and its copy (same times) always get the same split."""
    res = build([with_copies], tmp_path / "out", BuildConfig(split_by="time-block"),
                workers=1, cache_dir=cache_dir)
    by_key: dict[tuple, set] = {}
    for r in res.rows:
        if r.session.startswith("DANCE_W_4"):
            by_key.setdefault((r.start_frame, r.end_s), set()).add(r.split)
    assert by_key and all(len(v) == 1 for v in by_key.values())
    assert verify(res.out)[0] == []


def test_verify_fails_when_duplicates_straddle_splits(with_copies, tmp_path, cache_dir):
    res = build([with_copies], tmp_path / "out", BuildConfig(), workers=1, cache_dir=cache_dir)
    rows = _rows(res.out)
    here = next(r["split"] for r in rows if r["session"] == "DANCE_W_40")
    other = "train" if here != "train" else "val"
    for r in rows:
        if r["session"] == "DANCE_W_40":
            r["split"] = other
    _write_rows(res.out, rows)
    fails, _ = verify(res.out)
    assert any("hold the same recording" in f for f in fails), fails


def test_build_output_names_duplicates(with_copies, tmp_path, cache_dir):
    res = CliRunner().invoke(app, ["build", str(with_copies), "--out", str(tmp_path / "o"),
                                   "--cache", str(cache_dir), "--workers", "1"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "duplicate: DANCE_W_4 and DANCE_W_40 and DANCE_W_41: the same recording" in text


def test_folder_name_with_trailing_newline_is_not_a_session(tang_dir, tmp_path):
    data = real_subset(tang_dir, tmp_path / "data", writable=False, sessions=("DANCE_W_4",))
    os.rename(data / "DANCE_W_4", data / "DANCE_W_4\n")
    inv = scan([data])
    assert inv.pairs == [] and not any("\n" in u.get("session", "") for u in inv.units)


def test_library_message_gets_its_file_named(tang_dir, tmp_path):
    """A 5001-digit start_position: Python's own message names no file; the reason does."""
    data = real_subset(tang_dir, tmp_path / "data", writable=True, sessions=("DANCE_W_4",))
    cfg = data / "DANCE_W_4" / "config.json"
    cfg.write_text('{"start_position": ' + "1" * 5001 + ', "end_position": 2000}')
    (p,) = scan([data]).problems
    assert "config.json" in p.reason.split(":")[0] and "digits" in p.reason, p.reason


# ---------------------------------------------------------------------------- cache, output

def _raise_under(root: Path, real, err: int):
    """A stand-in for a tempfile function that fails with ``err`` inside ``root`` only."""
    def fake(*args, **kwargs):
        where = Path(kwargs.get("dir") or tempfile.gettempdir()).resolve()
        if where == root.resolve() or root.resolve() in where.parents:
            raise OSError(err, os.strerror(err), str(where))
        return real(*args, **kwargs)
    return fake


def test_read_only_cache_warns_once_and_builds_uncached(small, tang_dir, tmp_path,
                                                        monkeypatch):
    cache = tmp_path / "rocache"
    cache.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", _raise_under(cache, tempfile.mkstemp, errno.EROFS))
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    res = CliRunner().invoke(app, ["build", str(data), "--out", str(tmp_path / "o"),
                                   "--cache", str(cache), "--workers", "1"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert text.count("cannot be written") == 1 and "building without the cache" in text
    assert "Errno" not in text and "bad:" not in text  # no good input dropped
    assert len(read_manifest(tmp_path / "o")) == len(small.rows)


def test_cache_entry_missing_a_key_is_a_miss(small, tang_dir, tmp_path, cache_dir):
    cache = tmp_path / "cache"
    shutil.copytree(cache_dir, cache)
    n = 0
    for entry in sorted((cache / "audio").rglob("*.npz")):
        with np.load(entry, allow_pickle=False) as z:
            kept = {k: z[k] for k in z.files if k != "beat_times_s"}
        with open(entry, "wb") as f:
            np.savez(f, **kept)
        n += 1
    assert n >= len(SHORT_SESSIONS)
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    res = build([data], tmp_path / "o", BuildConfig(), workers=1, cache_dir=cache)
    assert res.cache["misses"] == len(SHORT_SESSIONS)  # each audio stage recomputed
    assert len(res.rows) == len(small.rows) and not res.problems


def test_read_only_parent_of_out_is_one_line(tang_dir, tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    real_mkdir = os.mkdir

    def mkdir_read_only_under_parent(path, *args, **kwargs):  # the staging folder's mkdir
        if Path(path).resolve().parent == parent.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir_read_only_under_parent)
    data = real_subset(tang_dir, tmp_path / "data", writable=False, sessions=("DANCE_W_4",))
    res = CliRunner().invoke(app, ["build", str(data), "--out", str(parent / "ds"),
                                   "--no-cache", "--workers", "1"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    line = " ".join(res.output.split())
    assert "build failed: cannot write beside --out" in line and "Read-only file system" in line


def test_full_disk_is_an_output_error_not_an_input_problem(small, tang_dir, tmp_path,
                                                           cache_dir, monkeypatch):
    real_save = np.save

    def full(file, *a, **k):
        if "shards" in str(file):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_save(file, *a, **k)

    monkeypatch.setattr(np, "save", full)
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    with pytest.raises(BuildError) as info:
        build([data], tmp_path / "o", BuildConfig(), workers=1, cache_dir=cache_dir)
    text = str(info.value)
    assert "output error" in text and "No space left on device" in text
    assert "input problem" not in text.replace("not an input problem", "")
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.tmp-*"))  # staging removed
