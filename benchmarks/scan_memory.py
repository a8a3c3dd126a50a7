"""Peak memory of ``motionpair scan`` on huge snapshot sessions (issue 21, item 3).

    python benchmarks/scan_memory.py [DATA_DIR] [--work DIR] [--sizes 100000,280000,1000000]

Makes the derived MotionMix capture of tests/derived_capture.py (three real tang2018 MP3s
through prep-audio, one ~1 Hz 4-camera session whose 2-D poses are projections of the real
tang2018 motion), then writes, under WORK (default a temp folder; each is deleted after its
run), one session per size whose ``snapshots.jsonl`` holds that many snapshots: the real
derived snapshots repeated in order, re-timed evenly over the session's span (microsecond
timestamps, per camera strictly increasing). ``motionpair scan`` runs on each as a
subprocess; its peak RSS comes from ``wait4``. Prints and writes JSON with size, file MiB,
the scan's verdict for the session, peak RSS MiB, wall and CPU seconds, and the load average.

Sessions over ``MAX_SESSION_SNAPSHOT_BYTES`` are refused before any snapshot is read; below
it, snapshots are streamed line by line and packed per camera into arrays.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))


def _scan(root: Path, env: dict) -> dict:
    """``motionpair scan ROOT --json -`` in a child; its own peak RSS from ``wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "motionpair", "scan", str(root),
                                 "--json", "-"], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return {"rc": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 1),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def _big_session(src: Path, dst: Path, n: int) -> float:
    """``dst``: a copy of session ``src`` whose snapshots.jsonl holds ``n`` snapshots."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("snapshots.jsonl"))
    lines = (src / "snapshots.jsonl").read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    start = datetime.fromisoformat(recs[0]["t"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(recs[-1]["t"].replace("Z", "+00:00"))
    span_us = (end - start) / timedelta(microseconds=1)
    cams = sorted({r["camera"] for r in recs})
    with (dst / "snapshots.jsonl").open("w") as f:
        for i in range(n):
            r = dict(recs[i % len(recs)])
            r["camera"] = cams[i % len(cams)]
            r["t"] = (start + timedelta(microseconds=int(i * span_us / n))).astimezone(
                UTC).isoformat().replace("+00:00", "Z")
            f.write(json.dumps(r) + "\n")
    return (dst / "snapshots.jsonl").stat().st_size / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--sizes", default="100000,280000,1000000")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="mp-scanmem-"))
    load = os.getloadavg()
    base = work / "base"
    if not (base / "capture").is_dir():  # in a child: this process stays small, and a
        # forked scan inherits (and reports) this process's peak RSS otherwise
        subprocess.run([sys.executable, "-c", "import sys; sys.path[:0] = sys.argv[1:3]; "
                        "from pathlib import Path; from derived_capture import make_capture; "
                        "make_capture(Path(sys.argv[3]), Path(sys.argv[4]))",
                        str(REPO / "tests"), str(REPO / "src"),
                        str(Path(a.data) / "tang2018"), str(base)], check=True)
    (sess,) = sorted((base / "capture" / "sessions").iterdir())
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    results = []
    for n in [int(x) for x in a.sizes.split(",")]:
        root = work / f"n{n}"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(base / "capture" / "audio", root / "audio")
        mib = _big_session(sess, root / "sessions" / sess.name, n)
        r = _scan(root, env)
        try:
            doc = json.loads(r["stdout"])
            verdict = _verdict(doc)
        except ValueError:
            verdict = r["stderr"].strip().splitlines()[-1:] or ["?"]
        row = {"snapshots": n, "file_mib": round(mib, 1), "verdict": verdict,
               **{k: r[k] for k in ("rc", "peak_rss_mib", "wall_s", "cpu_s")}}
        print(json.dumps(row), flush=True)
        results.append(row)
        shutil.rmtree(root, ignore_errors=True)
    out = {"loadavg_at_start": [round(x, 2) for x in load], "cpu_count": os.cpu_count(),
           "runs": results}
    print(json.dumps(out, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


def _verdict(doc: dict) -> str:
    """Paired snapshots, or the problem the session got."""
    probs = [p.get("reason", "") for p in doc.get("problems", [])]
    big = [p for p in probs if "MiB" in p and "limit" in p]
    if big:
        return "refused up front: " + big[0].split(": ", 1)[-1][:120]
    pairs = doc.get("pairs", [])
    return f"{len(pairs)} pair(s), {len(probs)} problem(s)"


if __name__ == "__main__":
    main()
