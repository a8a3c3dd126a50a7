"""``motionpair generate``: a whole-song dance from a run: arrays, MP4 with music, PNG strip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    check_device,
    check_number,
    describe_exception,
    probe_out,
    require_path,
    require_run,
)


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        run: Annotated[Path, typer.Argument(help="run folder written by motionpair train")],
        audio: Annotated[Path, typer.Argument(help="song (any format soundfile decodes)")],
        out: Annotated[Path, typer.Option("--out", help="output folder")],
        steps: Annotated[int, typer.Option(help="sampling steps (1 = one-step)")] = 1,
        seed: Annotated[int, typer.Option(help="noise seed")] = 0,
        guidance: Annotated[float | None, typer.Option(
            help="classifier-free guidance weight (default: the run's train.guidance, 1 for "
                 "a distilled run; 1 = none)")] = None,
        video: Annotated[bool, typer.Option(help="write dance.mp4")] = True,
        max_video_s: Annotated[float | None, typer.Option(
            help="cut the MP4 after this many seconds (default: whole song)")] = None,
        device: Annotated[str, typer.Option(help="cpu | cuda | mps")] = "cpu",
    ) -> None:
        """Dance to AUDIO from start to end (5 s windows at a 2.5 s hop, cross-faded in the
        model's representation: no seam), streamed: memory does not grow with the song's
        length. Writes motion.npy, music_beat.npy, generate.json, strip.png, dance.mp4."""
        err = ui.err()
        ui.require_torch("generate")
        check_number("--steps", steps, lo=1, hi=1000)
        check_number("--seed", seed, lo=0, hi=2**32 - 1)
        check_number("--guidance", guidance, lo=0, hi=100)
        check_number("--max-video-s", max_video_s, lo=0, hi=10**7, lo_open=True)
        check_device(device, auto=False)
        from motionpair import outputs
        from motionpair.commands._shared import out_guard
        from motionpair.model.generate import generate_to
        from motionpair.outputs import claimed

        with out_guard("generate"):  # a foreign --out is refused first, whatever the inputs
            outputs.check_out(out, "generate", inputs=[run, audio])
        require_run(run)
        require_path(audio, "AUDIO", folder=False)  # "not found" said as such, exit 2
        probe_out(out, inputs=[run, audio])
        last: dict[str, int] = {}

        def progress(what: str, k: int, n: int) -> None:
            pct = 100 * k // max(n, 1)
            if pct // 10 != last.get(what, -1):
                last[what] = pct // 10
                ui.info().print(f"{what}: {k}/{n} ({pct} %)", markup=False, highlight=False)

        try:
            # --out is new, empty or an earlier generate's: same-named files of others are
            # never overwritten
            with out_guard("generate"), claimed(out, "generate", inputs=[run, audio]):
                res = generate_to(run, audio, out, steps=steps, seed=seed, device=device,
                                  video=video, max_video_s=max_video_s, progress=progress,
                                  guidance=guidance)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            err.print(f"error: {describe_exception(exc)}", markup=False, highlight=False,
                      soft_wrap=True)
            raise typer.Exit(2) from exc
        n = res["frames"]
        ui.out().print(f"generated {n} frames ({n / float(res['fps']):.1f} s, "
                       f"{len(res['windows'])} windows, {steps} step(s)); wrote "
                       + ", ".join(res["files"].values()), markup=False, highlight=False)
