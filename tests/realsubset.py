"""A few real tang2018 folders placed in a temp tree, for tests that build or change them."""

from __future__ import annotations

import shutil
from pathlib import Path

#: The three shortest complete real folders (waltz; 90, 173 and 187 s of audio).
SHORT_SESSIONS = ("DANCE_W_4", "DANCE_W_7", "DANCE_W_8")


def real_subset(tang_dir: Path, dest: Path, *, writable: bool,
                sessions: tuple[str, ...] = SHORT_SESSIONS) -> Path:
    """``dest`` holding ``sessions`` of the real data; returns ``dest``.

    ``writable=False`` symlinks every file (cheap; the shared data stays read-only);
    ``writable=True`` copies the files with mode 0644, so a test may change its copy.
    """
    for s in sessions:
        (dest / s).mkdir(parents=True)
        for f in sorted((tang_dir / s).iterdir()):
            if writable:
                shutil.copyfile(f, dest / s / f.name)
                (dest / s / f.name).chmod(0o644)
            else:
                (dest / s / f.name).symlink_to(f)
    return dest
