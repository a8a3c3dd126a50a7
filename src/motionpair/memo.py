"""Content-addressed memos for the cheap-to-key, costly-to-redo steps of a warm build.

A fully cached rebuild must cost a small fraction of a cold one (issue 5: < 10 %).
After the audio and motion caches, its time went to re-validating every skeleton
JSON at scan, skeleton-edge inference, per-pair alignment evidence, and drawing the
preview and alignment PNGs. Each is a pure function of bytes it reads, so each is
memoised in the same :class:`~motionpair.cache.Cache` (stages ``scan-skeleton``,
``edges``, ``evidence``, ``preview``, ``alignplot``), keyed by those bytes, the
parameters, and the sha256 of the source files that compute it: a code change can
never serve a stale memo, and a memoised result writes the same bytes as a computed one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from motionpair.cache import Cache, cache_key
from motionpair.safeio import guard
from motionpair.types import AudioFeatures, ClockMap, MotionGrid, PairSpec, WindowRow


@lru_cache(maxsize=16)
def code_sha256(*modules: str) -> str:
    """sha256 over the source files of ``modules`` (dotted names), in the given order."""
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None  # our own modules, from files
        h.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
    return h.hexdigest()


def memo_value(cache: Cache | None, stage: str, payload: dict, compute: Callable[[], dict],
               ) -> dict:
    """``compute()`` (a JSON-able dict), served from ``cache`` when ``payload`` was seen."""
    if cache is None or cache.root is None:
        return compute()
    key = cache_key(stage, payload)
    hit = cache.get(stage, key)
    if hit is not None:
        return hit[1]
    value = compute()
    cache.put(stage, key, {}, value)
    return value


def memo_file(cache: Cache | None, stage: str, payload: dict, target: Path,
              produce: Callable[[Path], object]) -> Path:
    """Write ``target`` with ``produce(target)``, or copy its bytes from a memo of ``payload``."""
    if cache is None or cache.root is None:
        produce(target)
        return target
    key = cache_key(stage, payload)
    hit = cache.get(stage, key, arrays=("data",))
    if hit is not None:
        target.write_bytes(hit[0]["data"].tobytes())
        return target
    produce(target)
    data = np.frombuffer(target.read_bytes(), dtype=np.uint8)
    cache.put(stage, key, {"data": data}, {"bytes": int(data.size)})
    return target


def sample_preview(dataset_dir: Path, row: WindowRow, target: Path, cache: Cache | None) -> Path:
    """``preview.draw_window`` for ``row``, memoised on everything the picture depends on.

    The picture depends on the manifest row, the window's arrays, the skeleton edges in
    ``dataset.json``, the drawing code and matplotlib's version; drawing costs ~1 s
    (matplotlib import + render), a large part of an otherwise fully cached rebuild.
    """
    from importlib.metadata import version

    from motionpair.preview import draw_window
    from motionpair.store import load_window, read_dataset_json

    edges = read_dataset_json(dataset_dir)["motion"]["skeleton"].get("edges")
    payload = {"code": code_sha256("motionpair.preview", "motionpair.store"),
               "matplotlib": version("matplotlib"), "row": row.to_dict(), "edges": edges,
               "arrays": value_digest(load_window(dataset_dir, row))}
    return memo_file(cache, "preview", payload, target,
                     lambda path: draw_window(dataset_dir, row.id, path))


def skeleton_edges(joints: np.ndarray, cache: Cache | None) -> list[tuple[int, int]]:
    """``motion.infer_edges(joints)``, memoised on the frames it actually reads."""
    from motionpair import motion

    payload = {"code": code_sha256("motionpair.motion"),
               "frames": value_digest(joints[::motion.edge_frame_step(joints.shape[0])])}
    value = memo_value(cache, "edges", payload,
                       lambda: {"edges": [list(e) for e in motion.infer_edges(joints)]})
    return [(int(a), int(b)) for a, b in value["edges"]]


def value_digest(obj: object) -> str:
    """sha256 of a JSON-like value whose leaves may be numpy arrays (canonical order)."""
    h = hashlib.sha256()

    def walk(v) -> None:
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            h.update(f"nd{a.dtype.str}{a.shape}".encode() + a.tobytes())
        elif isinstance(v, dict):
            h.update(b"{")
            for k in sorted(v, key=str):
                h.update(repr(k).encode() + b":")
                walk(v[k])
            h.update(b"}")
        elif isinstance(v, list | tuple):
            h.update(b"[")
            for x in v:
                walk(x)
                h.update(b",")
            h.update(b"]")
        else:  # scalars: numpy scalars and Python numbers print alike when equal in value
            h.update(f"{type(v).__name__}={v!r}".encode())

    walk(obj)
    return h.hexdigest()


def alignment_pictures(block: dict, series: dict[str, dict], out_dir: Path,
                       cache: Cache | None) -> list[Path]:
    """``pairevidence.draw_all`` with each PNG memoised on its record, series and code.

    Fourteen matplotlib figures cost several seconds: far more than the rest of a fully
    cached rebuild.
    """
    from importlib.metadata import version

    from motionpair.alignplot import draw_pair
    from motionpair.pairevidence import png_name

    out_dir.mkdir(parents=True, exist_ok=True)
    code = code_sha256("motionpair.alignplot", "motionpair.pairevidence", "motionpair.evidence",
                       "motionpair.timebase")
    paths = []
    for pid, rec in block["pairs"].items():
        payload = {"code": code, "matplotlib": version("matplotlib"), "pair": pid,
                   "record": value_digest(rec), "series": value_digest(series[pid])}
        path, why = guard(out_dir / png_name(pid), memo_file, cache, "alignplot", payload,
                          out_dir / png_name(pid),
                          lambda p, pid=pid, rec=rec: draw_pair(pid, rec, series[pid], p))
        if path is None:  # a picture never stops a build: the record says why it is missing
            _picture_failed(rec, out_dir / png_name(pid), str(why))
        else:
            paths.append(path)
    return paths


def _picture_failed(record: dict, png: Path, why: str) -> None:
    """Note on the pair's evidence record why its picture is missing; no partial PNG kept."""
    png.unlink(missing_ok=True)
    record["picture"] = f"not drawn: {why.removeprefix(f'{png}: ')}"


def pair_evidence(spec: PairSpec, feats: AudioFeatures, clock: ClockMap, grid: MotionGrid,
                  cache: Cache | None,
                  compute: Callable[[], tuple[dict | None, dict]]) -> tuple[dict | None, dict]:
    """``compute()`` = ``pairevidence.evidence_for_pair(...)``, memoised on what it reads.

    The key covers every input the evidence reads (beats, onset envelope, duration and
    tempo of the track; valid mask, kinematic beats, speed and placement of the motion;
    the clock map; the pair's identity and parameters) and the code of the modules that
    compute it. Record and series keep their key order (stored as JSON text), so a
    memoised result writes the same bytes as a computed one.
    """
    import json
    from dataclasses import asdict

    from motionpair.evidence import EvidenceConfig

    if cache is None or cache.root is None:
        return compute()
    payload = {
        "code": code_sha256("motionpair.evidence", "motionpair.offset", "motionpair.pairevidence",
                            "motionpair.align", "motionpair.sources.tang2018",
                            "motionpair.timebase", "motionpair.types"),
        "cfg": value_digest(asdict(EvidenceConfig())),
        "spec": value_digest({"pair": spec.pair_id, "source": spec.source, "style": spec.style,
                              "track": spec.track.track_id,
                              "params": {k: v for k, v in spec.params.items() if k != "folder"}}),
        "clock": value_digest({**clock.to_dict(), "anchors": [list(a) for a in clock.anchors],
                               "scale": clock.scale, "offset_s": clock.offset_s}),
        "audio": value_digest({"beats": feats.beat_times_s, "onset": feats.arrays["onset_env"],
                               "duration_s": feats.duration_s, "tempo": feats.tempo_bpm}),
        "motion": value_digest({"first": grid.first_frame, "fps": str(grid.fps),
                                "valid": grid.valid, "kin": grid.kin_beat, "speed": grid.speed}),
    }
    key = cache_key("evidence", payload)
    hit = cache.get("evidence", key, meta=("record", "order", "scalars"))
    if hit is not None:
        arrays, meta = hit
        scalars = json.loads(meta["scalars"])
        series = {k: arrays[k] if k in arrays else scalars[k] for k in meta["order"]}
        return json.loads(meta["record"]), series
    record, series = compute()
    arrays = {k: v for k, v in series.items() if isinstance(v, np.ndarray)}
    try:
        meta = {"record": json.dumps(record), "order": list(series),
                "scalars": json.dumps({k: v for k, v in series.items() if k not in arrays})}
    except TypeError:  # not JSON-able: compute it every time rather than store it lossily
        return record, series
    cache.put("evidence", key, arrays, meta)
    return record, series
