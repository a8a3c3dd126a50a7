"""The build's frame grid: ``--fps auto`` resolved against the inputs, one check for scan and build.

Precomputed features (MotionMix NPZ playlists) come on their own grid, ``sr / hop``
frames per second (librosa's default 22050 / 512 = 11025/256 ≈ 43.07 fps). motionpair
never resamples features, so:

- ``--fps auto`` (the default) takes the NPZ tracks' grid when every NPZ track of the
  build shares one; with no NPZ track it is :data:`motionpair.config.DEFAULT_FPS` (30 fps,
  raw audio is analysed on it with hop ``sr / fps``). Raw audio in the same build is
  analysed on the NPZ grid (``--sr`` / fps must then be a whole hop).
- NPZ tracks on two or more grids under ``auto``: the build is refused with one line per
  grid and a pasteable ``--fps`` for each (a build with an explicit ``--fps`` uses the
  tracks on that grid and reports each other track once).
- An explicit ``--fps``: every NPZ track on another grid is reported once (per file, not
  per pair) and its pairs are skipped.

``scan`` runs the same :func:`check` with ``--fps auto``, so whatever a default build
would refuse, scan reports first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from motionpair.sources.base import source_of
from motionpair.timebase import format_rate, frame_rate, hop_for_fps, parse_rate, suggest_sr
from motionpair.types import PairSpec, Problem

if TYPE_CHECKING:
    from motionpair.build.scan import Inventory
    from motionpair.config import BuildConfig


@dataclass
class GridCheck:
    """What :func:`check` decided: the build grid, or why there is none."""

    fps: Fraction | None
    sr_hz: int
    grid_from: str
    problems: list[Problem] = field(default_factory=list)  # one per NPZ file off the grid
    off_grid: set[str] = field(default_factory=set)  # NPZ paths whose pairs are skipped
    refusal: str | None = None  # the whole build cannot go on (mixed grids, no whole hop)
    fix_fps: list[str] = field(default_factory=list)  # --fps values that would work
    fix_sr: int | None = None  # an --sr that would work


#: ``Problem.session`` of scan's "build would refuse" grid line (build re-checks with its --fps).
SCAN_TAG = "(build grid)"


class GridError(ValueError):
    """A build refused for its grid; ``fix_fps``/``fix_sr`` hold the values that would work."""

    def __init__(self, message: str, *, fix_fps: list[str], fix_sr: int | None) -> None:
        super().__init__(message)
        self.fix_fps = fix_fps
        self.fix_sr = fix_sr


def feature_grid(spec: PairSpec) -> tuple[int, int, str] | None:
    """``(sr_hz, hop, collection)`` of a pair's precomputed features, asked of its source
    (optional ``Source.feature_grid``); None when the build computes the features itself."""
    grid_of = getattr(source_of(spec), "feature_grid", None)
    return None if grid_of is None else grid_of(spec)


def npz_tracks(pairs: list[PairSpec]) -> dict[str, tuple[int, int, str]]:
    """Precomputed track path -> (sr_hz, hop, playlist) over the pairs (each file once)."""
    out: dict[str, tuple[int, int, str]] = {}
    for p in pairs:
        g = feature_grid(p)
        if g is not None:
            out.setdefault(p.track.path, g)
    return out


def _describe(fps: Fraction, tracks: list[tuple[str, tuple[int, int, str]]]) -> str:
    lists = sorted({pl for _, (_, _, pl) in tracks})
    srhop = sorted({f"sr {sr} Hz / hop {hop}" for _, (sr, hop, _) in tracks})
    return (f"{format_rate(fps)} fps (≈{float(fps):.4f}; {', '.join(srhop)}): {len(tracks)} "
            f"track(s) in {', '.join(lists)}")


def check(pairs: list[PairSpec], fps_asked: str | float, sr_hz: int) -> GridCheck:
    """Decide the grid of a build over ``pairs`` for ``--fps fps_asked`` and ``--sr sr_hz``."""
    tracks = npz_tracks(pairs)
    raw = any(p.track.path not in tracks for p in pairs)
    by_fps: dict[Fraction, list[tuple[str, tuple[int, int, str]]]] = {}
    for path, (sr, hop, pl) in sorted(tracks.items()):
        by_fps.setdefault(frame_rate(sr, hop), []).append((path, (sr, hop, pl)))
    auto = isinstance(fps_asked, str) and fps_asked.strip().lower() == "auto"
    if auto and len(by_fps) > 1:
        choices = sorted(by_fps, key=lambda f: (-len(by_fps[f]), f))
        lines = "; ".join(_describe(f, by_fps[f]) for f in choices)
        return GridCheck(
            fps=None, sr_hz=sr_hz, grid_from="", fix_fps=[format_rate(f) for f in choices],
            refusal=f"NPZ tracks on {len(by_fps)} different frame grids: {lines}. motionpair "
                    "never resamples features: build one grid at a time with "
                    + " or ".join(f"--fps {format_rate(f)}" for f in choices)
                    + " (tracks on the other grids are then reported and skipped)")
    if auto:
        if by_fps:
            fps = next(iter(by_fps))
            how = "auto: the NPZ tracks' own grid (" + ", ".join(sorted(
                {f"sr {sr} Hz / hop {hop}" for _, (sr, hop, _) in by_fps[fps]})) + ")"
        else:
            from motionpair.config import DEFAULT_FPS

            fps, how = DEFAULT_FPS, "auto: no NPZ track, raw audio on the default grid"
    else:
        fps, how = parse_rate(fps_asked), "asked (--fps)"
    out = GridCheck(fps=fps, sr_hz=sr_hz, grid_from=how)
    if (Fraction(sr_hz) / fps).denominator != 1:  # sr / fps is not a whole hop
        if raw:
            out.fix_sr = suggest_sr(fps, near_hz=sr_hz)
            out.refusal = (f"raw audio is analysed on the build grid {format_rate(fps)} fps, but "
                           f"--sr {sr_hz} Hz / {format_rate(fps)} fps is not a whole hop: build "
                           f"with --sr {out.fix_sr}")
            return out
        # only NPZ tracks: the analysis rate of raw audio is moot; record the NPZ tracks' own
        srs = sorted({sr for _, (sr, _, _) in by_fps.get(fps, [])})
        if srs:
            out.sr_hz = srs[0]
            out.grid_from += f"; --sr {sr_hz} is not a whole hop on it, recorded sr {srs[0]} Hz"
    if raw and by_fps.get(fps):
        out.grid_from += f"; raw audio analysed at sr {out.sr_hz} Hz, hop " \
                         f"{hop_for_fps(out.sr_hz, fps)}"
    for f, items in sorted(by_fps.items()):
        if f == fps:
            continue
        for path, (sr, hop, pl) in items:
            out.off_grid.add(path)
            out.problems.append(Problem(
                path=path, source="motionmix", session=pl, kind="bad",
                reason=f"{path}: NPZ feature grid is {format_rate(f)} fps (≈{float(f):.4f}; sr "
                       f"{sr} Hz / hop {hop}) but the build's is {format_rate(fps)} fps; not "
                       f"resampled, its pairs are skipped: build it with --fps {format_rate(f)}"))
        out.fix_fps.append(format_rate(f))
    return out


def resolve(cfg: BuildConfig, inv: Inventory) -> BuildConfig:
    """The config on its resolved grid; off-grid pairs leave ``inv`` (one problem per file).

    Raises :class:`GridError` when the build cannot go on; ``ValueError`` for a config
    impossible on the resolved grid (e.g. a window under 2 frames).
    """
    chk = check(inv.pairs, cfg.fps, cfg.sr_hz)
    if chk.refusal or chk.fps is None:
        raise GridError(chk.refusal or "no grid", fix_fps=chk.fix_fps, fix_sr=chk.fix_sr)
    inv.problems += chk.problems
    inv.pairs = [p for p in inv.pairs if p.track.path not in chk.off_grid]
    asked = cfg.fps_asked or (str(cfg.fps) if isinstance(cfg.fps, str) else repr(cfg.fps))
    # a whole rate stays a number (30.0, as dataset.json always said); others the exact fraction
    fps: float | str = float(chk.fps) if chk.fps.denominator == 1 else format_rate(chk.fps)
    return replace(cfg, fps=fps, sr_hz=chk.sr_hz, fps_asked=asked,
                   grid_from=chk.grid_from).validate()


def scan_problems(pairs: list[PairSpec]) -> list[Problem]:
    """What a default (``--fps auto``) build would refuse for its grid, as scan problems."""
    chk = check(pairs, "auto", 22050)
    out = list(chk.problems)
    if chk.refusal:
        out.append(Problem(path="", source="motionmix", session=SCAN_TAG, kind="bad",
                           reason=f"build would refuse: {chk.refusal}"))
    return out
