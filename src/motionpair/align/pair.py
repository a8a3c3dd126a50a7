"""Glue: the alignment evidence of real pairs (features + clock map + motion grid → record).

Shared by ``motionpair build`` (evidence in dataset.json, pictures under
``alignment/``) and ``motionpair align`` (its driver: :mod:`motionpair.commands.align`).
The arithmetic lives in evidence.py and offset.py; this module only knows where each input
comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from fractions import Fraction
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.align import plot as alignplot
from motionpair.align.evidence import (
    EvidenceConfig,
    add_other_tracks_null,
    both_bas,
    definitions,
    pair_evidence,
    sparse_evidence,
)
from motionpair.cache import Cache, cache_key
from motionpair.features.beats import tempo_check
from motionpair.memo import code_sha256, value_digest
from motionpair.safeio import guard
from motionpair.sources.base import source_of
from motionpair.timebase import frames_to_time
from motionpair.types import AudioFeatures, ClockMap, MotionGrid, PairSpec, PoseStream


def evidence_for_pair(spec: PairSpec, feats: AudioFeatures, clock: ClockMap, grid: MotionGrid,
                      cfg: EvidenceConfig) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``(record, series)`` for one dense pair; record is None (reason in series) when its
    motion is not dense enough.

    A source whose stream has a beat of its own (tang2018's F frames per beat) gets the
    implied-vs-measured tempo drift; one on a real-time clock (``stream_beats`` None:
    MotionMix sequence pairs, csvmotion) gets the drift measured from the offset halves
    (:func:`motionpair.align.evidence.real_time_drift`).
    """
    beats = source_of(spec).stream_beats(spec, feats.beat_times_s)
    valid_fraction = float(grid.valid.mean()) if len(grid.valid) else 0.0
    if valid_fraction < cfg.min_valid_fraction:
        return None, {"skipped": f"motion valid on {valid_fraction:.0%} of its span; evidence "
                                 f"needs dense motion (>= {cfg.min_valid_fraction:.0%})"}
    fps = grid.fps
    kin_s = np.asarray(frames_to_time(grid.first_frame + np.flatnonzero(grid.kin_beat), fps))
    span = (float(frames_to_time(grid.first_frame, fps)),
            float(frames_to_time(grid.first_frame + len(grid.valid) - 1, fps)))
    beat_s, n_beats, how = beats if beats is not None else (None, None, REAL_TIME)
    record, arrays = pair_evidence(
        music_s=feats.beat_times_s, kin_s=kin_s, onset_env=feats.arrays["onset_env"], fps=fps,
        duration_s=feats.duration_s, span_s=span, clock=clock, stream_beat_s=beat_s,
        n_stream_beats=n_beats, tempo_bpm=feats.tempo_bpm, cfg=cfg)
    series: dict[str, Any] = dict(arrays)  # the arrays, then the scalars below
    # F estimated from detected beats makes implied and measured tempo agree by construction
    record["tempo"]["frames_per_beat"] = how
    record["tempo"]["independent_of_audio"] = spec.style in ("cha-cha", "rumba")
    check = metrical_check(spec, feats)
    if check is not None:
        record["tempo"]["metrical_level_check"] = check
    record["clock_map"] = clock.kind
    record["style"] = spec.style
    series["speed"] = grid.speed.astype(np.float32)
    series["speed_t0_s"] = span[0]
    series["fps"] = float(fps)
    series["track"] = spec.track.track_id
    series["units"] = source_of(spec).MOTION_UNITS  # the speed axis of the picture
    return record, series


def metrical_check(spec: PairSpec, feats: AudioFeatures) -> dict[str, Any] | None:
    """The tracker's metrical-level check on a pair with a known true beat count
    (:func:`motionpair.features.beats.tempo_check`), else None."""
    true_span = getattr(source_of(spec), "true_beat_span", None)
    span = true_span(spec) if true_span is not None else None
    if span is None:
        return None
    start_s, end_s, n_beats = span
    return tempo_check(feats.beat_times_s, start_s=start_s, end_s=end_s,
                       n_true_beats=float(n_beats))


#: ``tempo.frames_per_beat`` of a stream with no beat of its own.
REAL_TIME = "none: the stream clock is real time (no stream beat; drift from offset halves)"


def evidence_for_sparse(spec: PairSpec, feats: AudioFeatures, clock: ClockMap,
                        pose: PoseStream, *, fps: Fraction, max_gap_s: float,
                        extras: dict[str, Any], cfg: EvidenceConfig
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(record, series)`` of a sparse snapshot pair: what can and cannot be measured
    (:func:`motionpair.align.evidence.sparse_evidence`), never skipped."""
    record = {"track": spec.track.track_id, **extras, **sparse_evidence(
        stream_s=pose.times_s, track_s=clock.to_track(pose.times_s),
        music_s=feats.beat_times_s, duration_s=feats.duration_s, fps=fps, max_gap_s=max_gap_s,
        tempo_bpm=feats.tempo_bpm, cfg=cfg), "clock_map": clock.kind}
    return record, {"track": spec.track.track_id, "sparse": True}


def is_sparse(record: dict[str, Any] | None) -> bool:
    """Whether an evidence record is a sparse pair's (:func:`evidence_for_sparse`)."""
    return record is not None and record.get("stream") == "sparse"


def finish(records: dict[str, dict | None], series: dict[str, dict], *, cfg: EvidenceConfig,
           kin_sigma_s: float, kin_order: int) -> dict[str, Any]:
    """Add the other-tracks null to every dense record; the ``alignment_evidence`` block.

    Sparse pairs' records (what can and cannot be measured) go to ``sparse_pairs`` (only
    when there are any: a build without them writes the block as before).
    """
    dense = {p: r for p, r in records.items() if r is not None and not is_sparse(r)}
    sparse = {p: r for p, r in records.items() if is_sparse(r)}
    add_other_tracks_null(dense, {p: series[p] for p in dense},
                          track_of={p: series[p]["track"] for p in dense}, sigma_s=cfg.sigma_s)
    flagged = sorted(p for p, r in dense.items() if r["tempo"]["drift_flag"])
    block = {
        "definitions": definitions(cfg, kin_sigma_s=kin_sigma_s, kin_order=kin_order),
        "summary": {"pairs": len(dense),
                    "skipped": {p: series.get(p, {}).get("skipped", "not computed")
                                for p in sorted(records) if records[p] is None},
                    "drift_flagged": flagged,
                    "offset_passes": sorted(p for p, r in dense.items()
                                            if r["offset"]["passes"])},
        "pairs": {p: dense[p] for p in sorted(dense)},
    }
    if sparse:
        block["summary"]["sparse_pairs"] = len(sparse)
        block["definitions"]["sparse_pairs"] = SPARSE_DEFINITION
        block["sparse_pairs"] = {p: sparse[p] for p in sorted(sparse)}
    return block


#: How a sparse pair's record is defined (next to the records in the block).
SPARSE_DEFINITION = (
    "snapshot streams too sparse for kinematic beats (MotionMix ~1 Hz): the record says what "
    "is measured (snapshot count, sampling intervals, every snapshot's track time through the "
    "clock map: inside the track, increasing, track intervals = stream intervals, nearest-"
    "frame placement; gaps longer than max_gap_s) and why BAS, nulls, offset and drift are "
    "not (sampling interval vs the measured beat period)")


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


def source_module_name(spec: PairSpec) -> str:
    """Dotted module name of the pair's source (a source is a module: see sources.base)."""
    return str(getattr(source_of(spec), "__name__", "motionpair.sources.base"))


def png_name(pair_id: str) -> str:
    """File name of a pair's alignment picture (``alignment/<name>``)."""
    return pair_id.replace("/", "__") + ".png"


def draw_all(block: dict[str, Any], series: dict[str, dict], out_dir: Path, *,
             on_done: Callable[[str], None] | None = None) -> list[Path]:
    """One PNG per dense pair under ``out_dir``; returns the paths.

    A picture that fails is left out and its record says why (``picture``): a picture
    never stops the run. ``on_done(pair id)`` is called after each pair (progress).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for pid, rec in block["pairs"].items():
        png = out_dir / png_name(pid)
        path, why = guard(png, alignplot.draw_pair, pid, rec, series[pid], png)
        if path is None:
            _picture_failed(rec, png, str(why))
        else:
            paths.append(path)
        if on_done:
            on_done(pid)
    return paths


def alignment_pictures(block: dict, series: dict[str, dict], out_dir: Path,
                       cache: Cache | None,
                       on_picture: Callable[[int, int], None] | None = None) -> list[Path]:
    """``draw_all`` with each PNG memoised on its record, series and code;
    ``on_picture(k, n)`` is called before the k-th of n pictures (for a progress display).

    Fourteen matplotlib figures cost several seconds: far more than the rest of a fully
    cached rebuild. :class:`PictureJobs` draws them in other processes instead.
    """
    return PictureJobs(block, series, out_dir, cache).finish(on_picture)


def picture_code() -> str:
    """Digest of the code an alignment picture depends on (part of its memo key)."""
    return code_sha256("motionpair.align.plot", "motionpair.align.pair",
                       "motionpair.align.evidence", "motionpair.timebase")


def draw_picture_file(pair_id: str, record: dict, series: dict, png: Path) -> str | None:
    """Draw one pair's picture into ``png``; None, or why it could not be drawn (a worker
    process's job: top-level and picklable)."""
    path, why = guard(png, alignplot.draw_pair, pair_id, record, series, png)
    return None if path is not None else str(why)


#: A picture copied from the memo (its job's key).
HIT = "memo hit"


class PictureJobs:
    """The alignment pictures of a build: memo hits copied at once, the rest drawn by
    ``submit`` (an executor's ``submit``: other processes, while the build writes the rest)
    or, without one, one by one in :meth:`finish`.

    The same PNG bytes either way: a picture is a function of its record and series.
    """

    def __init__(self, block: dict, series: dict[str, dict], out_dir: Path,
                 cache: Cache | None, submit: Callable[..., Any] | None = None):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.block, self.series, self.out_dir, self.cache = block, series, out_dir, cache
        code, mpl = picture_code(), version("matplotlib")
        # (pid, png, memo key, future); key HIT: copied from the memo, nothing to draw
        self.jobs: list[tuple[str, Path, str | None, Any]] = []
        for pid, rec in block["pairs"].items():
            png = out_dir / png_name(pid)
            key = None
            if cache is not None and cache.root is not None:
                key = cache_key("alignplot", {"code": code, "matplotlib": mpl, "pair": pid,
                                              "record": value_digest(rec),
                                              "series": value_digest(series[pid])})
                hit = cache.get("alignplot", key, arrays=("data",))
                if hit is not None:
                    png.write_bytes(hit[0]["data"].tobytes())
                    self.jobs.append((pid, png, HIT, None))
                    continue
            future = submit(draw_picture_file, pid, rec, series[pid], png) if submit else None
            self.jobs.append((pid, png, key, future))

    @property
    def to_draw(self) -> int:
        """How many pictures were not memo hits."""
        return sum(1 for _, _, key, _ in self.jobs if key is not HIT)

    def finish(self, on_picture: Callable[[int, int], None] | None = None) -> list[Path]:
        """Wait for (or draw) every picture in pair order; memoise new ones; note on its
        record why a picture is missing. Returns the PNGs written."""
        paths = []
        for k, (pid, png, key, future) in enumerate(self.jobs, start=1):
            if on_picture is not None:
                on_picture(k, len(self.jobs))
            rec = self.block["pairs"][pid]
            if future is not None:
                try:
                    why = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead drawing process: no picture
                    why = f"{png}: drawing process failed ({type(exc).__name__}: {exc})"
            elif key is HIT:
                why = None
            else:
                why = draw_picture_file(pid, rec, self.series[pid], png)
            if why is not None:  # a picture never stops a build: the record says why
                _picture_failed(rec, png, why)
                continue
            if key is not None and key is not HIT and self.cache is not None:
                self.cache.put("alignplot", key,
                               {"data": np.frombuffer(png.read_bytes(), dtype=np.uint8)},
                               {"bytes": png.stat().st_size})
            paths.append(png)
        return paths


def _picture_failed(record: dict, png: Path, why: str) -> None:
    """Note on the pair's evidence record why its picture is missing; no partial PNG kept."""
    png.unlink(missing_ok=True)
    record["picture"] = f"not drawn: {why.removeprefix(f'{png}: ')}"


def memoised_evidence(spec: PairSpec, feats: AudioFeatures, clock: ClockMap,
                      grid: MotionGrid, cache: Cache | None,
                      compute: Callable[[], tuple[dict | None, dict]],
                      ) -> tuple[dict | None, dict]:
    """``compute()`` = ``evidence_for_pair(...)``, memoised on what it reads.

    The key covers every input the evidence reads (beats, onset envelope, duration and
    tempo of the track; valid mask, kinematic beats, speed and placement of the motion;
    the clock map; the pair's identity and parameters) and the code of the modules that
    compute it. Record and series keep their key order (stored as JSON text), so a
    memoised result writes the same bytes as a computed one.
    """
    if cache is None or cache.root is None:
        return compute()
    payload = {
        # this module, what it calls, and the pair's source (its clock and stream beats)
        "code": code_sha256("motionpair.align.evidence", "motionpair.align.offset",
                            "motionpair.align.pair", "motionpair.align.clock",
                            source_module_name(spec), "motionpair.timebase", "motionpair.types",
                            "motionpair.features.beats"),
        "cfg": value_digest(asdict(EvidenceConfig())),
        "spec": value_digest({"pair": spec.pair_id, "source": spec.source, "style": spec.style,
                              "track": spec.track.track_id,
                              "params": {k: v for k, v in spec.params.items() if k != "folder"}}),
        "clock": value_digest({**clock.to_dict(), "anchors": [list(a) for a in clock.anchors],
                               "scale": clock.scale, "offset_s": clock.offset_s}),
        "audio": value_digest({"beats": feats.beat_times_s, "onset": feats.arrays["onset_env"],
                               "duration_s": feats.duration_s, "tempo": feats.tempo_bpm}),
        "motion": value_digest({"first": grid.first_frame, "fps": str(grid.fps),
                                "valid": grid.valid, "kin": grid.kin_beat, "speed": grid.speed}),
    }
    key = cache_key("evidence", payload)
    hit = cache.get("evidence", key, meta=("record", "order", "scalars"))
    if hit is not None:
        arrays, meta = hit
        scalars = json.loads(meta["scalars"])
        series = {k: arrays[k] if k in arrays else scalars[k] for k in meta["order"]}
        return json.loads(meta["record"]), series
    record, series = compute()
    arrays = {k: v for k, v in series.items() if isinstance(v, np.ndarray)}
    try:
        meta = {"record": json.dumps(record), "order": list(series),
                "scalars": json.dumps({k: v for k, v in series.items() if k not in arrays})}
    except TypeError:  # not JSON-able: compute it every time rather than store it lossily
        return record, series
    cache.put("evidence", key, arrays, meta)
    return record, series
