"""``motionpair train``: FlowGenerator1Step on one or more built datasets (torch extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from motionpair import ui


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        datasets: Annotated[list[Path], typer.Argument(help="built dataset folder(s)")],
        out: Annotated[Path, typer.Option("--out", help="run folder")],
        cond: Annotated[str, typer.Option(
            help="music features: auto (baseline35 when every dataset has it, else mel) | "
                 "baseline35 | mel")] = "auto",
        steps: Annotated[int, typer.Option(help="optimiser steps")] = 3000,
        max_minutes: Annotated[float, typer.Option(help="wall-time cap (minutes)")] = 20.0,
        batch: Annotated[int, typer.Option(help="windows per step")] = 32,
        width: Annotated[int, typer.Option(help="transformer width")] = 128,
        layers: Annotated[int, typer.Option(help="transformer blocks")] = 3,
        heads: Annotated[int, typer.Option(help="attention heads")] = 4,
        lr: Annotated[float, typer.Option(help="peak learning rate (AdamW)")] = 3e-4,
        seed: Annotated[int, typer.Option(help="seed (weights, batches, noise)")] = 0,
        jitter_frames: Annotated[int, typer.Option(
            help="time-jitter augmentation of window starts (frames, <= hop)")] = 15,
        val_every: Annotated[int, typer.Option(help="val MSE every N steps")] = 200,
        ckpt_every: Annotated[int, typer.Option(help="checkpoint every N steps")] = 200,
        device: Annotated[str, typer.Option(
            help="auto (CUDA, then MPS, then CPU) | cpu | cuda | mps")] = "auto",
        threads: Annotated[int, typer.Option(
            help="torch CPU threads (0 = torch default; 1 on a busy shared machine)")] = 0,
        pred: Annotated[str, typer.Option(
            help="network output: x (clean window, default) | u (average velocity)")] = "x",
        arch: Annotated[str, typer.Option(
            help="network: conv (seamless, default) | patch (the pre-issue-19 network)")]
        = "conv",
        ratio_full: Annotated[float, typer.Option(
            help="share of each batch on the one-step interval r=0, t=1 (0: the one-step "
                 "map comes from --distill-steps)")] = 0.0,
        clean_losses: Annotated[bool, typer.Option(
            "--clean-losses/--no-clean-losses",
            help="velocity / bone-length / foot-contact losses on the clean window")] = True,
        distill_steps: Annotated[int, typer.Option(
            help="after training, distil the N-step sampler into the one-step map for this "
                 "many steps (model/distill.py; 0 = off: it adds ~13 CPU-min for 400 steps; "
                 "docs/model.md)")] = 0,
        distill_pairs: Annotated[int, typer.Option(
            help="(music window, noise) pairs the teacher samples for distillation")] = 512,
        resume: Annotated[bool, typer.Option("--resume", help="continue RUN/last.pt")]
        = False,
    ) -> None:
        """Train the one-step MeanFlow generator of 5 s pose windows from music; writes
        RUN/config.json, metrics.csv, last.pt (with optimiser state) and model.pt."""
        err = Console(stderr=True)
        ui.require_torch("train")
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from motionpair.model.train import TrainConfig
        from motionpair.model.train import train as do_train

        cfg = TrainConfig(datasets=[str(d) for d in datasets], cond=cond, steps=steps,
                          max_minutes=max_minutes, batch=batch, width=width, layers=layers,
                          heads=heads, lr=lr, seed=seed, jitter_frames=jitter_frames,
                          val_every=val_every, ckpt_every=ckpt_every, device=device,
                          threads=threads, pred=pred, arch=arch, ratio_full=ratio_full,
                          clean_losses=clean_losses)
        con = Console()
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} steps"), TimeElapsedColumn(),
                      TextColumn("ETA"), TimeRemainingColumn(), console=err,
                      disable=ui.STATE.quiet or not err.is_terminal) as prog:
            task = prog.add_task("training", total=steps)

            def on_step(row: dict) -> None:
                val = f" val {row['val_mse']}" if row["val_mse"] else ""
                prog.update(task, completed=row["step"],
                            description=f"loss {row['loss']} mse {row['mse']}{val}")
                if row["val_mse"]:
                    prog.console.print(f"step {row['step']}: mse {row['mse']} val "
                                       f"{row['val_mse']} ({row['elapsed_s']} s)")

            try:
                res = do_train(cfg, out, resume=resume, on_step=on_step)
            except (ValueError, FileNotFoundError, FileExistsError) as exc:
                err.print(f"[red]error[/]: {exc}")
                raise typer.Exit(2) from exc
        if distill_steps > 0:
            from motionpair.model.distill import distill

            try:
                d = distill(out, steps=distill_steps, pairs=distill_pairs, seed=seed)
            except (ValueError, FileExistsError) as exc:
                err.print(f"[red]error[/]: {exc}")
                raise typer.Exit(2) from exc
            con.print(f"distilled {d['steps']} steps on {d['pairs']} teacher pairs "
                      f"({d['teacher_steps']}-step samples) in {d['elapsed_s']:.0f} s: "
                      f"model.pt is the one-step student, teacher.pt the MeanFlow model")
        con.print(f"trained {res['step']} steps in {res['elapsed_s']:.0f} s on {res['device']} "
                  f"({res['params']:,} parameters; stopped by {res['stopped']}); "
                  f"wrote {out}/model.pt (EMA of step {res['selected']['step']}, "
                  f"val MSE {res['selected']['val_mse']})")
