"""Run module-level functions as Ray tasks: retries of lost workers, progress, Ctrl-C.

Imported only for ``--engine ray`` (it imports ``ray``, the ``ray`` extra). The driver
keeps every decision (what to run, in which order results are used, what is published);
Ray only runs ``fn(*job)`` somewhere in the cluster and hands the value back:

- a task whose worker process or node dies is run again, up to ``max_retries`` times
  (Ray's own retry of system failures; an exception *raised* by ``fn`` is never retried:
  it is the caller's answer, e.g. a pair that fails for its input);
- ``on_done(i, value)`` is called on the driver as each task finishes, in finishing order;
- any exception on the driver (Ctrl-C, SIGTERM, a failed task) cancels every task still
  queued or running (``ray.cancel(force=True)``) before it propagates.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ray
from ray import exceptions as rayexc

#: Ray's default for tasks is 3; said here so that the docs and the tests can name it.
MAX_RETRIES = 3
#: Object store of a Ray instance this module starts itself (bytes): shards and shipped
#: inputs pass through it one pair at a time, so a small store suffices.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024


class TaskLostError(RuntimeError):
    """A task's worker or node died more often than ``max_retries``: one line naming it."""


class RayEngine:
    """A connection to a Ray cluster (``address``) or a Ray instance started here (None).

    Use as a context manager: leaving it disconnects, and stops the instance when this
    engine started it. A driver already connected (``ray.is_initialized()``) is reused
    and left connected.
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 max_retries: int = MAX_RETRIES):
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self._owned = False

    def __enter__(self) -> RayEngine:
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR,
                                      "include_dashboard": False}
            if self.address is None:  # a private instance on this machine, loopback only
                kwargs.update(num_cpus=self.num_cpus, _node_ip_address="127.0.0.1",
                              object_store_memory=LOCAL_OBJECT_STORE_BYTES)
            if self.address is not None:
                _reachable(self.address)
            kept = _signal_handlers()
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise TaskLostError(f"cannot connect to the Ray cluster at "
                                    f"{self.address}: {str(exc).splitlines()[0]}") from exc
            except BaseException:
                # Ctrl-C / SIGTERM inside ray.init: stop what it started already (a private
                # instance's processes), or they outlive the build
                with contextlib.suppress(Exception):
                    ray.shutdown()
                raise
            finally:
                _restore(kept)
            self._owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            ray.shutdown()
            self._owned = False

    def cluster(self) -> dict[str, float]:
        """The cluster's total resources (``CPU``, ``GPU``, ``memory``, ...)."""
        return dict(ray.cluster_resources())

    def put(self, value: Any) -> Any:
        """``value`` in the object store (an ``ObjectRef`` a job may take as an argument)."""
        return ray.put(value)

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple], *,
            names: Sequence[str] | None = None, num_cpus: float = 1, num_gpus: float = 0,
            on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
        """``fn(*job)`` for every job as Ray tasks; results in ``jobs`` order.

        ``names[i]`` names job ``i`` in a :class:`TaskLostError` line. An exception raised
        by ``fn`` propagates as itself (Ray's error is an instance of the cause's class).
        """
        remote = ray.remote(fn).options(max_retries=self.max_retries, retry_exceptions=False,
                                        num_cpus=num_cpus, num_gpus=num_gpus)
        refs = [remote.remote(*job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(jobs)
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                i = index[ready[0]]
                results[i] = self._get(ready[0], names[i] if names else f"job {i}")
                if on_done:
                    on_done(i, results[i])
        except BaseException as exc:  # Ctrl-C, SIGTERM, a failed task: nothing may keep running
            cancel(pending)
            raise _unwrapped(exc) from None
        return results

    def actors(self, cls: type, n_actors: int, *, num_cpus: float = 1,
               num_gpus: float = 0) -> ActorPool:
        """``n_actors`` actors that each keep one ``cls()`` (e.g. a loaded model) for their
        life. An actor whose process or node dies is restarted and its call rerun
        (``max_retries`` each). Close the pool (or use it as a context manager)."""
        actor_cls: Any = ray.remote(cls).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=self.max_retries,
            max_task_retries=self.max_retries)
        return ActorPool(self, [actor_cls.remote() for _ in range(max(1, n_actors))])

    def _get(self, ref: Any, name: str) -> Any:
        try:
            return ray.get(ref)
        except rayexc.RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            raise cause from None
        except (rayexc.WorkerCrashedError, rayexc.NodeDiedError, rayexc.ObjectLostError,
                rayexc.OwnerDiedError, rayexc.LocalRayletDiedError) as exc:
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TaskLostError(
                f"the Ray worker running {name} died {self.max_retries + 1} times "
                f"(retried {self.max_retries} times; last: {type(exc).__name__}: {why}); "
                "nothing was published") from exc


class ActorPool:
    """Actors of :meth:`RayEngine.actors`; :meth:`map` spreads calls over them."""

    def __init__(self, engine: RayEngine, actors: list[Any]):
        self.engine = engine
        self.handles = actors

    def __enter__(self) -> ActorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for actor in self.handles:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.handles = []

    def map(self, method: str, jobs: Sequence[tuple], *, names: Sequence[str] | None = None,
            on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
        """``actor.method(*job)`` for every job, one call in flight per actor (a finished
        actor takes the next job); results in ``jobs`` order."""
        results: list[Any] = [None] * len(jobs)
        queue = list(range(len(jobs)))
        running: dict[Any, tuple[int, Any]] = {}

        def submit(actor: Any) -> None:
            if queue:
                i = queue.pop(0)
                running[getattr(actor, method).remote(*jobs[i])] = (i, actor)

        try:
            for actor in self.handles:
                submit(actor)
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                i, actor = running.pop(ready[0])
                results[i] = self.engine._get(ready[0], names[i] if names else f"job {i}")
                submit(actor)
                if on_done:
                    on_done(i, results[i])
        except BaseException as exc:  # Ctrl-C, a failed call: nothing may keep running
            cancel(list(running))
            raise _unwrapped(exc) from None
        return results


#: Seconds to wait for the cluster's head before saying it cannot be reached (ray.init
#: itself retries for minutes, printing a warning every few seconds).
CONNECT_TIMEOUT_S = 10.0


def _reachable(address: str) -> None:
    """:class:`TaskLostError` in one line when ``host:port`` accepts no TCP connection."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", "ray://...": left to ray.init
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise TaskLostError(f"cannot reach the Ray cluster at {address}: "
                            f"{exc.strerror or exc}; is `ray start --head` running there?"
                            ) from exc


def _unwrapped(exc: BaseException) -> BaseException:
    """The exception a signal handler raised inside Ray's compiled ``wait``: Cython reports
    it as ``SystemError(... returned a result with an exception set)`` with the handler's
    exception (e.g. ``publish.Terminated``, a BaseException) as its context."""
    ctx = exc.__context__
    if isinstance(exc, SystemError) and ctx is not None and not isinstance(ctx, Exception):
        return ctx
    return exc


def _signal_handlers() -> dict[int, Any]:
    """The driver's SIGTERM/SIGHUP handlers (main thread only; else empty)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}


def _restore(handlers: dict[int, Any]) -> None:
    """Put back the handlers ``ray.init`` replaced: it installs its own SIGTERM handler
    (``sys.exit``) and its core worker a C++ one that ends the process with status 1, where
    the caller's turns SIGTERM into an exception that removes unfinished output and cancels
    the tasks (``motionpair.publish.terminate_cleanly``)."""
    for s, h in handlers.items():
        if h is not None:
            signal.signal(s, h)


def cancel(refs: Sequence[Any]) -> None:
    """Cancel queued and running tasks (force: a running task's worker is killed)."""
    for ref in refs:  # one already finished or lost has nothing to cancel
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)
