"""Cut fixed-length windows on the track's output frame grid.

A window is a span ``[start_frame, start_frame + n_frames)`` of the track grid.
Windows start every ``hop_frames`` from track frame 0, so the grid is the same
for every pair of a track whatever its motion; a window is kept only where the
audio and the pose cover every one of its frames. Others are counted by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

#: Reasons a window is dropped, in the order they are tested.
DROP_REASONS = ("audio_incomplete", "no_pose", "partial_pose")


@dataclass(frozen=True)
class WindowCut:
    start_frame: int  # on the track grid
    pose_coverage: float  # fraction of frames with valid pose


def pose_valid_on_track(n_track_frames: int, first_frame: int, valid: np.ndarray) -> np.ndarray:
    """The motion's validity mask laid on track frames ``[0, n_track_frames)``."""
    out = np.zeros(max(n_track_frames, first_frame + len(valid), 0), dtype=bool)
    lo = max(first_frame, 0)
    out[lo:first_frame + len(valid)] = valid[lo - first_frame:]
    return out


def cut_windows(*, n_audio_frames: int, first_frame: int, valid: np.ndarray, n_frames: int,
                hop_frames: int) -> tuple[list[WindowCut], Counter]:
    """Windows fully covered by audio and pose, and the dropped ones counted by reason.

    ``n_audio_frames`` counts the grid frames whose whole span lies inside the
    audio. Windows are enumerated over the union of audio and motion extents.

    Examples
    --------
    >>> kept, dropped = cut_windows(n_audio_frames=10, first_frame=2, valid=np.ones(5, bool),
    ...                             n_frames=3, hop_frames=1)
    >>> [w.start_frame for w in kept], dict(dropped)
    ([2, 3, 4], {'partial_pose': 4, 'no_pose': 1})
    """
    if n_frames <= 0 or hop_frames <= 0:
        raise ValueError("n_frames and hop_frames must be positive")
    pv = pose_valid_on_track(n_audio_frames, first_frame, valid)
    csum = np.concatenate([[0], np.cumsum(pv, dtype=np.int64)])
    extent = len(pv)
    kept: list[WindowCut] = []
    dropped: Counter = Counter()
    for k in range(0, max(extent - n_frames, -1) + 1, hop_frames):
        covered = int(csum[k + n_frames] - csum[k])
        if k + n_frames > n_audio_frames:
            if covered:
                dropped["audio_incomplete"] += 1
            continue
        if covered == n_frames:
            kept.append(WindowCut(k, 1.0))
        elif covered == 0:
            dropped["no_pose"] += 1
        else:
            dropped["partial_pose"] += 1
    return kept, dropped
