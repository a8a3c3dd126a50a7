"""Publish a finished dataset folder atomically, so readers never see half of one.

The build writes into a hidden sibling ``.NAME.tmp-*`` of ``--out``; publishing
swaps it in with one ``renameat2(RENAME_EXCHANGE)`` where the kernel offers it,
else two renames, with ``recover`` undoing a crash between them on the next run.

Publishing replaces ``--out`` as a whole, so it is guarded (``check_out``): ``--out``
must be new, an empty folder, or a folder motionpair wrote itself, recognised by its
marker file (``.motionpair-dataset`` in a dataset, ``.motionpair-report`` in a report);
never a regular file, a symbolic link, an input, a folder inside an input, or a parent
of one. ``out_lock`` lets one process at a time write a given ``--out`` (a ``filelock``
on ``.NAME.lock`` beside it); ``recover`` runs only under that lock, so a staging folder
it removes can only be a dead process's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100

#: Marker file written into every folder motionpair publishes; only a folder holding
#: the marker of the same kind (or an empty folder) is ever replaced.
MARKERS = {"dataset": ".motionpair-dataset", "report": ".motionpair-report"}
_MARKER_TEXT = ("This folder was written by motionpair ({kind}); the next motionpair command "
                "writing here replaces it as a whole.\n")


class OutRefusedError(ValueError):
    """``--out`` names something motionpair must not replace (a usage error: exit 2)."""


class OutBusyError(RuntimeError):
    """Another process holds the lock of this ``--out`` (exit 1; retry, or ``--wait``)."""


class Terminated(BaseException):
    """SIGTERM/SIGHUP arrived: unwinds like KeyboardInterrupt, so staging is removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def write_marker(folder: Path, kind: str) -> None:
    """Mark ``folder`` (a staging folder) as motionpair's own output of ``kind``."""
    (folder / MARKERS[kind]).write_text(_MARKER_TEXT.format(kind=kind), encoding="utf-8")


def check_out(out: str | Path, kind: str, *, inputs: Iterable[str | Path] = (),
              inside_inputs_ok: bool = False) -> Path:
    """``out`` resolved, or :class:`OutRefusedError` saying in one line why it may not be replaced.

    Parameters
    ----------
    out : the folder to (re)publish.
    kind : ``"dataset"`` or ``"report"``; an existing non-empty folder must hold that
        kind's marker file.
    inputs : folders (or files) the command reads; ``out`` may not equal one, lie inside
        one, or contain one (symbolic links resolved).
    inside_inputs_ok : allow ``out`` inside an input (a report inside its dataset).
    """
    raw = Path(out)
    what = f"--out {raw}"
    if raw.is_symlink():
        raise OutRefusedError(f"{what} is a symbolic link (to {os.readlink(raw)}); motionpair "
                         "replaces --out as a whole, so name the real folder")
    path = raw.resolve()
    if path.exists() and not path.is_dir():
        raise OutRefusedError(f"{what} is a file, not a folder; motionpair does not replace it")
    for p in inputs:
        root = Path(p).resolve()
        if path == root:
            raise OutRefusedError(f"{what} is the input {p}; motionpair never writes into inputs")
        if root in path.parents and not inside_inputs_ok:
            raise OutRefusedError(f"{what} lies inside input {p}; motionpair never writes into "
                             "inputs")
        if path in root.parents:
            raise OutRefusedError(f"{what} contains input {p}; replacing it would delete the input")
    if path.is_dir():
        marker = path / MARKERS[kind]
        if not (marker.is_file() and not marker.is_symlink()):
            try:
                entries = sorted(e.name for e in path.iterdir())
            except OSError as exc:
                raise OutRefusedError(f"{what}: cannot list it ({exc.strerror})") from exc
            if entries:
                other = [k for k, m in MARKERS.items() if k != kind and m in entries]
                whose = (f"a motionpair {other[0]}, not a {kind}" if other else
                         f"not a motionpair {kind} (no {MARKERS[kind]} marker; it holds "
                         f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, e.g. "
                         f"{entries[0]!r})")
                raise OutRefusedError(f"{what} is {whose}; motionpair replaces only its own "
                                 "output: choose a new or empty folder, or remove it yourself")
    return path


@contextmanager
def out_lock(out: Path, *, wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive lock of ``out`` (``.NAME.lock`` beside it) while writing it.

    Raises :class:`OutBusyError` at once when another process holds it (unless ``wait``), and
    :class:`OutRefusedError` when the lock file cannot be made (e.g. a read-only parent).
    """
    from filelock import FileLock, Timeout

    lock_path = out.parent / f".{out.name}.lock"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path, timeout=-1 if wait else 0)
        lock.acquire()
    except Timeout as exc:
        raise OutBusyError(f"--out {out} is being written by another motionpair process (lock "
                      f"{lock_path} is held); wait for it, or pass --wait") from exc
    except OSError as exc:
        raise OutRefusedError(f"--out {out}: cannot create its lock file {lock_path} "
                         f"({exc.strerror or exc})") from exc
    try:
        yield lock_path
    finally:
        lock.release()


@contextmanager
def terminate_cleanly(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)
                      ) -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` while the block runs.

    Their default action kills the process at once, leaving the staging folder; raised as
    an exception they unwind through the same clean-up as Ctrl-C. Main thread only (where
    Python runs signal handlers); elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum, frame):
        raise Terminated(signum)

    previous = {s: signal.signal(s, raise_terminated) for s in signums}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def write_file_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temp file + rename.

    Readers never see half a file; the file gets mode 0644 (``mkstemp`` makes 0600,
    and outputs are for others to read).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            # a non-UTF-8 file name (surrogate-escaped) becomes a JSON \\udcXX escape
            f.write(data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def staging_dir(out: Path, kind: str | None = None) -> Path:
    """A fresh folder ``.NAME.tmp-PID-RANDOM`` beside ``out`` (same filesystem: atomic rename).

    Made with mode 0777 less the umask (normally 0755), not ``mkdtemp``'s 0700: it becomes
    the published folder, which is for others to read. With ``kind``, the marker is written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o777)
            break
        except FileExistsError:
            continue
    if kind is not None:
        write_marker(path, kind)
    return path


def recover(out: Path) -> list[str]:
    """Restore a dataset left aside by a crash mid-publish; remove stale staging folders.

    Call only while holding :func:`out_lock`: every writer of ``out`` holds it, so the
    staging folders found then belong to processes that are gone.
    """
    notes = []
    olds = sorted(out.parent.glob(f".{out.name}.old-*"))
    if olds and not out.exists():
        os.rename(olds[-1], out)
        notes.append(f"restored {out} from {olds[-1].name} (a previous publish was interrupted)")
        olds = olds[:-1]
    for stale in [*olds, *out.parent.glob(f".{out.name}.tmp-*")]:
        shutil.rmtree(stale, ignore_errors=True)
        notes.append(f"removed stale {stale.name}")
    return notes


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def publish(staged: Path, out: Path) -> None:
    """Make ``staged`` visible as ``out``; the previous ``out`` stays whole until then."""
    if not out.exists():
        os.rename(staged, out)
        return
    if _exchange(staged, out):
        shutil.rmtree(staged)  # now holds the previous dataset
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(staged, out)
    shutil.rmtree(old)
