"""Re-read a built dataset and check it; every failure is named, none is fatal to the check."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from motionpair.build.card import ARRAYS_DIR, HF_SPLIT, MANIFEST_DIR
from motionpair.build.dataset import ARRAY_NAMES, shard_checksums
from motionpair.build.normstats import check_norm_stats
from motionpair.build.splits import guard_gap_violations
from motionpair.store import (
    DatasetError,
    read_dataset_json,
    read_manifest,
    read_manifest_dicts,
    shard_path,
)


class UnsoundDatasetError(ValueError):
    """A dataset that ``verify`` fails: consumers (export, train, evaluate) refuse it."""


def require_sound(dataset_dir: str | Path, *, command: str) -> None:
    """Raise :class:`UnsoundDatasetError` (one line) unless ``dataset_dir`` passes
    :func:`verify`: export-shards, train and evaluate consume only what verify accepts
    (shards present, inside the dataset, declared dtypes, finite values, rows in range,
    checksums as built)."""
    fails, _ = verify(dataset_dir)
    if fails:
        more = f" (and {len(fails) - 1} more)" if len(fails) > 1 else ""
        raise UnsoundDatasetError(
            f"{dataset_dir}: fails `motionpair verify`: {fails[0]}{more}; {command} reads "
            "only datasets that pass it (rebuild, or run verify to see every failure)")


def verify(dataset_dir: str | Path) -> tuple[list[str], dict]:
    """Return ``(failures, stats)``; an empty failure list means the dataset is sound.

    Never raises on a damaged dataset: whatever a check trips over becomes a failure line.
    """
    try:
        return _verify(dataset_dir)
    except Exception as exc:  # noqa: BLE001 - damage no specific check foresaw: still named
        return [f"{dataset_dir}: verify could not finish ({type(exc).__name__}: {exc})"], {}


def _verify(dataset_dir: str | Path) -> tuple[list[str], dict]:
    d = Path(dataset_dir)
    fails: list[str] = []
    for name in ("dataset.json", "manifest.jsonl", "manifest.parquet", "inventory.json"):
        if not (d / name).is_file():
            fails.append(f"{name}: missing")
    if fails:
        return fails, {}
    try:  # a cut-off or damaged file is a named failure, never a traceback
        meta = read_dataset_json(d)
        raw = read_manifest_dicts(d)
        rows = read_manifest(d)
    except (DatasetError, OSError) as exc:
        return [str(exc)], {}
    if not rows:  # nothing to check against: every later check would pass vacuously
        return fails + ["manifest.jsonl: no rows (an empty dataset)"], {"windows": 0}
    fails += _check_parquet(d, raw)
    unsafe = _check_shard_paths(d, rows, meta)
    if unsafe:  # never open a path that leaves the dataset
        return fails + unsafe, {"windows": len(rows)}
    fails += _check_shard_owners(rows, meta)
    fails += _check_checksums(d, meta)
    by_shard: dict[str, list] = defaultdict(list)
    for r in rows:
        by_shard[r.shard].append(r)
        fails += _check_times(r)
    pair_of = {p["shard"]: p for p in meta.get("pairs", [])}
    fails += _check_motion_times(rows, pair_of)
    skel = meta["motion"]["skeleton"]
    dtypes = _declared_dtypes(meta)
    missing = {p["shard"]: p.get("audio_from", {}).get("missing") or []
               for p in meta.get("pairs", [])}
    for shard, srows in sorted(by_shard.items()):
        if sorted(r.row for r in srows) != list(range(len(srows))):
            fails.append(f"{shard}: manifest rows are not 0..{len(srows) - 1}")
            continue
        for name in ARRAY_NAMES:
            if name in missing.get(shard, ()):  # recorded as missing from the input
                continue
            fails += _check_array(d, shard, name, srows, skel, dtypes.get(name))
        fails += _check_rows_against_arrays(d, shard, srows, pair_of.get(shard, {}))
    split_of: dict[str, set] = defaultdict(set)
    for r in rows:
        split_of[r.session].add(r.split)
    time_blocks = meta["splits"].get("method") == "time_block"
    for session, splits in sorted(split_of.items()):
        if len(splits) > 1 and not time_blocks:  # time blocks: guard gaps are checked instead
            fails.append(f"session {session} is in several splits: {sorted(splits)}")
    if not time_blocks:  # time blocks put every session in several splits by design
        fails += _check_duplicates(d, split_of)
    if time_blocks:
        fails += guard_gap_violations([(r.session, r.split, r.motion_start_s, r.motion_end_s)
                                       for r in rows], guard_s=meta["splits"]["guard_s"])[:20]
    counts = {s: sum(r.split == s for r in rows) for s in sorted({r.split for r in rows})}
    if counts != meta["counts"]["windows_by_split"]:
        fails.append(f"windows per split {counts} != dataset.json {meta['counts']}")
    if len({r.id for r in rows}) != len(rows):
        fails.append("manifest ids are not unique")
    try:
        fails += check_norm_stats(d, meta, rows)
    except Exception as exc:  # noqa: BLE001 - a damaged shard already failed above: named
        fails.append(f"norm_stats.npz: cannot be recomputed from the train shards "
                     f"({type(exc).__name__}: {exc})")
    return fails, {"windows": len(rows), "shards": len(by_shard), "by_split": counts}


def _check_parquet(d: Path, raw: list[dict]) -> list[str]:
    """``manifest.parquet`` must hold exactly the rows of ``manifest.jsonl``, field by field."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(d / "manifest.parquet")
    except Exception as exc:  # any reader failure is a verify failure, named
        return [f"manifest.parquet: unreadable ({exc})"]
    prows = table.to_pylist()
    if len(prows) != len(raw):
        return [f"manifest.parquet has {len(prows)} rows, manifest.jsonl {len(raw)}"]
    out = []
    for n, (a, b) in enumerate(zip(raw, prows, strict=True), 1):
        diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if diff:
            out.append(f"manifest.parquet row {n} ({a.get('id')}) differs from manifest.jsonl "
                       f"in {', '.join(diff)}: " + "; ".join(
                           f"{k}: {b.get(k)!r} != {a.get(k)!r}" for k in diff[:3]))
    out = out[:20] + ([f"... and {len(out) - 20} more parquet rows differ"]
                      if len(out) > 20 else [])
    return out + _check_split_parquets(d, [r.get("id") for r in raw], [r.get("split") for r in raw])


def _check_split_parquets(d: Path, ids: list, splits: list) -> list[str]:
    """The per-split files of the card's two configs (``data/``: rows with arrays,
    ``manifest/``: light rows) hold that split's rows, in order."""
    import pyarrow.parquet as pq

    out = []
    for folder in (ARRAYS_DIR, MANIFEST_DIR):
        for stored, hf in HF_SPLIT.items():
            want = [i for i, s in zip(ids, splits, strict=True) if s == stored]
            path = d / folder / f"{hf}.parquet"
            if not want and not path.exists():
                continue
            try:
                got = pq.read_table(path, columns=["id"]).column("id").to_pylist()
            except Exception as exc:  # missing or unreadable: named
                out.append(f"{folder}/{hf}.parquet: unreadable ({exc})")
                continue
            if got != want:
                out.append(f"{folder}/{hf}.parquet ids differ from the {stored} rows of "
                           "manifest.jsonl")
    return out


def _check_shard_paths(d: Path, rows: list, meta: dict) -> list[str]:
    """Every shard path (manifest and dataset.json) stays inside the dataset, and no file
    under ``shards/`` is a symlink: a published dataset holds its own arrays (a link
    named through the shard folder is judged like a link named directly)."""
    out = []
    for shard in sorted({r.shard for r in rows} | {p.get("shard", "")
                                                   for p in meta.get("pairs", [])}):
        try:
            shard_path(d, shard)
        except DatasetError as exc:
            out.append(str(exc))
    shards = d / "shards"
    if shards.is_symlink():
        out.append("shards: a symlink; a dataset holds its own shard folder")
    elif shards.is_dir():
        for p in sorted(shards.rglob("*")):
            if p.is_symlink():
                out.append(f"{p.relative_to(d)}: a symlink (to {os.readlink(p)}); a dataset "
                           "holds its own arrays, never links")
    return out


def _check_shard_owners(rows: list, meta: dict) -> list[str]:
    """No two pairs share a shard folder (in dataset.json and in the manifest)."""
    out = []
    owners: dict[str, set[str]] = defaultdict(set)
    for p in meta.get("pairs", []):
        owners[p.get("shard", "")].add(p.get("pair_id", ""))
    for r in rows:  # a row id is <pair id>/<window>
        owners[r.shard].add(r.id.rsplit("/", 1)[0])
    for shard, pairs in sorted(owners.items()):
        if len(pairs) > 1:
            out.append(f"{shard}: shared by {len(pairs)} pairs ({', '.join(sorted(pairs))}); "
                       "each pair needs its own shard")
    return out


def _check_checksums(d: Path, meta: dict) -> list[str]:
    """Every shard file's sha256 equals the one recorded in dataset.json at build time."""
    want = meta.get("shards_sha256")
    if want is None:
        return ["dataset.json: no shards_sha256 (built by an older motionpair): shard bytes "
                "cannot be checked; rebuild"]
    got = shard_checksums(d)
    out = [f"{k}: sha256 {got[k][:12]}… differs from dataset.json ({want[k][:12]}…): the file "
           "changed after the build" for k in sorted(want.keys() & got.keys()) if got[k] != want[k]]
    out += [f"{k}: listed in dataset.json but missing" for k in sorted(want.keys() - got.keys())]
    out += [f"{k}: not written by the build (absent from dataset.json shards_sha256)"
            for k in sorted(got.keys() - want.keys())]
    return out


def _check_motion_times(rows: list, pair_of: dict[str, dict]) -> list[str]:
    """Motion-clock times recomputed from the pair's recorded linear/offset clock map."""
    out = []
    for r in rows:
        cm = pair_of.get(r.shard, {}).get("clock_map") or {}
        if cm.get("kind") not in ("linear", "offset") or "scale" not in cm:
            continue  # beatwise maps are recorded by their end anchors only
        m0 = (r.start_s - cm["offset_s"]) / cm["scale"]
        m1 = (r.end_s - cm["offset_s"]) / cm["scale"]
        if abs(m0 - r.motion_start_s) > 1e-6 or abs(m1 - r.motion_end_s) > 1e-6:
            out.append(f"{r.id}: motion_start_s/motion_end_s {r.motion_start_s}/"
                       f"{r.motion_end_s} != {m0:.6f}/{m1:.6f} from the pair's clock map")
    return out[:20]


def _check_rows_against_arrays(d: Path, shard: str, srows: list, pair: dict) -> list[str]:
    """Row times and statistics that the shard's arrays pin down.

    Windows of a shard are cut in start order from one track, so overlapping windows must
    hold the same mel frames where they overlap: a row whose start (and times) were moved
    shows up as a mismatch. Fixed-grid rows must also lie inside the pair's audio and
    motion spans, and their beat counts / mean speed must be those of their arrays.
    """
    out: list[str] = []
    srows = sorted(srows, key=lambda r: r.row)
    grid = srows[0].grid
    # snapshot rows follow their snapshots: two snapshots may fall in one frame
    lag_min = 0 if grid == "snapshot" else 1
    if any(b.start_frame - a.start_frame < lag_min
           for a, b in zip(srows, srows[1:], strict=False)):
        return [f"{shard}: row start frames do not increase with the row index"]
    try:
        mel = np.load(d / shard / "mel.npy", mmap_mode="r", allow_pickle=False)
    except Exception:  # reported by _check_array
        return out
    T = srows[0].n_frames
    if grid in ("fixed", "snapshot") and mel.shape[:2] == (len(srows), T):
        for a, b in zip(srows, srows[1:], strict=False):
            lag = b.start_frame - a.start_frame
            if lag < T and not np.array_equal(mel[a.row, lag:], mel[b.row, :T - lag]):
                out.append(f"{b.id}: its mel frames do not continue {a.id}'s at the "
                           f"{lag}-frame offset its start_frame implies (times shifted?)")
    if grid == "fixed" and pair:
        first, n_motion = pair.get("motion_first_frame"), pair.get("motion_frames")
        n_audio = pair.get("audio_frames")
        for r in srows:
            if first is not None and n_motion is not None and not (
                    first <= r.start_frame and r.start_frame + T <= first + n_motion):
                out.append(f"{r.id}: frames {r.start_frame}..{r.start_frame + T} outside the "
                           f"pair's motion frames {first}..{first + n_motion}")
            if n_audio is not None and r.start_frame + T > n_audio:
                out.append(f"{r.id}: ends at frame {r.start_frame + T} past the audio "
                           f"({n_audio} frames)")
    if grid == "beats" and (d / shard / "times_s.npy").is_file():
        times = np.load(d / shard / "times_s.npy", mmap_mode="r", allow_pickle=False)
        for r in srows:
            if times.shape[0] == len(srows) and abs(float(times[r.row, 0]) - r.start_s) > 1e-6:
                out.append(f"{r.id}: start_s {r.start_s} != times_s.npy[{r.row}][0] "
                           f"{float(times[r.row, 0])}")
    if grid in ("fixed", "beats"):
        out += _check_row_stats(d, shard, srows)
    return out[:20]


def _check_row_stats(d: Path, shard: str, srows: list) -> list[str]:
    """``mean_speed``, ``n_music_beats``, ``n_kin_beats`` of each row against its arrays."""
    out: list[str] = []
    try:
        speed = np.load(d / shard / "speed.npy", mmap_mode="r", allow_pickle=False)
        beats = np.load(d / shard / "music_beat.npy", mmap_mode="r", allow_pickle=False)
        kin = np.load(d / shard / "kin_beat.npy", mmap_mode="r", allow_pickle=False)
    except Exception:  # reported by _check_array
        return out
    if not speed.shape[0] == beats.shape[0] == kin.shape[0] == len(srows):
        return out
    for r in srows:
        if abs(round(float(speed[r.row].mean()), 6) - r.mean_speed) > 1e-5 \
                or int(beats[r.row].sum()) != r.n_music_beats \
                or int(kin[r.row].sum()) != r.n_kin_beats:
            out.append(f"{r.id}: mean_speed / n_music_beats / n_kin_beats differ from its "
                       f"arrays in {shard} (row {r.row})")
    return out


def _check_duplicates(d: Path, split_of: dict[str, set]) -> list[str]:
    """Sessions recorded as holding the same recording (inventory.json) share one split."""
    try:
        inv = json.loads((d / "inventory.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"inventory.json: unreadable ({exc})"]
    out = []
    for dup in inv.get("duplicates", []) if isinstance(inv, dict) else []:
        splits = set().union(*(split_of.get(s, set()) for s in dup["sessions"])) - {"guard"}
        if len(splits) > 1:
            out.append(f"sessions {', '.join(dup['sessions'])} hold the same recording but are "
                       f"in several splits: {sorted(splits)}")
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


def _declared_dtypes(meta: dict) -> dict[str, str]:
    """Array name -> dtype as dataset.json declares it (audio and motion arrays)."""
    out = {}
    for part in ("audio", "motion"):
        block = meta.get(part)
        arrays = block.get("arrays") if isinstance(block, dict) else None
        for name, spec in (arrays or {}).items():
            if isinstance(spec, dict) and isinstance(spec.get("dtype"), str):
                out[name] = spec["dtype"]
    return out


def _check_array(d: Path, shard: str, name: str, srows: list, skel: dict,
                 dtype: str | None = None) -> list[str]:
    path = d / shard / f"{name}.npy"
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # pickled, truncated or missing: all named failures
        return [f"{path.relative_to(d)}: does not load without pickle ({exc})"]
    out = []
    if dtype is not None and arr.dtype != np.dtype(dtype):
        return [f"{path.relative_to(d)}: dtype {arr.dtype} but dataset.json declares {dtype}"]
    if arr.ndim < 2:
        return [f"{path.relative_to(d)}: shape {arr.shape} is not (rows, frames, ...)"]
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
