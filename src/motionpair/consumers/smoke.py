"""Training smoke test: a tiny 1-D conv net from music features to motion, on CPU.

A consumability proof, not model work: it shows the loader feeds a model and that the
validation loss falls below the predict-the-train-mean baseline. Inputs and targets are
normalised with the dataset's train-split statistics (``norm_stats.npz``), so the loss is an
MSE in train-std units and the baseline predicts the per-channel train mean of the target.

Model selection is the standard early-stopping one: the val loss is evaluated after every
epoch, the checkpoint with the lowest val loss is kept (optionally training stops after
``patience`` epochs without improvement) and restored at the end. Because val chose that
checkpoint, its val loss is optimistic; the unbiased check is the TEST loss of the same
restored checkpoint against the test baseline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from motionpair.consumers.loader import MotionPairDataset, collate
from motionpair.store import read_dataset_json

TARGETS = {
    "window_speed": "mean joint speed averaged over the window (1 value per window), "
                    "normalised with the train statistics of speed",
    "velocity": "per-frame joint velocity (T, 23*3), normalised per joint coordinate",
    "speed": "per-frame mean joint speed (T, 1), normalised",
    "speed_rhythm": "per-frame mean joint speed minus its window mean (T, 1), in train-std "
                    "units: the beat-scale rhythm of motion, not the dancer's overall energy",
}
ARRAY_OF = {"window_speed": "speed", "velocity": "velocity", "speed": "speed",
            "speed_rhythm": "speed"}
RHYTHM = ("onset_env", "onset_peak", "beat")
"""baseline35 blocks used by ``channels="rhythm"``: timbre (MFCC) and harmony (chroma) are
track identities with 11 train tracks, and a model fed them memorises the tracks."""


def channel_index(meta: dict, channels: str) -> list[int]:
    """baseline35 columns for "all" or "rhythm", from dataset.json's baseline35 layout."""
    if channels == "all":
        return list(range(35))
    if channels != "rhythm":
        raise ValueError(f"channels {channels!r}: choose 'all' or 'rhythm'")
    idx, start = [], 0
    for block in meta["audio"]["arrays"]["baseline35"]["layout"]:
        if block["name"] in RHYTHM:
            idx += list(range(start, start + block["width"]))
        start += block["width"]
    return idx


@dataclass
class SmokeResult:
    """Outcome of :func:`run_smoke`.

    ``epochs`` is the per-epoch loss table; ``selected_epoch`` the epoch (1-based) whose
    checkpoint had the lowest val loss and was restored; ``val_selected`` its val loss from
    the table and ``val_restored`` the val loss re-evaluated after restoring it (equal: proof
    that the restored weights are that checkpoint). ``test`` is the loss of the restored
    checkpoint on the test split (NaN when the split has no test sessions). ``state`` holds
    the restored checkpoint's ``state_dict``.
    """

    target: str
    input: str
    model: str = ""
    epochs: list[dict[str, float]] = field(default_factory=list)
    baseline_val: float = float("nan")
    selected_epoch: int = 0
    val_selected: float = float("nan")
    val_restored: float = float("nan")
    patience: int | None = None
    stopped_early: bool = False
    test: float = float("nan")
    baseline_test: float = float("nan")
    verdict_val: str = ""
    verdict_test: str = ""
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    params: int = 0
    seconds: float = 0.0
    state: dict | None = field(default=None, repr=False)

    @property
    def best_val(self) -> float:
        return min(e["val"] for e in self.epochs) if self.epochs else float("nan")

    @property
    def beat_baseline(self) -> bool:
        """The selected checkpoint's val loss is below the val baseline (optimistic: val
        chose the checkpoint)."""
        return bool(self.epochs) and self.val_selected < self.baseline_val

    @property
    def beat_baseline_test(self) -> bool:
        """The selected checkpoint's test loss is below the test baseline (the unbiased check)."""
        return self.test < self.baseline_test

    @property
    def verdict(self) -> str:
        return f"{self.verdict_val}; {self.verdict_test}"


def _gain(loss: float, base: float) -> str:
    return f"{100 * (1 - loss / base):+.1f}%"


def verdicts(res: SmokeResult) -> tuple[str, str]:
    """The two verdict sentences: selected checkpoint on val, the same checkpoint on test."""
    k, v, b = res.selected_epoch, res.val_selected, res.baseline_val
    val = (f"val (selected checkpoint, epoch {k}) {v:.4f} {'<' if v < b else '>='} "
           f"baseline {b:.4f} ({_gain(v, b)})")
    if res.test != res.test:  # NaN: no test sessions
        return val, "test of that checkpoint: the split has no test sessions"
    t, tb = res.test, res.baseline_test
    return val, (f"test of that checkpoint {t:.4f} vs baseline {tb:.4f} ({_gain(t, tb)}, "
                 f"{'below' if t < tb else 'NOT below'} the baseline)")


class ConvNet(nn.Module):
    """Three dilated 1-D convolutions over time (receptive field 25 frames = 0.83 s at 30 fps)."""

    def __init__(self, n_in: int, n_out: int, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_in, width, 5, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=4, dilation=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=8, dilation=4), nn.GELU(),
            nn.Conv1d(width, n_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C_in) -> (B, T, C_out)
        return self.net(x.transpose(1, 2)).transpose(1, 2)


class WindowStats(nn.Module):
    """Linear map of each input channel's window mean and std to one value per window."""

    def __init__(self, n_in: int, n_out: int = 1) -> None:
        super().__init__()
        self.lin = nn.Linear(2 * n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C_in) -> (B, 1, C_out)
        return self.lin(torch.cat([x.mean(1), x.std(1)], -1)).unsqueeze(1)


def _xy(batch: dict, target: str, cols: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    y = batch[ARRAY_OF[target]]
    y = y.reshape(y.shape[0], y.shape[1], -1)
    if target == "speed_rhythm":
        y = y - y.mean(dim=1, keepdim=True)
    elif target == "window_speed":
        y = y.mean(dim=1, keepdim=True)
    return batch["baseline35"][..., cols], y


def _mean_target(dl: DataLoader, target: str, cols: list[int]) -> torch.Tensor:
    total, n = None, 0
    for b in dl:
        _, y = _xy(b, target, cols)
        s = y.double().sum(dim=(0, 1))
        total = s if total is None else total + s
        n += y.shape[0] * y.shape[1]
    return (cast(torch.Tensor, total) / n).float()  # dl yields at least one batch


def _eval(model: nn.Module | None, dl: DataLoader, target: str, cols: list[int],
          const: torch.Tensor | None = None) -> float:
    se, n = 0.0, 0
    with torch.no_grad():
        for b in dl:
            x, y = _xy(b, target, cols)
            pred = cast(torch.Tensor, const).expand_as(y) if model is None else model(x)
            se += float(((pred - y) ** 2).double().sum())
            n += y.numel()
    return se / n


def _model_for(target: str, n_in: int, n_out: int) -> nn.Module:
    return WindowStats(n_in, n_out) if target == "window_speed" else ConvNet(n_in, n_out)


def evaluate(root: str | Path, state: dict, split: str, *, target: str = "window_speed",
             channels: str = "rhythm") -> float:
    """MSE of a checkpoint (``SmokeResult.state``) on one split of the built dataset,
    rebuilt from scratch: lets a caller check the losses ``run_smoke`` reported."""
    cols = channel_index(read_dataset_json(root), channels)
    ds = MotionPairDataset(root, split=split, features=("baseline35", ARRAY_OF[target]),
                           normalize=True)
    n_out = _xy(collate([ds[0]]), target, cols)[1].shape[-1]
    model = _model_for(target, len(cols), n_out)
    model.load_state_dict(state)
    model.eval()
    return _eval(model, DataLoader(ds, batch_size=128, collate_fn=collate), target, cols)


def run_smoke(root: str | Path, *, seconds: float = 60.0, target: str = "window_speed",
              channels: str = "rhythm", seed: int = 0, batch_size: int = 32,
              lr: float | None = None, max_epochs: int | None = None,
              patience: int | None = None, workers: int = 0,
              on_epoch: Callable[[dict[str, Any]], None] | None = None) -> SmokeResult:
    """Train until ``seconds`` of wall time (or ``max_epochs``), evaluating val every epoch;
    keep the checkpoint with the lowest val loss, restore it at the end and evaluate it on
    the test split.

    Parameters
    ----------
    root : built dataset folder (needs train and val windows and norm_stats.npz).
    seconds : training wall-time budget, s (checked after each epoch).
    target : one of ``TARGETS``; "window_speed" uses :class:`WindowStats`, the per-frame
        targets a :class:`ConvNet`.
    channels : "rhythm" (onset envelope, onset peaks, beats of baseline35) or "all" (35).
    seed : seeds torch (weights, shuffling).
    max_epochs : when given, training runs this many epochs (``seconds`` ignored) with the
        learning-rate decay over epochs, so the run repeats bit for bit; otherwise the number
        of epochs (and the decay) follows the wall-time budget.
    patience : when given, stop after this many epochs without a new lowest val loss (the
        learning-rate schedule is not shortened); None trains the whole budget.
    on_epoch : called with each row of the loss table (plus ``"best": bool``).
    """
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: choose one of {sorted(TARGETS)}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience {patience}: must be >= 1")
    cols = channel_index(read_dataset_json(root), channels)
    torch.manual_seed(seed)
    feats = ("baseline35", ARRAY_OF[target])
    train = MotionPairDataset(root, split="train", features=feats, normalize=True)
    val = MotionPairDataset(root, split="val", features=feats, normalize=True)
    g = torch.Generator().manual_seed(seed)
    dl_train = DataLoader(train, batch_size=batch_size, shuffle=True, generator=g,
                          collate_fn=collate, num_workers=workers)
    dl_eval_train = DataLoader(train, batch_size=128, collate_fn=collate)
    dl_val = DataLoader(val, batch_size=128, collate_fn=collate)
    n_out = _xy(collate([train[0]]), target, cols)[1].shape[-1]
    model = _model_for(target, len(cols), n_out)
    lr = lr or (1e-2 if target == "window_speed" else 2e-3)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    budget = f"{max_epochs} epochs" if max_epochs else "the time budget"
    stop = f", early stop after {patience} epochs without val improvement" if patience else ""
    res = SmokeResult(target=f"{target}: {TARGETS[target]}",
                      input=f"baseline35 columns {cols} ({channels}), normalised",
                      model=f"{type(model).__name__}, AdamW lr {lr} (cosine decay over "
                            f"{budget}), batch {batch_size}; checkpoint with the lowest val "
                            f"loss kept and restored{stop}",
                      n_train=len(train), n_val=len(val), patience=patience,
                      params=sum(p.numel() for p in model.parameters()))
    mean_y = _mean_target(dl_eval_train, target, cols)
    res.baseline_val = _eval(None, dl_val, target, cols, const=mean_y)
    t0 = time.perf_counter()
    total_steps = max_epochs * len(dl_train) if max_epochs else 0
    step = 0
    best_state: dict | None = None
    for epoch in range(1, (max_epochs or 10**9) + 1):
        model.train()
        losses = []
        for b in dl_train:
            # cosine decay over the budget: the last epochs are not SGD noise
            frac = step / total_steps if total_steps else min(
                1.0, (time.perf_counter() - t0) / seconds) if seconds > 0 else 1.0
            step += 1
            for grp in opt.param_groups:
                grp["lr"] = lr * 0.5 * (1 + math.cos(math.pi * frac))
            x, y = _xy(b, target, cols)
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        model.eval()
        row = {"epoch": epoch, "train": float(np.mean(losses)),
               "val": _eval(model, dl_val, target, cols), "elapsed_s": time.perf_counter() - t0}
        res.epochs.append(row)
        best = best_state is None or row["val"] < res.val_selected  # first minimum wins
        if best:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            res.selected_epoch, res.val_selected = epoch, row["val"]
        if on_epoch:
            on_epoch({**row, "best": best})
        if patience and epoch - res.selected_epoch >= patience:
            res.stopped_early = max_epochs is None or epoch < max_epochs
            break
        if not max_epochs and row["elapsed_s"] >= seconds:
            break
    res.seconds = time.perf_counter() - t0
    model.load_state_dict(cast(dict, best_state))  # restore the selected checkpoint
    model.eval()
    res.state = best_state
    res.val_restored = _eval(model, dl_val, target, cols)
    try:  # the selected checkpoint on the held-out test sessions, when the split has any
        test = MotionPairDataset(root, split="test", features=feats, normalize=True)
    except ValueError:
        test = None
    if test is not None:
        dl_test = DataLoader(test, batch_size=128, collate_fn=collate)
        res.n_test = len(test)
        res.test = _eval(model, dl_test, target, cols)
        res.baseline_test = _eval(None, dl_test, target, cols, const=mean_y)
    res.verdict_val, res.verdict_test = verdicts(res)
    return res
