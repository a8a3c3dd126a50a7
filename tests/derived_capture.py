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

from motionpair.build.prep_audio import prep_playlist
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


_AUDIO: dict[tuple[str, int], np.ndarray] = {}


def librosa_audio(mp3: Path, sr: int) -> np.ndarray:
    """``librosa.load(mp3, sr=sr)`` (mono), memoised per (file, sr) for the shape tests."""
    import librosa

    key = (str(mp3), int(sr))
    if key not in _AUDIO:
        _AUDIO[key] = librosa.load(mp3, sr=sr)[0]
    return _AUDIO[key]


def write_librosa_npz(mp3: Path, out: Path, *, sr: int = 22050, hop: int = 512,
                      mel: str = "power", orientation: str = "bands_first",
                      bpm: str = "array1", bpm_key: str = "bpm", beats: str = "frames",
                      scalars: str = "0d", dtype: str = "float32",
                      mel_key: str = "mel") -> float:
    """An audio-prep NPZ as a librosa user writes it, from a real MP3; returns its duration (s).

    Defaults are plain librosa: ``load`` -> ``feature.melspectrogram`` (power, (128, n)) ->
    ``beat.beat_track`` (tempo as the shape-(1,) array librosa 0.11 returns, beat frames),
    ``sr`` and ``hop_length`` as saved by ``np.savez``. Variants: ``mel="db"``
    (``power_to_db(ref=np.max)``), ``orientation="frames_first"`` ((n, 128)),
    ``bpm="scalar"``, ``bpm_key="tempo"``, ``beats="times"`` (``frames_to_time``, key
    ``beat_times``) or ``"times_in_beats"`` (seconds under the key ``beats``),
    ``scalars="0d_float"`` (sr/hop as 0-d float arrays), ``dtype="float64"``.
    """
    import librosa

    y = librosa_audio(mp3, sr)
    S = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=hop)
    tempo, beat_frames = librosa.beat.beat_track(y=y, sr=sr, hop_length=hop)
    M = librosa.power_to_db(S, ref=np.max) if mel == "db" else S
    M = M.T if orientation == "frames_first" else M
    arrays: dict[str, object] = {mel_key: M.astype(dtype)}
    arrays[bpm_key] = np.asarray(tempo).reshape(-1)[0] if bpm == "scalar" else np.atleast_1d(tempo)
    if beats == "frames":
        arrays["beat_frames"] = beat_frames
    elif beats == "times":
        arrays["beat_times"] = librosa.frames_to_time(beat_frames, sr=sr, hop_length=hop)
    else:  # beat_track(units="time") saved under "beats"
        arrays["beats"] = librosa.frames_to_time(beat_frames, sr=sr, hop_length=hop)
    if scalars == "0d":  # what np.savez makes of plain ints too
        arrays["sr"], arrays["hop_length"] = np.asarray(sr), np.asarray(hop)
    else:  # "0d_float": 0-d float arrays (e.g. sr from a float variable)
        arrays["sr"], arrays["hop_length"] = np.asarray(float(sr)), np.asarray(float(hop))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return len(y) / sr


def make_capture(tang_dir: Path, root: Path, *, sessions: tuple[str, ...] = (
        "DANCE_C_2", "DANCE_R_3", "DANCE_W_3"), rate_hz: float = 1.0, jitter_s: float = 0.15,
                 tail_s: float = 12.0, seed: int = 0, pause_s: float = 0.0,
                 manifest: bool = True, prepared: Path | None = None,
                 npz: dict | None = None, cameras: tuple[str, ...] = tuple(CAMERA_YAW_DEG),
                 resume: tuple[int, float, float] | None = None,
                 position_key: str = "position_s", max_snapshots: int | None = None) -> Truth:
    """Write ``root/capture/{audio/playlist-01, sessions/playlist-01-<UTC>}``; return truth.

    ``pause_s`` > 0 inserts that pause between tracks and records playback events in
    metadata.json (gapless playback would then be wrong: matching must use the events).
    ``manifest=False`` removes the playlist manifest.json (order then from file names).
    ``npz`` (keyword arguments of :func:`write_librosa_npz`) writes the playlist with plain
    librosa instead of prep-audio, without a manifest.json. ``resume=(k, at_s, pause_s)``:
    track k pauses at its time ``at_s`` for ``pause_s`` seconds, then a playback event resumes
    it from ``at_s`` (key ``position_key``); events are recorded for every track.
    ``max_snapshots``: the recording stopped after that many snapshots (all cameras, in
    time order); the truth keeps the same ones.
    The source MP3 symlinks live in ``root/src_audio``, outside the capture root.
    """
    src = root / "src_audio" / "playlist-01"
    for s in sessions:
        (src / s).mkdir(parents=True, exist_ok=True)
        (src / s / "audio.mp3").symlink_to(tang_dir / s / "audio.mp3")
    cap = root / "capture"
    if npz is not None:  # a librosa user's playlist: one NPZ per track, no manifest
        man = {"tracks": [{"track_id": s, "duration_s": write_librosa_npz(
            tang_dir / s / "audio.mp3", cap / "audio" / "playlist-01" / f"{s}.npz", **npz)}
            for s in sessions]}
    elif prepared is None:
        man = prep_playlist(src, cap / "audio")
    else:  # reuse a playlist prepared by an earlier call (prep-audio is the slow part)
        shutil.copytree(prepared, cap / "audio" / "playlist-01")
        man = json.loads((prepared / "manifest.json").read_text())
    mpath = cap / "audio" / "playlist-01" / "manifest.json"
    if not manifest and mpath.exists():
        mpath.unlink()
    elif prepared is None and npz is None:
        mpath.write_text(json.dumps({**man, "derived": True, "note": DERIVED_NOTE}, indent=2))
    track_ids = [t["track_id"] for t in man["tracks"]]
    durations = [t["duration_s"] for t in man["tracks"]]
    # playback segments (stream start, stream end, track, track time at start)
    segs: list[tuple[float, float, int, float]] = []
    t = 0.0
    for k, d in enumerate(durations):
        if resume is not None and resume[0] == k:
            segs.append((t, t + resume[1], k, 0.0))
            t += resume[1] + resume[2]
            segs.append((t, t + d - resume[1], k, resume[1]))
            t += d - resume[1]
        else:
            segs.append((t, t + d, k, 0.0))
            t += d
        t += pause_s if k + 1 < len(durations) else 0.0
    starts = np.array([next(a for a, _, kk, _ in segs if kk == k) for k in range(len(durations))]
                      + [t])
    truth = Truth(root=cap, track_ids=track_ids, durations_s=durations,
                  starts_s=[float(x) for x in starts[:-1]])
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
        if cam not in cameras:
            continue
        for t in np.round(times, 3):  # the ISO timestamps carry milliseconds
            seg = next((sg for sg in segs if sg[0] <= t < sg[1]), None)
            in_track = seg is not None
            k = seg[2] if seg is not None else int(np.searchsorted(starts, t, side="right") - 1)
            tau = seg[3] + (t - seg[0]) if seg is not None else None
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
    if max_snapshots is not None:  # the recording stopped early
        snaps = snaps[:max_snapshots]
        kept = {(s["camera"], s["t"]) for s in snaps}
        truth.snapshots = [s for s in truth.snapshots
                           if (s["camera"], _iso(round(s["t_s"], 3))) in kept]
    sdir = cap / "sessions" / f"playlist-01-{SESSION_START.strftime('%Y-%m-%dT%H-%M-%SZ')}"
    sdir.mkdir(parents=True)
    meta = {"session_id": sdir.name, "playlist": "playlist-01", "started_at": _iso(0.0),
            "cameras": list(cameras), "derived": True, "note": DERIVED_NOTE}
    if pause_s > 0 or resume is not None:
        paused = {i for i in range(len(segs) - 1) if segs[i][2] == segs[i + 1][2]}
        meta["playback_events"] = [
            {"t": _iso(float(a)), "track_id": track_ids[k],
             **({position_key: pos * (1000 if position_key.endswith("_ms") else 1)}
                if pos else {}),
             **({"ended_at": _iso(float(b))} if i in paused else {})}  # the pause
            for i, (a, b, k, pos) in enumerate(segs)]
    (sdir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    with open(sdir / "snapshots.jsonl", "w") as f:
        for s in snaps:
            f.write(json.dumps(s) + "\n")
    return truth
