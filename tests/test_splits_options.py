"""Splits a researcher can pin (``--splits FILE``), style-stratified splits (``--stratify
style``) and the small-split warning.

Tiny inputs pin the arithmetic; the real part builds 3 real tang2018 waltz folders (the
issue's case: a 3-session build split one session each) through the CLI.
"""

from __future__ import annotations

import json

import pytest

from motionpair.build.splits import (
    pinned_splits,
    read_split_list,
    small_split_warnings,
    stratified_splits,
)
from realsubset import real_subset


def test_split_list_text_and_json(tmp_path):
    f = tmp_path / "splits.txt"
    f.write_text("# AIST++-style list\nDANCE_W_4 train\nDANCE_W_7, validation\n\n"
                 "DANCE_W_8\ttest  # held out\n")
    assert read_split_list(f) == (("DANCE_W_4", "train"), ("DANCE_W_7", "val"),
                                  ("DANCE_W_8", "test"))
    j = tmp_path / "splits.json"
    j.write_text(json.dumps({"DANCE_W_8": "test", "DANCE_W_4": "val"}))
    assert read_split_list(j) == (("DANCE_W_4", "val"), ("DANCE_W_8", "test"))
    f.write_text("DANCE_W_4 train\nDANCE_W_7 holdout\n")
    with pytest.raises(ValueError, match=r"line 2: unknown split 'holdout'"):
        read_split_list(f)
    f.write_text("DANCE_W_4 train\nDANCE_W_4 test\n")
    with pytest.raises(ValueError, match="listed twice"):
        read_split_list(f)
    with pytest.raises(ValueError, match="cannot read"):
        read_split_list(tmp_path / "nope.txt")


def test_pinned_splits_never_guess():
    out, info = pinned_splits(["a", "b"], (("a", "train"), ("b", "test"), ("z", "val")))
    assert out == {"a": "train", "b": "test"} and info["listed_not_built"] == ["z"]
    with pytest.raises(ValueError, match="not in the list: c"):
        pinned_splits(["a", "c"], (("a", "train"),))


def test_stratified_splits_put_every_style_in_every_split():
    groups = [f"{s}{i}" for s in "cw" for i in range(5)] + ["r0"]
    out, info = stratified_splits(groups, {g: g[0] for g in groups}, ratios=(0.6, 0.2, 0.2))
    for style in "cw":
        assert {out[g] for g in groups if g[0] == style} == {"train", "val", "test"}
    assert out["r0"] == "train" and "too few" in info["strata"]["r"]["note"]
    again, _ = stratified_splits(list(reversed(groups)), {g: g[0] for g in groups},
                                 ratios=(0.6, 0.2, 0.2))
    assert again == out  # depends on the set of sessions, the ratios and the seed only


def test_small_split_warning_names_the_fix():
    w = small_split_warnings({"train": ["a", "b", "c"], "val": ["d", "e"], "test": ["f"]},
                             {"train": 900, "val": 40, "test": 60})
    assert len(w) == 2 and w[0].startswith("validation: 2 session(s)") and "4.0 %" in w[0]
    assert w[1].startswith("test: 1 session(s) (f)") and "--splits FILE" in w[1]
    assert small_split_warnings({"train": ["a", "b"], "val": ["c", "d"]},
                                {"train": 50, "val": 50}) == []


@pytest.mark.realdata
@pytest.mark.slow
def test_three_real_sessions_warn_and_a_pinned_list_is_followed(tang_dir, tmp_path, cache_dir):
    from typer.testing import CliRunner

    from motionpair.cli import app

    src = real_subset(tang_dir, tmp_path / "in", writable=False)

    def build(*extra):
        return CliRunner().invoke(app, ["build", str(src), "--out", str(tmp_path / "ds"),
                                        "--cache", str(cache_dir), "--workers", "1", *extra])

    res = build()
    assert res.exit_code == 0, res.output
    warned = [ln for ln in res.stderr.splitlines() if ln.startswith("split warning: ")]
    # one session per split: all three warned, each with the fix
    assert len(warned) == 3 and all("--splits FILE" in ln for ln in warned)
    assert "train: 1 session(s)" in warned[0] and "a model trained on it learns" in warned[0]
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert len(meta["splits"]["small_splits"]) == 3
    assert "Warning, small split: validation: 1 session(s)" in \
        (tmp_path / "ds" / "README.md").read_text()

    pinned = tmp_path / "splits.txt"
    pinned.write_text("DANCE_W_4 test\nDANCE_W_7 train\nDANCE_W_8 train\n")
    res = build("--splits", str(pinned), "--split-ratios", "1,0,1")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["splits"]["method"] == "pinned"
    assert meta["splits"]["sessions"] == {"train": ["DANCE_W_7", "DANCE_W_8"], "val": [],
                                          "test": ["DANCE_W_4"]}
    assert meta["config"]["split_list"][0] == ["DANCE_W_4", "test"]
    rows = [json.loads(ln) for ln in (tmp_path / "ds" / "manifest.jsonl").open()]
    assert {r["split"] for r in rows if r["session"] == "DANCE_W_4"} == {"test"}

    pinned.write_text("DANCE_W_4 test\n")
    res = build("--splits", str(pinned))
    assert res.exit_code == 1 and "DANCE_W_7, DANCE_W_8" in res.output
    pinned.write_text("DANCE_W_4 later\n")
    assert build("--splits", str(pinned)).exit_code == 2
