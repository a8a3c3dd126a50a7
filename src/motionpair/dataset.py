"""Build a dataset: scan → per-pair work (parallel, cached) → splits → manifest → publish.

Everything written inside the dataset folder is a function of the inputs and
the config; wall-clock time, host and cache statistics go to ``build.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionpair import __version__, audio, motion, numba_cache
from motionpair.align import ASSUMPTIONS as ALIGN_ASSUMPTIONS
from motionpair.cache import Cache, default_cache_dir
from motionpair.config import SCHEMA_VERSION, BuildConfig
from motionpair.pipeline import (
    AUDIO_ARRAYS,
    MOTION_ARRAYS,
    NotCachedError,
    PairResult,
    process_pair,
)
from motionpair.publish import publish, recover, staging_dir
from motionpair.sources import Inventory, motionmix, scan, tang2018
from motionpair.splits import assign_splits
from motionpair.types import PairSpec, Problem, WindowRow
from motionpair.workers import WorkerDiedError, run_pool

ASSUMPTION_TEXT = {**tang2018.ASSUMPTIONS, **ALIGN_ASSUMPTIONS, **motionmix.ASSUMPTIONS}


class BuildError(RuntimeError):
    """A build that must not publish (nothing to pair, or ``--strict`` with problems)."""


class WorkerCrashError(BuildError):
    """A worker process died (signal, out of memory): one line naming pair, stage, signal."""


@dataclass
class BuildSummary:
    out: Path
    inventory: Inventory
    rows: list[WindowRow]
    problems: list[Problem]
    split_info: dict[str, Any]
    timings_s: dict[str, float]
    cache: dict[str, int]


def _run_pair(spec: PairSpec, cfg: BuildConfig, out: str, cache: str | None):
    try:
        return process_pair(spec, cfg, out, cache)
    except (ValueError, OSError) as exc:  # bad input: report it, keep the other pairs going
        return Problem(path=spec.pair_id, source=spec.source, session=spec.session, kind="bad",
                       reason=str(exc))


def _run_cached(spec: PairSpec, cfg: BuildConfig, out: str,
                cache: str) -> PairResult | Problem | None:
    """The pair from cache entries alone, or None when a stage would need computing."""
    try:
        return process_pair(spec, cfg, out, cache, cached_only=True)
    except NotCachedError:
        return None
    except (ValueError, OSError) as exc:
        return Problem(path=spec.pair_id, source=spec.source, session=spec.session, kind="bad",
                       reason=str(exc))


def _warm_numba(cfg: BuildConfig) -> None:
    """Compile librosa's jitted functions once, under a lock, before any worker starts.

    See :mod:`motionpair.numba_cache` (numba issue #10128). A failure that repair could not
    fix stops the build with one line (:class:`BuildError`).
    """
    import sys

    try:
        numba_cache.warm(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels, n_fft=cfg.n_fft,
                         n_mfcc=cfg.n_mfcc,
                         log=lambda line: print(f"motionpair: {line}", file=sys.stderr))
    except numba_cache.CorruptCacheError as exc:
        raise BuildError(str(exc)) from exc


def run_pairs(specs: list[PairSpec], cfg: BuildConfig, out: Path, *, workers: int,
              cache_dir: Path | None, on_done=None) -> list[PairResult | Problem]:
    """Process every pair, in parallel when ``workers > 1``; results in ``specs`` order."""
    cache = str(cache_dir) if cache_dir else None
    results: list[PairResult | Problem | None] = [None] * len(specs)
    if cache and workers > 1:
        # a fully cached pair costs less than starting a worker (librosa import alone ~1 s)
        for i, spec in enumerate(specs):
            results[i] = _run_cached(spec, cfg, str(out), cache)
            if results[i] is not None and on_done:
                on_done(spec)
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:  # something will run librosa: a complete numba cache first, under a lock
        _warm_numba(cfg)
    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            results[i] = _run_pair(specs[i], cfg, str(out), cache)
            if on_done:
                on_done(specs[i])
        return results  # type: ignore[return-value]
    jobs = [(specs[i], cfg, str(out), cache) for i in todo]
    try:
        outcomes = run_pool(_run_pair, jobs, workers=workers,
                            preload=["motionpair.pipeline", "librosa", "scipy.signal"],
                            on_done=(lambda j, _r: on_done(specs[todo[j]])) if on_done else None)
    except WorkerDiedError as exc:  # one line naming pair, stage and signal; nothing published
        raise WorkerCrashError(str(exc)) from exc
    for i, r in zip(todo, outcomes, strict=True):
        results[i] = r
    return results  # type: ignore[return-value]


def build(paths: list[str | Path], out: str | Path, cfg: BuildConfig, *,
          workers: int | None = None, cache_dir: Path | None | bool = True,
          strict: bool = False, progress=None) -> BuildSummary:
    """Build the dataset at ``out``. Raises :class:`BuildError` when nothing can be published."""
    cfg.validate()
    numba_cache.configure()  # before anything imports numba; workers inherit it
    out = Path(out).resolve()
    _refuse_inside_inputs(out, paths)
    t0 = time.perf_counter()
    recover(out)
    cache = default_cache_dir() if cache_dir is True else (cache_dir or None)
    inv = scan(paths, cache=_memo_cache(cache))
    if cfg.cameras == "fused":  # MotionMix: one fused stream per played track, not per camera
        from motionpair.sources.motionmix import fused_specs

        inv.pairs = fused_specs(inv.pairs)
    t_scan = time.perf_counter()
    if not inv.pairs:
        raise BuildError(_problem_text("nothing to pair", inv.problems))
    workers = workers or os.cpu_count() or 1
    staged = staging_dir(out)
    try:
        outcomes = run_pairs(inv.pairs, cfg, staged, workers=workers, cache_dir=cache,
                             on_done=progress)
        results = [r for r in outcomes if isinstance(r, PairResult)]
        problems = list(inv.problems) + [r for r in outcomes if isinstance(r, Problem)]
        spec_of = {s.pair_id: s for s in inv.pairs}
        problems += [_no_window_problem(r, spec_of[r.pair_id], cfg)
                     for r in results if not r.rows]
        if strict and problems:  # after pairing, so every problem is reported at once
            raise BuildError(_problem_text("--strict: input problems", problems))
        rows, split_info = _assign(results, cfg)
        if not rows:
            raise BuildError(_problem_text("no window could be cut", problems))
        t_pairs = time.perf_counter()
        _write_dataset(staged, inv, results, rows, problems, split_info, cfg, cache_dir=cache)
        cache_stats = {k: sum(r.cache.get(k, 0) for r in results) for k in ("hits", "misses")}
        cache_stats.update(_cached_pairs(results, enabled=cache is not None))
        timings = {"scan_s": t_scan - t0, "pairs_s": t_pairs - t_scan,
                   "write_s": time.perf_counter() - t_pairs}
        timings["total_s"] = time.perf_counter() - t0
        _write_json(staged / "build.json", {
            "note": "run facts: not part of the reproducible data",
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "python": platform.python_version(), "workers": workers,
            "cache_dir": str(cache) if cache else None, "cache": cache_stats,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "input_paths": [str(Path(p).resolve()) for p in paths],
        })
        publish(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return BuildSummary(out=out, inventory=inv, rows=rows, problems=problems,
                        split_info=split_info, timings_s=timings, cache=cache_stats)


def _cached_pairs(results: list[PairResult], *, enabled: bool) -> dict[str, Any]:
    """How many pairs were served entirely from the cache (no stage recomputed).

    Pairs with no cacheable stage (e.g. features read from a MotionMix NPZ, sparse
    snapshots) are counted apart, so an unchanged rebuild reads "N of N cached".
    """
    used = [r for r in results if r.cache.get("hits", 0) + r.cache.get("misses", 0) > 0]
    k = sum(r.cache.get("misses", 0) == 0 for r in used)
    text = f"{k} of {len(used)} pairs cached" if enabled else \
        f"cache off, {len(results)} pairs computed"
    if enabled and len(used) < len(results):
        text += f" ({len(results) - len(used)} more without a cacheable stage)"
    return {"pairs": len(results), "pairs_cacheable": len(used), "pairs_cached": k,
            "text": text}


def _memo_cache(cache: Path | None) -> Cache | None:
    return Cache(cache) if cache else None


def _no_window_problem(res: PairResult, spec: PairSpec, cfg: BuildConfig) -> Problem:
    """A pair that yields no window (e.g. a pose stream shorter than one window)."""
    span = res.facts.get("motion_track_span_s") or [0.0, 0.0]
    need = f"{cfg.window_beats} beats" if cfg.window_beats else f"{cfg.window_s:g} s"
    dropped = ", ".join(f"{k}: {v}" for k, v in res.dropped.items()) or "none cut"
    motion_files = [f"{i.root}/{i.path}" for i in spec.inputs if i.sha256 != spec.track.sha256]
    return Problem(path=motion_files[0] if motion_files else res.pair_id,
                   source=res.facts.get("source", ""),
                   session=res.facts.get("session", ""), kind="bad",
                   reason=f"{', '.join(motion_files) or res.pair_id}: no window could be cut: "
                          f"motion covers "
                          f"{span[1] - span[0]:.2f} s of the track, a window needs {need} "
                          f"(dropped windows: {dropped})")


def _refuse_inside_inputs(out: Path, paths: list[str | Path]) -> None:
    for p in paths:
        root = Path(p).resolve()
        if out == root or root in out.parents:
            raise BuildError(f"--out {out} lies inside input {root}: motionpair never writes "
                             "into input folders")


def _problem_text(head: str, problems: list[Problem]) -> str:
    lines = [f"{head}: {len(problems)} problem(s)"] + [f"  - {p.reason}" for p in problems]
    return "\n".join(lines)


def _assign(results: list[PairResult], cfg: BuildConfig) -> tuple[list[WindowRow], dict]:
    groups = sorted({r.rows[0].session for r in results if r.rows})
    if cfg.split_by == "time-block":
        from motionpair.splits import assign_time_blocks

        return assign_time_blocks(results, cfg, n_sessions=len(groups))
    split_of, info = assign_splits(groups, ratios=cfg.split_ratios, seed=cfg.seed)
    if "warning" in info and len(groups) < 3:
        info["warning"] += ("; a split inside sessions is possible with --split-by time-block "
                            "(time blocks with guard gaps)")
    rows = []
    for res in sorted(results, key=lambda r: r.pair_id):
        for row in res.rows:
            row.split = split_of[row.session]
            rows.append(row)
    info["sessions"] = {s: sorted(g for g in groups if split_of[g] == s)
                        for s in ("train", "val", "test")}
    info["windows"] = dict(sorted(Counter(r.split for r in rows).items()))
    return rows, info


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def write_manifest(dirpath: Path, rows: list[WindowRow]) -> None:
    """``manifest.jsonl`` (one object per line) and ``manifest.parquet`` with the same rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dicts = [r.to_dict() for r in rows]
    with open(dirpath / "manifest.jsonl", "w", encoding="utf-8") as f:
        for d in dicts:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    table = pa.Table.from_pylist(dicts)
    pq.write_table(table, dirpath / "manifest.parquet", compression="zstd")


def _library_versions() -> dict[str, str]:
    from importlib.metadata import version

    import pyarrow
    import scipy
    import soundfile

    # librosa's version from package metadata: importing it costs ~1 s on a fully cached build
    return {"motionpair": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "librosa": version("librosa"), "soundfile": soundfile.__version__,
            "libsndfile": soundfile.__libsndfile_version__, "pyarrow": pyarrow.__version__}


def _write_dataset(staged: Path, inv: Inventory, results: list[PairResult],
                   rows: list[WindowRow], problems: list[Problem], split_info: dict,
                   cfg: BuildConfig, *, cache_dir: Path | None = None) -> None:
    from motionpair.memo import sample_preview
    from motionpair.preview import choose_sample, sample_summary

    write_manifest(staged, rows)
    inv_dict = inv.to_dict()
    inv_dict["problems"] = [p.to_dict() for p in problems]
    _write_json(staged / "inventory.json", inv_dict)
    record = dataset_record(inv, results, rows, problems, split_info, cfg)
    record.update(motionmix.dataset_block(inv.units))  # matching counts, out-of-track
    record["norm_stats"] = _norm_stats(staged, rows)
    record["alignment_evidence"] = _alignment_evidence(staged, results, cfg, cache_dir=cache_dir)
    _write_json(staged / "dataset.json", record)
    sample = choose_sample(rows)
    (staged / "preview").mkdir(exist_ok=True)
    sample_preview(staged, sample, staged / "preview" / "sample.png", _memo_cache(cache_dir))
    _write_json(staged / "sample.json", sample_summary(staged, sample))


def dataset_record(inv: Inventory, results: list[PairResult], rows: list[WindowRow],
                   problems: list[Problem], split_info: dict, cfg: BuildConfig) -> dict:
    """The content of ``dataset.json``."""
    a_params = audio.feature_params(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels,
                                    n_fft=cfg.n_fft, n_mfcc=cfg.n_mfcc)
    used = sorted({a for r in rows for a in r.assumptions})
    facts = [r.facts for r in sorted(results, key=lambda r: r.pair_id)]
    dropped = Counter()
    for f in facts:
        dropped.update(f["dropped"])
    by_style: dict[str, list[float]] = {}
    for f in facts:
        if f["median_speed"] is not None:
            by_style.setdefault(f["style"], []).append(f["median_speed"])
    edges = Counter(json.dumps(f["edges"]) for f in facts if f.get("edges"))
    return {
        "schema_version": SCHEMA_VERSION,
        "config": cfg.resolved(),
        "config_sha256": cfg.sha256(),
        "inputs": sorted((i.to_dict() for p in inv.pairs for i in p.inputs),
                         key=lambda d: (d["root"], d["path"])),
        "audio": {"params": a_params, "arrays": audio.feature_specs(a_params)},
        "motion": {
            "params": motion.motion_params(max_gap_s=cfg.max_gap_s, kin_sigma_s=cfg.kin_sigma_s,
                                           kin_order=cfg.kin_order),
            "arrays": motion_specs(),
            "skeleton": {
                "n_joints": facts[0]["n_joints"], "dims": facts[0]["dims"],
                "units": facts[0].get("units", "cm"),
                "joint_names": facts[0].get("joint_names"), "mirror_permutation": None,
                "edges": json.loads(edges.most_common(1)[0][0]) if edges else None,
                "edges_method": "inferred: minimum spanning tree over std + 0.05*mean of "
                                "joint-pair distances, most common tree across pairs "
                                "(tang2018 publishes none)",
            },
        },
        "windows": _window_record(cfg),
        "assumptions": {a: ASSUMPTION_TEXT.get(a, "") for a in used},
        "splits": split_info,
        "counts": {"pairs": len(results), "windows": len(rows),
                   "windows_by_split": split_info["windows"],
                   "dropped_by_reason": dict(sorted(dropped.items())),
                   "problems": len(problems)},
        "median_speed_by_style": {s: round(float(np.median(v)), 3)
                                  for s, v in sorted(by_style.items())},
        "pairs": facts,
        "libraries": _library_versions(),
    }


def _window_record(cfg: BuildConfig) -> dict[str, Any]:
    """How windows were cut (fixed fps grid or beat-synchronous grid)."""
    if cfg.window_beats:
        return {"grid": "beats", "window_beats": cfg.window_beats, "hop_beats": cfg.hop_beats,
                "frames_per_beat": cfg.frames_per_beat,
                "n_frames": cfg.window_beats * cfg.frames_per_beat,
                "rule": "windows start on detected music beats 0, hop, 2*hop, ... and span "
                        "window_beats beats, resampled to frames_per_beat frames per beat "
                        "(track time of every frame in times_s.npy); kept only when audio "
                        "and pose cover every frame"}
    return {"grid": "fixed", "window_s": cfg.window_s, "hop_s": cfg.hop_s,
            "n_frames": cfg.window_frames, "hop_frames": cfg.hop_frames,
            "rule": "windows start at track frames 0, hop, 2*hop, ...; kept only when "
                    "audio and pose cover every frame"}


def motion_specs() -> dict[str, dict[str, Any]]:
    return {
        "pose": {"shape": ["T", "J", "D"], "dtype": "float32",
                 "meaning": "absolute joint positions (zeros where pose_valid is false)"},
        "pose_valid": {"shape": ["T"], "dtype": "bool", "meaning": "pose validity mask"},
        "velocity": {"shape": ["T", "J", "D"], "dtype": "float32", "meaning": "units/s"},
        "acceleration": {"shape": ["T", "J", "D"], "dtype": "float32", "meaning": "units/s^2"},
        "speed": {"shape": ["T"], "dtype": "float32", "meaning": "mean joint speed, units/s"},
        "kin_beat": {"shape": ["T"], "dtype": "uint8",
                     "meaning": "kinematic beat one-hot (local minima of smoothed speed)"},
    }


ARRAY_NAMES = AUDIO_ARRAYS + MOTION_ARRAYS


def _norm_stats(staged: Path, rows: list[WindowRow]) -> dict[str, Any]:
    """Train-split normalisation statistics into ``norm_stats.npz`` (summary for dataset.json)."""
    from motionpair.normstats import write_norm_stats

    if not any(r.split == "train" for r in rows):
        return {"file": None, "reason": "no train windows: statistics are computed on train only"}
    return write_norm_stats(staged, rows, split="train")


def _alignment_evidence(staged: Path, results: list[PairResult], cfg: BuildConfig, *,
                        cache_dir: Path | None = None) -> dict:
    """Per-pair alignment evidence (dataset.json) and one picture per pair under alignment/."""
    from motionpair.evidence import EvidenceConfig
    from motionpair.memo import alignment_pictures
    from motionpair.pairevidence import finish

    ordered = sorted(results, key=lambda r: r.pair_id)
    series = {r.pair_id: r.evidence_series for r in ordered}
    block = finish({r.pair_id: r.evidence for r in ordered}, series, cfg=EvidenceConfig(),
                   kin_sigma_s=cfg.kin_sigma_s, kin_order=cfg.kin_order)
    # memoised pictures (drawn directly when the cache is off): a fully cached rebuild
    # must not redraw 14 figures
    alignment_pictures(block, series, staged / "alignment", _memo_cache(cache_dir))
    block["pictures"] = "alignment/<source>__<session>.png"
    return block
