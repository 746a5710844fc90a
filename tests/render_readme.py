"""Regenerate the README's pictures: a filled form and the summary's 图表 sheet of the sample county, and
the 下级单位 sheet of a city's summary (three counties reporting up with `kepuxl report-up`).

    python3 tests/render_readme.py            # writes samples/images/form.png, charts.png and subunits.png

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
from chain import COUNTY, TOWN, campaign, fill_returns, received, upper_form  # noqa: E402

from kepu_xl.collection import collect  # noqa: E402
from kepu_xl.context import Context  # noqa: E402
from kepu_xl.forms_writer import Prefill  # noqa: E402
from kepu_xl.init import init_campaign  # noqa: E402
from kepu_xl.sample_returns import values_for  # noqa: E402
from kepu_xl.upward import report_up  # noqa: E402

IMAGES = HERE.parent / "samples" / "images"
UNIT = "T01"  # a town whose return has a self-check warning to show
DPI = 80
WHEN = datetime(2023, 6, 5, 9, 0)
# the city of the 下级单位 picture: three counties, their towns (one 待核实, one that never reported)
CHAIN = {
    ("C01", "青溪县"): [
        ("T01", "城关街道"),
        ("T02", "青山镇"),
        ("T03", "白沙镇"),
        ("T04", "柳河镇"),
        ("D01", "县教育局"),
    ],
    ("C02", "白河县"): [("B01", "河口镇"), ("B02", "双桥镇"), ("B03", "古城街道"), ("B04", "县科协")],
    ("C03", "石门县"): [("S01", "石门镇"), ("S02", "南坪乡"), ("S03", "县农业农村局")],
}


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
        report = collect(county / "inbox", config, work / "output", now=WHEN)
        ctx = Context.load(config)
        # the form as the unit filled it (values prefilled, self-checks computed), without feedback marks
        chosen = next(u for u in report.units if u.unit.id == UNIT)
        form = work / f"{UNIT}.xlsx"
        form.write_bytes(ctx.form_bytes(chosen.unit, Prefill(chosen.raw, chosen.info, chosen.detail)))
        written = [
            render_page(form, "自查结果", IMAGES / "form.png", work),
            render_page(Path(report.outputs["summary"]), "各单位举办活动次数", IMAGES / "charts.png", work),
            render_page(city_summary(work / "chain"), "统计表 下级单位", IMAGES / "subunits.png", work),
        ]
    for path in written:
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size // 1024} KiB")


def city_summary(work: Path) -> Path:
    """A city's summary after its three counties reported up (kepuxl report-up), each from its towns."""
    counties = [(uid, name, COUNTY) for uid, name in CHAIN]
    city = campaign(work / "济宁市", "jining-2023-week", "济宁市科学技术局", counties)
    seq = 0
    for (unit_id, name), towns in CHAIN.items():
        roster = [(uid, town, "县级部门" if town.startswith("县") else TOWN) for uid, town in towns]
        county = campaign(work / name, f"{unit_id.lower()}-2023-week", f"{name}科学技术局", roster)
        values = {}
        for uid, town in towns[: len(towns) - (unit_id == "C02")]:  # 县科协 of 白河县 never reported
            seq += 1
            values[uid] = values_for(seq, {"fund_government": 50000} if town == "白沙镇" else {})
        fill_returns(county, values)
        filled = report_up(upper_form(city, unit_id), county, include_pending=True, now=WHEN).output
        received(Path(shutil.copy(filled, city.parent / "inbox")))
    return Path(collect(city.parent / "inbox", city, work / "output", now=WHEN).outputs["summary"])


if __name__ == "__main__":
    main()
