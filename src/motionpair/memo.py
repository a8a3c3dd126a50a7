"""Content-addressed memos for the cheap-to-key, costly-to-redo steps of a warm build.

A fully cached rebuild must cost a small fraction of a cold one (issue 5: < 10 %).
After the audio and motion caches, its time went to re-validating every skeleton
JSON at scan, skeleton-edge inference, per-pair alignment evidence, and drawing the
preview and alignment PNGs. Each is a pure function of bytes it reads, so each is
memoised in the same :class:`~motionpair.cache.Cache` (stages ``scan-skeleton``,
``edges``, ``evidence``, ``preview``, ``alignplot``), keyed by those bytes, the
parameters, and the sha256 of the source files that compute it: a code change can
never serve a stale memo, and a memoised result writes the same bytes as a computed one.

Only the generic primitives live here (no motionpair import above :mod:`~motionpair.cache`);
each memoised step is wrapped by its caller: ``motion.skeleton_edges``,
``preview.sample_preview``, ``pairevidence.memoised_evidence`` and
``pairevidence.alignment_pictures``, ``sources.tang2018.skeleton_length``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from motionpair.cache import Cache, cache_key


@lru_cache(maxsize=16)
def code_sha256(*modules: str) -> str:
    """sha256 over the source files of ``modules`` (dotted names), in the given order."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ImportError(f"code_sha256: no source file for module {name!r}")
        h.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
    return h.hexdigest()


def memo_value(cache: Cache | None, stage: str, payload: dict, compute: Callable[[], dict],
               ) -> dict:
    """``compute()`` (a JSON-able dict), served from ``cache`` when ``payload`` was seen."""
    if cache is None or cache.root is None:
        return compute()
    key = cache_key(stage, payload)
    hit = cache.get(stage, key)
    if hit is not None:
        return hit[1]
    value = compute()
    cache.put(stage, key, {}, value)
    return value


def memo_file(cache: Cache | None, stage: str, payload: dict, target: Path,
              produce: Callable[[Path], object]) -> Path:
    """Write ``target`` with ``produce(target)``, or copy its bytes from a memo of ``payload``."""
    if cache is None or cache.root is None:
        produce(target)
        return target
    key = cache_key(stage, payload)
    hit = cache.get(stage, key, arrays=("data",))
    if hit is not None:
        target.write_bytes(hit[0]["data"].tobytes())
        return target
    produce(target)
    data = np.frombuffer(target.read_bytes(), dtype=np.uint8)
    cache.put(stage, key, {"data": data}, {"bytes": int(data.size)})
    return target


def value_digest(obj: object) -> str:
    """sha256 of a JSON-like value whose leaves may be numpy arrays (canonical order)."""
    h = hashlib.sha256()

    def walk(v) -> None:
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            h.update(f"nd{a.dtype.str}{a.shape}".encode() + a.tobytes())
        elif isinstance(v, dict):
            h.update(b"{")
            for k in sorted(v, key=str):
                h.update(repr(k).encode() + b":")
                walk(v[k])
            h.update(b"}")
        elif isinstance(v, list | tuple):
            h.update(b"[")
            for x in v:
                walk(x)
                h.update(b",")
            h.update(b"]")
        else:  # scalars: numpy scalars and Python numbers print alike when equal in value
            h.update(f"{type(v).__name__}={v!r}".encode())

    walk(obj)
    return h.hexdigest()


