"""Offset/phase estimation between a motion's kinematic beats and the music, with confidence.

The score at a candidate offset ``o`` (seconds, added to the clock map's track
times) is the mean, over kinematic beats ``k``, of the music's onset strength at
``k + o`` (onset envelope Gaussian-smoothed with ``sigma_s`` and z-scored over
the track). It uses the whole envelope rather than tracked beats, so it is not at
the mercy of one beat tracker decision. The estimate is only ever *reported*;
nothing here changes a clock map.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motionpair.timebase import frame_position, frames_to_time
from motionpair.xcorr import OffsetEstimate, parabolic_peak, pick_peak

__all__ = ["OffsetEstimate", "estimate_offset", "halves_agreement", "offset_grid",
           "onset_score_curve", "parabolic_peak", "pick_peak"]


def onset_score_curve(onset_env: np.ndarray, fps: Fraction, kin_s: np.ndarray,
                      offsets_s: np.ndarray, *, sigma_s: float) -> np.ndarray:
    """Mean z-scored, smoothed onset strength at ``kin_s + o`` for every ``o`` in ``offsets_s``.

    Parameters
    ----------
    onset_env : (n,) onset strength on the track grid, frame k at ``k / fps`` s.
    fps : exact frame rate of ``onset_env`` (frames/s).
    kin_s : kinematic beat times on the track clock (s).
    offsets_s : candidate offsets (s).
    sigma_s : Gaussian smoothing of the envelope (s).

    Only kinematic beats whose shifted times stay inside the track for every
    candidate offset are used, so each point of the curve averages the same beats.
    """
    env = np.asarray(onset_env, dtype=np.float64)
    smooth = gaussian_filter1d(env, frame_position(sigma_s, fps), mode="nearest")
    z = (smooth - smooth.mean()) / (smooth.std() or 1.0)
    t_env = frames_to_time(np.arange(len(z)), fps)
    lo, hi = float(np.min(offsets_s)), float(np.max(offsets_s))
    k = np.asarray(kin_s, dtype=np.float64)
    k = k[(k + lo >= t_env[0]) & (k + hi <= t_env[-1])]
    if len(k) == 0:
        return np.full(len(offsets_s), np.nan)
    pts = k[None, :] + np.asarray(offsets_s, dtype=np.float64)[:, None]
    return np.interp(pts, t_env, z).mean(axis=1)


def offset_grid(*, center_s: float, half_range_s: float, step_s: float) -> np.ndarray:
    """Candidate offsets ``center ± half_range`` every ``step_s`` (both ends included)."""
    n = int(round(half_range_s / step_s))
    return center_s + np.arange(-n, n + 1) * step_s


def estimate_offset(onset_env: np.ndarray, fps: Fraction, kin_s: np.ndarray, *,
                    beat_period_s: float, sigma_s: float, center_s: float = 0.0,
                    half_range_s: float = 3.0, step_s: float = 1 / 120,
                    ) -> tuple[OffsetEstimate, np.ndarray, np.ndarray]:
    """Estimate the offset within ``center_s ± half_range_s``; returns (estimate, grid, curve)."""
    grid = offset_grid(center_s=center_s, half_range_s=half_range_s, step_s=step_s)
    curve = onset_score_curve(onset_env, fps, kin_s, grid, sigma_s=sigma_s)
    return pick_peak(grid, curve, lobe_s=beat_period_s / 2), grid, curve


def halves_agreement(onset_env: np.ndarray, fps: Fraction, kin_s: np.ndarray, *,
                     beat_period_s: float, sigma_s: float, center_s: float = 0.0,
                     half_range_s: float = 3.0, step_s: float = 1 / 120,
                     ) -> tuple[float, float]:
    """Offsets estimated separately from the first and second half of the kinematic beats."""
    k = np.sort(np.asarray(kin_s, dtype=np.float64))
    mid = len(k) // 2
    out = []
    for part in (k[:mid], k[mid:]):
        est, _, _ = estimate_offset(onset_env, fps, part, beat_period_s=beat_period_s,
                                    sigma_s=sigma_s, center_s=center_s,
                                    half_range_s=half_range_s, step_s=step_s)
        out.append(est.offset_s)
    return out[0], out[1]
