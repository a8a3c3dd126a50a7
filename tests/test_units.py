"""Unit tests on tiny arrays: clock maps, resampling, dynamics, windows, splits."""

from fractions import Fraction

import numpy as np
import pytest

from motionpair.build.splits import assign_splits, split_counts
from motionpair.features.motion import contiguous_runs, dynamics, resample_to_grid, to_grid
from motionpair.types import ClockMap, PoseStream
from motionpair.windows.fixed import cut_windows


def _stream(times, values):
    v = np.asarray(values, float).reshape(len(times), 1, 1)
    return PoseStream("s", "s", np.asarray(times, float), v)


def test_linear_clock_roundtrip_and_beatwise_extrapolation():
    c = ClockMap("linear", "t", scale=2.0, offset_s=3.0)
    assert c.to_track(np.array([0.0, 1.0])).tolist() == [3.0, 5.0]
    assert c.to_stream(np.array([5.0])).tolist() == [1.0]
    b = ClockMap("beatwise", "t", anchors=((0.0, 10.0), (1.0, 10.5), (2.0, 11.5)))
    np.testing.assert_allclose(b.to_track(np.array([-1.0, 0.5, 1.5, 3.0])),
                               [9.5, 10.25, 11.0, 12.5])
    np.testing.assert_allclose(b.to_stream(b.to_track(np.array([0.3, 1.7]))), [0.3, 1.7])
    with pytest.raises(ValueError):
        ClockMap("beatwise", "t", anchors=((0.0, 1.0), (0.0, 2.0)))
    with pytest.raises(ValueError):
        ClockMap("nope", "t")


def test_resample_interpolates_on_mapped_times_without_extrapolating():
    # stream at 25 fps, values = stream time; warp x2 onto the track from 1.0 s
    times = np.arange(0, 11) / 25.0
    ps = _stream(times, times)
    clock = ClockMap("linear", "t", scale=2.0, offset_s=1.0)
    k0, grid, valid = resample_to_grid(ps, clock, Fraction(30))
    assert k0 == 30  # first grid frame at/after 1.0 s
    t_track = (k0 + np.arange(len(valid))) / 30.0
    assert t_track[-1] <= 1.0 + 2 * 0.4 + 1e-9
    np.testing.assert_allclose(grid[:, 0, 0], (t_track - 1.0) / 2.0, atol=1e-6)
    assert valid.all()


def test_max_gap_masks_frames_inside_long_gaps():
    ps = _stream([0.0, 0.1, 1.1, 1.2], [0, 1, 2, 3])
    k0, grid, valid = resample_to_grid(ps, ClockMap("offset", "t"), Fraction(10), max_gap_s=0.5)
    assert k0 == 0 and len(valid) == 13
    assert valid[[0, 1, 11, 12]].all() and not valid[2:11].any()
    assert contiguous_runs(valid) == [(0, 2), (11, 13)]


def test_dynamics_units_per_second():
    fps = Fraction(30)
    t = np.arange(60) / 30.0
    pose = np.stack([3.0 * t, 0 * t, 0 * t], axis=1)[:, None, :]  # 3 units/s along x
    dyn = dynamics(pose.astype(np.float32), np.ones(60, bool), fps)
    np.testing.assert_allclose(dyn["velocity"][:, 0, 0], 3.0, rtol=1e-5)
    np.testing.assert_allclose(dyn["acceleration"], 0.0, atol=1e-3)
    np.testing.assert_allclose(dyn["speed"], 3.0, rtol=1e-5)


def test_kinematic_beats_at_speed_minima():
    fps = Fraction(30)
    t = np.arange(300) / 30.0
    x = np.sin(2 * np.pi * 1.0 * t) / (2 * np.pi)  # speed |cos|, minima every 0.5 s
    ps = PoseStream("s", "s", t, np.stack([x, 0 * x, 0 * x], 1)[:, None, :])
    g = to_grid(ps, ClockMap("offset", "t"), fps)
    beats_s = (np.flatnonzero(g.kin_beat) + g.first_frame) / 30.0
    np.testing.assert_allclose(np.diff(beats_s), 0.5, atol=1 / 30 + 1e-9)


def test_cut_windows_counts_drop_reasons():
    valid = np.ones(100, bool)
    valid[50] = False
    kept, dropped = cut_windows(n_audio_frames=200, first_frame=10, valid=valid,
                                n_frames=20, hop_frames=10)
    starts = [w.start_frame for w in kept]
    # motion covers track frames 10..109 with a hole at track frame 60
    assert starts == [10, 20, 30, 40, 70, 80, 90]
    assert dropped["partial_pose"] == 4  # starts 0, 50, 60, 100
    assert dropped["no_pose"] == 8  # starts 110..180
    kept, dropped = cut_windows(n_audio_frames=50, first_frame=0, valid=np.ones(80, bool),
                                n_frames=20, hop_frames=10)
    assert [w.start_frame for w in kept] == [0, 10, 20, 30]
    assert dropped["audio_incomplete"] == 3


def test_split_counts_and_determinism():
    assert split_counts(14, (0.8, 0.1, 0.1)) == [11, 2, 1]
    assert split_counts(3, (0.8, 0.1, 0.1)) == [1, 1, 1]
    assert split_counts(2, (0.8, 0.1, 0.1)) is None
    groups = [f"g{i}" for i in range(14)]
    a, info = assign_splits(groups, seed=0)
    b, _ = assign_splits(list(reversed(groups)), seed=0)
    assert a == b and info["groups_per_split"] == {"train": 11, "val": 2, "test": 1}
    c, _ = assign_splits(groups, seed=1)
    assert c != a
    few, info = assign_splits(["x", "y"])
    assert set(few.values()) == {"train"} and "too few" in info["warning"]
