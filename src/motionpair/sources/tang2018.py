"""Reader for the tang2018 layout (Tang, Jia & Mao, ACM MM 2018).

Each ``DANCE_<style>_<n>/`` folder holds ``audio.mp3``, ``skeletons.json``
(``{"length": T, "center": [[x,y,z]]*T, "skeletons": [[[x,y,z]]*23]*T}``;
absolute position = skeleton + center) and ``config.json``
(``{"start_position": S, "end_position": E}``: song frames at 25 fps where the
dance starts and ends).

The skeleton frames are beat-normalised, not a real-time clock, so the
default clock map is the linear warp of the T frames onto song time
S/25 … E/25 s (assumption :data:`LINEAR_WARP`).
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from motionpair.memo import code_sha256, memo_value
from motionpair.safeio import guard
from motionpair.sources.common import (
    fingerprint,
    not_a_file,
    read_json,
    require_number,
    sha256_file,
)
from motionpair.timebase import frames_to_seconds_exact, frames_to_time
from motionpair.types import (
    AudioFeatures,
    AudioRef,
    ClockMap,
    PairSpec,
    PoseStream,
    Problem,
    StreamInfo,
)

if TYPE_CHECKING:
    from motionpair.cache import Cache
    from motionpair.config import BuildConfig

NAME = "tang2018"
LOOKS_FOR = "DANCE_<style>_<n>/ folders with audio.mp3, skeletons.json, config.json"
#: Dense skeleton streams, cut into fixed or beat windows (no pairing modes).
SPARSE = False
#: linear (default) or beatwise: see :func:`clock`.
CLOCK_KINDS = ("default", "linear", "beatwise")
MOTION_UNITS = "cm"
#: Scanned (and listed in inventory.json) before other sources.
PRIORITY = 0
FOLDER_RE = re.compile(r"^DANCE_([A-Z])_(\d+)\Z")
REQUIRED = ("audio.mp3", "skeletons.json", "config.json")
STYLES = {"C": "cha-cha", "R": "rumba", "T": "tango", "W": "waltz"}

#: The song-frame rate of config.json, and the nominal skeleton frame rate.
SONG_FPS = Fraction(25)
NOMINAL_SKELETON_FPS = Fraction(25)
N_JOINTS = 23

LINEAR_WARP = "tang2018.linear_warp_start_end_song_frames_25fps"
BEATWISE = "tang2018.beatwise_F_frames_per_beat_from_beat_nearest_start"
#: Frames per beat published/measured for the styles whose rate is exact.
FRAMES_PER_BEAT = {"cha-cha": Fraction(25, 2), "rumba": Fraction(25, 2)}
ASSUMPTIONS = {
    LINEAR_WARP: (
        "skeleton frame i (of T) is placed at song time S/25 + i*(E-S)/(25*T) s, "
        "S and E being config.json start/end song frames at 25 fps; the skeleton "
        "frames are beat-normalised, so their own 25 fps clock is not real time"
    ),
    "tang2018.skeleton_stream_clock_i_over_25": (
        "the stream clock of a skeleton is frame index / 25 s (nominal, as published)"
    ),
    "tang2018.units_centimetres": "joint coordinates are taken to be centimetres, y up",
    "audio.t0_first_decoded_sample": (
        "track time 0 is the first sample libsndfile decodes from the MP3 "
        "(encoder delay/padding not compensated)"
    ),
    BEATWISE: (
        "skeleton beat k (frame k*F, F frames per beat: 12.5 for cha-cha/rumba, else "
        "T / the number of detected music beats in S/25..E/25) is tied to the k-th detected "
        "music beat from the beat nearest S/25; piecewise linear between beats, end slopes "
        "extrapolated"
    ),
}
#: Joint layout of ``skeletons.json`` (23 joints). The dataset publishes no joint names and
#: no search found its layout documented, so the layout is DERIVED from the real data: the
#: median distance of every joint pair over the 16 tang2018 sessions, and the involution
#: (left/right swap) that best preserves all those distances (mean mismatch 3.1 cm, against
#: 0 for the identity; found by local search from the index-symmetric guess). Sides are
#: named ``a``/``b``: which is the dancer's left depends on the frame's handedness and on
#: which foot marker is the toe, neither published. A mirror needs only the pairs.
JOINT_LAYOUT = "tang2018.joint_layout_derived_from_geometry"
JOINT_NAMES = ("head_a", "head_b", "pelvis",
               "shoulder_a", "elbow_a", "forearm_a", "hand_a",
               "hip_a", "knee_a", "ankle_a", "foot_a_1", "foot_a_2",
               "shoulder_b", "elbow_b", "forearm_b", "hand_b",
               "hip_b", "knee_b", "ankle_b", "foot_b_1", "foot_b_2",
               "hand_tip_b", "hand_tip_a")
MIRROR_PAIRS = ((0, 1), (3, 12), (4, 13), (5, 14), (6, 15), (7, 16), (8, 17), (9, 18),
                (10, 19), (11, 20), (21, 22))
ROOT_JOINT = 2  # pelvis: the joint every chain hangs from, least motion relative to center
ASSUMPTIONS[JOINT_LAYOUT] = (
    "joint names and left/right pairs are derived from the real data's geometry (joint-pair "
    "distances that a left/right swap keeps, mean mismatch 3.1 cm); sides are 'a'/'b', not "
    "known to be left/right; the mirror plane is x = 0 with y up (tang2018 publishes no "
    "joint layout)"
)


def skeleton(n_joints: int) -> dict[str, Any] | None:
    """Joint names, mirror permutation, mirror axis and root joint of a tang2018 skeleton
    (None for another joint count), for ``dataset.json`` ``motion.skeleton``."""
    if n_joints != N_JOINTS:
        return None
    perm = list(range(N_JOINTS))
    for a, b in MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    return {"joint_names": list(JOINT_NAMES), "mirror_permutation": perm, "mirror_axis": 0,
            "root_joint": ROOT_JOINT, "layout_assumption": JOINT_LAYOUT}


ABSURD_COORD = 1e5  # 1 km in centimetres: nothing a dancer reaches


def found(path: Path) -> bool:
    """Whether a ``DANCE_*`` folder is at or below ``path``."""
    return bool(find_units(path))


def scan(paths: list[Path], *, cache: Cache | None = None
         ) -> tuple[list[PairSpec], list[Problem], list[dict]]:
    """Pairs, problems and per-folder facts of every ``DANCE_*`` folder below ``paths``."""
    pairs: list[PairSpec] = []
    problems: list[Problem] = []
    units: list[dict] = []
    seen: dict[str, str] = {}
    for path in paths:
        if not Path(path).exists():
            continue
        for root, folder in find_units(Path(path)):
            # scan_folder guards each file; this guard catches what falls between them
            done, why = guard(folder, scan_folder, root, folder, cache=cache)
            if done is None:
                problems.append(Problem(path=str(folder), source=NAME, session=folder.name,
                                        kind="bad", reason=str(why)))
                units.append({"source": NAME, "session": folder.name,
                              "folder": f"{root.name}/{folder.name}", "paired": False})
                continue
            spec, found_problems, facts = done
            facts = {"source": NAME, **facts, "paired": spec is not None}
            if spec is not None and spec.pair_id in seen:
                found_problems = [Problem(
                    path=facts["folder"], source=spec.source, session=spec.session, kind="bad",
                    reason=f"{folder}: duplicate session id {spec.pair_id!r} "
                           f"(first seen at {seen[spec.pair_id]})")]
                facts["paired"], spec = False, None
            if spec is not None:
                seen[spec.pair_id] = str(folder)
                pairs.append(spec)
            problems.extend(found_problems)
            units.append(facts)
    return pairs, problems, units


def find_units(path: Path) -> list[tuple[Path, Path]]:
    """``(root, folder)`` for each ``DANCE_*`` folder at or below ``path``, sorted."""
    path = Path(path)
    if FOLDER_RE.match(path.name) and path.is_dir():
        return [(path.parent, path)]
    out = []
    for folder in sorted(path.rglob("DANCE_*")):
        if folder.is_dir() and not folder.is_symlink() and FOLDER_RE.match(folder.name):
            out.append((folder.parent, folder))
    return out


def scan_folder(root: Path, folder: Path, *,
                cache: Cache | None = None) -> tuple[PairSpec | None, list[Problem], dict]:
    """Check one ``DANCE_*`` folder; returns its pair (or None), problems and facts.

    ``cache`` (optional :class:`motionpair.cache.Cache`) memoises the skeleton validation
    by the file's sha256 and this reader's source code.
    """
    session = folder.name
    style = STYLES.get(cast(re.Match[str], FOLDER_RE.match(session)).group(1), "unknown")
    rel = f"{root.name}/{session}"
    problems: list[Problem] = []
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    for name in missing:
        # present but unusable (symlink loop, dangling link, directory, FIFO) is "bad"
        why = not_a_file(folder / name)
        problems.append(Problem(path=f"{rel}/{name}", source=NAME, session=session,
                                kind="bad" if why else "incomplete",
                                reason=why or f"missing {name} (looked for {folder / name})"))
    facts: dict = {"session": session, "style": style, "folder": rel}
    # every read runs behind the one guard: any exception becomes a problem naming the file
    if "config.json" not in missing:
        frames, why = guard(folder / "config.json", read_config, folder / "config.json")
        if frames is not None:
            start, end = frames
            facts["song_span_s"] = frames_to_time(end - start, SONG_FPS)
            facts["start_frame"], facts["end_frame"] = start, end
        else:
            problems.append(_bad(rel, "config.json", session, why))
    if "skeletons.json" not in missing:
        length, why = guard(folder / "skeletons.json", skeleton_length,
                            folder / "skeletons.json", cache)
        if length is not None:
            facts["skeleton_frames"] = length
            facts["motion_stream_s"] = frames_to_time(length, NOMINAL_SKELETON_FPS)
        else:
            problems.append(_bad(rel, "skeletons.json", session, why))
    if "audio.mp3" not in missing:
        dur, why = guard(folder / "audio.mp3", audio_duration_s, folder / "audio.mp3")
        if dur is not None:
            facts["audio_duration_s"] = dur
        else:
            problems.append(_bad(rel, "audio.mp3", session, why))
    if "end_frame" in facts and "audio_duration_s" in facts:
        why = _past_audio(folder / "config.json", facts["end_frame"], facts["audio_duration_s"])
        if why:
            problems.append(_bad(rel, "config.json", session, why))
    if problems:
        return None, problems, facts
    inputs = [fingerprint(folder / name, root) for name in REQUIRED]
    spec = PairSpec(
        pair_id=f"{NAME}/{session}",
        session=session,
        source=NAME,
        style=style,
        track=AudioRef(track_id=f"{NAME}/{session}", path=str(folder / "audio.mp3"),
                       duration_s=facts["audio_duration_s"], sha256=inputs[0].sha256),
        inputs=inputs,
        params={"folder": str(folder), "start_frame": facts["start_frame"],
                "end_frame": facts["end_frame"], "length": facts["skeleton_frames"]},
    )
    return spec, [], facts


def _bad(rel: str, name: str, session: str, reason: str | None) -> Problem:
    return Problem(path=f"{rel}/{name}", source=NAME, session=session, kind="bad",
                   reason=str(reason))


def _past_audio(config: Path, end_frame: int, audio_s: float) -> str | None:
    """Why a dance that ends after its audio is refused (None when it ends in time).

    The linear warp would place the last skeleton frames after the track's end: no
    audio to pair them with, and the evidence's second half has nothing to score. Every
    real tang2018 dance ends at least 6 s before its audio does.
    """
    end_s = frames_to_time(end_frame, SONG_FPS)
    if end_s <= audio_s:
        return None
    return (f"{config}: end_position {end_frame} (song frame at {float(SONG_FPS):g} fps = "
            f"{end_s:.2f} s) lies past the end of the audio ({audio_s:.2f} s)")


def skeleton_length(path: Path, cache: Cache | None = None) -> int:
    """Frames in a valid skeletons.json (``ValueError`` otherwise), memoised by content."""
    if cache is None:
        return len(read_skeletons(path))
    payload = {"sha256": sha256_file(path),
               "code": code_sha256(__name__, "motionpair.sources.common", "motionpair.safeio")}
    return memo_value(cache, "scan-skeleton", payload,
                      lambda: {"length": len(read_skeletons(path))})["length"]


def read_config(path: Path) -> tuple[int, int]:
    """``(start_position, end_position)`` song frames, validated."""
    cfg = read_json(path)
    start = require_number(cfg, "start_position", path, integer=True)
    end = require_number(cfg, "end_position", path, integer=True)
    if start < 0 or end <= start:
        raise ValueError(f"{path}: need 0 <= start_position < end_position, got {start}, {end}")
    return int(start), int(end)


def read_skeletons(path: Path) -> np.ndarray:
    """Absolute joint positions ``(T, 23, 3)`` float64 (skeleton + center), validated."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object with length/center/skeletons")
    missing = [k for k in ("length", "center", "skeletons") if k not in doc]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    length = require_number(doc, "length", path, integer=True)
    center = _numbers(doc["center"], "center", path)
    skel = _numbers(doc["skeletons"], "skeletons", path)
    if skel.ndim != 3 or skel.shape[1:] != (N_JOINTS, 3):
        raise ValueError(f"{path}: skeletons has shape {skel.shape}, expected (T, 23, 3)")
    if center.shape != (skel.shape[0], 3):
        raise ValueError(f"{path}: center has shape {center.shape}, expected ({skel.shape[0]}, 3)")
    if skel.shape[0] != length:
        raise ValueError(f"{path}: length={length} but skeletons has {skel.shape[0]} frames")
    if length < 2:
        raise ValueError(f"{path}: {length} frame(s); a motion needs at least 2")
    joints = skel + center[:, None, :]
    bad = ~np.isfinite(joints)
    if bad.any():
        raise ValueError(f"{path}: {int(bad.any(axis=(1, 2)).sum())} frame(s) hold NaN/inf")
    if np.abs(joints).max() > ABSURD_COORD:
        raise ValueError(f"{path}: coordinate {np.abs(joints).max():.3g} exceeds {ABSURD_COORD:g}"
                         " (units look like centimetres)")
    return joints


def _numbers(value, key: str, path: Path) -> np.ndarray:
    """``value`` as float64, refusing ragged nesting, strings, booleans and nulls."""
    try:
        arr = np.asarray(value)  # no dtype: numpy would silently parse "1.5" as 1.5
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {key} is not a rectangular array ({exc})") from exc
    if arr.dtype.kind not in "iuf":
        found = {"U": "strings", "b": "booleans", "O": "nulls or mixed types"}.get(
            arr.dtype.kind, arr.dtype.name)
        raise ValueError(f"{path}: {key} must hold numbers, found {found}")
    return arr.astype(np.float64)


def audio_duration_s(path: Path) -> float:
    """Duration from the file header (no full decode)."""
    import soundfile as sf

    # checked first: libsndfile reports both as "does not exist or is not a regular file"
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not audio")
    try:
        open(path, "rb").close()
    except PermissionError as exc:
        raise ValueError(f"{path}: permission denied") from exc
    try:
        info = sf.info(os.fsencode(path))  # bytes: any file name, UTF-8 or not
    except Exception as exc:  # libsndfile raises several types, none naming the file
        raise ValueError(f"{path}: not readable as audio: no format libsndfile decodes "
                         f"(it said: {exc})") from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise ValueError(f"{path}: audio has no samples")
    return info.frames / info.samplerate


def load_pose(spec: PairSpec) -> PoseStream:
    """The pair's pose stream on its own nominal clock (frame index / 25 s)."""
    joints = read_skeletons(Path(spec.params["folder"]) / "skeletons.json")
    times = frames_to_time(np.arange(joints.shape[0]), NOMINAL_SKELETON_FPS)
    return PoseStream(stream_id=spec.pair_id, session=spec.session, times_s=times,
                      joints=joints, units="cm", nominal_fps=float(NOMINAL_SKELETON_FPS),
                      meta={"style": spec.style})


def danced_span_s(spec: PairSpec) -> tuple[float, float]:
    """The dance's span on the track clock, ``(S/25, E/25)`` s from config.json: the part of
    the audio a pair needs (dense windows take no audio context outside it)."""
    p = spec.params
    return (float(frames_to_time(p["start_frame"], SONG_FPS)),
            float(frames_to_time(p["end_frame"], SONG_FPS)))


def stream_info(spec: PairSpec) -> StreamInfo:
    """A dense skeleton stream at its nominal rate: no row extras, no added assumption."""
    return StreamInfo()


def features(spec: PairSpec, cfg: BuildConfig) -> None:
    """None: tang2018 ships raw audio, so the build computes the features."""
    return None


def clock(spec: PairSpec, features: AudioFeatures, kind: str = "default") -> ClockMap:
    """The linear warp (``default``, ``linear``) or the beat-wise map (``beatwise``)."""
    if kind in ("default", "linear"):
        return linear_clock(spec)
    return beatwise_clock(spec, features.beat_times_s)


def frames_per_beat(spec: PairSpec, beat_times_s: np.ndarray) -> tuple[Fraction, str]:
    """Skeleton frames per musical beat for this pair, and how it was found."""
    if spec.style in FRAMES_PER_BEAT:
        return FRAMES_PER_BEAT[spec.style], f"published for {spec.style}"
    start_s, end_s = (float(frames_to_time(spec.params[k], SONG_FPS))
                      for k in ("start_frame", "end_frame"))
    n_beats = int(np.count_nonzero((beat_times_s >= start_s) & (beat_times_s < end_s)))
    if n_beats < 2:
        raise ValueError(f"{spec.pair_id}: fewer than 2 detected beats in the dance span")
    return Fraction(spec.params["length"], n_beats), f"T / {n_beats} detected beats in span"


def true_beat_span(spec: PairSpec) -> tuple[float, float, Fraction] | None:
    """``(start_s, end_s, n_beats)``: the dance span S/25..E/25 s of song time and its true
    number of beat periods ``T / F``, for styles whose F (frames per beat) is published
    (cha-cha, rumba); None for others (waltz ~4 frames per beat, tango: not exact).

    The span comes from config.json, which the dataset's README calls not beat-precise:
    its phase is arbitrary and its implied tempo is the truth only to a few per cent.
    """
    if spec.style not in FRAMES_PER_BEAT:
        return None
    start_s, end_s = (float(frames_to_time(spec.params[k], SONG_FPS))
                      for k in ("start_frame", "end_frame"))
    return start_s, end_s, Fraction(spec.params["length"]) / FRAMES_PER_BEAT[spec.style]


def beatwise_clock(spec: PairSpec, beat_times_s: np.ndarray) -> ClockMap:
    """Tie skeleton beats (every F frames) to detected music beats from the start beat on."""
    beats = np.asarray(beat_times_s, dtype=np.float64)
    if len(beats) < 2:
        raise ValueError(f"{spec.pair_id}: fewer than 2 detected music beats")
    F, how = frames_per_beat(spec, beats)
    start_s = float(frames_to_time(spec.params["start_frame"], SONG_FPS))
    j0 = int(np.argmin(np.abs(beats - start_s)))
    n_stream_beats = int(Fraction(spec.params["length"]) / F)
    k = np.arange(0, min(n_stream_beats, len(beats) - j0 - 1) + 1)
    if len(k) < 2:
        raise ValueError(f"{spec.pair_id}: the track has no beats after the dance start")
    t_stream = k * float(frames_to_seconds_exact(F, NOMINAL_SKELETON_FPS))
    anchors = tuple((float(a), float(b)) for a, b in zip(t_stream, beats[j0 + k], strict=True))
    return ClockMap(kind="beatwise", assumption=BEATWISE, anchors=anchors,
                    note=f"F={float(F):g} frames/beat ({how}); first anchor at music beat "
                         f"{j0} ({beats[j0]:.3f} s, S/25={start_s:.3f} s); {len(k)} anchors")


def stream_beats(spec: PairSpec, beat_times_s: np.ndarray) -> tuple[float, int, str]:
    """One skeleton beat on the stream clock (s), the stream's beat count, and how F was found.

    tang2018 motion is beat-normalised at F frames per beat on a nominal 25 fps clock.
    """
    F, how = frames_per_beat(spec, np.asarray(beat_times_s))
    n = int(Fraction(spec.params["length"]) / F)
    return float(frames_to_seconds_exact(F, NOMINAL_SKELETON_FPS)), n, f"F={float(F):g} ({how})"


def dataset_block(units: list[dict]) -> dict:
    """tang2018 adds no top-level ``dataset.json`` key."""
    return {}


def linear_clock(spec: PairSpec) -> ClockMap:
    """Frame i at S/25 + i*(E-S)/(25*T): on the stream clock t = i/25, scale (E-S)/T."""
    start, end, length = (spec.params[k] for k in ("start_frame", "end_frame", "length"))
    scale = Fraction(end - start, length) * (NOMINAL_SKELETON_FPS / SONG_FPS)
    return ClockMap(kind="linear", assumption=LINEAR_WARP, scale=float(scale),
                    offset_s=frames_to_time(start, SONG_FPS),
                    note=f"S={start}, E={end}, T={length} frames")


def assumptions_for(clock: ClockMap) -> list[str]:
    """Names of the assumptions a window of this source relies on, sorted."""
    names = {clock.assumption, "tang2018.skeleton_stream_clock_i_over_25",
             "tang2018.units_centimetres", "audio.t0_first_decoded_sample"}
    return sorted(names)
