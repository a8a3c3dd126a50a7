"""Per-pair cost (issue 22 item 6): the cheaper paths compute the same values.

Real data: clips of real tang2018 MP3s (derived at test time: the first 60 s of a decoded
track, or a slice of it). The chroma over a span of frames must equal the whole-track
chroma bit for bit inside the span; the band-limited tuning must equal
``librosa.estimate_tuning`` exactly. Whole builds (pictures drawn in worker processes vs
one by one, worker pool vs one process) are compared in tests/test_reproducible.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from motionpair.features import audio

pytestmark = pytest.mark.realdata

CLIP_S = 60.0
CHROMA = slice(21, 33)  # baseline35's chroma CENS columns (after onset env and 20 MFCCs)


@pytest.fixture(scope="module")
def clips(tang_dir):
    """``{session: (y_native, native_sr)}``: the first CLIP_S seconds of three real tracks
    (cha-cha, rumba, waltz: different keys and tunings)."""
    out = {}
    for session in ("DANCE_C_4", "DANCE_R_5", "DANCE_W_3"):
        y, sr = audio.decode_audio(tang_dir / session / "audio.mp3")
        out[session] = (y[: int(CLIP_S * sr)], sr)
    return out


def _chroma_rate(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    from motionpair.timebase import frame_rate

    c_sr, _ = audio.chroma_grid(frame_rate(22050, 735)) or (22050, 735)
    return audio.resample(y, orig_sr_hz=sr, sr_hz=c_sr), c_sr


def test_stereo_mix_is_numpy_mean_bit_for_bit(tang_dir):
    """The decoder's cheaper stereo mix equals ``mean(axis=1)`` on a whole real track."""
    import soundfile as sf

    data, _ = sf.read(str(tang_dir / "DANCE_W_8" / "audio.mp3"), dtype="float32",
                      always_2d=True)
    assert data.shape[1] == 2
    want = data.mean(axis=1)
    got = audio._mono(data)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    mono = data[:, :1]
    np.testing.assert_array_equal(audio._mono(mono), mono.mean(axis=1))


def test_band_limited_tuning_equals_librosa(clips):
    import librosa

    for session, (y, sr) in clips.items():
        y_c, c_sr = _chroma_rate(y, sr)
        want = librosa.estimate_tuning(y=y_c, sr=c_sr, bins_per_octave=36)
        assert audio.chroma_tuning(y_c, c_sr) == float(want), session


def test_tuning_of_noise_and_silence_equals_librosa():
    """Tiny arrays pin the edge cases: no peak at all (silence), peaks everywhere (noise)."""
    import librosa

    rng = np.random.default_rng(0)
    for y in (np.zeros(15360, np.float32), rng.standard_normal(15360 * 3).astype(np.float32)):
        assert audio.chroma_tuning(y, 15360) == float(
            librosa.estimate_tuning(y=y, sr=15360, bins_per_octave=36))


@pytest.fixture(scope="module")
def one_clip(clips):
    """Whole-track features of one clip, and its two-step parts (base, chroma-rate track)."""
    y, sr = clips["DANCE_C_4"]
    whole = audio.compute_features(y, native_sr_hz=sr, track_id="clip", sr_hz=22050, hop=735)
    base, y_c = audio.base_features(y, native_sr_hz=sr, track_id="clip", sr_hz=22050, hop=735)
    return whole, base, y_c


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_chroma_over_a_span_equals_the_whole_track(one_clip, where):
    whole, base, y_c = one_clip
    n = base.n_frames
    lo, hi = {"start": (0, 300), "middle": (700, 1100), "end": (n - 250, n)}[where]
    part = audio.with_chroma(base, audio.chroma_span(y_c, base.params, lo, hi, n_frames=n), lo)
    a, b = whole.arrays["baseline35"], part.arrays["baseline35"]
    assert a.shape == b.shape == (n, 35)
    np.testing.assert_array_equal(b[lo:hi], a[lo:hi])  # bit-identical inside the span
    assert np.isnan(b[:lo, CHROMA]).all() and np.isnan(b[hi:, CHROMA]).all()
    keep = np.r_[0:21, 33:35]  # every other column everywhere
    np.testing.assert_array_equal(b[:, keep], a[:, keep])
    for name in ("mel", "onset_env", "music_beat", "onset_peak"):
        np.testing.assert_array_equal(part.arrays[name], whole.arrays[name], err_msg=name)
    assert list(part.arrays) == list(whole.arrays)
    np.testing.assert_array_equal(part.beat_times_s, whole.beat_times_s)
    assert part.tempo_bpm == whole.tempo_bpm


def test_chroma_span_is_refused_outside_the_track(clips):
    y, sr = clips["DANCE_R_5"]
    base, y_c = audio.base_features(y[: 10 * sr], native_sr_hz=sr, track_id="clip",
                                    sr_hz=22050, hop=735)
    with pytest.raises(ValueError, match="outside the track"):
        audio.chroma_span(y_c, base.params, 0, base.n_frames + 1, n_frames=base.n_frames)


def test_chroma_frames_cover_the_motion_grid_and_one_more():
    """Tiny arrays: the span is the grid's frames plus one (a beat window interpolates
    toward the next frame with weight 0 on the grid's last), clipped to the track."""
    from fractions import Fraction

    from motionpair.build.pair import chroma_frames
    from motionpair.types import MotionGrid

    def grid(first: int, n: int) -> MotionGrid:
        z = np.zeros((n, 1, 3), np.float32)
        return MotionGrid(first_frame=first, fps=Fraction(30), pose=z, valid=np.ones(n, bool),
                          velocity=z, acceleration=z, speed=np.zeros(n, np.float32),
                          kin_beat=np.zeros(n, np.uint8), params={})

    assert chroma_frames(grid(100, 50), n_audio=1000, n_frames=1001) == (100, 151)
    assert chroma_frames(grid(-5, 50), n_audio=1000, n_frames=1001) == (0, 46)
    assert chroma_frames(grid(990, 50), n_audio=1000, n_frames=1001) == (990, 1001)
    assert chroma_frames(None, n_audio=1000, n_frames=1001) == (0, 1001)


def test_pairs_are_submitted_longest_track_first(tang_dir, tmp_path, monkeypatch):
    """Results come back in scan order; the pool gets the longest tracks first."""
    from motionpair.build import dataset
    from motionpair.build.scan import scan
    from motionpair.config import BuildConfig

    specs = scan([tang_dir]).pairs[:4]
    seen: list[str] = []

    def fake_pool(fn, jobs, **kw):
        seen.extend(j[0].pair_id for j in jobs)
        return [j[0].pair_id for j in jobs]

    monkeypatch.setattr(dataset, "run_pool", fake_pool)
    monkeypatch.setattr(dataset, "_warm_numba", lambda cfg: None)
    out = dataset.run_pairs(specs, BuildConfig(), tmp_path, workers=2, cache_dir=None)
    assert out == [s.pair_id for s in specs]
    by_length = sorted(specs, key=lambda s: -(s.track.duration_s or 0.0))
    assert seen == [s.pair_id for s in by_length]


def _square(x: int) -> int:
    return x * x


def test_lazy_pool_starts_nothing_until_asked():
    from motionpair.workers import LazyPool

    idle = LazyPool(2)
    idle.close()  # nothing submitted: no process was ever started
    assert idle._pool is None
    pool = LazyPool(2)
    futures = [pool.submit(_square, k) for k in range(4)]
    pool.close()
    assert [f.result() for f in futures] == [0, 1, 4, 9]


def test_prestarted_forkserver_is_stopped_when_nothing_pairs(tmp_path, monkeypatch):
    """--no-cache with several workers starts the pool's forkserver before the scan; a scan
    that finds nothing to pair stops it again (no importing process left behind)."""
    import time
    from multiprocessing import forkserver
    from pathlib import Path

    from motionpair.build import dataset
    from motionpair.config import BuildConfig
    from motionpair.features import numba_cache

    monkeypatch.setattr(numba_cache, "checked", lambda loc=None: True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(dataset.BuildError, match="nothing to pair"):
        dataset.build([tmp_path / "empty"], tmp_path / "out", BuildConfig(), workers=2,
                      cache_dir=False)
    pid = forkserver._forkserver._forkserver_pid
    assert pid is not None  # it was started
    status = Path(f"/proc/{pid}/status")
    for _ in range(200):  # SIGTERM sent: it ends (a zombie until the next pool reaps it)
        state = status.read_text().split("State:")[1].split()[0] if status.exists() else "gone"
        if state in ("Z", "gone"):
            break
        time.sleep(0.05)
    assert state in ("Z", "gone")
