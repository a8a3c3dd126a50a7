"""Root pytest configuration: doctests in ``src/`` run with the tests.

Modules that need an optional extra (torch, the model's export tools, the pose estimator)
are left out of doctest collection when that extra is not installed, so a core-only
install still collects cleanly; their tests skip with the missing package named.
"""

from __future__ import annotations

import importlib.util

_OPTIONAL = {
    "torch": ["src/motionpair/torch.py", "src/motionpair/consumers/loader.py",
              "src/motionpair/consumers/smoke.py", "src/motionpair/model/*",
              "src/motionpair/model/**/*"],
    "mediapipe": ["src/motionpair/capture/*", "src/motionpair/capture/**/*"],
    "ray": ["src/motionpair/engines/ray_engine.py"],
}

collect_ignore_glob = [
    pattern
    for package, patterns in _OPTIONAL.items()
    if importlib.util.find_spec(package) is None
    for pattern in patterns
]
