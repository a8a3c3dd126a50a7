"""Normalisation statistics: per-channel mean/std over the TRAIN split, streamed from shards.

Formulas (float64 throughout; ``x`` ranges over the counted frames of one channel)::

    count = N,  mean = sum(x) / N,  std = sqrt(sum((x - mean)^2) / N)   (population std)

Channels: the last axes after ``(rows, T)`` — one per mel band, one per baseline35 dim,
one per (joint, coordinate) of pose / velocity / acceleration, one for scalar streams
(onset_env, speed). Integer/bool arrays (beat one-hots, masks) are not normalised.

Overlapping windows share track frames; each track frame of a shard is counted ONCE
(deduplicated by its track-grid frame index, or by ``times_s`` on beat grids), so the
statistics describe the train tracks, not the window overlap pattern. Per-shard
moments are merged with Chan et al.'s pairwise update in sorted shard order, so the
result (and the written bytes) is deterministic.
"""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.types import WindowRow

NORM_FILE = "norm_stats.npz"
STD_FLOOR = 1e-6
"""A channel whose std is below this (constant channel) is divided by 1 instead."""

FLOAT_ARRAYS = ("mel", "baseline35", "onset_env", "pose", "velocity", "acceleration", "speed")


def _fresh_frames(rows: list[WindowRow], shard_dir: Path) -> list[tuple[int, np.ndarray]]:
    """For each row of one shard (by start), the window frame indices not counted before."""
    times = None
    if (shard_dir / "times_s.npy").is_file():
        times = np.load(shard_dir / "times_s.npy", mmap_mode="r", allow_pickle=False)
    out = []
    covered_frame, covered_time = -1, -np.inf
    for r in sorted(rows, key=lambda r: (r.start_frame, r.first_beat or 0, r.row)):
        if times is None:
            k = np.arange(r.n_frames)
            fresh = k[r.start_frame + k > covered_frame]
            covered_frame = max(covered_frame, r.start_frame + r.n_frames - 1)
        else:
            t = np.asarray(times[r.row], dtype=np.float64)
            fresh = np.flatnonzero(t > covered_time)
            covered_time = max(covered_time, float(t.max()))
        if fresh.size:
            out.append((r.row, fresh))
    return out


def _moments(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    x = x.astype(np.float64, copy=False)
    mean = x.mean(axis=0)
    return len(x), mean, ((x - mean) ** 2).sum(axis=0)


def _merge(a: tuple, b: tuple) -> tuple:
    """Chan et al. pairwise merge of (count, mean, M2)."""
    na, ma, sa = a
    nb, mb, sb = b
    if na == 0:
        return b
    n = na + nb
    delta = mb - ma
    return n, ma + delta * (nb / n), sa + sb + delta**2 * (na * nb / n)


def compute_norm_stats(dataset_dir: str | Path, rows: list[WindowRow], *, split: str = "train",
                       names: tuple[str, ...] = FLOAT_ARRAYS) -> dict[str, dict[str, Any]]:
    """Per-channel ``{"count", "mean", "std"}`` (float64 arrays) for each float array.

    Parameters
    ----------
    dataset_dir : dataset (or staged) folder holding ``shards/``.
    rows : manifest rows; only those with ``split == split`` are read.
    split : the split to describe ("train": never compute statistics on val/test).
    names : arrays to describe; missing arrays are skipped.
    """
    d = Path(dataset_dir)
    by_shard: dict[str, list[WindowRow]] = defaultdict(list)
    for r in rows:
        if r.split == split:
            by_shard[r.shard].append(r)
    if not by_shard:
        raise ValueError(f"{d}: no {split!r} windows to compute normalisation statistics on")
    acc: dict[str, tuple] = {}
    for shard in sorted(by_shard):
        plan = _fresh_frames(by_shard[shard], d / shard)
        for name in names:
            path = d / shard / f"{name}.npy"
            if not path.is_file():
                continue
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            # one (frames, channels...) block per shard: memory bounded by one track
            block = np.concatenate([np.asarray(arr[row][fresh]) for row, fresh in plan])
            m = _moments(block)
            acc[name] = _merge(acc[name], m) if name in acc else m
    out = {}
    for name, (n, mean, m2) in acc.items():
        out[name] = {"count": np.int64(n), "mean": mean, "std": np.sqrt(m2 / n)}
    return out


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` with sorted keys, fixed 1980 zip timestamps and no pickle, so its bytes
    depend only on the arrays (``np.savez`` keeps insertion order and writes zip64 entries:
    other bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            item = io.BytesIO()
            np.lib.format.write_array(item, np.array(arrays[key], order="C"),
                                      allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                        item.getvalue())
    return buf.getvalue()


def write_norm_stats(dataset_dir: str | Path, rows: list[WindowRow], *,
                     split: str = "train") -> dict[str, Any]:
    """Write ``DIR/norm_stats.npz`` (keys ``<array>.mean|std|count``) and return its summary.

    The summary (for ``dataset.json`` → ``norm_stats``) names the file, split, formulas,
    per-array channel shapes and frame counts, and a few rounded values for humans.
    """
    stats = compute_norm_stats(dataset_dir, rows, split=split)
    flat = {}
    for name, s in stats.items():
        for k, v in s.items():
            flat[f"{name}.{k}"] = np.asarray(v)
    path = Path(dataset_dir) / NORM_FILE
    path.write_bytes(_npz_bytes(flat))
    return {
        "file": NORM_FILE,
        "split": split,
        "sessions": sorted({r.session for r in rows if r.split == split}),
        "formula": "mean = sum(x)/N; std = sqrt(sum((x-mean)^2)/N) per channel, float64; "
                   "apply as (x - mean) / std, with std < 1e-6 replaced by 1",
        "dedupe": "each track frame of a shard counted once although windows overlap",
        "std_floor": STD_FLOOR,
        "arrays": {name: {"channels": list(np.shape(s["mean"])), "frames": int(s["count"]),
                          "mean_of_means": round(float(np.mean(s["mean"])), 6),
                          "mean_of_stds": round(float(np.mean(s["std"])), 6)}
                   for name, s in sorted(stats.items())},
    }


def read_norm_stats(dataset_dir: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{array: {"mean", "std", "count"}}`` from ``DIR/norm_stats.npz`` (never unpickled)."""
    path = Path(dataset_dir) / NORM_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no normalisation statistics; rebuild the dataset "
                                "with this motionpair version or call "
                                "motionpair.build.normstats.write_norm_stats")
    out: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            name, _, kind = key.rpartition(".")
            out[name][kind] = z[key]
    return dict(out)


def safe_std(std: np.ndarray) -> np.ndarray:
    """``std`` with constant channels (std < STD_FLOOR) replaced by 1."""
    return np.where(std < STD_FLOOR, 1.0, std)


def check_norm_stats(dataset_dir: str | Path, meta: dict[str, Any],
                     rows: list[WindowRow]) -> list[str]:
    """Failures (for ``verify``) when norm_stats.npz is missing, unreadable or not what the
    train windows give; datasets built before normalisation statistics existed pass."""
    summary = meta.get("norm_stats")
    if not summary or not summary.get("file"):
        return []
    try:
        stored = read_norm_stats(dataset_dir)
    except Exception as exc:  # missing, truncated or pickled: all named failures
        return [f"{NORM_FILE}: does not load without pickle ({exc})"]
    fresh = compute_norm_stats(dataset_dir, rows, split=summary.get("split", "train"))
    fails = []
    for name, s in sorted(fresh.items()):
        got = stored.get(name)
        if got is None or set(got) != {"mean", "std", "count"}:
            fails.append(f"{NORM_FILE}: no statistics for {name}")
        elif int(got["count"]) != int(s["count"]) or not (
                np.allclose(got["mean"], s["mean"], rtol=1e-9, atol=1e-9)
                and np.allclose(got["std"], s["std"], rtol=1e-9, atol=1e-9)):
            fails.append(f"{NORM_FILE}: {name} differs from the train windows' statistics")
    return fails
