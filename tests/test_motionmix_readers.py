"""MotionMix readers on small hand-written files: every accepted variant, every rejected shape.

These pin the parsing rules only (tiny arrays, no invented dataset); the real-data
behaviour is shown in test_motionmix_realdata.py on a capture derived from tang2018.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from motionpair.build.scan import scan
from motionpair.build.splits import GUARD, time_block_splits
from motionpair.sources.motionmix.audio import load_features, read_npz, read_playlist
from motionpair.sources.motionmix.locations import locations_report, report_lines
from motionpair.sources.motionmix.mapping import load_mapping
from motionpair.sources.motionmix.matching import (
    TrackSpan,
    assign,
    event_segments,
    gapless_segments,
)
from motionpair.sources.motionmix.session import parse_time, read_session
from motionpair.windows.snapshot import neighbour_dynamics, pairing_mode

START = datetime(2026, 4, 8, 13, 31, 32, tzinfo=UTC)
SESSION = "playlist-01-2026-04-08T13-31-32Z"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(START.timestamp() + t, tz=UTC).isoformat().replace(
        "+00:00", "Z")


def _joints(i: float, dims: int = 2) -> list[list[float]]:
    return [[float(i + j), float(2 * j)] + ([1.0] if dims == 3 else []) for j in range(3)]


def _session(tmp: Path, name: str = SESSION, meta: dict | None = None) -> Path:
    d = tmp / "sessions" / name
    d.mkdir(parents=True)
    (d / "metadata.json").write_text(json.dumps(meta if meta is not None else
                                                {"playlist": "playlist-01"}))
    return d


def _npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def _mel(n: int = 90) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (-80 + 60 * rng.random((16, n))).astype(np.float32)  # (n_mels, n_frames), dB


# ----------------------------------------------------------------------------- time


def test_parse_time_iso_epoch_relative():
    assert parse_time(_iso(1.5), key="t", start=START) == pytest.approx(1.5)
    assert parse_time("2026-04-08T13:31:33", key="t", start=START) == 1.0  # naive = UTC
    assert parse_time(START.timestamp() + 2, key="timestamp", start=START) == pytest.approx(2)
    ms = (START.timestamp() + 3) * 1000
    assert parse_time(ms, key="timestamp", start=START) == pytest.approx(3)
    assert parse_time(4.25, key="t_s", start=START) == 4.25
    assert parse_time(4250, key="t", start=START, time_unit="ms") == 4.25
    with pytest.raises(ValueError, match="not ISO"):
        parse_time("yesterday", key="t", start=START)
    with pytest.raises(ValueError, match="finite"):
        parse_time(float("nan"), key="t", start=START)


# ----------------------------------------------------------------------------- sessions


@pytest.mark.parametrize("layout", ["jsonl", "array", "wrapped", "per_file", "camera_dirs"])
def test_session_layouts(tmp_path, layout):
    d = _session(tmp_path)
    recs = [{"t": _iso(i + 0.1 * c), "camera": f"cam{c}", "joints": _joints(i),
             "confidence": [0.9] * 3} for i in range(5) for c in range(2)]
    if layout == "jsonl":
        (d / "snapshots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    elif layout == "array":
        (d / "snapshots.json").write_text(json.dumps(recs))
    elif layout == "wrapped":
        (d / "poses.json").write_text(json.dumps({"snapshots": recs}))
    elif layout == "per_file":
        for i, r in enumerate(recs):
            (d / f"snap_{i:03d}.json").write_text(json.dumps(r))
    else:  # camera from the subfolder name
        for i, r in enumerate(recs):
            cam = r.pop("camera")
            (d / cam).mkdir(exist_ok=True)
            (d / cam / f"{i:03d}.json").write_text(json.dumps(r))
    s, problems = read_session(d)
    assert problems == []
    assert sorted(s.streams) == ["cam0", "cam1"]
    assert s.streams["cam1"].times_s.tolist() == pytest.approx([i + 0.1 for i in range(5)])
    assert s.streams["cam0"].joints.shape == (5, 3, 2)
    assert s.start_from == "folder_name" and s.playlist == "playlist-01"


def test_session_key_aliases_named_and_3d_joints(tmp_path):
    d = _session(tmp_path, meta={"start_time": _iso(0), "playlist_name": "playlist-01",
                                 "weather": "sunny"})
    names = ["nose", "l_hip", "r_hip"]
    lines = []
    for i in range(3):
        pts = {n: {"x": i + j, "y": 2.0 * j, "z": 1.0, "score": 0.5} for j, n in enumerate(names)}
        lines.append({"ts": _iso(i), "cam": "front", "keypoints": pts, "extra_field": 1})
    (d / "snapshots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    s, problems = read_session(d)
    assert problems == []
    st = s.streams["front"]
    assert st.joints.shape == (3, 3, 3) and s.joint_names == names
    assert st.confidence is not None and np.all(st.confidence == 0.5)
    assert s.start_from == "metadata.json:start_time"
    assert "metadata.json: key 'weather'" in s.facts["not_understood"]
    assert "snapshot key 'extra_field'" in s.facts["not_understood"]


def test_session_xyzc_rows_and_default_camera(tmp_path):
    d = _session(tmp_path)
    recs = [{"time_s": float(i), "pose": [[1.0, 2.0, 3.0, 0.7]] * 4} for i in range(3)]
    (d / "s.json").write_text(json.dumps(recs))
    s, problems = read_session(d)
    assert problems == [] and list(s.streams) == ["cam"]
    assert s.streams["cam"].joints.shape == (3, 4, 3)
    assert s.streams["cam"].confidence[0].tolist() == [0.7] * 4


def test_mapping_file_names_unknown_keys(tmp_path):
    d = _session(tmp_path)
    (tmp_path / "sessions" / "motionmix-mapping.json").write_text(json.dumps(
        {"keys": {"time": "when", "camera": "device", "joints": "body"},
         "files": {"snapshots": "data/poses.log.jsonl"}}))
    (d / "data").mkdir()
    recs = [{"when": float(i), "device": "A", "body": _joints(i)} for i in range(3)]
    (d / "data" / "poses.log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    s, problems = read_session(d, load_mapping(tmp_path / "sessions" /
                                               "motionmix-mapping.json"))
    assert problems == []
    assert s.streams["A"].times_s.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("target", ["../escape.jsonl", "/etc/passwd"])
def test_mapping_paths_escaping_root_rejected(tmp_path, target):
    d = _session(tmp_path)
    (d / "motionmix-mapping.json").write_text(json.dumps({"files": {"snapshots": target}}))
    s, problems = read_session(d, load_mapping(d / "motionmix-mapping.json"))
    assert s is None
    assert "rejected" in problems[0].reason and "motionmix-mapping.json" in problems[0].reason


def test_mapping_file_bad_content(tmp_path):
    p = tmp_path / "motionmix-mapping.json"
    p.write_text(json.dumps({"keys": {"tiem": "x"}}))
    with pytest.raises(ValueError, match="unknown field"):
        load_mapping(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_mapping(p)


@pytest.mark.parametrize("case,match", [
    ("metadata_invalid", "invalid JSON"),
    ("metadata_empty", "empty file"),
    ("snap_empty", "no usable pose snapshot"),
    ("nonmonotonic", "not after the previous"),
    ("duplicate", "not after the previous"),
    ("nan", "NaN/inf"),
    ("absurd", "exceeds"),
    ("bad_shape", "shape"),
    ("no_time", "no time key"),
])
def test_session_rejected_shapes(tmp_path, case, match):
    d = _session(tmp_path)
    good = [{"t": float(i), "camera": "c", "joints": _joints(i)} for i in range(4)]
    recs = list(good)
    if case == "metadata_invalid":
        (d / "metadata.json").write_text("{oops")
    elif case == "metadata_empty":
        (d / "metadata.json").write_text("")
    elif case == "nonmonotonic":
        recs.insert(2, {"t": 0.5, "camera": "c", "joints": _joints(9)})
    elif case == "duplicate":
        recs.insert(2, dict(good[1]))
    elif case == "nan":
        recs.append({"t": 9.0, "camera": "c", "joints": [[float("nan"), 0.0]] * 3})
    elif case == "absurd":
        recs.append({"t": 9.0, "camera": "c", "joints": [[1e9, 0.0]] * 3})
    elif case == "bad_shape":
        recs.append({"t": 9.0, "camera": "c", "joints": [1.0, 2.0, 3.0]})
    elif case == "no_time":
        recs.append({"camera": "c", "joints": _joints(1)})
    text = "" if case == "snap_empty" else "".join(
        json.dumps(r, allow_nan=True) + "\n" for r in recs)
    (d / "snapshots.jsonl").write_text(text)
    s, problems = read_session(d)
    reasons = " | ".join(p.reason for p in problems)
    assert match in reasons and all(p.kind in ("bad", "incomplete") for p in problems)
    assert str(d) in reasons  # every reason names the file or folder
    if case not in ("metadata_invalid", "metadata_empty", "snap_empty"):
        assert s is not None and len(s.streams["c"].times_s) == 4  # good records kept


def test_duplicate_timestamps_across_files(tmp_path):
    d = _session(tmp_path)
    for i, t in enumerate([0.0, 1.0, 1.0, 2.0]):
        (d / f"{i}.json").write_text(json.dumps({"t": t, "camera": "c", "joints": _joints(i)}))
    s, problems = read_session(d)
    assert "duplicate timestamp" in problems[0].reason
    assert s.streams["c"].times_s.tolist() == [0.0, 1.0, 2.0]


# ----------------------------------------------------------------------------- NPZ


def test_npz_aliases_and_derivations(tmp_path):
    p = _npz(tmp_path / "pl" / "a.npz", melspec=_mel(), tempo=np.array(120.0),
             beats=np.array([10, 25, 40]), sample_rate=np.array(22050), hop=np.array(735))
    f = load_features(p, track_id="a")
    assert f.fps == 30 and f.n_frames == 90 and f.duration_s == pytest.approx(3.0)
    assert f.params["duration_from"] == "n_frames*hop/sr"
    assert set(f.params["derived"]) == {"onset_env", "onset_peak"}
    assert f.params["missing"] == ["baseline35"] and "baseline35" not in f.arrays
    assert np.flatnonzero(f.arrays["music_beat"]).tolist() == [10, 25, 40]
    assert f.beat_times_s.tolist() == pytest.approx([10 / 30, 25 / 30, 40 / 30])


def test_npz_sr_hop_from_manifest_and_refused_without(tmp_path):
    pl = tmp_path / "playlist-02"
    _npz(pl / "x.npz", mel=_mel())
    playlist, problems = read_playlist(pl)
    assert playlist is None and "no sample rate and hop" in problems[0].reason
    (pl / "manifest.json").write_text(json.dumps({"sr": 22050, "hop_length": 735,
                                                  "tracks": [{"file": "x.npz",
                                                              "duration_s": 2.5}]}))
    playlist, problems = read_playlist(pl)
    assert problems == [] and playlist.tracks[0].duration_s == 2.5
    assert playlist.tracks[0].duration_from == "manifest" and playlist.order_from == "manifest"


@pytest.mark.parametrize("case,match", [
    ("object", "object array"), ("no_mel", "missing required key 'mel'"),
    ("empty", "empty file"), ("garbage", "not a readable NPZ"), ("nan", "NaN/inf"),
])
def test_npz_rejected(tmp_path, case, match):
    pl = tmp_path / "playlist-03"
    ok = dict(mel=_mel(), sr=np.array(22050), hop_length=np.array(735))
    _npz(pl / "good.npz", **ok)
    bad = pl / "bad.npz"
    if case == "object":
        _npz(bad, **ok, tags=np.array([{"a": 1}], dtype=object))
    elif case == "no_mel":
        _npz(bad, sr=np.array(22050), hop_length=np.array(735))
    elif case == "empty":
        bad.write_bytes(b"")
    elif case == "garbage":
        bad.write_bytes(b"not a zip at all")
    else:
        m = _mel()
        m[0, 0] = np.nan
        _npz(bad, **{**ok, "mel": m})
    playlist, problems = read_playlist(pl)
    assert [t.track_id for t in playlist.tracks] == ["good"]  # the good one still usable
    assert len(problems) == 1 and match in problems[0].reason and "bad.npz" in problems[0].reason


def test_read_npz_never_unpickles(tmp_path):
    p = _npz(tmp_path / "o.npz", x=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="never unpickled"):
        read_npz(p)


def test_playlist_duplicate_track_ids(tmp_path):
    pl = tmp_path / "playlist-04"
    ok = dict(mel=_mel(), sr=np.array(22050), hop_length=np.array(735))
    _npz(pl / "a.npz", **ok)
    _npz(pl / "b.npz", **ok)
    (pl / "manifest.json").write_text(json.dumps({"tracks": [
        {"track_id": "t1", "file": "a.npz"}, {"track_id": "t1", "file": "b.npz"}]}))
    playlist, problems = read_playlist(pl)
    assert len(playlist.tracks) == 1 and "duplicate track id 't1'" in problems[0].reason


# ----------------------------------------------------------------------------- matching


def test_gapless_and_event_matching():
    tracks = [TrackSpan("a", 10.0, ("a.npz",)), TrackSpan("b", 5.0)]
    segs = gapless_segments("s", tracks)
    idx = assign(np.array([0.5, 10.5, 15.5]), segs)
    assert idx.tolist() == [0, 1, -1]
    assert segs[1].clock.to_track(np.array([10.5]))[0] == pytest.approx(0.5)
    ev, unknown = event_segments("s", tracks, [{"t_s": 2.0, "end_s": None, "track": "a.npz"},
                                               {"t_s": 14.0, "end_s": None, "track": "b"},
                                               {"t_s": 30.0, "end_s": None, "track": "zzz"}])
    assert [(s.track_id, s.stream_start_s, s.stream_end_s) for s in ev] == [
        ("a", 2.0, 12.0), ("b", 14.0, 19.0)]
    assert "zzz" in unknown[0] and ev[0].matched_by == "playback_events"
    assert assign(np.array([1.0, 13.0]), ev).tolist() == [-1, -1]  # before / in the pause


def test_pairing_mode_and_neighbour_dynamics():
    assert pairing_mode("auto", 0.9)[0] == "snapshot"
    assert pairing_mode("auto", 25.0)[0] == "sequence"
    v, a, how = neighbour_dynamics(np.array([0.0, 1.0, 4.0]),
                                   np.zeros((3, 1, 2)), max_dt_s=1.5)
    assert how == ["forward", "backward", "none"]


def test_time_block_guard_gap():
    w = [("s1", float(t), t + 5.0) for t in range(0, 600)] + [("s2", 0.0, 5.0)]  # 1 s hop
    labels, info = time_block_splits(w, guard_s=5.0, seed=3)
    assert {"train", "val", "test"} <= set(labels)
    kept = [(lab, a, b) for lab, (s, a, b) in zip(labels, w, strict=True)
            if s == "s1" and lab != GUARD]
    for la, a0, a1 in kept:  # windows of different splits are >= guard_s apart
        for lb, b0, b1 in kept:
            if la != lb:
                assert b0 >= a1 + 5.0 - 1e-9 or a0 >= b1 + 5.0 - 1e-9
    assert info["blocks_per_session"]["s1"]["cuts_s"]


# ----------------------------------------------------------------------------- scan


def test_scan_duplicates_and_missing_playlist(tmp_path):
    root = tmp_path / "mm"
    ok = dict(mel=_mel(), sr=np.array(22050), hop_length=np.array(735))
    _npz(root / "audio" / "playlist-01" / "a.npz", **ok)
    for name in (SESSION, "copy-2026-04-08T13-31-32Z", "Your Mix 3-2026-04-08T02-02-29Z"):
        meta = {"session_id": "S1"} if name != "Your Mix 3-2026-04-08T02-02-29Z" else {}
        d = root / "sessions" / name
        d.mkdir(parents=True)
        (d / "metadata.json").write_text(json.dumps({**meta, "playlist": "playlist-01"}
                                                    if "Mix" not in name else meta))
        (d / "s.jsonl").write_text("".join(json.dumps({"t_s": i * 0.5, "camera": "c",
                                                       "joints": _joints(i)}) + "\n"
                                           for i in range(4)))
    inv = scan([root])
    reasons = " | ".join(p.reason for p in inv.problems)
    assert "duplicate session id 'S1'" in reasons
    assert "plays 'Your Mix 3'" in reasons
    assert [p.pair_id for p in inv.pairs] == ["motionmix/S1/c/00_a"]
    assert inv.pairs[0].track.kind == "npz"


def test_locations_report(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/Desktop/MotionMix, no drive: hermetic
    rep = locations_report({"MOTIONMIX_ROOT": str(tmp_path / "nowhere")},
                           volumes=tmp_path / "Volumes")
    assert not rep["root_exists"] and rep["scan_paths"] == []
    text = "\n".join(report_lines(rep))
    for sub in ("audio", "sessions", "training", "output"):
        assert str(tmp_path / "nowhere" / sub) in text
    (tmp_path / "mm" / "sessions").mkdir(parents=True)
    rep = locations_report({"MOTIONMIX_ROOT": str(tmp_path / "mm")}, volumes=tmp_path / "V")
    assert rep["scan_paths"] == [str(tmp_path / "mm" / "sessions")]


def test_cli_scan_without_arguments_exits_0(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from motionpair.cli import app

    monkeypatch.delenv("MOTIONMIX_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MOTIONPAIR_VOLUMES", str(tmp_path / "Volumes"))
    res = CliRunner().invoke(app, ["scan"])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "Desktop" / "MotionMix" / "sessions") in res.output
    assert "MISSING" in res.output and "nothing to scan" in res.output


def test_npz_key_from_mapping_file(tmp_path):
    pl = tmp_path / "playlist-05"
    _npz(pl / "a.npz", logmelspec=_mel(), sr=np.array(22050), hop_length=np.array(735))
    playlist, problems = read_playlist(pl)
    assert playlist is None and "missing required key 'mel'" in problems[0].reason
    (pl / "motionmix-mapping.json").write_text(json.dumps({"keys": {"mel": "logmelspec"}}))
    playlist, problems = read_playlist(pl, load_mapping(pl / "motionmix-mapping.json"))
    assert problems == [] and playlist.tracks[0].n_frames == 90


def test_npz_grid_differing_from_build_is_refused(tmp_path):
    from types import SimpleNamespace

    from motionpair.config import BuildConfig
    from motionpair.sources.motionmix.audio import features_for_build

    p = _npz(tmp_path / "pl" / "a.npz", mel=_mel(), sr=np.array(22050), hop_length=np.array(512))
    spec = SimpleNamespace(track=SimpleNamespace(path=str(p), track_id="a"), params={"npz": {}})
    with pytest.raises(ValueError, match=r"11025/256 fps .* build's is 30 fps") as e:
        features_for_build(spec, BuildConfig())
    assert str(p) in str(e.value)


def test_scan_lists_files_and_keys_not_understood(tmp_path):
    root = tmp_path / "mm"
    _npz(root / "audio" / "playlist-01" / "a.npz", mel=_mel(), sr=np.array(22050),
         hop_length=np.array(735), loudness=np.zeros(3))
    (root / "audio" / "playlist-01" / "cover.png").write_bytes(b"\x89PNG")
    d = _session(root)
    (d / "s.jsonl").write_text("".join(json.dumps({"t_s": float(i), "joints": _joints(i),
                                                   "gaze": [0, 1]}) + "\n" for i in range(3)))
    (d / "notes.txt").write_text("hello")
    inv = scan([root])
    notes = [n for u in inv.units for n in u.get("not_understood", [])]
    assert "a.npz: key 'loudness'" in notes and any("cover.png" in n for n in notes)
    assert "snapshot key 'gaze'" in notes and "file 'notes.txt': not read" in notes


def test_fused_stream_takes_most_confident_camera_per_joint(tmp_path):
    from motionpair.sources.motionmix.source import fuse_streams

    d = _session(tmp_path)
    recs = []
    for i in range(3):
        recs.append({"t_s": i + 0.00, "camera": "a", "joints": [[1.0, 1.0], [1.0, 1.0]],
                     "confidence": [0.9, 0.2]})
        recs.append({"t_s": i + 0.10, "camera": "b", "joints": [[2.0, 2.0], [2.0, 2.0]],
                     "confidence": [0.1, 0.8]})
    recs.append({"t_s": 5.0, "camera": "b", "joints": [[3.0, 3.0], [3.0, 3.0]],
                 "confidence": [0.5, 0.5]})
    (d / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    s, problems = read_session(d)
    assert problems == []
    t, j, c = fuse_streams(s, tolerance_s=0.25)
    assert t.tolist() == pytest.approx([0.05, 1.05, 2.05, 5.0])
    assert j[0].tolist() == [[1.0, 1.0], [2.0, 2.0]] and c[0].tolist() == [0.9, 0.8]
    assert j[3].tolist() == [[3.0, 3.0], [3.0, 3.0]]  # a lone snapshot stays itself
