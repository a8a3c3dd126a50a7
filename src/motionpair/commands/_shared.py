"""What the command modules share: exit codes, the ``--json`` option, option parsing and the
``--out`` guard. Not a command (``motionpair.cli`` registers only modules without a leading
underscore)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup
from typer.exceptions import TyperException

from motionpair import ui

#: Documented exit codes (README "Exit codes").
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

JsonOpt = Annotated[str | None, typer.Option(
    "--json", metavar="FILE|-", help="write the result as JSON to FILE ('-' = stdout; "
    "messages then go to stderr)")]


def _numbers(text: str, what: str, n: int) -> tuple[float, ...]:
    """``n`` comma-separated finite numbers of option ``what``, or a usage error naming it."""
    import math

    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != n:
        raise typer.BadParameter(f"{what} takes {n} comma-separated numbers, got {text!r}")
    if not all(math.isfinite(x) for x in parts):
        raise typer.BadParameter(f"{what} takes finite numbers (no nan/inf), got {text!r}")
    return parts


#: Options of the app itself; accepted before or after the command (``build ... -q``).
GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose", "--version")


def hoist_global_flags(args: Sequence[str]) -> list[str]:
    """``args`` with the global flags written after the command moved before it.

    The global flags take no value, so the command is the first argument not starting with
    ``-``; everything after a ``--`` is left alone. Short flags may be combined (``-qv``).
    """
    args = list(args)
    cmd = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if cmd is None:
        return args
    front: list[str] = []
    rest: list[str] = []
    for i, a in enumerate(args[cmd + 1:], start=cmd + 1):
        if a == "--":
            rest += args[i:]
            break
        short = len(a) > 1 and a[0] == "-" and a[1] != "-" and set(a[1:]) <= {"q", "v"}
        (front if a in GLOBAL_FLAGS or short else rest).append(a)
    return front + args[:cmd + 1] + rest


class Group(TyperGroup):
    """The app's command group: global flags anywhere, and no traceback ever reaches a user.

    Every command fixes its own known failures with one precise line; this is the last
    resort for the unexpected: one line naming the command and the problem (``-v`` adds the
    traceback), exit 2 for a missing path or one the system cannot encode, else 1. Library
    warnings are shown (one line each) only with ``-v``.
    """

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_flags(args))

    def invoke(self, ctx: ClickContext) -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort, TyperException):
                raise
            except MemoryError as exc:
                _last_resort(ctx, exc, "out of memory")
            except RecursionError as exc:
                _last_resort(ctx, exc, "input nested too deeply to read")
            except Exception as exc:  # noqa: BLE001 - the last resort, see the docstring
                _last_resort(ctx, exc, None)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    if ui.STATE.verbose:
        text = " ".join(str(message).split())
        ui.err().print(f"warning: {category.__name__}: {text}", markup=False, highlight=False,
                       soft_wrap=True)


def describe_exception(exc: BaseException) -> str:
    """One line for ``exc``: an OS error names its file and errno text."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [n for n in (exc.filename, exc.filename2) if n is not None]
        return f"{exc.strerror}" + "".join(f": {safe_path(n)}" for n in names)
    if isinstance(exc, UnicodeError):
        return f"a path or text that is not valid UTF-8 ({exc})"
    text = " ".join(str(exc).split())
    if type(exc) is ValueError and text:  # motionpair's own messages name file and problem
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _last_resort(ctx: ClickContext, exc: BaseException, what: str | None) -> None:
    import traceback

    sub = ctx.invoked_subcommand or ""
    if ui.STATE.verbose:
        ui.err().print("".join(traceback.format_exception(exc)), markup=False, highlight=False,
                       soft_wrap=True)
    hint = "" if ui.STATE.verbose or isinstance(exc, OSError) else " (-v shows the traceback)"
    ui.err().print(f"error: motionpair {sub}: {what or describe_exception(exc)}{hint}",
                   markup=False, highlight=False, soft_wrap=True)
    missing = (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeError)
    raise typer.Exit(EXIT_USAGE if isinstance(exc, missing) else EXIT_PROBLEMS) from exc


def safe_path(path: str | bytes | Path) -> str:
    """``path`` printable on any terminal: bytes that are not UTF-8 as ``\\xNN`` escapes."""
    if isinstance(path, bytes):
        return path.decode("utf-8", "backslashreplace")
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 file name
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def usage_error(msg: str) -> typer.Exit:
    """Print ``error: msg`` (one line) and return the exit-2 to raise."""
    ui.error(msg)
    return typer.Exit(EXIT_USAGE)


def path_problem(path: Path, what: str, *, folder: bool | None = None) -> str | None:
    """Why ``path`` cannot serve as ``what`` (not found, wrong kind), or None.

    ``what`` names the argument (``"AUDIO"``, ``"dataset"``); ``folder`` True/False asks
    for a folder/a file, None for either.
    """
    p = safe_path(path)
    if not path.exists():
        if path.is_symlink():
            return f"{what} {p}: dangling symlink (its target is not found)"
        return f"{what} {p}: file or folder not found"
    if folder is True and not path.is_dir():
        return f"{what} {p}: is a file, expected a folder"
    if folder is False and path.is_dir():
        return f"{what} {p}: is a folder, expected a file"
    return None


def require_path(path: Path, what: str, *, folder: bool | None = None) -> None:
    """Exit 2 with one line when ``path`` does not exist or is of the wrong kind."""
    problem = path_problem(path, what, folder=folder)
    if problem:
        raise usage_error(problem)


def dataset_problem(path: Path) -> str | None:
    """Why ``path`` is not a built dataset folder (one line), or None."""
    from motionpair.sources.common import read_json

    problem = path_problem(path, "dataset", folder=True)
    if problem:
        return problem
    meta = path / "dataset.json"
    if not meta.is_file():
        return (f"{safe_path(path)}: not a motionpair dataset (no dataset.json; build one "
                "with motionpair build)")
    try:
        doc = read_json(meta)
    except (OSError, ValueError, RecursionError) as exc:
        text = describe_exception(exc)  # motionpair's ValueErrors already name the file
        return text if str(meta) in text else f"{safe_path(meta)}: unreadable ({text})"
    if not isinstance(doc, dict):
        return (f"{safe_path(meta)}: not a motionpair dataset.json (expected a JSON object, "
                f"found {type(doc).__name__})")
    return None


def require_dataset(path: Path) -> None:
    """Exit 2 with one line unless ``path`` is a built dataset folder."""
    problem = dataset_problem(path)
    if problem:
        raise usage_error(problem)


def require_paths(paths: Sequence[Path], what: str, *, folder: bool | None = None) -> None:
    """:func:`require_path` for each of ``paths``, all problems printed before exit 2."""
    problems = [p for p in (path_problem(x, what, folder=folder) for x in paths) if p]
    for p in problems[:-1]:
        ui.error(p)
    if problems:
        raise usage_error(problems[-1])


def require_run(path: Path, checkpoints: Sequence[str] = ("model.pt",)) -> None:
    """Exit 2 with one line unless ``path`` is a run folder (``motionpair train`` output);
    exit 1 when one of its ``checkpoints`` is damaged (cut short, not a torch archive)."""
    require_path(path, "run", folder=True)
    if not any((path / c).is_file() for c in ("model.pt", "last.pt")):
        raise usage_error(f"{safe_path(path)}: not a motionpair run (no model.pt; train one "
                          "with motionpair train)")
    for name in checkpoints:
        problem = checkpoint_problem(path / name)
        if problem:
            ui.error(problem)
            raise typer.Exit(EXIT_PROBLEMS)


def checkpoint_problem(path: Path) -> str | None:
    """Why checkpoint ``path`` cannot be loaded (checked as the zip archive torch writes:
    every member's CRC, no unpickling), or None when it is sound or absent."""
    import zipfile

    if not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return (f"{safe_path(path)}: damaged checkpoint, not a complete torch archive "
                f"({describe_exception(exc)}); retrain or restore it")
    if bad is not None:
        return f"{safe_path(path)}: damaged checkpoint (member {bad} fails its CRC)"
    return None


def check_number(name: str, value: float | None, *, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False,
                 allow_none: bool = True) -> None:
    """Exit 2 naming option ``name`` unless ``value`` is finite and within ``[lo, hi]``
    (``(lo, hi]`` when ``lo_open``)."""
    import math

    if value is None:
        if allow_none:
            return
        raise usage_error(f"{name} needs a value")
    if isinstance(value, float) and not math.isfinite(value):
        raise usage_error(f"{name} must be a finite number, got {value}")

    def fmt(x: float) -> str:  # ints of any size as written, floats short
        return str(x) if isinstance(x, int) else f"{x:g}"

    if lo is not None and (value <= lo if lo_open else value < lo):
        raise usage_error(f"{name} must be {'>' if lo_open else '>='} {fmt(lo)}, got "
                          f"{fmt(value)}")
    if hi is not None and value > hi:
        raise usage_error(f"{name} must be <= {fmt(hi)}, got {fmt(value)}")


@contextmanager
def out_guard(command: str) -> Iterator[None]:
    """Refusals of ``--out`` as one line (exit 2, or 1 when busy); SIGTERM cleans up.

    Within the block SIGTERM/SIGHUP unwind like Ctrl-C (the staging folder is removed,
    nothing is published); all three exit 128 + the signal number, with one line.
    """
    from motionpair.publish import OutBusyError, OutRefusedError, Terminated, terminate_cleanly

    try:
        with terminate_cleanly():
            yield
    except (OutRefusedError, OutBusyError) as exc:
        ui.err().print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2 if isinstance(exc, OutRefusedError) else 1) from exc
    except (Terminated, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        ui.err().print(f"{command} stopped by {signal.Signals(signum).name}: nothing published, "
                  "unfinished output removed", markup=False, highlight=False, soft_wrap=True)
        if "ray" in sys.modules:
            # the output is already removed; skip the interpreter's teardown, where Ray's
            # core worker segfaulted (exit -11) when the signal had met the driver inside
            # ray.init (measured: Ctrl-C 4 s into a Ray build); the status stays 128 + signal
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + signum)
        raise typer.Exit(128 + signum) from exc


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Exit 2 naming option ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise usage_error(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_device(value: str, *, auto: bool = True) -> None:
    """Exit 2 unless ``--device`` names a torch device that exists on this machine."""
    check_choice("--device", value, ("auto", "cpu", "cuda", "mps") if auto
                 else ("cpu", "cuda", "mps"))
    if value in ("auto", "cpu"):
        return
    import torch  # deferred: only commands that need torch call this

    if value == "cuda" and not torch.cuda.is_available():
        raise usage_error("--device cuda: no CUDA device is available here (use cpu or auto)")
    mps = getattr(torch.backends, "mps", None)
    if value == "mps" and not (mps is not None and mps.is_available()):
        raise usage_error("--device mps: no Apple MPS device is available here (use cpu or "
                          "auto)")


@contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """Remove ``folder`` if the block fails and ``folder`` did not exist before it (so
    everything in it was written by the block: nothing of the user's is touched)."""
    import shutil

    existed = folder.exists() or folder.is_symlink()
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        raise


def probe_out(out: Path, what: str = "--out", *, inputs: Sequence[Path] = ()) -> None:
    """Exit 2 with one line, before any work, when folder ``out`` cannot be created or
    written (a read-only or full disk, a parent that is a file, a name the file system
    refuses); nothing is left behind by the probe. An ``out`` inside one of ``inputs`` is
    not probed (nothing is ever written into an input, even for a moment): the command's
    output check refuses it."""
    import os
    import tempfile

    require_utf8(out, what)
    target = out.absolute()
    for i in inputs:
        base = Path(i).absolute()
        if target == base or base in target.parents:
            return
    made: list[Path] = []
    try:
        missing = []
        p = out
        while not p.exists() and not p.is_symlink() and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            made.append(d)
        if out.is_dir():
            fd, name = tempfile.mkstemp(prefix=".motionpair-probe-", dir=out)
            os.close(fd)
            os.unlink(name)
    except (OSError, UnicodeError) as exc:
        raise usage_error(f"{what} {safe_path(out)}: cannot be written "
                          f"({describe_exception(exc)})") from exc
    finally:
        for d in reversed(made):
            with suppress(OSError):
                d.rmdir()


def require_utf8(path: Path, what: str) -> None:
    """Exit 2 with one line when output path ``path`` holds bytes that are not UTF-8.

    Inputs with such names are read (every reader gets the OS's own bytes); outputs are
    refused, because the libraries that write them (parquet, PNG, JSON readers elsewhere)
    cannot name such a file portably.
    """
    if safe_path(path) != str(path):
        raise usage_error(f"{what} {safe_path(path)}: the name holds bytes that are not "
                          "UTF-8; choose a UTF-8 name for outputs (inputs may keep theirs)")


def consume_guard(datasets: Iterable[Path], command: str) -> None:
    """Refuse (one line, exit 1) any dataset ``verify`` fails, before ``command`` reads it.

    A folder that is not a dataset at all is a usage error (exit 2).
    """
    from motionpair.consumers.verify import UnsoundDatasetError, require_sound

    for d in datasets:
        if not (Path(d) / "dataset.json").is_file():
            ui.err().print(f"error: {d}: not a built dataset (no dataset.json)", markup=False,
                           highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE)
        try:
            require_sound(d, command=command)
        except UnsoundDatasetError as exc:
            ui.err().print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_PROBLEMS) from exc
