"""``motionpair generate``: a whole-song dance from a run: arrays, MP4 with music, PNG strip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from motionpair import ui


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        run: Annotated[Path, typer.Argument(help="run folder written by motionpair train")],
        audio: Annotated[Path, typer.Argument(help="song (any format soundfile decodes)")],
        out: Annotated[Path, typer.Option("--out", help="output folder")],
        steps: Annotated[int, typer.Option(help="sampling steps (1 = one-step)")] = 1,
        seed: Annotated[int, typer.Option(help="noise seed")] = 0,
        video: Annotated[bool, typer.Option(help="write dance.mp4")] = True,
        max_video_s: Annotated[float | None, typer.Option(
            help="cut the MP4 after this many seconds (default: whole song)")] = None,
        device: Annotated[str, typer.Option(help="cpu | cuda | mps")] = "cpu",
    ) -> None:
        """Dance to AUDIO from start to end (5 s windows at a 2.5 s hop, cross-faded in the
        model's representation: no seam), streamed: memory does not grow with the song's
        length. Writes motion.npy, music_beat.npy, generate.json, strip.png, dance.mp4."""
        err = Console(stderr=True)
        ui.require_torch("generate")
        from motionpair.model.generate import generate_to

        if steps < 1:
            err.print(f"[red]error[/]: --steps {steps}: at least 1")
            raise typer.Exit(2)
        if max_video_s is not None and not max_video_s > 0:
            err.print(f"[red]error[/]: --max-video-s {max_video_s}: must be a positive number")
            raise typer.Exit(2)
        last: dict[str, int] = {}

        def progress(what: str, k: int, n: int) -> None:
            pct = 100 * k // max(n, 1)
            if pct // 10 != last.get(what, -1):
                last[what] = pct // 10
                err.print(f"{what}: {k}/{n} ({pct} %)", highlight=False)

        try:
            res = generate_to(run, audio, out, steps=steps, seed=seed, device=device,
                              video=video, max_video_s=max_video_s, progress=progress)
        except (ValueError, FileNotFoundError) as exc:
            err.print(f"[red]error[/]: {exc}", highlight=False)
            raise typer.Exit(2) from exc
        n = res["frames"]
        Console().print(f"generated {n} frames ({n / float(res['fps']):.1f} s, "
                        f"{len(res['windows'])} windows, {steps} step(s)); wrote "
                        + ", ".join(res["files"].values()), highlight=False)
