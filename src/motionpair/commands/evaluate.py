"""``motionpair evaluate``: FID_k/g, Div_k/g, Beat Align, PFC, smoothness, skeleton and style
accuracy of a run vs reference rows, on any built dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    EXIT_USAGE,
    JsonOpt,
    check_choice,
    check_device,
    check_number,
    describe_exception,
    require_dataset,
    require_run,
)


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
        guidance: Annotated[float | None, typer.Option(
            help="classifier-free guidance weight (default: the run's train.guidance, 1 for "
                 "a distilled run; 1 = none)")] = None,
        seed: Annotated[int, typer.Option(help="seed (noise, random retrieval)")] = 0,
        device: Annotated[str, typer.Option(help="cpu | cuda | mps")] = "cpu",
        json_out: JsonOpt = None,
    ) -> None:
        """Split-half evaluation of DATASET's windows with the run's own statistics and its
        training windows as the retrieval pool. Rows: ground truth, random and audio-nearest
        train retrieval, mean pose, the network in 1 and N steps and with shuffled music.
        Prints the table (project settings and the reference code's literal ones) and writes
        RUN/eval_<name>.json and .md."""
        err = ui.err()
        ui.require_torch("evaluate")
        if dataset is not None and on is not None:
            ui.error("give the dataset once: either DATASET or --on DATASET")
            raise typer.Exit(EXIT_USAGE)
        if dataset is None and on is None:
            ui.error("which dataset? motionpair evaluate RUN --on DATASET [--split S]")
            raise typer.Exit(EXIT_USAGE)
        if split is not None:
            check_choice("--split", split, ("train", "val", "validation", "test"))
        check_number("--steps", steps, lo=1, hi=1000)
        check_number("--seed", seed, lo=0, hi=2**32 - 1)
        check_number("--guidance", guidance, lo=0, hi=100)
        check_device(device, auto=False)
        legacy = dataset is not None
        target = dataset if legacy else on
        assert target is not None
        if legacy and split is None:
            split = "test"  # the older form always scored the test split
        require_dataset(target)
        for p in pool or []:
            require_dataset(p)
        import numpy as np

        from motionpair.commands._shared import consume_guard
        from motionpair.model.evaluate import _finite, markdown_table
        from motionpair.model.evaluate import evaluate as do_eval

        consume_guard([target], "evaluate")  # nothing verify would fail is evaluated on
        require_run(run)
        try:
            res = do_eval(run, target, split, seed=seed, steps=steps, device=device,
                          pool=[str(p) for p in pool] if pool else None,
                          progress=lambda s: err.print(s, markup=False, highlight=False),
                          tag=split if legacy else None, guidance=guidance)
        except np.linalg.LinAlgError as exc:  # e.g. scipy's "sqrtm: -102" on NaN features
            err.print(f"error: evaluate {run}: a metric could not be computed: the features "
                      f"are degenerate or hold NaN/inf ({' '.join(str(exc).split())})",
                      markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
        except (ValueError, KeyError, FileNotFoundError) as exc:
            err.print(f"error: {describe_exception(exc)}", markup=False, highlight=False,
                      soft_wrap=True)
            raise typer.Exit(2) from exc
        ui.write_json(_finite(res), json_out)
        ui.results(json_out).print(markdown_table(res), markup=False, highlight=False)
