"""``motionpair evaluate``: FID_k/g, Div_k/g, Beat Align, PFC of a run vs reference rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
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
        dataset: Annotated[Path, typer.Argument(help="built dataset folder")],
        split: Annotated[str, typer.Option(help="split to evaluate")] = "test",
        seed: Annotated[int, typer.Option(help="seed (noise, random retrieval)")] = 0,
        device: Annotated[str, typer.Option(help="cpu | cuda | mps")] = "cpu",
    ) -> None:
        """Split-half evaluation on SPLIT: ground truth, random and audio-nearest train
        retrieval, mean pose, the network in 10 steps and in 1 step; writes
        RUN/eval_<split>.json and .md and prints the table."""
        err = ui.err()
        ui.require_torch("evaluate")
        check_choice("--split", split, ("train", "val", "validation", "test"))
        check_number("--seed", seed, lo=0, hi=2**32 - 1)
        check_device(device, auto=False)
        require_dataset(dataset)
        import numpy as np

        from motionpair.commands._shared import consume_guard
        from motionpair.model.evaluate import evaluate as do_eval
        from motionpair.model.evaluate import markdown_table

        consume_guard([dataset], "evaluate")  # nothing verify would fail is evaluated on
        require_run(run)
        try:
            res = do_eval(run, dataset, split, seed=seed, device=device,
                          progress=lambda s: err.print(s))
        except np.linalg.LinAlgError as exc:  # e.g. scipy's "sqrtm: -102" on NaN features
            err.print(f"error: evaluate {run}: a metric could not be computed: the features "
                      f"are degenerate or hold NaN/inf ({' '.join(str(exc).split())})",
                      markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
        except (ValueError, KeyError, FileNotFoundError) as exc:
            err.print(f"error: {describe_exception(exc)}", markup=False, highlight=False,
                      soft_wrap=True)
            raise typer.Exit(2) from exc
        ui.out().print(markdown_table(res), markup=False, highlight=False)
