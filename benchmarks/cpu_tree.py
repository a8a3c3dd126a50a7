"""Wall time and CPU seconds (user + sys) of a command's whole process tree.

    python benchmarks/cpu_tree.py -- motionpair build DATA --out X --no-cache --workers 2

``/usr/bin/time`` misses the build's workers: they are children of the multiprocessing
forkserver, which nobody waits for, so their CPU time never reaches the build's parent.
This script makes itself a child subreaper (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``):
orphaned descendants are re-parented to it and it waits for every one of them, so
``getrusage(RUSAGE_CHILDREN)`` counts the whole tree. On a shared machine CPU seconds are
the number to compare; wall time depends on the other load (printed with it).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def measure(cmd: list[str], *, quiet: bool = True) -> dict[str, float]:
    """Run ``cmd``; wall seconds, user/sys CPU seconds of its tree, peak RSS (MiB), rc."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:  # Linux only
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    while True:  # reap re-parented grandchildren (forkserver workers) so they are counted
        try:
            os.wait()
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"rc": rc, "wall_s": round(wall, 3),
            "user_s": round(after.ru_utime - before.ru_utime, 3),
            "sys_s": round(after.ru_stime - before.ru_stime, 3),
            "cpu_s": round(after.ru_utime - before.ru_utime
                           + after.ru_stime - before.ru_stime, 3),
            "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
            "load_avg_1min_at_start": round(load, 2)}


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        raise SystemExit(__doc__)
    res = measure(args, quiet=False)
    print(json.dumps(res), file=sys.stderr)
    raise SystemExit(res["rc"])


if __name__ == "__main__":
    main()
