"""Cross-correlation peaks with a confidence, shared by every offset estimate.

Alignment evidence (:mod:`motionpair.align.offset`), camera clocks of MotionMix sessions
(:mod:`motionpair.sources.motionmix.camclock`) and video capture
(:mod:`motionpair.capture.camsync`) all pick the best lag of a score curve and ask how far it
stands above the next peak (music and dance repeat every beat, so a ratio near 1 means the
answer is one of several equally good ones). Pure numpy/scipy; no motionpair imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class OffsetEstimate:
    """Best offset (s) in a bounded range, with the two confidence measures."""

    offset_s: float  # sub-frame (parabolic interpolation of the sampled score curve)
    score: float
    second_offset_s: float | None  # best local maximum outside the main lobe
    peak_ratio: float | None  # (peak - median) / (second - median) of the score curve


def parabolic_peak(y: np.ndarray, i: int) -> float:
    """Fractional index of the peak at ``i`` from the parabola through ``y[i-1:i+2]``."""
    if i <= 0 or i >= len(y) - 1:
        return float(i)
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    return float(i) if den >= 0 else float(i + 0.5 * (a - c) / den)


def pick_peak(offsets_s: np.ndarray, curve: np.ndarray, *, lobe_s: float) -> OffsetEstimate:
    """Best offset of a sampled score curve and its peak-to-second-peak ratio.

    The second peak is the highest local maximum at least ``lobe_s`` (half a
    beat period) from the best; heights are measured above the curve's median so
    that the ratio is 1 when two peaks are equal and grows as the best stands out.
    """
    if not np.isfinite(curve).any():
        return OffsetEstimate(float("nan"), float("nan"), None, None)
    i = int(np.nanargmax(curve))
    step = float(offsets_s[1] - offsets_s[0])
    best = float(offsets_s[0] + parabolic_peak(curve, i) * step)
    from scipy.signal import find_peaks  # here: scipy.signal import costs ~0.5 s per build

    peaks, _ = find_peaks(np.nan_to_num(curve, nan=-np.inf))
    far = [p for p in peaks if abs(offsets_s[p] - offsets_s[i]) >= lobe_s]
    if not far:
        return OffsetEstimate(best, float(curve[i]), None, None)
    j = max(far, key=lambda p: curve[p])
    base = float(np.nanmedian(curve))
    ratio = (curve[i] - base) / (curve[j] - base) if curve[j] > base else float("inf")
    return OffsetEstimate(best, float(curve[i]), float(offsets_s[j]), float(ratio))


def envelope_lag(ref: np.ndarray, cam: np.ndarray, fps: Fraction, *,
                 min_overlap_s: float = 5.0, lobe_s: float = 0.2
                 ) -> tuple[float, float, float | None, float]:
    """``(lag_frames, r, peak_ratio, overlap_s)`` such that ``ref[n + lag] ~ cam[n]``.

    Both signals are sampled at ``fps`` (frames/s); lags with less than ``min_overlap_s``
    seconds of overlap are not considered; ``lobe_s`` is the half-width (s) of the main lobe
    for the peak ratio (:func:`pick_peak`). ``r`` is the Pearson correlation at the lag.
    """
    from scipy.signal import correlate, correlation_lags

    a = (ref - ref.mean()) / (ref.std() or 1.0)
    b = (cam - cam.mean()) / (cam.std() or 1.0)
    raw = correlate(a, b, mode="full", method="fft")
    lags = correlation_lags(len(a), len(b), mode="full")
    overlap = np.minimum(len(a), lags + len(b)) - np.maximum(0, lags)
    min_frames = float(min_overlap_s * fps)
    ok = overlap >= min_frames
    if not ok.any():
        raise ValueError(f"the recordings overlap by less than {min_overlap_s:g} s at every lag")
    curve = np.where(ok, raw / np.maximum(overlap, 1), np.nan)
    est = pick_peak(lags.astype(np.float64), curve, lobe_s=lobe_s * float(fps))
    i = int(np.nanargmax(curve))
    L = int(lags[i])
    sa = a[max(0, L): L + len(b)] if L >= 0 else a[: len(b) + L]
    sb = b[max(0, -L): max(0, -L) + len(sa)]
    r = float(np.corrcoef(sa, sb)[0, 1]) if len(sa) > 2 else float("nan")
    return est.offset_s, r, est.peak_ratio, float(overlap[i] / fps)
