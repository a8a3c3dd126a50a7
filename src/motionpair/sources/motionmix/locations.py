"""Where MotionMix keeps its artifacts by default, and what ``scan`` found there.

The root is ``$MOTIONMIX_ROOT`` when set, else ``~/Desktop/MotionMix``; below it
``audio`` (audio-prep playlists), ``sessions`` and ``training`` (LiveDirector
session folders) are read, ``output`` is only reported (motionpair never reads
or writes it unless told to).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motionpair.sources.motionmix.camclock import clock_lines

SUBDIRS = {
    "audio": ("read", "audio-prep playlists: <playlist>/ with per-track .npz (+ manifest.json)"),
    "sessions": ("read", "LiveDirector sessions: <playlist>-<UTC>/ with metadata.json + "
                         "pose snapshots"),
    "training": ("read", "LiveDirector training capture (session folders, as in sessions/)"),
    "output": ("reported only", "MotionMix outputs; never read"),
}


def default_root(env: Mapping[str, str] | None = None) -> tuple[Path, str]:
    """``(root, how it was chosen)``."""
    env = os.environ if env is None else env
    if env.get("MOTIONMIX_ROOT"):
        return Path(env["MOTIONMIX_ROOT"]).expanduser(), "$MOTIONMIX_ROOT"
    return Path.home() / "Desktop" / "MotionMix", "default (~/Desktop/MotionMix; set " \
                                                  "$MOTIONMIX_ROOT to look elsewhere)"


def locations_report(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Every default location looked at, whether it exists, and the folders to scan."""
    root, how = default_root(env)
    locs = []
    for name, (use, role) in SUBDIRS.items():
        path = root / name
        exists = path.is_dir()
        n = sum(1 for p in path.iterdir() if p.is_dir()) if exists else 0
        locs.append({"name": name, "path": str(path), "exists": exists, "use": use,
                     "role": role, "subfolders": n})
    scan_paths = [loc["path"] for loc in locs if loc["exists"] and loc["use"] == "read"]
    return {"root": str(root), "chosen_by": how, "root_exists": root.is_dir(),
            "locations": locs, "scan_paths": scan_paths}


def report_lines(rep: dict[str, Any]) -> list[str]:
    """The report as plain lines for the terminal."""
    lines = [f"MotionMix root: {rep['root']} ({rep['chosen_by']}): "
             f"{'exists' if rep['root_exists'] else 'MISSING'}"]
    for loc in rep["locations"]:
        state = f"exists, {loc['subfolders']} subfolder(s)" if loc["exists"] else "MISSING"
        lines.append(f"  {loc['path']}: {state} [{loc['use']}] {loc['role']}")
    if not rep["scan_paths"]:
        lines.append("nothing to scan: no MotionMix audio/, sessions/ or training/ folder "
                     "exists; pass folders as arguments or set $MOTIONMIX_ROOT")
    return lines


def unit_notes(units: list[dict[str, Any]]) -> list[str]:
    """Per MotionMix unit: matching counts and every file/key the readers did not understand."""
    out = []
    for u in units:
        if u.get("source") != "motionmix":
            continue
        if u.get("kind") == "session" and "snapshots_matched" in u:
            out.append(f"{u['session']}: {u['snapshots']} snapshot(s) from "
                       f"{len(u.get('cameras', {}))} camera(s); matched "
                       f"{u['snapshots_matched']} by {', '.join(u['matched_by'])}; "
                       f"{u['snapshots_out_of_track']} outside every track (not used)")
        if u.get("kind") == "playlist" and u.get("grid_fps"):
            out.append(f"{u['session']}: {u.get('tracks')} track(s) on the grid "
                       f"{' and '.join(u['grid_fps'])} fps (a build with --fps auto uses it)")
        out += clock_lines(u["session"], u.get("camera_clock"))  # camera clocks (issue 11)
        for item in u.get("not_understood", []):
            out.append(f"{u['session']}: not understood: {item}")
    return out
