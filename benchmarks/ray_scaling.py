"""Local pool vs Ray (1 and 2 CPUs) on this machine, per-core rates, capture through Ray.

    python benchmarks/ray_scaling.py [DATA_DIR] [--video FILE] [--rate-hz R] [--json FILE]
                                     [--work DIR] [--skip-capture]

Builds DATA_DIR (default ../shared/data/tang2018, the 14 shared pairs) cold
(``--no-cache``) four ways in one run: the local pool with 1 and 2 workers, and
``--engine ray`` on a loopback Ray cluster of one node with 1 CPU and of two nodes with 1
CPU each (tests/raycluster.py); checks that all four publish the same bytes (every file
but build.json). Ray's own overhead per pair is the Ray 1-CPU run's pairing time minus the
local 1-worker run's, divided by the pairs. Then the per-core rates for docs/scaling.md:

- audio features: seconds of audio per CPU-second (one track, one thread, in this process);
- windows + evidence: a warm-cache build's pairing time per pair (features and motion from
  the cache), and publishing (writing the dataset) from the same build;
- pose estimation: ``capture VIDEO --rate-hz R --no-cache`` local vs ``--engine ray`` on the
  two-node cluster (two pose actors), frames/s, and whether both wrote the same files.

CPU seconds are user+sys of this process's descendants during each run (the local pool's
workers and the Ray cluster's processes included; /proc polled every 0.2 s; the CPU of a
process that ends between two polls is missed). On a shared machine, quote the load averages printed
with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _descendants_cpu() -> dict[int, float]:
    """``{pid: user+sys seconds}`` of every live descendant of this process (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            f = (d / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parent[int(d.name)] = int(f[1])
        cpu[int(d.name)] = (int(f[11]) + int(f[12])) / tick
    mine, grew = {os.getpid()}, True
    while grew:
        new = {p for p, pp in parent.items() if pp in mine} - mine
        mine |= new
        grew = bool(new)
    mine.discard(os.getpid())
    return {p: cpu[p] for p in mine}


def _run(args: list[str]) -> dict:
    """Run ``motionpair ARGS``; CPU = every descendant's user+sys (pool workers and the Ray
    cluster's processes included), polled every 0.2 s so short-lived workers count too."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    before = _descendants_cpu()
    seen: dict[int, float] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "motionpair", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_parts: list[str] = []
    reader = threading.Thread(target=lambda: out_parts.extend(proc.communicate()))
    reader.start()
    while reader.is_alive():
        seen.update(_descendants_cpu())
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    stdout, stderr = out_parts
    if proc.returncode != 0:
        raise SystemExit(f"failed: motionpair {' '.join(args)}\n{stderr[-3000:]}")
    cpu = sum(v - before.get(p, 0.0) for p, v in seen.items())
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "load_avg_after": round(os.getloadavg()[0], 2), "stdout": stdout,
            "stderr": stderr}


def _build(data: Path, out: Path, extra: list[str]) -> dict:
    r = _run(["build", str(data), "--out", str(out), *extra])
    facts = json.loads((out / "build.json").read_text())
    return {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "load_avg_after": r["load_avg_after"],
            "timings_s": facts["timings_s"], "pairs": facts["cache"]["pairs"]}


def _mean_shard_bytes(ds: Path) -> int:
    shards = [d for d in (ds / "shards").iterdir() if d.is_dir()]
    return int(sum(f.stat().st_size for d in shards for f in d.iterdir()) / len(shards))


def audio_rate(data: Path) -> dict:
    """Seconds of audio analysed per CPU-second (features of one whole track, one thread)."""
    from threadpoolctl import threadpool_limits

    from motionpair.build.scan import scan
    from motionpair.config import BuildConfig
    from motionpair.features import audio

    cfg = BuildConfig().validate()
    spec = max(scan([data]).pairs, key=lambda s: s.track.duration_s)
    y, sr = audio.decode_audio(spec.track.path)
    with threadpool_limits(limits=1):
        audio.compute_features(y[: sr * 5], native_sr_hz=sr, track_id="warm", sr_hz=cfg.sr_hz,
                               hop=cfg.hop, n_mels=cfg.n_mels)  # jit + imports, not timed
        c0 = time.process_time()
        audio.compute_features(y, native_sr_hz=sr, track_id=spec.track.track_id,
                               sr_hz=cfg.sr_hz, hop=cfg.hop, n_mels=cfg.n_mels, n_fft=cfg.n_fft,
                               n_mfcc=cfg.n_mfcc)
        cpu = time.process_time() - c0
    dur = len(y) / sr
    return {"track": spec.track.track_id, "audio_s": round(dur, 1), "cpu_s": round(cpu, 2),
            "audio_s_per_cpu_s": round(dur / cpu, 1)}


def _shard_sized(n_bytes: int) -> bytes:
    return bytes(n_bytes)


def ray_overhead(address: str, n_tasks: int, shard_bytes: int) -> dict:
    """Ray's own cost per pair: tasks that do nothing but return ``shard_bytes`` (a mean
    shard's size), through the same engine as a build (connect excluded)."""
    from motionpair.engines.ray_engine import RayEngine

    with RayEngine(address) as eng:
        eng.map(_shard_sized, [(1,)] * 2)  # workers started, not timed
        t0 = time.perf_counter()
        eng.map(_shard_sized, [(shard_bytes,)] * n_tasks)
        dt = time.perf_counter() - t0
    return {"tasks": n_tasks, "bytes_each": shard_bytes,
            "per_task_ms": round(1000 * dt / n_tasks, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared/data/tang2018"))
    ap.add_argument("--video", default=str(REPO.parent / "shared/data/video/dancer.avi"))
    ap.add_argument("--rate-hz", default="5")
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-capture", action="store_true")
    ap.add_argument("--overhead-only", action="store_true",
                    help="only Ray's per-task overhead on a two-node cluster")
    a = ap.parse_args()
    from digests import diff, tree_digest
    from raycluster import local_cluster

    if a.overhead_only:
        with local_cluster((1, 1)) as (cluster, _):
            print(json.dumps(ray_overhead(cluster.address, 14, 15_250_000)))
        return
    data = Path(a.data).resolve()
    work = Path(a.work or tempfile.mkdtemp(prefix="mp-rayscale-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.setdefault("MOTIONPAIR_CACHE", str(work / "unused-cache"))
    report: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}}
    runs = report["builds"] = {}
    for w in (1, 2):
        runs[f"local_w{w}"] = _build(data, work / f"local_w{w}",
                                     ["--workers", str(w), "--no-cache"])
        print("local", w, runs[f"local_w{w}"], flush=True)
    for cpus in ((1,), (1, 1)):
        name = f"ray_{len(cpus)}cpu"
        with local_cluster(cpus) as (cluster, _):
            report[f"overhead_{name}"] = ray_overhead(cluster.address, runs["local_w1"]["pairs"],
                                                      _mean_shard_bytes(work / "local_w1"))
            runs[name] = _build(data, work / name, ["--no-cache", "--engine", "ray",
                                                    "--address", cluster.address])
            if len(cpus) == 2 and not a.skip_capture:
                cap = report["capture"] = {}
                for engine in ("local", "ray"):
                    extra = ["--address", cluster.address] if engine == "ray" else []
                    r = _run(["capture", a.video, "--out", str(work / f"cap_{engine}"),
                              "--rate-hz", a.rate_hz, "--no-cache", "--engine", engine,
                              *extra])
                    cap[engine] = {k: r[k] for k in ("wall_s", "cpu_s", "load_avg_after")}
                    cap[engine]["line"] = r["stdout"].strip().splitlines()[0]
                    print("capture", engine, cap[engine], flush=True)
                ref = tree_digest(work / "cap_local")
                cap["identical"] = diff(ref, tree_digest(work / "cap_ray")) == []
                cap["files"] = len(ref)
        print(name, runs[name], flush=True)
    ref = tree_digest(work / "local_w1")
    report["identical_to_local_w1"] = {k: diff(ref, tree_digest(work / k)) == []
                                       for k in runs}
    n = runs["local_w1"]["pairs"]
    report["ray_overhead_per_pair_s"] = round(
        (runs["ray_1cpu"]["timings_s"]["pairs_s"] - runs["local_w1"]["timings_s"]["pairs_s"])
        / n, 3)
    report["speedup_2_over_1"] = {
        "local": round(runs["local_w1"]["wall_s"] / runs["local_w2"]["wall_s"], 2),
        "ray": round(runs["ray_1cpu"]["wall_s"] / runs["ray_2cpu"]["wall_s"], 2)}
    # warm-cache build: pairing = windows + evidence (features, motion from the cache)
    cache = work / "cache"
    _build(data, work / "fill", ["--workers", "2", "--cache", str(cache)])
    report["warm_w1"] = _build(data, work / "warm", ["--workers", "1", "--cache", str(cache)])
    report["audio_features"] = audio_rate(data)
    print(json.dumps(report, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
