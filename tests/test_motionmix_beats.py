"""MotionMix sequence pairs honour --window-beats; --clock beatwise and beat options in
snapshot mode are refused with a clear message, never silently ignored (issue 13).

The capture is DERIVED at test time from real tang2018 pairs (tests/derived_capture.py).
"""

from __future__ import annotations

import json

import pytest

from derived_capture import make_capture
from motionpair.build.dataset import BuildError, build
from motionpair.config import BuildConfig


@pytest.fixture(scope="module")
def dense_capture(tang_dir, tmp_path_factory):
    """One derived session at 30 Hz, one camera: sequence pairing by measured rate."""
    return make_capture(tang_dir, tmp_path_factory.mktemp("mm_beats"), rate_hz=30.0,
                        sessions=("DANCE_C_2",), cameras=("cam0",))


@pytest.mark.realdata
def test_sequence_pairs_cut_beat_windows(dense_capture, tmp_path):
    out = tmp_path / "out"
    build([dense_capture.root], out, BuildConfig(window_beats=4, hop_beats=2).validate(),
          workers=1, cache_dir=False)
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    meta = json.loads((out / "dataset.json").read_text())
    assert rows and {r["grid"] for r in rows} == {"beats"}
    assert {r["source"] for r in rows} == {"motionmix"}
    assert all(r["n_frames"] == 4 * 16 and r["camera"] == "cam0" for r in rows)
    assert meta["windows"]["grid"] == "beats"


@pytest.mark.realdata
def test_beatwise_clock_refused_for_motionmix(dense_capture, tmp_path):
    with pytest.raises(BuildError, match="--clock beatwise is not available for source"):
        build([dense_capture.root], tmp_path / "out",
              BuildConfig(clock="beatwise").validate(), workers=1, cache_dir=False)


@pytest.mark.realdata
def test_snapshot_pairs_refuse_beat_windows(tang_dir, tmp_path):
    truth = make_capture(tang_dir, tmp_path / "cap", sessions=("DANCE_C_2",), cameras=("cam0",))
    with pytest.raises(BuildError, match="snapshot pairing .* --window-beats"):
        build([truth.root], tmp_path / "out", BuildConfig(window_beats=4).validate(),
              workers=1, cache_dir=False)
