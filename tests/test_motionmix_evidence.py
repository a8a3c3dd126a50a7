"""Alignment evidence for MotionMix pairs (issue 11 item 7), through the one per-pair pipeline.

Dense streams (sequence pairing) get the same BAS / nulls / offset / drift record and picture
as tang2018 (drift from the offset halves: a real-time clock implies no tempo); sparse ~1 Hz
snapshot streams get a record of what can and cannot be measured, with numbers. Both in
``dataset.json`` and in ``motionpair align``. The captures are DERIVED at test time from a real
tang2018 pair (tests/derived_capture.py: real MP3 through prep-audio, real motion sampled).
"""

from __future__ import annotations

import json

import pytest

from derived_capture import make_capture
from motionpair.align.pair import REAL_TIME
from motionpair.build.dataset import build
from motionpair.config import BuildConfig

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def dense_capture(tang_dir, tmp_path_factory):
    """DANCE_C_2 at 30 Hz, one camera, no jitter: sequence pairing by measured rate."""
    return make_capture(tang_dir, tmp_path_factory.mktemp("mm_ev_dense"), rate_hz=30.0,
                        jitter_s=0.0, sessions=("DANCE_C_2",), cameras=("cam0",))


@pytest.fixture(scope="module")
def sparse_capture(tang_dir, tmp_path_factory, dense_capture):
    """The same track at ~1 Hz (jittered), one camera: snapshot pairing by measured rate."""
    return make_capture(tang_dir, tmp_path_factory.mktemp("mm_ev_sparse"),
                        sessions=("DANCE_C_2",), cameras=("cam0",),
                        prepared=dense_capture.root / "audio" / "playlist-01")


def _build(root, out):
    build([root], out, BuildConfig().validate(), workers=1, cache_dir=False)
    return json.loads((out / "dataset.json").read_text())["alignment_evidence"]


def test_dense_motionmix_pair_gets_full_evidence_and_picture(dense_capture, tmp_path):
    out = tmp_path / "dense"
    ev = _build(dense_capture.root, out)
    assert ev["summary"]["skipped"] == {} and ev["summary"]["pairs"] == 1
    (pid, r), = ev["pairs"].items()
    assert pid.startswith("motionmix/") and "/cam0/" in pid
    for k in ("bailando", "fact"):
        assert 0.0 <= r["bas"][k] <= 1.0
        assert r["null_circular_shift"][k]["n"] == 200
    assert r["offset"]["search_s"] == [-3.0, 3.0] and r["offset"]["applied"] is False
    assert -3.0 <= r["offset"]["best_s"] <= 3.0
    t = r["tempo"]
    assert t["implied_bpm"] is None and t["frames_per_beat"] == REAL_TIME
    assert 60 < t["measured_bpm"] < 200 and t["halves_diff_beats"] is not None
    # drift is measured from the halves, or said not to be (beat ambiguity), never guessed
    assert (t["drift_end_s"] is None) == ("drift_note" in t)
    assert r["clock_map"] == "offset" and r["n_kin_beats"] > 50
    png = out / "alignment" / (pid.replace("/", "__") + ".png")
    assert png.read_bytes()[:4] == b"\x89PNG" and "picture" not in r


def test_snapshot_pair_says_what_can_and_cannot_be_measured(sparse_capture, tmp_path):
    ev = _build(sparse_capture.root, tmp_path / "sparse")
    assert ev["summary"]["pairs"] == 0 and ev["summary"]["skipped"] == {}
    assert ev["summary"]["sparse_pairs"] == 1 and "sparse_pairs" in ev["definitions"]
    (pid, r), = ev["sparse_pairs"].items()
    truth = [s for s in sparse_capture.snapshots if s["track"] >= 0 and s["camera"] == "cam0"]
    assert r["snapshots"] == len(truth) > 100
    assert r["camera"] == "cam0" and r["matched_by"] == "playlist_order_gapless"
    s, m, tt = r["sampling"], r["music"], r["measurable"]["track_time"]
    assert 0.9 < s["median_interval_s"] < 1.1 and s["interval_std_s"] > 0  # jittered ~1 Hz
    # C_2 is a cha-cha near 128 bpm: a snapshot every ~2 beats
    assert 0.4 < m["measured_beat_period_s"] < 0.55 and m["sampling_interval_in_beats"] > 1.5
    assert tt["inside_track"] == r["snapshots"] and tt["outside_track"] == 0 and tt["increasing"]
    assert tt["max_interval_mismatch_s"] < 1e-6  # the offset map keeps the stream's intervals
    assert tt["max_frame_placement_s"] <= tt["half_frame_s"] + 1e-9
    # every snapshot's track time agrees with the derivation's truth (first/last)
    assert abs(tt["span_s"][0] - truth[0]["track_t_s"]) < 1e-3
    assert abs(tt["span_s"][1] - truth[-1]["track_t_s"]) < 1e-3
    assert r["measurable"]["gaps"]["n_gaps"] == 0
    assert set(r["not_measurable"]) == {"bas", "null_circular_shift", "offset", "tempo_drift"}
    assert "beat periods" in r["not_measurable"]["bas"]


def test_align_command_on_both_kinds(dense_capture, sparse_capture, tmp_path):
    from typer.testing import CliRunner

    from motionpair.cli import app

    for cap, kind in ((dense_capture, "pairs"), (sparse_capture, "sparse_pairs")):
        out = tmp_path / kind
        res = CliRunner().invoke(app, ["align", str(cap.root), "--out", str(out), "--no-cache"])
        assert res.exit_code == 0, res.output
        doc = json.loads((out / "alignment.json").read_text())
        assert len(doc[kind]) == 1, kind
        if kind == "pairs":
            assert len(list(out.glob("*.png"))) == 1
        else:
            assert "not measurable" in res.output and "sparse snapshot pairs" in res.output
