"""A built dataset in the tools trainers use: HF ``datasets`` card, webdataset and HF exports.

Real data: 4 real tang2018 folders (linked into a temp tree at test time by
``tests/realsubset.py``) built once per module.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from realsubset import real_subset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SESSIONS = ("DANCE_W_4", "DANCE_W_7", "DANCE_W_8", "DANCE_C_2")


@pytest.fixture(scope="module")
def small(tang_dir, tmp_path_factory, cache_dir):
    """A build of 4 real folders (every split non-empty)."""
    from motionpair.build.dataset import build
    from motionpair.config import BuildConfig

    root = tmp_path_factory.mktemp("eco")
    src = real_subset(tang_dir, root / "in", writable=False, sessions=SESSIONS)
    return build([src], root / "ds", BuildConfig(), workers=1, cache_dir=cache_dir)


def _counts(summary) -> dict[str, int]:
    names = {"train": "train", "val": "validation", "test": "test"}
    return {names[k]: v for k, v in Counter(r.split for r in summary.rows).items()}


def test_load_dataset_gives_train_validation_test(small, tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(str(small.out), cache_dir=str(tmp_path / "hf"))
    assert set(ds) == {"train", "validation", "test"}
    assert {k: ds[k].num_rows for k in ds} == _counts(small)
    f = ds["train"].features
    assert f["start_s"].dtype == "float64" and f["n_frames"].dtype == "int64"
    assert f["id"].dtype == "string" and f["assumptions"].feature.dtype == "string"
    assert f["camera"].dtype == "string"  # typed although null on every tang2018 row
    row = ds["validation"][0]
    assert row["split"] == "val" and row["camera"] is None and row["first_beat"] is None
    ids = {r.id for r in small.rows if r.split == "test"}
    assert set(ds["test"]["id"]) == ids


def test_load_dataset_default_config_has_the_arrays(small, tmp_path):
    """``load_dataset(DIR)`` rows carry every stored array as a typed feature, equal to the
    shards; the ``manifest`` config keeps the light rows."""
    datasets = pytest.importorskip("datasets")
    from motionpair.store import load_window

    ds = datasets.load_dataset(str(small.out), cache_dir=str(tmp_path / "hf"))
    f = ds["train"].features
    assert isinstance(f["mel"], datasets.Array2D) and f["mel"].shape == (150, 128)
    assert isinstance(f["pose"], datasets.Array3D) and f["pose"].shape == (150, 23, 3)
    assert f["baseline35"].shape == (150, 35) and f["pose_valid"].feature.dtype == "bool"
    want = [r for r in small.rows if r.split == "val"]
    got = ds["validation"].with_format("numpy")
    for i in (0, len(want) - 1):
        arrays = load_window(small.out, want[i])
        assert got[i]["id"] == want[i].id
        for k, a in arrays.items():
            # datasets' numpy/torch formatters widen integers (uint8 one-hots) to int64
            same = got[i][k].dtype == a.dtype or a.dtype.kind == "u"
            assert same and np.array_equal(got[i][k], a), k
    light = datasets.load_dataset(str(small.out), "manifest", cache_dir=str(tmp_path / "hf"))
    assert "mel" not in light["train"].features and light["test"].num_rows == \
        _counts(small)["test"]
    card = (small.out / "README.md").read_text()
    assert "&id0" not in card and "config_name: manifest" in card and "| `shards/*/*.npy` |" \
        in card


def test_readme_hf_training_loop_runs(small, tmp_path, monkeypatch):
    """The README's training loop (datasets + torch only) runs as printed on a real build."""
    pytest.importorskip("datasets")
    pytest.importorskip("torch")
    from pathlib import Path

    import datasets

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("<!-- hf-loop -->\n```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) <= 11 and "motionpair" not in code
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda path, *a, **k: real(
        str(small.out) if path == "out/tang2018" else path, *a,
        **{**k, "cache_dir": str(tmp_path / "hf")}))
    scope: dict = {}
    exec(compile(code, "README.md:hf-loop", "exec"), scope)  # noqa: S102 - our own README
    assert scope["loss"].item() > 0 and scope["batch"]["mel"].shape[1:] == (150, 128)


def test_card_and_parquet_metadata(small):
    from motionpair.build.card import row_metadata

    recorded = json.loads((small.out / "dataset.json").read_text())["config_sha256"]
    card = (small.out / "README.md").read_text()
    assert card.startswith("---\n") and "data/validation.parquet" in card
    assert "tang2018" in card and "no licence file" in card
    assert "tang2018.linear_warp_start_end_song_frames_25fps" in card
    for name in ("manifest.parquet", "data/train.parquet"):
        md = row_metadata(small.out / name)
        assert md["motionpair.schema_version"] == "motionpair.dataset/1"
        # the resolved config's hash (--fps auto is resolved to the audio's grid first)
        assert md["motionpair.config_sha256"] == recorded
    first = json.loads((small.out / "manifest.jsonl").open().readline())
    assert first["snapshot_frame"] is None and first["matched_by"] is None


def test_split_names_validation_and_val(small):
    pytest.importorskip("torch")
    from motionpair.torch import MotionPairDataset

    a = MotionPairDataset(small.out, split="validation", features=("speed",))
    b = MotionPairDataset(small.out, split="val", features=("speed",))
    assert len(a) == len(b) == _counts(small)["validation"]
    with pytest.raises(ValueError, match="train, validation"):
        MotionPairDataset(small.out, split="valid")


def _windows(summary, split):
    from motionpair.store import load_window

    return [(r, load_window(summary.out, r)) for r in summary.rows if r.split == split]


def test_webdataset_round_trip(small, tmp_path):
    wds = pytest.importorskip("webdataset")
    from motionpair.consumers.export import export, sample_key

    rec = export(small.out, tmp_path / "wds", "webdataset", rows_per_tar=40, shuffle_seed=None)
    for split, hf in (("train", "train"), ("val", "validation"), ("test", "test")):
        urls = [str(tmp_path / "wds" / f) for f in rec["splits"][hf]["files"]]
        want = _windows(small, split)
        assert len(urls) == -(-len(want) // 40)  # several tars, 40 windows each
        got = list(wds.WebDataset(urls, shardshuffle=False).decode())
        assert [g["__key__"] for g in got] == [sample_key(r.id) for r, _ in want]
        for g, (r, arrays) in zip(got, want, strict=True):
            assert g["json"] == r.to_dict()
            assert {k[:-4] for k in g if k.endswith(".npy")} == arrays.keys()
            for k, a in arrays.items():
                assert g[f"{k}.npy"].dtype == a.dtype and np.array_equal(g[f"{k}.npy"], a)
    # byte-reproducible: a second export gives the same tars
    again = export(small.out, tmp_path / "wds2", "webdataset", rows_per_tar=40,
                   shuffle_seed=None)
    for f in again["splits"]["train"]["files"]:
        assert (tmp_path / "wds" / f).read_bytes() == (tmp_path / "wds2" / f).read_bytes()


def test_hf_save_to_disk_round_trip(small, tmp_path):
    datasets = pytest.importorskip("datasets")
    from motionpair.consumers.export import export

    export(small.out, tmp_path / "hf", "hf", shuffle_seed=None)
    dd = datasets.load_from_disk(str(tmp_path / "hf"))
    assert set(dd) == {"train", "validation", "test"}
    f = dd["train"].features
    assert isinstance(f["mel"], datasets.Array2D) and isinstance(f["pose"], datasets.Array3D)
    assert f["pose"].shape == (150, 23, 3) and f["mel"].dtype == "float32"
    for split, hf in (("val", "validation"), ("test", "test")):
        want = _windows(small, split)
        ds = dd[hf].with_format("numpy")
        assert ds.num_rows == len(want)
        for i, (r, arrays) in enumerate(want):
            ex = ds[i]
            assert ex["id"] == r.id and ex["start_s"] == r.start_s and ex["camera"] is None
            for k, a in arrays.items():
                assert np.array_equal(np.asarray(ex[k]).astype(a.dtype), a), k


def test_export_refuses_a_folder_it_did_not_write(small, tmp_path):
    from motionpair.consumers.export import ExportError, export

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not a motionpair export"):
        export(small.out, tmp_path / "mine", "webdataset")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match="lies inside input"):
        export(small.out, small.out / "wds", "webdataset")


def test_tang2018_pictures_use_the_published_joint_layout(small):
    """The drawing layout fits the real poses: head above shoulders above pelvis above
    knees above feet (y up), and every joint but the two hand-direction points is drawn."""
    from motionpair.build.preview import TANG2018_SEGMENTS, skeleton_segments
    from motionpair.store import load_window, read_dataset_json

    meta = read_dataset_json(small.out)
    assert skeleton_segments(meta, "tang2018", 23) == list(TANG2018_SEGMENTS)
    no_edges = {"motion": {"skeleton": {"edges": None}}}
    assert skeleton_segments(no_edges, "motionmix", 17) == []  # points only
    pose = np.concatenate([load_window(small.out, r, ("pose",))["pose"] for r in small.rows])
    y = pose[..., 1].mean(axis=0)
    head, shoulders, pelvis = y[[0, 1]].mean(), y[[3, 12]].mean(), y[2]
    knees, feet = y[[8, 17]].mean(), y[[10, 11, 19, 20]].mean()
    assert head > shoulders > pelvis > knees > feet
    drawn = {j for seg in TANG2018_SEGMENTS for end in seg for j in end}
    assert drawn == set(range(21))


def test_generated_dance_pictures_draw_midpoint_segments():
    """model.render draws a segment end as a joint or as the midpoint of joints (the tang2018
    layout's neck and shoulder points), so generated dances use the same layout."""
    from motionpair.model.render import _end

    p = np.array([[0.0, 0.0], [2.0, 4.0], [4.0, 0.0]])
    assert _end(p, 1).tolist() == [2.0, 4.0]
    assert _end(p, (0, 2)).tolist() == [2.0, 0.0]
    assert _end(p, (1,)).tolist() == [2.0, 4.0]


def _no_absolute_paths(obj, where="export.json"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            _no_absolute_paths(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _no_absolute_paths(v, f"{where}[{i}]")
    elif isinstance(obj, str):
        assert not obj.startswith("/"), f"{where}: absolute path {obj}"


def test_webdataset_export_stands_alone(built, tmp_path):
    """The real tang2018 build exported, then the source dataset moved away: the export
    alone holds the statistics and metadata, and its first 100 train samples mix sessions."""
    import os
    import shutil

    wds = pytest.importorskip("webdataset")
    from motionpair.build.normstats import read_norm_stats
    from motionpair.consumers.export import export

    src = tmp_path / "tang2018"  # hard links: a private copy to move away, no bytes copied
    shutil.copytree(built.out, src, copy_function=os.link)
    out = tmp_path / "wds"
    rec = export(src, out, "webdataset")
    src.rename(tmp_path / "moved-away")
    text = (out / "export.json").read_text()
    assert str(tmp_path) not in text
    meta = json.loads(text)
    _no_absolute_paths(meta)
    assert meta == rec and meta["order"]["shuffle_seed"] == 0
    assert meta["fps"] == "30" and meta["units"]["motion"] == "cm"
    assert len(meta["skeleton"]["joint_names"]) == 23 and meta["skeleton"]["mirror_permutation"]
    assert meta["arrays"]["mel"]["shape"] == [150, 128] and meta["arrays"]["pose"]["dtype"] == \
        "float32"
    assert meta["files"] == {"dataset": "dataset.json", "norm_stats": "norm_stats.npz",
                             "card": "DATASET_CARD.md"}
    stats = read_norm_stats(out)
    assert stats["mel"]["mean"].shape == (128,) and stats["pose"]["std"].shape == (23, 3)
    assert json.loads((out / "dataset.json").read_text())["config_sha256"] == \
        meta["config_sha256"]
    assert "load_dataset" in (out / "DATASET_CARD.md").read_text()
    urls = [str(out / f) for f in meta["splits"]["train"]["files"]]
    first = [s["json"] for _, s in zip(range(100), wds.WebDataset(urls, shardshuffle=False)
                                       .decode(), strict=False)]
    assert len(first) == 100 and len({r["session"] for r in first}) >= 5
    assert len({r["id"] for r in first}) == 100


def test_hf_export_carries_metadata_and_shuffles(small, tmp_path):
    datasets = pytest.importorskip("datasets")
    from motionpair.consumers.export import export, shuffled

    rec = export(small.out, tmp_path / "hf", "hf", shuffle_seed=7)
    _no_absolute_paths(rec)
    assert rec["order"]["shuffle_seed"] == 7
    for f in ("dataset.json", "norm_stats.npz", "DATASET_CARD.md"):
        assert (tmp_path / "hf" / f).is_file(), f
    dd = datasets.load_from_disk(str(tmp_path / "hf"))
    want = shuffled([r for r in small.rows if r.split == "train"], 7)
    assert dd["train"]["id"] == [r.id for r in want]
    sessions = {r.session for r in want}  # every train session interleaves from the start
    assert len(sessions) >= 2 and {r.session for r in want[:20]} == sessions
