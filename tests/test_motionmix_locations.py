"""Where MotionMix data lives (issue 11, item 6): ``scan`` with no FOLDER.

The places are folders made in a temp dir: ``$HOME`` (for ``~/Desktop/MotionMix``),
``$MOTIONMIX_ROOT`` and the external drives' folder (``$MOTIONPAIR_VOLUMES`` standing in
for ``/Volumes``). The MotionMix documents are empty files with MotionMix's names: only
their presence is reported, never their content.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motionpair.sources.motionmix.locations import DOCS, locations_report, report_lines


@pytest.fixture
def places(tmp_path, monkeypatch):
    """No $MOTIONMIX_ROOT, an empty $HOME, a volumes folder with no drive yet."""
    monkeypatch.delenv("MOTIONMIX_ROOT", raising=False)
    home, vol = tmp_path / "home", tmp_path / "Volumes"
    home.mkdir()
    vol.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MOTIONPAIR_VOLUMES", str(vol))
    return {"home": home, "volumes": vol, "desktop": home / "Desktop" / "MotionMix",
            "tmp": tmp_path}


def _drive(places, name: str, *subdirs: str) -> Path:
    root = places["volumes"] / name / "MotionMix"
    root.mkdir(parents=True)
    for s in subdirs:
        (root / s).mkdir()
    return root


def test_discovery_order(places, monkeypatch):
    """$MOTIONMIX_ROOT, then ~/Desktop/MotionMix, then /Volumes/*/MotionMix sorted: the first
    that exists is the root; other existing ones are listed, not scanned."""
    hd2 = _drive(places, "HD2", "sessions")
    hd1 = _drive(places, "HD1", "sessions")
    rep = locations_report()
    assert rep["root"] == str(hd1) and rep["root_exists"]
    assert rep["chosen_by"] == f"external drive ({places['volumes']}/*/MotionMix)"
    assert rep["also_found"] == [str(hd2)]
    assert rep["scan_paths"] == [str(hd1 / "sessions")]
    assert [c["how"] for c in rep["looked_at"]][:2] == ["$MOTIONMIX_ROOT", "~/Desktop/MotionMix"]
    assert [c["path"] for c in rep["looked_at"]][2:] == [str(hd1), str(hd2)]
    (places["desktop"] / "audio").mkdir(parents=True)
    rep = locations_report()
    assert rep["root"] == str(places["desktop"]) and rep["also_found"] == [str(hd1), str(hd2)]
    mine = places["tmp"] / "mine"
    mine.mkdir()
    monkeypatch.setenv("MOTIONMIX_ROOT", str(mine))
    rep = locations_report()
    assert rep["root"] == str(mine) and rep["chosen_by"] == "$MOTIONMIX_ROOT"
    # a $MOTIONMIX_ROOT that does not exist is reported MISSING; the next place is used
    monkeypatch.setenv("MOTIONMIX_ROOT", str(places["tmp"] / "typo"))
    rep = locations_report()
    assert rep["root"] == str(places["desktop"])
    assert f"$MOTIONMIX_ROOT: {places['tmp'] / 'typo'} MISSING" in report_lines(rep)[1]
    # the parameter wins over $MOTIONPAIR_VOLUMES
    other = places["tmp"] / "OtherVolumes"
    (other / "X" / "MotionMix").mkdir(parents=True)
    monkeypatch.delenv("MOTIONMIX_ROOT")
    rep = locations_report(volumes=other)
    assert str(other / "X" / "MotionMix") in rep["also_found"]


def test_motionmix_docs_listed(places):
    """Which of MotionMix's own documents are at the root (or in its docs/)."""
    root = _drive(places, "HD1", "audio")
    (root / "HANDOFF-AUDIO-PREP.md").touch()
    (root / "docs").mkdir()
    (root / "docs" / "ARCHITECTURE.md").touch()
    rep = locations_report()
    found = {d["name"]: d["path"] for d in rep["docs"]}
    assert list(found) == list(DOCS)
    assert found["HANDOFF-AUDIO-PREP.md"] == str(root / "HANDOFF-AUDIO-PREP.md")
    assert found["ARCHITECTURE.md"] == str(root / "docs" / "ARCHITECTURE.md")
    assert found["CANONICAL-STATE-CONTRACT.md"] is None
    line = next(ln for ln in report_lines(rep) if "MotionMix docs" in ln)
    assert line == (f"  MotionMix docs: {root / 'HANDOFF-AUDIO-PREP.md'}, "
                    f"{root / 'docs' / 'ARCHITECTURE.md'}; not found: "
                    "CANONICAL-STATE-CONTRACT.md, AI-PHOTOSHOOT-MOTION-MUSIC-PLAN.md")


def test_cli_scan_prints_the_discovered_root(places, tmp_path):
    """``scan`` with no FOLDER prints the root it found first, and ``--json`` records it."""
    from typer.testing import CliRunner

    from motionpair.cli import app

    root = _drive(places, "HD1", "sessions", "output")
    (root / "CANONICAL-STATE-CONTRACT.md").touch()
    out = tmp_path / "scan.json"
    res = CliRunner().invoke(app, ["scan", "--json", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == (f"MotionMix root: {root} (external drive ({places['volumes']}/*/"
                        "MotionMix)): exists")
    assert lines[1].startswith("  looked at, in order: $MOTIONMIX_ROOT: not set; "
                               f"~/Desktop/MotionMix: {places['desktop']} MISSING; ")
    assert f"MotionMix docs: {root / 'CANONICAL-STATE-CONTRACT.md'}" in res.output
    doc = json.loads(out.read_text())
    assert doc["locations"]["root"] == str(root)
    assert doc["locations"]["scan_paths"] == [str(root / "sessions")]
    assert doc["roots"] == ["sessions"]  # the scan ran on the discovered root's sessions/
    print("\n" + "\n".join(lines[:4]))


def test_nothing_found_lists_every_place_looked(places, tmp_path, monkeypatch):
    """No MotionMix folder anywhere: one line naming each place looked at, exit 0."""
    from typer.testing import CliRunner

    from motionpair.cli import app

    missing = tmp_path / "no-volumes"
    monkeypatch.setenv("MOTIONPAIR_VOLUMES", str(missing))
    res = CliRunner().invoke(app, ["scan"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("nothing to scan"))
    assert line == ("nothing to scan: no MotionMix folder found; looked at $MOTIONMIX_ROOT: "
                    f"not set; ~/Desktop/MotionMix: {places['desktop']} MISSING; external "
                    f"drive ({missing}/*/MotionMix): {missing} MISSING; pass folders as "
                    "arguments or set $MOTIONMIX_ROOT")
    monkeypatch.setenv("MOTIONPAIR_VOLUMES", str(places["volumes"]))  # exists, no drive
    res = CliRunner().invoke(app, ["scan"])
    assert f"external drive ({places['volumes']}/*/MotionMix): no match" in res.output
    # a root without audio/, sessions/ or training/: says so, with the places looked at
    places["desktop"].mkdir(parents=True)
    res = CliRunner().invoke(app, ["scan"])
    assert (f"nothing to scan: {places['desktop']} has no audio/, sessions/ or training/ "
            "folder; looked at $MOTIONMIX_ROOT: not set;") in res.output
    print("\n" + line)
