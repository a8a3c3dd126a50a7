"""Per-pair work: features → clock map → motion grid → windows → one shard.

``process_pair`` is a top-level function of picklable arguments so the
builder can run it in worker processes; its result depends only on its inputs.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpair import audio, beatgrid, memo, motion
from motionpair.align import clock_for
from motionpair.cache import Cache, cache_key
from motionpair.config import BuildConfig
from motionpair.timebase import frames_to_time, n_frames_covering
from motionpair.types import AudioFeatures, ClockMap, MotionGrid, PairSpec, WindowRow
from motionpair.windows import cut_windows
from motionpair.workers import stage

AUDIO_ARRAYS = ("mel", "baseline35", "onset_env", "music_beat", "onset_peak")
MOTION_ARRAYS = ("pose", "pose_valid", "velocity", "acceleration", "speed", "kin_beat")
#: The arrays of a cached motion grid (the MotionGrid field names).
MOTION_CACHE_ARRAYS = ("pose", "valid", "velocity", "acceleration", "speed", "kin_beat")


class OutputError(RuntimeError):
    """Writing the dataset failed (disk full, read-only, quota): not a problem of an input.

    Deliberately not an ``OSError``: the builder reports ``OSError`` from a pair as a bad
    input, and a full disk must stop the build instead, naming the output path.
    """


def write_shard(shard_dir: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save each array as ``shard_dir/<name>.npy`` (no pickle); :class:`OutputError` on failure."""
    try:
        shard_dir.mkdir(parents=True, exist_ok=True)
        for name, arr in arrays.items():
            np.save(shard_dir / f"{name}.npy", arr, allow_pickle=False)
    except OSError as exc:
        raise OutputError(f"cannot write shard {shard_dir}: {exc.strerror or exc} "
                          f"(errno {exc.errno}): an output/disk problem, not an input "
                          "problem") from exc


class NotCachedError(LookupError):
    """Raised by ``process_pair(..., cached_only=True)`` when a stage would need computing."""


@dataclass
class PairResult:
    pair_id: str
    shard: str
    rows: list[WindowRow]
    dropped: dict[str, int]
    facts: dict[str, Any]
    cache: dict[str, int] = field(default_factory=dict)
    # alignment evidence (pairevidence.evidence_for_pair): JSON record + small series for plots
    evidence: dict[str, Any] | None = None
    evidence_series: dict[str, Any] = field(default_factory=dict)


def source_module(spec: PairSpec):
    """The sources module that reads ``spec`` (each provides load_pose, assumptions_for)."""
    from motionpair import sources

    return sources.module_for(spec.source)


def shard_name(spec: PairSpec | str) -> str:
    """A filesystem-safe folder name for the pair's shard, unique per pair id.

    The readable part replaces every character outside ``[A-Za-z0-9._-]`` by ``_``, which
    maps distinct ids to one name (``a b`` and ``a_b``); the suffix, the first 8 hex digits
    of the sha256 of the exact pair id, keeps distinct ids apart.

    >>> shard_name("tang2018/DANCE_W_4")
    'shards/tang2018__DANCE_W_4-fdea7216'
    """
    pair_id = spec if isinstance(spec, str) else spec.pair_id
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", pair_id.replace("/", "__"))
    return f"shards/{safe}-{hashlib.sha256(pair_id.encode('utf-8')).hexdigest()[:8]}"


def track_features(spec: PairSpec, cfg: BuildConfig, cache: Cache, *,
                   cached_only: bool = False) -> AudioFeatures:
    """Per-track features, from the cache when the audio bytes and recipe are unchanged.

    With ``cached_only`` a cache miss raises :class:`NotCachedError` instead of computing.
    """
    if spec.track.kind == "npz":  # precomputed (MotionMix audio prep): loaded, never unpickled
        from motionpair.sources.motionmix_audio import features_for_build

        return features_for_build(spec, cfg)
    params = audio.feature_params(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels,
                                  n_fft=cfg.n_fft, n_mfcc=cfg.n_mfcc)
    key = cache_key("audio", {"params": params, "input_sha256": spec.track.sha256})
    hit = cache.get("audio", key, arrays=("beat_times_s", *AUDIO_ARRAYS),
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
    _refuse_truncated(spec, len(y) / native_sr)
    feats = audio.compute_features(y, native_sr_hz=native_sr, track_id=spec.track.track_id,
                                   sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels,
                                   n_fft=cfg.n_fft, n_mfcc=cfg.n_mfcc)
    cache.put("audio", key, {**feats.arrays, "beat_times_s": feats.beat_times_s},
              {"duration_s": feats.duration_s, "tempo_bpm": feats.tempo_bpm,
               "params": feats.params})
    return feats


#: Decoded audio shorter than this share of its header's duration is a truncated file.
MIN_DECODED_SHARE = 0.99


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
    pose = source_module(spec).load_pose(spec)
    grid = motion.to_grid(pose, clock, cfg.fps_exact, max_gap_s=cfg.max_gap_s,
                          kin_sigma_s=cfg.kin_sigma_s, kin_order=cfg.kin_order)
    cache.put("motion", key, {k: getattr(grid, k) for k in MOTION_CACHE_ARRAYS},
              {"first_frame": grid.first_frame, "params": grid.params})
    return grid


def process_pair(spec: PairSpec, cfg: BuildConfig, out_dir: str,
                 cache_root: str | None, *, cached_only: bool = False) -> PairResult:
    """Everything for one pair; writes ``out_dir/<shard>/*.npy`` and returns its rows.

    ``cached_only=True`` raises :class:`NotCachedError` (before writing anything) unless both
    the audio features and the motion grid come from the cache; the builder uses it to
    serve fully cached pairs in-process without starting worker processes.
    """
    cache = Cache(Path(cache_root) if cache_root else None)
    if spec.source == "motionmix":  # sparse snapshot streams: their own pairing modes
        if cached_only:  # no cached stage to serve: computed with the others, in the pool
            raise NotCachedError(f"{spec.pair_id} has no cacheable stage")
        from motionpair.snapshots import process_motionmix_pair

        stage(spec.pair_id, "motionmix pairing")
        return process_motionmix_pair(spec, cfg, out_dir, cache)
    stage(spec.pair_id, "audio features")
    feats = track_features(spec, cfg, cache, cached_only=cached_only)
    stage(spec.pair_id, "clock map")
    clock = clock_for(spec, feats, kind=cfg.clock)
    stage(spec.pair_id, "motion grid")
    grid = motion_grid(spec, clock, cfg, cache, cached_only=cached_only)
    stage(spec.pair_id, "windows")
    fps = cfg.fps_exact
    n_audio = min(feats.n_frames, n_frames_covering(feats.duration_s, fps))
    shard = shard_name(spec)
    assumptions = source_module(spec).assumptions_for(clock)
    if cfg.window_beats:
        rows, arrays, dropped = _beat_windows(spec, feats, grid, clock, cfg, n_audio, shard,
                                              assumptions)
    else:
        rows, arrays, dropped = _fixed_windows(spec, feats, grid, clock, cfg, n_audio, shard,
                                               assumptions)
    stage(spec.pair_id, "shard write")
    write_shard(Path(out_dir) / shard, arrays)
    valid_speed = grid.speed[grid.valid]
    # memos get their own counters: "hits" counts the audio and motion stages only
    memo_cache = Cache(cache.root)
    facts = {
        "pair_id": spec.pair_id, "session": spec.session, "source": spec.source,
        "style": spec.style, "track": spec.track.track_id, "shard": shard,
        "audio_duration_s": round(feats.duration_s, 6), "audio_frames": feats.n_frames,
        "tempo_bpm": round(feats.tempo_bpm, 4), "n_music_beats": int(len(feats.beat_times_s)),
        "clock_map": {**clock.to_dict()},
        "motion_first_frame": grid.first_frame, "motion_frames": int(len(grid.valid)),
        "motion_track_span_s": [float(frames_to_time(grid.first_frame, fps)),
                                float(frames_to_time(grid.first_frame + len(grid.valid), fps))],
        "median_speed": round(float(np.median(valid_speed)), 4) if len(valid_speed) else None,
        "windows": len(rows), "dropped": dict(sorted(dropped.items())),
        "assumptions": assumptions, "n_joints": int(grid.pose.shape[1]),
        "dims": int(grid.pose.shape[2]),
        "edges": memo.skeleton_edges(grid.pose[grid.valid], memo_cache)
        if grid.valid.sum() > 2 else None,
    }
    stage(spec.pair_id, "alignment evidence")
    evidence, evidence_series = _evidence(spec, feats, clock, grid, cache=memo_cache)
    return PairResult(pair_id=spec.pair_id, shard=shard, rows=rows,
                      evidence=evidence, evidence_series=evidence_series,
                      dropped=dict(sorted(Counter(dropped).items())), facts=facts,
                      cache=_cache_counts(cache, memo_cache))


def _cache_counts(cache: Cache, *memos: Cache) -> dict[str, int]:
    """Stage hits/misses, plus failed cache writes (stage and memos) when there were any."""
    out = {"hits": cache.hits, "misses": cache.misses}
    failed = cache.write_errors + sum(m.write_errors for m in memos)
    if failed:
        out["write_errors"] = failed
    return out


def _evidence(spec: PairSpec, feats: AudioFeatures, clock: ClockMap,
              grid: MotionGrid, *, cache: Cache | None = None) -> tuple[dict | None, dict]:
    """Alignment evidence of the pair (never fails the pair: any exception becomes the note
    that says why the pair has no evidence record)."""
    from motionpair.evidence import EvidenceConfig
    from motionpair.pairevidence import evidence_for_pair

    try:
        return memo.pair_evidence(spec, feats, clock, grid, cache, lambda: evidence_for_pair(
            spec, feats, clock, grid, EvidenceConfig()))
    except Exception as exc:  # noqa: BLE001 - evidence is a report; the pair stays usable
        why = str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"
        return None, {"skipped": f"evidence not computed: {why}"}


def _row(spec: PairSpec, clock: ClockMap, *, wid: str, t0: float, t1: float, fps: float,
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


def _fixed_windows(spec, feats, grid, clock, cfg, n_audio, shard, assumptions):
    """Windows of ``cfg.window_frames`` frames every ``cfg.hop_frames`` on the fps grid."""
    fps, T = cfg.fps_exact, cfg.window_frames
    cuts, dropped = cut_windows(n_audio_frames=n_audio, first_frame=grid.first_frame,
                                valid=grid.valid, n_frames=T, hop_frames=cfg.hop_frames)
    arrays = _window_arrays(feats, grid, [c.start_frame for c in cuts], T)
    rows = [_row(spec, clock, wid=f"{spec.pair_id}/f{c.start_frame:06d}",
                 t0=frames_to_time(c.start_frame, fps), t1=frames_to_time(c.start_frame + T, fps),
                 fps=float(fps), n_frames=T, start_frame=c.start_frame, shard=shard, r=r,
                 arrays=arrays, assumptions=assumptions) for r, c in enumerate(cuts)]
    return rows, arrays, dropped


def _beat_windows(spec, feats, grid, clock, cfg, n_audio, shard, assumptions):
    """Windows of ``window_beats`` music beats resampled to ``frames_per_beat`` per beat."""
    fps, F, N = cfg.fps_exact, cfg.frames_per_beat, cfg.window_beats
    beats = feats.beat_times_s
    cuts, dropped = beatgrid.cut_beat_windows(
        beats, n_audio_frames=n_audio, fps=fps, motion_first_frame=grid.first_frame,
        motion_valid=grid.valid, n_beats=N, hop_beats=cfg.hop_beats, frames_per_beat=F)
    per_window: dict[str, list[np.ndarray]] = {}
    motion_arrays = _motion_arrays(grid)
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
    rows = [_row(spec, clock, wid=f"{spec.pair_id}/b{j:05d}", t0=float(beats[j]),
                 t1=float(beats[j + N]), fps=round(N * F / float(beats[j + N] - beats[j]), 6),
                 n_frames=N * F, start_frame=int(round(float(beats[j]) * float(fps))),
                 shard=shard, r=r, arrays=arrays, assumptions=assumptions, grid="beats",
                 first_beat=j, frames_per_beat=F) for r, (j, _) in enumerate(cuts)]
    return rows, arrays, dropped


def _tail(feats: AudioFeatures, motion_arrays: dict, name: str) -> tuple:
    if name in feats.arrays:
        return feats.arrays[name].shape[1:]
    return motion_arrays[name].shape[1:] if name in motion_arrays else ()


def _motion_arrays(grid: MotionGrid) -> dict[str, np.ndarray]:
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
    motion_arrays = _motion_arrays(grid)
    for name in MOTION_ARRAYS:
        out[name] = _stack(motion_arrays[name], starts, T, offset=grid.first_frame)
    return out


def _stack(a: np.ndarray, starts: list[int], T: int, *, offset: int) -> np.ndarray:
    if not starts:
        return np.zeros((0, T, *a.shape[1:]), dtype=a.dtype)
    idx = np.asarray(starts, dtype=np.int64)[:, None] - offset + np.arange(T)[None, :]
    return np.ascontiguousarray(a[idx])
