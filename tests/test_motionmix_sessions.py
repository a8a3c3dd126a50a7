"""MotionMix sessions as the seed lists them (issue 11, item 4) and danced song time (5c).

A mix session ``Your Mix 3-2026-04-08T02-02-29Z`` (spaces, no playlist folder of that name),
a ``playlist-01-…`` session of 292 snapshots and a session of 1 snapshot. Every NPZ is
written at test time by librosa from a real tang2018 MP3 and every snapshot is sampled from
the real tang2018 motion (derived_capture.make_capture): DERIVED fixtures, nothing
hand-written. The capture plays DANCE_W_8, DANCE_R_2, DANCE_W_4 in that order (not the
playlist's sorted file order), one camera at ~1 Hz, and stops after 292 snapshots (in the
third track).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from derived_capture import make_capture  # noqa: E402

PLAYED = ("DANCE_W_8", "DANCE_R_2", "DANCE_W_4")
N_SNAPSHOTS = 292
MIX = "Your Mix 3-2026-04-08T02-02-29Z"
HOP_S = 512 / 22050  # librosa's default hop at 22050 Hz


@pytest.fixture(scope="module")
def played(tang_dir, tmp_path_factory):
    """292 snapshots over W_8, R_2 and the start of W_4, on a librosa-default playlist."""
    truth = make_capture(tang_dir, tmp_path_factory.mktemp("mm_sessions"), npz={},
                         sessions=PLAYED, cameras=("cam0",), max_snapshots=N_SNAPSHOTS)
    assert len(truth.snapshots) == N_SNAPSHOTS
    return truth


def _copy(truth, dest: Path) -> Path:
    shutil.copytree(truth.root, dest, symlinks=True)
    return dest


def _session_dir(root: Path) -> Path:
    return next(d for d in (root / "sessions").iterdir() if d.is_dir())


def _as_mix(truth, dest: Path, *, split: bool = True) -> Path:
    """The capture's session as the mix ``Your Mix 3``: the folder renamed, no playlist key
    in metadata.json; with ``split`` DANCE_W_4.npz moves to a second playlist folder."""
    root = _copy(truth, dest)
    old = _session_dir(root)
    sdir = old.rename(old.with_name(MIX))
    meta = json.loads((sdir / "metadata.json").read_text())
    del meta["playlist"]
    meta["session_id"] = MIX
    (sdir / "metadata.json").write_text(json.dumps(meta, indent=2))
    if split:
        (root / "audio" / "playlist-02").mkdir()
        (root / "audio" / "playlist-01" / "DANCE_W_4.npz").rename(
            root / "audio" / "playlist-02" / "DANCE_W_4.npz")
    return root


def _scan_cli(*args: str) -> str:
    from typer.testing import CliRunner

    from motionpair.cli import app

    res = CliRunner().invoke(app, ["scan", *args])
    assert res.exit_code == 0, res.output
    return res.output


def _check_against_truth(inv, truth, tol_s) -> dict:
    """Every snapshot on its true track, track time within ``tol_s(k)`` of the truth."""
    from motionpair.sources.motionmix import source as motionmix

    got = {}
    for spec in inv.pairs:
        pose = motionmix.load_pose(spec)
        for t, tt in zip(pose.times_s, motionmix.clock(spec).to_track(pose.times_s),
                         strict=True):
            key = round(float(t), 3)
            assert key not in got
            got[key] = (spec.track.track_id, float(tt))
    worst = 0.0
    for s in truth.snapshots:
        track, tt = got[round(s["t_s"], 3)]
        k = s["track"]
        assert track.split("/")[-1] == PLAYED[k]
        err = abs(tt - s["track_t_s"])
        assert err <= tol_s(k) + 1e-6, (s, tt)
        worst = max(worst, err)
    return {"matched": len(got), "worst_err_s": worst}


def _danced_truth_s(truth) -> float:
    """Danced song time from the truth: per played track, first to last snapshot."""
    out = 0.0
    for k in range(len(PLAYED)):
        ts = [s["track_t_s"] for s in truth.snapshots if s["track"] == k]
        out += max(ts) - min(ts) if ts else 0.0
    return out


# ----------------------------------------------------------------- playlist-01-… 292 snapshots


def test_playlist_session_of_292_snapshots_pairs_fully(played, tmp_path):
    """With the playlist's manifest.json (its play order and durations) every one of the 292
    snapshots pairs, on its true track at its true track time; scan prints the danced song
    time (issue 11, 5c: it said 0.0 min); a default build cuts one row per snapshot whose
    context fits inside its track."""
    from motionpair.build.scan import scan

    root = _copy(played, tmp_path / "cap")
    pl = root / "audio" / "playlist-01"
    (pl / "manifest.json").write_text(json.dumps({
        "tracks": [{"track_id": t, "file": f"{t}.npz", "duration_s": d}
                   for t, d in zip(PLAYED, played.durations_s, strict=True)],
        "derived": True, "note": "DERIVED: the play order of the derived session"}))
    inv = scan([root])
    assert inv.problems == [], [p.reason for p in inv.problems]
    unit = next(u for u in inv.units if u.get("kind") == "session")
    assert unit["session"].startswith("playlist-01-")
    assert unit["snapshots"] == N_SNAPSHOTS and unit["snapshots_matched"] == N_SNAPSHOTS
    assert unit["snapshots_out_of_track"] == 0
    assert len(inv.pairs) == 3  # one pair per played track (one camera)
    res = _check_against_truth(inv, played, lambda k: 0.0)
    assert res["matched"] == N_SNAPSHOTS
    danced = _danced_truth_s(played)
    assert unit["song_span_s"] == pytest.approx(danced, abs=1e-6)
    assert sum(s["danced_s"] for s in unit["segments"]) == pytest.approx(danced, abs=1e-6)
    assert inv.to_dict()["totals"]["song_span_s"] == pytest.approx(danced, abs=1e-3)
    out = _scan_cli(str(root))
    assert f"danced song time {danced / 60:.1f} min" in out and danced > 250
    assert f"danced song time {danced:.1f} s" in out
    print(f"\n292 snapshots: worst track-time error {res['worst_err_s']:.2e} s; danced "
          f"{danced:.3f} s; {[ln for ln in out.splitlines() if 'danced' in ln]}")

    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    s = build([root], tmp_path / "ds", BuildConfig(), workers=1, cache_dir=False)
    assert s.problems == []
    # a row needs 4 s of audio before and 1 s after its snapshot inside the track
    fits = [x for x in played.snapshots
            if x["track_t_s"] >= 4.0 and x["track_t_s"] <= played.durations_s[x["track"]] - 1.0]
    assert abs(len(s.rows) - len(fits)) <= 3  # frame rounding at the context edges
    for row in s.rows[::37]:  # each row's track time is a true snapshot's
        k = PLAYED.index(row.track.split("/")[-1])
        assert any(x["track"] == k and abs(x["track_t_s"] - row.snapshot_track_s) < 1e-6
                   for x in played.snapshots)


# ----------------------------------------------------------------------- the mix "Your Mix 3"


def _mix_refs() -> list[str]:
    return ["playlist-01/DANCE_W_8", "DANCE_R_2.npz", "playlist-02/DANCE_W_4"]


@pytest.mark.parametrize("where", ["metadata", "mapping"])
def test_mix_session_tied_by_its_track_list(played, tmp_path, where):
    """``Your Mix 3`` draws from two playlist folders; its track list (metadata.json
    ``tracks``, or the mapping file's ``mixes``) ties it to its tracks in play order."""
    from motionpair.build.scan import scan

    root = _as_mix(played, tmp_path / "mix")
    sdir = root / "sessions" / MIX
    if where == "metadata":
        meta = json.loads((sdir / "metadata.json").read_text())
        meta["tracks"] = _mix_refs()
        (sdir / "metadata.json").write_text(json.dumps(meta, indent=2))
        source = "metadata.json:tracks"
    else:
        (root / "motionmix-mapping.json").write_text(json.dumps({"mixes": {"Your Mix 3": [
            {"playlist": "playlist-01", "track_id": "DANCE_W_8"},
            {"file": "DANCE_R_2.npz"}, "playlist-02/DANCE_W_4"]}}))
        source = "motionmix-mapping.json:mixes['Your Mix 3']"
    inv = scan([root])
    assert inv.problems == [], [p.reason for p in inv.problems]
    unit = next(u for u in inv.units if u.get("kind") == "session")
    assert unit["session"] == MIX and unit["playlist"] == "Your Mix 3"
    assert unit["track_list_from"] == source
    assert unit["mix_tracks"] == ["playlist-01/DANCE_W_8", "playlist-01/DANCE_R_2",
                                  "playlist-02/DANCE_W_4"]
    assert unit["snapshots_matched"] == N_SNAPSHOTS
    assert sorted(p.track.track_id for p in inv.pairs) == [
        "playlist-01/DANCE_R_2", "playlist-01/DANCE_W_8", "playlist-02/DANCE_W_4"]
    assert all(u["paired"] for u in inv.units if u.get("kind") == "playlist")
    # no manifest: a track lasts n_frames*hop/sr, < 1 hop over its audio, so track k
    # starts up to k hops late (docs/motionmix_format.md)
    res = _check_against_truth(inv, played, lambda k: k * HOP_S)
    out = _scan_cli(str(root))
    line = next(ln for ln in out.splitlines() if "mix 'Your Mix 3'" in ln)
    assert source in line and "playlist-02/DANCE_W_4" in line
    print(f"\nmix via {where}: worst track-time error {res['worst_err_s'] * 1000:.2f} ms\n"
          + "\n".join(ln for ln in out.splitlines() if ln.startswith(MIX)))
    if where == "metadata":  # and it builds
        from motionpair.build.dataset import build
        from motionpair.config import BuildConfig

        s = build([root], tmp_path / "ds", BuildConfig(), workers=1, cache_dir=False)
        assert s.problems == [] and len(s.rows) > 250
        assert {r.track for r in s.rows} == {"playlist-01/DANCE_W_8", "playlist-01/DANCE_R_2",
                                             "playlist-02/DANCE_W_4"}


def test_mix_with_playback_events_naming_playlist_tracks(played, tmp_path):
    """A mix with playback events (times from the derivation's truth) naming its tracks as
    ``<playlist>/<track>``, a file name and a stem: events time each track exactly."""
    from motionpair.build.scan import scan

    root = _as_mix(played, tmp_path / "mix")
    meta_path = root / "sessions" / MIX / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["tracks"] = _mix_refs()
    t0 = datetime.fromisoformat(meta["started_at"].replace("Z", "+00:00"))
    meta["playback_events"] = [
        {"t": (t0 + timedelta(seconds=s)).isoformat(timespec="microseconds"), "track_id": name}
        for s, name in zip(played.starts_s, ["playlist-01/DANCE_W_8", "DANCE_R_2.npz",
                                             "DANCE_W_4"], strict=True)]
    meta_path.write_text(json.dumps(meta))
    inv = scan([root])
    assert inv.problems == [], [p.reason for p in inv.problems]
    unit = next(u for u in inv.units if u.get("kind") == "session")
    assert unit["matched_by"] == ["playback_events"]
    res = _check_against_truth(inv, played, lambda k: 0.0)
    assert res["matched"] == N_SNAPSHOTS


def _fix_snippets(reason: str) -> tuple[str, str]:
    """The two pasteable snippets of a "no track list" problem: metadata and mapping."""
    m = re.search(r'fix: add ("tracks": \[.*?\]) to (.+?metadata\.json\'?), or write '
                  r"(\{\"mixes\": \{.*?\]\}\}) to (\S+motionmix-mapping\.json)", reason)
    assert m, reason
    return m.group(1), m.group(3)


def test_mix_session_without_track_list_reported_with_the_fix(played, tmp_path):
    """No track list: never guessed. scan and build print one line naming the mix, both
    files and keys, and a snippet that works when pasted (then edited to the play order)."""
    from typer.testing import CliRunner

    from motionpair.build.scan import scan
    from motionpair.cli import app

    root = _as_mix(played, tmp_path / "mix", split=False)
    inv = scan([root])
    assert inv.pairs == [] and len(inv.problems) == 1
    p = inv.problems[0]
    assert p.kind == "incomplete" and "plays 'Your Mix 3'" in p.reason
    assert "never guessed" in p.reason
    meta_snippet, map_snippet = _fix_snippets(p.reason)
    assert f"'{root / 'sessions' / MIX / 'metadata.json'}'" in p.reason  # quoted: spaces
    assert str(root / "motionmix-mapping.json") in p.reason
    out = _scan_cli(str(root))
    assert sum(ln.startswith("incomplete: ") and "plays 'Your Mix 3'" in ln
               for ln in out.splitlines()) == 1
    print("\nscan without a track list:\n" + next(ln for ln in out.splitlines()
                                                   if "Your Mix 3" in ln))
    res = CliRunner().invoke(app, ["build", str(root), "--out", str(tmp_path / "ds")])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert res.output.count("plays 'Your Mix 3'") == 1 and "fix: add" in res.output
    # pasted: both snippets are valid JSON members; the listed tracks are the playlist's
    # (sorted), which the user reorders to the play order
    tracks = json.loads("{" + meta_snippet + "}")["tracks"]
    assert sorted(tracks) == sorted(f"playlist-01/{t}" for t in PLAYED)
    mixes = json.loads(map_snippet)["mixes"]  # a whole new mapping file
    assert mixes == {"Your Mix 3": tracks}
    (root / "motionmix-mapping.json").write_text(json.dumps(
        {"mixes": {"Your Mix 3": [f"playlist-01/{t}" for t in PLAYED]}}))
    inv = scan([root])
    assert inv.problems == [] and len(inv.pairs) == 3


def test_mix_track_list_naming_unknown_or_ambiguous_tracks(played, tmp_path):
    """A track list entry that names no found track, or a bare name found in two playlists,
    is reported naming the entry; nothing of the mix is paired (a gapless mix with a hole
    would put every later track at the wrong time)."""
    from motionpair.build.scan import scan

    root = _as_mix(played, tmp_path / "mix")
    shutil.copy(root / "audio" / "playlist-02" / "DANCE_W_4.npz",
                root / "audio" / "playlist-01" / "DANCE_W_4.npz")
    meta_path = root / "sessions" / MIX / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["tracks"] = ["playlist-01/DANCE_W_8", "DANCE_R_2", "DANCE_W_4", "playlist-03/x"]
    meta_path.write_text(json.dumps(meta))
    inv = scan([root])
    assert inv.pairs == []
    (p,) = [p for p in inv.problems if p.session == MIX]
    assert "entry 2 'DANCE_W_4' is a track of 2 playlists (playlist-01, playlist-02)" in p.reason
    assert "'<playlist>/DANCE_W_4'" in p.reason
    assert "entry 3 'playlist-03/x': no playlist folder 'playlist-03'" in p.reason


# -------------------------------------------------------------------------- 1-snapshot session


def _one_snapshot_root(played, dest: Path, track_t_s: float | None) -> Path:
    """Only the playlist and a session of one real snapshot at ``track_t_s`` s after its
    start: inside the playlist's first track (sorted file order: DANCE_R_2), or with None
    100 s after the whole playlist ended."""
    root = _copy(played, dest)
    src = _session_dir(root)
    meta = json.loads((src / "metadata.json").read_text())
    lines = (src / "snapshots.jsonl").read_text().splitlines()
    shutil.rmtree(src)
    one = root / "sessions" / "test-2026-04-08T15-00-00Z"
    one.mkdir()
    meta.update(session_id=one.name, started_at="2026-04-08T15:00:00.000Z")
    (one / "metadata.json").write_text(json.dumps(meta))
    rec = json.loads(lines[40])
    t = track_t_s if track_t_s is not None else sum(played.durations_s) + 100.0
    rec["t"] = f"2026-04-08T15:{int(t // 60):02d}:{t % 60:06.3f}Z"
    (one / "snapshots.jsonl").write_text(json.dumps(rec) + "\n")
    return root


@pytest.mark.parametrize("case", ["inside", "track_start", "outside"])
def test_one_snapshot_session_paired_or_one_clear_line(played, tmp_path, case):
    """A session of 1 snapshot: paired as one row when its context fits, else one clear line
    in scan and build (exit 1, never a traceback); --pairing sequence says it needs 2."""
    from typer.testing import CliRunner

    from motionpair.cli import app

    t = {"inside": 40.0, "track_start": 2.0, "outside": None}[case]
    root = _one_snapshot_root(played, tmp_path / "one", t)
    scan_out = _scan_cli(str(root))
    assert "Traceback" not in scan_out
    build = CliRunner().invoke(app, ["build", str(root), "--out", str(tmp_path / "ds")])
    assert "Traceback" not in build.output
    lines = [ln for ln in scan_out.splitlines() if "test-2026-04-08T15-00-00Z" in ln
             and ("snapshot" in ln or "bad" in ln)]
    print(f"\n1 snapshot, {case}:\n  scan: " + "\n  scan: ".join(lines) + "\n  build: "
          + "\n  build: ".join(ln for ln in build.output.splitlines()
                               if "failed" in ln or "snapshot" in ln or "windows:" in ln))
    if case == "outside":
        assert "all 1 snapshot(s) fall outside every track" in scan_out
        assert build.exit_code == 1
        assert build.output.count("all 1 snapshot(s) fall outside every track") == 1
        return
    assert "test-2026-04-08T15-00-00Z: 1 matched snapshot, at " in scan_out
    assert ("pairs it as one row" in scan_out) == (case == "inside")
    if case == "inside":
        assert build.exit_code == 0, build.output
        assert "windows:     1 " in build.output
        seq = CliRunner().invoke(app, ["build", str(root), "--out", str(tmp_path / "seq"),
                                       "--pairing", "sequence"])
        assert seq.exit_code == 1 and "Traceback" not in seq.output
        assert "sequence pairing needs >= 2 snapshots in the track, got 1" in seq.output
    else:
        assert build.exit_code == 1
        assert "its 1 snapshot(s) lie at track time 2.00 s" in build.output
        assert "a row needs 4 s of audio before and 1 s after" in build.output
