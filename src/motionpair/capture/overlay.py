"""Overlay a captured snapshot's skeleton on the video frame it came from (a PNG).

The snapshot is read back through the MotionMix session reader (so the picture
shows what a build will see), its frame is found in the video by its own PTS
(``round(t / time_base)``), and the video's sha256 is checked against the one the
session recorded, so a skeleton is never drawn on a different recording.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from motionpair.capture import pose, video
from motionpair.sources.common import sha256_file


def overlay(session_dir: Path, video_path: Path, out_png: Path, *, camera: str | None = None,
            time_s: float | None = None) -> dict:
    """Draw the snapshot nearest ``time_s`` (default: the middle one) over its frame.

    Returns facts about the drawn snapshot (time, PTS, frame index, index / fps).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionpair.sources.motionmix.session import read_session

    meta = json.loads((session_dir / "metadata.json").read_text(encoding="utf-8"))
    cams = meta.get("capture", {}).get("cameras", {})
    session, problems = read_session(session_dir)
    if session is None:
        raise ValueError("; ".join(p.reason for p in problems) or f"{session_dir}: unreadable")
    cam = camera or next(iter(session.streams))
    if cam not in session.streams or cam not in cams:
        raise KeyError(f"{session_dir}: no captured camera {cam!r} (has {sorted(cams)})")
    facts = cams[cam]
    sha = sha256_file(video_path)
    if sha != facts["video_sha256"]:
        raise ValueError(f"{video_path}: sha256 {sha[:12]}… is not the captured video's "
                         f"({facts['video_sha256'][:12]}…)")
    st = session.streams[cam]
    offset = float((meta.get("camera_offsets_s") or {}).get(cam, 0.0))
    cam_t = st.times_s - offset  # back on the camera's own clock
    k = int(np.argmin(np.abs(cam_t - time_s))) if time_s is not None else len(cam_t) // 2
    tb = Fraction(facts["probe"]["time_base"])
    want_pts = round(Fraction(float(cam_t[k])) / tb)
    frame = next((f for f in video.frames(video_path, want_image=lambda i, t: t == want_pts * tb)
                  if f.pts == want_pts), None)
    if frame is None or frame.image is None:
        raise ValueError(f"{video_path}: no frame with PTS {want_pts}")
    xy, conf = st.joints[k], st.confidence[k] if st.confidence is not None else None
    fps = Fraction(facts["probe"]["nominal_fps"]) if facts["probe"]["nominal_fps"] else None
    h, w = frame.image.shape[:2]
    fig, ax = plt.subplots(figsize=(w / 80, h / 80 + 0.6), dpi=80)
    ax.imshow(frame.image)
    for a, b in pose.EDGES:
        c = min(conf[a], conf[b]) if conf is not None else 1.0
        ax.plot(xy[[a, b], 0], xy[[a, b], 1], "-", color="lime" if c >= 0.5 else "orange",
                lw=2, alpha=0.9)
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=conf if conf is not None else "red", cmap="viridis",
                    vmin=0, vmax=1, s=18, zorder=3, edgecolors="black", linewidths=0.5)
    if conf is not None:
        fig.colorbar(sc, ax=ax, fraction=0.04, pad=0.01, label="visibility (confidence)")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    idx_s = float(frame.index / fps) if fps else None
    ax.set_title(f"{video_path.name} cam {cam}: frame {frame.index}, PTS {frame.pts} → "
                 f"{float(frame.time_s):.3f} s (index/fps {idx_s:.3f} s)\n"
                 f"{facts.get('frames_detected')}/{facts.get('frames_estimated')} frames with a "
                 f"detection; green: both joints visibility ≥ 0.5", fontsize=8)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    plt.close(fig)
    return {"camera": cam, "snapshot_t_s": float(st.times_s[k]), "frame_index": frame.index,
            "pts": frame.pts, "frame_time_s": float(frame.time_s), "index_over_fps_s": idx_s,
            "png": str(out_png)}
