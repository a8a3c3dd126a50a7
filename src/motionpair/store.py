"""Read a built dataset: manifest rows, memory-mapped shard arrays, one window."""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from motionpair.types import PairSpec, WindowRow


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
    out = {}
    for n in names:
        arr = shard_array(dataset_dir, row.shard, n)
        if not 0 <= row.row < arr.shape[0]:  # numpy reads row -1 as the last window
            raise DatasetError(f"{row.id}: row {row.row} is outside {row.shard}/{n}.npy "
                               f"({arr.shape[0]} rows)")
        out[n] = np.array(arr[row.row])
    return out


def find_row(rows: list[WindowRow], window_id: str) -> WindowRow:
    for r in rows:
        if r.id == window_id:
            return r
    raise KeyError(f"no window with id {window_id!r} in the manifest")


class OutputError(RuntimeError):
    """Writing the dataset failed (disk full, read-only, quota): not a problem of an input.

    Deliberately not an ``OSError``: the builder reports ``OSError`` from a pair as a bad
    input, and a full disk must stop the build instead, naming the output path.
    """


def write_shard(shard_dir: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save each array as ``shard_dir/<name>.npy`` (no pickle); :class:`OutputError` on failure."""
    try:
        shard_dir.mkdir(parents=True, exist_ok=True)
        for name, arr in arrays.items():
            np.save(shard_dir / f"{name}.npy", arr, allow_pickle=False)
    except OSError as exc:
        raise OutputError(f"cannot write shard {shard_dir}: {exc.strerror or exc} "
                          f"(errno {exc.errno}): an output/disk problem, not an input "
                          "problem") from exc


def shard_name(spec: PairSpec | str) -> str:
    """A filesystem-safe folder name for the pair's shard, unique per pair id.

    The readable part replaces every character outside ``[A-Za-z0-9._-]`` by ``_``, which
    maps distinct ids to one name (``a b`` and ``a_b``); the suffix, the first 8 hex digits
    of the sha256 of the exact pair id, keeps distinct ids apart.

    >>> shard_name("tang2018/DANCE_W_4")
    'shards/tang2018__DANCE_W_4-fdea7216'
    """
    pair_id = spec if isinstance(spec, str) else spec.pair_id
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", pair_id.replace("/", "__"))
    return f"shards/{safe}-{hashlib.sha256(pair_id.encode('utf-8')).hexdigest()[:8]}"
