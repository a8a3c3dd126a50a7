"""PyTorch loader over a built dataset (needs the optional ``torch`` extra).

Usage (after ``motionpair build ... --out out/tang2018``)::

    from torch.utils.data import DataLoader
    from motionpair.torch import MotionPairDataset, collate
    ds = MotionPairDataset("out/tang2018", split="train", features=("baseline35", "velocity"))
    dl = DataLoader(ds, batch_size=64, shuffle=True, num_workers=2, collate_fn=collate)

Shards are memory-mapped lazily in the process that reads them (a worker opens its own
maps on first use; the dataset object pickles without them), and only the requested rows
are copied out. Items keep the stored dtypes (float32 features, uint8 one-hots, bool
masks, float64 ``times_s``). ``normalize=True`` applies ``(x - mean) / std`` with the
train-split statistics of ``norm_stats.npz`` to every selected float array that has them;
:meth:`MotionPairDataset.denormalize` (or :func:`denormalize`) is its inverse.
``representation="root_relative"`` returns ``pose`` relative to the root joint plus
``root_velocity`` and ``root_start`` (:mod:`motionpair.consumers.representation`);
:meth:`MotionPairDataset.to_absolute` is its inverse.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from motionpair.build.card import HF_SPLIT, canonical_split
from motionpair.build.normstats import read_norm_stats, safe_std
from motionpair.consumers import augment as aug
from motionpair.consumers import representation as rep
from motionpair.store import read_dataset_json, read_manifest, shard_path
from motionpair.timebase import frames_to_time

META_KEYS = ("id", "split", "session", "track", "source", "shard", "row", "start_frame",
             "start_s", "end_s", "fps")


def available_arrays(meta: dict[str, Any], *, beat_grid: bool = False) -> tuple[str, ...]:
    """Array names a dataset stores, from ``dataset.json`` (audio, motion; + times_s on beat
    grids, whose frames are not evenly spaced in track time)."""
    names = tuple(meta["audio"]["arrays"]) + tuple(meta["motion"]["arrays"])
    return names + ("times_s",) if beat_grid else names


class MotionPairDataset(Dataset):
    """Map-style dataset of one split; ``ds[i]`` is a dict of tensors plus manifest fields.

    Parameters
    ----------
    root : built dataset folder (holds dataset.json, manifest.jsonl, shards/).
    split : "train", "validation" (or "val"), "test", "guard", or None for every row.
    features : array names to return (validated against dataset.json); None = all.
    normalize : True for every selected float array with statistics, or a tuple of names.
    augment : :class:`motionpair.consumers.augment.Augment` (or its fields as a dict); None = off.
    representation : "absolute" (stored joints) or "root_relative" (``pose`` minus the root
        joint per frame, plus ``root_velocity`` (T, D) per frame and ``root_start`` (D,);
        needs ``pose`` among the features; pose statistics are absolute, so ``pose`` is not
        normalised in this representation).
    """

    def __init__(self, root: str | Path, split: str | None = "train",
                 features: Iterable[str] | None = None, normalize: bool | Iterable[str] = False,
                 augment: aug.Augment | dict | None = None,
                 representation: str = "absolute") -> None:
        self.root = Path(root)
        meta = read_dataset_json(self.root)
        stored = None if split is None else canonical_split(split)
        rows = read_manifest(self.root)
        self.rows = [r for r in rows if stored is None or r.split == stored]
        if not self.rows:
            have = sorted({HF_SPLIT.get(r.split, r.split) for r in rows})
            raise ValueError(f"{self.root}: split {split!r} has no windows; this dataset has "
                             f"{', '.join(have) or 'no windows at all'}")
        bad = next((r for r in self.rows if not isinstance(r.row, int) or r.row < 0), None)
        if bad is not None:  # numpy would read row -1 as the last window: never silently
            raise ValueError(f"{self.root / 'manifest.jsonl'}: window {bad.id} has row "
                             f"{bad.row!r}; rows are indices 0, 1, ... into their shard")
        # every shard path checked once, up front: a manifest row pointing outside the
        # dataset (absolute, '..') is refused, never followed
        self._shard_dirs = {s: shard_path(self.root, s) for s in sorted({r.shard
                                                                        for r in self.rows})}
        avail = available_arrays(meta, beat_grid=self.rows[0].grid == "beats")
        self.features = tuple(features) if features is not None else avail
        unknown = [f for f in self.features if f not in avail]
        if unknown:
            raise ValueError(f"{self.root / 'dataset.json'}: unknown feature(s) {unknown}; "
                             f"this dataset stores {list(avail)}")
        self.split = split
        if representation not in rep.REPRESENTATIONS:
            raise ValueError(f"unknown representation {representation!r}: use one of "
                             f"{', '.join(rep.REPRESENTATIONS)}")
        if representation == "root_relative" and "pose" not in self.features:
            raise ValueError("representation='root_relative' needs 'pose' among the features")
        if representation == "root_relative" and normalize is not False:
            # the statistics are of absolute joints: pose stays in its units
            if normalize is not True and "pose" in (normalize := tuple(normalize)):
                raise ValueError("representation='root_relative' does not normalise 'pose' "
                                 "(norm_stats.npz holds absolute-joint statistics); drop it "
                                 "from normalize")
            if normalize is True:
                stats = read_norm_stats(self.root)
                normalize = tuple(f for f in self.features if f != "pose" and f in stats)
        self.representation = representation
        root_j = meta["motion"]["skeleton"].get("root_joint")
        self.root_joint = None if root_j is None else int(root_j)
        self.hop_frames = int(meta["windows"].get("hop_frames") or 0)
        self._norm = self._load_norm(normalize)
        self.augment = aug.Augment(**augment) if isinstance(augment, dict) else augment
        self._perm: tuple[np.ndarray, int] | None = None  # set by _check_augment
        self._prev: np.ndarray | None = None
        self._next: np.ndarray | None = None
        if self.augment is not None:
            self._check_augment(meta)
        self.epoch = 0
        self._maps: dict[tuple[str, str], np.ndarray] = {}
        self._pid = -1

    # -- setup -----------------------------------------------------------------------
    def _load_norm(self, normalize: bool | Iterable[str]) -> dict[str, tuple]:
        if normalize is False:
            return {}
        stats = read_norm_stats(self.root)
        names = [f for f in self.features if f in stats] if normalize is True else list(
            normalize)
        missing = [n for n in names if n not in stats]
        if missing:
            raise ValueError(f"{self.root / 'norm_stats.npz'}: no statistics for {missing}")
        return {n: (stats[n]["mean"].astype(np.float32),
                    (1.0 / safe_std(stats[n]["std"])).astype(np.float32)) for n in names}

    def _check_augment(self, meta: dict[str, Any]) -> None:
        a = cast(aug.Augment, self.augment)  # called only with an augment
        if a.mirror_p > 0:
            self._perm = aug.mirror_permutation(meta)
        if a.jitter_frames > 0:
            if a.jitter_frames > self.hop_frames:
                raise ValueError(f"jitter_frames {a.jitter_frames} exceeds the window hop "
                                 f"({self.hop_frames} frames): jitter stays within the hop")
            self._prev, self._next = aug.neighbours(self.rows, hop_frames=self.hop_frames)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (call before each epoch; workers see it next epoch)."""
        self.epoch = int(epoch)

    # -- reading ---------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"], state["_pid"] = {}, -1  # workers open their own memory maps
        return state

    def _array(self, shard: str, name: str) -> np.ndarray:
        if self._pid != os.getpid():
            self._maps, self._pid = {}, os.getpid()
        key = (shard, name)
        arr = self._maps.get(key)
        if arr is None:
            arr = np.load(self._shard_dirs[shard] / f"{name}.npy", mmap_mode="r",
                          allow_pickle=False)
            self._maps[key] = arr
        return arr

    def _row_array(self, i: int, name: str) -> np.ndarray:
        r = self.rows[i]
        arr = self._array(r.shard, name)
        if r.row >= arr.shape[0]:
            raise IndexError(f"{self.root / 'manifest.jsonl'}: window {r.id} has row {r.row} "
                             f"but {r.shard}/{name}.npy holds {arr.shape[0]} rows")
        return arr[r.row]

    def denormalize(self, name: str, x: Any) -> Any:
        """Inverse of ``normalize``: ``x * std + mean`` for array ``name`` (numpy or torch,
        any leading batch axes); ``x`` unchanged when ``name`` was not normalised."""
        if name not in self._norm:
            return x
        mean, inv_std = self._norm[name]
        return denormalize(x, mean, 1.0 / inv_std)

    def to_absolute(self, item: dict[str, Any]) -> Any:
        """Absolute ``(…, T, J, D)`` joints of an item or collated batch of this dataset
        (the inverse of ``representation="root_relative"``; the stored pose as is otherwise)."""
        if self.representation == "absolute":
            return item["pose"]
        arrays = [item[k] for k in ("pose", "root_velocity", "root_start")]
        as_np = [a.numpy() if isinstance(a, torch.Tensor) else a for a in arrays]
        out = rep.from_root_relative(*as_np)
        return torch.from_numpy(out) if isinstance(arrays[0], torch.Tensor) else out

    def __len__(self) -> int:
        return len(self.rows)

    def arrays(self, index: int) -> tuple[dict[str, np.ndarray], int]:
        """The (augmented, normalised) numpy arrays of one item and its jitter in frames."""
        a = self.augment
        rng = a.rng(epoch=self.epoch, index=index) if a is not None and a.active else None
        j = 0
        if rng is not None and a is not None and a.jitter_frames > 0:
            assert self._prev is not None and self._next is not None  # set with jitter
            j = aug.draw_jitter(rng, max_frames=a.jitter_frames, prev=int(self._prev[index]),
                                nxt=int(self._next[index]))
        out = {}
        for name in self.features:
            if j:
                assert self._prev is not None and self._next is not None
                # mypy cannot match a lambda with a defaulted parameter to Callable[[int], ...]
                x = aug.jittered(lambda i, n=name: self._row_array(i, n),  # type: ignore[misc]
                                 index=index, j=j,
                                 prev=int(self._prev[index]), nxt=int(self._next[index]),
                                 hop_frames=self.hop_frames)
            else:
                x = np.array(self._row_array(index, name))
            out[name] = x
        if rng is not None and a is not None and a.mirror_p > 0 and rng.random() < a.mirror_p:
            assert self._perm is not None  # set with mirroring
            aug.mirror(out, perm=self._perm[0], axis=self._perm[1])
        if self.representation == "root_relative":
            out["pose"], out["root_velocity"], out["root_start"] = rep.to_root_relative(
                out["pose"], self.root_joint)
        for name, (mean, inv_std) in self._norm.items():
            if name in out:
                _normalise(out[name], mean, inv_std)
        if rng is not None and a is not None and a.channel_dropout_p > 0:
            for name in a.dropout_arrays:
                if name in out and out[name].ndim == 2:
                    out[name] = aug.channel_dropout(out[name], rng=rng, p=a.channel_dropout_p)
        return out, j

    def __getitem__(self, index: int) -> dict[str, Any]:
        arrays, j = self.arrays(int(index))
        item: dict[str, Any] = {k: torch.from_numpy(np.ascontiguousarray(v))
                                for k, v in arrays.items()}
        item.update(self._meta(int(index), j))
        return item

    def _meta(self, index: int, j: int) -> dict[str, Any]:
        """Manifest fields of row ``index``; times moved by a jitter of ``j`` frames."""
        r = self.rows[index]
        meta: dict[str, Any] = {k: getattr(r, k) for k in META_KEYS}
        if j:  # fixed grid only (augment.neighbours): start_s = start_frame / fps
            meta["start_s"] = frames_to_time(r.start_frame + j, r.fps)
            meta["end_s"] = frames_to_time(r.start_frame + j + r.n_frames, r.fps)
        meta["jitter_frames"] = j
        return meta

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Batched fetch (torch >= 2 DataLoader calls it with a batch's indices).

        Without augmentation, every requested window is copied once, straight from the
        memory map into one ``(B, ...)`` tensor per array (in shared memory inside a
        worker); items are views of it and :func:`collate` hands the tensor on uncopied.
        """
        if (self.augment is not None and self.augment.active) or \
                self.representation != "absolute":
            return [self[i] for i in indices]
        idx = [int(i) for i in indices]
        in_worker = get_worker_info() is not None
        batch: dict[str, torch.Tensor] = {}
        for name in self.features:
            first = self._row_array(idx[0], name)
            out = torch.from_numpy(np.empty((len(idx), *first.shape), dtype=first.dtype))
            if in_worker:
                out = out.share_memory_()
            buf = out.numpy()
            for pos, i in enumerate(idx):
                buf[pos] = self._row_array(i, name)
            if name in self._norm:
                _normalise(buf, *self._norm[name])
            batch[name] = out
        return [{**{n: batch[n][pos] for n in self.features}, **self._meta(i, 0)}
                for pos, i in enumerate(idx)]


def denormalize(x: Any, mean: np.ndarray, std: np.ndarray) -> Any:
    """``x * std + mean`` (the inverse of ``(x - mean) / std``), for numpy arrays or torch
    tensors with any leading batch axes; ``mean``/``std`` as in ``norm_stats.npz``
    (:func:`motionpair.build.normstats.read_norm_stats`, std through ``safe_std``)."""
    if isinstance(x, torch.Tensor):
        return x * torch.as_tensor(std, dtype=x.dtype) + torch.as_tensor(mean, dtype=x.dtype)
    return np.asarray(x) * std.astype(np.asarray(x).dtype) + mean.astype(np.asarray(x).dtype)


def _normalise(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> None:
    """``x = (x - mean) / std`` in place (x is float32 and owned by the caller)."""
    np.subtract(x, mean, out=x)
    np.multiply(x, inv_std, out=x)


def _batch_base(vals: list[torch.Tensor]) -> torch.Tensor | None:
    """The (B, ...) tensor whose rows ``vals`` are, in order (as made by __getitems__)."""
    base = vals[0]._base
    if base is None or base.shape[0] != len(vals) or not base.is_contiguous():
        return None
    step = base.stride(0) * base.element_size()
    p0 = base.data_ptr()
    for k, v in enumerate(vals):
        if v._base is not base or v.data_ptr() != p0 + k * step or v.shape != base.shape[1:]:
            return None
    return base


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors to ``(B, ...)``; manifest fields (ids, times, rows) become lists."""
    out: dict[str, Any] = {}
    for k, v in batch[0].items():
        vals = [b[k] for b in batch]
        if isinstance(v, torch.Tensor):
            base = _batch_base(vals)
            # default_collate stacks straight into shared memory inside a worker (one copy)
            out[k] = base if base is not None else default_collate(vals)
        else:
            # manifest fields stay lists: one tensor per field would cross the worker queue
            # through its own shared-memory segment (measured: ~30% fewer windows/s)
            out[k] = vals
    return out
