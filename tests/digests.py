"""sha256 of every file of a built dataset, for byte-for-byte comparisons in tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Run facts (wall time, host, cache hits): deliberately outside the reproducible data.
NOT_DATA = frozenset({"build.json"})


def tree_digest(root: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file below ``root`` except run facts."""
    root = Path(root)
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in NOT_DATA:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def diff(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Files that differ, or exist on one side only (empty when identical)."""
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
