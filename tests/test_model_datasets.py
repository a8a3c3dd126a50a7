"""FlowGenerator1Step on datasets other than tang2018 and on imperfect windows (issue 19):
a ``capture`` session (MediaPipe joints, 2-D pixels, y down, NPZ mel audio) trains end to
end; frames without a valid pose are masked in the loss; snapshot datasets get one line.

Inputs are DERIVED at test time from the real ``video/dancer.avi`` (a 7 s clip, see
tests/derived_video.py) and from real tang2018 windows (frames marked invalid in memory).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import derived_video as dv
from motionpair.cli import app

torch = pytest.importorskip("torch")

TINY = ["--width", "32", "--layers", "1", "--heads", "2", "--batch", "4", "--threads", "1",
        "--distill-steps", "0"]


def _run(*args: object) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def capture_ds(dancer_video, tmp_path_factory, cache_dir) -> Path:
    """DERIVED: a 7 s cut of the real dancer video, captured at every frame, built as a
    sequence (dense) dataset."""
    pytest.importorskip("mediapipe", reason="pose capture needs the mediapipe package")
    tmp = tmp_path_factory.mktemp("capmodel")
    clip = tmp / "derived-dancer7s.mkv"
    dv.camera_cut(dancer_video, clip, 20.0, 7.0)
    _run("capture", clip, "--out", tmp / "cap", "--rate-hz", "full", "--cache", cache_dir)
    _run("build", tmp / "cap", "--out", tmp / "ds", "--pairing", "sequence", "--workers", "1",
         "--cache", cache_dir, "--split-ratios", "1,0,0")
    return tmp / "ds"


def test_capture_dataset_trains_end_to_end(capture_ds, tmp_path):
    meta = json.loads((capture_ds / "dataset.json").read_text())
    run = tmp_path / "run"
    _run("train", capture_ds, "--out", run, "--steps", "3", "--val-every", "3", "--cond",
         "mel", *TINY)
    rec = json.loads((run / "config.json").read_text())
    sk = rec["skeleton"]
    assert rec["train"]["cond"] == "mel"
    assert (sk["n_joints"], sk["dims"], sk["up_axis"]) == (33, 2, "-y")
    assert sk["feet"] and all("ankle" in n or "heel" in n or "foot" in n
                              for n in (meta["motion"]["skeleton"]["joint_names"][j]
                                        for j in sk["feet"]))
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and all(np.isfinite(float(r.split(",")[3])) for r in rows[1:])
    # and it samples: a window of 33 2-D joints from the run's own music features
    from motionpair.model.adapter import generate_windows, load_model
    from motionpair.model.train import Windows

    model = load_model(run)
    b = Windows([str(capture_ds)], "train", "mel", model["stats"]).batch([0])
    pose = generate_windows(model, b["cond"].numpy(), steps=1, seed=0)
    assert pose.shape == (1, 150, 33, 2) and np.isfinite(pose).all()


def test_cond_auto_picks_what_every_dataset_has(capture_ds):
    """MotionMix NPZ audio carries mel but no baseline35: auto falls back to mel, an
    explicit baseline35 is refused in one line naming the dataset."""
    from motionpair.model.data import RefusedError, pick_cond

    meta = json.loads((capture_ds / "dataset.json").read_text())
    assert pick_cond([meta]) == ("baseline35" if "baseline35" in meta["audio"]["arrays"]
                                 else "mel")
    npz_only = {**meta, "audio": {**meta["audio"], "arrays": {
        k: v for k, v in meta["audio"]["arrays"].items() if k != "baseline35"}}}
    assert pick_cond([meta, npz_only]) == "mel"
    with pytest.raises(RefusedError, match="stores no baseline35"):
        pick_cond([meta, npz_only], "baseline35")


def test_invalid_frames_are_masked_in_the_loss(tang_dir, tmp_path, cache_dir):
    """REAL-DERIVED: real windows with frames 40-59 marked invalid. Replacing the stored
    positions of those frames by garbage changes no loss term (flow, velocity, bone, foot);
    without the mask the same garbage dominates them."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig
    from motionpair.model import data as mdata
    from motionpair.model.objective import CleanLosses, meanflow_loss
    from motionpair.model.skeleton import resolve
    from realsubset import real_subset

    src = real_subset(tang_dir, tmp_path / "in", writable=False)
    ds = tmp_path / "ds"
    build([src], ds, BuildConfig(), workers=1, cache_dir=cache_dir)
    meta = json.loads((ds / "dataset.json").read_text())
    from motionpair.model.train import Windows

    stats = mdata.compute_stats(ds)
    w = Windows([str(ds)], "train", "baseline35", stats)
    pose = w.batch([0, 1])["pose"].numpy().astype(np.float64)
    valid = np.ones(pose.shape[:2], bool)
    valid[:, 40:60] = False
    clean = CleanLosses(stats, resolve(meta))
    cond = torch.zeros(2, 150, 35)

    def loss_for(p: np.ndarray, v: np.ndarray) -> float:
        x = mdata.normalise(mdata.to_rep(p, v), stats)
        m = mdata.rep_mask(v)
        x[..., :-3] *= m[..., :1]
        x[..., -3:] *= m[..., 1:]
        torch.manual_seed(0)
        net = _tiny_net()
        parts: dict[str, float] = {}
        _, mse = meanflow_loss(net, torch.from_numpy(x), cond,
                               gen=torch.Generator().manual_seed(1), mask=torch.from_numpy(m),
                               clean=clean, ratio_r_neq_t=0.0, parts=parts)
        return np.array([float(mse), parts["vel"], parts["bone"], parts["foot"]])

    garbage = pose.copy()
    garbage[:, 40:60] = np.random.default_rng(0).normal(0, 500, garbage[:, 40:60].shape)
    a, b = loss_for(pose, valid), loss_for(garbage, valid)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    c = loss_for(garbage, np.ones_like(valid))
    assert (c[:3] > 2 * a[:3]).all(), (a, c)  # unmasked, the garbage frames dominate
    m = mdata.rep_mask(valid)
    assert m[0, 40, 0] == 0 and m[0, 60, 1] == 0 and m[0, 61, 1] == 1 and m[0, 39, 1] == 1


def _tiny_net():
    from motionpair.model.net import FlowNet, NetConfig

    net = FlowNet(NetConfig(n_motion=72, n_cond=35, width=16, layers=1, heads=2, pred="x",
                            arch="conv", pool_cond=True))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return net


def test_snapshot_dataset_refusal_says_what_would_make_it_trainable(capture_ds, tmp_path,
                                                                    cache_dir):
    """The same DERIVED capture built as sparse snapshots: one line, no traceback."""
    snap = tmp_path / "snap"
    _run("build", capture_ds.parent / "cap", "--out", snap, "--pairing", "snapshot",
         "--workers", "1", "--cache", cache_dir, "--split-ratios", "1,0,0")
    res = CliRunner().invoke(app, ["train", str(snap), "--out", str(tmp_path / "r"), *TINY])
    assert res.exit_code == 1, res.output  # a dataset this model cannot use: input problem
    line = " ".join(res.output.split())
    assert "snapshot" in line and "--pairing sequence" in line and "--rate-hz full" in line
    assert "Traceback" not in res.output
