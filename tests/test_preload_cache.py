"""Issue 22 item 6: librosa.beat's one uncached import-time gufunc comes from numba's cache.

librosa declares ``beat.__beat_local_score`` ``cache=False``, so every process importing
librosa.beat compiled it (1.35 CPU-s, in the build's forkserver before any pair started).
:func:`motionpair.features.numba_cache.import_librosa_beat` compiles it once into the cache
and loads it afterwards; the function computes the same values either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys
import numpy as np
from motionpair.features import numba_cache
if sys.argv[1] == "cached":
    numba_cache.import_librosa_beat()
import librosa.beat as b
f = b.__dict__["__beat_local_score"]
rng = np.random.default_rng(0)
env = rng.random(500).astype(np.float32)
out = f(env, np.array([12.0], dtype=np.float32))
sys.stdout.write(out.tobytes().hex())
"""


def _run(mode: str, cache_dir: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-c", CHILD, mode], env=env, check=True,
                          capture_output=True, text=True, timeout=300).stdout


def test_beat_local_score_is_cached_and_unchanged(tmp_path):
    plain = _run("plain", tmp_path)
    assert not list(tmp_path.rglob("*beat_local_score*.nbi"))  # librosa: never written
    first = _run("cached", tmp_path)  # compiles and writes it
    assert list(tmp_path.rglob("*beat_local_score*.nbi"))
    second = _run("cached", tmp_path)  # loads it
    assert plain == first == second


def test_forkserver_preload_uses_it():
    from motionpair.features import audio, numba_cache

    pre = audio.PRELOAD_MODULES
    assert pre.index("motionpair.features.librosa_beat") < pre.index("librosa.beat")
    assert "librosa.beat.__beat_local_score" in numba_cache.CACHED_TOO
