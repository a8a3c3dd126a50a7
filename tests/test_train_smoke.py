"""``motionpair train-smoke``: short seeded runs from the loader on the real build."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from motionpair.cli import app

torch = pytest.importorskip("torch")


def test_train_smoke_cli_reports_selected_checkpoint(built):
    res = CliRunner().invoke(app, ["train-smoke", str(built.out), "--seconds", "5",
                                   "--max-epochs", "3"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "baseline" in out and "window_speed" in out and "<- selected" in out
    val = re.search(r"verdict: val \(selected checkpoint, epoch (\d)\) (\d\.\d{4}) (<|>=) "
                    r"baseline (\d\.\d{4})", out)
    assert val, out
    assert (float(val[2]) < float(val[4])) == (val[3] == "<")
    assert re.search(r"verdict: test of that checkpoint \d\.\d{4} vs baseline \d\.\d{4}", out)
    assert "final val MSE" not in out and "final model on test" not in out


def test_selected_checkpoint_is_restored_and_tested(built):
    from motionpair.consumers.smoke import evaluate, run_smoke

    res = run_smoke(built.out, max_epochs=3)
    vals = [e["val"] for e in res.epochs]
    assert len(vals) == 3 and not res.stopped_early
    # the selected checkpoint is the first epoch with the minimum val loss of the table
    assert res.val_selected == min(vals) == res.best_val
    assert res.selected_epoch == vals.index(min(vals)) + 1
    assert res.beat_baseline == (min(vals) < res.baseline_val)
    # the restored weights are that checkpoint: rebuilt from res.state, they give its val
    # loss (again, after the run) and the reported test loss
    assert res.val_restored == res.val_selected
    assert evaluate(built.out, res.state, "val") == pytest.approx(res.val_selected, abs=1e-9)
    assert res.n_test > 0 and res.baseline_test > 0
    assert evaluate(built.out, res.state, "test") == pytest.approx(res.test, abs=1e-9)
    assert res.beat_baseline_test == (res.test < res.baseline_test)
    k, v, b = res.selected_epoch, res.val_selected, res.baseline_val
    assert res.verdict_val.startswith(
        f"val (selected checkpoint, epoch {k}) {v:.4f} {'<' if v < b else '>='} "
        f"baseline {b:.4f}")
    assert res.verdict_test.startswith(
        f"test of that checkpoint {res.test:.4f} vs baseline {res.baseline_test:.4f}")
    assert res.verdict == f"{res.verdict_val}; {res.verdict_test}"


def test_patience_stops_after_no_improvement(built):
    from motionpair.consumers.smoke import run_smoke

    res = run_smoke(built.out, max_epochs=40, patience=2)
    vals = [e["val"] for e in res.epochs]
    n = len(vals)
    assert res.val_selected == min(vals) and res.selected_epoch == vals.index(min(vals)) + 1
    # the val loss of this tiny model is noisy: it stops well before 40 epochs, exactly
    # `patience` epochs after the selected one
    assert res.stopped_early and n < 40 and n == res.selected_epoch + 2
    assert res.val_restored == res.val_selected


def test_smoke_is_seeded(built):
    from motionpair.consumers.smoke import run_smoke

    kw = dict(seconds=600, max_epochs=2, target="speed", channels="all", seed=1)
    a, b = run_smoke(built.out, **kw), run_smoke(built.out, **kw)
    assert [e["val"] for e in a.epochs] == [e["val"] for e in b.epochs]
    assert (a.selected_epoch, a.test) == (b.selected_epoch, b.test)
    assert a.baseline_val == b.baseline_val > 0
    assert a.params > 1000 and a.n_train > a.n_val > 0


def test_bad_target_is_refused(built):
    res = CliRunner().invoke(app, ["train-smoke", str(built.out), "--target", "nope"])
    assert res.exit_code == 2 and "choose one of" in res.output
