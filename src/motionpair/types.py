"""Canonical in-memory types that every stage speaks.

Sources turn each input format into these; audio/motion/align/windows/dataset
only ever see these. Times are seconds (``_s``), rates are exact ``Fraction``
frames per second (``_fps``) or integer Hz (``_hz``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- inventory


@dataclass(frozen=True)
class InputFile:
    """One file a source read, fingerprinted for the manifest."""

    path: str  # relative to its root
    root: str  # the input root (absolute) this path is relative to
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Problem:
    """An input that could not be used, with the reason (names the file)."""

    path: str
    reason: str
    source: str = ""
    session: str = ""
    # "bad" (unreadable / wrong shape) | "incomplete" (a required file missing)
    # | "refused" (never opened on purpose, e.g. a pickle)
    kind: str = "bad"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class AudioRef:
    """Where a track's audio (or its precomputed features) lives."""

    track_id: str
    path: str  # absolute path to the audio file or feature file
    kind: str = "audio"  # "audio" (decode + compute) | "npz" (precomputed features)
    duration_s: float | None = None  # when the source knows it without decoding
    sha256: str = ""  # content hash of the file at ``path`` (cache key, fingerprint)
    #: set only for a truncated file kept because its dance lies inside what decodes: the
    #: header's duration (``duration_s`` is then what decodes; build/scan.py audio_verdict)
    declared_s: float | None = None


@dataclass
class AudioFeatures:
    """Per-track features on a frame grid: frame k is centred at ``k * hop / sr`` seconds.

    ``arrays`` maps a feature name to an array whose first axis is frames.
    """

    track_id: str
    sr_hz: int
    hop: int
    duration_s: float
    arrays: dict[str, np.ndarray]
    beat_times_s: np.ndarray
    tempo_bpm: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> Fraction:
        return Fraction(self.sr_hz, self.hop)

    @property
    def n_frames(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])


# ----------------------------------------------------------------------------- motion


@dataclass
class PoseStream:
    """Pose samples on the stream's own clock.

    ``times_s`` is the stream clock (e.g. skeleton frame index / nominal fps, or
    snapshot wall-clock seconds since session start); only a ``ClockMap`` puts
    it on a track's clock. ``joints`` are absolute positions ``(T, J, D)``.
    """

    stream_id: str
    session: str
    times_s: np.ndarray  # (T,) float64, strictly increasing
    joints: np.ndarray  # (T, J, D) float
    units: str = "unknown"
    confidence: np.ndarray | None = None  # (T, J) in [0, 1]
    nominal_fps: float | None = None
    camera: str | None = None
    joint_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_joints(self) -> int:
        return int(self.joints.shape[1])

    @property
    def dims(self) -> int:
        return int(self.joints.shape[2])


@dataclass
class MotionGrid:
    """A pose stream resampled onto a track's output frame grid, with dynamics.

    Frame k of every array is at track time ``(first_frame + k) / fps``.
    """

    first_frame: int
    fps: Fraction
    pose: np.ndarray  # (N, J, D) float32, NaN-free (zeros where invalid)
    valid: np.ndarray  # (N,) bool
    velocity: np.ndarray  # (N, J, D) units/s
    acceleration: np.ndarray  # (N, J, D) units/s^2
    speed: np.ndarray  # (N,) mean joint speed, units/s
    kin_beat: np.ndarray  # (N,) uint8 one-hot local minima of smoothed speed
    params: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- alignment


@dataclass(frozen=True)
class ClockMap:
    """Maps a stream's own time onto a track's time; an explicit, named assumption.

    kinds:
      - ``offset``: t_track = t_stream + offset_s
      - ``linear``: t_track = scale * t_stream + offset_s
      - ``beatwise``: piecewise linear through ``anchors`` [(t_stream, t_track), ...],
        extrapolated with the end segments' slopes.
    """

    kind: str
    assumption: str
    offset_s: float = 0.0
    scale: float = 1.0
    anchors: tuple[tuple[float, float], ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("offset", "linear", "beatwise"):
            raise ValueError(f"unknown clock map kind {self.kind!r}")
        if self.kind == "offset" and self.scale != 1.0:
            raise ValueError("an offset clock map has scale 1")
        if self.kind == "beatwise":
            a = np.asarray(self.anchors, dtype=np.float64)
            if a.ndim != 2 or a.shape[0] < 2 or np.any(np.diff(a[:, 0]) <= 0) or np.any(
                np.diff(a[:, 1]) <= 0
            ):
                raise ValueError("beatwise anchors must be >= 2 strictly increasing pairs")
        if self.scale <= 0:
            raise ValueError("clock map scale must be positive")

    def to_track(self, t_stream_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_stream_s, dtype=np.float64)
        if self.kind != "beatwise":
            return self.scale * t + self.offset_s
        a = np.asarray(self.anchors, dtype=np.float64)
        return _piecewise(t, a[:, 0], a[:, 1])

    def to_stream(self, t_track_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_track_s, dtype=np.float64)
        if self.kind != "beatwise":
            return (t - self.offset_s) / self.scale
        a = np.asarray(self.anchors, dtype=np.float64)
        return _piecewise(t, a[:, 1], a[:, 0])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "assumption": self.assumption}
        if self.kind == "beatwise":
            d["n_anchors"] = len(self.anchors)
            d["anchors_first_last"] = [list(self.anchors[0]), list(self.anchors[-1])]
        else:
            d["scale"] = self.scale
            d["offset_s"] = self.offset_s
        if self.note:
            d["note"] = self.note
        return d


def _piecewise(t: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp with linear extrapolation beyond both ends."""
    out = np.interp(t, xp, fp)
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    out = np.where(t < xp[0], fp[0] + (t - xp[0]) * lo_slope, out)
    return np.where(t > xp[-1], fp[-1] + (t - xp[-1]) * hi_slope, out)


@dataclass
class PlaybackSegment:
    """A span of a session during which one track played, and how we know."""

    session: str
    track_id: str
    clock: ClockMap  # stream time -> track time
    stream_start_s: float
    stream_end_s: float
    matched_by: str  # e.g. "playback_events", "playlist_order_gapless", "tang2018.config"


# ----------------------------------------------------------------------------- pairing


@dataclass
class PairSpec:
    """One unit of pairing work found by a scan: a pose stream and a track, lazily loadable.

    ``source`` names the registered source that reads it
    (:func:`motionpair.sources.base.source_of`); ``params`` is that source's private
    notebook (folders, frame spans, camera, measured rate, ...): only the source reads it.
    Stages ask the source instead (``Source.stream_info``, ``Source.clock``, ...). Kept
    picklable so workers can take it.
    """

    pair_id: str
    session: str
    source: str
    track: AudioRef
    inputs: list[InputFile]
    params: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # split group (defaults to the session)
    style: str = ""

    @property
    def split_group(self) -> str:
        return self.group or self.session


@dataclass(frozen=True)
class StreamInfo:
    """What the stages may know of a pair's stream beyond :class:`PairSpec`, asked of its
    source (``Source.stream_info``) so that no stage reads ``PairSpec.params``.

    ``rate_hz``: the stream's measured rate (samples per second; 1 / median interval), which
    picks a sparse source's pairing mode; None for a dense source at its nominal rate.
    ``row_extras``: source columns of every :class:`WindowRow` of the pair (keys are
    WindowRow fields, e.g. ``camera``, ``matched_by``), also added, in their order, to the
    pair's ``dataset.json`` facts of a sparse source. ``assumptions``: assumption names this
    stream adds to ``Source.assumptions_for`` (e.g. a fused multi-camera stream).
    """

    rate_hz: float | None = None
    row_extras: dict[str, Any] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()


@dataclass
class WindowRow:
    """One manifest row: a paired window, with times on both clocks."""

    id: str
    split: str
    session: str
    track: str
    source: str
    start_s: float
    end_s: float
    motion_start_s: float
    motion_end_s: float
    fps: float
    n_frames: int
    start_frame: int
    shard: str
    row: int
    pose_coverage: float
    clock_map: str
    assumptions: list[str]
    style: str = ""
    mean_speed: float = 0.0
    n_music_beats: int = 0
    n_kin_beats: int = 0
    grid: str = "fixed"  # "fixed": fps grid | "beats": frames_per_beat frames per music beat
    # None (null in the manifest) = not applicable to this row's grid or source
    first_beat: int | None = None  # beat grid: index of the window's first detected music beat
    frames_per_beat: int | None = None  # beat grid only
    # Source extras: filled from the source's ``StreamInfo.row_extras`` (stages never name a
    # source); a source with several streams per session (MotionMix) names the camera stream
    # ("fused" for the fused stream) and how its track was matched. None = the source has none.
    # Snapshot window kind (grid "snapshot", windows.snapshot): the centre snapshot's exact
    # track time, its frame in the window and how its dynamics were taken
    # ("central" | "backward" | "forward" | "none").
    camera: str | None = None
    matched_by: str | None = None
    snapshot_track_s: float | None = None
    snapshot_frame: int | None = None
    dynamics: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowRow:
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class PairResult:
    pair_id: str
    shard: str
    rows: list[WindowRow]
    dropped: dict[str, int]
    facts: dict[str, Any]
    cache: dict[str, int] = field(default_factory=dict)
    # alignment evidence (pairevidence.evidence_for_pair): JSON record + small series for plots
    evidence: dict[str, Any] | None = None
    evidence_series: dict[str, Any] = field(default_factory=dict)
