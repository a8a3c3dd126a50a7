"""Re-read a built dataset and check it; every failure is named, none is fatal to the check."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from motionpair.dataset import ARRAY_NAMES
from motionpair.store import read_dataset_json, read_manifest


def verify(dataset_dir: str | Path) -> tuple[list[str], dict]:
    """Return ``(failures, stats)``; an empty failure list means the dataset is sound."""
    d = Path(dataset_dir)
    fails: list[str] = []
    for name in ("dataset.json", "manifest.jsonl", "manifest.parquet", "inventory.json"):
        if not (d / name).is_file():
            fails.append(f"{name}: missing")
    if fails:
        return fails, {}
    meta = read_dataset_json(d)
    rows = read_manifest(d)
    fails += _check_parquet(d, rows)
    by_shard: dict[str, list] = defaultdict(list)
    for r in rows:
        by_shard[r.shard].append(r)
        fails += _check_times(r)
    skel = meta["motion"]["skeleton"]
    missing = {p["shard"]: p.get("audio_from", {}).get("missing") or []
               for p in meta.get("pairs", [])}
    for shard, srows in sorted(by_shard.items()):
        if sorted(r.row for r in srows) != list(range(len(srows))):
            fails.append(f"{shard}: manifest rows are not 0..{len(srows) - 1}")
        for name in ARRAY_NAMES:
            if name in missing.get(shard, ()):  # recorded as missing from the input
                continue
            fails += _check_array(d, shard, name, srows, skel)
    split_of: dict[str, set] = defaultdict(set)
    for r in rows:
        split_of[r.session].add(r.split)
    time_blocks = meta["splits"].get("method") == "time_block"
    for session, splits in sorted(split_of.items()):
        if len(splits) > 1 and not time_blocks:  # time blocks: guard gaps are checked instead
            fails.append(f"session {session} is in several splits: {sorted(splits)}")
    if time_blocks:
        from motionpair.splits import guard_gap_violations

        fails += guard_gap_violations([(r.session, r.split, r.motion_start_s, r.motion_end_s)
                                       for r in rows], guard_s=meta["splits"]["guard_s"])[:20]
    counts = {s: sum(r.split == s for r in rows) for s in sorted({r.split for r in rows})}
    if counts != meta["counts"]["windows_by_split"]:
        fails.append(f"windows per split {counts} != dataset.json {meta['counts']}")
    if len({r.id for r in rows}) != len(rows):
        fails.append("manifest ids are not unique")
    from motionpair.normstats import check_norm_stats

    fails += check_norm_stats(d, meta, rows)
    return fails, {"windows": len(rows), "shards": len(by_shard), "by_split": counts}


def _check_parquet(d: Path, rows: list) -> list[str]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(d / "manifest.parquet")
    except Exception as exc:  # any reader failure is a verify failure, named
        return [f"manifest.parquet: unreadable ({exc})"]
    ids = table.column("id").to_pylist()
    if ids != [r.id for r in rows]:
        return ["manifest.parquet ids differ from manifest.jsonl"]
    from motionpair.card import HF_SPLIT

    out = []
    for stored, hf in HF_SPLIT.items():  # per-split files the dataset card points to
        want = [r.id for r in rows if r.split == stored]
        path = d / "data" / f"{hf}.parquet"
        if not want and not path.exists():
            continue
        try:
            got = pq.read_table(path, columns=["id"]).column("id").to_pylist()
        except Exception as exc:  # missing or unreadable: named
            out.append(f"data/{hf}.parquet: unreadable ({exc})")
            continue
        if got != want:
            out.append(f"data/{hf}.parquet ids differ from the {stored} rows of manifest.jsonl")
    return out


def _check_times(r) -> list[str]:
    out = []
    if r.grid == "beats":
        if r.n_frames != r.frames_per_beat * round(r.n_frames / max(r.frames_per_beat, 1)):
            out.append(f"{r.id}: n_frames is not a whole number of beats")
        return out
    if abs((r.end_s - r.start_s) - r.n_frames / r.fps) > 1e-6:
        out.append(f"{r.id}: end_s - start_s != n_frames / fps")
    if abs(r.start_frame / r.fps - r.start_s) > 1e-6:
        out.append(f"{r.id}: start_s != start_frame / fps")
    if r.pose_coverage < 1.0 and r.grid != "snapshot":  # snapshot rows are sparse by design
        out.append(f"{r.id}: pose_coverage {r.pose_coverage} < 1")
    return out


def _check_array(d: Path, shard: str, name: str, srows: list, skel: dict) -> list[str]:
    path = d / shard / f"{name}.npy"
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # pickled, truncated or missing: all named failures
        return [f"{path.relative_to(d)}: does not load without pickle ({exc})"]
    out = []
    T = srows[0].n_frames
    if arr.shape[0] != len(srows) or arr.shape[1] != T:
        out.append(f"{path.relative_to(d)}: shape {arr.shape} but manifest has "
                   f"{len(srows)} rows of {T} frames")
    if name in ("pose", "velocity", "acceleration") and arr.shape[2:] != (
            skel["n_joints"], skel["dims"]):
        out.append(f"{path.relative_to(d)}: joints {arr.shape[2:]} != dataset.json "
                   f"({skel['n_joints']}, {skel['dims']})")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        out.append(f"{path.relative_to(d)}: holds NaN or inf")
    if name == "pose_valid" and srows[0].grid == "snapshot":
        a = np.asarray(arr)
        if not all(a[r.row, r.snapshot_frame] for r in srows):
            out.append(f"{path.relative_to(d)}: a snapshot row's own snapshot frame is invalid")
    elif name == "pose_valid" and not np.asarray(arr).all():
        out.append(f"{path.relative_to(d)}: kept windows with invalid pose frames")
    return out


def summary_json(fails: list[str], stats: dict) -> str:
    return json.dumps({"ok": not fails, "failures": fails, **stats}, indent=2)
