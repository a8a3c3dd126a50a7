"""MotionMix audio prep: playlist folders of per-track feature NPZ + optional manifest.json.

A playlist folder holds one ``.npz`` per track and, for some playlists, a
``manifest.json`` giving the play order, durations, ``sr`` and ``hop_length``.
NPZ files are always opened with ``allow_pickle=False``. Everything the
builder needs but an NPZ lacks is derived from its log-mel with librosa (and
the derivation recorded) or, when not derivable, recorded as missing.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from motionpair.safeio import check_npz, guard
from motionpair.sources.common import read_json, sha256_file
from motionpair.sources.motionmix.mapping import (
    MAPPING_FILE,
    NO_MAPPING,
    Mapping,
    known_keys,
    load_mapping,
    pick,
)
from motionpair.timebase import (
    format_rate,
    frame_rate,
    frames_to_onehot,
    frames_to_time,
    time_to_frames,
)
from motionpair.types import AudioFeatures, PairSpec, Problem

if TYPE_CHECKING:
    from motionpair.config import BuildConfig

MANIFEST = "manifest.json"
NPZ_FIELDS = ("mel", "bpm", "beat_frames", "beat_times", "onset_env", "sr", "hop", "duration_s",
              "track_id")
ABSURD_DB = 1e4  # a dB mel (it has negative values) beyond +-1e4 dB is not a mel
ABSURD_POWER = 1e12  # a power mel of audio in [-1, 1] stays far below this


@dataclass
class Track:
    track_id: str
    path: str  # absolute NPZ path
    duration_s: float
    sr_hz: int
    hop: int
    n_frames: int
    sha256: str
    duration_from: str  # "manifest" | "npz.duration_s" | "n_frames*hop/sr"


@dataclass
class Playlist:
    name: str
    folder: str
    tracks: list[Track]
    order_from: str  # "manifest" | "sorted_filenames"
    facts: dict[str, Any] = field(default_factory=dict)


def _open_npz(path: Path):
    """The NPZ opened lazily, after its sizes passed :func:`motionpair.safeio.check_npz`."""
    try:
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: empty file")
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as f:
                if f.read(6) == b"\x93NUMPY":  # never loaded: its header may declare anything
                    raise ValueError(f"{path}: a .npy array, not an NPZ archive")
            raise ValueError(f"{path}: not a readable NPZ (not a zip archive)")
        check_npz(path)  # before np.load: a header may declare terabytes, a member be a bomb
        return np.load(path, allow_pickle=False)
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable NPZ ({exc})") from exc


def read_npz(path: Path, mapping: Mapping = NO_MAPPING) -> tuple[dict[str, np.ndarray],
                                                                 dict[str, str]]:
    """Every array of an NPZ (never unpickled) and canonical field -> key found.

    Raises ``ValueError`` naming the file and the key for object arrays.
    """
    with _open_npz(path) as z:
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: a .npy array, not an NPZ archive")
        arrays = {}
        key: str | None  # an NPZ key here, below a field's key or None
        for key in z.files:
            try:
                arrays[key] = z[key]
            except ValueError as exc:  # object arrays refuse to load without pickle
                raise ValueError(f"{path}: key {key!r} is an object array ({exc}); "
                                 "refused (never unpickled)") from None
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise ValueError(f"{path}: key {key!r} unreadable ({exc})") from None
    found = {}
    for name in NPZ_FIELDS:
        key, _ = pick(arrays, name, mapping)
        if key is not None:
            found[name] = key
    return arrays, found


#: Plausible ranges of the NPZ/manifest scalars (canonical name -> (low, high)): an audio
#: sample rate, a feature hop in samples, a track length (48 h), a tempo.
SCALAR_BOUNDS = {"sr": (1000, 384_000), "hop": (1, 1_000_000), "duration_s": (0, 172_800),
                 "bpm": (0, 1000)}


def _scalar(arrays: dict, key: str | None, path: Path, *, integer: bool = False,
            canonical: str = ""):
    if key is None:
        return None
    a = np.asarray(arrays[key])
    if a.size != 1 or a.dtype.kind not in "iuf":
        raise ValueError(f"{path}: key {key!r} must be one number, got shape {a.shape} "
                         f"dtype {a.dtype}")
    v = a.reshape(()).item()
    if not np.isfinite(v) or v <= 0 or (integer and int(v) != v):
        raise ValueError(f"{path}: key {key!r} = {v} is not a positive "
                         f"{'whole ' if integer else ''}number")
    lo, hi = SCALAR_BOUNDS.get(canonical, (0, float("inf")))
    if not lo <= v <= hi:
        raise ValueError(f"{path}: key {key!r} = {v:g} is outside the plausible range "
                         f"[{lo:g}, {hi:g}]")
    return int(v) if integer else float(v)


def inspect_npz(path: Path, *, sr_hz: int | None = None, hop: int | None = None,
                duration_s: float | None = None,
                mapping: Mapping = NO_MAPPING) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Validate one track NPZ; returns facts (sr, hop, n_frames, duration, keys) and arrays.

    ``sr_hz``/``hop``/``duration_s`` come from the playlist manifest when it says;
    the NPZ's own values win for sr and hop (they describe its grid).
    """
    arrays, found = read_npz(path, mapping)
    if "mel" not in found:
        raise ValueError(f"{path}: missing required key 'mel' (accepted: "
                         f"{', '.join(mapping.aliases('mel'))}); keys present: {sorted(arrays)}")
    sr = _scalar(arrays, found.get("sr"), path, integer=True, canonical="sr") or sr_hz
    hp = _scalar(arrays, found.get("hop"), path, integer=True, canonical="hop") or hop
    if not sr or not hp:
        raise ValueError(f"{path}: no sample rate and hop: neither the NPZ (keys "
                         f"{'/'.join(mapping.aliases('sr'))}, {'/'.join(mapping.aliases('hop'))})"
                         " nor the playlist manifest.json says; refused")
    mel = np.asarray(arrays[found["mel"]])
    if mel.ndim != 2 or min(mel.shape) < 1 or mel.dtype.kind not in "iuf":
        raise ValueError(f"{path}: key {found['mel']!r} must be a 2-D numeric array, "
                         f"got shape {mel.shape} dtype {mel.dtype}")
    if not np.isfinite(mel).all() or (np.abs(mel).max() > ABSURD_DB if mel.min() < 0
                                       else mel.max() > ABSURD_POWER):
        raise ValueError(f"{path}: key {found['mel']!r} holds NaN/inf or absurd values")
    n_frames, orientation = _frames_axis(mel, arrays, found)
    if "onset_env" in found:
        env = np.asarray(arrays[found["onset_env"]])
        if env.ndim != 1 or env.shape[0] != n_frames or env.dtype.kind not in "iuf":
            raise ValueError(f"{path}: key {found['onset_env']!r} must be 1-D numeric with one "
                             f"value per mel frame ({n_frames}), got shape {env.shape} dtype "
                             f"{env.dtype}")
    beats, beats_from = _beat_frames(arrays, found, path, sr, hp)
    npz_dur = _scalar(arrays, found.get("duration_s"), path, canonical="duration_s")
    if duration_s is not None:
        dur, dur_from = float(duration_s), "manifest"
    elif npz_dur is not None:
        dur, dur_from = npz_dur, "npz.duration_s"
    else:
        dur, dur_from = frames_to_time(n_frames, frame_rate(sr, hp)), "n_frames*hop/sr"
    unknown = sorted(set(arrays) - known_keys(NPZ_FIELDS, mapping))
    tempo = _scalar(arrays, found.get("bpm"), path, canonical="bpm")
    facts = {"sr_hz": sr, "hop": hp, "n_frames": n_frames, "duration_s": dur,
             "duration_from": dur_from, "mel_orientation": orientation, "keys": found,
             "unknown_keys": unknown, "beat_frames": beats, "beats_from": beats_from,
             "tempo_bpm": tempo, "mel_scale": "power" if mel.min() >= 0 else "dB"}
    return facts, arrays


def _beat_frames(arrays: dict, found: dict, path: Path, sr: int,
                 hop: int) -> tuple[np.ndarray | None, str | None]:
    """Beat frame indices from beat frames or beat times (seconds), or ``(None, None)``.

    A ``beat_frames`` key holding non-whole values is read as beat *times* in seconds
    (``beat_track(units="time")`` saved under ``beats``); times go to the nearest frame.
    """
    if "beat_frames" in found:
        key, unit = found["beat_frames"], "frames"
    elif "beat_times" in found:
        key, unit = found["beat_times"], "s"
    else:
        return None, None
    a = np.asarray(arrays[key])
    if a.dtype.kind not in "iuf" or a.ndim > 1 and a.size != max(a.shape, default=0):
        raise ValueError(f"{path}: key {key!r} must be a 1-D numeric array of beats, got shape "
                         f"{a.shape} dtype {a.dtype}")
    a = a.ravel()
    if not np.isfinite(a).all():
        raise ValueError(f"{path}: key {key!r} holds NaN/inf")
    if unit == "frames" and a.dtype.kind == "f" and np.any(a != np.round(a)):
        unit = "s"  # fractional "frames": beat times in seconds
    if unit == "s":
        frames = np.asarray(time_to_frames(a, frame_rate(sr, hop), rounding="nearest"),
                            dtype=np.int64).reshape(-1)
        how = f"{key!r}: beat times (s) to the nearest frame at sr {sr} Hz / hop {hop}"
    else:
        frames, how = a.astype(np.int64), f"{key!r}: beat frame indices"
    if frames.size and (frames.min() < 0 or np.any(np.diff(frames) <= 0)):
        raise ValueError(f"{path}: key {key!r} must be increasing beats >= 0 "
                         f"({'times' if unit == 's' else 'frame indices'})")
    return frames, how


def _frames_axis(mel: np.ndarray, arrays: dict, found: dict) -> tuple[int, str]:
    """Frames axis of a mel: the axis matching a 1-D per-frame array, else librosa's (bands, n)."""
    if "onset_env" in found:
        n = int(np.asarray(arrays[found["onset_env"]]).shape[0])
        if mel.shape[1] == n:
            return n, "(n_mels, n_frames)"
        if mel.shape[0] == n:
            return n, "(n_frames, n_mels)"
    if mel.shape[0] > mel.shape[1]:
        return int(mel.shape[0]), "(n_frames, n_mels)"
    return int(mel.shape[1]), "(n_mels, n_frames)"


def load_features(path: str | Path, *, track_id: str, sr_hz: int | None = None,
                  hop: int | None = None, duration_s: float | None = None,
                  mapping: Mapping = NO_MAPPING) -> AudioFeatures:
    """An NPZ as :class:`AudioFeatures`, deriving what a log-mel allows, recording the rest.

    ``params["derived"]`` lists every array computed here (with the recipe);
    ``params["missing"]`` the arrays neither present nor derivable.
    """
    import librosa

    path = Path(path)
    facts, arrays = inspect_npz(path, sr_hz=sr_hz, hop=hop, duration_s=duration_s,
                                mapping=mapping)
    sr, hp, n = facts["sr_hz"], facts["hop"], facts["n_frames"]
    keys = facts["keys"]
    mel = np.asarray(arrays[keys["mel"]], dtype=np.float64)
    mel = mel.T if facts["mel_orientation"] == "(n_mels, n_frames)" else mel
    derived: dict[str, str] = {}
    if mel.min() >= 0:  # a log-mel in dB re 1.0 is mostly negative; this is power
        mel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
        derived["mel"] = "power_to_db(ref=1.0, amin=1e-10) of a non-negative (power) mel"
    out: dict[str, np.ndarray] = {"mel": mel.astype(np.float32)}
    if "onset_env" in keys:
        env = np.asarray(arrays[keys["onset_env"]], dtype=np.float32)[:n]
    else:
        env = librosa.onset.onset_strength(S=mel.T, sr=sr).astype(np.float32)[:n]
        derived["onset_env"] = "librosa.onset.onset_strength(S=log-mel, sr)"
    out["onset_env"] = env
    if "onset_peak" in arrays and np.asarray(arrays["onset_peak"]).shape == (n,):
        out["onset_peak"] = np.asarray(arrays["onset_peak"]).astype(np.uint8)
    else:
        peaks = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=hp)
        out["onset_peak"] = frames_to_onehot(peaks, n)
        derived["onset_peak"] = "librosa.onset.onset_detect(onset_envelope, sr, hop)"
    if facts["beat_frames"] is not None:
        beats = facts["beat_frames"]
        if "times" in facts["beats_from"]:  # converted from seconds: say so
            derived["beat_frames"] = facts["beats_from"]
    else:
        _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hp,
                                           start_bpm=120.0, tightness=100)
        derived["beat_frames"] = "librosa.beat.beat_track(onset_envelope, start_bpm=120, " \
                                 "tightness=100)"
    out["music_beat"] = frames_to_onehot(beats[beats < n], n)
    if "baseline35" in arrays and np.asarray(arrays["baseline35"]).shape == (n, 35):
        out["baseline35"] = np.asarray(arrays["baseline35"], dtype=np.float32)
    tempo = facts["tempo_bpm"]
    if tempo is None:
        d = frames_to_time(np.diff(beats), frame_rate(sr, hp))  # beat intervals, s
        tempo = float(60.0 / np.median(d)) if len(d) else 0.0
        derived["bpm"] = "60 / median inter-beat interval of beat_frames"
    missing = [a for a in ("baseline35",) if a not in out]
    return AudioFeatures(
        track_id=track_id, sr_hz=sr, hop=hp, duration_s=facts["duration_s"], arrays=out,
        beat_times_s=np.asarray(frames_to_time(np.asarray(beats, np.int64), frame_rate(sr, hp)),
                                dtype=np.float64).reshape(-1),
        tempo_bpm=float(tempo),
        params={"source": "npz", "npz": path.name, "sr_hz": sr, "hop": hp,
                "fps": str(frame_rate(sr, hp)), "duration_from": facts["duration_from"],
                "mel_orientation": facts["mel_orientation"], "mel_scale": facts["mel_scale"],
                "keys": keys, "derived": derived, "missing": missing})


def read_playlist(folder: Path, mapping: Mapping = NO_MAPPING
                  ) -> tuple[Playlist | None, list[Problem]]:
    """Read one playlist folder; unusable tracks become Problems, the rest stay usable."""
    problems: list[Problem] = []
    name = folder.name
    npz_files = sorted(p for p in folder.iterdir() if p.suffix == ".npz" and p.is_file())
    entries, order_from, man = _manifest_entries(folder, npz_files, mapping, problems)
    tracks: list[Track] = []
    seen: dict[str, str] = {}
    for tid, npz, dur in entries:
        if tid in seen:
            problems.append(_bad(npz, name, f"{npz}: duplicate track id {tid!r} (first: "
                                            f"{seen[tid]}); this one is not used"))
            continue
        facts, why = guard(npz, lambda npz=npz, dur=dur: inspect_npz(
            npz, sr_hz=man.get("sr"), hop=man.get("hop"), duration_s=dur, mapping=mapping)[0])
        if facts is None:
            problems.append(_bad(npz, name, str(why)))
            continue
        seen[tid] = str(npz)
        tracks.append(Track(track_id=tid, path=str(npz), duration_s=facts["duration_s"],
                            sr_hz=facts["sr_hz"], hop=facts["hop"], n_frames=facts["n_frames"],
                            sha256=sha256_file(npz), duration_from=facts["duration_from"]))
        for k in facts["unknown_keys"]:
            man.setdefault("unknown", []).append(f"{npz.name}: key {k!r}")
    listed = {str(npz) for _, npz, _ in entries}
    other = sorted(p.name for p in folder.iterdir()
                   if str(p) not in listed and p.name not in (MANIFEST, MAPPING_FILE)
                   and not p.name.startswith(".motionpair-"))  # prep-audio's own marker
    facts = {"playlist": name, "tracks": len(tracks), "order_from": order_from,
             "audio_duration_s": round(sum(t.duration_s for t in tracks), 3),
             "grid_fps": sorted({format_rate(frame_rate(t.sr_hz, t.hop)) for t in tracks}),
             "not_understood": [f"{o}: not used ({_why_unused(o)})" for o in other]
             + man.get("unknown", [])}
    if not tracks:
        return None, problems + ([] if problems else [Problem(
            path=str(folder), source="motionmix", session=name, kind="incomplete",
            reason=f"{folder}: playlist holds no usable track NPZ")])
    return Playlist(name=name, folder=str(folder), tracks=tracks, order_from=order_from,
                    facts=facts), problems


def _why_unused(name: str) -> str:
    return "NPZ not in manifest.json" if name.endswith(".npz") else "unknown file"


def _bad(path: Path, playlist: str, reason: str) -> Problem:
    return Problem(path=str(path), source="motionmix", session=playlist, kind="bad",
                   reason=reason)


def _manifest_entries(folder: Path, npz_files: list[Path], mapping: Mapping,
                      problems: list[Problem]):
    """``[(track_id, npz path, duration or None)]`` in play order, how ordered, manifest facts."""
    mpath = folder / MANIFEST
    if not mpath.is_file():
        return [(p.stem, p, None) for p in npz_files], "sorted_filenames", {}
    try:
        doc = read_json(mpath)
        if not isinstance(doc, dict):
            raise ValueError(f"{mpath}: expected a JSON object with a tracks list")
        _, tracks = pick(doc, "tracks", mapping)
        if not isinstance(tracks, list):
            raise ValueError(f"{mpath}: missing a 'tracks' list (accepted: "
                             f"{', '.join(mapping.aliases('tracks'))})")
    except ValueError as exc:
        problems.append(_bad(mpath, folder.name, f"{exc}; falling back to sorted NPZ names"))
        return [(p.stem, p, None) for p in npz_files], "sorted_filenames", {}
    man: dict[str, Any] = {}
    for f in ("sr", "hop"):
        k, v = pick(doc, f, mapping)
        if isinstance(v, int | float) and not isinstance(v, bool):
            lo, hi = SCALAR_BOUNDS[f]
            if math.isfinite(v) and v == int(v) and lo <= v <= hi:
                man[f] = int(v)
            else:
                problems.append(_bad(mpath, folder.name, f"{mpath}: key {k!r} = {v!r} is not "
                                     f"a whole number in [{lo:g}, {hi:g}]; not used"))
    unknown = sorted(set(doc) - known_keys(("tracks", "sr", "hop"), mapping))
    man["unknown"] = [f"{MANIFEST}: key {k!r}" for k in unknown]
    out = []
    for i, t in enumerate(tracks):
        if isinstance(t, str):
            t = {"file": t}
        _, file = pick(t, "track_file", mapping) if isinstance(t, dict) else (None, None)
        _, tid = pick(t, "track_id", mapping) if isinstance(t, dict) else (None, None)
        if not isinstance(file, str) and isinstance(tid, str):
            file = f"{tid}.npz"
        if not isinstance(file, str) or Path(file).name != file:
            problems.append(_bad(mpath, folder.name, f"{mpath}: tracks[{i}] has no usable file "
                                                     "name (a bare NPZ file name is required)"))
            continue
        dkey, dur = pick(t, "duration_s", mapping)
        number = isinstance(dur, int | float) and not isinstance(dur, bool)
        if number and not 0 < dur <= SCALAR_BOUNDS["duration_s"][1]:  # nan fails too
            problems.append(_bad(mpath, folder.name, f"{mpath}: tracks[{i}].{dkey} = {dur:g} "
                                 "s is not a plausible track length (0, "
                                 f"{SCALAR_BOUNDS['duration_s'][1]:g}] s; the NPZ's own "
                                 "length is used"))
        dur = float(dur) if number and np.isfinite(dur) and 0 < dur <= \
            SCALAR_BOUNDS["duration_s"][1] else None
        _, order = pick(t, "order", mapping)
        npz = folder / file
        if not npz.is_file():
            problems.append(Problem(path=str(npz), source="motionmix", session=folder.name,
                                    kind="incomplete",
                                    reason=f"{mpath}: tracks[{i}] names {file}, not found "
                                           f"(looked for {npz})"))
            continue
        key = order if isinstance(order, int | float) and not isinstance(order, bool) else i
        out.append((key, i, (str(tid) if tid is not None else npz.stem, npz, dur)))
    out.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in out], "manifest", man


def features_for_build(spec: PairSpec, cfg: BuildConfig) -> AudioFeatures:
    """The features of a ``kind="npz"`` track, refused when their grid is not the build's.

    Never resampled: a different NPZ frame rate is reported naming both rates.
    """
    npz = spec.params.get("npz", {})
    mapping = load_mapping(Path(npz["mapping"]) if npz.get("mapping") else None)
    feats = load_features(spec.track.path, track_id=spec.track.track_id,
                          sr_hz=npz.get("sr_hz"), hop=npz.get("hop"),
                          duration_s=npz.get("duration_s"), mapping=mapping)
    if feats.fps != cfg.fps_exact:  # grid.resolve() removes these pairs first; a safety net
        raise ValueError(f"{spec.track.path}: NPZ feature grid is {format_rate(feats.fps)} fps "
                         f"(sr {feats.sr_hz} Hz / hop {feats.hop}) but the build's is "
                         f"{format_rate(cfg.fps_exact)} fps; not resampled: build with --fps "
                         f"{format_rate(feats.fps)}")
    return feats
