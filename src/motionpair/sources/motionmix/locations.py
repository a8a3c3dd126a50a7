"""Where MotionMix keeps its artifacts by default, and what ``scan`` found there.

The places looked at, in order: ``$MOTIONMIX_ROOT`` (when set), ``~/Desktop/MotionMix``,
then ``/Volumes/*/MotionMix`` (macOS external drives, sorted by drive name; the glob's
``/Volumes`` is ``$MOTIONPAIR_VOLUMES`` when set, for tests). The first that exists is the
root; below it ``audio`` (audio-prep playlists), ``sessions`` and ``training``
(LiveDirector session folders) are read, ``output`` is only reported (motionpair never
reads or writes it unless told to). MotionMix's own hand-off documents found at the root
(or its ``docs/``) are listed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motionpair.config import BuildConfig
from motionpair.sources.motionmix.camclock import clock_lines

#: MotionMix's own documents, listed when found at the root (or in its docs/ folder).
DOCS = ("HANDOFF-AUDIO-PREP.md", "CANONICAL-STATE-CONTRACT.md", "ARCHITECTURE.md",
        "AI-PHOTOSHOOT-MOTION-MUSIC-PLAN.md")
#: Environment variable naming the folder whose ``*/MotionMix`` are external drives' roots.
VOLUMES_ENV = "MOTIONPAIR_VOLUMES"
VOLUMES = "/Volumes"

SUBDIRS = {
    "audio": ("read", "audio-prep playlists: <playlist>/ with per-track .npz (+ manifest.json)"),
    "sessions": ("read", "LiveDirector sessions: <playlist>-<UTC>/ with metadata.json + "
                         "pose snapshots"),
    "training": ("read", "LiveDirector training capture (session folders, as in sessions/)"),
    "output": ("reported only", "MotionMix outputs; never read"),
}


def candidate_roots(env: Mapping[str, str] | None = None, volumes: str | Path | None = None
                    ) -> list[dict[str, Any]]:
    """Every place a MotionMix root is looked for, in order, with whether it exists.

    ``$MOTIONMIX_ROOT`` (an entry saying "not set" when unset), ``~/Desktop/MotionMix``, then
    each ``<volumes>/*/MotionMix`` sorted (one "no match" entry when none exists).
    ``volumes``: the external drives' folder (default ``$MOTIONPAIR_VOLUMES``, else
    ``/Volumes``).
    """
    env = os.environ if env is None else env
    vol = Path(volumes if volumes is not None else env.get(VOLUMES_ENV) or VOLUMES)
    out: list[dict[str, Any]] = []
    if env.get("MOTIONMIX_ROOT"):
        out.append({"path": str(Path(env["MOTIONMIX_ROOT"]).expanduser()),
                    "how": "$MOTIONMIX_ROOT"})
    else:
        out.append({"path": None, "how": "$MOTIONMIX_ROOT", "note": "not set"})
    out.append({"path": str(Path.home() / "Desktop" / "MotionMix"), "how": "~/Desktop/MotionMix"})
    try:  # an unreadable /Volumes is "no match", never a crash
        drives = sorted(d / "MotionMix" for d in (vol.iterdir() if vol.is_dir() else ())
                        if (d / "MotionMix").is_dir())
    except OSError:
        drives = []
    how = f"external drive ({vol}/*/MotionMix)"
    out += [{"path": str(d), "how": how} for d in drives] or [
        {"path": None, "how": how, "note": "no match" if vol.is_dir() else f"{vol} MISSING"}]
    for c in out:
        c["exists"] = bool(c["path"]) and Path(c["path"]).is_dir()
    return out


def find_docs(root: Path) -> list[dict[str, str | None]]:
    """``[{"name", "path" or None}]`` for each of MotionMix's :data:`DOCS` at ``root``."""
    out: list[dict[str, str | None]] = []
    for name in DOCS:
        hit = next((p for p in (root / name, root / "docs" / name) if p.is_file()), None)
        out.append({"name": name, "path": str(hit) if hit else None})
    return out


def locations_report(env: Mapping[str, str] | None = None,
                     volumes: str | Path | None = None) -> dict[str, Any]:
    """Every place looked at, the root chosen, its MotionMix docs and the folders to scan.

    The root is the first existing place of :func:`candidate_roots`; when none exists it is
    the first named one (reported MISSING).
    """
    cands = candidate_roots(env, volumes)
    found = [c for c in cands if c["exists"]]
    chosen = found[0] if found else next(c for c in cands if c["path"])
    root = Path(chosen["path"])
    locs = []
    for name, (use, role) in SUBDIRS.items():
        path = root / name
        exists = path.is_dir()
        n = sum(1 for p in path.iterdir() if p.is_dir()) if exists else 0
        locs.append({"name": name, "path": str(path), "exists": exists, "use": use,
                     "role": role, "subfolders": n})
    scan_paths = [loc["path"] for loc in locs if loc["exists"] and loc["use"] == "read"]
    return {"root": str(root), "chosen_by": chosen["how"], "root_exists": bool(found),
            "looked_at": cands, "also_found": [c["path"] for c in found[1:]],
            "docs": find_docs(root) if found else [], "locations": locs,
            "scan_paths": scan_paths}


def _looked_at(rep: dict[str, Any]) -> str:
    return "; ".join(f"{c['how']}: " + (f"{c['path']} {'exists' if c['exists'] else 'MISSING'}"
                                        if c["path"] else c["note"]) for c in rep["looked_at"])


def report_lines(rep: dict[str, Any]) -> list[str]:
    """The report as plain lines for the terminal."""
    lines = [f"MotionMix root: {rep['root']} ({rep['chosen_by']}): "
             f"{'exists' if rep['root_exists'] else 'MISSING'}",
             f"  looked at, in order: {_looked_at(rep)}"]
    if rep["also_found"]:
        lines.append(f"  also found, not scanned (pass it as FOLDER): "
                     f"{', '.join(rep['also_found'])}")
    if rep["root_exists"]:
        have = [d["path"] for d in rep["docs"] if d["path"]]
        lack = [d["name"] for d in rep["docs"] if not d["path"]]
        lines.append(f"  MotionMix docs: {', '.join(have) or 'none'}"
                     + (f"; not found: {', '.join(lack)}" if lack else ""))
    for loc in rep["locations"]:
        state = f"exists, {loc['subfolders']} subfolder(s)" if loc["exists"] else "MISSING"
        lines.append(f"  {loc['path']}: {state} [{loc['use']}] {loc['role']}")
    if not rep["root_exists"]:
        lines.append(f"nothing to scan: no MotionMix folder found; looked at {_looked_at(rep)};"
                     " pass folders as arguments or set $MOTIONMIX_ROOT")
    elif not rep["scan_paths"]:
        lines.append(f"nothing to scan: {rep['root']} has no audio/, sessions/ or training/ "
                     f"folder; looked at {_looked_at(rep)}; pass folders as arguments or set "
                     "$MOTIONMIX_ROOT")
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
                       f"{u['snapshots_out_of_track']} outside every track (not used); "
                       f"danced song time {u.get('song_span_s', 0.0):.1f} s")
        if u.get("kind") == "session" and u.get("track_list_from"):
            out.append(f"{u['session']}: mix {u.get('playlist')!r}: {len(u['mix_tracks'])} "
                       f"track(s) from {u['track_list_from']}: {', '.join(u['mix_tracks'])}")
        if u.get("kind") == "session" and u.get("one_snapshot"):
            one = u["one_snapshot"]
            before, after = BuildConfig().context_s
            fits = before <= one["track_s"] <= one["track_duration_s"] - after
            out.append(f"{u['session']}: 1 matched snapshot, at {one['track_s']:.2f} s of "
                       f"track {one['track']} ({one['track_duration_s']:.2f} s): a default "
                       f"build (snapshot rows, context {before:g} s before, {after:g} s after) "
                       + ("pairs it as one row" if fits else
                          "cuts no row from it (its context reaches outside the track)")
                       + "; --pairing sequence needs >= 2 snapshots per track")
        if u.get("kind") == "playlist" and u.get("grid_fps"):
            out.append(f"{u['session']}: {u.get('tracks')} track(s) on the grid "
                       f"{' and '.join(u['grid_fps'])} fps (a build with --fps auto uses it)")
        out += clock_lines(u["session"], u.get("camera_clock"))  # camera clocks (issue 11)
        for item in u.get("not_understood", []):
            out.append(f"{u['session']}: not understood: {item}")
    return out
