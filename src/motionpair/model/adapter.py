"""The one place that knows a run's network and sampling API (evaluate and generate use the
run only through these functions, so a change of the model's API is fixed here alone).

A model is a dict: ``net``, ``rec`` (``RUN/config.json``), ``stats`` (representation
statistics), ``cond_stats`` (music-feature statistics), ``device``, ``cond`` (feature name),
``frames`` (window length), ``skeleton`` ``(J, D)``. The representation is
:mod:`motionpair.model.data`'s (root-relative joints + per-frame root displacement).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from motionpair.model import data as mdata


def load_model(run: str | Path, device: str = "cpu", guidance: float | None = None
               ) -> dict[str, Any]:
    """The run as evaluate/generate use it: network, config record, representation stats,
    conditioning statistics, and the guidance weight to sample with: ``guidance``, else 1
    for a distilled run (the teacher's guidance is baked into the student) and the run's
    ``train.guidance`` otherwise (1 for runs saved before guidance existed)."""
    from motionpair.model.train import load_run

    for name in ("config.json", mdata.STATS_FILE, mdata.COND_FILE):
        if not (Path(run) / name).is_file():
            raise FileNotFoundError(f"{Path(run) / name}: missing (is {run} a training run?)")
    try:
        net, rec, stats = load_run(run, device)
    except (RuntimeError, EOFError, OSError, KeyError, TypeError) as exc:
        # a truncated or foreign checkpoint: torch's message does not name the file
        raise ValueError(f"{run}: the run's checkpoint is not readable ({exc})") from exc
    with np.load(Path(run) / mdata.COND_FILE, allow_pickle=False) as z:
        cond_stats = {"mean": z["mean"].astype(np.float32), "std": z["std"].astype(np.float32)}
    if guidance is None:
        guidance = 1.0 if "distill" in rec else float(rec["train"].get("guidance", 1.0))
    return {"net": net, "rec": rec, "stats": stats, "cond_stats": cond_stats,
            "guidance": guidance,
            "device": device, "cond": rec["train"]["cond"],
            "frames": int(rec["net"]["frames"]),
            "skeleton": (int(rec["skeleton"]["n_joints"]), int(rec["skeleton"]["dims"]))}


def n_motion(model: dict[str, Any]) -> int:
    """Channels of the representation (the noise's last axis)."""
    J, D = model["skeleton"]
    return J * D + D


def sample_rep(model: dict[str, Any], cond: np.ndarray, noise: np.ndarray, *, steps: int,
               keep: np.ndarray | None = None, keep_mask: np.ndarray | None = None
               ) -> np.ndarray:
    """Unnormalised representation (B, T, C) sampled from ``noise`` (B, T, C) for normalised
    conditioning ``cond`` (B, T, F) in ``steps`` steps; ``keep`` (B, T, C, unnormalised) and
    ``keep_mask`` (B, T, 1) hold frames to a known motion while sampling (inpainting)."""
    import torch

    from motionpair.model.objective import sample

    dev = model["device"]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev)

    k = t(mdata.normalise(keep, model["stats"])) if keep is not None else None
    m = t(keep_mask) if keep_mask is not None else None
    x = sample(model["net"], t(cond), t(noise), steps=steps, keep=k, keep_mask=m,
               guidance=float(model.get("guidance", 1.0)))
    return mdata.denormalise(x.cpu().numpy().astype(np.float64), model["stats"])


def generate_windows(model: dict[str, Any], cond: np.ndarray, *, steps: int, seed: int,
                     batch: int = 64) -> np.ndarray:
    """Positions (N, T, J, D) in dataset units sampled for normalised conditioning windows
    (N, T, F); noise per window from ``default_rng([seed, k])`` so every row shares it."""
    J, D = model["skeleton"]
    T = cond.shape[1]
    out = []
    for s in range(0, len(cond), batch):
        c = cond[s: s + batch]
        e = np.stack([np.random.default_rng([seed, s + k]).standard_normal((T, n_motion(model)))
                      for k in range(len(c))])
        rep = sample_rep(model, c, e, steps=steps)
        out.append(mdata.from_rep(rep, J, D, model["stats"]["root0"]))
    return np.concatenate(out)


def mean_pose(model: dict[str, Any], frames: int) -> np.ndarray:
    """(T, J, D) the train mean pose held still (no root displacement) at ``root0``."""
    J, D = model["skeleton"]
    rep = np.tile(model["stats"]["mean"].astype(np.float64), (frames, 1))
    rep[:, J * D:] = 0.0
    return mdata.from_rep(rep, J, D, model["stats"]["root0"])
