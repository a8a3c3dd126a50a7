"""The input guards of motionpair.safeio on tiny hand-made inputs (arithmetic only; the
real-data cases are in tests/test_bad_inputs.py)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from badinputs import forge_npy_member
from motionpair.safeio import MAX_JSON_DEPTH, check_npz, describe, guard, json_depth, loads


def test_json_depth_ignores_brackets_inside_strings():
    many = b"[{" * 40  # more openers than MAX_JSON_DEPTH: no fast path, an exact count
    assert json_depth(b'{"a": "' + many + b'", "b": [[1]]}') == 3
    assert json_depth(b'["\\"' + many + b']]", [[2]]]') == 3  # an escaped quote: still inside
    assert json_depth(b"[" * 70 + b"]" * 70) == 70
    assert json_depth(b'"' + many + b'"') == 0
    assert json_depth(b"[[1], [2]]") <= 3  # few openers: their count, an upper bound


def test_loads_refuses_deep_nesting_and_huge_integers_naming_the_file():
    with pytest.raises(ValueError, match=r"x\.json: JSON nested 100000 levels deep"):
        loads("[" * 100_000 + "]" * 100_000, path="x.json")
    assert loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) == \
        eval("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)  # noqa: S307 - literal list only
    with pytest.raises(ValueError, match=r"x\.json: invalid JSON: .*5001 digits"):
        loads('{"n": ' + "9" * 5001 + "}", path="x.json")
    with pytest.raises(ValueError, match=r"x\.json: invalid JSON at line 1 col 2"):
        loads("[}", path="x.json")


def test_guard_names_the_file_for_any_exception():
    def boom(exc):
        raise exc

    assert guard("f.npz", lambda: 3) == (3, None)
    for exc, phrase in ((RecursionError("deep"), "nested too deeply"),
                        (MemoryError(), "too large to load"),
                        (OverflowError("big"), "out of range"),
                        (IndexError("index 9"), "IndexError: index 9"),
                        (ValueError("f.npz: own line"), "f.npz: own line")):
        value, why = guard("f.npz", boom, exc)
        assert value is None and why.startswith("f.npz: ") and phrase in why, why
    assert describe(ValueError("f.npz: x"), "f.npz") == "f.npz: x"  # never named twice


def test_check_npz_reads_sizes_without_loading(tmp_path):
    ok = tmp_path / "ok.npz"
    np.savez(ok, mel=np.zeros((4, 3), np.float32))
    check_npz(ok)
    forged = tmp_path / "forged.npz"
    np.savez(forged, mel=np.zeros((4, 3), np.float32))
    forge_npy_member(forged, "extra", (1_000_000, 1_000_000))
    with pytest.raises(ValueError, match=r"key 'extra' declares shape \(1000000, 1000000\) "
                                         r"float64 = 8000000000000 bytes, which exceeds"):
        check_npz(forged)
    short = tmp_path / "short.npz"
    np.savez(short, mel=np.zeros((4, 3), np.float32))
    forge_npy_member(short, "extra", (1000,), data=80)  # 8000 bytes declared, 80 held
    with pytest.raises(ValueError, match="more than the .* bytes it holds"):
        check_npz(short)
    bomb = tmp_path / "bomb.npz"
    np.savez(bomb, mel=np.zeros((4, 3), np.float32))
    forge_npy_member(bomb, "pad", (2048,), data=2048 * 8)
    with pytest.raises(ValueError, match="'pad.npy' decompresses to 16512 bytes, which "
                                         "exceeds the 10000-byte limit"):
        check_npz(bomb, limit=10_000)
    with zipfile.ZipFile(bomb) as z:  # the members were never loaded: still a valid NPZ
        assert z.testzip() is None
