"""Pictures and human-readable summaries of one paired window."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.cache import Cache
from motionpair.memo import code_sha256, memo_file, value_digest
from motionpair.store import find_row, load_window, read_dataset_json, read_manifest
from motionpair.types import WindowRow


def choose_sample(rows: list[WindowRow]) -> WindowRow:
    """A deterministic, representative window: the middle row of the first train session."""
    train = [r for r in rows if r.split == "train"] or rows
    first = [r for r in train if r.session == train[0].session]
    return first[len(first) // 2]


def draw_window(dataset_dir: str | Path, window_id: str | None, out_png: str | Path, *,
                row: WindowRow | None = None, meta: dict[str, Any] | None = None) -> Path:
    """Mel + music beats, onset envelope, mean joint speed + kinematic beats, pose strip.

    ``row`` and ``meta`` (dataset.json's ``audio`` and ``motion`` blocks at least): given by
    a build that draws before its manifest and dataset.json are written; read otherwise.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if row is None:
        rows = read_manifest(dataset_dir)
        row = find_row(rows, window_id) if window_id else choose_sample(rows)
    if meta is None:
        meta = read_dataset_json(dataset_dir)
    w = load_window(dataset_dir, row)
    T = row.n_frames
    # beat-grid windows carry each frame's track time; fixed grids are start + k / fps
    t = w["times_s"] if "times_s" in w else row.start_s + np.arange(T) / row.fps
    beats = t[w["music_beat"] > 0]
    kin = t[w["kin_beat"] > 0]
    fig, axes = plt.subplots(4, 1, figsize=(11, 9), height_ratios=[3, 1.2, 1.5, 2.4],
                             constrained_layout=True)
    ax = axes[0]
    n_mels = w["mel"].shape[1]
    mesh = ax.pcolormesh(t, np.arange(n_mels), w["mel"].T, cmap="magma", shading="nearest")
    # the colour bar in an inset beside the panel: the time axes of all panels stay aligned
    fig.colorbar(mesh, cax=ax.inset_axes((1.01, 0.0, 0.012, 1.0)),
                 label="dB re 1.0 (log-mel power)")
    ax.vlines(beats, 0, n_mels, colors="cyan", linewidth=1, label="music beats")
    _hz_axis(ax, n_mels, meta.get("audio", {}).get("params", {}))
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{row.id}  [{row.split}]  track {row.start_s:.2f}–{row.end_s:.2f} s  "
                 f"motion clock {row.motion_start_s:.2f}–{row.motion_end_s:.2f} s  "
                 f"clock map: {row.clock_map}  grid: {row.grid}", fontsize=9)
    axes[1].plot(t, w["onset_env"], color="tab:orange", linewidth=1,
                 label="onset strength (librosa)")
    axes[1].vlines(beats, 0, float(w["onset_env"].max() or 1), colors="tab:blue", linewidth=0.8,
                   label="music beats")
    axes[1].set_ylabel("onset env")
    axes[1].legend(loc="upper right", fontsize=8, ncol=2)
    axes[2].plot(t, w["speed"], color="tab:green", linewidth=1.2, label="mean joint speed")
    axes[2].plot(kin, w["speed"][w["kin_beat"] > 0], "v", color="k", label="kinematic beats")
    axes[2].vlines(beats, 0, float(w["speed"].max() or 1), colors="tab:blue", linewidth=0.6,
                   alpha=0.6, label="music beats")
    units = meta["motion"]["skeleton"].get("units") or "units"
    axes[2].set_ylabel(f"speed ({units}/s)")
    axes[2].legend(loc="upper right", fontsize=8, ncol=3)
    for a in axes[:3]:
        a.set_xlim(row.start_s, row.end_s)
    axes[2].set_xlabel("track time (s)")
    _pose_strip(axes[3], w["pose"], t,
                skeleton_segments(meta, row.source, int(w["pose"].shape[1])))
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    return Path(out_png)


def _hz_axis(ax, n_mels: int, params: dict) -> None:
    """Label the mel-band axis with band centre frequencies (Hz), librosa's mel scale
    (Slaney, fmin 0, fmax sr/2: the builder's melspectrogram defaults)."""
    sr_hz = params.get("sr_hz")
    if not sr_hz:  # e.g. a MotionMix NPZ without its recipe: bands only
        ax.set_ylabel("mel band")
        return
    import librosa

    centres = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=0.0, fmax=sr_hz / 2)[1:-1]
    ticks = np.linspace(0, n_mels - 1, 6).round().astype(int)
    ax.set_yticks(ticks, [f"{centres[k]:.0f}" for k in ticks])
    ax.set_ylabel("mel band centre (Hz)")


#: tang2018's 23-joint layout as implied by the drawing script published with a copy of the
#: data (github.com/mhy12345/Music-to-Dance-Motion-Synthesis, utils/draw.py): segments
#: between joints or midpoints of joint pairs: head 0-1, shoulders 3/12 (arms 3-4-5-6 and
#: 12-13-14-15), pelvis 2 (legs 2-7-8-9 and 2-16-17-18), feet 10/11 and 19/20. Joints 21
#: and 22 (hand direction) are not drawn. An assumption: the dataset publishes no names.
TANG2018_SEGMENTS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((0,), (1,)), ((0, 1), (3, 12)), ((3,), (3, 12)), ((12,), (3, 12)), ((2,), (3, 12)),
    ((3,), (4,)), ((4,), (5,)), ((5,), (6,)), ((12,), (13,)), ((13,), (14,)), ((14,), (15,)),
    ((2,), (7,)), ((7,), (8,)), ((8,), (9,)), ((9,), (10, 11)), ((10,), (11,)),
    ((2,), (16,)), ((16,), (17,)), ((17,), (18,)), ((18,), (19, 20)), ((19,), (20,)),
)


def skeleton_segments(meta: dict, source: str,
                      n_joints: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Segments to draw for a row of ``source``: tang2018's layout for its 23 joints, else
    the dataset's inferred edges (each a one-joint segment), else none (points only)."""
    skel = meta["motion"]["skeleton"]
    if source == "tang2018" and n_joints == 23:
        return list(TANG2018_SEGMENTS)
    return [((a,), (b,)) for a, b in skel.get("edges") or []]


def _pose_strip(ax, pose: np.ndarray, t: np.ndarray, segments: list, n: int = 8) -> None:
    """Front view (x right, y up) of ``n`` poses evenly spread across the window."""
    idx = np.linspace(0, len(pose) - 1, n).round().astype(int)
    # poses side by side, spaced by their widest x extent (not their height): the strip is
    # less elongated, so each figure is drawn larger
    width = max(float(np.ptp(p[:, 0])) for p in pose[idx])
    height = max(float(np.ptp(p[:, 1])) for p in pose[idx]) if pose.shape[2] > 1 else 0.0
    step = max(width * 1.25, height * 0.45) or 1.0
    for j, i in enumerate(idx):
        p = pose[i]
        x = p[:, 0] - p[:, 0].mean() + j * step
        y = p[:, 1] if pose.shape[2] > 1 else np.zeros(len(p))
        for a, b in segments:  # an endpoint is a joint or the midpoint of a joint pair
            ax.plot([x[list(a)].mean(), x[list(b)].mean()],
                    [y[list(a)].mean(), y[list(b)].mean()], color="tab:purple", linewidth=1.5)
        ax.plot(x, y, ".", color="k", markersize=3)
        ax.text(j * step, float(y.min()) - 0.06 * (height or step), f"{t[i]:.2f} s",
                ha="center", va="top", fontsize=7)
    ax.set_aspect("equal")
    ax.axis("off")
    how = ("tang2018 joint layout of its published drawing script (assumed)"
           if segments == list(TANG2018_SEGMENTS) else
           "inferred edges" if segments else "joints only: no layout known")
    ax.set_title(f"poses across the window (front view, x–y; {how})", fontsize=9)


def sample_summary(dataset_dir: str | Path, row: WindowRow) -> dict[str, Any]:
    """One paired sample for a human: ids, times, shapes, first values, assumptions."""
    w = load_window(dataset_dir, row)
    meta = read_dataset_json(dataset_dir)
    first = {
        # absent when an input's features lack it (MotionMix NPZ without chroma): recorded
        "baseline35[0,:5]": [round(float(v), 4) for v in w["baseline35"][0, :5]]
        if "baseline35" in w else None,
        "mel[0,:5]": [round(float(v), 3) for v in w["mel"][0, :5]],
        "pose[0,0]": [round(float(v), 3) for v in w["pose"][0, 0]],
        "speed[:5]": [round(float(v), 3) for v in w["speed"][:5]],
        "music_beat_frames": np.flatnonzero(w["music_beat"]).tolist(),
        "kin_beat_frames": np.flatnonzero(w["kin_beat"]).tolist(),
    }
    return {
        "window": row.to_dict(),
        "shapes": {k: list(v.shape) for k, v in w.items()},
        "dtypes": {k: str(v.dtype) for k, v in w.items()},
        "first_values": first,
        "assumptions": {a: meta["assumptions"].get(a, "") for a in row.assumptions},
        "files": {k: f"{row.shard}/{k}.npy[{row.row}]" for k in w},
    }


def sample_preview(dataset_dir: Path, row: WindowRow, target: Path, cache: Cache | None,
                   meta: dict[str, Any] | None = None) -> Path:
    """``preview.draw_window`` for ``row``, memoised on everything the picture depends on.

    The picture depends on the manifest row, the window's arrays, the skeleton edges in
    ``dataset.json``, the drawing code and matplotlib's version; drawing costs ~1 s
    (matplotlib import + render), a large part of an otherwise fully cached rebuild.
    """
    if meta is None:  # a build passes its record: the picture is drawn before it is written
        meta = read_dataset_json(dataset_dir)
    edges = meta["motion"]["skeleton"].get("edges")
    payload = {"code": code_sha256("motionpair.build.preview", "motionpair.store"),
               "matplotlib": version("matplotlib"), "row": row.to_dict(), "edges": edges,
               "arrays": value_digest(load_window(dataset_dir, row))}
    return memo_file(cache, "preview", payload, target,
                     lambda path: draw_window(dataset_dir, row.id, path, row=row, meta=meta))
