"""The summary on paper: every sheet on A4, no text printed below 8 pt, the header row and the unit column on
every page, page numbers, no header line of one character or a lone ）, the charts' data not printed.

Three workbooks: the sample county's (collect over its sample returns, as the golden file), a 300-unit
campaign's (make_report from test_summary_writer: sheets of many pages, split into column pages), and the
sample county's beside last year ([compare] previous: 上年 / 增减 / 增减% beside 已确认 and 待核实 in 汇总表,
last year's columns in 分单位, a 同比 chart). Each is
printed to PDF once by real LibreOffice and measured page by page: page sizes (pdfinfo), words and their
boxes (pdftotext -bbox), the size each text run is printed at (the PDF's Tf operators). A page belongs to
the sheet named in its footer (&A). The tests of the print set-up as written need no LibreOffice.
"""

from __future__ import annotations

import io
import itertools
import re
import subprocess
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
from conftest import GOLDEN_DIR, init_sample
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.utils import range_boundaries
from test_summary_writer import make_report

from kepu_xl import campaign as campaign_mod
from kepu_xl import merge, summary_writer
from kepu_xl import print_layout as pl
from kepu_xl import spec as spec_mod
from kepu_xl.collection import collect
from kepu_xl.init import init_campaign

SHEETS = list(summary_writer.SHEETS)
TOTALS, BY_UNIT, CHARTS = summary_writer.TOTALS, summary_writer.BY_UNIT, summary_writer.CHARTS
A4 = {(595, 842), (842, 595)}
CLOSERS = "）)、，。：；！？"
NOW = datetime(2023, 6, 5, 9, 0)


# -- the two workbooks -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_xlsx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    county = init_sample(tmp_path_factory.mktemp("sample") / "青溪县", with_returns=True)
    report = collect(county / "inbox", county / "kepuxl.toml", county / "output", now=NOW)
    return Path(report.outputs["summary"]).read_bytes()


@pytest.fixture(scope="module")
def big_xlsx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    camp = campaign_mod.load(init_campaign(tmp_path_factory.mktemp("big") / "c"))
    spec = spec_mod.load(spec_mod.bundled_dir() / "science_week.toml")
    report = make_report(camp, spec, n_units=300)
    return summary_writer.build_summary(report, merge.frames(report))


@pytest.fixture(scope="module")
def compare_xlsx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    county = init_sample(tmp_path_factory.mktemp("compare") / "青溪县", with_returns=True)
    config = county / "kepuxl.toml"
    old = GOLDEN_DIR / "old-summary_青溪县.xlsx"  # last year's, as an older kepuxl wrote it
    config.write_text(config.read_text("utf-8") + f'\n[compare]\nprevious = "{old}"\n', "utf-8")
    report = collect(county / "inbox", config, county / "output", now=NOW)
    assert report.previous_totals and report.counts["pending"]  # the widest 汇总表: both extra blocks
    return Path(report.outputs["summary"]).read_bytes()


@pytest.fixture(scope="module", params=["sample", "big", "compare"])
def xlsx(request: pytest.FixtureRequest) -> bytes:
    return request.getfixturevalue(f"{request.param}_xlsx")


@pytest.fixture(scope="module")
def book(xlsx: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(xlsx))


@dataclass
class Printout:
    pages: list[lo.PdfPage]
    sizes: list[list[float]]  # the printed size of every text run, per page
    sheets: list[str]  # the sheet each page belongs to

    def of(self, sheet: str) -> list[lo.PdfPage]:
        return [p for p, s in zip(self.pages, self.sheets, strict=True) if s == sheet]


@pytest.fixture(scope="module")
def printout(xlsx: bytes, tmp_path_factory: pytest.TempPathFactory) -> Printout:
    lo.require()
    work = tmp_path_factory.mktemp("pdf")
    src = work / "汇总.xlsx"
    src.write_bytes(xlsx)
    pdf = lo.to_pdf(src, work, timeout=300)
    pages = lo.pdf_pages(pdf)
    assert [(round(p.width), round(p.height)) for p in pages] == [
        (round(w), round(h)) for w, h in lo.pdf_page_sizes(pdf)
    ]
    return Printout(pages, lo.pdf_font_sizes(pdf), [sheet_of(p) for p in pages])


def sheet_of(page: lo.PdfPage) -> str:
    """The sheet a page belongs to: the name in its footer (汇总表's footer is the stamp line)."""
    footer = sorted(page.band(page.height - 36, page.height), key=lambda w: w.x0)
    if footer and footer[0].text in SHEETS:
        return footer[0].text
    if any("审核人" in w.text for w in footer):
        return TOTALS
    return ""  # no sheet named: test_every_sheet_prints_on_a4_pages_in_order fails


def header_rows(book: openpyxl.Workbook) -> dict[str, list[str]]:
    """Each sheet's repeated header row (its print titles), as the header cells' texts."""
    out = {}
    for ws in book.worksheets:
        if ws.print_title_rows:
            row = int(ws.print_title_rows.split(":")[0].strip("$"))
            out[ws.title] = [str(c.value) for c in ws[row] if c.value is not None]
    return out


# -- the print set-up as written (no LibreOffice) ------------------------------------------------------


def test_every_sheet_is_set_up_for_a4_with_page_numbers(book: openpyxl.Workbook) -> None:
    assert book.sheetnames == SHEETS
    for ws in book.worksheets:
        assert ws.page_setup.paperSize == 9, ws.title  # A4, never A3
        assert ws.print_area, ws.title  # nothing beyond the table (the charts' data) is printed
        numbers = (ws.oddHeader.right.text if ws.title == TOTALS else ws.oddFooter.center.text) or ""
        assert "&P" in numbers and "&N" in numbers, ws.title
        if ws.title != TOTALS:
            assert ws.oddFooter.left.text == "&A", ws.title  # the sheet's name on each page


def test_fonts_print_at_8_pt_or_more_at_the_written_scale(book: openpyxl.Workbook, xlsx: bytes) -> None:
    # A fixed print scale (never fit-to-page, except the one-page 汇总表): the printed size is known.
    for ws in book.worksheets:
        if ws.title == TOTALS:
            assert ws.sheet_properties.pageSetUpPr.fitToPage
            continue
        assert not (ws.sheet_properties.pageSetUpPr and ws.sheet_properties.pageSetUpPr.fitToPage), ws.title
        scale = (ws.page_setup.scale or 100) / 100
        sizes = {c.font.sz for row in ws.iter_rows() for c in row if c.value is not None and c.font.sz}
        assert min(sizes) * scale >= pl.MIN_PT, (ws.title, min(sizes), scale)
    charts = book[CHARTS]
    chart_sizes = [int(s) / 100 for s in re.findall(r'\bsz="(\d+)"', charts_xml(xlsx))]
    assert chart_sizes and min(chart_sizes) * charts.page_setup.scale / 100 >= pl.MIN_PT


def test_wide_sheets_repeat_the_unit_columns_and_the_header_row(book: openpyxl.Workbook) -> None:
    ws = book[BY_UNIT]
    breaks = [b.id for b in ws.col_breaks.brk]
    assert breaks, "分单位 is too wide for one page: it must print in column pages"
    assert ws.print_title_cols == "$A:$B"  # 单位编码 and 单位名称 on every page
    assert ws.print_title_rows == "$3:$3"
    assert ws.page_setup.orientation == "landscape"
    for ws in book.worksheets:
        if ws.col_breaks.brk:  # a unit or file column repeated wherever a sheet splits across
            assert ws.print_title_cols and ws.print_title_cols.startswith("$A:"), ws.title


def test_no_header_line_is_a_single_character(book: openpyxl.Workbook) -> None:
    for sheet, headers in header_rows(book).items():
        for text in headers:
            lines = text.split("\n")
            if len(lines) > 1:
                assert all(len(line.rstrip(CLOSERS)) >= 2 for line in lines), (sheet, text)


def test_the_chart_data_is_outside_the_print_area(book: openpyxl.Workbook) -> None:
    area = book[CHARTS].print_area
    _, _, last_col, _ = range_boundaries(area.split("!")[-1].replace("$", ""))
    assert last_col == summary_writer.CHART_LAST_COL + 1  # A:I, the charts; their data from column N
    assert any(c.value for c in book[CHARTS]["N"])  # the data is there, beside the print area


# -- the pages LibreOffice prints ----------------------------------------------------------------------

pdf_test = lo.requires_libreoffice


@pdf_test
def test_every_sheet_prints_on_a4_pages_in_order(printout: Printout) -> None:
    sizes = {(round(p.width), round(p.height)) for p in printout.pages}
    assert sizes <= A4, sizes
    order = [s for k, s in enumerate(printout.sheets) if k == 0 or printout.sheets[k - 1] != s]
    assert order == SHEETS  # every sheet printed, each in one run of pages


@pdf_test
def test_the_totals_sheet_is_one_portrait_page(printout: Printout) -> None:
    (page,) = printout.of(TOTALS)  # the page the bureau stamps
    assert (round(page.width), round(page.height)) == (595, 842)


@pdf_test
def test_no_text_prints_below_8_pt(printout: Printout) -> None:
    for page, sizes in zip(printout.pages, printout.sizes, strict=True):
        assert sizes, f"page {page.number} has no text"
        assert min(sizes) >= pl.MIN_PT, (
            f"page {page.number} ({printout.sheets[page.number - 1]}): {min(sizes)}"
        )


@pdf_test
def test_every_page_is_numbered(printout: Printout) -> None:
    total = len(printout.pages)
    for page in printout.pages:
        assert f"第 {page.number} 页，共 {total} 页" in page.text(), page.number


@pdf_test
def test_the_header_row_is_on_every_page_and_no_header_line_breaks_again(
    printout: Printout, book: openpyxl.Workbook
) -> None:
    for sheet, headers in header_rows(book).items():
        pages = printout.of(sheet)
        lines = [line for text in headers for line in text.split("\n")]
        repeated = book[sheet].print_title_cols  # then the first header is on every page too
        for page in pages:
            texts = {w.text for w in page.words}
            assert texts & set(lines), (sheet, page.number)
            assert not repeated or lines[0] in texts, (sheet, page.number)
        # every header line printed whole, as one word: LibreOffice did not wrap it again
        words = [w.text for page in pages for w in page.words]
        for line in lines:
            assert any(line.replace(" ", "") in w for w in words), (sheet, line)


@pdf_test
def test_the_unit_column_is_on_every_page_of_by_unit(printout: Printout, book: openpyxl.Workbook) -> None:
    ws = book[BY_UNIT]
    names = {c.value for c in ws["B"][3:] if c.value}
    pages = printout.of(BY_UNIT)
    assert len(pages) >= 3  # at least three column pages of 22 columns
    for page in pages:
        texts = {w.text for w in page.words}
        assert "单位名称" in texts and texts & names, page.number


@pdf_test
def test_no_line_is_a_lone_closing_bracket(printout: Printout) -> None:
    for page in printout.pages:
        lone = [w for w in page.words if w.text and all(ch in CLOSERS for ch in w.text)]
        assert not lone, (page.number, lone)


@pdf_test
def test_the_chart_data_is_not_printed(printout: Printout, book: openpyxl.Workbook) -> None:
    ws = book[CHARTS]
    # what only the data block holds (from column N): its headers and the category table's title
    data_only = {"项目"} | {
        str(c.value) for row in ws.iter_rows(min_col=summary_writer.DATA_COL + 1) for c in row
    } & {"各类别单位合计", "合计（万元）", "合计（人）"}
    for page in printout.of(CHARTS):
        assert not data_only & {w.text for w in page.words}, page.number


@pdf_test
def test_by_unit_prints_in_the_planned_column_pages(printout: Printout, book: openpyxl.Workbook) -> None:
    # Where LibreOffice measures columns as Excel does (Calibri or its metric twin Carlito), each planned
    # column page is one printed page wide: no column spills onto a page of its own.
    if "Carlito" not in calibri_font() and "Calibri" not in calibri_font():
        pytest.skip(f"Calibri is drawn with {calibri_font()!r}: columns a third wider than in Excel")
    ws = book[BY_UNIT]
    header = ws[3]
    starts = [0, *(b.id for b in ws.col_breaks.brk), len(header)]
    groups = [[c.value.split("\n")[0] for c in header[a:b]] for a, b in itertools.pairwise(starts)]
    pages = printout.of(BY_UNIT)
    for page, group in zip(pages, groups * (len(pages) // len(groups)), strict=True):
        texts = {w.text for w in page.words}
        assert set(group) <= texts, (page.number, set(group) - texts)


# -- the geometry itself (print_layout) --------------------------------------------------------------------


@pytest.mark.parametrize("n_fields", [8, 18, 21, 30])
def test_column_pages_fit_whatever_the_number_of_columns(n_fields: int) -> None:
    widths = [10, 22, 12, 8, *([12] * n_fields)]
    plan = pl.plan_pages(widths, repeat=2)
    room = pl.printable_px(True) * 100 / plan.scale / pl.SLACK
    starts = [2, *plan.breaks, len(widths)]
    fixed = sum(pl.column_px(w) for w in widths[:2])
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        used = fixed + sum(pl.column_px(w) for w in widths[a:b])  # the unit columns start every page
        assert used <= room, (n_fields, k, used, room)
    assert plan.scale >= pl.MIN_SCALE and (plan.repeat == 2) == bool(plan.breaks)


def test_a_narrow_sheet_prints_portrait_and_a_wide_one_landscape() -> None:
    assert pl.plan_pages([10, 20, 30]) == pl.PagePlan(landscape=False, scale=100)
    wide = pl.plan_pages([6, 44, 16, 18, 10, 20, 28])
    assert wide.landscape and not wide.breaks and wide.scale >= pl.MIN_SCALE


def test_bands_stay_together_where_they_fit() -> None:
    widths = [10, 22, *([12] * 12)]
    bands = [1] * 6 + [2] * 6
    plan = pl.plan_pages(widths, repeat=2, bands=bands)
    assert plan.breaks == (8,)  # one band a page, not as many columns as fit


@pytest.mark.parametrize(
    "text",
    [
        "举办活动次数（次）",
        "实物投入情况（如：捐赠图书、光盘、创新操作室等）（万元）",
        "活动周期间开放活动的科研机构数量（个）",
        "县级(单位)财政经费投入情况（万元）",
        "SHA-256（前12位）",
        "错误数",
        "待核实",
    ],
)
@pytest.mark.parametrize("width", [7, 9, 12, 13, 16, 22])
def test_headers_break_without_orphans(text: str, width: float) -> None:
    sized = pl.header_width(text, width)
    wrapped = pl.wrap_header(text, sized)
    lines = wrapped.split("\n")
    assert "".join(lines) == text and sized >= width
    assert len(lines) <= 3
    if len(lines) > 1:
        assert all(len(line.rstrip(CLOSERS)) >= 2 for line in lines), lines
        assert not any(line[0] in CLOSERS for line in lines), lines
    for line in lines:  # each line fits its column: no application wraps it again
        assert pl.text_px(line, bold=True) <= 7 * sized - 2, (line, sized)


def test_the_old_orphan_is_gone() -> None:
    # 22 columns squeezed onto A3 gave 举办活动次数（次 / ） in a 13-wide column; now it breaks evenly
    assert pl.wrap_header("举办活动次数（次）", 13) == "举办活动次\n数（次）"


# -- helpers ---------------------------------------------------------------------------------------------


def charts_xml(xlsx: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        return "".join(
            z.read(n).decode() for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)
        )


def calibri_font() -> str:
    """The font fontconfig draws Calibri with here (LibreOffice asks fontconfig for a substitute)."""
    try:
        proc = subprocess.run(["fc-match", "Calibri"], capture_output=True, text=True, timeout=30)
    except OSError:
        return ""
    return proc.stdout.strip()


_MIXED = st.text(
    st.one_of(
        st.characters(),  # anything, combining marks and emoji included
        st.sampled_from(
            "科普活动周　１２ＡＢ，。·–é①ｶ가🎉 ab\n"
        ),  # wide, fullwidth, halfwidth, ambiguous, narrow
    ),
    max_size=60,
)


@given(_MIXED, _MIXED)
def test_wide_characters_are_counted_as_unicodedata_says(text: str, other: str) -> None:
    # the summary's row heights and the headers' widths count East Asian wide and fullwidth characters;
    # the count is taken from a per-process table of what unicodedata says, whatever came before
    for t in (text, other, text + other, text):
        assert pl.wide_chars(t) == sum(unicodedata.east_asian_width(ch) in "WF" for ch in t)
