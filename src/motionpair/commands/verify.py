"""``motionpair verify DIR``: check a built dataset; exit 1 naming every failure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import EXIT_PROBLEMS, JsonOpt


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify(dataset: Annotated[Path, typer.Argument(metavar="DIR", file_okay=False,
                                                       help="built dataset folder")],
               json_out: JsonOpt = None) -> None:
        """Check a built dataset; exit 1 naming every failure."""
        from motionpair.consumers.verify import verify as do_verify

        fails, stats = do_verify(dataset)
        for f in fails:
            ui.err().print(f"[red]FAIL[/] {f}", highlight=False)
        ui.write_json({"ok": not fails, "dataset": str(dataset), "failures": fails, **stats},
                      json_out)
        if fails:
            raise typer.Exit(EXIT_PROBLEMS)
        ui.results(json_out).print(f"ok: {stats}", highlight=False)
