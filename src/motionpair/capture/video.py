"""Video and its audio, decoded with PyAV on each frame's own presentation timestamp.

A camera drops frames; its container then skips presentation timestamps (PTS).
Frame times here are always ``pts * time_base`` (an exact ``Fraction`` of seconds),
never ``index / fps``: in ``dancer.avi`` one dropped frame puts ``index / 25`` 40 ms
off for every later frame. The camera clock's zero is the container's time zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

#: A decode that yields fewer frames than this share of the header's count is "truncated".
MIN_DECODED_SHARE = 0.98
CAMERA_CLOCK = "capture.camera_clock_is_video_pts"
AUDIO_START = "capture.audio_starts_at_its_first_pts"
ASSUMPTIONS = {
    CAMERA_CLOCK: "a camera's clock is its video's presentation timestamps (pts * time_base, "
                  "s); frame times come from each frame's own PTS, never index / fps",
    AUDIO_START: "the first decoded audio sample plays at the audio stream's first PTS on the "
                 "same container clock as the video (codec priming samples, if any, are not "
                 "removed beyond what the decoder removes)",
}


class VideoError(ValueError):
    """A video that cannot be used; the message starts with the file's path."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (and its first audio stream)."""

    path: str
    codec: str
    width: int
    height: int
    time_base: Fraction  # s per PTS tick of the video stream
    nominal_fps: Fraction | None  # the stream's declared average rate
    declared_frames: int  # the header's frame count (0: not declared)
    duration_s: float | None  # the container's duration
    creation_time: str | None  # container metadata ``creation_time`` when present
    audio_codec: str | None
    audio_sr_hz: int | None
    audio_channels: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"codec": self.codec, "width": self.width, "height": self.height,
                "time_base": str(self.time_base),
                "nominal_fps": str(self.nominal_fps) if self.nominal_fps else None,
                "declared_frames": self.declared_frames, "duration_s": self.duration_s,
                "creation_time": self.creation_time, "audio_codec": self.audio_codec,
                "audio_sr_hz": self.audio_sr_hz, "audio_channels": self.audio_channels}


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its decode index, PTS (ticks), time (s, exact) and RGB image."""

    index: int
    pts: int
    time_s: Fraction
    image: np.ndarray | None  # (H, W, 3) uint8 RGB, None when not requested


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:  # type: ignore[attr-defined]
        raise VideoError(f"{path}: not a readable video container ({exc})") from None


def probe(path: str | Path) -> VideoInfo:
    """Container facts of ``path``; ``VideoError`` (naming the file) if no decodable video.

    An unsupported codec (one this FFmpeg build has no decoder for) is refused here,
    before any frame is read.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    with _open(path) as c:
        if not c.streams.video:
            raise VideoError(f"{path}: holds no video stream")
        v = c.streams.video[0]
        name = v.codec_context.name if v.codec_context is not None else None
        tag = v.codec_context.codec_tag if v.codec_context is not None else ""
        try:
            if not name or name == "none":
                raise ValueError("no decoder")
            av.codec.Codec(name, "r")
        except (ValueError, av.error.FFmpegError):  # type: ignore[attr-defined]
            what = f"{name!r}" + (f" (FourCC {tag!r})" if tag else "") if name \
                else "(not recognised)"
            raise VideoError(f"{path}: unsupported video codec {what}: PyAV {av.__version__}'s "
                             "FFmpeg has no decoder for it") from None
        a = c.streams.audio[0] if c.streams.audio else None
        rate = v.average_rate or v.base_rate
        meta = dict(c.metadata) | dict(v.metadata)
        return VideoInfo(
            path=str(path), codec=name, width=int(v.codec_context.width),
            height=int(v.codec_context.height), time_base=Fraction(v.time_base),
            nominal_fps=Fraction(rate) if rate else None, declared_frames=int(v.frames or 0),
            duration_s=float(c.duration) / av.time_base if c.duration else None,
            creation_time=meta.get("creation_time"),
            audio_codec=a.codec_context.name if a is not None else None,
            audio_sr_hz=int(a.codec_context.sample_rate) if a is not None else None,
            audio_channels=int(a.codec_context.channels) if a is not None else None)


def frames(path: str | Path, *, want_image: Callable[[int, Fraction], bool] | None = None,
           ) -> Iterator[Frame]:
    """Decode every video frame in presentation order with its own PTS.

    Parameters
    ----------
    path : the video file.
    want_image : ``(index, time_s) -> bool``; only those frames are converted to RGB
        (conversion is the costly part). Default: every frame.

    Raises ``VideoError`` naming the file when decoding fails part-way or a frame has
    no PTS (a clock this module will not guess).
    """
    import av

    path = Path(path)
    with _open(path) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        tb = Fraction(v.time_base)
        i = 0
        try:
            for fr in c.decode(v):
                if fr.pts is None:
                    raise VideoError(f"{path}: frame {i} has no presentation timestamp")
                t = fr.pts * tb
                img = fr.to_ndarray(format="rgb24") if want_image is None or want_image(i, t) \
                    else None
                yield Frame(index=i, pts=int(fr.pts), time_s=t, image=img)
                i += 1
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            raise VideoError(f"{path}: decoding failed after {i} frame(s) ({exc}): "
                             "truncated or damaged file") from None


def check_complete(info: VideoInfo, n_decoded: int, last_time_s: float | None) -> None:
    """``VideoError`` when fewer frames decode than the header or the duration promise."""
    if n_decoded == 0:
        raise VideoError(f"{info.path}: no video frame decodes")
    if info.declared_frames and n_decoded < MIN_DECODED_SHARE * info.declared_frames:
        raise VideoError(f"{info.path}: truncated: the header declares {info.declared_frames} "
                         f"frames but only {n_decoded} decode")
    if (not info.declared_frames and info.duration_s and last_time_s is not None
            and last_time_s < MIN_DECODED_SHARE * info.duration_s - 1.0):
        raise VideoError(f"{info.path}: truncated: the container declares "
                         f"{info.duration_s:.2f} s but frames end at {last_time_s:.2f} s")


@dataclass(frozen=True)
class Audio:
    """A video's audio: mono float32 at its native rate, and the time of its first sample."""

    samples: np.ndarray
    sr_hz: int
    first_sample_s: Fraction  # on the camera clock (container time)
    channels: int
    discontinuities: int  # audio frames whose PTS did not follow the previous frame's end

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sr_hz


def decode_audio(path: str | Path) -> Audio:
    """The first audio stream, channels averaged (as
    :func:`motionpair.features.audio.decode_audio`).

    ``VideoError`` naming the file when there is no audio stream, it decodes to no
    samples, or it decodes to much less than the stream declares (truncated).
    """
    import av

    path = Path(path)
    with _open(path) as c:
        if not c.streams.audio:
            raise VideoError(f"{path}: holds no audio track: the music must come with the "
                             "video (its own recorded sound)")
        a = c.streams.audio[0]
        tb = Fraction(a.time_base)
        declared_s = float(a.duration * tb) if a.duration else None
        sr = int(a.codec_context.sample_rate)
        resampler = av.AudioResampler(format="fltp", rate=sr)  # planar float, native rate
        chunks: list[np.ndarray] = []
        first: Fraction | None = None
        expected: Fraction | None = None
        jumps = 0
        n = 0
        try:
            for fr in c.decode(a):
                if first is None and fr.pts is not None:
                    first = fr.pts * tb
                if fr.pts is not None and expected is not None \
                        and abs(fr.pts * tb - expected) > Fraction(1, sr):
                    jumps += 1
                if fr.pts is not None:
                    expected = fr.pts * tb + Fraction(fr.samples, sr)
                for out in resampler.resample(fr):
                    arr = out.to_ndarray()
                    chunks.append(arr.mean(axis=0).astype(np.float32))
                    n = arr.shape[0]
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            raise VideoError(f"{path}: audio decoding failed ({exc}): truncated or damaged "
                             "file") from None
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().mean(axis=0).astype(np.float32))
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if len(y) == 0:
        raise VideoError(f"{path}: the audio track decodes to zero samples")
    if declared_s and len(y) / sr < MIN_DECODED_SHARE * declared_s - 0.1:
        raise VideoError(f"{path}: truncated: the audio track declares {declared_s:.2f} s "
                         f"but only {len(y) / sr:.2f} s decode")
    return Audio(samples=np.ascontiguousarray(y), sr_hz=sr, first_sample_s=first or Fraction(0),
                 channels=max(n, 1), discontinuities=jumps)


@dataclass(frozen=True)
class Checked:
    """A video that passed :func:`check`: container facts, audio, every frame's PTS and time."""

    info: VideoInfo
    audio: Audio
    pts: list[int]
    times_s: list[Fraction]


def check(path: str | Path) -> Checked:
    """Probe, decode the audio and every frame's timestamp; ``VideoError`` names the problem.

    Refused: not a container, no video stream, unsupported codec, no audio track,
    audio or video truncated (decodes short of what the header declares), a frame
    without PTS.
    """
    info = probe(path)
    audio = decode_audio(path)
    pts: list[int] = []
    times: list[Fraction] = []
    for fr in frames(path, want_image=lambda i, t: False):
        pts.append(fr.pts)
        times.append(fr.time_s)
    check_complete(info, len(times), float(times[-1]) if times else None)
    return Checked(info=info, audio=audio, pts=pts, times_s=times)
