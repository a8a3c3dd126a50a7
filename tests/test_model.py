"""FlowGenerator1Step (``motionpair.model``): train / resume / evaluate / generate / export
and the metrics, on a tiny dataset built at test time from three REAL tang2018 folders
(DANCE_W_4, W_7, W_8: one session per split) with a tiny network and a few steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from motionpair.cli import app
from realsubset import real_subset

torch = pytest.importorskip("torch")

TINY = ["--width", "32", "--layers", "1", "--heads", "2", "--batch", "8", "--threads", "1",
        "--distill-steps", "0"]


@pytest.fixture(scope="module")
def tiny_ds(tang_dir, tmp_path_factory, cache_dir) -> Path:
    """Real-derived: the three shortest real folders, one session per split."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    tmp = tmp_path_factory.mktemp("model")
    src = real_subset(tang_dir, tmp / "in", writable=False)
    out = tmp / "ds"
    build([src], out, BuildConfig(split_ratios=(0.34, 0.33, 0.33)), workers=1,
          cache_dir=cache_dir)
    return out


@pytest.fixture(scope="module")
def tiny_run(tiny_ds, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    res = CliRunner().invoke(app, ["train", str(tiny_ds), "--out", str(out), "--steps", "4",
                                   "--val-every", "2", "--ckpt-every", "2", *TINY])
    assert res.exit_code == 0, res.output
    return out


def test_commands_registered():
    out = CliRunner().invoke(app, ["--help"]).output
    for name in ("train", "evaluate", "generate", "export"):
        assert name in out


def test_loader_batches_are_float32(tiny_ds):
    from motionpair.consumers.augment import Augment
    from motionpair.model import data as mdata
    from motionpair.model.train import Windows

    stats = mdata.compute_stats(tiny_ds)
    for cond in ("baseline35", "mel"):
        w = Windows([str(tiny_ds)], "train", cond, stats,
                    augment=Augment(jitter_frames=15, seed=0))
        b = w.batch([0, 1, 2])
        tensors = {k: v for k, v in b.items() if isinstance(v, torch.Tensor)}
        assert tensors and all(v.dtype == torch.float32 for v in tensors.values()), {
            k: v.dtype for k, v in tensors.items()}
        assert b["x"].shape == (3, 150, 23 * 3 + 3)


def test_representation_round_trip(tiny_ds):
    from motionpair.model import data as mdata
    from motionpair.torch import MotionPairDataset

    stats = mdata.compute_stats(tiny_ds)
    pose = MotionPairDataset(tiny_ds, "train", features=("pose",))[0]["pose"].numpy()
    p64 = pose.astype(np.float64)
    rep = mdata.to_rep(p64)
    # the root channels are per-frame displacements (frame 0 stored as 0)
    root = p64.mean(1)
    np.testing.assert_array_equal(rep[0, 69:], 0.0)
    np.testing.assert_allclose(rep[1:, 69:], np.diff(root, axis=0), atol=1e-12)
    # unnormalised round trip is exact up to float64 rounding (placement: frame 0's root)
    np.testing.assert_allclose(mdata.from_rep(rep, 23, 3, root[0]), p64, atol=1e-9)
    x = mdata.normalise(rep, stats)
    back = mdata.rep_to_pose(x.astype(np.float64), stats, 23, 3)
    # absolute placement is not modelled: equal up to the window's first root position;
    # float32 normalisation: sub-micrometre per frame, summed over 150 frames
    shift = root[0] - stats["root0"]
    np.testing.assert_allclose(back + shift, pose, atol=1e-3)
    # batched windows decode window by window
    two = np.stack([p64, p64[::-1]])
    np.testing.assert_allclose(mdata.from_rep(mdata.to_rep(two), 23, 3, two[:, :1].mean(2)),
                               two, atol=1e-9)


def test_meanflow_jvp_is_the_time_derivative():
    """d/dt u(z_t, r, t) along the path equals a finite difference of u."""
    from motionpair.model.net import FlowNet, NetConfig

    for pred in ("u", "x"):
        _jvp_matches_finite_difference(FlowNet(NetConfig(
            n_motion=6, n_cond=4, frames=10, width=16, layers=1, heads=2, patch=5,
            pred=pred)).double())
    _jvp_matches_finite_difference(FlowNet(NetConfig(
        n_motion=6, n_cond=4, frames=10, width=16, layers=1, heads=2, patch=5, pred="x",
        arch="conv", pool_cond=True)).double())


def _jvp_matches_finite_difference(net):
    torch.manual_seed(0)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x, e, c = torch.randn(2, 10, 6).double(), torch.randn(2, 10, 6).double(), \
        torch.randn(2, 10, 4).double()
    r, t = torch.tensor([0.1, 0.3]).double(), torch.tensor([0.6, 0.9]).double()

    def u_at(tt):
        z = (1 - tt)[:, None, None] * x + tt[:, None, None] * e
        return net(z, r, tt, c)

    z = (1 - t)[:, None, None] * x + t[:, None, None] * e
    _, dudt = torch.func.jvp(lambda a, b, d: net(a, b, d, c), (z, r, t),
                             (e - x, torch.zeros_like(r), torch.ones_like(t)))
    h = 1e-7  # sinusoidal time embedding up to 1000 rad per unit t: keep h*1000 small
    fd = (u_at(t + h) - u_at(t - h)) / (2 * h)
    torch.testing.assert_close(dudt, fd, rtol=1e-5, atol=1e-6)


def test_meanflow_with_r_equal_t_is_flow_matching():
    """With r = t for the whole batch the MeanFlow target is the instantaneous velocity
    v = e - x on z_t = (1 - t) x + t e: the loss is plain (conditional) flow matching."""
    from motionpair.model.objective import meanflow_loss, sample_tr

    def model(z, r, t, c):  # any smooth function of its inputs
        return torch.tanh(z) * t[:, None, None] + 0.1 * c.mean() - r[:, None, None]

    x, c = torch.randn(4, 10, 3), torch.randn(4, 10, 2)
    _, mse = meanflow_loss(model, x, c, gen=torch.Generator().manual_seed(5),
                           ratio_r_neq_t=0.0)
    g = torch.Generator().manual_seed(5)  # same draws, same order as the loss
    r, t = sample_tr(4, gen=g, ratio_r_neq_t=0.0)
    e = torch.randn(x.shape, generator=g)
    assert torch.equal(r, t)
    z = (1 - t)[:, None, None] * x + t[:, None, None] * e
    fm = ((model(z, t, t, c) - (e - x)) ** 2).mean()
    torch.testing.assert_close(mse, fm)


def test_one_step_sample_convention():
    """Noise at t = 1, data at t = 0: for one data point x0 the exact average velocity over
    [0, 1] from z = e is e - x0, and ``sample`` returns x0 in 1 and in 10 steps
    (``x = z - u(z, r=0, t=1)``). An x-predicting FlowNet's one-step sample is its head
    output: untrained (zero head) that is exactly 0, the train mean."""
    from motionpair.model.net import FlowNet, NetConfig
    from motionpair.model.objective import sample

    x0 = torch.randn(1, 10, 3)

    def oracle(z, r, t, c):  # z_t = (1 - t) x0 + t e  =>  u(z_t, r, t) = (z_t - x0) / t
        return (z - x0) / t[:, None, None]

    e = torch.randn(2, 10, 3)
    for steps in (1, 10):
        torch.testing.assert_close(sample(oracle, None, e, steps=steps),
                                   x0.expand(2, -1, -1))
    for arch in ("patch", "conv"):
        net = FlowNet(NetConfig(n_motion=3, n_cond=2, frames=10, width=16, layers=1, heads=2,
                                patch=5, pred="x", arch=arch, pool_cond=arch == "conv"))
        out = sample(net, torch.randn(2, 10, 2), e, steps=1)
        assert torch.equal(out, torch.zeros_like(out))


def test_overfit_one_step_speed(tiny_ds):
    """Debug check of the whole objective on real windows (labelled: real-derived, tiny):
    200 steps on 4 train windows, then the 1-step sample's mean per-frame joint speed must
    be within 3x of the real windows' (the first version's u-head gave ~12x: jitter)."""
    from motionpair.model import data as mdata
    from motionpair.model.net import FlowNet, NetConfig
    from motionpair.model.objective import meanflow_loss, sample
    from motionpair.model.train import Windows

    torch.manual_seed(0)
    stats = mdata.compute_stats(tiny_ds)
    b = Windows([str(tiny_ds)], "train", "baseline35", stats).batch([0, 10, 20, 30])
    x, c = b["x"], b["cond"]
    net = FlowNet(NetConfig(n_motion=72, n_cond=c.shape[-1], width=64, layers=2, heads=4,
                            pred="x"))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for step in range(200):
        loss, _ = meanflow_loss(net, x, c, gen=torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = sample(net.eval(), c, torch.randn(x.shape, generator=torch.Generator().manual_seed(9)))
    gen = mdata.rep_to_pose(z.numpy().astype(np.float64), stats, 23, 3)

    def speed(p):  # mean per-frame joint displacement (cm)
        return float(np.linalg.norm(np.diff(p, axis=-3), axis=-1).mean())

    real = speed(b["pose"].numpy().astype(np.float64))
    assert speed(gen) < 3 * real, (speed(gen), real)


def test_no_seams_at_token_boundaries(tiny_ds):
    """Issue 19's seam property on a trained tiny model (real-derived windows, tiny net,
    150 steps with the clean-window losses): the one-step output's mean per-frame step at
    token boundaries (frame 5k-1 -> 5k) equals the step inside tokens within 20 %. The
    pre-issue-19 patch network failed this by ~8x on the full run (24 cm vs 3 cm)."""
    from motionpair.model import data as mdata
    from motionpair.model.net import FlowNet, NetConfig
    from motionpair.model.objective import CleanLosses, meanflow_loss, sample
    from motionpair.model.skeleton import resolve
    from motionpair.model.train import Windows

    torch.manual_seed(0)
    meta = json.loads((tiny_ds / "dataset.json").read_text())
    stats = mdata.compute_stats(tiny_ds)
    w = Windows([str(tiny_ds)], "train", "baseline35", stats)
    b = w.batch(list(range(0, min(len(w), 64), 4)))
    x, c, m = b["x"], b["cond"], b["mask"]
    net = FlowNet(NetConfig(n_motion=72, n_cond=c.shape[-1], width=32, layers=1, heads=2,
                            pred="x", arch="conv", pool_cond=True))
    clean = CleanLosses(stats, resolve(meta))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    for step in range(150):
        loss, _ = meanflow_loss(net, x, c, gen=torch.Generator().manual_seed(step), mask=m,
                                clean=clean, ratio_full=0.25)
        opt.zero_grad()
        loss.backward()
        opt.step()
    e = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    pose = mdata.rep_to_pose(sample(net.eval(), c, e).numpy().astype(np.float64), stats, 23, 3)
    step_cm = np.linalg.norm(np.diff(pose, axis=1), axis=-1).mean(axis=(0, 2))  # (149,)
    boundary = np.arange(4, 149, 5)  # diff index f: frame f -> f + 1, f + 1 = 5k
    interior = np.setdiff1d(np.arange(149), boundary)
    ratio = step_cm[boundary].mean() / step_cm[interior].mean()
    assert 0.8 <= ratio <= 1.2, (ratio, step_cm[boundary].mean(), step_cm[interior].mean())


def test_distill_keeps_teacher_and_replaces_model(tiny_run, tmp_path):
    """One-step distillation (tiny: 2 steps on 4 teacher pairs) on a copy of the tiny run:
    teacher.pt is the MeanFlow model, model.pt the student, config.json records it, and a
    second distillation is refused."""
    import shutil

    from motionpair.model.distill import distill
    from motionpair.model.train import load_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = torch.load(run / "model.pt", weights_only=True)
    res = distill(run, steps=2, pairs=4, teacher_steps=2, batch=2)
    assert res["pairs"] == 4 and (run / "distill.csv").read_text().count("\n") == 3
    teacher = torch.load(run / "teacher.pt", weights_only=True)
    for k in before["ema"]:
        torch.testing.assert_close(teacher["ema"][k], before["ema"][k], rtol=0, atol=0)
    assert torch.load(run / "model.pt", weights_only=True)["distilled"] is True
    assert json.loads((run / "config.json").read_text())["distill"]["steps"] == 2
    net, _, _ = load_run(run)
    assert net is not None
    with pytest.raises(FileExistsError):
        distill(run, steps=1, pairs=2)


def test_train_writes_run_and_resume_repeats(tiny_ds, tiny_run, tmp_path):
    rec = json.loads((tiny_run / "config.json").read_text())
    assert rec["train"]["cond"] == "baseline35" and rec["device"] == "cpu"
    rows = (tiny_run / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss,mse,lr,elapsed_s,val_mse,vel,bone,foot,cpu_s,style" \
        and len(rows) == 5
    # one style (waltz) in the tiny set: the auxiliary style target switches itself off
    assert rec["styles"] == [] and rec["net"]["n_styles"] == 0
    assert rows[2].split(",")[6] != ""  # val at step 2
    ck = torch.load(tiny_run / "last.pt", weights_only=True)
    assert ck["step"] == 4 and "opt" in ck and ck["opt"]["state"]
    # 2 steps, then --resume to 4: the same weights as the uninterrupted 4-step run
    part = tmp_path / "part"
    base = ["train", str(tiny_ds), "--out", str(part), "--val-every", "2", "--ckpt-every",
            "2", *TINY]
    assert CliRunner().invoke(app, [*base, "--steps", "2"]).exit_code == 0
    res = CliRunner().invoke(app, [*base, "--steps", "4", "--resume"])
    assert res.exit_code == 0, res.output
    a = torch.load(tiny_run / "model.pt", weights_only=True)["ema"]
    b = torch.load(part / "model.pt", weights_only=True)["ema"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    assert len((part / "metrics.csv").read_text().splitlines()) == 5
    # a second plain run into the same folder is refused
    again = CliRunner().invoke(app, [*base, "--steps", "2"])
    assert again.exit_code == 2 and "already holds a run" in again.output


def test_guidance_and_null_condition():
    """Classifier-free guidance: w = 1 is plain sampling; otherwise one step is
    ``u(∅) + w (u(music) - u(∅))`` with the null condition = zeros; ``drop_cond`` nulls
    whole windows, seeded."""
    from motionpair.model.net import FlowNet, NetConfig
    from motionpair.model.objective import drop_cond, sample

    torch.manual_seed(0)
    net = FlowNet(NetConfig(arch="conv", pool_cond=True, pred="x", width=32, layers=1,
                            heads=2)).eval()
    for p in net.parameters():  # zero-initialised heads would hide the condition
        torch.nn.init.normal_(p, std=0.05)
    z, c = torch.randn(3, 150, 72), torch.randn(3, 150, 35)
    one, zero = torch.ones(3), torch.zeros(3)
    plain = sample(net, c, z, 1)
    torch.testing.assert_close(sample(net, c, z, 1, guidance=1.0), plain)
    with torch.no_grad():
        u_c, u_0 = net(z, zero, one, c), net(z, zero, one, torch.zeros_like(c))
    torch.testing.assert_close(sample(net, c, z, 1, guidance=2.5), z - (u_0 + 2.5 * (u_c - u_0)))
    assert not torch.allclose(u_c, u_0)  # the music matters to this network
    g = torch.Generator().manual_seed(1)
    d = drop_cond(c, 0.5, g)
    dropped = [bool((d[i] == 0).all()) for i in range(3)]
    kept = [bool(torch.equal(d[i], c[i])) for i in range(3)]
    assert all(a != b for a, b in zip(dropped, kept, strict=True))
    assert torch.equal(drop_cond(c, 0.5, torch.Generator().manual_seed(1)), d)
    assert torch.equal(drop_cond(c, 0.0, g), c)


def test_style_target_and_guidance_recorded(built, tmp_path):
    """On the real tang2018 build (four styles over its sessions) the auxiliary style target
    is on: its styles are those of the train sessions, its loss is logged, the head is in
    the checkpoint; evaluate/generate sample with the run's guidance, a distilled run with
    1 (the teacher's guidance is baked in)."""
    from motionpair.model.adapter import load_model

    meta = json.loads((built.out / "dataset.json").read_text())
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", str(built.out), "--out", str(out), "--steps", "2",
                                   "--val-every", "2", "--guidance", "3", *TINY])
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "config.json").read_text())
    styles = {p["session"]: p["style"] for p in meta["pairs"]}
    from motionpair.consumers.loader import MotionPairDataset

    tr = MotionPairDataset(built.out, split="train", features=("pose",))
    want = sorted({styles[r.session] for r in tr.rows} - {""})
    assert len(want) >= 2 and rec["styles"] == want and rec["net"]["n_styles"] == len(want)
    rows = (out / "metrics.csv").read_text().splitlines()
    assert float(rows[1].split(",")[-1]) > 0  # the style cross-entropy
    assert any(k.startswith("style_head") for k in torch.load(out / "model.pt",
                                                                weights_only=True)["ema"])
    assert load_model(out)["guidance"] == 3.0
    assert load_model(out, guidance=1.0)["guidance"] == 1.0
    rec["distill"] = {"steps": 1}
    (out / "config.json").write_text(json.dumps(rec))
    assert load_model(out)["guidance"] == 1.0


def test_train_refuses_unknown_cond(tiny_ds, tmp_path):
    res = CliRunner().invoke(app, ["train", str(tiny_ds), "--out", str(tmp_path / "r"),
                                   "--cond", "chroma", *TINY])
    assert res.exit_code == 2 and "--cond" in res.output


def test_evaluate_table(tiny_ds, tiny_run):
    """The older form ``evaluate RUN DATASET`` still scores the test split."""
    res = CliRunner().invoke(app, ["evaluate", str(tiny_run), str(tiny_ds), "--steps", "2"])
    assert res.exit_code == 0, res.output
    ev = json.loads((tiny_run / "eval_test.json").read_text())
    names = [r["row"] for r in ev["rows"]]
    assert names == ["ground truth (split-half)", "random train window",
                     "nearest train window by audio", "mean pose", "net, 1 step",
                     "net, 2 steps", "net, 1 step, shuffled music"]
    assert ev["split"] == "test"
    for r in ev["rows"]:
        assert set(r) >= {"fid_k", "div_k", "fid_g", "div_g", "bas", "bas_shuffled", "pfc",
                          "acc_per_frame2", "power_above_5hz", "bone_cv", "ref_fid_k",
                          "ref_div_k", "ref_fid_g", "ref_div_g", "ref_bas",
                          "ref_bas_shuffled"}
    mean_pose = ev["rows"][3]
    assert mean_pose["div_k"] == 0 and mean_pose["bas"] == 0  # a still pose has no beats
    assert mean_pose["acc_per_frame2"] == pytest.approx(0, abs=1e-9)
    gt = ev["rows"][0]
    assert all(np.isfinite(v) for k, v in gt.items() if k != "row")
    assert 0 < gt["power_above_5hz"] < 0.5 and 0 < gt["bone_cv"] < 0.5
    assert "FID_k" in res.output and "literal" in res.output


@pytest.fixture(scope="module")
def no_train_ds(tang_dir, tmp_path_factory, cache_dir) -> Path:
    """Real-derived: two real folders built with every session in the test split (no train
    split, so no norm statistics of its own)."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    tmp = tmp_path_factory.mktemp("notrain")
    src = real_subset(tang_dir, tmp / "in", writable=False, sessions=("DANCE_W_7", "DANCE_W_8"))
    out = tmp / "ds"
    build([src], out, BuildConfig(split_ratios=(0.0, 0.0, 1.0)), workers=1,
          cache_dir=cache_dir)
    return out


def test_evaluate_on_dataset_without_train_split(tiny_run, no_train_ds, tmp_path):
    from motionpair.store import read_manifest

    assert {r.split for r in read_manifest(no_train_ds)} == {"test"}
    js = tmp_path / "ev.json"
    res = CliRunner().invoke(app, ["evaluate", str(tiny_run), "--on", str(no_train_ds),
                                   "--steps", "2", "--json", str(js)])
    assert res.exit_code == 0, res.output
    ev = json.loads(js.read_text())
    assert ev["split"] is None and ev["n_query"] >= 3
    assert ev["sessions"] == ["DANCE_W_7", "DANCE_W_8"]
    assert ev["train_pool"]["windows"] > 0  # the run's own train windows, not the dataset's
    assert (tiny_run / f"eval_{no_train_ds.name}_all.json").is_file()
    gt = ev["rows"][0]
    assert gt["fid_k"] is not None and np.isfinite(gt["fid_k"])
    # a split the dataset lacks: one line, exit 2
    res = CliRunner().invoke(app, ["evaluate", str(tiny_run), "--on", str(no_train_ds),
                                   "--split", "train"])
    assert res.exit_code == 2 and "has no windows" in res.output
    res = CliRunner().invoke(app, ["evaluate", str(tiny_run)])
    assert res.exit_code == 2 and "--on" in res.output


def test_reference_metrics_as_written(tiny_ds):
    """The literal AIST++ energy expenditure (its misplaced bracket) equals a direct loop
    transcription; zero-start changes it (it depends on absolute position), not the
    project's; the 60 fps resampling keeps the span."""
    from motionpair.model import metrics as mm
    from motionpair.torch import MotionPairDataset

    ds = MotionPairDataset(tiny_ds, split=None, features=("pose",))
    pos = mm.to_metres(ds.arrays(0)[0]["pose"], "cm")[:40]

    def loop(p, ft=1 / 60, w=2):
        out = []
        for j in range(p.shape[1]):
            val = 0.0
            for i in range(1, len(p)):
                cw, a = 0, np.zeros(3)
                for k in range(-w, w + 1):
                    if i + k - 1 < 0 or i + k + 1 >= len(p):
                        continue
                    v2 = (p[i + k + 1][j] - p[i + k][j]) / ft
                    v1 = (p[i + k][j] - p[i + k - 1][j] / ft)
                    a += (v2 - v1) / ft
                    cw += 1
                val += np.linalg.norm(a / cw)
            out.append(val / (len(p) - 1))
        return np.array(out)

    lit = mm.kinetic_features_as_written(pos).reshape(-1, 3)
    np.testing.assert_allclose(lit[:, 2], loop(pos), rtol=1e-10)
    zs = mm.zero_start(pos, (7, 16))
    assert not np.allclose(mm.kinetic_features_as_written(zs), mm.kinetic_features_as_written(pos))
    np.testing.assert_allclose(mm.kinetic_features(zs), mm.kinetic_features(pos), atol=1e-9)
    p60 = mm.resample(pos, 30.0)
    assert len(p60) == 2 * len(pos) - 1
    np.testing.assert_allclose(p60[::2], pos)


def test_style_classifier_on_real_windows(tiny_ds):
    """Real-derived: the three sessions as three classes; the classifier separates its own
    training windows far above chance, and balanced accuracy weighs classes equally."""
    from motionpair.model import metrics as mm
    from motionpair.torch import MotionPairDataset

    ds = MotionPairDataset(tiny_ds, split=None, features=("pose",))
    idx = list(range(0, len(ds), 2))
    x = np.stack([mm.kinetic_features(mm.to_metres(ds.arrays(i)[0]["pose"], "cm"))
                  for i in idx])
    y = [ds.rows[i].session for i in idx]
    clf = mm.fit_style_classifier(x, y)
    assert mm.balanced_accuracy(y, clf.predict(x)) > 0.8
    assert mm.balanced_accuracy(["a", "a", "a", "b"], ["a", "a", "a", "a"]) == 0.5


def test_metrics_on_real_windows(tiny_ds):
    """GT vs itself: FID ~ 0; noisy motion: far larger FID than the real split-half; Beat
    Align of real motion against its OWN kinematic beats above the same against other
    windows' beats (on tang2018's music itself real pairs do not beat shuffled music: the
    dataset's alignment is not beat-precise, docs/model.md)."""
    from motionpair.model import metrics as mm
    from motionpair.model.evaluate import split_half
    from motionpair.torch import MotionPairDataset

    ds = MotionPairDataset(tiny_ds, split=None, features=("pose", "kin_beat"))
    pos = np.stack([mm.to_metres(ds.arrays(i)[0]["pose"], "cm") for i in range(len(ds))])
    k = np.stack([mm.kinetic_features(p) for p in pos])
    g = np.stack([mm.geometric_features(p, mm.TANG2018_ROLES) for p in pos])
    assert mm.fid_div(k, k).fid == pytest.approx(0, abs=1e-6)
    assert mm.fid_div(g, g).fid == pytest.approx(0, abs=1e-6)
    A, B = split_half(ds)  # first vs second halves of the three sessions
    half = mm.fid_div(k[A], k[B]).fid
    # "noise": what an untrained generator outputs, standard normal in the model's
    # normalised representation decoded with the train statistics
    from motionpair.model import data as mdata

    stats = mdata.compute_stats(tiny_ds)
    z = np.random.default_rng(0).standard_normal((len(B), 150, 72))
    noise = mm.to_metres(mdata.rep_to_pose(z, stats, 23, 3), "cm")
    kn = np.stack([mm.kinetic_features(p) for p in noise])
    assert mm.fid_div(k[A], kn).fid > 10 * half
    beats = [np.flatnonzero(ds.arrays(i)[0]["kin_beat"]) for i in range(len(ds))]
    own = np.nanmean([mm.beat_align_score(p, b) for p, b in zip(pos, beats, strict=True)])
    perm = np.roll(np.arange(len(ds)), len(ds) // 2)
    other = np.nanmean([mm.beat_align_score(pos[i], beats[j]) for i, j in enumerate(perm)])
    assert own > other + 0.2, (own, other)
    feet, root = mm.foot_joints(mm.TANG2018_ROLES)
    assert mm.pfc_score(list(pos[:5]), feet, root) > 0


@pytest.fixture(scope="module")
def tiny_gen(tiny_run, tang_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "gen"
    audio = tang_dir / "DANCE_W_4" / "audio.mp3"
    res = CliRunner().invoke(app, ["generate", str(tiny_run), str(audio), "--out", str(out),
                                   "--steps", "2", "--max-video-s", "2"])
    assert res.exit_code == 0, res.output
    return out


def test_generate_whole_song(tiny_gen):
    out = tiny_gen
    info = json.loads((out / "generate.json").read_text())
    motion = np.load(out / "motion.npy", allow_pickle=False)
    assert motion.dtype == np.float32 and motion.shape == (info["frames"], 23, 3)
    assert info["seconds"] > 60 and np.isfinite(motion).all()
    beat = np.load(out / "music_beat.npy", allow_pickle=False)
    assert beat.shape == (info["frames"],) and beat.sum() > 10
    assert (out / "strip.png").stat().st_size > 1000
    assert not list(out.glob("*.rows"))  # the incremental writers' row files are gone
    import av

    with av.open(str(out / "dance.mp4")) as c:
        kinds = sorted(s.type for s in c.streams)
        assert kinds == ["audio", "video"]
        assert c.streams.video[0].frames == 60


def test_generate_has_no_seam_at_window_boundaries(tiny_gen, tiny_run):
    """The joined song's step size at window boundaries (the first frame of each overlap and
    the frame after each window's end) equals the interior's within 20 %. Interior frames
    are taken at the same phase of the network's tokens, so a seam of the network's own
    patching (model/net.py) is not blamed on the join."""
    info = json.loads((tiny_gen / "generate.json").read_text())
    motion = np.load(tiny_gen / "motion.npy").astype(np.float64)
    net = json.loads((tiny_run / "config.json").read_text())["net"]
    T, patch = net["frames"], int(net.get("patch") or 1)
    step = np.linalg.norm(np.diff(motion, axis=0), axis=-1).mean(-1)  # step[f-1]: into f
    starts = info["window_starts"]
    bounds = sorted({s for s in starts[1:]} | {s + T for s in starts[:-1]})
    bounds = [f for f in bounds if 0 < f < len(motion)]
    phases = {f % patch for f in bounds}
    inner = [f for f in range(1, len(motion)) if f % patch in phases and f not in bounds]
    b, i = step[np.array(bounds) - 1].mean(), step[np.array(inner) - 1].mean()
    assert abs(b / i - 1) <= 0.2, (b, i)


def test_join_of_real_windows_is_exact(tiny_ds):
    """Real-derived: a continuous stretch of real motion cut into overlapping windows (the
    model's representation, each window's first displacement 0 as the model emits it) is
    joined back into the same motion: the cross-fade and the running root add no seam."""
    from motionpair.model import data as mdata
    from motionpair.model.generate import _Joiner
    from motionpair.torch import MotionPairDataset

    ds = MotionPairDataset(tiny_ds, split=None, features=("pose",))
    rows = sorted(range(len(ds)), key=lambda i: (ds.rows[i].session, ds.rows[i].start_frame))
    by_start = {(ds.rows[i].session, ds.rows[i].start_frame): i for i in rows}
    r0 = ds.rows[rows[0]]
    parts = [by_start.get((r0.session, r0.start_frame + 150 * k)) for k in range(3)]
    assert None not in parts
    seq = np.concatenate([ds.arrays(i)[0]["pose"] for i in parts]).astype(np.float64)
    got: list[np.ndarray] = []
    joiner = _Joiner(23, 3, seq[0].mean(0), got.append)
    for s in (0, 75, 150, 225, 300):
        joiner.add(s, mdata.to_rep(seq[s: s + 150]))
    joiner.close()
    np.testing.assert_allclose(np.concatenate(got), seq, atol=1e-3)


def test_feature_stream_memory_does_not_grow(tang_dir, tmp_path):
    """Real-derived: 30 s and 90 s cut from a real song (WAV in tmp). Chunked features
    (10 s chunks, 3 s context) cover every frame once and match the whole clip's features
    (mel within 0.05 dB, >= 90 % of the beats on the same frame ±1), and the peak traced
    memory of the stream does not grow with the clip's length."""
    import tracemalloc

    import soundfile as sf

    from motionpair.features.audio import compute_features, decode_audio
    from motionpair.model.generate import stream_features

    params = {"sr_hz": 22050, "hop": 735, "n_mels": 128, "n_fft": 2048, "n_mfcc": 20}
    y, sr = decode_audio(tang_dir / "DANCE_W_4" / "audio.mp3")
    peaks = {}
    for secs in (30, 90):
        wav = tmp_path / f"clip{secs}.wav"
        sf.write(wav, y[: secs * sr], sr, subtype="FLOAT")  # bit-exact samples
        whole = compute_features(y[: secs * sr], native_sr_hz=sr, track_id="w", **params)
        firsts, lens, mel_err, got = [], [], 0.0, []
        tracemalloc.start()  # only what the stream allocates; nothing yielded is kept
        for f0, a in stream_features(wav, params, chunk_s=10, context_s=3):
            firsts.append(f0)
            lens.append(len(a["music_beat"]))
            ref_mel = whole.arrays["mel"][f0: f0 + len(a["mel"])]
            mel_err = max(mel_err, float(np.abs(a["mel"] - ref_mel).max()))
            got += [f0 + int(k) for k in np.flatnonzero(a["music_beat"])]
        peaks[secs] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert firsts == list(np.cumsum([0, *lens[:-1]]))
        assert sum(lens) == len(whole.arrays["music_beat"])
        # the chunks' context makes them the whole clip's features
        assert mel_err < 0.05, mel_err  # dB
        ref = np.flatnonzero(whole.arrays["music_beat"])
        d = np.abs(np.array(got)[:, None] - ref[None]) <= 1
        # per-chunk beat tracking (10 s chunks here, 300 s in generate): precision and
        # recall of the whole clip's beats within one frame
        assert d.any(1).mean() >= 0.9 and d.any(0).mean() >= 0.9, (len(got), len(ref))
    assert peaks[90] < 1.2 * peaks[30], peaks


def test_generate_missing_audio_is_file_not_found(tiny_run, tmp_path):
    res = CliRunner().invoke(app, ["generate", str(tiny_run), str(tmp_path / "nope.mp3"),
                                   "--out", str(tmp_path / "g")])
    assert res.exit_code == 2 and "not found" in res.output
    assert "not decodable" not in res.output


def test_window_starts_cover_the_song():
    from motionpair.model.generate import window_starts

    assert window_starts(150, 150, 75) == [0]
    assert window_starts(400, 150, 75) == [0, 75, 150, 225, 250]
    with pytest.raises(ValueError, match="at least 150"):
        window_starts(100, 150, 75)


def test_export_onnx_parity_and_coreml_spec(tiny_run, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from motionpair.model.export import export

    ct = pytest.importorskip("coremltools")
    info = export(tiny_run, out=tmp_path / "exp", latency_runs=3,
                  coreml=ct is not None)
    assert info["onnx"]["max_abs_diff"] <= 1e-4  # the network's normalised window
    assert info["onnx"]["max_abs_diff_pose"] <= 1e-3 * max(1.0, info["onnx"]["max_abs_value_pose"])
    cm = info["coreml"]
    assert cm["model_type"] == "mlProgram"
    assert cm["spec_inputs"] == {"noise": [1, 150, 72], "music": [1, 150, 35]}
    assert cm["spec_outputs"] == {"pose": [1, 150, 23, 3], "window": [1, 150, 72]}


def test_truncated_checkpoint_is_one_line(tiny_run, tiny_ds, tang_dir, tmp_path):
    """Real-derived: the tiny run's checkpoint cut in half; evaluate and generate say so in
    one line (exit 1: an input problem, README "Exit codes"), no traceback, no output
    folder."""
    import shutil

    bad = tmp_path / "run"
    bad.mkdir()
    for name in ("config.json", "rep_stats.npz", "cond_stats.npz"):
        shutil.copyfile(tiny_run / name, bad / name)
    data = (tiny_run / "model.pt").read_bytes()
    (bad / "model.pt").write_bytes(data[: len(data) // 2])
    audio = tang_dir / "DANCE_W_4" / "audio.mp3"
    for args in (["evaluate", str(bad), "--on", str(tiny_ds)],
                 ["generate", str(bad), str(audio), "--out", str(tmp_path / "g")]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1 and "damaged checkpoint" in res.output, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "g").exists()


def test_pictures_put_the_skeletons_up_axis_up():
    """A capture's 2-D image coordinates have y pointing down: drawn as stored, the dancer
    stood on her head in generate's strip and video. ``upright`` moves the skeleton's up
    axis to drawing axis 1 with its sign (values: two joints, head above feet)."""
    from motionpair.model.generate import upright

    img = np.array([[[100.0, 50.0], [100.0, 300.0]]])  # head at y=50 px, feet at 300 (down)
    up = upright(img, {"dims": 2, "up_axis": "-y"})
    assert up[0, 0, 1] > up[0, 1, 1]  # head drawn above the feet
    z_up = np.array([[[0.0, 5.0, 170.0], [0.0, 5.0, 0.0]]])
    up3 = upright(z_up, {"dims": 3, "up_axis": "z"})
    assert up3[0, 0, 1] == 170.0 and up3[0, 0, 2] == 5.0
    same = np.array([[[0.0, 170.0, 1.0]]])
    assert upright(same, {"dims": 3, "up_axis": "y"}) is same
