#!/usr/bin/env python3
"""Numbers in README.md and docs/*.md that a build produces, written from a build.

    python scripts/docs_numbers.py out/tang2018 --beatwise out/tang2018-beats   # rewrite
    python scripts/docs_numbers.py out/tang2018 --beatwise out/tang2018-beats --check

``out/tang2018`` is the default build of the real tang2018 data
(``motionpair build ../shared/data/tang2018 --out out/tang2018``), ``out/tang2018-beats``
the same data with ``--clock beatwise --window-beats 8 --hop-beats 4 --frames-per-beat 16``
(the linear-vs-beatwise comparison; ``beatwise.*`` regions). A number the build
produces is written between markers, inline or as a block of lines::

    <!-- numbers:align.drift_flagged -->12 of 14<!-- /numbers -->

and this script computes the text of every such region from the build's ``dataset.json``
(:func:`numbers`), so no number can go stale: ``tests/test_docs_numbers.py`` uses the test
session's shared builds (``built``, ``built_beatwise`` in tests/conftest.py) and fails
when any marked region differs from what the builds give, or names a region this script
does not know. Exit 0 when every region is
current (``--check``) or was rewritten; 1 when ``--check`` found stale regions or a file
names an unknown region; 2 when DATASET is not a built dataset.

Numbers from other runs (the planted-shift benchmark, timings, the beat-accuracy benchmark)
are not regenerated here; the docs say which command measured them and on what load.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: ``<!-- numbers:NAME -->TEXT<!-- /numbers -->``; TEXT may span lines (a table)
REGION = re.compile(r"(<!-- numbers:(?P<name>[\w.:/-]+) -->)(?P<text>.*?)(<!-- /numbers -->)",
                    re.S)

#: a BAS percentile at or below this reads as "below chance" (the null's bottom quarter)
BELOW_CHANCE_PCT = 25.0
#: and at or above this as "significant" (one-sided 5 %)
SIGNIFICANT_PCT = 95.0


def doc_files(repo: Path = REPO) -> list[Path]:
    """README.md and every docs/*.md, sorted."""
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def _session(pair_id: str) -> str:
    return pair_id.split("/")[-1]


def _join(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _num(x: float, fmt: str) -> str:
    """``fmt`` with a true minus sign (the docs' typography) and without ``-0``."""
    text = format(x, fmt)
    return text.replace("-", "−") if text.strip("-+0.") else text.replace("-", "")


def _pct(x: float) -> str:
    """A percentile as the docs print it: whole when whole, else one decimal."""
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _meta(dataset_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(dataset_dir) / "dataset.json").read_text(encoding="utf-8"))


def numbers(dataset_dir: str | Path, beatwise_dir: str | Path | None = None) -> dict[str, str]:
    """Every named number the docs may mark, computed from the build ``dataset_dir``.

    Parameters
    ----------
    dataset_dir : the default build (read: ``dataset.json`` only).
    beatwise_dir : the same data built with ``--clock beatwise --window-beats 8 --hop-beats 4
        --frames-per-beat 16``; gives the ``beatwise.*`` regions (linear vs beatwise).

    Returns
    -------
    ``{region name: text}``; texts of block regions start and end with a newline.
    """
    meta = _meta(dataset_dir)
    out = _dataset_numbers(meta)
    out["tang.hours"] = _hours(dataset_dir, meta)
    out.update(_time_block_numbers(dataset_dir))
    ev = meta.get("alignment_evidence")
    if isinstance(ev, dict) and ev.get("pairs"):
        out.update(_evidence_numbers(ev))
        if beatwise_dir is not None:
            out.update(_beatwise_numbers(ev, _meta(beatwise_dir)))
    return out


def _hours(dataset_dir: str | Path, meta: dict[str, Any]) -> str:
    """Hours of audio and how much the windows use, as ``motionpair report`` counts them."""
    from motionpair.consumers.report import summarise
    from motionpair.store import read_manifest

    s = summarise(meta, read_manifest(Path(dataset_dir)))
    per = ", ".join(f"{k} {v['audio_used_h']:.3f} h" for k, v in s["splits"].items())
    return (f"{s['audio_total_h']:.3f} h of audio in {len(s['sessions'])} tracks, "
            f"{s['audio_used_h']:.3f} h used by windows ({per})")


def _time_block_numbers(dataset_dir: str | Path) -> dict[str, str]:
    """What ``--split-by time-block`` makes of the same windows: the build's own
    :func:`motionpair.build.splits.assign_time_blocks` on the default build's rows (a
    time-block build differs from the default one only in ``split``)."""
    from collections import defaultdict
    from types import SimpleNamespace

    from motionpair.build.splits import assign_time_blocks
    from motionpair.config import BuildConfig
    from motionpair.store import read_manifest

    rows = read_manifest(Path(dataset_dir))
    pair_of = {(p["session"], p["track"]): p["pair_id"] for p in _meta(dataset_dir)["pairs"]}
    by_pair: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_pair[pair_of[(r.session, r.track)]].append(r)
    results = [SimpleNamespace(pair_id=k, rows=v) for k, v in sorted(by_pair.items())]
    _rows, info = assign_time_blocks(results, BuildConfig(),  # type: ignore[arg-type]
                                     n_sessions=len(results))
    n = info["windows"]
    return {"tang.time_block": (f"train {n.get('train', 0)} / val {n.get('val', 0)} / test "
                                f"{n.get('test', 0)} and puts {info['guard_rows']} of "
                                f"{len(rows)} windows"),
            "tang.time_block_guard": f"{info['guard_rows']} of {len(rows)}"}


def _beatwise_numbers(ev: dict[str, Any], bmeta: dict[str, Any]) -> dict[str, str]:
    """Linear (default build) vs beatwise clock maps, pair by pair."""
    lin = {_session(k): v for k, v in sorted(ev["pairs"].items())}
    bw = {_session(k): v for k, v in sorted(bmeta["alignment_evidence"]["pairs"].items())}
    both = [s for s in lin if s in bw]

    def get(p: dict[str, Any], what: str) -> float:
        if what == "drift":
            return p["tempo"]["drift_end_s"]
        if what == "vs_beats":
            return p["tempo"]["drift_vs_beats_s"]
        if what == "other":
            return p["null_other_tracks"]["bailando"]["percentile"]
        return p["null_circular_shift"][what]["percentile"]

    cols = [("drift", "drift by end, linear / beatwise (s)", "+.2f"),
            ("vs_beats", "drift vs detected beats, linear / beatwise (s)", "+.2f"),
            ("bailando", "BAS bailando pct (shift null), linear / beatwise", ".0f"),
            ("fact", "BAS fact pct (shift null), linear / beatwise", ".0f"),
            ("other", "bailando pct vs other tracks, linear / beatwise", ".0f")]
    lines = ["| pair | style | " + " | ".join(c[1] for c in cols) + " |",
             "|" + "---|" * (len(cols) + 2)]
    for s in both:
        lines.append(f"| {s} | {lin[s].get('style', '')} | " + " | ".join(
            f"{format(get(lin[s], w) + 0.0, f)} / {format(get(bw[s], w) + 0.0, f)}"
            for w, _h, f in cols) + " |")

    def med(src: dict[str, Any], w: str, names: list[str] | None = None) -> float:
        vals = [get(src[s], w) for s in (names or both)]
        return _median([abs(v) for v in vals] if w in ("drift", "vs_beats") else vals)

    lines.append("| **median** (abs for drift) | | " + " | ".join(
        f"{med(lin, w):{'.2f' if w in ('drift', 'vs_beats') else '.0f'}} / "
        f"{med(bw, w):{'.2f' if w in ('drift', 'vs_beats') else '.0f'}}"
        for w, _h, _f in cols) + " |")
    n = len(both)
    flag_l = sum(bool(lin[s]["tempo"].get("drift_flag")) for s in both)
    flag_b = sum(bool(bw[s]["tempo"].get("drift_flag")) for s in both)
    chacha = [get(bw[s], "bailando") for s in both if lin[s].get("style") == "cha-cha"]
    waltz = [s for s in both if lin[s].get("style") == "waltz"]
    return {
        "beatwise.table": "\n" + "\n".join(lines) + "\n",
        "beatwise.windows": str(bmeta["counts"]["windows"]),
        "beatwise.flagged": f"linear {flag_l}/{n}, beatwise {flag_b}/{n}",
        "beatwise.summary": (f"median |drift by end| {med(lin, 'drift'):.2f} → "
                             f"{med(bw, 'drift'):.2f} s, drift against the detected beats "
                             f"{med(lin, 'vs_beats'):.2f} → {med(bw, 'vs_beats'):.2f} s; "
                             f"median BAS percentile {med(lin, 'bailando'):.0f} → "
                             f"{med(bw, 'bailando'):.0f} (bailando)"),
        "beatwise.chacha_range": (f"{min(chacha):.0f}–{max(chacha):.0f}" if chacha else "none"),
        "beatwise.waltz_median": (f"{_pct(med(lin, 'bailando', waltz))} → "
                                  f"{_pct(med(bw, 'bailando', waltz))}" if waltz else "none"),
    }


def _dataset_numbers(meta: dict[str, Any]) -> dict[str, str]:
    c = meta["counts"]
    by = c["windows_by_split"]
    groups = meta["splits"].get("groups_per_split", {})
    audio_s = sum(p["audio_duration_s"] for p in meta["pairs"])
    return {
        "tang.pairs": str(c["pairs"]),
        "tang.windows": str(c["windows"]),
        "tang.problems": str(c["problems"]),
        "tang.splits": f"{by['train']} train / {by['val']} val / {by['test']} test",
        "tang.val_test_windows": f"{by['val']} and {by['test']}",
        "tang.sessions_per_split": "/".join(str(groups.get(s, 0))
                                            for s in ("train", "val", "test")),
        "tang.audio_min": f"{audio_s / 60:.1f}",
        "tang.dropped": ", ".join(f"{k} {v}" for k, v in sorted(c["dropped_by_reason"].items())),
    }


def _evidence_numbers(ev: dict[str, Any]) -> dict[str, str]:
    pairs = {_session(k): v for k, v in sorted(ev["pairs"].items())}
    n = len(pairs)
    shift = {s: p["null_circular_shift"] for s, p in pairs.items()}
    bail = {s: v["bailando"]["percentile"] for s, v in shift.items()}
    fact = {s: v["fact"]["percentile"] for s, v in shift.items()}
    top = [s for s, v in bail.items() if v >= SIGNIFICANT_PCT]
    best = max(bail, key=lambda s: bail[s])
    low = sorted((s for s, v in bail.items() if v <= BELOW_CHANCE_PCT), key=lambda s: bail[s])
    drift = {s: p["tempo"]["drift_end_s"] for s, p in pairs.items()}
    flagged = [s for s, p in pairs.items() if p["tempo"].get("drift_flag")]
    passes = [s for s, p in pairs.items() if p["offset"].get("passes")]
    others = [p["offset"] for s, p in pairs.items() if s not in passes]
    out = {
        "align.pairs": str(n),
        "align.bas_median_pct": f"{_median(list(bail.values())):.0f} (bailando) / "
                                f"{_median(list(fact.values())):.0f} (fact)",
        "align.bas_median_bailando": f"{_median(list(bail.values())):.0f}",
        "align.bas_median_fact": f"{_median(list(fact.values())):.0f}",
        "align.bas_top": (f"no pair reaches {SIGNIFICANT_PCT:g} (highest {best}, "
                          f"{_pct(bail[best])})" if not top else
                          f"{'only ' if len(top) == 1 else ''}{_join(top)} "
                          f"reach{'es' if len(top) == 1 else ''} ≥ {SIGNIFICANT_PCT:g}"),
        "align.bas_low": _join([f"{s} ({_pct(bail[s])})" for s in low]) if low else "none",
        "align.bas_low_names": _join(low) if low else "none",
        "align.drift_flagged": f"{len(flagged)} of {n}",
        "align.median_abs_drift": f"{_median([abs(v) for v in drift.values()]):.2f} s",
        "align.offset_passes": (f"only {passes[0]} passes" if len(passes) == 1 else
                                f"{_join(passes)} pass" if passes else "no pair passes"),
        "align.offset_pass_detail": "; ".join(
            ("" if len(passes) == 1 else f"{s}: ") + _offset_detail(pairs[s]["offset"])
            for s in passes) or "none",
        "align.offset_ratio_range": (f"{min(o['peak_ratio'] for o in others):.2f}–"
                                     f"{max(o['peak_ratio'] for o in others):.2f}"
                                     if others else "none"),
        "align.offset_halves_range": (f"{min(o['halves_diff_s'] for o in others):.1f}–"
                                      f"{max(o['halves_diff_s'] for o in others):.1f} s"
                                      if others else "none"),
        "align.table": _evidence_table(pairs),
    }
    for style_set, name in ((("cha-cha", "rumba"), "cha-cha/rumba"), (("waltz",), "waltz")):
        vals = [bail[s] for s, p in pairs.items() if p.get("style") in style_set]
        if vals:
            out[f"align.bas_median_pct:{name}"] = _pct(_median(vals))
    for s, p in pairs.items():
        t = p["tempo"]
        out[f"align.tempo:{s}"] = (f"implied {t['implied_bpm']:.1f} vs measured "
                                   f"{t['measured_bpm']:.1f} bpm, "
                                   f"{_num(t['drift_end_s'], '+.2f')} s")
    return out


def _offset_detail(o: dict[str, Any]) -> str:
    return (f"ratio {o['peak_ratio']:.2f}, halves {_num(o['first_half_s'], '.2f')}/"
            f"{_num(o['second_half_s'], '.2f')} s")


def _evidence_table(pairs: dict[str, dict[str, Any]]) -> str:
    """The per-pair table of docs/alignment.md (one row per scored pair)."""
    head = ("| pair | style | BAS bailando (m→k) | pct shift / tracks | z | BAS fact (k→m) | "
            "pct shift / tracks | z | bpm implied | bpm measured | drift by end (s) | "
            "drift vs detected beats (s) | offset (s) | peak ratio | halves (s) | passes |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for s, p in pairs.items():
        cells = [s, p.get("style", "")]
        for variant in ("bailando", "fact"):
            sh, ot = p["null_circular_shift"][variant], p["null_other_tracks"][variant]
            cells += [f"{p['bas'][variant]:.3f}",
                      f"{sh['percentile']:.0f} / {ot['percentile']:.0f}", f"{sh['z']:+.2f}"]
        t, o = p["tempo"], p["offset"]
        implied = "–" if t.get("implied_bpm") is None else (
            f"{t['implied_bpm']:.1f}" + ("" if t.get("independent_of_audio") else "*"))
        cells += [implied, f"{t['measured_bpm']:.1f}",
                  f"{t['drift_end_s']:+.2f}" + (" **flag**" if t.get("drift_flag") else ""),
                  f"{t['drift_vs_beats_s']:+.2f}", f"{o['best_s']:+.3f}",
                  f"{o['peak_ratio']:.2f}", f"{o['first_half_s']:+.2f} / {o['second_half_s']:+.2f}",
                  "yes" if o.get("passes") else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n" + "\n".join(lines) + "\n"


def rewrite(text: str, values: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """``text`` with every marked region set to its value.

    Returns
    -------
    (new text, names of regions that changed, names this script does not know)
    """
    changed: list[str] = []
    unknown: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in values:
            unknown.append(name)
            return m.group(0)
        if m.group("text") != values[name]:
            changed.append(name)
        return m.group(1) + values[name] + m.group(4)

    return REGION.sub(sub, text), changed, unknown


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="the default tang2018 build")
    ap.add_argument("--beatwise", type=Path, metavar="DIR",
                    help="the beatwise build (--clock beatwise --window-beats 8 --hop-beats 4 "
                         "--frames-per-beat 16) for the beatwise.* regions; without it they "
                         "are left as they are")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = ap.parse_args(argv)
    for d in (args.dataset, args.beatwise):
        if d is not None and not (d / "dataset.json").is_file():
            print(f"{d}: not a built dataset (no dataset.json)", file=sys.stderr)
            return 2
    values = numbers(args.dataset, args.beatwise)
    bad = 0
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        new, changed, unknown = rewrite(text, values)
        for name in unknown:
            if name.startswith("beatwise.") and args.beatwise is None:
                print(f"{path.relative_to(REPO)}: {name} not checked (no --beatwise build)")
                continue
            print(f"{path.relative_to(REPO)}: unknown region {name!r}", file=sys.stderr)
            bad += 1
        if changed and args.check:
            print(f"{path.relative_to(REPO)}: stale: {', '.join(changed)}", file=sys.stderr)
            bad += len(changed)
        elif changed:
            path.write_text(new, encoding="utf-8")
            print(f"{path.relative_to(REPO)}: rewrote {', '.join(changed)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
