from fractions import Fraction

import numpy as np
import pytest

from motionpair.timebase import (
    as_rate,
    frame_rate,
    frames_to_time,
    hop_for_fps,
    seconds_to_whole_frames,
    suggest_sr,
    time_to_frames,
)

HOUR_S = 3600


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_frames_seconds_roundtrip_no_drift_over_an_hour(fps):
    k = np.arange(0, HOUR_S * fps + 1)
    t = frames_to_time(k, fps)
    assert t[-1] == HOUR_S
    np.testing.assert_array_equal(time_to_frames(t, fps), k)
    # every frame time is the exact rational k/fps rounded once, never accumulated
    assert abs(t[123457 % len(t)] - float(Fraction(123457 % len(t), fps))) == 0


@pytest.mark.parametrize("hop", [512, 735])
@pytest.mark.parametrize("fps", [25, 30, 60])
def test_audio_grid_against_motion_grid_over_an_hour(hop, fps):
    """Audio frame centres (hop at 22050 Hz) mapped to motion frames never drift."""
    sr = 22050
    audio_fps = frame_rate(sr, hop)
    n_audio = int(HOUR_S * audio_fps) + 1
    k_audio = np.arange(n_audio)
    t = frames_to_time(k_audio, audio_fps)
    motion_k = time_to_frames(t, fps, rounding="floor")
    # exact reference with integers: floor(k * hop * fps / sr)
    ref = (k_audio * hop * fps) // sr
    np.testing.assert_array_equal(motion_k, ref)
    assert t[-1] == pytest.approx(float(Fraction(n_audio - 1) / audio_fps), abs=0)


def test_hop_for_fps_exact_and_refusal():
    assert hop_for_fps(22050, 30) == 735
    assert hop_for_fps(22050, 25) == 882
    with pytest.raises(ValueError, match="not a whole hop"):
        hop_for_fps(22050, 60)  # 367.5 samples
    assert suggest_sr(60) % 60 == 0 and suggest_sr(60) >= 22050
    assert frame_rate(22050, 512) == Fraction(11025, 256)


def test_rates_and_whole_frames():
    assert as_rate(29.97) == Fraction(2997, 100)
    assert seconds_to_whole_frames(5, 30) == 150
    with pytest.raises(ValueError, match="not a whole number of frames"):
        seconds_to_whole_frames(0.01, 30)
    with pytest.raises(ValueError):
        as_rate(0)


def test_time_to_frames_rounding_modes():
    assert time_to_frames(1 / 30 * 0.5, 30) == 0
    assert time_to_frames(1 / 30 * 0.5, 30, rounding="ceil") == 1
    assert time_to_frames(1 / 30 * 0.6, 30, rounding="nearest") == 1
    assert time_to_frames(frames_to_time(7, 30), 30, rounding="ceil") == 7
