"""A third input format in ONE file: a folder of CSV joint motion + a WAV track (issue 13).

This module is the whole source: nothing else in motionpair names it. The build finds it
through ``MOTIONPAIR_SOURCES=csvmotion_source`` (the registry's hook for sources outside
``motionpair/sources/``; a file dropped into ``motionpair/sources/`` is found without it).

Layout: any folder holding ``motion.csv`` and ``audio.wav``. ``motion.csv`` has a header
``t_s,j0_x,j0_y,j0_z,j1_x,...`` and one row per pose; ``t_s`` is seconds on the track's
clock (the first decoded sample of ``audio.wav`` is 0). The tests write such folders from
real tang2018 pairs (``write_csvmotion``): DERIVED data, labelled so in a ``DERIVED`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from motionpair.sources.common import fingerprint
from motionpair.types import AudioRef, ClockMap, PairSpec, PoseStream, Problem, StreamInfo

NAME = "csvmotion"
LOOKS_FOR = "folders with motion.csv (t_s + x,y,z per joint) and audio.wav"
SPARSE = False
CLOCK_KINDS = ("default", "linear")
MOTION_UNITS = "cm"
TRACK_TIME = "csvmotion.t_s_is_track_time"
ASSUMPTIONS = {TRACK_TIME: "motion.csv's t_s column is seconds on audio.wav's clock "
                           "(0 = the first decoded sample)"}
REQUIRED = ("motion.csv", "audio.wav")


def _folders(path: Path) -> list[Path]:
    path = Path(path)
    if (path / "motion.csv").is_file():
        return [path]
    return sorted(f.parent for f in path.rglob("motion.csv") if f.is_file())


def found(path: Path) -> bool:
    return bool(_folders(path))


def scan(paths: list[Path], *, cache: Any = None
         ) -> tuple[list[PairSpec], list[Problem], list[dict[str, Any]]]:
    pairs, problems, units = [], [], []
    for path in paths:
        if not Path(path).is_dir():
            continue
        for folder in _folders(Path(path)):
            root, session = folder.parent, folder.name
            unit = {"source": NAME, "session": session, "folder": f"{root.name}/{session}",
                    "paired": False}
            units.append(unit)
            missing = [n for n in REQUIRED if not (folder / n).is_file()]
            try:
                if missing:
                    raise ValueError(f"{folder / missing[0]}: missing")
                duration_s = sf.info(str(folder / "audio.wav")).duration
                inputs = [fingerprint(folder / n, root) for n in ("audio.wav", "motion.csv")]
            except (OSError, ValueError, RuntimeError) as exc:
                problems.append(Problem(path=str(folder), source=NAME, session=session,
                                        kind="bad", reason=f"{folder}: {exc}"))
                continue
            unit.update(paired=True, audio_duration_s=duration_s)
            pairs.append(PairSpec(
                pair_id=f"{NAME}/{session}", session=session, source=NAME,
                track=AudioRef(track_id=f"{NAME}/{session}", path=str(folder / "audio.wav"),
                               duration_s=duration_s, sha256=inputs[0].sha256),
                inputs=inputs, params={"folder": str(folder)}))
    return pairs, problems, units


def load_pose(spec: PairSpec) -> PoseStream:
    path = Path(spec.params["folder"]) / "motion.csv"
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if table.shape[1] < 4 or (table.shape[1] - 1) % 3:
        raise ValueError(f"{path}: expected t_s then x,y,z per joint, got {table.shape[1]} "
                         "columns")
    joints = table[:, 1:].reshape(len(table), -1, 3).astype(np.float32)
    return PoseStream(stream_id=spec.pair_id, session=spec.session, times_s=table[:, 0],
                      joints=joints, units=MOTION_UNITS)


def features(spec: PairSpec, cfg: Any) -> None:
    return None  # raw audio: the build computes the features


def clock(spec: PairSpec, features: Any, kind: str = "default") -> ClockMap:
    return ClockMap(kind="offset", assumption=TRACK_TIME, note="t_s is track time")


def stream_info(spec: PairSpec) -> StreamInfo:
    return StreamInfo()  # dense, nothing to add


def stream_beats(spec: PairSpec, beat_times_s: np.ndarray) -> None:
    return None  # real-time clock, no beat of its own: drift from the offset halves


def assumptions_for(clock_map: ClockMap) -> list[str]:
    return sorted({clock_map.assumption, "audio.t0_first_decoded_sample"})


def dataset_block(units: list[dict[str, Any]]) -> dict[str, Any]:
    return {}


def write_csvmotion(tang_folder: Path, out: Path, *, seconds: float = 20.0) -> Path:
    """DERIVED fixture: ``seconds`` of a real tang2018 pair as ``out/motion.csv`` +
    ``out/audio.wav`` (the song cropped at the dance start; poses placed by tang2018's
    linear clock map, shifted to the crop). Labelled by ``out/DERIVED``."""
    from motionpair.sources import tang2018

    spec, problems, _ = tang2018.scan_folder(tang_folder.parent, tang_folder)
    assert spec is not None, problems
    pose = tang2018.load_pose(spec)
    t_track = tang2018.linear_clock(spec).to_track(pose.times_s)
    t0 = float(t_track[0])
    y, sr = sf.read(str(tang_folder / "audio.mp3"), dtype="float32", always_2d=True)
    y = y[int(round(t0 * sr)):int(round((t0 + seconds) * sr))].mean(axis=1)
    keep = (t_track - t0) < seconds
    out.mkdir(parents=True, exist_ok=True)
    sf.write(str(out / "audio.wav"), y, sr, subtype="FLOAT")
    t = t_track[keep] - round(t0 * sr) / sr  # seconds from the first kept sample
    J = pose.joints.shape[1]
    header = "t_s," + ",".join(f"j{j}_{a}" for j in range(J) for a in "xyz")
    np.savetxt(out / "motion.csv", np.column_stack([t, pose.joints[keep].reshape(keep.sum(), -1)]),
               delimiter=",", header=header, comments="", fmt="%.9g")
    (out / "DERIVED").write_text(f"DERIVED test fixture from {tang_folder} (tang2018); "
                                 "not a real csvmotion capture\n", encoding="utf-8")
    return out
