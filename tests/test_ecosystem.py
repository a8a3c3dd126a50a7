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
    from motionpair.config import BuildConfig
    from motionpair.dataset import build

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


def test_card_and_parquet_metadata(small):
    from motionpair.card import row_metadata
    from motionpair.config import BuildConfig

    card = (small.out / "README.md").read_text()
    assert card.startswith("---\n") and "data/validation.parquet" in card
    assert "tang2018" in card and "no licence file" in card
    assert "tang2018.linear_warp_start_end_song_frames_25fps" in card
    for name in ("manifest.parquet", "data/train.parquet"):
        md = row_metadata(small.out / name)
        assert md["motionpair.schema_version"] == "motionpair.dataset/1"
        assert md["motionpair.config_sha256"] == BuildConfig().sha256()
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
