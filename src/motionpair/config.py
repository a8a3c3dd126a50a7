"""The build configuration: every knob that affects the output, resolved and hashed."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from motionpair.cache import canonical_json
from motionpair.timebase import as_rate, hop_for_fps, seconds_to_whole_frames

SCHEMA_VERSION = "motionpair.dataset/1"


@dataclass(frozen=True)
class BuildConfig:
    """Options of ``motionpair build`` that change the dataset (not workers/cache/out)."""

    fps: float = 30.0
    sr_hz: int = 22050
    n_mels: int = 128
    n_fft: int = 2048
    n_mfcc: int = 20
    window_s: float = 5.0
    hop_s: float = 1.0
    seed: int = 0
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    clock: str = "default"
    max_gap_s: float | None = None
    kin_sigma_s: float = 5 / 60
    kin_order: int = 1
    window_beats: int | None = None  # beat-synchronous windows when set
    hop_beats: int = 1
    frames_per_beat: int = 16
    pairing: str = "auto"  # auto | snapshot | sequence (sparse MotionMix streams)
    context_s: tuple[float, float] = (4.0, 1.0)  # snapshot mode: audio seconds before, after
    cameras: str = "separate"  # separate | fused (MotionMix multi-camera sessions)
    split_by: str = "session"  # session | time-block
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps_exact(self) -> Fraction:
        return as_rate(self.fps)

    @property
    def hop(self) -> int:
        return hop_for_fps(self.sr_hz, self.fps_exact)

    @property
    def window_frames(self) -> int:
        return seconds_to_whole_frames(self.window_s, self.fps_exact, what="--window-s")

    @property
    def hop_frames(self) -> int:
        return seconds_to_whole_frames(self.hop_s, self.fps_exact, what="--hop-s")

    def validate(self) -> BuildConfig:
        """Raise ``ValueError`` with a user-facing message for an impossible config."""
        _ = self.hop, self.window_frames, self.hop_frames
        if self.window_frames < 2 or self.hop_frames < 1:
            raise ValueError("a window needs at least 2 frames and a hop at least 1")
        if self.window_beats is not None and (self.window_beats < 1 or self.hop_beats < 1
                                              or self.frames_per_beat < 2):
            raise ValueError("--window-beats/--hop-beats need >= 1 and --frames-per-beat >= 2")
        if len(self.split_ratios) != 3 or min(self.split_ratios) < 0 or sum(self.split_ratios) <= 0:
            raise ValueError(f"--split-ratios needs three non-negative numbers, got "
                             f"{self.split_ratios}")
        if self.pairing not in ("auto", "snapshot", "sequence"):
            raise ValueError(f"--pairing must be auto, snapshot or sequence, not {self.pairing!r}")
        if self.cameras not in ("separate", "fused"):
            raise ValueError(f"--cameras must be separate or fused, not {self.cameras!r}")
        if self.split_by not in ("session", "time-block"):
            raise ValueError(f"--split-by must be session or time-block, not {self.split_by!r}")
        for what, s in zip(("before", "after"), self.context_s, strict=True):
            seconds_to_whole_frames(s, self.fps_exact, what=f"snapshot context {what}")
        if sum(self.context_s) <= 0 or min(self.context_s) < 0:
            raise ValueError(f"snapshot context {self.context_s} s: need >= 0 and a positive sum")
        return self

    def resolved(self) -> dict[str, Any]:
        d = asdict(self)
        d["split_ratios"] = list(self.split_ratios)
        d["context_s"] = list(self.context_s)
        d.update(hop=self.hop, fps_exact=str(self.fps_exact), window_frames=self.window_frames,
                 hop_frames=self.hop_frames)
        return d

    def sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.resolved()).encode()).hexdigest()
