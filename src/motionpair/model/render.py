"""Stick-figure rendering of a dance: an MP4 with the music (PyAV) and a PNG frame strip.

View: the front of the capture frame (x to the right, y up; z, the depth, is dropped), a
fixed scale, the camera following the root sideways so a travelling dancer stays in view.
A dot in the corner lights up on the music's beat frames.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

SIZE = 480


def _end(points: np.ndarray, end: int | tuple[int, ...] | list[int]) -> np.ndarray:
    """A segment end: joint ``end``, or the midpoint of the joints ``end`` names (the
    tang2018 layout's shoulder and neck points are midpoints)."""
    if isinstance(end, int | np.integer):
        return points[int(end)]
    return points[list(end)].mean(axis=0)


def _screen(pose: np.ndarray, scale: float, cx: np.ndarray, floor: float) -> np.ndarray:
    """(T, J, 2) pixel coordinates: x about the followed root, y up from the floor line."""
    x = (pose[..., 0] - cx[:, None]) * scale + SIZE / 2
    y = SIZE - 40 - (pose[..., 1] - floor) * scale
    return np.stack([x, y], axis=-1)


def _camera(pose: np.ndarray, fps: float, n: int | None = None
            ) -> tuple[float, np.ndarray, float]:
    """(scale, followed x per frame, floor) over the first ``n`` frames. ``pose`` may be a
    memory map of a whole song: it is read in blocks, heights from at most ~50k frames."""
    n = len(pose) if n is None else n
    sub = max(1, n // 50_000)
    ys = np.asarray(pose[:n:sub, :, 1], dtype=np.float64)
    lo, hi = np.percentile(ys, 1), np.percentile(ys, 99)
    scale = (SIZE - 100) / max(float(hi - lo), 1e-6)
    root_x = np.concatenate([np.asarray(pose[s: min(n, s + 65536), :, 0], dtype=np.float64
                                        ).mean(axis=1) for s in range(0, n, 65536)])
    k = max(1, int(fps))  # one-second moving average: a calm camera
    cx = np.convolve(np.pad(root_x, (k, k), mode="edge"), np.ones(2 * k + 1) / (2 * k + 1),
                     mode="same")[k:-k]
    return scale, cx, float(lo)


def render_mp4(pose: np.ndarray, edges: list, music_beat: np.ndarray, fps: Fraction,
               audio: str | Path, out: str | Path, *, max_s: float | None = None,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """H.264 video of the stick figure + AAC of AUDIO from t = 0 (same length). Frames are
    drawn and encoded one at a time (``pose`` may be a memory map of a whole song)."""
    import av
    from PIL import Image, ImageDraw

    out = Path(out)
    n = len(pose) if max_s is None else min(len(pose), int(max_s * float(fps)))
    scale, cx, floor = _camera(pose, float(fps), n)
    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as oc:
        vs = oc.add_stream("libx264", rate=fps)
        vs.width = vs.height = SIZE
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "23"}
        as_ = oc.add_stream("aac", rate=44100)
        as_.layout = "stereo"
        for f in range(n):
            pix_f = _screen(np.asarray(pose[f: f + 1], dtype=np.float64), scale,
                            cx[f: f + 1], floor)[0]
            if progress is not None and f % 300 == 0:
                progress(f, n)
            img = Image.new("RGB", (SIZE, SIZE), (250, 250, 248))
            d = ImageDraw.Draw(img)
            d.line([(0, SIZE - 40), (SIZE, SIZE - 40)], fill=(180, 180, 180), width=2)
            for a, b in edges:
                d.line([tuple(_end(pix_f, a)), tuple(_end(pix_f, b))], fill=(30, 60, 160),
                       width=4)
            for p in pix_f:
                d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=(200, 40, 40))
            if f < len(music_beat) and music_beat[f]:
                d.ellipse([SIZE - 40, 15, SIZE - 15, 40], fill=(240, 160, 0))
            d.text((10, 10), f"{f / float(fps):6.2f} s", fill=(0, 0, 0))
            frame = av.VideoFrame.from_image(img)
            for pkt in vs.encode(frame):
                oc.mux(pkt)
        for pkt in vs.encode():
            oc.mux(pkt)
        end_s = n / float(fps)
        res = av.AudioResampler(format="fltp", layout="stereo", rate=44100)
        with av.open(str(audio)) as ic:
            done = False
            for fr in ic.decode(audio=0):
                if fr.time is not None and fr.time >= end_s:
                    done = True
                for rf in res.resample(None if done else fr):
                    for pkt in as_.encode(rf):
                        oc.mux(pkt)
                if done:
                    break
            if not done:
                for rf in res.resample(None):
                    for pkt in as_.encode(rf):
                        oc.mux(pkt)
        for pkt in as_.encode():
            oc.mux(pkt)
    tmp.replace(out)
    return out


def draw_skeleton(ax: Any, p: np.ndarray, edges: list, lo: float, hi: float, title: str, *,
                  fontsize: float = 7) -> None:
    """One pose (J, D) on ``ax``: bones and joints, centred on its mean x, y from ``lo`` to
    ``hi`` (dataset units), no ticks; the strips' one drawing of a figure."""
    cx = p[:, 0].mean()
    for a, b in edges:
        pa, pb = _end(p, a), _end(p, b)
        ax.plot([pa[0] - cx, pb[0] - cx], [pa[1], pb[1]], color="#1e3ca0", lw=1.6)
    ax.scatter(p[:, 0] - cx, p[:, 1], s=4, color="#c82828", zorder=3)
    ax.set_xlim(-(hi - lo) / 2, (hi - lo) / 2)
    ax.set_ylim(lo - 5, hi + 5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=fontsize)


def strip_png(pose: np.ndarray, edges: list, fps: float, out: str | Path, *,
              start_s: float | None = None, n: int = 12, every_s: float = 0.5) -> Path:
    """``n`` frames, one every ``every_s`` seconds, side by side (from the song's middle by
    default), drawn with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    step = max(1, round(every_s * fps))
    start = max(0, len(pose) // 2 - n * step // 2) if start_s is None else int(start_s * fps)
    idx = [i for i in range(start, start + n * step, step) if i < len(pose)]
    lo = pose[idx][..., 1].min()
    hi = pose[idx][..., 1].max()
    fig, axes = plt.subplots(1, len(idx), figsize=(1.3 * len(idx), 2.6), sharey=True)
    for ax, i in zip(np.atleast_1d(axes), idx, strict=True):
        draw_skeleton(ax, pose[i], edges, lo, hi, f"{i / fps:.1f} s", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def training_curve_png(metrics_csv: str | Path, out: str | Path) -> Path:
    """Train MSE (raw and a 50-step moving average) and val MSE against step, log scale."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(metrics_csv).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    step = np.array([int(r["step"]) for r in rows])
    mse = np.array([float(r["mse"]) for r in rows])
    val = [(int(r["step"]), float(r["val_mse"])) for r in rows if r["val_mse"].strip()]
    k = min(50, len(mse))
    smooth = np.convolve(mse, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.plot(step, mse, color="#9ab", lw=0.6, label="train MSE (per step)")
    ax.plot(step[k - 1:], smooth, color="#1e3ca0", lw=1.6, label=f"train MSE ({k}-step mean)")
    if val:
        ax.plot(*zip(*val, strict=True), "o-", color="#c82828", label="val MSE (EMA weights)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MeanFlow MSE (normalised units)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return Path(out)
