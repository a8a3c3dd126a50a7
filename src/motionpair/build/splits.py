"""Deterministic train/val/test assignment by group (session), never by window."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from motionpair.build.pair import PairResult
    from motionpair.config import BuildConfig
    from motionpair.types import PairSpec, WindowRow

SPLIT_NAMES = ("train", "val", "test")


def _checked_total(ratios: tuple[float, ...]) -> float:
    """``sum(ratios)``; ``ValueError`` unless all are >= 0 with a positive sum."""
    total = sum(ratios)
    if total <= 0 or any(r < 0 for r in ratios):
        raise ValueError(f"split ratios must be >= 0 with a positive sum, got {list(ratios)}")
    return total


def split_counts(n_groups: int, ratios: tuple[float, ...]) -> list[int] | None:
    """Groups per split by largest remainder, at least one per non-zero ratio.

    Returns None when there are fewer groups than non-zero ratios.

    >>> split_counts(14, (0.8, 0.1, 0.1))
    [11, 2, 1]
    """
    total = _checked_total(ratios)
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


#: Input files that configure a recording rather than hold it (alignment hints, session
#: metadata, playlist order, key mappings): not part of a recording's identity, so a
#: copy whose config.json was edited is still the same recording.
SETTINGS_FILES = frozenset({"config.json", "metadata.json", "manifest.json",
                            "motionmix-mapping.json"})


def recording_key(spec: PairSpec) -> str:
    """sha256 over the bytes of a pair's recording: its track's and its motion files' sha256.

    Two pairs with the same key hold the same audio and the same motion (a hard link or
    a byte-identical copy under another id); file names and settings files do not count.
    """
    motion = sorted({i.sha256 for i in spec.inputs if i.sha256 != spec.track.sha256
                     and PurePosixPath(i.path).name not in SETTINGS_FILES})
    return hashlib.sha256("\n".join([spec.track.sha256, *motion]).encode()).hexdigest()


def find_duplicates(specs: list[PairSpec]) -> list[dict[str, Any]]:
    """Recordings found under more than one split group (session), sorted.

    Each entry: ``sha256`` (:func:`recording_key`), the ``sessions`` and ``pair_ids``
    holding it. Pairs of one session sharing inputs (cameras of one MotionMix session)
    are not duplicates: they are in one split anyway.
    """
    by_key: dict[str, list[PairSpec]] = defaultdict(list)
    for spec in specs:
        by_key[recording_key(spec)].append(spec)
    out = []
    for key, group in sorted(by_key.items()):
        sessions = sorted({s.split_group for s in group})
        if len(sessions) > 1:
            out.append({"sha256": key, "sessions": sessions,
                        "pair_ids": sorted(s.pair_id for s in group)})
    return sorted(out, key=lambda d: d["sessions"])


def merged_groups(duplicates: list[dict[str, Any]]) -> dict[str, str]:
    """``{session: representative}`` joining every session that shares a recording.

    The representative is the smallest session id of its connected set (a session may hold
    several duplicated recordings, so sets are joined transitively); sessions without a
    duplicate are absent.

    >>> merged_groups([{"sessions": ["b", "c"]}, {"sessions": ["a", "b"]}])
    {'a': 'a', 'b': 'a', 'c': 'a'}
    """
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for d in duplicates:
        first, *rest = sorted(d["sessions"])
        for other in rest:
            a, b = sorted((root(first), root(other)))
            parent[b] = a
    return {s: root(s) for s in sorted(parent)}


GUARD = "guard"  # rows of a time-block split that fall in a guard gap: in no split


def time_block_splits(windows: list[tuple[str, float, float]], *,
                      ratios: tuple[float, ...] = (0.8, 0.1, 0.1), seed: int = 0,
                      guard_s: float) -> tuple[list[str], dict[str, Any]]:
    """Split windows inside each session by time blocks, with guard gaps between splits.

    ``windows`` are ``(session, start_s, end_s)`` on the session's own (stream) clock.
    Each session's span is cut into one contiguous block per split, sized by the ratios,
    in a ``default_rng(seed)`` order per session (sessions sorted): two boundaries per
    session, so the guard costs little. A window takes the split of the block holding
    its midpoint; it is kept only if it stays ``guard_s / 2`` away from every boundary,
    so two kept windows of different splits are always at least ``guard_s`` apart.
    Others get :data:`GUARD`.

    >>> w = [("s", float(t), t + 1.0) for t in range(0, 100)]
    >>> out, info = time_block_splits(w, guard_s=1.0)
    >>> sorted(set(out)), info["guard_s"]
    (['guard', 'test', 'train', 'val'], 1.0)
    """
    total = float(_checked_total(ratios))
    rng = np.random.default_rng(seed)
    plan: dict[str, dict[str, Any]] = {}
    bounds: dict[str, tuple[np.ndarray, list[float]]] = {}  # session -> (edges, cuts)
    for session in sorted({w[0] for w in windows}):
        lo = min(w[1] for w in windows if w[0] == session)
        hi = max(w[2] for w in windows if w[0] == session)
        perm = [int(i) for i in rng.permutation(len(ratios)) if ratios[int(i)] > 0]
        order = [SPLIT_NAMES[i] for i in perm]
        shares = np.cumsum([ratios[i] / total for i in perm])
        edges = lo + (hi - lo) * np.concatenate([[0.0], shares])
        edges[-1] = hi
        n_blocks = len(order)
        cuts = [float(edges[i]) for i in range(1, n_blocks)]
        plan[session] = {"span_s": [round(lo, 6), round(hi, 6)], "blocks": order,
                         "edges_s": [round(float(e), 6) for e in edges],
                         "cuts_s": [round(c, 6) for c in cuts]}
        bounds[session] = (edges, cuts)
    out = []
    for session, a, b in windows:
        blocks = plan[session]["blocks"]
        edges, cuts = bounds[session]
        k = int(np.clip(np.searchsorted(edges, (a + b) / 2, side="right") - 1, 0,
                        len(blocks) - 1))
        clear = all(b <= c - guard_s / 2 or a >= c + guard_s / 2 for c in cuts)
        out.append(blocks[k] if clear else GUARD)
    info = {"method": "time_block", "group": "time blocks inside each session", "seed": seed,
            "ratios": list(ratios), "blocks": "one per split, sized by the ratios, seeded order",
            "guard_s": guard_s,
            "rule": "a window takes its midpoint's block split; windows within guard_s/2 of a "
                    "boundary between different splits are 'guard' (in no split), so windows "
                    "of different splits are >= guard_s apart on the session clock",
            "blocks_per_session": plan}
    return out, info


def assign_time_blocks(results: list[PairResult], cfg: BuildConfig, *, n_sessions: int,
                       merged: dict[str, str] | None = None
                       ) -> tuple[list[WindowRow], dict[str, Any]]:
    """Set ``row.split`` of every result row by :func:`time_block_splits`; rows and record.

    ``merged`` (:func:`merged_groups`) maps a session holding a duplicated recording to its
    representative: its windows are placed on the representative's blocks, so a window and
    its copy always get the same split.
    """
    merged = merged or {}
    rows = [row for res in sorted(results, key=lambda r: r.pair_id) for row in res.rows]
    # one window long on the session clock the blocks live on
    guard_s = max((r.motion_end_s - r.motion_start_s for r in rows), default=0.0)
    labels, info = time_block_splits([(merged.get(r.session, r.session), r.motion_start_s,
                                       r.motion_end_s) for r in rows],
                                     ratios=cfg.split_ratios, seed=cfg.seed,
                                     guard_s=round(guard_s, 6))
    for row, lab in zip(rows, labels, strict=True):
        row.split = lab
    info["why"] = (f"{n_sessions} session(s): " + ("too few for a split by session; "
                                                    if n_sessions < 3 else "")
                   + "--split-by time-block splits inside sessions")
    info["guard_rows"] = sum(lab == GUARD for lab in labels)
    info["windows"] = dict(sorted(Counter(labels).items()))
    return rows, info


def guard_gap_violations(windows: list[tuple[str, str, float, float]], *,
                         guard_s: float) -> list[str]:
    """Pairs of windows of different splits closer than ``guard_s`` in one session.

    ``windows`` are ``(session, split, start_s, end_s)`` on the session clock; ``guard``
    rows are ignored. One sweep per session in start order (O(n log n)).

    >>> guard_gap_violations([("s", "train", 0, 5), ("s", "val", 9, 14)], guard_s=5)
    ['s: a val window at 9.000 s starts 4.000 s after a train window ends (guard 5 s)']
    """
    out = []
    for session in sorted({w[0] for w in windows}):
        rows = sorted((w for w in windows if w[0] == session and w[1] != GUARD),
                      key=lambda w: (w[2], w[3]))
        max_end: dict[str, float] = {}
        for _, split, a, b in rows:
            for other, end in max_end.items():
                if other != split and a < end + guard_s - 1e-6:
                    out.append(f"{session}: a {split} window at {a:.3f} s starts "
                               f"{a - end:.3f} s after a {other} window ends (guard {guard_s:g} s)")
            max_end[split] = max(max_end.get(split, float("-inf")), b)
    return out


#: A split smaller than this share of the windows, or than this many sessions, is warned of.
MIN_SPLIT_SHARE = 0.05
MIN_SPLIT_SESSIONS = 2


def read_split_list(path: str | Path) -> tuple[tuple[str, str], ...]:
    """Session -> split pairs of a split list file, sorted by session.

    Text: one ``<session> <split>`` per line (space, tab or comma between; ``#`` comments and
    blank lines skipped), or JSON ``{"<session>": "<split>", ...}``. Split names: ``train``,
    ``validation`` (or ``val``), ``test``. Sessions are folder names as in the manifest's
    ``session`` column (``DANCE_C_2``). ``ValueError`` names the file and line of a problem.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--splits {p}: cannot read ({exc.__class__.__name__}: {exc})") from None
    pairs: list[tuple[int, str, str]] = []
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--splits {p}: not valid JSON ({exc})") from None
        pairs = [(0, str(k), str(v)) for k, v in obj.items()]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            parts = [x for x in re.split(r"[\s,]+", line.split("#", 1)[0].strip()) if x]
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f"--splits {p}: line {n}: want '<session> <split>', got "
                                 f"{line.strip()!r}")
            pairs.append((n, parts[0], parts[1]))
    out: dict[str, str] = {}
    for n, session, split in pairs:
        stored = _SPLIT_ALIASES.get(split)
        where = f"line {n}" if n else f"key {session!r}"
        if stored is None:
            raise ValueError(f"--splits {p}: {where}: unknown split {split!r}; use train, "
                             "validation (or val) or test")
        if out.get(session, stored) != stored:
            raise ValueError(f"--splits {p}: {where}: session {session} is listed twice with "
                             "different splits")
        out[session] = stored
    if not out:
        raise ValueError(f"--splits {p}: no '<session> <split>' line")
    return tuple(sorted(out.items()))


_SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "test": "test"}


def pinned_splits(groups: list[str], split_list: tuple[tuple[str, str], ...]
                  ) -> tuple[dict[str, str], dict[str, Any]]:
    """Map each group (session) to the split a split list pins it to.

    ``ValueError`` lists the build's sessions the list does not name (a pinned split never
    guesses); listed sessions absent from the build are recorded, not an error.
    """
    pinned = dict(split_list)
    uniq = sorted(set(groups))
    missing = [g for g in uniq if g not in pinned]
    if missing:
        raise ValueError(f"--splits: {len(missing)} session(s) of this build are not in the "
                         f"list: {', '.join(missing)}; add a '<session> train|validation|test' "
                         "line for each")
    out = {g: pinned[g] for g in uniq}
    counts = Counter(out.values())
    info: dict[str, Any] = {"method": "pinned", "group": "session", "n_groups": len(uniq),
                            "listed_not_built": sorted(set(pinned) - set(uniq)),
                            "list_sha256": hashlib.sha256(canonical_pairs(split_list)
                                                          .encode()).hexdigest(),
                            "groups_per_split": {s: counts.get(s, 0) for s in SPLIT_NAMES}}
    return out, info


def canonical_pairs(split_list: tuple[tuple[str, str], ...]) -> str:
    """The split list as text, one ``session split`` per line, sorted (hashed for the record)."""
    return "".join(f"{s} {t}\n" for s, t in sorted(split_list))


def stratified_splits(groups: list[str], strata: dict[str, str], *,
                      ratios: tuple[float, ...] = (0.8, 0.1, 0.1), seed: int = 0
                      ) -> tuple[dict[str, str], dict[str, Any]]:
    """:func:`assign_splits` inside each stratum (``strata``: group -> style), so every style
    with enough sessions is in every split; a style with fewer sessions than non-zero ratios
    goes to train whole (named in the record).

    >>> g = ["a1", "a2", "a3", "b1", "b2", "b3"]
    >>> out, _ = stratified_splits(g, {x: x[0] for x in g}, ratios=(1, 1, 1))
    >>> sorted(out[x] for x in g if x[0] == "a")
    ['test', 'train', 'val']
    """
    out: dict[str, str] = {}
    per: dict[str, Any] = {}
    for stratum in sorted(set(strata[g] for g in groups)):
        members = sorted({g for g in groups if strata[g] == stratum})
        part, info = assign_splits(members, ratios=ratios, seed=seed)
        out.update(part)
        per[stratum] = {"sessions": len(members), "groups_per_split": info["groups_per_split"]}
        if "warning" in info:
            per[stratum]["note"] = (f"{len(members)} session(s): too few to split; all in "
                                    "train")
    counts = Counter(out.values())
    return out, {"method": "stratified", "group": "session", "stratify": "style", "seed": seed,
                 "ratios": list(ratios), "n_groups": len(set(groups)), "strata": per,
                 "groups_per_split": {s: counts.get(s, 0) for s in SPLIT_NAMES}}


def small_split_warnings(sessions_by_split: dict[str, list[str]],
                         windows_by_split: dict[str, int]) -> list[str]:
    """One warning, with the fix, per split holding fewer than :data:`MIN_SPLIT_SESSIONS`
    sessions or under :data:`MIN_SPLIT_SHARE` of the windows (empty splits are not warned:
    a zero ratio asks for them).

    >>> small_split_warnings({"train": ["a", "b"], "val": ["c"], "test": []},
    ...                      {"train": 90, "val": 10})[0][:44]
    'validation: 1 session(s) (c), 10 windows (10'
    """
    total = sum(windows_by_split.get(s, 0) for s in SPLIT_NAMES)
    out = []
    for s in SPLIT_NAMES:
        n_w, sess = windows_by_split.get(s, 0), sessions_by_split.get(s, [])
        if not n_w or total == 0:
            continue
        if len(sess) < MIN_SPLIT_SESSIONS or n_w / total < MIN_SPLIT_SHARE:
            name = "validation" if s == "val" else s
            shown = ", ".join(sess[:4]) + (", ..." if len(sess) > 4 else "")
            use = "a model trained on it learns" if s == "train" else "a score on it measures"
            out.append(f"{name}: {len(sess)} session(s) ({shown}), {n_w} windows "
                       f"({100 * n_w / total:.1f} %): {use} "
                       f"{'one session' if len(sess) == 1 else 'few windows'}, not the data; "
                       "fix: more sessions or a larger share (--split-ratios), --stratify "
                       "style, a pinned list (--splits FILE), or --split-by time-block")
    return out
