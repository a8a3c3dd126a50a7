"""Truncated audio: a pair whose danced span lies inside what decodes builds from the decoded
audio (named assumption, missing seconds recorded); scan and build give one verdict.

DERIVED fixtures, made at test time from real tang2018 files: ``audio.mp3`` of DANCE_W_4 with
its tail cut (half the bytes kept: 83 s of 173 s decode, the dance ends at 62.4 s) and of
DANCE_W_7 cut to 30 % of its bytes (51.5 s decode, the dance ends at 51.8 s). Their
skeletons and config.json are the real files (symlinked).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

CUTS = {"DANCE_W_4": 0.5, "DANCE_W_7": 0.3}  # share of the MP3's bytes kept


@pytest.fixture(scope="module")
def cut_corpus(tang_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("truncated") / "in"
    for session, share in CUTS.items():
        (root / session).mkdir(parents=True)
        for name in ("config.json", "skeletons.json"):
            (root / session / name).symlink_to(tang_dir / session / name)
        data = (tang_dir / session / "audio.mp3").read_bytes()
        (root / session / "audio.mp3").write_bytes(data[:int(len(data) * share)])
    return root


def _verdicts(inv) -> dict[str, bool]:
    return {u["session"]: bool(u.get("paired")) for u in inv.units}


def test_a_cut_tail_outside_the_dance_builds_with_the_assumption(cut_corpus, built, tmp_path,
                                                                 cache_dir):
    from motionpair.build.dataset import build
    from motionpair.build.scan import scan
    from motionpair.config import BuildConfig
    from motionpair.features.audio import TRUNCATED
    from motionpair.store import load_window

    inv = scan([cut_corpus])
    assert _verdicts(inv) == {"DANCE_W_4": True, "DANCE_W_7": False}
    w4 = next(u for u in inv.units if u["session"] == "DANCE_W_4")["audio_truncated"]
    assert w4["declared_s"] == pytest.approx(172.787, abs=1e-3)
    assert 80 < w4["decoded_s"] < 86 and w4["missing_s"] == pytest.approx(
        w4["declared_s"] - w4["decoded_s"])
    (bad,) = inv.problems
    assert bad.reason.startswith(f"{cut_corpus}/DANCE_W_7/audio.mp3: truncated audio: the "
                                 "header declares 186.57 s but only")
    assert "the dance ends at 51.76 s of the track, after what decodes" in bad.reason

    summary = build([cut_corpus], tmp_path / "ds", BuildConfig(), workers=1,
                    cache_dir=cache_dir)
    assert {r.session for r in summary.rows} == {"DANCE_W_4"}  # build = scan
    assert [p.session for p in summary.problems] == ["DANCE_W_7"]
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    (pair,) = meta["pairs"]
    assert pair["audio_truncated"] == w4 and TRUNCATED in meta["assumptions"]
    assert "cut tail" in meta["assumptions"][TRUNCATED]
    assert all(TRUNCATED in r.assumptions for r in summary.rows)
    # the same windows as the full file's: same count, same motion, same early music
    full = [r for r in built.rows if r.session == "DANCE_W_4"]
    assert [r.start_frame for r in summary.rows] == [r.start_frame for r in full]
    a, b = load_window(tmp_path / "ds", summary.rows[0]), load_window(built.out, full[0])
    assert np.array_equal(a["pose"], b["pose"])
    np.testing.assert_allclose(a["mel"], b["mel"], atol=1e-3)


def test_scan_and_build_verdicts_agree_on_the_shared_corpus(tang_dir, built, tmp_path,
                                                            cache_dir):
    """Every input of ../shared/data: paired by scan iff the build pairs it (tang2018 from the
    session build, tang2018-extra and video built here)."""
    from motionpair.build.dataset import build
    from motionpair.build.scan import scan
    from motionpair.config import BuildConfig

    data = tang_dir.parent
    roots = sorted(p for p in data.iterdir() if p.is_dir())
    inv = scan(roots)
    scanned = {(u["source"], u["session"]) for u in inv.units if u.get("paired")}
    others = [r for r in roots if r.name != "tang2018"]
    summary = build(others, tmp_path / "ds", BuildConfig(), workers=2, cache_dir=cache_dir)
    built_pairs = {(r.source, r.session) for r in [*built.rows, *summary.rows]}
    assert scanned == built_pairs
    assert len(scanned) == 27  # 14 tang2018 + 13 tang2018-extra
    not_paired = {(u["source"], u["session"]) for u in inv.units if not u.get("paired")}
    assert not_paired == {("tang2018", "DANCE_C_9"), ("tang2018", "DANCE_T_2")}
