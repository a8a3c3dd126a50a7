"""``motionpair train``: fit FlowGenerator1Step (MeanFlow on :class:`.net.FlowNet`).

Run folder (``--out RUN``)::

    config.json      resolved configuration (datasets, shapes, optimiser, seed, device used)
    cond_stats.npz   the dataset's train mean/std of the conditioning features
    rep_stats.npz    train-split mean/std of the pose representation (+ root0), see data.py
    metrics.csv      step, epoch, loss, mse, lr, elapsed_s, val_mse (val every --val-every),
                     vel, bone, foot (clean-window loss terms), cpu_s (process CPU time)
    last.pt          model, EMA, optimiser, scheduler and step (``--resume`` continues it)
    model.pt         EMA weights + net config: what evaluate / generate / export read; the
                     EMA of the step with the lowest val MSE (val-selected; the final EMA
                     when there is no val split), ``step`` says which
    best.pt          the val-best EMA while training (model.pt is written from it)
    curve.png        the training curve (train MSE, val MSE)
    teacher.pt       after ``--distill-steps``: the MeanFlow model.pt before distillation
                     (model.pt is then the one-step student; distill.csv its curve)
    tb/              TensorBoard events when the ``tensorboard`` package is installed

Reproducibility: batch order is ``default_rng([seed, epoch]).permutation``, augmentation
draws are ``(seed, epoch, index)`` (loader), noise and (r, t) come from a generator seeded
by ``(seed, step)``; so a resumed run repeats the uninterrupted one on the same device.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionpair.consumers.augment import Augment
from motionpair.consumers.loader import MotionPairDataset, collate
from motionpair.model import data as mdata
from motionpair.model import skeleton as mskel
from motionpair.model.net import FlowNet, NetConfig, n_params
from motionpair.model.objective import CleanLosses, drop_cond, meanflow_loss

CSV_FIELDS = ("step", "epoch", "loss", "mse", "lr", "elapsed_s", "val_mse", "vel", "bone",
              "foot", "cpu_s", "style")


@dataclass
class TrainConfig:
    """Everything that defines a run (saved as RUN/config.json)."""

    datasets: list[str] = field(default_factory=list)
    cond: str = "auto"
    """music features; "auto" = baseline35 when every dataset has it, else mel (saved
    resolved)"""
    width: int = 128
    layers: int = 3
    heads: int = 4
    batch: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    steps: int = 3000
    max_minutes: float = 20.0
    seed: int = 0
    jitter_frames: int = 15
    ema: float = 0.999
    val_every: int = 200
    ckpt_every: int = 200
    adaptive_p: float = 1.0
    ratio_r_neq_t: float = 0.25
    ratio_full: float = 0.0
    """share of each batch on the full interval r = 0, t = 1 (the one-step jump). 0 by
    default: at 0.25 (reported run, steps 0-1,000) the full-interval MeanFlow target fed
    on its own du/dt once nothing anchored it (val MSE 0.36 -> 7.6 in 200 steps); the
    one-step map comes from distillation instead (``distill.py``)"""
    clean_losses: bool = True
    """velocity / bone-length / foot-contact losses on the clean window (objective.py)"""
    arch: str = "conv"
    """network layout, see :class:`.net.NetConfig` ``arch``"""
    device: str = "auto"
    frames: int = 150
    pred: str = "x"
    """network output parameterisation, see :class:`.net.NetConfig` ``pred``"""
    cond_drop: float = 0.15
    """share of train windows whose music is replaced by the null condition (zeros), so
    the same network also models motion without music: classifier-free guidance needs
    both (EDGE drops 25 %)"""
    guidance: float = 2.0
    """classifier-free guidance weight used when sampling this run (evaluate, generate,
    distillation's teacher; ``--guidance`` overrides; 1 = none). EDGE samples with 2."""
    style_aux: float = 0.1
    """weight of an auxiliary cross-entropy that makes the pooled music embedding predict
    the dance style recorded for each pair in dataset.json (0 = off; off by itself when the
    train windows hold fewer than 2 styles). Why: the issue measured style accuracy at
    chance, so the music's style did not reach the motion; this gives the embedding that
    modulates every block a reason to carry it. Music only goes in: no label is an input."""
    balance_styles: bool = True
    """draw each epoch's windows with probability inversely proportional to their style's
    count (with replacement; same epoch length) when the train windows hold 2 or more
    styles. Why: cha-cha is 142 of tang2018's 1,333 train windows, and the first guided run
    gave cha-cha music the limb speed of rumba (1.96 cm/frame against 3.14 real), so the
    style classifier called it rumba (docs/model.md)."""
    threads: int = 0
    """CPU threads for torch (0 = torch's default). 1 on a shared machine: with 2 threads
    OpenMP's spin-waits cost ~20x the step's own CPU time under heavy load (measured)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU (``name`` other than "auto" forces one)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Windows:
    """Train (or val/test) windows of one or more datasets: pose + condition, float32."""

    def __init__(self, roots: list[str], split: str, cond: str, stats: dict[str, np.ndarray],
                 *, augment: Augment | None = None) -> None:
        self.sets = [MotionPairDataset(r, split=split, features=("pose", "pose_valid", cond),
                                       normalize=(cond,), augment=augment) for r in roots]
        self.index = [(k, i) for k, ds in enumerate(self.sets) for i in range(len(ds))]
        self.cond, self.stats = cond, stats
        style_of = [_styles_of(r) for r in roots]
        self.style = [style_of[k].get(self.sets[k].rows[i].session, "")
                      for k, i in self.index]
        self.styles: list[str] = sorted(set(self.style) - {""})

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        for ds in self.sets:
            ds.set_epoch(epoch)

    def batch(self, idx: np.ndarray | list[int]) -> dict[str, Any]:
        """(x, cond) tensors for windows ``idx`` (positions in ``self.index``) + ids."""
        items = []
        for j in idx:
            k, i = self.index[int(j)]
            items.extend(self.sets[k].__getitems__([i]))
        b = collate(items)
        valid = b["pose_valid"].numpy().astype(bool)
        x = mdata.normalise(mdata.to_rep(b["pose"].numpy().astype(np.float64), valid),
                            self.stats)
        mask = mdata.rep_mask(valid)
        D = b["pose"].shape[-1]
        # invalid entries enter the network as the mean (0), like a frame it must fill in
        x[..., :-D] *= mask[..., :1]
        x[..., -D:] *= mask[..., 1:]
        return {"x": torch.from_numpy(x), "cond": b[self.cond].float(), "id": b["id"],
                "pose": b["pose"], "mask": torch.from_numpy(mask),
                "style": [self.style[int(j)] for j in idx]}


def style_weights(styles: list[str]) -> np.ndarray | None:
    """Per-window draw probabilities, equal in total for every style (windows without a
    style count as one more style); None when fewer than 2 styles are present.

    >>> style_weights(["a", "a", "a", "b"]).round(3).tolist()
    [0.167, 0.167, 0.167, 0.5]
    """
    names, inv, counts = np.unique(np.array(styles, dtype=object), return_inverse=True,
                                   return_counts=True)
    if len(names) < 2:
        return None
    w = 1.0 / counts[inv]
    return w / w.sum()


def _styles_of(root: str) -> dict[str, str]:
    """session -> style recorded for its pair in ``dataset.json`` ("" when none)."""
    meta = json.loads((Path(root) / "dataset.json").read_text(encoding="utf-8"))
    return {p["session"]: p.get("style") or "" for p in meta.get("pairs") or []}


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of ``lr`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def build_net(cfg: TrainConfig, meta: dict[str, Any], n_cond: int, n_styles: int = 0
              ) -> FlowNet:
    sk = meta["motion"]["skeleton"]
    ncfg = NetConfig(n_motion=sk["n_joints"] * sk["dims"] + sk["dims"], n_cond=n_cond,
                     frames=cfg.frames, width=cfg.width, layers=cfg.layers, heads=cfg.heads,
                     pred=cfg.pred, arch=cfg.arch, pool_cond=cfg.arch == "conv",
                     n_styles=n_styles if cfg.arch == "conv" else 0)
    return FlowNet(ncfg)


def _loss(model: FlowNet, b: dict[str, Any], cfg: TrainConfig, device: torch.device,
          gen: torch.Generator, clean: Any, parts: dict[str, float] | None = None,
          cond_drop: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    cond = drop_cond(b["cond"], cond_drop, gen).to(device)
    return meanflow_loss(model, b["x"].to(device), cond, gen=gen,
                         p=cfg.adaptive_p, ratio_r_neq_t=cfg.ratio_r_neq_t,
                         ratio_full=cfg.ratio_full, mask=b["mask"].to(device),
                         clean=clean, dims=int(b["pose"].shape[-1]), parts=parts,
                         t_min=model.cfg.t_min)


@torch.no_grad()
def val_mse(model: FlowNet, val: Windows, cfg: TrainConfig, device: torch.device,
            n: int = 64) -> float:
    """MeanFlow MSE (unweighted) on the first ``n`` val windows, fixed noise (seed)."""
    idx = list(range(min(n, len(val))))
    tot = 0.0
    for s in range(0, len(idx), cfg.batch):
        b = val.batch(idx[s: s + cfg.batch])
        gen = torch.Generator().manual_seed(cfg.seed + 7_777_777 + s)
        with torch.enable_grad():  # jvp needs autograd-free forward mode only; cheap
            _, mse = _loss(model, b, cfg, device, gen, None)
        tot += float(mse) * len(b["id"])
    return tot / len(idx)


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train (or resume) a run in ``out``; returns a summary dict."""
    out = Path(out)
    ckpt_path = out / "last.pt"
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"{ckpt_path}: nothing to resume")
        saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
        keep = {k: getattr(cfg, k) for k in ("steps", "max_minutes", "device", "threads")}
        cfg = TrainConfig(**{**saved["train"], **keep})
    elif ckpt_path.exists():
        raise FileExistsError(f"{out}: already holds a run (use --resume or another --out)")
    metas = [mdata.check_dataset(r, cfg.frames) for r in cfg.datasets]
    cfg.cond = mdata.pick_cond(metas, cfg.cond)
    skel = mskel.resolve(metas[0])
    sk = [(m["motion"]["skeleton"]["n_joints"], m["motion"]["skeleton"]["dims"]) for m in metas]
    if len(set(sk)) != 1:
        raise mdata.RefusedError(f"datasets have different skeletons {sk}; train on one shape")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    stats_path = out / mdata.STATS_FILE
    if resume:
        stats = mdata.load_stats(stats_path)
    else:
        parts = [mdata.compute_stats(r) for r in cfg.datasets]
        stats = parts[0] if len(parts) == 1 else {
            k: np.mean([p[k] for p in parts], axis=0).astype(np.float32) for k in parts[0]}
        mdata.save_stats(stats_path, stats)
        mdata.save_cond_stats(out, cfg.datasets[0], cfg.cond)
    aug = Augment(jitter_frames=cfg.jitter_frames, seed=cfg.seed) if cfg.jitter_frames else None
    train_w = Windows(cfg.datasets, "train", cfg.cond, stats, augment=aug)
    try:
        val_w: Windows | None = Windows(cfg.datasets, "val", cfg.cond, stats)
    except ValueError:
        val_w = None
    n_cond = int(train_w.batch([0])["cond"].shape[-1])
    styles = train_w.styles if cfg.style_aux > 0 and len(train_w.styles) >= 2 else []
    model = build_net(cfg, metas[0], n_cond, len(styles)).to(device)
    ema = build_net(cfg, metas[0], n_cond, len(styles)).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed0 = 0, 0.0
    if resume:
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, elapsed0 = int(ck["step"]), float(ck["elapsed_s"])
        _truncate_csv(out / "metrics.csv", step)
    record = {"train": cfg.to_dict(), "net": model.cfg.to_dict(), "device": str(device),
              "params": n_params(model), "torch": torch.__version__,
              "skeleton": skel, "styles": styles,
              "fps": metas[0]["config"]["fps"],
              "audio_params": metas[0]["audio"]["params"],
              "n_train_windows": len(train_w), "n_val_windows": len(val_w) if val_w else 0}
    (out / "config.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    clean = CleanLosses(stats, skel) if cfg.clean_losses else None
    writer = _tensorboard(out)
    per_epoch = max(1, len(train_w) // cfg.batch)
    new_csv = not (out / "metrics.csv").is_file()
    fcsv = (out / "metrics.csv").open("a", newline="", encoding="utf-8")
    wcsv = csv.DictWriter(fcsv, fieldnames=CSV_FIELDS, lineterminator="\n")
    if new_csv:
        wcsv.writeheader()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    perm_epoch, perm = -1, np.arange(0)
    draw_p = style_weights(train_w.style) if cfg.balance_styles else None
    last_row: dict[str, Any] = {}
    best_path = out / "best.pt"
    best_val = float("inf")
    if resume and best_path.is_file():
        best_val = float(torch.load(best_path, map_location="cpu", weights_only=True)["val_mse"])
    stopped = "steps"
    try:
        while step < cfg.steps:
            elapsed = elapsed0 + time.perf_counter() - t0
            if elapsed > cfg.max_minutes * 60:
                stopped = "max_minutes"
                break
            epoch, b = divmod(step, per_epoch)
            if epoch != perm_epoch:
                rng = np.random.default_rng([cfg.seed, epoch])
                perm = (rng.choice(len(train_w), size=len(train_w), p=draw_p)
                        if draw_p is not None else rng.permutation(len(train_w)))
                train_w.set_epoch(epoch)
                perm_epoch = epoch
            batch = train_w.batch(perm[b * cfg.batch:(b + 1) * cfg.batch])
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            model.train()
            terms: dict[str, float] = {}
            loss, mse = _loss(model, batch, cfg, device, gen, clean, terms, cfg.cond_drop)
            if styles:
                known = [i for i, s in enumerate(batch["style"]) if s]
                if known:
                    y = torch.tensor([styles.index(batch["style"][i]) for i in known],
                                     device=device)
                    ce = torch.nn.functional.cross_entropy(
                        model.style_logits(batch["cond"][known].to(device)), y)
                    loss = loss + cfg.style_aux * ce
                    terms["style"] = float(ce.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            decay = min(cfg.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                    pe.lerp_(pm, 1 - decay)
            step += 1
            row: dict[str, Any] = {
                   "step": step, "epoch": epoch, "loss": f"{float(loss.detach()):.6f}",
                   "mse": f"{float(mse):.6f}", "lr": f"{lr_at(step - 1, cfg):.3e}",
                   "elapsed_s": f"{elapsed0 + time.perf_counter() - t0:.1f}", "val_mse": "",
                   **{k: f"{terms.get(k, 0.0):.6f}" for k in ("vel", "bone", "foot")},
                   "cpu_s": f"{time.process_time() - cpu0:.1f}",
                   "style": f"{terms['style']:.6f}" if "style" in terms else ""}
            if val_w is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                vm = val_mse(ema, val_w, cfg, device)
                row["val_mse"] = f"{vm:.6f}"
                if vm < best_val:  # checkpoint selection on val, never on test
                    best_val = vm
                    _atomic_save({"ema": ema.state_dict(), "net": model.cfg.to_dict(),
                                  "step": step, "val_mse": vm}, best_path)
            wcsv.writerow(row)
            last_row = row
            if writer is not None:
                writer.add_scalar("loss", float(loss), step)
                writer.add_scalar("mse", float(mse), step)
                if row["val_mse"]:
                    writer.add_scalar("val_mse", float(row["val_mse"]), step)
            if step % 10 == 0:
                fcsv.flush()
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                _checkpoint(ckpt_path, model, ema, opt, step,
                            elapsed0 + time.perf_counter() - t0, record)
            if on_step is not None:
                on_step(row)
    finally:
        fcsv.close()
        if writer is not None:
            writer.close()
    elapsed = elapsed0 + time.perf_counter() - t0
    _checkpoint(ckpt_path, model, ema, opt, step, elapsed, record)
    if best_path.is_file():
        best = torch.load(best_path, map_location="cpu", weights_only=True)
        _atomic_save(best, out / "model.pt")
        selected: dict[str, Any] = {"step": int(best["step"]),
                                    "val_mse": float(best["val_mse"])}
    else:
        _atomic_save({"ema": ema.state_dict(), "net": model.cfg.to_dict(), "step": step},
                     out / "model.pt")
        selected = {"step": step, "val_mse": None}
    from motionpair.model.render import training_curve_png

    training_curve_png(out / "metrics.csv", out / "curve.png")
    return {"out": str(out), "step": step, "elapsed_s": elapsed, "stopped": stopped,
            "device": str(device), "params": n_params(model), "last": last_row,
            "selected": selected}


def _checkpoint(path: Path, model: FlowNet, ema: FlowNet, opt: torch.optim.Optimizer,
                step: int, elapsed: float, record: dict[str, Any]) -> None:
    _atomic_save({"model": model.state_dict(), "ema": ema.state_dict(),
                  "opt": opt.state_dict(), "step": step, "elapsed_s": elapsed,
                  "net": record["net"]}, path)


def _truncate_csv(path: Path, step: int) -> None:
    """Drop metrics rows written after the checkpoint being resumed."""
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: metrics.csv only
        return None
    return SummaryWriter(str(out / "tb"))


def load_run(run: str | Path, device: str | torch.device = "cpu"
             ) -> tuple[FlowNet, dict[str, Any], dict[str, np.ndarray]]:
    """(EMA network in eval mode, config.json record, representation stats) of a run."""
    run = Path(run)
    rec = json.loads((run / "config.json").read_text(encoding="utf-8"))
    path = run / "model.pt"
    if not path.is_file():
        path = run / "last.pt"
    ck = torch.load(path, map_location=device, weights_only=True)
    net = FlowNet(NetConfig(**ck["net"])).to(device)
    net.load_state_dict(ck["ema"])
    net.eval()
    return net, rec, mdata.load_stats(run / mdata.STATS_FILE)
