"""motionpair benchmarks on the real data: build speed, warm rebuild, loader, peak RSS, and
the EDGE-style per-slice feature baseline, side by side in one run.

    python benchmarks/bench.py [DATA_DIR] [--work DIR] [--json FILE] [--baseline-tracks N]
                               [--skip-4x] [--workers N]

DATA_DIR defaults to ../shared/data/tang2018. Every build runs ``motionpair build`` as a
subprocess (what a user runs); its wall time is measured around the process and its peak
RSS comes from ``os.wait4`` (``ru_maxrss``: the largest single process of the build's
process tree, workers included). Measured:

- cold build: fresh ``--cache`` folder, ``--workers N``; audio-minutes per wall-minute
  (target >= 60) and per wall-second;
- warm rebuild: the same command again (median of 3); its share of the cold time (< 10%);
- loader: ``motionpair.torch.MotionPairDataset`` (train split; baseline35, pose, velocity)
  through a plain ``DataLoader``, batch 64, ``num_workers`` 0 and 2 (target >= 5000
  windows/s with 2); skipped with a message when torch or the loader is missing;
- peak RSS of a ``--no-cache --workers 1`` build of 1x and 4x the data (4x: renamed folder
  copies whose files are symlinks to the originals), to show memory follows the largest
  track, not the dataset size;
- EDGE-style baseline (``edge_baseline.py``): features recomputed per 5 s slice every
  0.5 s, one file per slice, timed on the first N tracks and compared per audio-minute.

Results are printed and written as JSON (default ``WORK/bench.json``), with the machine's
cores, memory and load average at start: on a shared machine, say so next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import edge_baseline  # noqa: E402  (a sibling script, not a package)

DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "tang2018"


def run_build(data: list[Path], out: Path, *opts: str) -> dict[str, float]:
    """One ``motionpair build`` subprocess: wall seconds and peak RSS (MiB) of its tree."""
    cmd = [sys.executable, "-m", "motionpair", "build", *map(str, data), "--out", str(out),
           *opts]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}): {' '.join(cmd)}\n{stdout}")
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024,
            "summary": " ".join(stdout.split())}


def audio_facts(data: Path) -> dict[str, float]:
    """Audio minutes of the paired tracks and the largest track (s, decoded MiB)."""
    from motionpair.build.scan import scan

    inv = scan([data])
    durs = [p.track.duration_s or 0.0 for p in inv.pairs]
    return {"pairs": len(durs), "audio_min": sum(durs) / 60, "largest_track_s": max(durs),
            # float32 stereo at 44.1 kHz, as decoded before the mono mix
            "largest_track_decoded_mib": max(durs) * 44100 * 2 * 4 / 2**20}


def replicate(data: Path, dst: Path, times: int) -> Path:
    """``times`` x the data: renamed folder copies (DANCE_C_2 -> DANCE_C_102, ...) of symlinks."""
    for k in range(times):
        for folder in sorted(data.glob("DANCE_*")):
            style, num = folder.name.split("_")[1:]
            new = dst / f"DANCE_{style}_{int(num) + 100 * k}"
            new.mkdir(parents=True)
            for f in folder.iterdir():
                (new / f.name).symlink_to(f.resolve())
    return dst


def loader_throughput(root: Path, workers: int, *, epochs: int = 3) -> dict[str, float]:
    """Windows per second through a plain DataLoader (batch 64), after one warm-up epoch."""
    from torch.utils.data import DataLoader

    from motionpair.torch import MotionPairDataset, collate

    ds = MotionPairDataset(root, split="train", features=("baseline35", "pose", "velocity"))
    dl = DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers, collate_fn=collate,
                    persistent_workers=workers > 0)
    for _ in dl:  # warm-up: worker start, page cache
        pass
    t0 = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for batch in dl:
            n += len(batch["id"])
    wall = time.perf_counter() - t0
    # the loader shares the cores with everything else: its number means little without this
    return {"windows": n, "wall_s": wall, "windows_per_s": n / wall, "load_avg_after": _load()}


def machine() -> dict[str, object]:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "mem_gib": round(int(mem) / 2**20, 1), "cpu": cpu,
            "load_avg_at_start": _load(),
            "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description="motionpair benchmarks on real data")
    ap.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    ap.add_argument("--work", default="/tmp/motionpair-bench", help="scratch folder (wiped)")
    ap.add_argument("--json", default=None, help="results file (default WORK/bench.json)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-tracks", type=int, default=1)
    ap.add_argument("--skip-4x", action="store_true", help="skip the 4x-data RSS build")
    args = ap.parse_args()
    data, work = Path(args.data).resolve(), Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    res: dict[str, object] = {"machine": machine(), "data": str(data)}
    facts = audio_facts(data)
    res["data_facts"] = facts
    w = ["--workers", str(args.workers)]

    cold = run_build([data], work / "ds", "--cache", str(work / "cache"), *w)
    cold["audio_min_per_wall_min"] = facts["audio_min"] / (cold["wall_s"] / 60)
    cold["audio_min_per_wall_s"] = facts["audio_min"] / cold["wall_s"]
    cold["load_avg_after"] = _load()
    res["cold"] = cold
    _say(f"cold build: {cold['wall_s']:.1f} s for {facts['audio_min']:.1f} audio-min -> "
         f"{cold['audio_min_per_wall_min']:.0f} audio-min/wall-min "
         f"({cold['audio_min_per_wall_s']:.2f} audio-min/wall-s); {cold['summary']}")

    # right after the cold build, so both run under similar machine load
    tracks = sorted(data.glob("DANCE_*/audio.mp3"))[: args.baseline_tracks]
    base = edge_baseline.run(tracks, work / "edge")
    base["load_avg_after"] = _load()
    base["speedup_vs_cold_build"] = cold["audio_min_per_wall_min"] / base["audio_min_per_wall_min"]
    res["edge_baseline"] = base
    _say(f"EDGE-style per-slice baseline: {base['audio_min_per_wall_min']:.2f} audio-min/wall-min "
         f"on {base['tracks']} track(s) ({base['audio_s'] / 60:.1f} audio-min, "
         f"{int(base['slices'])} slice files, {base['wall_s']:.0f} s); cold build is "
         f"{base['speedup_vs_cold_build']:.0f}x faster per audio-minute")

    warm_runs = [run_build([data], work / "ds", "--cache", str(work / "cache"), *w)
                 for _ in range(3)]
    warm_s = statistics.median(r["wall_s"] for r in warm_runs)
    res["warm"] = {"wall_s_runs": [round(r["wall_s"], 3) for r in warm_runs], "wall_s": warm_s,
                   "pct_of_cold": 100 * warm_s / cold["wall_s"],
                   "summary": warm_runs[-1]["summary"]}
    _say(f"warm rebuild: {warm_s:.2f} s (median of 3) = {res['warm']['pct_of_cold']:.1f}% of "
         f"cold; {warm_runs[-1]['summary']}")

    try:
        res["loader"] = {f"workers_{n}": loader_throughput(work / "ds", n) for n in (0, 2)}
        for k, v in res["loader"].items():
            _say(f"loader {k}: {v['windows_per_s']:.0f} windows/s ({v['windows']} windows; "
                 f"load average {v['load_avg_after']} on {os.cpu_count()} cores)")
    except ImportError as exc:
        res["loader"] = {"skipped": f"motionpair.torch not importable: {exc}"}
        _say(f"loader: skipped ({exc})")

    rss = {"1x": run_build([data], work / "rss1", "--no-cache", "--workers", "1")}
    if not args.skip_4x:
        four = replicate(data, work / "data4x", 4)
        rss["4x"] = run_build([four], work / "rss4", "--no-cache", "--workers", "1")
    res["rss"] = {**rss, "largest_track_s": facts["largest_track_s"],
                  "largest_track_decoded_mib": facts["largest_track_decoded_mib"]}
    for k, v in rss.items():
        _say(f"peak RSS {k} (--no-cache --workers 1): {v['peak_rss_mib']:.0f} MiB "
             f"({v['wall_s']:.0f} s); largest track {facts['largest_track_s']:.0f} s")
    one = facts["audio_min"] / (rss["1x"]["wall_s"] / 60)
    base["single_process_build_audio_min_per_wall_min"] = one
    base["speedup_single_process"] = one / base["audio_min_per_wall_min"]
    _say(f"like for like (one process each): --workers 1 build {one:.0f} audio-min/wall-min = "
         f"{base['speedup_single_process']:.0f}x the per-slice baseline")

    res["targets"] = {
        "cold_ge_60_audio_min_per_wall_min": cold["audio_min_per_wall_min"] >= 60,
        "ge_10x_faster_than_baseline": base["speedup_vs_cold_build"] >= 10,
        "warm_lt_10pct_of_cold": res["warm"]["pct_of_cold"] < 10,
        "loader_ge_5000_windows_per_s_2_workers":
            res["loader"].get("workers_2", {}).get("windows_per_s", 0) >= 5000,
    }
    out = Path(args.json) if args.json else work / "bench.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    _say(f"targets: {res['targets']}\nwrote {out}")


def _load() -> list[float]:
    """1/5/15-minute load averages: other processes on a shared machine skew every time."""
    return [round(x, 2) for x in os.getloadavg()]


def _say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    main()
