"""Audio-prep NPZ as librosa users write them: the build follows their own grid (issue 11).

Every NPZ here is written at test time by librosa itself from a real tang2018 MP3
(derived_capture.write_librosa_npz); the sessions are DERIVED from the real motion
(derived_capture.make_capture). Nothing is hand-written.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from derived_capture import SESSION_START, make_capture  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NPZ: dict = {}  # plain librosa defaults (see write_librosa_npz)


def _build(root: Path | list[Path], out: Path, **cfg):
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    roots = root if isinstance(root, list) else [root]
    return build(roots, out, BuildConfig(**cfg), workers=1, cache_dir=False)


def _session_times(truth) -> dict[tuple[str, str], float]:
    """(camera, ISO timestamp) -> seconds since the session start, from snapshots.jsonl."""
    sdir = next((truth.root / "sessions").iterdir())
    out = {}
    for line in (sdir / "snapshots.jsonl").read_text().splitlines():
        rec = json.loads(line)
        t = datetime.fromisoformat(rec["t"].replace("Z", "+00:00"))
        out[(rec["camera"], rec["t"])] = (t - SESSION_START).total_seconds()
    return out


@pytest.fixture(scope="module")
def librosa_default(tang_dir, tmp_path_factory):
    """A librosa-default playlist of 3 real tracks (no manifest.json) + a 4-camera session."""
    return make_capture(tang_dir, tmp_path_factory.mktemp("mm_librosa"), npz=DEFAULT_NPZ,
                        sessions=("DANCE_R_2", "DANCE_W_4", "DANCE_W_8"))  # sorted: no manifest


def test_librosa_default_playlist_builds_with_no_grid_flags(librosa_default, tmp_path):
    """No --fps: the build takes the NPZ grid 22050/512; scan and build agree; sample row."""
    from motionpair.build.scan import scan

    truth = librosa_default
    inv = scan([truth.root])
    assert inv.problems == []
    s = _build(truth.root, tmp_path / "ds")
    assert s.problems == [] and len(s.rows) > 1000
    assert sorted(p.pair_id for p in s.inventory.pairs) == sorted(p.pair_id for p in inv.pairs)
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["grid"]["fps"] == "11025/256" and meta["grid"]["fps_asked"] == "auto"
    assert meta["config"]["context_frames"] == [172, 43]  # 4 s, 1 s to the nearest frame
    ctx = meta["windows"]["lengths"]["context_before"]
    assert ctx["asked_s"] == 4.0 and ctx["frames"] == 172 and ctx["used_s_exact"] == "44032/11025"
    # the dataset's sample row, and one on the last track: track time against the snapshot's
    # own timestamp
    from motionpair.build.preview import choose_sample

    sample = json.loads((tmp_path / "ds" / "sample.json").read_text())
    last = [r for r in s.rows if r.track.endswith(truth.track_ids[-1])]
    for row in (choose_sample(s.rows), last[len(last) // 2]):
        _check_row(row, s, truth)
    assert choose_sample(s.rows).id in json.dumps(sample)


def _check_row(row, s, truth) -> None:
    from motionpair.sources.motionmix import source as motionmix

    fps = Fraction(11025, 256)
    assert row.n_frames == 215 and row.fps == float(fps)
    spec = next(p for p in s.inventory.pairs if p.pair_id == row.id.rsplit("/", 1)[0])
    pose = motionmix.load_pose(spec)
    i = int(row.id.rsplit("/s", 1)[1])
    t_session = float(pose.times_s[i])  # seconds since the session start, from its ISO stamp
    stamp = (SESSION_START.timestamp() + t_session)
    k = truth.track_ids.index(row.track.split("/")[-1])
    assumed_start = spec.params["stream_start_s"]  # gapless: reader's durations n*hop/sr
    assert row.snapshot_track_s == pytest.approx(t_session - assumed_start, abs=1e-6)
    truth_track_s = t_session - truth.starts_s[k]
    # no manifest, no duration key: a track lasts n_frames*hop/sr, < 1 hop over the audio
    err = row.snapshot_track_s - truth_track_s
    assert abs(err) <= k * 512 / 22050 + 1e-6
    centre = row.start_frame + row.snapshot_frame
    assert abs(centre / fps - row.snapshot_track_s) <= 0.5 / fps + 1e-9
    print(f"\nrow {row.id}: snapshot stamp {datetime.utcfromtimestamp(stamp).isoformat()}Z = "
          f"session t {t_session:.3f} s; track {row.track} starts at {assumed_start:.6f} s "
          f"(truth {truth.starts_s[k]:.6f}); track time {row.snapshot_track_s:.6f} s (truth "
          f"{truth_track_s:.6f}, error {err * 1000:+.2f} ms); snapshot at frame {centre} = "
          f"{float(centre / fps):.4f} s; window frames {row.start_frame}..."
          f"{row.start_frame + row.n_frames} at {fps} fps; {len(s.rows)} rows, "
          f"{len(s.inventory.pairs)} pairs")


SHAPES = {  # id -> write_librosa_npz keyword arguments (each from a real MP3 with librosa)
    "defaults 22050/512 power (128,n) bpm(1,) beat_frames 0-d int f32": {},
    "dB mel (power_to_db ref=max)": {"mel": "db"},
    "frames-first (n,128)": {"orientation": "frames_first"},
    "dB + frames-first + float64": {"mel": "db", "orientation": "frames_first",
                                    "dtype": "float64"},
    "bpm as a scalar": {"bpm": "scalar"},
    "tempo key (1,)": {"bpm_key": "tempo"},
    "beat_times (s)": {"beats": "times"},
    "beat times under 'beats'": {"beats": "times_in_beats"},
    "sr/hop as 0-d float arrays": {"scalars": "0d_float"},
    "float64 power": {"dtype": "float64"},
    "hop 256 @ 22050": {"hop": 256},
    "hop 735 @ 22050": {"hop": 735},
    "hop 1024 @ 22050": {"hop": 1024},
    "hop 256 @ 44100": {"sr": 44100, "hop": 256},
    "hop 512 @ 44100": {"sr": 44100, "hop": 512},
    "hop 735 @ 44100": {"sr": 44100, "hop": 735},
    "hop 1024 @ 44100": {"sr": 44100, "hop": 1024},
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_librosa_npz_shape_builds(shape, tang_dir, tmp_path):
    """Each NPZ shape: scan clean, default build (no grid flag) on its own grid, windows cut."""
    from motionpair.build.scan import scan

    kw = SHAPES[shape]
    truth = make_capture(tang_dir, tmp_path, npz=kw, sessions=("DANCE_W_8",),
                         cameras=("cam0",))
    inv = scan([truth.root])
    assert inv.problems == [], [p.reason for p in inv.problems]
    s = _build(truth.root, tmp_path / "ds")
    assert s.problems == [] and len(s.rows) > 50
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    fps = Fraction(kw.get("sr", 22050), kw.get("hop", 512))
    assert Fraction(meta["grid"]["fps"]) == fps
    pair = meta["pairs"][0]
    tempo = pair["tempo_bpm"]
    assert 60 < tempo < 200 and pair["n_music_beats"] > 50
    assert pair["audio_from"]["mel_orientation"] == (
        "(n_frames, n_mels)" if kw.get("orientation") == "frames_first" else "(n_mels, n_frames)")
    shard = tmp_path / "ds" / pair["shard"]
    mel = np.load(shard / "mel.npy")
    assert mel.shape[2] == 128 and mel.shape[1] == sum(meta["config"]["context_frames"])
    assert mel.max() < 100 and mel.min() > -250  # dB everywhere (a power mel was converted)
    beats = np.load(shard / "music_beat.npy")
    assert beats.sum() > 0
    frames = meta["config"]["context_frames"]
    assert frames == [int(np.floor(4 * fps + Fraction(1, 2))), int(np.floor(fps + Fraction(1, 2)))]
    print(f"\nSHAPE | {shape} | {fps} fps ≈ {float(fps):.3f} | context {frames} frames | "
          f"mel {pair['audio_from']['mel_orientation']} | tempo {tempo:.1f} bpm, "
          f"{pair['n_music_beats']} beats | {len(s.rows)} rows | built")


def _rename_playlist(truth, name: str) -> None:
    """Turn a derived capture's playlist-01 into ``name`` (folder, session, metadata)."""
    audio = truth.root / "audio"
    (audio / "playlist-01").rename(audio / name)
    sdir = next((truth.root / "sessions").iterdir())
    new = sdir.with_name(sdir.name.replace("playlist-01", name))
    sdir.rename(new)
    meta = json.loads((new / "metadata.json").read_text())
    meta.update(playlist=name, session_id=new.name)
    (new / "metadata.json").write_text(json.dumps(meta, indent=2))


def test_mixed_grids_refused_with_a_pasteable_fix(tang_dir, tmp_path):
    """Two playlists on two grids: scan says so, build refuses, each printed fix builds."""
    from motionpair.build.scan import scan

    a = make_capture(tang_dir, tmp_path / "a", npz={}, sessions=("DANCE_W_8",), cameras=("cam0",))
    b = make_capture(tang_dir, tmp_path / "b", npz={"hop": 735}, sessions=("DANCE_W_8",),
                     cameras=("cam0",))
    _rename_playlist(b, "playlist-02")
    inv = scan([a.root, b.root])
    assert [p.reason.split(":")[0] for p in inv.problems] == ["build would refuse"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "motionpair", "build", str(a.root), str(b.root), "--out",
           str(tmp_path / "ds"), "--no-cache", "--workers", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.count("different frame grids") == 1
    fixes = [ln[len("fix: "):] for ln in r.stderr.splitlines() if ln.startswith("fix: ")]
    assert len(fixes) == 2 and {f.split("--fps ")[1] for f in fixes} == {"11025/256", "30"}
    for fix in fixes:  # pasted as printed: builds, reporting the other grid's track once
        argv = shlex.split(fix)
        assert argv[0] == "motionpair"
        r2 = subprocess.run([sys.executable, "-m", "motionpair", *argv[1:]], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
        assert r2.returncode == 0, r2.stderr
        assert r2.stderr.count("NPZ feature grid is") == 1
        print(f"\n$ {fix}\n{r2.stdout.strip()}\n{r2.stderr.strip()}")


def test_explicit_grid_reports_each_off_grid_file_once(tang_dir, tmp_path):
    """--fps 30 over a 22050/512 playlist of 4 cameras: one problem for the NPZ, not four."""
    from motionpair.build.dataset import BuildError

    truth = make_capture(tang_dir, tmp_path, npz={}, sessions=("DANCE_W_8",))
    with pytest.raises(BuildError) as exc:
        _build(truth.root, tmp_path / "ds", fps="30")
    assert str(exc.value).count("NPZ feature grid is 11025/256 fps") == 1
    assert "--fps 11025/256" in str(exc.value)


def test_window_and_hop_in_exact_frames(tang_dir, tmp_path):
    """--window-frames/--hop-frames and seconds to the nearest frame, recorded both ways."""
    truth = make_capture(tang_dir, tmp_path, npz={}, sessions=("DANCE_W_8",), cameras=("cam0",))
    s = _build(truth.root, tmp_path / "ds", pairing="sequence", window_n_frames=256,
               hop_n_frames=128)
    assert s.rows and {r.n_frames for r in s.rows} == {256}
    assert {b.start_frame - a.start_frame for a, b in zip(s.rows, s.rows[1:], strict=False)
            if a.session == b.session} >= {128}
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    w = meta["windows"]["lengths"]["window"]
    assert w["asked_frames"] == 256 and w["used_s_exact"] == "65536/11025"
    s2 = _build(truth.root, tmp_path / "ds2", pairing="sequence", window_s=5.0, hop_s=1.0)
    meta2 = json.loads((tmp_path / "ds2" / "dataset.json").read_text())
    w2 = meta2["windows"]["lengths"]["window"]
    assert (w2["asked_s"], w2["frames"], w2["used_s_exact"]) == (5.0, 215, "11008/2205")
    assert {r.n_frames for r in s2.rows} == {215}


def _track_time_errors(truth) -> tuple[list[float], dict]:
    """|reader's track time - truth| of every in-track snapshot (s), and the session unit."""
    from motionpair.build.scan import scan
    from motionpair.sources.motionmix import source as motionmix

    inv = scan([truth.root])
    got = {}
    for spec in inv.pairs:
        pose = motionmix.load_pose(spec)
        tt = motionmix.clock(spec).to_track(pose.times_s)
        for t, x in zip(pose.times_s, tt, strict=True):
            got[(spec.params["camera"], round(float(t), 3))] = (spec.track.track_id, float(x))
    errs = []
    for s in truth.snapshots:
        key = (s["camera"], round(s["t_s"], 3))
        if s["track"] >= 0:
            track, x = got[key]
            assert track.endswith(truth.track_ids[s["track"]])
            errs.append(abs(x - s["track_t_s"]))
        else:
            assert key not in got  # the pause is no track time
    unit = next(u for u in inv.units if u.get("kind") == "session")
    return errs, unit


@pytest.mark.parametrize("key", ["position_s", "position", "offset_s", "position_ms"])
def test_resumed_track_plays_on_from_its_position(key, tang_dir, tmp_path):
    """Track 0 pauses at 30 s for 5 s and resumes from 30 s: every snapshot on its track time."""
    truth = make_capture(tang_dir, tmp_path, npz={}, sessions=("DANCE_R_2", "DANCE_W_8"),
                         cameras=("cam0",), resume=(0, 30.0, 5.0), position_key=key)
    errs, unit = _track_time_errors(truth)
    assert len(errs) > 250 and max(errs) < 1e-6
    assert [s["track_start_s"] for s in unit["segments"]] == [0.0, 30.0, 0.0]
    assert not [n for n in unit["not_understood"] if "not used" in n]
    if key == "position_s":  # end to end: the resumed segment's rows carry the right track time
        b = _build(truth.root, tmp_path / "ds")
        rows = [r for r in b.rows if "/01_DANCE_R_2/" in r.id]
        truth_of = {round(x["t_s"] - 35.0 + 30.0, 3): x for x in truth.snapshots
                    if x["track"] == 0 and x["t_s"] >= 35.0}
        assert rows and all(round(r.snapshot_track_s, 3) in truth_of for r in rows)
        assert min(r.snapshot_track_s for r in rows) >= 30.0
    print(f"\nresume via {key!r}: {len(errs)} snapshots, max track-time error "
          f"{max(errs) * 1000:.3f} ms; segments {unit['segments']}")


def test_unused_event_key_is_reported(tang_dir, tmp_path):
    """An event key motionpair does not know is listed, and its effect is visible (before)."""
    truth = make_capture(tang_dir, tmp_path, npz={}, sessions=("DANCE_R_2", "DANCE_W_8"),
                         cameras=("cam0",), resume=(0, 30.0, 5.0), position_key="playhead")
    errs, unit = _track_time_errors(truth)
    assert any("key 'playhead'" in n and "not used" in n for n in unit["not_understood"])
    late = [e for e in errs if e > 1]
    assert late and abs(max(late) - 30.0) < 1e-6  # taken as a restart: 30 s off, as before
    print(f"\nunknown key 'playhead': {len(late)} of {len(errs)} snapshots 30 s off; reported: "
          f"{[n for n in unit['not_understood'] if 'playhead' in n]}")
