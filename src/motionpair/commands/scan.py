"""``motionpair scan FOLDER...``: discover inputs, print what pairs and what does not."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from motionpair import ui
from motionpair.commands._shared import JsonOpt, require_paths


def scan_table(inv_dict: dict) -> Table:
    problems: dict[str, list[str]] = {}
    kinds: dict[str, set[str]] = {}
    for p in inv_dict["problems"]:
        problems.setdefault(p.get("session") or p["path"], []).append(p["reason"])
        kinds.setdefault(p.get("session") or p["path"], set()).add(p["kind"])
    t = Table(title="motionpair scan", show_lines=False)
    for col in ("source", "session", "style", "status", "audio s", "motion frames",
                "song span s", "problem"):
        t.add_column(col, overflow="fold")
    for u in inv_dict["units"]:
        status = "paired" if u.get("paired") else (
            "incomplete" if "incomplete" in kinds.get(u["session"], set())
            or any("missing" in r for r in problems.get(u["session"], []))
            else "bad" if u["session"] in problems
            else "unpaired")  # e.g. a playlist no session played: nothing wrong with it
        t.add_row(u["source"], u["session"], u.get("style", ""), status,
                  _num(u.get("audio_duration_s")), str(u.get("skeleton_frames", "")),
                  _num(u.get("song_span_s")),
                  problem_cell(problems.get(u["session"], [])))
    return t


def problem_cell(reasons: list[str]) -> str:
    """The table's short form of a unit's problems: each reason up to its first detail (the
    whole reason, with its fix, is printed on its own line under the table)."""
    import re

    short = [re.split(r" \(looked|; fix|\. fix|: fix", r)[0] for r in reasons]
    text = "; ".join(short)
    return text if len(text) <= 120 else text[:119] + "…"


def _num(x) -> str:
    return "" if x is None else f"{x:.1f}"


def register(app: typer.Typer) -> None:
    @app.command("scan")
    def scan(paths: Annotated[list[Path] | None, typer.Argument(
            metavar="FOLDER", file_okay=False,
            help="folders to scan (default: the MotionMix locations)")] = None,
             json_out: JsonOpt = None) -> None:
        """Discover inputs, print what pairs and what does not (exit 0 even with bad inputs)."""
        from motionpair.build.scan import scan as do_scan
        from motionpair.sources.motionmix.locations import (
            locations_report,
            report_lines,
            unit_notes,
        )

        require_paths(paths or [], "FOLDER", folder=True)  # not found: exit 2, one line
        con = ui.results(json_out)
        rep = None
        if not paths:  # no arguments: report the MotionMix default locations, scan what exists
            rep = locations_report()
            for line in report_lines(rep):
                con.print(line, markup=False, highlight=False)
            if not rep["scan_paths"]:
                ui.write_json({"locations": rep}, json_out)
                return
            paths = [Path(p) for p in rep["scan_paths"]]
        inv = do_scan(paths).to_dict()
        if rep is not None:  # the discovered root, explicitly, in --json too
            inv["locations"] = rep
        ui.show_table(con, scan_table(inv))
        for p in inv["problems"]:
            con.print(f"[yellow]{p['kind']}[/]: {escape(p['reason'])}", highlight=False,
                      soft_wrap=True)
        for line in unit_notes(inv["units"]):
            con.print(line, markup=False, highlight=False)
        from motionpair.build.scan import duplicate_lines

        for line in duplicate_lines(inv.get("duplicates", [])):
            con.print(f"duplicate: {line}", markup=False, highlight=False)
        tot = inv["totals"]
        con.print(f"units {tot['units']}, paired {tot['paired']}, incomplete "
                  f"{tot['incomplete']}, bad {tot['bad']}, refused {tot.get('refused', 0)}; "
                  f"audio {tot['audio_s'] / 60:.1f} "
                  f"min, danced song time {tot['song_span_s'] / 60:.1f} min", highlight=False)
        ui.write_json(inv, json_out)
