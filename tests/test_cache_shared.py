"""One cache folder written by several processes at once (as nodes sharing an NFS folder):
an entry is written to a temporary file and renamed over its name, so a reader sees the
whole entry or none, and writers of the same key never corrupt it (issue 22, item 2).

Arrays here are tiny and made up: they pin the file protocol, not any data.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from motionpair.cache import Cache, cache_key

KEY = cache_key("audio", {"test": "shared"})


def _writer(root: str, n: int) -> None:
    c = Cache(Path(root))
    arrays = {"mel": np.arange(200_000, dtype=np.float32).reshape(1000, 200)}
    for _ in range(n):
        c.put("audio", KEY, arrays, {"duration_s": 1.0})


def _reader(root: str, n: int, q) -> None:
    c = Cache(Path(root))
    bad = 0
    for _ in range(n):
        hit = c.get("audio", KEY, arrays=("mel",), meta=("duration_s",))
        if hit is not None and not np.array_equal(
                hit[0]["mel"], np.arange(200_000, dtype=np.float32).reshape(1000, 200)):
            bad += 1
    q.put((bad, c.hits))


def test_concurrent_writers_and_readers_of_one_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 15)) for _ in range(3)]
    procs.append(ctx.Process(target=_reader, args=(str(tmp_path), 60, q)))
    for p in procs:
        p.start()
    bad, hits = q.get(timeout=300)
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    assert bad == 0
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    assert Cache(tmp_path).get("audio", KEY, arrays=("mel",)) is not None
