"""Self-contained exports of a built dataset for trainers at scale.

* ``webdataset``: per split, tar shards ``<split>/<split>-NNNNNN.tar`` written by
  ``webdataset.ShardWriter``; one sample per window: ``<array>.npy`` for every array of the
  window and ``json`` (the manifest row). Member mtimes are 0, so the tars are
  byte-reproducible. Read with ``webdataset.WebDataset(urls).decode()``.
* ``hf``: a ``datasets.DatasetDict`` (train / validation / test) saved with
  ``save_to_disk``; the manifest columns plus each array as a typed feature
  (``Array2D``/``Array3D`` for (T, F) / (T, J, D), a fixed-length list for (T,)).
  Read with ``datasets.load_from_disk(OUT)``.

Both libraries are optional (``pip install -e '.[export]'``); the export is written into a
staging folder beside ``OUT`` and published atomically.

An export is self-contained: beside the samples it holds the source's ``dataset.json``,
``norm_stats.npz`` (train-split statistics) and dataset card (``DATASET_CARD.md``), and
``export.json`` states what a trainer needs without them: frame rate, units, skeleton (joint
names, edges, mirror permutation), every array's name, shape, dtype and unit, split names,
and the shuffle seed. Every path in it is relative to the export (the source dataset is
named, never located). Samples are shuffled across sessions inside each split by
``numpy.random.default_rng(shuffle_seed)`` (recorded), so a streaming reader of the first
tar sees many sessions; ``shuffle_seed=None`` keeps manifest order.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.build.card import HF_SPLIT, manifest_schema
from motionpair.consumers.verify import require_sound
from motionpair.publish import OutRefusedError, check_out, out_lock, publish, recover, staging_dir
from motionpair.store import load_window, read_dataset_json, read_manifest
from motionpair.types import WindowRow

FORMATS = ("webdataset", "hf")
#: Windows per webdataset tar (about 0.3 MB each at the default grid: ~80 MB tars).
ROWS_PER_TAR = 256
#: Default seed of the cross-session shuffle of each split's samples.
SHUFFLE_SEED = 0
#: Files of the source dataset copied into every export (what a trainer needs besides samples).
COPIED = {"dataset.json": "dataset.json", "norm_stats.npz": "norm_stats.npz",
          "README.md": "DATASET_CARD.md"}


class ExportError(ValueError):
    """An export that cannot be made (missing library, unusable target)."""


def sample_key(window_id: str) -> str:
    """A webdataset key for a window id: no dots (webdataset splits keys at the first dot
    of the file name) and no folders.

    >>> sample_key("tang2018/DANCE_C_2/f001260")
    'tang2018__DANCE_C_2__f001260'
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", window_id.replace("/", "__"))


def _arrays_by_split(root: Path, rows: list[WindowRow]) -> dict[str, list[str]]:
    """Array names present in every shard of each split (a MotionMix NPZ may lack one)."""
    out: dict[str, list[str]] = {}
    for split in HF_SPLIT:
        shards = sorted({r.shard for r in rows if r.split == split})
        if not shards:
            continue
        sets = [{p.stem for p in (root / s).glob("*.npy")} for s in shards]
        out[split] = sorted(set.intersection(*sets))
    return out


def shuffled(rows: list[WindowRow], seed: int | None) -> list[WindowRow]:
    """Each split's rows in a ``default_rng(seed)`` permutation (manifest order for None)."""
    if seed is None:
        return list(rows)
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[int(i)] for i in order]


def export(dataset_dir: str | Path, out: str | Path, fmt: str, *,
           rows_per_tar: int = ROWS_PER_TAR, shuffle_seed: int | None = SHUFFLE_SEED,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Export ``dataset_dir`` to ``out`` as ``fmt``; returns the ``export.json`` record.

    ``shuffle_seed``: seed of the per-split shuffle across sessions (None: manifest order).
    """
    root, out = Path(dataset_dir).resolve(), Path(out).resolve()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not (root / "manifest.jsonl").is_file():
        raise ExportError(f"{root}: not a built dataset (no manifest.jsonl)")
    # new, empty or our own export (its marker; a user's folder holding some export.json is
    # not), never inside the dataset or any other motionpair output: OutRefusedError
    try:
        out = check_out(out, "export", inputs=[root])
    except OutRefusedError as exc:
        raise ExportError(str(exc)) from exc
    with out_lock(out):
        recover(out)
        require_sound(root, command="export-shards")  # nothing verify would fail is exported
        return _export_locked(root, out, fmt, rows_per_tar, shuffle_seed, progress)


def _export_locked(root: Path, out: Path, fmt: str, rows_per_tar: int,
                   shuffle_seed: int | None,
                   progress: Callable[[int], None] | None) -> dict[str, Any]:
    meta = read_dataset_json(root)
    rows = read_manifest(root)
    names = _arrays_by_split(root, rows)
    by_split = {s: shuffled([r for r in rows if r.split == s], shuffle_seed) for s in names}
    staged = staging_dir(out, "export")
    staged.chmod(0o755)  # mkdtemp makes 0700; exports are for others to read
    try:
        if fmt == "webdataset":
            splits = _write_webdataset(root, by_split, names, staged, rows_per_tar, progress)
        else:
            splits = _write_hf(root, by_split, names, staged, progress)
        copied = _copy_metadata(root, staged)
        record = {"format": fmt, **_trainer_record(root, meta, rows, names),
                  "order": {"shuffle_seed": shuffle_seed,
                            "rule": "per split: numpy.random.default_rng(shuffle_seed)."
                                    "permutation of the split's manifest rows"
                            if shuffle_seed is not None else "manifest order (not shuffled)"},
                  "files": copied, "splits": splits,
                  "split_names": {HF_SPLIT[k]: k for k in names}}
        (staged / "export.json").write_text(json.dumps(record, indent=2) + "\n",
                                            encoding="utf-8")
        check_out(out, "export", inputs=[root])  # again: --out may have changed meanwhile
        publish(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return record


def _copy_metadata(root: Path, staged: Path) -> dict[str, str]:
    """Copy dataset.json, norm_stats.npz and the card into the export; ``{role: file}``."""
    out = {}
    for src, dst in COPIED.items():
        if (root / src).is_file():
            shutil.copyfile(root / src, staged / dst)
            out[src.split(".")[0] if src != "README.md" else "card"] = dst
    return out


def _trainer_record(root: Path, meta: dict[str, Any], rows: list[WindowRow],
                    names: dict[str, list[str]]) -> dict[str, Any]:
    """What a trainer needs besides the samples: grid, units, skeleton, array specs.

    The source dataset is named by its folder name and config hash only: an export moves.
    """
    specs = {**meta["audio"].get("arrays", {}), **meta["motion"].get("arrays", {})}
    first = load_window(root, rows[0])
    arrays = {}
    for name in sorted({n for v in names.values() for n in v}):
        a = first.get(name)
        spec = specs.get(name, {})
        arrays[name] = {"shape": list(a.shape) if a is not None else None,
                        "dtype": str(a.dtype) if a is not None else None,
                        **{k: v for k, v in spec.items() if k not in ("shape", "dtype")}}
    skel = meta["motion"]["skeleton"]
    return {"dataset": {"name": root.name, "schema_version": meta["schema_version"],
                        "config_sha256": meta["config_sha256"]},
            "schema_version": meta["schema_version"], "config_sha256": meta["config_sha256"],
            "fps": meta["grid"]["fps"], "fps_float": meta["grid"]["fps_float"],
            "sr_hz": meta["grid"].get("sr_hz"), "window_frames": rows[0].n_frames,
            "units": {"motion": skel.get("units"), "time": "s", "frames": "frames at fps"},
            "skeleton": skel, "arrays": arrays,
            "normalisation": "norm_stats.npz: train-split mean/std per channel; "
                             "x_norm = (x - mean) / std"}


def _samples(root: Path, rows: list[WindowRow], names: list[str]) -> Iterator[tuple[WindowRow,
                                                                                    dict]]:
    for r in rows:
        yield r, load_window(root, r, tuple(names))


def _write_webdataset(root: Path, by_split: dict[str, list[WindowRow]],
                      names: dict[str, list[str]],
                      staged: Path, rows_per_tar: int,
                      progress: Callable[[int], None] | None) -> dict[str, Any]:
    try:
        import webdataset as wds
    except ImportError as exc:
        raise ExportError("--format webdataset needs the webdataset package: "
                          "pip install -e '.[export]'") from exc
    splits: dict[str, Any] = {}
    for split, arrays in names.items():
        hf = HF_SPLIT[split]
        (staged / hf).mkdir()
        part = by_split[split]
        # mtime 0: the tars are a function of the data only; verbose 0: no prints on stdout
        with wds.ShardWriter(str(staged / hf / f"{hf}-%06d.tar"), maxcount=rows_per_tar,
                             verbose=0, mtime=0) as sink:
            for r, w in _samples(root, part, arrays):
                sample: dict[str, Any] = {"__key__": sample_key(r.id), "json": r.to_dict()}
                sample.update({f"{k}.npy": v for k, v in w.items()})
                sink.write(sample)
                if progress:
                    progress(1)
        tars = sorted(p.name for p in (staged / hf).glob("*.tar"))
        splits[hf] = {"rows": len(part), "files": [f"{hf}/{t}" for t in tars],
                      "arrays": arrays}
    return splits


def _hf_rows(root: str, rows_json: str, arrays: str) -> Iterator[dict[str, Any]]:
    """One HF example per manifest row: its columns plus its arrays."""
    for d in json.loads(rows_json):
        yield {**d, **load_window(root, WindowRow.from_dict(d), tuple(arrays.split(",")))}


def hf_array_feature(shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """The ``datasets`` feature of one window's array of ``shape`` (per window, no row axis)."""
    import datasets

    d = "bool" if dtype == np.bool_ else str(dtype)
    if len(shape) == 1:
        return datasets.List(datasets.Value(d), length=shape[0])
    if len(shape) == 2:
        return datasets.Array2D(shape, d)
    if len(shape) == 3:
        return datasets.Array3D(shape, d)
    raise ExportError(f"no datasets feature for arrays of shape {shape}")


def _write_hf(root: Path, by_split: dict[str, list[WindowRow]], names: dict[str, list[str]],
              staged: Path,
              progress: Callable[[int], None] | None) -> dict[str, Any]:
    try:
        import datasets
    except ImportError as exc:
        raise ExportError("--format hf needs the datasets package: "
                          "pip install -e '.[export]'") from exc
    datasets.disable_progress_bars()  # messages are ours (stderr); stdout stays clean
    row_features = datasets.Features.from_arrow_schema(manifest_schema())
    parts, splits = {}, {}
    work = staged / ".hf-build-cache"  # datasets' generator cache: inside the staging folder
    for split, arrays in names.items():
        part = by_split[split]
        first = load_window(root, part[0], tuple(arrays))
        feats = datasets.Features({**row_features, **{
            k: hf_array_feature(v.shape, v.dtype) for k, v in first.items()}})

        # a top-level generator of plain arguments: datasets hashes it (dill) for its cache
        parts[HF_SPLIT[split]] = datasets.Dataset.from_generator(
            _hf_rows, features=feats, cache_dir=str(work), split=HF_SPLIT[split],
            writer_batch_size=64,
            # JSON text, not lists: datasets would read lists as shards to parallelise over
            gen_kwargs={"root": str(root), "rows_json": json.dumps([r.to_dict() for r in part]),
                        "arrays": ",".join(arrays)})
        if progress:
            progress(len(part))
        splits[HF_SPLIT[split]] = {"rows": len(part), "arrays": arrays}
    datasets.DatasetDict(parts).save_to_disk(str(staged))
    shutil.rmtree(work, ignore_errors=True)
    return splits
