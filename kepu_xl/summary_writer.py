"""The county summary workbook: (CollectReport, Frames) → xlsx bytes, built with xlsxwriter.

Sheets, in order: 汇总表 (county totals laid out like the unit form, one A4 page for the stamp),
分单位 (one row per unit, live SUM subtotals per 单位类别 and a 合计), 图表 (native Excel charts over
a data block at the sheet's side), 上报情况, 问题清单, 活动明细, 文件清单, 说明.

Text that came from units (names, notes, detail rows, file names, messages) is always written as a
plain string: never a formula or a link, C0 control characters dropped, clipped to Excel's 32,767.
Every xlsxwriter return code is checked and every xlsxwriter warning is an error. Output is
deterministic: the same report gives the same bytes (created date = report.generated_at).
"""

from __future__ import annotations

import io
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from . import layout as lay
from . import print_layout as pl
from .findings import Finding, Severity
from .merge import ID_COLUMNS, Frames
from .results import COUNT_ZH, COUNTED, OUTCOME_ZH, STATUS_ZH, CollectReport, Status, UnitResult
from .spec import SUBUNITS_SHEET, Field, FormSpec, InfoField
from .workers import gc_paused
from .xlsx_out import CheckedSheet, FastRowsWorksheet, check, clean_text, strict_warnings

SHEETS = ("汇总表", "分单位", "图表", "上报情况", "问题清单", "活动明细", "文件清单", "说明")
TOTALS, BY_UNIT, CHARTS, STATUS, FINDINGS, DETAIL, FILES, NOTES = SHEETS
# after 上报情况, only when a unit's return came with its own units (a level that reports up: kepuxl report-up)
SUBUNITS = SUBUNITS_SHEET
TOP_N = 30  # charts by unit show at most this many units (the largest)
OPTIONS = {
    "in_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
STATUS_COLOURS = {  # (fill, font) per status, Excel's own "good / neutral / bad" palette
    Status.ACCEPTED: ("#C6EFCE", "#006100"),
    Status.WARNINGS: ("#FFEB9C", "#9C5700"),
    Status.PENDING: ("#FCE4D6", "#C65911"),
    Status.REJECTED: ("#FFC7CE", "#9C0006"),
    Status.MISSING: ("#EDEDED", "#595959"),
}
LEVEL_COLOURS = {
    Severity.ERROR: ("#FFC7CE", "#9C0006"),
    Severity.VERIFY: ("#FCE4D6", "#C65911"),
    Severity.WARNING: ("#FFEB9C", "#9C5700"),
    Severity.INFO: ("#DDEBF7", "#1F4E78"),
}
DATE_FORMAT, DATETIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
FONT, TITLE_FONT = "宋体", "黑体"

# Chart sections of the form definition: their input (non-computed) fields become chart series.
PARTICIPANTS, FUNDING, STAFF = "public", "funding", "staff"
ACTIVITIES = "activities"

_A1 = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)")

# 图表 sheet geometry: charts in columns A:I (9 × 68 px hold a 602 px chart), their data from column N.
# Printed at a fixed scale, as the list sheets: A:I then fits A4 portrait even where Calibri is missing
# and columns come out 1.33× wider (LibreOffice with DejaVu); no chart text is smaller than CHART_FONT,
# so none prints below 8.5 pt. PAGE_PX is the sheet height one printed page holds at that scale.
CHART_LAST_COL, DATA_COL = 8, 13
CHART_COL_WIDTH, CHART_WIDTH, ROW_PX = 9.0, 590, 20
PRINT_SCALE, PAGE_PX, TITLE_PX = pl.MIN_SCALE, 1180, 60  # 59 rows of 20 px; the title's two rows
CHART_FONT = pl.SMALLEST_FONT_PT
HEADER_LINE_PT = 16  # a header line of 11 pt text (Noto CJK draws CJK lines taller than SimSun)
FOOTER = "&L&A&C第 &P 页，共 &N 页"  # the sheet's name, then the page number
# yyyy-mm-dd hh:mm without ### where 宋体 is missing and its digits come from a wider font (DejaVu)
DATETIME_WIDTH = 20
# 汇总表 with last year: the headers of its value columns after 数量, the width of 增减%, and the smallest
# fit-to-page scale its widths are planned for (its 11 pt text then prints at 8.03 pt or more)
TOTALS_HEADERS = {
    "pending": "待核实",
    "both": "含待核实",
    "previous": "上年",
    "change": "增减",
    "percent": "增减%",
}
PERCENT_WIDTH, TOTALS_MIN_SCALE, TOTALS_MARGIN_IN = 8, 73, 0.6
DASH = "—"  # a comparison without last year's value (or a percentage of last year's 0)
CHANGE_TITLE = "主要指标同比增减"  # no % before a bracket: LibreOffice sets them apart
BAR_PX = 22  # a unit's bar: room for its name at CHART_FONT (at 20 px LibreOffice skips every other)


def build_summary(report: CollectReport, frames: Frames) -> bytes:
    """The summary workbook of one collect run as bytes."""
    buffer = io.BytesIO()
    with gc_paused(), strict_warnings():  # an xlsxwriter warning means a cell or chart went missing
        wb = xlsxwriter.Workbook(buffer, OPTIONS)
        _SummaryWriter(wb, report, frames).write()
        wb.close()
    return buffer.getvalue()


class _Sheet(CheckedSheet):
    """A checked worksheet with the summary's default text format and a typed value writer."""

    def __init__(self, ws: FastRowsWorksheet, text_format: Any):
        super().__init__(ws)
        self.raw = ws
        self._text_format = text_format
        self.widths: list[float] = []  # the printed columns' widths, as the header row set them

    def text(self, row: int, col: int, value: Any, fmt: Any = None) -> None:
        super().text(row, col, value, fmt or self._text_format)

    def value(self, row: int, col: int, value: Any, fmt: Any, date_fmt: Any = None) -> None:
        """A value as what it is: number, date, text; None/NaN/±inf → blank."""
        self.values(row, col, [value], [fmt], date_fmt)

    def values(
        self, row: int, col: int, values: Sequence[Any], formats: Sequence[Any], date_fmt: Any = None
    ) -> None:
        """Cells from `col` on, each as `value` writes it; one call and one check for a row of a list
        sheet (800,000 cells at 10,000 units: a checked call per cell was most of the build time)."""
        rc = self.raw.write_values(row, col, values, formats, date_fmt, _plain)
        if rc:  # 0 when every cell went in: the message (1.5 µs a row) is made only for check to raise
            check(rc, f"{self.raw.name}.write_values{(row, col)!r}")

    def merge_text(self, r1: int, c1: int, r2: int, c2: int, text: Any, fmt: Any) -> None:
        self.merge_range(r1, c1, r2, c2, "", fmt)
        self.text(r1, c1, text, fmt)  # through text(): merge_range would write() it


@dataclass
class _Table:
    """Where a block of chart data landed on the 图表 sheet (0-based rows, first data row to last)."""

    first: int
    last: int
    header: int

    def ref(self, col: int) -> list[Any]:
        return [CHARTS, self.first, DATA_COL + col, self.last, DATA_COL + col]

    def name(self, col: int) -> list[Any]:
        return [CHARTS, self.header, DATA_COL + col]


class _SummaryWriter:
    def __init__(self, wb: xlsxwriter.Workbook, report: CollectReport, frames: Frames):
        self.wb, self.report, self.frames, self.spec = wb, report, frames, report.spec
        self.f = _formats(wb)
        self._numbers: dict[tuple[int, str], Any] = {}
        self.names = {u.unit.id: u.unit.name for u in report.units}
        self.order = {u.unit.id: n for n, u in enumerate(report.units)}
        self.order.update({u.unit.name: n for n, u in enumerate(report.units)})
        # the 图表 sheet's cursors: next data-block row, next chart row, pixels used on the page, breaks
        self.chart_ws: _Sheet | None = None
        self.data_row = self.chart_row = 2
        self.page_used = TITLE_PX
        self.breaks: list[int] = []

    # -- shared helpers ---------------------------------------------------------------------------

    def sheet(self, name: str) -> _Sheet:
        return _Sheet(self.wb.add_worksheet(name, FastRowsWorksheet), self.f["cell"])

    def number_format(self, fl: Field, variant: str = "cell") -> Any:
        """A cell format for a field's numbers: '#,##0' or '#,##0.0000' (its places) on a row style."""
        key = (fl.places if fl.type == "decimal" else 0, variant)
        if key not in self._numbers:
            places = key[0]
            pattern = "#,##0" + ("." + "0" * places if places else "")
            self._numbers[key] = self.wb.add_format(
                {**_STYLES[variant], "num_format": pattern, "align": "right", "indent": 1}
            )
        return self._numbers[key]

    def title(self) -> str:
        return f"{self.report.campaign.year}年{self.spec.title}"

    def unit_name(self, key: str) -> str:
        return self.names.get(key, key)

    def counts_line(self) -> str:
        n = self.report.counts
        return f"汇总单位数：{n['accepted'] + n['warnings']}（通过 {n['accepted']}，有警告 {n['warnings']}）"

    def pending_line(self) -> str:
        """Who is 待核实 and why their numbers are not in the totals yet ("" when nobody is)."""
        pending = self.report.by_status(Status.PENDING)
        if not pending:
            return ""
        names = "、".join(u.unit.name for u in pending[:10]) + ("等" if len(pending) > 10 else "")
        return (
            f"待核实 {len(pending)} 个单位（{names}）：有数据需要核实（如疑似把“元”填成“万元”），"
            "单位在“情况说明”中说明或经办人核实（kepuxl confirm）前不计入合计，单列为“待核实”。"
        )

    def header_row(
        self, ws: _Sheet, row: int, headers: Sequence[str], widths: Sequence[float], max_lines: int = 3
    ) -> list[float]:
        """Headers broken into lines at explicit newlines (no line of one character, no lone ）), their
        columns widened where a header needs it; returns the widths, also kept in `ws.widths`."""
        ws.widths = [pl.header_width(t, w, max_lines) for t, w in zip(headers, widths, strict=True)]
        lines = 1
        for col, (text, width) in enumerate(zip(headers, ws.widths, strict=True)):
            wrapped = pl.wrap_header(text, width)
            lines = max(lines, pl.header_lines(wrapped))
            ws.set_column(col, col, width)
            ws.text(row, col, wrapped, self.f["header"])
        if lines > 1:
            ws.set_row(row, HEADER_LINE_PT * lines + 6)
        return ws.widths

    def title_rows(self, ws: _Sheet, plan: pl.PagePlan, title: str, hint: str | None = None) -> None:
        """The sheet's title (and a hint line below it), centred over the columns of its first page."""
        last = plan.first_page_last_col(len(ws.widths) - 1)
        ws.merge_text(0, 0, 0, last, title, self.f["title"])
        ws.set_row(0, 30)
        if hint is not None:
            ws.merge_text(1, 0, 1, last, hint, self.f["hint_center"])

    def list_page(self, ws: _Sheet, plan: pl.PagePlan, header: int, last_row: int) -> None:
        """Print set-up shared by the list sheets: A4 at a fixed scale (fonts print at 8.5 pt or more),
        columns too many for one page split between bands with the unit repeated, header row repeated,
        the sheet's name and page number in the footer."""
        ws.set_paper(9)
        if plan.landscape:
            ws.set_landscape()
        else:
            ws.set_portrait()
        ws.set_print_scale(plan.scale)
        ws.repeat_rows(header)
        if plan.breaks:
            if plan.repeat:
                ws.repeat_columns(0, plan.repeat - 1)
            ws.set_v_pagebreaks(list(plan.breaks))
            ws.print_across()  # a unit's row continues on the next sheet of paper, not 100 pages later
        ws.print_area(0, 0, max(last_row, header), len(ws.widths) - 1)
        ws.set_margins(left=pl.MARGIN_IN, right=pl.MARGIN_IN, top=0.6, bottom=0.6)
        ws.set_footer(FOOTER)

    # -- the workbook -----------------------------------------------------------------------------

    def write(self) -> None:
        c = self.report.campaign
        self.wb.set_properties(
            {
                "title": f"{self.title()}汇总",
                "subject": self.spec.title,
                "author": c.organizer,
                "company": c.organizer,
                "comments": "由 kepuxl collect 生成。",
                "created": _naive(self.report.generated_at),  # fixed: same report, same bytes
            }
        )
        self.totals_sheet()
        self.by_unit_sheet()
        self.charts_sheet()
        self.status_sheet()
        if any(u.subunits for u in self.report.units):
            self.subunits_sheet()
        self.findings_sheet()
        self.detail_sheet()
        self.files_sheet()
        self.notes_sheet()

    # -- 汇总表 ------------------------------------------------------------------------------------

    def totals_sheet(self) -> None:
        """The county totals on the unit form's layout (same rows, same merged section cells)."""
        spec, cells, f = self.spec, self.report.cells, self.f
        ws = self.sheet(TOTALS)
        kinds = self.totals_kinds()
        last_col = lay.VALUE_COL + len(kinds) - 1
        ws.widths = self.totals_widths(kinds)
        for col, width in enumerate(ws.widths):
            ws.set_column(col, col, width)
        ws.merge_text(0, 0, 0, last_col, f"{self.title()}（汇总）", f["title"])
        ws.set_row(0, 34)
        for cell, text in cells.labels:
            if cell.sheet == spec.sheet and cell.row < cells.header_row:
                ws.text(cell.row, cell.col, text, f["key"])
        ws.text(cells.unit.row, cells.unit.col, self.report.campaign.organizer, f["unit"])
        for item in spec.info:
            if item.type != "longtext":
                ws.value(
                    cells.info[item.id].row,
                    cells.info[item.id].col,
                    self.info_value(item),
                    f["unit"],
                    f["date_key"],
                )
        for row in range(1, cells.header_row):
            ws.set_row(row, 24)
        headers = list(lay.COLUMNS[: lay.VALUE_COL + 1])
        if "pending" in kinds:
            headers[lay.VALUE_COL] += "（已确认）"
        headers += [TOTALS_HEADERS[k] for k in kinds[1:]]
        for col, text in enumerate(headers):
            ws.text(cells.header_row, col, text, f["header"])
        ws.set_row(cells.header_row, 22)

        # section titles broken where they must be (活动经费投入数量 / （单位：万元）), not before a ：
        wrapped = {
            first: pl.wrap_header(title, ws.widths[lay.SECTION_COL]) for first, _, title in cells.sections
        }
        for first, last, _ in cells.sections:
            if first != last:
                ws.merge_text(first, lay.SECTION_COL, last, lay.SECTION_COL, wrapped[first], f["section"])
        for fl in spec.fields:
            row = cells.fields[fl.id].row
            first, last, title = next(s for s in cells.sections if s[0] <= row <= s[1])
            room = ws.widths[lay.LABEL_COL] - 2  # the indent
            lines = 1
            if first == last and fl.label == title:  # one-field section: the title is the field
                ws.merge_text(row, lay.SECTION_COL, row, lay.LABEL_COL, fl.label, f["section"])
                room += ws.widths[lay.SECTION_COL]
            elif first == last:
                ws.text(row, lay.SECTION_COL, wrapped[first], f["section"])
                ws.text(row, lay.LABEL_COL, fl.label, f["label"])
                lines = pl.header_lines(wrapped[first])
            else:
                ws.text(row, lay.LABEL_COL, fl.label, f["label"])
            ws.text(row, lay.UNIT_COL, fl.unit, f["center"])
            ws.value(
                row, lay.VALUE_COL, _float(self.frames.totals.get(fl.id)), self.number_format(fl, "bold")
            )
            for col, kind in enumerate(kinds[1:], start=lay.VALUE_COL + 1):
                self.totals_cell(ws, row, col, fl, kind, kinds)
            # the table fills the A4 page the bureau stamps; a label of several lines gets their height
            lines = max(lines, _lines(fl.label, room))
            ws.set_row(row, 26 if lines == 1 else 16 * lines + 2)

        n = self.report.counts
        line = (
            f"{self.counts_line()}\n应报 {n['expected']} 个单位，待核实 {n['pending']} 个、退回 {n['rejected']} 个、"
            f"未报 {n['missing']} 个（均未计入合计）。"
        )
        if self.pending_line():
            line += "\n" + self.pending_line()
        longtexts = [i for i in spec.info if i.type == "longtext"]
        last = max(c.row for c in cells.fields.values())
        for k, item in enumerate(longtexts):
            row = cells.info[item.id].row
            ws.text(row, lay.SECTION_COL, item.label, f["section"])
            ws.merge_text(row, lay.LABEL_COL, row, last_col, line if k == 0 else "", f["note"])
            ws.set_row(row, 48 if not self.pending_line() else 80)
            last = max(last, row)
        if not longtexts:  # a form without 情况说明: the line goes below the table
            last += 1
            ws.merge_text(last, lay.SECTION_COL, last, last_col, line, f["note"])
            ws.set_row(last, 48)

        ws.set_paper(9)
        ws.set_portrait()
        ws.fit_to_pages(1, 1)
        ws.center_horizontally()
        ws.set_margins(left=0.6, right=0.6, top=0.7, bottom=0.8)
        ws.print_area(0, 0, last, last_col)
        ws.set_header("&R第 &P 页，共 &N 页")
        ws.set_footer("&L填报单位（盖章）：&C审核人：&R日期：    年  月  日")
        ws.activate()

    def totals_kinds(self) -> list[str]:
        """The value columns of 汇总表: 已确认; with 待核实 units 待核实 and 含待核实 (the signed figure is
        已确认); with last year 上年, 增减, 增减% of 已确认. With both, 含待核实 (已确认 + 待核实) is left
        out: the page must stay one A4 portrait page with no text below 8 pt."""
        kinds = ["confirmed"]
        pending, previous = bool(len(self.frames.pending)), self.frames.has_previous
        if pending:
            kinds += ["pending"] if previous else ["pending", "both"]
        if previous:
            kinds += ["previous", "change", "percent"]
        return kinds

    def totals_widths(self, kinds: list[str]) -> list[float]:
        """Column widths of 汇总表: narrow enough for fit-to-page to keep 11 pt text at 8 pt or more even
        where LibreOffice draws columns wider (`pl.SLACK`); each value column as wide as its largest number."""
        fields = self.spec.fields
        if not self.frames.has_previous:  # as before last year could be shown: widths from the totals
            value_width = max((self.number_width(fl, 16) for fl in fields), default=16)
            return [22, 40, 10, value_width] if len(kinds) == 1 else [20, 32, 8, *[value_width] * 3]
        values = [self.totals_width(kind) for kind in kinds]
        values[0] = max(values[0], 14)  # column D also holds the header's 填报日期 (2023-06-05, bold)
        room = pl.printable_px(False, TOTALS_MARGIN_IN) * 100 / TOTALS_MIN_SCALE / pl.SLACK
        # A, B, C also hold the header's 单位（盖章）, the organizer and 填报日期: no narrower than the last
        for labels in ((20, 30, 9), (16, 24, 9), (14, 18, 9)):
            widths = [*labels, *values]
            if sum(map(pl.column_px, widths)) <= room:
                break
        return widths

    def totals_width(self, kind: str) -> float:
        """A value column of 汇总表 (with last year) as wide as its widest number."""
        if kind == "percent":
            return PERCENT_WIDTH
        figures = ((fl, self.totals_figure(fl, kind)) for fl in self.spec.fields)
        return max((self.number_width(fl, 12, figure or 0.0) for fl, figure in figures), default=12)

    def totals_figure(self, fl: Field, kind: str) -> float | None:
        """The number in one of 汇总表's value columns (`totals_kinds`) for a field; None: blank or "—"."""
        confirmed = _float(self.frames.totals.get(fl.id))
        pending = _float(self.frames.pending_totals.get(fl.id))
        before = _float(self.frames.previous_totals.get(fl.id)) if self.frames.has_previous else None
        if kind == "both":
            both = None if confirmed is None and pending is None else (confirmed or 0) + (pending or 0)
            return _float(fl.rounded(both)) if both is not None else None
        if kind == "change":
            return _change(confirmed, before, fl)
        if kind == "percent":
            return _ratio(confirmed, before)
        return {"confirmed": confirmed, "pending": pending, "previous": before}[kind]

    def totals_cell(self, ws: _Sheet, row: int, col: int, fl: Field, kind: str, kinds: list[str]) -> None:
        """One of 汇总表's value cells after 已确认 (column D): 待核实, 含待核实, 上年, and 增减 / 增减% as
        formulas over D and 上年 that show "—" where last year has no value (or, for 增减%, a 0)."""
        figure = self.totals_figure(fl, kind)
        if kind in ("pending", "both", "previous"):
            shown = DASH if kind == "previous" and figure is None else figure
            ws.value(row, col, shown, self.number_format(fl))
            return
        now = xl_rowcol_to_cell(row, lay.VALUE_COL)
        last = xl_rowcol_to_cell(row, lay.VALUE_COL + kinds.index("previous"))
        if kind == "change":
            formula, fmt = f'=IF(ISNUMBER({last}),{now}-{last},"{DASH}")', self.number_format(fl)
        else:
            formula = f'=IF(AND(ISNUMBER({last}),{last}<>0),({now}-{last})/{last},"{DASH}")'
            fmt = self.f["percent"]
        ws.write_formula(row, col, formula, fmt, DASH if figure is None else figure)

    def info_value(self, item: InfoField) -> Any:
        """What the county fills in the form's header fields: the bureau's contact and today's date."""
        today = _naive(self.report.generated_at).date()
        return self.report.campaign.header_value(item.type, item.id, item.label, today)

    # -- 分单位 ------------------------------------------------------------------------------------

    def by_unit_sheet(self) -> None:
        """One row per roster unit grouped by 单位类别, live SUM subtotals per group and a 合计 row; with
        last year, its value of each main field (`FormSpec.main_fields`) beside this year's."""
        spec, f, units = self.spec, self.f, self.frames.units
        ws = self.sheet(BY_UNIT)
        columns = self.by_unit_columns()
        first_field = 4
        last_col = first_field + len(columns) - 1
        header = 2
        headers = ["单位编码", "单位名称", "单位类别", "状态"]
        headers += [f"{'上年' if last else ''}{fl.label}（{fl.unit}）" for fl, last in columns]
        widths = [10, 22, 12, 8, *(self.by_unit_width(fl, last) for fl, last in columns)]
        self.header_row(ws, header, headers, widths, max_lines=4)
        # printed in column pages of whole sections where they fit, 单位编码 and 单位名称 on every page
        section = {fl.id: n for n, s in enumerate(spec.sections, start=1) for fl in s.fields}
        bands = [0] * (first_field - 2) + [section[fl.id] for fl, _ in columns]
        plan = pl.plan_pages(ws.widths, repeat=2, bands=bands)
        hint = (
            "灰色行为退回或未报单位：不填数值，不计入小计与合计。橙色行为待核实单位：数值仅供核对，"
            "核实前不计入小计与合计。小计、合计为公式。"
        )
        if self.frames.has_previous:
            hint += (
                "“上年”各列为该单位上年计入汇总的数（上年的单位不在今年名单中的，只计入“汇总表”的上年合计）。"
            )
        self.title_rows(ws, plan, f"{self.title()} 分单位汇总", hint)

        # the row formats of counted units, of 待核实 ones (orange) and of grey ones (rejected, missing)
        styles = {"counted": ("cell", "center"), "pending": ("pending", "pending_center")}
        styles["other"] = ("grey", "grey_center")
        row_formats = {
            kind: [
                f[center],
                f[style],
                f[style],
                f[center],
                *(self.number_format(fl, style) for fl, _ in columns),
            ]
            for kind, (style, center) in styles.items()
        }
        kinds = {status: "counted" for status in COUNTED}
        kinds[Status.PENDING] = "pending"
        table = self.by_unit_table(columns)
        row = header + 1
        subtotal_rows: list[int] = []
        sums = [0.0] * len(columns)
        for category, group in table.groupby("单位类别", sort=False):
            first = row
            # plain tuples (id, name, category, status, *values): a pandas row per unit costs ~100 µs
            for unit_id, name, cat, status, *values in group.itertuples(index=False, name=None):
                kind = kinds.get(status, "other")
                ws.values(
                    row, 0, [unit_id, name, cat, STATUS_ZH.get(status, status), *values], row_formats[kind]
                )
                row += 1
            n_counted = int(group["状态"].isin(COUNTED).sum())
            ws.text(row, 0, "", f["sub"])
            ws.text(row, 1, f"{category} 小计", f["sub"])
            ws.text(row, 2, category, f["sub"])
            ws.text(row, 3, f"计入 {n_counted}", f["sub_center"])
            for k, cached in enumerate(self.subtotals(ws, row, first, group, columns)):
                sums[k] += cached
            subtotal_rows.append(row)
            row += 1

        total = row
        counted_all = int(units["状态"].isin(COUNTED).sum())
        ws.text(total, 0, "", f["total"])
        ws.text(total, 1, "合计", f["total"])
        ws.text(total, 2, "", f["total"])
        ws.text(total, 3, f"计入 {counted_all}", f["total_center"])
        for k, (fl, _) in enumerate(columns):
            col = first_field + k
            refs = [xl_rowcol_to_cell(r, col) for r in subtotal_rows]
            ws.write_formula(
                total, col, "=" + _sum_of(refs), self.number_format(fl, "total"), _round(sums[k])
            )
        ws.freeze_panes(header + 1, 2)
        ws.autofilter(header, 0, max(total - 1, header), last_col)  # 合计 stays outside: always visible
        self.list_page(ws, plan, header, total)

    def by_unit_columns(self) -> list[tuple[Field, bool]]:
        """分单位's value columns: (field, whether it is last year's), each main field's 上年 after it."""
        main = {fl.id for fl in self.spec.main_fields} if self.frames.has_previous else set()
        return [(fl, last) for fl in self.spec.fields for last in (False, True) if not last or fl.id in main]

    def by_unit_width(self, fl: Field, last: bool) -> float:
        return self.number_width(fl, 12, _float(self.frames.previous_totals.get(fl.id)) if last else None)

    def by_unit_table(self, columns: list[tuple[Field, bool]]) -> pd.DataFrame:
        """The units' ID_COLUMNS and the value of every column of 分单位, in its order."""
        units, previous = self.frames.units, self.frames.previous
        parts = [units[list(ID_COLUMNS)]]
        parts += [(previous if last else units)[fl.id].rename(f"{k}") for k, (fl, last) in enumerate(columns)]
        return pd.concat(parts, axis=1)

    def subtotals(
        self, ws: _Sheet, row: int, first: int, group: pd.DataFrame, columns: list[tuple[Field, bool]]
    ) -> list[float]:
        """A category's subtotal row of formulas (their cached values returned): this year's over the
        counted units, 待核实 rows shown but left out (SUMIF on 状态); last year's over every row."""
        counted = group["状态"].isin(COUNTED)
        status_rng = f"{xl_rowcol_to_cell(first, 3, True, True)}:{xl_rowcol_to_cell(row - 1, 3, True, True)}"
        pending_label = STATUS_ZH[Status.PENDING]
        out = []
        for k, (fl, last) in enumerate(columns):
            col = 4 + k
            values = group[f"{k}"]
            cached = _round((values if last else values.where(counted)).sum(min_count=0))
            rng = f"{xl_rowcol_to_cell(first, col)}:{xl_rowcol_to_cell(row - 1, col)}"
            formula = (
                f'=SUMIF({status_rng},"<>{pending_label}",{rng})'
                if len(self.frames.pending) and not last
                else f"=SUM({rng})"
            )
            ws.write_formula(row, col, formula, self.number_format(fl, "sub"), cached)
            out.append(cached)
        return out

    def number_width(self, fl: Field, least: float, largest: float | None = None) -> float:
        """A field's column: `least` characters, or what its total (or `largest`) needs (a province's totals)."""
        total = max(_float(self.frames.totals.get(fl.id)) or 0.0, largest or 0.0)
        places = fl.places if fl.type == "decimal" else 0
        # digits as wide as a fallback for SimSun draws them (DejaVu: 1.33× Calibri's), the indent
        return max(least, math.ceil(len(f"{total:,.{places}f}") * 1.35) + 2)

    # -- 图表 --------------------------------------------------------------------------------------

    def charts_sheet(self) -> None:
        """Native charts (sorted, top 30 when there are many units) over a data block from column N."""
        ws = self.chart_ws = self.sheet(CHARTS)
        f = self.f
        ws.merge_text(0, 0, 0, CHART_LAST_COL, f"{self.title()} 图表", f["title"])
        ws.set_row(0, 30)
        ws.merge_text(
            1,
            0,
            1,
            CHART_LAST_COL,
            "只统计通过审核（含有警告）的单位；待核实、退回、未报单位不计入。图表数据见本表 N 列起（不打印）。",
            f["hint"],
        )
        ws.set_column(0, CHART_LAST_COL, CHART_COL_WIDTH)  # explicit: default widths differ between apps
        ws.set_column(DATA_COL, DATA_COL, 22)
        ws.set_column(DATA_COL + 1, DATA_COL + 3, 14)

        counted = self.frames.counted
        many = len(counted) > TOP_N
        suffix = f"（前{TOP_N}名）" if many else ""
        activity = self.activity_field()
        if activity is not None:
            self.units_chart(
                counted, [activity], f"各单位{activity.label}{suffix}", activity.unit, stacked=False
            )
        people = self.section_inputs(PARTICIPANTS)
        if people:
            title = short_label(next(s.title for s in self.spec.sections if s.id == PARTICIPANTS))
            self.units_chart(
                counted, people, f"各单位{title}（{people[0].unit}）{suffix}", people[0].unit, stacked=True
            )
        for section, colour in ((FUNDING, "#ED7D31"), (STAFF, "#70AD47")):
            inputs = self.section_inputs(section)
            if inputs:
                self.totals_chart(section, inputs, colour)
        if many:
            self.category_chart(activity, people)
        if self.frames.has_previous:
            self.change_chart()
        ws.set_h_pagebreaks(self.breaks)
        ws.set_paper(9)
        ws.set_portrait()
        ws.set_print_scale(PRINT_SCALE)  # not fit-to-page: Excel ignores manual page breaks under fit-to-page
        ws.center_horizontally()
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.print_area(0, 0, max(self.chart_row, 2), CHART_LAST_COL)  # the data from column N: not printed
        ws.set_footer(FOOTER)

    def activity_field(self) -> Field | None:
        inputs = self.spec.inputs
        return next((fl for fl in inputs if fl.id == ACTIVITIES), inputs[0] if inputs else None)

    def section_inputs(self, section_id: str) -> list[Field]:
        section = next((s for s in self.spec.sections if s.id == section_id), None)
        return [fl for fl in section.fields if not fl.computed] if section else []

    def data_table(
        self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], formats: Sequence[Any]
    ) -> _Table:
        """Write one block of chart data below the previous one; never empty (charts need a range)."""
        ws, f = self.chart_ws, self.f
        if not rows:
            rows = [("（无计入单位）", *(0 for _ in headers[1:]))]
        top = self.data_row
        ws.text(top, DATA_COL, title, f["heading"])
        for k, text in enumerate(headers):
            ws.text(top + 1, DATA_COL + k, text, f["header"])
        for n, values in enumerate(rows):
            ws.text(top + 2 + n, DATA_COL, values[0], f["cell"])
            for k, v in enumerate(values[1:], start=1):
                ws.value(top + 2 + n, DATA_COL + k, v, formats[k - 1])
        self.data_row = top + 2 + len(rows) + 1
        return _Table(first=top + 2, last=top + 1 + len(rows), header=top + 1)

    def place(self, chart: Any, height: int) -> None:
        """Insert below the previous chart; start a new printed page when this one would not fit."""
        chart.set_size({"width": CHART_WIDTH, "height": height})
        if self.chart_row > 2 and self.page_used + height + 6 > PAGE_PX:
            self.breaks.append(self.chart_row)
            self.page_used = 0
        # anchored to cells (move and size with them): every app then fits the chart in columns A:I
        self.chart_ws.insert_chart(self.chart_row, 0, chart, {"x_offset": 12, "y_offset": 6})
        rows = math.ceil((height + 6) / ROW_PX) + 1
        self.chart_row += rows
        self.page_used += rows * ROW_PX

    def units_chart(
        self, counted: pd.DataFrame, fields: list[Field], title: str, unit: str, stacked: bool
    ) -> None:
        """Units as horizontal bars, largest first (top TOP_N); stacked when there are several fields."""
        ids = [fl.id for fl in fields]
        data = counted[["单位名称", *ids]].copy()
        data[ids] = data[ids].fillna(0.0)
        data["_sum"] = data[ids].sum(axis=1)
        data = data.sort_values("_sum", ascending=False, kind="stable").head(TOP_N)
        rows = [(r["单位名称"], *(_round(r[i]) for i in ids)) for _, r in data.iterrows()]
        table = self.data_table(
            title, ["单位", *(fl.label for fl in fields)], rows, [self.number_format(fl) for fl in fields]
        )
        chart = self.wb.add_chart({"type": "bar", "subtype": "stacked"} if stacked else {"type": "bar"})
        colours = ("#4472C4", "#A5A5A5", "#FFC000", "#5B9BD5")
        for k in range(len(fields)):
            series: dict[str, Any] = {
                "name": table.name(k + 1),
                "categories": table.ref(0),
                "values": table.ref(k + 1),
                "fill": {"color": colours[k % len(colours)]},
                "gap": 60,
            }
            if not stacked:
                series["data_labels"] = {"value": True, "num_format": "#,##0", "font": {"size": CHART_FONT}}
            chart.add_series(series)
        chart.set_title({"name": title, "name_font": {"size": 12, "bold": True}})
        chart.set_x_axis(
            {
                "name": unit,
                "min": 0,  # LibreOffice otherwise starts a narrow range at e.g. 32: bars would mislead
                "num_format": "#,##0",
                "num_font": {"size": CHART_FONT},
                "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
            }
        )
        # bar charts draw the first category at the bottom: reverse so the largest is on top
        chart.set_y_axis(
            {
                "name": "单位",
                "reverse": True,
                "num_font": {"size": CHART_FONT},
                "crossing": "max",
                "interval_unit": 1,
            }
        )
        chart.set_legend({"position": "top"} if stacked else {"none": True})
        self.place(chart, max(320, (140 if stacked else 110) + BAR_PX * len(rows)))  # the legend: 30 px

    def totals_chart(self, section_id: str, fields: list[Field], colour: str) -> None:
        """County totals of one section's inputs by source/type, as columns with their values."""
        section = next(s for s in self.spec.sections if s.id == section_id)
        unit = fields[0].unit
        title = f"{short_label(section.title)}（按{'来源' if section_id == FUNDING else '类型'}，{unit}）"
        # a label wider than its column's share of the axis is broken evenly (a lone 况 otherwise)
        share = (CHART_WIDTH - 110) / len(fields) / 7  # in characters, as wrap_header measures
        rows = [
            (
                pl.wrap_header(short_label(fl.label), share, CHART_FONT, bold=False),
                _round(_float(self.frames.totals.get(fl.id)) or 0.0),
            )
            for fl in fields
        ]
        table = self.data_table(title, ["项目", f"合计（{unit}）"], rows, [self.number_format(fields[0])])
        chart = self.wb.add_chart({"type": "column"})
        decimals = fields[0].type == "decimal"
        chart.add_series(
            {
                "name": table.name(1),
                "categories": table.ref(0),
                "values": table.ref(1),
                "fill": {"color": colour},
                "gap": 80,
                "data_labels": {"value": True, "num_format": "#,##0.00" if decimals else "#,##0"},
            }
        )
        chart.set_title({"name": title, "name_font": {"size": 12, "bold": True}})
        chart.set_x_axis(
            {"name": "来源" if section_id == FUNDING else "人员类型", "num_font": {"size": CHART_FONT}}
        )
        chart.set_y_axis(
            {
                "name": unit,
                "min": 0,
                "num_format": "#,##0" if not decimals else "#,##0.0",
                "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
            }
        )
        chart.set_legend({"none": True})
        self.place(chart, 340)

    def change_chart(self) -> None:
        """同比: the main fields' change on last year in per cent (a bar per field; none where last year
        has no value or a 0), beside a data block with this year's and last year's totals."""
        fields = self.spec.main_fields
        share = (CHART_WIDTH - 110) / max(len(fields), 1) / 7
        rows = []
        for fl in fields:
            now, before = (
                _float(self.frames.totals.get(fl.id)),
                _float(self.frames.previous_totals.get(fl.id)),
            )
            label = pl.wrap_header(f"{short_label(fl.label)}（{fl.unit}）", share, CHART_FONT, bold=False)
            rows.append((label, now, before, _ratio(now, before)))
        formats = [self.f["cell"], self.f["cell"], self.f["percent"]]  # fields of several units: General
        table = self.data_table(CHANGE_TITLE, ["指标", "本年", "上年", "增减%"], rows, formats)
        chart = self.wb.add_chart({"type": "column"})
        colours = [{"fill": {"color": "#70AD47" if (r[3] or 0) >= 0 else "#C00000"}} for r in rows]
        chart.add_series(
            {
                "name": table.name(3),
                "categories": table.ref(0),
                "values": table.ref(3),
                "points": colours,
                "gap": 80,
                "data_labels": {"value": True, "num_format": "0.0%", "font": {"size": CHART_FONT}},
            }
        )
        chart.set_title({"name": CHANGE_TITLE, "name_font": {"size": 12, "bold": True}})
        chart.set_x_axis({"name": "指标", "num_font": {"size": CHART_FONT}, "label_position": "low"})
        chart.set_y_axis(
            {
                "name": "比上年增减",
                "num_format": "0%",
                "num_font": {"size": CHART_FONT},
                "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
            }
        )
        chart.set_legend({"none": True})
        self.place(chart, 340)

    def category_chart(self, activity: Field | None, people: list[Field]) -> None:
        """Totals by 单位类别 (only when the unit charts had to be cut to the top TOP_N)."""
        by_cat = self.frames.by_category
        cols: list[tuple[str, str, list[str]]] = []
        if activity is not None:
            cols.append((f"{activity.label}（{activity.unit}）", activity.unit, [activity.id]))
        if people:
            cols.append((f"群众参与数量（{people[0].unit}）", people[0].unit, [fl.id for fl in people]))
        if not cols:
            return
        rows = [
            (str(cat), *(_round(float(by_cat.loc[cat, ids].sum())) for _, _, ids in cols))
            for cat in by_cat.index
        ]
        integer = self.f["int"]
        table = self.data_table(
            "各类别单位合计", ["单位类别", *(c[0] for c in cols)], rows, [integer for _ in cols]
        )
        chart = self.wb.add_chart({"type": "column"})
        chart.add_series(
            {
                "name": table.name(1),
                "categories": table.ref(0),
                "values": table.ref(1),
                "fill": {"color": "#4472C4"},
                "gap": 80,
                # inside the bar: outside labels would collide with the line's markers
                "data_labels": {
                    "value": True,
                    "num_format": "#,##0",
                    "position": "inside_end",
                    "font": {"color": "#FFFFFF", "bold": True},
                },
            }
        )
        chart.set_y_axis(
            {
                "name": cols[0][1],
                "min": 0,
                "num_format": "#,##0",
                "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
            }
        )
        if len(cols) > 1:  # participants are ~1000× activities: their own axis on the right
            line = self.wb.add_chart({"type": "line"})
            line.add_series(
                {
                    "name": table.name(2),
                    "categories": table.ref(0),
                    "values": table.ref(2),
                    "y2_axis": True,
                    "line": {"color": "#ED7D31", "width": 2.25},
                    "marker": {
                        "type": "circle",
                        "size": 6,
                        "fill": {"color": "#ED7D31"},
                        "border": {"color": "#ED7D31"},
                    },
                }
            )
            line.set_y2_axis({"name": cols[1][1], "min": 0, "num_format": "#,##0"})
            chart.combine(line)
        title = "各类别单位" + "与".join(c[0].split("（")[0] for c in cols)
        chart.set_title({"name": title, "name_font": {"size": 12, "bold": True}})
        chart.set_x_axis({"name": "单位类别"})
        chart.set_legend({"position": "top"})
        self.place(chart, 360)

    # -- 上报情况 ----------------------------------------------------------------------------------

    def status_sheet(self) -> None:
        """Every roster unit: status, file, timing, problem counts, changes, and what it wrote around the table."""
        f = self.f
        ws = self.sheet(STATUS)
        headers = [
            "单位编码",
            "单位",
            "类别",
            "状态",
            "文件",
            "收到时间",
            "是否逾期",
            "错误数",
            "待核实数",
            "警告数",
            "修改情况",
            "随表材料",
        ]
        widths = [10, 22, 12, 8, 34, DATETIME_WIDTH, 9, 7, 9, 7, 24, 24]
        # 填表人/联系电话 to call back, 情况说明 to judge a warning: the unit's own words, as text
        infos = list(self.spec.info)
        headers += [i.label for i in infos]
        widths += [50 if i.type == "longtext" else 12 if i.type == "date" else 14 for i in infos]
        last_col = len(headers) - 1
        widths = self.header_row(ws, 1, headers, widths)
        plan = pl.plan_pages(widths, repeat=2)
        self.title_rows(ws, plan, f"{self.title()} 上报情况")
        row = 2
        formats = [f["center"], f["cell"], f["cell"], f["center"], f["cell"], f["datetime"], f["center"]]
        formats += [f["int"], f["int"], f["int"], f["wrap"], f["wrap"]]
        info_formats = [f["wrap"] if item.type == "longtext" else f["cell"] for item in infos]
        first_info = len(formats)
        longtexts = [(i.id, widths[k]) for k, i in enumerate(infos, start=first_info) if i.type == "longtext"]
        for u in self.report.units:
            changes = self.changes_text(u)
            values = [u.unit.id, u.unit.name, u.unit.category, STATUS_ZH.get(u.status, u.status), u.file]
            values += [
                u.received,
                "是" if u.late else "可能" if u.maybe_late else "否",
                *(
                    u.count(s) if u.file else None
                    for s in (Severity.ERROR, Severity.VERIFY, Severity.WARNING)
                ),
            ]
            ws.values(row, 0, [*values, changes, u.materials_text], formats)
            ws.values(row, first_info, [u.info.get(item.id) for item in infos], info_formats, f["date"])
            wrapped = [(changes, widths[10]), *((u.info.get(i), width) for i, width in longtexts)]
            _fit_row(ws, row, wrapped)
            row += 1
        last = row - 1
        if last >= 2:
            for status, (fill, font) in STATUS_COLOURS.items():
                fmt = self.wb.add_format({"bg_color": fill, "font_color": font})
                ws.conditional_format(
                    2,
                    3,
                    last,
                    3,
                    {"type": "cell", "criteria": "==", "value": f'"{STATUS_ZH[status]}"', "format": fmt},
                )
            ws.conditional_format(
                2,
                6,
                last,
                6,
                {
                    "type": "cell",
                    "criteria": "==",
                    "value": '"是"',
                    "format": self.wb.add_format({"font_color": "#C00000", "bold": True}),
                },
            )
        ws.freeze_panes(2, 2)
        ws.autofilter(1, 0, max(last, 1), last_col)
        self.list_page(ws, plan, 1, last)

    # -- 下级单位 ----------------------------------------------------------------------------------

    def subunits_sheet(self) -> None:
        """Every unit of this level, each followed by the units below it as its return's 下级单位 sheet lists
        them (a county and its towns): drill-down for a city or a province. A unit's own row carries the
        numbers it reported; its units' rows their own, those not counted by it in grey."""
        f, fields = self.f, list(self.spec.fields)
        ws = self.sheet(SUBUNITS)
        headers = ["单位编码", "单位名称", "单位类别", "状态", "计入合计", "所属单位"]
        headers += [f"{fl.label}（{fl.unit}）" for fl in fields]
        largest = {  # a town's 待核实 50,000 is in no total
            fl.id: max(
                (abs(v) for u in self.report.units for s in u.subunits if (v := s.values.get(fl.id))),
                default=0.0,
            )
            for fl in fields
        }
        widths = [10, 22, 12, 8, 9, 16, *(self.number_width(fl, 12, largest[fl.id]) for fl in fields)]
        header = 2
        self.header_row(ws, header, headers, widths, max_lines=4)
        plan = pl.plan_pages(ws.widths, repeat=2)
        hint = (
            "粗体行为本级各单位（状态、上报的数值）；其下各行是该单位“下级单位”表中的单位及其数值，"
            "灰色为该单位未计入的（待核实、退回、未报）。"
        )
        self.title_rows(ws, plan, f"{self.title()} 下级单位", hint)
        own = [f["sub_center"], f["sub"], f["sub"], f["sub_center"], f["sub_center"], f["sub"]]
        own += [self.number_format(fl, "sub") for fl in fields]
        kinds = {True: ("center", "cell", "cell"), False: ("grey_center", "grey", "grey")}
        rows = {
            counted: [f[c], f[t], f[t], f[c], f[c], f[t], *(self.number_format(fl, n) for fl in fields)]
            for counted, (c, t, n) in kinds.items()
        }
        row = header + 1
        for u in self.report.units:
            values = [
                u.values.get(fl.id) if u.status in (*COUNTED, Status.PENDING) else None for fl in fields
            ]
            status = STATUS_ZH.get(u.status, u.status)
            mine = [u.unit.id, u.unit.name, u.unit.category, status, "是" if u.counted else "否", ""]
            ws.values(row, 0, [*mine, *values], own)
            row += 1
            for s in u.subunits:
                below = [s.unit_id, "\u3000" + s.unit, s.category, STATUS_ZH.get(s.status, s.status)]
                below += ["是" if s.counted else "否", u.unit.name, *(s.values.get(fl.id) for fl in fields)]
                ws.values(row, 0, below, rows[s.counted])
                row += 1
        ws.freeze_panes(header + 1, 2)
        ws.autofilter(header, 0, max(row - 1, header), len(headers) - 1)
        self.list_page(ws, plan, header, row - 1)

    def changes_text(self, u: UnitResult) -> str:
        """`label：old→new` per changed field, from the resubmission that replaced an earlier return."""
        parts = []
        for c in u.changes:
            label = c.label or _label(self.spec, c.field_id)
            parts.append(f"{label}：{_show(c.old)}→{_show(c.new)}")
        return "；".join(parts)

    # -- 问题清单 ----------------------------------------------------------------------------------

    def findings_sheet(self) -> None:
        f = self.f
        ws = self.sheet(FINDINGS)
        headers = ["序号", "级别", "代码", "单位", "文件", "位置", "说明"]
        last_col = len(headers) - 1
        widths = self.header_row(ws, 1, headers, [6, 7, 20, 18, 24, 14, 68])
        plan = pl.plan_pages(widths)
        self.title_rows(ws, plan, f"{self.title()} 问题清单")
        row = 2
        for n, item in enumerate(sorted(self.report.findings, key=self.finding_key), start=1):
            ws.write_number(row, 0, n, f["int_center"])
            ws.text(row, 1, item.severity.zh, f["center"])
            ws.text(row, 2, item.code.name)
            ws.text(row, 3, self.unit_name(item.unit))
            ws.text(row, 4, item.file)
            ws.text(row, 5, item.location)
            ws.text(row, 6, item.message, f["wrap"])
            _fit_row(ws, row, [(item.message, widths[6])])
            row += 1
        last = row - 1
        if last >= 2:
            for level, (fill, font) in LEVEL_COLOURS.items():
                fmt = self.wb.add_format({"bg_color": fill, "font_color": font})
                ws.conditional_format(
                    2, 1, last, 1, {"type": "cell", "criteria": "==", "value": f'"{level.zh}"', "format": fmt}
                )
        else:
            ws.merge_text(2, 0, 2, last_col, "没有发现问题。", f["hint"])
        ws.freeze_panes(2, 0)
        ws.autofilter(1, 0, max(last, 1), last_col)
        self.list_page(ws, plan, 1, max(last, 2))

    def finding_key(self, item: Finding) -> tuple[Any, ...]:
        """Roster order of the unit (unit-less findings last), then file, then sheet and cell (A2 < A10)."""
        unit = self.order.get(item.unit, len(self.order)) if item.unit else len(self.order) + 1
        m = _A1.match(item.cell or "")
        cell = (0, _col_number(m.group(1)), int(m.group(2)), "") if m else (1, 0, 0, item.cell or "")
        return (unit, item.file, item.sheet, cell[0], cell[2], cell[1], cell[3])

    # -- 活动明细 ----------------------------------------------------------------------------------

    def detail_sheet(self) -> None:
        f, d = self.f, self.spec.detail
        ws = self.sheet(DETAIL)
        if d is None:
            ws.widths = [60.0]
            ws.set_column(0, 0, 60)
            ws.text(0, 0, "本表单没有活动明细。", f["hint"])
            self.list_page(ws, pl.plan_pages(ws.widths), 0, 0)
            return
        columns = list(d.columns)
        last_col = len(columns)
        self.header_row(ws, 1, ["单位", *(c.label for c in columns)], [18, *(c.width for c in columns)])
        plan = pl.plan_pages(ws.widths, repeat=1)
        self.title_rows(ws, plan, f"{self.report.campaign.year}年{d.title}（汇总）")
        formats = [f["cell"]]  # 单位
        for c in columns:
            if c.type in ("integer", "decimal"):
                places = c.places if c.type == "decimal" else 0
                formats.append(self.number_format(Field(c.id, c.label, "", c.type, "", places=places)))
            else:
                formats.append(f["center"] if c.type in ("date", "choice") else f["cell"])
        row = 2
        for record in self.frames.detail.itertuples(index=False, name=None):
            ws.values(row, 0, record, formats, f["date"])
            row += 1
        last = row - 1
        if last < 2:
            ws.merge_text(2, 0, 2, last_col, "计入汇总的单位没有填写活动明细。", f["hint"])
        ws.freeze_panes(2, 1)
        ws.autofilter(1, 0, max(last, 1), last_col)
        self.list_page(ws, plan, 1, max(last, 2))

    # -- 文件清单 ----------------------------------------------------------------------------------

    def files_sheet(self) -> None:
        f = self.f
        ws = self.sheet(FILES)
        headers = ["序号", "文件", "SHA-256（前12位）", "单位", "处理结果", "收到时间", "发件人"]
        last_col = len(headers) - 1
        self.header_row(ws, 1, headers, [6, 44, 16, 18, 10, DATETIME_WIDTH, 28])
        plan = pl.plan_pages(ws.widths, repeat=2)
        self.title_rows(ws, plan, f"{self.title()} 收到的文件")
        formats = [f["int_center"], f["cell"], f["mono"], f["cell"], f["center"], f["datetime"], f["cell"]]
        row = 2
        for n, fr in enumerate(self.report.files, start=1):
            unit = self.unit_name(fr.unit_id) if fr.unit_id else ""
            outcome = OUTCOME_ZH.get(fr.outcome, fr.outcome)
            ws.values(row, 0, [n, fr.path, fr.sha256[:12], unit, outcome, fr.received, fr.sender], formats)
            row += 1
        last = row - 1
        if last < 2:
            ws.merge_text(2, 0, 2, last_col, "收件箱中没有文件。", f["hint"])
        ws.freeze_panes(2, 0)
        ws.autofilter(1, 0, max(last, 1), last_col)
        self.list_page(ws, plan, 1, max(last, 2))

    # -- 说明 --------------------------------------------------------------------------------------

    def notes_sheet(self) -> None:
        f, c, n = self.f, self.report.campaign, self.report.counts
        ws = self.sheet(NOTES)
        facts: list[tuple[str, Any]] = [
            ("活动", c.title),
            ("表单", f"{self.spec.title}（{self.spec.id} 版本 {self.spec.version}）"),
            ("组织单位", c.organizer),
            ("报送截止", c.deadline),
            ("生成时间", self.report.generated_at),
        ]
        if self.report.previous_source:
            facts.append(("上年数据", self.report.previous_source))
        row = 2
        for key, value in facts:
            ws.text(row, 0, key, f["key"])
            ws.merge_range(row, 1, row, 3, "", f["cell_left"])
            ws.value(row, 1, value, f["cell_left"], f["datetime_left"])
            row += 1
        row += 1
        ws.text(row, 0, "报送情况", f["heading"])
        row += 1
        for key, name in COUNT_ZH:
            ws.text(row, 0, key, f["key"])
            ws.write_number(row, 1, n[name], f["int_left"])
            row += 1
        row += 1
        text = f"待核实、退回和未报单位的数据不计入汇总表的合计、分单位的小计与合计以及图表；{self.counts_line()}。"
        for line in (text, self.pending_line()):
            if line:  # merged over A:F (~125 characters wide): as many lines as the text needs
                ws.merge_text(row, 0, row, 5, line, f["warn"])
                _fit_row(ws, row, [(line, 110)])
                row += 1
        row += 1
        ws.text(row, 0, "各单位数据来源", f["heading"])
        row += 1
        widths = self.header_row(
            ws,
            row,
            ["单位编码", "单位", "状态", "采用的文件", "收到时间", "说明"],
            [12, 22, 10, 40, DATETIME_WIDTH, 40],
        )
        plan = pl.plan_pages(widths, repeat=2)
        self.title_rows(ws, plan, f"{self.title()} 汇总说明")
        header = row
        formats = [f["center"], f["cell"], f["center"], f["cell"], f["datetime"], f["wrap"]]
        for u in self.report.units:
            row += 1
            note = self.source_note(u)
            status = STATUS_ZH.get(u.status, u.status)
            file, received = (u.file, u.received) if u.counted else ("", None)
            ws.values(row, 0, [u.unit.id, u.unit.name, status, file, received, note], formats)
            _fit_row(ws, row, [(note, widths[5])])
        self.list_page(ws, plan, header, row)

    def source_note(self, u: UnitResult) -> str:
        if u.status == "missing":
            return "未收到，未计入合计"
        if u.status is Status.PENDING:
            return f"待核实，核实前未计入合计（文件：{_name(u.file)}）"
        if not u.counted:
            return f"退回，未计入合计（文件：{_name(u.file)}）" if u.file else "退回，未计入合计"
        note = "已计入合计"
        return f"{note}；替代了 {_name(u.replaced)}" if u.replaced else note


# -- helpers ---------------------------------------------------------------------------------------

_BASE = {"font_name": FONT, "font_size": 11, "valign": "vcenter", "border": 1, "border_color": "#808080"}
_STYLES: dict[str, dict[str, Any]] = {
    "cell": _BASE,
    "bold": {**_BASE, "bold": True},
    "grey": {**_BASE, "font_color": "#8C8C8C", "bg_color": "#F2F2F2"},
    "pending": {**_BASE, "font_color": "#C65911", "bg_color": "#FCE4D6", "italic": True},
    "sub": {**_BASE, "bold": True, "bg_color": "#EDF3FA"},
    "total": {**_BASE, "bold": True, "bg_color": "#D9E1F2", "top": 2},
}


def _formats(wb: xlsxwriter.Workbook) -> dict[str, Any]:
    title = {"font_name": TITLE_FONT, "font_size": 16, "bold": True, "align": "center", "valign": "vcenter"}
    hint = {
        "font_name": FONT,
        "font_size": 10,
        "font_color": "#595959",
        "text_wrap": True,
        "valign": "vcenter",
    }
    specs: dict[str, dict[str, Any]] = {
        "title": title,
        "heading": {"font_name": FONT, "font_size": 12, "bold": True, "valign": "vcenter"},
        "hint": hint,
        "hint_center": {**hint, "align": "center"},  # under a title: blank where a column page cuts it
        "warn": {
            "font_name": FONT,
            "bold": True,
            "font_color": "#C00000",
            "text_wrap": True,
            "valign": "vcenter",
        },
        "header": {**_BASE, "bold": True, "align": "center", "bg_color": "#D9E1F2", "text_wrap": True},
        "key": {**_BASE, "bold": True, "align": "center", "bg_color": "#F2F2F2", "text_wrap": True},
        "unit": {**_BASE, "bold": True, "text_wrap": True, "align": "left", "indent": 1},
        "date_key": {**_BASE, "bold": True, "num_format": DATE_FORMAT, "align": "left", "indent": 1},
        "section": {**_BASE, "bold": True, "align": "center", "text_wrap": True},
        "label": {**_BASE, "text_wrap": True, "align": "left", "indent": 1},
        "note": {**_BASE, "text_wrap": True, "valign": "top", "align": "left", "indent": 1},
        "center": {**_BASE, "align": "center"},
        "cell_left": {**_BASE, "align": "left"},
        "wrap": {**_BASE, "text_wrap": True},
        "grey_center": {**_STYLES["grey"], "align": "center"},
        "pending_center": {**_STYLES["pending"], "align": "center"},
        "sub_center": {**_STYLES["sub"], "align": "center"},
        "total_center": {**_STYLES["total"], "align": "center"},
        "int": {**_BASE, "num_format": "#,##0"},
        "percent": {**_BASE, "num_format": "0.0%", "align": "right", "indent": 1},
        "int_center": {**_BASE, "num_format": "0", "align": "center"},
        "int_left": {**_BASE, "num_format": "#,##0", "align": "left"},
        "date": {**_BASE, "num_format": DATE_FORMAT, "align": "center"},
        "datetime": {**_BASE, "num_format": DATETIME_FORMAT, "align": "center"},
        "datetime_left": {**_BASE, "num_format": DATETIME_FORMAT, "align": "left"},
        "mono": {**_BASE, "font_name": "Consolas"},
    }
    return {name: wb.add_format(props) for name, props in {**_STYLES, **specs}.items()}


def _fit_row(ws: _Sheet, row: int, texts: Sequence[tuple[Any, float]]) -> None:
    """Give a row with wrapped text the height it needs: neither Excel nor LibreOffice re-measures
    the rows of a generated file on opening, so long messages would spill over the next row."""
    lines = max((_lines(clean_text(t), w) for t, w in texts if t not in (None, "")), default=1)
    if lines > 1:
        ws.set_row(row, min(409, 15 * lines))  # 409 pt: Excel's tallest row


def _lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column `width` characters wide (a CJK character counts 2)."""
    usable = max(1.0, width * 0.9)  # cells lose a little width to padding
    if 2 * len(text) <= usable and "\n" not in text:
        return 1  # fits even if every character is wide: skip measuring (most cells of a list)
    return sum(max(1, math.ceil((len(part) + pl.wide_chars(part)) / usable)) for part in text.split("\n"))


def _plain(value: Any) -> Any:
    """What `_Sheet.value` shows for a value that is not a str, int, float or None (see write_values)."""
    if isinstance(value, datetime | date):  # dates first: the common case in 活动明细
        return None if value is pd.NaT else _naive(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, numbers.Real):  # numpy's int64/float64 too; NaN/±inf become blanks there
        return float(value)
    return str(value)


def _naive(value: datetime | date) -> datetime:
    """Excel has no time zones: keep the wall-clock time as given (no machine-dependent conversion)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value.replace(tzinfo=None)


def _change(now: float | None, before: float | None, fl: Field) -> float | None:
    """This year minus last year at the field's places; None when either is missing."""
    return None if now is None or before is None else fl.rounded(now - before)


def _ratio(now: float | None, before: float | None) -> float | None:
    """(this year − last year) / last year; None without last year's value or when it is 0."""
    return None if now is None or not before else (now - before) / before


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _round(value: Any) -> float:
    """Cached sums without binary noise (0.1 + 0.2 → 0.3): fields have at most a few decimals."""
    value = float(value)
    return round(value, 8) if math.isfinite(value) else 0.0


def _sum_of(refs: list[str]) -> str:
    """SUM over scattered cells; Excel allows 255 arguments per function, so chunk them."""
    if not refs:
        return "0"
    chunks = [refs[i : i + 250] for i in range(0, len(refs), 250)]
    return "+".join(f"SUM({','.join(chunk)})" for chunk in chunks)


def short_label(label: str) -> str:
    """A chart-sized label: parenthesised remarks dropped (县级(单位)财政经费… → 县级财政经费…)."""
    return re.sub(r"[（(][^）)]*[）)]", "", label).strip() or label


def _label(spec: FormSpec, field_id: str) -> str:
    try:
        return spec.field(field_id).label
    except KeyError:
        return field_id


def _show(value: float | None) -> str:
    if value is None:
        return "空"
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0").rstrip(".")


def _name(path: str) -> str:
    return PurePath(path).name if path else ""


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n
