"""The ``motionpair`` command line (typer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Pair music features with dance motion into reproducible datasets.")
out_console = Console(width=140) if not Console().is_terminal else Console()
err = Console(stderr=True)


def _numbers(text: str, what: str, n: int) -> tuple[float, ...]:
    """``n`` comma-separated numbers of option ``what``, or a usage error naming it."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != n:
        raise typer.BadParameter(f"{what} takes {n} comma-separated numbers, got {text!r}")
    return parts


def scan_table(inv_dict: dict) -> Table:
    problems: dict[str, list[str]] = {}
    for p in inv_dict["problems"]:
        problems.setdefault(p.get("session") or p["path"], []).append(p["reason"])
    t = Table(title="motionpair scan", show_lines=False)
    for col in ("source", "session", "style", "status", "audio s", "motion frames",
                "song span s", "problem"):
        t.add_column(col, overflow="fold")
    for u in inv_dict["units"]:
        status = "paired" if u.get("paired") else (
            "incomplete" if any("missing" in r for r in problems.get(u["session"], []))
            else "bad")
        t.add_row(u["source"], u["session"], u.get("style", ""), status,
                  _num(u.get("audio_duration_s")), str(u.get("skeleton_frames", "")),
                  _num(u.get("song_span_s")),
                  "; ".join(r.split(" (looked")[0] for r in problems.get(u["session"], [])))
    return t


def _num(x) -> str:
    return "" if x is None else f"{x:.1f}"


@app.command()
def scan(paths: Annotated[list[Path] | None, typer.Argument(
        help="folders to scan (default: the MotionMix locations)")] = None,
         json_out: Annotated[Path | None, typer.Option("--json", help="write inventory JSON")]
         = None) -> None:
    """Discover inputs, print what pairs and what does not (exit 0 even with bad inputs)."""
    from motionpair.sources import scan as do_scan
    from motionpair.sources.motionmix_locations import locations_report, report_lines, unit_notes

    if not paths:  # no arguments: report the MotionMix default locations, scan what exists
        rep = locations_report()
        for line in report_lines(rep):
            out_console.print(line, markup=False, highlight=False)
        if not rep["scan_paths"]:
            if json_out:
                json_out.write_text(json.dumps({"locations": rep}, indent=2) + "\n",
                                    encoding="utf-8")
            return
        paths = [Path(p) for p in rep["scan_paths"]]
    inv = do_scan(paths).to_dict()
    out_console.print(scan_table(inv))
    for p in inv["problems"]:
        out_console.print(f"[yellow]{p['kind']}[/]: {p['reason']}")
    for line in unit_notes(inv["units"]):
        out_console.print(line, markup=False, highlight=False)
    tot = inv["totals"]
    out_console.print(f"units {tot['units']}, paired {tot['paired']}, incomplete "
                      f"{tot['incomplete']}, bad {tot['bad']}, refused {tot.get('refused', 0)}; "
                      f"audio {tot['audio_s'] / 60:.1f} "
                      f"min, danced song time {tot['song_span_s'] / 60:.1f} min")
    if json_out:
        json_out.write_text(json.dumps(inv, indent=2) + "\n", encoding="utf-8")


@app.command()
def build(
    paths: Annotated[list[Path], typer.Argument(help="input folders")],
    out: Annotated[Path, typer.Option("--out", help="dataset folder to (re)publish")],
    fps: Annotated[float, typer.Option(help="output frame rate; sr/fps must be whole")] = 30.0,
    sr: Annotated[int, typer.Option("--sr", help="audio analysis sample rate (Hz)")] = 22050,
    n_mels: Annotated[int, typer.Option(help="mel bands")] = 128,
    window_s: Annotated[float, typer.Option(help="window length (s)")] = 5.0,
    hop_s: Annotated[float, typer.Option(help="window hop (s)")] = 1.0,
    seed: Annotated[int, typer.Option(help="split seed")] = 0,
    split_ratios: Annotated[str, typer.Option(help="train,val,test shares of sessions")]
    = "0.8,0.1,0.1",
    clock: Annotated[str, typer.Option(help="clock map: default | linear | beatwise")]
    = "default",
    max_gap_s: Annotated[float | None, typer.Option(help="never interpolate across longer gaps")]
    = None,
    window_beats: Annotated[int | None, typer.Option(
        help="beat-synchronous windows of N music beats (instead of --window-s)")] = None,
    hop_beats: Annotated[int, typer.Option(help="hop between beat windows, in beats")] = 1,
    frames_per_beat: Annotated[int, typer.Option(help="tempo-normalised frames per beat")]
    = 16,
    on_downbeats: Annotated[bool, typer.Option(help="start beat windows on downbeats")]
    = False,
    workers: Annotated[int | None, typer.Option(help="parallel workers (default: cores)")] = None,
    cache: Annotated[Path | None, typer.Option(help="cache folder (default ~/.cache/motionpair)")]
    = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="bypass the cache")] = False,
    strict: Annotated[bool, typer.Option(help="fail (non-zero) on any input problem")] = False,
    pairing: Annotated[str, typer.Option(
        help="sparse streams (MotionMix): auto | snapshot | sequence")] = "auto",
    cameras: Annotated[str, typer.Option(
        help="MotionMix cameras: separate streams | fused (per joint highest confidence)")]
    = "separate",
    split_by: Annotated[str, typer.Option(help="session | time-block (inside sessions)")]
    = "session",
    context_s: Annotated[str, typer.Option(
        help="snapshot pairing: audio seconds before,after each snapshot")] = "4,1",
) -> None:
    """Build a paired dataset (manifest, shards, splits, preview) at --out."""
    from rich.progress import Progress

    from motionpair.config import BuildConfig
    from motionpair.dataset import BuildError
    from motionpair.dataset import build as do_build

    try:
        cfg = BuildConfig(fps=fps, sr_hz=sr, n_mels=n_mels, window_s=window_s, hop_s=hop_s,
                          seed=seed, split_ratios=_numbers(split_ratios, "--split-ratios", 3),
                          clock=clock,
                          max_gap_s=max_gap_s, window_beats=window_beats, hop_beats=hop_beats,
                          frames_per_beat=frames_per_beat, pairing=pairing, cameras=cameras,
                          split_by=split_by, context_s=_numbers(context_s, "--context-s", 2),
                          ).validate()
        if on_downbeats:
            raise ValueError("--on-downbeats: no source here publishes downbeats and motionpair "
                             "does not estimate them yet; use --window-beats alone")
    except ValueError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from exc
    cache_dir = False if no_cache else (cache or True)
    with Progress(console=err, transient=True) as prog:
        task = prog.add_task("pairing", total=None)
        try:
            summary = do_build(paths, out, cfg, workers=workers, cache_dir=cache_dir,
                               strict=strict,
                               progress=lambda spec: prog.advance(task))
        except BuildError as exc:
            from rich.markup import escape

            err.print(f"[red]build failed[/]: {escape(str(exc))}", soft_wrap=True)  # one line
            raise typer.Exit(1) from exc
    for p in summary.problems:
        err.print(f"[yellow]{p.kind}[/]: {p.reason}")
    if "warning" in summary.split_info:
        err.print(f"[yellow]split[/]: {summary.split_info['warning']}")
    from motionpair.sources.motionmix_locations import unit_notes

    for line in unit_notes(summary.inventory.units):
        err.print(line, markup=False, highlight=False)
    c = summary.cache
    out_console.print(
        f"wrote {summary.out}: {len(summary.rows)} windows "
        f"{summary.split_info['windows']} from {len(summary.inventory.pairs)} pairs; "
        f"{len(summary.problems)} input problem(s); {c.get('text', '')} "
        f"(cache {c['hits']} hit(s), {c['misses']} miss(es)); "
        f"{summary.timings_s['total_s']:.1f} s")


@app.command()
def preview(dataset: Annotated[Path, typer.Argument(help="built dataset folder")],
            id: Annotated[str | None, typer.Option("--id", help="window id")] = None,
            out: Annotated[Path | None, typer.Option("--out", help="PNG path")] = None) -> None:
    """Draw one paired window as a PNG."""
    from motionpair.preview import draw_window

    target = out or Path(f"preview-{(id or 'sample').replace('/', '_')}.png")
    try:
        path = draw_window(dataset, id, target)
    except (KeyError, FileNotFoundError) as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from exc
    out_console.print(f"wrote {path}")


@app.command()
def verify(dataset: Annotated[Path, typer.Argument(help="built dataset folder")]) -> None:
    """Check a built dataset; exit 1 naming every failure."""
    from motionpair.verify import verify as do_verify

    fails, stats = do_verify(dataset)
    for f in fails:
        err.print(f"[red]FAIL[/] {f}")
    if fails:
        raise typer.Exit(1)
    out_console.print(f"ok: {stats}")


def _register_commands() -> None:
    import importlib
    import pkgutil

    from motionpair import commands

    for mod in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"motionpair.commands.{mod}").register(app)


_register_commands()


def main() -> None:
    from motionpair import numba_cache

    numba_cache.configure()  # before anything imports numba (see motionpair.numba_cache)
    app()
