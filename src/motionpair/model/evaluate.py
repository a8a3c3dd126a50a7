"""``motionpair evaluate``: the literature's music-to-dance metrics on ANY built dataset, with
reference rows, for a trained FlowGenerator1Step run.

What is scored: every window of ``--on DATASET`` (or one ``--split`` of it); the dataset needs
no train split and no statistics of its own. Everything the model learnt from comes from the
RUN: the pose representation's statistics (``RUN/rep_stats.npz``), the music features'
statistics (``RUN/cond_stats.npz``) and the training windows (the ``train`` split of every
dataset recorded in ``RUN/config.json``), which are the retrieval pool and the style
classifier's training set.

Protocol (no choice is tuned on the evaluated windows):

- Split-half: inside each session, windows are ordered by start; the first half (A) is the
  REFERENCE set of real motion; the second half (B) are the QUERIES, keeping only windows
  that share no frame with A (5 s windows at a 1 s hop overlap their neighbours).
- Every row produces one motion per query window, for that window's music; its features are
  compared with A's: FID_k/FID_g against A, Div_k/Div_g of the row itself (normalised by
  A's statistics), Beat Align Score against the query's own music beats and against another
  query's music (the shuffled-music control), PFC, mean |acc|, velocity power above 5 Hz,
  bone-length CV and style accuracy.
- Rows: ground truth (B's real motion), a random train window (music-agnostic retrieval,
  seeded), the train window nearest by audio (L2 over the normalised conditioning features
  of the whole window), the train mean pose held still, the network in 1 step and in N
  steps (same noise), and the network in 1 step given another query's music.
- Style accuracy: a multinomial logistic regression fitted on the kinetic features of the
  run's train windows predicts the style recorded for each pair in ``dataset.json``;
  balanced accuracy of the predictions for a row's motions against the QUERY's style.

Each motion metric is reported twice: with the project's settings and with the reference
code's literal ones (Bailando ``utils/metrics_new.py`` + AIST++ ``features/kinetic.py``);
docs/metrics.md names every difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.consumers.loader import MotionPairDataset
from motionpair.model import data as mdata
from motionpair.model import metrics as mm
from motionpair.model.adapter import generate_windows, load_model, mean_pose
from motionpair.store import read_dataset_json

GT, RANDOM, NEAREST, MEAN_POSE = ("ground truth (split-half)", "random train window",
                                  "nearest train window by audio", "mean pose")
NET1, SHUFFLED = "net, 1 step", "net, 1 step, shuffled music"


def net_steps_row(steps: int) -> str:
    return f"net, {steps} steps"


# -- windows ------------------------------------------------------------------------------
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


def styles_of(dataset: str | Path) -> dict[str, str]:
    """session -> style recorded for its pair in ``dataset.json`` ("" when none)."""
    meta = read_dataset_json(dataset)
    return {p["session"]: p.get("style") or "" for p in meta.get("pairs") or []}


def _normalise_cond(x: np.ndarray, cs: dict[str, np.ndarray]) -> np.ndarray:
    return ((x - cs["mean"]) / cs["std"]).astype(np.float32)


def train_pool(model: dict[str, Any], pool: list[str] | None, say: Callable[[str], None]
               ) -> dict[str, Any]:
    """The run's own training windows (pose, normalised conditioning, style labels)."""
    roots = pool or list(model["rec"]["train"]["datasets"])
    poses, conds, labels = [], [], []
    for r in roots:
        if not Path(r, "dataset.json").is_file():
            raise FileNotFoundError(f"{r}: the run's training dataset (RUN/config.json) is not "
                                    "a dataset here; pass --pool DATASET")
        ds = MotionPairDataset(r, split="train", features=("pose", model["cond"]))
        idx = [i for i, row in enumerate(ds.rows) if row.pose_coverage >= 1.0]
        say(f"train pool {r}: {len(idx)} windows"
            + (f" ({len(ds) - len(idx)} with invalid pose frames left out)"
               if len(idx) < len(ds) else ""))
        poses.append(_stack(ds, idx, "pose").astype(np.float64))
        conds.append(_normalise_cond(_stack(ds, idx, model["cond"]), model["cond_stats"]))
        st = styles_of(r)
        labels += [st.get(ds.rows[i].session, "") for i in idx]
    return {"pose": np.concatenate(poses), "cond": np.concatenate(conds), "style": labels,
            "roots": roots}


def _check_compatible(model: dict[str, Any], meta: dict[str, Any], dataset: Path) -> None:
    sk = meta["motion"]["skeleton"]
    if (sk["n_joints"], sk["dims"]) != model["skeleton"]:
        raise ValueError(f"{dataset}: skeleton {(sk['n_joints'], sk['dims'])} differs from the "
                         f"run's {model['skeleton']}")
    if str(meta["config"]["fps"]) != str(model["rec"]["fps"]):
        raise ValueError(f"{dataset}: frame rate {meta['config']['fps']} differs from the "
                         f"run's {model['rec']['fps']}")


def _nearest_by_audio(q: np.ndarray, pool: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Index of the pool window nearest (L2 over the whole window) to each query window."""
    pf = pool.reshape(len(pool), -1).astype(np.float64)
    pn = (pf**2).sum(1)
    out = []
    for s in range(0, len(q), chunk):
        qf = q[s: s + chunk].reshape(-1, pf.shape[1]).astype(np.float64)
        out.append(((qf**2).sum(1)[:, None] - 2 * qf @ pf.T + pn[None]).argmin(1))
    return np.concatenate(out)


def shuffle_perm(sessions: list[str]) -> np.ndarray:
    """For each query, another query's index, from another session where there is one
    (rolled by half the queries after ordering by session)."""
    n = len(sessions)
    order = np.argsort(np.array(sessions), kind="stable")
    perm = np.empty(n, dtype=int)
    perm[order] = order[np.roll(np.arange(n), n // 2)]
    return perm


# -- evaluation ---------------------------------------------------------------------------
def evaluate(run: str | Path, dataset: str | Path, split: str | None = None, *, seed: int = 0,
             steps: int = 10, device: str = "cpu", pool: list[str] | None = None,
             progress: Callable[[str], None] | None = None,
             tag: str | None = None, guidance: float | None = None) -> dict[str, Any]:
    """The table for the windows of DATASET (``split`` None = every window); writes
    ``RUN/eval_<tag>.json`` and ``.md`` (``tag`` defaults to ``<dataset name>_<split|all>``,
    with ``_guidance<w>`` when ``guidance`` is given).
    """
    say = progress or (lambda s: None)
    dataset = Path(dataset)
    model = load_model(run, device, guidance)
    meta = mdata.check_dataset(dataset, model["frames"])
    _check_compatible(model, meta, dataset)
    sk_meta = meta["motion"]["skeleton"]
    fps = float(meta["config"]["fps"])
    units = sk_meta.get("units")
    cond_name = model["cond"]
    ev = MotionPairDataset(dataset, split=split, features=("pose", cond_name, "music_beat"))
    A, B = split_half(ev)
    # metrics need every frame's pose: windows with invalid frames are left out, and counted
    A_all, B_all = len(A), len(B)
    A = [i for i in A if ev.rows[i].pose_coverage >= 1.0]
    B = [i for i in B if ev.rows[i].pose_coverage >= 1.0]
    if len(A) < 3 or len(B) < 3:
        raise ValueError(f"{dataset}: {'split ' + repr(split) if split else 'the dataset'} is "
                         f"too small for a split-half evaluation ({len(A)} reference / "
                         f"{len(B)} query windows)")
    sources = {r.source for r in ev.rows}
    roles = mm.joint_roles(sk_meta, next(iter(sources)) if len(sources) == 1 else None)
    segments = _segments(sk_meta, sources)
    ref_pose = _stack(ev, A, "pose").astype(np.float64)
    q_pose = _stack(ev, B, "pose").astype(np.float64)
    q_cond = _normalise_cond(_stack(ev, B, cond_name), model["cond_stats"])
    q_beats = [np.flatnonzero(b) for b in _stack(ev, B, "music_beat")]
    q_sessions = [ev.rows[i].session for i in B]
    ev_styles = styles_of(dataset)
    q_style = [ev_styles.get(s, "") for s in q_sessions]
    perm = shuffle_perm(q_sessions)
    tr = train_pool(model, pool, say)
    say(f"{dataset}: {len(A)} reference / {len(B)} query windows "
        f"({len(set(q_sessions))} sessions); {len(tr['pose'])} train windows")
    rng = np.random.default_rng(seed)
    motions: dict[str, np.ndarray] = {GT: q_pose,
                                      RANDOM: tr["pose"][rng.integers(0, len(tr["pose"]),
                                                                      len(B))]}
    say("nearest train window by audio")
    motions[NEAREST] = tr["pose"][_nearest_by_audio(q_cond, tr["cond"])]
    motions[MEAN_POSE] = np.broadcast_to(mean_pose(model, q_pose.shape[1]),
                                         q_pose.shape).copy()
    for n, name in ((1, NET1), (steps, net_steps_row(steps))):
        say(f"sampling {len(B)} windows in {n} step(s)")
        motions[name] = generate_windows(model, q_cond, steps=n, seed=seed)
    say(f"sampling {len(B)} windows in 1 step with shuffled music")
    motions[SHUFFLED] = generate_windows(model, q_cond[perm], steps=1, seed=seed)

    up = 1
    root_joint: int | tuple[int, ...] = roles["root"] if roles else 0
    feet = mm.foot_joints(roles) if roles else None
    clf = None
    if len(set(tr["style"]) - {""}) >= 2:
        say("style classifier on the train windows' kinetic features")
        keep = [i for i, s in enumerate(tr["style"]) if s]
        xk = np.stack([mm.kinetic_features(p, fps, up=up)
                       for p in mm.to_metres(tr["pose"][keep], units)])
        clf = mm.fit_style_classifier(xk, [tr["style"][i] for i in keep])
    known = [i for i, s in enumerate(q_style) if clf is not None and s in clf.classes]

    ref_m = mm.to_metres(ref_pose, units)
    ref = _features(ref_m, fps, roles, root_joint)
    table = []
    for name, mo in motions.items():
        say(f"metrics: {name}")
        pm = mm.to_metres(mo, units)
        f = _features(pm, fps, roles, root_joint)
        row: dict[str, Any] = {"row": name}
        fk = mm.fid_div(ref["k"], f["k"])
        rk = mm.fid_div_as_written(ref["k_ref"], f["k_ref"])
        row.update(fid_k=fk.fid, div_k=fk.div, ref_fid_k=rk.fid, ref_div_k=rk.div)
        if roles:
            fg = mm.fid_div(ref["g"], f["g"])
            rg = mm.fid_div_as_written(ref["g_ref"], f["g_ref"])
            row.update(fid_g=fg.fid, div_g=fg.div, ref_fid_g=rg.fid, ref_div_g=rg.div)
        row["bas"] = _nanmean([mm.beat_align_score(p, b, fps)
                               for p, b in zip(pm, q_beats, strict=True)])
        row["bas_shuffled"] = _nanmean([mm.beat_align_score(p, q_beats[j], fps)
                                        for p, j in zip(pm, perm, strict=True)])
        zs = [mm.zero_start(p, root_joint) for p in pm]
        row["ref_bas"] = _nanmean([mm.beat_align_as_written(p, b, fps)
                                   for p, b in zip(zs, q_beats, strict=True)])
        row["ref_bas_shuffled"] = _nanmean([mm.beat_align_as_written(p, q_beats[j], fps)
                                            for p, j in zip(zs, perm, strict=True)])
        if feet is not None:
            row["pfc"] = mm.pfc_score(list(pm), feet[0], feet[1], fps)
        scale = 100.0 if units in mm.UNIT_TO_M else 1.0  # cm when the units are known
        row["acc_per_frame2"] = float(np.mean([mm.mean_abs_acc(p) for p in pm])) * scale
        row["power_above_5hz"] = _nanmean([mm.velocity_power_above(p, fps) for p in pm])
        row["bone_cv"] = (_nanmean([mm.bone_length_cv(p, segments) for p in pm])
                          if segments else float("nan"))
        if clf is not None and known:
            pred = clf.predict(f["k"][known])
            row["style_acc"] = mm.balanced_accuracy([q_style[i] for i in known], pred)
        table.append(row)
    result = {"run": str(run), "dataset": str(dataset), "split": split, "seed": seed,
              "steps": steps, "guidance": model["guidance"], "cond": cond_name, "fps": fps,
              "units": units,
              "acc_units": ("cm" if units in mm.UNIT_TO_M else (units or "units")) + "/frame²",
              "n_reference": len(A), "n_query": len(B),
              "n_left_out_invalid_pose": (A_all - len(A)) + (B_all - len(B)),
              "sessions": sorted({ev.rows[i].session for i in A + B}),
              "train_pool": {"datasets": tr["roots"], "windows": int(len(tr["pose"]))},
              "style": {"classes": clf.classes if clf else [],
                        "query_styles": sorted(set(q_style)),
                        "n_scored": len(known), "n_unscored": len(B) - len(known)},
              "roles": "tang2018" if roles is mm.TANG2018_ROLES else None,
              "settings": settings(fps), "rows": table}
    result["goals"] = goals(result)
    name = tag or (f"{dataset.name}_{split or 'all'}"
                   + (f"_guidance{guidance:g}" if guidance is not None else ""))
    out = Path(run)
    (out / f"eval_{name}.json").write_text(json.dumps(_finite(result), indent=2) + "\n",
                                            encoding="utf-8")
    (out / f"eval_{name}.md").write_text(markdown_table(result) + "\n", encoding="utf-8")
    return result


def settings(fps: float) -> dict[str, dict[str, Any]]:
    """The metric settings of the plain columns and of the ``ref_*`` columns
    (docs/metrics.md explains every difference)."""
    return {
        "project": {"motion_fps": fps, "kinetic_frame_time_s": 1.0 / fps,
                    "energy_expenditure": "second difference (p[k+1] - 2 p[k] + p[k-1]) / dt²",
                    "zero_start": False, "normalise": "std < 1e-6 -> 1",
                    "bas_smoothing_s": 5 / 60, "bas_sigma_s": 3 / 60,
                    "geometric_floor": "lowest joint of the window",
                    "geometric_velocity_dt_s": 1.0 / fps},
        "reference": {"motion_fps": mm.REF_FPS, "resampled_from_fps": fps,
                      "kinetic_frame_time_s": 1.0 / mm.REF_FPS,
                      "energy_expenditure": "AIST++ calc_average_acceleration as written",
                      "zero_start": True, "normalise": "std + 1e-10",
                      "bas_smoothing_frames": 5, "bas_sigma2_frames2": 9,
                      "geometric_floor": "lowest joint of each frame",
                      "geometric_velocity_dt_s": 1.0 / 120},
    }


def _nanmean(x: list[float]) -> float:
    a = np.asarray(x, dtype=np.float64)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _finite(obj: Any) -> Any:
    """JSON has no NaN: non-finite numbers become null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _segments(sk_meta: dict[str, Any], sources: set[str]) -> list:
    from motionpair.build.preview import TANG2018_SEGMENTS

    if sources == {"tang2018"} and (sk_meta["n_joints"], sk_meta["dims"]) == (23, 3):
        return list(TANG2018_SEGMENTS)
    return [((a,), (b,)) for a, b in sk_meta.get("edges") or []]


def _features(pm: np.ndarray, fps: float, roles: dict | None,
              root: int | tuple[int, ...]) -> dict[str, np.ndarray]:
    """Kinetic/geometric features of windows (metres): the project's and, on the motion
    zero-started and resampled to 60 fps, the reference code's."""
    out = {"k": np.stack([mm.kinetic_features(p, fps) for p in pm])}
    lit = [mm.resample(mm.zero_start(p, root), fps, mm.REF_FPS) for p in pm]
    out["k_ref"] = np.stack([mm.kinetic_features_as_written(p) for p in lit])
    if roles:
        out["g"] = np.stack([mm.geometric_features(p, roles, fps) for p in pm])
        # the reference's velocity helpers use their default time per frame, 1/120 s
        out["g_ref"] = np.stack([mm.geometric_features(p, roles, 120.0, y_min_per_frame=True)
                                 for p in lit])
    return out


def goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 19's "must show" bounds, each with the values compared and met/missed."""
    r = {row["row"]: row for row in res["rows"]}
    gt, one, rnd, near = r[GT], r[NET1], r[RANDOM], r[NEAREST]
    multi = r[net_steps_row(res["steps"])]
    out: list[tuple[str, float, float, bool]] = [
        ("1-step FID_k <= 3x random train window", one["fid_k"], 3 * rnd["fid_k"],
         one["fid_k"] <= 3 * rnd["fid_k"]),
        ("Div_k >= 0.8x ground truth", one["div_k"], 0.8 * gt["div_k"],
         one["div_k"] >= 0.8 * gt["div_k"]),
        ("Div_k <= 1.25x ground truth", one["div_k"], 1.25 * gt["div_k"],
         one["div_k"] <= 1.25 * gt["div_k"]),
        ("1-step FID_k within 20% of the multi-step row", one["fid_k"], multi["fid_k"],
         abs(one["fid_k"] - multi["fid_k"]) <= 0.2 * multi["fid_k"]),
        ("mean \\|acc\\| <= 1.5x ground truth", one["acc_per_frame2"],
         1.5 * gt["acc_per_frame2"], one["acc_per_frame2"] <= 1.5 * gt["acc_per_frame2"]),
        ("velocity power > 5 Hz <= 2x ground truth", one["power_above_5hz"],
         2 * gt["power_above_5hz"], one["power_above_5hz"] <= 2 * gt["power_above_5hz"]),
    ]
    if np.isfinite(gt["bone_cv"]):
        out.append(("bone-length CV <= 1.5x ground truth", one["bone_cv"], 1.5 * gt["bone_cv"],
                    one["bone_cv"] <= 1.5 * gt["bone_cv"]))
    if "pfc" in gt:
        out.append(("PFC <= 2x ground truth", one["pfc"], 2 * gt["pfc"],
                    one["pfc"] <= 2 * gt["pfc"]))
    if "style_acc" in gt:
        out.append(("style accuracy >= 0.8x ground truth", one["style_acc"],
                    0.8 * gt["style_acc"], one["style_acc"] >= 0.8 * gt["style_acc"]))
        out.append(("style accuracy above nearest-by-audio", one["style_acc"],
                    near["style_acc"], one["style_acc"] > near["style_acc"]))
    return [{"goal": g, "value": float(v), "bound": float(b), "met": bool(m)}
            for g, v, b, m in out]


PROJECT_COLS = [("fid_k", "FID_k ↓"), ("div_k", "Div_k"), ("fid_g", "FID_g ↓"),
                ("div_g", "Div_g"), ("bas", "BAS"), ("bas_shuffled", "BAS shuffled music"),
                ("pfc", "PFC ↓"), ("acc_per_frame2", "mean \\|acc\\|"),
                ("power_above_5hz", "vel. power > 5 Hz"), ("bone_cv", "bone-length CV"),
                ("style_acc", "style acc.")]
REFERENCE_COLS = [("ref_fid_k", "FID_k ↓"), ("ref_div_k", "Div_k"), ("ref_fid_g", "FID_g ↓"),
                  ("ref_div_g", "Div_g"), ("ref_bas", "BAS"),
                  ("ref_bas_shuffled", "BAS shuffled music")]
PERCENT = {"power_above_5hz", "bone_cv"}


def _fmt(key: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if key in PERCENT:
        return f"{100 * v:.1f} %"
    return f"{v:.4g}"


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> list[str]:
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    lines = ["| row | " + " | ".join(h for _, h in cols) + " |",
             "| --- |" + " ---: |" * len(cols)]
    for row in rows:
        lines.append(f"| {row['row']} | " + " | ".join(_fmt(k, row.get(k)) for k, _ in cols)
                     + " |")
    return lines


def markdown_table(res: dict[str, Any]) -> str:
    what = f"split {res['split']!r}" if res["split"] else "all windows"
    lines = [f"**Project settings** ({res['dataset']}, {what}; mean |acc| in "
             f"{res['acc_units']})", ""]
    lines += _table(res["rows"], PROJECT_COLS)
    lines += ["", "**Reference code's literal settings** (Bailando/AIST++ as written: motion "
              "zero-started at the root and resampled to 60 fps, frame time 1/60 s, AIST++ "
              "acceleration as written, normalisation std + 1e-10, BAS smoothing 5 and "
              "σ² = 9 in 60 fps frames)", ""]
    lines += _table(res["rows"], REFERENCE_COLS)
    st = res["style"]
    lines.append("")
    lines.append(f"Sessions {', '.join(res['sessions'])}: {res['n_reference']} reference "
                 f"windows (first halves), {res['n_query']} query windows (second halves, no "
                 f"shared frame); conditioning {res['cond']}; retrieval pool and style "
                 f"classifier: {res['train_pool']['windows']} train windows of "
                 f"{', '.join(res['train_pool']['datasets'])}; style classes "
                 f"{st['classes'] or 'none'} ({st['n_scored']} queries scored, "
                 f"{st['n_unscored']} of a style the classifier never saw).")
    lines += ["", "| goal | value | bound | met |", "| --- | ---: | ---: | --- |"]
    for g in res["goals"]:
        lines.append(f"| {g['goal']} | {g['value']:.4g} | {g['bound']:.4g} | "
                     f"{'yes' if g['met'] else 'NO'} |")
    return "\n".join(lines)
