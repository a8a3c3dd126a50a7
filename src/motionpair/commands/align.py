"""``motionpair align``: alignment evidence per pair (table, alignment.json, one PNG per pair)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from motionpair import ui
from motionpair.commands._shared import check_number, probe_out, require_paths
from motionpair.ui import Clock

if TYPE_CHECKING:
    from motionpair.align.evidence import EvidenceConfig
    from motionpair.config import BuildConfig
    from motionpair.types import Problem


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def evidence_table(block: dict[str, Any]) -> Table:
    """One row per pair: both BAS with their null percentiles, tempo, drift, offset."""
    t = Table(title="motionpair align — BAS percentiles: vs circular shifts / vs other tracks")
    for col in ("session", "pair", "style", "clock", "BAS bailando m→k", "pct", "z",
                "BAS fact k→m", "pct", "z", "bpm implied", "bpm measured", "drift s",
                "offset s", "ratio", "halves Δ s", "passes"):
        t.add_column(col, overflow="fold")
    for pid, r in block["pairs"].items():
        cells = []
        for k in ("bailando", "fact"):
            shift, other = r["null_circular_shift"][k], r["null_other_tracks"][k]
            cells += [_fmt(r["bas"][k]), f"{_fmt(shift['percentile'], '.0f')} / "
                      f"{_fmt(other['percentile'], '.0f')}", _fmt(shift["z"], "+.2f")]
        tp, o = r["tempo"], r["offset"]
        drift = _fmt(tp["drift_end_s"], "+.2f") + (" [red]FLAG[/]" if tp["drift_flag"] else "")
        t.add_row(*_row_names(pid, r), r["style"], r["clock_map"], *cells,
                  _fmt(tp["implied_bpm"], ".1f") + ("" if tp["independent_of_audio"] else "*"),
                  _fmt(tp["measured_bpm"], ".1f"), drift, _fmt(o["best_s"], "+.3f"),
                  _fmt(o["peak_ratio"], ".2f"), _fmt(o["halves_diff_s"], ".2f"),
                  ("[green]yes[/]" if o["passes"] else "no")
                  + (" (applied)" if o.get("applied") else ""))
    return t


def sparse_table(block: dict[str, Any]) -> Table:
    """One row per sparse (snapshot) pair: what is measured, and why BAS/offset are not."""
    t = Table(title="motionpair align — sparse snapshot pairs: measured / not measurable")
    for col in ("session", "pair", "snapshots", "interval s", "beat period s", "interval / beat",
                "inside track", "increasing", "placement ≤ s", "gaps", "longest gap s",
                "BAS / offset / drift"):
        t.add_column(col, overflow="fold")
    for pid, r in block.get("sparse_pairs", {}).items():
        tt, g, m = r["measurable"]["track_time"], r["measurable"]["gaps"], r["music"]
        t.add_row(*_row_names(pid, r), str(r["snapshots"]),
                  _fmt(r["sampling"]["median_interval_s"]), _fmt(m["measured_beat_period_s"]),
                  _fmt(m["sampling_interval_in_beats"], ".2f"),
                  f"{tt['inside_track']}/{r['snapshots']}", "yes" if tt["increasing"] else "NO",
                  _fmt(tt["max_frame_placement_s"], ".4f"), str(g["n_gaps"]),
                  _fmt(g["longest_s"], ".2f"), "not measurable")
    return t


def _dataset_inputs(path: Path) -> tuple[list[Path], dict[str, Any]] | None:
    """Input roots and config of a built dataset folder, or None for an input folder."""
    from motionpair.sources.common import read_json

    meta = path / "dataset.json"
    if not meta.is_file():
        return None
    doc = read_json(meta)
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise ValueError(f"{meta}: not a motionpair dataset.json (expected an object with a "
                         "'config' object)")
    # dataset.json names roots relative (reproducible); build.json keeps where they were read
    run = path / "build.json"
    build_doc = read_json(run) if run.is_file() else None
    roots = build_doc.get("input_paths") if isinstance(build_doc, dict) else None
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        roots = None
    if not roots or not all(Path(r).exists() for r in roots):
        raise FileNotFoundError(f"{path}: its inputs ({roots or 'unknown'}) are not reachable; "
                                "pass the input folders to motionpair align instead")
    return [Path(r) for r in roots], doc["config"]


def evidence_for_inputs(paths: Sequence[str | Path], build_cfg: BuildConfig, *,
                        cache_dir: Path | None, cfg: EvidenceConfig,
                        on_specs: Callable[[list], None] | None = None,
                        on_done: Callable[[Any], None] | None = None,
                        ) -> tuple[dict[str, Any], dict[str, dict], list[Problem]]:
    """Scan ``paths`` and compute the evidence of every pair with ``build_cfg``'s clock
    (and pairing mode: dense streams are scored, sparse snapshot streams get what can and
    cannot be measured).

    Returns ``(alignment_evidence block, series per pair, problems)``; a pair that
    cannot be read becomes a problem and never stops the others. ``on_specs(specs)`` is
    called once the pairs are known, ``on_done(spec)`` after each pair (progress).
    """
    # deferred: CLI start-up stays light (pipeline pulls scipy/numba); heavy/optional
    from motionpair.align.pair import finish
    from motionpair.build.pair import pair_evidence
    from motionpair.build.scan import scan
    from motionpair.cache import Cache
    from motionpair.safeio import describe_pair
    from motionpair.types import Problem

    cache = Cache(cache_dir)
    inv = scan(paths, cache=cache if cache_dir else None)  # memoised validation, as in build
    records: dict[str, dict | None] = {}
    series: dict[str, dict] = {}
    problems = list(inv.problems)
    if on_specs:
        on_specs(list(inv.pairs))
    for spec in inv.pairs:
        try:
            # the build's own per-pair pipeline: same pairing mode, clock map and motion
            records[spec.pair_id], series[spec.pair_id] = pair_evidence(spec, build_cfg,
                                                                        cache, cfg)
        except Exception as exc:  # noqa: BLE001 - one pair never stops the others
            problems.append(Problem(path=spec.pair_id, source=spec.source,
                                    session=spec.session,
                                    reason=describe_pair(exc, spec.pair_id, [
                                        f"{i.root}/{i.path}" for i in spec.inputs])))
        if on_done:
            on_done(spec)
    block = finish(records, series, cfg=cfg, kin_sigma_s=build_cfg.kin_sigma_s,
                   kin_order=build_cfg.kin_order)
    session_of = {spec.pair_id: spec.session for spec in inv.pairs}
    for part in ("pairs", "sparse_pairs"):  # every row names its session (align's table)
        for pid, rec in block.get(part, {}).items():
            if isinstance(rec, dict) and pid in session_of:
                rec.setdefault("session", session_of[pid])
    return block, series, problems


def _row_names(pid: str, rec: dict[str, Any]) -> tuple[str, str]:
    """``(session, pair)`` cells: the pair id without its source and session parts."""
    session = str(rec.get("session") or "")
    parts = pid.split("/")
    if session and session in parts:
        rest = parts[parts.index(session) + 1:]
        return session, "/".join(rest) or parts[-1]
    return session, parts[-1]


def register(app: typer.Typer) -> None:
    @app.command("align")
    def align(
        paths: Annotated[list[Path], typer.Argument(
            metavar="FOLDER", file_okay=False, help="input folders or a built dataset")],
        out: Annotated[Path | None, typer.Option(
            "--out", metavar="DIR", file_okay=False,
            help="folder for alignment.json + one PNG per pair (default: write no files)")]
        = None,
        clock: Annotated[Clock | None, typer.Option(
            help="clock map (default: the dataset's, else default)")] = None,
        apply_offset: Annotated[bool, typer.Option(
            help="re-score pairs whose offset estimate passes the confidence test at the "
                 "estimated offset (reported only; never changes a dataset)")] = False,
        min_peak_ratio: Annotated[float, typer.Option(
            help="confidence threshold: best/second peak height ratio")] = 1.2,
        cache: Annotated[Path | None, typer.Option(help="cache folder")] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="bypass the cache")] = False,
        json_out: Annotated[str | None, typer.Option(
            "--json", metavar="FILE|-", help="write the evidence as JSON to FILE ('-' = "
            "stdout; messages then go to stderr)")] = None,
    ) -> None:
        """Alignment evidence per pair: BAS (two variants) vs nulls, tempo drift, offset."""
        from motionpair.align.evidence import EvidenceConfig
        from motionpair.align.pair import apply_offsets, draw_all
        from motionpair.cache import default_cache_dir
        from motionpair.config import BuildConfig
        from motionpair.publish import write_file_atomic

        check_number("--min-peak-ratio", min_peak_ratio, lo=1, hi=1e6)
        require_paths(paths, "FOLDER", folder=True)
        if out is not None:
            probe_out(out, inputs=paths)
        con, info = ui.results(json_out), ui.info()
        fields = BuildConfig.__dataclass_fields__
        kw: dict[str, Any] = {}
        try:
            found = _dataset_inputs(paths[0]) if len(paths) == 1 else None
        except (FileNotFoundError, ValueError) as exc:  # ValueError: unreadable JSON, named
            ui.error(str(exc))
            raise typer.Exit(2) from exc
        if found is not None:
            paths, conf = found
            kw = {k: (tuple(v) if k == "split_ratios" else v) for k, v in conf.items()
                  if k in fields and k != "extra"}
            info.print(f"dataset: recomputing from its inputs ({', '.join(map(str, paths))}) "
                       "with its config",
                       markup=False, highlight=False)
        if clock is not None:
            kw["clock"] = clock.value
        try:
            cfg = BuildConfig(**kw).validate()
            ecfg = EvidenceConfig(min_peak_ratio=min_peak_ratio)
        except (TypeError, ValueError) as exc:
            ui.error(str(exc))
            raise typer.Exit(2) from exc
        from motionpair import outputs
        from motionpair.commands._shared import out_guard

        with out_guard("align"):  # before any work: where align may write
            if out is not None:
                outputs.check_out(out, "align", inputs=paths)
            outputs.check_file_out(json_out, inputs=paths,
                                   outputs=[out] if out is not None else [])
            outputs.check_cache(None if no_cache else cache, inputs=paths,
                                outputs=[out] if out is not None else [])
        cache_dir = None if no_cache else (cache or default_cache_dir())
        # pairs done/total, audio minutes, ETA (features are computed when not cached)
        minutes = ui.TrackMinutes([])
        with ui.progress("pairs", minutes=True) as prog:
            task = prog.add_task("scanning", total=None, **minutes.fields())

            def specs_known(specs: list) -> None:
                nonlocal minutes
                minutes = ui.TrackMinutes((s.track.track_id, s.track.duration_s)
                                          for s in specs)
                prog.update(task, total=len(specs), description="alignment evidence",
                            **minutes.fields())

            def done(spec: Any) -> None:
                prog.update(task, advance=1, **minutes.finish(spec.track.track_id))
                ui.detail(f"  scored {spec.pair_id}")

            block, series, problems = evidence_for_inputs(paths, cfg, cache_dir=cache_dir,
                                                          cfg=ecfg, on_specs=specs_known,
                                                          on_done=done)
        if apply_offset:
            apply_offsets(block, series, cfg=ecfg)
        for p in problems:  # one line each, also with -q
            ui.err().print(f"[yellow]{p.kind}[/]: {escape(p.reason)}", highlight=False,
                           soft_wrap=True)
        if not block["pairs"] and not block.get("sparse_pairs"):
            ui.error("no pair with motion to score")
            raise typer.Exit(1)
        block["build_config"] = cfg.resolved()
        block["problems"] = [p.to_dict() for p in problems]
        pngs: list = []
        if out is not None:  # files only when asked: never ./alignment by default
            with out_guard("align"), outputs.claimed(out, "align", inputs=paths), \
                    ui.progress("pictures") as prog:
                task = prog.add_task("drawing", total=len(block["pairs"]))
                # first: a failed picture is noted on its record
                pngs = draw_all(block, series, out, on_done=lambda _p: prog.advance(task))
                write_file_atomic(out / "alignment.json", json.dumps(block, indent=2) + "\n")
        if block["pairs"]:
            ui.show_table(con, evidence_table(block))
        if block.get("sparse_pairs"):
            ui.show_table(con, sparse_table(block))
            first = next(iter(block["sparse_pairs"].values()))
            con.print(f"* sparse pairs: BAS, nulls, offset and drift not measurable: "
                      f"{first['not_measurable']['bas']} (first pair)",
                      markup=False, highlight=False)
        s = block["summary"]
        con.print(f"* implied tempo uses F estimated from the detected beats (not independent). "
                  f"drift flag > {ecfg.drift_flag_s} s: {len(s['drift_flagged'])} of "
                  f"{s['pairs']}; offset estimates passing (ratio >= {ecfg.min_peak_ratio}, "
                  f"halves within {ecfg.halves_tol_s} s): {len(s['offset_passes'])}",
                  highlight=False)
        if out is not None:
            con.print(f"wrote {out / 'alignment.json'} and {len(pngs)} PNG(s) in {out}",
                      markup=False, highlight=False)
        ui.write_json(block, json_out)
