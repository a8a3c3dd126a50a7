"""Per-pair work: features → clock map → motion grid → windows → one shard.

``process_pair`` is a top-level function of picklable arguments so the
builder can run it in worker processes; its result depends only on its inputs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.align import pair as pairevidence
from motionpair.align.clock import clock_for
from motionpair.align.evidence import EvidenceConfig
from motionpair.cache import Cache, cache_key
from motionpair.config import BuildConfig
from motionpair.features import audio, beats, motion
from motionpair.sources.base import Source, source_of
from motionpair.store import OutputError, shard_name, write_shard
from motionpair.timebase import frames_to_time, n_frames_covering
from motionpair.types import (
    AudioFeatures,
    ClockMap,
    MotionGrid,
    PairResult,
    PairSpec,
    PoseStream,
    StreamInfo,
    WindowRow,
)
from motionpair.windows import rows as windowrows
from motionpair.windows import snapshot
from motionpair.windows.rows import AUDIO_ARRAYS, MOTION_ARRAYS
from motionpair.workers import stage

__all__ = ["AUDIO_ARRAYS", "MOTION_ARRAYS", "NotCachedError", "OutputError", "PairResult",
           "motion_grid", "process_pair", "shard_name", "track_features", "write_shard"]
#: The arrays of a cached motion grid (the MotionGrid field names).
MOTION_CACHE_ARRAYS = ("pose", "valid", "velocity", "acceleration", "speed", "kin_beat")


class NotCachedError(LookupError):
    """Raised by ``process_pair(..., cached_only=True)`` when a stage would need computing."""


def track_features(spec: PairSpec, cfg: BuildConfig, cache: Cache, *,
                   cached_only: bool = False) -> AudioFeatures:
    """Per-track features, from the cache when the audio bytes and recipe are unchanged.

    With ``cached_only`` a cache miss raises :class:`NotCachedError` instead of computing.
    The whole track's features (chroma over every frame); the build itself computes the
    chroma only over the frames its windows read (:func:`base_features`, :func:`with_chroma`).
    """
    given = source_of(spec).features(spec, cfg)  # precomputed by the source (MotionMix NPZ)
    if given is not None:
        return given
    base = base_features(spec, cfg, cache, cached_only=cached_only)
    return with_chroma(spec, base, (0, base.n_frames), cache, cached_only=cached_only)


#: The arrays of a cached audio stage (:func:`motionpair.features.audio.base_features`).
AUDIO_CACHE_ARRAYS = ("beat_times_s", "mel", "onset_env", "music_beat", "onset_peak",
                      *audio.BASE_EXTRA_ARRAYS)
#: Part of the audio stage's key: what an entry holds (the chroma is a stage of its own).
AUDIO_CACHE_LAYOUT = "base-without-chroma"

#: The chroma-rate track of the last track whose base features were computed here, so that
#: :func:`with_chroma` does not decode it again: ``{audio sha256: y_c}``, one entry at most.
_LAST_Y_CHROMA: dict[str, np.ndarray] = {}


def base_features(spec: PairSpec, cfg: BuildConfig, cache: Cache, *,
                  cached_only: bool = False) -> AudioFeatures:
    """The whole-track part of a computed track's features
    (:func:`motionpair.features.audio.base_features`: no ``baseline35`` yet), cached.

    With ``cached_only`` a cache miss raises :class:`NotCachedError` instead of computing.
    """
    params = audio.feature_params(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels,
                                  n_fft=cfg.n_fft, n_mfcc=cfg.n_mfcc)
    # "threads": computed with one BLAS thread (features.audio.one_thread); older entries differ
    key = cache_key("audio", {"params": params, "input_sha256": spec.track.sha256,
                              "layout": AUDIO_CACHE_LAYOUT, "threads": 1})
    hit = cache.get("audio", key, arrays=AUDIO_CACHE_ARRAYS,
                    meta=("duration_s", "tempo_bpm", "params"))
    if hit is not None:
        arrays, meta = hit
        beats = arrays.pop("beat_times_s")
        return AudioFeatures(track_id=spec.track.track_id, sr_hz=cfg.sr_hz, hop=cfg.hop,
                             duration_s=meta["duration_s"], arrays=arrays, beat_times_s=beats,
                             tempo_bpm=meta["tempo_bpm"], params=meta["params"])
    if cached_only:
        raise NotCachedError(f"audio features of {spec.track.track_id}")
    y, native_sr = audio.decode_audio(spec.track.path)
    _refuse_truncated(spec, frames_to_time(len(y), native_sr))  # samples -> s
    feats, y_c = audio.base_features(y, native_sr_hz=native_sr, track_id=spec.track.track_id,
                                     sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels,
                                     n_fft=cfg.n_fft, n_mfcc=cfg.n_mfcc)
    _LAST_Y_CHROMA.clear()
    _LAST_Y_CHROMA[spec.track.sha256] = y_c
    cache.put("audio", key, {**feats.arrays, "beat_times_s": feats.beat_times_s},
              {"duration_s": feats.duration_s, "tempo_bpm": feats.tempo_bpm,
               "params": feats.params})
    return feats


def with_chroma(spec: PairSpec, base: AudioFeatures, span: tuple[int, int], cache: Cache, *,
                cached_only: bool = False) -> AudioFeatures:
    """``base`` with ``baseline35``, its chroma computed over frames ``span`` (lo, hi) only
    (:func:`motionpair.features.audio.chroma_span`: the same values as over the whole
    track), cached by track, recipe and span. Chroma frames outside ``span`` are NaN."""
    lo, hi = span
    key = cache_key("chroma", {"params": base.params, "input_sha256": spec.track.sha256,
                               "span": [int(lo), int(hi)], "pad_s": audio.CHROMA_PAD_S})
    hit = cache.get("chroma", key, arrays=("chroma",))
    if hit is not None:
        return audio.with_chroma(base, hit[0]["chroma"], lo)
    if cached_only:
        raise NotCachedError(f"chroma of {spec.track.track_id}")
    y_c = _LAST_Y_CHROMA.pop(spec.track.sha256, None)
    if y_c is None:  # the base features came from the cache: decode once more
        y, native_sr = audio.decode_audio(spec.track.path)
        _refuse_truncated(spec, frames_to_time(len(y), native_sr))  # samples -> s
        y_c = audio.resample(y, orig_sr_hz=native_sr, sr_hz=int(base.params["chroma_sr_hz"]))
    chroma = audio.chroma_span(y_c, base.params, lo, hi, n_frames=base.n_frames)
    cache.put("chroma", key, {"chroma": chroma}, {"span": [int(lo), int(hi)]})
    return audio.with_chroma(base, chroma, lo)


def chroma_frames(grid: MotionGrid | None, n_audio: int, n_frames: int) -> tuple[int, int]:
    """The frames whose chroma a pair needs: its motion grid's (every dense window lies
    inside it) and one more (a beat window interpolates between a frame and the next, with
    weight 0 on the last grid frame), clipped to the track; every frame without a grid."""
    if grid is None:
        return 0, n_frames
    lo = min(max(grid.first_frame, 0), n_frames)
    hi = max(min(grid.first_frame + len(grid.valid) + 1, n_audio + 1, n_frames), lo)
    return lo, hi


#: Decoded audio shorter than this share of its header's duration is a truncated file.
MIN_DECODED_SHARE = audio.MIN_DECODED_SHARE


def _refuse_truncated(spec: PairSpec, decoded_s: float) -> None:
    """``ValueError`` naming the file when it decodes to less than its header declares.

    libsndfile decodes a cut MP3 up to the cut without an error; every real tang2018
    track decodes to exactly its header's frame count.
    """
    declared_s = spec.track.duration_s
    if spec.track.kind == "audio" and declared_s and decoded_s < MIN_DECODED_SHARE * declared_s:
        raise ValueError(f"{spec.track.path}: truncated audio: the header declares "
                         f"{declared_s:.2f} s but only {decoded_s:.2f} s decode")


def motion_grid(spec: PairSpec, clock: ClockMap, cfg: BuildConfig, cache: Cache, *,
                cached_only: bool = False) -> MotionGrid:
    """The pair's motion on the track grid, from the cache when nothing it depends on changed."""
    params = motion.motion_params(max_gap_s=cfg.max_gap_s, kin_sigma_s=cfg.kin_sigma_s,
                                  kin_order=cfg.kin_order)
    key = cache_key("motion", {
        "params": params, "fps": str(cfg.fps_exact),
        "clock": {**clock.to_dict(), "anchors": [list(a) for a in clock.anchors],
                  "scale": clock.scale, "offset_s": clock.offset_s},
        "inputs": sorted(i.sha256 for i in spec.inputs if i.sha256 != spec.track.sha256),
    })
    hit = cache.get("motion", key, arrays=MOTION_CACHE_ARRAYS, meta=("first_frame", "params"))
    if hit is not None:
        arrays, meta = hit
        valid = arrays.pop("valid")
        return MotionGrid(first_frame=meta["first_frame"], fps=cfg.fps_exact, valid=valid,
                          params=meta["params"], **arrays)
    if cached_only:
        raise NotCachedError(f"motion grid of {spec.pair_id}")
    pose = source_of(spec).load_pose(spec)
    grid = motion.to_grid(pose, clock, cfg.fps_exact, max_gap_s=cfg.max_gap_s,
                          kin_sigma_s=cfg.kin_sigma_s, kin_order=cfg.kin_order)
    cache.put("motion", key, {k: getattr(grid, k) for k in MOTION_CACHE_ARRAYS},
              {"first_frame": grid.first_frame, "params": grid.params})
    return grid


def process_pair(spec: PairSpec, cfg: BuildConfig, out_dir: str,
                 cache_root: str | None, *, cached_only: bool = False) -> PairResult:
    """Everything for one pair; writes ``out_dir/<shard>/*.npy`` and returns its rows.

    The ONE per-pair pipeline for every source: features → clock map → motion → windows →
    shard → facts → evidence. The pairing mode (:func:`pairing`) picks the motion and the
    window kind: ``dense`` (a dense source: the cached motion grid, fixed or beat windows),
    ``sequence`` (a sparse stream measured dense enough, or asked so: the same windows over
    a grid interpolated only across short gaps) or ``snapshot`` (one row per snapshot,
    :mod:`motionpair.windows.snapshot`).

    ``cached_only=True`` raises :class:`NotCachedError` (before writing anything) unless both
    the audio features and the motion grid come from the cache; the builder uses it to
    serve fully cached pairs in-process without starting worker processes.
    """
    cache = Cache(Path(cache_root) if cache_root else None)
    src = source_of(spec)
    if src.SPARSE and cached_only:  # no cached stage to serve: computed in the pool
        raise NotCachedError(f"{spec.pair_id} has no cacheable stage")
    info = src.stream_info(spec)
    stage(spec.pair_id, "audio features")
    given = src.features(spec, cfg)  # precomputed by the source (MotionMix NPZ)
    feats = given if given is not None else base_features(spec, cfg, cache,
                                                          cached_only=cached_only)
    stage(spec.pair_id, "clock map")
    clock = clock_for(spec, feats, kind=cfg.clock)
    mode, why = pairing(src, info, cfg)
    shard = shard_name(spec)
    assumptions = src.assumptions_for(clock)
    if info.assumptions:
        assumptions = sorted({*assumptions, *info.assumptions})
    if spec.track.declared_s is not None:  # a cut tail, kept by build/scan.audio_verdicts
        assumptions = sorted({*assumptions, audio.TRUNCATED})
    n_audio = min(feats.n_frames, n_frames_covering(feats.duration_s, cfg.fps_exact))
    # memos get their own counters: "hits" counts the audio and motion stages only
    memo_cache = Cache(cache.root)
    if mode == "snapshot":
        snapshot.refuse_beat_options(spec.pair_id, mode, why, cfg)
    pose, grid = pair_motion(spec, src, mode, clock, cfg, cache, cached_only=cached_only)
    if given is None:  # chroma only where the windows read it
        stage(spec.pair_id, "chroma")
        span = chroma_frames(grid if mode == "dense" else None, n_audio, feats.n_frames)
        feats = with_chroma(spec, feats, span, memo_cache, cached_only=cached_only)
    if pose is None:
        assert grid is not None
        motion_facts = dense_motion_facts(grid, cfg, memo_cache)
    max_gap_s = sparse_max_gap_s(cfg)
    stage(spec.pair_id, "windows")
    if grid is not None:
        rows, arrays, dropped = windowrows.cut(spec, feats, grid, clock, cfg, n_audio, shard,
                                               assumptions, info.row_extras)
    else:
        assert pose is not None
        rows, arrays, dropped = snapshot.snapshot_windows(
            spec, feats, pose, clock, cfg, n_audio=n_audio, shard=shard,
            assumptions=assumptions, max_dt_s=max_gap_s, extras=info.row_extras)
    if pose is not None:
        motion_facts = sparse_motion_facts(pose, grid, clock, rows, max_gap_s)
    if given is None and "baseline35" in arrays and np.isnan(arrays["baseline35"]).any():
        # the chroma span missed a frame a window reads: never write such a shard
        raise RuntimeError(f"{spec.pair_id}: a window reads chroma outside the computed span "
                           f"{span[0]}..{span[1]} (a motionpair bug; please report it)")
    stage(spec.pair_id, "shard write")
    write_shard(Path(out_dir) / shard, arrays)
    stream = None if pose is None else {
        "audio_from": {k: feats.params.get(k) for k in AUDIO_FROM_KEYS},
        "row_extras": info.row_extras,
        "pairing": {"mode": mode, "why": why, "rate_hz": info.rate_hz, "max_gap_s": max_gap_s,
                    "context_s": list(cfg.context_s),
                    "context_frames": list(cfg.context_frames)},
        "snapshots": len(pose.times_s),
        "masked_gap_frames": None if grid is None else int((~grid.valid).sum()),
        "units": pose.units, "joint_names": pose.joint_names}
    facts = pair_facts(spec, feats, clock, shard=shard, motion=motion_facts, n_windows=len(rows),
                       dropped=dropped, assumptions=assumptions, stream=stream)
    stage(spec.pair_id, "alignment evidence")
    evidence, evidence_series = _evidence(spec, feats, clock, grid, pose, cfg, EvidenceConfig(),
                                          cache=memo_cache)
    return PairResult(pair_id=spec.pair_id, shard=shard, rows=rows,
                      evidence=evidence, evidence_series=evidence_series,
                      dropped=dict(sorted(Counter(dropped).items())), facts=facts,
                      cache=_cache_counts(cache, memo_cache))


#: The keys of the precomputed features' params that a sparse pair's facts name.
AUDIO_FROM_KEYS = ("source", "npz", "duration_from", "mel_orientation", "derived", "missing")


def pairing(src: Source, info: StreamInfo, cfg: BuildConfig) -> tuple[str, str]:
    """``(mode, why)``: ``dense`` for a dense source, else the sparse stream's pairing mode
    from ``--pairing`` and its measured rate (:func:`motionpair.windows.snapshot.pairing_mode`).
    """
    if not src.SPARSE:
        return "dense", f"source {src.NAME!r} is dense"
    return snapshot.pairing_mode(cfg.pairing, float(info.rate_hz or 0.0))


def pair_motion(spec: PairSpec, src: Source, mode: str, clock: ClockMap, cfg: BuildConfig,
                cache: Cache, *, cached_only: bool = False
                ) -> tuple[PoseStream | None, MotionGrid | None]:
    """``(pose, grid)`` of a pair in its pairing mode: the cached motion grid of a dense
    source (no pose), a sparse stream's snapshots and their sequence grid, or the
    snapshots alone (snapshot mode)."""
    if mode == "dense":
        stage(spec.pair_id, "motion grid")
        return None, motion_grid(spec, clock, cfg, cache, cached_only=cached_only)
    stage(spec.pair_id, "sparse pairing")
    pose = src.load_pose(spec)
    return pose, sequence_grid(spec, pose, clock, cfg) if mode == "sequence" else None


def pair_evidence(spec: PairSpec, cfg: BuildConfig, cache: Cache, ecfg: EvidenceConfig
                  ) -> tuple[dict | None, dict]:
    """The pair's alignment evidence exactly as the build computes it (same pairing mode,
    clock map and motion), without cutting windows: for ``motionpair align``."""
    src = source_of(spec)
    feats = track_features(spec, cfg, cache)
    clock = clock_for(spec, feats, kind=cfg.clock)
    mode, _ = pairing(src, src.stream_info(spec), cfg)
    pose, grid = pair_motion(spec, src, mode, clock, cfg, cache)
    if grid is not None:
        return pairevidence.evidence_for_pair(spec, feats, clock, grid, ecfg)
    assert pose is not None
    return pairevidence.evidence_for_sparse(
        spec, feats, clock, pose, fps=cfg.fps_exact, max_gap_s=sparse_max_gap_s(cfg),
        extras=src.stream_info(spec).row_extras, cfg=ecfg)


def sparse_max_gap_s(cfg: BuildConfig) -> float:
    """The widest gap (s) a sparse stream is interpolated or differentiated across."""
    return cfg.max_gap_s if cfg.max_gap_s is not None else snapshot.SPARSE_MAX_GAP_S


def sequence_grid(spec: PairSpec, pose: PoseStream, clock: ClockMap, cfg: BuildConfig
                  ) -> MotionGrid:
    """A sparse stream on the track grid, interpolated only across gaps up to max_gap_s."""
    if len(pose.times_s) < 2:
        raise ValueError(f"{spec.pair_id}: sequence pairing needs >= 2 snapshots in the "
                         f"track, got {len(pose.times_s)}")
    return motion.to_grid(pose, clock, cfg.fps_exact, max_gap_s=sparse_max_gap_s(cfg),
                          kin_sigma_s=cfg.kin_sigma_s, kin_order=cfg.kin_order)


def dense_motion_facts(grid: MotionGrid, cfg: BuildConfig, memo_cache: Cache) -> dict[str, Any]:
    """The motion part of a dense pair's facts, read off its motion grid."""
    fps = cfg.fps_exact
    valid_speed = grid.speed[grid.valid]
    return {
        "motion_first_frame": grid.first_frame, "motion_frames": int(len(grid.valid)),
        "motion_track_span_s": [float(frames_to_time(grid.first_frame, fps)),
                                float(frames_to_time(grid.first_frame + len(grid.valid), fps))],
        "median_speed": round(float(np.median(valid_speed)), 4) if len(valid_speed) else None,
        "n_joints": int(grid.pose.shape[1]), "dims": int(grid.pose.shape[2]),
        "edges": motion.skeleton_edges(grid.pose[grid.valid], memo_cache)
        if grid.valid.sum() > 2 else None,
    }


def sparse_motion_facts(pose: PoseStream, grid: MotionGrid | None, clock: ClockMap,
                        rows: list[WindowRow], max_gap_s: float) -> dict[str, Any]:
    """The motion part of a sparse pair's facts, read off its snapshots (``grid``: the
    sequence grid, None in snapshot mode)."""
    if grid is None:
        first, n_motion = (rows[0].start_frame if rows else 0), len(pose.times_s)
    else:
        first, n_motion = grid.first_frame, len(grid.valid)
    speeds = snapshot.snapshot_speeds(pose, max_dt_s=max_gap_s)
    return {
        "motion_first_frame": int(first), "motion_frames": int(n_motion),
        "motion_track_span_s": [float(x) for x in clock.to_track(pose.times_s[[0, -1]])]
        if len(pose.times_s) else [0.0, 0.0],
        "median_speed": round(float(np.median(speeds)), 4) if len(speeds) else None,
        "n_joints": pose.n_joints, "dims": pose.dims,
        "edges": motion.infer_edges(pose.joints) if len(pose.times_s) > 2 else None,
    }


def pair_facts(spec: PairSpec, feats: AudioFeatures, clock: ClockMap, *, shard: str,
               motion: dict[str, Any], n_windows: int, dropped: Counter | dict[str, int],
               assumptions: list[str], stream: dict[str, Any] | None) -> dict[str, Any]:
    """The pair's facts for ``dataset.json`` (one builder for every pairing mode).

    ``motion``: :func:`dense_motion_facts` or :func:`sparse_motion_facts`; ``stream``: for a
    sparse stream, where its features came from, its row extras, pairing, snapshot count,
    masked frames, units and joint names (None for a dense source).
    """
    s = stream or {}
    facts: dict[str, Any] = {
        "pair_id": spec.pair_id, "session": spec.session, "source": spec.source,
        "style": spec.style, "track": spec.track.track_id, "shard": shard,
        "audio_duration_s": round(feats.duration_s, 6), "audio_frames": feats.n_frames,
        "tempo_bpm": round(feats.tempo_bpm, 4), "n_music_beats": int(len(feats.beat_times_s)),
        "beats_from": beats.beats_from(feats.params),
    }
    if stream is not None:
        facts["audio_from"] = s["audio_from"]
    facts["clock_map"] = clock.to_dict()
    if stream is not None:
        facts.update(s["row_extras"])
        facts.update({k: s[k] for k in ("pairing", "snapshots", "masked_gap_frames")})
    facts.update({k: motion[k] for k in ("motion_first_frame", "motion_frames",
                                         "motion_track_span_s", "median_speed")})
    facts.update({"windows": n_windows, "dropped": dict(sorted(dropped.items())),
                  "assumptions": assumptions, "n_joints": motion["n_joints"],
                  "dims": motion["dims"]})
    if stream is not None:
        facts.update({"units": s["units"], "joint_names": s["joint_names"]})
    facts["edges"] = motion["edges"]
    cut = audio.truncation_facts(spec.track)
    if cut is not None:
        facts["audio_truncated"] = cut
    return facts


def _cache_counts(cache: Cache, *memos: Cache) -> dict[str, int]:
    """Stage hits/misses, plus failed cache writes (stage and memos) when there were any."""
    out = {"hits": cache.hits, "misses": cache.misses}
    failed = cache.write_errors + sum(m.write_errors for m in memos)
    if failed:
        out["write_errors"] = failed
    return out


def _evidence(spec: PairSpec, feats: AudioFeatures, clock: ClockMap, grid: MotionGrid | None,
              pose: PoseStream | None, cfg: BuildConfig, ecfg: EvidenceConfig, *,
              cache: Cache | None = None) -> tuple[dict | None, dict]:
    """Alignment evidence of the pair: dense (a motion grid; memoised) or sparse (snapshots
    only: what can and cannot be measured). Never fails the pair: any exception becomes the
    note that says why the pair has no evidence record."""
    try:
        if grid is None:
            assert pose is not None
            return pairevidence.evidence_for_sparse(
                spec, feats, clock, pose, fps=cfg.fps_exact, max_gap_s=sparse_max_gap_s(cfg),
                extras=source_of(spec).stream_info(spec).row_extras, cfg=ecfg)
        return pairevidence.memoised_evidence(
            spec, feats, clock, grid, cache,
            lambda: pairevidence.evidence_for_pair(spec, feats, clock, grid, ecfg))
    except Exception as exc:  # noqa: BLE001 - evidence is a report; the pair stays usable
        why = str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"
        return None, {"skipped": f"evidence not computed: {why}"}
