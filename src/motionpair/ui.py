"""Console conventions of the ``motionpair`` CLI.

* Results go to stdout, messages (progress, notes, warnings, errors) to stderr.
* ``--quiet`` silences messages but never errors; ``--verbose`` adds detail lines.
* When a stream is not a terminal (a pipe, a file, CI) nothing is hard-wrapped: lines keep
  their full length so paths are never broken mid-word.
* Tables that do not fit the terminal are shown as one block of ``column: value`` lines per
  row instead of wrapping cells into unreadable columns.
* ``--json FILE`` writes a machine-readable result; ``--json -`` writes it to stdout (and
  every human line goes to stderr).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

#: Width used when a stream is not a terminal: wide enough that nothing is wrapped.
UNWRAPPED = 100_000


class _State:
    quiet = False
    verbose = False


STATE = _State()


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    if tty:
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=UNWRAPPED, soft_wrap=True)


def out() -> Console:
    """stdout: results (tables, the closing summary, JSON when asked)."""
    return _console(stderr=False)


def err() -> Console:
    """stderr, always shown: errors."""
    return _console(stderr=True)


def info() -> Console:
    """stderr, silenced by ``--quiet``: progress, notes, warnings."""
    c = _console(stderr=True)
    c.quiet = STATE.quiet
    return c


def detail(msg: str) -> None:
    """A line shown only with ``--verbose`` (stderr)."""
    if STATE.verbose and not STATE.quiet:
        _console(stderr=True).print(msg, markup=False, highlight=False)


def error(msg: str) -> None:
    """``error: <msg>`` on stderr (never silenced)."""
    from rich.markup import escape

    # one line whatever its length (soft_wrap); brackets in paths are text, never markup
    err().print(f"[red]error[/]: {escape(msg)}", highlight=False, soft_wrap=True)


def require_torch(command: str) -> None:
    """Exit 2 with one line when torch (the ``torch``/``model`` extras) is not installed."""
    import importlib.util

    import typer

    if importlib.util.find_spec("torch") is None:
        error(f"{command} needs torch: pip install -e '.[torch,model]'")
        raise typer.Exit(2)


def results(json_target: str | None) -> Console:
    """Where human results go: stderr when the JSON result takes stdout, else stdout."""
    return info() if json_target == "-" else out()


def write_json(obj: Any, target: str | None) -> None:
    """``obj`` as JSON to ``target``: ``-`` = stdout, else a file (written atomically)."""
    if not target:
        return
    # a non-UTF-8 file name (surrogate-escaped by the OS layer) as a JSON \udcXX escape
    text = json.dumps(obj, indent=2, ensure_ascii=False).encode(
        "utf-8", "backslashreplace").decode("utf-8") + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from motionpair.outputs import OutRefusedError, check_file_out
    from motionpair.publish import write_file_atomic

    try:  # never inside a dataset or another motionpair output, never over a non-JSON file
        check_file_out(target)
    except OutRefusedError as exc:
        error(str(exc))
        import typer

        raise typer.Exit(2) from exc
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, text)


#: No table cell is longer (characters); longer text (a fix, a path list) belongs on its own
#: line below the table.
MAX_CELL = 200


def clip_cells(table: Table, limit: int = MAX_CELL) -> Table:
    """``table`` with every text cell longer than ``limit`` cut to ``limit`` (ending in …)."""
    for col in table.columns:
        cells = col._cells  # rich keeps the cells per column
        for i, cell in enumerate(cells):
            if isinstance(cell, str) and len(cell) > limit:
                cells[i] = cell[: limit - 1] + "…"
            elif isinstance(cell, Text) and len(cell.plain) > limit:
                cut = cell.copy()
                cut.truncate(limit - 1)
                cut.append("…")
                cells[i] = cut
    return table


def show_table(console: Console, table: Table) -> None:
    """Print ``table``, or a vertical layout (one block per row) when it does not fit.

    Cells are clipped to :data:`MAX_CELL` characters (the full text is printed by the
    caller on its own lines).
    """
    clip_cells(table)
    need = Measurement.get(console, console.options.update_width(UNWRAPPED), table).maximum
    if need <= console.width or console.width >= UNWRAPPED:
        console.print(table)
        return
    if table.title:
        console.print(f"[bold]{table.title}[/]")
    heads = [str(c.header) for c in table.columns]
    cells = [list(c._cells) for c in table.columns]  # rich keeps the cells per column
    n_rows = len(cells[0]) if cells else 0
    pad = max((len(h) for h in heads), default=0)
    for i in range(n_rows):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", width=pad)
        grid.add_column(overflow="fold")
        for h, col in zip(heads, cells, strict=True):
            grid.add_row(h, col[i])
        console.print(grid)
        console.print()


class MinutesColumn(ProgressColumn):
    """``12.3/48.1 audio min``: the task's ``minutes_done``/``minutes_total`` fields."""

    def __init__(self, what: str = "audio min") -> None:
        super().__init__()
        self.what = what

    def render(self, task: Task) -> Text:
        total = task.fields.get("minutes_total")
        if total is None:
            return Text("")
        return Text(f"{task.fields.get('minutes_done', 0.0):.1f}/{total:.1f} {self.what}",
                    style="progress.download")


class TrackMinutes:
    """Audio minutes done/total for a progress bar, each distinct track counted once.

    ``tracks``: ``(track id, duration s or None)``; a track of unknown duration is left out
    of both numbers (no column at all when none is known).
    """

    def __init__(self, tracks: Iterable[tuple[str, float | None]]) -> None:
        self.duration_s = {tid: float(d) for tid, d in tracks if d}
        self.done: set[str] = set()

    def finish(self, track_id: str) -> dict[str, Any]:
        """Mark ``track_id`` done; returns the fields for ``Progress.update``."""
        self.done.add(track_id)
        return self.fields()

    def fields(self) -> dict[str, Any]:
        if not self.duration_s:
            return {"minutes_done": None, "minutes_total": None}
        done = sum(d for t, d in self.duration_s.items() if t in self.done)
        return {"minutes_done": done / 60, "minutes_total": sum(self.duration_s.values()) / 60}


def progress(unit: str, *, minutes: bool = False, eta: bool = True) -> Progress:
    """A progress bar on stderr: ``description ━━━ done/total unit [audio min] elapsed ETA``.

    Hidden by ``--quiet`` and when stderr is not a terminal (a log or CI gets no bar, no
    redraws and no blank line); ``transient``, so the results below it stay clean. Tasks
    take ``minutes_done``/``minutes_total`` fields when ``minutes``.
    """
    console = info()
    cols: list[str | ProgressColumn] = [TextColumn("{task.description}"), BarColumn(),
                                        MofNCompleteColumn(), TextColumn(unit)]
    if minutes:
        cols.append(MinutesColumn())
    cols.append(TimeElapsedColumn())
    if eta:
        cols += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*cols, console=console, transient=True,
                    disable=STATE.quiet or not console.is_terminal)


class Clock(StrEnum):
    """``--clock``: the clock map of dense pairs."""

    default = "default"
    linear = "linear"
    beatwise = "beatwise"


class Pairing(StrEnum):
    """``--pairing``: how sparse (MotionMix) streams are paired."""

    auto = "auto"
    snapshot = "snapshot"
    sequence = "sequence"


class Cameras(StrEnum):
    """``--cameras``: MotionMix camera streams kept apart or fused."""

    separate = "separate"
    fused = "fused"


class SplitBy(StrEnum):
    """``--split-by``: split whole sessions or time blocks inside sessions."""

    session = "session"
    time_block = "time-block"
