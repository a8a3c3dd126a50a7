"""Beat accuracy of the builder's tracker, before and after the metrical-level fix.

    python benchmarks/beat_accuracy.py [DATA_DIR]   (default ../shared/data or $MOTIONPAIR_DATA)

Every tang2018 cha-cha / rumba pair (``tang2018/`` and ``tang2018-extra/``): the skeletons
are stitched at exactly 12.5 frames per beat, so the dance spans n = T / 12.5 beats of song
time S/25 .. E/25 s (config.json). Three trackers on the default build grid (22050 Hz,
hop 735, 30 fps):

- ``before``: the ``audio-1`` recipe, ``beat_track(onset_envelope, start_bpm=120,
  tightness=100)`` on the dB-mel onset envelope;
- ``default``: ``librosa.beat.beat_track(y=y, sr=22050)`` with every default (hop 512);
- ``after``: the builder's tracker now (``motionpair.features.audio.track_beats_of``).

Measures: the tempo ratio (tracked beats inside [S/25, E/25) / n; the exact check) and its
metrical level; mir_eval F-measure (±70 ms), CMLt and AMLt against a reference grid of n
beats evenly spaced from S/25 with period (E - S) / (25 n). The reference is only as
beat-precise as config.json (arbitrary phase, tempo good to a few per cent), so F and CMLt
are indicative; AMLt accepts off-beat phase. Estimated beats are taken from half a period
before S/25 to E/25; mir_eval's 5 s trimming is not applied. Then the waltzes, whose
skeletons have only about 4 frames per beat (README): an approximate check at ±8%.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import librosa
import mir_eval
import numpy as np

from motionpair.build.scan import scan
from motionpair.features import audio, beats
from motionpair.sources.tang2018 import true_beat_span

SR_HZ, HOP = 22050, 735


def trackers(path: Path) -> dict[str, np.ndarray]:
    """Beat times (s) of one track by the three trackers."""
    y, native = audio.decode_audio(path)
    y22 = audio.resample(y, orig_sr_hz=native, sr_hz=SR_HZ)
    _, env = audio.onset_envelope(y22, sr_hz=SR_HZ, hop=HOP)
    _, before = librosa.beat.beat_track(onset_envelope=env, sr=SR_HZ, hop_length=HOP,
                                        start_bpm=120.0, tightness=100)
    _, default = librosa.beat.beat_track(y=y22, sr=SR_HZ)
    _, after = audio.track_beats_of(y, env, native_sr_hz=native, sr_hz=SR_HZ, hop=HOP)
    return {"before": before * HOP / SR_HZ, "default": default * 512 / SR_HZ,
            "after": after * HOP / SR_HZ}


def scores(est_s: np.ndarray, start_s: float, end_s: float, n: float) -> dict[str, float]:
    """Tempo check plus mir_eval F, CMLt, AMLt against the evenly spaced reference."""
    period = (end_s - start_s) / n
    ref = start_s + np.arange(int(round(n))) * period
    est = est_s[(est_s >= start_s - period / 2) & (est_s < end_s)]
    cont = mir_eval.beat.continuity(ref, est)
    return {**beats.tempo_check(est_s, start_s=start_s, end_s=end_s, n_true_beats=n),
            "F": mir_eval.beat.f_measure(ref, est), "CMLt": cont[1], "AMLt": cont[3]}


def main(data: Path) -> None:
    roots = [p for p in (data / "tang2018", data / "tang2018-extra") if p.is_dir()]
    if not roots:
        sys.exit(f"no tang2018 data under {data}")
    specs = sorted(scan(roots).pairs, key=lambda s: s.pair_id)
    print(f"librosa {librosa.__version__}, mir_eval {mir_eval.__version__}; grid {SR_HZ} Hz / "
          f"hop {HOP}; after = {beats.tracker_params()['tempo']}\n")
    print("| pair | true bpm | tracker | tracked bpm | ratio | level | F | CMLt | AMLt |")
    print("| --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    rest, summary = [], {k: [] for k in ("before", "default", "after")}
    for spec in specs:
        name = Path(spec.params["folder"]).name
        span = true_beat_span(spec)
        if span is None:
            rest.append((name, spec))
            continue
        start_s, end_s, n = span
        for k, est in trackers(spec.track.path).items():
            s = scores(est, start_s, end_s, float(n))
            summary[k].append(s)
            print(f"| {name} | {s['true_bpm']:.1f} | {k} | {s['tracked_bpm']:.1f} | "
                  f"{s['ratio']:.3f} | {s['level'] or 'none'} | {s['F']:.2f} | "
                  f"{s['CMLt']:.2f} | {s['AMLt']:.2f} |")
    print("\n| tracker | pairs ok (within 4%) | metrical errors | mean F | mean CMLt | mean AMLt |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for k, rows in summary.items():
        ok = sum(r["verdict"] == "ok" for r in rows)
        bad = [f"{r['level']}" for r in rows if r["verdict"] == "metrical_error"]
        print(f"| {k} | {ok}/{len(rows)} | {len(bad)} ({', '.join(bad) or '-'}) | "
              f"{np.mean([r['F'] for r in rows]):.2f} | {np.mean([r['CMLt'] for r in rows]):.2f}"
              f" | {np.mean([r['AMLt'] for r in rows]):.2f} |")
    print("\nWaltz (approximate: about 4 skeleton frames per beat, README; ±8%) and other "
          "pairs: tracked bpm over S..E, before -> after")
    for name, spec in rest:
        p = spec.params
        start_s, end_s = p["start_frame"] / 25, p["end_frame"] / 25
        approx = p["length"] / 4 if spec.style == "waltz" else None
        t = trackers(spec.track.path)
        if approx is None:
            print(f"  {name} ({spec.style}): no beat count to compare with")
            continue
        c = {k: beats.tempo_check(t[k], start_s=start_s, end_s=end_s, n_true_beats=approx,
                                  tol=0.08) for k in ("before", "after")}
        print(f"  {name}: ~{c['after']['true_bpm']:.1f} | before {c['before']['tracked_bpm']:.1f}"
              f" (x{c['before']['ratio']:.2f}, {c['before']['level'] or 'none'}) -> after "
              f"{c['after']['tracked_bpm']:.1f} (x{c['after']['ratio']:.2f}, "
              f"{c['after']['level'] or 'none'})")

if __name__ == "__main__":
    default = Path(os.environ.get("MOTIONPAIR_DATA") or
                   Path(__file__).resolve().parents[1].parent / "shared" / "data")
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
