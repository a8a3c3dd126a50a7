"""``motionpair doctor``: is this installation able to build? One check per line.

Nothing here imports librosa or numba in the calling process: a corrupt numba cache
segfaults whatever loads it, so the audio feature functions run in a child process
(:func:`motionpair.features.numba_cache.run_child`) and a crash there is reported, not suffered.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from motionpair.features import numba_cache

#: Distributions whose versions are printed (``torch`` is optional: the loader's extra).
DISTRIBUTIONS = ("numpy", "scipy", "numba", "llvmlite", "librosa", "soundfile", "soxr",
                 "pyarrow", "filelock", "torch")
REQUIRED = ("numpy", "scipy", "numba", "librosa", "soundfile", "soxr", "pyarrow", "filelock")


@dataclass
class Check:
    """One line of the report: ``ok`` False makes ``doctor`` exit 1."""

    name: str
    ok: bool
    detail: str


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def real_mp3() -> Path | None:
    """A real tang2018 MP3 under ``$MOTIONPAIR_DATA`` or ``./../shared/data``, if present."""
    roots = [Path(os.environ["MOTIONPAIR_DATA"])] if os.environ.get("MOTIONPAIR_DATA") else []
    roots.append(Path.cwd().parent / "shared" / "data")
    for root in roots:
        found = sorted((root / "tang2018").glob("DANCE_*/audio.mp3"))
        if found:
            return found[0]
    return None


def versions() -> dict[str, str | None]:
    """Python, the libraries motionpair uses (None = not installed) and libsndfile."""
    out: dict[str, str | None] = {"python": platform.python_version(),
                                  "motionpair": _version("motionpair")}
    out.update({d: _version(d) for d in DISTRIBUTIONS})
    try:
        import soundfile as sf

        out["libsndfile"] = str(sf.__libsndfile_version__)
    except (ImportError, OSError):
        out["libsndfile"] = None
    return out


def check_versions(v: dict[str, str | None]) -> Check:
    missing = [d for d in REQUIRED if v.get(d) is None]
    text = ", ".join(f"{k} {v[k] or 'absent'}" for k in v)
    return Check("versions", not missing,
                 text if not missing else f"missing: {', '.join(missing)}; {text}")


def check_mp3(mp3: Path | None) -> Check:
    """Decode 2 s of a real MP3 when one is at hand, else ask libsndfile for its formats."""
    try:
        import soundfile as sf
    except (ImportError, OSError) as exc:
        return Check("mp3 decoding", False, f"soundfile does not load: {exc}")
    if mp3 is not None:
        try:
            with sf.SoundFile(os.fsencode(mp3)) as f:
                data = f.read(frames=2 * f.samplerate, dtype="float32")
                rate = f.samplerate
        except Exception as exc:  # libsndfile raises several types; any means no MP3
            return Check("mp3 decoding", False, f"{mp3}: {exc} (needs libsndfile >= 1.1)")
        return Check("mp3 decoding", len(data) > 0,
                     f"decoded {len(data) / rate:.1f} s of {mp3} at {rate} Hz")
    formats = sf.available_formats()
    return Check("mp3 decoding", "MP3" in formats,
                 "libsndfile lists MP3 (no real MP3 found to decode)" if "MP3" in formats else
                 f"libsndfile {sf.__libsndfile_version__} cannot read MP3 (needs >= 1.1)")


def check_features(mp3: Path | None) -> Check:
    """Every audio feature function on 2 s of audio, in a child process."""
    run = numba_cache.run_child_locked(audio_path=mp3)
    source = f"2 s of {mp3}" if mp3 else "2 s of a synthetic click track"
    if run.ok:
        return Check("audio features", True,
                     f"{len(run.steps_ok)} steps ok on {source} in a child process "
                     f"({run.elapsed_s:.1f} s; {', '.join(run.steps_ok[1:])})")
    detail = f"{run.describe()} on {source}"
    if run.signal_name:
        detail += (" — a crash inside compiled code, most often a corrupt numba cache "
                   "(numba issue #10128): run `motionpair doctor --repair`")
    elif run.looks_like_cache:
        detail += " — numba could not load its cache: run `motionpair doctor --repair`"
    return Check("audio features", False, detail)


def check_numba_cache() -> Check:
    loc = numba_cache.location()
    files = numba_cache.cache_files(loc)
    path = loc.path
    writable = path is not None and path.is_dir() and os.access(path, os.W_OK)
    where = {"motionpair": "motionpair's own (NUMBA_CACHE_DIR)",
             "user": "NUMBA_CACHE_DIR set by you",
             "numba-default": "numba's default: __pycache__ inside librosa"}[loc.owner]
    ok = writable or loc.owner == "numba-default"
    return Check("numba cache", ok,
                 f"{path} ({where}); {'writable' if writable else 'NOT writable'}; "
                 f"{len(files)} file(s)")


def check_cache_dir() -> Check:
    from motionpair.cache import default_cache_dir

    root = default_cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as exc:
        return Check("motionpair cache", False,
                     f"{root} is not writable ({exc.strerror}); use --cache DIR or --no-cache")
    return Check("motionpair cache", True, f"{root} writable")


def check_torch(v: dict[str, str | None]) -> Check:
    """torch is optional (loader, train-smoke): its absence is information, not a failure."""
    t = v.get("torch")
    return Check("torch", True, f"torch {t} present" if t else
                 "torch absent: `motionpair train-smoke` and the loader need the torch extra")


def run(*, repair: bool = False, log=print) -> list[Check]:
    """All checks; with ``repair`` first clear numba's cache and compile it again."""
    v = versions()
    mp3 = real_mp3()
    checks = [check_versions(v), check_mp3(mp3)]
    if repair:
        checks.append(_repair(log))
    checks += [check_features(mp3), check_numba_cache(), check_cache_dir(), check_torch(v)]
    return checks


def _repair(log) -> Check:
    """Clear numba's cache and compile it again, holding its lock exclusively: refused (a
    failed check) while any build uses the cache."""
    loc = numba_cache.location()
    try:
        with numba_cache.in_use(loc, exclusive=True):
            n = numba_cache.clear(loc)
            log(f"repair: deleted {n} numba cache file(s) at {loc.path}; compiling again "
                f"(under the warm-up lock; a minute on a slow machine)")
            try:
                warmed = numba_cache.warm()
            except numba_cache.CorruptCacheError as exc:
                return Check("repair", False, str(exc))
    except numba_cache.CacheBusyError as exc:
        return Check("repair", False, str(exc))
    return Check("repair", True, f"numba cache rebuilt in {warmed.elapsed_s:.1f} s")


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all(c.ok for c in checks), "python_executable": sys.executable,
            "versions": versions(), "checks": [asdict(c) for c in checks]}
