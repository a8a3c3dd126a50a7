"""PyTorch loader, normalisation statistics and augmentations (real tang2018 build)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from motionpair.build.normstats import compute_norm_stats, read_norm_stats
from motionpair.consumers import augment as aug
from motionpair.store import load_window, read_dataset_json, read_manifest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from motionpair.torch import MotionPairDataset, collate  # noqa: E402

FEATS = ("baseline35", "mel", "pose", "velocity", "music_beat", "kin_beat", "pose_valid")


# -- tiny arrays: the arithmetic --------------------------------------------------------
def test_jitter_stitches_the_neighbour_window():
    track = np.arange(100)  # track frame k holds value k
    T, hop = 10, 4
    rows = {0: track[20:30], 1: track[24:34], -1: track[16:26]}
    got = aug.jittered(rows.__getitem__, index=0, j=3, prev=-1, nxt=1, hop_frames=hop)
    np.testing.assert_array_equal(got, track[23:33])
    got = aug.jittered(rows.__getitem__, index=0, j=-2, prev=-1, nxt=1, hop_frames=hop)
    np.testing.assert_array_equal(got, track[18:28])
    assert len(got) == T


def test_jitter_falls_back_to_zero_without_neighbour():
    rng = np.random.default_rng(0)
    draws = {aug.draw_jitter(rng, max_frames=5, prev=-1, nxt=-1) for _ in range(50)}
    assert draws == {0}


# -- the real build ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def root(built) -> Path:
    return Path(built.out)


def test_item_matches_the_shards(root):
    ds = MotionPairDataset(root, split="train", features=FEATS)
    rows = [r for r in read_manifest(root) if r.split == "train"]
    assert len(ds) == len(rows) == read_dataset_json(root)["counts"]["windows_by_split"]["train"]
    i = len(ds) // 2
    item = ds[i]
    want = load_window(root, rows[i], FEATS)
    for name in FEATS:
        assert isinstance(item[name], torch.Tensor)
        np.testing.assert_array_equal(item[name].numpy(), want[name])
    assert item["pose"].shape == (150, 23, 3) and item["baseline35"].shape == (150, 35)
    assert item["pose_valid"].dtype == torch.bool and item["music_beat"].dtype == torch.uint8
    assert item["id"] == rows[i].id and item["start_s"] == rows[i].start_s
    assert item["session"] == rows[i].session and item["jitter_frames"] == 0


def test_unknown_feature_is_named(root):
    with pytest.raises(ValueError, match="unknown feature.*'nope'"):
        MotionPairDataset(root, features=("baseline35", "nope"))


def test_pickles_without_memory_maps(root):
    ds = MotionPairDataset(root, split="val", features=("pose",))
    ds[0]
    assert ds._maps
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._maps == {} and len(pickle.dumps(ds)) < 200_000
    np.testing.assert_array_equal(clone[0]["pose"].numpy(), ds[0]["pose"].numpy())


def test_workers_give_the_same_batches(root):
    ds = MotionPairDataset(root, split="val", features=("baseline35", "velocity"),
                           normalize=True)
    kw = dict(batch_size=16, shuffle=False, collate_fn=collate)
    b0 = list(DataLoader(ds, num_workers=0, **kw))
    b2 = list(DataLoader(ds, num_workers=2, **kw))
    assert len(b0) == len(b2) == -(-len(ds) // 16)
    for x, y in zip(b0, b2, strict=True):
        assert x["id"] == y["id"]
        assert torch.equal(x["velocity"], y["velocity"])
        assert torch.equal(x["baseline35"], y["baseline35"])
    assert b0[0]["velocity"].shape == (16, 150, 23, 3)


def test_getitems_equals_getitem(root):
    ds = MotionPairDataset(root, split="train", features=FEATS, normalize=True)
    idx = [5, 700, 3, 4, 400]
    for a, b in zip(ds.__getitems__(idx), [ds[i] for i in idx], strict=True):
        assert a["id"] == b["id"]
        for name in FEATS:
            assert torch.allclose(a[name].float(), b[name].float(), atol=1e-5)


def test_norm_stats_are_train_only_deduped_and_deterministic(root, tmp_path):
    """Recompute from the shards by hand: one value per track frame of each train shard."""
    meta = read_dataset_json(root)
    assert meta["norm_stats"]["file"] == "norm_stats.npz"
    assert meta["norm_stats"]["sessions"] == meta["splits"]["sessions"]["train"]
    rows = read_manifest(root)
    frames: dict[tuple[str, int], np.ndarray] = {}
    for r in rows:
        if r.split == "train":
            speed = np.load(root / r.shard / "speed.npy", mmap_mode="r")[r.row]
            for k in range(r.n_frames):
                frames[(r.shard, r.start_frame + k)] = speed[k]
    values = np.array(list(frames.values()), dtype=np.float64)
    stats = read_norm_stats(root)
    assert int(stats["speed"]["count"]) == len(values)
    np.testing.assert_allclose(stats["speed"]["mean"], values.mean(), rtol=1e-9)
    np.testing.assert_allclose(stats["speed"]["std"], values.std(), rtol=1e-9)
    assert stats["pose"]["mean"].shape == (23, 3) and stats["mel"]["std"].shape == (128,)
    again = compute_norm_stats(root, rows)
    np.testing.assert_array_equal(again["pose"]["mean"], stats["pose"]["mean"])
    # the build's bytes do not depend on the wall clock (np.savez would stamp it)
    from motionpair.build.normstats import write_norm_stats

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        os.symlink(root / "shards", tmp_path / sub / "shards")
        write_norm_stats(tmp_path / sub, rows)
    assert (tmp_path / "a" / "norm_stats.npz").read_bytes() == (
        tmp_path / "b" / "norm_stats.npz").read_bytes() == (root / "norm_stats.npz").read_bytes()


def test_normalize_applies_the_train_statistics(root):
    raw = MotionPairDataset(root, split="val", features=("pose", "mel"))
    norm = MotionPairDataset(root, split="val", features=("pose", "mel"), normalize=True)
    st = read_norm_stats(root)
    want = (raw[3]["pose"].numpy() - st["pose"]["mean"]) / st["pose"]["std"]
    np.testing.assert_allclose(norm[3]["pose"].numpy(), want, rtol=1e-4, atol=1e-4)
    train = MotionPairDataset(root, split="train", features=("speed",), normalize=True)
    v = torch.cat([train[i]["speed"] for i in range(0, len(train), 5)])
    assert abs(float(v.mean())) < 0.2 and 0.7 < float(v.std()) < 1.3


def _derived_copy(root: Path, d: Path, meta: dict) -> Path:
    d.mkdir()
    for name in ("manifest.jsonl", "norm_stats.npz"):
        (d / name).write_bytes((root / name).read_bytes())
    os.symlink(root / "shards", d / "shards")
    (d / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    return d


def test_mirror_is_refused_without_permutation(root, tmp_path):
    """DERIVED fixture: the real build with its permutation blanked (a source naming none)."""
    meta = read_dataset_json(root)
    meta["motion"]["skeleton"]["mirror_permutation"] = None
    d = _derived_copy(root, tmp_path / "no_perm", meta)
    with pytest.raises(ValueError, match="mirror_permutation is null"):
        MotionPairDataset(d, augment=aug.Augment(mirror_p=0.5))


def test_tang2018_joint_layout_mirrors_real_windows(root):
    """tang2018's derived layout: 23 names, 11 left/right pairs; a mirror keeps every bone
    length of the real motion up to the layout's measured asymmetry, and twice is identity."""
    skel = read_dataset_json(root)["motion"]["skeleton"]
    perm = np.array(skel["mirror_permutation"])
    assert len(skel["joint_names"]) == 23 and skel["root_joint"] == 2
    assert np.array_equal(perm[perm], np.arange(23)) and int((perm != np.arange(23)).sum()) == 22
    assert "tang2018.joint_layout_derived_from_geometry" in read_dataset_json(root)["assumptions"]
    plain = MotionPairDataset(root, split="val", features=("pose", "velocity"))
    mirrored = MotionPairDataset(root, split="val", features=("pose", "velocity"),
                                 augment={"mirror_p": 1.0})
    a, b = plain[0]["pose"].numpy(), mirrored[0]["pose"].numpy()
    want = a[:, perm, :].copy()
    want[..., 0] *= -1
    np.testing.assert_array_equal(b, want)
    again = b[:, perm, :].copy()
    again[..., 0] *= -1
    np.testing.assert_array_equal(again, a)
    # the mirrored dancer's bones have the lengths of the original's mirrored bones
    edges = np.array(skel["edges"])
    length = lambda p: np.linalg.norm(p[:, edges[:, 0]] - p[:, edges[:, 1]], axis=-1)  # noqa: E731
    assert np.median(np.abs(length(b) - length(a[:, perm]))) < 1e-3
    assert np.median(np.abs(length(b) - length(a))) < 3.0  # cm: the layout's asymmetry


def test_denormalize_inverts_normalize(root):
    from motionpair.consumers.loader import denormalize

    raw = MotionPairDataset(root, split="test", features=("mel", "pose"))
    norm = MotionPairDataset(root, split="test", features=("mel", "pose"), normalize=True)
    for name in ("mel", "pose"):
        x = norm[3][name]
        np.testing.assert_allclose(norm.denormalize(name, x).numpy(), raw[3][name].numpy(),
                                   rtol=1e-5, atol=1e-3)
    batch = collate(norm.__getitems__([0, 1, 2]))
    back = norm.denormalize("mel", batch["mel"])  # a (B, T, F) batch broadcasts
    np.testing.assert_allclose(back[1].numpy(), raw[1]["mel"].numpy(), rtol=1e-5, atol=1e-3)
    stats = read_norm_stats(root)["mel"]
    np.testing.assert_allclose(denormalize(np.zeros(128, np.float32), stats["mean"],
                                           stats["std"]), stats["mean"], rtol=1e-6)


def test_root_relative_representation_and_its_inverse(root):
    from motionpair.consumers.representation import from_root_relative, to_root_relative

    absolute = MotionPairDataset(root, split="train", features=("pose", "mel"))
    rel = MotionPairDataset(root, split="train", features=("pose", "mel"),
                            representation="root_relative", normalize=True)
    for i in (0, len(rel) // 2, len(rel) - 1):
        item, want = rel[i], absolute[i]["pose"].numpy()
        assert item["root_velocity"].shape == (150, 3) and item["root_start"].shape == (3,)
        assert float(item["pose"][:, 2].abs().max()) == 0.0  # the pelvis is the origin
        np.testing.assert_allclose(rel.to_absolute(item).numpy(), want, atol=1e-3)
    batch = collate(rel.__getitems__([4, 5]))  # a collated batch inverts too
    np.testing.assert_allclose(rel.to_absolute(batch)[1].numpy(), absolute[5]["pose"].numpy(),
                               atol=1e-3)
    p = absolute[7]["pose"].numpy()  # the joint centroid when a source names no root
    np.testing.assert_allclose(from_root_relative(*to_root_relative(p, None)), p, atol=1e-3)
    with pytest.raises(ValueError, match="needs 'pose'"):
        MotionPairDataset(root, features=("mel",), representation="root_relative")
    with pytest.raises(ValueError, match="does not normalise 'pose'"):
        MotionPairDataset(root, features=("pose",), representation="root_relative",
                          normalize=("pose",))
    with pytest.raises(ValueError, match="unknown representation"):
        MotionPairDataset(root, features=("pose",), representation="6d")


def test_mirror_on_a_derived_copy(root, tmp_path):
    """DERIVED fixture: the real build with a made-up left/right permutation written into a
    copy of dataset.json, only to pin the mirror arithmetic (tang2018 publishes none)."""
    meta = read_dataset_json(root)
    perm = list(range(23))
    perm[1], perm[2] = 2, 1
    meta["motion"]["skeleton"]["mirror_permutation"] = perm
    meta["derived"] = "test fixture: made-up mirror permutation"
    d = _derived_copy(root, tmp_path / "derived_mirror", meta)
    plain = MotionPairDataset(d, split="val", features=("pose", "velocity", "baseline35"))
    mirrored = MotionPairDataset(d, split="val", features=("pose", "velocity", "baseline35"),
                                 augment={"mirror_p": 1.0})
    a, b = plain[0], mirrored[0]
    want = a["pose"].numpy()[:, perm, :].copy()
    want[..., 0] *= -1
    np.testing.assert_array_equal(b["pose"].numpy(), want)
    assert torch.equal(b["velocity"][:, 1, 1], a["velocity"][:, 2, 1])
    assert torch.equal(a["baseline35"], b["baseline35"])


def test_jitter_on_real_windows_equals_the_track(root):
    ds = MotionPairDataset(root, split="train", features=("pose", "music_beat"),
                           augment=aug.Augment(jitter_frames=15, seed=3))
    frames: dict[tuple[str, int], np.ndarray] = {}
    for r in ds.rows:
        pose = np.load(root / r.shard / "pose.npy", mmap_mode="r")[r.row]
        for k in range(r.n_frames):
            frames[(r.shard, r.start_frame + k)] = pose[k]
    shifted = 0
    for i in range(0, len(ds), 37):
        item = ds[i]
        r, j = ds.rows[i], item["jitter_frames"]
        shifted += j != 0
        want = np.stack([frames[(r.shard, r.start_frame + j + k)] for k in range(r.n_frames)])
        np.testing.assert_array_equal(item["pose"].numpy(), want)
        assert item["start_s"] == pytest.approx(r.start_s + j / r.fps)
    assert shifted > 5
    with pytest.raises(ValueError, match="within the hop"):
        MotionPairDataset(root, augment=aug.Augment(jitter_frames=31))


def test_channel_dropout_is_seeded_per_epoch(root):
    a = aug.Augment(channel_dropout_p=0.3, seed=1)
    ds = MotionPairDataset(root, split="val", features=("baseline35", "pose"), augment=a)
    x1, x2 = ds[0]["baseline35"], ds[0]["baseline35"]
    assert torch.equal(x1, x2)
    zero = (x1 == 0).all(dim=0)
    assert 0 < int(zero.sum()) < 35
    raw = MotionPairDataset(root, split="val", features=("baseline35",))[0]["baseline35"]
    assert torch.equal(x1[:, ~zero], raw[:, ~zero])
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["baseline35"], x1)
