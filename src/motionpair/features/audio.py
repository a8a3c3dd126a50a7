"""Audio decoding and per-track librosa features on the output frame grid.

One recipe, used by ``build`` and ``prep-audio`` alike: frame k of every
feature is centred at sample ``k * hop`` (librosa ``center=True``), i.e. at
``k / fps`` seconds with ``fps = sr / hop`` exactly.
"""

from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from motionpair.features import beats
from motionpair.timebase import frame_rate, frames_to_onehot, frames_to_time
from motionpair.types import AudioFeatures, AudioRef

#: Bump when the feature recipe changes: it is part of every cache key.
AUDIO_STAGE_VERSION = "audio-2"  # audio-2: beat tempo from motionpair.features.beats

#: What computing features imports. librosa loads its submodules lazily and numba compiles
#: some of their functions at import (about 2 CPU-s per process): a worker pool's
#: forkserver imports these once, and every worker forked from it starts with them.
#: ``motionpair.features.librosa_beat`` imports librosa.beat with the one function librosa
#: compiles at import without caching it cached too
#: (:func:`motionpair.features.numba_cache.import_librosa_beat`).
PRELOAD_MODULES = ("librosa", "librosa.core", "librosa.feature", "librosa.feature.rhythm",
                   "motionpair.features.librosa_beat", "librosa.beat", "librosa.onset",
                   "scipy.signal", "soundfile", "soxr")

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
    return _mono(data), int(native_sr)


def _mono(data: np.ndarray) -> np.ndarray:
    """``data.mean(axis=1)`` as float32, bit for bit; stereo as ``(left + right) / 2``, which
    is the same float32 arithmetic at a third of the cost of numpy's strided reduction."""
    if data.shape[1] == 2:
        mono = np.add(data[:, 0], data[:, 1])
        mono /= np.float32(2)
        return mono
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)


#: Decoded audio shorter than this share of its header's duration is a truncated file.
MIN_DECODED_SHARE = 0.99
#: The assumption of a pair built from a truncated file's decodable part.
TRUNCATED = "audio.truncated_tail_after_dance"
TRUNCATED_TEXT = ("the audio file decodes shorter than its header declares (cut tail); the "
                  "danced span lies inside what decodes, so the pair is built from the "
                  "decoded audio; features near the cut (beat tracking, onsets) see no music "
                  "after it; the missing seconds are in dataset.json pairs[].audio_truncated")


def truncation_facts(track: AudioRef) -> dict[str, float] | None:
    """``{declared_s, decoded_s, missing_s}`` of a track kept from a truncated file, else None."""
    t = track
    if t.declared_s is None or t.duration_s is None:
        return None
    return {"declared_s": round(t.declared_s, 6), "decoded_s": round(t.duration_s, 6),
            "missing_s": round(t.declared_s - t.duration_s, 6)}


def decodable_s(path: str | Path, declared_s: float, *, min_share: float = 0.99) -> float:
    """Seconds of ``path`` that decode: ``declared_s`` when audio decodes at ``min_share`` of
    the header's duration (checked by one seek and a 1 s read, ~15 ms), else the length of a
    full decode (a truncated file: libsndfile decodes a cut MP3 up to the cut, silently).

    ``ValueError`` naming the file when it cannot be opened.
    """
    import soundfile as sf

    try:
        with sf.SoundFile(os.fsencode(path)) as f:
            frames, sr = f.frames, f.samplerate
            try:
                f.seek(int(min_share * frames))
                if len(f.read(min(sr, frames), dtype="float32")):
                    return declared_s
            except sf.LibsndfileError:  # a seek past the decodable end of a cut file
                pass
    except Exception as exc:  # libsndfile's errors do not name the file
        raise ValueError(f"{path}: not decodable audio ({exc})") from exc
    y, native_sr = decode_audio(path)
    return frames_to_time(len(y), native_sr)  # samples -> s


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

    The build computes the same recipe in two steps (:func:`base_features`, then
    :func:`chroma_span` over the frames its windows read, :func:`with_chroma`); the values
    are the same.

    Examples
    --------
    >>> y = np.zeros(22050, dtype=np.float32)
    >>> f = compute_features(y, native_sr_hz=22050, track_id="silence", sr_hz=22050, hop=735)
    >>> f.arrays["baseline35"].shape
    (31, 35)
    """
    base, y_c = base_features(y_native, native_sr_hz=native_sr_hz, track_id=track_id,
                              sr_hz=sr_hz, hop=hop, n_mels=n_mels, n_fft=n_fft, n_mfcc=n_mfcc)
    n = base.n_frames
    return with_chroma(base, chroma_span(y_c, base.params, 0, n, n_frames=n), 0)


#: Arrays of :func:`base_features` beyond the dataset's audio arrays (baseline35's MFCC part).
BASE_EXTRA_ARRAYS = ("mfcc",)


def base_features(y_native: np.ndarray, *, native_sr_hz: int, track_id: str, sr_hz: int,
                  hop: int, n_mels: int = 128, n_fft: int = 2048,
                  n_mfcc: int = 20) -> tuple[AudioFeatures, np.ndarray]:
    """Every whole-track part of the recipe; ``(features without baseline35, y_c)``.

    The arrays are ``mel``, ``onset_env``, ``music_beat``, ``onset_peak`` and ``mfcc``
    (baseline35's MFCC columns); beats, tempo and the chroma's tuning (``params
    ["chroma_tuning"]``, in fractions of a bin at 36 bins per octave, estimated over the
    whole track exactly as ``chroma_cens`` does) depend on the whole track. ``y_c`` is the
    track at the chroma rate (``params["chroma_sr_hz"]``), for :func:`chroma_span`.
    """
    import librosa

    y = resample(y_native, orig_sr_hz=native_sr_hz, sr_hz=sr_hz)
    fps = frame_rate(sr_hz, hop)
    n = 1 + len(y) // hop
    mel_db, env = onset_envelope(y, sr_hz=sr_hz, hop=hop, n_fft=n_fft, n_mels=n_mels)
    mfcc = librosa.feature.mfcc(S=mel_db, sr=sr_hz, n_mfcc=n_mfcc)
    c_grid = chroma_grid(fps) or (sr_hz, hop)
    y_c = resample(y_native, orig_sr_hz=native_sr_hz, sr_hz=c_grid[0])
    tuning = chroma_tuning(y_c, c_grid[0])
    peaks = librosa.onset.onset_detect(onset_envelope=env, sr=sr_hz, hop_length=hop)
    # the tempo's reference rate is usually the build's: the same soxr call, not done twice
    y_ref = y if sr_hz == beats.TEMPO_REF_SR_HZ else None
    tempo, beat_frames = track_beats_of(y_native, env, native_sr_hz=native_sr_hz, sr_hz=sr_hz,
                                        hop=hop, y_ref=y_ref)
    feats = AudioFeatures(
        track_id=track_id,
        sr_hz=int(sr_hz),
        hop=int(hop),
        duration_s=frames_to_time(len(y), sr_hz),  # samples -> s, exact
        arrays={
            "mel": np.ascontiguousarray(mel_db.T[:n], dtype=np.float32),
            "onset_env": env[:n].astype(np.float32),
            "music_beat": frames_to_onehot(beat_frames, n),
            "onset_peak": frames_to_onehot(peaks, n),
            "mfcc": np.ascontiguousarray(mfcc.T[:n]),
        },
        beat_times_s=np.asarray(frames_to_time(beat_frames, fps)),
        tempo_bpm=tempo,
        params={**feature_params(sr_hz=sr_hz, hop=hop, n_mels=n_mels, n_fft=n_fft,
                                 n_mfcc=n_mfcc),
                "fps": float(fps), "chroma_sr_hz": c_grid[0], "chroma_hop": c_grid[1],
                "chroma_tuning": tuning},
    )
    return feats, y_c


#: chroma_cens's CQT resolution (librosa's default), also the tuning estimate's.
CHROMA_BINS_PER_OCTAVE = 36
#: Audio (s) computed on each side of a chroma span and then dropped: the lowest CQT filter
#: (C1, about 1.6 s long at 36 bins per octave), the CENS smoothing (41 frames, 1.4 s) and
#: the resamplers' transients, with margin. With 4 s every frame inside the span is
#: bit-identical to the whole-track computation on every tang2018 track (tests/test_perf.py).
CHROMA_PAD_S = 4.0


#: ``librosa.piptrack``'s defaults, as ``estimate_tuning`` calls it.
PIPTRACK_N_FFT = 2048
PIPTRACK_FMIN_HZ = 150.0
PIPTRACK_FMAX_HZ = 4000.0
PIPTRACK_THRESHOLD = 0.1


def chroma_tuning(y_c: np.ndarray, sr_hz: int) -> float:
    """``librosa.estimate_tuning(y=y_c, sr=sr_hz, bins_per_octave=36)`` (what ``chroma_cens``
    estimates when given no tuning), the same value at about half the cost.

    ``piptrack`` keeps peaks only in 150 <= f < 4000 Hz, yet interpolates and searches
    every STFT bin; this does the same arithmetic on the kept bins and one neighbour on
    each side (every step is local along frequency; the per-frame threshold still uses
    all bins), so the pitches, their magnitudes and the tuning are identical
    (tests/test_perf.py compares it with librosa on real tracks). In fractions of a bin at
    36 bins per octave.
    """
    import librosa
    from librosa.core.pitch import _parabolic_interpolation

    n_fft = PIPTRACK_N_FFT
    S = np.abs(np.abs(librosa.stft(y_c, n_fft=n_fft, center=True, window="hann",
                                   pad_mode="constant")) ** 1)
    freqs = librosa.fft_frequencies(sr=sr_hz, n_fft=n_fft)
    band = np.flatnonzero((max(PIPTRACK_FMIN_HZ, 0.0) <= freqs)
                          & (freqs < min(PIPTRACK_FMAX_HZ, float(sr_hz) / 2)))
    if band.size == 0 or S.shape[-1] == 0:
        return float(librosa.estimate_tuning(y=y_c, sr=sr_hz,
                                             bins_per_octave=CHROMA_BINS_PER_OCTAVE))
    b0, b1 = int(band[0]), int(band[-1]) + 1
    lo, hi = max(b0 - 1, 0), min(b1 + 1, S.shape[0])
    Sb = S[lo:hi]
    shift = _parabolic_interpolation(Sb, axis=-2)
    dskew = 0.5 * np.gradient(Sb, axis=-2) * shift
    ref = np.expand_dims(PIPTRACK_THRESHOLD * np.max(S, axis=-2), -2)
    keep = librosa.util.localmax(Sb * (Sb > ref), axis=-2)[b0 - lo:b1 - lo]
    fi, ti = np.nonzero(keep)
    fb = fi + (b0 - lo)
    # float32 like piptrack's output arrays
    pitch = (((fi + b0) + shift[fb, ti]) * float(sr_hz) / n_fft).astype(S.dtype)
    mag = (Sb[fb, ti] + dskew[fb, ti]).astype(S.dtype)
    voiced = pitch > 0
    threshold = np.median(mag[voiced]) if voiced.any() else 0.0
    return float(librosa.pitch_tuning(pitch[(mag >= threshold) & voiced], resolution=0.01,
                                      bins_per_octave=CHROMA_BINS_PER_OCTAVE))


def chroma_span(y_c: np.ndarray, params: dict[str, Any], lo: int, hi: int, *,
                n_frames: int) -> np.ndarray:
    """Chroma CENS of frames ``lo .. hi-1`` of the build grid, ``(hi - lo, 12)``.

    Computed on ``y_c`` (the track at ``params["chroma_sr_hz"]``) from
    ``CHROMA_PAD_S`` before ``lo`` to ``CHROMA_PAD_S`` after ``hi``, with the whole track's
    tuning (``params["chroma_tuning"]``): the same values as ``chroma_cens`` over the whole
    track. The segment starts on a multiple of the chroma hop, so the CQT's octave
    decimations see the same sample phases as on the whole track. ``n_frames``: the track's
    frame count (the last chroma frame is repeated past the CQT's, as before).
    """
    import librosa

    if not 0 <= lo <= hi <= n_frames:
        raise ValueError(f"chroma span {lo}..{hi} outside the track's {n_frames} frames")
    c_sr, c_hop = int(params["chroma_sr_hz"]), int(params["chroma_hop"])
    pad = int(np.ceil(CHROMA_PAD_S * c_sr / c_hop))  # chroma frames = build frames
    a = max(0, lo - pad)
    end = min(len(y_c), (hi + pad) * c_hop)
    chroma = librosa.feature.chroma_cens(y=y_c[a * c_hop:end], sr=c_sr, hop_length=c_hop,
                                         n_chroma=12, tuning=params["chroma_tuning"],
                                         bins_per_octave=CHROMA_BINS_PER_OCTAVE).T
    if end == len(y_c):  # reaches the track's end: its last frames as the whole track's
        chroma = _fit(chroma, n_frames - a)
    return np.ascontiguousarray(chroma[lo - a:hi - a])


def with_chroma(base: AudioFeatures, chroma: np.ndarray, lo: int) -> AudioFeatures:
    """``base`` (:func:`base_features`) with ``baseline35``; ``chroma``: frames ``lo ..
    lo + len(chroma) - 1`` (:func:`chroma_span`). Frames outside hold NaN in the chroma
    columns: nothing reads them (windows lie inside the span) and NaN would show if
    something did."""
    a = base.arrays
    n = base.n_frames
    full = np.full((n, chroma.shape[1]), np.nan, dtype=chroma.dtype)
    full[lo:lo + len(chroma)] = chroma
    baseline = np.concatenate(
        [a["onset_env"][:, None], a["mfcc"], full, a["onset_peak"][:, None],
         a["music_beat"][:, None]], axis=1).astype(np.float32)
    arrays = {k: v for k, v in a.items() if k not in BASE_EXTRA_ARRAYS}
    arrays = {"mel": arrays.pop("mel"), "onset_env": arrays.pop("onset_env"),
              "baseline35": baseline, **arrays}
    return replace(base, arrays=arrays)


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
                   sr_hz: int, hop: int, y_ref: np.ndarray | None = None
                   ) -> tuple[float, np.ndarray]:
    """``(tempo_bpm, beat_frames)`` of a track: the song tempo on librosa's default grid
    (:func:`motionpair.features.beats.song_tempo_bpm`), then the beats on the build grid
    (:func:`motionpair.features.beats.track_beats`, frame k at ``k * hop / sr_hz`` s).
    ``y_ref``: the track already resampled to :data:`~motionpair.features.beats.TEMPO_REF_SR_HZ`
    (skips that resampling)."""
    if y_ref is None:
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


def one_thread():
    """Native thread pools (BLAS, OpenMP) limited to one thread while a pair is computed.

    A BLAS product splits its sums by thread count: the mel spectrogram of one track on 2
    threads differed from 1 thread in 0.04 % of its float32 values (up to 7.6e-6). A Ray
    worker gets ``OMP_NUM_THREADS=1`` while a local worker inherits the machine's cores, so
    without this the same build gave other bytes on another engine or machine.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
