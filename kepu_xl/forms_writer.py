"""The unit's workbook: (spec, campaign, unit[, values, problems]) → xlsx bytes, built with xlsxwriter.

Sheets: 填报说明, the statistics table (统计表), the detail table (活动明细) and the very hidden
`_meta`. Inputs are unlocked and validated with Chinese prompts; totals and self-checks are
locked formulas; sheets and the workbook structure are protected; the page prints on one A4
sheet for stamping. The same builder makes feedback forms: a fresh form for the unit with the
values it sent, problem cells highlighted with a comment, and a 问题清单 sheet.

Output is deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from . import layout as lay
from .campaign import Campaign, Unit
from .findings import Finding, Severity
from .identity import PROPERTY_PREFIX, Identity
from .layout import Cell, CellMap
from .rules import DetailStats
from .spec import Field, FormSpec, InfoField, Rule
from .xlsx_out import CheckedSheet, FastRowsWorksheet, check

OK_MARK, WARN_MARK, ERROR_MARK = "✓", "⚠ 请核实", "✗ 请修改"
# _meta holds the identity in A:B (the reader's window); long dropdown lists go from column E on
META_CHOICE_COL = 4
DATE_FORMAT = "yyyy-mm-dd"
SAFE_OPTIONS = {
    "in_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


@dataclass(frozen=True, slots=True)
class Prefill:
    """Values to write into a form (feedback forms): raw cell values keyed as the reader returns them."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    detail: Sequence[Mapping[str, Any]] = ()


class _Workbook(xlsxwriter.Workbook):
    """xlsxwriter has no workbook (structure) protection; add the element after <workbookPr>."""

    structure_password_hash: str = ""

    def _write_workbook_pr(self) -> None:
        super()._write_workbook_pr()
        if self.structure_password_hash:
            self._xml_empty_tag(
                "workbookProtection",
                [("workbookPassword", self.structure_password_hash), ("lockStructure", 1)],
            )


def created_at(campaign: Campaign) -> datetime:
    """A fixed creation time so that output bytes depend only on the inputs."""
    return datetime.combine(campaign.start or campaign.deadline.date(), time(8, 0))


def build_form(
    spec: FormSpec,
    cells: CellMap,
    campaign: Campaign,
    unit: Unit,
    identity: Identity,
    password: str,
    *,
    prefill: Prefill | None = None,
    problems: Sequence[Finding] = (),
) -> bytes:
    """One unit's workbook as bytes. `prefill`/`problems` make it a feedback form."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every xlsxwriter warning is a bug in the form, not a footnote
        wb = _Workbook(buffer, SAFE_OPTIONS)
        writer = _FormWriter(
            wb, spec, cells, campaign, unit, identity, password, prefill or Prefill(), problems
        )
        writer.write()
        wb.close()
    return buffer.getvalue()


class _FormWriter:
    def __init__(
        self,
        wb: _Workbook,
        spec: FormSpec,
        cells: CellMap,
        campaign: Campaign,
        unit: Unit,
        identity: Identity,
        password: str,
        prefill: Prefill,
        problems: Sequence[Finding],
    ):
        self.wb, self.spec, self.cells, self.campaign, self.unit = wb, spec, cells, campaign, unit
        self.identity, self.password, self.prefill = identity, password, prefill
        self.problems: dict[tuple[str, str], list[Finding]] = {}
        for p in problems:
            if p.sheet and p.cell:
                self.problems.setdefault((p.sheet, p.cell), []).append(p)
        self.problem_list = list(problems)
        self.fmt = _formats(wb)
        # Excel keeps an inline dropdown list to 255 characters and splits it at commas: longer
        # lists, or choices with a comma, live in a range of the hidden _meta sheet instead
        self.choice_ranges: dict[str, str] = {}
        long_lists = [
            (key, choices)
            for key, choices in _choice_lists(spec).items()
            if len(",".join(choices)) > 255 or any("," in x for x in choices)
        ]
        for n, (key, choices) in enumerate(long_lists):
            col = xl_col_to_name(META_CHOICE_COL + n)
            self.choice_ranges[key] = f"={lay.META_SHEET}!${col}$1:${col}${len(choices)}"

    # -- whole workbook ------------------------------------------------------------------------

    def write(self) -> None:
        wb, c = self.wb, self.campaign
        wb.set_properties(
            {
                "title": f"{self.title()}（{self.unit.name}）",
                "subject": self.spec.title,
                "author": c.organizer,
                "company": c.organizer,
                "comments": "由 kepuxl 生成。请勿修改表格结构。",
                "created": created_at(c),
            }
        )
        for key, value in self.identity.as_pairs():
            check(wb.set_custom_property(PROPERTY_PREFIX + key, value, "text"), "custom property")
        wb.structure_password_hash = _legacy_hash(self.password)
        self.info_sheet()
        main = self.main_sheet()
        if self.spec.detail is not None:
            self.detail_sheet()
        if self.problem_list:
            self.problem_sheet()
        self.meta_sheet()
        main.activate()

    def title(self) -> str:
        return f"{self.campaign.year}年{self.spec.title}"

    def protect(self, ws: CheckedSheet) -> None:
        ws.protect(self.password, {"format_columns": False, "format_rows": False, "insert_rows": False})

    # -- 填报说明 -------------------------------------------------------------------------------

    def info_sheet(self) -> None:
        c, f = self.campaign, self.fmt
        ws = CheckedSheet(self.wb.add_worksheet(lay.INFO_SHEET, FastRowsWorksheet))
        ws.set_column(0, 0, 16)
        ws.set_column(1, 1, 80)
        ws.merge_range(0, 0, 0, 1, f"{self.title()} 填报说明", f["title"])
        rows = [
            ("填报单位", self.unit.name),
            ("报送截止", _deadline_text(c.deadline)),
            ("组织单位", c.organizer),
            ("联系人", "  ".join(x for x in (c.contact.name, c.contact.phone, c.contact.email) if x)),
        ]
        if c.start and c.end:
            rows.insert(1, ("活动时间", f"{_date_text(c.start)}至{_date_text(c.end)}"))
        units = "、".join(dict.fromkeys(fl.unit for fl in self.spec.fields))
        r = 2
        for key, value in rows:
            ws.write_string(r, 0, key, f["key"])
            ws.text(r, 1, value, f["text"])
            r += 1
        r += 1
        ws.write_string(r, 0, "填写要求", f["key"])
        for n, line in enumerate((*self.spec.instructions, f"计量单位：{units}。"), start=1):
            ws.write_string(r, 1, f"{n}. {line}", f["wrap"])
            ws.set_row(r, 33 if len(line) > 40 else None)
            r += 1
        r += 1
        ws.merge_range(
            r, 0, r, 1, "请勿修改表格结构（不要插入/删除行列、改工作表名），否则无法自动汇总。", f["warn"]
        )
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        self.protect(ws)

    # -- 统计表 ---------------------------------------------------------------------------------

    def main_sheet(self) -> CheckedSheet:
        spec, cells, f = self.spec, self.cells, self.fmt
        ws = CheckedSheet(self.wb.add_worksheet(spec.sheet, FastRowsWorksheet))
        for col, width in enumerate((22, 44, 10, 15, 14)):
            ws.set_column(col, col, width)
        ws.merge_range(0, 0, 0, lay.HINT_COL, self.title(), f["title"])
        ws.set_row(0, 30)
        for cell, text in cells.labels:
            if cell.sheet == spec.sheet and cell.row < cells.header_row:
                ws.write_string(cell.row, cell.col, text, f["key"])
        ws.text(cells.unit.row, cells.unit.col, self.unit.name, f["unit"])
        for item in spec.info:
            self.info_input(ws, item)
        for col, text in enumerate(lay.COLUMNS):
            ws.write_string(cells.header_row, col, text, f["header"])

        for first, last, title in cells.sections:
            if first != last:
                ws.merge_range(first, lay.SECTION_COL, last, lay.SECTION_COL, title, f["section"])
        values = self.numeric_values()
        stats = self.detail_stats()
        for fl in spec.fields:
            cell = cells.fields[fl.id]
            row = cell.row
            section_first = next(s for s in cells.sections if s[0] <= row <= s[1])
            if section_first[0] == section_first[1]:
                if fl.label == section_first[2]:
                    ws.merge_range(row, lay.SECTION_COL, row, lay.LABEL_COL, fl.label, f["section"])
                else:
                    ws.write_string(row, lay.SECTION_COL, section_first[2], f["section"])
                    ws.write_string(row, lay.LABEL_COL, fl.label, f["label"])
            else:
                ws.write_string(row, lay.LABEL_COL, fl.label, f["label"])
            ws.write_string(row, lay.UNIT_COL, fl.unit, f["center"])
            if fl.computed:
                formula = "=" + fl.formula.to_excel(self.ref)
                ws.write_formula(
                    row, lay.VALUE_COL, formula, f["computed"], _num(fl.formula.evaluate(values))
                )
            else:
                self.numeric_input(ws, fl, cell)
            self.hint(ws, fl, values, stats)
        for item in spec.info:
            if item.type == "longtext":
                cell = cells.info[item.id]
                ws.write_string(cell.row, lay.SECTION_COL, item.label, f["section"])
                ws.set_row(cell.row, 66)
        self.rule_block(ws, values, stats)
        last = cells.last_row
        ws.set_paper(9)
        ws.set_portrait()
        ws.fit_to_pages(1, 1)
        ws.center_horizontally()
        ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.7)
        ws.print_area(0, 0, last, lay.HINT_COL)
        ws.set_footer("&L单位（盖章）：&C填表人：&R日期：    年  月  日")
        ws.conditional_format(
            0,
            lay.HINT_COL,
            last,
            lay.HINT_COL,
            {"type": "text", "criteria": "begins with", "value": "✗", "format": f["bad"]},
        )
        ws.conditional_format(
            0,
            lay.HINT_COL,
            last,
            lay.HINT_COL,
            {"type": "text", "criteria": "begins with", "value": "⚠", "format": f["warnfill"]},
        )
        self.protect(ws)
        return ws

    def ref(self, field_id: str) -> str:
        return self.cells.fields[field_id].a1

    def detail_ref(self, column: str | None) -> str:
        d = self.spec.detail
        assert d is not None
        if column is None:
            return f"COUNTA({self.cells.detail_range(d.key)})"
        return f"SUM({self.cells.detail_range(column)})"

    def numeric_values(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for fid, raw in self.prefill.fields.items():
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                out[fid] = float(raw)
        for fl in self.spec.fields:
            if fl.computed:
                out[fl.id] = float(fl.formula.evaluate(out))
        return out

    def detail_stats(self) -> DetailStats:
        d = self.spec.detail
        if d is None:
            return DetailStats()
        rows = [r for r in self.prefill.detail if r.get(d.key) not in (None, "")]
        sums = {
            c.id: sum(float(r[c.id]) for r in self.prefill.detail if isinstance(r.get(c.id), int | float))
            for c in d.columns
            if c.type in ("integer", "decimal")
        }
        return DetailStats(rows=len(rows), sums=sums)

    def input_format(self, sheet: str, cell: Cell, base: str) -> Any:
        return self.fmt[base + "_bad"] if (sheet, cell.a1) in self.problems else self.fmt[base]

    def comment(self, ws: CheckedSheet, cell: Cell) -> None:
        found = self.problems.get((cell.sheet, cell.a1))
        if found:
            text = "\n".join(
                f"{'【错误】' if p.severity is Severity.ERROR else '【提醒】'}{p.message}" for p in found
            )
            ws.write_comment(
                cell.row, cell.col, text[:2000], {"x_scale": 2.2, "y_scale": 2.2, "author": "kepuxl"}
            )

    def numeric_input(self, ws: CheckedSheet, fl: Field, cell: Cell) -> None:
        fmt = self.input_format(cell.sheet, cell, "input")
        raw = self.prefill.fields.get(fl.id)
        _write_value(ws, cell.row, cell.col, raw, fmt, self.fmt)
        ws.data_validation(cell.row, cell.col, cell.row, cell.col, _numeric_validation(fl, fl.label, cell.a1))
        self.comment(ws, cell)

    def info_input(self, ws: CheckedSheet, item: InfoField) -> None:
        info_id, kind = item.id, item.type
        cell = self.cells.info[info_id]
        raw = self.prefill.info.get(info_id)
        if kind == "longtext":
            fmt = self.input_format(cell.sheet, cell, "note")
            ws.merge_range(cell.row, cell.col, cell.row, lay.HINT_COL, "", fmt)
        else:
            fmt = self.input_format(cell.sheet, cell, "date_input" if kind == "date" else "text_input")
        _write_value(ws, cell.row, cell.col, raw, fmt, self.fmt)
        validation = _column_validation(item, self.choice_ranges.get(_INFO_KEY + info_id))
        ws.data_validation(cell.row, cell.col, cell.row, cell.col, validation)
        self.comment(ws, cell)

    def hint(self, ws: CheckedSheet, fl: Field, values: Mapping[str, float], stats: DetailStats) -> None:
        """The 自查提示 cell of a field: not a number → ✗, else the worst rule pointing at it."""
        cell = self.cells.hints[fl.id]
        ref = self.cells.fields[fl.id].a1
        mine = [r for r in self.spec.rules if r.target == fl.id]
        errors = [self.condition(r) for r in mine if r.severity is Severity.ERROR]
        warns = [self.condition(r) for r in mine if r.severity is not Severity.ERROR]
        expr = '""'
        if warns:
            expr = f'IF(OR({",".join(warns)}),"{WARN_MARK}",{expr})'
        if errors:
            expr = f'IF(OR({",".join(errors)}),"{ERROR_MARK}",{expr})'
        if not fl.computed:
            expr = f'IF(AND({ref}<>"",NOT(ISNUMBER({ref}))),"✗ 请填数字",IF(N({ref})<0,"✗ 不能为负",{expr}))'
        cached = self.hint_value(fl, mine, values, stats)
        ws.write_formula(cell.row, cell.col, "=" + expr, self.fmt["hint"], cached)

    def hint_value(self, fl: Field, mine: list[Rule], values: Mapping[str, float], stats: DetailStats) -> str:
        raw = self.prefill.fields.get(fl.id)
        if not fl.computed and raw not in (None, "") and not isinstance(raw, int | float):
            return "✗ 请填数字"
        if not fl.computed and values.get(fl.id, 0) < 0:
            return "✗ 不能为负"
        fired = [r for r in mine if r.when.evaluate(values, stats)]
        if any(r.severity is Severity.ERROR for r in fired):
            return ERROR_MARK
        return WARN_MARK if fired else ""

    def condition(self, rule: Rule) -> str:
        return rule.when.to_excel(self.ref, self.detail_ref if self.spec.detail else None)

    def rule_block(self, ws: CheckedSheet, values: Mapping[str, float], stats: DetailStats) -> None:
        if not self.spec.rules:
            return
        f, first = self.fmt, self.cells.rules[0].row - 1
        ws.write_string(first, lay.SECTION_COL, "自查项目", f["header"])
        ws.merge_range(
            first, lay.LABEL_COL, first, lay.VALUE_COL, "自查内容（表格根据填写的数据自动检查）", f["header"]
        )
        ws.write_string(first, lay.HINT_COL, "自查结果", f["header"])
        for n, (rule, cell) in enumerate(zip(self.spec.rules, self.cells.rules, strict=True), start=1):
            level = "错误" if rule.severity is Severity.ERROR else "提醒"
            ws.write_string(cell.row, lay.SECTION_COL, f"自查{n}（{level}）", f["center"])
            ws.merge_range(cell.row, lay.LABEL_COL, cell.row, lay.VALUE_COL, "", f["wrap_locked"])
            target = self.cells.fields[rule.target].a1
            target_field = self.spec.field(rule.target)
            parts = [
                _excel_string(p)
                for p in rule.message.format(
                    label=target_field.label, value="\0", unit=target_field.unit
                ).split("\0")
            ]
            text_formula = f"&N({target})&".join(parts)
            value = values.get(rule.target, 0)
            mark = ERROR_MARK if rule.severity is Severity.ERROR else WARN_MARK
            fired = bool(rule.when.evaluate(values, stats))
            shown = rule.text(self.spec, value)
            if rule.check:  # until the rule fires, say what is checked rather than a message with a value
                text_formula = (
                    f'IF({cell.a1}="{OK_MARK}",{_excel_string(rule.check_text(self.spec))},{text_formula})'
                )
                shown = shown if fired else rule.check_text(self.spec)
            ws.write_formula(cell.row, lay.LABEL_COL, "=" + text_formula, f["wrap_locked"], shown)
            ws.set_row(cell.row, 30)
            ws.write_formula(
                cell.row,
                cell.col,
                f'=IF({self.condition(rule)},"{mark}","{OK_MARK}")',
                f["hint"],
                mark if fired else OK_MARK,
            )

    # -- 活动明细 -------------------------------------------------------------------------------

    def detail_sheet(self) -> None:
        d, cells, f = self.spec.detail, self.cells, self.fmt
        assert d is not None
        ws = CheckedSheet(self.wb.add_worksheet(d.sheet, FastRowsWorksheet))
        ncol = len(d.columns)
        ws.merge_range(0, 0, 0, ncol, f"{self.campaign.year}年{d.title}（{self.unit.name}）", f["title"])
        ws.merge_range(
            1,
            0,
            1,
            ncol,
            "每项活动填一行；“形式”“类别”请从下拉列表选择；日期格式如 2023-05-20。没有活动的不用填写。",
            f["note_text"],
        )
        ws.set_column(0, 0, 6)
        ws.write_string(cells.detail_header, 0, "序号", f["header"])
        for c in d.columns:
            col = cells.detail_cols[c.id]
            ws.set_column(col, col, c.width)
            ws.write_string(cells.detail_header, col, c.label, f["header"])
        # rows go back where the unit typed them; rows without a known place fill up from the top
        placed = {r[lay.DETAIL_ROW_KEY]: r for r in self.prefill.detail if lay.DETAIL_ROW_KEY in r}
        loose = iter([r for r in self.prefill.detail if lay.DETAIL_ROW_KEY not in r])
        for i in range(d.rows):
            row = cells.detail_first + i
            ws.write_number(row, 0, i + 1, f["center"])
            given = placed.get(row) or (next(loose, {}) if not placed else {})
            for c in d.columns:
                cell = Cell(d.sheet, row, cells.detail_cols[c.id])
                base = {"date": "date_input", "integer": "input", "decimal": "input"}.get(
                    c.type, "text_input"
                )
                _write_value(
                    ws, row, cell.col, given.get(c.id), self.input_format(d.sheet, cell, base), self.fmt
                )
                self.comment(ws, cell)
        total = cells.detail_total
        ws.write_string(total, 0, "合计", f["header"])
        for c in d.columns:
            col = cells.detail_cols[c.id]
            first, last = cells.detail_first, cells.detail_last
            if c.type in ("integer", "decimal"):
                rng = f"{xl_rowcol_to_cell(first, col)}:{xl_rowcol_to_cell(last, col)}"
                cached = sum(
                    float(r.get(c.id)) for r in self.prefill.detail if isinstance(r.get(c.id), int | float)
                )
                ws.write_formula(total, col, f"=SUM({rng})", f["computed"], _num(cached))
            elif c.id == d.key:
                rng = f"{xl_rowcol_to_cell(first, col)}:{xl_rowcol_to_cell(last, col)}"
                ws.write_formula(
                    total,
                    col,
                    f'=COUNTA({rng})&" 项"',
                    f["computed"],
                    f"{len([r for r in self.prefill.detail if r.get(d.key)])} 项",
                )
            else:
                ws.write_blank(total, col, None, f["computed"])
            ws.data_validation(first, col, last, col, _column_validation(c, self.choice_ranges.get(c.id)))
        ws.freeze_panes(cells.detail_first, 2)
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(cells.detail_header)
        ws.print_area(0, 0, total, ncol)
        ws.set_footer("&L单位（盖章）：&C第 &P 页，共 &N 页&R填表人：")
        self.protect(ws)

    # -- 问题清单 (feedback) and _meta ----------------------------------------------------------

    def problem_sheet(self) -> None:
        f = self.fmt
        ws = CheckedSheet(self.wb.add_worksheet(lay.FEEDBACK_SHEET, FastRowsWorksheet))
        for col, width in enumerate((6, 10, 16, 90)):
            ws.set_column(col, col, width)
        ws.merge_range(0, 0, 0, 3, f"{self.unit.name}：报送数据审核问题（请修改后重新报送本表）", f["title"])
        for col, text in enumerate(("序号", "级别", "位置", "问题及修改方法")):
            ws.write_string(1, col, text, f["header"])
        for n, p in enumerate(self.problem_list, start=1):
            ws.write_number(n + 1, 0, n, f["center"])
            ws.write_string(n + 1, 1, "错误" if p.severity is Severity.ERROR else "提醒", f["center"])
            ws.write_string(n + 1, 2, p.location, f["center"])
            ws.write_string(n + 1, 3, p.message, f["wrap_locked"])
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        self.protect(ws)

    def meta_sheet(self) -> None:
        ws = CheckedSheet(self.wb.add_worksheet(lay.META_SHEET, FastRowsWorksheet))
        for row, (key, value) in enumerate(self.identity.as_pairs()):
            ws.write_string(row, 0, key)
            ws.write_string(row, 1, value)
        choices = _choice_lists(self.spec)
        for n, key in enumerate(self.choice_ranges):
            for row, choice in enumerate(choices[key]):
                ws.write_string(row, META_CHOICE_COL + n, choice)
        ws.very_hidden()
        self.protect(ws)


# -- helpers ---------------------------------------------------------------------------------------

_INFO_KEY = "info:"  # a choice field around the table, apart from the detail columns (ids have no ':')


def _choice_lists(spec: FormSpec) -> dict[str, tuple[str, ...]]:
    """Every drop-down list of the form: detail columns by id, choice fields by info:id."""
    lists = {_INFO_KEY + i.id: i.choices for i in spec.info if i.type == "choice"}
    columns = spec.detail.columns if spec.detail else ()
    return {**{c.id: c.choices for c in columns if c.type == "choice"}, **lists}


def _formats(wb: xlsxwriter.Workbook) -> dict[str, Any]:
    base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "border": 1}
    locked = {**base, "bg_color": "#F2F2F2"}
    unlocked = {**base, "locked": False, "bg_color": "#FFFFFF"}
    bad = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
    specs = {
        "title": {"font_name": "黑体", "font_size": 16, "bold": True, "align": "center", "valign": "vcenter"},
        "key": {**locked, "bold": True, "align": "center", "text_wrap": True},
        "unit": {**locked, "bold": True, "text_wrap": True},
        "header": {**locked, "bold": True, "align": "center", "bg_color": "#D9E1F2", "text_wrap": True},
        "section": {**locked, "bold": True, "align": "center", "text_wrap": True},
        "label": {**locked, "text_wrap": True},
        "center": {**locked, "align": "center"},
        "computed": {**locked, "bold": True, "align": "right", "num_format": "General"},
        "hint": {**locked, "align": "center", "bg_color": "#FFFFFF"},
        "text": {**locked, "text_wrap": True},
        "wrap": {**base, "text_wrap": True, "border": 0},
        "wrap_locked": {**locked, "text_wrap": True},
        "warn": {"bold": True, "font_color": "#C00000", "text_wrap": True},
        "note_text": {"font_color": "#595959", "text_wrap": True},
        "input": {**unlocked, "align": "right"},
        "text_input": {**unlocked, "num_format": "@"},
        "date_input": {**unlocked, "num_format": DATE_FORMAT, "align": "center"},
        "note": {**unlocked, "text_wrap": True, "valign": "top", "num_format": "@"},
        "bad": bad,
        "warnfill": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
    }
    for name in ("input", "text_input", "date_input", "note"):
        specs[name + "_bad"] = {**specs[name], **bad}
    return {name: wb.add_format(props) for name, props in specs.items()}


def _write_value(
    ws: CheckedSheet, row: int, col: int, value: Any, fmt: Any, formats: Mapping[str, Any]
) -> None:
    """Write a prefilled value as what it is; text stays text (never a formula or link)."""
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_string(row, col, str(value), fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, datetime | date):
        ws.write_datetime(
            row, col, value if isinstance(value, datetime) else datetime.combine(value, time()), fmt
        )
    else:
        ws.text(row, col, value, fmt)


def _numeric_validation(fl: Field, label: str, a1: str) -> dict[str, Any]:
    low, high = _num(fl.min), _num(fl.max)
    if fl.type == "integer":
        rule = {"validate": "integer", "criteria": "between", "minimum": low, "maximum": high}
        what = f"整数，{low}～{high:,}"
    else:
        rule = {
            "validate": "custom",
            "value": f"=AND(ISNUMBER({a1}),{a1}>={low},{a1}<={high},ROUND({a1},{fl.places})={a1})",
        }
        what = f"数字，最多 {fl.places} 位小数，{low}～{high:,}"
    message = fl.help or f"单位：{fl.unit}。请填{what}。没有请填 0。"
    return {
        **rule,
        "input_title": _clip(label, 32),
        "input_message": _clip(message, 255),
        "error_title": "输入有误",
        "error_message": _clip(f"“{label}”应填{what}（单位：{fl.unit}），不要带文字。", 255),
        "error_type": "stop",
    }


def _text_validation(kind: str, label: str, help_text: str) -> dict[str, Any]:
    if kind == "date":
        rule = {
            "validate": "date",
            "criteria": "between",
            "minimum": datetime(2000, 1, 1),
            "maximum": datetime(2099, 12, 31),
        }
        message = help_text or "请填日期，如 2023-05-30。"
    elif kind == "phone":
        rule = {"validate": "length", "criteria": "between", "minimum": 5, "maximum": 30}
        message = help_text or "请填手机或座机号码，如 0557-1234567。"
    else:
        limit = 2000 if kind == "longtext" else 50
        rule = {"validate": "length", "criteria": "<=", "value": limit}
        message = help_text or f"请填写{label}。"
    return {
        **rule,
        "input_title": _clip(label, 32),
        "input_message": _clip(message, 255),
        "error_title": "输入有误",
        "error_message": _clip(f"“{label}”格式不正确。{message}", 255),
    }


def _column_validation(c: Any, choice_range: str | None = None) -> dict[str, Any]:
    if c.type == "choice":
        return {
            "validate": "list",
            "source": choice_range or list(c.choices),
            "input_title": _clip(c.label, 32),
            "input_message": "请从下拉列表中选择。",
            "error_title": "输入有误",
            "error_message": _clip(f"“{c.label}”只能选：{'、'.join(c.choices)}。", 255),
        }
    if c.type in ("integer", "decimal"):
        kind = "integer" if c.type == "integer" else "decimal"
        return {
            "validate": kind,
            "criteria": "between",
            "minimum": _num(c.min),
            "maximum": _num(c.max),
            "input_title": _clip(c.label, 32),
            "input_message": "请填数字，没有请填 0。",
            "error_title": "输入有误",
            "error_message": _clip(f"“{c.label}”应填不小于 {_num(c.min)} 的数字。", 255),
        }
    return _text_validation(c.type, c.label, c.help)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | bool) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value


def _excel_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _legacy_hash(password: str) -> str:
    """The 16-bit password hash of ECMA-376 Part 4 (what xlsxwriter uses for sheets)."""
    digest = 0
    for char in password[::-1]:
        digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
        digest ^= ord(char)
    digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
    digest ^= len(password) ^ 0xCE4B
    return f"{digest:X}"


def _deadline_text(when: datetime) -> str:
    return f"{when.year}年{when.month}月{when.day}日 {when:%H:%M} 前"


def _date_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
