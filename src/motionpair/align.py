"""Clock maps: which map a pair gets, and how beat-wise maps are built.

Every map is an explicit :class:`~motionpair.types.ClockMap` with a named
assumption; nothing here silently shifts or stretches a stream.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from motionpair.sources import motionmix, tang2018
from motionpair.types import AudioFeatures, ClockMap, PairSpec

CLOCK_KINDS = ("default", "linear", "beatwise")

BEATWISE = "tang2018.beatwise_F_frames_per_beat_from_beat_nearest_start"
#: Frames per beat published/measured for the styles whose rate is exact.
FRAMES_PER_BEAT = {"cha-cha": Fraction(25, 2), "rumba": Fraction(25, 2)}

ASSUMPTIONS = {
    BEATWISE: (
        "skeleton beat k (frame k*F, F frames per beat: 12.5 for cha-cha/rumba, else "
        "T / the number of detected music beats in S/25..E/25) is tied to the k-th detected "
        "music beat from the beat nearest S/25; piecewise linear between beats, end slopes "
        "extrapolated"
    ),
}


def clock_for(spec: PairSpec, features: AudioFeatures, *, kind: str = "default") -> ClockMap:
    """The clock map of ``spec`` onto its track, of the requested kind."""
    if kind not in CLOCK_KINDS:
        raise ValueError(f"clock kind must be one of {CLOCK_KINDS}, not {kind!r}")
    if spec.source == motionmix.NAME:  # one offset map per playback segment, any kind
        return motionmix.clock(spec)
    if spec.source != tang2018.NAME:
        raise ValueError(f"{spec.pair_id}: no clock map for source {spec.source!r}")
    if kind in ("default", "linear"):
        return tang2018.linear_clock(spec)
    return beatwise_clock(spec, features.beat_times_s)


def frames_per_beat(spec: PairSpec, beat_times_s: np.ndarray) -> tuple[Fraction, str]:
    """Skeleton frames per musical beat for this pair, and how it was found."""
    if spec.style in FRAMES_PER_BEAT:
        return FRAMES_PER_BEAT[spec.style], f"published for {spec.style}"
    start_s = spec.params["start_frame"] / float(tang2018.SONG_FPS)
    end_s = spec.params["end_frame"] / float(tang2018.SONG_FPS)
    n_beats = int(np.count_nonzero((beat_times_s >= start_s) & (beat_times_s < end_s)))
    if n_beats < 2:
        raise ValueError(f"{spec.pair_id}: fewer than 2 detected beats in the dance span")
    return Fraction(spec.params["length"], n_beats), f"T / {n_beats} detected beats in span"


def beatwise_clock(spec: PairSpec, beat_times_s: np.ndarray) -> ClockMap:
    """Tie skeleton beats (every F frames) to detected music beats from the start beat on."""
    beats = np.asarray(beat_times_s, dtype=np.float64)
    if len(beats) < 2:
        raise ValueError(f"{spec.pair_id}: fewer than 2 detected music beats")
    F, how = frames_per_beat(spec, beats)
    start_s = spec.params["start_frame"] / float(tang2018.SONG_FPS)
    j0 = int(np.argmin(np.abs(beats - start_s)))
    n_stream_beats = int(Fraction(spec.params["length"]) / F)
    k = np.arange(0, min(n_stream_beats, len(beats) - j0 - 1) + 1)
    if len(k) < 2:
        raise ValueError(f"{spec.pair_id}: the track has no beats after the dance start")
    t_stream = k * float(F / tang2018.NOMINAL_SKELETON_FPS)
    anchors = tuple((float(a), float(b)) for a, b in zip(t_stream, beats[j0 + k], strict=True))
    return ClockMap(kind="beatwise", assumption=BEATWISE, anchors=anchors,
                    note=f"F={float(F):g} frames/beat ({how}); first anchor at music beat "
                         f"{j0} ({beats[j0]:.3f} s, S/25={start_s:.3f} s); {len(k)} anchors")
