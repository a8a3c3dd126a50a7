"""Videos → LiveDirector-format sessions + one-track playlists (docs/capture.md).

For every video (or, with ``same_performance``, for all videos together as the
cameras of one session) this writes, under the capture root::

    audio/<name>/<name>.npz + manifest.json       the video's own audio, prep-audio recipe
    sessions/<name>-<UTC>/metadata.json           start, playback event, cameras, capture facts
    sessions/<name>-<UTC>/snapshots.jsonl         one record per frame with a detection

Frames where the estimator found nobody are *not* written as snapshots (a snapshot
needs joints) and are never interpolated here: their times are listed and counted
in ``metadata.json`` → ``capture.cameras.<cam>.missing_times_s``. A bad video is
one Problem naming the file; the other videos are still captured.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.cache import Cache
from motionpair.capture import camsync, pose, video
from motionpair.publish import write_file_atomic
from motionpair.sources.common import sha256_file
from motionpair.types import Problem

PREPARED_BY = "motionpair capture"
SOURCE = "capture"
UNKNOWN_START = "capture.session_start_unknown_is_epoch"
CREATION_START = "capture.session_start_is_container_creation_time"
ASSUMPTIONS = {
    UNKNOWN_START: "the video carries no creation time: the session start is set to "
                   "1970-01-01T00:00:00Z so that session times equal the reference camera's "
                   "video times; the performance's wall-clock time is unknown",
    CREATION_START: "the session start is the container's creation_time metadata and "
                    "corresponds to the reference camera's video time 0",
    **video.ASSUMPTIONS,
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CaptureConfig:
    """What a capture does; the feature grid must match the later ``build --fps``."""

    rate_hz: float | None = None  # None: every frame; else LiveDirector-like sampling
    fps: float = 30.0
    sr_hz: int = 22050
    n_mels: int = 128


@dataclass
class CameraCapture:
    """One decoded, estimated video."""

    name: str
    path: Path
    info: video.VideoInfo
    sha256: str
    times_s: list[Fraction]  # every decoded frame's time (decode order)
    pts: list[int]
    audio: video.Audio
    poses: pose.FramePoses
    run: dict[str, Any]


@dataclass
class CaptureResult:
    sessions: list[Path] = field(default_factory=list)
    playlists: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-camera facts


def safe_name(stem: str) -> str:
    """A folder/track name from a file stem: letters, digits, ``._-`` only.

    >>> safe_name("my dance (take 2)")
    'my_dance_take_2'
    """
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9._-]", "_", stem)).strip("_") or "video"


def sample_frames(times_s: list[Fraction], rate_hz: float | None) -> list[int]:
    """Indices of the frames to estimate: all, or the first frame at/after each k / rate_hz s.

    >>> sample_frames([Fraction(k, 4) for k in range(9)], 1.0)
    [0, 4, 8]
    """
    if rate_hz is None:
        return list(range(len(times_s)))
    step = Fraction(rate_hz).limit_denominator(1000) ** -1
    out, k = [], 0
    for i, t in enumerate(times_s):
        if t >= k * step:
            out.append(i)
            while k * step <= t:
                k += 1
    return out


def pts_facts(pts: list[int], times_s: list[Fraction], nominal_fps: Fraction | None
              ) -> dict[str, Any]:
    """PTS step histogram, dropped frames, and the first frame after a drop vs index / fps."""
    d = np.diff(np.asarray(pts, dtype=np.int64))
    steps, counts = np.unique(d, return_counts=True)
    normal = int(steps[int(np.argmax(counts))]) if len(d) else 1
    gaps = np.flatnonzero(d > normal)
    out: dict[str, Any] = {"pts_steps": {str(int(s)): int(c) for s, c in zip(steps, counts,
                                                                             strict=True)},
                           "dropped_frames": int(sum((d[g] // normal) - 1 for g in gaps)),
                           "non_increasing_pts": int(np.count_nonzero(d <= 0))}
    if len(gaps) and nominal_fps:
        i = int(gaps[0]) + 1
        out["first_frame_after_drop"] = {
            "index": i, "pts": int(pts[i]), "time_s": float(times_s[i]),
            "index_over_fps_s": float(Fraction(i) / nominal_fps),
            "error_of_index_over_fps_s": float(Fraction(i) / nominal_fps - times_s[i])}
    return out


#: ``(video path, frame indices, progress) -> {index: (xy, visibility, detected)}``: pose
#: estimation elsewhere (``capture --engine ray``, :func:`motionpair.capture.remote.ray_estimator`).
RemotePose = Callable[[Path, list[int], Any], dict[int, tuple]]


def _decode_camera(path: Path, name: str, cfg: CaptureConfig, cache: Cache,
                   on_frames: Callable[[str, int, int, float], None] | None,
                   remote_pose: RemotePose | None = None) -> CameraCapture:
    ok = video.check(path)
    info, audio, times, pts = ok.info, ok.audio, ok.times_s, ok.pts
    wanted = sample_frames(times, cfg.rate_hz)
    sha = sha256_file(path)

    def images(indices: set[int]) -> Iterator[tuple[int, np.ndarray]]:
        for fr in video.frames(path, want_image=lambda i, t: i in indices):
            if fr.image is not None:
                yield fr.index, fr.image

    cb = (lambda d, n, s: on_frames(name, d, n, s)) if on_frames else None
    many = (lambda todo, prog: remote_pose(path, todo, prog)) if remote_pose else None
    poses, run = pose.estimate_frames(sha, wanted, images, cache, progress=cb,
                                      estimate_many=many)
    if not poses.detected.any():
        raise video.VideoError(f"{path}: no person detected in any of the {len(wanted)} "
                               "estimated frame(s)")
    return CameraCapture(name=name, path=path, info=info, sha256=sha, times_s=times, pts=pts,
                         audio=audio, poses=poses, run=run)


def _owned(folder: Path, marker_file: str) -> bool:
    """May we write into ``folder``: absent, empty, or written by motionpair capture before."""
    if not folder.exists():
        return True
    if not any(folder.iterdir()):
        return True
    try:
        doc = json.loads((folder / marker_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    by = doc.get("prepared_by") or (doc.get("capture") or {}).get("prepared_by")
    return isinstance(by, str) and by.startswith(PREPARED_BY)


def camera_facts(cam: CameraCapture, cfg: CaptureConfig) -> dict[str, Any]:
    """What metadata.json records about one camera (no wall-clock values)."""
    p = cam.poses
    missing = [round(float(cam.times_s[int(i)]), 6) for i in p.frame_index[~p.detected]]
    vis = p.visibility[p.detected]
    return {"video": cam.path.name, "video_sha256": cam.sha256, "probe": cam.info.to_dict(),
            "frames_decoded": len(cam.times_s), "frames_estimated": int(len(p.frame_index)),
            "frames_detected": int(p.detected.sum()), "frames_missing": len(missing),
            "missing_times_s": missing,
            "median_visibility": round(float(np.median(vis)), 4) if vis.size else None,
            "first_frame_s": float(cam.times_s[0]), "last_frame_s": float(cam.times_s[-1]),
            **pts_facts(cam.pts, cam.times_s, cam.info.nominal_fps),
            "audio": {"sr_hz": cam.audio.sr_hz, "channels": cam.audio.channels,
                      "first_sample_s": float(cam.audio.first_sample_s),
                      "duration_s": round(cam.audio.duration_s, 6),
                      "pts_discontinuities": cam.audio.discontinuities}}


def snapshot_lines(cam: CameraCapture) -> list[str]:
    """One JSONL record per frame with a detection (camera clock seconds, exact PTS time)."""
    p = cam.poses
    lines = []
    for k, fi in enumerate(p.frame_index):
        if not p.detected[k]:
            continue
        xy = np.round(p.xy[k].astype(np.float64), 2)
        rec = {"t_s": round(float(cam.times_s[int(fi)]), 9), "camera": cam.name,
               "joints": {n: [float(x), float(y)] for n, (x, y) in zip(pose.JOINT_NAMES, xy,
                                                                      strict=True)},
               "confidence": [round(float(v), 4) for v in p.visibility[k]]}
        lines.append(json.dumps(rec))
    return lines


def write_session(root: Path, cams: list[CameraCapture], cfg: CaptureConfig,
                  offsets: dict[str, dict[str, Any]]) -> tuple[Path, Path]:
    """Write the playlist (reference camera's audio) and the session; returns both folders."""
    from motionpair.build.prep_audio import write_manifest, write_track
    from motionpair.features import audio as audio_mod
    from motionpair.timebase import hop_for_fps

    ref = cams[0]
    name = ref.name
    created = ref.info.creation_time
    start, start_from = EPOCH, UNKNOWN_START
    if created:
        try:
            dt = datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
            start = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
            start, start_from = start.astimezone(UTC).replace(microsecond=0), CREATION_START
        except ValueError:
            pass
    pl_dir = root / "audio" / name
    s_dir = root / "sessions" / f"{name}-{start.strftime('%Y-%m-%dT%H-%M-%SZ')}"
    for folder, marker in ((pl_dir, "manifest.json"), (s_dir, "metadata.json")):
        if not _owned(folder, marker):
            raise video.VideoError(f"{ref.path}: {folder} exists and was not written by "
                                   f"{PREPARED_BY}; not overwritten")
    pl_dir.mkdir(parents=True, exist_ok=True)
    s_dir.mkdir(parents=True, exist_ok=True)
    hop = hop_for_fps(cfg.sr_hz, cfg.fps)
    feats = audio_mod.compute_features(ref.audio.samples, native_sr_hz=ref.audio.sr_hz,
                                       track_id=name, sr_hz=cfg.sr_hz, hop=hop,
                                       n_mels=cfg.n_mels)
    entry = write_track(pl_dir, feats, track_id=name, order=0, source_audio=ref.path.name)
    write_manifest(pl_dir, [entry], sr_hz=cfg.sr_hz, hop=hop, n_mels=cfg.n_mels,
                   prepared_by=f"{PREPARED_BY} (prep-audio recipe, the video's own audio)")
    assumptions = {k: ASSUMPTIONS[k] for k in sorted({start_from, *video.ASSUMPTIONS})}
    if len(cams) > 1:
        assumptions[camsync.SYNC_ASSUMPTION] = camsync.ASSUMPTIONS[camsync.SYNC_ASSUMPTION]
    meta = {
        "session_id": s_dir.name, "playlist": name,
        "started_at": start.isoformat().replace("+00:00", "Z"),
        "playback_events": [{"t": round(float(ref.audio.first_sample_s), 9),
                             "track_id": name}],
        "cameras": [c.name for c in cams],
        "camera_offsets_s": {c.name: offsets[c.name]["offset_s"] for c in cams},
        "capture": {
            "prepared_by": PREPARED_BY, "start_from": start_from,
            "rate_hz": cfg.rate_hz if cfg.rate_hz is not None else "full",
            "playback_event": "the track's time 0 is the reference camera's first audio "
                              "sample, on the session clock",
            "estimator": ref.run["estimator"], "assumptions": assumptions,
            "cameras": {c.name: {**camera_facts(c, cfg), "sync": offsets[c.name]}
                        for c in cams},
        },
    }
    write_file_atomic(s_dir / "metadata.json", json.dumps(meta, indent=2) + "\n")
    lines = [ln for c in cams for ln in snapshot_lines(c)]
    write_file_atomic(s_dir / "snapshots.jsonl", "\n".join(lines) + "\n")
    return pl_dir, s_dir


def capture(videos: list[Path], root: Path, cfg: CaptureConfig, cache: Cache, *,
            same_performance: bool = False,
            on_frames: Callable[[str, int, int, float], None] | None = None,
            on_camera: Callable[[CameraCapture], None] | None = None,
            remote_pose: RemotePose | None = None) -> CaptureResult:
    """Capture every video under ``root``; bad videos become Problems, the rest is written.

    ``same_performance``: the videos film one performance: one session whose cameras
    are the videos, the first good video the reference (its audio is the track); every
    other camera's offset comes from :func:`camsync.camera_offset`. ``remote_pose``
    estimates the frames elsewhere (a Ray cluster); the output is the same.
    """
    res = CaptureResult()
    good: list[CameraCapture] = []
    seen: dict[str, Path] = {}
    for path in videos:
        path = Path(path)
        name = safe_name(path.stem)
        if name in seen:
            res.problems.append(_problem(path, f"{path}: its name {name!r} is already used by "
                                               f"{seen[name]}; not captured"))
            continue
        seen[name] = path
        try:
            cam = _decode_camera(path, name, cfg, cache, on_frames, remote_pose)
        except (video.VideoError, ValueError) as exc:
            res.problems.append(_problem(path, str(exc) if str(path) in str(exc)
                                         else f"{path}: {exc}"))
            continue
        if on_camera:
            on_camera(cam)
        good.append(cam)
    groups = [good] if same_performance and good else [[c] for c in good]
    for group in groups:
        offsets: dict[str, dict[str, Any]] = {group[0].name: {"offset_s": 0.0,
                                                              "reference": True}}
        for cam in group[1:]:
            try:
                est = camsync.camera_offset(
                    group[0].audio.samples, group[0].audio.sr_hz,
                    float(group[0].audio.first_sample_s), cam.audio.samples, cam.audio.sr_hz,
                    float(cam.audio.first_sample_s))
            except ValueError as exc:
                res.problems.append(_problem(cam.path, f"{cam.path}: camera sync to "
                                                       f"{group[0].path.name} failed: {exc}"))
                continue
            if not _finite_offset(est.to_dict()):  # e.g. a silent audio track
                res.problems.append(_problem(cam.path, f"{cam.path}: camera sync to "
                                                       f"{group[0].path.name} gave no finite "
                                                       "offset (silent or constant audio?); "
                                                       "camera left out of the session"))
                continue
            offsets[cam.name] = {"reference": False, "method": camsync.SYNC_ASSUMPTION,
                                 **est.to_dict()}
        members = [c for c in group if c.name in offsets]
        try:
            pl, s = write_session(root, members, cfg, offsets)
        except video.VideoError as exc:
            res.problems.append(_problem(group[0].path, str(exc)))
            continue
        res.playlists.append(pl)
        res.sessions.append(s)
        for c in members:
            res.cameras[c.name] = {**camera_facts(c, cfg), "sync": offsets[c.name],
                                   "run": {k: v for k, v in c.run.items() if k != "estimator"},
                                   "session": s.name}
    return res


def _finite_offset(est: dict[str, Any]) -> bool:
    """Offset, lag and correlation of a sync estimate are finite (NaN is never written)."""
    return all(isinstance(est.get(k), (int, float)) and math.isfinite(est[k])
               for k in ("offset_s", "lag_frames", "correlation"))


def _problem(path: Path, reason: str) -> Problem:
    return Problem(path=str(path), source=SOURCE, session=path.stem, kind="bad", reason=reason)
