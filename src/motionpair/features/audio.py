"""Audio decoding and per-track librosa features on the output frame grid.

One recipe, used by ``build`` and ``prep-audio`` alike: frame k of every
feature is centred at sample ``k * hop`` (librosa ``center=True``), i.e. at
``k / fps`` seconds with ``fps = sr / hop`` exactly.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.features import beats
from motionpair.timebase import frame_rate, frames_to_onehot, frames_to_time
from motionpair.types import AudioFeatures

#: Bump when the feature recipe changes: it is part of every cache key.
AUDIO_STAGE_VERSION = "audio-2"  # audio-2: beat tempo from motionpair.features.beats

BASELINE35_LAYOUT = (
    ("onset_env", 1),
    ("mfcc", 20),
    ("chroma_cens", 12),
    ("onset_peak", 1),
    ("beat", 1),
)


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 at its native rate; returns ``(y, native_sr_hz)``.

    Decoding is done by soundfile (libsndfile >= 1.1 reads MP3). Raises
    ``ValueError`` naming the file when it is not audio or holds no samples.
    """
    import soundfile as sf

    try:
        data, native_sr = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile's errors do not name the file
        raise ValueError(f"{path}: not decodable audio ({exc})") from exc
    if data.shape[0] == 0:
        raise ValueError(f"{path}: audio file decodes to zero samples")
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), int(native_sr)


def resample(y: np.ndarray, *, orig_sr_hz: int, sr_hz: int) -> np.ndarray:
    """Resample with soxr (HQ), the same resampler librosa uses by default."""
    import soxr

    if orig_sr_hz == sr_hz:
        return y
    return np.ascontiguousarray(soxr.resample(y, orig_sr_hz, sr_hz, quality="HQ"), np.float32)


def load_audio(path: str | Path, *, sr_hz: int) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 at ``sr_hz``; returns ``(y, native_sr_hz)``."""
    y, native_sr = decode_audio(path)
    return resample(y, orig_sr_hz=native_sr, sr_hz=sr_hz), native_sr


def chroma_grid(fps: Fraction) -> tuple[int, int] | None:
    """A (sr_hz, hop) pair on the same ``fps`` grid whose hop is a power of two.

    librosa's CQT only downsamples octaves when the hop has factors of two;
    at an odd hop such as 735 chroma costs ~15x more. The chroma needs content
    up to ~4.2 kHz (C8), so any sr >= 10 kHz serves.
    """
    for hop in (2048, 1024, 512, 256, 128, 64):
        sr = fps * hop
        if sr.denominator == 1 and 10000 <= sr <= 24000:
            return int(sr), hop
    return None


def feature_params(*, sr_hz: int, hop: int, n_mels: int = 128, n_fft: int = 2048,
                   n_mfcc: int = 20) -> dict[str, Any]:
    """The full parameter set of the recipe (recorded in dataset.json and cache keys)."""
    return {
        "stage_version": AUDIO_STAGE_VERSION,
        "sr_hz": int(sr_hz),
        "hop": int(hop),
        "n_fft": int(n_fft),
        "n_mels": int(n_mels),
        "n_mfcc": int(n_mfcc),
        "center": True,
        "mel_db": "power_to_db(ref=1.0, amin=1e-10, top_db=None)",
        "beat_tracker": beats.tracker_params(),
        "onset_peaks": "librosa.onset.onset_detect(onset_envelope)",
        "chroma": "librosa.feature.chroma_cens(n_chroma=12)",
        "resample": "soxr_hq",
    }


def compute_features(y_native: np.ndarray, *, native_sr_hz: int, track_id: str, sr_hz: int,
                     hop: int, n_mels: int = 128, n_fft: int = 2048,
                     n_mfcc: int = 20) -> AudioFeatures:
    """Compute the per-track feature set on the ``sr_hz / hop`` frame grid.

    Arrays (first axis = frames, ``n = 1 + len(y) // hop``):

    - ``mel``: (n, n_mels) log-mel power in dB
    - ``onset_env``: (n,) onset strength
    - ``baseline35``: (n, 35) the FACT/EDGE music baseline, in the order
      onset envelope (1), MFCC (20), chroma CENS (12), onset-peak one-hot (1),
      beat one-hot (1)
    - ``music_beat``: (n,) uint8 beat one-hot; ``onset_peak``: (n,) uint8

    Examples
    --------
    >>> y = np.zeros(22050, dtype=np.float32)
    >>> f = compute_features(y, native_sr_hz=22050, track_id="silence", sr_hz=22050, hop=735)
    >>> f.arrays["baseline35"].shape
    (31, 35)
    """
    import librosa

    y = resample(y_native, orig_sr_hz=native_sr_hz, sr_hz=sr_hz)
    fps = frame_rate(sr_hz, hop)
    n = 1 + len(y) // hop
    mel_db, env = onset_envelope(y, sr_hz=sr_hz, hop=hop, n_fft=n_fft, n_mels=n_mels)
    mfcc = librosa.feature.mfcc(S=mel_db, sr=sr_hz, n_mfcc=n_mfcc)
    c_grid = chroma_grid(fps) or (sr_hz, hop)
    y_c = resample(y_native, orig_sr_hz=native_sr_hz, sr_hz=c_grid[0])
    chroma = librosa.feature.chroma_cens(y=y_c, sr=c_grid[0], hop_length=c_grid[1], n_chroma=12)
    peaks = librosa.onset.onset_detect(onset_envelope=env, sr=sr_hz, hop_length=hop)
    tempo, beat_frames = track_beats_of(y_native, env, native_sr_hz=native_sr_hz, sr_hz=sr_hz,
                                        hop=hop)
    onset_peak = frames_to_onehot(peaks, n)
    music_beat = frames_to_onehot(beat_frames, n)
    baseline = np.concatenate(
        [env[:n, None], mfcc.T[:n], _fit(chroma.T, n), onset_peak[:, None], music_beat[:, None]],
        axis=1,
    ).astype(np.float32)
    return AudioFeatures(
        track_id=track_id,
        sr_hz=int(sr_hz),
        hop=int(hop),
        duration_s=frames_to_time(len(y), sr_hz),  # samples -> s, exact
        arrays={
            "mel": np.ascontiguousarray(mel_db.T[:n], dtype=np.float32),
            "onset_env": env[:n].astype(np.float32),
            "baseline35": baseline,
            "music_beat": music_beat,
            "onset_peak": onset_peak,
        },
        beat_times_s=np.asarray(frames_to_time(beat_frames, fps)),
        tempo_bpm=tempo,
        params={**feature_params(sr_hz=sr_hz, hop=hop, n_mels=n_mels, n_fft=n_fft,
                                 n_mfcc=n_mfcc),
                "fps": float(fps), "chroma_sr_hz": c_grid[0], "chroma_hop": c_grid[1]},
    )


def onset_envelope(y: np.ndarray, *, sr_hz: int, hop: int, n_fft: int = 2048,
                   n_mels: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """``(mel_db, onset_env)`` of ``y`` (at ``sr_hz``) on the ``sr_hz / hop`` grid.

    ``mel_db`` is (n_mels, frames) log-mel power in dB re 1.0; ``onset_env`` (frames,) is
    librosa's onset strength of it (the recipe of :func:`compute_features`).
    """
    import librosa

    S = librosa.feature.melspectrogram(y=y, sr=sr_hz, n_fft=n_fft, hop_length=hop,
                                       n_mels=n_mels, center=True)
    mel_db = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None)
    return mel_db, librosa.onset.onset_strength(S=mel_db, sr=sr_hz)


def track_beats_of(y_native: np.ndarray, onset_env: np.ndarray, *, native_sr_hz: int,
                   sr_hz: int, hop: int) -> tuple[float, np.ndarray]:
    """``(tempo_bpm, beat_frames)`` of a track: the song tempo on librosa's default grid
    (:func:`motionpair.features.beats.song_tempo_bpm`), then the beats on the build grid
    (:func:`motionpair.features.beats.track_beats`, frame k at ``k * hop / sr_hz`` s)."""
    y_ref = resample(y_native, orig_sr_hz=native_sr_hz, sr_hz=beats.TEMPO_REF_SR_HZ)
    start_bpm = beats.song_tempo_bpm(y_ref)
    return beats.track_beats(onset_env, sr_hz=sr_hz, hop=hop, start_bpm=start_bpm)


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    """Trim or edge-pad along frames: CQT framing can differ from STFT's by one frame."""
    if a.shape[0] >= n:
        return a[:n]
    return np.pad(a, ((0, n - a.shape[0]), (0, 0)), mode="edge")


def feature_specs(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Name, per-frame shape, dtype and meaning of every audio array (for dataset.json)."""
    return {
        "mel": {"shape": ["T", params["n_mels"]], "dtype": "float32",
                "meaning": "log-mel power spectrogram, dB re 1.0"},
        "onset_env": {"shape": ["T"], "dtype": "float32", "meaning": "librosa onset strength"},
        "baseline35": {"shape": ["T", 35], "dtype": "float32",
                       "meaning": "FACT/EDGE music baseline",
                       "layout": [{"name": k, "width": w} for k, w in BASELINE35_LAYOUT]},
        "music_beat": {"shape": ["T"], "dtype": "uint8", "meaning": "beat tracker one-hot"},
        "onset_peak": {"shape": ["T"], "dtype": "uint8", "meaning": "onset peak one-hot"},
    }
