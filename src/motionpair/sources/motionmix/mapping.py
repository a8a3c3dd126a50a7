"""Key aliases of the MotionMix formats and the optional mapping file.

MotionMix's exact field names are not published, so every reader looks a field
up through :data:`ALIASES` (canonical name first). A mapping file
``motionmix-mapping.json`` (at a MotionMix root, a ``sessions``/``audio``
folder or a session/playlist folder; the nearest one wins) names the keys for
anything else; see docs/motionmix_format.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionpair.sources.common import read_json, safe_relpath

MAPPING_FILE = "motionmix-mapping.json"

#: canonical field -> accepted keys, canonical first (matched case-sensitively, in order).
ALIASES: dict[str, tuple[str, ...]] = {
    # snapshots
    "time": ("t", "time", "timestamp", "ts", "captured_at", "time_utc", "wall_time", "t_s",
             "time_s", "elapsed_s"),
    "camera": ("camera", "cam", "camera_id", "cam_id", "view", "camera_name"),
    "joints": ("joints", "keypoints", "pose", "landmarks", "kpts", "skeleton"),
    "confidence": ("confidence", "conf", "scores", "score", "visibility"),
    # session metadata
    "session_id": ("session_id", "session", "id", "name"),
    "started_at": ("started_at", "start_time", "start", "session_start", "started",
                   "start_utc"),
    "playlist": ("playlist", "playlist_id", "playlist_name", "mix", "mix_name"),
    "events": ("playback_events", "playback", "events", "tracks_played", "history"),
    "camera_offsets": ("camera_offsets_s", "camera_offsets", "camera_offset_s"),
    # a mix's tracks in play order, drawn from the playlist folders (motionmix.resolve_mix)
    "track_list": ("tracks", "track_list", "tracklist", "mix_tracks", "playlist_tracks",
                   "queue"),
    "event_time": ("t", "time", "started_at", "start", "timestamp", "at"),
    "event_end": ("ended_at", "end", "end_time", "stopped_at"),
    "event_track": ("track_id", "track", "file", "title", "name"),
    # where in the track playback (re)started: a resume after a pause, a seek
    "event_position": ("position_s", "position", "track_position_s", "start_position_s",
                       "track_time_s", "offset_s", "seek_s", "resume_s", "resumed_at_s",
                       "from_s", "position_ms", "track_position_ms", "offset_ms"),
    # playlist manifest
    "tracks": ("tracks", "items", "songs"),
    "track_id": ("track_id", "id", "name", "title"),
    "track_file": ("file", "npz", "path", "features"),
    "duration_s": ("duration_s", "duration", "length_s", "seconds"),
    "order": ("order", "index", "position"),
    "sr": ("sr", "sample_rate", "sr_hz", "samplerate"),
    "hop": ("hop_length", "hop", "hop_size"),
    # NPZ arrays
    "mel": ("mel", "mel_spectrogram", "melspec", "S", "mel_db", "log_mel", "mel_spec",
            "melspectrogram", "S_db", "mel_power", "log_mel_spectrogram"),
    "bpm": ("bpm", "tempo", "tempo_bpm"),
    "beat_frames": ("beat_frames", "beats"),
    "beat_times": ("beat_times", "beat_times_s", "beats_s", "beat_time"),
    "onset_env": ("onset_env", "onset_envelope", "onset_strength"),
}

#: Keys a reader knows it may ignore (documentation / provenance), never reported as unknown.
INFORMATIONAL = {"derived", "note", "notes", "cameras", "prepared_by", "recipe", "problems",
                 "source_audio", "version", "app", "device", "created_by", "ended_at",
                 "end_time", "duration_s", "title", "playlist", "track_id", "music_beat",
                 "onset_peak", "baseline35", "capture"}


@dataclass(frozen=True)
class Mapping:
    """User overrides: canonical field -> the key to use, plus file locations."""

    keys: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # "snapshots": path relative to session
    time_unit: str = "auto"  # auto | s | ms (numeric times)
    path: str = ""
    # declared per-camera clock offsets (s), overriding metadata.json's camera by camera
    camera_offsets_s: dict[str, float] = field(default_factory=dict)
    #: mix name (or session id / folder name) -> its tracks in play order ("mixes" key)
    mixes: dict[str, list[Any]] = field(default_factory=dict)

    def aliases(self, name: str) -> tuple[str, ...]:
        """Keys to try for canonical field ``name``, the mapped key first."""
        mapped = self.keys.get(name)
        return ((mapped,) if mapped else ()) + ALIASES.get(name, (name,))


NO_MAPPING = Mapping()

#: Largest declared camera clock offset believed (s): phones of one session differ by
#: seconds, not by more than a day; a larger value is a typo or a unit error.
MAX_CAMERA_OFFSET_S = 86_400


def pick(obj: dict, name: str, mapping: Mapping = NO_MAPPING) -> tuple[str | None, Any]:
    """``(key, value)`` of the first accepted key for ``name`` present in ``obj``."""
    for key in mapping.aliases(name):
        if key in obj:
            return key, obj[key]
    return None, None


def known_keys(names: tuple[str, ...], mapping: Mapping = NO_MAPPING) -> set[str]:
    """Every key that counts as understood for the canonical fields ``names``."""
    return {k for n in names for k in mapping.aliases(n)} | INFORMATIONAL


def find_mapping(folder: Path, stop: Path) -> Path | None:
    """The nearest mapping file from ``folder`` up to (and including) ``stop``."""
    folder, stop = folder.resolve(), stop.resolve()
    for d in (folder, *folder.parents):
        if (d / MAPPING_FILE).is_file():
            return d / MAPPING_FILE
        if d == stop or d == d.parent:
            break
    return None


def load_mapping(path: Path | None) -> Mapping:
    """Parse a mapping file; ``ValueError`` names the file and the problem."""
    if path is None:
        return NO_MAPPING
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a mapping file is a JSON object")
    unknown = sorted(set(doc) - {"keys", "files", "time_unit", "mixes", "note",
                                 "camera_offsets_s"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown}; "
                         "expected keys, files, time_unit, mixes, camera_offsets_s")
    keys = doc.get("keys", {})
    files = doc.get("files", {})
    for what, d in (("keys", keys), ("files", files)):
        if not isinstance(d, dict) or not all(isinstance(v, str) for v in d.values()):
            raise ValueError(f"{path}: {what!r} must map names to strings")
    bad = sorted(set(keys) - set(ALIASES))
    if bad:
        raise ValueError(f"{path}: unknown field(s) {bad} in 'keys'; known: {sorted(ALIASES)}")
    time_unit = doc.get("time_unit", "auto")
    if time_unit not in ("auto", "s", "ms"):
        raise ValueError(f"{path}: time_unit must be auto, s or ms, not {time_unit!r}")
    offsets = doc.get("camera_offsets_s", {})
    if not isinstance(offsets, dict):
        raise ValueError(f"{path}: 'camera_offsets_s' must map camera names to seconds")
    for cam, v in offsets.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{path}: camera_offsets_s[{cam!r}] = {v!r} is not a finite "
                             "number of seconds")
        if abs(v) > MAX_CAMERA_OFFSET_S:
            raise ValueError(f"{path}: camera_offsets_s[{cam!r}] = {v:g} s is not a plausible "
                             f"camera clock offset (|offset| <= {MAX_CAMERA_OFFSET_S} s)")
    mixes = doc.get("mixes", {})
    if not isinstance(mixes, dict) or not all(isinstance(v, list) for v in mixes.values()):
        raise ValueError(f"{path}: 'mixes' must map a mix name to its list of tracks, e.g. "
                         '{"mixes": {"Your Mix 3": ["playlist-01/track-a", "b.npz"]}}')
    return Mapping(keys=dict(keys), files=dict(files), time_unit=time_unit, path=str(path),
                   mixes={str(k): list(v) for k, v in mixes.items()},
                   camera_offsets_s={str(c): float(v) for c, v in offsets.items()})


def resolve_file(mapping: Mapping, name: str, folder: Path) -> Path | None:
    """A mapped file below ``folder``; a path escaping ``folder`` raises ``ValueError``."""
    rel = mapping.files.get(name)
    if not rel:
        return None
    target = folder / rel
    if Path(rel).is_absolute():
        raise ValueError(f"{mapping.path}: files.{name}={rel!r} rejected: must be relative "
                         f"to {folder}")
    try:  # lexically and after resolving symlinks: both must stay inside the folder
        safe_relpath(target, folder)
        if target.exists():
            safe_relpath(target.resolve(), folder.resolve())
    except ValueError as exc:
        raise ValueError(f"{mapping.path}: files.{name}={rel!r} rejected: {exc}") from None
    return target


def parse_track_list(value: Any, where: str, mapping: Mapping = NO_MAPPING
                     ) -> tuple[list[tuple[str | None, str]], list[str]]:
    """A mix's track list as ``[(playlist or None, track)]`` in play order, and its unused keys.

    An entry is a string ``"<playlist>/<track>"`` or ``"<track>"`` (track id, NPZ file name or
    stem; a longer path keeps its last two parts, e.g. ``"audio/playlist-01/a.npz"``), or an
    object with a track key (``track_id``, ``track``, ``file``, ``title``, ``name``) and an
    optional playlist key (``playlist``, ``playlist_id``, ...). ``where`` names the file and key
    for errors (``ValueError``).
    """
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list of tracks in play order, e.g. "
                         '["playlist-01/track-a", "playlist-02/track-b"]')
    out: list[tuple[str | None, str]] = []
    unused: dict[str, list[int]] = {}
    for i, e in enumerate(value):
        if isinstance(e, str):
            parts = [p for p in e.replace("\\", "/").split("/") if p]
            if not parts:
                raise ValueError(f"{where}[{i}] = {e!r} names no track")
            out.append((parts[-2] if len(parts) > 1 else None, parts[-1]))
            continue
        if not isinstance(e, dict):
            raise ValueError(f"{where}[{i}] = {e!r} is neither a track name nor an object")
        tk, track = pick(e, "event_track", mapping)
        pk, pl = pick(e, "playlist", mapping)
        if not isinstance(track, str) or not track or (pk is not None and not isinstance(pl, str)):
            raise ValueError(f"{where}[{i}] needs a track name (keys "
                             f"{list(mapping.aliases('event_track'))}) and optionally a "
                             "playlist name, both strings")
        for k in set(e) - {tk, pk}:
            unused.setdefault(k, []).append(i)
        out.append((pl if isinstance(pl, str) and pl else None, track))
    notes = [f"{where} key {k!r} (entry {', '.join(map(str, ix[:5]))}"
             f"{' ...' if len(ix) > 5 else ''}): not used" for k, ix in sorted(unused.items())]
    return out, notes
