"""Build the four reference datasets used for byte-identical comparisons of a refactor.

    python scripts/byte_identical.py inputs WORK [DATA_DIR]
    python scripts/byte_identical.py builds WORK SRC_DIR NAME

``inputs`` writes, once, the DERIVED MotionMix captures (tests/derived_capture.py: real
tang2018 MP3s through prep-audio, sessions sampled from real tang2018 motion) under
WORK/inputs. ``builds`` runs ``motionpair build --no-cache --workers 2`` with
``PYTHONPATH=SRC_DIR`` (the tree under test) into WORK/NAME/<case>; compare two NAMEs with
``scripts/compare_builds.py``. Used for the tables in docs/architecture.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def cases(work: Path, data: Path) -> dict[str, list[str]]:
    mm = work / "inputs"
    return {
        "tang2018": [str(data)],
        "tang2018_beatwise": [str(data), "--clock", "beatwise", "--window-beats", "4"],
        "mm_snapshot": [str(mm / "snap" / "capture")],
        "mm_sequence": [str(mm / "seq" / "capture"), "--pairing", "sequence"],
    }


def main(argv: list[str]) -> int:
    work = Path(argv[1])
    if argv[0] == "inputs":
        from derived_capture import make_capture
        data = Path(argv[2]) if len(argv) > 2 else REPO.parent / "shared/data/tang2018"
        make_capture(data, work / "inputs" / "snap")
        make_capture(data, work / "inputs" / "seq", sessions=("DANCE_W_8",), cameras=("cam0",),
                     rate_hz=30.0, jitter_s=0.0)
        return 0
    src, name = Path(argv[2]).resolve(), argv[3]
    data = REPO.parent / "shared/data/tang2018"
    env = {**os.environ, "PYTHONPATH": str(src)}
    for case, args in cases(work, data).items():
        out = work / name / case
        subprocess.run([sys.executable, "-m", "motionpair", "--quiet", "build", *args,
                        "--out", str(out), "--no-cache", "--workers", "2"], check=True, env=env)
        print(f"{case}: {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
