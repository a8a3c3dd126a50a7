"""Deterministic train/val/test assignment by group (session), never by window."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


def split_counts(n_groups: int, ratios: tuple[float, ...]) -> list[int] | None:
    """Groups per split by largest remainder, at least one per non-zero ratio.

    Returns None when there are fewer groups than non-zero ratios.

    >>> split_counts(14, (0.8, 0.1, 0.1))
    [11, 2, 1]
    """
    total = sum(ratios)
    if total <= 0 or any(r < 0 for r in ratios):
        raise ValueError(f"split ratios must be >= 0 with a positive sum, got {ratios}")
    share = [r / total * n_groups for r in ratios]
    need = sum(1 for r in ratios if r > 0)
    if n_groups < need:
        return None
    counts = [math.floor(s) for s in share]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (-(share[i] - counts[i]), i))
    for i in by_remainder[: n_groups - sum(counts)]:
        counts[i] += 1
    for i, r in enumerate(ratios):  # every non-zero split gets a group, taken from the largest
        if r > 0 and counts[i] == 0:
            counts[max(range(len(counts)), key=lambda j: (counts[j], -j))] -= 1
            counts[i] = 1
    return counts


def assign_splits(groups: list[str], *, ratios: tuple[float, ...] = (0.8, 0.1, 0.1),
                  seed: int = 0) -> tuple[dict[str, str], dict[str, Any]]:
    """Map each group to a split; also return a record of how (for dataset.json).

    Groups are sorted first, then permuted by ``numpy.random.default_rng(seed)``,
    so the result depends only on the set of groups, the ratios and the seed.
    """
    uniq = sorted(set(groups))
    counts = split_counts(len(uniq), ratios)
    info: dict[str, Any] = {"method": "by_group", "group": "session", "seed": seed,
                            "ratios": list(ratios), "n_groups": len(uniq)}
    if counts is None:
        info["warning"] = (f"only {len(uniq)} session(s): too few for a split by session with "
                           f"ratios {list(ratios)}; every window is in train")
        info["groups_per_split"] = {"train": len(uniq), "val": 0, "test": 0}
        return {g: "train" for g in uniq}, info
    order = np.random.default_rng(seed).permutation(len(uniq))
    out: dict[str, str] = {}
    pos = 0
    for name, c in zip(SPLIT_NAMES, counts, strict=False):
        for idx in order[pos:pos + c]:
            out[uniq[int(idx)]] = name
        pos += c
    info["groups_per_split"] = dict(zip(SPLIT_NAMES, counts, strict=False))
    return out, info
