"""Per-pair cost (issue 22 item 6): cold builds of two source trees, CPU seconds and wall time,
and the EDGE-style per-slice baseline on the same pairs' danced spans.

    python benchmarks/pair_cost.py [DATA_DIR] [--ref main] [--repeat 2] [--workers 2]
                                   [--edge] [--work DIR] [--json FILE]

- Cold builds: ``motionpair build DATA --no-cache --workers N`` as a subprocess, once per
  tree per repeat, the trees alternating (so both see the same machine load). The trees:
  this checkout's ``src`` and, with ``--ref``, that git ref's ``src`` (``git archive``).
  Each build is measured by :mod:`cpu_tree` (wall, user + sys CPU seconds of the whole
  process tree: workers, forkserver, picture processes), with its build.json phase timings.
  The outputs of the two trees are compared file by file (sha256, build.json left out).
- ``--edge``: EDGE's slicing applied to the danced span of every pair (song time S/25 ..
  E/25 s: 5 s slices every 0.5 s, every slice's features computed from scratch and written
  as one file; :func:`edge_baseline.slice_span`), in one process, after the builds.

On a shared machine the CPU seconds are the comparable number; the wall times carry the
load average printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import cpu_tree  # noqa: E402  (sibling scripts, not a package)
import edge_baseline  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "tang2018"


def tree_of(ref: str, work: Path) -> Path:
    """``src`` of git ``ref`` unpacked under ``work`` (read-only use)."""
    dst = work / f"src-{ref.replace('/', '_')}"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    return dst / "src"


def cold_build(src: Path, data: Path, out: Path, workers: int) -> dict:
    """One cold build with ``src`` on PYTHONPATH: cpu_tree's numbers + build.json timings."""
    shutil.rmtree(out, ignore_errors=True)
    env_py = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)
    try:
        res = cpu_tree.measure([sys.executable, "-m", "motionpair", "-q", "build", str(data),
                                "--out", str(out), "--no-cache", "--workers", str(workers)])
    finally:
        if env_py is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_py
    if res["rc"] != 0:
        raise SystemExit(f"build with {src} failed (exit {res['rc']})")
    res["timings_s"] = json.loads((out / "build.json").read_text())["timings_s"]
    return res


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "build.json"}


def danced_spans(data: Path) -> list[tuple[Path, float, float]]:
    """``(audio, start_s, end_s)`` of every complete pair: song time S/25 .. E/25."""
    from motionpair.build.scan import scan

    return [(Path(p.track.path), p.params["start_frame"] / 25, p.params["end_frame"] / 25)
            for p in scan([data]).pairs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    ap.add_argument("--ref", default=None, help="git ref to compare with (e.g. main)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--edge", action="store_true", help="also time the EDGE-style baseline")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "motionpair-paircost"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data, work = Path(args.data).resolve(), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    trees = {"this": REPO / "src"}
    if args.ref:
        trees[args.ref] = tree_of(args.ref, work)
    res: dict = {"machine": {"cores": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
                 "data": str(data), "workers": args.workers, "builds": {k: [] for k in trees}}
    for i in range(args.repeat):
        for name, src in trees.items():
            r = cold_build(src, data, work / f"ds-{name}", args.workers)
            res["builds"][name].append(r)
            print(f"{name} #{i + 1}: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s "
                  f"(user {r['user_s']:.1f} + sys {r['sys_s']:.1f}), phases "
                  f"{r['timings_s']}, load {r['load_avg_1min_at_start']}", flush=True)
    res["summary"] = {name: {"min_wall_s": min(r["wall_s"] for r in runs),
                             "min_cpu_s": min(r["cpu_s"] for r in runs)}
                      for name, runs in res["builds"].items()}
    if args.ref:
        a, b = digests(work / f"ds-{args.ref}"), digests(work / "ds-this")
        res["files_differing"] = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
        print(f"outputs: {len(set(a) | set(b)) - len(res['files_differing'])} files "
              f"identical, differing: {res['files_differing']}")
    if args.edge:
        spans = danced_spans(data)
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        per = [edge_baseline.slice_span(a, s, e, work / "edge" / a.parent.name)
               for a, s, e in spans]
        res["edge"] = {"pairs": len(per), "danced_s": sum(p["audio_s"] for p in per),
                       "slices": sum(p["slices"] for p in per),
                       "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                       "load_avg_1min_at_start": load}
        shutil.rmtree(work / "edge", ignore_errors=True)
        this = res["summary"]["this"]
        res["edge"]["wall_ratio_vs_this"] = res["edge"]["wall_s"] / this["min_wall_s"]
        print(f"EDGE-style baseline on {len(per)} danced spans "
              f"({res['edge']['danced_s']:.0f} s, {res['edge']['slices']} slices): wall "
              f"{res['edge']['wall_s']:.1f} s, CPU {res['edge']['cpu_s']:.1f} s -> "
              f"{res['edge']['wall_ratio_vs_this']:.1f}x this tree's cold build wall time")
    out = Path(args.json) if args.json else work / "pair_cost.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
