"""MotionMix path timings on a capture DERIVED from the real tang2018 data.

    python benchmarks/motionmix_derived.py [DATA_DIR] [--work DIR] [--json FILE]

Builds the derived capture of tests/derived_capture.py (3 real MP3s through prep-audio,
one ~1 Hz 4-camera session) under WORK (default a temp folder), then times ``motionpair
scan`` and ``motionpair build`` in snapshot, sequence and fused/time-block modes as
subprocesses (what a user runs), each with a fresh cache. Prints and writes JSON with the
counts (snapshots matched / out of track, rows per mode) and wall times, plus the load
average at start: on a shared machine, say so next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

MODES = {
    "snapshot": ["--pairing", "snapshot"],
    "sequence": ["--pairing", "sequence"],
    "fused_time_block": ["--cameras", "fused", "--split-by", "time-block"],
}


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return round(time.perf_counter() - t0, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared/data/tang2018"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from derived_capture import make_capture

    work = Path(args.work or tempfile.mkdtemp(prefix="mm-bench-"))
    out: dict = {"loadavg_at_start": os.getloadavg(), "cores": os.cpu_count(),
                 "note": "DERIVED capture from tang2018; not a real MotionMix capture"}
    t0 = time.perf_counter()
    truth = make_capture(Path(args.data), work / "derived")
    out["prep_and_derive_s"] = round(time.perf_counter() - t0, 3)
    out["snapshots"] = len(truth.snapshots)
    out["in_track_truth"] = sum(s["track"] >= 0 for s in truth.snapshots)
    inv_json = work / "inventory.json"
    out["scan_s"] = _timed(["motionpair", "scan", str(truth.root), "--json", str(inv_json)])
    unit = next(u for u in json.loads(inv_json.read_text())["units"]
                if u.get("kind") == "session")
    out["matched"] = unit["snapshots_matched"]
    out["out_of_track"] = unit["snapshots_out_of_track"]
    for name, extra in MODES.items():
        dest = work / f"out-{name}"
        wall = _timed(["motionpair", "build", str(truth.root), "--out", str(dest),
                       "--cache", str(work / f"cache-{name}"), *extra])
        ds = json.loads((dest / "dataset.json").read_text())
        out[name] = {"wall_s": wall, "pairs": ds["counts"]["pairs"],
                     "rows": ds["counts"]["windows"], "by_split": ds["counts"]["windows_by_split"],
                     "dropped": ds["counts"]["dropped_by_reason"]}
    text = json.dumps(out, indent=2)
    print(text)
    Path(args.json or work / "motionmix_bench.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
