"""``motionpair export-shards DIR --format webdataset|hf --out OUT``: exports for trainers."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    check_number,
    probe_out,
    require_dataset,
)


class Format(StrEnum):
    webdataset = "webdataset"
    hf = "hf"


def register(app: typer.Typer) -> None:
    @app.command("export-shards")
    def export_shards(
        dataset: Annotated[Path, typer.Argument(metavar="DIR", help="built dataset folder",
                                                file_okay=False)],
        fmt: Annotated[Format, typer.Option("--format", help="webdataset tars or an HF "
                                            "datasets save_to_disk folder")],
        out: Annotated[Path, typer.Option("--out", metavar="OUT", file_okay=False,
                                          help="export folder (published atomically)")],
        json_out: Annotated[str | None, typer.Option(
            "--json", metavar="FILE|-", help="write export.json's record ('-' = stdout)")]
        = None,
        shuffle_seed: Annotated[int, typer.Option(
            help="seed of the shuffle across sessions inside each split (recorded in "
                 "export.json)")] = 0,
        no_shuffle: Annotated[bool, typer.Option(
            "--no-shuffle", help="keep manifest (session, time) order")] = False,
    ) -> None:
        """Export a built dataset: webdataset tar shards (.npy arrays + .json row per window)
        or an HF DatasetDict (Array2D/3D features) saved with save_to_disk."""
        from motionpair import outputs
        from motionpair.commands._shared import out_guard
        from motionpair.consumers.export import ExportError, export
        from motionpair.consumers.verify import UnsoundDatasetError
        from motionpair.store import DatasetError, read_manifest

        check_number("--shuffle-seed", shuffle_seed, lo=0, hi=2**32 - 1)
        require_dataset(dataset)
        probe_out(out, inputs=[dataset])

        try:
            total = len(read_manifest(dataset))
        except (FileNotFoundError, ValueError) as exc:
            ui.error(f"{dataset}: not a built dataset (no manifest.jsonl)")
            raise typer.Exit(2) from exc
        except DatasetError as exc:
            ui.error(str(exc))
            raise typer.Exit(1) from exc
        with out_guard("export-shards"), ui.progress("windows") as prog:
            outputs.check_file_out(json_out, inputs=[dataset], outputs=[out])
            task = prog.add_task(f"export {fmt.value}", total=total)  # windows done/total, ETA
            try:
                rec = export(dataset, out, fmt.value,
                             shuffle_seed=None if no_shuffle else shuffle_seed,
                             progress=lambda n: prog.advance(task, n))
            except UnsoundDatasetError as exc:
                ui.error(str(exc))
                raise typer.Exit(1) from exc
            except ExportError as exc:
                ui.error(str(exc))
                raise typer.Exit(2) from exc
            except OSError as exc:  # a full or read-only disk under --out: one line
                ui.error(f"export-shards: cannot write {out}: {exc.strerror or exc}")
                raise typer.Exit(1) from exc
        counts = ", ".join(f"{k} {v['rows']}" for k, v in rec["splits"].items())
        ui.results(json_out).print(f"wrote {out} ({fmt.value}): {counts} windows",
                                   markup=False, highlight=False)
        ui.write_json(rec, json_out)
