"""Beat-synchronous windows: start on music beats, span N beats, F frames per beat.

Each window is resampled onto a tempo-normalised grid: frame ``i`` lies at the
fraction ``i / F`` of the way through beat ``i // F``, i.e. linearly between
consecutive detected beats. The original track seconds of every frame are kept
(``times_s``), so nothing about real time is lost.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import numpy as np

from motionpair.timebase import frame_position, frames_to_time


def beat_window_starts(n_beats_total: int, *, n_beats: int, hop_beats: int) -> list[int]:
    """Indices of the first beat of each window (windows need ``n_beats + 1`` beats)."""
    if n_beats < 1 or hop_beats < 1:
        raise ValueError("--window-beats and --hop-beats must be >= 1")
    return list(range(0, n_beats_total - n_beats, hop_beats))


def beat_frame_times(beat_times_s: np.ndarray, first_beat: int, *, n_beats: int,
                     frames_per_beat: int) -> np.ndarray:
    """Track seconds of the ``n_beats * frames_per_beat`` frames of one window.

    >>> beat_frame_times(np.array([0.0, 0.5, 1.5]), 0, n_beats=2, frames_per_beat=2).tolist()
    [0.0, 0.25, 0.5, 1.0]
    """
    pos = first_beat + np.arange(n_beats * frames_per_beat) / frames_per_beat
    return np.interp(pos, np.arange(len(beat_times_s)), beat_times_s)


def sample_at(arr: np.ndarray, first_frame: int, fps: Fraction, times_s: np.ndarray,
              *, nearest: bool = False) -> np.ndarray:
    """Values of a grid array (frame k at ``(first_frame + k) / fps``) at ``times_s``.

    Linear interpolation between grid frames; ``nearest`` for one-hot/boolean arrays.
    """
    pos = frame_position(times_s, fps, first_frame=first_frame)
    if nearest:
        idx = np.clip(np.rint(pos).astype(np.int64), 0, len(arr) - 1)
        return arr[idx]
    lo = np.clip(np.floor(pos).astype(np.int64), 0, len(arr) - 2)
    w = np.clip(pos - lo, 0.0, 1.0).reshape((-1,) + (1,) * (arr.ndim - 1))
    return (arr[lo] * (1.0 - w) + arr[lo + 1] * w).astype(arr.dtype)


def covered(valid: np.ndarray, first_frame: int, fps: Fraction, times_s: np.ndarray) -> bool:
    """True when both grid frames around every time are valid (no interpolation into gaps)."""
    pos = frame_position(times_s, fps, first_frame=first_frame)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    if lo.min() < 0 or hi.max() >= len(valid):
        return False
    return bool(valid[lo].all() and valid[hi].all())


def cut_beat_windows(beat_times_s: np.ndarray, *, n_audio_frames: int, fps: Fraction,
                     motion_first_frame: int, motion_valid: np.ndarray, n_beats: int,
                     hop_beats: int, frames_per_beat: int
                     ) -> tuple[list[tuple[int, np.ndarray]], Counter]:
    """``[(first_beat, frame_times_s)]`` for windows fully covered, and drops by reason."""
    audio_end_s = float(frames_to_time(n_audio_frames - 1, fps))
    kept: list[tuple[int, np.ndarray]] = []
    dropped: Counter = Counter()
    for j in beat_window_starts(len(beat_times_s), n_beats=n_beats, hop_beats=hop_beats):
        times = beat_frame_times(beat_times_s, j, n_beats=n_beats,
                                 frames_per_beat=frames_per_beat)
        if times[-1] > audio_end_s:
            dropped["audio_incomplete"] += 1
        elif covered(motion_valid, motion_first_frame, fps, times):
            kept.append((j, times))
        else:
            pos = frame_position(times, fps, first_frame=motion_first_frame)
            inside = (pos >= 0) & (pos <= len(motion_valid) - 1)
            dropped["partial_pose" if inside.any() else "no_pose"] += 1
    return kept, dropped


def events_on(times_s: np.ndarray, event_times_s: np.ndarray) -> np.ndarray:
    """One-hot of events at the nearest frame of a (non-uniform) window grid.

    Resampling a one-hot by nearest frame would duplicate or drop events when the
    grids differ in rate; mapping each event time keeps every event exactly once.
    """
    out = np.zeros(len(times_s), np.uint8)
    ev = event_times_s[(event_times_s >= times_s[0]) & (event_times_s <= times_s[-1])]
    if len(ev):
        out[np.rint(np.interp(ev, times_s, np.arange(len(times_s)))).astype(np.int64)] = 1
    return out
