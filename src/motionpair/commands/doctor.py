"""``motionpair doctor``: versions, MP3 decoding, audio features in a child, caches, torch."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from motionpair import ui


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        repair: Annotated[bool, typer.Option(
            "--repair", help="clear numba's compiled-code cache and compile it again")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="print JSON instead")] = False,
    ) -> None:
        """Check that this installation can build; exit 1 naming what is wrong."""
        from motionpair import doctor as doc

        out = ui.info() if json_out else ui.out()  # never wrapped off a terminal
        checks = doc.run(repair=repair, log=lambda line: out.print(line, markup=False,
                                                                       highlight=False))
        if json_out:
            print(json.dumps(doc.as_json(checks), indent=2))
        else:
            for c in checks:
                mark = "[green]ok  [/]" if c.ok else "[red]FAIL[/]"
                out.print(f"{mark} {c.name}: ", end="", highlight=False)
                out.print(c.detail, markup=False, soft_wrap=True)
            bad = [c.name for c in checks if not c.ok]
            out.print("all checks passed" if not bad else
                      f"[red]{len(bad)} check(s) failed[/]: {', '.join(bad)}")
        if not all(c.ok for c in checks):
            raise typer.Exit(1)
