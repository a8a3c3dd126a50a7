"""The end-to-end build on the real tang2018 data (skipped when the data is absent)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from motionpair.build.scan import scan
from motionpair.cli import app
from motionpair.consumers.verify import verify
from motionpair.store import load_window, read_dataset_json, read_manifest

COMPLETE = {"DANCE_C_2", "DANCE_C_4", "DANCE_C_6", "DANCE_R_2", "DANCE_R_3", "DANCE_R_4",
            "DANCE_R_5", "DANCE_W_1", "DANCE_W_3", "DANCE_W_4", "DANCE_W_5", "DANCE_W_6",
            "DANCE_W_7", "DANCE_W_8"}


def test_scan_pairs_complete_folders_and_names_missing_files(tang_dir):
    inv = scan([tang_dir])
    assert {p.session for p in inv.pairs} == COMPLETE
    reasons = {p.session: p.reason for p in inv.problems}
    assert set(reasons) == {"DANCE_C_9", "DANCE_T_2"}
    assert "missing audio.mp3" in reasons["DANCE_C_9"]
    assert "missing skeletons.json" in reasons["DANCE_T_2"]
    assert all(p.kind == "incomplete" for p in inv.problems)


def test_scan_cli_prints_table_and_writes_inventory(tang_dir, tmp_path):
    out = tmp_path / "inv.json"
    res = CliRunner().invoke(app, ["scan", str(tang_dir), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "DANCE_C_9" in res.output and "missing audio.mp3" in res.output
    inv = json.loads(out.read_text())
    assert inv["totals"]["paired"] == 14 and inv["totals"]["incomplete"] == 2


def test_build_pairs_14_sessions_on_the_song_clock(built):
    rows = built.rows
    assert {r.session for r in rows} == COMPLETE
    meta = read_dataset_json(built.out)
    c2 = next(p for p in meta["pairs"] if p["session"] == "DANCE_C_2")
    # DANCE_C_2 spans (2056-156)/25 = 76 s of song: about 72 five-second windows at 1 s hop
    assert 70 <= c2["windows"] <= 72
    assert c2["clock_map"]["kind"] == "linear"
    assert c2["clock_map"]["assumption"] == "tang2018.linear_warp_start_end_song_frames_25fps"
    span = c2["motion_track_span_s"]
    assert span[0] == pytest.approx(156 / 25, abs=1 / 30)
    assert span[1] == pytest.approx(2056 / 25, abs=2 / 30)
    # waltz: ~290 skeleton frames are stretched over ~50 s of song, not played at 25 fps
    w7 = next(p for p in meta["pairs"] if p["session"] == "DANCE_W_7")
    # (the last of T=291 frames starts 1/T of the span before E/25; no extrapolation past it)
    assert w7["motion_track_span_s"][1] - w7["motion_track_span_s"][0] == pytest.approx(
        (1294 - 65) / 25 * 290 / 291, abs=2 / 30)
    for r in rows:
        assert r.start_s * 30 == pytest.approx(round(r.start_s * 30), abs=1e-9)
        assert r.end_s - r.start_s == pytest.approx(5.0)
        assert "tang2018.linear_warp_start_end_song_frames_25fps" in r.assumptions


def test_build_reports_incomplete_folders_in_inventory(built):
    inv = json.loads((built.out / "inventory.json").read_text())
    paths = {p["path"]: p for p in inv["problems"]}
    assert paths["tang2018/DANCE_C_9/audio.mp3"]["kind"] == "incomplete"
    assert paths["tang2018/DANCE_T_2/skeletons.json"]["kind"] == "incomplete"


def test_splits_disjoint_by_session_and_recorded(built):
    meta = read_dataset_json(built.out)
    sessions = meta["splits"]["sessions"]
    assert sum(len(v) for v in sessions.values()) == 14
    assert not set(sessions["train"]) & set(sessions["val"])
    assert not set(sessions["train"]) & set(sessions["test"])
    assert meta["splits"]["groups_per_split"] == {"train": 11, "val": 2, "test": 1}


def test_verify_passes_and_arrays_match_manifest(built):
    fails, stats = verify(built.out)
    assert fails == []
    assert stats["windows"] == len(built.rows)
    rows = read_manifest(built.out)
    w = load_window(built.out, rows[0])
    assert w["mel"].shape == (150, 128) and w["baseline35"].shape == (150, 35)
    assert w["pose"].shape == (150, 23, 3) and w["pose_valid"].all()
    assert np.isfinite(w["velocity"]).all()
    res = CliRunner().invoke(app, ["verify", str(built.out)])
    assert res.exit_code == 0, res.output


def test_dataset_json_records_config_inputs_and_assumptions(built):
    meta = read_dataset_json(built.out)
    assert meta["config"]["hop"] == 735 and meta["config"]["fps_exact"] == "30"
    assert len(meta["config_sha256"]) == 64
    assert len(meta["inputs"]) == 14 * 3 and all(len(i["sha256"]) == 64 for i in meta["inputs"])
    assert "tang2018.linear_warp_start_end_song_frames_25fps" in meta["assumptions"]
    assert meta["audio"]["arrays"]["baseline35"]["shape"] == ["T", 35]
    assert meta["motion"]["skeleton"]["n_joints"] == 23
    speeds = meta["median_speed_by_style"]
    assert set(speeds) == {"cha-cha", "rumba", "waltz"}
    assert all(20 < v < 300 for v in speeds.values())  # cm/s: a dancer, not a 4x-fast replay


def test_parquet_equals_jsonl_and_sample_and_preview(built):
    import pyarrow.parquet as pq

    table = pq.read_table(built.out / "manifest.parquet").to_pylist()
    lines = [json.loads(x) for x in (built.out / "manifest.jsonl").read_text().splitlines()]
    assert table == lines
    sample = json.loads((built.out / "sample.json").read_text())
    assert sample["shapes"]["pose"] == [150, 23, 3]
    assert (built.out / "preview" / "sample.png").stat().st_size > 10_000


def test_preview_cli_draws_a_named_window(built, tmp_path):
    rid = built.rows[5].id
    png = tmp_path / "w.png"
    res = CliRunner().invoke(app, ["preview", str(built.out), "--id", rid, "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(app, ["preview", str(built.out), "--id", "nope"])
    assert res.exit_code == 2
