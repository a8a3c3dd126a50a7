"""One-step distillation of a trained MeanFlow run (issue 19, item 3).

Why: MeanFlow learns the one-step map ``u(e, 0, 1)`` only through its own time derivative;
in a CPU budget of a few thousand steps that map was still the conditional MEAN of the data
(one-step Div_k 0.19 against 18.7 real, measured at step 600), while the same network
sampled in 10 steps already moved like dance. So the multi-step sampler is used as a
teacher (Luhman & Luhman 2021, "Knowledge distillation in iterative generative models";
the issue's third option): for fixed (music window, noise) pairs of the train split the
teacher's ``teacher_steps``-step sample is computed once, and the network is fine-tuned so
that its one-step sample ``x_hat(e, 0, 1)`` reproduces it. The pairs are a deterministic
function of the noise, so the regression has one answer per input and no mean to collapse
to. Every step also keeps the MeanFlow loss (r = 0, t = 1 excluded, clean-window losses on)
on a real batch, so the same network still samples in N steps.

Run folder additions: ``teacher.pt`` (the MeanFlow model.pt before distillation, same
format), ``distill.csv`` (step, distill_mse, mse, elapsed_s, cpu_s), ``config.json``
gains ``distill`` (settings and pairs); ``model.pt`` becomes the distilled EMA.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionpair.model.objective import CleanLosses, meanflow_loss, sample


def teacher_pairs(teacher: Any, train_w: Any, n: int, steps: int, seed: int,
                  batch: int = 64, guidance: float = 1.0) -> dict[str, torch.Tensor]:
    """(cond, noise, target) for ``n`` train windows spread evenly over the split; the
    targets are the teacher's guided samples (``guidance``), so the student's one step
    carries the guidance without a second forward pass."""
    idx = np.unique(np.linspace(0, len(train_w) - 1, min(n, len(train_w))).astype(int))
    conds, noises, targets = [], [], []
    for s in range(0, len(idx), batch):
        b = train_w.batch(idx[s: s + batch])
        e = torch.from_numpy(np.stack([
            np.random.default_rng([seed, 424242, int(k)]).standard_normal(b["x"].shape[1:])
            for k in idx[s: s + batch]]).astype(np.float32))
        conds.append(b["cond"])
        noises.append(e)
        targets.append(sample(teacher, b["cond"], e, steps=steps, guidance=guidance))
    return {"cond": torch.cat(conds), "noise": torch.cat(noises),
            "target": torch.cat(targets)}


def distill(run: str | Path, *, steps: int = 400, pairs: int = 512, teacher_steps: int = 10,
            lr: float = 1e-4, batch: int = 16, seed: int = 0, ema: float = 0.99,
            on_step: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Distil ``RUN/model.pt`` into a one-step model (see the module docstring)."""
    from motionpair.model.train import TrainConfig, Windows, _atomic_save, load_run

    run = Path(run)
    if (run / "teacher.pt").exists():
        raise FileExistsError(f"{run}: already distilled (teacher.pt exists)")
    rec = json.loads((run / "config.json").read_text(encoding="utf-8"))
    cfg = TrainConfig(**rec["train"])
    teacher, _, stats = load_run(run)
    teacher.requires_grad_(False)
    train_w = Windows(cfg.datasets, "train", cfg.cond, stats)
    t0, c0 = time.perf_counter(), time.process_time()
    guidance = float(rec["train"].get("guidance", 1.0))
    data = teacher_pairs(teacher, train_w, pairs, teacher_steps, seed, guidance=guidance)
    t_pairs = time.perf_counter() - t0
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    avg = copy.deepcopy(teacher)
    opt = torch.optim.AdamW(student.parameters(), lr=lr)
    clean = CleanLosses(stats, rec["skeleton"]) if cfg.clean_losses else None
    n = len(data["noise"])
    out = (run / "distill.csv").open("w", newline="", encoding="utf-8")
    w = csv.DictWriter(out, fieldnames=("step", "distill_mse", "mse", "elapsed_s", "cpu_s"),
                       lineterminator="\n")
    w.writeheader()
    one = torch.ones(batch)
    row: dict[str, Any] = {}
    for step in range(steps):
        rng = np.random.default_rng([seed, 77, step])
        k = torch.from_numpy(rng.choice(n, size=min(batch, n), replace=False))
        e, c, tgt = data["noise"][k], data["cond"][k], data["target"][k]
        m = len(k)
        u = student(e, 0 * one[:m], one[:m], c)
        d = ((e - u - tgt) ** 2).mean(dim=(1, 2))  # x_hat(e, 0, 1) = e - u(e, 0, 1)
        dl = (d / (d.detach() + 1e-3)).mean()
        b = train_w.batch(rng.choice(len(train_w), size=batch, replace=False))
        mf, mse = meanflow_loss(student, b["x"], b["cond"],
                                gen=torch.Generator().manual_seed(seed * 7919 + step),
                                ratio_r_neq_t=cfg.ratio_r_neq_t, ratio_full=0.0,
                                mask=b["mask"], clean=clean, dims=int(b["pose"].shape[-1]),
                                t_min=student.cfg.t_min)
        loss = dl + mf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pa, ps in zip(avg.parameters(), student.parameters(), strict=True):
                pa.lerp_(ps, 1 - min(ema, (1 + step) / (10 + step)))
        row = {"step": step + 1, "distill_mse": f"{float(d.detach().mean()):.6f}",
               "mse": f"{float(mse):.6f}", "elapsed_s": f"{time.perf_counter() - t0:.1f}",
               "cpu_s": f"{time.process_time() - c0:.1f}"}
        w.writerow(row)
        if on_step is not None:
            on_step(row)
    out.close()
    src = run / "model.pt" if (run / "model.pt").is_file() else run / "last.pt"
    ck = torch.load(src, map_location="cpu", weights_only=True)
    ck = {"ema": ck["ema"], "net": ck["net"], "step": ck["step"], **(
        {"val_mse": ck["val_mse"]} if "val_mse" in ck else {})}
    _atomic_save(ck, run / "teacher.pt")
    _atomic_save({**ck, "ema": avg.state_dict(), "distilled": True}, run / "model.pt")
    rec["distill"] = {"steps": steps, "pairs": n, "teacher_steps": teacher_steps,
                      "teacher_guidance": guidance, "lr": lr,
                      "batch": batch, "seed": seed, "ema": ema,
                      "teacher": "teacher.pt (the MeanFlow model.pt before distillation)",
                      "pairs_s": round(t_pairs, 1),
                      "elapsed_s": round(time.perf_counter() - t0, 1),
                      "cpu_s": round(time.process_time() - c0, 1)}
    tmp = run / "config.json.tmp"
    tmp.write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    tmp.replace(run / "config.json")
    return {"steps": steps, "pairs": n, "last": row, **rec["distill"]}
