"""A corpus of broken inputs, each made at test time from COPIES of real tang2018 files.

Nothing here is invented data: every broken case starts from a copy of a real folder
(``DANCE_W_8``, the shortest real dance) and breaks one thing the way capture folders
break in practice. Two real folders are copied untouched as the good inputs that must
still be paired. ``make_corpus`` returns the corpus root, a second root holding a
duplicate session id, and the expected report of each case.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BASE = "DANCE_W_8"  # 90 s of audio, 342 skeleton frames: cheap to copy and to pair
GOOD = ("DANCE_W_4", "DANCE_W_7")


@dataclass(frozen=True)
class Case:
    name: str
    folder: str  # the DANCE_* folder made for this case
    file: str  # the file the report must name
    expect: str  # a phrase the reason must contain
    make: Callable[[Path, dict], None]  # breaks the copied folder in place
    stage: str = "scan"  # "scan" (found by scan) or "pair" (found while pairing)


def _write_json(path: Path, obj) -> None:
    path.unlink()
    path.write_text(json.dumps(obj), encoding="utf-8")


def _skel(change: Callable[[dict], None]):
    def make(folder: Path, real: dict) -> None:
        doc = json.loads(json.dumps(real["skeletons"]))  # a deep copy
        change(doc)
        _write_json(folder / "skeletons.json", doc)
    return make


def _set_joint(value):
    def change(doc: dict) -> None:
        doc["skeletons"][100][5][1] = value
    return change


def _config(obj):
    return lambda folder, real: _write_json(folder / "config.json", obj(real["config"]))


def _replace(name: str, data: Callable[[bytes], bytes]):
    def make(folder: Path, real: dict) -> None:
        raw = (folder / name).read_bytes()
        (folder / name).unlink()
        (folder / name).write_bytes(data(raw))
    return make


def _short(folder: Path, real: dict) -> None:
    doc = json.loads(json.dumps(real["skeletons"]))
    n = 40  # 40 beat-normalised frames danced over 2 s of song: less than one 5 s window
    doc.update(length=n, center=doc["center"][:n], skeletons=doc["skeletons"][:n])
    _write_json(folder / "skeletons.json", doc)
    s = real["config"]["start_position"]
    _write_json(folder / "config.json", {"start_position": s, "end_position": s + 50})


def _symlink_loop(folder: Path, real: dict) -> None:
    (folder / "skeletons.json").unlink()
    (folder / "skeletons.json").symlink_to("skeletons.json")


def _dangling(folder: Path, real: dict) -> None:
    (folder / "audio.mp3").unlink()
    (folder / "audio.mp3").symlink_to(folder / "moved-away.mp3")


def _dir_as_file(folder: Path, real: dict) -> None:
    (folder / "skeletons.json").unlink()
    (folder / "skeletons.json").mkdir()


def _fifo(folder: Path, real: dict) -> None:
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")


def _audio_from_json(folder: Path, real: dict) -> None:
    (folder / "audio.mp3").unlink()
    shutil.copyfile(folder / "skeletons.json", folder / "audio.mp3")


#: Nesting far past any parser's recursion limit (json.loads raised RecursionError).
DEEP = 100_000


def _deep_extra_key(raw: bytes) -> bytes:
    """The real JSON object with one extra key nested ``DEEP`` levels deep."""
    head = raw.rstrip()
    assert head.endswith(b"}")
    return head[:-1] + b', "extra": ' + b"[" * DEEP + b"]" * DEEP + b"}"


def _huge_integer(folder: Path, real: dict) -> None:
    c = real["config"]  # a 5001-digit start frame: past Python's int-from-text digit limit
    (folder / "config.json").unlink()
    (folder / "config.json").write_text(
        f'{{"start_position": {"9" * 5001}, "end_position": {c["end_position"]}}}')


def _end_past_audio(folder: Path, real: dict) -> None:
    # DANCE_W_8's audio is 90.17 s; song frame 20000 at 25 fps is 800 s (the alignment
    # picture crashed on this with a TypeError, and so did `motionpair align`)
    _write_json(folder / "config.json", {**real["config"], "end_position": 20_000})


CASES = [
    Case("empty_json", "DANCE_W_101", "skeletons.json", "empty file",
         _replace("skeletons.json", lambda b: b"")),
    Case("truncated_json", "DANCE_W_102", "skeletons.json", "invalid JSON",
         _replace("skeletons.json", lambda b: b[: len(b) // 2])),
    Case("missing_key", "DANCE_W_103", "config.json", "missing key 'end_position'",
         _config(lambda c: {"start_position": c["start_position"]})),
    Case("wrong_nesting", "DANCE_W_104", "skeletons.json", "expected (T, 23, 3)",
         _skel(lambda d: d.__setitem__("skeletons", [sum(f, []) for f in d["skeletons"]]))),
    Case("ragged_nesting", "DANCE_W_105", "skeletons.json", "not a rectangular array",
         _skel(lambda d: d["skeletons"][7].pop())),
    Case("not_an_object", "DANCE_W_106", "skeletons.json", "expected a JSON object",
         _replace("skeletons.json", lambda b: b"[1, 2]")),
    Case("string_for_number", "DANCE_W_107", "config.json", "must be a number, got str",
         _config(lambda c: {**c, "start_position": str(c["start_position"])})),
    Case("string_coordinates", "DANCE_W_108", "skeletons.json", "must hold numbers, found strings",
         _skel(lambda d: d.__setitem__("center", [[str(v) for v in p] for p in d["center"]]))),
    Case("nan_pose", "DANCE_W_109", "skeletons.json", "NaN/inf", _skel(_set_joint(float("nan")))),
    Case("inf_pose", "DANCE_W_110", "skeletons.json", "NaN/inf", _skel(_set_joint(float("inf")))),
    Case("absurd_pose", "DANCE_W_111", "skeletons.json", "exceeds", _skel(_set_joint(3.0e9))),
    Case("length_mismatch", "DANCE_W_112", "skeletons.json", "length=",
         _skel(lambda d: d.__setitem__("length", d["length"] + 5))),
    Case("short_pose", "DANCE_W_113", "skeletons.json", "no window could be cut", _short,
         stage="pair"),
    Case("empty_audio", "DANCE_W_114", "audio.mp3", "empty file (0 bytes)",
         _replace("audio.mp3", lambda b: b"")),
    Case("truncated_audio", "DANCE_W_115", "audio.mp3", "truncated audio",
         _replace("audio.mp3", lambda b: b[: len(b) // 2])),  # 41.9 s decode, dance ends 58.6 s
    Case("cut_header_audio", "DANCE_W_116", "audio.mp3", "not readable as audio",
         _replace("audio.mp3", lambda b: b[:50_000])),
    Case("non_audio", "DANCE_W_117", "audio.mp3", "not readable as audio", _audio_from_json),
    Case("symlink_loop", "DANCE_W_118", "skeletons.json", "symlink loop", _symlink_loop),
    Case("dangling_symlink", "DANCE_W_119", "audio.mp3", "dangling symlink", _dangling),
    Case("directory_as_file", "DANCE_W_120", "skeletons.json", "is a directory", _dir_as_file),
    Case("fifo_as_file", "DANCE_W_121", "config.json", "is a FIFO", _fifo),
    Case("deeply_nested_json", "DANCE_W_122", "skeletons.json", "nested 100001 levels deep",
         _replace("skeletons.json", _deep_extra_key)),
    Case("huge_integer", "DANCE_W_123", "config.json", "digits", _huge_integer),
    Case("end_past_audio", "DANCE_W_124", "config.json", "past the end of the audio",
         _end_past_audio),
]


def copy_folder(src: Path, dst: Path) -> None:
    """A writable copy of a real folder (the shared data is read-only)."""
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        shutil.copyfile(f, dst / f.name)


def make_corpus(tang_dir: Path, base: Path) -> tuple[Path, Path, list[Case]]:
    """Build every case under ``base/corpus`` (+ ``base/dup`` for the duplicate id)."""
    corpus, dup = base / "corpus", base / "dup"
    real = {"skeletons": json.loads((tang_dir / BASE / "skeletons.json").read_text()),
            "config": json.loads((tang_dir / BASE / "config.json").read_text())}
    for name in GOOD:
        copy_folder(tang_dir / name, corpus / name)
    for case in CASES:
        copy_folder(tang_dir / BASE, corpus / case.folder)
        case.make(corpus / case.folder, real)
    # a second root holding a session id already seen in the first: reported, not paired
    copy_folder(tang_dir / GOOD[0], dup / GOOD[0])
    # an AIST++-style pickle among the inputs: refused, never opened
    (corpus / "motions").mkdir()
    shutil.copyfile(tang_dir / BASE / "config.json", corpus / "motions" / "gBR_sBM_c01.pkl")
    return corpus, dup, CASES


# ----------------------------------------------------------------------------- MotionMix
# Broken copies of a MotionMix capture DERIVED from real data (tests/derived_capture.py:
# the real DANCE_W_8 track through prep-audio, snapshots sampled from its real motion).


@dataclass(frozen=True)
class MMCase:
    name: str
    session: str  # Problem.session (playlist or session folder name)
    file: str  # the file the report must name
    expect: str  # a phrase the reason must contain


SESSION_OF = "playlist-01-2026-04-08T13-31-{:02d}Z"

MM_CASES = [
    MMCase("npz_object_array", "playlist-02", "playlist-02/DANCE_W_8__audio.npz",
           "is an object array"),
    MMCase("npz_missing_keys", "playlist-03", "playlist-03/DANCE_W_8__audio.npz",
           "missing required key 'mel'"),
    MMCase("duplicate_track_id", "playlist-04", "playlist-04/copy.npz", "duplicate track id"),
    MMCase("metadata_unreadable", SESSION_OF.format(40), "metadata.json", "invalid JSON"),
    MMCase("non_monotonic_timestamps", SESSION_OF.format(41), "snapshots.jsonl",
           "non-monotonic or duplicate timestamp"),
    MMCase("duplicate_timestamps", SESSION_OF.format(42), "snapshots.jsonl",
           "is not after the previous"),
    MMCase("npz_forged_header", "playlist-05", "playlist-05/DANCE_W_8__audio.npz",
           "declares shape (1000000, 1000000)"),
    MMCase("npz_short_onset_env", "playlist-06", "playlist-06/DANCE_W_8__audio.npz",
           "onset_env"),
    MMCase("jsonl_deeply_nested_line", SESSION_OF.format(43), "snapshots.jsonl",
           "nested 100001 levels deep"),
    MMCase("started_at_1e23", SESSION_OF.format(44), "metadata.json", "started_at"),
    MMCase("started_at_1e17", SESSION_OF.format(45), "metadata.json", "started_at"),
    MMCase("all_snapshots_outside_tracks", SESSION_OF.format(46), SESSION_OF.format(46),
           "outside every track"),
]

#: Sessions whose bad records are dropped while the rest stays paired.
MM_STILL_PAIRED = (41, 42, 43)


def forge_npy_member(npz: Path, key: str, shape: tuple[int, ...], *, data: int = 0,
                     level: int = 9) -> None:
    """Append member ``key.npy`` to ``npz``: a .npy header declaring ``shape`` float64,
    followed by ``data`` zero bytes (deflated: a zip bomb when ``data`` is large).

    ``data=0`` gives a header that promises far more than the member holds (the issue's
    528-byte NPZ declaring a (1e6, 1e6) array).
    """
    import io
    import zipfile

    import numpy as np

    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f8", "fortran_order": False,
                                               "shape": shape})
    with zipfile.ZipFile(npz, "a", zipfile.ZIP_DEFLATED, compresslevel=level) as z, \
            z.open(f"{key}.npy", "w", force_zip64=True) as f:
        f.write(hdr.getvalue())
        chunk = bytes(1 << 22)
        left = data
        while left > 0:
            f.write(chunk[:left])
            left -= len(chunk)


def make_motionmix_corpus(tang_dir: Path, base: Path) -> tuple[Path, list[MMCase]]:
    """A derived capture (one good session) plus one broken copy per case; its root."""
    import numpy as np

    from derived_capture import make_capture

    cap = make_capture(tang_dir, base, sessions=(BASE,)).root
    good_pl = cap / "audio" / "playlist-01"
    npz = next(good_pl.glob("*.npz"))
    good_sess = next((cap / "sessions").iterdir())

    def playlist(name: str, change_npz=None) -> Path:
        d = cap / "audio" / name
        shutil.copytree(good_pl, d)
        if change_npz:
            with np.load(d / npz.name, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            change_npz(arrays)
            (d / npz.name).unlink()
            np.savez(d / npz.name, **arrays)
        return d

    # an object array holds pickled Python objects: loading it would unpickle
    playlist("playlist-02", lambda a: a.__setitem__(
        "labels", np.array([{"beat": 1}, None], dtype=object)))
    playlist("playlist-03", lambda a: a.pop("mel"))
    d = playlist("playlist-04")  # the same track listed twice under one id
    shutil.copyfile(d / npz.name, d / "copy.npz")
    man = json.loads((d / "manifest.json").read_text())
    man["tracks"].append({**man["tracks"][0], "file": "copy.npz", "order": 1})
    (d / "manifest.json").write_text(json.dumps(man))

    def session(sec: int, change) -> None:
        d = cap / "sessions" / SESSION_OF.format(sec)
        shutil.copytree(good_sess, d)
        meta = json.loads((d / "metadata.json").read_text())
        (d / "metadata.json").write_text(json.dumps({**meta, "session_id": d.name}))
        change(d)

    def edit_cam0_lines(d: Path, edit) -> None:
        lines = (d / "snapshots.jsonl").read_text().splitlines()
        edit(lines, [i for i, line in enumerate(lines) if '"cam0"' in line])
        (d / "snapshots.jsonl").write_text("\n".join(lines) + "\n")

    def swap(lines, cam0):
        lines[cam0[10]], lines[cam0[11]] = lines[cam0[11]], lines[cam0[10]]

    session(40, lambda d: (d / "metadata.json").write_text(
        (d / "metadata.json").read_text()[:25]))  # cut mid-string
    session(41, lambda d: edit_cam0_lines(d, swap))
    session(42, lambda d: edit_cam0_lines(d, lambda lines, c: lines.insert(c[20] + 1,
                                                                              lines[c[20]])))
    # a header declaring (1e6, 1e6) float64 = 8 TB on a key nothing reads (MemoryError)
    forge_npy_member(playlist("playlist-05") / npz.name, "extra", (1_000_000, 1_000_000))
    # onset_env cut to half the mel's frames (IndexError while pairing)
    playlist("playlist-06", lambda a: a.__setitem__("onset_env",
                                                     a["onset_env"][: len(a["onset_env"]) // 2]))

    def deep_line(lines, c):
        lines[c[30]] = lines[c[30]][:-1] + ', "extra": ' + "[" * DEEP + "]" * DEEP + "}"

    session(43, lambda d: edit_cam0_lines(d, deep_line))

    def set_meta(**kw):
        def change(d: Path) -> None:
            meta = json.loads((d / "metadata.json").read_text())
            (d / "metadata.json").write_text(json.dumps({**meta, **kw}))
        return change

    session(44, set_meta(started_at=1e23))  # OverflowError in datetime.fromtimestamp
    session(45, set_meta(started_at=1e17))  # "year is out of range", no file named
    # the session start 10 h earlier: every snapshot lies ~10 h after it, past every track
    start = json.loads((good_sess / "metadata.json").read_text())["started_at"]
    from datetime import datetime, timedelta
    early = datetime.fromisoformat(start.replace("Z", "+00:00")) - timedelta(hours=10)
    session(46, set_meta(started_at=early.isoformat().replace("+00:00", "Z")))
    return cap, MM_CASES


# ----------------------------------------------------------------------------- commands
# Broken arguments for EVERY command (tests/test_cli_contract.py), each DERIVED at test time
# from a real build (3 real tang2018 sessions), a real tiny run trained on it, or the real
# files themselves: copies cut, replaced or re-pointed the way files break in practice.


def _copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _first_shard_file(ds: Path) -> Path:
    return sorted((ds / "shards").iterdir())[0] / "pose.npy"


def _set_manifest_row(ds: Path, row: int) -> None:
    lines = (ds / "manifest.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["row"] = row
    lines[0] = json.dumps(first)
    (ds / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def dataset_variants(ds: Path, base: Path, tang_dir: Path) -> dict[str, Path]:
    """Broken copies of the real build ``ds``, by name (each a folder under ``base``)."""
    import numpy as np

    out: dict[str, Path] = {}

    def variant(name: str, change: Callable[[Path], None]) -> None:
        d = _copy_tree(ds, base / f"ds-{name}")
        change(d)
        out[name] = d

    variant("list_json", lambda d: (d / "dataset.json").write_text("[1, 2]"))
    variant("truncated_json", lambda d: (d / "dataset.json").write_text(
        (ds / "dataset.json").read_text()[:200]))
    variant("empty_manifest", lambda d: (d / "manifest.jsonl").write_text(""))

    def truncated_shard(d: Path) -> None:
        f = _first_shard_file(d)
        raw = f.read_bytes()
        f.write_bytes(raw[: len(raw) // 2])

    variant("truncated_shard", truncated_shard)

    def symlinked_shard(d: Path) -> None:
        f = _first_shard_file(d)
        outside = base / "outside-pose.npy"
        if not outside.exists():
            shutil.copyfile(f, outside)
        f.unlink()
        f.symlink_to(outside)

    variant("symlinked_shard", symlinked_shard)

    def pickled_shard(d: Path) -> None:
        f = _first_shard_file(d)
        n = len(np.load(f, mmap_mode="r", allow_pickle=False))
        f.unlink()
        np.save(f, np.array([{"x": i} for i in range(n)], dtype=object), allow_pickle=True)

    variant("pickled_shard", pickled_shard)
    variant("row_1e12", lambda d: _set_manifest_row(d, 10**12))
    variant("row_minus_1", lambda d: _set_manifest_row(d, -1))
    out["input_folder"] = tang_dir / BASE  # a real input folder: not a dataset
    return out


def run_variants(run: Path, base: Path) -> dict[str, Path]:
    """Broken copies of the real tiny run ``run`` (checkpoints cut in half, none at all)."""
    out: dict[str, Path] = {}
    for name, files in (("truncated_model", ("model.pt",)),
                        ("truncated_checkpoints", ("model.pt", "last.pt", "best.pt"))):
        d = _copy_tree(run, base / f"run-{name}")
        for f in files:
            if (d / f).exists():
                raw = (d / f).read_bytes()
                (d / f).write_bytes(raw[: len(raw) // 2])
        out[name] = d
    (base / "run-empty").mkdir()
    out["not_a_run"] = base / "run-empty"
    return out


def audio_variants(tang_dir: Path, base: Path) -> dict[str, Path]:
    """Broken copies of a real MP3 (empty, cut to its first 50 kB, a JSON file named .mp3)."""
    real = tang_dir / BASE / "audio.mp3"
    d = base / "audio"
    d.mkdir()
    (d / "empty.mp3").write_bytes(b"")
    (d / "cut.mp3").write_bytes(real.read_bytes()[:50_000])
    shutil.copyfile(tang_dir / BASE / "skeletons.json", d / "json.mp3")
    return {"empty": d / "empty.mp3", "cut_header": d / "cut.mp3", "not_audio": d / "json.mp3",
            "folder": tang_dir / BASE}


#: Non-UTF-8 bytes in a file name (Latin-1 "café"), as the OS hands them to Python.
NON_UTF8 = os.fsdecode(b"caf\xe9")


def readonly_dir(base: Path) -> Path:
    """A folder nothing can be written into: mode 0555, or (as root, who ignores modes)
    a path on the kernel's read-only ``/sys``."""
    if os.geteuid() == 0:
        return Path("/sys/motionpair-readonly-test")
    d = base / "readonly"
    d.mkdir()
    d.chmod(0o555)
    return d
