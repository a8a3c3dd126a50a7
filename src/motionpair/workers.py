"""The build's worker pool: numba warm-up first, stage records, one line when a worker dies.

A worker process that dies (a segfault, the kernel's out-of-memory killer, ``kill -9``)
breaks ``ProcessPoolExecutor`` for every pair (``BrokenProcessPool``) without saying which
pair or what it was doing. Each worker therefore records ``<pair id>\\t<stage>`` in a small
file named after its process id whenever :func:`stage` is called; when the pool breaks,
:func:`run_pool` reads the dead worker's exit signal and record and raises
:class:`WorkerDiedError` with one line naming the pair, the stage and the signal.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

#: Test hook only: ``<pair id>:<stage>`` makes the worker running that stage of that pair
#: SIGKILL itself (tests/test_worker_death.py). Never set it outside tests.
TEST_KILL_ENV = "MOTIONPAIR_TEST_KILL_WORKER"

_stage_file: Path | None = None


#: Seconds between checks that the build's main process is alive (where no pidfd exists).
WATCH_POLL_S = 1.0
_PR_SET_PDEATHSIG = 1


def die_with_parent(expected_ppid: int | None = None) -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux ``prctl``).

    Returns whether the request was made. When the parent is already gone (``getppid``
    differs from ``expected_ppid``) the process exits at once: the signal would never come.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if ok and expected_ppid is not None and os.getppid() != expected_ppid:
        os._exit(1)
    return ok


def watch_main(main_pid: int) -> None:
    """A daemon thread that ends this worker when the build's main process ``main_pid`` ends.

    Workers are children of the forkserver, not of the main process, so this watches the
    main process itself: through a pidfd (no pid reuse) where the kernel has them, else by
    polling every :data:`WATCH_POLL_S` seconds.
    """
    def gone() -> bool:
        try:
            os.kill(main_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def watch() -> None:
        fd = None
        with contextlib.suppress(OSError, AttributeError):
            fd = os.pidfd_open(main_pid)  # type: ignore[attr-defined]
        if fd is not None:
            select.select([fd], [], [])  # readable once the process has exited
        else:
            while not gone():
                time.sleep(WATCH_POLL_S)
        os.kill(os.getpid(), signal.SIGKILL)

    if gone():
        os._exit(1)
    threading.Thread(target=watch, name="motionpair-parent-watch", daemon=True).start()


def init_worker(stage_dir: str, main_pid: int | None = None) -> None:
    """Pool initializer: this worker records its stages in ``stage_dir/<pid>`` and ends when
    the build's main process ``main_pid`` (or the forkserver, its parent) ends."""
    global _stage_file
    _stage_file = Path(stage_dir) / str(os.getpid())
    die_with_parent(os.getppid())
    if main_pid is not None:
        watch_main(main_pid)


def stage(pair_id: str, name: str) -> None:
    """Record that this worker now runs stage ``name`` of pair ``pair_id`` (no-op outside).

    Called by ``pipeline.process_pair`` at each stage; costs one small file write.
    """
    if _stage_file is None:
        return
    _stage_file.write_text(f"{pair_id}\t{name}", encoding="utf-8", errors="backslashreplace")
    if os.environ.get(TEST_KILL_ENV) == f"{pair_id}:{name}":
        os.kill(os.getpid(), signal.SIGKILL)


class WorkerDiedError(RuntimeError):
    """A worker process died; the message is one line naming pair, stage and signal."""


def run_pool(fn: Callable[..., Any], jobs: Sequence[tuple], *, workers: int,
             preload: Sequence[str] = (),
             on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``fn(*job)`` for every job in ``workers`` processes; results in ``jobs`` order.

    ``jobs[i][0]`` must have a ``pair_id``. Raises :class:`WorkerDiedError` when a worker dies.
    """
    ctx = multiprocessing.get_context("forkserver")
    # the forkserver dies with this process (its parent); each worker with the forkserver
    # and, watched by a thread, with this process
    ctx.set_forkserver_preload([*preload, "motionpair._parentwatch"])
    stage_dir = tempfile.mkdtemp(prefix="motionpair-stages-")
    results: list[Any] = [None] * len(jobs)
    procs: dict[int, Any] = {}
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                                 initargs=(stage_dir, os.getpid())) as pool:
            futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
            procs = dict(getattr(pool, "_processes", None) or {})
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    if on_done:
                        on_done(i, results[i])
            except BrokenProcessPool as exc:
                procs.update(getattr(pool, "_processes", None) or {})
                pool.shutdown(wait=True, cancel_futures=True)
                raise WorkerDiedError(_death_line(procs, Path(stage_dir))) from exc
            except BaseException:  # Ctrl-C, SIGTERM (publish.Terminated), a failed pair
                stop_pool(pool)
                raise
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
    return results


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel queued pairs and end the workers (a SIGTERM reaches the main process alone).

    Leaving the ``with`` block would otherwise wait for every queued pair to finish, still
    writing into the staging folder that the caller is about to remove.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())  # shutdown clears it
    pool.shutdown(wait=False, cancel_futures=True)
    # a worker requested while the forkserver was still importing librosa is forked only
    # later, after our exit, and dies with a traceback: stop the forkserver too (the next
    # pool starts a new one)
    from multiprocessing import forkserver

    fs_pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if fs_pid:
        with contextlib.suppress(OSError):
            os.kill(fs_pid, signal.SIGTERM)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=10)


def _death_line(procs: dict[int, Any], stage_dir: Path) -> str:
    """One line: which pair, at which stage, ended by which signal."""
    dead = [(pid, p.exitcode) for pid, p in procs.items() if p.exitcode not in (None, 0)]
    # the executor SIGTERMs the survivors after the first death: prefer any other cause
    first = [d for d in dead if d[1] != -signal.SIGTERM] or dead
    if not first:
        how, pid = "died", None
    else:
        pid, code = first[0]
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with {code}"
    record = ""
    if pid is not None:
        try:
            record = (stage_dir / str(pid)).read_text(encoding="utf-8", errors="backslashreplace")
        except OSError:
            record = ""
    pair, _, where = record.partition("\t")
    what = (f"while computing stage {where!r} of pair {pair}" if pair
            else "before it started a pair")
    hint = {"SIGKILL": " (out of memory, or killed from outside)",
            "SIGSEGV": " (a crash inside a compiled library)"}.get(
        _signal_name(-first[0][1]) if first and first[0][1] < 0 else "", "")
    return (f"a worker process {how}{hint} {what}; nothing was published. "
            f"Run `motionpair doctor` to check the audio libraries and the numba cache")


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class LazyPool:
    """A process pool started by its first ``submit`` (no process at all when nothing is
    submitted), for work kept off the critical path: a build's pictures are drawn here
    while the build writes the rest of the dataset.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker process; returns its future."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=multiprocessing.get_context("forkserver"))
        return self._pool.submit(fn, *args)

    def close(self, *, cancel: bool = False) -> None:
        """Wait for the submitted work (or, with ``cancel``, drop it and end the workers)."""
        if self._pool is None:
            return
        if cancel:
            stop_pool(self._pool)
        else:
            self._pool.shutdown(wait=True)
        self._pool = None


def start_forkserver(preload: Sequence[str]) -> None:
    """Start the forkserver now (it imports ``preload`` in the background), so that a pool
    created later forks workers from it at once. No-op when one is already running."""
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(preload))
    forkserver.ensure_running()


def stop_forkserver() -> None:
    """End this process's forkserver, if any (a later pool starts a new one)."""
    from multiprocessing import forkserver

    fs_pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if fs_pid:
        with contextlib.suppress(OSError):
            os.kill(fs_pid, signal.SIGTERM)
