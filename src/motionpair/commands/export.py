"""``motionpair export``: the one-step generator as ONNX (checked in onnxruntime) and a
Core ML mlprogram (spec checked; predictions need macOS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    check_number,
    probe_out,
    require_run,
)


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        run: Annotated[Path, typer.Argument(help="run folder written by motionpair train")],
        onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="write ONNX")] = True,
        coreml: Annotated[bool, typer.Option("--coreml/--no-coreml",
                                             help="write a Core ML .mlpackage")] = True,
        out: Annotated[Path | None, typer.Option("--out", help="default RUN/export")] = None,
        tolerance: Annotated[float, typer.Option(
            help="largest allowed |onnxruntime - torch| on the normalised window")] = 1e-4,
    ) -> None:
        """torch.export -> ONNX (+ onnxruntime parity) and Core ML; CPU latency per 5 s
        window; writes export.json. Exit 1 when ONNX parity exceeds --tolerance."""
        err = ui.err()
        ui.require_torch("export")
        check_number("--tolerance", tolerance, lo=0, hi=1e6)
        require_run(run)
        if out is not None:
            probe_out(out, inputs=[run])
        from motionpair.model.export import export as do_export

        try:
            info = do_export(run, onnx=onnx, coreml=coreml, out=out)
        except ImportError as exc:
            err.print(f"[red]error[/]: {exc.name or exc} is not installed: "
                      "pip install -e '.[model]'")
            raise typer.Exit(2) from exc
        ui.out().print(json.dumps(info, indent=2), markup=False, highlight=False)
        if onnx and info["onnx"]["max_abs_diff"] > tolerance:
            err.print(f"[red]ONNX parity[/]: {info['onnx']['max_abs_diff']:.3g} > {tolerance}")
            raise typer.Exit(1)
