"""Write MotionMix-style audio-prep output (per-track NPZ + playlist manifest) from raw audio.

Same librosa recipe as the builder (:mod:`motionpair.features.audio`), so a playlist
prepared here pairs on exactly the grid a direct build would use.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.features import audio
from motionpair.publish import write_file_atomic
from motionpair.timebase import frames_to_time, hop_for_fps

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aiff", ".aif")


def find_audio(folder: Path) -> list[Path]:
    """Audio files at or below ``folder``, sorted, symlinked folders not followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(AUDIO_SUFFIXES):
                out.append(Path(dirpath) / name)
    return out


def track_id_for(path: Path, folder: Path) -> str:
    """Relative path without suffix, ``/`` → ``__``.

    >>> track_id_for(Path("p/DANCE_C_2/audio.mp3"), Path("p"))
    'DANCE_C_2__audio'
    """
    rel = path.relative_to(folder).with_suffix("")
    return "__".join(rel.parts)


def npz_arrays(feats: audio.AudioFeatures, *, track_id: str) -> dict[str, np.ndarray]:
    """The canonical NPZ keys (see docs/motionmix_format.md); mel is (n_mels, n_frames)."""
    return {
        "track_id": np.array(track_id),
        "sr": np.array(feats.sr_hz, dtype=np.int64),
        "hop_length": np.array(feats.hop, dtype=np.int64),
        "duration_s": np.array(feats.duration_s, dtype=np.float64),
        "bpm": np.array(feats.tempo_bpm, dtype=np.float64),
        "beat_frames": np.flatnonzero(feats.arrays["music_beat"]).astype(np.int64),
        "mel": np.ascontiguousarray(feats.arrays["mel"].T),
        "onset_env": feats.arrays["onset_env"],
        "baseline35": feats.arrays["baseline35"],
        "onset_peak": feats.arrays["onset_peak"],
        "music_beat": feats.arrays["music_beat"],
    }


def refuse_truncated(path: Path, decoded_s: float) -> None:
    """The build's truncation check (:func:`motionpair.build.pair._refuse_truncated`) for a
    file prepared on its own: ``ValueError`` naming it when it decodes to less than
    :data:`~motionpair.build.pair.MIN_DECODED_SHARE` of what its header declares (a cut MP3
    decodes up to the cut without an error, and every later track of a gapless playlist
    would be shifted)."""
    import soundfile as sf

    from motionpair.build.pair import MIN_DECODED_SHARE

    try:
        info = sf.info(os.fsencode(path))
        declared_s = info.frames / info.samplerate if info.samplerate > 0 else 0.0
    except Exception:  # noqa: BLE001 - no header duration: nothing to compare against
        return
    if declared_s > 0 and decoded_s < MIN_DECODED_SHARE * declared_s:
        raise ValueError(f"{path}: truncated audio: the header declares {declared_s:.2f} s "
                         f"but only {decoded_s:.2f} s decode")


def prep_playlist(folder: Path, out_dir: Path, *, fps: float = 30.0, sr_hz: int = 22050,
                  n_mels: int = 128, progress=None) -> dict[str, Any]:
    """Prepare one folder of audio as playlist ``out_dir/<folder name>``; returns its manifest.

    Tracks are ordered by sorted relative path. A file that does not decode is
    listed under ``"problems"`` with the reason and left out of the playlist.
    """
    hop = hop_for_fps(sr_hz, fps)
    dest = out_dir / folder.name
    dest.mkdir(parents=True, exist_ok=True)
    tracks: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for path in find_audio(folder):
        tid = track_id_for(path, folder)
        try:
            y, native_sr = audio.decode_audio(path)
            refuse_truncated(path, frames_to_time(len(y), native_sr))  # samples -> s
            with audio.one_thread():  # the build's arithmetic, byte for byte (one BLAS thread)
                feats = audio.compute_features(y, native_sr_hz=native_sr, track_id=tid,
                                               sr_hz=sr_hz, hop=hop, n_mels=n_mels)
        except ValueError as exc:
            problems.append({"path": str(path), "reason": str(exc)})
            continue
        tracks.append(write_track(dest, feats, track_id=tid, order=len(tracks),
                                  source_audio=path.relative_to(folder).as_posix()))
        if progress:
            progress(path)
    return write_manifest(dest, tracks, sr_hz=sr_hz, hop=hop, n_mels=n_mels,
                          problems=problems)


def write_track(dest: Path, feats: audio.AudioFeatures, *, track_id: str, order: int,
                source_audio: str) -> dict[str, Any]:
    """Write ``dest/<track_id>.npz`` (canonical keys); returns its manifest entry."""
    save_npz(dest / f"{track_id}.npz", npz_arrays(feats, track_id=track_id))
    return {"track_id": track_id, "file": f"{track_id}.npz", "title": track_id,
            "source_audio": source_audio, "duration_s": round(feats.duration_s, 6),
            "order": order}


def write_manifest(dest: Path, tracks: list[dict[str, Any]], *, sr_hz: int, hop: int,
                   n_mels: int, problems: list[dict[str, Any]] | None = None,
                   prepared_by: str = "motionpair prep-audio", **extra: Any) -> dict[str, Any]:
    """Write the playlist's ``manifest.json`` (atomically); returns it."""
    manifest = {"playlist": dest.name, "sr": sr_hz, "hop_length": hop,
                "prepared_by": prepared_by,
                "recipe": audio.feature_params(sr_hz=sr_hz, hop=hop, n_mels=n_mels),
                "tracks": tracks, "problems": problems or [], **extra}
    write_file_atomic(dest / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # stub: **kwds may bind allow_pickle
    write_file_atomic(path, buf.getvalue())
