"""What the command modules share: exit codes, the ``--json`` option, option parsing and the
``--out`` guard. Not a command (``motionpair.cli`` registers only modules without a leading
underscore)."""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui

#: Documented exit codes (README "Exit codes").
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

JsonOpt = Annotated[str | None, typer.Option(
    "--json", metavar="FILE|-", help="write the result as JSON to FILE ('-' = stdout; "
    "messages then go to stderr)")]


def _numbers(text: str, what: str, n: int) -> tuple[float, ...]:
    """``n`` comma-separated numbers of option ``what``, or a usage error naming it."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != n:
        raise typer.BadParameter(f"{what} takes {n} comma-separated numbers, got {text!r}")
    return parts


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
        raise typer.Exit(128 + signum) from exc


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
