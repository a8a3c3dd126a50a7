"""The per-pair pipeline as a task on another machine (``build --engine ray``).

A task runs the same ``dataset.run_one_pair`` as a local worker (handed in by the builder), with
two differences that keep the published bytes identical wherever it ran:

- the shard is written into a private temporary folder on the worker's node and its files
  come back as bytes with the result; the driver writes them into its staging folder, so
  the staging folder never has to be on shared storage;
- inputs are read by path (``--engine ray``: every node sees the inputs at the same path,
  e.g. an NFS mount, relative paths resolved against the driver's working folder), or are
  shipped through Ray's object store (``--ship-inputs``): the driver reads each pair's files,
  the task writes them into its temporary folder and reads them from there.

This module imports neither ray nor the audio libraries at import time: a Ray worker
imports it to unpickle the task and only then configures numba's cache.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motionpair import __version__
from motionpair.config import BuildConfig
from motionpair.types import PairSpec, Problem

#: Shard files of one pair: ``{"<shard>/<name>.npy": bytes}``.
ShardFiles = dict[str, bytes]
#: Shipped inputs of one pair: ``{original path (as the spec names it): bytes}``.
Shipped = dict[str, bytes]

_warmed: set[tuple] = set()


def pair_task(run: Callable[..., Any], spec: PairSpec, cfg: BuildConfig, cache: str | None,
              driver_cwd: str, driver_version: str, shipped: Shipped | None
              ) -> tuple[Any, ShardFiles]:
    """One pair on a Ray worker: ``(PairResult or Problem, shard files)``.

    ``run(spec, cfg, out_dir, cache)`` is the builder's own per-pair function
    (``dataset.run_one_pair``, passed by reference: the same code as a local worker's).
    """
    if driver_version != __version__:
        raise RuntimeError(f"this node runs motionpair {__version__}, the driver "
                           f"{driver_version}: install the same version on every node")
    _warm(cfg)

    work = Path(tempfile.mkdtemp(prefix="motionpair-pair-"))
    try:
        if shipped is None:
            _enter(driver_cwd)
            local = spec
        else:
            local = rebase(spec, materialise(shipped, work / "in"))
        result = run(local, cfg, str(work / "out"), cache)
        if isinstance(result, Problem) and shipped is not None:  # name the user's files
            result = dataclasses.replace(result, reason=result.reason.replace(
                str(work / "in"), "<shipped>"))
        return result, _shard_files(work / "out")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _enter(driver_cwd: str) -> None:
    """Work in the driver's folder so relative input paths mean the same files."""
    if not os.path.isdir(driver_cwd):
        raise FileNotFoundError(
            f"inputs are read by path, but the driver's folder {driver_cwd} does not exist "
            "on this node: mount the inputs at the same path on every node, or use "
            "--ship-inputs")
    os.chdir(driver_cwd)


def _warm(cfg: BuildConfig) -> None:
    """numba's cache on this node: configured, and filled once under its lock (as the
    local builder does before starting workers; see ``features/numba_cache.py``)."""
    from motionpair.features import numba_cache

    key = (os.getpid(), cfg.sr_hz, cfg.hop, cfg.n_mels, cfg.n_fft, cfg.n_mfcc)
    if key in _warmed:
        return
    numba_cache.configure()
    numba_cache.warm(sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels, n_fft=cfg.n_fft,
                     n_mfcc=cfg.n_mfcc)
    _warmed.add(key)


def _shard_files(out: Path) -> ShardFiles:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def write_shard_files(staged: Path, files: ShardFiles) -> None:
    """The driver's half: a task's shard files into the staging folder (``OSError`` on a
    disk problem, which the builder reports as an output error)."""
    for rel, data in files.items():
        target = staged / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# ---------------------------------------------------------------- --ship-inputs


def pair_paths(spec: PairSpec) -> dict[str, list[str]]:
    """``{path as the spec names it: files to ship}``: the track, and every path-valued
    source parameter (a folder ships the pair's input files inside it)."""
    names = {Path(i.path).name for i in spec.inputs}
    found: dict[str, list[str]] = {}
    for value in [spec.track.path, *(v for v in spec.params.values() if isinstance(v, str))]:
        p = Path(value)
        if value in found or not value:
            continue
        if p.is_file():
            found[value] = [value]
        elif p.is_dir():
            found[value] = [str(p / n) for n in sorted(names) if (p / n).is_file()]
    return found


def ship(spec: PairSpec) -> Shipped:
    """The pair's input files, read on the driver (sent through the object store)."""
    files = sorted({f for fs in pair_paths(spec).values() for f in fs})
    shipped = {f: Path(f).read_bytes() for f in files}
    for d, fs in pair_paths(spec).items():
        if d not in fs:  # a folder: remember it by a marker naming its files
            shipped[d + os.sep] = "\n".join(fs).encode()
    return shipped


def materialise(shipped: Shipped, root: Path) -> dict[str, str]:
    """Write shipped files under ``root``; ``{original path: local path}`` (folders too)."""
    mapping: dict[str, str] = {}
    files = sorted(k for k in shipped if not k.endswith(os.sep))
    for k, f in enumerate(files):
        target = root / f"f{k}" / Path(f).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shipped[f])
        mapping[f] = str(target)
    for k, marker in enumerate(sorted(k for k in shipped if k.endswith(os.sep))):
        folder = root / f"d{k}"
        folder.mkdir(parents=True)
        for f in shipped[marker].decode().splitlines():
            os.link(mapping[f], folder / Path(f).name)
        mapping[marker[:-len(os.sep)]] = str(folder)
    return mapping


def rebase(spec: PairSpec, mapping: dict[str, str]) -> PairSpec:
    """``spec`` with every shipped path replaced by its local copy."""
    def local(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        if v in mapping:
            return mapping[v]
        for orig, new in mapping.items():
            if v.startswith(orig + os.sep) and (orig + os.sep + Path(v).name) == v:
                return str(Path(new) / Path(v).name)
        return v

    return dataclasses.replace(
        spec, track=dataclasses.replace(spec.track, path=local(spec.track.path)),
        params={k: local(v) for k, v in spec.params.items()})
