"""Real vs generated frames for one held-out window (docs/model/real_vs_generated_*.png).

    python benchmarks/model_strip.py RUN DATASET SESSION OUT.png [--steps 1]

Takes the middle window of SESSION (a test-split session the run never trained on), draws
its real motion (top row) and the run's motion for the same music, same start (bottom
row), 10 frames every 0.5 s, each figure centred on its own root, one shared height scale.
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("dataset")
    ap.add_argument("session")
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionpair.consumers.loader import MotionPairDataset
    from motionpair.model.adapter import generate_windows, load_model
    from motionpair.model.evaluate import _stack
    from motionpair.model.render import draw_skeleton

    model = load_model(a.run)
    cond = model["cond"]
    ds = MotionPairDataset(a.dataset, split=None, features=("pose", cond), normalize=(cond,))
    rows = sorted((i for i, r in enumerate(ds.rows) if r.session == a.session),
                  key=lambda i: ds.rows[i].start_frame)
    if not rows:
        raise SystemExit(f"{a.dataset}: no window of session {a.session}")
    i = rows[len(rows) // 2]
    real = _stack(ds, [i], "pose")[0].astype(np.float64)
    gen = generate_windows(model, _stack(ds, [i], cond), steps=a.steps, seed=a.seed)[0]
    edges = model["rec"]["skeleton"].get("edges") or []
    idx = list(range(0, 150, 15))
    lo = min(real[idx][..., 1].min(), gen[idx][..., 1].min())
    hi = max(real[idx][..., 1].max(), gen[idx][..., 1].max())
    fig, axes = plt.subplots(2, len(idx), figsize=(1.3 * len(idx), 5.4), sharey=True)
    start_s = ds.rows[i].start_s
    for r, (pose, label) in enumerate(((real, "real"), (gen, f"net, {a.steps} step"))):
        for ax, f in zip(axes[r], idx, strict=True):
            draw_skeleton(ax, pose[f], edges, lo, hi, f"{label} {start_s + f / 30:.1f} s",
                          fontsize=6)
    fig.suptitle(f"{a.session}, window at {start_s:.1f} s (held out): real (top) vs "
                 f"generated for the same music (bottom)", fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=90)
    plt.close(fig)
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
