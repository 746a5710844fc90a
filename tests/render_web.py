"""Regenerate the README's pictures of the 工作台: 概览 and 单位 of the sample county, as a clerk sees them.

    python3 tests/render_web.py       # writes samples/images/web-overview.png and web-units.png

The sample county (fixed key, its returns, one collect) is served by the real `kepuxl serve` and
photographed by Debian's headless Chromium at 1366×768, the laptop size the page is made for.
Needs what .ci/run installs (chromium, fonts-noto-cjk).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import init_sample  # noqa: E402
from webpage import chromium, serving  # noqa: E402

from kepu_xl.collection import collect  # noqa: E402

IMAGES = HERE.parent / "samples" / "images"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="kepuxl-render-web-"))
    try:
        folder = init_sample(work / "青溪县科技活动周", with_returns=True)
        collect(folder / "inbox", folder / "kepuxl.toml", now=datetime(2023, 5, 31, 9, 0))
        with serving(folder / "kepuxl.toml") as served, chromium() as browser:
            page = browser.new_page()
            page.goto(served.url)
            page.screenshot(path=str(IMAGES / "web-overview.png"))
            page.goto(served.base + "/units")
            page.screenshot(path=str(IMAGES / "web-units.png"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"written: {IMAGES / 'web-overview.png'}, {IMAGES / 'web-units.png'}")


if __name__ == "__main__":
    main()
