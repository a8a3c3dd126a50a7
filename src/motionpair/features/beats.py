"""The music beat tracker and its metrical-level check.

Beats are found with the FACT/EDGE recipe: ``librosa.beat.beat_track`` on the build
grid's onset envelope with ``tightness=100`` and ``start_bpm`` set to the song's tempo.
FACT (``mint/tools/preprocessing.py``) takes that tempo from the AIST++ file name; EDGE
(``data/audio_extraction/baseline_features.py``) falls back to
``librosa.beat.tempo(y=librosa.load(path)[0])`` — an estimate on librosa's default grid
(22050 Hz, hop 512). We do the same, with one change measured on real data: the tempo
prior is a log-normal centred at :data:`TEMPO_PRIOR_BPM` = 100 bpm (librosa's default:
120 bpm), one octave wide. With the 120 bpm prior the tracker chose a wrong metrical
level on 2 of the 7 tang2018 cha-cha/rumba pairs whose true tempo is known (DANCE_R_10 at
2x, DANCE_R_5 at 4/3x); see ``docs/beats.md`` and ``benchmarks/beat_accuracy.py``.

The check (:func:`tempo_check`) compares the number of tracked beats inside a span with a
known true beat count and names the metrical level of the ratio (1, 2, 1/2, 3/2, 2/3,
4/3, 3/4).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

#: Rate of the tempo estimate: librosa's defaults, as EDGE's ``start_bpm`` estimate.
TEMPO_REF_SR_HZ = 22050
TEMPO_REF_HOP = 512
#: Centre (bpm) and width (octaves, one standard deviation) of the log-normal tempo prior.
TEMPO_PRIOR_BPM = 100.0
TEMPO_PRIOR_OCTAVES = 1.0
#: The DP tracker's tightness in both FACT and EDGE.
TIGHTNESS = 100.0

#: Metrical levels a tracker confuses, as tracked tempo / true tempo.
METRICAL_LEVELS: dict[str, Fraction] = {
    "1": Fraction(1), "2": Fraction(2), "1/2": Fraction(1, 2), "3/2": Fraction(3, 2),
    "2/3": Fraction(2, 3), "4/3": Fraction(4, 3), "3/4": Fraction(3, 4),
}
#: Relative tolerance of the check: a tracked tempo within 4% of the true one is "ok".
TEMPO_TOLERANCE = 0.04


def tracker_params() -> dict[str, Any]:
    """Every parameter of the beat tracker (goes into feature params and dataset.json)."""
    return {
        "function": "motionpair.features.beats.track_beats",
        "beats": f"librosa.beat.beat_track(onset_envelope=<build grid onset envelope>, "
                 f"sr, hop_length, start_bpm=<tempo>, tightness={TIGHTNESS:g})",
        "tempo": f"librosa.feature.rhythm.tempo(onset_envelope=onset_strength(y at "
                 f"{TEMPO_REF_SR_HZ} Hz, hop {TEMPO_REF_HOP}), start_bpm="
                 f"{TEMPO_PRIOR_BPM:g}, std_bpm={TEMPO_PRIOR_OCTAVES:g})",
        "tempo_ref_sr_hz": TEMPO_REF_SR_HZ, "tempo_ref_hop": TEMPO_REF_HOP,
        "tempo_prior_bpm": TEMPO_PRIOR_BPM, "tempo_prior_octaves": TEMPO_PRIOR_OCTAVES,
        "tightness": TIGHTNESS,
        "recipe": "FACT/EDGE: beat_track(onset envelope, start_bpm=song tempo, "
                  "tightness=100); the song tempo estimated as in EDGE's fallback "
                  "(librosa default grid) with a 100 bpm prior instead of 120",
    }


def song_tempo_bpm(y_ref: np.ndarray, *, prior_bpm: float = TEMPO_PRIOR_BPM,
                   prior_octaves: float = TEMPO_PRIOR_OCTAVES) -> float:
    """Global tempo of a whole track, in beats per minute.

    Parameters
    ----------
    y_ref : np.ndarray
        Mono audio at :data:`TEMPO_REF_SR_HZ` (22050 Hz) samples.
    prior_bpm : float
        Centre of librosa's log-normal tempo prior (bpm).
    prior_octaves : float
        Its standard deviation in octaves (librosa's ``std_bpm``).

    Returns
    -------
    float
        The tempo (bpm) maximising the prior-weighted mean autocorrelation tempogram of
        the onset strength at 22050 Hz / hop 512 (about 43.07 frames per second).
    """
    import librosa
    import librosa.feature.rhythm  # lazy_loader does not expose the submodule by attribute

    env = librosa.onset.onset_strength(y=y_ref, sr=TEMPO_REF_SR_HZ, hop_length=TEMPO_REF_HOP)
    tempo = librosa.feature.rhythm.tempo(onset_envelope=env, sr=TEMPO_REF_SR_HZ,
                                         hop_length=TEMPO_REF_HOP, start_bpm=prior_bpm,
                                         std_bpm=prior_octaves)
    return float(np.atleast_1d(tempo)[0])


def track_beats(onset_env: np.ndarray, *, sr_hz: int, hop: int,
                start_bpm: float) -> tuple[float, np.ndarray]:
    """Beat frames on the build grid: FACT/EDGE's ``beat_track`` call.

    Parameters
    ----------
    onset_env : np.ndarray
        Onset strength on the build grid, frame k at ``k * hop / sr_hz`` seconds.
    sr_hz, hop : int
        The grid (samples per second, samples per frame).
    start_bpm : float
        The song's tempo (bpm), e.g. from :func:`song_tempo_bpm`.

    Returns
    -------
    tuple[float, np.ndarray]
        ``(tempo_bpm, beat_frames)``: the tracker's tempo on this grid and int64 frame
        indices of the beats.
    """
    import librosa

    tempo, frames = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr_hz,
                                            hop_length=hop, start_bpm=float(start_bpm),
                                            tightness=TIGHTNESS)
    return float(np.atleast_1d(tempo)[0]), np.asarray(frames, dtype=np.int64)


def metrical_level(ratio: float, *, tol: float = TEMPO_TOLERANCE) -> str | None:
    """Name of the metrical level nearest a tempo ratio (tracked / true) when it lies
    within ``tol`` (relative) of it, else None.

    >>> metrical_level(1.99), metrical_level(0.99), metrical_level(1.33), metrical_level(0.9)
    ('2', '1', '4/3', None)
    """
    err = {name: abs(ratio / float(level) - 1.0) for name, level in METRICAL_LEVELS.items()}
    best = min(err, key=err.__getitem__)  # nearest level: tolerances above ~7% overlap
    return best if err[best] <= tol else None


def tempo_check(beat_times_s: np.ndarray, *, start_s: float, end_s: float,
                n_true_beats: float, tol: float = TEMPO_TOLERANCE) -> dict[str, Any]:
    """Tracked beats in ``[start_s, end_s)`` against a known true beat count.

    Parameters
    ----------
    beat_times_s : np.ndarray
        Tracked beat times (s, track clock).
    start_s, end_s : float
        The span (s) over which ``n_true_beats`` beat periods are known to lie.
    n_true_beats : float
        True number of beat periods in the span.
    tol : float
        Relative tolerance of the ``ok`` verdict.

    Returns
    -------
    dict
        ``true_bpm``, ``tracked_bpm`` (= tracked count over the span), ``ratio``
        (tracked / true), ``level`` (see :func:`metrical_level`) and ``verdict``: ``ok``
        (level 1), ``metrical_error`` (another level) or ``unexplained`` (no level:
        the tracker or the true count is off by a non-metrical factor).

    >>> tempo_check(np.arange(0.0, 60.0, 0.25), start_s=0.0, end_s=60.0, n_true_beats=120)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'true_bpm': 120.0, 'tracked_bpm': 240.0, 'ratio': 2.0, 'level': '2',
     'verdict': 'metrical_error', 'n_tracked': 240, 'n_true': 120.0, 'tolerance': 0.04}
    """
    beats = np.asarray(beat_times_s, dtype=np.float64)
    n = int(np.count_nonzero((beats >= start_s) & (beats < end_s)))
    span_min = (end_s - start_s) / 60.0
    ratio = n / float(n_true_beats)
    level = metrical_level(ratio, tol=tol)
    verdict = "ok" if level == "1" else "metrical_error" if level else "unexplained"
    return {"true_bpm": round(float(n_true_beats) / span_min, 3),
            "tracked_bpm": round(n / span_min, 3), "ratio": round(ratio, 4), "level": level,
            "verdict": verdict, "n_tracked": n, "n_true": float(n_true_beats),
            "tolerance": tol}


def dataset_block(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``beats`` block of dataset.json: which tracker made the beats, and its check.

    ``checks`` maps pair ids to :func:`tempo_check` results (pairs with a known true beat
    count only).
    """
    from importlib.metadata import version

    verdicts: dict[str, list[str]] = {}
    for pid, c in sorted(checks.items()):
        verdicts.setdefault(c["verdict"], []).append(pid)
    return {
        "tracker": tracker_params(),
        "librosa": version("librosa"),
        "arrays": ["music_beat", "baseline35[:, 34] (beat one-hot)", "beat windows",
                   "alignment evidence (BAS, beatwise clock)"],
        "metrical_level_check": {
            "definition": "tracked beats inside the dance span S/25..E/25 s vs the true beat "
                          "count (skeleton length / 12.5 frames per beat, cha-cha and rumba); "
                          f"ok when within {TEMPO_TOLERANCE:.0%}",
            "verdicts": verdicts,
            "pairs": {p: checks[p] for p in sorted(checks)},
        },
    }


def beats_from(params: dict[str, Any]) -> str:
    """Which tracker made a track's beats, from its feature params.

    >>> beats_from({"stage_version": "audio-2"})
    'motionpair.features.beats.track_beats (dataset.json beats.tracker)'
    >>> beats_from({"source": "npz", "keys": {"beat_frames": "beats"}, "derived": {}})
    "the NPZ's own 'beats' array"
    """
    if params.get("source") != "npz":
        return "motionpair.features.beats.track_beats (dataset.json beats.tracker)"
    derived = params.get("derived") or {}
    if "beat_frames" in derived:
        return str(derived["beat_frames"])
    keys = params.get("keys") or {}
    return f"the NPZ's own {keys.get('beat_frames') or keys.get('beat_times')!r} array"
