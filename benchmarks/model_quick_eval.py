"""Quick held-out table for a FlowGenerator1Step run (the model helper's own check while
``motionpair evaluate --on`` is being built; the final table in docs/model.md comes from
``evaluate``). Usage::

    python benchmarks/model_quick_eval.py RUN DATASET [--split test] [--steps 1 4 10]

Rows: ground truth (second halves of each held-out session, split-half as evaluate.py),
random train window, nearest train window by audio, the net in 1 and N steps, the net in
1 step with the music of another window (shuffled). Metrics: FID_k, Div_k (AIST++ kinetic
features, normalised by the reference half), PFC (EDGE), mean |acc| (cm/frame²), share of
joint-velocity power above 5 Hz, bone-length CV within a window (%), and style accuracy:
logistic regression on the standardised 72-d kinetic features of the run's TRAIN windows,
labels = the session's style letter (DANCE_<style>_<n>), balanced accuracy on the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def kin(poses: np.ndarray, fps: float, units: str | None) -> np.ndarray:
    from motionpair.model import metrics as mm
    return np.stack([mm.kinetic_features(p, fps) for p in mm.to_metres(poses, units)])


def smooth_stats(poses: np.ndarray, fps: float, edges: list) -> dict[str, float]:
    acc = np.linalg.norm(poses[:, 2:] - 2 * poses[:, 1:-1] + poses[:, :-2], axis=-1).mean()
    v = np.diff(poses, axis=1)  # (N, T-1, J, D)
    spec = np.abs(np.fft.rfft(v, axis=1)) ** 2
    f = np.fft.rfftfreq(v.shape[1], 1 / fps)
    hi = float(spec[:, f > 5].sum() / spec.sum())
    if edges:
        a = np.array([e[0] for e in edges])
        b = np.array([e[1] for e in edges])
        length = np.linalg.norm(poses[:, :, a] - poses[:, :, b], axis=-1)  # (N, T, E)
        cv = float((length.std(1) / np.maximum(length.mean(1), 1e-9)).mean())
    else:
        cv = float("nan")
    return {"acc": float(acc), "hi5": hi, "bone_cv": cv}


def style(session: str) -> str:
    parts = session.split("_")
    return parts[1] if len(parts) >= 3 else session


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("dataset")
    ap.add_argument("--split", default="test")
    ap.add_argument("--steps", type=int, nargs="*", default=[10])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    from motionpair.consumers.loader import MotionPairDataset
    from motionpair.model import metrics as mm
    from motionpair.model.evaluate import _stack, generate_windows, split_half
    from motionpair.model.train import load_run

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    net, rec, stats = load_run(a.run)
    cond = rec["train"]["cond"]
    sk = (rec["skeleton"]["n_joints"], rec["skeleton"]["dims"])
    edges = rec["skeleton"].get("edges") or []
    units = rec["skeleton"].get("units")
    fps = 30.0
    test = MotionPairDataset(a.dataset, split=a.split, features=("pose", cond),
                             normalize=(cond,))
    train = MotionPairDataset(a.dataset, split="train", features=("pose", cond),
                              normalize=(cond,))
    A, B = split_half(test)
    ref = _stack(test, A, "pose")
    q = _stack(test, B, "pose")
    qc = _stack(test, B, cond)
    tr_idx = list(range(len(train)))
    trp = _stack(train, tr_idx, "pose")
    trc = _stack(train, tr_idx, cond)
    rng = np.random.default_rng(a.seed)
    rows: dict[str, np.ndarray] = {"ground truth (split-half)": q,
                                   "random train window": trp[rng.integers(0, len(trp), len(B))]}
    d = ((qc.reshape(len(B), -1)[:, None] - trc.reshape(len(trc), -1)[None]) ** 2).sum(-1)
    rows["nearest train window by audio"] = trp[d.argmin(1)]
    rows["net, 1 step"] = generate_windows(net, qc, stats, sk, steps=1, seed=a.seed)
    for s in a.steps:
        rows[f"net, {s} steps"] = generate_windows(net, qc, stats, sk, steps=s, seed=a.seed)
    perm = np.random.default_rng([a.seed, 1]).permutation(len(B))
    rows["net, 1 step, shuffled music"] = generate_windows(net, qc[perm], stats, sk, steps=1,
                                                           seed=a.seed)
    labels_tr = np.array([style(train.rows[i].session) for i in tr_idx])
    labels_q = np.array([style(test.rows[i].session) for i in B])
    ktr = kin(trp, fps, units)
    sc = StandardScaler().fit(ktr)
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(sc.transform(ktr), labels_tr)
    ref_k = kin(ref, fps, units)
    roles = mm.joint_roles({"n_joints": sk[0], "dims": sk[1]}, "tang2018")
    feet = mm.foot_joints(roles) if roles else None
    out = []
    for name, mo in rows.items():
        k = kin(mo, fps, units)
        fd = mm.fid_div(ref_k, k)
        row = {"row": name, "fid_k": fd.fid, "div_k": fd.div}
        if feet is not None:
            row["pfc"] = mm.pfc_score(list(mm.to_metres(mo, units)), feet[0], feet[1], fps)
        row.update(smooth_stats(mo.astype(np.float64), fps, edges))
        row["style_acc"] = float(balanced_accuracy_score(labels_q,
                                                         clf.predict(sc.transform(k))))
        out.append(row)
    hdr = ["row", "fid_k", "div_k", "pfc", "acc", "hi5", "bone_cv", "style_acc"]
    print("| " + " | ".join(hdr) + " |")
    for r in out:
        print("| " + " | ".join(f"{r[h]:.4g}" if isinstance(r[h], float) else str(r[h])
                                for h in hdr) + " |")
    print(f"{len(A)} reference / {len(B)} query windows, styles {sorted(set(labels_q))}; "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
