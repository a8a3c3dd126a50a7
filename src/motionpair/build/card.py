"""The manifest's typed schema, per-split parquet files and the Hugging Face dataset card.

A built dataset is loadable with ``datasets.load_dataset(DIR)``: ``README.md`` carries a
dataset-card YAML header whose ``configs`` point at ``data/<split>.parquet`` (one file per
split) and whose ``dataset_info.features`` mirror :data:`MANIFEST_SCHEMA`. The card loads the
manifest rows (ids, times on both clocks, shard locations); the arrays stay in the
memory-mappable shards (``motionpair export-shards`` writes self-contained copies).

Split names: the builder stores ``train``, ``val``, ``test`` (and ``guard`` for time-block
guard windows); Hugging Face calls the second ``validation``. :func:`canonical_split` accepts
both everywhere a user names a split.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

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


def write_manifest_tables(dirpath: Path, rows: list[WindowRow], kv: dict[str, str]) -> dict:
    """``manifest.parquet`` (every row) and ``data/<hf split>.parquet`` (one per split).

    ``kv`` becomes parquet key-value metadata (``motionpair.*`` keys) of every file.
    Returns ``{hf split name: (relative path, rows)}`` in split order.
    """
    schema = manifest_schema().with_metadata({f"motionpair.{k}": v for k, v in kv.items()})
    dicts = [r.to_dict() for r in rows]
    table = pa.Table.from_pylist(dicts, schema=schema)
    pq.write_table(table, dirpath / "manifest.parquet", compression="zstd")
    (dirpath / "data").mkdir(exist_ok=True)
    files = {}
    for stored, hf in HF_SPLIT.items():
        part = [d for d in dicts if d["split"] == stored]
        if not part:  # an empty split has no file: load_dataset would fail on it
            continue
        rel = f"data/{hf}.parquet"
        pq.write_table(pa.Table.from_pylist(part, schema=schema.with_metadata(
            {**schema.metadata, b"motionpair.split": hf.encode()})), dirpath / rel,
            compression="zstd")
        files[hf] = (rel, len(part))
    return files


def _yaml(obj: Any, indent: int = 0) -> list[str]:
    """A tiny YAML emitter for the card header (dicts, lists, scalars; JSON-quoted strings)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{k}:")
                lines += _yaml(v, indent + 2)
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    else:
        for item in obj:
            sub = _yaml(item, indent + 2) if isinstance(item, dict | list) else \
                [f"{pad}  {_scalar(item)}"]
            lines.append(f"{pad}- {sub[0].strip()}")
            lines += sub[1:]
    return lines


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if v in ({}, []):
        return json.dumps(v)
    return json.dumps(str(v), ensure_ascii=False)


def card_text(record: dict[str, Any], files: dict[str, tuple[str, int]]) -> str:
    """``README.md`` of a built dataset: HF YAML header + a human summary (deterministic)."""
    schema = manifest_schema()
    sources = sorted({p["source"] for p in record["pairs"]})
    header = {
        "license": "other",
        "license_name": "inputs-licence",
        "license_details": "; ".join(f"{s}: {SOURCE_NOTES.get(s, {}).get('licence', 'unknown')}"
                                     for s in sources),
        "pretty_name": "motionpair paired music/dance windows",
        "tags": ["dance", "motion", "music", "motionpair"],
        "configs": [{"config_name": "default", "data_files": [
            {"split": hf, "path": rel} for hf, (rel, _) in files.items()]}],
        # no "splits" block: datasets wants arrow byte counts there; the counts are below
        "dataset_info": {"features": hf_features(schema)},
    }
    c, w = record["config"], record["windows"]
    skel = record["motion"]["skeleton"]
    lines = ["---", *_yaml(header), "---", "",
             "# motionpair dataset", "",
             "Paired music-feature / dance-motion windows built by motionpair "
             f"{record['libraries'].get('motionpair', '')} (schema "
             f"`{record['schema_version']}`, config sha256 `{record['config_sha256']}`).", "",
             "```python",
             "from datasets import load_dataset",
             "ds = load_dataset(\"path/to/this/folder\")   # the manifest rows, per split",
             "```", "",
             "Rows are windows; the arrays (mel, baseline35, pose, velocity, ...) are in "
             "`shards/<shard>/<array>.npy`, row `row` of the first axis (open with "
             "`numpy.load(path, mmap_mode=\"r\", allow_pickle=False)`, or use "
             "`motionpair.torch.MotionPairDataset`; `motionpair export-shards` writes "
             "webdataset tars or an HF `save_to_disk` copy with the arrays). A null means "
             "*not applicable* (e.g. `camera` for tang2018, `first_beat` on the fixed grid). "
             "The `split` column keeps the builder's names (`val` for the `validation` "
             "split).",
             "", "## Splits", "",
             "| split | file | windows | sessions |", "| --- | --- | --- | --- |"]
    sessions = record["splits"].get("sessions", {})
    inv = {v: k for k, v in HF_SPLIT.items()}
    for hf, (rel, n) in files.items():
        lines.append(f"| {hf} | `{rel}` | {n} | {len(sessions.get(inv[hf], []))} |")
    lines += ["", f"Split method: {record['splits'].get('method', 'session')}, seed "
              f"{c['seed']}, ratios {c['split_ratios']}"
              + (f". Warning: {record['splits']['warning']}" if "warning" in
                 record["splits"] else "."), "",
              "## Grid", "",
              f"- frame rate {c['fps_exact']} fps (audio sr {c['sr_hz']} Hz, hop {c['hop']} "
              f"samples), {c['n_mels']} mel bands",
              f"- windows: {w['rule']}",
              f"- skeleton: {skel['n_joints']} joints x {skel['dims']} dims, units "
              f"{skel['units']}", "",
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
    return "\n".join(lines) + "\n"


_NULLABLE = frozenset(f.name for f in fields(WindowRow) if f.default is None)


def row_metadata(path: Path) -> dict[str, str]:
    """The ``motionpair.*`` key-value metadata of a manifest parquet file."""
    md = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items() if k.startswith(b"motionpair.")}
