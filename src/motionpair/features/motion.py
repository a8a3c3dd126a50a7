"""Pose streams onto the output frame grid, and their dynamics.

A pose stream lives on its own clock; a ``ClockMap`` says where each of its
samples falls on the track. Resampling interpolates on those exact mapped
timestamps (never drops or repeats frames) and refuses to bridge gaps longer
than ``max_gap_s``: such frames are marked invalid instead.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motionpair.cache import Cache
from motionpair.memo import code_sha256, memo_value, value_digest
from motionpair.timebase import frame_duration_s, frame_position, frames_to_time, time_to_frames
from motionpair.types import ClockMap, MotionGrid, PoseStream

#: Bump when resampling or dynamics change: it is part of every cache key.
MOTION_STAGE_VERSION = "motion-1"

#: Bailando/FACT smooth speed with a Gaussian of sigma 5 frames at 60 fps.
DEFAULT_KIN_SIGMA_S = 5 / 60
DEFAULT_KIN_ORDER = 1


def motion_params(*, max_gap_s: float | None = None, kin_sigma_s: float = DEFAULT_KIN_SIGMA_S,
                  kin_order: int = DEFAULT_KIN_ORDER) -> dict[str, Any]:
    """The parameter set of the motion stage (recorded in dataset.json and cache keys)."""
    return {
        "stage_version": MOTION_STAGE_VERSION,
        "interpolation": "linear per coordinate on clock-mapped timestamps, no extrapolation",
        "max_gap_s": max_gap_s,
        "velocity": "numpy.gradient (central differences) within contiguous valid runs",
        "speed": "mean over joints of |velocity|",
        "kin_beat": "local minima of Gaussian-smoothed speed (scipy.signal.find_peaks on its "
                    "negation, distance=kin_order frames; flat minima resolve to their middle)",
        "kin_sigma_s": float(kin_sigma_s),
        "kin_order": int(kin_order),
    }


def resample_to_grid(pose: PoseStream, clock: ClockMap, fps: Fraction, *,
                     max_gap_s: float | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """Interpolate ``pose`` onto the track grid ``k / fps`` through ``clock``.

    Returns ``(first_frame, grid_pose (N, J, D) float32, valid (N,) bool)``
    covering every grid frame whose time maps inside the stream.

    Examples
    --------
    >>> ps = PoseStream("s", "s", np.arange(3) / 25.0, np.arange(3.0).reshape(3, 1, 1))
    >>> k0, p, v = resample_to_grid(ps, ClockMap("offset", "test"), Fraction(50))
    >>> k0, p[:, 0, 0].tolist(), bool(v.all())
    (0, [0.0, 0.5, 1.0, 1.5, 2.0], True)
    """
    t_track = clock.to_track(pose.times_s[[0, -1]])
    k0 = int(time_to_frames(t_track[0], fps, rounding="ceil"))
    k1 = int(time_to_frames(t_track[1], fps, rounding="floor"))
    if k1 < k0:
        return k0, np.zeros((0, pose.n_joints, pose.dims), np.float32), np.zeros(0, bool)
    t_grid = frames_to_time(np.arange(k0, k1 + 1), fps)
    t_src = clock.to_stream(t_grid)
    times = pose.times_s
    hi = np.clip(np.searchsorted(times, t_src, side="left"), 1, len(times) - 1)
    lo = hi - 1
    span = times[hi] - times[lo]
    w = np.clip((t_src - times[lo]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    j = pose.joints.astype(np.float64)
    out = j[lo] * (1.0 - w)[:, None, None] + j[hi] * w[:, None, None]
    valid = (t_src >= times[0] - 1e-9) & (t_src <= times[-1] + 1e-9)
    if max_gap_s is not None:
        # a grid frame that falls exactly on a sample is never inside a gap
        on_sample = (np.abs(t_src - times[lo]) < 1e-9) | (np.abs(t_src - times[hi]) < 1e-9)
        valid &= (span <= max_gap_s) | on_sample
    finite = np.isfinite(out).all(axis=(1, 2))
    valid &= finite
    out[~valid] = 0.0
    return k0, out.astype(np.float32), valid


def contiguous_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` index ranges where ``valid`` is True."""
    v = np.concatenate([[False], np.asarray(valid, bool), [False]])
    edges = np.flatnonzero(np.diff(v.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def dynamics(grid_pose: np.ndarray, valid: np.ndarray, fps: Fraction, *,
             kin_sigma_s: float = DEFAULT_KIN_SIGMA_S,
             kin_order: int = DEFAULT_KIN_ORDER) -> dict[str, np.ndarray]:
    """Velocity (units/s), acceleration (units/s²), mean joint speed and kinematic beats.

    Derivatives are taken within contiguous valid runs only, so a gap never
    produces a spurious jump; invalid frames get zeros.
    """
    dt_s = frame_duration_s(fps)
    vel = np.zeros(grid_pose.shape, np.float64)
    acc = np.zeros(grid_pose.shape, np.float64)
    speed = np.zeros(grid_pose.shape[0], np.float64)
    kin = np.zeros(grid_pose.shape[0], np.uint8)
    sigma_frames = frame_position(kin_sigma_s, fps)  # the width in frames
    for a, b in contiguous_runs(valid):
        if b - a < 2:
            continue
        p = grid_pose[a:b].astype(np.float64)
        vel[a:b] = np.gradient(p, dt_s, axis=0)
        acc[a:b] = np.gradient(vel[a:b], dt_s, axis=0)
        speed[a:b] = np.linalg.norm(vel[a:b], axis=2).mean(axis=1)
        smooth = gaussian_filter1d(speed[a:b], sigma_frames, mode="nearest")
        # imported here: scipy.signal costs ~0.5 s and fully cached builds never get here
        from scipy.signal import find_peaks

        # find_peaks resolves flat minima to their middle; argrelextrema(np.less) misses them
        minima, _ = find_peaks(-smooth, distance=max(1, kin_order))
        kin[a + minima] = 1
    return {
        "velocity": vel.astype(np.float32),
        "acceleration": acc.astype(np.float32),
        "speed": speed.astype(np.float32),
        "kin_beat": kin,
    }


def to_grid(pose: PoseStream, clock: ClockMap, fps: Fraction, *, max_gap_s: float | None = None,
            kin_sigma_s: float = DEFAULT_KIN_SIGMA_S,
            kin_order: int = DEFAULT_KIN_ORDER) -> MotionGrid:
    """Resample ``pose`` onto the track grid and compute its dynamics."""
    k0, grid, valid = resample_to_grid(pose, clock, fps, max_gap_s=max_gap_s)
    dyn = dynamics(grid, valid, fps, kin_sigma_s=kin_sigma_s, kin_order=kin_order)
    return MotionGrid(first_frame=k0, fps=fps, pose=grid, valid=valid, **dyn,
                      params=motion_params(max_gap_s=max_gap_s, kin_sigma_s=kin_sigma_s,
                                           kin_order=kin_order))


#: ``infer_edges`` reads every ``edge_frame_step(T)``-th frame (skeleton_edges keys on them).
EDGE_MAX_FRAMES = 500


def edge_frame_step(n_frames: int, max_frames: int = EDGE_MAX_FRAMES) -> int:
    """Stride that keeps at most about ``max_frames`` of ``n_frames`` frames."""
    return max(1, n_frames // max_frames)


def infer_edges(joints: np.ndarray, *, max_frames: int = EDGE_MAX_FRAMES,
                length_weight: float = 0.05) -> list[tuple[int, int]]:
    """Skeleton edges inferred from data: the spanning tree of rigid, short joint pairs.

    Bones keep their length while joints move, so the minimum spanning tree over
    ``std(distance) + length_weight * mean(distance)`` recovers a plausible tree
    (the length term stops a long but rigid pair, e.g. across the pelvis to a
    foot, from winning over a bone). It is an inference, recorded as such, and
    has no notion of left and right.
    """
    from scipy.sparse.csgraph import minimum_spanning_tree

    j = joints[::edge_frame_step(joints.shape[0], max_frames)].astype(np.float64)
    d = np.linalg.norm(j[:, :, None, :] - j[:, None, :, :], axis=-1)
    w = d.std(axis=0) + length_weight * d.mean(axis=0) + 1e-6  # 0 would read as "no edge"
    np.fill_diagonal(w, 0.0)
    tree = minimum_spanning_tree(w).tocoo()
    return sorted((int(min(a, b)), int(max(a, b))) for a, b in zip(tree.row, tree.col,
                                                                     strict=True))


def skeleton_edges(joints: np.ndarray, cache: Cache | None) -> list[tuple[int, int]]:
    """``infer_edges(joints)``, memoised on the frames it actually reads."""
    payload = {"code": code_sha256("motionpair.features.motion"),
               "frames": value_digest(joints[::edge_frame_step(joints.shape[0])])}
    value = memo_value(cache, "edges", payload,
                       lambda: {"edges": [list(e) for e in infer_edges(joints)]})
    return [(int(a), int(b)) for a, b in value["edges"]]
