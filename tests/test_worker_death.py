"""A worker process that dies (here: SIGKILL, as the out-of-memory killer sends) stops the
build with one line naming the pair, the stage and the signal, publishes nothing and exits 1.

The worker is killed on purpose through the test-only hook
``MOTIONPAIR_TEST_KILL_WORKER=<pair id>:<stage>`` (``motionpair.workers.stage``).
Inputs: three real tang2018 folders, linked file by file into tmp.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from realsubset import real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def test_killed_worker_one_line_nothing_published(tang_dir, tmp_path):
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"),
           "MOTIONPAIR_TEST_KILL_WORKER": "tang2018/DANCE_W_7:audio features"}
    res = subprocess.run([sys.executable, "-m", "motionpair", "build", str(data), "--out",
                          str(out), "--workers", "2", "--no-cache"],
                         capture_output=True, text=True, timeout=900, env=env)
    assert res.returncode == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stderr, res.stderr
    failed = [ln for ln in lines if "build failed" in ln]
    assert len(failed) == 1, res.stderr
    line = failed[0]
    for part in ("tang2018/DANCE_W_7", "'audio features'", "SIGKILL", "motionpair doctor",
                 "nothing was published"):
        assert part in line, line
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*")), "staging folder left behind"
