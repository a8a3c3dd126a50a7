"""``motionpair preview DIR``: one paired window drawn as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import EXIT_USAGE, consume_guard, probe_out, require_dataset


def register(app: typer.Typer) -> None:
    @app.command("preview")
    def preview(dataset: Annotated[Path, typer.Argument(metavar="DIR", file_okay=False,
                                                        help="built dataset folder")],
                id: Annotated[str | None, typer.Option("--id", help="window id")] = None,
                out: Annotated[Path | None, typer.Option(
                    "--out", metavar="FILE.png",
                    help="PNG path (default DIR/previews/<id>.png)")] = None) -> None:
        """Draw one paired window as a PNG."""
        from motionpair.build.preview import draw_window

        require_dataset(dataset)
        consume_guard([dataset], "preview")  # nothing verify would fail is drawn
        if out is not None:
            probe_out(out.parent, "--out's folder")

        # default inside the dataset (kept by rebuilds), never the current directory
        target = out or (dataset / "previews" / f"{(id or 'sample').replace('/', '__')}.png")
        try:
            if not (dataset / "manifest.jsonl").is_file():
                raise FileNotFoundError(f"{dataset}: not a built dataset (no manifest.jsonl)")
            target.parent.mkdir(parents=True, exist_ok=True)
            path = draw_window(dataset, id, target)
        except (KeyError, FileNotFoundError, ValueError) as exc:  # ValueError: damaged
            ui.error(str(exc).strip("'\""))
            raise typer.Exit(EXIT_USAGE) from exc
        ui.out().print(f"wrote {path}", markup=False, highlight=False)
