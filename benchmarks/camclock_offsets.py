"""Camera clock offsets estimated from motion energy, on sessions DERIVED from real motion.

    python benchmarks/camclock_offsets.py [DATA_DIR] [--work DIR] [--json FILE]

For each playlist (two real tang2018 tracks, librosa-default NPZ) and each snapshot rate,
tests/derived_capture.make_capture samples one session from the real motion for four
virtual cameras (yaw 0/90/180/270 degrees: cam2 is cam0's mirror view, cam1/cam3 are
perpendicular to it). Each camera's times are then shifted by a known amount against cam0
and :func:`motionpair.sources.motionmix.camclock.estimate_offset` estimates it back.
Printed and written as
JSON: the estimate's error (ms), Pearson r, peak ratio, whether it is confident, and the
time per estimate; and a negative control per camera (cam0 during one track's dance against
the camera during the other track's, a different dance). The 1 Hz rows show why sparse
sessions are reported as "cannot be checked" (motionpair does not estimate below
camclock.DENSE_MIN_HZ).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

PLAYLISTS = {"R2+W8": ("DANCE_R_2", "DANCE_W_8"), "C2+R3": ("DANCE_C_2", "DANCE_R_3")}
RATES_HZ = (1.0, 10.0, 30.0)
SHIFTS_S = (0.0, 0.4, 1.2, -0.7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared/data/tang2018"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from derived_capture import make_capture
    from motionpair.sources.motionmix.camclock import estimate_offset
    from motionpair.sources.motionmix.session import read_session

    work = Path(args.work or tempfile.mkdtemp(prefix="camclock-bench-"))
    out: dict = {"loadavg_at_start": os.getloadavg(), "cores": os.cpu_count(),
                 "note": "sessions DERIVED from tang2018 motion; not real MotionMix captures",
                 "rows": [], "controls": []}
    for name, tracks in PLAYLISTS.items():
        for rate in RATES_HZ:
            root = work / f"{name}-{rate:g}hz"
            # jitter below half an interval keeps each camera's timestamps increasing
            truth = make_capture(Path(args.data), root, npz={}, sessions=tracks,
                                 rate_hz=rate, jitter_s=min(0.15, 0.12 / rate), tail_s=3.0)
            s, _ = read_session(next((truth.root / "sessions").iterdir()))
            assert s is not None
            ref = s.streams["cam0"]
            for cam in ("cam1", "cam2", "cam3"):
                st = s.streams[cam]
                for shift in SHIFTS_S:
                    t0 = time.perf_counter()
                    try:
                        est = estimate_offset(ref.times_s, ref.joints, st.times_s + shift,
                                              st.joints)
                    except ValueError as exc:
                        row = {"error": str(exc)}
                    else:
                        row = {"estimate_s": round(est.offset_s, 4),
                               "error_ms": round((est.offset_s + shift) * 1000, 1),
                               "r": round(est.correlation, 3),
                               "peak_ratio": None if est.peak_ratio is None
                               else round(est.peak_ratio, 2),
                               "confident": est.confident}
                    row = {"playlist": name, "rate_hz": rate, "camera": cam,
                           "view": "mirror" if cam == "cam2" else "perpendicular",
                           "shift_s": shift, **row,
                           "ms": round((time.perf_counter() - t0) * 1000, 1)}
                    out["rows"].append(row)
                    print(json.dumps(row))
                # negative control: cam0 during track 0 against this camera during track 1
                # (a different dance) moved onto the same times: should not be confident
                end0 = truth.starts_s[1]
                ka, kb = ref.times_s < end0, st.times_s >= end0
                try:
                    est = estimate_offset(ref.times_s[ka], ref.joints[ka],
                                          st.times_s[kb] - end0, st.joints[kb])
                    neg = {"estimate_s": round(est.offset_s, 4), "r": round(est.correlation, 3),
                           "peak_ratio": None if est.peak_ratio is None
                           else round(est.peak_ratio, 2), "confident": est.confident}
                except ValueError as exc:
                    neg = {"error": str(exc)}
                row = {"playlist": name, "rate_hz": rate, "camera": cam,
                       "control": "different dances", **neg}
                out["controls"].append(row)
                print(json.dumps(row))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
