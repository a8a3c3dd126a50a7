"""A MotionMix capture DERIVED from real tang2018 data, generated at test time.

Nothing here is real MotionMix data: a playlist of real tang2018 tracks (their
MP3s through ``prep-audio``) and one session whose ~1 Hz snapshots are sampled
from the real motion (placed on the song by the tang2018 linear clock map),
projected to 2-D for four virtual cameras, with wall-clock timestamps of a
session that played the playlist back to back from its start (or with pauses and
playback events). The session's metadata.json and the playlist's manifest.json say
``"derived": true`` with a note; the NPZ hold real features of real audio. Outside a
dance's span (and in pauses / the tail) a snapshot repeats the dance's nearest real
frame. The truth of the derivation is returned for checking.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from motionpair.prep import prep_playlist
from motionpair.sources import tang2018

SESSION_START = datetime(2026, 4, 8, 13, 31, 32, tzinfo=UTC)
CAMERA_YAW_DEG = {"cam0": 0.0, "cam1": 90.0, "cam2": 180.0, "cam3": 270.0}
DERIVED_NOTE = "DERIVED test fixture from tang2018 motion capture; not a real MotionMix capture"


@dataclass
class Truth:
    root: Path  # the capture root to scan/build: holds audio/ and sessions/
    track_ids: list[str]
    durations_s: list[float]
    starts_s: list[float]  # each track's start in the session (seconds since session start)
    snapshots: list[dict] = field(default_factory=list)  # t_s, camera, track (or -1), track_t_s


def _iso(t_s: float) -> str:
    return (SESSION_START + timedelta(seconds=t_s)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def project(joints: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Orthographic view of (J, 3) cm joints from a camera at ``yaw_deg``: (J, 2) pixels."""
    a = np.deg2rad(yaw_deg)
    x = joints[:, 0] * np.cos(a) - joints[:, 2] * np.sin(a)
    return np.stack([640 + 2.0 * x, 360 - 2.0 * (joints[:, 1] - 90.0)], axis=1)


def make_capture(tang_dir: Path, root: Path, *, sessions: tuple[str, ...] = (
        "DANCE_C_2", "DANCE_R_3", "DANCE_W_3"), rate_hz: float = 1.0, jitter_s: float = 0.15,
                 tail_s: float = 12.0, seed: int = 0, pause_s: float = 0.0,
                 manifest: bool = True, prepared: Path | None = None) -> Truth:
    """Write ``root/capture/{audio/playlist-01, sessions/playlist-01-<UTC>}``; return truth.

    ``pause_s`` > 0 inserts that pause between tracks and records playback events in
    metadata.json (gapless playback would then be wrong: matching must use the events).
    ``manifest=False`` removes the playlist manifest.json (order then from file names).
    The source MP3 symlinks live in ``root/src_audio``, outside the capture root.
    """
    src = root / "src_audio" / "playlist-01"
    for s in sessions:
        (src / s).mkdir(parents=True, exist_ok=True)
        (src / s / "audio.mp3").symlink_to(tang_dir / s / "audio.mp3")
    cap = root / "capture"
    if prepared is None:
        man = prep_playlist(src, cap / "audio")
    else:  # reuse a playlist prepared by an earlier call (prep-audio is the slow part)
        shutil.copytree(prepared, cap / "audio" / "playlist-01")
        man = json.loads((prepared / "manifest.json").read_text())
    mpath = cap / "audio" / "playlist-01" / "manifest.json"
    if not manifest:
        mpath.unlink()
    elif prepared is None:
        mpath.write_text(json.dumps({**man, "derived": True, "note": DERIVED_NOTE}, indent=2))
    track_ids = [t["track_id"] for t in man["tracks"]]
    durations = [t["duration_s"] for t in man["tracks"]]
    starts = np.concatenate([[0.0], np.cumsum(np.asarray(durations) + pause_s)])
    starts[-1] -= pause_s  # the session ends tail_s after the last track, no pause after it
    truth = Truth(root=cap, track_ids=track_ids, durations_s=durations,
                  starts_s=[float(x) for x in starts[:-1]])
    ends = starts[:-1] + np.asarray(durations)
    rng = np.random.default_rng(seed)
    motions = []
    for s in sessions:
        spec, _, _ = tang2018.scan_folder(tang_dir, tang_dir / s)
        pose = tang2018.load_pose(spec)
        clock = tang2018.linear_clock(spec)
        motions.append((clock.to_track(pose.times_s), pose.joints))
    snaps = []
    t_end = starts[-1] + tail_s
    base = np.arange(0.5, t_end, 1.0 / rate_hz)
    for cam_i, (cam, yaw) in enumerate(CAMERA_YAW_DEG.items()):
        times = base + cam_i * 0.05 + rng.uniform(-jitter_s, jitter_s, len(base))
        for t in np.round(times, 3):  # the ISO timestamps carry milliseconds
            k = int(np.searchsorted(starts, t, side="right") - 1)
            in_track = 0 <= k < len(sessions) and t < ends[k]
            tau = t - starts[k] if in_track else None
            mt, mj = motions[min(k, len(sessions) - 1)]
            # pose from the real motion at this track time; outside the dance, its nearest frame
            src_t = tau if in_track else mt[-1]
            fi = int(np.clip(np.searchsorted(mt, src_t), 0, len(mt) - 1))
            joints2d = project(mj[fi], yaw)
            snaps.append({"t": _iso(float(t)), "camera": cam,
                          "joints": np.round(joints2d, 2).tolist(),
                          "confidence": [0.9 - 0.1 * cam_i] * len(joints2d)})
            truth.snapshots.append({"t_s": float(t), "camera": cam,
                                    "track": k if in_track else -1,
                                    "track_t_s": float(tau) if in_track else None})
    snaps.sort(key=lambda s: (s["t"], s["camera"]))
    sdir = cap / "sessions" / f"playlist-01-{SESSION_START.strftime('%Y-%m-%dT%H-%M-%SZ')}"
    sdir.mkdir(parents=True)
    meta = {"session_id": sdir.name, "playlist": "playlist-01", "started_at": _iso(0.0),
            "cameras": list(CAMERA_YAW_DEG), "derived": True, "note": DERIVED_NOTE}
    if pause_s > 0:
        meta["playback_events"] = [{"t": _iso(float(st)), "track_id": tid}
                                   for st, tid in zip(starts[:-1], track_ids, strict=True)]
    (sdir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    with open(sdir / "snapshots.jsonl", "w") as f:
        for s in snaps:
            f.write(json.dumps(s) + "\n")
    return truth
