"""The Source protocol and the registry that finds every source.

A *source* is one input format. It is one module: under ``motionpair/sources/`` (found by
walking the package, as :mod:`motionpair.commands` are) or anywhere on ``sys.path`` and named
in the environment variable ``MOTIONPAIR_SOURCES`` (comma-separated dotted module names). A
module is a source when it provides every member of :class:`Source`; helper modules next to
it (``common``, ``motionmix/audio``, ...) provide none and are skipped.

Stages never switch on a source's name nor read ``PairSpec.params``: they ask the pair's
source (:func:`source_of`) for its pose, its precomputed features, its clock map, its
stream (measured rate, row extras), its stream beats, its assumptions and its
``dataset.json`` block.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from motionpair.types import (
    AudioFeatures,
    ClockMap,
    PairSpec,
    PoseStream,
    Problem,
    StreamInfo,
)

if TYPE_CHECKING:
    from motionpair.cache import Cache
    from motionpair.config import BuildConfig

#: Environment variable naming extra source modules (dotted names, comma-separated).
ENV_VAR = "MOTIONPAIR_SOURCES"


@runtime_checkable
class Source(Protocol):
    """What the stages ask of an input format (a module implements it with module-level names).

    Attributes
    ----------
    NAME : str
        The ``source`` of its pairs (``PairSpec.source``, manifest column ``source``).
    LOOKS_FOR : str
        What it looks for, for "nothing found" messages and ``inventory.json``.
    ASSUMPTIONS : dict[str, str]
        Assumption name -> text, for every assumption its clock maps and windows name.
    SPARSE : bool
        True when its streams are sparse snapshots that need a pairing mode
        (:mod:`motionpair.windows.snapshot`); False for dense streams cut like tang2018.
    CLOCK_KINDS : tuple[str, ...]
        The ``--clock`` kinds it can honour (``"default"`` always); others are refused.
    MOTION_UNITS : str
        Units of its joint coordinates, for ``dataset.json`` when the pairs' facts name none.

    Optional members (looked up with ``getattr``): ``pairs_for_build(pairs, cfg)`` rewrites the
    pair list (MotionMix ``--cameras fused``); ``feature_grid(spec)`` gives ``(sr_hz, hop,
    collection)`` of precomputed features, for the build's grid check
    (:mod:`motionpair.build.grid`); ``PRIORITY`` orders the scan.
    """

    NAME: str
    LOOKS_FOR: str
    ASSUMPTIONS: dict[str, str]
    SPARSE: bool
    CLOCK_KINDS: tuple[str, ...]
    MOTION_UNITS: str

    def found(self, path: Path) -> bool:
        """Whether anything of this source is at or below ``path`` (a cheap walk, no reads)."""
        ...

    def scan(self, paths: list[Path], *, cache: Cache | None = None
             ) -> tuple[list[PairSpec], list[Problem], list[dict[str, Any]]]:
        """``(pairs, problems, unit facts)`` under ``paths``; never raises for bad input."""
        ...

    def load_pose(self, spec: PairSpec) -> PoseStream:
        """The pair's pose stream on its own stream clock."""
        ...

    def features(self, spec: PairSpec, cfg: BuildConfig) -> AudioFeatures | None:
        """Precomputed audio features of the pair's track, or None: the build computes them."""
        ...

    def clock(self, spec: PairSpec, features: AudioFeatures, kind: str) -> ClockMap:
        """The pair's clock map (stream seconds -> track seconds) of ``kind``."""
        ...

    def stream_info(self, spec: PairSpec) -> StreamInfo:
        """What stages may know of the pair's stream (measured rate, row extras, added
        assumptions): :class:`~motionpair.types.StreamInfo`. Stages never read
        ``spec.params``; a source with nothing to add returns ``StreamInfo()``."""
        ...

    def stream_beats(self, spec: PairSpec, beat_times_s: np.ndarray
                     ) -> tuple[float, int, str] | None:
        """One stream beat (s), the stream's beat count and how it was found; None: the
        stream has no beat of its own (a real-time clock): its evidence then has no implied
        tempo and measures drift from the offset halves."""
        ...

    def assumptions_for(self, clock: ClockMap) -> list[str]:
        """Sorted names of the assumptions a window of this source relies on."""
        ...

    def dataset_block(self, units: list[dict[str, Any]]) -> dict[str, Any]:
        """Extra top-level ``dataset.json`` keys for this source ({} for none)."""
        ...


def _package_modules() -> list[str]:
    """Dotted names of the modules of :mod:`motionpair.sources` and its sub-packages, sorted.

    A source with several files lives in a sub-package (``sources/motionmix/``); the module
    among them that provides the protocol (``source.py``) is the source.
    """
    pkg = importlib.import_module("motionpair.sources")
    return sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}.")
                  if not m.ispkg and m.name != f"{pkg.__name__}.base")


def _env_modules() -> list[str]:
    return [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]


def discover(extra: Iterable[str] = ()) -> dict[str, Source]:
    """``{NAME: source module}`` of every source in the package, then ``MOTIONPAIR_SOURCES``.

    Package sources come in a fixed order (``PRIORITY``, then name), so scan output never
    depends on the file system's listing order. A module named in ``MOTIONPAIR_SOURCES``
    that cannot be imported or is no source raises ``ValueError`` naming it.
    """
    found: dict[str, Source] = {}
    for name in _package_modules():
        mod = importlib.import_module(name)
        if isinstance(mod, Source):
            found[mod.NAME] = mod
    ordered = dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "PRIORITY", 100),
                                                          kv[0])))
    for name in [*_env_modules(), *extra]:
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            raise ValueError(f"{ENV_VAR}: cannot import source module {name!r}: {exc}") from exc
        if not isinstance(mod, Source):
            missing = sorted(m for m in _members() if not hasattr(mod, m))
            raise ValueError(f"{ENV_VAR}: {name!r} is not a source (missing {missing})")
        if mod.NAME in ordered and ordered[mod.NAME] is not mod:
            raise ValueError(f"{ENV_VAR}: {name!r} reuses the source name {mod.NAME!r}")
        ordered[mod.NAME] = mod
    return ordered


def _members() -> list[str]:
    return [m for m in Source.__protocol_attrs__]  # type: ignore[attr-defined]


_REGISTRY: dict[str, Source] | None = None
_REGISTRY_ENV: str | None = None


def sources() -> dict[str, Source]:
    """The registry (discovered once per process and ``MOTIONPAIR_SOURCES`` value)."""
    global _REGISTRY, _REGISTRY_ENV
    env = os.environ.get(ENV_VAR, "")
    if _REGISTRY is None or env != _REGISTRY_ENV:
        _REGISTRY, _REGISTRY_ENV = discover(), env
    return _REGISTRY


def source_of(spec: PairSpec | str) -> Source:
    """The source that reads ``spec`` (or the source named so); ``KeyError`` names it."""
    name = spec if isinstance(spec, str) else spec.source
    reg = sources()
    try:
        return reg[name]
    except KeyError:
        raise KeyError(f"no reader for source {name!r}; known: {sorted(reg)}") from None


def is_source(mod: ModuleType) -> bool:
    return isinstance(mod, Source)
