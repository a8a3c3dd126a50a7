"""Pose estimation on a Ray cluster (``capture --engine ray``): actors hold the model.

Frames are estimated independently (``static_image_mode=True``, see :mod:`.pose`), so a
video's wanted frames can be cut into chunks and estimated by any actor in any order: the
result of a frame is the same as in a local capture. Each actor keeps one
:class:`~motionpair.capture.pose.Estimator` (the model loaded once), decodes the video
itself, by path (every node sees the videos at the same path, e.g. an NFS mount), and
converts only its chunk's frames to RGB. Decoding, audio, sync and writing stay on the
driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.capture import pose, video

#: Frames per task: about 20 s of 30 fps video at the measured 16 frames/s per core.
CHUNK_FRAMES = 300
#: One frame's result: ``(xy (33, 2) px, visibility (33,), detected)``.
FramePose = tuple[np.ndarray, np.ndarray, bool]


class PoseWorker:
    """The body of a Ray actor: one estimator for the actor's life."""

    def __init__(self) -> None:
        self._est: pose.Estimator | None = None

    def estimate(self, path: str, indices: list[int]) -> dict[int, FramePose]:
        """Poses of frames ``indices`` of the video at ``path``."""
        if self._est is None:
            self._est = pose.Estimator()
        want = set(indices)
        out: dict[int, FramePose] = {}
        for fr in video.frames(path, want_image=lambda i, t: i in want):
            if fr.image is None:
                continue
            r = self._est.estimate(fr.image)
            out[fr.index] = (r[0], r[1], True) if r is not None else (*pose.no_detection(),
                                                                     False)
            if len(out) == len(want):
                break  # the rest of the video is not needed by this chunk
        return out


def chunks(indices: Sequence[int], size: int = CHUNK_FRAMES) -> list[list[int]]:
    """``indices`` in consecutive runs of ``size``.

    >>> chunks([0, 1, 2, 3, 4], 2)
    [[0, 1], [2, 3], [4]]
    """
    return [list(indices[k:k + size]) for k in range(0, len(indices), size)]


def ray_estimator(pool: Any, chunk_frames: int = CHUNK_FRAMES
                  ) -> Callable[[Path, list[int], Any], dict[int, FramePose]]:
    """An ``estimate_many(path, todo, progress)`` for :func:`.pose.estimate_frames` that
    spreads ``todo`` over the actors of ``pool`` (a :class:`~motionpair.engines.ray_engine.
    ActorPool` of :class:`PoseWorker`)."""
    import time

    def estimate_many(path: Path, todo: list[int], progress: Any) -> dict[int, FramePose]:
        # at most chunk_frames per task, and every actor busy on a short video
        parts = chunks(todo, max(1, min(chunk_frames, -(-len(todo) // len(pool.handles)))))
        t0, done = time.perf_counter(), 0
        have: dict[int, FramePose] = {}

        def landed(i: int, got: dict[int, FramePose]) -> None:
            nonlocal done
            have.update(got)
            done += len(parts[i])
            if progress:
                progress(done, len(todo), time.perf_counter() - t0)

        pool.map("estimate", [(str(Path(path).resolve()), p) for p in parts],
                 names=[f"frames {p[0]}-{p[-1]} of {path}" for p in parts], on_done=landed)
        return have

    return estimate_many
