"""Phones' clocks differ (issue 11, item 5b): a camera running ahead, declared and estimated.

Every session here is DERIVED at test time from real tang2018 motion and real audio
(derived_capture.make_capture: librosa-default NPZ of the real MP3s, snapshots sampled
from the real motion). One camera's clock is then made to run ahead by rewriting its
timestamps in the session file (its snapshots' true session times stay in the truth),
exactly what a phone whose clock is ahead writes. Nothing is hand-written.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from derived_capture import DERIVED_NOTE, SESSION_START, _iso, make_capture  # noqa: E402

TRACKS = ("DANCE_R_2", "DANCE_W_4", "DANCE_W_8")  # sorted: no manifest (librosa NPZ)
AHEAD_S = 0.4
DENSE_HZ = 30.0


def with_durations(truth):
    """A manifest.json giving each track's exact duration (len(y) / sr of the real audio):
    gapless matching is then exact, and any track-time error left is the camera clock's."""
    man = {"tracks": [{"track_id": t, "duration_s": d}
                      for t, d in zip(truth.track_ids, truth.durations_s, strict=True)],
           "derived": True, "note": DERIVED_NOTE}
    (truth.root / "audio" / "playlist-01" / "manifest.json").write_text(json.dumps(man))
    return truth


def _copy(truth, dst: Path):
    """A private copy of a capture (the tests rewrite its session)."""
    shutil.copytree(truth.root, dst / "capture", symlinks=True)
    return replace(truth, root=dst / "capture")


def _session_dir(truth) -> Path:
    return next((truth.root / "sessions").iterdir())


def run_ahead(truth, camera: str, ahead_s: float) -> None:
    """Rewrite ``camera``'s timestamps as a phone whose clock runs ``ahead_s`` ahead."""
    path = _session_dir(truth) / "snapshots.jsonl"
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["camera"] == camera:
            t = datetime.fromisoformat(rec["t"].replace("Z", "+00:00"))
            rec["t"] = _iso((t - SESSION_START).total_seconds() + ahead_s)
        out.append(json.dumps(rec))
    path.write_text("\n".join(out) + "\n")


def declare(truth, offsets: dict[str, float], where: str) -> None:
    """Declare per-camera offsets in metadata.json or in a mapping file beside it."""
    sdir = _session_dir(truth)
    if where == "metadata":
        meta = json.loads((sdir / "metadata.json").read_text())
        (sdir / "metadata.json").write_text(json.dumps({**meta, "camera_offsets_s": offsets}))
    else:
        (sdir / "motionmix-mapping.json").write_text(json.dumps({"camera_offsets_s": offsets}))


def outcome(truth, camera: str, ahead_s: float, declared_s: float) -> dict:
    """Where every in-track snapshot of ``camera`` ends up through scan -> load_pose -> clock.

    Returns ``errors_s`` (|track time - truth| of snapshots on their true track),
    ``wrong_track`` (on another track), ``lost`` (on none), ``boundary`` (snapshots whose
    clock error crosses a track end: those the clock moves off their track) and the unit.
    """
    from motionpair.build.scan import scan
    from motionpair.sources.motionmix import source as motionmix

    inv = scan([truth.root])
    got = {}
    for spec in inv.pairs:
        if spec.params["camera"] != camera:
            continue
        pose = motionmix.load_pose(spec)
        tt = motionmix.clock(spec).to_track(pose.times_s)
        for t, x in zip(pose.times_s, tt, strict=True):
            got[round(float(t), 3)] = (spec.track.track_id, float(x))
    ends = np.array(truth.starts_s[1:] + [truth.starts_s[-1] + truth.durations_s[-1]])
    errs, wrong, lost, boundary = [], 0, 0, 0
    for s in truth.snapshots:
        if s["camera"] != camera or s["track"] < 0:
            continue
        boundary += int(s["t_s"] + ahead_s + declared_s >= ends[s["track"]])
        hit = got.get(round(s["t_s"] + ahead_s + declared_s, 3))
        if hit is None:
            lost += 1
        elif not hit[0].endswith("/" + truth.track_ids[s["track"]]):
            wrong += 1
        else:
            errs.append(abs(hit[1] - s["track_t_s"]))
    unit = next(u for u in inv.units if u.get("kind") == "session")
    return {"errors_s": errs, "wrong_track": wrong, "lost": lost, "boundary": boundary,
            "unit": unit, "problems": inv.problems}


@pytest.fixture(scope="module")
def sparse_capture(tang_dir, tmp_path_factory):
    """Real audio (librosa NPZ) + a 1 Hz two-camera session from the real motion."""
    return with_durations(make_capture(tang_dir, tmp_path_factory.mktemp("cc_sparse"), npz={},
                                       sessions=TRACKS, cameras=("cam0", "cam1"), seed=2))


@pytest.fixture(scope="module")
def dense_capture(tang_dir, tmp_path_factory):
    """Real audio + a 30 Hz two-camera session (perpendicular views) from the real motion."""
    return with_durations(make_capture(
        tang_dir, tmp_path_factory.mktemp("cc_dense"), npz={}, sessions=("DANCE_R_2", "DANCE_W_8"),
        cameras=("cam0", "cam1"), rate_hz=DENSE_HZ, jitter_s=0.004, tail_s=3.0))


def _report(tag: str, o: dict) -> str:
    e = o["errors_s"]
    return (f"{tag}: {len(e)} on their track, track-time error max {max(e) * 1000:.1f} ms "
            f"median {np.median(e) * 1000:.1f} ms; wrong track {o['wrong_track']}, "
            f"on no track {o['lost']}")


@pytest.mark.realdata
@pytest.mark.parametrize("where", ["metadata", "mapping"])
def test_camera_ahead_sparse_before_and_after_declaring(where, sparse_capture, tmp_path):
    """1 Hz, cam1 0.4 s ahead. Before: 0.4 s off, boundary snapshots on the next track, and
    the session says its clocks cannot be checked (once). Declared: every error 0."""
    from motionpair.sources.motionmix.locations import unit_notes

    truth = _copy(sparse_capture, tmp_path)
    run_ahead(truth, "cam1", AHEAD_S)
    before = outcome(truth, "cam1", AHEAD_S, 0.0)
    e = np.array(before["errors_s"])
    assert len(e) > 300 and np.allclose(e, AHEAD_S, atol=1e-6)
    assert before["boundary"] >= 1  # the seed puts a cam1 snapshot within 0.4 s of a track end
    assert before["wrong_track"] + before["lost"] == before["boundary"]
    assert before["wrong_track"] >= 1
    clock = before["unit"]["camera_clock"]
    assert not clock["checked"] and "cannot be checked" in clock["why"]
    assert "sample at 0.994 Hz (one snapshot every 1.01 s), below the 10 Hz" in clock["why"]
    lines = [n for n in unit_notes([before["unit"]]) if "camera clocks" in n]
    assert len(lines) == 1, lines  # once per session
    # cam0's clock is right: untouched
    assert max(outcome(truth, "cam0", 0.0, 0.0)["errors_s"]) < 1e-6

    declare(truth, {"cam1": -AHEAD_S}, where)
    after = outcome(truth, "cam1", AHEAD_S, -AHEAD_S)
    assert len(after["errors_s"]) == len(e) + before["wrong_track"] + before["lost"]
    assert max(after["errors_s"]) < 1e-6 and after["wrong_track"] == after["lost"] == 0
    unit = after["unit"]
    assert unit["camera_offsets_s"] == {"cam1": -AHEAD_S}
    assert unit["camera_offsets_from"] == [
        "metadata.json:camera_offsets_s" if where == "metadata"
        else f"{_session_dir(truth) / 'motionmix-mapping.json'}:camera_offsets_s"]
    print(f"\n[{where}] 1 Hz cam1 {AHEAD_S} s ahead\n  {_report('before', before)}\n  "
          f"{_report('after ', after)}\n  {lines[0]}")


@pytest.mark.realdata
def test_declared_offsets_recorded_in_dataset_json(sparse_capture, tmp_path):
    """A build over the declared session: rows on their true track times; dataset.json says
    which offsets were applied, from where, the clock check and the named assumption."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    truth = _copy(sparse_capture, tmp_path)
    run_ahead(truth, "cam1", AHEAD_S)
    declare(truth, {"cam1": -AHEAD_S, "cam9": 1.0}, "metadata")
    b = build([truth.root], tmp_path / "ds", BuildConfig(), workers=1, cache_dir=False)
    true_tt = {(s["track"], round(s["track_t_s"], 3)) for s in truth.snapshots
               if s["camera"] == "cam1" and s["track"] >= 0}
    rows = [r for r in b.rows if r.camera == "cam1"]
    assert len(rows) > 100
    for r in rows:
        k = next(i for i, t in enumerate(truth.track_ids) if r.track.endswith("/" + t))
        assert (k, round(r.snapshot_track_s, 3)) in true_tt
    assert "motionmix.camera_clocks_share_session_clock_after_declared_offsets" in \
        rows[0].assumptions
    ds = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    sess = ds["motionmix"]["sessions"][0]
    assert sess["camera_offsets_s"] == {"cam1": -AHEAD_S, "cam9": 1.0}
    assert sess["camera_clock"]["applied"] is False and not sess["camera_clock"]["checked"]
    assert "motionmix.camera_clocks_share_session_clock_after_declared_offsets" in \
        ds["assumptions"]
    unit = next(u for u in b.inventory.units if u.get("kind") == "session")
    assert "camera_offsets_s: camera 'cam9' has no snapshot (offset not used)" in \
        unit["not_understood"]


@pytest.mark.realdata
def test_camera_ahead_dense_estimated_reported_then_declared(dense_capture, tmp_path):
    """30 Hz, cam1 0.4 s ahead. Before: 0.4 s off, ~12 snapshots per track end moved, and the
    motion-energy estimate reports it with the offset to declare. Declared: errors 0 and the
    check finds the clocks agree."""
    from motionpair.sources.motionmix.locations import unit_notes

    truth = _copy(dense_capture, tmp_path)
    run_ahead(truth, "cam1", AHEAD_S)
    before = outcome(truth, "cam1", AHEAD_S, 0.0)
    e = np.array(before["errors_s"])
    assert np.allclose(e, AHEAD_S, atol=1e-6)
    # 0.4 s at 30 Hz before each of the 2 track ends: the next track or none
    assert before["boundary"] >= 20 and before["wrong_track"] >= 10
    assert before["wrong_track"] + before["lost"] == before["boundary"]
    clock = before["unit"]["camera_clock"]
    est = clock["estimates"]["cam1"]
    assert clock["checked"] and clock["reference"] == "cam0" and est["confident"]
    assert abs(est["offset_s"] + AHEAD_S) < 1 / DENSE_HZ  # within one sample
    assert abs(clock["disagree"]["cam1"]["fix"] + AHEAD_S) < 1 / DENSE_HZ
    line = next(n for n in unit_notes([before["unit"]]) if "camera clocks" in n)
    assert "camera 'cam1' runs 0.3" in line or "camera 'cam1' runs 0.4" in line
    assert '"camera_offsets_s": {"cam1": -0.' in line

    declare(truth, {"cam1": -AHEAD_S}, "metadata")
    after = outcome(truth, "cam1", AHEAD_S, -AHEAD_S)
    assert max(after["errors_s"]) < 1e-6 and after["wrong_track"] == after["lost"] == 0
    check = after["unit"]["camera_clock"]
    assert check["checked"] and not check["disagree"]
    assert abs(check["estimates"]["cam1"]["offset_s"]) < 1 / DENSE_HZ
    print(f"\n30 Hz cam1 {AHEAD_S} s ahead\n  {_report('before', before)}\n  "
          f"estimate {est}\n  {line}\n  {_report('after ', after)}\n  "
          f"residual after declaring: {check['estimates']['cam1']}")


@pytest.mark.realdata
@pytest.mark.parametrize("shift_s", [0.4, 1.2, -0.7])
def test_offset_estimated_from_real_motion(shift_s, dense_capture):
    """Two cameras of the same real motion (perpendicular views), one shifted by a known
    amount: the estimate is within one 30 Hz sample, confident; unshifted, ~0."""
    from motionpair.sources.motionmix.camclock import estimate_offset
    from motionpair.sources.motionmix.session import read_session

    s, problems = read_session(_session_dir(dense_capture))
    assert s is not None and not problems
    a, b = s.streams["cam0"], s.streams["cam1"]
    est = estimate_offset(a.times_s, a.joints, b.times_s + shift_s, b.joints)
    assert est.confident and abs(est.offset_s + shift_s) < 1 / DENSE_HZ
    print(f"\nshift {shift_s:+.1f} s: estimate {est.offset_s:+.4f} s (error "
          f"{(est.offset_s + shift_s) * 1000:+.1f} ms), r {est.correlation:.3f}, peak ratio "
          f"{est.peak_ratio:.2f}, overlap {est.overlap_s:.0f} s")


@pytest.mark.realdata
def test_different_dances_are_never_confident(dense_capture):
    """Negative control: cam0 during track 0's dance against cam1 during track 1's (a
    different real dance, moved onto the same times): no confident estimate, the line says so."""
    from motionpair.sources.motionmix.camclock import (
        clock_lines,
        estimate_offset,
        session_clock_check,
    )
    from motionpair.sources.motionmix.session import read_session

    s, _ = read_session(_session_dir(dense_capture))
    assert s is not None
    a, b = s.streams["cam0"], s.streams["cam1"]
    end0 = dense_capture.starts_s[1]
    ka, kb = a.times_s < end0, b.times_s >= end0
    streams = {"cam0": (a.times_s[ka], a.joints[ka]),
               "cam1": (b.times_s[kb] - end0, b.joints[kb])}
    est = estimate_offset(*streams["cam0"], *streams["cam1"])
    assert not est.confident and est.peak_ratio is not None and est.peak_ratio < 1.2
    check = session_clock_check(streams, {})
    assert not check["disagree"] and "no confident estimate" in check["unconfirmed"]["cam1"]
    line = clock_lines("s", check)[0]
    assert line.startswith("s: camera clocks cannot be confirmed against camera 'cam0'")
    print(f"\ndifferent dances: offset {est.offset_s:+.3f} s, r {est.correlation:.3f}, "
          f"peak ratio {est.peak_ratio:.2f} -> {line}")


def test_estimator_refuses_and_explains():
    """Too few samples: ValueError; one camera or sparse: why, never an estimate."""
    from motionpair.sources.motionmix.camclock import estimate_offset, session_clock_check

    t = np.arange(2.0)
    p = np.zeros((2, 1, 2))
    with pytest.raises(ValueError, match="fewer than 3"):
        estimate_offset(t, p, t, p)
    one = session_clock_check({"a": (t, p)}, {})
    assert not one["checked"] and "no other camera" in one["why"]
    sparse = session_clock_check({"a": (t, p), "b": (t, p)}, {"b": 0.5})
    assert not sparse["checked"] and "sample at 1 Hz (one snapshot every 1 s)" in sparse["why"]
    assert sparse["declared_s"] == {"b": 0.5} and sparse["applied"] is False
    t30 = np.arange(0.0, 60.0, 1 / 30)  # two still cameras at 30 Hz: nothing to align
    still = session_clock_check({"a": (t30, np.zeros((len(t30), 1, 2))),
                                 "b": (t30, np.zeros((len(t30), 1, 2)))}, {})
    assert still["checked"] and "no movement" in still["unconfirmed"]["b"]
