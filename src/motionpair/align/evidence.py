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


def pair_evidence(*, music_s: np.ndarray, kin_s: np.ndarray, onset_env: np.ndarray,
                  fps: Fraction, duration_s: float, span_s: tuple[float, float],
                  clock: ClockMap, stream_beat_s: float, n_stream_beats: int,
                  tempo_bpm: float, cfg: EvidenceConfig,
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The evidence record of one pair (JSON-ready) and the series its picture needs."""
    music_s = np.sort(np.asarray(music_s, dtype=np.float64))
    kin_s = np.sort(np.asarray(kin_s, dtype=np.float64))
    observed = both_bas(music_s, kin_s, span_s=span_s, sigma_s=cfg.sigma_s)
    tempo = tempo_drift(clock, music_s, stream_beat_s=stream_beat_s,
                        n_stream_beats=n_stream_beats)
    period = tempo["measured_beat_period_s"] or 60.0 / tempo_bpm
    null = circular_shift_null(music_s, kin_s, duration_s=duration_s, span_s=span_s,
                               period_s=period, cfg=cfg)
    kw = dict(beat_period_s=period, sigma_s=cfg.sigma_s, half_range_s=cfg.search_half_range_s,
              step_s=cfg.search_step_s)
    est, grid, curve = estimate_offset(onset_env, fps, kin_s, **kw)
    h1, h2 = halves_agreement(onset_env, fps, kin_s, **kw)
    halves_diff = abs(h1 - h2)
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
