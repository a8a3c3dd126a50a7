"""numba's on-disk cache for librosa: one folder per environment, filled once, under a lock.

Why this exists
---------------
librosa 0.11 compiles its jitted functions with ``cache=True``: peak picking, local
maxima, zero crossings, phasor angles and ``|z|^2`` at *import* time (``@guvectorize`` with
explicit signatures), the beat tracker's dynamic programme (``__beat_track_dp``,
``__dp_backtrack``, ``__last_beat_selector``, ``__trim_beats``) and pitch tuning's
``_parabolic_interpolation`` (reached through ``chroma_cens`` → CQT → ``estimate_tuning``)
on first call. Two processes compiling the same ``@guvectorize`` function at once can
write its ``.nbc`` and ``guf-*.nbc`` files from different processes, and every later load
then calls a null function pointer: a segfault in ``numba/np/ufunc/gufunc.py``, in every
process, until the files are rewritten (numba issue #10128, fix proposed in numba PR
#10545; librosa issue #1998). A cold ``motionpair build`` with several workers was exactly
that: each worker compiled the same functions concurrently.

What motionpair does
--------------------
1. :func:`configure` (called first thing by the CLI and by ``dataset.build``) points
   ``NUMBA_CACHE_DIR`` at a folder of motionpair's own,
   ``<motionpair cache>/numba/py<X.Y>-numba<v>-librosa<v>``, before numba is imported, so
   the parent, the warm-up child and every worker (which inherit the environment) share one
   cache that only motionpair writes and that ``motionpair doctor --repair`` may clear. A
   ``NUMBA_CACHE_DIR`` the user set is respected; a library caller that imported numba
   before motionpair keeps numba's default location (the warm-up child then uses it too).
2. :func:`warm` runs every audio feature function of the build recipe once in a child
   process (:func:`run_child`), under an exclusive file lock, before any worker starts. The
   child compiles and writes whatever is missing; other builds wait for the lock, and
   workers only ever *load* a complete cache. A child that dies from a signal means a corrupt
   cache: the folder is cleared and warmed again once when it is motionpair's own, otherwise
   the build stops and points at ``motionpair doctor --repair``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ENV = "NUMBA_CACHE_DIR"
#: Waiting for another process's warm-up plus our own cold compile (about 25 s on 2 cores).
WARM_TIMEOUT_S = 900.0
#: Seconds of audio the child analyses (enough for onsets, tuning and a few beats).
CHILD_AUDIO_S = 2.0
CACHE_SUFFIXES = (".nbi", ".nbc")


@dataclass(frozen=True)
class CacheLocation:
    """Where numba's cache for this process and its children lives.

    ``owner`` is ``"motionpair"`` (motionpair's own folder: safe to clear), ``"user"``
    (``NUMBA_CACHE_DIR`` set by the user) or ``"numba-default"`` (no ``NUMBA_CACHE_DIR``:
    ``__pycache__`` folders inside the installed librosa; ``path`` is librosa's folder).
    """

    path: Path | None
    owner: str


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def versions_key() -> str:
    """``py3.11-numba0.68.1-librosa0.11.0``: the environment's compiled-code identity."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"py{py}-numba{_version('numba')}-librosa{_version('librosa')}"


def motionpair_numba_dir() -> Path:
    """motionpair's own numba cache folder for this environment (not created here)."""
    from motionpair.cache import default_cache_dir

    return default_cache_dir() / "numba" / versions_key()


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def configure() -> CacheLocation:
    """Point ``NUMBA_CACHE_DIR`` at motionpair's folder unless the user or numba decided first.

    Must run before numba is imported to take effect in this process; children inherit the
    environment either way. An unwritable motionpair cache leaves numba's default (numba
    refuses to import a cached function whose cache folder it cannot create).
    """
    if os.environ.get(ENV) or "numba" in sys.modules:
        return location()
    own = motionpair_numba_dir()
    if _writable_dir(own):
        os.environ[ENV] = str(own)
    return location()


def location() -> CacheLocation:
    """The cache location in effect for this process (see :class:`CacheLocation`)."""
    if "numba" in sys.modules:
        from numba.core import config as numba_config

        value = getattr(numba_config, "CACHE_DIR", "") or ""
    else:
        value = os.environ.get(ENV, "")
    if value:
        path = Path(value)
        owner = "motionpair" if path == motionpair_numba_dir() else "user"
        return CacheLocation(path, owner)
    import importlib.util

    spec = importlib.util.find_spec("librosa")  # located, not imported
    locs = list(spec.submodule_search_locations or []) if spec else []
    return CacheLocation(Path(locs[0]) if locs else None, "numba-default")


def cache_files(loc: CacheLocation) -> list[Path]:
    """numba's index (``.nbi``) and code (``.nbc``) files at ``loc``."""
    if loc.path is None or not loc.path.is_dir():
        return []
    return sorted(p for p in loc.path.rglob("*") if p.suffix in CACHE_SUFFIXES and p.is_file())


def clear(loc: CacheLocation) -> int:
    """Delete numba's ``.nbi``/``.nbc`` files at ``loc`` and motionpair's check records.

    Returns the number of numba files deleted; nothing else is touched.
    """
    if loc.path is not None and loc.owner != "numba-default":
        for stamp in loc.path.glob(".warm-ok-*"):
            stamp.unlink(missing_ok=True)
    n = 0
    for p in cache_files(loc):
        p.unlink(missing_ok=True)
        n += 1
    return n


def use_lock_path(loc: CacheLocation) -> Path:
    """The in-use lock beside the warm-up lock: builds hold it shared, repairs exclusive."""
    warm_lock = lock_path(loc)
    return warm_lock.with_name(warm_lock.name.replace("warm", "use", 1))


class CacheBusyError(RuntimeError):
    """A build is using numba's cache: it may not be cleared now (one line)."""


@contextmanager
def in_use(loc: CacheLocation | None = None, *, exclusive: bool = False) -> Iterator[Path]:
    """Hold numba's cache lock: shared by every build while its workers load compiled code,
    exclusive (never waiting) by ``doctor --repair``, which deletes that code.

    Deleting cache files under a running build crashed its workers (SIGSEGV) and left a
    cache every later build crashed on. Raises :class:`CacheBusyError` when ``exclusive``
    and any build holds it. The lock file stays (tiny; removing a shared lock safely would
    need every holder's agreement).
    """
    import fcntl

    loc = loc or location()
    path = use_lock_path(loc)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # no writable place for the lock: nothing to coordinate with
        yield path
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError as exc:
            raise CacheBusyError(f"a motionpair build is using the numba cache (lock {path} "
                                 "is held); repair refused so the build is not crashed: run "
                                 "`motionpair doctor --repair` again when it has finished") \
                from exc
        yield path
    finally:
        os.close(fd)


def lock_path(loc: CacheLocation) -> Path:
    """The warm-up lock: inside motionpair's folder, else beside the motionpair cache."""
    from motionpair.cache import default_cache_dir

    if loc.owner == "motionpair" and loc.path is not None:
        return loc.path / ".warm.lock"
    base = default_cache_dir() / "numba"
    if not _writable_dir(base):
        base = Path(tempfile.gettempdir())
    return base / f"warm-{versions_key()}.lock"


@dataclass
class ChildRun:
    """What :func:`run_child` saw: the steps that finished and how the child ended."""

    returncode: int
    steps_ok: list[str]
    failed_step: str | None
    stderr_tail: str
    elapsed_s: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed_step is None

    @property
    def signal_name(self) -> str | None:
        """``SIGSEGV`` etc. when the child was killed by a signal."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    @property
    def looks_like_cache(self) -> bool:
        """A crash, or an error raised from numba's cache loader: clearing the cache may fix it."""
        return bool(self.signal_name) or "numba/core/caching" in self.stderr_tail

    def describe(self) -> str:
        """One line: which step failed and how."""
        where = f"at step {self.failed_step!r}" if self.failed_step else "after all steps"
        if self.signal_name:
            how = f"died from {self.signal_name}"
        elif self.returncode == 124:
            how = "timed out"
        else:
            last = self.stderr_tail.strip().splitlines()[-1:] or [""]
            how = f"failed (exit {self.returncode}: {last[0]})"
        return f"audio feature self-check {how} {where}"


#: The child's steps in order (each prints ``ok <step>`` when it finishes).
STEPS = ("import librosa", "decode", "resample", "melspectrogram", "power_to_db",
         "onset_strength", "mfcc", "estimate_tuning", "chroma_cens", "onset_detect",
         "beat_track", "compute_features")


def run_child(*, sr_hz: int = 22050, hop: int = 735, n_mels: int = 128, n_fft: int = 2048,
              n_mfcc: int = 20, audio_path: str | Path | None = None,
              timeout_s: float = WARM_TIMEOUT_S) -> ChildRun:
    """Run every audio feature function of the recipe once in a fresh child process.

    A segfault (a corrupt numba cache) kills only the child; :attr:`ChildRun.failed_step`
    names the step it died in. ``audio_path``: decode its first :data:`CHILD_AUDIO_S`
    seconds; without it the child uses a synthetic click track (a compile workload, not
    data). The child inherits this process's environment, ``NUMBA_CACHE_DIR`` included.
    """
    cmd = [sys.executable, "-X", "faulthandler", "-m", "motionpair.features.numba_cache",
           "--sr", str(sr_hz), "--hop", str(hop), "--n-mels", str(n_mels),
           "--n-fft", str(n_fft), "--n-mfcc", str(n_mfcc)]
    if audio_path is not None:
        cmd += ["--audio", str(audio_path)]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # this motionpair, even when not installed
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        rc, out, errtext = res.returncode, res.stdout, res.stderr
    except subprocess.TimeoutExpired as exc:
        rc, errtext = 124, _text(exc.stderr)
        out = _text(exc.stdout)
    done: list[str] = []
    info: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith("ok "):
            done.append(line[3:].strip())
        elif line.startswith("info "):
            info = json.loads(line[5:])
    failed = None if len(done) == len(STEPS) else STEPS[len(done)]
    return ChildRun(returncode=rc, steps_ok=done, failed_step=failed,
                    stderr_tail=errtext[-2000:], elapsed_s=time.perf_counter() - t0, info=info)


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")


def run_child_locked(*, audio_path: str | Path | None = None,
                     timeout_s: float = WARM_TIMEOUT_S) -> ChildRun:
    """:func:`run_child` (default recipe) under the warm-up lock: it may compile and write."""
    from filelock import FileLock

    with FileLock(str(lock_path(location()))).acquire(timeout=timeout_s):
        return run_child(audio_path=audio_path, timeout_s=timeout_s)


class CorruptCacheError(RuntimeError):
    """The audio feature self-check failed even after repair (or could not be repaired)."""


def warm(*, sr_hz: int = 22050, hop: int = 735, n_mels: int = 128, n_fft: int = 2048,
         n_mfcc: int = 20, timeout_s: float = WARM_TIMEOUT_S, log=None) -> ChildRun:
    """Fill (or check) the numba cache once, under an exclusive lock, in a child process.

    A check that passed is recorded (:func:`_fingerprint`); while no cache file changed
    since, the child is skipped (it costs a librosa import, several seconds).

    Returns the successful :class:`ChildRun`. A failed child (a segfault, or numba failing
    to load a damaged file) in motionpair's own folder: the folder is cleared and warmed once
    more (``log`` gets one line saying so). A failure left after that raises
    :class:`CorruptCacheError` with one line pointing at ``motionpair doctor``.
    """
    from filelock import FileLock, Timeout

    loc = location()
    params: dict[str, Any] = {"sr_hz": sr_hz, "hop": hop, "n_mels": n_mels, "n_fft": n_fft,
                              "n_mfcc": n_mfcc}
    lock = FileLock(str(lock_path(loc)))
    try:
        with lock.acquire(timeout=timeout_s):
            stamp = _stamp_path(loc, params)
            if stamp is not None and _read(stamp) == _fingerprint(loc, params):
                return ChildRun(returncode=0, steps_ok=list(STEPS), failed_step=None,
                                stderr_tail="", elapsed_s=0.0, info={"stamp": str(stamp)})
            run = run_child(**params, timeout_s=timeout_s)
            if not run.ok and loc.owner == "motionpair":  # ours: clearing costs a compile
                n = clear(loc)
                if log:
                    log(f"numba cache at {loc.path} was corrupt ({run.describe()}); "
                        f"cleared {n} file(s) and compiled again")
                run = run_child(**params, timeout_s=timeout_s)
            if run.ok and stamp is not None:
                _write_stamp(stamp, _fingerprint(loc, params))
    except Timeout as exc:
        raise CorruptCacheError(f"waited {timeout_s:.0f} s for the numba warm-up lock "
                                f"{lock.lock_file}; is another build stuck?") from exc
    if not run.ok:
        hint = ("run `motionpair doctor --repair`" if run.looks_like_cache
                else "run `motionpair doctor`")
        raise CorruptCacheError(f"{run.describe()} (numba cache {loc.path}, {loc.owner}); "
                                f"{hint}")
    return run


def checked(loc: CacheLocation | None = None) -> bool:
    """Whether a self-check passed on this cache and no cache file changed since (for any
    recipe parameters): every import-time compiled function is then on disk, and a process
    importing librosa only reads the cache (safe beside other processes)."""
    loc = loc or location()
    if loc.owner == "numba-default" or loc.path is None:
        return False
    for stamp in loc.path.glob(".warm-ok-*"):
        try:
            rec = json.loads(_read(stamp) or "")
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("params") and \
                _read(stamp) == _fingerprint(loc, rec["params"]):
            return True
    return False


def _stamp_path(loc: CacheLocation, params: dict[str, Any]) -> Path | None:
    """Where a passed check of ``params`` is recorded (None: numba's default location)."""
    if loc.owner == "numba-default" or loc.path is None:
        return None
    key = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    return loc.path / f".warm-ok-{key}"


def _fingerprint(loc: CacheLocation, params: dict[str, Any]) -> str:
    """Versions, parameters and every cache file's name, size and mtime, as one string.

    A passed check stays valid while no file changed; the race that corrupts the cache
    writes files, which changes this and sends the next build through the child again.
    """
    files = [f"{p.relative_to(loc.path)}:{st.st_size}:{st.st_mtime_ns}"  # type: ignore[arg-type]
             for p in cache_files(loc) for st in [p.stat()]]
    return json.dumps({"versions": versions_key(), "params": params,
                       "cached_too": list(CACHED_TOO), "files": files})


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _write_stamp(path: Path, text: str) -> None:
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable stamp only costs the next build one more check


#: librosa functions compiled at import with ``cache=False`` that motionpair caches too (part
#: of a passed check's record: a cache checked before this list existed is checked again).
#: ``beat.__beat_local_score`` alone cost 1.35 CPU-s in every process that imported
#: librosa.beat (the build's forkserver, on the critical path before any pair starts).
CACHED_TOO = ("librosa.beat.__beat_local_score",)


def import_librosa_beat() -> None:
    """Import ``librosa.beat`` with its import-time ``@guvectorize`` functions cached on disk,
    :data:`CACHED_TOO` included (librosa declares that one ``cache=False``; the same code is
    compiled, once, and loaded from the cache afterwards: the same machine code, the same
    beats).

    Only where the cache is written under the warm-up lock or was checked complete: the
    warm-up child (:func:`_child_main`) and the build's forkserver, which is started only
    after :func:`warm` or on a :func:`checked` cache (``audio.PRELOAD_MODULES`` imports
    :mod:`motionpair.features.librosa_beat`). Anywhere else librosa.beat is imported as
    librosa ships it (compiled in the process, never written). No-op when librosa.beat is
    already imported.
    """
    if "librosa.beat" in sys.modules:
        return
    import numba

    plain = numba.guvectorize
    names = {n.rpartition(".")[2] for n in CACHED_TOO}

    def guvectorize(*args: Any, **kwargs: Any) -> Any:
        def apply(fn: Any) -> Any:  # only the listed functions change
            return plain(*args, **{**kwargs, "cache": True} if fn.__name__ in names
                         else kwargs)(fn)
        return apply

    numba.guvectorize = guvectorize
    try:
        import librosa.beat  # noqa: F401
    finally:
        numba.guvectorize = plain


def _synthetic_clicks(sr_hz: int, seconds: float) -> Any:
    """A 120 bpm click track over faint noise: onsets, a tempo and a pitch to track."""
    import numpy as np

    n = int(sr_hz * seconds)
    rng = np.random.default_rng(0)
    y = 0.01 * rng.standard_normal(n)
    t = np.arange(int(0.05 * sr_hz)) / sr_hz
    click = np.sin(2 * np.pi * 440.0 * t) * np.exp(-t * 60.0)
    for start in range(0, n - len(click), sr_hz // 2):
        y[start:start + len(click)] += click
    return y.astype(np.float32)


def _child_main(argv: list[str]) -> int:
    """The child of :func:`run_child`: one line ``ok <step>`` per finished step."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m motionpair.features.numba_cache")
    ap.add_argument("--sr", type=int, default=22050)
    ap.add_argument("--hop", type=int, default=735)
    ap.add_argument("--n-mels", type=int, default=128)
    ap.add_argument("--n-fft", type=int, default=2048)
    ap.add_argument("--n-mfcc", type=int, default=20)
    ap.add_argument("--audio", default=None)
    a = ap.parse_args(argv)

    def ok(step: str) -> None:
        print(f"ok {step}", flush=True)

    import librosa

    import_librosa_beat()  # before anything loads librosa.beat: its cache is written here
    ok("import librosa")
    from motionpair.features import audio

    if a.audio:
        import soundfile as sf

        with sf.SoundFile(a.audio) as f:
            native_sr = int(f.samplerate)
            data = f.read(frames=int(CHILD_AUDIO_S * native_sr), dtype="float32",
                          always_2d=True)
        y_native = data.mean(axis=1).astype("float32")
    else:
        native_sr = 44100  # the tang2018 MP3s' rate: the resampler runs as in a build
        y_native = _synthetic_clicks(native_sr, CHILD_AUDIO_S)
    ok("decode")
    y = audio.resample(y_native, orig_sr_hz=native_sr, sr_hz=a.sr)
    ok("resample")
    S = librosa.feature.melspectrogram(y=y, sr=a.sr, n_fft=a.n_fft, hop_length=a.hop,
                                       n_mels=a.n_mels, center=True)
    ok("melspectrogram")
    mel_db = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None)
    ok("power_to_db")
    env = librosa.onset.onset_strength(S=mel_db, sr=a.sr)
    ok("onset_strength")
    librosa.feature.mfcc(S=mel_db, sr=a.sr, n_mfcc=a.n_mfcc)
    ok("mfcc")
    librosa.estimate_tuning(y=y, sr=a.sr)
    ok("estimate_tuning")
    librosa.feature.chroma_cens(y=y, sr=a.sr, hop_length=a.hop, n_chroma=12)
    ok("chroma_cens")
    librosa.onset.onset_detect(onset_envelope=env, sr=a.sr, hop_length=a.hop)
    ok("onset_detect")
    librosa.beat.beat_track(onset_envelope=env, sr=a.sr, hop_length=a.hop, start_bpm=120.0,
                            tightness=100)
    ok("beat_track")
    feats = audio.compute_features(y_native, native_sr_hz=native_sr, track_id="self-check",
                                   sr_hz=a.sr, hop=a.hop, n_mels=a.n_mels, n_fft=a.n_fft,
                                   n_mfcc=a.n_mfcc)
    ok("compute_features")
    print("info " + json.dumps({"frames": int(feats.n_frames),
                                "beats": int(len(feats.beat_times_s)),
                                "numba_cache_dir": os.environ.get(ENV, "")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
