#!/usr/bin/env python3
"""Render a report.html in headless Debian chromium and save a PNG screenshot.

    python scripts/check_report_chromium.py DIR/report/report.html --out shot.png

Exit 0 when chromium wrote a non-empty PNG; 2 when chromium is missing; 1 otherwise.
Networking is switched off as far as chromium allows, so a page that needs the network
to render shows up broken in the screenshot.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def screenshot(html: Path, out_png: Path, *, width: int = 1200, height: int = 3000,
               timeout_s: float = 120.0) -> Path:
    """Render ``html`` (file URL) to ``out_png`` with a fresh, throw-away browser profile."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found (apt-get install -y chromium)")
    out_png = out_png.resolve()
    out_png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="mp-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out_png}", html.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    if not out_png.is_file() or out_png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    return out_png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("--out", type=Path, default=Path("report-screenshot.png"))
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=3000)
    args = ap.parse_args(argv)
    if find_chromium() is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    try:
        png = screenshot(args.html, args.out, width=args.width, height=args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {png} ({png.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
