"""Window rows: cut a pair's features and motion grid into windows, one row each.

Shared by every dense pair (tang2018, a MotionMix ``sequence`` pair, any dense source):
fixed windows on the fps grid (:func:`fixed_windows`) or beat-synchronous windows
(:func:`beat_windows`), chosen by :func:`cut` from the config. Sparse snapshot rows are
:func:`motionpair.windows.snapshot.snapshot_windows`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from motionpair.config import BuildConfig
from motionpair.features import beatgrid
from motionpair.timebase import frame_position, frames_to_time
from motionpair.types import AudioFeatures, ClockMap, MotionGrid, PairSpec, WindowRow
from motionpair.windows.fixed import cut_windows

AUDIO_ARRAYS = ("mel", "baseline35", "onset_env", "music_beat", "onset_peak")
MOTION_ARRAYS = ("pose", "pose_valid", "velocity", "acceleration", "speed", "kin_beat")

Cut = tuple[list[WindowRow], dict[str, np.ndarray], Counter]


def cut(spec: PairSpec, feats: AudioFeatures, grid: MotionGrid, clock: ClockMap,
        cfg: BuildConfig, n_audio: int, shard: str, assumptions: list[str],
        extras: dict[str, Any] | None = None) -> Cut:
    """Beat windows when ``cfg.window_beats`` is set, else fixed windows: ``(rows, arrays,
    dropped)``. ``extras``: the source's row columns (``StreamInfo.row_extras``)."""
    if cfg.window_beats:
        return beat_windows(spec, feats, grid, clock, cfg, n_audio, shard, assumptions, extras)
    return fixed_windows(spec, feats, grid, clock, cfg, n_audio, shard, assumptions, extras)


def row(spec: PairSpec, clock: ClockMap, *, wid: str, t0: float, t1: float, fps: float,
        n_frames: int, start_frame: int, shard: str, r: int, arrays: dict,
        assumptions: list[str], **extra) -> WindowRow:
    m0, m1 = (float(x) for x in clock.to_stream(np.array([t0, t1])))
    return WindowRow(
        id=wid, split="", session=spec.session, track=spec.track.track_id, source=spec.source,
        start_s=t0, end_s=t1, motion_start_s=round(m0, 9), motion_end_s=round(m1, 9), fps=fps,
        n_frames=n_frames, start_frame=start_frame, shard=shard, row=r, pose_coverage=1.0,
        clock_map=clock.kind, assumptions=assumptions, style=spec.style,
        mean_speed=round(float(arrays["speed"][r].mean()), 6),
        n_music_beats=int(arrays["music_beat"][r].sum()),
        n_kin_beats=int(arrays["kin_beat"][r].sum()), **extra)


def fixed_windows(spec: PairSpec, feats: AudioFeatures, grid: MotionGrid, clock: ClockMap,
                  cfg: BuildConfig, n_audio: int, shard: str, assumptions: list[str],
                  extras: dict[str, Any] | None = None) -> Cut:
    """Windows of ``cfg.window_frames`` frames every ``cfg.hop_frames`` on the fps grid."""
    fps, T = cfg.fps_exact, cfg.window_frames
    cuts, dropped = cut_windows(n_audio_frames=n_audio, first_frame=grid.first_frame,
                                valid=grid.valid, n_frames=T, hop_frames=cfg.hop_frames)
    arrays = _window_arrays(feats, grid, [c.start_frame for c in cuts], T)
    rows = [row(spec, clock, wid=f"{spec.pair_id}/f{c.start_frame:06d}",
                 t0=float(frames_to_time(c.start_frame, fps)),
                 t1=float(frames_to_time(c.start_frame + T, fps)),
                 fps=float(fps), n_frames=T, start_frame=c.start_frame, shard=shard, r=r,
                 arrays=arrays, assumptions=assumptions, **(extras or {}))
            for r, c in enumerate(cuts)]
    return rows, arrays, dropped


def beat_windows(spec: PairSpec, feats: AudioFeatures, grid: MotionGrid, clock: ClockMap,
                 cfg: BuildConfig, n_audio: int, shard: str, assumptions: list[str],
                 extras: dict[str, Any] | None = None) -> Cut:
    """Windows of ``window_beats`` music beats resampled to ``frames_per_beat`` per beat."""
    if not cfg.window_beats:
        raise ValueError("beat windows need --window-beats")
    fps, F, N = cfg.fps_exact, cfg.frames_per_beat, cfg.window_beats
    beats = feats.beat_times_s
    cuts, dropped = beatgrid.cut_beat_windows(
        beats, n_audio_frames=n_audio, fps=fps, motion_first_frame=grid.first_frame,
        motion_valid=grid.valid, n_beats=N, hop_beats=cfg.hop_beats, frames_per_beat=F)
    per_window: dict[str, list[np.ndarray]] = {}
    motion_arrays = grid_arrays(grid)
    kin_s = frames_to_time(grid.first_frame + np.flatnonzero(grid.kin_beat), fps)
    peak_s = frames_to_time(np.flatnonzero(feats.arrays["onset_peak"]), fps)
    for _j, times in cuts:
        w: dict[str, np.ndarray] = {"times_s": times}
        for name in AUDIO_ARRAYS:
            w[name] = beatgrid.sample_at(feats.arrays[name], 0, fps, times,
                                         nearest=feats.arrays[name].dtype == np.uint8)
        w["music_beat"] = (np.arange(N * F) % F == 0).astype(np.uint8)
        for name in MOTION_ARRAYS:
            w[name] = beatgrid.sample_at(motion_arrays[name], grid.first_frame, fps, times,
                                         nearest=motion_arrays[name].dtype != np.float32)
        w["kin_beat"] = beatgrid.events_on(times, np.asarray(kin_s))
        w["onset_peak"] = beatgrid.events_on(times, np.asarray(peak_s))
        for name in w:
            per_window.setdefault(name, []).append(w[name])
    names = ("times_s", *AUDIO_ARRAYS, *MOTION_ARRAYS)
    arrays = {n: np.stack(per_window[n]) if cuts else
              np.zeros((0, N * F, *_tail(feats, motion_arrays, n)), np.float32) for n in names}
    rows = [row(spec, clock, wid=f"{spec.pair_id}/b{j:05d}", t0=float(beats[j]),
                 t1=float(beats[j + N]), fps=round(N * F / float(beats[j + N] - beats[j]), 6),
                 n_frames=N * F, start_frame=round(frame_position(float(beats[j]), fps)),
                 shard=shard, r=r, arrays=arrays, assumptions=assumptions, grid="beats",
                 first_beat=j, frames_per_beat=F, **(extras or {}))
            for r, (j, _) in enumerate(cuts)]
    return rows, arrays, dropped


def _tail(feats: AudioFeatures, motion_arrays: dict, name: str) -> tuple:
    if name in feats.arrays:
        return feats.arrays[name].shape[1:]
    return motion_arrays[name].shape[1:] if name in motion_arrays else ()


def grid_arrays(grid: MotionGrid) -> dict[str, np.ndarray]:
    return {"pose": grid.pose, "pose_valid": grid.valid, "velocity": grid.velocity,
            "acceleration": grid.acceleration, "speed": grid.speed, "kin_beat": grid.kin_beat}


def _window_arrays(feats: AudioFeatures, grid: MotionGrid, starts: list[int],
                   T: int) -> dict[str, np.ndarray]:
    """Stack every array over the kept windows: first axis = window row, second = frame."""
    out: dict[str, np.ndarray] = {}
    for name in AUDIO_ARRAYS:
        if name not in feats.arrays:  # e.g. chroma-based baseline35 absent from an NPZ
            continue
        a = feats.arrays[name]
        out[name] = _stack(a, starts, T, offset=0)
    motion_arrays = grid_arrays(grid)
    for name in MOTION_ARRAYS:
        out[name] = _stack(motion_arrays[name], starts, T, offset=grid.first_frame)
    return out


def _stack(a: np.ndarray, starts: list[int], T: int, *, offset: int) -> np.ndarray:
    if not starts:
        return np.zeros((0, T, *a.shape[1:]), dtype=a.dtype)
    idx = np.asarray(starts, dtype=np.int64)[:, None] - offset + np.arange(T)[None, :]
    return np.ascontiguousarray(a[idx])
