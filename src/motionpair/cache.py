"""Content-addressed cache of per-track audio features and per-pair motion grids.

Key = sha256 of the canonical JSON of (stage name, stage version, every
parameter that affects the result, input content hashes). A changed input,
parameter or stage version gives a new key, so a stale entry can never be hit.
Entries are ``.npz`` files written atomically and read with ``allow_pickle=False``.

Shared by several machines (``build --engine ray`` with the cache folder on NFS or another
shared file system, the same path on every node): whichever node computes an entry writes
it to a unique temporary file in the entry's folder (``mkstemp``: ``O_EXCL``) and renames
it over the entry's name (``os.replace``, atomic within one folder on POSIX and NFS). A
reader sees the whole entry or none; two nodes computing the same key write the same
bytes and the last rename wins (tests/test_cache_shared.py). A node killed mid-write
leaves only a ``*.tmp`` file, never a damaged entry.
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
        self.write_errors = 0
        self.last_write_error = ""

    def _path(self, stage: str, key: str) -> Path:
        assert self.root is not None
        return self.root / stage / key[:2] / f"{key}.npz"

    def get(self, stage: str, key: str, *, arrays: tuple[str, ...] = (),
            meta: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], dict] | None:
        """The entry's ``(arrays, meta)``, or None (a miss) when absent, unreadable, corrupt,
        or lacking one of the required ``arrays`` / ``meta`` keys (an entry written by an
        older or damaged writer must never raise ``KeyError`` in the caller)."""
        if self.root is None:
            return None
        path = self._path(stage, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                got = {k: z[k] for k in z.files if k != META_KEY}
                info = json.loads(str(z[META_KEY]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            self.misses += 1  # absent or corrupt: recompute (and overwrite)
            return None
        if not isinstance(info, dict) or any(k not in got for k in arrays) \
                or any(k not in info for k in meta):
            self.misses += 1  # incomplete entry: recompute (and overwrite)
            return None
        self.hits += 1
        return got, info

    def put(self, stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Store an entry atomically; a write that fails (read-only folder, full disk) is
        counted in ``write_errors`` and otherwise ignored: the cache is optional."""
        if self.root is None:
            return
        path = self._path(stage, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        except OSError as exc:
            self._write_failed(exc)
            return
        try:
            with os.fdopen(fd, "wb") as f:
                # numpy's stub lets **kwds bind allow_pickle: bool
                np.savez(f, **arrays, **{META_KEY: np.array(canonical_json(meta))})  # type: ignore[arg-type]
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            self._write_failed(exc)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _write_failed(self, exc: OSError) -> None:
        self.write_errors += 1
        self.last_write_error = f"{exc.strerror or exc} (errno {exc.errno})"


def unwritable_reason(root: Path) -> str | None:
    """Why entries cannot be stored under ``root`` (None when a probe file can be written).

    The builder asks once, before any work, so a read-only or full cache folder gives one
    warning and an uncached build instead of a failure per pair.
    """
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".probe-", suffix=".tmp")
        try:
            os.write(fd, b"motionpair cache probe")
        finally:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        return f"{exc.strerror or exc} (errno {exc.errno})"
    return None
