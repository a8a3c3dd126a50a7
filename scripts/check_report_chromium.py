#!/usr/bin/env python3
"""Render a report.html in headless Debian chromium, save a PNG screenshot and check that
nothing overflows sideways.

    python scripts/check_report_chromium.py DIR/report/report.html --out shot.png [--width 1280]

Exit 0 when chromium wrote a non-empty PNG and the page fits ``--width`` (no horizontal
scrolling of the page, nor of any table box); 2 when chromium is missing; 1 otherwise.
Networking is switched off as far as chromium allows, so a page that needs the network
to render shows up broken in the screenshot.

The widths are measured by a copy of the page with a small script appended that writes
``document.documentElement.scrollWidth``/``clientWidth`` (and those of every ``.wide``
table box, and the page height) into attributes of ``<body>``, read back with ``--dump-dom``.
"""

from __future__ import annotations

import argparse
import json
import re
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


#: appended to a copy of the page: the measured widths as a JSON attribute of <body>
PROBE = ("<script>window.addEventListener('load',()=>{const e=document.documentElement;"
         "const w=[...document.querySelectorAll('.wide')].map(x=>[x.scrollWidth,x.clientWidth]);"
         "document.body.setAttribute('data-mp-widths',JSON.stringify({page:[e.scrollWidth,"
         "e.clientWidth],boxes:w,height:e.scrollHeight}));});</script>")


def page_widths(html: Path, *, width: int = 1280, height: int = 2000,
                timeout_s: float = 120.0) -> dict[str, list]:
    """``{"page": [scrollWidth, clientWidth], "boxes": [[scrollWidth, clientWidth], ...],
    "height": scrollHeight}`` (CSS px) of ``html`` rendered in a ``width`` px wide window;
    a box is a ``.wide`` table container."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found (apt-get install -y chromium)")
    text = html.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="mp-chromium-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
        cmd = [exe, *FLAGS, f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
               "--dump-dom", probe.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    m = re.search(r'data-mp-widths="([^"]*)"', proc.stdout)
    if m is None:
        raise RuntimeError(f"chromium did not run the width probe (exit {proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(m.group(1).replace("&quot;", '"'))


def overflow_lines(widths: dict[str, list]) -> list[str]:
    """One line per thing wider than its box (empty when the page fits)."""
    lines = []
    sw, cw = widths["page"]
    if sw > cw:
        lines.append(f"page scrolls sideways: {sw} px of content in {cw} px")
    for k, (sw, cw) in enumerate(widths["boxes"], 1):
        if sw > cw:
            lines.append(f"table box {k} scrolls sideways: {sw} px of content in {cw} px")
    return lines


def screenshot(html: Path, out_png: Path, *, width: int = 1280, height: int = 3000,
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
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=3000)
    args = ap.parse_args(argv)
    if find_chromium() is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    try:
        png = screenshot(args.html, args.out, width=args.width, height=args.height)
        widths = page_widths(args.html, width=args.width)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {png} ({png.stat().st_size} bytes)")
    print(f"at {args.width} px: page {widths['page'][0]}/{widths['page'][1]} px wide, "
          f"{widths.get('height')} px tall, {len(widths['boxes'])} table boxes")
    bad = overflow_lines(widths)
    for line in bad:
        print(f"overflow: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
