"""``motionpair evaluate``: the literature's music-to-dance metrics on a split, with
reference rows, for a trained FlowGenerator1Step run.

Protocol (no choice is tuned on the evaluated split):

- Split-half: inside each session of the split, windows are ordered by start; the first half
  (A) is the REFERENCE set of real motion; the second half (B) are the QUERIES, keeping only
  windows that share no frame with A (5 s windows at a 1 s hop overlap their neighbours).
- Every row produces one motion per query window, for that window's music; its features are
  compared with A's: FID_k/FID_g against A, Div_k/Div_g of the row itself (all normalised by
  A's statistics), Beat Align Score against the query's own music beats, PFC.
- Rows: ground truth (B's real motion), random train windows (music-agnostic retrieval,
  seeded), the train window nearest by audio features (L2 over the normalised conditioning
  features of the whole window), the train mean pose held still, and the network sampled in
  1 step and in 10 steps (same noise).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionpair.consumers.loader import MotionPairDataset
from motionpair.model import data as mdata
from motionpair.model import metrics as mm
from motionpair.model.objective import sample
from motionpair.model.train import load_run

ROWS = ("ground truth (split-half)", "random train window", "nearest train window by audio",
        "mean pose", "FlowGenerator1Step, 10 steps", "FlowGenerator1Step, 1 step")


def split_half(ds: MotionPairDataset) -> tuple[list[int], list[int]]:
    """(A, B) row indices: per session, first half by start; B keeps no frame of A."""
    by: dict[str, list[int]] = {}
    for i, r in enumerate(ds.rows):
        by.setdefault(r.session, []).append(i)
    A, B = [], []
    for s in sorted(by):
        idx = sorted(by[s], key=lambda i: ds.rows[i].start_frame)
        half = len(idx) // 2
        a = idx[:half]
        if not a:
            continue
        end_a = max(ds.rows[i].start_frame + ds.rows[i].n_frames for i in a)
        A += a
        B += [i for i in idx[half:] if ds.rows[i].start_frame >= end_a]
    return A, B


def _stack(ds: MotionPairDataset, idx: list[int], name: str) -> np.ndarray:
    return np.stack([np.asarray(ds.arrays(i)[0][name]) for i in idx])


def generate_windows(net: Callable, cond: np.ndarray, stats: dict, sk: tuple[int, int], *,
                     steps: int, seed: int, device: str = "cpu", batch: int = 64
                     ) -> np.ndarray:
    """Positions (N, T, J, D) sampled for conditioning windows (N, T, C); noise per window
    from ``default_rng([seed, k])`` so 1- and 10-step rows share it."""
    n_motion = sk[0] * sk[1] + sk[1]
    T = cond.shape[1]
    out = []
    for s in range(0, len(cond), batch):
        c = torch.from_numpy(np.ascontiguousarray(cond[s: s + batch], dtype=np.float32))
        e = np.stack([np.random.default_rng([seed, s + k]).standard_normal((T, n_motion))
                      for k in range(len(c))]).astype(np.float32)
        x = sample(net, c.to(device), torch.from_numpy(e).to(device), steps=steps)
        out.append(mdata.rep_to_pose(x.cpu().numpy(), stats, *sk))
    return np.concatenate(out)


def evaluate(run: str | Path, dataset: str | Path, split: str = "test", *, seed: int = 0,
             device: str = "cpu", progress: Callable[[str], None] | None = None
             ) -> dict[str, Any]:
    """Compute the table; also writes RUN/eval_<split>.json and .md."""
    say = progress or (lambda s: None)
    net, rec, stats = load_run(run, device)
    cond_name = rec["train"]["cond"]
    meta = mdata.check_dataset(dataset, rec["net"]["frames"])
    sk_meta = meta["motion"]["skeleton"]
    sk = (sk_meta["n_joints"], sk_meta["dims"])
    if sk != (rec["skeleton"]["n_joints"], rec["skeleton"]["dims"]):
        raise ValueError(f"{dataset}: skeleton {sk} differs from the run's "
                         f"{(rec['skeleton']['n_joints'], rec['skeleton']['dims'])}")
    fps = float(meta["config"]["fps"])
    units = sk_meta.get("units")
    feats = ("pose", cond_name, "music_beat")
    test = MotionPairDataset(dataset, split=split, features=feats, normalize=(cond_name,))
    train = MotionPairDataset(dataset, split="train", features=("pose", cond_name),
                              normalize=(cond_name,))
    A, B = split_half(test)
    if len(A) < 3 or len(B) < 3:
        raise ValueError(f"{dataset}: split {split!r} too small for a split-half evaluation "
                         f"({len(A)} reference / {len(B)} query windows)")
    sources = {r.source for r in test.rows}
    roles = mm.joint_roles(sk_meta, next(iter(sources)) if len(sources) == 1 else None)
    ref_pose = _stack(test, A, "pose")
    q_pose = _stack(test, B, "pose")
    q_cond = _stack(test, B, cond_name)
    q_beats = [np.flatnonzero(b) for b in _stack(test, B, "music_beat")]
    tr_idx = list(range(len(train)))
    tr_pose = _stack(train, tr_idx, "pose")
    tr_cond = _stack(train, tr_idx, cond_name)
    rng = np.random.default_rng(seed)
    say(f"{len(A)} reference / {len(B)} query windows; {len(train)} train windows")
    motions: dict[str, np.ndarray] = {ROWS[0]: q_pose,
                                      ROWS[1]: tr_pose[rng.integers(0, len(train), len(B))]}
    d = ((q_cond.reshape(len(B), -1)[:, None] - tr_cond.reshape(len(train), -1)[None]) ** 2
         ).sum(-1)
    motions[ROWS[2]] = tr_pose[d.argmin(1)]
    mean_rep = np.tile(stats["mean"].astype(np.float64), (q_pose.shape[1], 1))
    mean_rep[:, sk[0] * sk[1]:] = 0.0  # held still: no root displacement
    still = mdata.from_rep(mean_rep, *sk, stats["root0"])
    motions[ROWS[3]] = np.broadcast_to(still, q_pose.shape).copy()
    for steps, name in ((10, ROWS[4]), (1, ROWS[5])):
        say(f"sampling {len(B)} windows in {steps} step(s)")
        motions[name] = generate_windows(net, q_cond, stats, sk, steps=steps, seed=seed,
                                         device=device)
    ref_m = mm.to_metres(ref_pose, units)
    ref_k = np.stack([mm.kinetic_features(p, fps) for p in ref_m])
    ref_g = np.stack([mm.geometric_features(p, roles, fps) for p in ref_m]) if roles else None
    feet = mm.foot_joints(roles) if roles else None
    table = []
    for name, mo in motions.items():
        say(f"metrics: {name}")
        pm = mm.to_metres(mo, units)
        k = np.stack([mm.kinetic_features(p, fps) for p in pm])
        fk = mm.fid_div(ref_k, k)
        row: dict[str, Any] = {"row": name, "fid_k": fk.fid, "div_k": fk.div}
        if ref_g is not None and roles is not None:
            g = np.stack([mm.geometric_features(p, roles, fps) for p in pm])
            fg = mm.fid_div(ref_g, g)
            row.update(fid_g=fg.fid, div_g=fg.div)
        bas = [mm.beat_align_score(p, b, fps) for p, b in zip(pm, q_beats, strict=True)]
        row["bas"] = float(np.nanmean(bas))
        if feet is not None:
            row["pfc"] = mm.pfc_score(list(pm), feet[0], feet[1], fps)
        table.append(row)
    result = {"run": str(run), "dataset": str(dataset), "split": split, "seed": seed,
              "cond": cond_name, "n_reference": len(A), "n_query": len(B),
              "sessions": sorted({test.rows[i].session for i in A + B}),
              "div_k_reference": float(mm.diversity(mm.normalise_by(ref_k)[0])),
              "roles": "tang2018" if roles is mm.TANG2018_ROLES else None,
              "rows": table, "goals": goals(table)}
    out = Path(run)
    (out / f"eval_{split}.json").write_text(json.dumps(result, indent=2) + "\n",
                                             encoding="utf-8")
    (out / f"eval_{split}.md").write_text(markdown_table(result) + "\n", encoding="utf-8")
    return result


def goals(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, each with the values compared and met/missed."""
    r = {row["row"]: row for row in table}
    gt, one, ten, rnd = r[ROWS[0]], r[ROWS[5]], r[ROWS[4]], r[ROWS[1]]
    out = [
        ("FID_k <= 2.5x ground truth", one["fid_k"], 2.5 * gt["fid_k"],
         one["fid_k"] <= 2.5 * gt["fid_k"]),
        ("Div_k >= 0.8x ground truth", one["div_k"], 0.8 * gt["div_k"],
         one["div_k"] >= 0.8 * gt["div_k"]),
        ("BAS within 0.01 of ground truth", one["bas"], gt["bas"],
         abs(one["bas"] - gt["bas"]) <= 0.01),
        ("BAS above random retrieval", one["bas"], rnd["bas"], one["bas"] > rnd["bas"]),
        ("one-step FID_k within 20% of 10-step", one["fid_k"], ten["fid_k"],
         abs(one["fid_k"] - ten["fid_k"]) <= 0.2 * ten["fid_k"]),
    ]
    if "pfc" in gt:
        out.append(("PFC <= 1.3x ground truth", one["pfc"], 1.3 * gt["pfc"],
                    one["pfc"] <= 1.3 * gt["pfc"]))
    return [{"goal": g, "value": float(v), "bound": float(b), "met": bool(m)}
            for g, v, b, m in out]


def markdown_table(res: dict[str, Any]) -> str:
    cols = [("fid_k", "FID_k ↓"), ("div_k", "Div_k"), ("fid_g", "FID_g ↓"),
            ("div_g", "Div_g"), ("bas", "BAS ↑"), ("pfc", "PFC ↓")]
    cols = [c for c in cols if c[0] in res["rows"][0]]
    lines = ["| row | " + " | ".join(h for _, h in cols) + " |",
             "| --- |" + " ---: |" * len(cols)]
    for row in res["rows"]:
        lines.append(f"| {row['row']} | " + " | ".join(f"{row[k]:.4g}" for k, _ in cols)
                     + " |")
    lines.append("")
    lines.append(f"{res['split']} split, sessions {', '.join(res['sessions'])}: "
                 f"{res['n_reference']} reference windows (first halves), {res['n_query']} "
                 f"query windows (second halves, no shared frame); conditioning {res['cond']}.")
    lines.append("")
    lines.append("| goal | value | bound | met |")
    lines.append("| --- | ---: | ---: | --- |")
    for g in res["goals"]:
        lines.append(f"| {g['goal']} | {g['value']:.4g} | {g['bound']:.4g} | "
                     f"{'yes' if g['met'] else 'NO'} |")
    return "\n".join(lines)
