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

CPU seconds are user+sys of this process's children, the cluster's processes included (read
from /proc before and after each run). On a shared machine, quote the load averages printed
with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _descendants_cpu_s() -> float:
    """user+sys seconds of every live descendant of this process, plus reaped children."""
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
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(cpu[p] for p in mine) + ru.ru_utime + ru.ru_stime


def _run(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    c0, t0 = _descendants_cpu_s(), time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "motionpair", *args], capture_output=True,
                         text=True, env=env, timeout=3600)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"failed: motionpair {' '.join(args)}\n{res.stderr[-3000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(_descendants_cpu_s() - c0, 2),
            "load_avg_after": round(os.getloadavg()[0], 2), "stdout": res.stdout,
            "stderr": res.stderr}


def _build(data: Path, out: Path, extra: list[str]) -> dict:
    r = _run(["build", str(data), "--out", str(out), *extra])
    facts = json.loads((out / "build.json").read_text())
    return {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "load_avg_after": r["load_avg_after"],
            "timings_s": facts["timings_s"], "pairs": facts["cache"]["pairs"]}


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared/data/tang2018"))
    ap.add_argument("--video", default=str(REPO.parent / "shared/data/video/dancer.avi"))
    ap.add_argument("--rate-hz", default="5")
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-capture", action="store_true")
    a = ap.parse_args()
    from digests import diff, tree_digest
    from raycluster import local_cluster

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
