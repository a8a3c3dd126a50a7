"""numba's cache race (numba #10128): cold multi-worker builds never crash, workers only load
the cache the warm-up wrote, a damaged cache is detected by ``motionpair doctor`` and
repaired (by ``doctor --repair``, and by ``build`` itself in motionpair's own folder).

Every build runs ``motionpair build`` in a subprocess on an empty ``NUMBA_CACHE_DIR`` (a
first use in a fresh venv). Inputs: three real tang2018 folders, linked file by file into tmp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from motionpair.features import numba_cache
from realsubset import real_subset

REPO = Path(__file__).resolve().parents[1]
COLD_TRIES = 3


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    return {**env, "PYTHONPATH": str(REPO / "src"), **extra}


def _build(data: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motionpair", "build", str(data), "--out",
                           str(out), "--workers", "2", "--no-cache"],
                          capture_output=True, text=True, timeout=1200, env=env)


def _damage(loc_dir: Path) -> int:
    """Truncate every local-maximum kernel file, as a writer killed mid-file would leave it."""
    hit = 0
    for f in loc_dir.rglob("*_localmax*.nbc"):
        f.write_bytes(f.read_bytes()[:200])
        hit += 1
    return hit


def test_child_run_describes_a_segfault():
    run = numba_cache.ChildRun(returncode=-11, steps_ok=["import librosa"],
                               failed_step="decode", stderr_tail="", elapsed_s=0.1)
    assert not run.ok and run.signal_name == "SIGSEGV" and run.looks_like_cache
    assert run.describe() == "audio feature self-check died from SIGSEGV at step 'decode'"


@pytest.mark.realdata
@pytest.mark.slow
def test_cold_multiworker_builds_never_crash(tang_dir, tmp_path):
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    for i in range(COLD_TRIES):
        numba_dir = tmp_path / f"numba{i}"
        res = _build(data, tmp_path / f"out{i}", _env(NUMBA_CACHE_DIR=str(numba_dir)))
        assert res.returncode == 0, f"try {i + 1}: {res.stderr}"
        assert "worker" not in res.stderr.lower(), res.stderr
        # the workers loaded the warm-up's files and wrote none: the record still matches
        loc = numba_cache.CacheLocation(numba_dir, "user")
        params = {"sr_hz": 22050, "hop": 735, "n_mels": 128, "n_fft": 2048, "n_mfcc": 20}
        stamp = numba_cache._stamp_path(loc, params)
        assert stamp is not None and stamp.read_text() == numba_cache._fingerprint(loc, params)
        assert len(numba_cache.cache_files(loc)) > 50


@pytest.mark.realdata
@pytest.mark.slow
def test_doctor_detects_and_repairs_and_build_self_repairs(tang_dir, tmp_path):
    from conftest import data_root

    mp_cache = tmp_path / "mpcache"  # motionpair's own numba folder lives below it
    env = _env(MOTIONPAIR_CACHE=str(mp_cache), MOTIONPAIR_DATA=str(data_root()))
    doctor = [sys.executable, "-m", "motionpair", "doctor"]
    res = subprocess.run([*doctor, "--json"], capture_output=True, text=True, env=env,
                         timeout=1200)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["mp3 decoding"]["ok"] and "decoded 2.0 s" in checks["mp3 decoding"]["detail"]
    assert "12 steps ok" in checks["audio features"]["detail"]
    own = next((mp_cache / "numba").iterdir())
    assert str(own) in checks["numba cache"]["detail"]

    assert _damage(own) > 0
    res = subprocess.run(doctor, capture_output=True, text=True, env=env, timeout=1200)
    assert res.returncode == 1
    assert "FAIL audio features" in res.stdout and "doctor --repair" in res.stdout, res.stdout

    # build: repairs motionpair's own folder by itself and publishes
    data = real_subset(tang_dir, tmp_path / "data", writable=False,
                       sessions=("DANCE_W_4",))
    res = _build(data, tmp_path / "out", env)
    assert res.returncode == 0, res.stderr
    assert "was corrupt" in res.stderr and "compiled again" in res.stderr

    assert _damage(own) > 0
    res = subprocess.run([*doctor, "--repair"], capture_output=True, text=True, env=env,
                         timeout=1200)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout
