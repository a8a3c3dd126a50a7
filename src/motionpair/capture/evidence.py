"""Alignment evidence for captured (dense, full-rate) MotionMix pairs.

The build's evidence (:mod:`motionpair.align.pair`) is implemented for tang2018
only: it needs the stream's beat rate, which tang2018's beat-normalised clips
publish. A captured video has none, but its pose is dense (every frame) and its
clock is the video's own, so the parts that do not need a stream beat rate apply
unchanged: both beat alignment scores (BAS) against the circular-shift null, and the
onset-at-kinematic-beats offset estimate with its peak ratio and half agreement
(:mod:`motionpair.align.evidence`, :mod:`motionpair.align.offset`). Tempo drift (implied vs
measured beat period) is not computed: there is no implied period. The
other-tracks null needs at least two captured tracks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motionpair.align.evidence import (
    EvidenceConfig,
    add_other_tracks_null,
    both_bas,
    circular_shift_null,
    definitions,
    percentile_z,
)
from motionpair.align.offset import estimate_offset, halves_agreement
from motionpair.build import pair as pipeline
from motionpair.cache import Cache
from motionpair.config import BuildConfig
from motionpair.features import motion
from motionpair.timebase import frames_to_time
from motionpair.windows.snapshot import SPARSE_MAX_GAP_S

MIN_RATE_HZ = 5.0  # 1 Hz snapshots cannot place kinematic beats


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def capture_evidence(paths: list[Any], build_cfg: BuildConfig, cache: Cache,
                     cfg: EvidenceConfig | None = None) -> dict[str, Any]:
    """Evidence records of every dense MotionMix pair below ``paths`` (plus skipped reasons)."""
    from motionpair.build.scan import scan
    from motionpair.sources.motionmix import source as motionmix

    cfg = cfg or EvidenceConfig()
    inv = scan(paths)
    fps = build_cfg.fps_exact
    records: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for spec in inv.pairs:
        if spec.source != motionmix.NAME:
            continue
        info = motionmix.stream_info(spec)
        rate = float(info.rate_hz or 0.0)
        if rate < MIN_RATE_HZ:
            skipped[spec.pair_id] = f"stream at {rate:g} Hz: kinematic beats need >= " \
                                    f"{MIN_RATE_HZ:g} Hz (capture with --rate-hz full)"
            continue
        feats = pipeline.track_features(spec, build_cfg, cache)
        clock = motionmix.clock(spec)
        pose = motionmix.load_pose(spec)
        grid = motion.to_grid(pose, clock, fps, max_gap_s=SPARSE_MAX_GAP_S,
                              kin_sigma_s=build_cfg.kin_sigma_s, kin_order=build_cfg.kin_order)
        valid_fraction = float(grid.valid.mean()) if len(grid.valid) else 0.0
        if valid_fraction < cfg.min_valid_fraction:
            skipped[spec.pair_id] = f"motion valid on {valid_fraction:.0%} of its span (< " \
                                    f"{cfg.min_valid_fraction:.0%})"
            continue
        kin_s = np.asarray(frames_to_time(grid.first_frame + np.flatnonzero(grid.kin_beat),
                                          fps), dtype=np.float64)
        span = (float(frames_to_time(grid.first_frame, fps)),
                float(frames_to_time(grid.first_frame + len(grid.valid) - 1, fps)))
        music_s = np.sort(np.asarray(feats.beat_times_s, dtype=np.float64))
        period = float(np.median(np.diff(music_s))) if len(music_s) > 2 \
            else 60.0 / feats.tempo_bpm
        observed = both_bas(music_s, kin_s, span_s=span, sigma_s=cfg.sigma_s)
        null = circular_shift_null(music_s, kin_s, duration_s=feats.duration_s, span_s=span,
                                   period_s=period, cfg=cfg)
        kw = dict(beat_period_s=period, sigma_s=cfg.sigma_s,
                  half_range_s=cfg.search_half_range_s, step_s=cfg.search_step_s)
        est, offs, curve = estimate_offset(feats.arrays["onset_env"], fps, kin_s, **kw)
        h1, h2 = halves_agreement(feats.arrays["onset_env"], fps, kin_s, **kw)
        passes = bool(est.peak_ratio is not None and est.peak_ratio >= cfg.min_peak_ratio
                      and abs(h1 - h2) <= cfg.halves_tol_s)
        records[spec.pair_id] = {
            "session": spec.session, "camera": info.row_extras.get("camera"),
            "track": spec.track.track_id, "rate_hz": _r(rate, 4),
            "valid_fraction": _r(valid_fraction, 4),
            "span_s": [_r(span[0]), _r(span[1])], "n_kin_beats": int(len(kin_s)),
            "n_music_beats_in_span": int(np.count_nonzero((music_s >= span[0])
                                                          & (music_s <= span[1]))),
            "measured_beat_period_s": _r(period), "librosa_tempo_bpm": _r(feats.tempo_bpm),
            "bas": {k: _r(v) for k, v in observed.items()},
            "null_circular_shift": {k: percentile_z(observed[k], v) for k, v in null.items()},
            "offset": {"search_s": [_r(offs[0]), _r(offs[-1])], "best_s": _r(est.offset_s),
                       "score": _r(est.score), "second_peak_s": _r(est.second_offset_s),
                       "peak_ratio": _r(est.peak_ratio), "first_half_s": _r(h1),
                       "second_half_s": _r(h2), "halves_diff_s": _r(abs(h1 - h2)),
                       "passes": passes},
            "tempo_drift": "not computed: a captured stream has no implied beat period",
        }
        series[spec.pair_id] = {"music_s": music_s, "kin_s": kin_s,
                                "track": spec.track.track_id}
    if len({s["track"] for s in series.values()}) > 1:
        add_other_tracks_null(records, series, track_of={p: s["track"] for p, s in
                                                         series.items()}, sigma_s=cfg.sigma_s)
    return {"definitions": definitions(cfg, kin_sigma_s=build_cfg.kin_sigma_s,
                                       kin_order=build_cfg.kin_order),
            "pairs": dict(sorted(records.items())), "skipped": dict(sorted(skipped.items()))}


def evidence_line(pid: str, rec: dict[str, Any]) -> str:
    """One human line: BAS vs the circular-shift null and the offset estimate."""
    b, n, o = rec["bas"], rec["null_circular_shift"], rec["offset"]
    return (f"{pid}: BAS bailando {b['bailando']:.3f} (null pct {n['bailando']['percentile']}, "
            f"z {n['bailando']['z']}), fact {b['fact']:.3f} (null pct "
            f"{n['fact']['percentile']}, z {n['fact']['z']}); offset {o['best_s']:+.3f} s, "
            f"peak ratio {o['peak_ratio']}, halves {o['first_half_s']:+.3f}/"
            f"{o['second_half_s']:+.3f} s, {'passes' if o['passes'] else 'does not pass'}; "
            f"{rec['n_kin_beats']} kinematic beats, {rec['n_music_beats_in_span']} music beats")
