"""Glue: the alignment evidence of real pairs (features + clock map + motion grid → record).

Shared by ``motionpair build`` (evidence in dataset.json, pictures under
``alignment/``) and ``motionpair align``. The arithmetic lives in evidence.py
and offset.py; this module only knows where each input comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from motionpair.align import frames_per_beat
from motionpair.evidence import (
    EvidenceConfig,
    add_other_tracks_null,
    both_bas,
    definitions,
    pair_evidence,
)
from motionpair.safeio import describe_pair
from motionpair.sources import tang2018
from motionpair.timebase import frames_to_time
from motionpair.types import AudioFeatures, ClockMap, MotionGrid, PairSpec, Problem

if TYPE_CHECKING:
    from motionpair.config import BuildConfig


def stream_beats(spec: PairSpec, beat_times_s: np.ndarray) -> tuple[float, int, str]:
    """One skeleton beat on the stream clock (s), the stream's beat count, and how F was found.

    tang2018 motion is beat-normalised at F frames per beat on a nominal 25 fps clock.
    """
    F, how = frames_per_beat(spec, np.asarray(beat_times_s))
    n = int(Fraction(spec.params["length"]) / F)
    return float(F / tang2018.NOMINAL_SKELETON_FPS), n, f"F={float(F):g} ({how})"


def evidence_for_pair(spec: PairSpec, feats: AudioFeatures, clock: ClockMap, grid: MotionGrid,
                      cfg: EvidenceConfig) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``(record, series)`` for one pair; record is None (reason in series) when not dense."""
    if spec.source != tang2018.NAME:
        return None, {"skipped": f"source {spec.source!r}: evidence needs a dense stream with "
                                 "a known beat rate (implemented for tang2018)"}
    valid_fraction = float(grid.valid.mean()) if len(grid.valid) else 0.0
    if valid_fraction < cfg.min_valid_fraction:
        return None, {"skipped": f"motion valid on {valid_fraction:.0%} of its span; evidence "
                                 f"needs dense motion (>= {cfg.min_valid_fraction:.0%})"}
    fps = grid.fps
    kin_s = np.asarray(frames_to_time(grid.first_frame + np.flatnonzero(grid.kin_beat), fps))
    span = (float(frames_to_time(grid.first_frame, fps)),
            float(frames_to_time(grid.first_frame + len(grid.valid) - 1, fps)))
    beat_s, n_beats, how = stream_beats(spec, feats.beat_times_s)
    # series: pair_evidence's arrays, plus the scalars added below
    record, series = cast(tuple[dict[str, Any], dict[str, Any]], pair_evidence(
        music_s=feats.beat_times_s, kin_s=kin_s, onset_env=feats.arrays["onset_env"], fps=fps,
        duration_s=feats.duration_s, span_s=span, clock=clock, stream_beat_s=beat_s,
        n_stream_beats=n_beats, tempo_bpm=feats.tempo_bpm, cfg=cfg))
    # F estimated from detected beats makes implied and measured tempo agree by construction
    record["tempo"]["frames_per_beat"] = how
    record["tempo"]["independent_of_audio"] = spec.style in ("cha-cha", "rumba")
    record["clock_map"] = clock.kind
    record["style"] = spec.style
    series["speed"] = grid.speed.astype(np.float32)
    series["speed_t0_s"] = span[0]
    series["fps"] = float(fps)
    series["track"] = spec.track.track_id
    return record, series


def finish(records: dict[str, dict | None], series: dict[str, dict], *, cfg: EvidenceConfig,
           kin_sigma_s: float, kin_order: int) -> dict[str, Any]:
    """Add the other-tracks null to every record; the ``alignment_evidence`` block."""
    dense = {p: r for p, r in records.items() if r is not None}
    add_other_tracks_null(dense, {p: series[p] for p in dense},
                          track_of={p: series[p]["track"] for p in dense}, sigma_s=cfg.sigma_s)
    flagged = sorted(p for p, r in dense.items() if r["tempo"]["drift_flag"])
    return {
        "definitions": definitions(cfg, kin_sigma_s=kin_sigma_s, kin_order=kin_order),
        "summary": {"pairs": len(dense),
                    "skipped": {p: series.get(p, {}).get("skipped", "not computed")
                                for p in sorted(records) if records[p] is None},
                    "drift_flagged": flagged,
                    "offset_passes": sorted(p for p, r in dense.items()
                                            if r["offset"]["passes"])},
        "pairs": {p: dense[p] for p in sorted(dense)},
    }


#: Recorded on a pair whose estimated offset was applied at the user's request.
OFFSET_APPLIED = "evidence.estimated_offset_applied"
OFFSET_APPLIED_TEXT = ("the offset estimated from onset strength at kinematic beats was added to "
                       "the clock map because the user asked and its confidence passed "
                       "(peak ratio and half agreement thresholds recorded)")


def apply_offsets(block: dict[str, Any], series: dict[str, dict], *,
                  cfg: EvidenceConfig) -> list[str]:
    """Re-score, at the estimated offset, the pairs whose estimate passes; returns their ids.

    Only the evidence record changes (``offset.applied``, ``offset.bas_at_offset`` and the
    assumption name); no clock map or dataset is touched.
    """
    done = []
    for pid, rec in block["pairs"].items():
        o = rec["offset"]
        if not o["passes"]:
            continue
        s = series[pid]
        span = (rec["span_s"][0] + o["best_s"], rec["span_s"][1] + o["best_s"])
        o["bas_at_offset"] = {k: round(v, 6) for k, v in both_bas(
            s["music_s"], s["kin_s"] + o["best_s"], span_s=span, sigma_s=cfg.sigma_s).items()}
        o["applied"] = True
        rec["assumptions"] = [OFFSET_APPLIED]
        done.append(pid)
    if done:
        block["assumptions"] = {OFFSET_APPLIED: OFFSET_APPLIED_TEXT}
    return done


def png_name(pair_id: str) -> str:
    """File name of a pair's alignment picture (``alignment/<name>``)."""
    return pair_id.replace("/", "__") + ".png"


def draw_all(block: dict[str, Any], series: dict[str, dict], out_dir: Path) -> list[Path]:
    """One PNG per dense pair under ``out_dir``; returns the paths.

    A picture that fails is left out and its record says why (``picture``): a picture
    never stops the run.
    """
    from motionpair.alignplot import draw_pair
    from motionpair.memo import _picture_failed
    from motionpair.safeio import guard

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for pid, rec in block["pairs"].items():
        png = out_dir / png_name(pid)
        path, why = guard(png, draw_pair, pid, rec, series[pid], png)
        if path is None:
            _picture_failed(rec, png, str(why))
        else:
            paths.append(path)
    return paths


def evidence_for_inputs(paths: Sequence[str | Path], build_cfg: BuildConfig, *,
                        cache_dir: Path | None, cfg: EvidenceConfig,
                        ) -> tuple[dict[str, Any], dict[str, dict], list[Problem]]:
    """Scan ``paths`` and compute the evidence of every pair with ``build_cfg``'s clock.

    Returns ``(alignment_evidence block, series per pair, problems)``; a pair that
    cannot be read becomes a problem and never stops the others.
    """
    from motionpair.align import clock_for
    from motionpair.cache import Cache
    from motionpair.pipeline import motion_grid, track_features
    from motionpair.sources import scan

    cache = Cache(cache_dir)
    inv = scan(paths, cache=cache if cache_dir else None)  # memoised validation, as in build
    records: dict[str, dict | None] = {}
    series: dict[str, dict] = {}
    problems = list(inv.problems)
    for spec in inv.pairs:
        try:
            feats = track_features(spec, build_cfg, cache)
            clock = clock_for(spec, feats, kind=build_cfg.clock)
            grid = motion_grid(spec, clock, build_cfg, cache)
            records[spec.pair_id], series[spec.pair_id] = evidence_for_pair(
                spec, feats, clock, grid, cfg)
        except Exception as exc:  # noqa: BLE001 - one pair never stops the others
            problems.append(Problem(path=spec.pair_id, source=spec.source,
                                    session=spec.session,
                                    reason=describe_pair(exc, spec.pair_id, [
                                        f"{i.root}/{i.path}" for i in spec.inputs])))
    block = finish(records, series, cfg=cfg, kin_sigma_s=build_cfg.kin_sigma_s,
                   kin_order=build_cfg.kin_order)
    return block, series, problems
