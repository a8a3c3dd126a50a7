"""Helpers shared by source readers: fingerprints, safe JSON reads, path rules."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from motionpair.safeio import loads
from motionpair.types import InputFile


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: Path, root: Path) -> InputFile:
    """Size and sha256 of ``path``, named relative to its input ``root``."""
    return InputFile(path=safe_relpath(path, root), root=root.name, size=path.stat().st_size,
                     sha256=sha256_file(path))


def not_a_file(path: Path) -> str | None:
    """Why an existing ``path`` cannot be read as a regular file; None if absent or a file.

    Tells a symlink loop, a dangling symlink, a directory or a FIFO/socket/device apart
    from a missing file, so the report names the real problem (and no FIFO is opened:
    reading one would block the scan).
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path}: symlink loop (the link resolves to itself; nothing to read)"
        if path.is_symlink():
            return f"{path}: dangling symlink to {os.readlink(path)}"
        return None
    if stat.S_ISREG(mode):
        return None
    kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) \
        else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"{path}: is {kind}, not a regular file"


def safe_relpath(path: Path, root: Path) -> str:
    """POSIX path of ``path`` relative to ``root``; refuses paths that escape it."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise ValueError(f"{path}: escapes its input root {root}")
    return Path(rel).as_posix()


def read_json(path: Path) -> Any:
    """Parse a JSON file, raising ``ValueError`` that names the file and the problem.

    Nesting deeper than :data:`motionpair.safeio.MAX_JSON_DEPTH` is refused before parsing.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError as exc:
        raise ValueError(f"{path}: permission denied") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise ValueError(f"{path}: empty file")
    return loads(text, path=path)


def require_number(obj: dict, key: str, path: Path, *, integer: bool = False) -> float | int:
    """``obj[key]`` as a finite number (bool and strings refused), else ``ValueError``."""
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise ValueError(f"{path}: missing key {key!r}")
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{path}: key {key!r} must be a number, got {type(v).__name__}")
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{path}: key {key!r} is not finite")
    if integer and int(v) != v:
        raise ValueError(f"{path}: key {key!r} must be a whole number, got {v}")
    return int(v) if integer else float(v)


#: File suffixes of Python pickles (AIST++ ships its motions as .pkl).
PICKLE_SUFFIXES = (".pkl", ".pickle")


def refused_pickles(path: Path) -> list[tuple[Path, str]]:
    """``(file, reason)`` for every pickle file at or below ``path``, sorted.

    No motionpair reader loads pickle and none ever will by default: unpickling runs
    code chosen by whoever wrote the file. The files are reported, never opened.
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    else:
        files = [Path(d) / f for d, _, names in os.walk(path) for f in names]  # no symlinked dirs
    out = []
    for f in sorted(files):
        if f.suffix.lower() in PICKLE_SUFFIXES:
            out.append((f, f"{f}: pickle file refused: unpickling can execute arbitrary code, "
                           "and no motionpair reader loads pickle (convert it to .npz/.json)"))
    return out
