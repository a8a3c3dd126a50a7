"""Bad inputs among good ones: each is reported with a reason naming the file and the
problem, every good input is still paired (exit 0), and ``--strict`` exits non-zero
after reporting all of them. The corpus is made at test time from copies of real
tang2018 files (tests/badinputs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from badinputs import (
    BASE,
    CASES,
    GOOD,
    MM_CASES,
    MM_STILL_PAIRED,
    SESSION_OF,
    copy_folder,
    forge_npy_member,
    make_corpus,
    make_motionmix_corpus,
)
from motionpair.build.scan import scan
from motionpair.cli import app

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(tang_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    root, dup, cases = make_corpus(tang_dir, base)
    mm, _ = make_motionmix_corpus(tang_dir, base / "mm")
    return {"root": root, "dup": dup, "mm": mm, "base": base}


@pytest.fixture(scope="module")
def result(corpus, cache_dir):
    out = corpus["base"] / "out"
    res = CliRunner().invoke(app, ["build", str(corpus["root"]), str(corpus["dup"]),
                                   str(corpus["mm"]), "--out", str(out), "--cache",
                                   str(cache_dir), "--workers", "2"])
    inv = json.loads((out / "inventory.json").read_text()) if out.exists() else None
    import traceback
    tb = "".join(traceback.format_exception(*res.exc_info)) if res.exc_info else ""
    return {"exit": res.exit_code, "output": res.output + (tb if res.exit_code
                                                           else ""), "out": out, "inv": inv}


def test_build_succeeds_and_pairs_every_good_input(result):
    assert result["exit"] == 0, result["output"]
    with open(result["out"] / "manifest.jsonl") as f:
        rows = [json.loads(line) for line in f]
    sessions = {r["session"] for r in rows if r["source"] == "tang2018"}
    assert sessions == set(GOOD), sessions  # the good ones, and nothing broken slipped in
    paired = {p["session"] for p in result["inv"]["pairs"] if p["source"] == "tang2018"}
    pair_stage = {c.folder for c in CASES if c.stage == "pair"}
    assert paired == set(GOOD) | pair_stage  # pair-stage cases pass scan, fail later
    # MotionMix: the good session is paired; sessions with dropped records keep the rest
    mm = {r["session"] for r in rows if r["source"] == "motionmix"}
    assert mm == {SESSION_OF.format(s) for s in (32, *MM_STILL_PAIRED)}, mm


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_reported_with_file_and_reason(result, case):
    mine = [p for p in result["inv"]["problems"] if case.folder in p["path"] + p["reason"]]
    assert len(mine) == 1, f"{case.name}: expected one problem, got {mine}"
    p = mine[0]
    assert p["kind"] == "bad", p
    assert case.file in p["reason"] and case.folder in p["reason"], p["reason"]
    assert case.expect in p["reason"], p["reason"]


@pytest.mark.parametrize("case", MM_CASES, ids=[c.name for c in MM_CASES])
def test_motionmix_case_is_reported_with_file_and_reason(result, case):
    mine = [p for p in result["inv"]["problems"]
            if p["source"] == "motionmix" and p["session"] == case.session]
    assert len(mine) == 1, f"{case.name}: expected one problem, got {mine}"
    p = mine[0]
    assert p["kind"] == "bad" and case.file in p["path"], p
    assert case.file in p["reason"] and case.expect in p["reason"], p["reason"]


def test_duplicate_session_id_is_reported(result, corpus):
    dups = [p for p in result["inv"]["problems"] if "duplicate session id" in p["reason"]]
    assert len(dups) == 1, dups
    assert str(corpus["dup"] / GOOD[0]) in dups[0]["reason"]
    assert str(corpus["root"] / GOOD[0]) in dups[0]["reason"]  # names the first one too


def test_pickle_is_refused_naming_the_risk(result):
    pk = [p for p in result["inv"]["problems"] if p["kind"] == "refused"]
    assert len(pk) == 1 and pk[0]["path"].endswith("gBR_sBM_c01.pkl"), pk
    assert "unpickling can execute arbitrary code" in pk[0]["reason"]
    assert result["inv"]["totals"]["refused"] == 1


def test_every_problem_printed(result):
    text = "".join(result["output"].split())  # rich wraps long lines anywhere
    assert "pairscached" in text
    for case in CASES:
        assert case.folder in text, f"{case.name} not printed"


def test_strict_fails_after_reporting_all_problems(corpus, cache_dir):
    out = corpus["base"] / "strict-out"
    res = CliRunner().invoke(app, ["build", str(corpus["root"]), str(corpus["dup"]),
                                   str(corpus["mm"]), "--out", str(out), "--cache",
                                   str(cache_dir), "--strict"])
    assert res.exit_code == 1, res.output
    text = "".join(res.output.split())  # rich wraps long lines anywhere
    for case in CASES:  # scan-stage and pair-stage problems alike
        assert case.folder in text, f"--strict did not report {case.name}"
    for mm in MM_CASES:
        named = mm.session if mm.file == mm.session else f"{mm.session}/{mm.file.split('/')[-1]}"
        assert named in text, f"--strict missed {mm.name}"
    assert "duplicatesessionid" in text and "gBR_sBM_c01.pkl" in text
    assert not out.exists(), "--strict must publish nothing"
    assert not list(out.parent.glob(".strict-out.tmp-*")), "staging folder left behind"


def test_symlink_loop_between_folders_does_not_hang_scan(tang_dir, tmp_path):
    root = tmp_path / "loopy"
    copy_folder(tang_dir / GOOD[0], root / GOOD[0])
    (root / "sub").mkdir()
    (root / "sub" / "back").symlink_to(root, target_is_directory=True)  # root/sub/back -> root
    inv = scan([root])
    assert [p.session for p in inv.pairs] == [GOOD[0]]


def test_permission_denied(tang_dir):
    """A real EACCES: a forked child drops root to ``nobody`` before scanning.

    Root bypasses file modes (CAP_DAC_OVERRIDE), so ``chmod 000`` alone proves nothing
    when tests run as root; the child holds the already imported interpreter, so it
    needs no access to root's files. Without root (and so without setuid) chmod 000
    suffices and the scan runs in-process.
    """
    base = Path(tempfile.mkdtemp(prefix="mp-perm-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        for name in (GOOD[0], "DANCE_W_130", "DANCE_W_131"):
            copy_folder(tang_dir / (BASE if name.endswith(("130", "131")) else name),
                        base / name)
        for p in base.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(base / "DANCE_W_130" / "skeletons.json", 0o000)
        os.chmod(base / "DANCE_W_131" / "audio.mp3", 0o000)
        inv = _scan_as_nobody(base) if os.geteuid() == 0 else scan([base]).to_dict()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert [p["session"] for p in inv["pairs"]] == [GOOD[0]]
    reasons = {p["session"]: p["reason"] for p in inv["problems"]}
    assert "skeletons.json: permission denied" in reasons["DANCE_W_130"]
    assert "audio.mp3: permission denied" in reasons["DANCE_W_131"]


def _scan_as_nobody(root: Path) -> dict:
    import soundfile  # noqa: F401  (imported before dropping root: the child cannot read it)

    scan([root])  # warms every lazy import while still root
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, scan, send the inventory, exit without cleanup
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            data = json.dumps(scan([root]).to_dict()).encode()
            with os.fdopen(w, "wb") as f:
                f.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "scan as nobody failed"
    return json.loads(data)


def test_path_escaping_its_root_is_rejected(tmp_path):
    from motionpair.sources.common import safe_relpath

    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    assert safe_relpath(root / "a" / "x.json", root) == "a/x.json"
    for bad in (root / ".." / "elsewhere.json", root / "a" / ".." / ".." / "x", Path("/etc/x")):
        with pytest.raises(ValueError, match="escapes its input root"):
            safe_relpath(bad, root)


def test_end_position_past_the_audio_does_not_crash_align(tang_dir, tmp_path, cache_dir):
    """``motionpair align`` crashed (TypeError in the picture) on this config; now the pair
    is a reported problem and the good pair beside it is scored."""
    from badinputs import _end_past_audio

    root = tmp_path / "in"
    copy_folder(tang_dir / BASE, root / BASE)
    copy_folder(tang_dir / BASE, root / "DANCE_W_124")
    _end_past_audio(root / "DANCE_W_124",
                    {"config": json.loads((tang_dir / BASE / "config.json").read_text())})
    res = CliRunner().invoke(app, ["align", str(root), "--out", str(tmp_path / "al"),
                                   "--cache", str(cache_dir)])
    assert res.exit_code == 0, res.output
    text = "".join(res.output.split())
    assert "DANCE_W_124/config.json" in text and "pasttheendoftheaudio" in text, res.output
    doc = json.loads((tmp_path / "al" / "alignment.json").read_text())
    assert list(doc["pairs"]) == [f"tang2018/{BASE}"]


def test_evidence_picture_and_pairing_failures_never_stop_a_build(tang_dir, tmp_path,
                                                                  monkeypatch):
    """Any exception while pairing is a problem naming the pair's files; a failure inside the
    alignment evidence or its picture is a note on that pair's evidence record. The build
    goes on and exits 0 (in-process, ``--workers 1``, so the patches reach the code)."""
    import motionpair.align.pair as pairevidence
    import motionpair.align.plot as alignplot
    import motionpair.features.motion as motion

    root = tmp_path / "in"
    for name in (BASE, "DANCE_W_140", "DANCE_W_141"):
        copy_folder(tang_dir / BASE, root / name)
    real_evidence, real_grid = pairevidence.evidence_for_pair, motion.to_grid

    def evidence(spec, *args, **kwargs):
        if spec.session == BASE:
            raise IndexError("index 3000 is out of bounds for axis 0 with size 2254")
        return real_evidence(spec, *args, **kwargs)

    def draw(pair_id, record, series, out_png):
        raise TypeError("unsupported format string passed to NoneType.__format__")

    def to_grid(pose, *args, **kwargs):
        if pose.session == "DANCE_W_141":
            raise OverflowError("cannot convert float infinity to integer")
        return real_grid(pose, *args, **kwargs)

    monkeypatch.setattr(pairevidence, "evidence_for_pair", evidence)
    monkeypatch.setattr(alignplot, "draw_pair", draw)
    monkeypatch.setattr(motion, "to_grid", to_grid)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["build", str(root), "--out", str(out), "--no-cache",
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    inv = json.loads((out / "inventory.json").read_text())
    (p,) = inv["problems"]
    assert p["reason"].startswith("in/DANCE_W_141/audio.mp3, in/DANCE_W_141/skeletons.json, "
                                  "in/DANCE_W_141/config.json: a number out of range "
                                  "(OverflowError: cannot convert"), p["reason"]
    block = json.loads((out / "dataset.json").read_text())["alignment_evidence"]
    skipped = block["summary"]["skipped"][f"tang2018/{BASE}"]
    assert "IndexError" in skipped and "index 3000" in skipped, skipped
    note = block["pairs"]["tang2018/DANCE_W_140"]["picture"]
    assert note.startswith("not drawn: TypeError"), note
    assert not (out / "alignment" / "tang2018__DANCE_W_140.png").exists()


#: Decompressed size of the test's zip bomb (deflates to ~1 MB).
BOMB_BYTES = 1 << 30

_SCAN_RSS = """
import json, resource, sys
from motionpair.build.scan import scan
inv = scan([sys.argv[1]])
print(json.dumps({"pairs": len(inv.pairs), "problems": [p.to_dict() for p in inv.problems],
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _scan_in_child(root: Path) -> dict:
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", _SCAN_RSS, str(root)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_zip_bomb_npz_in_unused_playlist_is_refused_before_decompressing(corpus, tmp_path):
    """A playlist nobody plays holds an NPZ with a deflated member of 1 GiB of zeros
    (~1 MB on disk). The scan reports it from the zip directory and .npy header alone:
    peak memory of a scan in a child process stays where it is without the bomb."""
    root = tmp_path / "bomb"
    shutil.copytree(corpus["mm"] / "audio" / "playlist-01", root / "audio" / "playlist-01")
    shutil.copytree(corpus["mm"] / "sessions" / SESSION_OF.format(32),
                    root / "sessions" / SESSION_OF.format(32))
    clean = _scan_in_child(root)
    bomb_pl = root / "audio" / "playlist-bomb"
    shutil.copytree(root / "audio" / "playlist-01", bomb_pl)
    npz = next(bomb_pl.glob("*.npz"))
    forge_npy_member(npz, "pad", (BOMB_BYTES // 8,), data=BOMB_BYTES)
    bombed = _scan_in_child(root)
    print(f"zip bomb: {npz.stat().st_size} bytes on disk, {BOMB_BYTES} decompressed; peak RSS "
          f"of the scan {clean['peak_rss_mib']:.0f} MiB without, "
          f"{bombed['peak_rss_mib']:.0f} MiB with it")
    assert bombed["pairs"] == clean["pairs"] > 0  # the good session still pairs
    mine = [p for p in bombed["problems"] if p["session"] == "playlist-bomb"]
    assert len(mine) == 1 and str(npz) in mine[0]["reason"], bombed["problems"]
    assert "exceeds" in mine[0]["reason"], mine[0]["reason"]
    assert bombed["peak_rss_mib"] - clean["peak_rss_mib"] < 128, (clean, bombed)
