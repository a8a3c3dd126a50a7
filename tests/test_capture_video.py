"""Video decoding on real PTS, bad-video refusals, camera sync (no pose estimator needed).

The bad videos and the two "camera" recordings are DERIVED from the real dancer.avi at
test time (tests/derived_video.py), in a temporary folder.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import derived_video as dv
from motionpair.capture import camsync, video
from motionpair.capture.session import pts_facts, sample_frames


@pytest.fixture(scope="module")
def dancer_checked(dancer_video):
    return video.check(dancer_video)


def test_dancer_frame_times_come_from_pts(dancer_checked):
    ok = dancer_checked
    assert len(ok.times_s) == 1571 and ok.info.declared_frames == 1572
    assert ok.info.nominal_fps == 25 and ok.info.creation_time is None
    # the dropped frame: decode index 1 is PTS 2 (0.08 s), not 1 / 25 = 0.04 s
    assert ok.pts[:3] == [0, 2, 3] and ok.times_s[1] == Fraction(2, 25)
    assert ok.times_s[-1] == Fraction(1571, 25)  # index / fps would say 62.80 s
    f = pts_facts(ok.pts, ok.times_s, ok.info.nominal_fps)
    assert f["dropped_frames"] == 1 and f["pts_steps"] == {"1": 1569, "2": 1}
    assert f["first_frame_after_drop"]["error_of_index_over_fps_s"] == pytest.approx(-0.04)
    assert ok.audio.sr_hz == 44100 and ok.audio.first_sample_s == 0
    assert ok.audio.duration_s == pytest.approx(62.9, abs=0.05)


def test_one_hz_sampling_takes_the_first_frame_of_each_second(dancer_checked):
    idx = sample_frames(dancer_checked.times_s, 1.0)
    t = [dancer_checked.times_s[i] for i in idx]
    assert len(idx) == 63 and t[0] == 0
    assert all(k <= x < k + Fraction(1, 25) + Fraction(1, 25) for k, x in enumerate(t))
    assert sample_frames(dancer_checked.times_s, None) == list(range(1571))


@pytest.mark.parametrize("make,words", [
    (dv.truncated_copy, "truncated"),
    (dv.without_audio, "no audio track"),
    (dv.unknown_codec, "unsupported video codec"),
])
def test_bad_video_is_one_clear_problem_naming_the_file(dancer_video, tmp_path, make, words):
    bad = make(dancer_video, tmp_path / f"derived-{make.__name__}.avi")
    with pytest.raises(video.VideoError) as exc:
        video.check(bad)
    assert str(exc.value).startswith(str(bad)) and words in str(exc.value)


def test_not_a_video_and_missing_file(tmp_path):
    txt = tmp_path / "notes.avi"
    txt.write_text("not a video\n")
    for p in (txt, tmp_path / "absent.avi"):
        with pytest.raises(video.VideoError, match=str(p)):
            video.check(p)


def test_camera_offset_recovered_within_one_audio_frame(dancer_video, tmp_path):
    """Two overlapping 'cameras' cut from the real recording at known start times (DERIVED)."""
    a0 = dv.camera_cut(dancer_video, tmp_path / "derived-camA.mkv", 0.0, 30.0)
    b0 = dv.camera_cut(dancer_video, tmp_path / "derived-camB.mkv", 12.345, 30.0)
    known = b0 - a0
    A = video.check(tmp_path / "derived-camA.mkv")
    B = video.check(tmp_path / "derived-camB.mkv")
    est = camsync.camera_offset(A.audio.samples, A.audio.sr_hz, float(A.audio.first_sample_s),
                                B.audio.samples, B.audio.sr_hz, float(B.audio.first_sample_s))
    assert abs(est.offset_s - known) < est.frame_s  # one audio frame = 256/22050 s
    assert est.correlation > 0.5 and est.peak_ratio is not None and est.peak_ratio > 1.0
    # and the other way round: A's clock relative to B's
    back = camsync.camera_offset(B.audio.samples, B.audio.sr_hz, 0.0,
                                 A.audio.samples, A.audio.sr_hz, 0.0)
    assert abs(back.offset_s + known) < back.frame_s
    # the video frames of the cut keep their real times: B's frame at t is A's at t + known
    assert abs(float(B.times_s[0]) + known - float(A.times_s[int(np.searchsorted(
        A.times_s, Fraction(known).limit_denominator(10**6)))])) < 0.041


def test_envelope_lag_pins_the_sign():
    """Tiny arithmetic pin: ref[n + lag] == cam[n] gives +lag."""
    rng = np.random.default_rng(0)
    ref = rng.random(4000)
    cam = ref[700:3000]
    lag, r, ratio, _ = camsync.envelope_lag(ref, cam, Fraction(100), min_overlap_s=5.0)
    assert lag == pytest.approx(700, abs=0.01) and r == pytest.approx(1.0)


def test_declared_camera_offsets_move_a_camera_onto_the_session_clock(tmp_path):
    """Reader arithmetic pin (tiny hand-written session): t_session = t_cam + offset."""
    from motionpair.sources.motionmix.session import read_session

    s = tmp_path / "p-2026-01-01T00-00-00Z"
    s.mkdir()
    (s / "metadata.json").write_text(json.dumps({"camera_offsets_s": {"b": 12.5}}))
    recs = [{"t_s": t, "camera": c, "joints": [[0, 0], [1, 1]]} for c in "ab" for t in (1, 2)]
    (s / "snapshots.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    sess, problems = read_session(s)
    assert not problems and sess.facts["camera_offsets_s"] == {"b": 12.5}
    assert sess.streams["a"].times_s.tolist() == [1, 2]
    assert sess.streams["b"].times_s.tolist() == [13.5, 14.5]
    assert not sess.facts["not_understood"]
    (s / "metadata.json").write_text(json.dumps({"camera_offsets_s": {"b": "soon"}}))
    sess, problems = read_session(s)
    assert sess is None and "camera_offsets_s" in problems[0].reason


def test_capture_without_mediapipe_names_the_package(dancer_video, tmp_path):
    import importlib.util

    from typer.testing import CliRunner

    from motionpair.cli import app

    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("mediapipe is installed here: the missing-package message is not reachable")
    res = CliRunner().invoke(app, ["capture", str(dancer_video), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "mediapipe" in res.output and "[capture]" in res.output
    assert not (tmp_path / "r").exists()


def test_never_writes_into_a_folder_capture_did_not_write(tmp_path):
    from motionpair.capture.session import _owned

    assert _owned(tmp_path / "absent", "manifest.json")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"prepared_by": "someone else"}))
    assert not _owned(foreign, "manifest.json")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metadata.json").write_text(json.dumps({"capture": {"prepared_by":
                                                                "motionpair capture"}}))
    assert _owned(mine, "metadata.json")
