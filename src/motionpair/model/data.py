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

from motionpair.store import read_dataset_json, read_manifest

STATS_FILE = "rep_stats.npz"
CONDS = ("baseline35", "mel")


class RefusedError(ValueError):
    """A dataset this model cannot train on, with the reason."""


def check_dataset(root: str | Path, window_frames: int) -> dict[str, Any]:
    """``dataset.json`` of a trainable dataset, or :class:`RefusedError` naming the problem.

    Sparse snapshot rows, beat-grid windows and windows with invalid pose frames are
    refused (not masked): the transformer sees whole 5 s windows of valid motion.
    """
    root = Path(root)
    meta = read_dataset_json(root)
    rows = read_manifest(root)
    if not rows:
        raise RefusedError(f"{root}: the manifest has no windows")
    snap = [r for r in rows if r.grid == "snapshot" or r.snapshot_frame is not None]
    if snap:
        raise RefusedError(f"{root}: {len(snap)} sparse snapshot row(s) (e.g. {snap[0].id}) are "
                      "refused, not masked: FlowGenerator1Step needs whole windows of motion")
    bad = [r for r in rows if r.grid != "fixed"]
    if bad:
        raise RefusedError(f"{root}: {len(bad)} {bad[0].grid}-grid window(s) (e.g. {bad[0].id}); "
                      "FlowGenerator1Step trains on fixed-rate windows only")
    short = [r for r in rows if r.n_frames != window_frames]
    if short:
        raise RefusedError(f"{root}: window {short[0].id} has {short[0].n_frames} frames, "
                           f"the model needs {window_frames}")
    cov = [r for r in rows if r.pose_coverage < 1.0]
    if cov:
        raise RefusedError(f"{root}: {len(cov)} window(s) with invalid pose frames (e.g. "
                      f"{cov[0].id}, coverage {cov[0].pose_coverage:.2f}) are refused")
    return meta


def to_rep(pose: np.ndarray) -> np.ndarray:
    """(..., T, J, D) positions -> (..., T, J*D + D) unnormalised representation."""
    root = pose.mean(axis=-2)
    rel = pose - root[..., None, :]
    vel = np.zeros_like(root)
    vel[..., 1:, :] = np.diff(root, axis=-2)
    return np.concatenate([rel.reshape(*rel.shape[:-2], -1), vel], axis=-1)


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
        pose = np.load(root / shard / "pose.npy", mmap_mode="r", allow_pickle=False)
        idx = sorted(r.row for r in rows if r.shard == shard)
        p = np.asarray(pose[idx], dtype=np.float64)
        x = to_rep(p).reshape(-1, p.shape[-2] * p.shape[-1] + p.shape[-1])
        s = s + x.sum(0)
        ss = ss + (x**2).sum(0)
        n += len(x)
        roots.append(p[:, 0].mean(axis=-2))
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
