"""The EDGE-style feature pipeline, as a side-by-side baseline for ``bench.py``.

EDGE (Tseng et al., CVPR 2023; ``data/slice.py`` + ``data/audio_extraction/baseline_features.py``)
cuts every track into 5 s slices with a 0.5 s stride and recomputes the librosa features of
each slice from scratch, writing one file per slice. Here each slice gets motionpair's own
feature recipe (``motionpair.features.audio.compute_features``: log-mel + the 35-d baseline), so the
comparison measures the cost of the slicing strategy, not of a different recipe. Kind to the
baseline: each track is decoded once and sliced in memory (EDGE writes and re-reads a WAV per
slice).

    python benchmarks/edge_baseline.py [DATA_DIR] [--tracks N] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from motionpair.features.audio import compute_features, decode_audio

SLICE_S = 5.0
STRIDE_S = 0.5


def slice_track(audio_path: Path, out_dir: Path, *, sr_hz: int = 22050, hop: int = 735,
                slice_s: float = SLICE_S, stride_s: float = STRIDE_S) -> dict[str, float]:
    """Features of every ``slice_s`` slice every ``stride_s`` of one track, one .npy each.

    Returns
    -------
    dict with ``audio_s`` (track length, s), ``slices`` (count), ``wall_s`` (decode +
    features + writes, s) and ``bytes`` (written).
    """
    return slice_span(audio_path, 0.0, float("inf"), out_dir, sr_hz=sr_hz, hop=hop,
                      slice_s=slice_s, stride_s=stride_s)


def slice_span(audio_path: Path, start_s: float, end_s: float, out_dir: Path, *,
               sr_hz: int = 22050, hop: int = 735, slice_s: float = SLICE_S,
               stride_s: float = STRIDE_S) -> dict[str, float]:
    """:func:`slice_track` over song time ``start_s .. end_s`` only (a pair's danced span,
    as EDGE slices only the audio its motion covers; ``end_s`` inf: to the track's end).
    Same return keys, ``audio_s`` being the span's length."""
    t0 = time.perf_counter()
    y, native_sr = decode_audio(audio_path)
    a = round(start_s * native_sr)
    b = len(y) if end_s == float("inf") else min(len(y), round(end_s * native_sr))
    n_slice, n_stride = round(slice_s * native_sr), round(stride_s * native_sr)
    out_dir.mkdir(parents=True, exist_ok=True)
    count, written = 0, 0
    for start in range(a, b - n_slice + 1, n_stride):
        feats = compute_features(y[start:start + n_slice], native_sr_hz=native_sr,
                                 track_id=f"{audio_path.parent.name}/{count}", sr_hz=sr_hz,
                                 hop=hop)
        arr = np.concatenate([feats.arrays["mel"], feats.arrays["baseline35"]], axis=1)
        path = out_dir / f"{audio_path.parent.name}_slice{count:05d}.npy"
        np.save(path, arr, allow_pickle=False)
        written += path.stat().st_size
        count += 1
    return {"audio_s": (b - a) / native_sr, "slices": count,
            "wall_s": time.perf_counter() - t0, "bytes": written}


def run(tracks: list[Path], out_dir: Path) -> dict[str, float]:
    """The baseline over ``tracks`` (audio files); totals and audio-minutes per wall-minute."""
    per = [slice_track(t, out_dir / t.parent.name) for t in tracks]
    tot = {k: float(sum(p[k] for p in per)) for k in ("audio_s", "slices", "wall_s", "bytes")}
    tot["tracks"] = len(tracks)
    tot["audio_min_per_wall_min"] = tot["audio_s"] / tot["wall_s"]
    return tot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2]
                                                   / "shared" / "data" / "tang2018"))
    ap.add_argument("--tracks", type=int, default=2, help="how many tracks (sorted) to time")
    ap.add_argument("--out", default="/tmp/motionpair-edge-baseline")
    args = ap.parse_args()
    tracks = sorted(Path(args.data).glob("DANCE_*/audio.mp3"))[: args.tracks]
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    res = run(tracks, out)
    print(f"EDGE-style baseline: {res['tracks']} track(s), {res['audio_s'] / 60:.2f} audio-min, "
          f"{int(res['slices'])} slices, {res['wall_s']:.1f} s wall -> "
          f"{res['audio_min_per_wall_min']:.2f} audio-min per wall-min")


if __name__ == "__main__":
    main()
