"""Cold multi-worker builds, repeated: does a build on an empty numba cache ever crash?

    python benchmarks/cold_workers.py [DATA_DIR] [--tries N] [--workers N] [--src DIR]
                                      [--work DIR] [--json FILE]

Each try points ``NUMBA_CACHE_DIR`` at a new empty folder (librosa's jitted functions are
compiled from scratch, as on first use in a fresh venv), builds three short real tang2018
folders (``tests/realsubset.py``) with ``motionpair build --workers N --no-cache`` in a
subprocess, and then runs the one-liner from issue 10 (``librosa.estimate_tuning`` on 5 s of
noise) against the same cache, to see whether a crash left the cache corrupt for later runs.
A try counts as a crash when the build exits non-zero or its stderr mentions a dead worker
(``BrokenProcessPool``, "worker process"); "corrupt after" counts the one-liners that failed.

``--src`` runs another checkout's ``src`` (e.g. the code before the numba warm-up) to compare.
DATA_DIR defaults to ../shared/data/tang2018. On a shared machine, report the load average
printed with the results next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

ONE_LINER = ("import numpy as np, librosa; librosa.estimate_tuning("
             "y=np.random.default_rng(0).standard_normal(110250).astype('float32'), sr=22050)")


def one_try(data: Path, work: Path, *, workers: int, src: Path) -> dict:
    numba_dir = work / "numba"
    out = work / "out"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_dir), "PYTHONPATH": str(src),
           "MOTIONPAIR_CACHE": str(work / "mpcache")}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "motionpair", "build",
                          str(data), "--out", str(out), "--workers", str(workers),
                          "--no-cache"], capture_output=True, text=True, env=env, timeout=1800)
    wall_s = time.perf_counter() - t0
    dead = any(s in res.stderr for s in ("BrokenProcessPool", "worker process",
                                         "Fatal Python error", "Segmentation fault"))
    after = subprocess.run([sys.executable, "-X", "faulthandler", "-c", ONE_LINER],
                           capture_output=True, text=True, env=env, timeout=900)
    return {"rc": res.returncode, "crash": res.returncode != 0 or dead, "wall_s": round(wall_s, 1),
            "corrupt_after": after.returncode != 0, "after_rc": after.returncode,
            "after_stderr_tail": after.stderr.strip().splitlines()[-6:],
            "stderr_tail": res.stderr.strip().splitlines()[-3:] if res.returncode else []}


def main() -> None:
    from realsubset import real_subset

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", type=Path,
                    default=REPO.parent / "shared" / "data" / "tang2018")
    ap.add_argument("--tries", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--src", type=Path, default=REPO / "src", help="motionpair source folder")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="motionpair-cold-"))
    data = real_subset(a.data, work / "data", writable=False)
    tries = []
    for i in range(a.tries):
        t = work / f"try{i}"
        t.mkdir()
        r = one_try(data, t, workers=a.workers, src=a.src.resolve())
        tries.append(r)
        print(f"try {i + 1}/{a.tries}: rc {r['rc']} crash {r['crash']} "
              f"corrupt-after {r['corrupt_after']} {r['wall_s']} s", flush=True)
        shutil.rmtree(t, ignore_errors=True)
    summary = {"src": str(a.src.resolve()), "workers": a.workers, "tries": len(tries),
               "crashes": sum(r["crash"] for r in tries),
               "corrupt_after": sum(r["corrupt_after"] for r in tries),
               "load_avg_at_end": os.getloadavg(), "cores": os.cpu_count(), "runs": tries}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    (a.json or work / "cold_workers.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
