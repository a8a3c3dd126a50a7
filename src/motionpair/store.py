"""Read a built dataset: manifest rows, memory-mapped shard arrays, one window."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.types import WindowRow


def read_manifest(dataset_dir: str | Path) -> list[WindowRow]:
    """All manifest rows, in file order (lazy-free: the manifest is small)."""
    with open(Path(dataset_dir) / "manifest.jsonl", encoding="utf-8") as f:
        return [WindowRow.from_dict(json.loads(line)) for line in f if line.strip()]


def read_dataset_json(dataset_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(dataset_dir) / "dataset.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=256)
def _mmap(path: str) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def shard_array(dataset_dir: str | Path, shard: str, name: str) -> np.ndarray:
    """The memory-mapped ``(rows, T, ...)`` array ``name`` of a shard (never unpickled)."""
    return _mmap(str(Path(dataset_dir) / shard / f"{name}.npy"))


def load_window(dataset_dir: str | Path, row: WindowRow,
                names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of one manifest row (copies, so the caller may modify them)."""
    if names is None:
        names = tuple(sorted(p.stem for p in (Path(dataset_dir) / row.shard).glob("*.npy")))
    return {n: np.array(shard_array(dataset_dir, row.shard, n)[row.row]) for n in names}


def find_row(rows: list[WindowRow], window_id: str) -> WindowRow:
    for r in rows:
        if r.id == window_id:
            return r
    raise KeyError(f"no window with id {window_id!r} in the manifest")
