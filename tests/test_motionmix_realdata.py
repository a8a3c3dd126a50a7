"""The MotionMix path on a capture DERIVED from real tang2018 data (see derived_capture.py).

Real music (tang2018 MP3s through prep-audio) and real motion (sampled at ~1 Hz,
projected to 2-D for four virtual cameras); the derivation's truth says which
track and track time every snapshot belongs to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from derived_capture import make_capture  # noqa: E402

FRAME_S = 1 / 30


@pytest.fixture(scope="module")
def capture(tang_dir, tmp_path_factory):
    return make_capture(tang_dir, tmp_path_factory.mktemp("derived_mm"))


@pytest.fixture(scope="module")
def paused(tang_dir, tmp_path_factory, capture):
    """The same playlist, played with 3 s pauses and playback events in metadata.json."""
    return make_capture(tang_dir, tmp_path_factory.mktemp("derived_mm_ev"), pause_s=3.0,
                        prepared=capture.root / "audio" / "playlist-01", seed=1)


def _check_matching(truth) -> dict:
    """Every in-track snapshot on the right track within one frame; out-of-track unmatched."""
    from motionpair.build.scan import scan
    from motionpair.sources.motionmix import source as motionmix

    inv = scan([truth.root])
    assert inv.problems == []
    got: dict[tuple[str, float], tuple[str, float]] = {}
    for spec in inv.pairs:
        pose = motionmix.load_pose(spec)
        t_track = motionmix.clock(spec).to_track(pose.times_s)
        for t, tt in zip(pose.times_s, t_track, strict=True):
            key = (spec.params["camera"], round(float(t), 3))
            assert key not in got, f"snapshot {key} matched twice"
            got[key] = (spec.track.track_id.split("/")[-1], float(tt))
    n_in = n_out = 0
    for s in truth.snapshots:
        key = (s["camera"], round(s["t_s"], 3))
        if s["track"] < 0:
            assert key not in got, f"out-of-track snapshot {key} was assigned"
            n_out += 1
            continue
        n_in += 1
        track, tt = got[key]
        assert track == truth.track_ids[s["track"]]
        assert abs(tt - s["track_t_s"]) <= FRAME_S
    unit = next(u for u in inv.units if u.get("kind") == "session")
    assert unit["snapshots_matched"] == n_in and unit["snapshots_out_of_track"] == n_out
    return {"in_track": n_in, "out_of_track": n_out, "unit": unit, "pairs": len(inv.pairs)}


def test_gapless_matching_against_truth(capture):
    r = _check_matching(capture)
    assert r["in_track"] > 2500 and r["out_of_track"] >= 40  # the 12 s tail after the playlist
    assert r["unit"]["matched_by"] == ["playlist_order_gapless"]
    assert r["pairs"] == 12  # 4 cameras x 3 tracks


def test_event_matching_against_truth(paused):
    r = _check_matching(paused)
    assert r["unit"]["matched_by"] == ["playback_events"]
    assert r["out_of_track"] > r["in_track"] * 0.01  # the pauses' snapshots are not guessed


def test_gapless_matching_without_manifest(tang_dir, tmp_path, capture):
    """No manifest.json: order from sorted NPZ names, durations from the NPZ."""
    truth = make_capture(tang_dir, tmp_path, manifest=False, seed=2,
                         prepared=capture.root / "audio" / "playlist-01")
    r = _check_matching(truth)
    assert r["out_of_track"] > 0 and r["unit"]["matched_by"] == ["playlist_order_gapless"]


def test_prep_audio_npz_equals_builder_features(capture, tang_dir, cache_dir):
    """prep-audio writes exactly the builder's features (same recipe, same grid)."""
    from motionpair.build.pair import track_features
    from motionpair.build.scan import scan
    from motionpair.cache import Cache
    from motionpair.config import BuildConfig
    from motionpair.sources.motionmix.audio import load_features

    spec = next(p for p in scan([tang_dir / "DANCE_C_2"]).pairs)
    from motionpair.features.audio import one_thread

    with one_thread():  # as the build computes it
        direct = track_features(spec, BuildConfig(), Cache(cache_dir))
    npz = load_features(capture.root / "audio" / "playlist-01" / "DANCE_C_2__audio.npz",
                        track_id="x")
    assert npz.params["derived"] == {} and npz.params["missing"] == []
    assert npz.fps == direct.fps and npz.n_frames == direct.n_frames
    for name, arr in direct.arrays.items():
        np.testing.assert_array_equal(npz.arrays[name], arr, err_msg=name)
    np.testing.assert_allclose(npz.beat_times_s, direct.beat_times_s, atol=1e-9)


@pytest.mark.parametrize("pairing", ["snapshot", "sequence"])
def test_build_both_pairing_modes(capture, tmp_path, cache_dir, pairing):
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig
    from motionpair.consumers.verify import verify

    out = tmp_path / f"mm-{pairing}"
    s = build([capture.root], out, BuildConfig(pairing=pairing), workers=1, cache_dir=cache_dir)
    fails, _ = verify(out)
    assert fails == []
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    ds = json.loads((out / "dataset.json").read_text())
    assert {p["pairing"]["mode"] for p in ds["pairs"]} == {pairing}
    assert "motionmix.gapless_playlist_order_from_session_start" in ds["assumptions"]
    assert all(r["matched_by"] == "playlist_order_gapless" and r["camera"] for r in rows)
    assert "only 1 session" in s.split_info["warning"] and "time-block" in s.split_info["warning"]
    (sess,) = ds["motionmix"]["sessions"]
    assert sess["snapshots_out_of_track"] == sum(t["track"] < 0 for t in capture.snapshots)
    if pairing == "snapshot":
        truth = {(t["camera"], capture.track_ids[t["track"]], round(t["track_t_s"], 3))
                 for t in capture.snapshots if t["track"] >= 0}
        got = {(r["camera"], r["track"].split("/")[-1], round(r["snapshot_track_s"], 3))
               for r in rows}
        assert got <= truth  # every snapshot row sits at its true track time
        n_in = len(truth)
        assert len(rows) + ds["counts"]["dropped_by_reason"]["audio_incomplete"] == n_in
        r = rows[len(rows) // 2]
        pv = np.load(out / r["shard"] / "pose_valid.npy", mmap_mode="r")[r["row"]]
        assert pv[r["snapshot_frame"]] and r["grid"] == "snapshot" and r["n_frames"] == 150
    else:
        assert all(r["grid"] == "fixed" and r["pose_coverage"] == 1.0 for r in rows)
        assert len(rows) > 2000


def test_fused_cameras_time_block_split(capture, tmp_path, cache_dir):
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig
    from motionpair.consumers.verify import verify

    out = tmp_path / "mm-fused"
    s = build([capture.root], out, BuildConfig(cameras="fused", split_by="time-block"),
              workers=1, cache_dir=cache_dir)
    assert verify(out)[0] == []
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["camera"] for r in rows} == {"fused"}
    assert "motionmix.fused_camera_highest_confidence_per_joint" in rows[0]["assumptions"]
    assert s.split_info["method"] == "time_block" and s.split_info["guard_s"] == 5.0
    assert {"train", "val", "test"} <= set(s.split_info["windows"])
    kept = [r for r in rows if r["split"] != "guard"]
    by_split = {}
    for r in kept:
        by_split.setdefault(r["split"], []).append((r["motion_start_s"], r["motion_end_s"]))
    for a in by_split:
        for b in by_split:
            if a < b:
                for a0, a1 in by_split[a]:
                    for b0, b1 in by_split[b]:
                        assert b0 >= a1 + 5.0 - 1e-6 or a0 >= b1 + 5.0 - 1e-6


def test_build_on_minimal_aliased_npz(capture, tmp_path, cache_dir):
    """NPZ with only aliased mel/tempo/beats/sr/hop (frames-first mel): derived, recorded."""
    import shutil

    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig
    from motionpair.consumers.verify import verify
    from motionpair.sources.motionmix.audio import load_features

    root = tmp_path / "minimal"
    shutil.copytree(capture.root / "sessions", root / "sessions")
    src = capture.root / "audio" / "playlist-01"
    dst = root / "audio" / "playlist-01"
    dst.mkdir(parents=True)
    for p in sorted(src.glob("*.npz")):  # derived from the prep-audio NPZ, manifest dropped
        with np.load(p, allow_pickle=False) as z:
            np.savez(dst / p.name, melspec=z["mel"].T, tempo=z["bpm"], beats=z["beat_frames"],
                     sample_rate=z["sr"], hop=z["hop_length"])
    full = load_features(src / "DANCE_C_2__audio.npz", track_id="full")
    mini = load_features(dst / "DANCE_C_2__audio.npz", track_id="mini")
    assert mini.params["mel_orientation"] == "(n_frames, n_mels)"
    assert set(mini.params["derived"]) == {"onset_env", "onset_peak"}
    np.testing.assert_allclose(mini.arrays["onset_env"], full.arrays["onset_env"], atol=1e-3)
    out = tmp_path / "mm-min"
    build([root], out, BuildConfig(), workers=1, cache_dir=cache_dir)
    assert verify(out)[0] == []
    ds = json.loads((out / "dataset.json").read_text())
    assert all(p["audio_from"]["missing"] == ["baseline35"] for p in ds["pairs"])
    assert all(p["audio_from"]["duration_from"] == "n_frames*hop/sr" for p in ds["pairs"])
    assert not list(out.glob("shards/*/baseline35.npy"))  # never zero-filled


def test_prep_audio_cli(tang_dir, tmp_path):
    from typer.testing import CliRunner

    from motionpair.cli import app

    src = tmp_path / "mix"
    src.mkdir()
    (src / "w3.mp3").symlink_to(tang_dir / "DANCE_W_3" / "audio.mp3")
    res = CliRunner().invoke(app, ["prep-audio", str(src), "--out", str(tmp_path / "prepped")])
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "prepped" / "mix" / "manifest.json").read_text())
    assert [t["track_id"] for t in man["tracks"]] == ["w3"] and man["hop_length"] == 735
    res = CliRunner().invoke(app, ["prep-audio", str(src), "--out", str(src / "inside")])
    assert res.exit_code == 2 and "inside" in res.output


def _copy_capture(capture, dest: Path) -> Path:
    import shutil

    shutil.copytree(capture.root, dest, symlinks=True)
    return dest


def test_sequence_never_interpolates_across_gaps(capture, tmp_path, cache_dir):
    """Snapshots of cam0 removed for 10 s: those frames are masked and counted, no window spans
    them; the other cameras are untouched."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    root = _copy_capture(capture, tmp_path / "gap")
    snap = next((root / "sessions").glob("*/snapshots.jsonl"))
    lines = snap.read_text().splitlines()
    t0 = capture.snapshots[0]["t_s"]  # session seconds of the first snapshot (for the ISO)
    keep = [ln for ln, s in zip(lines, sorted(capture.snapshots, key=lambda s: (
        round(s["t_s"], 3), s["camera"])), strict=True)
        if not (s["camera"] == "cam0" and 100.0 <= s["t_s"] < 110.0)]
    assert len(keep) < len(lines) and t0 < 100
    snap.write_text("\n".join(keep) + "\n")
    out = tmp_path / "mm-gap"
    build([root], out, BuildConfig(pairing="sequence", max_gap_s=1.5), workers=1,
          cache_dir=cache_dir)
    ds = json.loads((out / "dataset.json").read_text())
    masked = {p["camera"]: p["masked_gap_frames"] for p in ds["pairs"] if "/00_" in p["pair_id"]}
    assert masked["cam0"] >= 8 * 30 and masked["cam1"] == 0
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    for r in rows:
        if r["camera"] == "cam0" and r["track"].endswith("DANCE_C_2__audio"):
            assert r["end_s"] <= 100.0 or r["start_s"] >= 109.0


def test_second_session_with_one_snapshot(capture, tmp_path, cache_dir):
    """Sessions of very different sizes (MotionMix has one with a single snapshot)."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    root = _copy_capture(capture, tmp_path / "two")
    one = root / "sessions" / "playlist-01-2026-04-08T15-00-00Z"
    one.mkdir()
    src = next((root / "sessions").glob("playlist-01-2026-04-08T13*"))
    meta = json.loads((src / "metadata.json").read_text())
    meta.update(session_id=one.name, started_at="2026-04-08T15:00:00.000Z")
    (one / "metadata.json").write_text(json.dumps(meta))
    rec = json.loads((src / "snapshots.jsonl").read_text().splitlines()[400])
    rec["t"] = "2026-04-08T15:01:40.000Z"  # 100 s into the first track
    (one / "snapshots.jsonl").write_text(json.dumps(rec) + "\n")
    out = tmp_path / "mm-two"
    s = build([root], out, BuildConfig(), workers=1, cache_dir=cache_dir)
    rows = [r for r in s.rows if r.session == one.name]
    assert len(rows) == 1 and rows[0].dynamics == "none"
    assert rows[0].snapshot_track_s == pytest.approx(100.0)
    assert "only 2 session" in s.split_info["warning"]
