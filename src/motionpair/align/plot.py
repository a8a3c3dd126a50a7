"""One picture of a pair's alignment evidence: offset curve, nulls, beats of both streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from motionpair.timebase import frames_to_time

EXCERPT_S = 8.0  # seconds of beats shown, centred in the motion span


def draw_pair(pair_id: str, record: dict[str, Any], series: dict[str, Any],
              out_png: str | Path) -> Path:
    """Write the evidence PNG of one pair and return its path.

    Panels: (1) offset score vs offset around the clock map with the best and
    second peaks; (2) null distributions of both BAS variants (circular shifts,
    other tracks) with the observed scores; (3) kinematic and music beats over
    an excerpt at the chosen alignment, on the mean joint speed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 8.5), height_ratios=[1.2, 1.2, 1.4],
                             constrained_layout=True)
    _offset_panel(axes[0], record, series)
    _null_panel(axes[1], record, series)
    _beats_panel(axes[2], series)
    fig.suptitle(_title(pair_id, record), fontsize=10)
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    return Path(out_png)


def _title(pair_id: str, record: dict) -> str:
    """Pair, clock map, tempo and drift (a real-time stream has no implied tempo)."""
    t = record["tempo"]
    head = f"{pair_id} ({record['style'] or 'no style'}, clock map {record['clock_map']}): "
    drift = ("drift not measured" if t["drift_end_s"] is None
             else f"drift by end {t['drift_end_s']:+.2f} s")
    flag = "  [FLAG]" if t["drift_flag"] else ""
    if t["implied_bpm"] is None:
        measured = "?" if t["measured_bpm"] is None else f"{t['measured_bpm']:.1f}"
        return f"{head}\nreal-time clock, measured tempo {measured} bpm, {drift}{flag}"
    return (f"{head}tempo implied {t['implied_bpm']:.1f} vs measured {t['measured_bpm']:.1f} "
            f"bpm, {drift}{flag}")


def _offset_panel(ax, record: dict, series: dict) -> None:
    o = record["offset"]
    ax.plot(series["offsets_s"], series["curve"], color="tab:purple", linewidth=1.2)
    ax.axvline(0.0, color="k", linewidth=0.8, linestyle=":", label="clock map (offset 0)")
    ax.axvline(o["best_s"], color="tab:red", linewidth=1.2, label=f"best {o['best_s']:+.3f} s")
    if o["second_peak_s"] is not None:
        ax.axvline(o["second_peak_s"], color="tab:orange", linewidth=1, linestyle="--",
                   label=f"second peak {o['second_peak_s']:+.3f} s")
    ratio = "n/a" if o["peak_ratio"] is None else f"{o['peak_ratio']:.2f}"
    halves = " / ".join("n/a" if h is None else f"{h:+.2f}"  # None: a half had no beats
                        for h in (o["first_half_s"], o["second_half_s"]))
    ax.set_title(f"offset search: peak ratio {ratio}, halves {halves} s, "
                 f"{'passes' if o['passes'] else 'does not pass'} (never applied)", fontsize=9)
    ax.set_xlabel("offset added to the clock map (s)")
    ax.set_ylabel("onset z at kin beats")
    ax.legend(fontsize=7, loc="upper right")


def _null_panel(ax, record: dict, series: dict) -> None:
    colors = {"bailando": "tab:blue", "fact": "tab:green"}
    for k, c in colors.items():
        null = series[f"null_{k}"]
        ax.hist(null, bins=30, color=c, alpha=0.45, label=f"{k}: circular-shift null")
        ax.axvline(record["bas"][k], color=c, linewidth=2,
                   label=f"{k} observed {record['bas'][k]:.3f} "
                         f"(p{record['null_circular_shift'][k]['percentile']:.0f})")
        other = series.get(f"other_{k}")
        if other is not None and len(other):
            ax.plot(other, np.zeros(len(other)), "|", color=c, markersize=14,
                    label=f"{k}: other tracks")
    ax.set_xlabel("beat alignment score")
    ax.set_ylabel("count")
    ax.legend(fontsize=7, loc="upper right", ncol=2)


def _beats_panel(ax, series: dict) -> None:
    speed = np.asarray(series["speed"], dtype=np.float64)
    t = series["speed_t0_s"] + frames_to_time(np.arange(len(speed)), series["fps"])
    mid = 0.5 * (t[0] + t[-1])
    lo, hi = mid - EXCERPT_S / 2, mid + EXCERPT_S / 2
    sel = (t >= lo) & (t <= hi)
    ax.plot(t[sel], speed[sel], color="tab:green", linewidth=1, label="mean joint speed")
    top = float(speed[sel].max()) if sel.any() else 1.0
    for name, times, color, y in (("kinematic beats", series["kin_s"], "k", (0.0, 0.5)),
                                  ("music beats", series["music_s"], "tab:blue", (0.5, 1.0))):
        tt = times[(times >= lo) & (times <= hi)]
        ax.vlines(tt, y[0] * top, y[1] * top, colors=color, linewidth=1.2, label=name)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("track time (s), at the clock map (no offset applied)")
    ax.set_ylabel(f"speed ({series.get('units') or 'units'}/s)")  # the dataset's units
    ax.legend(fontsize=7, loc="upper right", ncol=3)
