"""Publish a finished dataset folder atomically, so readers never see half of one.

The build writes into a hidden sibling ``.NAME.tmp-*`` of ``--out``; publishing
swaps it in with one ``renameat2(RENAME_EXCHANGE)`` where the kernel offers it,
else two renames, with ``recover`` undoing a crash between them on the next run.

Publishing replaces ``--out`` as a whole, so it is guarded by
:func:`motionpair.outputs.check_out` (new, empty, or carrying the command's marker; never an
input or inside one) and :func:`motionpair.outputs.out_lock` (one writer at a time);
``recover`` runs only under that lock, so a staging folder it removes can only be a dead
process's.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100

# the output discipline lives in motionpair.outputs (one module for every command); these
# names stay importable from here for the build and the report
from motionpair.outputs import (  # noqa: E402
    MARKERS,
    OutBusyError,
    OutRefusedError,
    check_out,
    out_lock,
    write_marker,
)

__all__ = ["MARKERS", "OutBusyError", "OutRefusedError", "Terminated", "check_out", "out_lock",
           "publish", "recover", "staging_dir", "terminate_cleanly", "write_file_atomic",
           "write_marker"]


class Terminated(BaseException):
    """SIGTERM/SIGHUP arrived: unwinds like KeyboardInterrupt, so staging is removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


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
