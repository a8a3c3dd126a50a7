"""``motionpair prep-audio``: MotionMix-style NPZ + playlist manifest from raw audio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motionpair import ui
from motionpair.commands._shared import (
    check_number,
    probe_out,
    require_paths,
)


def register(app: typer.Typer) -> None:
    @app.command("prep-audio")
    def prep_audio(
        audio_dirs: Annotated[list[Path], typer.Argument(
            metavar="AUDIO_DIR", file_okay=False,
            help="audio folders, one playlist each (folders, not audio files)")],
        out: Annotated[Path, typer.Option("--out", metavar="DIR", file_okay=False,
                                          help="folder to write playlists into")],
        fps: Annotated[float, typer.Option(help="feature frame rate; sr/fps must be whole")] = 30.0,
        sr: Annotated[int, typer.Option("--sr", help="analysis sample rate (Hz)")] = 22050,
        n_mels: Annotated[int, typer.Option(help="mel bands")] = 128,
    ) -> None:
        """Write one NPZ of features per track and a manifest.json per playlist."""
        from motionpair import outputs
        from motionpair.build.prep_audio import prep_playlist
        from motionpair.commands._shared import out_guard

        check_number("--fps", fps, lo=0, hi=1000, lo_open=True)
        check_number("--sr", sr, lo=1000, hi=384_000)
        check_number("--n-mels", n_mels, lo=1, hi=1024)
        require_paths(audio_dirs, "AUDIO_DIR", folder=True)
        probe_out(out, inputs=audio_dirs)
        con = ui.info()
        # --out (e.g. a MotionMix root's audio/) may hold other playlists; each playlist
        # folder written, OUT/<name>, must be new, empty or an earlier prep-audio's
        with out_guard("prep-audio"):
            outputs.check_place(out, inputs=audio_dirs)
            for d in audio_dirs:
                outputs.check_out(out / d.name, "prep-audio", inputs=audio_dirs)
        prepared = 0
        for d in audio_dirs:
            try:
                with out_guard("prep-audio"), outputs.claimed(out / d.name, "prep-audio",
                                                              inputs=audio_dirs):
                    m = prep_playlist(d, out, fps=fps, sr_hz=sr, n_mels=n_mels,
                                      progress=lambda p: con.print(f"  prepared {p}"))
            except ValueError as exc:
                ui.error(str(exc))
                raise typer.Exit(2) from exc
            for p in m["problems"]:  # one line each, also with -q
                ui.err().print(f"skipped {p['reason']}", markup=False, highlight=False,
                               soft_wrap=True)
            prepared += len(m["tracks"])
            ui.out().print(f"{out / d.name}: {len(m['tracks'])} track(s), "
                           f"{sum(t['duration_s'] for t in m['tracks']) / 60:.1f} min, "
                           f"sr {m['sr']} Hz, hop {m['hop_length']}", markup=False,
                           highlight=False, soft_wrap=True)
        if not prepared:  # input problems only: nothing a build could use
            ui.error("no track prepared: no decodable audio in " + ", ".join(map(str, audio_dirs)))
            raise typer.Exit(1)
