"""MotionMix LiveDirector sessions: ``metadata.json`` + sparse multi-camera pose snapshots.

A session folder ``<playlist or mix>-<YYYY-MM-DDTHH-MM-SSZ>`` holds
``metadata.json`` and snapshots as a JSON array, JSONL (one per line) or one
JSON file per snapshot (optionally in per-camera subfolders). The stream
clock of every camera is seconds since the session start (UTC). Bad records
are dropped and reported as Problems naming the file and the record; good
records of the same session stay usable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from motionpair.safeio import guard, loads
from motionpair.sources.common import read_json, safe_relpath
from motionpair.sources.motionmix.mapping import (
    MAPPING_FILE,
    MAX_CAMERA_OFFSET_S,
    NO_MAPPING,
    Mapping,
    known_keys,
    parse_track_list,
    pick,
    resolve_file,
)
from motionpair.types import Problem

METADATA = "metadata.json"
FOLDER_RE = re.compile(r"^(?P<name>.+)-(?P<utc>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z)\Z")
SNAPSHOT_FIELDS = ("time", "camera", "joints", "confidence")
META_FIELDS = ("session_id", "started_at", "playlist", "events", "camera_offsets", "track_list")
RELATIVE_TIME_KEYS = ("t_s", "time_s", "elapsed_s")
ABSURD_COORD = 1e5  # pixels or centimetres: nothing real is this far out
JOINT_COORD_KEYS = ("x", "y", "z")
JOINT_CONF_KEYS = ("confidence", "score", "visibility", "c", "conf")
#: A session whose snapshot files hold more bytes than this (all files together) is refused
#: before any is read: its snapshots are held in memory (about 1.3 times the file size as
#: float64 arrays at peak, plus the interpreter), so the limit bounds scan's memory. A
#: 10^6-snapshot session (~420 MB of JSONL) is refused; 128 MiB is about 300,000 snapshots
#: of 23 joints (a 1 Hz camera for 80 hours, or 30 fps for 2.8 hours).
MAX_SESSION_SNAPSHOT_BYTES = 128 * 2**20
#: Snapshots gathered per camera before they are packed into one array (bounds the overhead
#: of per-snapshot Python objects).
_CHUNK = 4096


@dataclass
class Stream:
    camera: str
    times_s: np.ndarray  # seconds since session start, strictly increasing
    joints: np.ndarray  # (T, J, D)
    confidence: np.ndarray | None  # (T, J)


@dataclass
class Session:
    session_id: str
    folder: str
    start_utc: datetime
    start_from: str
    playlist: str
    events: list[dict[str, Any]]
    streams: dict[str, Stream]
    joint_names: list[str] | None
    files: list[str]
    facts: dict[str, Any] = field(default_factory=dict)
    #: a mix's own track list in play order, ``[(playlist or None, track)]`` (metadata.json)
    track_list: list[tuple[str | None, str]] | None = None
    track_list_from: str = ""  # "metadata.json:<key>" when track_list is set


def parse_time(value: Any, *, key: str, start: datetime | None, time_unit: str = "auto"
               ) -> float:
    """Seconds since ``start`` of an ISO-8601 string or a number (see docs for the rules)."""
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"time {value!r} is not ISO 8601") from None
        if dt.tzinfo is None:  # naive wall time: MotionMix writes UTC
            dt = dt.replace(tzinfo=UTC)
        if start is None:
            raise ValueError("an absolute time needs the session start")
        return (dt - start).total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"time {value!r} is neither an ISO string nor a finite number")
    v = float(value)
    if time_unit == "ms":
        v /= 1000.0
    if time_unit == "auto" and key not in RELATIVE_TIME_KEYS and v > 1e8:
        v = v / 1000.0 if v > 1e11 else v  # epoch milliseconds vs epoch seconds
        if start is None:
            raise ValueError("an epoch time needs the session start")
        return v - start.timestamp()
    return v


def _joints(value: Any, conf_value: Any, names: list[str] | None
            ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """``(joints (J, D), confidence (J,) or None, names or None)`` of one snapshot's joints."""
    conf = None
    if isinstance(value, dict):  # named joints: name -> [x, y(, z)] or {x, y, ...}
        got = list(value)
        if names is not None and sorted(got) != sorted(names):
            raise ValueError(f"joint names {sorted(got)[:4]}... differ from the session's")
        order = names or got
        value = [value[n] for n in order]
        names = order
    if not isinstance(value, list) or not value:
        raise ValueError("joints must be a non-empty list or a name -> point object")
    if all(isinstance(p, dict) for p in value):
        dims = [k for k in JOINT_COORD_KEYS if k in value[0]]
        ck = next((k for k in JOINT_CONF_KEYS if k in value[0]), None)
        try:
            arr = np.array([[float(p[k]) for k in dims] for p in value], dtype=np.float64)
            conf = np.array([float(p[ck]) for p in value]) if ck else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"joint objects need numeric {dims} ({exc})") from None
    else:
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("joints are not a numeric (J, 2|3) list") from None
        if arr.ndim != 2 or arr.shape[1] not in (2, 3, 4):
            raise ValueError(f"joints have shape {arr.shape}, expected (J, 2), (J, 3) or "
                             "(J, 4) = x, y, z, confidence")
        if arr.shape[1] == 4:
            arr, conf = arr[:, :3], arr[:, 3]
    if arr.shape[1] < 2:
        raise ValueError("joints need at least x and y")
    if conf_value is not None:
        try:
            conf = np.array(conf_value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError("confidence is not a numeric list") from None
        if conf.shape != (arr.shape[0],):
            raise ValueError(f"confidence has {conf.size} values for {arr.shape[0]} joints")
    if not np.isfinite(arr).all() or (conf is not None and not np.isfinite(conf).all()):
        raise ValueError("joints or confidence hold NaN/inf")
    if np.abs(arr).max() > ABSURD_COORD:
        raise ValueError(f"joint coordinate {np.abs(arr).max():.3g} exceeds {ABSURD_COORD:g}")
    return arr, conf, names


def snapshot_files(folder: Path, mapping: Mapping) -> list[Path]:
    """Candidate snapshot files: the mapped one, else JSON/JSONL in the folder and subfolders."""
    mapped = resolve_file(mapping, "snapshots", folder)
    if mapped is not None:
        if mapped.is_dir():
            found = sorted(p for p in mapped.rglob("*") if p.suffix in (".json", ".jsonl"))
            inside = folder.resolve()
            for p in found:  # a symlink met through the folder is judged as a direct one
                try:
                    safe_relpath(p.resolve(), inside)
                except ValueError as exc:
                    raise ValueError(f"{mapping.path}: files.snapshots -> {p} rejected: "
                                     f"{exc}") from None
            return found
        if not mapped.is_file():
            raise ValueError(f"{mapping.path}: files.snapshots -> {mapped} does not exist")
        return [mapped]
    skip = {METADATA, MAPPING_FILE}
    out = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in (".json", ".jsonl")
           and p.name not in skip]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
        out += sorted(p for p in sub.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl"))
    return out


def records_of(path: Path) -> Iterator[tuple[str, Any]] | list[tuple[str, Any]]:
    """``(location, record)`` of each snapshot record in a file (``ValueError``: unreadable).

    JSONL is streamed line by line (memory independent of the file's length); a line that
    does not parse or decode is a ``ValueError`` record, never the end of the file.
    """
    if path.suffix == ".jsonl":
        if not _has_content(path):
            raise ValueError(f"{path}: empty file")
        return _jsonl_records(path)
    doc = read_json(path)
    if isinstance(doc, dict):
        for key in ("snapshots", "poses", "frames", "records"):
            if isinstance(doc.get(key), list):
                doc = doc[key]
                break
    if isinstance(doc, list):
        return [(f"[{i}]", r) for i, r in enumerate(doc)]
    return [("", doc)]


def _has_content(path: Path) -> bool:
    """Whether the file holds a non-blank byte (reads only up to the first one)."""
    if not path.stat().st_size:
        return False
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            if chunk.strip():
                return True
    return False


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:  # depth-bounded: a line nested 100k deep is one bad record, not a crash
                yield f"line {i}", loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield f"line {i}", ValueError(f"not UTF-8 text ({exc.reason} at byte "
                                              f"{exc.start})")
            except ValueError as exc:
                yield f"line {i}", ValueError(str(exc).replace(
                    "invalid JSON at line 1 col", "invalid JSON at col"))


class _CameraBuffer:
    """One camera's snapshots, packed into arrays every :data:`_CHUNK` snapshots."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.j: list[np.ndarray] = []
        self.c: list[np.ndarray | None] = []
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.all_conf = True

    def add(self, t: float, joints: np.ndarray, conf: np.ndarray | None) -> None:
        self.t.append(t)
        self.j.append(joints)
        self.c.append(conf)
        if len(self.t) >= _CHUNK:
            self.pack()

    def pack(self) -> None:
        if not self.t:
            return
        self.all_conf = self.all_conf and all(c is not None for c in self.c)
        conf = np.stack(cast(list[np.ndarray], self.c)) if self.all_conf else None
        self.chunks.append((np.asarray(self.t, dtype=np.float64), np.stack(self.j), conf))
        self.t, self.j, self.c = [], [], []

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(times, joints, confidence or None)`` in time order (stable for equal times)."""
        self.pack()
        t = np.concatenate([c[0] for c in self.chunks])
        joints = np.concatenate([c[1] for c in self.chunks])
        conf = (np.concatenate([cast(np.ndarray, c[2]) for c in self.chunks])
                if self.all_conf else None)
        self.chunks = []
        if len(t) > 1 and not np.all(np.diff(t) >= 0):  # files out of order: sort once
            order = np.argsort(t, kind="stable")
            t, joints = t[order], joints[order]
            conf = conf[order] if conf is not None else None
        return t, joints, conf


def read_metadata(folder: Path, mapping: Mapping) -> tuple[dict, list[str]]:
    """The metadata object (``{}`` when absent) and its keys not understood."""
    path = folder / METADATA
    if not path.is_file():
        return {}, []
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - known_keys(META_FIELDS, mapping))
    return doc, [f"{METADATA}: key {k!r}" for k in unknown]


def session_start(folder: Path, meta: dict, mapping: Mapping) -> tuple[datetime, str]:
    """Session start (UTC): metadata ``started_at`` (or alias), else the folder name's time."""
    key, value = pick(meta, "started_at", mapping)
    if key is not None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        path = folder / METADATA
        try:
            t = parse_time(value, key=key, start=epoch, time_unit=mapping.time_unit)
            return datetime.fromtimestamp(t, tz=UTC), f"{METADATA}:{key}"
        except (ValueError, OverflowError, OSError) as exc:  # e.g. 1e23: past datetime's years
            raise ValueError(f"{path}: {key} {value!r} is not a usable session start "
                             f"({exc})") from None
    m = FOLDER_RE.match(folder.name)
    if m:
        dt = datetime.strptime(m.group("utc"), "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
        return dt, "folder_name"
    raise ValueError(f"{folder}: no session start: metadata.json has none of "
                     f"{list(mapping.aliases('started_at'))} and the folder name does not end "
                     "in -YYYY-MM-DDTHH-MM-SSZ")


def read_session(folder: Path, mapping: Mapping = NO_MAPPING
                 ) -> tuple[Session | None, list[Problem]]:
    """Read one session folder; returns the session (or None) and every problem found."""
    sid = folder.name

    def head() -> tuple[dict, list[str], datetime, str, list[Path]]:
        meta, not_understood = read_metadata(folder, mapping)
        start, start_from = session_start(folder, meta, mapping)
        return meta, not_understood, start, start_from, snapshot_files(folder, mapping)

    got, why = guard(folder / METADATA, head)  # any exception: a problem naming the file
    if got is None:
        return None, [_bad(folder / METADATA, sid, str(why))]
    meta, not_understood, start, start_from, files = got
    size, why = guard(folder, lambda: sum(p.stat().st_size for p in files))
    if size is None:
        return None, [_bad(folder, sid, str(why))]
    if size > MAX_SESSION_SNAPSHOT_BYTES:  # refused before reading: memory stays bounded
        return None, [_bad(folder, sid, f"{folder}: its {len(files)} snapshot file(s) hold "
                                        f"{size / 2**20:.0f} MiB, over motionpair's limit of "
                                        f"{MAX_SESSION_SNAPSHOT_BYTES // 2**20} MiB per session "
                                        "(memory); split the recording into sessions")]
    _, mid = pick(meta, "session_id", mapping)
    sid = str(mid) if isinstance(mid, str) and mid else sid
    _, playlist = pick(meta, "playlist", mapping)
    m = FOLDER_RE.match(folder.name)
    playlist = playlist if isinstance(playlist, str) else (m.group("name") if m else "")
    problems: list[Problem] = []
    read_events, why = guard(folder / METADATA, _events, meta, start, mapping)
    if read_events is None:
        meta_path = folder / METADATA
        return None, [_bad(meta_path, sid, f"{meta_path}: playback events: "
                                           f"{str(why).removeprefix(f'{meta_path}: ')}")]
    events, unused_event_keys = read_events
    not_understood += unused_event_keys
    offsets, why = guard(folder / METADATA, camera_offsets, meta, mapping)
    if offsets is None:
        meta_path = folder / METADATA
        return None, [_bad(meta_path, sid, f"{meta_path}: "
                                           f"{str(why).removeprefix(f'{meta_path}: ')}")]
    tl_key, tl_value = pick(meta, "track_list", mapping)
    track_list = None
    if tl_key is not None:
        meta_path = folder / METADATA
        got_tl, why = guard(meta_path, parse_track_list, tl_value, f"{meta_path}: {tl_key}",
                            mapping)
        if got_tl is None:
            return None, [_bad(meta_path, sid, str(why))]
        track_list, tl_notes = got_tl
        not_understood += [n.replace(f"{meta_path}: ", f"{METADATA}: ") for n in tl_notes]
    per_cam: dict[str, _CameraBuffer] = {}
    names: list[str] | None = None
    shape: tuple[int, int] | None = None
    unknown_keys: set[str] = set()
    known = known_keys(SNAPSHOT_FIELDS, mapping)
    n_records = 0
    for path in files:
        recs, why = guard(path, records_of, path)
        if recs is None:
            problems.append(_bad(path, sid, str(why)))
            continue
        errors: list[str] = []
        last: dict[str, float] = {}
        default_cam = path.parent.name if path.parent != folder else "cam"
        try:
            for loc, rec in recs:  # JSONL: streamed, one line at a time
                n_records += 1
                try:
                    if isinstance(rec, Exception):
                        raise rec
                    if not isinstance(rec, dict):
                        raise ValueError(f"a snapshot is a JSON object, got "
                                         f"{type(rec).__name__}")
                    unknown_keys |= set(rec) - known
                    tkey, tval = pick(rec, "time", mapping)
                    if tkey is None:
                        raise ValueError(f"no time key (accepted: "
                                         f"{list(mapping.aliases('time'))})")
                    t = parse_time(tval, key=tkey, start=start, time_unit=mapping.time_unit)
                    _, cam = pick(rec, "camera", mapping)
                    cam = str(cam) if cam is not None else default_cam
                    jkey, jval = pick(rec, "joints", mapping)
                    if jkey is None:
                        raise ValueError(f"no joints key (accepted: "
                                         f"{list(mapping.aliases('joints'))})")
                    _, cval = pick(rec, "confidence", mapping)
                    arr, conf, names = _joints(jval, cval, names)
                    if shape is not None and arr.shape != shape:
                        raise ValueError(f"joints shape {arr.shape} differs from the "
                                         f"session's {shape}")
                    shape = arr.shape
                    if cam in last and t <= last[cam]:
                        raise ValueError(f"camera {cam!r} time {t:.3f} s is not after the "
                                         f"previous {last[cam]:.3f} s (non-monotonic or "
                                         "duplicate timestamp)")
                    last[cam] = t
                    # a declared camera offset puts this camera's clock on the session clock
                    per_cam.setdefault(cam, _CameraBuffer()).add(
                        t + offsets.get(cam, 0.0), arr, conf)
                except Exception as exc:  # noqa: BLE001 - one bad record never stops the others
                    msg = str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"
                    errors.append(f"{loc}: {msg}" if loc else msg)
        except OSError as exc:  # the file failed mid-read: what was read is kept
            errors.append(f"read failed after {n_records} record(s): {exc.strerror or exc}")
        if errors:
            problems.append(_bad(path, sid, f"{path}: {len(errors)} snapshot record(s) dropped; "
                                            + "; ".join(errors[:3])
                                            + (" ..." if len(errors) > 3 else "")))
    streams = {}
    for cam, buf in sorted(per_cam.items()):
        times, joints, conf = buf.arrays()
        dup = np.flatnonzero(np.diff(times) <= 0) + 1
        if len(dup):  # only reachable across files (one file per snapshot)
            problems.append(_bad(folder, sid, f"{folder}: camera {cam!r}: {len(dup)} duplicate "
                                              f"timestamp(s) across files, e.g. "
                                              f"{times[dup[0]]:.3f} s; the later copies are "
                                              "dropped"))
            keep = np.setdiff1d(np.arange(len(times)), dup)
            times, joints = times[keep], joints[keep]
            conf = conf[keep] if conf is not None else None
        streams[cam] = Stream(camera=cam, times_s=times, joints=joints, confidence=conf)
    not_understood += [f"snapshot key {k!r}" for k in sorted(unknown_keys)]
    okey, _ = pick(meta, "camera_offsets", mapping)
    offsets_from = ([f"{METADATA}:{okey}"] if okey else []) + (
        [f"{mapping.path}:camera_offsets_s"] if mapping.camera_offsets_s else [])
    # a declared offset for a camera with no snapshot is a typo or a stale entry: say so
    not_understood += [f"camera_offsets_s: camera {c!r} has no snapshot (offset not used)"
                       for c in sorted(set(offsets) - set(streams))]
    used = {str(p) for p in files} | {str(folder / METADATA), str(folder / MAPPING_FILE)}
    not_understood += [f"file {p.relative_to(folder).as_posix()!r}: not read" for p in
                       sorted(folder.rglob("*")) if p.is_file() and str(p) not in used]
    session = Session(session_id=sid, folder=str(folder), start_utc=start, start_from=start_from,
                      playlist=playlist, events=events, streams=streams, joint_names=names,
                      files=[str(p) for p in files],
                      track_list=track_list,
                      track_list_from=f"{METADATA}:{tl_key}" if track_list else "",
                      facts={"session": sid, "folder": folder.name, "playlist": playlist,
                             "start_utc": start.isoformat().replace("+00:00", "Z"),
                             "start_from": start_from, "snapshot_records": n_records,
                             "snapshots": int(sum(len(s.times_s) for s in streams.values())),
                             "cameras": {c: len(s.times_s) for c, s in streams.items()},
                             "dims": shape[1] if shape else None,
                             "n_joints": shape[0] if shape else None,
                             "joint_names": names, "mapping": mapping.path or None,
                             "camera_offsets_s": offsets or None,
                             "camera_offsets_from": offsets_from or None,
                             "not_understood": not_understood})
    if not streams:
        problems.append(Problem(path=str(folder), source="motionmix", session=sid,
                                kind="incomplete" if not files else "bad",
                                reason=f"{folder}: no usable pose snapshot (looked at "
                                       f"{len(files)} file(s))"))
        return None, problems
    return session, problems


def camera_offsets(meta: dict, mapping: Mapping) -> dict[str, float]:
    """Declared per-camera clock offsets (s): session time = snapshot time + offset.

    Metadata ``camera_offsets_s`` (aliases in docs/motionmix_format.md) maps a camera
    name to a finite number of seconds; the mapping file's ``camera_offsets_s`` (a user's
    correction) overrides it camera by camera; cameras named by neither have offset 0.
    """
    key, value = pick(meta, "camera_offsets", mapping)
    if key is None:
        return dict(mapping.camera_offsets_s)
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must map camera names to seconds")
    out = {}
    for cam, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise ValueError(f"{key}[{cam!r}] = {v!r} is not a finite number of seconds")
        if abs(v) > MAX_CAMERA_OFFSET_S:
            raise ValueError(f"{key}[{cam!r}] = {v:g} s is not a plausible camera clock "
                             f"offset (|offset| <= {MAX_CAMERA_OFFSET_S} s)")
        out[str(cam)] = float(v)
    return {**out, **mapping.camera_offsets_s}


def _events(meta: dict, start: datetime, mapping: Mapping
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """Playback events ``[{"t_s", "end_s" or None, "track", "position_s"}]`` sorted by start,
    and one "not understood" line per event key that was not used (with the events holding it).

    ``position_s`` is the track time at which playback (re)started at ``t_s`` (a resume after a
    pause, a seek); 0 when the event names none. Keys ending in ``_ms`` are milliseconds.
    """
    key, events = pick(meta, "events", mapping)
    if key is None:
        return [], []
    if not isinstance(events, list):
        raise ValueError(f"{key!r} must be a list")
    out = []
    unused: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise ValueError(f"{key}[{i}] is not an object")
        tk, tv = pick(e, "event_time", mapping)
        _, track = pick(e, "event_track", mapping)
        if tk is None or not isinstance(track, str):
            raise ValueError(f"{key}[{i}] needs a time and a track (id, file or title)")
        t = parse_time(tv, key=tk, start=start, time_unit=mapping.time_unit)
        ek, ev = pick(e, "event_end", mapping)
        end = parse_time(ev, key=ek, start=start, time_unit=mapping.time_unit) if ek else None
        pk, pv = pick(e, "event_position", mapping)
        pos = 0.0
        if pk is not None:
            if isinstance(pv, bool) or not isinstance(pv, int | float) or not pv >= 0 \
                    or pv == float("inf"):
                raise ValueError(f"{key}[{i}].{pk} = {pv!r} must be a track time >= 0 "
                                 f"({'ms' if pk.endswith('_ms') else 's'})")
            pos = float(pv) / (1000.0 if pk.endswith("_ms") else 1.0)
        trk = next(k for k in mapping.aliases("event_track") if k in e)
        for k in set(e) - {tk, trk, ek, pk}:
            unused.setdefault(k, []).append(i)
        out.append({"t_s": t, "end_s": end, "track": track, "position_s": pos})
    out.sort(key=lambda e: cast(float, e["t_s"]))
    notes = [f"{METADATA}: {key} key {k!r} (event(s) {', '.join(map(str, ix[:5]))}"
             f"{' ...' if len(ix) > 5 else ''}): not used" for k, ix in sorted(unused.items())]
    return out, notes


def _bad(path: Path, session: str, reason: str) -> Problem:
    return Problem(path=str(path), source="motionmix", session=session, kind="bad",
                   reason=reason)
