"""Camera offsets from the cameras' own audio: onset-envelope cross-correlation.

Cameras filming one performance hear the same music. Each camera's audio is turned
into a librosa onset-strength envelope (mono, resampled to ``SYNC_SR_HZ``, hop
``SYNC_HOP`` samples: one "audio frame" = 256 / 22050 s = 11.6 ms), z-scored, and
cross-correlated with the reference camera's. The lag with the highest correlation
per overlapping frame (overlaps shorter than ``min_overlap_s`` are not considered)
is refined to a sub-frame lag by a parabola through the peak. Confidence: the
Pearson correlation of the two envelopes at that lag, and the peak ratio
(peak / best other peak at least ``lobe_s`` away, heights above the median, as in
:func:`motionpair.align.offset.pick_peak`) -- music repeats every beat, so a ratio near 1
means the lag is ambiguous by whole beats.

Sign: the returned ``offset_s`` of a camera is what to ADD to its clock to get the
reference camera's clock (``t_ref = t_cam + offset_s``): a camera that started
recording 12 s after the reference has offset +12 s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from motionpair.timebase import frame_rate
from motionpair.xcorr import envelope_lag

SYNC_SR_HZ = 22050
SYNC_HOP = 256
MIN_OVERLAP_S = 5.0
LOBE_S = 0.2
SYNC_ASSUMPTION = "capture.camera_offsets_from_audio_onsets"
ASSUMPTIONS = {
    SYNC_ASSUMPTION: "cameras of one session heard the same sound; each camera's clock offset "
                     "to the reference camera is the lag that maximises the cross-correlation "
                     "of their audio onset envelopes (sub-frame by parabolic interpolation); "
                     "audio and video of one camera share its container clock",
}


@dataclass(frozen=True)
class SyncEstimate:
    """One camera's offset to the reference camera, with its confidence."""

    offset_s: float  # t_ref = t_cam + offset_s
    lag_frames: float  # sub-frame lag of the envelopes (reference frames - camera frames)
    frame_s: float  # one audio frame (s)
    correlation: float  # Pearson r of the overlapping envelopes at the integer peak lag
    peak_ratio: float | None
    overlap_s: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def onset_envelope(y: np.ndarray, sr_hz: int) -> tuple[np.ndarray, Fraction]:
    """Onset strength of mono ``y`` on the sync grid; returns ``(env, frames per second)``."""
    import librosa

    from motionpair.features.audio import resample

    y = resample(np.asarray(y, np.float32), orig_sr_hz=sr_hz, sr_hz=SYNC_SR_HZ)
    env = librosa.onset.onset_strength(y=y, sr=SYNC_SR_HZ, hop_length=SYNC_HOP)
    return env.astype(np.float64), frame_rate(SYNC_SR_HZ, SYNC_HOP)


def camera_offset(ref_y: np.ndarray, ref_sr_hz: int, ref_first_sample_s: float,
                  cam_y: np.ndarray, cam_sr_hz: int, cam_first_sample_s: float
                  ) -> SyncEstimate:
    """Offset of a camera's clock to the reference camera's, from both audio tracks.

    ``*_first_sample_s`` is each audio track's first sample on its camera's clock.
    """
    env_r, fps = onset_envelope(ref_y, ref_sr_hz)
    env_c, _ = onset_envelope(cam_y, cam_sr_hz)
    lag, r, ratio, overlap_s = envelope_lag(env_r, env_c, fps, min_overlap_s=MIN_OVERLAP_S,
                                            lobe_s=LOBE_S)
    frame_s = float(1 / fps)
    offset = lag * frame_s + float(ref_first_sample_s) - float(cam_first_sample_s)
    return SyncEstimate(offset_s=offset, lag_frames=lag, frame_s=frame_s, correlation=r,
                        peak_ratio=ratio, overlap_s=overlap_s)
