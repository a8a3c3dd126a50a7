"""Shared fixtures: the real data (or a clear skip) and one real build per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    """numba's compiled-code cache for tests: never ~/.cache, kept between runs in /tmp.

    Set before anything imports numba; builds and their workers inherit it (see
    ``motionpair.features.numba_cache``). ``$MOTIONPAIR_TEST_CACHE`` keeps it beside the feature
    cache.
    """
    if not os.environ.get("NUMBA_CACHE_DIR"):
        import tempfile

        from motionpair.features.numba_cache import versions_key

        keep = os.environ.get("MOTIONPAIR_TEST_CACHE")
        base = Path(keep) if keep else Path(tempfile.gettempdir()) / "motionpair-test-numba"
        os.environ["NUMBA_CACHE_DIR"] = str(base / "numba" / versions_key())


def data_root() -> Path:
    """``$MOTIONPAIR_DATA`` if set, else ``../shared/data`` beside the repository."""
    env = os.environ.get("MOTIONPAIR_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def tang_dir() -> Path:
    path = data_root() / "tang2018"
    if not path.is_dir():
        pytest.skip(f"real data not found: looked for {path} (set MOTIONPAIR_DATA)")
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One feature cache for the whole test session (tests never touch ~/.cache).

    ``$MOTIONPAIR_TEST_CACHE`` names a cache kept across test runs (developers' speed-up;
    entries are content-addressed, so reuse can never serve stale features).
    """
    keep = os.environ.get("MOTIONPAIR_TEST_CACHE")
    return Path(keep) if keep else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def built(tang_dir, tmp_path_factory, cache_dir):
    """The default build of the real tang2018 data, made once per test session."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    out = tmp_path_factory.mktemp("ds") / "tang"
    summary = build([tang_dir], out, BuildConfig(), workers=2, cache_dir=cache_dir)
    return summary


#: the beatwise build the docs describe (docs/alignment.md "Linear vs beatwise"):
#: ``--clock beatwise --window-beats 8 --hop-beats 4 --frames-per-beat 16``
BEATWISE = {"clock": "beatwise", "window_beats": 8, "hop_beats": 4, "frames_per_beat": 16}


@pytest.fixture(scope="session")
def built_beatwise(tang_dir, tmp_path_factory, cache_dir):
    """The real tang2018 data built with beatwise clock maps and 8-beat windows, once per
    test session (beat-grid tests and the docs' linear-vs-beatwise numbers share it)."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    out = tmp_path_factory.mktemp("ds") / "beats"
    return build([tang_dir], out, BuildConfig(**BEATWISE), workers=2, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def dancer_video() -> Path:
    """The real ``video/dancer.avi`` (GPL-3 media: read in place, never copied into the repo)."""
    path = data_root() / "video" / "dancer.avi"
    if not path.is_file():
        pytest.skip(f"real data not found: looked for {path} (set MOTIONPAIR_DATA)")
    pytest.importorskip("av", reason="PyAV (package 'av') is needed to decode video")
    return path
