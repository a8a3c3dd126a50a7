"""The manifest's typed schema, per-split parquet files and the Hugging Face dataset card.

A built dataset is loadable with ``datasets.load_dataset(DIR)``: ``README.md`` carries a
dataset-card YAML header (written with ``huggingface_hub``'s ``DatasetCardData``) with two
configs: ``default`` points at ``data/<split>.parquet`` (one row per window: the manifest
columns plus every stored array as a typed ``Array2D``/``Array3D`` feature), ``manifest`` at
``manifest/<split>.parquet`` (the light manifest rows: ids, times on both clocks, shard
locations). The memory-mappable shards stay the torch loader's source.

Split names: the builder stores ``train``, ``val``, ``test`` (and ``guard`` for time-block
guard windows); Hugging Face calls the second ``validation``. :func:`canonical_split` accepts
both everywhere a user names a split.
"""

from __future__ import annotations

import copy
import types
import typing
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from motionpair.types import WindowRow

#: Stored split name -> Hugging Face split name (file ``data/<hf name>.parquet``).
HF_SPLIT = {"train": "train", "val": "validation", "test": "test", "guard": "guard"}
#: Every name a user may give for a split -> the stored name.
SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "test": "test",
                 "guard": "guard"}

#: Licence and provenance notes per source (what the inputs' publishers say; not legal advice).
SOURCE_NOTES = {
    "tang2018": {
        "licence": "none published: the dataset repository has no licence file; use for "
                   "research and testing only, do not redistribute the inputs",
        "source": "github.com/Music-to-dance-motion-synthesis/dataset, published with Tang, "
                  "Jia & Mao, \"Dance with Melody: An LSTM-autoencoder Approach to "
                  "Music-oriented Dance Synthesis\", ACM Multimedia 2018",
    },
    "motionmix": {
        "licence": "your own MotionMix capture and playlist audio: the licence of the music "
                   "and of the recorded people is yours to state before sharing",
        "source": "MotionMix audio-prep playlists and LiveDirector sessions",
    },
}

_ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
_HF_DTYPE = {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64",
             pa.bool_(): "bool"}


def canonical_split(name: str) -> str:
    """The stored split name for a user's ``name`` (``validation`` and ``val`` are the same).

    Raises ``ValueError`` listing the valid names.
    """
    try:
        return SPLIT_ALIASES[name]
    except KeyError:
        raise ValueError(f"unknown split {name!r}: use one of train, validation (or val), "
                         "test, guard") from None


def _arrow_type(hint: Any) -> pa.DataType:
    """pyarrow type of a WindowRow field annotation (``X | None`` is nullable X)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _arrow_type(args[0])
    if typing.get_origin(hint) is list:
        return pa.list_(_arrow_type(args[0]))
    return _ARROW[hint]


def manifest_schema() -> pa.Schema:
    """The manifest's columns, typed from :class:`WindowRow` (all-null columns keep a type)."""
    hints = typing.get_type_hints(WindowRow)
    return pa.schema([pa.field(f.name, _arrow_type(hints[f.name])) for f in fields(WindowRow)])


def hf_features(schema: pa.Schema) -> list[dict[str, Any]]:
    """``dataset_info.features`` of the card (the YAML form ``datasets`` reads)."""
    out: list[dict[str, Any]] = []
    for f in schema:
        if pa.types.is_list(f.type):
            out.append({"name": f.name, "list": _HF_DTYPE[f.type.value_type]})
        else:
            out.append({"name": f.name, "dtype": _HF_DTYPE[f.type]})
    return out


def _write_split_files(dirpath: Path, folder: str, dicts: list[dict], schema: pa.Schema
                       ) -> dict[str, tuple[str, int]]:
    """``<folder>/<hf split>.parquet`` of the manifest rows, one per non-empty split."""
    (dirpath / folder).mkdir(exist_ok=True)
    files = {}
    for stored, hf in HF_SPLIT.items():
        part = [d for d in dicts if d["split"] == stored]
        if not part:  # an empty split has no file: load_dataset would fail on it
            continue
        rel = f"{folder}/{hf}.parquet"
        pq.write_table(pa.Table.from_pylist(part, schema=schema.with_metadata(
            {**schema.metadata, b"motionpair.split": hf.encode()})), dirpath / rel,
            compression="zstd")
        files[hf] = (rel, len(part))
    return files


def write_manifest_tables(dirpath: Path, rows: list[WindowRow], kv: dict[str, str], *,
                          dicts: list[dict] | None = None) -> dict:
    """``manifest.parquet`` (every row) and ``manifest/<hf split>.parquet`` (one per split,
    the card's ``manifest`` config).

    ``kv`` becomes parquet key-value metadata (``motionpair.*`` keys) of every file.
    ``dicts``: ``[r.to_dict() for r in rows]`` when the caller has them already.
    Returns ``{hf split name: (relative path, rows)}`` in split order.
    """
    schema = manifest_schema().with_metadata({f"motionpair.{k}": v for k, v in kv.items()})
    if dicts is None:
        dicts = [r.to_dict() for r in rows]
    table = pa.Table.from_pylist(dicts, schema=schema)
    pq.write_table(table, dirpath / "manifest.parquet", compression="zstd")
    return _write_split_files(dirpath, MANIFEST_DIR, dicts, schema)


#: Folders of the card's two configs: ``default`` (rows with their arrays), ``manifest``.
ARRAYS_DIR, MANIFEST_DIR = "data", "manifest"
#: Rows per parquet row group of the array tables (~0.3 MB a row at the default grid).
ROWS_PER_GROUP = 64


@dataclass(frozen=True)
class ArrayColumn:
    """One stored array as a column of the ``default`` config: per-window shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def hf_feature(self) -> dict[str, Any]:
        """``dataset_info.features`` entry (the YAML form ``datasets`` reads)."""
        if len(self.shape) == 1:
            return {"name": self.name, "list": self.dtype, "length": self.shape[0]}
        kind = {2: "array2_d", 3: "array3_d", 4: "array4_d", 5: "array5_d"}[len(self.shape)]
        return {"name": self.name, "dtype": {kind: {"shape": list(self.shape),
                                                    "dtype": self.dtype}}}


def array_columns(dirpath: Path, rows: list[WindowRow]) -> tuple[list[ArrayColumn], list[str]]:
    """Arrays every shard stores with one per-window shape and dtype; and those left out.

    A column of a parquet config has one type for every row, so an array missing from a
    shard (a MotionMix NPZ without ``baseline35``) or with another shape in some shard
    (2-D and 3-D cameras) stays in the shards only; the card names it.
    """
    shards = sorted({r.shard for r in rows})
    seen: dict[str, set[tuple[tuple[int, ...], str]]] = {}
    count: Counter[str] = Counter()
    for s in shards:
        for p in sorted((dirpath / s).glob("*.npy")):
            a = np.load(p, mmap_mode="r", allow_pickle=False)
            if a.ndim < 2 or a.ndim > 6:
                continue
            seen.setdefault(p.stem, set()).add((tuple(a.shape[1:]), a.dtype.name))
            count[p.stem] += 1
    keep, left = [], []
    for name in sorted(seen):
        if count[name] == len(shards) and len(seen[name]) == 1:
            shape, dt = next(iter(seen[name]))
            keep.append(ArrayColumn(name, shape, dt))
        else:
            left.append(name)
    return keep, left


def _fixed_list(a: np.ndarray) -> pa.Array:
    """``(N, *shape)`` -> nested pyarrow fixed-size lists (the layout ``datasets`` casts to
    ``Array2D``/``Array3D`` through the card's features)."""
    arr: pa.Array = pa.array(np.ascontiguousarray(a).reshape(-1))
    for d in reversed(a.shape[1:]):
        arr = pa.FixedSizeListArray.from_arrays(arr, d)
    return arr


def write_array_tables(dirpath: Path, rows: list[WindowRow], kv: dict[str, str],
                       columns: list[ArrayColumn]) -> dict[str, tuple[str, int]]:
    """``data/<hf split>.parquet``: each split's manifest rows with their arrays (the card's
    ``default`` config), streamed shard by shard (never a whole split in memory).

    Deterministic bytes: rows in manifest order, fixed row groups, no timestamps in parquet.
    """
    base = manifest_schema()
    cols = [pa.field(c.name, _fixed_list(np.zeros((0, *c.shape), dtype=c.dtype)).type)
            for c in columns]
    schema = pa.schema([*base, *cols]).with_metadata(
        {f"motionpair.{k}": v for k, v in kv.items()})
    (dirpath / ARRAYS_DIR).mkdir(exist_ok=True)
    files = {}
    for stored, hf in HF_SPLIT.items():
        part = [r for r in rows if r.split == stored]
        if not part:
            continue
        rel = f"{ARRAYS_DIR}/{hf}.parquet"
        meta = schema.with_metadata({**schema.metadata, b"motionpair.split": hf.encode()})
        opened: dict[tuple[str, str], np.ndarray] = {}  # each shard file mapped once
        with pq.ParquetWriter(dirpath / rel, meta, compression="zstd",
                              use_dictionary=[f.name for f in base]) as writer:
            for start in range(0, len(part), ROWS_PER_GROUP):
                writer.write_table(_array_batch(dirpath, part[start:start + ROWS_PER_GROUP],
                                                meta, columns, opened))
        files[hf] = (rel, len(part))
    return files


def _array_batch(dirpath: Path, rows: list[WindowRow], schema: pa.Schema,
                 columns: list[ArrayColumn],
                 opened: dict[tuple[str, str], np.ndarray] | None = None) -> pa.Table:
    """One row group: the manifest columns and the arrays of ``rows``. ``opened``: shard
    files already mapped, by (shard, array) (filled here; one ``np.load`` per file)."""
    data: dict[str, Any] = {f.name: [getattr(r, f.name) for r in rows]
                            for f in manifest_schema()}
    opened = {} if opened is None else opened

    def shard_array(shard: str, name: str) -> np.ndarray:
        if (shard, name) not in opened:
            opened[shard, name] = np.load(dirpath / shard / f"{name}.npy", mmap_mode="r",
                                          allow_pickle=False)
        return opened[shard, name]

    for c in columns:
        stack = np.stack([shard_array(r.shard, c.name)[r.row] for r in rows])
        data[c.name] = _fixed_list(stack)
    return pa.Table.from_pydict(data, schema=schema)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def _folder_bytes(dirpath: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in dirpath.glob(pattern) if p.is_file())


def card_text(record: dict[str, Any], files: dict[str, tuple[str, int]],
              array_files: dict[str, tuple[str, int]] | None = None,
              columns: list[ArrayColumn] | None = None, left_out: list[str] | None = None,
              dirpath: Path | None = None) -> str:
    """``README.md`` of a built dataset: HF YAML header (written by ``huggingface_hub``'s
    :class:`DatasetCardData`) + a human summary (deterministic).

    ``files``: the ``manifest`` config's files; ``array_files``/``columns``: the ``default``
    config's (rows with arrays); ``dirpath``: the folder, to state the sizes.
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    schema = manifest_schema()
    array_files, columns, left_out = array_files or {}, columns or [], left_out or []
    sources = sorted({p["source"] for p in record["pairs"]})
    row_features = hf_features(schema)
    configs, infos = [], []
    if array_files:
        configs.append({"config_name": "default", "data_files": [
            {"split": hf, "path": rel} for hf, (rel, _) in array_files.items()]})
        infos.append({"config_name": "default",
                      # copies: YAML would write shared dicts as anchors (&id001)
                      "features": copy.deepcopy(row_features)
                      + [c.hf_feature() for c in columns]})
    configs.append({"config_name": "manifest" if array_files else "default", "data_files": [
        {"split": hf, "path": rel} for hf, (rel, _) in files.items()]})
    infos.append({"config_name": configs[-1]["config_name"], "features": row_features})
    data = DatasetCardData(
        license="other", license_name="inputs-licence",
        license_details="; ".join(f"{s}: {SOURCE_NOTES.get(s, {}).get('licence', 'unknown')}"
                                  for s in sources),
        pretty_name="motionpair paired music/dance windows",
        tags=["dance", "motion", "music", "motionpair"],
        # no "splits" block: datasets wants arrow byte counts there; the counts are below
        configs=configs, dataset_info=infos)
    c, w = record["config"], record["windows"]
    skel = record["motion"]["skeleton"]
    names = ", ".join(f"`{col.name}`" for col in columns)
    lines = ["---", data.to_yaml(), "---", "",
             "# motionpair dataset", "",
             "Paired music-feature / dance-motion windows built by motionpair "
             f"{record['libraries'].get('motionpair', '')} (schema "
             f"`{record['schema_version']}`, config sha256 `{record['config_sha256']}`).", "",
             "## Loading", "",
             "```python",
             "from datasets import load_dataset",
             "ds = load_dataset(\"path/to/this/folder\")              # rows WITH arrays",
             "rows = load_dataset(\"path/to/this/folder\", \"manifest\")  # light rows only",
             "train = ds[\"train\"].with_format(\"torch\", columns=[\"mel\", \"pose\"])",
             "```", "",
             f"Config `default`: one row per window, the manifest columns plus its arrays "
             f"({names}) as typed features (`Array2D`/`Array3D`, fixed-length lists). Config "
             "`manifest`: the manifest columns only (ids, times on both clocks, shard "
             "locations). The same arrays are in `shards/<shard>/<array>.npy` (row `row` of "
             "the first axis) for memory-mapped reading (`numpy.load(path, mmap_mode=\"r\", "
             "allow_pickle=False)` or `motionpair.torch.MotionPairDataset`, the faster loader "
             "for training). A null means *not applicable* (e.g. `camera` for tang2018, "
             "`first_beat` on the fixed grid). The `split` column keeps the builder's names "
             "(`val` for the `validation` split)."
             + (f" Kept in the shards only (not one shape in every shard): "
                f"{', '.join(left_out)}." if left_out else ""), ""]
    if dirpath is not None:
        lines += ["| what | where | size | read with |", "| --- | --- | --- | --- |",
                  f"| rows with arrays (config `default`) | `{ARRAYS_DIR}/*.parquet` | "
                  f"{_mb(_folder_bytes(dirpath, ARRAYS_DIR + '/*.parquet'))} | "
                  "`datasets.load_dataset` |",
                  f"| manifest rows (config `manifest`) | `{MANIFEST_DIR}/*.parquet` | "
                  f"{_mb(_folder_bytes(dirpath, MANIFEST_DIR + '/*.parquet'))} | "
                  "`datasets.load_dataset(..., \"manifest\")` |",
                  f"| memory-mappable shards | `shards/*/*.npy` | "
                  f"{_mb(_folder_bytes(dirpath, 'shards/*/*.npy'))} | "
                  "`motionpair.torch.MotionPairDataset`, numpy |", ""]
    lines += ["## Splits", "",
              "| split | file | windows | sessions |", "| --- | --- | --- | --- |"]
    sessions = record["splits"].get("sessions", {})
    inv = {v: k for k, v in HF_SPLIT.items()}
    for hf, (rel, n) in (array_files or files).items():
        lines.append(f"| {hf} | `{rel}` | {n} | {len(sessions.get(inv[hf], []))} |")
    lines += ["", f"Split method: {record['splits'].get('method', 'session')}, seed "
              f"{c['seed']}, ratios {c['split_ratios']}"
              + (f". Warning: {record['splits']['warning']}" if "warning" in
                 record["splits"] else "."), ""]
    lines += [f"- Warning, small split: {w}" for w in record["splits"].get("small_splits", [])]
    lines += (["", "## Grid", ""] if record["splits"].get("small_splits") else ["## Grid", ""])
    lines += [f"- frame rate {c['fps_exact']} fps (audio sr {c['sr_hz']} Hz, hop {c['hop']} "
              f"samples), {c['n_mels']} mel bands",
              f"- windows: {w['rule']}",
              f"- skeleton: {skel['n_joints']} joints x {skel['dims']} dims, units "
              f"{skel['units']}"
              + (f"; joints {', '.join(skel['joint_names'])}" if skel.get("joint_names") else "")
              + (f"; left/right pairs from `{skel['layout_assumption']}`"
                 if skel.get("layout_assumption") else ""), "",
              "## Sources and licences", ""]
    for s in sources:
        note = SOURCE_NOTES.get(s, {})
        lines.append(f"- **{s}**: {note.get('source', 'unknown source')}. Licence: "
                     f"{note.get('licence', 'unknown')}.")
    n_in = len(record["inputs"])
    lines += [f"- {n_in} input files, each with size and sha256 in `dataset.json` -> `inputs`.",
              "", "## Alignment assumptions", "",
              "Every row lists the assumptions its pairing relies on (`assumptions` column):", ""]
    lines += [f"- `{k}`: {v}" for k, v in record["assumptions"].items()]
    lines += ["", "## Columns", "", "| column | type |", "| --- | --- |"]
    lines += [f"| `{f.name}` | {f.type}{' (nullable)' if f.name in _NULLABLE else ''} |"
              for f in schema]
    lines += [f"| `{col.name}` | {col.dtype} {tuple(col.shape)} per window |" for col in columns]
    return str(DatasetCard("\n".join(lines) + "\n"))


_NULLABLE = frozenset(f.name for f in fields(WindowRow) if f.default is None)


def row_metadata(path: Path) -> dict[str, str]:
    """The ``motionpair.*`` key-value metadata of a manifest parquet file."""
    md = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items() if k.startswith(b"motionpair.")}
