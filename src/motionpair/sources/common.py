"""Helpers shared by source readers: fingerprints, safe JSON reads, path rules."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

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


def safe_relpath(path: Path, root: Path) -> str:
    """POSIX path of ``path`` relative to ``root``; refuses paths that escape it."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise ValueError(f"{path}: escapes its input root {root}")
    return Path(rel).as_posix()


def read_json(path: Path) -> Any:
    """Parse a JSON file, raising ``ValueError`` that names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError as exc:
        raise ValueError(f"{path}: permission denied") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise ValueError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON at line {exc.lineno} col {exc.colno}: {exc.msg}") \
            from exc


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
