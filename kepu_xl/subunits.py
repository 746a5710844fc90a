"""The 下级单位 sheet: one row per unit of the level below, written into its return by `kepuxl report-up`,
read back by the upper level's collect so that it can drill down and check the sums.

    row 1  下级单位报送情况（2023年科技活动周，青溪县科学技术局）           (title)
    row 2  每行一个下级单位 …                                            (hint)
    row 3  单位编码 | 单位名称 | 单位类别 | 状态 | 计入合计 | 举办活动次数（次） | …   (headers)
    row 4  unit_id  | unit     | category | status | counted | activities | …   (ids: a hidden row)
    row 5… T01      | 城关街道 | 镇（街道） | 通过 | 是       | 12         | …

Columns are found by the ids of the hidden row (the upper form's field ids), never by position or label.
The rows whose 计入合计 is 是 add up to the figures of the return; a field where they do not gets a
warning at its cell (`check`). Pure over values: the reader hands over the sheet's cells (`from_sheet`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import print_layout as pl
from .book import Sheet
from .findings import Code, Finding
from .layout import CellMap
from .results import STATUS_ZH
from .spec import SUBUNITS_SHEET, FormSpec
from .xlsx_patch import NewSheet

SHEET = SUBUNITS_SHEET  # reserved: no definition may name a sheet so
TITLE_ROW, HINT_ROW, HEADER_ROW, ID_ROW, FIRST_ROW = range(5)
ID_COLUMNS = ("unit_id", "unit", "category", "status", "counted")
HEADINGS = ("单位编码", "单位名称", "单位类别", "状态", "计入合计")
YES, NO = "是", "否"
MAX_ROWS = 100_000  # as many as a roster holds
WINDOW = (FIRST_ROW + MAX_ROWS, len(ID_COLUMNS) + 2000)
_STATUS = {zh: key for key, zh in STATUS_ZH.items()}


@dataclass(frozen=True, slots=True)
class SubUnit:
    """One unit of the level below as its level reported it."""

    unit_id: str
    unit: str
    category: str
    status: str  # a results.Status value (accepted, pending, …), or the sheet's text when it is none
    counted: bool  # its numbers are in the return's figures
    values: dict[str, float | None] = field(default_factory=dict)  # the upper form's field id → number
    row: int = 0  # 0-based row on the sheet

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "unit": self.unit,
            "category": self.category,
            "status": self.status,
            "counted": self.counted,
            "values": self.values,
        }


@dataclass(frozen=True, slots=True)
class Column:
    """A numeric column of the sheet: the upper form's field id, its heading, its number of places."""

    id: str
    label: str
    places: int = 0


# -- writing (report-up) ---------------------------------------------------------------------------------


def new_sheet(title: str, columns: Sequence[Column], units: Sequence[SubUnit]) -> NewSheet:
    """The sheet as `xlsx_patch` adds it to the filled form: rows, styles, widths, print set-up."""
    headings = [*HEADINGS, *(c.label for c in columns)]
    widths = [10.0, 22.0, 12.0, 8.0, 9.0, *(12.0 for _ in columns)]
    widths = [pl.header_width(h, w, max_lines=4) for h, w in zip(headings, widths, strict=True)]
    hint = (
        "每行一个下级单位（由 kepuxl report-up 生成）。“计入合计”为“是”的各行之和，等于上报表中的各项数值；"
        "待核实、退回、未报的单位未计入。第 4 行为指标编号（隐藏），请勿改动。"
    )
    width = len(headings)
    rows: list[list[Any]] = [
        [title, *[None] * (width - 1)],
        [hint, *[None] * (width - 1)],
        [pl.wrap_header(h, w) for h, w in zip(headings, widths, strict=True)],
        [*ID_COLUMNS, *(c.id for c in columns)],
    ]
    styles = [["title"] * width, ["hint"] * width, ["header"] * width, [""] * width]
    for u in units:
        status = STATUS_ZH.get(u.status, u.status)  # type: ignore[call-overload]
        rows.append([u.unit_id, u.unit, u.category, status, YES if u.counted else NO])
        rows[-1] += [u.values.get(c.id) for c in columns]
        centre, text, number = (
            ("center", "cell", "number") if u.counted else ("grey_center", "grey", "grey_number")
        )
        styles.append([centre, text, text, centre, centre, *(number for _ in columns)])
    plan = pl.plan_pages(widths, repeat=2)
    lines = max(pl.header_lines(h) for h in rows[HEADER_ROW])
    last = plan.first_page_last_col(width - 1)  # title and hint over the first printed page's columns
    return NewSheet(
        name=SHEET,
        rows=rows,
        styles=styles,
        widths=widths,
        merges=[(TITLE_ROW, 0, TITLE_ROW, last), (HINT_ROW, 0, HINT_ROW, last)],
        heights={TITLE_ROW: 28, HINT_ROW: 42, HEADER_ROW: 16 * lines + 6},
        hidden_rows=(ID_ROW,),
        freeze=(FIRST_ROW, 2),
        repeat_rows=(HEADER_ROW, ID_ROW),
        landscape=plan.landscape,
        scale=plan.scale,
        col_breaks=plan.breaks,
        repeat_cols=plan.repeat,
    )


# -- reading (collect, at the upper level) ---------------------------------------------------------------


def from_sheet(sheet: Sheet) -> tuple[list[SubUnit], list[Finding]]:
    """The rows of a 下级单位 sheet as the reader saw its cells; findings for what cannot be read."""
    ids = {col: sheet.text(ID_ROW, col) for col in range(WINDOW[1] + 1) if sheet.text(ID_ROW, col)}
    where = {name: col for col, name in ids.items()}
    out: list[Finding] = []
    if not all(k in where for k in ID_COLUMNS[:2]):
        out.append(
            Finding.make(Code.REPORT_SUBUNITS_SHEET, sheet=SHEET, cell=f"A{ID_ROW + 1}", row=ID_ROW + 1)
        )
        return [], out
    numeric = {col: fid for col, fid in ids.items() if fid not in ID_COLUMNS}
    last = max((r for r, _ in sheet.cells), default=FIRST_ROW - 1)
    units = []
    for row in range(FIRST_ROW, last + 1):
        unit_id, name = sheet.text(row, where["unit_id"]), sheet.text(row, where["unit"])
        if not unit_id and not name:
            continue
        values: dict[str, float | None] = {}
        for col, fid in numeric.items():
            values[fid] = _number(sheet, row, col, out)
        status = sheet.text(row, where["status"]) if "status" in where else ""
        counted = "counted" in where and sheet.text(row, where["counted"]) == YES
        category = sheet.text(row, where["category"]) if "category" in where else ""
        units.append(SubUnit(unit_id, name, category, _STATUS.get(status, status), counted, values, row))
    return units, out


def _number(sheet: Sheet, row: int, col: int, out: list[Finding]) -> float | None:
    cell = sheet.get(row, col)
    if cell is None or cell.value is None or (cell.kind == "s" and not str(cell.value).strip()):
        return None
    if cell.kind == "n" and isinstance(cell.value, int | float) and math.isfinite(cell.value):
        return float(cell.value)
    from xlsxwriter.utility import xl_rowcol_to_cell

    out.append(
        Finding.make(
            Code.REPORT_SUBUNITS_VALUE,
            sheet=SHEET,
            cell=xl_rowcol_to_cell(row, col),
            raw=str(cell.value)[:60],
        )
    )
    return None


def check(
    units: Sequence[SubUnit], values: Mapping[str, float | None], spec: FormSpec, cells: CellMap
) -> list[Finding]:
    """A warning at each field of the return whose value is not the sum of the counted rows."""
    out = []
    counted = [u for u in units if u.counted]
    for f in spec.inputs:
        if not any(f.id in u.values for u in units) or values.get(f.id) is None:
            continue
        total = f.rounded(sum(u.values.get(f.id) or 0.0 for u in counted))
        own = float(values[f.id])  # type: ignore[arg-type]
        if abs(total - own) > 1e-6 * max(1.0, abs(own)):
            cell = cells.fields[f.id]
            out.append(
                Finding.make(
                    Code.REPORT_SUBUNITS_SUM,
                    sheet=cell.sheet,
                    cell=cell.a1,
                    label=f.label,
                    value=_show(own),
                    sum=_show(total),
                    n=len(counted),
                )
            )
    return out


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}".rstrip("0").rstrip(".")
