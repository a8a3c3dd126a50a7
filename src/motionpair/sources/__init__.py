"""Input discovery: each module here turns one input format into canonical types.

``scan(paths)`` asks every source for the units it recognises below each path
and returns an :class:`Inventory` of pairs, problems and per-unit facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motionpair import grid
from motionpair.safeio import guard
from motionpair.sources import motionmix, tang2018
from motionpair.sources.common import refused_pickles
from motionpair.splits import find_duplicates
from motionpair.types import PairSpec, Problem

if TYPE_CHECKING:
    from motionpair.cache import Cache

#: What each source looks for, for "nothing found" messages.
LOOKS_FOR = {
    tang2018.NAME: "DANCE_<style>_<n>/ folders with audio.mp3, skeletons.json, config.json",
    motionmix.NAME: motionmix.LOOKS_FOR,
}


MODULES = {tang2018.NAME: tang2018, motionmix.NAME: motionmix}


def module_for(source: str):
    """The reader module of ``source``; ``KeyError`` names the unknown source."""
    try:
        return MODULES[source]
    except KeyError:
        raise KeyError(f"no reader for source {source!r}; known: {sorted(MODULES)}") from None


@dataclass
class Inventory:
    roots: list[str]
    pairs: list[PairSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    #: recordings (audio + motion bytes) found under several sessions (splits.find_duplicates)
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        n_ok = len(self.pairs)
        sources = sorted({u["source"] for u in self.units})
        return {
            "roots": self.roots,
            "looked_for": LOOKS_FOR,
            "sources": [{"source": s, "units": sum(u["source"] == s for u in self.units)}
                        for s in sources],
            "pairs": [{"pair_id": p.pair_id, "session": p.session, "source": p.source,
                       "track": p.track.track_id, "style": p.style,
                       "inputs": [i.to_dict() for i in p.inputs]} for p in self.pairs],
            "units": self.units,
            "problems": [p.to_dict() for p in self.problems],
            "duplicates": self.duplicates,
            "totals": {
                "units": len(self.units),
                "paired": n_ok,
                "incomplete": sum(p.kind == "incomplete" for p in self.problems),
                "bad": sum(p.kind == "bad" for p in self.problems),
                "refused": sum(p.kind == "refused" for p in self.problems),
                "audio_s": round(sum(u.get("audio_duration_s", 0.0) for u in self.units), 3),
                "song_span_s": round(sum(u.get("song_span_s", 0.0) for u in self.units
                                         if u.get("paired")), 3),
            },
        }


def scan(paths: Sequence[str | Path], *, cache: Cache | None = None) -> Inventory:
    """Discover inputs under ``paths``; never raises for bad input, lists it instead.

    ``cache`` (a :class:`motionpair.cache.Cache`) memoises content validation by sha256.
    """
    roots = [str(p) for p in paths]
    inv = Inventory(roots=[Path(p).name or str(p) for p in roots])
    seen: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            inv.problems.append(Problem(path=str(raw), kind="incomplete",
                                        reason=f"{raw}: path does not exist"))
            continue
        inv.problems += [Problem(path=str(f), kind="refused", reason=why)
                         for f, why in refused_pickles(path)]
        units = tang2018.find_units(path)
        if not units and not any(motionmix.find_folders(path)):
            inv.problems.append(Problem(
                path=str(raw), kind="incomplete",
                reason=f"{raw}: no recognised input; looked for " + "; ".join(
                    f"{k}: {v}" for k, v in LOOKS_FOR.items())))
        for root, folder in units:
            # scan_folder guards each file; this guard catches what falls between them
            done, why = guard(folder, tang2018.scan_folder, root, folder, cache=cache)
            if done is None:
                inv.problems.append(Problem(path=str(folder), source=tang2018.NAME,
                                            session=folder.name, kind="bad", reason=str(why)))
                inv.units.append({"source": tang2018.NAME, "session": folder.name,
                                  "folder": f"{root.name}/{folder.name}", "paired": False})
                continue
            spec, problems, facts = done
            facts = {"source": tang2018.NAME, **facts, "paired": spec is not None}
            if spec is not None and spec.pair_id in seen:
                problems = [Problem(path=facts["folder"], source=spec.source,
                                    session=spec.session, kind="bad",
                                    reason=f"{folder}: duplicate session id {spec.pair_id!r} "
                                           f"(first seen at {seen[spec.pair_id]})")]
                facts["paired"], spec = False, None
            if spec is not None:
                seen[spec.pair_id] = str(folder)
                inv.pairs.append(spec)
            inv.problems.extend(problems)
            inv.units.append(facts)
    mm_pairs, mm_problems, mm_units = motionmix.scan_paths([Path(p) for p in paths])
    inv.pairs += mm_pairs
    inv.problems += mm_problems
    inv.units += mm_units
    inv.pairs.sort(key=lambda p: p.pair_id)
    # the grid check of a default build (--fps auto), so scan reports what build would refuse
    inv.problems += grid.scan_problems(inv.pairs)
    inv.duplicates = find_duplicates(inv.pairs)
    inv.problems = [_names_its_file(p) for p in inv.problems]
    return inv


def _names_its_file(p: Problem) -> Problem:
    """``p`` with its path put in front of a reason that does not name it (a library's own
    message, e.g. Python's "Exceeds the limit (4300 digits) ..."): every reason names its file.
    """
    name = Path(p.path).name
    if not p.path or p.path in p.reason or (name and name in p.reason):
        return p
    return Problem(path=p.path, reason=f"{p.path}: {p.reason}", source=p.source,
                   session=p.session, kind=p.kind)


def duplicate_lines(duplicates: list[dict[str, Any]]) -> list[str]:
    """One line per duplicated recording, for ``scan`` and ``build`` output."""
    return [f"{' and '.join(d['sessions'])}: the same recording (byte-identical audio and "
            f"motion files, sha256 {d['sha256'][:12]}) under {len(d['sessions'])} session ids; "
            "both are paired and kept in one split" for d in duplicates]
