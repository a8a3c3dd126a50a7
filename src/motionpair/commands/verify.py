"""``motionpair verify DIR``: check a built dataset; exit 1 naming every failure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from motionpair import ui
from motionpair.commands._shared import (
    EXIT_PROBLEMS,
    EXIT_USAGE,
    JsonOpt,
    dataset_problem,
    describe_exception,
    safe_path,
)


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify(dataset: Annotated[Path, typer.Argument(metavar="DIR", file_okay=False,
                                                       help="built dataset folder")],
               json_out: JsonOpt = None) -> None:
        """Check a built dataset; exit 1 naming every failure (2: not a dataset)."""
        from motionpair.consumers.verify import verify as do_verify

        problem = dataset_problem(dataset)
        if problem:  # not found / not a dataset: one line, exit 2 (and the JSON, when asked)
            ui.error(problem)
            ui.write_json({"ok": False, "dataset": str(dataset), "failures": [problem]},
                          json_out)
            raise typer.Exit(EXIT_USAGE)
        try:
            fails, stats = do_verify(dataset)
        except Exception as exc:  # noqa: BLE001 - a damaged dataset is a FAIL, not a traceback
            fails, stats = [f"{safe_path(dataset)}: cannot be checked "
                            f"({describe_exception(exc)})"], {}
        stats = public_stats(stats)
        for f in fails:
            ui.err().print(f"[red]FAIL[/] {f}", highlight=False, soft_wrap=True)
        ui.write_json({"ok": not fails, "dataset": str(dataset), "failures": fails, **stats},
                      json_out)
        if fails:
            raise typer.Exit(EXIT_PROBLEMS)
        ui.results(json_out).print(f"ok: {safe_path(dataset)}: {summary_text(stats)}",
                                   markup=False, highlight=False)


def public_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """``stats`` with split names as every other output writes them (``validation``)."""
    from motionpair.build.card import HF_SPLIT

    out = dict(stats)
    if isinstance(out.get("by_split"), dict):
        out["by_split"] = {HF_SPLIT.get(k, k): v for k, v in out["by_split"].items()}
    return out


def summary_text(stats: dict[str, Any]) -> str:
    """``147 windows in 3 shards (train 51, validation 52, test 44)``."""
    order = ("train", "validation", "test", "guard")
    splits = stats.get("by_split", {})
    names = sorted(splits, key=lambda k: (order.index(k) if k in order else len(order), k))
    parts = [f"{stats.get('windows', 0)} windows in {stats.get('shards', 0)} shards"]
    if names:
        parts.append("(" + ", ".join(f"{k} {splits[k]}" for k in names) + ")")
    rest = {k: v for k, v in stats.items() if k not in ("windows", "shards", "by_split")}
    parts += [f"{k} {v}" for k, v in rest.items()]
    return " ".join(parts)
