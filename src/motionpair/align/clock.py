"""Clock maps: which map a pair gets (asked of the pair's source, never switched on its name).

Every map is an explicit :class:`~motionpair.types.ClockMap` with a named assumption;
nothing here silently shifts or stretches a stream. The arithmetic of each map lives with
the source that knows its clock (e.g. :func:`motionpair.sources.tang2018.beatwise_clock`).
"""

from __future__ import annotations

from motionpair.sources.base import source_of
from motionpair.types import AudioFeatures, ClockMap, PairSpec

CLOCK_KINDS = ("default", "linear", "beatwise")


def clock_for(spec: PairSpec, features: AudioFeatures, *, kind: str = "default") -> ClockMap:
    """The clock map of ``spec`` onto its track, of the requested kind.

    ``ValueError`` for an unknown kind, or a kind the pair's source cannot honour
    (its ``CLOCK_KINDS``): never a silent fallback to another map.
    """
    if kind not in CLOCK_KINDS:
        raise ValueError(f"clock kind must be one of {CLOCK_KINDS}, not {kind!r}")
    src = source_of(spec)
    if kind not in src.CLOCK_KINDS:
        raise ValueError(f"{spec.pair_id}: --clock {kind} is not available for source "
                         f"{src.NAME!r} (it supports {', '.join(src.CLOCK_KINDS)})")
    return src.clock(spec, features, kind)


def refused_clock(kind: str, source_names: set[str]) -> str | None:
    """Why ``--clock kind`` cannot be honoured for the sources in a build; None when it can."""
    bad = sorted(n for n in source_names if kind not in source_of(n).CLOCK_KINDS)
    if not bad:
        return None
    return (f"--clock {kind} is not available for source(s) {', '.join(bad)} "
            f"({'; '.join(f'{n}: ' + ', '.join(source_of(n).CLOCK_KINDS) for n in bad)}); "
            "build them with another --clock")
