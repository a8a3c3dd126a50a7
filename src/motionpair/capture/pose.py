"""2-D pose estimation of video frames with MediaPipe's bundled BlazePose model (CPU, offline).

Estimator: ``mediapipe.solutions.pose`` (MediaPipe 0.10.x, the "legacy" solutions API)
with ``model_complexity=1``, i.e. the ``pose_landmark_full.tflite`` landmark model and
the ``pose_detection.tflite`` person detector, both shipped inside the wheel: nothing
is downloaded at run time. ``static_image_mode=True``: every frame is estimated on its
own (person detector + landmarks), so a frame's result never depends on which other
frames were estimated (the 1 Hz and full-rate captures agree frame by frame, and a
cached frame is the same as a recomputed one), and no temporal smoothing or tracking
fills in a frame the detector missed.

Output per frame: 33 named landmarks (BlazePose topology) in pixels of the frame,
MediaPipe's per-landmark ``visibility`` (0-1) as the confidence, or "no detection".
Results are cached by (video sha256, estimator package + version + model file sha256 +
settings), frame by frame, so a rerun (or the other sampling rate) is fast.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.cache import Cache, cache_key

POSE_STAGE = "capture-pose"
POSE_STAGE_VERSION = "capture-pose-1"
INSTALL_HINT = "pip install 'motionpair[capture]' (mediapipe==0.10.14)"

#: BlazePose's 33 landmarks, in the model's order (mediapipe PoseLandmark, lower case).
JOINT_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)

#: Skeleton edges for drawing (mediapipe POSE_CONNECTIONS, body part only).
EDGES = ((11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24),
         (23, 25), (25, 27), (24, 26), (26, 28), (27, 29), (29, 31), (27, 31), (28, 30),
         (30, 32), (28, 32), (15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16, 22),
         (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10))

SETTINGS: dict[str, Any] = {"static_image_mode": True, "model_complexity": 1,
                            "smooth_landmarks": False, "enable_segmentation": False,
                            "min_detection_confidence": 0.5}


class EstimatorUnavailableError(RuntimeError):
    """The pose estimator's package is not installed (message names it)."""


def _mediapipe():
    # MediaPipe logs through glog/absl to stderr at import and per graph; keep warnings only
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with warnings.catch_warnings():  # protobuf deprecation inside mediapipe 0.10.14
            warnings.simplefilter("ignore", UserWarning)
            import mediapipe  # noqa: F401
            from mediapipe.python.solutions import pose as mp_pose
    except ImportError as exc:
        raise EstimatorUnavailableError(f"pose estimation needs the mediapipe package "
                                        f"({exc}); install it with {INSTALL_HINT}") from None
    return mp_pose


def model_file() -> Path:
    """The bundled landmark model file used with ``model_complexity=1``."""
    import mediapipe

    return Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / \
        "pose_landmark_full.tflite"


def estimator_info() -> dict[str, Any]:
    """Name, version and model fingerprint of the estimator (recorded in every session)."""
    _mediapipe()  # first: a clear error naming the package when it is absent
    import mediapipe

    mf = model_file()
    return {"name": "mediapipe.solutions.pose (BlazePose GHUM 3D, 33 landmarks)",
            "package": "mediapipe", "version": mediapipe.__version__,
            "model": mf.name, "model_sha256": hashlib.sha256(mf.read_bytes()).hexdigest(),
            "settings": dict(SETTINGS), "stage_version": POSE_STAGE_VERSION,
            "coordinates": "x, y in pixels of the decoded frame (origin top-left, y down)",
            "confidence": "mediapipe landmark visibility (0-1)"}


@dataclass
class FramePoses:
    """Pose results for some frames of one video (arrays aligned on ``frame_index``)."""

    frame_index: np.ndarray  # (N,) int64 decode index
    xy: np.ndarray  # (N, 33, 2) float32 pixels; NaN where not detected
    visibility: np.ndarray  # (N, 33) float32; NaN where not detected
    detected: np.ndarray  # (N,) bool

    def lookup(self) -> dict[int, int]:
        return {int(f): i for i, f in enumerate(self.frame_index)}


class Estimator:
    """MediaPipe pose on RGB frames; use as a context manager."""

    def __init__(self) -> None:
        mp_pose = _mediapipe()
        self._pose = mp_pose.Pose(**SETTINGS)

    def __enter__(self) -> Estimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pose.close()

    def estimate(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(xy (33, 2) pixels, visibility (33,))`` of the most prominent person, or None."""
        with warnings.catch_warnings():  # protobuf's GetPrototype deprecation, per call
            warnings.simplefilter("ignore", UserWarning)
            res = self._pose.process(rgb)
        if res.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        lm = res.pose_landmarks.landmark
        xy = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float32)
        vis = np.array([p.visibility for p in lm], dtype=np.float32)
        return xy, vis


def no_detection() -> tuple[np.ndarray, np.ndarray]:
    """``(xy, visibility)`` of a frame with nobody detected: NaN."""
    return (np.full((len(JOINT_NAMES), 2), np.nan, np.float32),
            np.full(len(JOINT_NAMES), np.nan, np.float32))


def cache_payload(video_sha256: str, info: dict[str, Any]) -> dict[str, Any]:
    """The pose cache key's payload: the video's content and the estimator's identity."""
    return {"video_sha256": video_sha256, "estimator": {k: info[k] for k in (
        "package", "version", "model", "model_sha256", "settings", "stage_version")}}


def estimate_frames(video_sha256: str, wanted: Sequence[int],
                    images: Callable[[set[int]], Any], cache: Cache, *,
                    progress: Callable[[int, int, float], None] | None = None,
                    estimate_many: Callable[[list[int], Any], dict[int, tuple]] | None = None,
                    ) -> tuple[FramePoses, dict[str, Any]]:
    """Poses of the ``wanted`` frame indices, from the cache where present.

    ``images(indices)`` yields ``(index, rgb)`` for the frames still to estimate (in
    decode order). ``progress(done, total, seconds)`` is called after each estimated
    frame. Returns the poses (sorted by frame index) and run facts: frames taken from
    the cache, frames estimated and the estimator's wall time (for reporting only;
    never written into data). ``estimate_many(todo, progress)`` estimates the frames
    elsewhere (a Ray cluster: :mod:`.remote`) instead of in this process.
    """
    info = estimator_info()
    key = cache_key(POSE_STAGE, cache_payload(video_sha256, info))
    have: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}
    got = cache.get(POSE_STAGE, key)
    if got is not None:
        a, _ = got
        for i, f in enumerate(a["frame_index"]):
            have[int(f)] = (a["xy"][i], a["visibility"][i], bool(a["detected"][i]))
    todo = sorted(set(int(w) for w in wanted) - set(have))
    t0 = time.perf_counter()
    done = 0
    if todo and estimate_many is not None:
        have.update(estimate_many(todo, progress))
        done = len(todo)
    elif todo:
        nan_xy, nan_v = no_detection()
        with Estimator() as est:
            for idx, rgb in images(set(todo)):
                r = est.estimate(rgb)
                have[int(idx)] = (r[0], r[1], True) if r is not None else (nan_xy, nan_v, False)
                done += 1
                if progress:
                    progress(done, len(todo), time.perf_counter() - t0)
    if todo:
        missing = set(todo) - set(have)
        if missing:
            raise ValueError(f"frames {sorted(missing)[:5]} were requested but never decoded")
        order = sorted(have)
        cache.put(POSE_STAGE, key, {
            "frame_index": np.array(order, dtype=np.int64),
            "xy": np.stack([have[f][0] for f in order]),
            "visibility": np.stack([have[f][1] for f in order]),
            "detected": np.array([have[f][2] for f in order], dtype=bool)},
            {"video_sha256": video_sha256, "estimator": info})
    sel = sorted(set(int(w) for w in wanted))
    poses = FramePoses(frame_index=np.array(sel, dtype=np.int64),
                       xy=np.stack([have[f][0] for f in sel]) if sel else
                       np.zeros((0, len(JOINT_NAMES), 2), np.float32),
                       visibility=np.stack([have[f][1] for f in sel]) if sel else
                       np.zeros((0, len(JOINT_NAMES)), np.float32),
                       detected=np.array([have[f][2] for f in sel], dtype=bool))
    return poses, {"from_cache": len(sel) - done, "estimated": done,
                   "estimator_s": time.perf_counter() - t0, "estimator": info}
