"""Exact conversions between seconds, frames and samples.

Every frame index in motionpair is derived here, from exact rational rates
(``fractions.Fraction``), never from a truncated samples-per-frame value: a
float ``hop / sr`` accumulates error over long tracks, a ``Fraction`` does not.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import overload

import numpy as np

Rate = int | float | Fraction


def as_rate(rate: Rate) -> Fraction:
    """Return ``rate`` (frames or samples per second) as an exact ``Fraction``.

    Floats are converted through their shortest decimal repr, so ``29.97``
    becomes ``2997/100`` rather than the binary expansion of the float.

    Examples
    --------
    >>> as_rate(30)
    Fraction(30, 1)
    >>> as_rate(29.97)
    Fraction(2997, 100)
    """
    if isinstance(rate, Fraction):
        out = rate
    elif isinstance(rate, int):
        out = Fraction(rate)
    else:
        out = Fraction(repr(float(rate)))
    if out <= 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    return out


def frame_rate(sr_hz: int, hop: int) -> Fraction:
    """Feature frame rate in frames per second for a sample rate and hop (samples).

    >>> frame_rate(22050, 735)
    Fraction(30, 1)
    >>> frame_rate(22050, 512)
    Fraction(11025, 256)
    """
    return Fraction(int(sr_hz), int(hop))


def hop_for_fps(sr_hz: int, fps: Rate) -> int:
    """Hop length (samples) that puts audio features exactly on an ``fps`` grid.

    Raises ``ValueError`` when ``sr_hz / fps`` is not a whole number of samples,
    because any rounding would make the audio grid drift from the motion grid.

    >>> hop_for_fps(22050, 30)
    735
    """
    hop = Fraction(int(sr_hz)) / as_rate(fps)
    if hop.denominator != 1:
        raise ValueError(
            f"sr={sr_hz} Hz / fps={fps} = {float(hop):.4f} samples is not a whole hop; "
            f"choose an sr that is a multiple of the fps (e.g. {suggest_sr(fps)} Hz)"
        )
    return int(hop)


def suggest_sr(fps: Rate, *, near_hz: int = 22050) -> int:
    """Smallest sample rate >= ``near_hz`` for which ``sr / fps`` is a whole hop."""
    # sr / (num/den) = sr*den/num is whole iff num divides sr (num, den coprime)
    step = as_rate(fps).numerator
    return int(math.ceil(near_hz / step) * step)


@overload
def frames_to_time(frames: int, fps: Rate) -> float: ...
@overload
def frames_to_time(frames: np.ndarray, fps: Rate) -> np.ndarray: ...
def frames_to_time(frames: np.ndarray | int, fps: Rate) -> np.ndarray | float:
    """Seconds at the start of frame index ``frames`` on a grid of rate ``fps``.

    >>> frames_to_time(108000, 30)
    3600.0
    """
    f = as_rate(fps)
    if np.isscalar(frames):
        return float(Fraction(int(frames)) / f)  # type: ignore[arg-type]  # np.isscalar's TypeGuard drops int
    arr = np.asarray(frames, dtype=np.int64)
    # integer numerator first, one division last: exact to float precision, no accumulation
    return (arr * f.denominator) / float(f.numerator)


def frames_to_seconds_exact(frames: int | Fraction, fps: Rate) -> Fraction:
    """Exact seconds spanned by a (possibly fractional) number of frames at ``fps``.

    For frame counts that are not whole, e.g. tang2018's 12.5 skeleton frames per beat.

    >>> frames_to_seconds_exact(Fraction(25, 2), 25)
    Fraction(1, 2)
    >>> float(frames_to_seconds_exact(30, Fraction(11025, 256)))
    0.6965986394557823
    """
    return Fraction(frames) / as_rate(fps)


def frame_duration_s(fps: Rate) -> float:
    """The frame step in seconds as a float (``1 / fps``), for finite differences.

    >>> frame_duration_s(25)
    0.04
    """
    return 1.0 / float(as_rate(fps))


@overload
def frame_position(t_s: float, fps: Rate, *, first_frame: int = 0) -> float: ...
@overload
def frame_position(t_s: np.ndarray, fps: Rate, *, first_frame: int = 0) -> np.ndarray: ...
def frame_position(t_s: np.ndarray | float, fps: Rate, *,
                   first_frame: int = 0) -> np.ndarray | float:
    """Fractional frame index of time ``t_s`` on a grid whose index 0 is ``first_frame``.

    Frame ``k`` starts at ``(first_frame + k) / fps`` s, so the position is
    ``t_s * fps - first_frame``: unrounded, for interpolating between frames or
    expressing a duration in frames (e.g. a smoothing width). See :func:`time_to_frames`
    for whole frame indices.

    >>> frame_position(1.0, 30, first_frame=20)
    10.0
    >>> frame_position(np.array([0.0, 0.05]), Fraction(25)).tolist()
    [0.0, 1.25]
    """
    pos = np.asarray(t_s) * float(as_rate(fps)) - first_frame
    return float(pos) if np.ndim(t_s) == 0 else pos


def time_to_frames(t_s: np.ndarray | float, fps: Rate, *,
                   rounding: str = "floor") -> np.ndarray | int:
    """Frame index that holds time ``t_s`` on a grid of rate ``fps``.

    ``rounding`` is ``"floor"`` (the frame whose span contains ``t_s``),
    ``"nearest"`` or ``"ceil"`` (first frame starting at or after ``t_s``).
    Float times are snapped to the frame grid within 1e-9 s so that
    ``time_to_frames(frames_to_time(k))`` is always ``k``.
    """
    f = as_rate(fps)
    x = np.asarray(t_s, dtype=np.float64) * f.numerator / f.denominator
    near = np.rint(x)
    snapped = np.where(np.abs(x - near) < 1e-9 * float(f), near, x)
    if rounding == "floor":
        out = np.floor(snapped)
    elif rounding == "ceil":
        out = np.ceil(snapped)
    elif rounding == "nearest":
        out = np.floor(snapped + 0.5)
    else:
        raise ValueError(f"rounding must be floor, ceil or nearest, not {rounding!r}")
    out = out.astype(np.int64)
    return int(out) if np.ndim(t_s) == 0 else out


def frames_to_samples(frames: np.ndarray | int, *, hop: int) -> np.ndarray | int:
    """Sample index of the centre of feature frame ``frames`` (librosa ``center=True``)."""
    if np.isscalar(frames):
        return int(frames) * int(hop)  # type: ignore[arg-type]  # np.isscalar's TypeGuard drops int
    return np.asarray(frames, dtype=np.int64) * int(hop)


def samples_to_frames(samples: np.ndarray | int, *, hop: int) -> np.ndarray | int:
    """Feature frame index whose centre is at or before ``samples``."""
    if np.isscalar(samples):
        return int(samples) // int(hop)  # type: ignore[arg-type]  # np.isscalar's TypeGuard drops int
    return np.asarray(samples, dtype=np.int64) // int(hop)


def frames_to_onehot(frames: np.ndarray, n_frames: int) -> np.ndarray:
    """A ``(n_frames,)`` uint8 array that is 1 at each frame index in ``frames``.

    Indices outside ``0 .. n_frames - 1`` are dropped (an event detected past the last
    whole frame has no frame to mark); repeated indices mark their frame once.

    Examples
    --------
    >>> frames_to_onehot(np.array([0, 2, 2, 7, -1]), 5).tolist()
    [1, 0, 1, 0, 0]
    """
    out = np.zeros(n_frames, dtype=np.uint8)
    idx = np.asarray(frames, dtype=np.int64)
    out[idx[(idx >= 0) & (idx < n_frames)]] = 1
    return out


def n_frames_covering(duration_s: float, fps: Rate) -> int:
    """Number of whole frames of rate ``fps`` that start before ``duration_s``.

    Frame k covers [k/fps, (k+1)/fps); a grid frame is counted only if its
    whole span lies inside the stream.
    """
    return int(time_to_frames(duration_s, fps, rounding="floor"))


def seconds_to_whole_frames(duration_s: Rate, fps: Rate, *, what: str = "duration") -> int:
    """Convert a duration to an exact whole number of frames, or raise.

    >>> seconds_to_whole_frames(5, 30)
    150
    """
    n = as_rate(duration_s) * as_rate(fps)
    if n.denominator != 1:
        raise ValueError(f"{what}={float(as_rate(duration_s))} s is not a whole number of "
                         f"frames at {fps} fps")
    return int(n)


def parse_rate(text: str | Rate) -> Fraction:
    """A frame rate typed by a user, exactly: ``"30"``, ``"22050/512"``, ``"43.06640625"``.

    Decimals are read as the exact decimal they spell (``"43.0664"`` is ``53833/1250``,
    *not* librosa's 22050/512 grid), so a rate is never silently snapped to a nearby grid.

    >>> parse_rate("22050/512")
    Fraction(11025, 256)
    >>> parse_rate("30")
    Fraction(30, 1)
    """
    if not isinstance(text, str):
        return as_rate(text)
    try:
        out = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"rate {text!r} is not a number or a fraction like 22050/512") from None
    return as_rate(out)


def format_rate(fps: Rate) -> str:
    """An exact rate as text that :func:`parse_rate` reads back: ``"30"``, ``"11025/256"``.

    >>> format_rate(Fraction(22050, 512))
    '11025/256'
    """
    return str(as_rate(fps))


def seconds_to_nearest_frames(duration_s: Rate, fps: Rate) -> int:
    """The whole number of frames nearest to ``duration_s`` at ``fps`` (halves round up).

    Exact: ``duration_s`` is read as the decimal it spells, the product is a Fraction.

    >>> seconds_to_nearest_frames(5, Fraction(22050, 512))
    215
    >>> seconds_to_nearest_frames(5, 30)
    150
    """
    n = as_rate(duration_s) * as_rate(fps) if duration_s != 0 else Fraction(0)
    return int(math.floor(n + Fraction(1, 2)))
