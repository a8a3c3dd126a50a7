"""Beat-synchronous windows: unit arithmetic and a real-data build with beatwise clocks."""

from fractions import Fraction

import numpy as np

from motionpair.features.beatgrid import (
    beat_frame_times,
    beat_window_starts,
    cut_beat_windows,
    events_on,
    sample_at,
)


def test_beat_frame_times_interpolate_between_beats():
    beats = np.array([1.0, 1.5, 2.5, 3.0])
    t = beat_frame_times(beats, 1, n_beats=2, frames_per_beat=4)
    np.testing.assert_allclose(t, [1.5, 1.75, 2.0, 2.25, 2.5, 2.625, 2.75, 2.875])
    assert beat_window_starts(10, n_beats=8, hop_beats=1) == [0, 1]


def test_sample_at_linear_and_events_kept_once():
    arr = np.arange(10, dtype=np.float32)  # value = grid frame
    times = np.array([0.05, 0.1, 0.25])  # at 10 fps, first_frame 0
    np.testing.assert_allclose(sample_at(arr, 0, Fraction(10), times), [0.5, 1.0, 2.5])
    ev = events_on(np.linspace(0, 1, 11), np.array([0.31, 0.33, 2.0]))
    assert ev.sum() == 1 and ev[3] == 1


def test_cut_beat_windows_respects_coverage():
    beats = np.arange(0, 20, 0.5)
    valid = np.ones(300, bool)  # motion covers 0..29.9 s at 10 fps
    valid[100] = False  # gap at 10.0 s
    kept, dropped = cut_beat_windows(beats, n_audio_frames=200, fps=Fraction(10),
                                     motion_first_frame=0, motion_valid=valid, n_beats=4,
                                     hop_beats=4, frames_per_beat=4)
    starts = [beats[j] for j, _ in kept]
    # frames of a window run from its first beat to 1/F before its last: 8.0 s..9.875 s
    assert starts == [0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 14.0, 16.0]
    assert dict(dropped) == {"partial_pose": 1}


def test_beatwise_build_on_real_data(built_beatwise):
    from motionpair.consumers.verify import verify
    from motionpair.store import load_window, read_dataset_json

    summary = built_beatwise  # --clock beatwise --window-beats 8 --hop-beats 4 (conftest)
    assert verify(summary.out)[0] == []
    meta = read_dataset_json(summary.out)
    kinds = {p["clock_map"]["kind"] for p in meta["pairs"]}
    assert kinds == {"beatwise"}
    assert "tang2018.beatwise_F_frames_per_beat_from_beat_nearest_start" in meta["assumptions"]
    row = summary.rows[0]
    assert row.grid == "beats" and row.n_frames == 128
    w = load_window(summary.out, row)
    assert w["times_s"][0] == row.start_s and np.all(np.diff(w["times_s"]) > 0)
    assert w["music_beat"].sum() == 8 and w["pose"].shape == (128, 23, 3)
    # cha-cha/rumba: 8 beats = 8 * 12.5 skeleton frames = 4 s on the stream's nominal clock
    cr = [r for r in summary.rows if r.style in ("cha-cha", "rumba")]
    np.testing.assert_allclose([r.motion_end_s - r.motion_start_s for r in cr], 4.0, atol=1e-6)
