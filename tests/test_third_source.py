"""Issue 13 acceptance: a new input format is one new file (tests/csvmotion_source.py).

The source module is found through ``MOTIONPAIR_SOURCES`` (nothing in motionpair names
it); the folders it reads are DERIVED at test time from two real tang2018 pairs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from csvmotion_source import write_csvmotion

ROOT = Path(__file__).resolve().parents[1]


def _env(with_source: bool) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    env.pop("MOTIONPAIR_SOURCES", None)
    if with_source:
        env["MOTIONPAIR_SOURCES"] = "csvmotion_source"
    return env


def _cli(*args: str, with_source: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motionpair", *args], env=_env(with_source),
                          capture_output=True, text=True, timeout=600)


@pytest.mark.realdata
def test_one_file_source_builds_end_to_end(tang_dir, tmp_path):
    data = tmp_path / "csv"
    for s in ("DANCE_C_2", "DANCE_R_3"):
        write_csvmotion(tang_dir / s, data / s.replace("DANCE", "csv"), seconds=12.0)
    # without the module the folders are not recognised (nothing else knows the format)
    res = _cli("scan", str(data), "--json", "-", with_source=False)
    assert "no recognised input" in res.stdout + res.stderr
    res = _cli("build", str(data), "--out", str(tmp_path / "out"), "--no-cache",
               "--workers", "1", "--json", str(tmp_path / "build.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    rows = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert {r["source"] for r in rows} == {"csvmotion"}
    assert len(rows) >= 2 * 6  # 12 s at 5 s windows, 1 s hop: 8 per pair minus edge loss
    assert "csvmotion.t_s_is_track_time" in meta["assumptions"]
    assert meta["motion"]["skeleton"]["n_joints"] == 23
    ver = _cli("verify", str(tmp_path / "out"))
    assert ver.returncode == 0, ver.stdout + ver.stderr
    # beat windows work for this dense source through the same code path
    res = _cli("build", str(data), "--out", str(tmp_path / "beats"), "--no-cache",
               "--workers", "1", "--window-beats", "4")
    assert res.returncode == 0, res.stdout + res.stderr
    beat_rows = (tmp_path / "beats" / "manifest.jsonl").read_text().splitlines()
    assert beat_rows and all(json.loads(x)["grid"] == "beats" for x in beat_rows)
    # and a clock it cannot honour is refused, naming the source
    res = _cli("build", str(data), "--out", str(tmp_path / "bw"), "--no-cache",
               "--clock", "beatwise")
    assert res.returncode != 0
    assert "--clock beatwise is not available for source(s) csvmotion" in res.stdout + res.stderr
