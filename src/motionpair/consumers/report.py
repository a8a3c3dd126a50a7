"""Build report: ``DIR/report/report.html`` and ``report.md`` with plots.

The page opens with a summary and every figure, tables after. Each figure is inlined as a
small palette PNG (so report.html alone still shows it offline) linking to its full-size
PNG written beside the page; the tang2018 page stays well under 1 MB.

Everything is read from the published dataset (dataset.json, manifest, shards); the
report contains no wall-clock values, so the same dataset gives the same report bytes.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.build.preview import draw_window
from motionpair.publish import check_out, out_lock, publish, recover, staging_dir
from motionpair.store import read_dataset_json, read_manifest
from motionpair.types import WindowRow

SPLITS = ("train", "val", "test")
SPLIT_COLOURS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}


def union_s(spans: list[tuple[float, float]]) -> float:
    """Total length (s) of the union of ``(start_s, end_s)`` intervals (overlaps once)."""
    total, end = 0.0, -np.inf
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def summarise(meta: dict[str, Any], rows: list[WindowRow]) -> dict[str, Any]:
    """Counts per split, hours, per-session table rows (all plain numbers and strings)."""
    split_of: dict[str, set[str]] = defaultdict(set)  # several splits with time blocks
    by_session: dict[str, list[WindowRow]] = defaultdict(list)
    for r in rows:
        split_of[r.session].add(r.split)
        by_session[r.session].append(r)
    sessions = []
    for p in meta["pairs"]:
        srows = by_session.get(p["session"], [])
        cm = p.get("clock_map") or {}
        sessions.append({
            "session": p["session"],
            "split": "+".join(sorted(split_of.get(p["session"], ()))) or "-",
            "style": p.get("style", ""), "track": p["track"],
            "audio_s": p["audio_duration_s"],
            "motion_on_track_s": (p["motion_track_span_s"][1] - p["motion_track_span_s"][0]
                                  if p.get("motion_track_span_s") else 0.0),
            "tempo_bpm": p.get("tempo_bpm"), "windows": len(srows),
            "dropped": p.get("dropped", {}), "clock_map": cm.get("kind", ""),
            "assumption": cm.get("assumption", ""),
            "audio_used_s": union_s([(r.start_s, r.end_s) for r in srows]),
            "motion_used_s": union_s([(r.motion_start_s, r.motion_end_s) for r in srows]),
        })
    splits = {}
    for s in SPLITS:
        # from the rows: a time-block split puts one session's windows in several splits
        ss = [g for g in ([r for r in by_session.get(x["session"], []) if r.split == s]
                          for x in sessions) if g]
        splits[s] = {"sessions": len(ss), "windows": sum(len(g) for g in ss),
                     "audio_used_h": sum(union_s([(r.start_s, r.end_s) for r in g])
                                         for g in ss) / 3600,
                     "motion_used_h": sum(union_s([(r.motion_start_s, r.motion_end_s)
                                                   for r in g]) for g in ss) / 3600}
    return {
        "splits": splits, "sessions": sessions,
        "audio_total_h": sum(x["audio_s"] for x in sessions) / 3600,
        "motion_total_h": sum(x["motion_on_track_s"] for x in sessions) / 3600,
        "audio_used_h": sum(x["audio_used_s"] for x in sessions) / 3600,
        "motion_used_h": sum(x["motion_used_s"] for x in sessions) / 3600,
        "windows": len(rows),
        "grid": {"grid": rows[0].grid, "n_frames": rows[0].n_frames,
                 "frames_per_beat": rows[0].frames_per_beat} if rows else {},
    }


#: figures the report draws itself: three distribution plots + one preview per split
N_PLOTS = 3


def _plots(meta: dict, rows: list[WindowRow], summary: dict, out: Path,
           tick: Callable[[str], None] = lambda _name: None) -> dict[str, str]:
    """Distribution plots as PNGs in ``out``; returns {file name: caption}. ``tick(name)``
    after each (progress)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = {}
    sess = summary["sessions"]
    names = [s["session"] for s in sess]
    colours = [SPLIT_COLOURS.get(s["split"], "grey") for s in sess]
    from matplotlib.patches import Patch

    # every split-coloured plot gets a legend naming the colours
    split_legend = [Patch(color=SPLIT_COLOURS[k], label=k) for k in SPLITS
                    if any(x["split"] == k for x in sess)]
    if any(x["split"] not in SPLIT_COLOURS for x in sess):
        split_legend.append(Patch(color="grey", label="several / guard"))

    cov = [r.pose_coverage for r in rows]
    varied = len(set(cov)) > 1  # the per-window histogram says something only then
    fig, axes = plt.subplots(1, 3 if varied else 2, figsize=(11, 3.8), constrained_layout=True)
    cover = [s["motion_on_track_s"] / s["audio_s"] if s["audio_s"] else 0 for s in sess]
    axes[0].bar(names, cover, color=colours)
    axes[0].set_ylabel("motion span / track duration")
    axes[0].set_title("pose coverage of each track (bar colour = split)", fontsize=9)
    axes[0].tick_params(axis="x", rotation=60, labelsize=7)
    axes[0].legend(handles=split_legend, fontsize=7, title="split", title_fontsize=7)
    # candidate windows of each track: kept, or dropped for the reason the builder recorded
    kept = np.array([x["windows"] for x in sess], dtype=float)
    axes[1].bar(names, kept, color="tab:purple", label=f"kept ({int(kept.sum())})")
    bottom = kept.copy()
    reasons = sorted({k for x in sess for k in x["dropped"]})
    for reason, colour in zip(reasons, ("tab:grey", "tab:red", "tab:olive", "tab:brown",
                                        "tab:pink", "tab:cyan") * 4, strict=False):
        n = np.array([x["dropped"].get(reason, 0) for x in sess], dtype=float)
        axes[1].bar(names, n, bottom=bottom, color=colour,
                    label=f"dropped: {reason} ({int(n.sum())})")
        bottom += n
    axes[1].set_ylabel("windows")
    axes[1].tick_params(axis="x", rotation=60, labelsize=7)
    note = (f"\nevery kept window fully covered ({len(cov)} at {cov[0]:g})"
            if cov and not varied else "")
    axes[1].set_title("candidate windows per track: kept / dropped (reason)" + note,
                      fontsize=9)
    axes[1].set_ylim(0, float(bottom.max() or 1) * 1.3)  # room for the legend above the bars
    axes[1].legend(fontsize=7, loc="upper center", ncol=3)
    if varied:
        axes[2].hist(cov, bins=20, range=(0, 1), color="tab:purple", label="kept windows")
        axes[2].set_xlabel("pose coverage of a kept window")
        axes[2].set_ylabel("windows")
        axes[2].set_title("pose coverage per window", fontsize=9)
        axes[2].legend(fontsize=7)
    made["pose_coverage.png"] = ("Pose coverage: fraction of each track the motion spans; "
                                 "windows per track kept or dropped, by the reason recorded "
                                 "at build time" + (", and pose coverage per kept window."
                                                    if varied else "."))
    fig.savefig(out / "pose_coverage.png", dpi=80)
    plt.close(fig)
    tick("pose_coverage.png")

    fig, ax = plt.subplots(figsize=(11, 3.2), constrained_layout=True)
    ax.bar(names, [s["tempo_bpm"] or 0 for s in sess], color=colours)
    ax.set_ylabel("tempo (BPM, librosa)")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.set_title("estimated tempo per track (bar colour = split)", fontsize=9)
    ax.legend(handles=split_legend, fontsize=7, title="split", title_fontsize=7)
    made["tempo.png"] = "Tempo per track as estimated by the beat tracker (not ground truth)."
    fig.savefig(out / "tempo.png", dpi=80)
    plt.close(fig)
    tick("tempo.png")

    fig, ax = plt.subplots(figsize=(11, 3.2), constrained_layout=True)
    for s in SPLITS:
        v = [r.mean_speed for r in rows if r.split == s]
        if v:
            ax.hist(v, bins=30, alpha=0.6, label=f"{s} ({len(v)})", color=SPLIT_COLOURS[s])
    ax.set_xlabel(f"mean joint speed of a window ({meta['motion']['skeleton'].get('units', '')}"
                  "/s)")
    ax.set_ylabel("windows")
    ax.legend(fontsize=8)
    ax.set_title("mean joint speed per window, by split", fontsize=9)
    made["speed.png"] = "Mean joint speed per window, by split."
    fig.savefig(out / "speed.png", dpi=80)
    plt.close(fig)
    tick("speed.png")
    return made


def _previews(dataset_dir: Path, rows: list[WindowRow], out: Path,
              tick: Callable[[str], None] = lambda _name: None) -> dict[str, str]:
    """One preview per split: the middle window of its first session (deterministic);
    ``tick(name)`` after each (progress)."""
    made = {}
    for s in SPLITS:
        srows = [r for r in rows if r.split == s]
        if not srows:
            continue
        first = [r for r in srows if r.session == srows[0].session]
        row = first[len(first) // 2]
        name = f"preview_{s}.png"
        draw_window(dataset_dir, row.id, out / name)
        tick(name)
        made[name] = f"{s}: {row.id} (track {row.start_s:.2f}–{row.end_s:.2f} s)"
    return made


def _evidence_pictures(d: Path, meta: dict, out: Path) -> dict[str, str]:
    """Every alignment-evidence picture (``DIR/alignment/*.png``), numbered "k of N"."""
    if not meta.get("alignment_evidence") or not (d / "alignment").is_dir():
        return {}
    made = {}
    pngs = sorted((d / "alignment").glob("*.png"))
    for k, png in enumerate(pngs, 1):
        name = f"alignment_{png.name}"
        shutil.copyfile(png, out / name)
        made[name] = (f"alignment evidence {k} of {len(pngs)}: {png.stem} "
                      f"(from alignment/{png.name})")
    return made


def _dropped(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def _session_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    head = ["session", "split", "style", "track", "duration (s)", "motion on track (s)",
            "tempo (BPM)", "windows", "dropped (reason n)", "clock map", "assumption"]
    body = [[s["session"], s["split"], s["style"], s["track"], f"{s['audio_s']:.1f}",
             f"{s['motion_on_track_s']:.1f}",
             f"{s['tempo_bpm']:.1f}" if s["tempo_bpm"] else "", str(s["windows"]),
             _dropped(s["dropped"]), s["clock_map"], s["assumption"]]
            for s in summary["sessions"]]
    return head, body


def _split_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    head = ["split", "sessions", "windows", "audio used (h, track clock)",
            "motion used (h, stream clock)"]
    body = [[s, str(v["sessions"]), str(v["windows"]), f"{v['audio_used_h']:.3f}",
             f"{v['motion_used_h']:.3f}"] for s, v in summary["splits"].items()]
    return head, body


def _md_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    return "\n".join(lines)


def _html_table(head: list[str], body: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                  for r in body)
    return (f"<div class='wide'><table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody>"
            "</table></div>")


CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1200px;color:#222}
ul.summary{font-size:15px;line-height:1.5}.note{font-size:13px;color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.grid figure,.plots figure{margin:0 0 .8em}h3{margin-top:1.6em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}thead th{position:sticky;top:0;z-index:1}
.wide{overflow:auto;max-height:80vh}td{font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #ddd}figure{margin:0 0 1.5em}
figcaption{font-size:12px;color:#555}pre{background:#f6f6f6;padding:.6em;font-size:11px;
overflow-x:auto}"""


def _window_text(meta: dict, summary: dict) -> str:
    g = summary.get("grid") or {}
    if g.get("grid") == "beats":
        return (f"{g['n_frames'] // max(g['frames_per_beat'], 1)} music beats × "
                f"{g['frames_per_beat']} frames per beat (beat grid)")
    w = meta["windows"]
    return f"{w.get('window_s')} s, hop {w.get('hop_s')} s ({w.get('n_frames')} frames)"


def _sections(meta: dict, summary: dict) -> list[tuple[str, str, Any]]:
    """(title, kind, payload) blocks shared by the HTML and Markdown writers."""
    c = meta["counts"]
    overview = [
        ["windows", str(summary["windows"])], ["pairs", str(c["pairs"])],
        ["input problems", str(c["problems"])],
        ["dropped windows", _dropped(c.get("dropped_by_reason", {}))],
        ["audio: tracks total / used by windows (h)",
         f"{summary['audio_total_h']:.3f} / {summary['audio_used_h']:.3f}"],
        ["motion: span mapped onto the track clock (h)", f"{summary['motion_total_h']:.3f}"],
        ["motion used by windows, on the motion stream's own clock (h)",
         f"{summary['motion_used_h']:.3f}"],
        ["window", _window_text(meta, summary)],
        ["frame rate", f"{meta['config'].get('fps')} fps"],
        ["config sha256", meta.get("config_sha256", "")],
    ]
    out: list[tuple[str, str, Any]] = [
        ("Overview", "table", (["quantity", "value"], overview)),
        ("Counts per split", "table", _split_rows(summary)),
        ("Sessions", "table", _session_rows(summary)),
        ("Assumptions", "table", (["name", "meaning"], [[k, v] for k, v in
                                                         meta.get("assumptions", {}).items()])),
    ]
    if meta.get("alignment_evidence") is not None:
        out += _evidence_sections(meta["alignment_evidence"])
    ns = meta.get("norm_stats")
    if ns and ns.get("arrays"):
        out.append(("Normalisation statistics (train split, norm_stats.npz)", "table", (
            ["array", "channels", "frames counted", "mean of channel means",
             "mean of channel stds"],
            [[k, "x".join(map(str, v["channels"])) or "1", str(v["frames"]),
              f"{v['mean_of_means']:.4g}", f"{v['mean_of_stds']:.4g}"]
             for k, v in ns["arrays"].items()]
            + [["formula", ns.get("formula", ""), "", "", ""],
               ["overlap", ns.get("dedupe", ""), "", "", ""]])))
    return out


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Scalar leaves of nested dicts as ``{"a.b": "text"}``, every leaf as words a reader
    takes in at a glance (:func:`_cell`): no JSON lists, no ``True``."""
    if not isinstance(obj, dict) or not obj:
        return {prefix: _cell(obj, prefix)}
    out: dict[str, str] = {}
    for k, v in obj.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _cell(v: Any, name: str = "") -> str:
    """One value as a table cell: floats to 4 significant digits (display only;
    dataset.json keeps full precision), booleans yes/no, a ``*_s`` pair of numbers as a
    span ``a – b``, other lists comma-separated with their count, empty as "none"."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):  # only an empty dict reaches here (see _flatten)
        return "none"
    if isinstance(v, list | tuple):
        if not v:
            return "none"
        if (name.endswith("_s") and len(v) == 2
                and all(isinstance(x, int | float) for x in v)):
            return f"{_cell(v[0])} – {_cell(v[1])}"
        items = ", ".join(_short(x) for x in v)
        return items if len(v) == 1 else f"{len(v)}: {items}"
    return str(v)


def _short(v: Any) -> str:
    """A list item: a pair id keeps its session only (``tang2018/DANCE_C_2`` ->
    ``DANCE_C_2``, as in the per-pair tables)."""
    return v.split("/")[-1] if isinstance(v, str) else _cell(v)


#: unit suffixes of fact names, shown as units in column heads
_UNIT_SUFFIXES = {"_s": "s", "_bpm": "BPM", "_hz": "Hz", "_fps": "fps"}


#: headings of the evidence groups (dataset.json key -> words)
_GROUP_TITLES = {"": "spans and counts", "bas": "beat alignment scores (BAS)",
                 "null_circular_shift": "BAS vs circular-shift null",
                 "null_other_tracks": "BAS vs other-tracks null", "tempo": "tempo and drift",
                 "tempo.metrical_level_check": "tracked tempo vs the true beat count "
                                               "(cha-cha/rumba)",
                 "offset": "offset search"}


def _fact_head(name: str) -> str:
    """``tempo`` fact name as a column head: ``drift_end_s`` -> ``drift end (s)``,
    ``bailando.percentile`` -> ``bailando percentile``."""
    unit = ""
    for suffix, u in _UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            name, unit = name[: -len(suffix)], f" ({u})"
            break
    return name.replace(".", " ").replace("_", " ") + unit


def _evidence_sections(ev: Any) -> list[tuple[str, str, Any]]:
    """dataset.json "alignment_evidence" (written by the alignment stage) as tables: its
    summary, one column per pair with every scalar fact, definitions; raw JSON otherwise."""
    if not isinstance(ev, dict) or not isinstance(ev.get("pairs"), dict):
        return [("Alignment evidence", "json", ev)]
    out: list[tuple[str, str, Any]] = []
    if isinstance(ev.get("summary"), dict):
        out.append(("Alignment evidence: summary", "table",
                    (["quantity", "value"], [[k, v] for k, v in _flatten(ev["summary"]).items()])))
    pairs = {p.split("/")[-1]: _flatten(v) for p, v in ev["pairs"].items()}
    keys = list(dict.fromkeys(k for f in pairs.values() for k in f))
    # one table per group of facts (bas, tempo, offset, ...), one row per pair: a table of
    # every fact side by side is wider than any page
    groups: dict[str, list[str]] = {}
    for k in keys:  # a titled nested record (tempo.metrical_level_check.*) is its own group
        two = ".".join(k.split(".")[:2])
        group = two if two in _GROUP_TITLES and two != k else (
            k.split(".", 1)[0] if "." in k else "")
        groups.setdefault(group, []).append(k)
    for group, gkeys in groups.items():
        title = f"Alignment evidence per pair: {_GROUP_TITLES.get(group, _fact_head(group))}"
        head = ["pair", *(_fact_head(k[len(group) + 1:] if group else k) for k in gkeys)]
        # a pair without this group (the cha-cha/rumba check on a waltz) gets no empty row
        body = [[name, *(f.get(k, "") for k in gkeys)] for name, f in pairs.items()
                if any(k in f for k in gkeys)]
        out.append((title, "table", (head, body)))
    if isinstance(ev.get("definitions"), dict):
        out.append(("Alignment evidence: definitions", "table",
                    (["name", "definition"], [[k, v] for k, v in
                                              _flatten(ev["definitions"]).items()])))
    return out


#: split names as words (dataset rows keep ``val``; the CLI's JSON says ``validation``)
_SPLIT_WORDS = {"train": "train", "val": "validation", "test": "test"}

#: how wide the page shows a figure (px); the full PNG is one click away
FULL_WIDTH_PX = 880
THUMB_WIDTH_PX = 400
#: palette size of the inlined images: plots use few colours, so 128 keeps them crisp
THUMB_COLOURS = 128


def _summary_lines(meta: dict, summary: dict) -> list[str]:
    """The report's opening: what the dataset holds and how far to trust it, in sentences."""
    c = meta["counts"]
    per_split = " · ".join(f"{_SPLIT_WORDS.get(k, k)} {v['windows']} "
                           f"({v['sessions']} session{'s' * (v['sessions'] != 1)})"
                           for k, v in summary["splits"].items() if v["windows"])
    dropped = c.get("dropped_by_reason", {})
    lines = [
        f"{summary['windows']} windows ({per_split}) from {c['pairs']} pairs; "
        f"window {_window_text(meta, summary)} at {meta['config'].get('fps')} fps.",
        f"Audio used by windows: {summary['audio_used_h']:.3f} h of "
        f"{summary['audio_total_h']:.3f} h of tracks; motion used: "
        f"{summary['motion_used_h']:.3f} h on the motion stream's own clock.",
        f"{sum(dropped.values())} candidate windows dropped ({_dropped(dropped)}); "
        f"{c['problems']} input problem{'s' * (c['problems'] != 1)} "
        "(listed in inventory.json and by motionpair scan).",
        f"{len(meta.get('assumptions', {}))} assumptions in force, named in the "
        "Assumptions table and on every window.",
    ]
    ev = meta.get("alignment_evidence")
    if isinstance(ev, dict) and isinstance(ev.get("summary"), dict):
        es = ev["summary"]
        flagged = es.get("drift_flagged") or []
        passes = es.get("offset_passes") or []
        cfg = (ev.get("definitions") or {}).get("config") or {}
        lines.append(
            f"Alignment evidence for {es.get('pairs', 0)} pairs: {len(flagged)} drift more "
            f"than {cfg.get('drift_flag_s', 0.5):g} s by their end under their clock map; "
            f"{len(passes)} offset "
            f"estimate{'s' * (len(passes) != 1)} pass{'es' * (len(passes) == 1)} the "
            "confidence test" + (f" ({', '.join(_short(x) for x in passes)})" if passes
                                 else "") + "; nothing is applied to the windows.")
    return lines


def _figure_groups(figures: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(heading, figure names) in page order: distributions, samples, alignment pictures."""
    previews = [n for n in figures if n.startswith("preview_")]
    gallery = [n for n in figures if n.startswith("alignment_")]
    plots = [n for n in figures if n not in previews and n not in gallery]
    groups = [("Distributions", plots), ("One sample window per split", previews)]
    if gallery:
        groups.append((f"Alignment evidence pictures: all {len(gallery)}, one per scored "
                       "pair", gallery))
    return [(h, names) for h, names in groups if names]


def _inline_png(path: Path, width_px: int) -> str:
    """``path`` scaled down to at most ``width_px`` wide, on a fixed palette, as a base64
    PNG: a few tens of kB where the full figure is 100-200 kB (deterministic: Pillow's
    median-cut palette and zlib only)."""
    import io

    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    if rgb.width > width_px:
        rgb = rgb.resize((width_px, round(rgb.height * width_px / rgb.width)),
                         Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.quantize(colors=THUMB_COLOURS).save(buf, "PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _html_figure(name: str, caption: str, pngs: Path, width_px: int) -> str:
    """An inlined small copy linking to the full PNG beside report.html."""
    b64 = _inline_png(pngs / name, width_px)
    return (f"<figure><a href='{html.escape(name)}' title='full size: {html.escape(name)}'>"
            f"<img alt='{html.escape(caption)}' src='data:image/png;base64,{b64}'></a>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _write_html(path: Path, title: str, summary_lines: list[str], sections: list,
                figures: dict[str, str], pngs: Path) -> None:
    """Summary, then every figure (inlined small, each a link to its full PNG beside the
    page), then the tables: the page opens offline and stays well under 1 MB."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             "<h2>Summary</h2><ul class='summary'>",
             *(f"<li>{html.escape(line)}</li>" for line in summary_lines),
             "</ul><p class='note'>Figures first (click one for its full-size PNG, which "
             "sits next to this page), tables after: "
             + " · ".join(f"<a href='#t{k}'>{html.escape(head)}</a>"
                          for k, (head, _kind, _p) in enumerate(sections)) + "</p>"]
    for head, names in _figure_groups(figures):
        parts.append(f"<h2>{html.escape(head)}</h2>")
        full = head == "Distributions"
        parts.append("<div class='plots'>" if full else "<div class='grid'>")
        parts += [_html_figure(n, figures[n], pngs, FULL_WIDTH_PX if full else THUMB_WIDTH_PX)
                  for n in names]
        parts.append("</div>")
    parts.append("<h2>Tables</h2>")
    for k, (head, kind, payload) in enumerate(sections):
        parts.append(f"<h3 id='t{k}'>{html.escape(head)}</h3>")
        if kind == "table":
            parts.append(_html_table(*payload))
        else:
            parts.append(f"<pre>{html.escape(json.dumps(payload, indent=2))}</pre>")
    parts.append("</body></html>\n")
    path.write_text("".join(parts), encoding="utf-8", errors="backslashreplace")


def _write_md(path: Path, title: str, summary_lines: list[str], sections: list,
              figures: dict[str, str]) -> None:
    parts = [f"# {title}\n", "## Summary\n", *(f"- {line}" for line in summary_lines), ""]
    for head, names in _figure_groups(figures):
        parts.append(f"## {head}\n")
        parts += [f"![{figures[n]}]({n})\n\n{figures[n]}\n" for n in names]
    parts.append("## Tables\n")
    for head, kind, payload in sections:
        parts.append(f"### {head}\n")
        parts.append(_md_table(*payload) if kind == "table"
                     else "```json\n" + json.dumps(payload, indent=2) + "\n```")
        parts.append("")
    path.write_text("\n".join(parts), encoding="utf-8", errors="backslashreplace")


def write_report(dataset_dir: str | Path, out_dir: str | Path | None = None, *,
                 progress: Callable[[str, int], None] | None = None) -> Path:
    """Write the report folder (report.html, report.md, PNGs, summary.json) atomically.

    Parameters
    ----------
    dataset_dir : built dataset folder (only read).
    out_dir : report folder, default ``DIR/report``; replaced as a whole, so it must be
        new, empty, or an earlier report (its ``.motionpair-report`` marker), and must not
        be the dataset or a folder holding it (:func:`motionpair.publish.check_out`).
    progress : ``progress(figure name, total)`` after each figure drawn (the total is
        the same on every call).
    """
    d = Path(dataset_dir)
    meta = read_dataset_json(d)
    rows = read_manifest(d)
    summary = summarise(meta, rows)
    final = check_out(out_dir if out_dir is not None else d / "report", "report",
                      inputs=[d], inside_inputs_ok=True)
    with out_lock(final):
        recover(final)
        tmp = staging_dir(final, "report")
        try:
            total = N_PLOTS + len({r.split for r in rows} & set(SPLITS))

            def tick(name: str) -> None:
                if progress:
                    progress(name, total)

            figures = _plots(meta, rows, summary, tmp, tick)
            figures.update(_previews(d, rows, tmp, tick))
            figures.update(_evidence_pictures(d, meta, tmp))
            title = f"motionpair dataset report: {d.resolve().name}"
            sections = _sections(meta, summary)
            lines = _summary_lines(meta, summary)
            _write_html(tmp / "report.html", title, lines, sections, figures, tmp)
            _write_md(tmp / "report.md", title, lines, sections, figures)
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                              encoding="utf-8", errors="backslashreplace")
            check_out(final, "report", inputs=[d], inside_inputs_ok=True)
            publish(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final
