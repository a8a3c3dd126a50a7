"""Seeded training augmentations for paired windows (numpy only; every one OFF by default).

- **mirror** (``mirror_p``): swap left/right joints with ``dataset.json`` →
  ``motion.skeleton.mirror_permutation`` and negate the lateral coordinate
  (``skeleton.mirror_axis``, default 0 = x) of pose, velocity and acceleration.
  The mirror plane is lateral-coordinate = 0 of the capture frame. Refused (ValueError)
  when the permutation is null (a source that names no joints). tang2018's permutation is
  derived from its real geometry (``sources/tang2018.py`` ``JOINT_LAYOUT`` assumption).
- **time jitter** (``jitter_frames = J``): the window start moves by ``j`` frames, ``j``
  uniform in ``[-J, J]``, ``J <= hop_frames``. The shifted window is assembled exactly from
  the overlapping neighbour window of the same shard (the row that starts one hop later for
  ``j > 0``, one hop earlier for ``j < 0``), so audio and motion stay aligned and every
  derived array (velocity, beats) is the one computed on the whole track. When that
  neighbour was dropped (end of a dance, gap), the sample keeps ``j = 0``. Fixed grids only.
- **feature-channel dropout** (``channel_dropout_p``): each channel (last axis) of the named
  audio arrays is zeroed with probability ``p`` for the whole window (after normalisation,
  zero = the train mean).

Randomness: one ``numpy.random.default_rng([seed, epoch, index])`` per sample, so a
sample's augmentation depends only on (seed, epoch, index), never on worker count or order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from motionpair.types import WindowRow

JOINT_ARRAYS = ("pose", "velocity", "acceleration")


@dataclass(frozen=True)
class Augment:
    """Augmentation settings; the defaults switch everything off.

    Parameters
    ----------
    mirror_p : probability of a left/right mirror per sample.
    jitter_frames : maximum |shift| of the window start, in output frames (<= hop_frames).
    channel_dropout_p : per-channel probability of zeroing an audio feature channel.
    dropout_arrays : arrays channel dropout applies to.
    seed : base seed (combined with epoch and sample index).
    """

    mirror_p: float = 0.0
    jitter_frames: int = 0
    channel_dropout_p: float = 0.0
    dropout_arrays: tuple[str, ...] = ("mel", "baseline35")
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.mirror_p > 0 or self.jitter_frames > 0 or self.channel_dropout_p > 0

    def rng(self, *, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, index])


def mirror_permutation(meta: dict[str, Any]) -> tuple[np.ndarray, int]:
    """``(permutation, lateral_axis)`` from dataset.json; ValueError when not published."""
    skel = meta["motion"]["skeleton"]
    perm = skel.get("mirror_permutation")
    if perm is None:
        raise ValueError("mirror augmentation refused: dataset.json motion.skeleton."
                         "mirror_permutation is null (this source publishes no joint names or "
                         "left/right pairs), so a mirror would scramble joints")
    p = np.asarray(perm, dtype=np.int64)
    n = int(skel["n_joints"])
    if sorted(p.tolist()) != list(range(n)) or not np.array_equal(p[p], np.arange(n)):
        raise ValueError(f"dataset.json mirror_permutation {perm} is not an involutive "
                         f"permutation of {n} joints")
    return p, int(skel.get("mirror_axis", 0))


def mirror(arrays: dict[str, np.ndarray], *, perm: np.ndarray, axis: int) -> None:
    """Mirror the (T, J, D) joint arrays in place: permute joints, negate ``axis``."""
    for name in JOINT_ARRAYS:
        if name in arrays:
            x = arrays[name][:, perm, :]
            x[..., axis] *= -1
            arrays[name] = x


def neighbours(rows: list[WindowRow], *, hop_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Index (into ``rows``) of the window one hop earlier / later in the same shard, or -1."""
    if any(r.grid != "fixed" for r in rows):
        raise ValueError("time jitter is defined on fixed-grid windows only (this dataset "
                         "has beat-grid windows)")
    at = {(r.shard, r.start_frame): i for i, r in enumerate(rows)}
    hop = hop_frames
    prev = np.array([at.get((r.shard, r.start_frame - hop), -1) for r in rows])
    nxt = np.array([at.get((r.shard, r.start_frame + hop), -1) for r in rows])
    return prev, nxt


def jittered(read: Callable[[int], np.ndarray], *, index: int, j: int, prev: int, nxt: int,
             hop_frames: int) -> np.ndarray:
    """The window of row ``index`` shifted by ``j`` frames, stitched from its neighbour.

    ``read(i)`` returns row ``i``'s (T, ...) array. Frame ``f + j + k`` of the track lies in
    row ``index`` at ``j + k`` when inside the window, else in the neighbour (which starts
    ``hop_frames`` later/earlier).
    """
    x = read(index)
    T = len(x)
    if j > 0:
        return np.concatenate([x[j:], read(nxt)[T - hop_frames:T - hop_frames + j]])
    if j < 0:
        return np.concatenate([read(prev)[hop_frames + j:hop_frames], x[:T + j]])
    return np.array(x)


def draw_jitter(rng: np.random.Generator, *, max_frames: int, prev: int, nxt: int) -> int:
    """Shift in ``[-max_frames, max_frames]``; 0 when the needed neighbour is absent."""
    j = int(rng.integers(-max_frames, max_frames + 1))
    if (j > 0 and nxt < 0) or (j < 0 and prev < 0):
        return 0
    return j


def channel_dropout(x: np.ndarray, *, rng: np.random.Generator, p: float) -> np.ndarray:
    """Zero each channel (last axis) of a (T, C) array with probability ``p``."""
    # x.shape[-1] is Any to numpy's stubs, which then pick random()'s scalar overload
    keep = rng.random(x.shape[-1]) >= p
    return x * keep.astype(x.dtype)  # type: ignore[attr-defined]
