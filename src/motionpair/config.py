"""The build configuration: every knob that affects the output, resolved and hashed."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from motionpair.cache import canonical_json
from motionpair.timebase import (
    format_rate,
    frames_to_time,
    hop_for_fps,
    parse_rate,
    seconds_to_nearest_frames,
)

SCHEMA_VERSION = "motionpair.dataset/1"

#: The grid of a build over raw audio when ``--fps auto`` finds no NPZ playlist to follow.
DEFAULT_FPS = Fraction(30)


def check_range(name: str, value: float | None, lo: float, hi: float, *,
                open_low: bool = False) -> None:
    """``ValueError`` naming ``name`` unless ``value`` (None passes) is a finite number in
    ``[lo, hi]`` (``(lo, hi]`` when ``open_low``)."""
    import math

    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if value < lo or (open_low and value == lo) or value > hi:
        def fmt(x: float) -> str:
            return str(x) if isinstance(x, int) else f"{x:g}"

        low = f"> {fmt(lo)}" if open_low else f">= {fmt(lo)}"
        raise ValueError(f"{name} must be {low} and <= {fmt(hi)}, got {fmt(value)}")


@dataclass(frozen=True)
class BuildConfig:
    """Options of ``motionpair build`` that change the dataset (not workers/cache/out)."""

    fps: float | str = "auto"  # "auto" | a number | an exact fraction "22050/512"
    sr_hz: int = 22050
    n_mels: int = 128
    n_fft: int = 2048
    n_mfcc: int = 20
    window_s: float = 5.0
    hop_s: float = 1.0
    window_n_frames: int | None = None  # exact window length in frames (wins over window_s)
    hop_n_frames: int | None = None  # exact window hop in frames (wins over hop_s)
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
    # --splits FILE: ((session, split), ...) pinned; --stratify style: splits inside each style.
    # Both left out of resolved() when unset, so a default build's config hash is unchanged.
    split_list: tuple[tuple[str, str], ...] | None = None
    stratify: str | None = None
    fps_asked: str = ""  # what --fps said, kept when build() resolves "auto" (grid.py)
    grid_from: str = ""  # how the build's grid was chosen (grid.py), for dataset.json
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps_exact(self) -> Fraction:
        """The build's exact frame rate; ``"auto"`` not yet resolved reads as :data:`DEFAULT_FPS`.

        ``build()`` resolves ``"auto"`` to the NPZ playlists' own grid
        (:mod:`motionpair.build.grid`).
        """
        if isinstance(self.fps, str) and self.fps.strip().lower() == "auto":
            return DEFAULT_FPS
        return parse_rate(self.fps)

    @property
    def fps_is_auto(self) -> bool:
        return isinstance(self.fps, str) and self.fps.strip().lower() == "auto"

    @property
    def hop(self) -> int:
        return hop_for_fps(self.sr_hz, self.fps_exact)

    @property
    def window_frames(self) -> int:
        """Window length in frames: ``window_n_frames``, else ``window_s`` to the nearest frame."""
        if self.window_n_frames is not None:
            return int(self.window_n_frames)
        return seconds_to_nearest_frames(self.window_s, self.fps_exact)

    @property
    def hop_frames(self) -> int:
        """Window hop in frames: ``hop_n_frames``, else ``hop_s`` to the nearest frame."""
        if self.hop_n_frames is not None:
            return int(self.hop_n_frames)
        return seconds_to_nearest_frames(self.hop_s, self.fps_exact)

    @property
    def context_frames(self) -> tuple[int, int]:
        """Snapshot context (before, after) in frames: ``context_s`` to the nearest frame."""
        return (seconds_to_nearest_frames(self.context_s[0], self.fps_exact),
                seconds_to_nearest_frames(self.context_s[1], self.fps_exact))

    def lengths(self) -> dict[str, Any]:
        """Asked seconds and the exact frames and seconds used, for dataset.json."""
        fps = self.fps_exact

        def one(asked_s: float, frames: int, exact_frames: int | None) -> dict[str, Any]:
            return {"asked_s": asked_s, "asked_frames": exact_frames, "frames": frames,
                    "used_s": float(frames_to_time(frames, fps)),
                    "used_s_exact": format_rate(Fraction(frames) / fps) if frames else "0",
                    "rounding": "exact frames given" if exact_frames is not None else
                    "nearest whole frame (halves round up)"}

        return {"fps": format_rate(fps),
                "window": one(self.window_s, self.window_frames, self.window_n_frames),
                "hop": one(self.hop_s, self.hop_frames, self.hop_n_frames),
                "context_before": one(self.context_s[0], self.context_frames[0], None),
                "context_after": one(self.context_s[1], self.context_frames[1], None)}

    def validate(self) -> BuildConfig:
        """Raise ``ValueError`` with a user-facing message for an impossible config."""
        self._check_ranges()
        if not self.fps_is_auto:
            try:
                rate = parse_rate(self.fps)
            except (ValueError, ZeroDivisionError, OverflowError) as exc:
                raise ValueError(f"--fps: {exc}") from exc
            if not 1 <= rate <= 1000:  # a feature frame grid, not an audio sample rate
                raise ValueError(f"--fps must be >= 1 and <= 1000 frames per second, got "
                                 f"{self.fps}")
        try:
            _ = self.hop
        except ValueError as exc:
            raise ValueError(f"--sr {self.sr_hz} with --fps {self.fps}: {exc}") from exc
        if self.window_frames < 2 or self.hop_frames < 1:
            raise ValueError(f"a window needs at least 2 frames and a hop at least 1; at "
                             f"{format_rate(self.fps_exact)} fps --window-s {self.window_s:g} is "
                             f"{self.window_frames} frame(s) and --hop-s {self.hop_s:g} is "
                             f"{self.hop_frames}")
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
        if self.stratify not in (None, "style"):
            raise ValueError(f"--stratify must be style, not {self.stratify!r}")
        if self.split_list is not None and (self.stratify or self.split_by != "session"):
            raise ValueError("--splits pins every session's split: it does not combine with "
                             "--stratify or --split-by time-block")
        if self.stratify and self.split_by != "session":
            raise ValueError("--stratify style splits whole sessions: it does not combine "
                             "with --split-by time-block")
        if sum(self.context_frames) <= 0 or min(self.context_s) < 0:
            raise ValueError(f"--context-s {self.context_s} s: need >= 0 and at least "
                             f"one frame in all at {format_rate(self.fps_exact)} fps")
        return self

    def _check_ranges(self) -> None:
        """Every number finite and inside plausible bounds, the option named (before any
        derived quantity divides by it or sizes an array with it)."""
        for opt, value, lo, hi in (
                ("--sr", self.sr_hz, 1000, 384_000),
                ("--n-mels", self.n_mels, 1, 1024),
                ("--window-s", self.window_s, 0, 3600),
                ("--hop-s", self.hop_s, 0, 3600),
                ("--window-frames", self.window_n_frames, 2, 10**6),
                ("--hop-frames", self.hop_n_frames, 1, 10**6),
                ("--seed", self.seed, 0, 2**32 - 1),
                ("--max-gap-s", self.max_gap_s, 0, 3600),
                ("--window-beats", self.window_beats, 1, 10_000),
                ("--hop-beats", self.hop_beats, 1, 10_000),
                ("--frames-per-beat", self.frames_per_beat, 2, 1000),
                *((f"--split-ratios[{i}]", r, 0, 1e6) for i, r in enumerate(self.split_ratios)),
                *((f"--context-s[{i}]", c, 0, 3600) for i, c in enumerate(self.context_s))):
            check_range(opt, value, lo, hi, open_low=opt in ("--window-s", "--hop-s",
                                                             "--max-gap-s"))

    def resolved(self) -> dict[str, Any]:
        d = asdict(self)
        d["split_ratios"] = list(self.split_ratios)
        d["context_s"] = list(self.context_s)
        for key in ("split_list", "stratify"):
            if d[key] is None:
                del d[key]
        if self.split_list is not None:
            d["split_list"] = [list(x) for x in self.split_list]
        d.update(hop=self.hop, fps_exact=str(self.fps_exact), window_frames=self.window_frames,
                 hop_frames=self.hop_frames, context_frames=list(self.context_frames))
        return d

    def sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.resolved()).encode()).hexdigest()
