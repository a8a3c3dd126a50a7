"""``motionpair train-smoke DIR``: train a tiny music→motion model on CPU from the loader."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from motionpair import ui
from motionpair.commands._shared import check_number, consume_guard, require_dataset

if TYPE_CHECKING:
    from motionpair.consumers.smoke import SmokeResult


def register(app: typer.Typer) -> None:
    @app.command("train-smoke")
    def train_smoke(
        dataset: Annotated[Path, typer.Argument(help="built dataset folder")],
        seconds: Annotated[float, typer.Option(help="training wall-time budget (s)")] = 60.0,
        target: Annotated[str, typer.Option(
            help="window_speed | speed | speed_rhythm | velocity")] = "window_speed",
        channels: Annotated[str, typer.Option(
            help="baseline35 columns: rhythm (onset env, onset peak, beat) | all")] = "rhythm",
        seed: Annotated[int, typer.Option(help="torch seed (weights, shuffling)")] = 0,
        max_epochs: Annotated[int | None, typer.Option(
            help="run exactly N epochs instead of --seconds (bit-for-bit repeatable)")] = None,
        patience: Annotated[int | None, typer.Option(
            help="stop after N epochs without a new lowest val loss (default: whole budget)")
        ] = None,
        workers: Annotated[int, typer.Option(help="DataLoader workers")] = 0,
    ) -> None:
        """Train ~SECONDS on CPU, keep the checkpoint with the lowest val loss (early-stopping
        model selection) and restore it; print the per-epoch loss table, the selected epoch's
        val loss vs the predict-the-train-mean baseline and that checkpoint's TEST loss vs the
        test baseline (the unbiased check). Exit 0 either way."""
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            ui.err().print("[red]error[/]: train-smoke needs torch: "
                           "pip install torch==2.13.0 && pip install -e '.[torch]'")
            raise typer.Exit(2) from exc
        from rich.progress import BarColumn, Progress, TimeElapsedColumn

        check_number("--seconds", seconds, lo=0, hi=10**7, lo_open=True)
        check_number("--seed", seed, lo=0, hi=2**32 - 1)
        check_number("--max-epochs", max_epochs, lo=1, hi=10**7)
        check_number("--patience", patience, lo=1, hi=10**7)
        check_number("--workers", workers, lo=0, hi=256)
        require_dataset(dataset)
        consume_guard([dataset], "train-smoke")  # nothing verify would fail is trained on

        from motionpair.consumers.smoke import run_smoke

        con = ui.out()
        budget = f"{max_epochs} epochs" if max_epochs else f"{seconds:g} s"
        con.print(f"training from {dataset} for {budget} (seed {seed})", markup=False,
                  highlight=False)
        # one line per epoch only with --verbose; otherwise a progress line on stderr and
        # the compact table (every Nth epoch + the selected one) at the end
        with Progress("{task.description}", BarColumn(), TimeElapsedColumn(),
                      console=ui.info(), transient=True,
                      disable=ui.STATE.quiet or not ui.info().is_terminal) as prog:
            task = prog.add_task("training", total=max_epochs or seconds)

            def on_epoch(e: dict) -> None:
                prog.update(task, completed=e["epoch"] if max_epochs else e["elapsed_s"],
                            description=f"epoch {e['epoch']}, val {e['val']:.4f}")
                ui.detail(f"  epoch {e['epoch']:3d}  train {e['train']:.4f}  "
                          f"val {e['val']:.4f}  {e['elapsed_s']:.1f} s"
                          + ("  (best so far)" if e["best"] else ""))

            try:
                res = run_smoke(dataset, seconds=seconds, target=target, channels=channels,
                                seed=seed, max_epochs=max_epochs, patience=patience,
                                workers=workers, on_epoch=on_epoch)
            except (ValueError, FileNotFoundError) as exc:
                ui.error(str(exc))
                raise typer.Exit(2) from exc
        con.print(loss_table(res))
        n = len(res.epochs)
        why = (f"early stop: {res.patience} epochs without improvement" if res.stopped_early
               else "whole budget")
        con.print(f"target: {res.target}\ninput: {res.input}\nmodel: {res.model} "
                  f"({res.params} parameters); {res.n_train} train / {res.n_val} val / "
                  f"{res.n_test} test windows\n"
                  f"{n} epochs in {res.seconds:.1f} s ({why}); selected epoch "
                  f"{res.selected_epoch} (lowest val loss), restored: val re-evaluated "
                  f"{res.val_restored:.4f}; last epoch val {res.epochs[-1]['val']:.4f}")
        con.print(f"verdict: {res.verdict_val}\nverdict: {res.verdict_test}")


def loss_table(res: SmokeResult) -> Table:
    """Per-epoch train/val MSE beside the constant baseline (every epoch when few, else ~12
    rows plus the selected and the last epoch)."""
    t = Table(title="train-smoke: MSE in train-std units", box=box.SIMPLE_HEAD)
    for col in ("epoch", "train", "val", "val baseline (train mean)", "val < baseline",
                "selected"):
        t.add_column(col, justify="right")
    n = len(res.epochs)
    step = max(1, n // 12)
    for e in res.epochs:
        k = e["epoch"]
        if (k - 1) % step == 0 or k in (n, res.selected_epoch):
            t.add_row(str(k), f"{e['train']:.4f}", f"{e['val']:.4f}",
                      f"{res.baseline_val:.4f}", "yes" if e["val"] < res.baseline_val else "no",
                      "<- selected" if k == res.selected_epoch else "")
    return t
