"""Content-addressed cache of per-track audio features and per-pair motion grids.

Key = sha256 of the canonical JSON of (stage name, stage version, every
parameter that affects the result, input content hashes). A changed input,
parameter or stage version gives a new key, so a stale entry can never be hit.
Entries are ``.npz`` files written atomically and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

META_KEY = "__meta_json__"


def default_cache_dir() -> Path:
    """``$MOTIONPAIR_CACHE``, else ``$XDG_CACHE_HOME/motionpair``, else ``~/.cache/motionpair``."""
    if os.environ.get("MOTIONPAIR_CACHE"):
        return Path(os.environ["MOTIONPAIR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "motionpair"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_key(stage: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"stage": stage, **payload}).encode()).hexdigest()


class Cache:
    """A folder of entries ``<stage>/<key[:2]>/<key>.npz``; ``root=None`` disables it."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def _path(self, stage: str, key: str) -> Path:
        assert self.root is not None
        return self.root / stage / key[:2] / f"{key}.npz"

    def get(self, stage: str, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        if self.root is None:
            return None
        path = self._path(stage, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != META_KEY}
                meta = json.loads(str(z[META_KEY]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            self.misses += 1  # absent or corrupt: recompute (and overwrite)
            return None
        self.hits += 1
        return arrays, meta

    def put(self, stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        if self.root is None:
            return
        path = self._path(stage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{META_KEY: np.array(canonical_json(meta))})
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
