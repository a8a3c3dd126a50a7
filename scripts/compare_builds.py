"""sha256 of every file of two dataset folders (build.json left out: it records timings).

Usage: ``python scripts/compare_builds.py BEFORE AFTER [--markdown]``; exit 1 when any
file differs or exists on one side only. Used for the byte-identical comparison in
docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "build.json"}


def main(argv: list[str]) -> int:
    before, after = digests(Path(argv[0])), digests(Path(argv[1]))
    names = sorted(set(before) | set(after))
    diff = [n for n in names if before.get(n) != after.get(n)]
    if "--markdown" in argv:
        print("| file | sha256 before | sha256 after |\n| --- | --- | --- |")
        for n in names:
            print(f"| `{n}` | `{before.get(n, '-')}` | `{after.get(n, '-')}` |")
    print(f"{len(names) - len(diff)} identical, {len(diff)} different"
          + "".join(f"\n  differs: {n}" for n in diff), file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
