"""Input discovery: ``scan(paths)`` asks every source for the units it recognises below each path
and returns an :class:`Inventory` of pairs, problems and per-unit facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motionpair.build import grid
from motionpair.build.splits import find_duplicates
from motionpair.features.audio import MIN_DECODED_SHARE, decodable_s, truncation_facts
from motionpair.sources.base import Source, source_of, sources
from motionpair.sources.common import refused_pickles
from motionpair.types import PairSpec, Problem

if TYPE_CHECKING:
    from motionpair.cache import Cache

__all__ = ["Inventory", "Source", "duplicate_lines", "looks_for", "module_for", "scan",
           "source_of", "sources"]


def looks_for() -> dict[str, str]:
    """What each registered source looks for, for "nothing found" messages."""
    return {name: src.LOOKS_FOR for name, src in sources().items()}


def module_for(source: str) -> Source:
    """The source named ``source``; ``KeyError`` names the unknown source."""
    return source_of(source)


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
            "looked_for": looks_for(),
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
        if not any(src.found(path) for src in sources().values()):
            inv.problems.append(Problem(
                path=str(raw), kind="incomplete",
                reason=f"{raw}: no recognised input; looked for " + "; ".join(
                    f"{k}: {v}" for k, v in looks_for().items())))
    for src in sources().values():  # each source reads every path (MotionMix pairs across them)
        pairs, problems, units = src.scan([Path(p) for p in paths], cache=cache)
        for spec in pairs:
            if spec.pair_id in seen:  # pair ids start with the source name: a bug, not input
                raise ValueError(f"{spec.pair_id}: pair id reused (first: {seen[spec.pair_id]})")
            seen[spec.pair_id] = src.NAME
        inv.pairs += pairs
        inv.problems += problems
        inv.units += units
    inv.pairs.sort(key=lambda p: p.pair_id)
    inv.pairs, cut = audio_verdicts(inv.pairs)
    inv.problems += cut
    _mark_units(inv, {(p.source, p.session) for p in cut})
    # the grid check of a default build (--fps auto), so scan reports what build would refuse
    inv.problems += grid.scan_problems(inv.pairs)
    inv.duplicates = find_duplicates(inv.pairs)
    inv.problems = [_names_its_file(p) for p in inv.problems]
    return inv


def audio_verdicts(pairs: list[PairSpec]) -> tuple[list[PairSpec], list[Problem]]:
    """Keep, rewrite or refuse each pair by how much of its audio file decodes.

    A file decoding to at least :data:`MIN_DECODED_SHARE` of its header is kept as is. A
    shorter one (a cut tail) is kept when its source names the danced span on the track
    clock (``Source.danced_span_s``, optional) and that span ends inside what decodes: its
    track then says ``duration_s`` = what decodes, ``declared_s`` = the header's, and every
    row carries :data:`motionpair.features.audio.TRUNCATED`. Otherwise it is a ``bad``
    problem naming the file. Scan and build share this one verdict (build scans first).
    """
    kept: list[PairSpec] = []
    problems: list[Problem] = []
    for spec in pairs:
        t = spec.track
        if t.kind != "audio" or not t.duration_s or t.declared_s is not None:
            kept.append(spec)
            continue
        try:
            decoded = decodable_s(t.path, t.duration_s, min_share=MIN_DECODED_SHARE)
        except ValueError as exc:
            problems.append(Problem(path=t.path, source=spec.source, session=spec.session,
                                    kind="bad", reason=str(exc)))
            continue
        if decoded >= MIN_DECODED_SHARE * t.duration_s:
            kept.append(spec)
            continue
        span = getattr(source_of(spec), "danced_span_s", None)
        end = span(spec)[1] if span is not None else None
        if end is not None and end <= decoded:
            kept.append(replace(spec, track=replace(t, duration_s=decoded,
                                                    declared_s=t.duration_s)))
            continue
        why = (f"the dance ends at {end:.2f} s of the track, after what decodes"
               if end is not None else f"source {spec.source} names no danced span to check")
        problems.append(Problem(path=t.path, source=spec.source, session=spec.session,
                                kind="bad", reason=f"{t.path}: truncated audio: the header "
                                f"declares {t.duration_s:.2f} s but only {decoded:.2f} s "
                                f"decode; {why}"))
    return kept, problems


def _mark_units(inv: Inventory, refused: set[tuple[str | None, str | None]]) -> None:
    """Unit facts after the audio verdicts: a unit left with no pair is not paired; a kept
    truncated track's unit records the missing seconds (``audio_truncated``)."""
    kept = {(p.source, p.session): p for p in inv.pairs}
    for u in inv.units:
        key = (u.get("source"), u.get("session"))
        if key in refused and key not in kept:
            u["paired"] = False
        cut = truncation_facts(kept[key].track) if key in kept else None
        if cut is not None:
            u["audio_truncated"] = cut


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
