"""Numbers in README.md and docs/*.md that a build produces match the real tang2018 build.

Every ``<!-- numbers:NAME -->TEXT<!-- /numbers -->`` region must hold exactly what
``scripts/docs_numbers.py`` computes from the session's shared builds (``built`` and
``built_beatwise``, tests/conftest.py), so a change to the pipeline that moves a number fails
here until ``python scripts/docs_numbers.py out/tang2018 --beatwise out/tang2018-beats``
rewrites the docs.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from motionpair.store import read_manifest

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("docs_numbers",
                                                  REPO / "scripts" / "docs_numbers.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


dn = _script()


@pytest.fixture(scope="module")
def values(built, built_beatwise) -> dict[str, str]:
    return dn.numbers(built.out, built_beatwise.out)


def test_every_marked_number_matches_the_build(values):
    seen: dict[str, int] = {}
    stale = []
    for path in dn.doc_files(REPO):
        text = path.read_text(encoding="utf-8")
        new, changed, unknown = dn.rewrite(text, values)
        assert unknown == [], f"{path.name}: regions scripts/docs_numbers.py does not know"
        stale += [f"{path.name}: {name}" for name in changed]
        found = list(dn.REGION.finditer(text))
        for m in found:
            seen[m.group("name")] = seen.get(m.group("name"), 0) + 1
        # every opening marker is closed before the next one opens (no region swallows prose)
        assert len(found) == text.count("<!-- numbers:") == text.count("<!-- /numbers -->")
        assert not any("<!-- numbers:" in m.group("text") for m in found), path.name
    assert stale == [], ("stale numbers; run `python scripts/docs_numbers.py out/tang2018 "
                         "--beatwise out/tang2018-beats` on fresh builds (see its docstring): "
                         f"{stale}")
    # the issue-20 stale claims are under the mechanism now
    for name in ("align.table", "align.bas_top", "align.tempo:DANCE_R_5", "align.drift_flagged",
                 "align.bas_median_pct", "tang.windows", "beatwise.table",
                 "beatwise.summary"):
        assert seen.get(name), name
    assert sum(seen.values()) >= 30


def test_values_are_the_builds(built, values):
    """Spot checks against dataset.json itself (not through the script's own code)."""
    meta = json.loads((built.out / "dataset.json").read_text(encoding="utf-8"))
    by = meta["counts"]["windows_by_split"]
    assert values["tang.windows"] == str(len(read_manifest(built.out)))
    assert values["tang.splits"] == f"{by['train']} train / {by['val']} val / {by['test']} test"
    r5 = meta["alignment_evidence"]["pairs"]["tang2018/DANCE_R_5"]["tempo"]
    assert f"measured {r5['measured_bpm']:.1f} bpm" in values["align.tempo:DANCE_R_5"]
    table = values["align.table"].strip().splitlines()
    assert len(table) == 2 + len(meta["alignment_evidence"]["pairs"])
    # beatwise maps: no drift against the beats they are built from (by construction)
    assert re.search(r"drift against the detected beats \d+\.\d\d → 0\.00 s",
                     values["beatwise.summary"]), values["beatwise.summary"]


def test_rewrite_replaces_stale_and_reports_unknown():
    text = ("a <!-- numbers:x -->old<!-- /numbers --> b\n<!-- numbers:t -->\n| 1 |\n"
            "<!-- /numbers -->\n<!-- numbers:nope -->?<!-- /numbers -->")
    new, changed, unknown = dn.rewrite(text, {"x": "new", "t": "\n| 2 |\n"})
    assert changed == ["x", "t"] and unknown == ["nope"]
    assert "a <!-- numbers:x -->new<!-- /numbers --> b" in new and "| 2 |" in new
    assert dn.rewrite(new, {"x": "new", "t": "\n| 2 |\n", "nope": "?"})[1:] == ([], [])


def test_script_check_mode(built, built_beatwise, tmp_path, capsys):
    assert dn.main([str(built.out), "--beatwise", str(built_beatwise.out), "--check"]) == 0
    # without the beatwise build its regions are named as not checked, not failed
    assert dn.main([str(built.out), "--check"]) == 0
    assert "beatwise.table not checked" in capsys.readouterr().out
    assert dn.main([str(tmp_path), "--check"]) == 2
    assert "not a built dataset" in capsys.readouterr().err


def test_time_block_numbers_are_a_real_time_block_build(values, tang_dir, tmp_path, cache_dir,
                                                        built):
    """The docs' time-block counts come from the default build's rows through the build's
    own split function; a real ``--split-by time-block`` build (features from the session
    cache: seconds) gives the same counts."""
    from collections import Counter

    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    res = build([tang_dir], tmp_path / "tb", BuildConfig(split_by="time-block"), workers=1,
                cache_dir=cache_dir)
    n = Counter(r.split for r in read_manifest(res.out))
    assert values["tang.time_block"] == (
        f"train {n['train']} / val {n['val']} / test {n['test']} and puts {n['guard']} of "
        f"{sum(n.values())} windows")
