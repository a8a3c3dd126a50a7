"""``motionpair build FOLDER... --out DIR``: the main job, a paired dataset published atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape

from motionpair import ui
from motionpair.commands._shared import (
    EXIT_PROBLEMS,
    EXIT_USAGE,
    JsonOpt,
    _numbers,
    out_guard,
    require_paths,
    require_utf8,
)
from motionpair.ui import Cameras, Clock, Pairing, SplitBy


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build(
        paths: Annotated[list[Path], typer.Argument(metavar="FOLDER", file_okay=False,
                                                    help="input folders")],
        # no file_okay=False: check_out refuses a file in one line, naming why (exit 2)
        out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                          help="dataset folder to (re)publish")],
        fps: Annotated[str, typer.Option(
            help="frame grid: auto (the NPZ playlists' own grid, else 30 for raw audio), a number "
                 "or an exact fraction such as 22050/512")] = "auto",
        sr: Annotated[int, typer.Option("--sr", help="audio analysis sample rate (Hz)")] = 22050,
        n_mels: Annotated[int, typer.Option(help="mel bands")] = 128,
        window_s: Annotated[float, typer.Option(help="window length (s)")] = 5.0,
        hop_s: Annotated[float, typer.Option(help="window hop (s)")] = 1.0,
        window_frames: Annotated[int | None, typer.Option(
            help="window length in frames (exact; instead of --window-s)")] = None,
        hop_frames: Annotated[int | None, typer.Option(
            help="window hop in frames (exact; instead of --hop-s)")] = None,
        seed: Annotated[int, typer.Option(help="split seed")] = 0,
        split_ratios: Annotated[str, typer.Option(help="train,val,test shares of sessions")]
        = "0.8,0.1,0.1",
        clock: Annotated[Clock, typer.Option(help="clock map")] = Clock.default,
        max_gap_s: Annotated[float | None, typer.Option(
            help="never interpolate across longer gaps")] = None,
        window_beats: Annotated[int | None, typer.Option(
            help="beat-synchronous windows of N music beats (instead of --window-s)")] = None,
        hop_beats: Annotated[int, typer.Option(help="hop between beat windows, in beats")] = 1,
        frames_per_beat: Annotated[int, typer.Option(help="tempo-normalised frames per beat")]
        = 16,
        on_downbeats: Annotated[bool, typer.Option(help="start beat windows on downbeats")]
        = False,
        workers: Annotated[int | None, typer.Option(
            help="parallel workers (default: cores)")] = None,
        cache: Annotated[Path | None, typer.Option(
            metavar="DIR", file_okay=False, help="cache folder (default ~/.cache/motionpair)")]
        = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="bypass the cache")] = False,
        strict: Annotated[bool, typer.Option(help="fail (non-zero) on any input problem")] = False,
        pairing: Annotated[Pairing, typer.Option(
            help="sparse streams (MotionMix)")] = Pairing.auto,
        cameras: Annotated[Cameras, typer.Option(
            help="MotionMix cameras: separate streams or fused (per joint highest confidence)")]
        = Cameras.separate,
        split_by: Annotated[SplitBy, typer.Option(help="split whole sessions or time blocks "
                                                  "inside sessions")] = SplitBy.session,
        context_s: Annotated[str, typer.Option(
            help="snapshot pairing: audio seconds before,after each snapshot")] = "4,1",
        splits: Annotated[Path | None, typer.Option(
            "--splits", metavar="FILE", dir_okay=False,
            help="pin each session's split: lines '<session> train|validation|test' (or a JSON "
                 "object), as AIST++'s split lists")] = None,
        stratify: Annotated[str | None, typer.Option(
            metavar="style", help="split sessions inside each dance style (every style with "
                                  "enough sessions in every split)")] = None,
        wait: Annotated[bool, typer.Option(
            "--wait", help="if another build is writing --out, wait for it instead of refusing")]
        = False,
        json_out: JsonOpt = None,
        engine: Annotated[str, typer.Option(
            help="where pairs run: local (process pool), ray (a Ray cluster: --address, else "
                 "$RAY_ADDRESS, else a Ray instance on this machine), auto (ray when "
                 "$RAY_ADDRESS is set)")] = "local",
        address: Annotated[str | None, typer.Option(
            metavar="HOST:PORT", help="Ray cluster address (--engine ray/auto)")] = None,
        ship_inputs: Annotated[bool, typer.Option(
            "--ship-inputs", help="--engine ray: send each pair's files through Ray's object "
                                  "store instead of reading them by path on the nodes")]
        = False,
    ) -> None:
        """Build a paired dataset (manifest, shards, splits, dataset card, preview) at --out."""
        from motionpair.build.dataset import BuildError, Engine
        from motionpair.build.dataset import build as do_build
        from motionpair.build.splits import read_split_list
        from motionpair.config import BuildConfig, check_range
        from motionpair.engines import require_ray, resolve

        try:
            cfg = BuildConfig(fps=fps, sr_hz=sr, n_mels=n_mels, window_s=window_s, hop_s=hop_s,
                              window_n_frames=window_frames, hop_n_frames=hop_frames,
                              seed=seed, split_ratios=cast(tuple[float, float, float], _numbers(
                                  split_ratios, "--split-ratios", 3)),
                              clock=clock.value,
                              max_gap_s=max_gap_s, window_beats=window_beats, hop_beats=hop_beats,
                              frames_per_beat=frames_per_beat, pairing=pairing.value,
                              cameras=cameras.value, split_by=split_by.value,
                              context_s=cast(tuple[float, float], _numbers(context_s,
                                                                           "--context-s", 2)),
                              split_list=None if splits is None else read_split_list(splits),
                              stratify=stratify,
                              ).validate()
            check_range("--workers", workers, 1, 4096)
            kind, ray_address = resolve(engine, address)
            if ship_inputs and kind != "ray":
                raise ValueError("--ship-inputs is for --engine ray")
            require_ray(kind)
            if on_downbeats:
                raise ValueError("--on-downbeats: no source here publishes downbeats and "
                                 "motionpair does not estimate them yet; use --window-beats "
                                 "alone")
        except ValueError as exc:
            ui.error(str(exc))
            raise typer.Exit(EXIT_USAGE) from exc
        require_paths(paths, "FOLDER", folder=True)  # not found: exit 2, one line
        require_utf8(out.absolute(), "--out")
        cache_dir = False if no_cache else (cache or True)
        info = ui.info()
        # pairs done/total, audio minutes done/total, ETA (stderr; none off a terminal)
        minutes = ui.TrackMinutes([])
        with out_guard("build"), ui.progress("pairs", minutes=True) as prog:
            from motionpair import outputs

            # before any work: --json and --cache never land in an input or the dataset
            outputs.check_file_out(json_out, inputs=paths, outputs=[out])
            outputs.check_cache(None if no_cache else cache, inputs=paths, outputs=[out])
            task = prog.add_task("pairing", total=None, **minutes.fields())

            def specs_known(specs: list[Any]) -> None:
                nonlocal minutes
                minutes = ui.TrackMinutes((s.track.track_id, s.track.duration_s) for s in specs)
                prog.update(task, **minutes.fields())

            def done(spec: Any) -> None:
                prog.update(task, advance=1, **minutes.finish(spec.track.track_id))
                ui.detail(f"  paired {spec.pair_id}")
                t = prog.tasks[0]
                if t.total is not None and t.completed >= t.total:  # then shards, evidence, PNGs
                    prog.update(task, description="pairing done; writing the dataset")

            try:
                summary = do_build(paths, out, cfg, workers=workers, cache_dir=cache_dir,
                                   strict=strict, wait=wait, progress=done,
                                   on_pairs=lambda n: prog.update(task, total=n),
                                   on_specs=specs_known,
                                   on_step=lambda label: prog.update(
                                       task, description=f"writing: {label}"),
                                   engine=Engine(kind, ray_address, ship_inputs))
            except BuildError as exc:
                ui.err().print(f"[red]build failed[/]: {escape(str(exc))}", highlight=False,
                               soft_wrap=True)  # one line
                for line in _grid_fixes(exc):  # one unwrapped line each: pasteable as printed
                    ui.err().print(line, markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(EXIT_PROBLEMS) from exc
            except OSError as exc:  # e.g. --out's parent not writable: one line, no traceback
                ui.err().print(f"[red]build failed[/]: {exc.strerror or exc} (errno {exc.errno})"
                               + (f": {exc.filename}" if exc.filename else ""), highlight=False)
                raise typer.Exit(EXIT_PROBLEMS) from exc
        for p in summary.problems:  # one line each, also with -q (an input was skipped)
            ui.err().print(f"[yellow]{p.kind}[/]: {escape(p.reason)}", highlight=False,
                           soft_wrap=True)
        from motionpair.build.scan import duplicate_lines

        for line in duplicate_lines(summary.inventory.duplicates):
            info.print(f"[yellow]duplicate[/]: {line}", highlight=False)
        for w in summary.warnings:
            ui.err().print(f"[yellow]warning[/]: {w}", highlight=False)
        if "warning" in summary.split_info:
            info.print(f"[yellow]split[/]: {summary.split_info['warning']}", highlight=False)
        for w in summary.split_info.get("small_splits", []):  # a note: -q hides it
            info.print(f"[yellow]split warning[/]: {escape(w)}", highlight=False)
        from motionpair.sources.motionmix.locations import unit_notes

        for line in unit_notes(summary.inventory.units):
            info.print(line, markup=False, highlight=False)
        for note in summary.notes:
            info.print(f"note: {note}", markup=False, highlight=False)
        doc = build_summary(summary, paths)
        con = ui.results(json_out)
        for line in summary_lines(doc):
            con.print(line, markup=False, highlight=False)
        ui.write_json(doc, json_out)


def build_summary(summary: Any, paths: list[Path]) -> dict[str, Any]:
    """The closing summary of a build (also its ``--json`` result)."""
    from motionpair.build.card import HF_SPLIT

    sample = json.loads((summary.out / "sample.json").read_text(encoding="utf-8"))
    meta = json.loads((summary.out / "dataset.json").read_text(encoding="utf-8"))
    w = sample["window"]
    c = summary.cache
    return {
        "inputs": [str(Path(p).resolve()) for p in paths],
        "out": str(summary.out),
        # pairs in the dataset: a pair that failed mid-build is a problem, not a pair
        "pairs": len({r.shard for r in summary.rows}),
        "windows": len(summary.rows),
        "windows_by_split": {HF_SPLIT.get(k, k): summary.split_info["windows"][k]
                             for k in sorted(summary.split_info["windows"],
                                             key=lambda k: list(HF_SPLIT).index(k)
                                             if k in HF_SPLIT else 9)},
        "problems": [p.to_dict() for p in summary.problems],
        "sample": {"id": w["id"], "split": HF_SPLIT.get(w["split"], w["split"]),
                   "track": w["track"], "track_s": [w["start_s"], w["end_s"]],
                   "motion_s": [w["motion_start_s"], w["motion_end_s"]],
                   "clock_map": w["clock_map"], "shapes": sample["shapes"]},
        "clock_maps": sorted({r.clock_map for r in summary.rows}),
        "assumptions": meta["assumptions"],
        "cache": c, "timings_s": {k: round(v, 3) for k, v in summary.timings_s.items()},
        "dataset_card": str(summary.out / "README.md"),
    }


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """The closing summary as ``key: value`` lines (one concrete sample included)."""
    s = doc["sample"]
    splits = ", ".join(f"{k} {v}" for k, v in doc["windows_by_split"].items())
    shapes = ", ".join(f"{k} {tuple(v)}" for k, v in s["shapes"].items())
    lines = ["motionpair build",
             *[f"  input:       {p}" for p in doc["inputs"]],
             f"  output:      {doc['out']}",
             f"  windows:     {doc['windows']} ({splits}) from {doc['pairs']} pairs; "
             f"{len(doc['problems'])} input problem(s)",
             f"  sample:      {s['id']} [{s['split']}] track {s['track']} "
             f"{s['track_s'][0]:.3f}-{s['track_s'][1]:.3f} s, motion stream "
             f"{s['motion_s'][0]:.3f}-{s['motion_s'][1]:.3f} s ({s['clock_map']} clock map)",
             f"  arrays:      {shapes}",
             f"  clock maps:  {', '.join(doc['clock_maps'])}",
             "  assumptions:"]
    lines += [f"    - {k}" for k in doc["assumptions"]]
    c = doc["cache"]
    lines.append(f"  cache:       {c.get('text', '')} ({c['hits']} hit(s), {c['misses']} "
                 f"miss(es)); {doc['timings_s']['total_s']:.1f} s")
    return lines


def _grid_fixes(exc: BaseException) -> list[str]:
    """Pasteable command lines for a build refused for its grid (this command, --fps/--sr set)."""
    import shlex
    import sys

    from motionpair.build.grid import GridError

    cause = exc.__cause__
    if not isinstance(cause, GridError):
        return []
    argv = list(sys.argv[1:])

    def with_opt(args: list[str], opt: str, value: str) -> list[str]:
        out, skip = [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a == opt:
                skip = True
                continue
            if a.startswith(opt + "="):
                continue
            out.append(a)
        return out + [opt, value]

    cmds = [with_opt(argv, "--fps", f) for f in cause.fix_fps]
    if cause.fix_sr:
        cmds.append(with_opt(argv, "--sr", str(cause.fix_sr)))
    return ["fix: motionpair " + " ".join(shlex.quote(a) for a in c) for c in cmds]
