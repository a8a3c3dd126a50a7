"""Clock offsets between the cameras of one session, from their own pose streams.

Phones' clocks differ: a camera whose timestamps run 0.4 s ahead puts every one of
its snapshots 0.4 s late on the session clock (and the snapshots just before a track
boundary on the next track). Cameras filming one dancer see the same movement, so
where the streams are dense the offset between two cameras is measurable from the
motion itself:

1. motion energy of each camera: the mean joint speed (camera units/s) between
   consecutive snapshots, placed at the midpoint of the two, then linearly
   interpolated onto a uniform grid of the coarser stream's median interval;
2. the two energies, z-scored, are cross-correlated per overlapping sample
   (:func:`motionpair.xcorr.envelope_lag`, the same estimator that aligns
   cameras by their audio onsets: sub-sample lag by a parabola through the peak,
   Pearson ``r`` at the peak, peak-to-second-peak ratio at least ``lobe_s`` away).

Sign (as :mod:`motionpair.capture.camsync` and the declared ``camera_offsets_s``):
``offset_s`` is what to ADD to the camera's times to get the reference camera's,
``t_ref = t_cam + offset_s``; a camera running 0.4 s ahead has ``offset_s = -0.4``.

Sparse streams (1 Hz snapshots) cannot be checked this way: a dancer's movement
changes several times per second, so motion sampled once a second says nothing
about an offset smaller than the sampling interval (:func:`session_clock_check`
says so, with the numbers). Estimates are reported, never applied: a motion lag
says which cameras disagree, not which one agrees with the playback clock
(:data:`ASSUMPTION`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from motionpair.xcorr import envelope_lag

#: Both streams at least this rate (Hz) for an estimate (as snapshots.SEQUENCE_MIN_HZ).
DENSE_MIN_HZ = 10.0
#: Least overlap of the two energies (s) at a candidate lag.
MIN_OVERLAP_S = 20.0
#: The second peak is looked for at least this far (s) from the best.
LOBE_S = 0.25
#: An estimate is confident when its peak ratio and Pearson r reach these.
MIN_PEAK_RATIO = 1.5
MIN_CORRELATION = 0.5
#: Streams whose energy is interpolated across a gap longer than this many intervals: flat.
MAX_GAP_INTERVALS = 3.0

ASSUMPTION = "motionmix.camera_clocks_share_session_clock_after_declared_offsets"
ASSUMPTIONS = {
    ASSUMPTION: (
        "a snapshot's session time is its own timestamp plus its camera's declared offset "
        "(metadata or mapping camera_offsets_s; 0 when none is declared). Offsets between "
        "cameras estimated from their motion energy (dense streams only) are reported in "
        "dataset.json (motionmix.sessions[].camera_clock) and never applied: a motion lag "
        "says which cameras disagree, not which one agrees with the playback clock"
    ),
}


@dataclass(frozen=True)
class ClockOffset:
    """One camera's clock offset to the reference camera, estimated from motion energy."""

    offset_s: float  # t_ref = t_cam + offset_s
    correlation: float  # Pearson r of the overlapping energies at the integer peak lag
    peak_ratio: float | None  # best peak / best other peak >= LOBE_S away (None: no other)
    overlap_s: float
    grid_hz: float  # the energies' common sampling rate
    confident: bool

    def to_dict(self) -> dict[str, Any]:
        """Rounded to 0.1 ms; a non-finite number (no second peak above the median) as None."""
        return {k: ((round(v, 4) if np.isfinite(v) else None) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def motion_energy(times_s: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean joint speed between consecutive samples, at the midpoints of their times.

    Parameters
    ----------
    times_s : (T,) increasing sample times (s)
    joints : (T, J, D) joint positions (any unit)

    Returns
    -------
    mid_s : (T - 1,) midpoint times (s)
    speed : (T - 1,) mean over joints of |displacement| / interval (units/s)

    >>> t = np.array([0.0, 0.5, 1.0])
    >>> p = np.array([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.0]]])
    >>> [x.tolist() for x in motion_energy(t, p)]
    [[0.25, 0.75], [2.0, 0.0]]
    """
    t = np.asarray(times_s, np.float64)
    p = np.asarray(joints, np.float64)
    step = np.linalg.norm(np.diff(p, axis=0), axis=-1).mean(axis=-1)
    return (t[1:] + t[:-1]) / 2.0, step / np.diff(t)


def _on_grid(mid_s: np.ndarray, speed: np.ndarray, t0_s: float, step_s: float,
             max_gap_s: float) -> np.ndarray:
    """``speed`` linearly interpolated at ``t0_s + n * step_s`` over its span; gaps flattened."""
    n = int(np.floor((mid_s[-1] - t0_s) / step_s)) + 1
    g = t0_s + np.arange(max(n, 0)) * step_s
    out = np.interp(g, mid_s, speed)
    # inside a gap longer than max_gap_s interpolation invents motion: use the mean instead
    right = np.clip(np.searchsorted(mid_s, g), 1, len(mid_s) - 1)
    gap = (mid_s[right] - mid_s[right - 1]) > max_gap_s
    out[gap] = float(speed.mean())
    return out


def estimate_offset(ref_times_s: np.ndarray, ref_joints: np.ndarray,
                    cam_times_s: np.ndarray, cam_joints: np.ndarray, *,
                    min_overlap_s: float = MIN_OVERLAP_S, lobe_s: float = LOBE_S
                    ) -> ClockOffset:
    """Clock offset of a camera to the reference camera from both pose streams.

    Parameters
    ----------
    ref_times_s, cam_times_s : (T,) increasing snapshot times of each camera (s, its own clock)
    ref_joints, cam_joints : (T, J, D) joints (each camera in its own units: only the
        timing of the movement is compared, never the positions)
    min_overlap_s : least overlap (s) of the two energies at a candidate lag
    lobe_s : the second peak of the confidence ratio is at least this far (s) from the best

    Returns
    -------
    ClockOffset
        ``offset_s`` (``t_ref = t_cam + offset_s``), its Pearson ``correlation``, its
        ``peak_ratio`` and whether both reach :data:`MIN_PEAK_RATIO` / :data:`MIN_CORRELATION`.

    Raises
    ------
    ValueError
        fewer than 3 samples in a stream, a stream without movement, or no lag with
        ``min_overlap_s`` of overlap.
    """

    if len(ref_times_s) < 3 or len(cam_times_s) < 3:
        raise ValueError("a stream has fewer than 3 samples")
    step_s = float(max(np.median(np.diff(ref_times_s)), np.median(np.diff(cam_times_s))))
    max_gap_s = MAX_GAP_INTERVALS * step_s
    mr, er = motion_energy(ref_times_s, ref_joints)
    mc, ec = motion_energy(cam_times_s, cam_joints)
    # both grids on one lattice (t0 + n * step): the lag in samples is the offset in steps
    t0 = float(min(mr[0], mc[0]))
    ir, ic = int(np.ceil((mr[0] - t0) / step_s)), int(np.ceil((mc[0] - t0) / step_s))
    gr = _on_grid(mr, er, t0 + ir * step_s, step_s, max_gap_s)
    gc = _on_grid(mc, ec, t0 + ic * step_s, step_s, max_gap_s)
    if not (gr.std() > 0 and gc.std() > 0):
        raise ValueError("a stream shows no movement (constant motion energy): nothing to align")
    fps = Fraction(1.0 / step_s).limit_denominator(1_000_000)
    with np.errstate(invalid="ignore", divide="ignore"):  # a still overlap: r is NaN
        lag, r, ratio, overlap_s = envelope_lag(gr, gc, fps, min_overlap_s=min_overlap_s,
                                                lobe_s=lobe_s)
    offset = (lag + ir - ic) / float(fps)
    confident = bool(ratio is not None and ratio >= MIN_PEAK_RATIO and r >= MIN_CORRELATION)
    return ClockOffset(offset_s=float(offset), correlation=float(r), peak_ratio=ratio,
                       overlap_s=overlap_s, grid_hz=float(fps), confident=confident)


def session_clock_check(streams: dict[str, tuple[np.ndarray, np.ndarray]],
                        declared_s: dict[str, float]) -> dict[str, Any]:
    """What the session's own data says about its cameras' clocks (for its facts).

    Parameters
    ----------
    streams : camera -> ``(times_s (T,), joints (T, J, D))`` on the session clock, i.e. after
        the declared offsets: an estimate is the offset still left after them
    declared_s : camera -> declared offset (s), as applied

    Returns
    -------
    dict
        ``checked`` (bool), ``why`` (a sentence with the numbers), ``reference``,
        ``declared_s``, ``estimates`` (camera -> :class:`ClockOffset` dict, residual after the
        declared offsets), ``disagree`` (cameras whose confident residual exceeds the
        resolution, with the offset to declare: ``fix``), ``unconfirmed`` (camera -> why no
        confident estimate), ``applied`` (always False) and ``assumption``.
    """
    out: dict[str, Any] = {"checked": False, "reference": None,
                           "declared_s": dict(sorted(declared_s.items())) or None,
                           "estimates": {}, "disagree": {}, "unconfirmed": {},
                           "applied": False,
                           "assumption": ASSUMPTION}
    cams = sorted(streams)
    if len(cams) < 2:
        out["why"] = f"{len(cams)} camera: no other camera's clock to compare"
        return out
    rates = {c: _rate_hz(streams[c][0]) for c in cams}
    sparse = {c: r for c, r in rates.items() if r < DENSE_MIN_HZ}
    if sparse:
        worst = min(sparse.values())
        out["why"] = (
            f"cannot be checked: camera(s) {', '.join(sorted(sparse))} sample at "
            f"{worst:.3g} Hz (one snapshot every {1 / worst if worst else float('inf'):.3g} s),"
            f" below the {DENSE_MIN_HZ:g} Hz needed to follow the movement; an offset "
            f"between cameras shorter than the sampling interval is invisible in their "
            "snapshots (declare camera_offsets_s when the phones' clocks are known to differ)")
        return out
    ref = max(cams, key=lambda c: (len(streams[c][0]), c == cams[0]))  # longest stream
    out["reference"] = ref
    resolution = 1.0 / min(rates.values())
    for c in cams:
        if c == ref:
            continue
        try:
            est = estimate_offset(*streams[ref], *streams[c])
        except ValueError as exc:
            out["estimates"][c] = {"error": str(exc)}
            out["unconfirmed"][c] = str(exc)
            continue
        out["estimates"][c] = est.to_dict()
        if not est.confident:
            ratio = "none" if est.peak_ratio is None else f"{est.peak_ratio:.2f}"
            out["unconfirmed"][c] = (f"no confident estimate (offset {est.offset_s:+.3f} s, "
                                     f"peak ratio {ratio}, r {est.correlation:.2f})")
        elif abs(est.offset_s) > resolution:
            out["disagree"][c] = {"residual_s": round(est.offset_s, 3),
                                  "fix": round(declared_s.get(c, 0.0) + est.offset_s, 3)}
    out["checked"] = True
    n_conf = sum(1 for e in out["estimates"].values() if e.get("confident"))
    out["why"] = (f"estimated from motion energy against camera {ref!r} (all cameras >= "
                  f"{DENSE_MIN_HZ:g} Hz; resolution {resolution:.3g} s); {n_conf} of "
                  f"{len(cams) - 1} estimate(s) confident (peak ratio >= {MIN_PEAK_RATIO:g}, "
                  f"r >= {MIN_CORRELATION:g})")
    return out


def clock_lines(session: str, check: dict[str, Any] | None) -> list[str]:
    """One line per session for scan/build output: the check's verdict and any fix."""
    if not check:
        return []
    if not check["checked"]:
        return [f"{session}: camera clocks {check['why']}"] if "cannot" in check["why"] else []
    unsure = "; ".join(f"camera {c!r}: {why}" for c, why in sorted(check["unconfirmed"].items()))
    if not check["disagree"]:
        if unsure:
            return [f"{session}: camera clocks cannot be confirmed against camera "
                    f"{check['reference']!r}: {unsure}"]
        return [f"{session}: camera clocks agree ({check['why']})"]
    parts = [f"camera {c!r} runs {abs(d['residual_s']):.3f} s "
             f"{'ahead of' if d['residual_s'] < 0 else 'behind'} camera {check['reference']!r}"
             for c, d in sorted(check["disagree"].items())]
    fix = json.dumps({c: d["fix"] for c, d in sorted(check["disagree"].items())})
    return [f"{session}: camera clocks differ: {'; '.join(parts)} (from motion energy, not "
            f"applied); if {check['reference']!r} keeps the session clock, add to "
            f"metadata.json: \"camera_offsets_s\": {fix}" + (f" (not confirmed: {unsure})"
                                                              if unsure else "")]


def _rate_hz(times_s: np.ndarray) -> float:
    """1 / median interval (0 for fewer than 2 samples)."""
    d = np.diff(np.asarray(times_s, np.float64))
    return float(1.0 / np.median(d)) if len(d) else 0.0
