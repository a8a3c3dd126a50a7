"""Alignment evidence for one dense pair: beat alignment scores, nulls, tempo drift, offset.

Two beat alignment scores (BAS) from the literature, which differ in direction:

- ``bailando`` (music→motion; Bailando, ``utils/metrics_new.py`` ``ba_score``): for every
  MUSIC beat, ``exp(-d**2 / (2 sigma**2))`` with ``d`` the distance to the nearest
  kinematic beat, averaged over music beats (here: music beats inside the motion span).
- ``fact`` (motion→music; AIST++/FACT, ``mint/tools/calculate_beat_scores.py``
  ``alignment_score``): for every KINEMATIC beat, the same kernel of the distance to the
  nearest music beat, averaged over kinematic beats.

Both use sigma = 3 frames at 60 fps (0.05 s). Kinematic beats are motion.py's: local
minima of the mean joint speed, Gaussian-smoothed (sigma 5/60 s) — Bailando's definition;
mint finds minima of the unsmoothed speed with ``argrelextrema(order=10)`` at 60 fps.
Every number is a pure function of its inputs and ``EvidenceConfig`` (seeded RNG).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from motionpair.align.offset import estimate_offset, halves_agreement
from motionpair.timebase import frame_duration_s, frames_to_time, time_to_frames
from motionpair.types import ClockMap

EVIDENCE_VERSION = "evidence-1"


@dataclass(frozen=True)
class EvidenceConfig:
    """Every knob of the evidence (recorded next to the numbers)."""

    sigma_s: float = 0.05  # 3 frames at 60 fps, as in both Bailando and mint
    n_null_shifts: int = 200
    seed: int = 0
    null_exclude_beats: float = 1.0  # circular shifts within ±1 beat period of 0 are excluded
    drift_flag_s: float = 0.5
    search_half_range_s: float = 3.0  # offset search: clock map ± 3 s (>= 2 beats above 40 bpm)
    search_step_s: float = 1 / 120
    min_peak_ratio: float = 1.2  # an offset estimate "passes" only above this ...
    halves_tol_s: float = 0.1  # ... and when the two halves agree within this
    min_valid_fraction: float = 0.95  # "dense" motion: evidence is computed only for these

    def to_dict(self) -> dict[str, Any]:
        return {"version": EVIDENCE_VERSION, **asdict(self)}


def definitions(cfg: EvidenceConfig, *, kin_sigma_s: float, kin_order: int) -> dict[str, Any]:
    """How every number is defined (goes next to the numbers in dataset.json)."""
    return {
        "config": cfg.to_dict(),
        "bas_bailando": "music->motion: mean over music beats inside the motion span of "
                        "exp(-d^2/(2 sigma^2)), d = distance (s) to the nearest kinematic beat "
                        "(Bailando utils/metrics_new.py ba_score)",
        "bas_fact": "motion->music: mean over kinematic beats of exp(-d^2/(2 sigma^2)), d = "
                    "distance (s) to the nearest music beat (AIST++/FACT mint "
                    "tools/calculate_beat_scores.py alignment_score)",
        "sigma_s": cfg.sigma_s,
        "kinematic_beats": {"definition": "local minima of Gaussian-smoothed mean joint speed",
                            "speed_smoothing_sigma_s": kin_sigma_s, "extrema_order": kin_order,
                            "matches": "Bailando (mint: unsmoothed, argrelextrema order 10 "
                                       "at 60 fps)"},
        "music_beats": "motionpair.features.beats.track_beats: librosa.beat.beat_track on the "
                       "onset "
                       "envelope, start_bpm = the song tempo (dataset.json beats.tracker)",
        "metrical_level_check": "cha-cha/rumba only: tracked beats in S/25..E/25 s over the "
                                "true count T/12.5; level = nearest of 1, 2, 1/2, 3/2, 2/3, "
                                "4/3, 3/4 within 4% (motionpair.features.beats.tempo_check)",
        "null_circular_shift": "music beats shifted circularly by uniform random shifts in "
                               "[P, D-P] (P = median beat period, D = track duration) against "
                               "the same motion; percentile = % of null scores below the "
                               "observed (ties count half); z = (observed - mean) / std",
        "null_other_tracks": "the same motion against the music beats of every other track "
                             "of the dataset (same track-clock times)",
        "tempo": "implied beat period = clock map's track time per skeleton beat (F frames "
                 "per beat on the stream clock); measured = span of the detected beats in the "
                 "motion span / its number of intervals (intervals counted with the median "
                 "inter-beat interval); drift_end_s = n_beats * (implied - "
                 "measured); drift_vs_beats_s = implied span minus the span of the same "
                 "number of detected beats from the beat nearest the first skeleton beat",
        "offset": "argmax over clock map + o, |o| <= search_half_range_s, of the mean "
                  "z-scored onset strength (smoothed with sigma_s) at kinematic beats + o; "
                  "sub-frame by parabolic interpolation; peak_ratio = (best - median) / "
                  "(second - median), second = best local maximum >= half a beat away; "
                  "halves = the estimate from the first and second half of the kinematic "
                  "beats; never applied to any clock map",
    }


def nearest_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each value of ``a``, the distance to the nearest value of sorted ``b``.

    >>> nearest_dist(np.array([0.0, 1.4]), np.array([1.0, 2.0])).round(3).tolist()
    [1.0, 0.4]
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(b) == 0:
        return np.full(len(a), np.inf)
    i = np.clip(np.searchsorted(b, a), 1, max(1, len(b) - 1))
    lo = b[np.clip(i - 1, 0, len(b) - 1)]
    hi = b[np.clip(i, 0, len(b) - 1)]
    return np.minimum(np.abs(a - lo), np.abs(a - hi))


def _kernel(d: np.ndarray, sigma_s: float) -> float:
    return float(np.mean(np.exp(-(d ** 2) / (2 * sigma_s ** 2)))) if len(d) else float("nan")


def bas_bailando(music_s: np.ndarray, kin_s: np.ndarray, *, span_s: tuple[float, float],
                 sigma_s: float) -> float:
    """Music→motion BAS (Bailando): music beats inside ``span_s`` scored by nearest kin beat."""
    m = np.asarray(music_s, dtype=np.float64)
    m = m[(m >= span_s[0]) & (m <= span_s[1])]
    return _kernel(nearest_dist(m, np.sort(kin_s)), sigma_s)


def bas_fact(kin_s: np.ndarray, music_s: np.ndarray, *, sigma_s: float) -> float:
    """Motion→music BAS (AIST++/FACT): kinematic beats scored by the nearest music beat."""
    return _kernel(nearest_dist(kin_s, np.sort(music_s)), sigma_s)


def both_bas(music_s: np.ndarray, kin_s: np.ndarray, *, span_s: tuple[float, float],
             sigma_s: float) -> dict[str, float]:
    return {"bailando": bas_bailando(music_s, kin_s, span_s=span_s, sigma_s=sigma_s),
            "fact": bas_fact(kin_s, music_s, sigma_s=sigma_s)}


def percentile_z(observed: float, null: np.ndarray) -> dict[str, float | int | None]:
    """Percentile of ``observed`` in ``null`` (ties count half) and its z-score."""
    null = np.asarray(null, dtype=np.float64)
    null = null[np.isfinite(null)]
    if len(null) == 0 or not np.isfinite(observed):
        return {"n": int(len(null)), "mean": None, "std": None, "percentile": None, "z": None}
    below = np.count_nonzero(null < observed) + 0.5 * np.count_nonzero(null == observed)
    std = float(null.std())
    return {"n": int(len(null)), "mean": _r(null.mean()), "std": _r(std),
            "percentile": _r(100.0 * below / len(null)),
            "z": _r((observed - null.mean()) / std) if std > 0 else None}


def circular_shift_null(music_s: np.ndarray, kin_s: np.ndarray, *, duration_s: float,
                        span_s: tuple[float, float], period_s: float,
                        cfg: EvidenceConfig) -> dict[str, np.ndarray]:
    """Both scores with the music beats circularly shifted (seeded), per variant."""
    rng = np.random.default_rng(cfg.seed)
    lo = cfg.null_exclude_beats * period_s
    shifts = rng.uniform(lo, duration_s - lo, size=cfg.n_null_shifts)
    m = np.asarray(music_s, dtype=np.float64)
    out: dict[str, list[float]] = {"bailando": [], "fact": []}
    for s in shifts:
        shifted = np.sort((m + s) % duration_s)
        for k, v in both_bas(shifted, kin_s, span_s=span_s, sigma_s=cfg.sigma_s).items():
            out[k].append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def tempo_drift(clock: ClockMap, music_s: np.ndarray, *, stream_beat_s: float,
                n_stream_beats: int) -> dict[str, float | int | None]:
    """Tempo implied by the clock map vs measured, and the drift it implies by the end.

    Parameters
    ----------
    clock : the pair's clock map (stream time → track time).
    music_s : detected music beat times on the track clock (s).
    stream_beat_s : one skeleton beat on the stream clock (s), e.g. F / 25.
    n_stream_beats : skeleton beats in the stream.
    """
    beats_track = clock.to_track(np.arange(n_stream_beats + 1) * stream_beat_s)
    implied = float(beats_track[-1] - beats_track[0]) / n_stream_beats
    m = np.sort(np.asarray(music_s, dtype=np.float64))
    inside = m[(m >= beats_track[0]) & (m <= beats_track[-1])]
    ibi = np.diff(inside)
    # the median interval is quantised to the feature frame (1/30 s ~ 3% at 120 bpm); the
    # whole span over its whole number of intervals is not
    n_ibi = round(float(inside[-1] - inside[0]) / float(np.median(ibi))) if len(ibi) else 0
    measured = float(inside[-1] - inside[0]) / n_ibi if n_ibi else float("nan")
    j0 = int(np.argmin(np.abs(m - beats_track[0])))
    jn = j0 + n_stream_beats
    vs_beats = (float(beats_track[-1] - beats_track[0]) - float(m[jn] - m[j0])
                if jn < len(m) else None)
    return {
        "implied_beat_period_s": _r(implied), "implied_bpm": _r(60.0 / implied),
        "measured_beat_period_s": _r(measured), "measured_bpm": _r(60.0 / measured),
        "implied_over_measured": _r(implied / measured), "n_stream_beats": int(n_stream_beats),
        "drift_end_s": _r(n_stream_beats * (implied - measured)),
        "drift_vs_beats_s": _r(vs_beats) if vs_beats is not None else None,
        "start_phase_s": _r(float(beats_track[0] - m[j0])),
    }


def measured_beat_period_s(music_s: np.ndarray, span_s: tuple[float, float]) -> float:
    """Span of the detected beats inside ``span_s`` over its whole number of intervals
    (counted with the median interval; NaN with fewer than 2 beats), as in :func:`tempo_drift`.

    >>> measured_beat_period_s(np.array([0.0, 0.5, 1.0, 1.5, 9.0]), (0.0, 2.0))
    0.5
    """
    m = np.sort(np.asarray(music_s, dtype=np.float64))
    inside = m[(m >= span_s[0]) & (m <= span_s[1])]
    ibi = np.diff(inside)
    n_ibi = round(float(inside[-1] - inside[0]) / float(np.median(ibi))) if len(ibi) else 0
    return float(inside[-1] - inside[0]) / n_ibi if n_ibi else float("nan")


def real_time_drift(music_s: np.ndarray, span_s: tuple[float, float], *, first_half_s: float,
                    second_half_s: float) -> dict[str, float | int | str | None]:
    """Tempo block of a stream on a real-time clock (no beat of its own, e.g. MotionMix).

    Nothing implies a tempo, so only the measured beat period is given; the drift is
    measured from the offset estimates of the two halves of the kinematic beats: a clock
    that drifts linearly from 0 puts the halves' centres half a span apart, so the drift by
    the end is ``2 * (second_half_s - first_half_s)``.

    >>> real_time_drift(np.array([0.0, 0.5, 1.0]), (0.0, 1.0), first_half_s=0.01,
    ...                 second_half_s=0.11)["drift_end_s"]
    0.2
    >>> real_time_drift(np.array([0.0, 0.5, 1.0]), (0.0, 1.0), first_half_s=0.01,
    ...                 second_half_s=0.51)["drift_end_s"] is None  # one beat apart
    True
    """
    measured = measured_beat_period_s(music_s, span_s)
    halves = (second_half_s - first_half_s
              if first_half_s is not None and second_half_s is not None
              and np.isfinite(first_half_s) and np.isfinite(second_half_s) else None)
    in_beats = halves / measured if halves is not None and np.isfinite(measured) else None
    # halves a whole number of beats apart: the offset search locked onto different beats
    ambiguous = in_beats is not None and round(in_beats) != 0 and \
        abs(in_beats - round(in_beats)) < BEAT_AMBIGUITY
    out: dict[str, float | int | str | None] = {
        "implied_beat_period_s": None, "implied_bpm": None,
        "measured_beat_period_s": _r(measured), "measured_bpm": _r(60.0 / measured),
        "implied_over_measured": None, "n_stream_beats": None,
        "drift_end_s": _r(2.0 * halves) if halves is not None and not ambiguous else None,
        "drift_vs_beats_s": None, "start_phase_s": None,
        "halves_diff_beats": _r(in_beats, 4),
        "drift_from": "real-time stream clock (no stream beat, no implied tempo): drift by "
                      "the end = 2 x (second-half offset - first-half offset)",
    }
    if ambiguous:
        out["drift_note"] = (f"not measured: the halves' offsets differ by {in_beats:.2f} beat "
                             f"periods ({halves:+.3f} s), a beat ambiguity of the offset "
                             "search, not a drift")
    return out


#: Halves whose offsets differ by a whole number of beats within this (in beats) are a
#: beat ambiguity, not a drift (:func:`real_time_drift`).
BEAT_AMBIGUITY = 0.1


def pair_evidence(*, music_s: np.ndarray, kin_s: np.ndarray, onset_env: np.ndarray,
                  fps: Fraction, duration_s: float, span_s: tuple[float, float],
                  clock: ClockMap, stream_beat_s: float | None, n_stream_beats: int | None,
                  tempo_bpm: float, cfg: EvidenceConfig,
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The evidence record of one pair (JSON-ready) and the series its picture needs.

    ``stream_beat_s`` None: the stream has no beat of its own (a real-time clock): the
    tempo block is :func:`real_time_drift` instead of :func:`tempo_drift`.
    """
    music_s = np.sort(np.asarray(music_s, dtype=np.float64))
    kin_s = np.sort(np.asarray(kin_s, dtype=np.float64))
    observed = both_bas(music_s, kin_s, span_s=span_s, sigma_s=cfg.sigma_s)
    tempo: dict[str, Any]
    if stream_beat_s is not None and n_stream_beats is not None:
        tempo = tempo_drift(clock, music_s, stream_beat_s=stream_beat_s,
                            n_stream_beats=n_stream_beats)
        period = tempo["measured_beat_period_s"] or 60.0 / tempo_bpm
    else:
        period = _r(measured_beat_period_s(music_s, span_s)) or 60.0 / tempo_bpm
    null = circular_shift_null(music_s, kin_s, duration_s=duration_s, span_s=span_s,
                               period_s=period, cfg=cfg)
    kw = dict(beat_period_s=period, sigma_s=cfg.sigma_s, half_range_s=cfg.search_half_range_s,
              step_s=cfg.search_step_s)
    est, grid, curve = estimate_offset(onset_env, fps, kin_s, **kw)
    h1, h2 = halves_agreement(onset_env, fps, kin_s, **kw)
    halves_diff = abs(h1 - h2)
    if stream_beat_s is None or n_stream_beats is None:
        tempo = real_time_drift(music_s, span_s, first_half_s=h1, second_half_s=h2)
    passes = bool(est.peak_ratio is not None and est.peak_ratio >= cfg.min_peak_ratio
                  and halves_diff <= cfg.halves_tol_s)
    drift = tempo["drift_end_s"]
    record = {
        "span_s": [_r(span_s[0]), _r(span_s[1])], "n_kin_beats": int(len(kin_s)),
        "n_music_beats_in_span": int(np.count_nonzero((music_s >= span_s[0])
                                                      & (music_s <= span_s[1]))),
        "bas": {k: _r(v) for k, v in observed.items()},
        "null_circular_shift": {k: percentile_z(observed[k], v) for k, v in null.items()},
        "tempo": {**tempo, "librosa_tempo_bpm": _r(tempo_bpm),
                  "drift_flag": bool(drift is not None and abs(drift) > cfg.drift_flag_s)},
        "offset": {"search_s": [_r(grid[0]), _r(grid[-1])], "best_s": _r(est.offset_s),
                   "score": _r(est.score), "second_peak_s": _r(est.second_offset_s),
                   "peak_ratio": _r(est.peak_ratio), "first_half_s": _r(h1),
                   "second_half_s": _r(h2), "halves_diff_s": _r(halves_diff),
                   "passes": passes, "applied": False},
    }
    series = {"music_s": music_s, "kin_s": kin_s, "offsets_s": grid, "curve": curve,
              "null_bailando": null["bailando"], "null_fact": null["fact"]}
    return record, series


def add_other_tracks_null(records: dict[str, dict], series: dict[str, dict], *,
                          track_of: dict[str, str], sigma_s: float) -> None:
    """Score each pair's motion against every other track's beats; adds ``null_other_tracks``."""
    for pid, rec in records.items():
        span = tuple(rec["span_s"])
        vals: dict[str, list[float]] = {"bailando": [], "fact": []}
        for other, s in sorted(series.items()):
            if other == pid or track_of[other] == track_of[pid]:
                continue
            for k, v in both_bas(s["music_s"], series[pid]["kin_s"], span_s=span,
                                 sigma_s=sigma_s).items():
                vals[k].append(v)
        arrs = {k: np.asarray(v) for k, v in vals.items()}
        rec["null_other_tracks"] = {k: percentile_z(rec["bas"][k], arrs[k]) for k in arrs}
        series[pid].update({f"other_{k}": a for k, a in arrs.items()})


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if np.isfinite(x) else None


def sparse_evidence(*, stream_s: np.ndarray, track_s: np.ndarray, music_s: np.ndarray,
                    duration_s: float, fps: Fraction, max_gap_s: float, tempo_bpm: float,
                    cfg: EvidenceConfig) -> dict[str, Any]:
    """What a sparse snapshot stream (e.g. MotionMix at ~1 Hz) lets us measure about its
    alignment, with numbers, and what it does not (and why, in numbers).

    Parameters
    ----------
    stream_s : snapshot times on the stream clock (s), increasing.
    track_s : the same snapshots on the track clock (the pair's clock map), s.
    music_s : detected music beat times on the track clock (s).
    duration_s : the track's duration (s).
    fps : the output frame grid (snapshots are placed on its nearest frame).
    max_gap_s : intervals longer than this are gaps (never interpolated across).
    tempo_bpm : the track's tempo, used when fewer than 2 beats lie in the snapshots' span.

    Measurable: how many snapshots; their sampling (interval median / min / max / jitter);
    track-time consistency (every snapshot inside the track, increasing, the track-clock
    intervals equal to the stream-clock intervals, placement on the nearest frame); gaps.
    Not measurable: BAS, its nulls, the offset and the drift, whenever the sampling interval
    is not well below the beat period (kinematic beats are speed minima between samples).
    """
    t = np.asarray(stream_s, dtype=np.float64)
    tt = np.asarray(track_s, dtype=np.float64)
    n = len(t)
    dt = np.diff(t)
    span = (float(tt[0]), float(tt[-1])) if n else (0.0, 0.0)
    period = _r(measured_beat_period_s(music_s, span)) or (60.0 / tempo_bpm if tempo_bpm
                                                          else None)
    interval = float(np.median(dt)) if len(dt) else None
    frame_s = frame_duration_s(fps)
    # as the snapshot window kind places them: on the nearest frame of the output grid
    nearest = np.asarray(time_to_frames(tt, fps, rounding="nearest"), dtype=np.int64)
    residual = np.abs(tt - np.asarray(frames_to_time(nearest, fps)))
    gaps = dt[dt > max_gap_s]
    inside = int(np.count_nonzero((tt >= 0) & (tt < duration_s)))
    per_beat = interval / period if interval and period else None
    record: dict[str, Any] = {
        "stream": "sparse",
        "snapshots": n,
        "sampling": {"median_interval_s": _r(interval),
                     "rate_hz": _r(1.0 / interval) if interval else None,
                     "min_interval_s": _r(dt.min()) if len(dt) else None,
                     "max_interval_s": _r(dt.max()) if len(dt) else None,
                     "interval_std_s": _r(dt.std()) if len(dt) else None},
        "music": {"measured_beat_period_s": _r(period),
                  "librosa_tempo_bpm": _r(tempo_bpm),
                  "sampling_interval_in_beats": _r(per_beat, 4),
                  "n_music_beats_in_span": int(np.count_nonzero(
                      (np.asarray(music_s) >= span[0]) & (np.asarray(music_s) <= span[1])))},
        "measurable": {
            "track_time": {
                "span_s": [_r(span[0]), _r(span[1])], "track_duration_s": _r(duration_s),
                "inside_track": inside, "outside_track": n - inside,
                "increasing": bool(np.all(np.diff(tt) > 0)),
                "max_interval_mismatch_s": _r(np.abs(np.diff(tt) - dt).max())
                if len(dt) else None,
                "max_frame_placement_s": _r(residual.max()) if n else None,
                "half_frame_s": _r(frame_s / 2)},
            "gaps": {"longer_than_s": _r(max_gap_s), "n_gaps": int(len(gaps)),
                     "longest_s": _r(gaps.max()) if len(gaps) else None,
                     "total_s": _r(gaps.sum()),
                     "covered_fraction": _r(1.0 - gaps.sum() / (t[-1] - t[0]), 4)
                     if n > 1 and t[-1] > t[0] else None}},
    }
    why = (f"sampling interval {_fmt_s(interval)} = {_fmt_n(per_beat)} beat periods "
           f"({_fmt_s(period)}): a snapshot's time says nothing about where between samples "
           f"a kinematic beat (a speed minimum) fell; BAS scores beats at sigma "
           f"{cfg.sigma_s:g} s, the stream places a speed minimum only to within "
           f"±{_fmt_s(interval / 2 if interval else None, 2)} of a snapshot")
    record["not_measurable"] = {
        "bas": why,
        "null_circular_shift": "no observed BAS to compare with shifted music",
        "offset": f"the offset search steps {cfg.search_step_s:.4f} s within "
                  f"±{cfg.search_half_range_s:g} s on kinematic beats; with none, and with "
                  f"snapshots {_fmt_s(interval)} apart, offsets shorter than the sampling "
                  "interval cannot be told apart",
        "tempo_drift": "no kinematic beats to compare with the music beats; the clock is a "
                       "real-time offset map (drift would show in the track-time checks "
                       "only as snapshots outside the track)",
    }
    return record


def _fmt_s(x: float | None, nd: int = 3) -> str:
    return "unknown" if x is None else f"{x:.{nd}f} s"


def _fmt_n(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.2f}"
