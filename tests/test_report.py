"""``motionpair report``: self-contained HTML + Markdown on the real build; chromium render."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from motionpair.cli import app
from motionpair.consumers.report import summarise, union_s, write_report
from motionpair.store import read_dataset_json, read_manifest

REPO = Path(__file__).resolve().parents[1]


def test_union_counts_overlaps_once():
    assert union_s([(0, 5), (1, 6), (2, 7), (10, 11)]) == 8
    assert union_s([]) == 0


@pytest.fixture(scope="module")
def report_dir(built, tmp_path_factory) -> Path:
    return write_report(built.out, tmp_path_factory.mktemp("rep") / "report")


def test_report_content(built, report_dir):
    meta = read_dataset_json(built.out)
    rows = read_manifest(built.out)
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    # opens offline: every image inlined (small), each a link to its full PNG beside the
    # page; nothing is fetched from anywhere else
    assert len(re.findall(r"src='data:image/png;base64,", html)) >= 6
    assert not re.search(r"src=['\"](?!data:)", html)
    links = re.findall(r"href='([^'#][^']*)'", html)
    assert len(links) == len(re.findall(r"<img ", html)) and "tempo.png" in links
    assert all("/" not in h and ":" not in h and (report_dir / h).is_file() for h in links)
    assert "Normalisation statistics" in html
    for session in {r.session for r in rows}:
        assert session in html and session in md
    s = summarise(meta, rows)
    assert s["windows"] == len(rows) == sum(v["windows"] for v in s["splits"].values())
    assert s["splits"]["train"]["windows"] == meta["counts"]["windows_by_split"]["train"]
    # hours of audio used: union of windows, never more than the tracks
    assert 0 < s["audio_used_h"] < s["audio_total_h"] < 1.0
    assert "tang2018.linear_warp_start_end_song_frames_25fps" in md
    assert "no_pose" in md and "| train |" in md
    # a summary and every figure first, the tables after
    assert html.index("<h2>Summary</h2>") < html.index("tempo.png") < html.index(
        "<h2>Tables</h2>") < html.rindex("Normalisation statistics")
    assert md.index("## Summary") < md.index("](tempo.png)") < md.index("## Tables")
    assert f"{len(rows)} windows (train {s['splits']['train']['windows']} " in md
    assert ("Alignment evidence" in html) == ("alignment_evidence" in meta)
    for png in ("pose_coverage.png", "tempo.png", "speed.png", "preview_train.png"):
        assert (report_dir / png).stat().st_size > 5000 and f"]({png})" in md


def test_report_is_deterministic(built, report_dir, tmp_path):
    again = write_report(built.out, tmp_path / "again")
    for name in ("report.html", "report.md", "summary.json"):
        assert (again / name).read_bytes() == (report_dir / name).read_bytes()


def test_report_cli_default_location(built, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(built.out, d, symlinks=True)
    res = CliRunner().invoke(app, ["report", str(d)])
    assert res.exit_code == 0, res.output
    assert (d / "report" / "report.html").is_file()
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not found" in res.output  # the CLI contract's line


def _chromium_script():
    """scripts/check_report_chromium.py as a module (it is a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_report_chromium",
                                                  REPO / "scripts" / "check_report_chromium.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CHROMIUM = _chromium_script().find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary found (looked for chromium, chromium-browser "
                             "on PATH and /usr/bin/chromium; Debian: apt-get install -y chromium)")


@needs_chromium
def test_report_renders_in_headless_chromium_at_1280px(report_dir, tmp_path):
    shot = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "check_report_chromium.py"),
                           str(report_dir / "report.html"), "--out", str(shot),
                           "--width", "1280"],
                          capture_output=True, text=True, timeout=240, check=False)
    # exit 1 also when the page or a table box scrolls sideways at 1280 px
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[1] == 1280 and img.shape[0] >= 1000
    # a broken page renders (nearly) blank: the screenshot must hold tables and plots
    assert float(np.std(img[..., :3])) > 0.05
    assert float((img[..., :3].mean(axis=2) < 0.5).mean()) > 0.01


@needs_chromium
def test_report_fits_1280px_without_sideways_scrolling(report_dir):
    widths = _chromium_script().page_widths(report_dir / "report.html", width=1280)
    page_scroll, page_client = widths["page"]
    assert page_client >= 1200 and page_scroll <= page_client, widths
    # every table box (sessions, evidence per pair, ...) fits: no table scrolls sideways
    assert len(widths["boxes"]) >= 8
    assert [b for b in widths["boxes"] if b[0] > b[1]] == [], widths
    # figures as a grid of small copies: the page is about half the 19,000 px it was
    assert widths["height"] < 12000, widths["height"]


def test_report_reads_well(built, report_dir):
    """Units in the column heads, rounded numbers, evidence in page-wide tables, every
    alignment picture numbered, coverage picture with kept/dropped windows."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    assert "<th>duration (s)</th>" in html and "<th>tempo (BPM)</th>" in html
    assert "position:sticky" in html  # table heads stay visible while scrolling
    # no raw float reprs such as 0.008333333333333333 anywhere in the tables
    assert not re.search(r"<td>-?\d+\.\d{7,}</td>", html)
    heads = re.findall(r"^### (Alignment evidence per pair: .+)$", md, flags=re.M)
    assert {"Alignment evidence per pair: tempo and drift",
            "Alignment evidence per pair: offset search"} <= set(heads)
    assert "<th>drift end (s)</th>" in html
    meta = read_dataset_json(built.out)
    n = len(meta["alignment_evidence"]["pairs"])
    assert f"Alignment evidence pictures: all {n}, one per scored pair" in html
    for k in range(1, n + 1):
        assert f"alignment evidence {k} of {n}:" in html
    assert "windows per track kept or dropped" in md


def test_report_is_small_with_readable_cells(built, report_dir):
    """Under 1 MB for tang2018 (inlined small copies, full PNGs beside it) and every table
    cell in words: no raw JSON lists, no Python booleans or None."""
    page = report_dir / "report.html"
    assert page.stat().st_size < 1_000_000, page.stat().st_size
    html = page.read_text(encoding="utf-8")
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert len(cells) > 500
    raw = [c for c in cells if c in ("True", "False", "None", "{}") or c.startswith("[")]
    assert raw == [], raw[:10]
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"\| (True|False|None|\[[^|]*\]) \|", md)
    # lists read as a count and names, spans as a range, flags as yes/no
    meta = read_dataset_json(built.out)
    flagged = meta["alignment_evidence"]["summary"]["drift_flagged"]
    assert f"<td>{len(flagged)}: {flagged[0].split('/')[-1]}, " in html
    assert re.search(r"<td>-?\d+(\.\d+)? – \d+(\.\d+)?</td>", html)
    assert "<td>yes</td>" in html and "<td>no</td>" in html
    # a group of facts only some pairs have (cha-cha/rumba check) gets no empty rows
    assert not re.search(r"<tr><td>DANCE_\w+</td>(<td></td>)+</tr>", html)


def test_cell_words():
    from motionpair.consumers.report import _cell, _flatten

    assert _cell(True) == "yes" and _cell(False) == "no" and _cell(None) == "–"
    assert _cell([-3.0, 3.0], "search_s") == "-3 – 3"
    assert _cell(["tang2018/DANCE_W_4"]) == "DANCE_W_4"
    assert _cell(["a/x", "a/y"]) == "2: x, y" and _cell([]) == "none"
    assert _cell(0.123456789) == "0.1235"
    assert _flatten({"a": {"b": [1, 2]}, "c": {}}) == {"a.b": "2: 1, 2", "c": "none"}
