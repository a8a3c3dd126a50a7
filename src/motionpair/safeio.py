"""Guards for reading untrusted input files: one exception guard, bounded JSON, bounded NPZ.

Every source reader runs behind :func:`guard`: whatever a hostile or broken file makes
the reader raise (``RecursionError``, ``MemoryError``, ``IndexError``, ``OverflowError``,
``TypeError``, ``ValueError``, ``OSError``, ...) becomes one line naming the file, so one
file never stops a scan or a build. Two checks run *before* parsing, so that a small file
cannot make the parser recurse or allocate without bound:

- JSON nesting depth (:data:`MAX_JSON_DEPTH`), by a bracket count outside strings;
- NPZ/NPY sizes (:data:`MAX_NPZ_BYTES`), from the zip directory's decompressed sizes
  and each ``.npy`` header's shape × itemsize, read without decompressing the data.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: Deepest JSON nesting accepted in an input file (or one JSONL line). The formats read
#: here nest at most 4 levels (a skeletons.json: object > frames > joints > xyz); 64
#: leaves room for any sane extension while staying far below Python's recursion limit.
MAX_JSON_DEPTH = 64

#: Most bytes an input NPZ may hold once decompressed (all members together), and so the
#: most any single array may declare. A one-hour track's 128-band log-mel at ~43 frames/s
#: is 80 MB as float32 (159 MB as float64); a real MotionMix track NPZ is a few MB.
MAX_NPZ_BYTES = 512 * 2**20

#: One JSON string literal (escapes included): brackets inside strings do not nest.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: +1 for an opening bracket, -1 for a closing one, 0 for every other byte.
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def describe(exc: BaseException, path: str | Path) -> str:
    """One line naming ``path`` and what ``exc`` says went wrong with it.

    A message that already names the path (the readers' own ``ValueError``) is kept as is.
    """
    text = str(exc)
    if str(path) in text:
        return text
    if isinstance(exc, RecursionError):
        what = f"nested too deeply to read (RecursionError: {text})"
    elif isinstance(exc, MemoryError):
        what = "too large to load into memory (MemoryError)"
    elif isinstance(exc, OverflowError):
        what = f"a number out of range (OverflowError: {text})"
    elif isinstance(exc, PermissionError):
        what = "permission denied"
    elif isinstance(exc, ValueError) and type(exc) is ValueError:
        what = text
    else:
        what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"{path}: {what}"


def describe_pair(exc: BaseException, pair_id: str, files: list[str]) -> str:
    """:func:`describe` for a failure while pairing: names the pair's input files.

    A reader's own ``ValueError``/``OSError`` line (it names its file) is kept as is.
    """
    if isinstance(exc, ValueError | OSError) and "/" in str(exc):
        return str(exc)
    return f"{describe(exc, ', '.join(files) or pair_id)} (while pairing {pair_id})"


def guard(path: str | Path, read: Callable[..., T], *args: Any, **kwargs: Any
          ) -> tuple[T | None, str | None]:
    """``(read(*args, **kwargs), None)``, or ``(None, reason naming path)`` on any exception.

    The one guard every source reader runs behind. ``Exception`` covers RecursionError and
    MemoryError; KeyboardInterrupt and SystemExit still stop the program.
    """
    try:
        return read(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - the point: no input may stop the others
        return None, describe(exc, path)


def json_depth(data: bytes) -> int:
    """Deepest bracket nesting of JSON text ``data``, brackets inside strings ignored.

    When ``data`` holds at most :data:`MAX_JSON_DEPTH` opening brackets, their count is
    returned instead (an upper bound of the depth: no scan needed to know it is within).

    Linear in the size (a regex and a numpy cumulative sum); no parser recursion.
    """
    n_open = data.count(b"[") + data.count(b"{")
    if n_open <= MAX_JSON_DEPTH:  # fast path (one JSONL record): depth <= openers, exact enough
        return n_open
    steps = _STEP[np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)]
    steps = steps[steps != 0]
    return int(np.cumsum(steps, dtype=np.int64).max()) if steps.size else 0


def loads(text: str, *, path: str | Path | None = None) -> Any:
    """``json.loads`` refusing nesting deeper than :data:`MAX_JSON_DEPTH` before parsing.

    Raises ``ValueError`` (prefixed with ``path: `` when given) for too deep a nesting and
    for anything the parser rejects, including integers past Python's digit limit.
    """
    where = f"{path}: " if path is not None else ""
    depth = json_depth(text.encode("utf-8", "surrogatepass"))
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{where}JSON nested {depth} levels deep (limit {MAX_JSON_DEPTH}); "
                         "refused before parsing")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}invalid JSON at line {exc.lineno} col {exc.colno}: "
                         f"{exc.msg}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. a 5001-digit integer
        raise ValueError(f"{where}invalid JSON: {exc}") from exc


def check_npz(path: Path, *, limit: int = MAX_NPZ_BYTES) -> None:
    """Refuse an NPZ whose arrays would not fit ``limit`` bytes, without loading any.

    Checks the zip directory's decompressed sizes (a zip bomb declares its real size
    there, and :mod:`zipfile` never yields more than that), then every ``.npy`` header:
    its shape × itemsize must fit both the limit and the member that holds it (a header
    may promise 8 TB in a 528-byte file). Only the first bytes of each member are
    decompressed. ``ValueError`` names the file and the member.
    """
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        for info in infos:
            if info.file_size > limit:
                raise ValueError(f"{path}: member {info.filename!r} decompresses to "
                                 f"{info.file_size} bytes, which exceeds the {limit}-byte "
                                 "limit for an input NPZ; refused before decompressing")
        if total > limit:
            raise ValueError(f"{path}: members decompress to {total} bytes together, which "
                             f"exceeds the {limit}-byte limit for an input NPZ; refused "
                             "before decompressing")
        for info in infos:
            if info.filename.endswith(".npy"):
                with z.open(info) as f:
                    _check_npy_header(f, info.file_size, f"{path}: key "
                                      f"{info.filename[:-4]!r}", limit)


def check_npy(path: Path, *, limit: int = MAX_NPZ_BYTES) -> None:
    """:func:`check_npz` for a bare ``.npy`` file (its header against its size)."""
    with open(path, "rb") as f:
        _check_npy_header(f, path.stat().st_size, str(path), limit)


def _check_npy_header(f, available: int, where: str, limit: int) -> None:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # 3.0 (utf-8 field names) has no public reader
            shape, _, dtype = np.lib.format._read_array_header(  # type: ignore[attr-defined]
                f, version)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{where}: unreadable .npy header ({exc})") from None
    n = 1
    for s in shape:
        n *= int(s)  # Python ints: no overflow for absurd shapes
    declared = n * dtype.itemsize
    what = f"declares shape {tuple(shape)} {dtype} = {declared} bytes"
    if declared > limit:
        raise ValueError(f"{where} {what}, which exceeds the {limit}-byte limit for an "
                         "input NPZ; refused before loading")
    if declared > available:
        raise ValueError(f"{where} {what}, more than the {available} bytes it holds "
                         "(truncated or forged); refused before loading")
