#!/usr/bin/env python
"""Render a vitiseg report (OUT/report.html) in headless Chromium to a PNG, the way a reader sees it.

    python scripts/screenshot_report.py OUT/report.html --out report.png [--width 1400] [--height 2000] [--full-page]
    python scripts/screenshot_report.py OUT/report.html --dump-dom dom.html

Needs Debian's ``chromium`` package (``apt-get install -y chromium``; binary /usr/bin/chromium). Chromium runs with a
fresh temporary profile, no sandbox (root in containers), no GPU and every background network feature off; the report
itself loads nothing from the network. ``--full-page`` renders a very tall window and crops the blank bottom, since
headless ``--screenshot`` captures only the window. Also imported by tests/test_report.py (``find_chromium``,
``dump_dom``, ``screenshot``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FULL_PAGE_HEIGHT = 16000


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary on PATH, or None."""
    for name in CANDIDATES:
        p = shutil.which(name)
        if p:
            return p
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found; install it with: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="vitiseg-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
               f"--user-data-dir={profile}", *args]
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=profile)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc


def dump_dom(html_path: str | Path, timeout: float = 120) -> str:
    """The DOM after Chromium loaded and laid out the page (``--dump-dom``), as HTML text."""
    url = Path(html_path).resolve().as_uri()
    return _run(["--dump-dom", url], timeout).stdout.decode("utf-8", errors="replace")


def _crop_blank_bottom(png: Path, margin: int = 24) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        a = np.asarray(im.convert("RGB"))
    background = a[-1, -1]
    rows = np.where(np.any(np.abs(a.astype(int) - background.astype(int)).sum(axis=2) > 12, axis=1))[0]
    bottom = int(rows[-1]) + 1 + margin if rows.size else a.shape[0]
    if bottom < a.shape[0]:
        Image.fromarray(a[:bottom]).save(png, optimize=True)


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1400, height: int = 2000,
               full_page: bool = False, timeout: float = 180) -> Path:
    """Write a PNG of the rendered page (window ``width`` x ``height``; ``full_page``: tall window, cropped)."""
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    url = Path(html_path).resolve().as_uri()
    h = FULL_PAGE_HEIGHT if full_page else height
    _run([f"--screenshot={png}", f"--window-size={width},{h}", url], timeout)
    if not png.is_file():
        raise RuntimeError("chromium reported success but wrote no screenshot")
    if full_page:
        _crop_blank_bottom(png)
    return png


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("html", type=Path, help="report.html")
    ap.add_argument("--out", type=Path, help="PNG to write (default: next to the HTML, report.png)")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--full-page", action="store_true", help="capture the whole page (up to 16000 px tall)")
    ap.add_argument("--dump-dom", type=Path, help="also write the rendered DOM to this file")
    a = ap.parse_args()
    if not a.html.is_file():
        print(f"not found: {a.html}", file=sys.stderr)
        return 2
    if a.dump_dom:
        a.dump_dom.write_text(dump_dom(a.html), encoding="utf-8")
        print(a.dump_dom)
    out = screenshot(a.html, a.out or a.html.with_suffix(".png"), a.width, a.height, a.full_page)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
