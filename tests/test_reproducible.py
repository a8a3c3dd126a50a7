"""Same inputs + same config => byte-identical dataset (every file except build.json).

Real data: builds of ../shared/data/tang2018 with the cache (in-process, fully cached
pairs), without it (every pair recomputed in the worker pool) and with one worker.
"""

from __future__ import annotations

import json

import pytest

from digests import diff, tree_digest
from motionpair.build.dataset import build
from motionpair.config import BuildConfig

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def uncached(tang_dir, tmp_path_factory):
    """A cold build: --no-cache, two workers, so every pair runs in a worker process."""
    out = tmp_path_factory.mktemp("repro") / "nocache"
    return build([tang_dir], out, BuildConfig(), workers=2, cache_dir=False)


def test_two_builds_are_byte_identical(built, uncached):
    a, b = tree_digest(built.out), tree_digest(uncached.out)
    assert len(a) > 14 * 11, "expected manifest, jsonl, dataset.json and every shard array"
    assert not diff(a, b), f"files differ between two builds: {diff(a, b)}"
    assert uncached.cache["misses"] == 0 and uncached.cache["hits"] == 0  # cache bypassed


def test_workers_1_equals_workers_2(built, tang_dir, tmp_path, cache_dir):
    one = build([tang_dir], tmp_path / "w1", BuildConfig(), workers=1, cache_dir=cache_dir)
    a, b = tree_digest(built.out), tree_digest(one.out)
    assert not diff(a, b), f"--workers 1 differs from --workers 2: {diff(a, b)}"


def test_run_facts_only_in_build_json(built):
    facts = json.loads((built.out / "build.json").read_text())
    assert {"finished_utc", "host", "timings_s", "cache"} <= facts.keys()
    data = (built.out / "dataset.json").read_text()
    assert facts["host"] not in data and facts["finished_utc"][:10] not in data


def test_dataset_json_fingerprints_inputs_config_and_versions(built):
    meta = json.loads((built.out / "dataset.json").read_text())
    assert len(meta["inputs"]) == 14 * 3
    for item in meta["inputs"]:
        assert len(item["sha256"]) == 64 and item["size"] > 0
        assert not item["path"].startswith(("/", "..")), item["path"]
    assert len(meta["config_sha256"]) == 64
    assert {"motionpair", "numpy", "librosa", "soundfile"} <= meta["libraries"].keys()


def test_manifest_paths_are_relative(built):
    rows = [json.loads(line) for line in (built.out / "manifest.jsonl").open()]
    for r in rows:
        assert r["shard"].startswith("shards/") and ".." not in r["shard"].split("/")
        assert (built.out / r["shard"]).is_dir()
    inv = json.loads((built.out / "inventory.json").read_text())
    for pair in inv["pairs"]:
        for i in pair["inputs"]:
            assert not i["path"].startswith("/") and ".." not in i["path"].split("/")
