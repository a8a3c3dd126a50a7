"""Processes of a build (issue 21, item 4).

* Its workers and forkserver end when its main process dies.

SIGKILL of the main process cannot be caught, so nothing in it can stop the pool: the
forkserver asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``), and each
worker does the same towards the forkserver and watches the main process itself. Before,
the forkserver and its workers stayed alive (~760 MB) forever.

* ``doctor --repair`` takes numba's cache lock exclusively and builds hold it shared, so a
  repair during a build is refused (before: the build died by SIGSEGV and every later build
  exited 139 until another lone repair); the build completes and the next build is healthy.

Inputs: real tang2018 folders linked file by file into tmp (``realsubset``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from motionpair.features import numba_cache
from realsubset import real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

SRC = Path(__file__).resolve().parents[1] / "src"


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":  # a zombie is already dead
            continue
        children.setdefault(int(fields[1]), []).append(int(p.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pids: set[int]) -> set[int]:
    live = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.add(pid)
    return live


def _start_build(data: Path, out: Path, stages: Path, env: dict) -> subprocess.Popen:
    """A CLI build in the background, returned once a worker has recorded a stage."""
    proc = subprocess.Popen([sys.executable, "-m", "motionpair", "build", str(data), "--out",
                             str(out), "--workers", "2", "--no-cache"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # a worker has recorded a stage: the pool runs
        if any(p.is_file() for p in stages.glob("motionpair-stages-*/*")):
            return proc
        if proc.poll() is not None:
            pytest.fail(f"the build ended before its workers started: {proc.stderr.read()}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("no worker started within 300 s")


def test_workers_and_forkserver_die_with_the_main_process(tang_dir, tmp_path):
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    stages = tmp_path / "tmp"
    stages.mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(stages)}
    proc = _start_build(data, tmp_path / "out", stages, env)
    try:
        below = _descendants(proc.pid)
        assert len(below) >= 3, below  # the forkserver and two workers (at least)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(below) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(below), f"still alive after the main process died: {_alive(below)}"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_doctor_repair_during_a_build_is_refused_and_builds_stay_healthy(tang_dir, tmp_path):
    """Its own motionpair cache (a copy of this environment's warm numba cache): the repair,
    were it not refused, must not clear the cache other processes use."""
    import shutil

    cache = tmp_path / "mpcache"
    warm = numba_cache.motionpair_numba_dir()
    if warm.is_dir():
        shutil.copytree(warm, cache / "numba" / warm.name)
    stages = tmp_path / "tmp"
    stages.mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(stages),
           "MOTIONPAIR_CACHE": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)
    data = real_subset(tang_dir, tmp_path / "data", writable=False)
    proc = _start_build(data, tmp_path / "out", stages, env)
    try:
        doc = subprocess.run([sys.executable, "-m", "motionpair", "doctor", "--repair"],
                             env=env, capture_output=True, text=True, timeout=300)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert doc.returncode == 1, doc.stdout + doc.stderr
    assert "repair refused" in doc.stdout + doc.stderr
    assert "Traceback" not in doc.stdout + doc.stderr
    assert proc.returncode == 0, err
    assert (tmp_path / "out" / "manifest.jsonl").is_file()
    again = subprocess.run([sys.executable, "-m", "motionpair", "build", str(data), "--out",
                            str(tmp_path / "out2"), "--workers", "2", "--no-cache"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
