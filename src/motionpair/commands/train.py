"""``motionpair train``: FlowGenerator1Step on one or more built datasets (torch extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    EXIT_PROBLEMS,
    EXIT_USAGE,
    check_choice,
    check_device,
    check_number,
    checkpoint_problem,
    describe_exception,
    probe_out,
    removed_on_failure,
    require_dataset,
    safe_path,
    usage_error,
)


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
        cond_drop: Annotated[float, typer.Option(
            help="share of windows trained with the music dropped (classifier-free "
                 "guidance needs it)")] = 0.15,
        guidance: Annotated[float, typer.Option(
            help="guidance weight this run samples with (evaluate, generate, the "
                 "distillation teacher); 1 = none")] = 2.0,
        style_aux: Annotated[float, typer.Option(
            help="weight of the auxiliary style target on the pooled music embedding "
                 "(0 = off)")] = 0.1,
        balance_styles: Annotated[bool, typer.Option(
            "--balance-styles/--no-balance-styles",
            help="draw train windows equally per dance style (dataset.json's styles)")] = True,
        distill_steps: Annotated[int, typer.Option(
            help="after training, distil the guided N-step sampler into the one-step map "
                 "for this many steps (model/distill.py; 0 = off; 400 took 123 CPU-s on "
                 "the 27-pair tang2018 build, docs/model.md)")] = 400,
        distill_pairs: Annotated[int, typer.Option(
            help="(music window, noise) pairs the teacher samples for distillation")] = 512,
        resume: Annotated[bool, typer.Option("--resume", help="continue RUN/last.pt")]
        = False,
    ) -> None:
        """Train the one-step MeanFlow generator of 5 s pose windows from music; writes
        RUN/config.json, metrics.csv, last.pt (with optimiser state) and model.pt."""
        ui.require_torch("train")
        # every value checked before the run folder exists: a refusal leaves nothing behind
        check_train_values(steps=steps, max_minutes=max_minutes, batch=batch, width=width,
                           layers=layers, heads=heads, lr=lr, seed=seed,
                           jitter_frames=jitter_frames, val_every=val_every,
                           ckpt_every=ckpt_every, threads=threads, ratio_full=ratio_full,
                           distill_steps=distill_steps, distill_pairs=distill_pairs,
                           cond_drop=cond_drop, guidance=guidance, style_aux=style_aux)
        check_choice("--cond", cond, ("auto", "baseline35", "mel"))
        check_choice("--arch", arch, ("conv", "patch"))
        check_choice("--pred", pred, ("x", "u"))
        check_device(device)
        for d in datasets:
            require_dataset(d)
        probe_out(out, inputs=datasets)
        if resume and (problem := checkpoint_problem(out / "last.pt")):
            ui.error(problem)
            raise typer.Exit(EXIT_PROBLEMS)
        if resume and not (out / "last.pt").is_file():
            raise usage_error(f"--resume: {safe_path(out)} holds no last.pt to continue")
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
                          clean_losses=clean_losses, cond_drop=cond_drop, guidance=guidance,
                          style_aux=style_aux, balance_styles=balance_styles)
        err = ui.info()
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
                                       f"{row['val_mse']} ({row['elapsed_s']} s)",
                                       markup=False, highlight=False)

            from motionpair.commands._shared import consume_guard, out_guard
            from motionpair.outputs import claimed

            consume_guard(datasets, "train")  # nothing verify would fail is trained on
            try:
                # a run folder is new, empty or marked as a run: a user's config.json and
                # metrics.csv are never replaced or appended to; a folder this command
                # created is removed when training fails (nothing left behind)
                with removed_on_failure(out), out_guard("train"), \
                        claimed(out, "run", inputs=datasets):
                    res = do_train(cfg, out, resume=resume, on_step=on_step)
            except (ValueError, KeyError, FileNotFoundError, FileExistsError) as exc:
                # values were checked above: what is left is the data (1) or the run folder (2)
                ui.error(f"train {safe_path(out)}: {describe_exception(exc)}")
                raise typer.Exit(EXIT_USAGE if isinstance(exc, FileExistsError)
                                 else EXIT_PROBLEMS) from exc
        if distill_steps > 0:
            from motionpair.model.distill import distill

            try:
                dist = distill(out, steps=distill_steps, pairs=distill_pairs, seed=seed)
            except (ValueError, KeyError, FileNotFoundError, FileExistsError) as exc:
                ui.error(f"train {safe_path(out)}: distillation: {describe_exception(exc)}")
                raise typer.Exit(EXIT_PROBLEMS) from exc
            ui.out().print(f"distilled {dist['steps']} steps on {dist['pairs']} teacher pairs "
                           f"({dist['teacher_steps']}-step samples) in {dist['elapsed_s']:.0f} s: "
                           "model.pt is the one-step student, teacher.pt the MeanFlow model",
                           markup=False, highlight=False, soft_wrap=True)
        # one unbroken line: never "wrote \nRUN/model.pt" (ui consoles do not wrap off a TTY)
        ui.out().print(f"trained {res['step']} steps in {res['elapsed_s']:.0f} s on "
                       f"{res['device']} ({res['params']:,} parameters; stopped by "
                       f"{res['stopped']}); wrote {safe_path(out / 'model.pt')} (EMA of step "
                       f"{res['selected']['step']}, val MSE {res['selected']['val_mse']})",
                       markup=False, highlight=False, soft_wrap=True)


def check_train_values(**values: float) -> None:
    """Exit 2 naming the first option out of its range (all finite)."""
    bounds = {"steps": (1, 10**9), "max_minutes": (0, 10**7), "batch": (1, 65_536),
              "width": (1, 65_536), "layers": (1, 1024), "heads": (1, 1024),
              "lr": (0, 10.0), "seed": (0, 2**32 - 1), "jitter_frames": (0, 10**6),
              "val_every": (1, 10**9), "ckpt_every": (1, 10**9), "threads": (0, 4096),
              "ratio_full": (0, 1), "distill_steps": (0, 10**9), "distill_pairs": (1, 10**9),
              "cond_drop": (0, 1), "guidance": (0, 100), "style_aux": (0, 100)}
    for key, value in values.items():
        lo, hi = bounds[key]
        check_number("--" + key.replace("_", "-"), value, lo=lo, hi=hi,
                     lo_open=key in ("max_minutes", "lr"))
    if values["width"] % values["heads"]:
        raise usage_error(f"--width {values['width']} must be a multiple of --heads "
                          f"{values['heads']}")
