"""``motionpair generate``: a dance for a whole song, as arrays, an MP4 and a PNG strip.

Long form as EDGE does it (Tseng et al. 2023, ``long_ddim_sample``): 5 s windows with a
2.5 s hop; each window's first half overlaps the previous window's second half. With more
than one sampling step the overlap is held to the previous window during sampling
(inpainting); in every case the two versions of the overlap are cross-faded linearly in
position space, and each window's root trajectory continues from where the joined dance is
at its first frame. The music features are computed from AUDIO with the training dataset's
recipe (``motionpair.features.audio.compute_features`` and the parameters saved in the run) and
normalised with the dataset's train statistics (``RUN/cond_stats.npz``).
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionpair.model import data as mdata
from motionpair.model.objective import sample
from motionpair.model.train import load_run


def music_features(audio: str | Path, rec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per-frame features of AUDIO on the run's frame grid (same recipe as the build)."""
    from motionpair.features.audio import compute_features, decode_audio

    p = rec["audio_params"]
    y, sr = decode_audio(audio)
    f = compute_features(y, native_sr_hz=sr, track_id=str(audio), sr_hz=p["sr_hz"],
                         hop=p["hop"], n_mels=p["n_mels"], n_fft=p["n_fft"],
                         n_mfcc=p["n_mfcc"])
    return f.arrays


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """Starts of windows covering [0, n_frames): every ``hop``, the last flush with the end."""
    if n_frames < window:
        raise ValueError(f"the song has {n_frames} frames; at least {window} are needed")
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def generate_dance(run: str | Path, audio: str | Path, *, steps: int = 1, seed: int = 0,
                   device: str = "cpu") -> dict[str, Any]:
    """Positions (N, J, D) in dataset units for the whole song, plus the music arrays."""
    net, rec, stats = load_run(run, device)
    cst = np.load(Path(run) / mdata.COND_FILE, allow_pickle=False)
    feats = music_features(audio, rec)
    cond = ((feats[rec["train"]["cond"]] - cst["mean"]) / cst["std"]).astype(np.float32)
    J, D = rec["skeleton"]["n_joints"], rec["skeleton"]["dims"]
    T = rec["net"]["frames"]
    half = T // 2
    n = len(cond)
    starts = window_starts(n, T, half)
    rng = np.random.default_rng(seed)
    pose = np.zeros((n, J, D))
    filled = 0
    for k, s in enumerate(starts):
        noise = torch.from_numpy(rng.standard_normal((1, T, J * D + D)).astype(np.float32))
        c = torch.from_numpy(cond[None, s: s + T])
        keep = mask = None
        ov = max(0, filled - s)
        if k and steps > 1 and ov:
            prev = mdata.to_rep(pose[s:filled])
            known = np.zeros((T, J * D + D))
            known[:ov] = prev
            keep = torch.from_numpy(mdata.normalise(known, stats)[None]).to(device)
            m = np.zeros((1, T, 1), dtype=np.float32)
            m[0, :ov] = 1
            mask = torch.from_numpy(m).to(device)
        x = sample(net, c.to(device), noise.to(device), steps=steps, keep=keep, keep_mask=mask)
        w = mdata.from_rep(mdata.denormalise(x[0].cpu().numpy().astype(np.float64), stats),
                           J, D, np.zeros(D))
        start_root = pose[s].mean(0) if k else stats["root0"].astype(np.float64)
        w = w + start_root  # continue the trajectory from the joined dance
        if ov:
            a = np.linspace(0.0, 1.0, ov + 2)[1:-1, None, None]  # fade-in of the new window
            w[:ov] = (1 - a) * pose[s:filled] + a * w[:ov]
        pose[s: s + T] = w
        filled = s + T
    return {"pose": pose.astype(np.float32), "music_beat": feats["music_beat"],
            "fps": Fraction(rec["fps"]).limit_denominator(1000), "windows": starts,
            "rec": rec}


def write_outputs(res: dict[str, Any], audio: str | Path, out: str | Path, *,
                  steps: int, seed: int, run: str | Path, video: bool = True,
                  max_video_s: float | None = None) -> dict[str, str]:
    """motion.npy, music_beat.npy, generate.json, strip.png and (optionally) dance.mp4."""
    from motionpair.build.preview import TANG2018_SEGMENTS
    from motionpair.model.render import render_mp4, strip_png

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rec = res["rec"]
    np.save(out / "motion.npy", res["pose"], allow_pickle=False)
    np.save(out / "music_beat.npy", res["music_beat"], allow_pickle=False)
    sk = rec["skeleton"]
    # a 23-joint 3-D skeleton is drawn with tang2018's published layout (the same
    # assumption as metrics.joint_roles); any other with the dataset's inferred edges
    edges: list = (list(TANG2018_SEGMENTS) if (sk["n_joints"], sk["dims"]) == (23, 3)
                   else sk["edges"])
    fps = float(res["fps"])
    files = {"motion": str(out / "motion.npy"), "music_beat": str(out / "music_beat.npy")}
    files["strip"] = str(strip_png(res["pose"], edges, fps, out / "strip.png"))
    if video:
        files["mp4"] = str(render_mp4(res["pose"], edges, res["music_beat"], res["fps"],
                                      audio, out / "dance.mp4", max_s=max_video_s))
    info = {"run": str(run), "audio": str(audio),
            "audio_sha256": hashlib.sha256(Path(audio).read_bytes()).hexdigest(),
            "steps": steps, "seed": seed, "fps": str(res["fps"]),
            "frames": int(len(res["pose"])), "seconds": len(res["pose"]) / fps,
            "window_starts": res["windows"], "units": rec["skeleton"]["units"],
            "files": {k: Path(v).name for k, v in files.items()}}
    (out / "generate.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return files
