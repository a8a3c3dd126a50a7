"""``motionpair capture`` end to end on the real dancer.avi (needs the [capture] extra).

Pose comes from MediaPipe's bundled BlazePose model. Derived inputs (bad videos, camera
cuts, a clip with blanked frames) are made from the real file at test time in a
temporary folder (tests/derived_video.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import derived_video as dv

pytest.importorskip("mediapipe", reason="pose capture needs the mediapipe package "
                                        "(pip install 'motionpair[capture]')")

from typer.testing import CliRunner  # noqa: E402

from motionpair.cli import app  # noqa: E402


def _run(*args: str) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def _session(root: Path) -> Path:
    (s,) = sorted((root / "sessions").iterdir())
    return s


@pytest.fixture(scope="module")
def one_hz(dancer_video, tmp_path_factory, cache_dir):
    """dancer.avi at 1 Hz next to four bad videos derived from it."""
    tmp = tmp_path_factory.mktemp("capture")
    bad = [dv.truncated_copy(dancer_video, tmp / "derived-truncated.avi"),
           dv.without_audio(dancer_video, tmp / "derived-no-audio.avi"),
           dv.no_person_clip(dancer_video, tmp / "derived-no-person.mkv"),
           dv.unknown_codec(dancer_video, tmp / "derived-unknown-codec.avi")]
    root = tmp / "root"
    out = _run("capture", bad[0], dancer_video, *bad[1:], "--out", root, "--rate-hz", "1",
               "--cache", cache_dir)
    return root, out, bad


def test_capture_one_hz_session_and_bad_videos(one_hz):
    root, out, bad = one_hz
    for p, words in zip(bad, ("truncated", "no audio track", "no person detected",
                              "unsupported video codec"), strict=True):
        assert any(str(p) in line and words in line for line in out.splitlines()), (p, out)
    assert "wrote 1 session(s)" in out and "4 problem(s)" in out
    s = _session(root)
    assert s.name == "dancer-1970-01-01T00-00-00Z"
    meta = json.loads((s / "metadata.json").read_text())
    cam = meta["capture"]["cameras"]["dancer"]
    assert cam["frames_decoded"] == 1571 and cam["frames_estimated"] == 63
    assert cam["frames_detected"] + cam["frames_missing"] == 63
    assert cam["first_frame_after_drop"] == {"index": 1, "pts": 2, "time_s": 0.08,
                                             "index_over_fps_s": 0.04,
                                             "error_of_index_over_fps_s": -0.04}
    assert meta["capture"]["estimator"]["version"] == "0.10.14"
    assert meta["playback_events"] == [{"t": 0.0, "track_id": "dancer"}]
    assert meta["capture"]["start_from"] == "capture.session_start_unknown_is_epoch"
    recs = [json.loads(x) for x in (s / "snapshots.jsonl").read_text().splitlines()]
    assert len(recs) == cam["frames_detected"] and len(recs[0]["joints"]) == 33
    assert [r["t_s"] for r in recs[:3]] == [0.0, 1.0, 2.0]
    assert all(0 <= c <= 1 for r in recs for c in r["confidence"])
    man = json.loads((root / "audio" / "dancer" / "manifest.json").read_text())
    assert man["hop_length"] == 735 and man["tracks"][0]["duration_s"] == pytest.approx(62.9,
                                                                                       abs=0.05)


def test_rerun_is_cached_and_byte_identical(one_hz, dancer_video, cache_dir, tmp_path):
    root, _, _ = one_hz
    out = _run("capture", dancer_video, "--out", tmp_path / "again", "--rate-hz", "1",
               "--cache", cache_dir)
    assert "all from cache (63 from cache)" in out
    a, b = _session(root), _session(tmp_path / "again")
    for name in ("metadata.json", "snapshots.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_snapshot_build_verify_and_overlay(one_hz, dancer_video, tmp_path, cache_dir):
    root, _, _ = one_hz
    out = _run("build", root, "--out", tmp_path / "ds", "--pairing", "snapshot",
               "--split-by", "time-block", "--workers", "1", "--cache", cache_dir)
    assert "from 1 pairs; 0 input problem(s)" in " ".join(out.split())
    assert "ok:" in _run("verify", tmp_path / "ds")
    png = tmp_path / "overlay.png"
    out = _run("capture-preview", _session(root), dancer_video, "--out", png, "--time-s", "30")
    facts = json.loads(out.split(": ", 1)[1])
    assert png.stat().st_size > 10_000
    # the snapshot at 30 s came from the frame with PTS 750, decode index 749 (dropped frame)
    assert facts["pts"] == 750 and facts["frame_index"] == 749
    assert facts["frame_time_s"] == 30.0 and facts["index_over_fps_s"] == pytest.approx(29.96)


def test_missed_detections_are_recorded_not_interpolated(dancer_video, tmp_path, cache_dir):
    """A DERIVED 6 s full-rate clip whose every 5th frame shows only the backdrop."""
    clip = tmp_path / "derived-blanked.mkv"
    _, blank = dv.occluded_clip(dancer_video, clip, 20.0, 6.0)
    root = tmp_path / "root"
    _run("capture", clip, "--out", root, "--rate-hz", "full", "--cache", cache_dir)
    s = _session(root)
    cam = json.loads((s / "metadata.json").read_text())["capture"]["cameras"]["derived-blanked"]
    assert set(blank) <= {round(t, 3) for t in cam["missing_times_s"]}
    assert cam["frames_missing"] == len(cam["missing_times_s"]) >= len(blank)
    times = {round(json.loads(x)["t_s"], 3) for x in (s / "snapshots.jsonl").read_text()
             .splitlines()}
    assert not times & set(blank) and len(times) == cam["frames_detected"]
    # build in sequence mode: short gaps are bridged at build time (max gap 1.5 s), verified
    out = _run("build", root, "--out", tmp_path / "ds", "--pairing", "sequence",
               "--workers", "1", "--cache", cache_dir)
    assert "from 1 pairs" in " ".join(out.split())
    assert "ok:" in _run("verify", tmp_path / "ds")


def test_same_performance_two_cameras(dancer_video, tmp_path, cache_dir):
    """Two overlapping DERIVED 'camera' cuts of the real recording, one session."""
    a0 = dv.camera_cut(dancer_video, tmp_path / "derived-camA.mkv", 5.0, 25.0)
    b0 = dv.camera_cut(dancer_video, tmp_path / "derived-camB.mkv", 17.777, 25.0)
    root = tmp_path / "root"
    out = _run("capture", tmp_path / "derived-camA.mkv", tmp_path / "derived-camB.mkv",
               "--out", root, "--rate-hz", "1", "--same-performance", "--cache", cache_dir)
    assert "wrote 1 session(s)" in out
    s = _session(root)
    meta = json.loads((s / "metadata.json").read_text())
    assert meta["cameras"] == ["derived-camA", "derived-camB"]
    sync = meta["capture"]["cameras"]["derived-camB"]["sync"]
    assert abs(meta["camera_offsets_s"]["derived-camB"] - (b0 - a0)) < sync["frame_s"]
    from motionpair.sources.motionmix.session import read_session

    sess, problems = read_session(s)
    assert not problems and not sess.facts["not_understood"]
    tb = sess.streams["derived-camB"].times_s
    assert tb[0] == pytest.approx(meta["camera_offsets_s"]["derived-camB"], abs=0.05)
    assert np.all(np.diff(tb) > 0)
