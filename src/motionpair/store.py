"""Read a built dataset: manifest rows, memory-mapped shard arrays, one window."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from motionpair.types import WindowRow


class DatasetError(ValueError):
    """A dataset file that cannot be read as written (cut off, not JSON, path escaping)."""


def read_manifest_dicts(dataset_dir: str | Path) -> list[dict[str, Any]]:
    """The raw objects of ``manifest.jsonl``, in file order.

    Raises :class:`DatasetError` naming the file and line when a line is not one complete
    JSON object (a manifest cut off by a full disk or an interrupted copy).
    """
    path = Path(dataset_dir) / "manifest.jsonl"
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                cut = "" if line.endswith("\n") else " (the file is cut off here)"
                raise DatasetError(f"{path}: line {n} is not valid JSON{cut}: {exc.msg}") \
                    from exc
            if not isinstance(obj, dict):
                raise DatasetError(f"{path}: line {n} is not a JSON object")
            out.append(obj)
    return out


def read_manifest(dataset_dir: str | Path) -> list[WindowRow]:
    """All manifest rows, in file order (lazy-free: the manifest is small).

    Raises :class:`DatasetError` for a cut-off or malformed line (naming file and line).
    """
    path = Path(dataset_dir) / "manifest.jsonl"
    rows = []
    for n, d in enumerate(read_manifest_dicts(dataset_dir), 1):
        try:
            rows.append(WindowRow.from_dict(d))
        except TypeError as exc:  # a required field missing
            raise DatasetError(f"{path}: row {n}: {exc}") from exc
    return rows


def read_dataset_json(dataset_dir: str | Path) -> dict[str, Any]:
    """``dataset.json`` as a dict; :class:`DatasetError` naming the file when unreadable."""
    path = Path(dataset_dir) / "dataset.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON (cut off or damaged): {exc}") from exc
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    return doc


def shard_path(dataset_dir: str | Path, shard: str) -> Path:
    """The folder of ``shard`` inside the dataset; refuses paths that leave it.

    A manifest is data, not code: an absolute ``shard`` or one with ``..`` parts would make
    a reader open files the dataset does not hold, so :class:`DatasetError` is raised
    instead. The check is on the path as written: a symlink the dataset's owner placed inside
    the folder (e.g. ``shards`` shared by a derived copy) is theirs to make and is followed.
    """
    root = Path(dataset_dir)
    parts = PurePosixPath(shard).parts
    if not shard or PurePosixPath(shard).is_absolute() or Path(shard).is_absolute() \
            or ".." in parts or "\\" in shard or parts[:1] != ("shards",):
        raise DatasetError(f"shard path {shard!r} leaves the dataset {root} "
                           "(it must be shards/<name>, relative, without '..')")
    return root / shard


@lru_cache(maxsize=256)
def _mmap(path: str) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def shard_array(dataset_dir: str | Path, shard: str, name: str) -> np.ndarray:
    """The memory-mapped ``(rows, T, ...)`` array ``name`` of a shard (never unpickled)."""
    return _mmap(str(shard_path(dataset_dir, shard) / f"{name}.npy"))


def load_window(dataset_dir: str | Path, row: WindowRow,
                names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of one manifest row (copies, so the caller may modify them)."""
    if names is None:
        names = tuple(sorted(p.stem for p in shard_path(dataset_dir, row.shard).glob("*.npy")))
    return {n: np.array(shard_array(dataset_dir, row.shard, n)[row.row]) for n in names}


def find_row(rows: list[WindowRow], window_id: str) -> WindowRow:
    for r in rows:
        if r.id == window_id:
            return r
    raise KeyError(f"no window with id {window_id!r} in the manifest")
