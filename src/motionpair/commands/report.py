"""``motionpair report DIR``: a self-contained HTML + Markdown report of a built dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    consume_guard,
    probe_out,
    require_dataset,
)


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(dataset: Annotated[Path, typer.Argument(metavar="DIR", file_okay=False,
                                                       help="built dataset folder")],
               out: Annotated[Path | None, typer.Option(
                   "--out", metavar="FOLDER",  # a file: check_out's one-line refusal
                   help="report folder (default DIR/report)")] = None) -> None:
        """Write DIR/report/report.html (summary and figures first, tables after; opens
        offline: small copies inlined, each linking to its full PNG beside it) and report.md."""
        from motionpair.commands._shared import out_guard
        from motionpair.consumers.report import write_report

        require_dataset(dataset)
        consume_guard([dataset], "report")  # nothing verify would fail is reported on
        probe_out(out if out is not None else dataset / "report")

        try:  # figures done/total, ETA (stderr, on a terminal only)
            with out_guard("report"), ui.progress("figures") as prog:
                task = prog.add_task("drawing", total=None)
                out = write_report(dataset, out, progress=lambda _name, n: prog.update(
                    task, total=n, advance=1))
        except (FileNotFoundError, KeyError, ValueError) as exc:
            ui.error(f"{dataset}: not a readable dataset ({exc})")
            raise typer.Exit(2) from exc
        ui.out().print(f"wrote {out / 'report.html'} and {out / 'report.md'}", markup=False,
                       highlight=False)
