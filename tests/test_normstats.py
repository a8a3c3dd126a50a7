"""Normalisation statistics without torch: the merge arithmetic and verify's check."""

from __future__ import annotations

import shutil

import numpy as np

from motionpair.build.normstats import _merge, _moments, _npz_bytes, read_norm_stats
from motionpair.consumers.verify import verify


def test_chan_merge_equals_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(3.0, 2.0, size=(70, 3))
    n, mean, m2 = _merge(_moments(a), _moments(b))
    both = np.concatenate([a, b])
    assert n == 120
    np.testing.assert_allclose(mean, both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(m2 / n), both.std(0), rtol=1e-12)


def test_npz_bytes_keep_scalars_and_fixed_timestamps():
    blob = _npz_bytes({"x.mean": np.float64(2.5), "x.std": np.ones(3)})
    assert blob == _npz_bytes({"x.std": np.ones(3), "x.mean": np.float64(2.5)})


def test_verify_catches_tampered_norm_stats(built, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(built.out, d, symlinks=True)
    assert verify(d)[0] == []
    stats = read_norm_stats(d)
    assert stats["speed"]["mean"].shape == ()
    flat = {f"{k}.{kk}": v for k, s in stats.items() for kk, v in s.items()}
    flat["speed.mean"] = flat["speed.mean"] + 1.0
    (d / "norm_stats.npz").write_bytes(_npz_bytes(flat))
    fails = verify(d)[0]
    assert fails == ["norm_stats.npz: speed differs from the train windows' statistics"]
    (d / "norm_stats.npz").unlink()
    assert any("norm_stats.npz" in f for f in verify(d)[0])
