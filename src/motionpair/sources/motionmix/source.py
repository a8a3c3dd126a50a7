"""Reader for MotionMix captures: audio-prep playlists (NPZ) + LiveDirector sessions.

Scanning finds playlist folders (``*.npz`` with an optional ``manifest.json``)
and session folders (``metadata.json`` + pose snapshots) anywhere below the
given paths, matches every session's snapshots to the tracks of its playlist
(:mod:`motionpair.sources.motionmix.matching`) and yields one pair per (session, camera stream,
played track). Formats: docs/motionmix_format.md.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from motionpair.safeio import guard
from motionpair.sources.common import fingerprint
from motionpair.sources.motionmix.audio import (
    Playlist,
    Track,
    features_for_build,
    read_playlist,
)
from motionpair.sources.motionmix.camclock import ASSUMPTION as CAMERA_CLOCKS
from motionpair.sources.motionmix.camclock import ASSUMPTIONS as CLOCK_ASSUMPTIONS
from motionpair.sources.motionmix.camclock import session_clock_check
from motionpair.sources.motionmix.mapping import (
    MAPPING_FILE,
    Mapping,
    find_mapping,
    load_mapping,
    parse_track_list,
)
from motionpair.sources.motionmix.matching import ASSUMPTIONS as MATCH_ASSUMPTIONS
from motionpair.sources.motionmix.matching import (
    TrackSpan,
    assign,
    event_segments,
    gapless_segments,
)
from motionpair.sources.motionmix.session import METADATA, Session, read_session
from motionpair.types import (
    AudioFeatures,
    AudioRef,
    ClockMap,
    InputFile,
    PairSpec,
    PoseStream,
    Problem,
    StreamInfo,
)

if TYPE_CHECKING:
    from motionpair.cache import Cache
    from motionpair.config import BuildConfig

NAME = "motionmix"
LOOKS_FOR = ("playlist folders of per-track .npz (+ optional manifest.json) and session "
             "folders <playlist>-<YYYY-MM-DDTHH-MM-SSZ>/ with metadata.json + pose snapshots")
#: Sparse snapshot streams (~1 Hz): paired in a mode (windows.snapshot.pairing_mode).
SPARSE = True
#: One offset map per playback segment; no beat-wise map exists for a UTC-clocked stream.
CLOCK_KINDS = ("default", "linear")
MOTION_UNITS = "camera units (pixels for 2-D)"
PRIORITY = 10
STREAM_CLOCK = "motionmix.stream_clock_seconds_since_session_start_utc"
NPZ_AUDIO = "motionmix.npz_features_track_time_zero_is_frame_zero"
FUSED = "motionmix.fused_camera_highest_confidence_per_joint"
ASSUMPTIONS = {
    STREAM_CLOCK: (
        "a snapshot's stream time is its UTC timestamp minus the session start (metadata "
        "started_at, else the UTC time in the folder name); all cameras share this clock"
    ),
    NPZ_AUDIO: (
        "NPZ feature frame k is centred at k*hop/sr s of the track (librosa center=True) and "
        "track time 0 is what the player played first"
    ),
    FUSED: (
        "fused stream: snapshots of different cameras within fuse_tolerance_s are one instant "
        "(the mean of their times); each joint is taken from the camera with the highest "
        "confidence. Coordinates of different cameras are NOT registered to one frame: only "
        "meaningful when the cameras' coordinates agree"
    ),
    **MATCH_ASSUMPTIONS,
    **CLOCK_ASSUMPTIONS,
}
FUSE_TOLERANCE_S = 0.25


def find_folders(path: Path) -> tuple[list[Path], list[Path]]:
    """``(playlist folders, session folders)`` at or below ``path``, sorted; no symlinked dirs."""
    playlists, sessions = [], []
    for dirpath, dirnames, filenames in os.walk(path):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not (d / n).is_symlink()
                             and not n.startswith("DANCE_"))
        if "manifest.jsonl" in filenames and "dataset.json" in filenames:
            dirnames[:] = []  # a motionpair dataset (its norm_stats.npz is no playlist)
            continue
        if METADATA in filenames:
            sessions.append(d)
            dirnames[:] = []  # its subfolders are camera folders, not sessions
        elif any(f.endswith(".npz") for f in filenames):
            playlists.append(d)
    return playlists, sessions


def _read_folder(reader: Callable[[Path, Mapping], tuple[Any, list[Problem]]], folder: Path,
                 root: Path, problems: list[Problem]) -> tuple[Mapping | None, Any]:
    """``(mapping, what reader made of folder)``; ``(None, None)`` when the mapping is bad.

    The reader's problems (and a bad mapping file's) are appended to ``problems``.
    """
    mapping, why = guard(folder / MAPPING_FILE, lambda: load_mapping(find_mapping(folder, root)))
    if mapping is None:
        problems.append(Problem(path=str(folder / MAPPING_FILE), source=NAME,
                                session=folder.name, kind="bad", reason=str(why)))
        return None, None
    # the readers guard each file; this guard catches what falls between them
    got, why = guard(folder, reader, folder, mapping)
    if got is None:
        problems.append(Problem(path=str(folder), source=NAME, session=folder.name, kind="bad",
                                reason=str(why)))
        return mapping, None
    obj, probs = got
    problems += probs
    return mapping, obj


def _duplicate(folder: Path, what: str, name: str, first: object) -> Problem:
    """The second folder claiming ``name``: reported, not used (the first one wins)."""
    return Problem(path=str(folder), source=NAME, session=name, kind="bad",
                   reason=f"{folder}: duplicate {what} {name!r} (first: {first}); "
                          "this one is not used")


def found(path: Path) -> bool:
    """Whether a playlist or session folder is at or below ``path``."""
    return any(find_folders(path))


def scan(paths: list[Path], *, cache: Cache | None = None
         ) -> tuple[list[PairSpec], list[Problem], list[dict]]:
    """:func:`scan_paths` (no memoised step: ``cache`` is unused)."""
    return scan_paths([Path(p) for p in paths])


def features(spec: PairSpec, cfg: BuildConfig) -> AudioFeatures | None:
    """The NPZ features of a prepared track (loaded, never unpickled); None for raw audio."""
    return features_for_build(spec, cfg) if spec.track.kind == "npz" else None


def stream_info(spec: PairSpec) -> StreamInfo:
    """The stream's measured rate (picks the pairing mode), the camera and how its track
    was matched (manifest columns ``camera``, ``matched_by``), and :data:`FUSED` for a
    fused stream."""
    p = spec.params
    return StreamInfo(rate_hz=float(p["rate_hz"]),
                      row_extras={"matched_by": p["matched_by"], "camera": p["camera"]},
                      assumptions=(FUSED,) if p["camera"] == "fused" else ())


def feature_grid(spec: PairSpec) -> tuple[int, int, str] | None:
    """``(sr_hz, hop, playlist)`` of the pair's audio-prep NPZ (the build's grid check,
    :mod:`motionpair.build.grid`); None for a raw-audio track."""
    if spec.track.kind != "npz":
        return None
    npz = spec.params.get("npz", {})
    return int(npz["sr_hz"]), int(npz["hop"]), str(spec.params.get("playlist", ""))


def stream_beats(spec: PairSpec, beat_times_s: np.ndarray) -> None:
    """None: a MotionMix stream is on a real-time clock with no beat of its own (its dense
    pairs' evidence measures drift from the offset halves)."""
    return None


def scan_paths(paths: list[Path]) -> tuple[list[PairSpec], list[Problem], list[dict]]:
    """Pairs, problems and per-unit facts for every MotionMix input below ``paths``."""
    pairs: list[PairSpec] = []
    problems: list[Problem] = []
    units: list[dict[str, Any]] = []
    playlists: dict[str, tuple[Playlist, Path]] = {}
    sessions: list[tuple[Session, Path, Any]] = []
    seen_sessions: dict[str, str] = {}
    pl_units: dict[str, dict[str, Any]] = {}  # playlist name -> its unit in ``units``
    for raw in paths:
        root = Path(raw).resolve()
        if not root.is_dir():
            continue
        pl_dirs, s_dirs = find_folders(root)
        for folder in pl_dirs:
            mapping, pl = _read_folder(read_playlist, folder, root, problems)
            if mapping is None or pl is None:
                continue
            pl.facts["mapping"] = mapping.path or None
            if pl.name in playlists:
                problems.append(_duplicate(folder, "playlist name", pl.name,
                                           playlists[pl.name][0].folder))
                continue
            playlists[pl.name] = (pl, root)
            pl_units[pl.name] = {"source": NAME, "kind": "playlist", "session": pl.name,
                                 "folder": str(folder), **pl.facts, "paired": False}
            units.append(pl_units[pl.name])
        for folder in s_dirs:
            mapping, s = _read_folder(read_session, folder, root, problems)
            if mapping is None:
                continue
            if s is None:
                units.append({"source": NAME, "kind": "session", "session": folder.name,
                              "folder": str(folder), "paired": False})
                continue
            if s.session_id in seen_sessions:
                problems.append(_duplicate(folder, "session id", s.session_id,
                                           seen_sessions[s.session_id]))
                continue
            seen_sessions[s.session_id] = str(folder)
            sessions.append((s, root, mapping))
    for s, root, mapping in sessions:
        got, why = guard(s.folder, _pair_session, s, root, mapping, playlists)
        if got is None:
            problems.append(Problem(path=s.folder, source=NAME, session=s.session_id,
                                    kind="bad", reason=str(why)))
            units.append({"source": NAME, "kind": "session", **s.facts, "paired": False})
            continue
        sp, sprobs, facts = got
        pairs += sp
        problems += sprobs
        units.append(facts)
        for name in facts.get("playlists_used", []) if sp else []:
            pl_units[name]["paired"] = True
    return pairs, problems, units


def _track_spans(pl: Playlist) -> list[TrackSpan]:
    return [TrackSpan(t.track_id, t.duration_s, (Path(t.path).stem, Path(t.path).name))
            for t in pl.tracks]


#: How many found tracks a "no track list" fix lists as its example value.
FIX_EXAMPLE_TRACKS = 20


def mix_track_list(s: Session, mapping: Mapping) -> tuple[list[tuple[str | None, str]] | None,
                                                           str, list[str]]:
    """A mix session's track list ``[(playlist or None, track)]``, where it came from, notes.

    The mapping file's ``mixes`` entry (keyed by the mix name, the session id or the folder
    name) wins over a track list in ``metadata.json`` (the user's word over the app's); both
    present is noted. ``(None, "", [])`` when neither exists.
    """
    for name in dict.fromkeys((s.playlist, s.session_id, Path(s.folder).name)):
        if name in mapping.mixes:
            where = f"{mapping.path}: mixes[{name!r}]"
            entries, notes = parse_track_list(mapping.mixes[name], where, mapping)
            if s.track_list:
                notes.append(f"{s.track_list_from}: a track list too; not used ({where} wins)")
            return entries, f"{MAPPING_FILE}:mixes[{name!r}]", notes
    if s.track_list:
        return s.track_list, s.track_list_from, []
    return None, "", []


def resolve_mix(entries: list[tuple[str | None, str]],
                playlists: dict[str, tuple[Playlist, Path]]
                ) -> tuple[list[tuple[str, Track]], list[str]]:
    """``[(playlist name, track)]`` for each entry, and one line per entry that cannot be tied.

    A track is named by its id, NPZ file stem or file name, in the entry's playlist when it
    names one, else in every playlist found: a name found in several playlists is ambiguous
    (never guessed).
    """
    out: list[tuple[str, Track]] = []
    errors: list[str] = []
    for i, (pl_name, name) in enumerate(entries):
        ref = f"{pl_name}/{name}" if pl_name else name
        if pl_name is not None and pl_name not in playlists:
            errors.append(f"entry {i} {ref!r}: no playlist folder {pl_name!r} was found")
            continue
        hits = [(n, t) for n, (pl, _) in sorted(playlists.items())
                if pl_name in (None, n) for t in pl.tracks
                if name in (t.track_id, Path(t.path).stem, Path(t.path).name)]
        if len(hits) == 1:
            out.append(hits[0])
        elif not hits:
            errors.append(f"entry {i} {ref!r}: no such track in "
                          + (f"playlist {pl_name!r}" if pl_name else "any playlist found"))
        else:
            errors.append(f"entry {i} {ref!r} is a track of {len(hits)} playlists "
                          f"({', '.join(n for n, _ in hits)}): write it as "
                          f"'<playlist>/{name}'")
    return out, errors


def _no_track_list(s: Session, root: Path, mapping: Mapping,
                   playlists: dict[str, tuple[Playlist, Path]]) -> Problem:
    """A session whose playlist folder is missing and that names no track list: the fix."""
    refs = [f"{n}/{t.track_id}" for n, (pl, _) in sorted(playlists.items()) for t in pl.tracks]
    example = json.dumps(refs[:FIX_EXAMPLE_TRACKS] or ["<playlist>/<track>"])
    more = (f" ({len(refs) - FIX_EXAMPLE_TRACKS} more tracks found; see scan --json)"
            if len(refs) > FIX_EXAMPLE_TRACKS else "")
    mixes = f'"mixes": {{{json.dumps(s.playlist)}: {example}}}'
    # an existing mapping file takes one more key; a new one is the whole object
    to_map = (f"add {mixes} to {shlex.quote(mapping.path)}" if mapping.path else
              f"write {{{mixes}}} to {shlex.quote(str(root / MAPPING_FILE))}")
    meta = shlex.quote(str(Path(s.folder) / METADATA))
    return Problem(
        path=s.folder, source=NAME, session=s.session_id, kind="incomplete",
        reason=f"{s.folder}: plays {s.playlist!r}, but no playlist folder of that name was "
               f"found (found: {sorted(playlists) or 'none'}) and no track list ties it to its "
               f"tracks (a mix is never guessed); fix: add \"tracks\": {example}{more} to "
               f"{meta}, or {to_map}, keeping the tracks the session played, in play order")


def _pair_session(s: Session, root: Path, mapping: Mapping,
                  playlists: dict[str, tuple[Playlist, Path]]
                  ) -> tuple[list[PairSpec], list[Problem], dict]:
    """Match one session to its playlist or mix; one PairSpec per (camera, played track)."""
    facts: dict[str, Any] = {"source": NAME, "kind": "session", **s.facts, "paired": False}
    entries, list_from, notes = mix_track_list(s, mapping)
    if notes:
        facts["not_understood"] = [*facts.get("not_understood", []), *notes]
    played: list[tuple[str, Track]]  # (playlist name, track) in play order
    if entries is not None:
        played, errors = resolve_mix(entries, playlists)
        facts.update(track_list_from=list_from,
                     mix_tracks=[f"{n}/{t.track_id}" for n, t in played])
        if errors:
            return [], [Problem(
                path=s.folder, source=NAME, session=s.session_id, kind="incomplete",
                reason=f"{s.folder}: the track list of {s.playlist!r} ({list_from}) cannot be "
                       f"tied to its tracks: {'; '.join(errors)}; tracks found: "
                       + (", ".join(f"{n}/{t.track_id}" for n, (pl, _) in
                                    sorted(playlists.items()) for t in pl.tracks)[:600]
                          or "none"))], facts
    elif s.playlist in playlists:
        played = [(s.playlist, t) for t in playlists[s.playlist][0].tracks]
    else:
        return [], [_no_track_list(s, root, mapping, playlists)], facts
    # a track id names one span; the same id from two playlists gets its playlist in front
    span_ids = [t.track_id if len({n for n, tt in played if tt.track_id == t.track_id}) == 1
                else f"{n}__{t.track_id}" for n, t in played]
    # what playback events may call a track: its id, NPZ stem, file name, <playlist>/<id>
    spans = [TrackSpan(sid, t.duration_s, (*([t.track_id] if sid != t.track_id else []),
                                           Path(t.path).stem, Path(t.path).name,
                                           f"{n}/{t.track_id}"))
             for sid, (n, t) in zip(span_ids, played, strict=True)]
    problems: list[Problem] = []
    if s.events:
        segments, unknown = event_segments(s.session_id, spans, s.events)
        for u in unknown:
            problems.append(Problem(path=str(Path(s.folder) / METADATA), source=NAME,
                                    session=s.session_id, kind="bad",
                                    reason=f"{Path(s.folder) / METADATA}: {u}"))
    else:
        segments = gapless_segments(s.session_id, spans)
    tracks = {sid: entry for sid, entry in zip(span_ids, played, strict=True)}
    session_inputs = [fingerprint(Path(p), root) for p in
                      sorted({str(Path(s.folder) / METADATA), *s.files})
                      if Path(p).is_file()]
    if mapping.path:
        session_inputs.append(fingerprint(Path(mapping.path), root))
    pl_inputs: dict[str, list[InputFile]] = {}
    for name in dict.fromkeys(n for n, _ in played):
        # the playlist's manifest (order, durations) and mapping shape every pair of it
        pl, pl_root = playlists[name]
        pl_inputs[name] = [fingerprint(p, pl_root) for p in
                           (Path(pl.folder) / "manifest.json",
                            Path(pl.facts.get("mapping") or ""))
                           if p.name and p.is_file() and str(p) != mapping.path]
    matched = out_of_track = 0
    per_cam: dict[str, dict[str, int | float]] = {}
    specs: list[PairSpec] = []
    tr_inputs: dict[str, InputFile] = {}  # track path -> its NPZ fingerprint, hashed once
    seg_times: dict[int, list[float]] = {}  # segment -> [first, last] matched stream time
    for cam, stream in s.streams.items():
        idx = assign(stream.times_s, segments)
        rate = _rate_hz(stream.times_s)
        n_in = int((idx >= 0).sum())
        per_cam[cam] = {"snapshots": len(idx), "matched": n_in,
                        "out_of_track": len(idx) - n_in, "rate_hz": rate}
        matched += n_in
        out_of_track += len(idx) - n_in
        for k in sorted(set(idx[idx >= 0].tolist())):
            seg = segments[k]
            pl_name, tr = tracks[seg.track_id]
            pl, pl_root = playlists[pl_name]
            t_in = stream.times_s[idx == k]
            got = seg_times.setdefault(k, [float(t_in[0]), float(t_in[-1])])
            got[:] = [min(got[0], float(t_in[0])), max(got[1], float(t_in[-1]))]
            if tr.path not in tr_inputs:
                tr_inputs[tr.path] = fingerprint(Path(tr.path), pl_root)
            specs.append(PairSpec(
                pair_id=f"{NAME}/{s.session_id}/{cam}/{k:02d}_{seg.track_id}",
                session=s.session_id, source=NAME, group=s.session_id, style="",
                track=AudioRef(track_id=f"{pl_name}/{tr.track_id}", path=tr.path, kind="npz",
                               duration_s=tr.duration_s, sha256=tr.sha256),
                inputs=[tr_inputs[tr.path], *pl_inputs[pl_name], *session_inputs],
                params={"folder": s.folder, "camera": cam, "cameras": sorted(s.streams),
                        "stream_key": f"camera:{cam}", "segment": k,
                        "stream_start_s": seg.stream_start_s, "stream_end_s": seg.stream_end_s,
                        "clock_offset_s": seg.clock.offset_s,
                        "matched_by": seg.matched_by, "assumption": seg.clock.assumption,
                        "clock_note": seg.clock.note, "mapping": mapping.path or None,
                        "rate_hz": rate, "n_snapshots": int((idx == k).sum()),
                        "npz": {"sr_hz": tr.sr_hz, "hop": tr.hop, "duration_s":
                                tr.duration_s if tr.duration_from == "manifest" else None,
                                "mapping": pl.facts.get("mapping")},
                        "playlist": s.playlist,
                        **({"track_playlist": pl_name} if pl_name != s.playlist else {})}))
    facts.update({"matched_by": sorted({seg.matched_by for seg in segments}),
                  "segments": [{"track": seg.track_id, "stream_start_s": round(seg.stream_start_s,
                                                                               6),
                                "stream_end_s": round(seg.stream_end_s, 6),
                                "track_start_s": round(seg.stream_start_s + seg.clock.offset_s,
                                                       6),
                                "danced_s": round(seg_times[k][1] - seg_times[k][0], 6)
                                if k in seg_times else 0.0} for k, seg in enumerate(segments)],
                  # danced song time: per played segment, first to last matched snapshot
                  # (any camera), summed; the same track played twice counts twice
                  "song_span_s": round(sum(b - a for a, b in seg_times.values()), 6),
                  "playlists_used": sorted({tracks[segments[k].track_id][0]
                                            for k in seg_times}),
                  "snapshots_matched": matched, "snapshots_out_of_track": out_of_track,
                  "per_camera": per_cam, "paired": bool(specs),
                  # camera clocks: what the session's own motion says (reported, not applied)
                  "camera_clock": session_clock_check(
                      {c: (st.times_s, st.joints) for c, st in s.streams.items()},
                      s.facts.get("camera_offsets_s") or {}),
                  })
    if matched == 1:  # a 1-snapshot session: where it lies, so scan can say what build does
        k = next(iter(seg_times))
        seg = segments[k]
        facts["one_snapshot"] = {"track": tracks[seg.track_id][1].track_id,
                                 "track_s": round(seg_times[k][0] + seg.clock.offset_s, 6),
                                 "track_duration_s": round(tracks[seg.track_id][1].duration_s,
                                                           6)}
    if out_of_track:
        facts["out_of_track_note"] = (f"{out_of_track} snapshot(s) fall outside every played "
                                      "track; they are counted, never assigned to a track")
    if out_of_track and not matched:  # nothing pairs: a wrong start or clock, not a quiet skip
        times = np.concatenate([st.times_s for st in s.streams.values()])
        cover = (f"{min(seg.stream_start_s for seg in segments):.2f} .. "
                 f"{max(seg.stream_end_s for seg in segments):.2f} s" if segments else "none")
        problems.append(Problem(
            path=s.folder, source=NAME, session=s.session_id, kind="bad",
            reason=f"{s.folder}: all {out_of_track} snapshot(s) fall outside every track of "
                   f"playlist {s.playlist!r}: they lie {times.min():.2f} .. {times.max():.2f} s "
                   f"after the session start ({s.start_from}), the tracks play at {cover} "
                   f"({', '.join(sorted({seg.matched_by for seg in segments})) or 'no segment'});"
                   " check the session start and the snapshot clock"))
    return specs, problems, facts


def _rate_hz(times_s: np.ndarray) -> float:
    """Measured stream rate: 1 / median interval (0 for fewer than 2 samples)."""
    d = np.diff(times_s)
    return round(float(1.0 / np.median(d)), 4) if len(d) else 0.0


def clock(spec: PairSpec, features: AudioFeatures | None = None, kind: str = "default"
          ) -> ClockMap:
    """The pair's offset clock: track time = session time - the track's start in the session.

    ``linear`` is the same map (an offset is linear); ``beatwise`` is refused by the build
    (:data:`CLOCK_KINDS`) and here.
    """
    if kind not in CLOCK_KINDS:
        raise ValueError(f"{spec.pair_id}: --clock {kind}: a MotionMix stream has no "
                         f"beat-wise clock map (it supports {', '.join(CLOCK_KINDS)})")
    p = spec.params
    return ClockMap(kind="offset", assumption=p["assumption"],
                    offset_s=p.get("clock_offset_s", -p["stream_start_s"]),
                    note=f"{p['matched_by']}: {p['clock_note']}")


def load_pose(spec: PairSpec) -> PoseStream:
    """The pair's camera (or fused) stream, restricted to its playback segment."""
    p = spec.params
    mapping = load_mapping(Path(p["mapping"]) if p.get("mapping") else None)
    session, problems = read_session(Path(p["folder"]), mapping)
    if session is None:
        raise ValueError("; ".join(pr.reason for pr in problems))
    if p["camera"] == "fused":
        times, joints, conf = fuse_streams(session, tolerance_s=FUSE_TOLERANCE_S)
    else:
        st = session.streams[p["camera"]]
        times, joints, conf = st.times_s, st.joints, st.confidence
    keep = (times >= p["stream_start_s"]) & (times < p["stream_end_s"])
    return PoseStream(stream_id=spec.pair_id, session=spec.session, times_s=times[keep],
                      joints=joints[keep], confidence=None if conf is None else conf[keep],
                      units="camera units (pixels for 2-D)", camera=p["camera"],
                      joint_names=session.joint_names,
                      meta={"rate_hz": p["rate_hz"], "matched_by": p["matched_by"]})


def fuse_streams(session: Session, *, tolerance_s: float) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray | None]:
    """One stream from all cameras: instants within ``tolerance_s`` merged, per joint best conf.

    Without confidences the camera sorted first wins every joint (recorded by the caller).
    """
    items = sorted((float(t), cam, i) for cam, st in session.streams.items()
                   for i, t in enumerate(st.times_s))
    groups: list[list[tuple[float, str, int]]] = []
    for it in items:
        if groups and it[0] - groups[-1][0][0] <= tolerance_s and \
                it[1] not in {g[1] for g in groups[-1]}:
            groups[-1].append(it)
        else:
            groups.append([it])
    times, joints, confs = [], [], []
    for g in groups:
        js = np.stack([session.streams[c].joints[i] for _, c, i in g])
        cs = np.stack([cast(np.ndarray, session.streams[c].confidence)[i]
                       if session.streams[c].confidence is not None
                       else np.zeros(js.shape[1]) for _, c, i in g])
        best = np.argmax(cs, axis=0)  # ties: the earliest instant, then camera name
        joints.append(js[best, np.arange(js.shape[1])])
        confs.append(cs[best, np.arange(js.shape[1])])
        times.append(float(np.mean([t for t, _, _ in g])))
    t = np.array(times)
    keep = np.concatenate([[True], np.diff(t) > 0])
    return t[keep], np.stack(joints)[keep], np.stack(confs)[keep]


def pairs_for_build(specs: list[PairSpec], cfg: BuildConfig) -> list[PairSpec]:
    """Optional Source hook: with ``--cameras fused``, one fused stream per played track."""
    return fused_specs(specs) if cfg.cameras == "fused" else specs


def fused_specs(specs: list[PairSpec]) -> list[PairSpec]:
    """Replace the per-camera pairs of each (session, segment) by one fused-stream pair."""
    out, done = [], set()
    for sp in specs:
        if sp.source != NAME:
            out.append(sp)
            continue
        key = (sp.session, sp.params["segment"])
        if key in done:
            continue
        done.add(key)
        pid = sp.pair_id.rsplit("/", 2)
        out.append(replace(sp, pair_id=f"{pid[0]}/fused/{pid[2]}",
                           params={**sp.params, "camera": "fused", "stream_key": "fused",
                                   "fuse_tolerance_s": FUSE_TOLERANCE_S}))
    return out


def assumptions_for(clock_map: ClockMap) -> list[str]:
    """Names of the assumptions a MotionMix window relies on, sorted."""
    return sorted({clock_map.assumption, STREAM_CLOCK, NPZ_AUDIO, CAMERA_CLOCKS})


def dataset_block(units: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"motionmix": ...}`` for dataset.json: per session, how snapshots were matched
    and how many fell outside every track (empty when no MotionMix input was read)."""
    sessions = [u for u in units if u.get("source") == NAME and u.get("kind") == "session"]
    if not sessions:
        return {}
    keys = ("session", "playlist", "start_utc", "start_from", "snapshots", "cameras",
            "snapshots_matched", "snapshots_out_of_track", "matched_by", "segments",
            "camera_offsets_s", "camera_offsets_from", "camera_clock",
            "song_span_s", "track_list_from", "mix_tracks")
    return {NAME: {"sessions": [{k: u.get(k) for k in keys} for u in sessions],
                   "out_of_track_rule": "snapshots outside every played track are counted "
                                        "here and never assigned to a track",
                   "pairing_modes": {
                       "snapshot": "grid 'snapshot': one row per snapshot; audio = context "
                                   "window (config context_s before/after); pose_valid true "
                                   "only on frames holding a snapshot of the stream (nearest "
                                   "frame; snapshot_dt_s = offset from the frame centre); "
                                   "velocity/acceleration from neighbours within max_gap_s "
                                   "(dynamics_valid); kin_beat not computed (zeros)",
                       "sequence": "grid 'fixed': dense windows as for tang2018, poses "
                                   "interpolated between snapshots, never across gaps longer "
                                   "than max_gap_s (default 1.5 s for sparse streams)"}}}
