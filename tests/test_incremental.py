"""Incremental builds: the cache serves exactly what did not change, and nothing stale.

Works on a COPY of three real tang2018 folders in tmp (a content change of a copy is a
"touch": mtimes are not part of any cache key), with a fresh cache folder per module.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from digests import diff, tree_digest
from motionpair.build.dataset import build
from motionpair.build.pair import shard_name
from motionpair.cli import app
from motionpair.config import BuildConfig
from motionpair.store import read_manifest, shard_array
from realsubset import SHORT_SESSIONS as SESSIONS
from realsubset import real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

@pytest.fixture(scope="module")
def world(tang_dir, tmp_path_factory):
    """A copy of three real folders, a fresh cache, and the first (cold) build."""
    base = tmp_path_factory.mktemp("incr")
    data = real_subset(tang_dir, base / "data", writable=True)  # ours to change
    cache = base / "cache"
    first = build([data], base / "out", BuildConfig(), workers=2, cache_dir=cache)
    return {"data": data, "cache": cache, "base": base, "first": first,
            "first_digest": tree_digest(base / "out")}


def _rebuild(world, name: str, cfg: BuildConfig | None = None):
    out = world["base"] / name
    return build([world["data"]], out, cfg or BuildConfig(), workers=2,
                 cache_dir=world["cache"])


def test_cold_build_computes_everything(world):
    c = world["first"].cache
    assert (c["hits"], c["misses"]) == (0, 2 * len(SESSIONS))
    assert c["text"] == f"0 of {len(SESSIONS)} pairs cached"


def test_unchanged_rebuild_reuses_everything(world):
    again = _rebuild(world, "again")
    assert again.cache["text"] == f"{len(SESSIONS)} of {len(SESSIONS)} pairs cached"
    assert (again.cache["hits"], again.cache["misses"]) == (2 * len(SESSIONS), 0)
    assert not diff(world["first_digest"], tree_digest(again.out))


def test_cli_reports_n_of_n_cached(world):
    res = CliRunner().invoke(app, ["build", str(world["data"]), "--out",
                                   str(world["base"] / "cli"), "--cache", str(world["cache"])])
    assert res.exit_code == 0, res.output
    assert f"{len(SESSIONS)} of {len(SESSIONS)} pairs cached" in " ".join(res.output.split())


def test_feature_parameter_recomputes_features_not_motion(world):
    res = _rebuild(world, "mels64", BuildConfig(n_mels=64))
    # every audio stage misses (new recipe), every motion stage hits (motion does not use it)
    assert (res.cache["hits"], res.cache["misses"]) == (len(SESSIONS), len(SESSIONS))
    rows = read_manifest(res.out)
    assert shard_array(res.out, rows[0].shard, "mel").shape[-1] == 64


def _edit_json(path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_touching_one_skeleton_recomputes_only_its_motion(world):
    before = read_manifest(world["first"].out)
    s = "DANCE_W_7"
    shard = shard_name(f"tang2018/{s}")  # shards/tang2018__DANCE_W_7-<8 hex of sha256(id)>
    old_pose = np.array(shard_array(world["first"].out, shard, "pose"))
    _edit_json(world["data"] / s / "skeletons.json",
               lambda d: d.__setitem__("center", [[x + 10.0, y, z] for x, y, z in d["center"]]))
    res = _rebuild(world, "touched")
    # one motion stage recomputed; the other pairs and every audio stage come from the cache
    assert (res.cache["hits"], res.cache["misses"]) == (2 * len(SESSIONS) - 1, 1)
    assert res.cache["text"] == f"{len(SESSIONS) - 1} of {len(SESSIONS)} pairs cached"
    # never stale: the new poses carry the +10 cm shift, so the old entry was not served
    new_pose = np.array(shard_array(res.out, shard, "pose"))
    assert new_pose.shape == old_pose.shape
    np.testing.assert_allclose(new_pose[..., 0] - old_pose[..., 0], 10.0, atol=1e-3)
    np.testing.assert_array_equal(new_pose[..., 1:], old_pose[..., 1:])
    # the untouched pairs' shards are byte-identical to the first build
    a, b = world["first_digest"], tree_digest(res.out)
    changed = {k.split("/")[1] for k in diff(a, b) if k.startswith("shards/")}
    assert changed == {shard.split("/")[1]}, changed
    assert len(read_manifest(res.out)) == len(before)


def test_touching_one_audio_recomputes_only_its_features(world):
    s = "DANCE_W_8"
    mp3 = world["data"] / s / "audio.mp3"
    # an ID3v1 tag appended: new bytes (new sha256), the same music
    mp3.write_bytes(mp3.read_bytes() + b"TAG" + b"motionpair incremental test".ljust(125, b"\0"))
    res = _rebuild(world, "touched-audio")
    assert res.cache["misses"] == 1 and res.cache["hits"] == 2 * len(SESSIONS) - 1
    meta = json.loads((res.out / "dataset.json").read_text())
    sha = {i["path"]: i["sha256"] for i in meta["inputs"]}
    old = {i["path"]: i["sha256"] for i in
           json.loads((world["first"].out / "dataset.json").read_text())["inputs"]}
    assert sha[f"{s}/audio.mp3"] != old[f"{s}/audio.mp3"]


def test_corrupt_cache_entry_is_recomputed_not_used(world, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(world["cache"], cache)
    entries = sorted((cache / "motion").rglob("*.npz"))
    assert entries
    for e in entries:
        e.write_bytes(e.read_bytes()[: e.stat().st_size // 2])  # a torn write
    res = build([world["data"]], tmp_path / "out", BuildConfig(), workers=1, cache_dir=cache)
    assert res.cache["misses"] == len(SESSIONS)  # each motion stage recomputed
    ref = _rebuild(world, "ref-after-touches")
    assert not diff(tree_digest(ref.out), tree_digest(res.out))


def test_stage_version_change_never_hits_old_entries(world, monkeypatch):
    """Bumping a stage's code version makes every old entry of that stage unreachable."""
    from motionpair.features import audio

    monkeypatch.setattr(audio, "AUDIO_STAGE_VERSION", "audio-test-bump")
    res = build([world["data"]], world["base"] / "bumped", BuildConfig(), workers=1,
                cache_dir=world["cache"])  # in-process: workers would not see the patch
    assert (res.cache["hits"], res.cache["misses"]) == (len(SESSIONS), len(SESSIONS))
    meta = json.loads((res.out / "dataset.json").read_text())
    assert meta["audio"]["params"]["stage_version"] == "audio-test-bump"
