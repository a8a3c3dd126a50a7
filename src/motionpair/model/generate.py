"""``motionpair generate``: a dance for a whole song, as arrays, an MP4 and a PNG strip, in
memory that does not grow with the song's length.

Streaming (issue 21): the audio is decoded in blocks (soundfile) and its features are computed
chunk by chunk -- ``CHUNK_S`` seconds of frames at a time, each computed on the chunk plus
``CONTEXT_S`` seconds of audio either side and cut back to the chunk, so STFT, chroma and
onset filters see the same neighbourhood as on the whole song. A song no longer than one
chunk with its context is computed in one piece, exactly as ``build`` does. Over longer
songs two parts of the recipe are per chunk rather than per song: the beat tracker's
starting tempo and the onset-peak picker's normalisation (docs/generate.md measures the
difference). Windows are sampled as soon as their music is known; frames leave memory as
soon as no later window overlaps them, into ``motion.npy`` written incrementally.

Joining without a seam (issue 19): 5 s windows at a 2.5 s hop (as EDGE's long-form
sampling). The overlap of two windows is cross-faded in the model's own representation
(root-relative joint positions and per-frame root displacement) with a raised-cosine weight,
and positions are decoded once for the joined song: the root path is the running sum of the
joined displacements, so no window restarts it and no frame is special. With more than one
sampling step the overlap is also held to the previous window while sampling (inpainting).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

CHUNK_S = 300.0
"""Seconds of output frames per feature chunk."""
CONTEXT_S = 15.0
"""Seconds of audio each side of a chunk its features are computed with."""
BLOCK_SAMPLES = 1 << 18
"""Samples per soundfile read."""


def music_features(audio: str | Path, rec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per-frame features of a whole AUDIO file on the run's frame grid (joined chunks)."""
    parts: dict[str, list[np.ndarray]] = {}
    for _, arrays in stream_features(audio, rec["audio_params"]):
        for k, v in arrays.items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def check_audio(audio: str | Path) -> tuple[int, int]:
    """(native sample rate, frames) of AUDIO, or one clear error naming the file."""
    import soundfile as sf

    p = Path(audio)
    if not p.exists():
        raise FileNotFoundError(f"{audio}: file not found")
    if not p.is_file():
        raise ValueError(f"{audio}: not a file")
    try:
        info = sf.info(os.fsencode(p))
    except Exception as exc:  # libsndfile's errors do not name the file
        raise ValueError(f"{audio}: not decodable audio ({exc})") from exc
    if info.frames == 0:
        raise ValueError(f"{audio}: audio file decodes to zero samples")
    return int(info.samplerate), int(info.frames)


def stream_features(audio: str | Path, p: dict[str, Any], *, chunk_s: float = CHUNK_S,
                    context_s: float = CONTEXT_S
                    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(first frame, arrays)`` for consecutive frame ranges covering the song.

    Arrays are those of :func:`motionpair.features.audio.compute_features` (``mel``,
    ``baseline35``, ``music_beat``, ...) for frames ``[first, first + len)``. Memory: one
    chunk with its context of native audio (~26 MB for 150 s of 44.1 kHz), whatever the
    song's length.
    """
    import soundfile as sf

    from motionpair.features.audio import compute_features, one_thread

    native_sr, _ = check_audio(audio)
    sr, hop = int(p["sr_hz"]), int(p["hop"])
    # a segment must start on a frame of the output grid AND on a native sample
    step = Fraction(hop * native_sr, sr)  # native samples per output frame
    q = step.denominator
    fps = sr / hop
    chunk = max(q, int(chunk_s * fps) // q * q)
    ctx = int(np.ceil(context_s * fps / q)) * q

    def native(frame: int) -> int:
        return int(frame * step)  # exact: callers pass multiples of q

    kw = {"sr_hz": sr, "hop": hop, "n_mels": p["n_mels"], "n_fft": p["n_fft"],
          "n_mfcc": p["n_mfcc"]}
    try:
        f = sf.SoundFile(os.fsencode(audio))
    except Exception as exc:
        raise ValueError(f"{audio}: not decodable audio ({exc})") from exc
    with f:
        buf = np.zeros(0, dtype=np.float32)
        buf0 = 0  # native index of buf[0]
        eof = False
        f0 = 0
        while True:
            need = native(f0 + chunk + ctx)
            while not eof and buf0 + len(buf) < need:
                try:
                    b = f.read(BLOCK_SAMPLES, dtype="float32", always_2d=True)
                except Exception as exc:
                    raise ValueError(f"{audio}: not decodable audio ({exc})") from exc
                if len(b) == 0:
                    eof = True
                else:
                    buf = np.concatenate([buf, b.mean(axis=1, dtype=np.float32)])
            g0 = max(0, f0 - ctx)
            seg = buf[native(g0) - buf0:]
            if len(seg) == 0:
                return
            with one_thread():  # the build's arithmetic (one BLAS thread), as in training
                feats = compute_features(seg, native_sr_hz=native_sr, track_id=str(audio),
                                         **kw)
            n_seg = len(feats.arrays["music_beat"])
            last = eof and buf0 + len(buf) <= native(f0 + chunk + ctx)
            end = g0 + n_seg if last else f0 + chunk
            if end > f0:
                yield f0, {k: v[f0 - g0: end - g0] for k, v in feats.arrays.items()}
            if last:
                return
            f0 = end
            keep = native(max(0, f0 - ctx))
            buf = buf[keep - buf0:].copy()
            buf0 = keep


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """Starts of windows covering [0, n_frames): every ``hop``, the last flush with the end."""
    if n_frames < window:
        raise ValueError(f"the song has {n_frames} frames; at least {window} are needed")
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def crossfade(n: int) -> np.ndarray:
    """(n,) weight of the NEW window over an ``n``-frame overlap: raised cosine from ~0 to
    ~1, so the blend's step size has no kink at either end of the overlap."""
    i = np.arange(1, n + 1)
    return 0.5 - 0.5 * np.cos(np.pi * i / (n + 1))


class _Joiner:
    """Joins windows in the model's (unnormalised) representation; emits final positions."""

    def __init__(self, n_joints: int, dims: int, root0: np.ndarray,
                 emit: Callable[[np.ndarray], None]) -> None:
        self.J, self.D = n_joints, dims
        self.root = np.asarray(root0, dtype=np.float64)
        self.first = True
        self.pend = np.zeros((0, n_joints * dims + dims))
        self.pend0 = 0
        self.emit = emit

    def overlap(self, s: int) -> np.ndarray:
        """Joined representation of the frames from ``s`` still pending."""
        return self.pend[s - self.pend0:]

    def add(self, s: int, rep: np.ndarray) -> None:
        """Window ``rep`` (T, C) starting at frame ``s`` (>= the pending start)."""
        self._flush(s)
        rep = rep.copy()
        ov = len(self.pend)
        jd = self.J * self.D
        if ov:
            rep[0, jd:] = self.pend[0, jd:]  # vel[0] is a placeholder (0) in the model
            a = crossfade(ov)[:, None]
            rep[:ov] = (1 - a) * self.pend + a * rep[:ov]
        self.pend, self.pend0 = rep, s

    def _flush(self, upto: int) -> None:
        k = upto - self.pend0
        if k <= 0:
            return
        out, self.pend = self.pend[:k], self.pend[k:]
        self.pend0 = upto
        jd = self.J * self.D
        vel = out[:, jd:].copy()
        if self.first:
            vel[0] = 0.0  # frame 0 sits at root0
            self.first = False
        root = self.root + np.cumsum(vel, axis=0)
        self.root = root[-1]
        rel = out[:, :jd].reshape(len(out), self.J, self.D)
        self.emit((rel + root[:, None, :]).astype(np.float32))

    def close(self) -> None:
        self._flush(self.pend0 + len(self.pend))


def stream_dance(model: dict[str, Any], audio: str | Path, *, steps: int = 1, seed: int = 0,
                 on_frames: Callable[[np.ndarray], None],
                 on_beats: Callable[[np.ndarray], None],
                 progress: Callable[[int], None] | None = None,
                 chunk_s: float = CHUNK_S, context_s: float = CONTEXT_S) -> dict[str, Any]:
    """Generate the dance for AUDIO window by window; positions (frames, J, D) go to
    ``on_frames`` in order as they become final, the music beat one-hot to ``on_beats``.
    Returns the window starts and the frame count."""
    from motionpair.model.adapter import n_motion, sample_rep

    rec, stats = model["rec"], model["stats"]
    cs = model["cond_stats"]
    J, D = model["skeleton"]
    T = model["frames"]
    hop = T // 2
    rng = np.random.default_rng(seed)
    joiner = _Joiner(J, D, stats["root0"], on_frames)
    cond = np.zeros((0, len(cs["mean"])), dtype=np.float32)
    c0 = 0  # frame of cond[0]
    starts: list[int] = []
    n = 0

    def run_window(s: int) -> None:
        noise = rng.standard_normal((1, T, n_motion(model)))
        c = cond[None, s - c0: s - c0 + T]
        keep = mask = None
        prev = joiner.overlap(s) if starts else np.zeros((0,))
        ov = len(prev)
        if steps > 1 and ov:
            keep = np.zeros((1, T, n_motion(model)))
            keep[0, :ov] = prev
            keep[0, 0, J * D:] = 0.0  # the model's frame 0 has no displacement
            mask = np.zeros((1, T, 1), dtype=np.float32)
            mask[0, :ov] = 1
        joiner.add(s, sample_rep(model, c, noise, steps=steps, keep=keep, keep_mask=mask)[0])
        starts.append(s)
        if progress is not None:
            progress(s + T)

    name = rec["train"]["cond"]
    for f0, arrays in stream_features(audio, rec["audio_params"], chunk_s=chunk_s,
                                      context_s=context_s):
        on_beats(arrays["music_beat"])
        new = ((arrays[name] - cs["mean"]) / cs["std"]).astype(np.float32)
        cond = np.concatenate([cond, new])
        n = f0 + len(arrays["music_beat"])
        nxt = starts[-1] + hop if starts else 0
        while nxt + T <= n:
            run_window(nxt)
            nxt += hop
        # frames no later window reads: the next regular window starts at starts[-1] + hop,
        # the last one (flush with the end) after starts[-1]
        drop = (starts[-1] + 1 if starts else 0) - c0
        if drop > 0:
            cond, c0 = cond[drop:], c0 + drop
    if n < T:
        raise ValueError(f"{audio}: the song has {n} frames; at least {T} are needed")
    if not starts or starts[-1] + T < n:
        run_window(n - T)
    joiner.close()
    return {"windows": starts, "frames": n}


def generate_dance(run: str | Path, audio: str | Path, *, steps: int = 1, seed: int = 0,
                   device: str = "cpu", guidance: float | None = None) -> dict[str, Any]:
    """Positions (N, J, D) in dataset units for the whole song, in memory (short songs and
    tests; :func:`generate_to` streams to disk)."""
    from motionpair.model.adapter import load_model

    check_audio(audio)
    model = load_model(run, device, guidance)
    frames: list[np.ndarray] = []
    beats: list[np.ndarray] = []
    res = stream_dance(model, audio, steps=steps, seed=seed, on_frames=frames.append,
                       on_beats=beats.append)
    return {"pose": np.concatenate(frames), "music_beat": np.concatenate(beats),
            "fps": Fraction(model["rec"]["fps"]).limit_denominator(1000),
            "windows": res["windows"], "rec": model["rec"]}


class _NpyStream:
    """An .npy array written a block of rows at a time (raw rows into a temporary file, the
    header put in front at the end, block by block)."""

    def __init__(self, path: Path, dtype: str, row_shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), row_shape
        self.raw = path.with_name(path.name + ".rows")
        self.f = self.raw.open("wb")
        self.n = 0

    def write(self, rows: np.ndarray) -> None:
        a = np.ascontiguousarray(rows, dtype=self.dtype)
        self.f.write(a.tobytes())
        self.n += len(a)

    def abort(self) -> None:
        """Remove the side file of rows (a failed run leaves no half-written array)."""
        self.f.close()
        self.raw.unlink(missing_ok=True)

    def close(self) -> None:
        self.f.close()
        out = np.lib.format.open_memmap(self.path, mode="w+", dtype=self.dtype,
                                        shape=(self.n, *self.row_shape))
        per = int(np.prod(self.row_shape, dtype=np.int64))
        src = np.memmap(self.raw, dtype=self.dtype, mode="r", shape=(self.n, per)) \
            if self.n else np.zeros((0, per), dtype=self.dtype)
        for s in range(0, self.n, 65536):
            out[s: s + 65536] = src[s: s + 65536].reshape(-1, *self.row_shape)
        out.flush()
        del out, src
        self.raw.unlink()


def generate_to(run: str | Path, audio: str | Path, out: str | Path, *, steps: int = 1,
                seed: int = 0, device: str = "cpu", video: bool = True,
                max_video_s: float | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                chunk_s: float = CHUNK_S, context_s: float = CONTEXT_S,
                guidance: float | None = None) -> dict[str, Any]:
    """Stream the dance of AUDIO into ``out``: motion.npy, music_beat.npy, generate.json,
    strip.png and (optionally) dance.mp4. Memory does not grow with the song's length."""
    from motionpair.model.adapter import load_model

    native_sr, n_native = check_audio(audio)
    model = load_model(run, device, guidance)
    rec = model["rec"]
    J, D = model["skeleton"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fps = Fraction(rec["fps"]).limit_denominator(1000)
    total = int(n_native / native_sr * float(fps)) + 1
    motion = _NpyStream(out / "motion.npy", "float32", (J, D))
    beats = _NpyStream(out / "music_beat.npy", "uint8", ())
    say = progress or (lambda what, k, n: None)
    try:
        res = stream_dance(model, audio, steps=steps, seed=seed, on_frames=motion.write,
                           on_beats=beats.write,
                           progress=lambda k: say("frames", min(k, total), total),
                           chunk_s=chunk_s, context_s=context_s)
    except BaseException:
        motion.abort()
        beats.abort()
        raise
    motion.close()
    beats.close()
    pose = np.load(out / "motion.npy", mmap_mode="r", allow_pickle=False)
    beat = np.load(out / "music_beat.npy", mmap_mode="r", allow_pickle=False)
    files = {"motion": str(out / "motion.npy"), "music_beat": str(out / "music_beat.npy")}
    files.update(_pictures(pose, beat, rec, fps, audio, out, video=video,
                           max_video_s=max_video_s,
                           progress=lambda k, n: say("video", k, n)))
    info = {"run": str(run), "audio": str(audio), "audio_sha256": _sha256(audio),
            "steps": steps, "seed": seed, "guidance": model["guidance"], "fps": str(fps),
            "frames": int(len(pose)),
            "seconds": len(pose) / float(fps), "window_starts": res["windows"],
            "join": "raised-cosine cross-fade of overlapping windows in the model's "
                    "representation" + (" + inpainting" if steps > 1 else ""),
            "features": {"chunk_s": chunk_s, "context_s": context_s},
            "units": rec["skeleton"]["units"],
            "files": {k: Path(v).name for k, v in files.items()}}
    (out / "generate.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return {"files": files, "frames": int(len(pose)), "fps": fps,
            "windows": res["windows"]}


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _edges(rec: dict[str, Any]) -> list:
    from motionpair.build.preview import TANG2018_SEGMENTS

    sk = rec["skeleton"]
    # a 23-joint 3-D skeleton is drawn with tang2018's published layout (the same
    # assumption as metrics.joint_roles); any other with the dataset's inferred edges
    return list(TANG2018_SEGMENTS) if (sk["n_joints"], sk["dims"]) == (23, 3) else sk["edges"]


def upright(pose: np.ndarray, skel: dict[str, Any]) -> np.ndarray:
    """``pose`` (..., J, D) for drawing, which puts axis 1 up: the skeleton's up axis is moved
    there and its sign applied (a capture's 2-D image coordinates have y pointing DOWN;
    drawn as stored, the dancer stood on her head)."""
    from motionpair.model.skeleton import up_index

    axis, sign = up_index(skel)
    if (axis, sign) == (1, 1.0):
        return pose
    out = np.array(pose, dtype=np.float64, copy=True)
    if axis != 1:
        out[..., [1, axis]] = out[..., [axis, 1]]
    out[..., 1] *= sign
    return out


def _pictures(pose: np.ndarray, beat: np.ndarray, rec: dict[str, Any], fps: Fraction,
              audio: str | Path, out: Path, *, video: bool, max_video_s: float | None,
              progress: Callable[[int, int], None] | None = None) -> dict[str, str]:
    from motionpair.model.render import render_mp4, strip_png

    edges = _edges(rec)
    pose = upright(pose, rec["skeleton"])
    files = {"strip": str(strip_png(pose, edges, float(fps), out / "strip.png"))}
    if video:
        files["mp4"] = str(render_mp4(pose, edges, beat, fps, audio, out / "dance.mp4",
                                      max_s=max_video_s, progress=progress))
    return files


def write_outputs(res: dict[str, Any], audio: str | Path, out: str | Path, *,
                  steps: int, seed: int, run: str | Path, video: bool = True,
                  max_video_s: float | None = None) -> dict[str, str]:
    """motion.npy, music_beat.npy, generate.json, strip.png and (optionally) dance.mp4 of an
    in-memory :func:`generate_dance` result."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rec = res["rec"]
    np.save(out / "motion.npy", res["pose"], allow_pickle=False)
    np.save(out / "music_beat.npy", res["music_beat"], allow_pickle=False)
    files = {"motion": str(out / "motion.npy"), "music_beat": str(out / "music_beat.npy")}
    files.update(_pictures(res["pose"], res["music_beat"], rec, res["fps"], audio, out,
                           video=video, max_video_s=max_video_s))
    fps = float(res["fps"])
    info = {"run": str(run), "audio": str(audio), "audio_sha256": _sha256(audio),
            "steps": steps, "seed": seed, "fps": str(res["fps"]),
            "frames": int(len(res["pose"])), "seconds": len(res["pose"]) / fps,
            "window_starts": res["windows"], "units": rec["skeleton"]["units"],
            "files": {k: Path(v).name for k, v in files.items()}}
    (out / "generate.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return files


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (MB; Linux ru_maxrss is in KiB)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if os.uname().sysname == "Linux" else r / 2**20
