"""The skeleton a run trains on, read from ``dataset.json`` (``motion.skeleton``).

What the clean-window losses need beyond ``n_joints``/``dims``/``units``/``edges`` (which
every build records) is **which joints are feet** and **which axis points up**. The builder
does not record them; they are resolved here, in this order, and the answer (with how it was
found) is saved in the run's ``config.json`` under ``skeleton``:

1. ``motion.skeleton.feet`` / ``motion.skeleton.up_axis`` when a dataset records them
   (``up_axis``: ``"y"``, ``"-y"``, ...; a future builder field, read if present);
2. ``joint_names``: joints whose name holds ankle, heel, foot, toe (MediaPipe's
   ``left_ankle``, ``right_heel``, ``left_foot_index``...); image coordinates of 2-D
   MotionMix / capture sessions have y pointing DOWN (origin top left, docs/capture.md);
3. tang2018 (23 joints, 3-D, no names): ankles 9, 18 and toes 11, 20 (roles measured in
   ``metrics.TANG2018_ROLES``), y up (the published README);
4. otherwise no feet (the foot-contact loss is off, said in the run's config) and "y" up.

Bones are ``edges`` (the builder's inferred minimum spanning tree); none -> no bone loss.
"""

from __future__ import annotations

from typing import Any

FOOT_WORDS = ("ankle", "heel", "foot", "toe")


def _axis(spec: str, dims: int) -> tuple[int, float]:
    sign = -1.0 if spec.startswith("-") else 1.0
    name = spec.lstrip("+-")
    idx = {"x": 0, "y": 1, "z": 2}.get(name)
    if idx is None or idx >= dims:
        raise ValueError(f"skeleton up_axis {spec!r} is not one of x, y, z for {dims}-D poses")
    return idx, sign


def resolve(meta: dict[str, Any]) -> dict[str, Any]:
    """JSON-able skeleton record for a dataset's ``dataset.json`` (see module docstring)."""
    sk = meta["motion"]["skeleton"]
    J, D = int(sk["n_joints"]), int(sk["dims"])
    names = sk.get("joint_names") or None
    sources = {p.get("source") for p in meta.get("pairs", [])}
    feet: list[int] = []
    up = "y"
    how = "none found: foot-contact loss off"
    if sk.get("feet"):
        feet = [int(j) for j in sk["feet"]]
        how = "dataset.json motion.skeleton.feet"
    elif names:
        feet = [i for i, n in enumerate(names) if any(w in str(n).lower() for w in FOOT_WORDS)]
        how = "joint_names containing " + "/".join(FOOT_WORDS)
        if D == 2:
            up = "-y"  # image coordinates: y down
    elif J == 23 and D == 3 and sources <= {"tang2018"}:
        feet = [9, 11, 18, 20]
        how = "tang2018 roles (ankles 9, 18; toes 11, 20)"
    if sk.get("up_axis"):
        up = str(sk["up_axis"])
    _axis(up, D)
    edges = [[int(a), int(b)] for a, b in (sk.get("edges") or [])]
    return {"n_joints": J, "dims": D, "units": sk.get("units"), "edges": edges,
            "feet": feet, "feet_from": how, "up_axis": up}


def up_index(rec: dict[str, Any]) -> tuple[int, float]:
    """(axis index, +1 or -1) of a resolved skeleton's up direction."""
    return _axis(str(rec.get("up_axis", "y")), int(rec["dims"]))
