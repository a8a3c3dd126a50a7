"""CLI conventions: --version, -h, --json (stdout) with messages on stderr, typed choices
checked before any work, exit codes 0/1/2, no hard wrapping off a terminal, tables that
fit, and nothing written outside --out unless asked.

Real data: 3 real tang2018 folders linked into a temp tree (tests/realsubset.py).
"""

from __future__ import annotations

import json
import time

import pytest
from rich.console import Console
from typer.testing import CliRunner

from motionpair import __version__
from motionpair.cli import app
from realsubset import real_subset


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_version_and_short_help():
    res = run("--version")
    assert res.exit_code == 0 and res.stdout.startswith(f"motionpair {__version__}")
    for args in (["-h"], ["build", "-h"], ["export-shards", "-h"]):
        res = run(*args)
        assert res.exit_code == 0 and "Usage:" in res.stdout, args
    assert "--quiet" in run("-h").stdout and "--verbose" in run("-h").stdout


def test_choices_are_checked_before_any_work(tmp_path):
    t0 = time.perf_counter()
    res = run("build", tmp_path, "--out", tmp_path / "out", "--clock", "beatwize")
    assert res.exit_code == 2 and "beatwise" in res.stderr  # names the valid choices
    assert time.perf_counter() - t0 < 5 and not (tmp_path / "out").exists()
    res = run("build", tmp_path, "--out", tmp_path / "o", "--split-by", "time_blocks")
    assert res.exit_code == 2 and "time-block" in res.stderr
    assert run("export-shards", tmp_path, "--format", "tfrecord", "--out",
               tmp_path / "x").exit_code == 2


def test_files_where_folders_are_expected_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "audio.mp3").write_bytes(b"")
    res = run("prep-audio", "audio.mp3", "--out", "prepped")
    assert res.exit_code == 2 and "audio.mp3" in res.stderr and "is a file" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.mp3"]
    assert run("scan", "audio.mp3").exit_code == 2


def test_table_switches_to_vertical_layout_when_too_wide():
    from rich.table import Table

    from motionpair import ui

    t = Table(title="wide")
    for i in range(12):
        t.add_column(f"column {i}")
    t.add_row(*[f"value-{i}-" + "x" * 10 for i in range(12)])
    narrow = Console(width=60, record=True, force_terminal=True)
    ui.show_table(narrow, t)
    text = narrow.export_text()
    assert "column 11 value-11-xxxxxxxxxx" in " ".join(text.split())
    wide = Console(width=400, record=True, force_terminal=True)
    ui.show_table(wide, t)
    assert "│" in wide.export_text() or "┃" in wide.export_text()  # the plain table


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def inputs(tang_dir, tmp_path_factory):
    # a long folder name: a wrapped line would break it
    root = tmp_path_factory.mktemp("cli") / ("a-rather-long-folder-name-" * 4).rstrip("-")
    return real_subset(tang_dir, root, writable=False)


@pytest.fixture(scope="module")
def ds(inputs, tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("cliout") / "ds"
    res = run("build", inputs, "--out", out, "--cache", cache_dir, "--workers", "1",
              "--json", "-")
    assert res.exit_code == 0, res.output
    return out, json.loads(res.stdout), res


@pytest.mark.realdata
def test_scan_json_to_stdout_and_no_wrapping(inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run("scan", inputs, "--json", "-")
    assert res.exit_code == 0
    inv = json.loads(res.stdout)  # stdout is only the JSON
    assert inv["totals"]["paired"] == 3
    assert not (tmp_path / "-").exists() and not list(tmp_path.iterdir())
    assert "units 3, paired 3" in res.stderr
    res = run("scan", inputs)
    lines = res.stdout.splitlines()
    assert any(str(inputs.name) in line for line in lines) or "DANCE_W_4" in res.stdout
    assert all(len(line) < 400 for line in lines)
    summary = [line for line in lines if line.startswith("units ")]
    assert summary and "danced song time" in summary[0]  # one line, never wrapped


@pytest.mark.realdata
@pytest.mark.slow
def test_build_json_summary(ds, inputs):
    out, doc, res = ds
    assert doc["inputs"] == [str(inputs.resolve())] and doc["out"] == str(out.resolve())
    assert set(doc["windows_by_split"]) <= {"train", "validation", "test"}
    assert sum(doc["windows_by_split"].values()) == doc["windows"] > 0
    s = doc["sample"]
    assert s["id"].startswith("tang2018/") and s["shapes"]["pose"][1:] == [23, 3]
    assert len(s["track_s"]) == 2 and len(s["motion_s"]) == 2
    assert "tang2018.linear_warp_start_end_song_frames_25fps" in doc["assumptions"]
    assert "motionpair build" in res.stderr and str(inputs.resolve()) in res.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_verify_json_and_exit_codes(ds, tmp_path):
    out, _, _ = ds
    res = run("verify", out, "--json", "-")
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True
    res = run("verify", tmp_path, "--json", "-")  # not a dataset: usage (README), one line
    assert res.exit_code == 2 and json.loads(res.stdout)["ok"] is False
    assert "not a motionpair dataset" in res.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_align_and_preview_write_nothing_outside_the_dataset(ds, cache_dir, tmp_path,
                                                             monkeypatch):
    out, _, _ = ds
    monkeypatch.chdir(tmp_path)
    res = run("align", out, "--cache", cache_dir, "--json", "-")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["pairs"]) == 3
    res = run("preview", out)
    assert res.exit_code == 0 and (out / "previews" / "sample.png").is_file()
    assert not list(tmp_path.iterdir())  # nothing in the current directory


@pytest.mark.realdata
@pytest.mark.slow
def test_rebuild_keeps_report_and_quiet(ds, inputs, cache_dir):
    out, _, _ = ds
    assert run("report", out).exit_code == 0
    html = (out / "report" / "report.html").read_bytes()
    res = run("--quiet", "build", inputs, "--out", out, "--cache", cache_dir, "--workers", "1")
    assert res.exit_code == 0
    assert (out / "report" / "report.html").read_bytes() == html
    assert res.stderr == ""  # --quiet: no notes, no progress
    assert "motionpair build" in res.stdout


def test_track_minutes_count_each_track_once():
    from motionpair import ui

    m = ui.TrackMinutes([("a", 120.0), ("b", None), ("c", 60.0), ("a", 120.0)])
    assert m.fields() == {"minutes_done": 0.0, "minutes_total": 3.0}
    m.finish("a")
    assert m.finish("a") == {"minutes_done": 2.0, "minutes_total": 3.0}  # shared track once
    assert m.finish("b")["minutes_done"] == 2.0  # unknown duration: left out
    assert ui.TrackMinutes([("x", None)]).fields()["minutes_total"] is None


@pytest.mark.realdata
@pytest.mark.slow
def test_build_names_each_writing_step_and_counts_the_pictures(inputs, tmp_path, cache_dir):
    """After pairing, the build names each step of writing the dataset (the progress bar
    shows it as ``writing: <step>``), counting the alignment pictures."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    steps: list[str] = []
    build([inputs], tmp_path / "ds", BuildConfig(), workers=1, cache_dir=cache_dir,
          on_step=steps.append)
    assert steps == ["manifest", "normalisation statistics", "shard checksums",
                     "alignment evidence", "alignment pictures 1/3", "alignment pictures 2/3",
                     "alignment pictures 3/3", "dataset card", "preview"]


def test_progress_counts_minutes_and_eta_on_a_terminal_only(ds, cache_dir, monkeypatch):
    import re

    out, _, built = ds
    # off a terminal (CliRunner's stderr is a pipe): no bar, no redraws, no blank line
    assert "━" not in built.stderr and not built.stderr.startswith("\n")
    res = run("align", out, "--cache", cache_dir)
    assert res.exit_code == 0 and "━" not in res.stderr and "ETA" not in res.stderr
    # on a terminal (FORCE_COLOR makes rich treat the stream as one): pairs done/total,
    # audio minutes done/total and an ETA
    monkeypatch.setenv("FORCE_COLOR", "1")
    res = run("align", out, "--cache", cache_dir)
    assert res.exit_code == 0, res.output
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", res.stderr)
    assert re.search(r"3/3 pairs \d+\.\d/\d+\.\d audio min", text), text[-500:]
    assert "ETA" in text
    res = run("--quiet", "align", out, "--cache", cache_dir)
    assert res.exit_code == 0 and "━" not in res.stderr
