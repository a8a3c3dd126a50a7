"""Pairing modes for sparse pose streams (MotionMix snapshots at ~1 Hz).

``snapshot``: each snapshot is one row: the audio-feature context window
around it (default 4 s before, 1 s after, on the track's frame grid), with
the pose of every snapshot of the same stream that falls inside the window
placed on its nearest frame (other frames masked: ``pose_valid`` false) and
dynamics from the snapshot's neighbours when they are close enough.

``sequence``: dense windows cut exactly as for tang2018 (:func:`motionpair.windows.rows.cut`:
fixed or beat windows), interpolating only across gaps up to ``max_gap_s`` (masked beyond).

This module is the snapshot *window kind* only: the one per-pair pipeline
(:func:`motionpair.build.pair.process_pair`) picks the mode, writes the shard and the facts.

``auto`` picks ``sequence`` when the measured stream rate is at least
:data:`SEQUENCE_MIN_HZ`, else ``snapshot``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from motionpair.config import BuildConfig
from motionpair.timebase import frames_to_time, time_to_frames
from motionpair.types import AudioFeatures, ClockMap, PairSpec, PoseStream, WindowRow
from motionpair.windows.rows import AUDIO_ARRAYS

#: Streams measured at or above this rate are dense enough for sequence windows.
SEQUENCE_MIN_HZ = 10.0
#: Default for sparse streams when --max-gap-s is not given: 1.5 snapshot intervals at 1 Hz.
SPARSE_MAX_GAP_S = 1.5
SNAPSHOT_EXTRA_ARRAYS = ("dynamics_valid", "snapshot_dt_s")


def pairing_mode(requested: str, rate_hz: float) -> tuple[str, str]:
    """``(mode, why)`` for a stream measured at ``rate_hz``.

    >>> pairing_mode("auto", 1.0)[0], pairing_mode("auto", 30.0)[0], pairing_mode("sequence", 1)[0]
    ('snapshot', 'sequence', 'sequence')
    """
    if requested != "auto":
        return requested, f"--pairing {requested}"
    mode = "sequence" if rate_hz >= SEQUENCE_MIN_HZ else "snapshot"
    return mode, f"auto: measured {rate_hz:g} Hz {'>=' if mode == 'sequence' else '<'} " \
                 f"{SEQUENCE_MIN_HZ:g} Hz"


def neighbour_dynamics(times_s: np.ndarray, joints: np.ndarray, *, max_dt_s: float
                       ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Velocity and acceleration of each sample from its neighbours within ``max_dt_s``.

    Central (non-uniform) differences when both neighbours are close, one-sided
    velocity (zero acceleration) when one is, zeros and ``"none"`` when neither.

    >>> v, a, how = neighbour_dynamics(np.array([0., 1., 2., 5.]),
    ...                                np.array([0., 1., 4., 0.]).reshape(4, 1, 1), max_dt_s=1.5)
    >>> v[:, 0, 0].tolist(), a[:, 0, 0].tolist(), how
    ([1.0, 2.0, 3.0, 0.0], [0.0, 2.0, 0.0, 0.0], ['forward', 'central', 'backward', 'none'])
    """
    t = np.asarray(times_s, dtype=np.float64)
    p = np.asarray(joints, dtype=np.float64)
    vel, acc = np.zeros_like(p), np.zeros_like(p)
    how = []
    for i in range(len(t)):
        prev = i > 0 and t[i] - t[i - 1] <= max_dt_s
        nxt = i + 1 < len(t) and t[i + 1] - t[i] <= max_dt_s
        if prev and nxt:
            dp, dn = t[i] - t[i - 1], t[i + 1] - t[i]
            vel[i] = (p[i + 1] - p[i - 1]) / (dp + dn)
            acc[i] = 2.0 * ((p[i + 1] - p[i]) / dn - (p[i] - p[i - 1]) / dp) / (dp + dn)
            how.append("central")
        elif nxt:
            vel[i] = (p[i + 1] - p[i]) / (t[i + 1] - t[i])
            how.append("forward")
        elif prev:
            vel[i] = (p[i] - p[i - 1]) / (t[i] - t[i - 1])
            how.append("backward")
        else:
            how.append("none")
    return vel, acc, how


def snapshot_windows(spec: PairSpec, feats: AudioFeatures, pose: PoseStream, clock: ClockMap,
                     cfg: BuildConfig, *, n_audio: int, shard: str, assumptions: list[str],
                     max_dt_s: float, extras: dict[str, Any] | None = None
                     ) -> tuple[list[WindowRow], dict[str, np.ndarray], Counter]:
    """One row per snapshot: its audio context window and the stream's poses inside it.

    ``extras``: the source's row columns (``StreamInfo.row_extras``), set on every row.
    """
    fps = cfg.fps_exact
    B, A = cfg.context_frames  # context seconds to the nearest whole frames (config.lengths)
    T = B + A
    t_track = clock.to_track(pose.times_s)
    frame = np.asarray(time_to_frames(t_track, fps, rounding="nearest"), dtype=np.int64)
    dt = (t_track - np.asarray(frames_to_time(frame, fps))).astype(np.float32)
    vel, acc, how = neighbour_dynamics(pose.times_s, pose.joints, max_dt_s=max_dt_s)
    J, D = pose.n_joints, pose.dims
    dropped: Counter = Counter()
    keep = []
    for i, c in enumerate(frame):
        if c - B < 0 or c - B + T > n_audio:
            dropped["audio_incomplete"] += 1  # the context reaches outside the track
        else:
            keep.append(i)
    n = len(keep)
    out = {
        "pose": np.zeros((n, T, J, D), np.float32), "pose_valid": np.zeros((n, T), bool),
        "velocity": np.zeros((n, T, J, D), np.float32),
        "acceleration": np.zeros((n, T, J, D), np.float32), "speed": np.zeros((n, T), np.float32),
        "kin_beat": np.zeros((n, T), np.uint8), "dynamics_valid": np.zeros((n, T), bool),
        "snapshot_dt_s": np.zeros((n, T), np.float32),
    }
    for r, i in enumerate(keep):
        s0 = frame[i] - B
        inside = np.flatnonzero((frame >= s0) & (frame < s0 + T))
        k = frame[inside] - s0
        out["pose"][r, k] = pose.joints[inside]
        out["pose_valid"][r, k] = True
        out["velocity"][r, k] = vel[inside]
        out["acceleration"][r, k] = acc[inside]
        out["speed"][r, k] = np.linalg.norm(vel[inside], axis=2).mean(axis=1)
        out["dynamics_valid"][r, k] = [how[j] != "none" for j in inside]
        out["snapshot_dt_s"][r, k] = dt[inside]
    starts = [int(frame[i] - B) for i in keep]
    idx = np.asarray(starts, np.int64)[:, None] + np.arange(T)[None, :]
    for name in AUDIO_ARRAYS:
        if name in feats.arrays:
            a = feats.arrays[name]
            out[name] = np.ascontiguousarray(a[idx]) if n else np.zeros((0, T, *a.shape[1:]),
                                                                         a.dtype)
    rows = []
    for r, i in enumerate(keep):
        t0 = float(frames_to_time(starts[r], fps))
        t1 = float(frames_to_time(starts[r] + T, fps))
        m0, m1 = (float(x) for x in clock.to_stream(np.array([t0, t1])))
        rows.append(WindowRow(
            id=f"{spec.pair_id}/s{i:05d}", split="", session=spec.session,
            track=spec.track.track_id, source=spec.source, start_s=t0, end_s=t1,
            motion_start_s=round(m0, 9), motion_end_s=round(m1, 9), fps=float(fps), n_frames=T,
            start_frame=starts[r], shard=shard, row=r,
            pose_coverage=round(float(out["pose_valid"][r].mean()), 6), clock_map=clock.kind,
            assumptions=assumptions, mean_speed=round(float(np.linalg.norm(
                vel[i], axis=1).mean()), 6),
            n_music_beats=int(out["music_beat"][r].sum()), n_kin_beats=0, grid="snapshot",
            snapshot_track_s=round(float(t_track[i]), 6), snapshot_frame=B, dynamics=how[i],
            **(extras or {})))
    return rows, out, dropped


def refuse_beat_options(pair_id: str, mode: str, why: str, cfg: BuildConfig) -> None:
    """``ValueError`` when snapshot pairing meets --window-beats / --clock beatwise (never
    silently ignored)."""
    if mode == "snapshot" and (cfg.window_beats or cfg.clock == "beatwise"):
        raise ValueError(f"{pair_id}: snapshot pairing ({why}) makes one row per "
                         "snapshot; --window-beats/--clock beatwise apply to sequence pairs "
                         "only (use --pairing sequence, or drop those options)")


def snapshot_speeds(pose: PoseStream, *, max_dt_s: float) -> np.ndarray:
    """Mean joint speed (units/s) of each snapshot from its neighbours (:func:`neighbour_dynamics`).

    >>> pose = PoseStream("s", "s", np.array([0., 1., 2.]), np.array([0., 1., 3.]).reshape(3, 1, 1))
    >>> snapshot_speeds(pose, max_dt_s=1.5).tolist()
    [1.0, 1.5, 2.0]
    """
    vel = neighbour_dynamics(pose.times_s, pose.joints, max_dt_s=max_dt_s)[0]
    return np.linalg.norm(vel, axis=2).mean(axis=1)
