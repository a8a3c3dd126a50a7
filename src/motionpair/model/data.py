"""Pose-window representation for FlowGenerator1Step, read through the PyTorch loader.

Per frame ``f`` of a window of ``T`` frames (J joints, D coordinates, units as stored)::

    root[f]   = mean over joints of pose[f]           (the joint centroid: skeleton-agnostic)
    rel[f]    = pose[f] - root[f]                     (J*D root-relative coordinates)
    vel[f]    = root[f] - root[f-1],  vel[0] = 0      (D: root displacement per frame)
    x[f]      = ([rel[f], vel[f]] - mean) / std       (J*D + D channels)

Why velocity and not the root's position from the window start (the first version): that
position's spread grows along the window (tens of cm by its end), so the per-channel std is
large and the residual per-frame noise of a one-step sample became jumps of ~86 cm per frame
in the decoded root path. A per-frame displacement has a std of about a centimetre at every
frame, so the same normalised noise is ~100x smaller in cm, and the decode (a cumulative sum)
turns it into a slow drift rather than jitter. ``vel[0]`` is stored as 0 and ignored by the
decode (the window's first root is the placement ``root0``), so encode -> decode is exact.

``mean``/``std`` are per channel over every frame of every TRAIN window (computed once by
``motionpair train`` and saved as ``RUN/rep_stats.npz``; overlapping windows weigh shared
frames up to five times, the window-level view the model sees). The inverse adds back the
train-mean root position ``root0`` (absolute placement is not modelled). Music features are
normalised by the loader with the dataset's own train statistics (``norm_stats.npz``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from motionpair.store import read_dataset_json, read_manifest, shard_array

STATS_FILE = "rep_stats.npz"
CONDS = ("baseline35", "mel")
"""music features a run can condition on, in the order ``--cond auto`` prefers them"""


def pick_cond(metas: list[dict[str, Any]], cond: str = "auto") -> str:
    """The conditioning array to train on: ``cond`` itself when every dataset stores it,
    or for "auto" the first of :data:`CONDS` that every dataset stores (MotionMix NPZ audio
    has mel but no baseline35)."""
    have = [set(m["audio"]["arrays"]) for m in metas]
    if cond != "auto":
        if cond not in CONDS:
            raise RefusedError(f"--cond {cond!r}: choose auto or one of {', '.join(CONDS)}")
        missing = [i for i, h in enumerate(have) if cond not in h]
        if missing:
            raise RefusedError(f"--cond {cond}: dataset #{missing[0] + 1} stores no {cond} "
                               f"(it has {', '.join(sorted(have[missing[0]]))}); "
                               "use --cond auto")
        return cond
    for c in CONDS:
        if all(c in h for h in have):
            return c
    raise RefusedError(f"no music features the model can use ({', '.join(CONDS)}) in every "
                       "dataset")


class RefusedError(ValueError):
    """A dataset this model cannot train on, with the reason."""


def check_dataset(root: str | Path, window_frames: int) -> dict[str, Any]:
    """``dataset.json`` of a trainable dataset, or :class:`RefusedError` naming the problem.

    Sparse snapshot rows and beat-grid windows are refused (one line saying what would
    make the data trainable); frames without a valid pose are kept and masked in the loss.
    """
    root = Path(root)
    meta = read_dataset_json(root)
    rows = read_manifest(root)
    if not rows:
        raise RefusedError(f"{root}: the manifest has no windows")
    snap = [r for r in rows if r.grid == "snapshot" or r.snapshot_frame is not None]
    if snap:
        raise RefusedError(f"{root}: {len(snap)} sparse snapshot row(s) (e.g. {snap[0].id}): "
                           "FlowGenerator1Step learns motion from dense windows; capture "
                           "every frame (motionpair capture --rate-hz full) and build with "
                           "--pairing sequence to make it trainable")
    bad = [r for r in rows if r.grid != "fixed"]
    if bad:
        raise RefusedError(f"{root}: {len(bad)} {bad[0].grid}-grid window(s) (e.g. {bad[0].id}); "
                      "FlowGenerator1Step trains on fixed-rate windows only")
    short = [r for r in rows if r.n_frames != window_frames]
    if short:
        raise RefusedError(f"{root}: window {short[0].id} has {short[0].n_frames} frames, "
                           f"the model needs {window_frames}")
    return meta


def to_rep(pose: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(..., T, J, D) positions -> (..., T, J*D + D) unnormalised representation.

    ``valid`` (..., T) bool: frames without a pose get rel = 0 and the root velocity into
    or out of them 0 (their loss is masked by :func:`rep_mask`)."""
    root = pose.mean(axis=-2)
    rel = pose - root[..., None, :]
    vel = np.zeros_like(root)
    vel[..., 1:, :] = np.diff(root, axis=-2)
    if valid is not None:
        m = rep_mask(valid)
        rel = rel * m[..., 0][..., None, None]
        vel = vel * m[..., 1][..., None]
    return np.concatenate([rel.reshape(*rel.shape[:-2], -1), vel], axis=-1)


def rep_mask(valid: np.ndarray) -> np.ndarray:
    """(..., T) pose validity -> (..., T, 2) float mask: [pose of frame f valid, root
    velocity f-1 -> f valid (both frames valid)]; frame 0's velocity (stored 0) counts as
    valid when frame 0 is."""
    v = np.asarray(valid, dtype=bool)
    vel = v.copy()
    vel[..., 1:] &= v[..., :-1]
    return np.stack([v, vel], axis=-1).astype(np.float32)


def root_path(vel: np.ndarray) -> np.ndarray:
    """(..., T, D) per-frame root displacement -> root position relative to frame 0
    (``vel[0]`` ignored: frame 0 is the placement)."""
    path = np.cumsum(vel, axis=-2)
    return path - path[..., :1, :]


def from_rep(x: np.ndarray, n_joints: int, dims: int, root0: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_rep` (unnormalised), placing frame 0's root at ``root0``."""
    rel = x[..., : n_joints * dims].reshape(*x.shape[:-1], n_joints, dims)
    root = root_path(x[..., n_joints * dims:]) + root0
    return rel + root[..., None, :]


def compute_stats(root: str | Path) -> dict[str, np.ndarray]:
    """Per-channel mean/std of the representation over the train windows (float64 sums)."""
    root = Path(root)
    rows = [r for r in read_manifest(root) if r.split == "train"]
    if not rows:
        raise RefusedError(f"{root}: no train windows")
    s: Any = 0.0
    ss: Any = 0.0
    n = 0
    roots = []
    for shard in sorted({r.shard for r in rows}):
        idx = sorted(r.row for r in rows if r.shard == shard)
        p = np.asarray(shard_array(root, shard, "pose")[idx], dtype=np.float64)
        valid = np.asarray(shard_array(root, shard, "pose_valid")[idx], dtype=bool)
        J, D = p.shape[-2], p.shape[-1]
        x = to_rep(p, valid).reshape(-1, J * D + D)
        # per-channel statistics over valid entries only (pose channels: valid frames;
        # velocity channels: valid frame pairs)
        m = rep_mask(valid).reshape(-1, 2)
        w = np.concatenate([np.repeat(m[:, :1], J * D, axis=1), np.repeat(m[:, 1:], D, 1)], 1)
        s = s + (x * w).sum(0)
        ss = ss + (x**2 * w).sum(0)
        n = n + w.sum(0)
        first = valid[:, 0]
        roots.append(p[first, 0].mean(axis=-2))
    n = np.maximum(n, 1.0)
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean**2, 0.0))
    std = np.where(std < 1e-6, 1.0, std)
    root0 = np.concatenate(roots).mean(0)
    return {"mean": mean.astype(np.float32), "std": std.astype(np.float32),
            "root0": root0.astype(np.float32)}


def save_stats(path: Path, stats: dict[str, np.ndarray]) -> None:
    np.savez(path, mean=stats["mean"], std=stats["std"], root0=stats["root0"])


def load_stats(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k].astype(np.float32) for k in z.files}


def normalise(x: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    return ((x - stats["mean"]) / stats["std"]).astype(np.float32)


def denormalise(x: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    return x * stats["std"] + stats["mean"]


def rep_to_pose(xn: np.ndarray, stats: dict[str, np.ndarray], n_joints: int,
                dims: int) -> np.ndarray:
    """Normalised model output (..., T, C) -> positions (..., T, J, D) in dataset units."""
    return from_rep(denormalise(xn, stats), n_joints, dims, stats["root0"])


COND_FILE = "cond_stats.npz"


def save_cond_stats(run: Path, dataset: str | Path, cond: str) -> None:
    """Copy the dataset's train statistics of the conditioning features into the run, so
    ``generate`` normalises new audio exactly as the loader normalised training windows."""
    from motionpair.build.normstats import read_norm_stats, safe_std

    s = read_norm_stats(dataset)[cond]
    np.savez(Path(run) / COND_FILE, mean=s["mean"].astype(np.float32),
             std=safe_std(s["std"]).astype(np.float32))
