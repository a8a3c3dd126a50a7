"""Build a dataset: scan → per-pair work (parallel, cached) → splits → manifest → publish.

Everything written inside the dataset folder is a function of the inputs and
the config; wall-clock time, host and cache statistics go to ``build.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpair import __version__
from motionpair.align import pair as pairevidence
from motionpair.align.clock import refused_clock
from motionpair.align.evidence import EvidenceConfig
from motionpair.build import grid
from motionpair.build.card import (
    array_columns,
    card_text,
    write_array_tables,
    write_manifest_tables,
)
from motionpair.build.normstats import write_norm_stats
from motionpair.build.pair import (
    AUDIO_ARRAYS,
    MOTION_ARRAYS,
    NotCachedError,
    OutputError,
    PairResult,
    process_pair,
)
from motionpair.build.preview import choose_sample, sample_preview, sample_summary
from motionpair.build.scan import Inventory, scan
from motionpair.build.splits import (
    assign_splits,
    assign_time_blocks,
    merged_groups,
    pinned_splits,
    small_split_warnings,
    stratified_splits,
)
from motionpair.cache import Cache, default_cache_dir, unwritable_reason
from motionpair.config import SCHEMA_VERSION, BuildConfig
from motionpair.features import audio, beats, motion, numba_cache
from motionpair.publish import (
    OutRefusedError,
    check_out,
    out_lock,
    publish,
    recover,
    staging_dir,
)
from motionpair.safeio import describe_pair
from motionpair.sources.base import source_of, sources
from motionpair.sources.common import sha256_file
from motionpair.types import PairSpec, Problem, WindowRow
from motionpair.workers import (
    LazyPool,
    WorkerDiedError,
    run_pool,
    start_forkserver,
    stop_forkserver,
)


def assumption_text() -> dict[str, str]:
    """Assumption name -> text, from every registered source."""
    return {**{k: v for src in sources().values() for k, v in src.ASSUMPTIONS.items()},
            audio.TRUNCATED: audio.TRUNCATED_TEXT}


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
    #: run notes for the user (e.g. a cache folder that could not be written)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the user, e.g. a kept report/


def _pair_problem(spec: PairSpec, exc: Exception) -> Problem:
    """Any exception while pairing: a problem naming the pair's input files."""
    return Problem(path=spec.pair_id, source=spec.source, session=spec.session, kind="bad",
                   reason=describe_pair(exc, spec.pair_id,
                                        [f"{i.root}/{i.path}" for i in spec.inputs]))


def run_one_pair(spec: PairSpec, cfg: BuildConfig, out: str, cache: str | None):
    """One pair, as a worker runs it: its :class:`PairResult`, or a :class:`Problem` naming
    its input files when it fails for its input (an output error propagates)."""
    try:
        with audio.one_thread():
            return process_pair(spec, cfg, out, cache)
    except OutputError:  # the disk, not the input: stops the build (nothing is published)
        raise
    except Exception as exc:  # noqa: BLE001 - bad input: report it, keep the others going
        return _pair_problem(spec, exc)


def _run_cached(spec: PairSpec, cfg: BuildConfig, out: str,
                cache: str) -> PairResult | Problem | None:
    """The pair from cache entries alone, or None when a stage would need computing."""
    try:
        with audio.one_thread():
            return process_pair(spec, cfg, out, cache, cached_only=True)
    except NotCachedError:
        return None
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001
        return _pair_problem(spec, exc)


def _warm_numba(cfg: BuildConfig) -> None:
    """Compile librosa's jitted functions once, under a lock, before any worker starts.

    See :mod:`motionpair.features.numba_cache` (numba issue #10128). A failure that repair could not
    fix stops the build with one line (:class:`BuildError`).
    """
    import sys

    try:
        numba_cache.warm(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels, n_fft=cfg.n_fft,
                         n_mfcc=cfg.n_mfcc,
                         log=lambda line: print(f"motionpair: {line}", file=sys.stderr))
    except numba_cache.CorruptCacheError as exc:
        raise BuildError(str(exc)) from exc


@dataclass(frozen=True)
class Engine:
    """Where pairs run: ``kind`` ``"local"`` (the process pool) or ``"ray"`` (a Ray cluster
    at ``address``, or a Ray instance started here when None; ``ship_inputs`` sends each
    pair's files through the object store instead of reading them by path on the nodes)."""

    kind: str = "local"
    address: str | None = None
    ship_inputs: bool = False


def run_pairs(specs: list[PairSpec], cfg: BuildConfig, out: Path, *, workers: int,
              cache_dir: Path | None, on_done=None,
              engine: Engine | None = None) -> list[PairResult | Problem]:
    """Process every pair, in parallel when ``workers > 1`` (or on a Ray cluster when
    ``engine.kind == "ray"``); results in ``specs`` order."""
    cache = str(cache_dir) if cache_dir else None
    results: list[PairResult | Problem | None] = [None] * len(specs)
    on_ray = engine is not None and engine.kind == "ray"
    if cache and (workers > 1 or on_ray):
        # a fully cached pair costs less than starting a worker (librosa import alone ~1 s)
        for i, spec in enumerate(specs):
            results[i] = _run_cached(spec, cfg, str(out), cache)
            if results[i] is not None and on_done:
                on_done(spec)
    todo = [i for i, r in enumerate(results) if r is None]
    if todo and on_ray:
        assert engine is not None
        for i, r in zip(todo, _run_on_ray(engine, [specs[i] for i in todo], cfg, out, cache,
                                          workers=workers, on_done=on_done), strict=True):
            results[i] = r
        return results  # type: ignore[return-value]
    if todo:  # something will run librosa: a complete numba cache first, under a lock
        _warm_numba(cfg)
    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            results[i] = run_one_pair(specs[i], cfg, str(out), cache)
            if on_done:
                on_done(specs[i])
        return results  # type: ignore[return-value]
    # longest tracks first: the last pairs to finish are short ones, so no worker idles
    # long at the end (results still come back in ``specs`` order)
    todo.sort(key=lambda i: (-(specs[i].track.duration_s or 0.0), i))
    jobs = [(specs[i], cfg, str(out), cache) for i in todo]
    try:
        outcomes = run_pool(run_one_pair, jobs, workers=workers,
                            preload=["motionpair.build.pair", *audio.PRELOAD_MODULES],
                            on_done=(lambda j, _r: on_done(specs[todo[j]])) if on_done else None)
    except WorkerDiedError as exc:  # one line naming pair, stage and signal; nothing published
        raise WorkerCrashError(str(exc)) from exc
    for i, r in zip(todo, outcomes, strict=True):
        results[i] = r
    return results  # type: ignore[return-value]


def _run_on_ray(engine: Engine, specs: list[PairSpec], cfg: BuildConfig, out: Path,
                cache: str | None, *, workers: int, on_done=None) -> list[PairResult | Problem]:
    """Each pair as a Ray task (:mod:`motionpair.build.remote`); shards written here."""
    from motionpair.build import remote
    from motionpair.engines.ray_engine import RayEngine, TaskLostError

    try:
        with RayEngine(engine.address, num_cpus=workers) as ray_engine:
            jobs = [(run_one_pair, s, cfg, cache, os.getcwd(), __version__,
                     ray_engine.put(remote.ship(s)) if engine.ship_inputs else None)
                    for s in specs]

            def done(i: int, value: tuple) -> None:
                remote.write_shard_files(out, value[1])  # as each pair lands: bounded memory
                if on_done:
                    on_done(specs[i])

            values = ray_engine.map(remote.pair_task, jobs, names=[s.pair_id for s in specs],
                                    on_done=done)
    except TaskLostError as exc:  # retries spent (or no cluster): nothing published
        raise WorkerCrashError(str(exc)) from exc
    return [v[0] for v in values]


def build(paths: Sequence[str | Path], out: str | Path, cfg: BuildConfig, *,
          workers: int | None = None, cache_dir: Path | None | bool = True,
          strict: bool = False, progress=None, on_pairs=None,
          wait: bool = False, on_specs=None, on_step=None,
          engine: Engine | None = None) -> BuildSummary:
    """Build the dataset at ``out``.

    ``progress(spec)`` is called as each pair finishes; ``on_pairs(n)`` once the number of
    pairs is known (for a progress bar with a total), ``on_specs(specs)`` then with the
    pairs themselves (e.g. to total their audio minutes). After pairing, ``on_step(label)``
    names each step of writing the dataset as it starts (``"alignment pictures 3/14"``: the
    pictures are counted), for a progress display. ``engine`` runs the pairs on a Ray
    cluster (:class:`Engine`); scan, splits, statistics and publishing stay here.

    Raises :class:`BuildError` when nothing can be published,
    :class:`~motionpair.publish.OutRefusedError` when ``out`` is not ours to replace
    (see :func:`~motionpair.publish.check_out`), and
    :class:`~motionpair.publish.OutBusyError` when another process writes ``out`` (unless
    ``wait``, which waits for it).
    """
    cfg.validate()
    numba_cache.configure()  # before anything imports numba; workers inherit it
    cache = default_cache_dir() if cache_dir is True else (cache_dir or None)
    out = check_out(out, "dataset", inputs=paths)
    _refuse_cache_overlap(out, cache)
    # numba's cache is held shared: `doctor --repair` may not delete it under the workers
    with out_lock(out, wait=wait), numba_cache.in_use():
        return _build_locked(paths, out, cfg, workers=workers, cache=cache, strict=strict,
                             progress=progress, on_pairs=on_pairs, on_specs=on_specs,
                             on_step=on_step, engine=engine)


def _build_locked(paths: Sequence[str | Path], out: Path, cfg: BuildConfig, *,
                  workers: int | None, cache: Path | None, strict: bool,
                  progress, on_pairs=None, on_specs=None, on_step=None,
                  engine: Engine | None = None) -> BuildSummary:
    """:func:`build` while holding ``out``'s lock (so ``recover`` touches no live staging)."""
    t0 = time.perf_counter()
    recover(out)
    warnings = []
    if cache is not None and (why := unwritable_reason(cache)):  # the cache is optional
        warnings.append(f"cache folder {cache} cannot be written ({why}): building without "
                        "the cache")
        cache = None
    # a Ray build computes its pairs on the cluster: no local pool to start early
    prestarted = (engine is None or engine.kind != "ray") and _prestart_pool(workers, cache)
    try:
        inv = scan(paths, cache=_memo_cache(cache))
    except BaseException:
        if prestarted:
            stop_forkserver()
        raise
    for src in sources().values():  # optional hook, e.g. MotionMix --cameras fused
        if hasattr(src, "pairs_for_build"):
            inv.pairs = src.pairs_for_build(inv.pairs, cfg)
    if why := refused_clock(cfg.clock, {p.source for p in inv.pairs}):
        raise BuildError(why)
    inv.problems = [p for p in inv.problems if p.session != grid.SCAN_TAG]  # re-checked here
    try:  # --fps auto -> the NPZ tracks' own grid; off-grid NPZ reported once per file
        cfg = grid.resolve(cfg, inv)
    except ValueError as exc:
        raise BuildError(str(exc)) from exc
    t_scan = time.perf_counter()
    if prestarted:  # this process idles until the forkserver has imported librosa
        _preimport(WRITE_MODULES)
    if not inv.pairs:
        if prestarted:
            stop_forkserver()
        raise BuildError(_problem_text("nothing to pair", inv.problems))
    if on_pairs:
        on_pairs(len(inv.pairs))
    if on_specs:
        on_specs(list(inv.pairs))
    workers = workers or os.cpu_count() or 1
    try:
        staged = staging_dir(out, "dataset")
    except OSError as exc:
        raise BuildError(f"cannot write beside --out {out}: {exc.strerror or exc} "
                         f"(errno {exc.errno}); nothing was built") from exc
    notes: list[str] = []
    try:
        outcomes = run_pairs(inv.pairs, cfg, staged, workers=workers, cache_dir=cache,
                             on_done=progress, engine=engine)
        results = [r for r in outcomes if isinstance(r, PairResult)]
        problems = _unique(list(inv.problems) + [r for r in outcomes if isinstance(r, Problem)])
        spec_of = {s.pair_id: s for s in inv.pairs}
        problems += [_no_window_problem(r, spec_of[r.pair_id], cfg)
                     for r in results if not r.rows]
        if strict and problems:  # after pairing, so every problem is reported at once
            raise BuildError(_problem_text("--strict: input problems", problems))
        rows, split_info = _assign(results, cfg, merged_groups(inv.duplicates))
        if not rows:
            raise BuildError(_problem_text("no window could be cut", problems))
        t_pairs = time.perf_counter()
        _write_dataset(staged, inv, results, rows, problems, split_info, cfg, cache_dir=cache,
                       on_step=on_step, workers=workers)
        cache_stats = {k: sum(r.cache.get(k, 0) for r in results) for k in ("hits", "misses")}
        if (n_failed := sum(r.cache.get("write_errors", 0) for r in results)):
            warnings.append(f"{n_failed} cache entr{'y' if n_failed == 1 else 'ies'} could "
                            f"not be written to {cache}; the dataset is complete")
        cache_stats.update(_cached_pairs(results, enabled=cache is not None))
        timings = {"scan_s": t_scan - t0, "pairs_s": t_pairs - t_scan,
                   "write_s": time.perf_counter() - t_pairs}
        timings["total_s"] = time.perf_counter() - t0
        _write_json(staged / "build.json", {
            "note": "run facts: not part of the reproducible data",
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "python": platform.python_version(), "workers": workers,
            "engine": dataclasses.asdict(engine) if engine else {"kind": "local"},
            "cache_dir": str(cache) if cache else None, "cache": cache_stats,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "input_paths": [str(Path(p).resolve()) for p in paths],
        })
        check_out(out, "dataset", inputs=paths)  # again: --out may have changed meanwhile
        notes += _keep_report(out, staged)
        publish(staged, out)
    except (OutputError, OSError) as exc:  # inputs' OSErrors are per-pair Problems already
        shutil.rmtree(staged, ignore_errors=True)
        raise BuildError(_output_error_text(out, exc)) from exc
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return BuildSummary(out=out, inventory=inv, rows=rows, problems=problems,
                        split_info=split_info, timings_s=timings, cache=cache_stats,
                        warnings=warnings, notes=notes)


#: What writing the dataset imports on first use (pyarrow's pandas shim, the card's YAML
#: header; ~0.5 CPU-s): imported while this process waits for the pool (:func:`_preimport`)
#: rather than after the pairs, when the pictures are drawn on the same cores.
WRITE_MODULES = ("pandas", "huggingface_hub.repocard")


def _preimport(modules: Sequence[str]) -> None:
    """Import ``modules`` in a daemon thread (this process is idle meanwhile: it waits for
    the forkserver); a module that cannot be imported is left to fail where it is used."""
    import importlib
    import threading

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - an optional head start, nothing more
                continue

    threading.Thread(target=run, name="motionpair-preimport", daemon=True).start()


def _prestart_pool(workers: int | None, cache: Path | None) -> bool:
    """Start the worker pool's forkserver before the scan, so that its imports (librosa's
    submodules, ~2.6 CPU-s) run while this process scans, when the pool is sure to be
    needed: no cache (every pair computes) and several workers. Only on a numba cache whose
    self-check passed (:func:`motionpair.features.numba_cache.checked`): the forkserver then
    only reads compiled code, never races the warm-up child that writes it."""
    if cache is not None or (workers or os.cpu_count() or 1) <= 1 or not numba_cache.checked():
        return False
    start_forkserver(["motionpair.build.pair", *audio.PRELOAD_MODULES])
    return True


def _output_error_text(out: Path, exc: BaseException) -> str:
    """One line for a failed write of the dataset (disk full, read-only, quota)."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        exc_text = f"{exc.strerror or exc} (errno {exc.errno}){where}"
    else:
        exc_text = str(exc)
    return (f"output error while writing the dataset for --out {out}: {exc_text}; "
            "nothing was published (the previous dataset, if any, is unchanged)")


#: Folders inside a dataset that consumer commands write on request (report, preview);
#: a rebuild carries them over instead of deleting them.
USER_FOLDERS = ("report", "previews")


def _keep_report(out: Path, staged: Path) -> list[str]:
    """Carry ``out/report/`` and ``out/previews/`` (written by ``motionpair report`` and
    ``preview``) into the rebuild.

    A rebuild replaces the dataset folder; what the user asked for is theirs, so it is kept
    (and named stale: it shows the previous build until regenerated).
    """
    notes = []
    for name in USER_FOLDERS:
        old = out / name
        if not old.is_dir() or old.is_symlink():
            continue
        shutil.copytree(old, staged / name, symlinks=True)
        notes.append(f"kept {old} from the previous build; it shows that build until you "
                     f"run motionpair {name.rstrip('s')} {out} again")
    return notes


def _unique(problems: list[Problem]) -> list[Problem]:
    """Each problem once (several pairs of one bad file would otherwise repeat its line)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.kind, p.reason) not in seen:
            seen.add((p.kind, p.reason))
            out.append(p)
    return out


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
    why = (f"motion covers {span[1] - span[0]:.2f} s of the track, a window needs {need} "
           f"(dropped windows: {dropped})")
    pairing = res.facts.get("pairing") or {}
    if pairing.get("mode") == "snapshot":  # one row per snapshot: its context must fit
        n = res.facts.get("snapshots", 0)
        before, after = pairing.get("context_s", cfg.context_s)
        why = (f"its {n} snapshot(s) lie at track time "
               f"{span[0]:.2f}" + (f" .. {span[1]:.2f}" if n > 1 else "") + " s of a "
               f"{res.facts.get('audio_duration_s', 0.0):.2f} s track; a row needs {before:g} s "
               f"of audio before and {after:g} s after its snapshot inside the track "
               f"(dropped: {dropped})")
    return Problem(path=motion_files[0] if motion_files else res.pair_id,
                   source=res.facts.get("source", ""),
                   session=res.facts.get("session", ""), kind="bad",
                   reason=f"{', '.join(motion_files) or res.pair_id}: no window could be cut: "
                          f"{why}")


def _refuse_cache_overlap(out: Path, cache: Path | None) -> None:
    """Publishing replaces ``out`` as a whole: the cache may not lie inside it (or hold it)."""
    if cache is None:
        return
    c = Path(cache).resolve()
    if out == c or out in c.parents or c in out.parents:
        raise OutRefusedError(f"--out {out} and the cache folder {c} overlap; keep the "
                              "cache outside the dataset")


def _problem_text(head: str, problems: list[Problem]) -> str:
    lines = [f"{head}: {len(problems)} problem(s)"] + [f"  - {p.reason}" for p in problems]
    return "\n".join(lines)


def _assign(results: list[PairResult], cfg: BuildConfig,
            merged: dict[str, str] | None = None) -> tuple[list[WindowRow], dict]:
    """Split rows by session; ``merged`` (:func:`motionpair.build.splits.merged_groups`) joins
    sessions holding the same recording into one group, so copies never straddle splits."""
    merged = merged or {}
    sessions = sorted({r.rows[0].session for r in results if r.rows})
    if cfg.split_by == "time-block":
        return assign_time_blocks(results, cfg, n_sessions=len(sessions), merged=merged)
    groups = sorted({merged.get(s, s) for s in sessions})
    if cfg.split_list is not None:
        try:  # pinned per session: a duplicate recording's copies must be pinned alike
            split_of, info = pinned_splits(sessions, cfg.split_list)
        except ValueError as exc:
            raise BuildError(str(exc)) from None
        torn = [f"{s} ({split_of[s]}) and {merged[s]} ({split_of[merged[s]]})"
                for s in sessions if s in merged and split_of[s] != split_of[merged[s]]]
        if torn:
            raise BuildError("--splits puts copies of one recording in two splits: "
                             + "; ".join(torn) + "; pin each copy to one split")
        merged = {}
    elif cfg.stratify == "style":
        style = {merged.get(r.rows[0].session, r.rows[0].session): r.rows[0].style or ""
                 for r in results if r.rows}
        split_of, info = stratified_splits(groups, style, ratios=cfg.split_ratios,
                                           seed=cfg.seed)
    else:
        split_of, info = assign_splits(groups, ratios=cfg.split_ratios, seed=cfg.seed)
    split_of = {s: split_of[merged.get(s, s)] for s in sessions}
    joined = defaultdict(list)
    for s in sessions:
        if s in merged:
            joined[merged[s]].append(s)
    if joined:
        info["duplicates_joined"] = {k: v for k, v in sorted(joined.items())}
        info["duplicates_rule"] = ("sessions holding a byte-identical recording (audio + "
                                   "motion files) form one group: always in one split")
    if "warning" in info and len(groups) < 3:
        info["warning"] += ("; a split inside sessions is possible with --split-by time-block "
                            "(time blocks with guard gaps)")
    rows = []
    for res in sorted(results, key=lambda r: r.pair_id):
        for row in res.rows:
            row.split = split_of[row.session]
            rows.append(row)
    info["sessions"] = {s: sorted(g for g in sessions if split_of[g] == s)
                        for s in ("train", "val", "test")}
    info["windows"] = dict(sorted(Counter(r.split for r in rows).items()))
    # the too-few-sessions warning (everything in train) already says it
    small = [] if "warning" in info else small_split_warnings(info["sessions"], info["windows"])
    if small:
        info["small_splits"] = small
    return rows, info


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n",
                    encoding="utf-8", errors="backslashreplace")


def write_manifest(dirpath: Path, rows: list[WindowRow],
                   cfg: BuildConfig | None = None) -> dict[str, tuple[str, int]]:
    """``manifest.jsonl`` (one object per line), ``manifest.parquet`` with the same rows and
    ``manifest/<split>.parquet`` per split (typed schema, nulls for "not applicable", key-value
    metadata: schema version, config sha256). Returns the per-split files for the card."""

    dicts = [r.to_dict() for r in rows]
    with open(dirpath / "manifest.jsonl", "w", encoding="utf-8", errors="backslashreplace") as f:
        for d in dicts:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return write_manifest_tables(dirpath, rows, _parquet_kv(cfg), dicts=dicts)


def _parquet_kv(cfg: BuildConfig | None) -> dict[str, str]:
    kv = {"schema_version": SCHEMA_VERSION}
    if cfg is not None:
        kv["config_sha256"] = cfg.sha256()
    return kv


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
                   cfg: BuildConfig, *, cache_dir: Path | None = None,
                   on_step: Callable[[str], None] | None = None, workers: int = 1) -> None:
    """Every file of the dataset but the shards and build.json.

    With ``workers > 1`` the pictures (alignment pictures, the preview) are drawn in worker
    processes while this process writes the tables, statistics and checksums: matplotlib
    is most of the time spent here. The files are the same either way.
    """
    pool = LazyPool(workers) if workers > 1 else None
    try:
        _write_dataset_files(staged, inv, results, rows, problems, split_info, cfg,
                             cache_dir=cache_dir, on_step=on_step or (lambda label: None),
                             submit=pool.submit if pool else None)
    except BaseException:
        if pool:
            pool.close(cancel=True)
        raise
    if pool:
        pool.close()


def _write_dataset_files(staged: Path, inv: Inventory, results: list[PairResult],
                         rows: list[WindowRow], problems: list[Problem], split_info: dict,
                         cfg: BuildConfig, *, cache_dir: Path | None,
                         on_step: Callable[[str], None],
                         submit: Callable[..., Any] | None) -> None:
    step = on_step
    record = dataset_record(inv, results, rows, problems, split_info, cfg)
    for src in sources().values():  # source blocks (MotionMix: matching counts, out-of-track)
        record.update(src.dataset_block(inv.units))
    # the pictures first: drawn (by ``submit``) while the tables and statistics are written
    evidence, pictures = _alignment_evidence(staged, results, cfg, cache_dir=cache_dir,
                                             submit=submit)
    sample = choose_sample(rows)
    (staged / "preview").mkdir(exist_ok=True)
    preview_args = (staged, sample, staged / "preview" / "sample.png", _memo_cache(cache_dir),
                    {"audio": record["audio"], "motion": record["motion"]})
    preview = submit(sample_preview, *preview_args) if submit else None
    step("manifest")
    split_files = write_manifest(staged, rows, cfg)
    inv_dict = inv.to_dict()
    inv_dict["problems"] = [p.to_dict() for p in problems]
    _write_json(staged / "inventory.json", inv_dict)
    step("normalisation statistics")
    record["norm_stats"] = _norm_stats(staged, rows)
    step("shard checksums")
    record["shards_sha256"] = shard_checksums(staged)
    step("alignment evidence")
    pictures.finish(on_picture=lambda k, n: step(f"alignment pictures {k}/{n}"))
    record["alignment_evidence"] = evidence
    record["beats"] = _beats_block(record)
    _write_json(staged / "dataset.json", record)
    step("dataset card")
    columns, left_out = array_columns(staged, rows)
    array_files = write_array_tables(staged, rows, _parquet_kv(cfg), columns)
    (staged / "README.md").write_text(card_text(record, split_files, array_files, columns,
                                                left_out, dirpath=staged), encoding="utf-8",
                                      errors="backslashreplace")
    step("preview")
    if preview is not None:
        preview.result()
    else:
        sample_preview(*preview_args)
    _write_json(staged / "sample.json", sample_summary(staged, sample))


def shard_checksums(dataset_dir: Path) -> dict[str, str]:
    """``{shards/<name>/<array>.npy: sha256}`` of every shard file, sorted (for ``verify``)."""

    return {p.relative_to(dataset_dir).as_posix(): sha256_file(p)
            for p in sorted((dataset_dir / "shards").glob("*/*.npy"))}


def dataset_record(inv: Inventory, results: list[PairResult], rows: list[WindowRow],
                   problems: list[Problem], split_info: dict, cfg: BuildConfig) -> dict:
    """The content of ``dataset.json``."""
    a_params = audio.feature_params(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels,
                                    n_fft=cfg.n_fft, n_mfcc=cfg.n_mfcc)
    used = sorted({a for r in rows for a in r.assumptions})
    text = assumption_text()
    facts = [r.facts for r in sorted(results, key=lambda r: r.pair_id)]
    dropped: Counter[str] = Counter()
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
                "units": facts[0].get("units", source_of(facts[0]["source"]).MOTION_UNITS),
                "joint_names": facts[0].get("joint_names"), "mirror_permutation": None,
                **_source_skeleton(facts),
                "edges": json.loads(edges.most_common(1)[0][0]) if edges else None,
                "edges_method": "inferred: minimum spanning tree over std + 0.05*mean of "
                                "joint-pair distances, most common tree across pairs "
                                "(tang2018 publishes none)",
            },
        },
        "windows": _window_record(cfg),
        "grid": {"fps": str(cfg.fps_exact), "fps_float": float(cfg.fps_exact),
                 "fps_asked": cfg.fps_asked, "from": cfg.grid_from, "sr_hz": cfg.sr_hz,
                 "rule": "features are never resampled: every track's features are on this "
                         "grid (NPZ tracks on another grid are reported and skipped)"},
        "assumptions": {**{a: text.get(a, "") for a in used}, **_layout_assumption(facts)},
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


def _source_skeleton(facts: list[dict]) -> dict[str, Any]:
    """The source's own joint layout (names, mirror permutation, root) when every pair is of
    one source that has one (``Source.skeleton``, optional) and the pairs name no joints."""
    names = {f["source"] for f in facts}
    if len(names) != 1 or facts[0].get("joint_names"):
        return {}
    layout = getattr(source_of(facts[0]["source"]), "skeleton", None)
    return (layout(facts[0]["n_joints"]) or {}) if layout is not None else {}


def _layout_assumption(facts: list[dict]) -> dict[str, str]:
    """The assumption behind a source's derived joint layout, for ``dataset.json``."""
    key = _source_skeleton(facts).get("layout_assumption")
    return {key: assumption_text().get(key, "")} if key else {}


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
                    "audio and pose cover every frame",
            "lengths": cfg.lengths()}


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

    if not any(r.split == "train" for r in rows):
        return {"file": None, "reason": "no train windows: statistics are computed on train only"}
    return write_norm_stats(staged, rows, split="train")


def _beats_block(record: dict) -> dict[str, Any]:
    """dataset.json ``beats``: the tracker that made the beats of computed features, which
    beats each track's windows use, and the per-pair metrical-level check (evidence)."""
    checks = {p: r["tempo"]["metrical_level_check"]
              for p, r in (record.get("alignment_evidence") or {}).get("pairs", {}).items()
              if "metrical_level_check" in r.get("tempo", {})}
    block = beats.dataset_block(checks)
    block["by_track"] = {f["track"]: f["beats_from"] for f in record["pairs"]
                         if f.get("beats_from")}
    return block


def _alignment_evidence(staged: Path, results: list[PairResult], cfg: BuildConfig, *,
                        cache_dir: Path | None = None, submit: Callable[..., Any] | None = None
                        ) -> tuple[dict, pairevidence.PictureJobs]:
    """Per-pair alignment evidence (dataset.json) and its pictures under alignment/, started
    (memo hits copied, the rest submitted to ``submit``); the record is complete once the
    returned jobs' ``finish()`` has run (a missing picture is noted on its pair)."""

    ordered = sorted(results, key=lambda r: r.pair_id)
    series = {r.pair_id: r.evidence_series for r in ordered}
    block = pairevidence.finish({r.pair_id: r.evidence for r in ordered}, series,
                                cfg=EvidenceConfig(), kin_sigma_s=cfg.kin_sigma_s,
                                kin_order=cfg.kin_order)
    # memoised pictures (drawn directly when the cache is off): a fully cached rebuild
    # must not redraw 14 figures
    jobs = pairevidence.PictureJobs(block, series, staged / "alignment", _memo_cache(cache_dir),
                                    submit=submit)
    block["pictures"] = "alignment/<source>__<session>.png"
    return block, jobs
