"""``motionpair capture`` (+ ``capture-preview``, ``capture-evidence``): video → sessions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from motionpair import ui
from motionpair.commands._shared import (
    check_number,
    probe_out,
    require_path,
    require_paths,
    usage_error,
)

#: A sync peak less than this far above the best other lag is flagged (beats repeat).
LOW_SYNC_RATIO = 1.2


def _rate(text: str) -> float | None:
    if text == "full":
        return None
    try:
        r = float(text)
    except ValueError:
        r = -1.0
    if not 0 < r <= 1000:
        raise typer.BadParameter(f"--rate-hz takes a number in (0, 1000] or 'full', got {text!r}")
    return r


@contextlib.contextmanager
def _pose_engine(kind: str, address: str | None, err: Console) -> Iterator[Any]:
    """None (estimate here) or the ``remote_pose`` of Ray actors holding the model: one
    per GPU share when the cluster has GPUs, else one per CPU."""
    if kind != "ray":
        yield None
        return
    from motionpair.capture.remote import PoseWorker, ray_estimator
    from motionpair.engines.ray_engine import RayEngine, TaskLostError

    try:
        with RayEngine(address) as eng:
            res = eng.cluster()
            n = max(1, int(res.get("CPU", 1)))
            gpus = float(res.get("GPU", 0))
            err.print(f"Ray cluster: {n} CPU(s), {gpus:g} GPU(s): {n} pose actor(s)")
            with eng.actors(PoseWorker, n, num_cpus=1, num_gpus=gpus / n if gpus else 0
                            ) as pool:
                yield ray_estimator(pool)
    except TaskLostError as exc:
        err.print(f"[red]capture failed[/]: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    @app.command("capture")
    def capture(
        videos: Annotated[list[Path], typer.Argument(help="video files (with their own audio)")],
        out: Annotated[Path, typer.Option("--out", help="capture root: audio/ and sessions/")],
        rate_hz: Annotated[str, typer.Option(
            "--rate-hz", help="snapshots per second: 1 (LiveDirector-like) or 'full'")] = "full",
        same_performance: Annotated[bool, typer.Option(
            help="the videos film one performance: one session, one camera per video, "
                 "offsets from the audio")] = False,
        fps: Annotated[float, typer.Option(help="feature frame rate of the playlist")] = 30.0,
        sr: Annotated[int, typer.Option("--sr", help="audio analysis sample rate (Hz)")] = 22050,
        n_mels: Annotated[int, typer.Option(help="mel bands")] = 128,
        cache: Annotated[Path | None, typer.Option(help="cache folder (default: the build's)")]
        = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="bypass the cache")] = False,
        engine: Annotated[str, typer.Option(
            help="where pose is estimated: local (this process), ray (actors on a Ray "
                 "cluster holding the model; videos read by path on the nodes), auto (ray "
                 "when $RAY_ADDRESS is set)")] = "local",
        address: Annotated[str | None, typer.Option(
            metavar="HOST:PORT", help="Ray cluster address (--engine ray/auto)")] = None,
    ) -> None:
        """Estimate pose in videos and write LiveDirector sessions + one-track playlists."""
        from rich.progress import Progress, TaskID

        from motionpair import outputs
        from motionpair.cache import Cache, default_cache_dir
        from motionpair.capture import pose
        from motionpair.capture.session import CaptureConfig
        from motionpair.capture.session import capture as do_capture
        from motionpair.commands._shared import out_guard
        from motionpair.engines import require_ray, resolve

        check_number("--fps", fps, lo=0, hi=1000, lo_open=True)
        check_number("--sr", sr, lo=1000, hi=384_000)
        check_number("--n-mels", n_mels, lo=1, hi=1024)
        require_paths(videos, "VIDEO", folder=False)
        probe_out(out, inputs=videos)
        with out_guard("capture"):  # new, empty or an earlier capture root; not around inputs
            outputs.check_out(out, "capture", inputs=videos)
            outputs.check_cache(None if no_cache else cache, inputs=videos, outputs=[out])
        con, err = ui.out(), ui.err()
        try:
            cfg = CaptureConfig(rate_hz=_rate(rate_hz), fps=fps, sr_hz=sr, n_mels=n_mels)
            info = pose.estimator_info()
            kind, ray_address = resolve(engine, address)
            require_ray(kind)
        except (pose.EstimatorUnavailableError, ValueError) as exc:
            err.print(f"[red]error[/]: {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from exc
        err.print(f"estimator: {info['name']} {info['package']} {info['version']}, model "
                  f"{info['model']} (sha256 {info['model_sha256'][:12]}…)")
        store = Cache(None if no_cache else (cache or default_cache_dir()))
        with Progress(console=err, transient=True,
                      disable=ui.STATE.quiet or not err.is_terminal) as prog:
            tasks: dict[str, TaskID] = {}

            def on_frames(name: str, done: int, total: int, seconds: float) -> None:
                if name not in tasks:
                    tasks[name] = prog.add_task(name, total=total)
                rate = done / seconds if seconds > 0 else 0.0
                eta = (total - done) / rate if rate > 0 else float("nan")
                prog.update(tasks[name], completed=done,
                            description=f"{name}: {done}/{total} frames, {rate:.1f} frames/s, "
                                        f"ETA {eta:.0f} s")

            with out_guard("capture"), outputs.claimed(out, "capture", inputs=videos), \
                    _pose_engine(kind, ray_address, err) as remote_pose:
                res = do_capture(videos, out, cfg, store, same_performance=same_performance,
                                 on_frames=on_frames, remote_pose=remote_pose)
        for name, c in res.cameras.items():
            run = c["run"]
            speed = (f"{run['estimated'] / run['estimator_s']:.1f} frames/s"
                     if run["estimated"] else "all from cache")
            drop = c.get("first_frame_after_drop")
            drop_txt = (f"; {c['dropped_frames']} dropped frame(s): frame {drop['index']} has "
                        f"PTS {drop['pts']} = {drop['time_s']:.3f} s (index/fps would say "
                        f"{drop['index_over_fps_s']:.3f} s)" if drop else "; no dropped frame")
            sync = c["sync"]
            sync_txt = "" if sync.get("reference") else (
                f"; offset {sync['offset_s']:+.4f} s (r {sync['correlation']:.2f}, peak ratio "
                f"{sync['peak_ratio']}"
                + (", LOW CONFIDENCE: check it" if (sync["peak_ratio"] or 0) < LOW_SYNC_RATIO
                   else "") + ")")
            con.print(f"{name}: {c['frames_decoded']} frames decoded, {c['frames_estimated']} "
                      f"estimated, {c['frames_detected']} with a detection, "
                      f"{c['frames_missing']} missing{drop_txt}; estimator {speed} "
                      f"({run['from_cache']} from cache){sync_txt} → {c['session']}",
                      markup=False, highlight=False, soft_wrap=True)
        for p in res.problems:
            err.print(f"[yellow]{p.kind}[/]: {escape(p.reason)}", highlight=False,
                      soft_wrap=True)
        con.print(f"wrote {len(res.sessions)} session(s), {len(res.playlists)} playlist(s) under "
                  f"{out}; {len(res.problems)} problem(s)")
        if not res.sessions:
            raise typer.Exit(1)

    @app.command("capture-preview")
    def capture_preview(
        session: Annotated[Path, typer.Argument(help="a captured session folder")],
        video: Annotated[Path, typer.Argument(help="the video it was captured from")],
        out: Annotated[Path, typer.Option("--out", help="PNG path")],
        camera: Annotated[str | None, typer.Option(help="camera (default: the first)")] = None,
        time_s: Annotated[float | None, typer.Option(
            "--time-s", help="snapshot nearest this camera time (default: the middle one)")]
        = None,
    ) -> None:
        """Draw a captured skeleton over the video frame it came from."""
        from motionpair.capture.overlay import overlay

        check_number("--time-s", time_s, lo=0, hi=10**7)
        require_path(session, "SESSION", folder=True)
        require_path(video, "VIDEO", folder=False)
        probe_out(out.parent, "--out's folder")

        try:
            facts = overlay(session, video, out, camera=camera, time_s=time_s)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            ui.err().print(f"[red]error[/]: {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from exc
        ui.out().print(f"wrote {out}: {json.dumps(facts)}", markup=False, highlight=False,
                        soft_wrap=True)

    @app.command("capture-evidence")
    def capture_evidence(
        paths: Annotated[list[Path], typer.Argument(help="capture roots (full-rate sessions)")],
        json_out: Annotated[Path | None, typer.Option("--json", help="write the records")]
        = None,
        fps: Annotated[float, typer.Option(help="feature frame rate (as the build)")] = 30.0,
    ) -> None:
        """Alignment evidence (BAS vs nulls, offset estimate) for captured dense pairs."""
        from motionpair import outputs
        from motionpair.cache import Cache, default_cache_dir
        from motionpair.capture.evidence import capture_evidence as do_evidence
        from motionpair.capture.evidence import evidence_line
        from motionpair.commands._shared import out_guard
        from motionpair.config import BuildConfig

        check_number("--fps", fps, lo=0, hi=1000, lo_open=True)
        require_paths(paths, "FOLDER", folder=True)
        try:
            cfg = BuildConfig(fps=fps).validate()
        except ValueError as exc:
            raise usage_error(str(exc)) from exc
        with out_guard("capture-evidence"):
            outputs.check_file_out(json_out, inputs=paths)
        block = do_evidence(paths, cfg, Cache(default_cache_dir()))
        con = ui.out()
        for pid, rec in block["pairs"].items():
            con.print(evidence_line(pid, rec), markup=False, highlight=False, soft_wrap=True)
        for pid, why in block["skipped"].items():  # one line each, also with -q
            ui.err().print(f"{pid}: skipped: {why}", markup=False, highlight=False,
                           soft_wrap=True)
        if json_out:
            json_out.write_text(json.dumps(block, indent=2) + "\n", encoding="utf-8",
                                errors="backslashreplace")
        if not block["pairs"]:  # like align: nothing to score is an input problem
            ui.error("no captured dense pair to score in " + ", ".join(map(str, paths)))
            raise typer.Exit(1)
