"""``motionpair export-shards DIR --format webdataset|hf --out OUT``: exports for trainers."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


class Format(str, Enum):
    webdataset = "webdataset"
    hf = "hf"


def register(app: typer.Typer) -> None:
    @app.command("export-shards")
    def export_shards(
        dataset: Annotated[Path, typer.Argument(help="built dataset folder", file_okay=False,
                                                exists=True)],
        fmt: Annotated[Format, typer.Option("--format", help="webdataset tars or an HF "
                                            "datasets save_to_disk folder")],
        out: Annotated[Path, typer.Option("--out", help="export folder (published atomically)")],
        json_out: Annotated[str | None, typer.Option(
            "--json", metavar="FILE|-", help="write export.json's record ('-' = stdout)")]
        = None,
    ) -> None:
        """Export a built dataset: webdataset tar shards (.npy arrays + .json row per window)
        or an HF DatasetDict (Array2D/3D features) saved with save_to_disk."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        from motionpair.export import ExportError, export
        from motionpair.store import read_manifest

        err = Console(stderr=True)
        try:
            total = len(read_manifest(dataset))
        except FileNotFoundError as exc:
            err.print(f"[red]error[/]: {dataset}: not a built dataset ({exc})")
            raise typer.Exit(2) from exc
        with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True) as prog:
            task = prog.add_task(f"export {fmt.value}", total=total)
            try:
                rec = export(dataset, out, fmt.value, progress=lambda n: prog.advance(task, n))
            except ExportError as exc:
                err.print(f"[red]error[/]: {exc}")
                raise typer.Exit(2) from exc
        if json_out == "-":
            typer.echo(json.dumps(rec, indent=2))
        elif json_out:
            Path(json_out).write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
        counts = ", ".join(f"{k} {v['rows']}" for k, v in rec["splits"].items())
        (err if json_out == "-" else Console(soft_wrap=True)).print(
            f"wrote {out} ({fmt.value}): {counts} windows", markup=False, highlight=False)
