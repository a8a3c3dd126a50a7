"""One output discipline for every command that writes: where motionpair may write, and the lock.

Every command that writes a folder (``build``, ``report``, ``export-shards``, ``train``,
``generate``, ``align``, ``capture``, ``prep-audio``) or a file (``--json FILE``) asks this
module first; nothing is touched when it refuses (:class:`OutRefusedError`, exit 2, one line).

The rules (:func:`check_out`, :func:`check_file_out`, :func:`check_cache`):

* a folder is replaced, or written into, only when it is new, empty, or carries the
  marker file of *that* command's kind (:data:`MARKERS`), written when the command first
  made it; a folder holding someone else's files (even one named like ours, e.g. a user's
  ``export.json`` or ``config.json``) is refused;
* an output never equals, lies inside, or contains an input; never lies inside a folder
  that carries another command's marker (a published dataset, a run, an export...), except
  where :data:`ALLOWED_INSIDE` says so (a report inside its dataset); never is a symbolic
  link or a regular file where a folder is meant;
* ``--json FILE`` and ``--cache DIR`` obey the same containment rules, and a ``--json``
  file that exists is replaced only when it holds JSON (a previous result), never another
  kind of file.

:func:`out_lock` lets one process at a time write a given output (``.NAME.lock`` beside
it, removed again when the holder is done); :func:`claimed` makes and marks a folder a
command writes into, and removes it again when the command fails before writing anything.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Marker file of each kind of output; only a folder holding the marker of the same kind
#: (or an empty/new one) is replaced or written into.
MARKERS = {"dataset": ".motionpair-dataset", "report": ".motionpair-report",
           "export": ".motionpair-export", "run": ".motionpair-run",
           "generate": ".motionpair-generate", "align": ".motionpair-align",
           "capture": ".motionpair-capture", "prep-audio": ".motionpair-prep-audio"}
#: Kinds of output that may lie inside another kind's output (``report`` defaults to
#: ``DATASET/report``).
ALLOWED_INSIDE = {"report": {"dataset"}}
_MARKER_TEXT = ("This folder was written by motionpair ({kind}); the next motionpair command "
                "of that kind may replace or rewrite it.\n")
#: A ``--json`` target bigger than this is not a previous result: refused, not parsed.
JSON_REPLACE_MAX_BYTES = 64 * 1024 * 1024


class OutRefusedError(ValueError):
    """An output names something motionpair must not write (a usage error: exit 2)."""


class OutBusyError(RuntimeError):
    """Another process holds the lock of this output (exit 1; retry, or ``--wait``)."""


def write_marker(folder: Path, kind: str) -> None:
    """Mark ``folder`` as motionpair's own output of ``kind``."""
    (folder / MARKERS[kind]).write_text(_MARKER_TEXT.format(kind=kind), encoding="utf-8")


def marked_kind(folder: Path) -> str | None:
    """The kind whose marker ``folder`` holds (a real file, not a link), or None."""
    for kind, name in MARKERS.items():
        m = folder / name
        with contextlib.suppress(OSError):
            if m.is_file() and not m.is_symlink():
                return kind
    return None


def enclosing_output(path: Path) -> tuple[Path, str] | None:
    """The nearest folder above ``path`` (resolved) that carries a marker, with its kind."""
    for parent in path.parents:
        kind = marked_kind(parent)
        if kind is not None:
            return parent, kind
    return None


def _check_place(path: Path, what: str, inputs: Iterable[str | Path], *,
                 kind: str | None, inside_inputs_ok: bool = False,
                 outputs: Iterable[str | Path] = ()) -> None:
    """Containment rules shared by folders, files and caches (``path`` resolved)."""
    for p in inputs:
        root = Path(p).resolve()
        if path == root:
            raise OutRefusedError(f"{what} is the input {p}; motionpair never writes into "
                                  "inputs")
        if root in path.parents and not inside_inputs_ok:
            raise OutRefusedError(f"{what} lies inside input {p}; motionpair never writes "
                                  "into inputs")
        if path in root.parents:
            raise OutRefusedError(f"{what} contains input {p}; writing there could change or "
                                  "delete the input")
    for o in outputs:
        other = Path(o).resolve()
        if path == other or other in path.parents or path in other.parents:
            raise OutRefusedError(f"{what} overlaps the output {o} of this command; keep them "
                                  "apart")
    found = enclosing_output(path)
    if found is not None and found[1] not in ALLOWED_INSIDE.get(kind or "", set()):
        folder, other_kind = found
        raise OutRefusedError(f"{what} lies inside {folder}, a motionpair {other_kind} "
                              f"(it holds {MARKERS[other_kind]}); write outside it")


def check_place(target: str | Path, *, inputs: Iterable[str | Path] = (),
                kind: str | None = None, option: str = "--out") -> Path:
    """``target`` resolved, or :class:`OutRefusedError` when it equals, lies inside or holds
    an input, or lies inside a marked output (a folder commands write *under*, such as
    prep-audio's ``--out`` holding one playlist per input)."""
    try:
        path = Path(target).resolve()
    except (OSError, RuntimeError) as exc:
        raise OutRefusedError(f"{option} {target}: cannot resolve it ({exc})") from exc
    _check_place(path, f"{option} {target}", inputs, kind=kind)
    return path


def check_out(out: str | Path, kind: str, *, inputs: Iterable[str | Path] = (),
              inside_inputs_ok: bool = False) -> Path:
    """``out`` resolved, or :class:`OutRefusedError` saying in one line why it may not be
    written.

    Parameters
    ----------
    out : the output folder (replaced as a whole, or written into).
    kind : a key of :data:`MARKERS`; an existing non-empty folder must hold that marker.
    inputs : folders (or files) the command reads; ``out`` may not equal one, lie inside
        one, or contain one (symbolic links resolved).
    inside_inputs_ok : allow ``out`` inside an input (a report inside its dataset).
    """
    what = f"--out {out}"
    path = _resolved(Path(out), what, "the real folder")
    if path.exists() and not path.is_dir():
        raise OutRefusedError(f"{what} is a file, not a folder; motionpair does not replace it")
    _check_place(path, what, inputs, kind=kind, inside_inputs_ok=inside_inputs_ok)
    if path.is_dir() and marked_kind(path) != kind:
        try:
            entries = sorted(e.name for e in path.iterdir())
        except OSError as exc:
            raise OutRefusedError(f"{what}: cannot list it ({exc.strerror})") from exc
        if entries:
            other = marked_kind(path)
            whose = (f"a motionpair {other}, not a {kind}" if other else
                     f"not a motionpair {kind} (no {MARKERS[kind]} marker; it holds "
                     f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, e.g. "
                     f"{entries[0]!r})")
            raise OutRefusedError(f"{what} is {whose}; motionpair writes only into its own "
                                  "output: choose a new or empty folder, or remove it yourself")
    return path


def _resolved(raw: Path, what: str, name_instead: str) -> Path:
    """``raw`` resolved, or :class:`OutRefusedError`: an output is never a symbolic link
    itself (name ``name_instead``), and a symlink loop above it is one line."""
    if raw.is_symlink():
        raise OutRefusedError(f"{what} is a symbolic link (to {os.readlink(raw)}); name "
                              f"{name_instead}")
    try:
        return raw.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop above it
        raise OutRefusedError(f"{what}: cannot resolve it ({exc})") from exc


@contextmanager
def claimed(out: str | Path, kind: str, *, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """:func:`check_out`, then make and mark the folder a command writes *into*.

    When the block fails and the folder holds nothing but what this call made (the marker),
    it is removed again, so a refused or failed command leaves nothing behind.
    """
    path = check_out(out, kind, inputs=inputs)
    created = not path.exists()
    marked = False
    try:
        path.mkdir(parents=True, exist_ok=True)
        if marked_kind(path) != kind:
            write_marker(path, kind)
            marked = True
    except OSError as exc:
        raise OutRefusedError(f"--out {out}: cannot write there ({exc.strerror or exc})") \
            from exc
    try:
        yield path
    except BaseException:
        if marked:
            with contextlib.suppress(OSError):
                if sorted(e.name for e in path.iterdir()) == [MARKERS[kind]]:
                    (path / MARKERS[kind]).unlink()
                    if created:
                        path.rmdir()
        raise


def check_file_out(target: str | Path | None, *, option: str = "--json",
                   inputs: Iterable[str | Path] = (),
                   outputs: Iterable[str | Path] = ()) -> Path | None:
    """A file output (``--json FILE``) resolved, or :class:`OutRefusedError`; ``-``/None: None.

    The file may not lie inside an input, inside this command's own output folders
    (``outputs``: a published dataset would lose its manifest) or inside any marked output;
    an existing file is replaced only when it is a regular file holding JSON.
    """
    if target is None or str(target) in ("", "-"):
        return None
    what = f"{option} {target}"
    path = _resolved(Path(target), what, "a real file")
    _check_place(path, what, inputs, kind=None, outputs=outputs)
    if path.exists():
        if not path.is_file():
            raise OutRefusedError(f"{what} is a folder or device, not a file")
        try:
            size = path.stat().st_size
            if size > JSON_REPLACE_MAX_BYTES:
                raise OutRefusedError(f"{what} exists and is {size} bytes, not a previous "
                                      "motionpair result; choose another file")
            if size:
                json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            if isinstance(exc, OutRefusedError):
                raise
            raise OutRefusedError(f"{what} exists and does not hold JSON (not a previous "
                                  "result); motionpair does not overwrite it") from exc
    return path


def check_cache(cache: str | Path | None, *, inputs: Iterable[str | Path] = (),
                outputs: Iterable[str | Path] = ()) -> Path | None:
    """``--cache DIR`` resolved, or :class:`OutRefusedError` when it would land in an input,
    a motionpair output, or this command's output."""
    if cache is None or isinstance(cache, bool):
        return None
    raw = Path(cache)
    try:
        path = raw.resolve()
    except (OSError, RuntimeError) as exc:
        raise OutRefusedError(f"--cache {raw}: cannot resolve it ({exc})") from exc
    what = f"--cache {raw}"
    _check_place(path, what, inputs, kind=None, outputs=outputs)
    if marked_kind(path) is not None:
        raise OutRefusedError(f"{what} is a motionpair {marked_kind(path)}, not a cache")
    return path


def lock_path(out: Path) -> Path:
    """The lock file of output ``out``: ``.NAME.lock`` beside it."""
    return out.parent / f".{out.name}.lock"


@contextmanager
def out_lock(out: Path, *, wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive lock of ``out`` (``.NAME.lock`` beside it) while writing it.

    The lock file is removed when the holder is done (also after a build that published
    nothing). Removing a lock file others may wait on is safe here because a waiter checks,
    once it holds the lock, that its file is still the one at ``.NAME.lock`` and retries
    otherwise. Raises :class:`OutBusyError` at once when another process holds it (unless
    ``wait``), and :class:`OutRefusedError` when the lock file cannot be made.
    """
    path = lock_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, wait=wait)
    except BlockingIOError as exc:
        raise OutBusyError(f"--out {out} is being written by another motionpair process (lock "
                           f"{path} is held); wait for it, or pass --wait") from exc
    except OSError as exc:
        raise OutRefusedError(f"--out {out}: cannot create its lock file {path} "
                              f"({exc.strerror or exc})") from exc
    try:
        yield path
    finally:
        _release(path, fd)


def _acquire(path: Path, *, wait: bool, shared: bool = False) -> int:
    """An fd holding a flock on ``path`` that is still linked there (BlockingIOError: busy)."""
    import fcntl

    op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, op)
            st = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed it meanwhile: lock the new one


def _release(path: Path, fd: int) -> None:
    """Remove the lock file (while still holding it), then unlock."""
    with contextlib.suppress(OSError):
        os.unlink(path)
    os.close(fd)


@contextmanager
def shared_lock(path: Path, *, exclusive: bool = False, wait: bool = True) -> Iterator[None]:
    """A long-lived lock file (never removed) held shared (users) or exclusive (repairers).

    Builds hold numba's cache lock shared while workers load compiled code; ``doctor
    --repair`` takes it exclusive, so it never deletes the cache under a running build.
    Raises ``BlockingIOError`` when ``wait`` is false and the lock is held the other way.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                    | (0 if wait else fcntl.LOCK_NB))
        yield
    finally:
        os.close(fd)
