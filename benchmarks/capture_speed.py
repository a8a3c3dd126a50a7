"""Pose estimator speed on this machine (frames/s), on real frames of video/dancer.avi.

Decodes N frames first (not timed), then times MediaPipe pose on them alone, so the
number is the estimator's, not PyAV's. Needs the [capture] extra. Usage:

    python benchmarks/capture_speed.py [../shared/data/video/dancer.avi] [N=200]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main() -> None:
    from motionpair.capture import pose, video

    path = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/video/dancer.avi")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    step = 1571 // n or 1
    t0 = time.perf_counter()
    imgs = [f.image for f in video.frames(path, want_image=lambda i, t: i % step == 0)
            if f.image is not None][:n]
    decode_s = time.perf_counter() - t0
    with pose.Estimator() as est:
        est.estimate(imgs[0])  # graph warm-up, not timed
        t0 = time.perf_counter()
        found = sum(est.estimate(im) is not None for im in imgs)
        dt = time.perf_counter() - t0
    info = pose.estimator_info()
    print(f"{path.name}: {len(imgs)} frames {imgs[0].shape[1]}x{imgs[0].shape[0]}, "
          f"{found} with a detection; {info['package']} {info['version']} {info['model']}: "
          f"{len(imgs) / dt:.1f} frames/s ({1000 * dt / len(imgs):.1f} ms/frame) on "
          f"{os.cpu_count()} CPU(s), load avg {os.getloadavg()[0]:.1f}; decode+RGB "
          f"{decode_s:.1f} s for the whole file")


if __name__ == "__main__":
    main()
