"""Regenerate the README's pictures from the sample county: a filled form and the summary's 图表 sheet.

    python3 tests/render_readme.py            # writes samples/images/form.png and charts.png

Both are printed by LibreOffice headless (`soffice --convert-to pdf`) and rasterised by pdftoppm,
exactly as the rendering tests do, so the pictures show what a clerk really prints. Needs what
.ci/run installs (libreoffice-calc, fonts-noto-cjk, poppler-utils).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import libreoffice as lo  # noqa: E402

from kepu_xl.collection import collect  # noqa: E402
from kepu_xl.context import Context  # noqa: E402
from kepu_xl.forms_writer import Prefill  # noqa: E402
from kepu_xl.init import init_campaign  # noqa: E402

IMAGES = HERE.parent / "samples" / "images"
UNIT = "T01"  # a town whose return has a self-check warning to show
DPI = 80


def page_with(pdf: Path, text: str) -> int:
    """The first page (1-based) whose text holds `text`."""
    for n in range(1, lo.pdf_page_count(pdf) + 1):
        if text in lo.pdf_text(pdf, n):
            return n
    raise SystemExit(f"{pdf.name}: no page shows {text!r}")


def render_page(src: Path, text: str, target: Path, work: Path) -> Path:
    pdf = lo.to_pdf(src, work / src.stem)
    pages = lo.pdf_to_png(pdf, work / src.stem / "page", dpi=DPI)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pages[page_with(pdf, text) - 1], target)
    return target


def main() -> None:
    lo.require()
    with tempfile.TemporaryDirectory(prefix="kepuxl_render_") as tmp:
        work = Path(tmp)
        config = init_campaign(work / "青溪县", with_returns=True)
        county = config.parent
        report = collect(county / "inbox", config, work / "output", now=datetime(2023, 6, 5, 9, 0))
        ctx = Context.load(config)
        # the form as the unit filled it (values prefilled, self-checks computed), without feedback marks
        chosen = next(u for u in report.units if u.unit.id == UNIT)
        form = work / f"{UNIT}.xlsx"
        form.write_bytes(ctx.form_bytes(chosen.unit, Prefill(chosen.raw, chosen.info, chosen.detail)))
        written = [
            render_page(form, "自查结果", IMAGES / "form.png", work),
            render_page(Path(report.outputs["summary"]), "各单位举办活动次数", IMAGES / "charts.png", work),
        ]
    for path in written:
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
