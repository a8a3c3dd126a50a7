"""Alignment evidence on the real tang2018 pairs: timing of the evidence pass, and the planted-
shift sweep over EVERY pair (the test covers only the pairs whose dance starts > 6 s in).

    python benchmarks/alignment_evidence.py [DATA_DIR]   (default ../shared/data/tang2018)

Uses $MOTIONPAIR_CACHE for features. Prints, per pair and cut d, the estimate's error in
output frames (1/30 s) after cutting d seconds off the real MP3 and recomputing features.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from motionpair.align.clock import clock_for
from motionpair.align.evidence import EvidenceConfig
from motionpair.align.offset import estimate_offset
from motionpair.build.pair import motion_grid, track_features
from motionpair.build.scan import scan
from motionpair.cache import Cache, default_cache_dir
from motionpair.commands.align import evidence_for_inputs
from motionpair.config import BuildConfig
from motionpair.features.audio import compute_features, decode_audio
from motionpair.timebase import frames_to_time

CUTS_S = (0.52, 1.3, 2.76)


def main(data: Path) -> None:
    cfg, cache = BuildConfig(), Cache(default_cache_dir())
    t0 = time.perf_counter()
    block, _, _ = evidence_for_inputs([data], cfg, cache_dir=cache.root, cfg=EvidenceConfig())
    print(f"evidence for {len(block['pairs'])} pairs: {time.perf_counter() - t0:.2f} s "
          "(features and motion grids from the cache)")
    errors = []
    for spec in scan([data]).pairs:
        feats = track_features(spec, cfg, cache)
        grid = motion_grid(spec, clock_for(spec, feats), cfg, cache)
        kin = np.asarray(frames_to_time(grid.first_frame + np.flatnonzero(grid.kin_beat),
                                        grid.fps))
        period = 60.0 / feats.tempo_bpm
        base, _, _ = estimate_offset(feats.arrays["onset_env"], cfg.fps_exact, kin,
                                     beat_period_s=period, sigma_s=0.05)
        y, sr = decode_audio(spec.track.path)
        for d in CUTS_S:
            cut = compute_features(y[round(d * sr):], native_sr_hz=sr, track_id="cut",
                                   sr_hz=cfg.sr_hz, hop=cfg.hop)
            est, _, _ = estimate_offset(cut.arrays["onset_env"], cfg.fps_exact, kin,
                                        beat_period_s=period, sigma_s=0.05, center_s=-d)
            err_frames = (est.offset_s - base.offset_s + d) * float(cfg.fps_exact)
            errors.append(abs(err_frames))
            print(f"{spec.session}  start {spec.params['start_frame'] / 25:6.2f} s  ratio "
                  f"{base.peak_ratio:5.3f}  d {d:4.2f} s  error {err_frames:+8.3f} frames")
    e = np.asarray(errors)
    print(f"within one frame: {int((e < 1).sum())} of {len(e)}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tang2018"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
