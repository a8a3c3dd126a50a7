"""``motionpair evaluate``: FID_k/g, Div_k/g, Beat Align, PFC, smoothness, skeleton and style
accuracy of a run vs reference rows, on any built dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from motionpair import ui
from motionpair.commands._shared import EXIT_USAGE, JsonOpt


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        run: Annotated[Path, typer.Argument(help="run folder written by motionpair train")],
        dataset: Annotated[Path | None, typer.Argument(
            help="(older form) built dataset folder; same as --on DATASET --split test")
                           ] = None,
        on: Annotated[Path | None, typer.Option(
            "--on", help="built dataset to score (any: it needs no train split)")] = None,
        split: Annotated[str | None, typer.Option(
            help="score only this split (default with --on: every window; with the older "
                 "positional DATASET: test)")] = None,
        steps: Annotated[int, typer.Option(help="sampling steps of the multi-step row")] = 10,
        pool: Annotated[list[Path] | None, typer.Option(
            "--pool", help="train-window datasets to use instead of those recorded in "
                           "RUN/config.json (e.g. when the run was moved)")] = None,
        seed: Annotated[int, typer.Option(help="seed (noise, random retrieval)")] = 0,
        device: Annotated[str, typer.Option(help="cpu | cuda | mps")] = "cpu",
        json_out: JsonOpt = None,
    ) -> None:
        """Split-half evaluation of DATASET's windows with the run's own statistics and its
        training windows as the retrieval pool. Rows: ground truth, random and audio-nearest
        train retrieval, mean pose, the network in 1 and N steps and with shuffled music.
        Prints the table (project settings and the reference code's literal ones) and writes
        RUN/eval_<name>.json and .md."""
        err = Console(stderr=True)
        ui.require_torch("evaluate")
        from motionpair.model.evaluate import evaluate as do_eval
        from motionpair.model.evaluate import markdown_table

        if dataset is not None and on is not None:
            err.print("[red]error[/]: give the dataset once: either DATASET or --on DATASET")
            raise typer.Exit(EXIT_USAGE)
        if dataset is None and on is None:
            err.print("[red]error[/]: which dataset? motionpair evaluate RUN --on DATASET "
                      "[--split S]")
            raise typer.Exit(EXIT_USAGE)
        if steps < 1:
            err.print(f"[red]error[/]: --steps {steps}: at least 1")
            raise typer.Exit(EXIT_USAGE)
        legacy = dataset is not None
        target = dataset if legacy else on
        assert target is not None
        if legacy and split is None:
            split = "test"  # the older form always scored the test split
        try:
            res = do_eval(run, target, split, seed=seed, steps=steps, device=device,
                          pool=[str(p) for p in pool] if pool else None,
                          progress=lambda s: err.print(s, markup=False, highlight=False),
                          tag=split if legacy else None)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            err.print(f"[red]error[/]: {exc}", markup=True, highlight=False)
            raise typer.Exit(EXIT_USAGE) from exc
        from motionpair.model.evaluate import _finite

        if json_out is not None:
            text = json.dumps(_finite(res), indent=2) + "\n"
            if json_out == "-":
                sys.stdout.write(text)
                return
            Path(json_out).write_text(text, encoding="utf-8")
        Console(width=200).print(markdown_table(res), markup=False, highlight=False)
