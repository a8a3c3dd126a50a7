"""Videos DERIVED from the real ``video/dancer.avi`` at test time (never stored, never real).

Each helper writes a modified copy into a temporary folder: a truncated copy, the
video without its audio track, a clip whose picture is a crop of the empty backdrop
(no person in view), a copy whose codec FourCC is replaced by one no decoder knows,
and two overlapping "camera" recordings cut from the same file at known start times.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

BACKDROP_CROP = (0, 0, 96, 96)  # x, y, w, h: top-left corner of dancer.avi, backdrop only


def truncated_copy(src: Path, dst: Path, share: float = 0.4) -> Path:
    """The first ``share`` of the file's bytes (a copy cut off mid-stream)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


def without_audio(src: Path, dst: Path) -> Path:
    """The video stream alone, remuxed packet for packet (no re-encode)."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", format="avi") as o:
        vin = i.streams.video[0]
        vout = o.add_stream_from_template(vin)
        for pkt in i.demux(vin):
            if pkt.dts is None:
                continue
            pkt.stream = vout
            o.mux(pkt)
    return dst


def unknown_codec(src: Path, dst: Path) -> Path:
    """A byte copy whose video FourCC (stream header + format) says ``ZZZZ``."""
    data = src.read_bytes()
    head = data[:8192].replace(b"FMP4", b"ZZZZ")
    assert head != data[:8192], "dancer.avi's FourCC FMP4 not found"
    dst.write_bytes(head + data[8192:])
    return dst


def _encode(dst: Path, frames: list[tuple[Fraction, np.ndarray]], audio: np.ndarray,
            sr_hz: int, *, fps: int = 25) -> None:
    """Encode RGB frames at their times (ms PTS) + mono float audio (PCM) into MKV."""
    import av

    h, w = frames[0][1].shape[:2]
    with av.open(str(dst), "w", format="matroska") as o:
        vs = o.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vs.time_base = Fraction(1, 1000)
        vs.codec_context.time_base = Fraction(1, 1000)
        as_ = o.add_stream("pcm_s16le", rate=sr_hz, layout="mono")
        for t, img in frames:
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[: vs.height, : vs.width]),
                                            format="rgb24")
            fr.pts = int(round(t * 1000))
            fr.time_base = Fraction(1, 1000)
            for pkt in vs.encode(fr):
                o.mux(pkt)
        for pkt in vs.encode(None):
            o.mux(pkt)
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
        step = 1024
        for k in range(0, len(pcm), step):
            af = av.AudioFrame.from_ndarray(pcm[None, k:k + step], format="s16", layout="mono")
            af.sample_rate = sr_hz
            af.pts = k
            af.time_base = Fraction(1, sr_hz)
            for pkt in as_.encode(af):
                o.mux(pkt)
        for pkt in as_.encode(None):
            o.mux(pkt)


def _decoded(src: Path, t0: float, t1: float, crop=None) -> list[tuple[Fraction, np.ndarray]]:
    from motionpair.capture import video

    out = []
    for fr in video.frames(src, want_image=lambda i, t: t0 <= t < t1):
        if fr.image is not None:
            img = fr.image
            if crop is not None:
                x, y, w, h = crop
                img = np.repeat(np.repeat(img[y:y + h, x:x + w], 4, 0), 4, 1)  # 4x upscaled
            out.append((fr.time_s, img))
    return out


def camera_cut(src: Path, dst: Path, start_s: float, length_s: float) -> float:
    """A "camera" that recorded ``[start, start + length)`` of ``src``; returns the exact start.

    Audio is cut at a sample boundary (the returned start is that sample's time) and
    re-encoded as PCM; video frames keep their real times minus the start (ms PTS).
    """
    from motionpair.capture import video

    a = video.decode_audio(src)
    s0 = int(round(start_s * a.sr_hz))
    exact = s0 / a.sr_hz + float(a.first_sample_s)
    y = a.samples[s0: s0 + int(round(length_s * a.sr_hz))]
    frames = [(t - Fraction(exact).limit_denominator(10**6), img)
              for t, img in _decoded(src, exact, exact + length_s)]
    _encode(dst, frames, y, a.sr_hz)
    return exact


def no_person_clip(src: Path, dst: Path, length_s: float = 3.0) -> Path:
    """The first seconds of ``src`` with the picture cropped to the backdrop (nobody in view)."""
    from motionpair.capture import video

    a = video.decode_audio(src)
    frames = _decoded(src, 0.0, length_s, crop=BACKDROP_CROP)
    _encode(dst, frames, a.samples[: int(length_s * a.sr_hz)], a.sr_hz)
    return dst


def occluded_clip(src: Path, dst: Path, start_s: float, length_s: float, *,
                  every: int = 5) -> tuple[float, list[float]]:
    """A full-rate camera cut whose every ``every``-th frame shows only the backdrop colour.

    Returns ``(exact start, camera times of the blanked frames)``: those frames have
    no person in view and must come out as missing detections.
    """
    from motionpair.capture import video

    a = video.decode_audio(src)
    s0 = int(round(start_s * a.sr_hz))
    exact = s0 / a.sr_hz
    y = a.samples[s0: s0 + int(round(length_s * a.sr_hz))]
    start = Fraction(exact).limit_denominator(10**6)
    frames, blank = [], []
    for k, (t, img) in enumerate(_decoded(src, exact, exact + length_s)):
        if k % every == every // 2:
            img = np.broadcast_to(img[:8, :8].reshape(-1, 3).mean(0).astype(np.uint8),
                                  img.shape).copy()
            blank.append(round(float(t - start), 3))
        frames.append((t - start, img))
    _encode(dst, frames, y, a.sr_hz)
    return exact, blank
