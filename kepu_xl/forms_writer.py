"""The unit's workbook: (spec, campaign, unit[, values, problems]) → xlsx bytes, built with xlsxwriter.

Sheets: 填报说明, the statistics table (统计表), the detail table (活动明细) and the very hidden
`_meta` (identity) and `_fields` (the field map, for the level below's report-up). Inputs are
unlocked and validated with Chinese prompts; totals and self-checks are locked formulas; sheets
and the workbook structure are protected; the page prints on one A4 sheet for stamping. The same builder makes feedback forms: a fresh form for the unit with the
values it sent, problem cells highlighted with a comment, and a 问题清单 sheet.

Output is deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import functools
import io
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import accumulate
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from . import audit, field_map
from . import layout as lay
from .campaign import Campaign, Unit
from .findings import Code, Finding, Severity
from .identity import PROPERTY_PREFIX, Identity
from .layout import Cell, CellMap
from .reader import Raw
from .rules import DetailStats, excel_value
from .spec import Column, Field, FormSpec, InfoField, Rule
from .xlsx_out import CheckedSheet, FastRowsWorksheet, ProtectedWorkbook, check, fix_xf_order, strict_warnings

# What a self-check (自查n) shows, and the 自查提示 of the field it points at. Every mark is what collect
# decides for the same values: a fired rule of each severity, a warning explained in 情况说明 (collect:
# 【已说明】), and a check not made because a number it reads is missing or wrong (collect skips it too).
OK_MARK, ERROR_MARK, VERIFY_MARK, WARN_MARK = "✓", "✗ 请修改", "⚠ 请核实", "⚠ 请注意"
EXPLAINED_MARK, VERIFY_EXPLAINED_MARK, SKIP_MARK = "✓ 已说明", "⚠ 已说明", "－ 先填好数字"
EXPLAINED = "已说明"  # the hidden cell next to 情况说明 once it explains (audit.explains)
# a fired rule explained in 情况说明, by severity: collect lowers a warning to a note, a 待核实 to a warning
EXPLAINED_MARKS = {Severity.WARNING: EXPLAINED_MARK, Severity.VERIFY: VERIFY_EXPLAINED_MARK}
RULE_MARKS = {Severity.ERROR: ERROR_MARK, Severity.VERIFY: VERIFY_MARK, Severity.WARNING: WARN_MARK}
# The state of a value (hidden state cell, shown as its 自查提示), as audit.parse_number/check_number judge
# it: a state starting with BAD is an error, and a rule reading that value is not checked.
BAD = "✗"
NOT_A_NUMBER, BLANK_HINT, PARTS_HINT = "✗ 请填数字", "✗ 未填写", "✗ 分项未填好"
VALUE_HINTS = {
    Code.AUDIT_DASH_ZERO: "按 0 计",
    Code.AUDIT_NEGATIVE: "✗ 不能为负",
    Code.AUDIT_OUT_OF_RANGE: "✗ 超出范围",
    Code.AUDIT_NOT_INTEGER: "✗ 应为整数",
    Code.AUDIT_DECIMALS: "✗ 小数过多",
}
# the worst first: what a field's hint shows when several self-checks point at it
HINT_ORDER = (
    (ERROR_MARK, Severity.ERROR),
    (VERIFY_MARK, Severity.VERIFY),
    (WARN_MARK, Severity.WARNING),
    (VERIFY_EXPLAINED_MARK, Severity.VERIFY),
    (EXPLAINED_MARK, Severity.WARNING),
)
Marks = list[str]  # one self-check mark per rule instance, in spec order

# Page geometry. Column widths in Excel's units (characters of the default font).
MAIN_WIDTHS = (24, 44, 10, 15, 16)
INFO_WIDTHS = (16, 80)
PROBLEM_WIDTHS = (6, 8, 16, 70)
PAGE_FOOTER = "&C第 &P 页，共 &N 页"
DETAIL_NUMBER_WIDTH = 6
DETAIL_ROWS_PER_PAGE = 25
DETAIL_TITLE_HEIGHT, DETAIL_HEADER_HEIGHT, DETAIL_ROW_HEIGHT = 30, 30, 16
LINE_HEIGHT = 15  # points per line of 11-point text
# _meta holds the identity in A:B (the reader's window); long dropdown lists go from column E on
META_CHOICE_COL = 4
DATE_FORMAT = "yyyy-mm-dd"
COMMENT_OPTIONS = {"x_scale": 2.2, "y_scale": 2.2, "author": "kepuxl"}
DXF_FORMATS = ("bad", "warnfill")  # only in conditional formats: never a cell's format
BAD_FILL = "#FFC7CE"  # a problem cell's red: the feedback form's, and 活动明细's live check
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
    return build(FormFill(spec, cells, campaign, unit, prefill, problems), identity, password)[0]


def build(fill: FormFill, identity: Identity, password: str) -> tuple[bytes, dict[str, Any]]:
    """`build_form` from a `FormFill` → (the workbook, its formats by name)."""
    buffer = io.BytesIO()
    with strict_warnings():  # every xlsxwriter warning is a bug in the form, not a footnote
        wb = ProtectedWorkbook(buffer, SAFE_OPTIONS)
        writer = _FormWriter(wb, fill, identity, password)
        writer.write()
        wb.close()
    return buffer.getvalue(), writer.fmt


class FormFill:
    """What a unit's values and problems put into its form: each input cell's value and format, every
    formula's saved result, the comments on problem cells and the 问题清单 rows.

    The writer writes exactly these, and after every fixed text of the form (so that the fixed texts
    keep their shared-string numbers whatever the unit typed); feedback_template.py patches the same into
    a template, so the two cannot disagree. A form with values or problems (a feedback form) numbers its
    cell formats up front (`xlsx_out.fix_xf_order`): a red problem cell then renumbers nothing else.
    """

    def __init__(
        self,
        spec: FormSpec,
        cells: CellMap,
        campaign: Campaign,
        unit: Unit,
        prefill: Prefill | None = None,
        problems: Sequence[Finding] = (),
    ):
        self.spec, self.cells, self.campaign, self.unit = spec, cells, campaign, unit
        self.fixed_formats = prefill is not None or bool(problems)
        self.prefill = prefill or Prefill()
        self.problems: dict[tuple[str, str], list[Finding]] = {}
        for p in problems:
            if p.sheet and p.cell:
                self.problems.setdefault((p.sheet, p.cell), []).append(p)
        self.problem_list = list(problems)
        self.bad = {_cell(sheet, ref) for sheet, ref in self.problems} - {None}  # the cells problems name
        # the 情况说明 that explains warnings (collect: the last long text of the definition)
        self.note = next((i for i in reversed(spec.info) if i.type == "longtext"), None)
        self.values = self.numeric_values()
        self.states = self.value_states()
        self.marks = self.rule_marks(self.values, self.detail_stats(), self.states)

    # -- the verdicts: state of each value, self-checks, hints (Python for the saved results, Excel live)

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

    def value_states(self) -> dict[str, str]:
        """Each field's state as collect judges it: "" fine, "按 0 计", or an error starting with BAD."""
        out: dict[str, str] = {}
        for fl in self.spec.fields:
            if fl.computed:
                out[fl.id] = PARTS_HINT if any(_bad(out.get(n, "")) for n in fl.formula.names) else ""
            else:
                out[fl.id] = value_state(fl, self.prefill.fields.get(fl.id))
        return out

    def rule_marks(self, values: Mapping[str, float], stats: DetailStats, states: Mapping[str, str]) -> Marks:
        """What each self-check shows for the prefilled values (its cell's saved result)."""
        explained = self.explained()
        out = []
        for rule in self.spec.rules:
            if any(_bad(states[n]) for n in rule.when.names):
                out.append(SKIP_MARK)
            elif not rule.when.evaluate(values, stats):
                out.append(OK_MARK)
            elif rule.severity in EXPLAINED_MARKS and explained:
                out.append(EXPLAINED_MARKS[rule.severity])
            else:
                out.append(RULE_MARKS[rule.severity])
        return out

    def explained(self) -> bool:
        """Whether the prefilled 情况说明 explains the warnings and 待核实 values (audit.explains)."""
        raw = self.prefill.info.get(self.note.id) if self.note else None
        return raw is not None and audit.explains(str(raw).strip())

    def hint_value(self, fl: Field) -> str:
        """The hint's saved result, as the writer's hint formula computes it."""
        if _bad(self.states[fl.id]):
            return self.states[fl.id]
        mine = {m for r, m in zip(self.spec.rules, self.marks, strict=True) if r.target == fl.id}
        return next((mark for mark, _ in HINT_ORDER if mark in mine), self.states[fl.id])

    def rule_shown(self, rule: Rule, mark: str) -> str:
        """The self-check text's saved result: what is checked until the rule fires, then its message."""
        message, check_text = rule_texts(self.spec, rule)
        if check_text and mark in (OK_MARK, SKIP_MARK):
            return check_text
        target = self.spec.field(rule.target)
        places = target.places if target.type == "decimal" else 0
        return message.replace(VALUE_SLOT, str(_num(round(self.values.get(rule.target, 0.0), places))))

    # -- what goes into the form's cells ---------------------------------------------------------

    def results(self) -> dict[Cell, Any]:
        """The saved result of every formula of the form, by cell."""
        spec, cells, main = self.spec, self.cells, self.spec.sheet
        out: dict[Cell, Any] = {}
        for fl in spec.fields:
            if fl.computed:
                out[Cell(main, cells.fields[fl.id].row, lay.VALUE_COL)] = _num(
                    fl.formula.evaluate(self.values)
                )
            out[cells.states[fl.id]] = self.states[fl.id]
            out[cells.hints[fl.id]] = self.hint_value(fl)
        if cells.explained is not None and self.note is not None:
            out[cells.explained] = EXPLAINED if self.explained() else ""
        for rule, cell, mark in zip(spec.rules, cells.rules, self.marks, strict=True):
            out[Cell(main, cell.row, lay.LABEL_COL)] = self.rule_shown(rule, mark)
            out[cell] = mark
        d = spec.detail
        if d is not None:
            rows = self.prefill.detail
            for c in d.columns:
                at = Cell(d.sheet, cells.detail_total, cells.detail_cols[c.id])
                if c.type in ("integer", "decimal"):
                    out[at] = _num(
                        sum(float(r.get(c.id)) for r in rows if isinstance(r.get(c.id), int | float))
                    )
                elif c.id == d.key:
                    out[at] = f"{len([r for r in rows if r.get(d.key)])} 项"
        return out

    def format_name(self, cell: Cell, base: str) -> str:
        """An input cell's format: red (`base`_bad) when a problem points at it."""
        return base + "_bad" if cell in self.bad else base

    def _own_inputs(self, filled: bool = False) -> Iterator[tuple[Cell, Any, str, int]]:
        """(cell, the unit's value, base format, last merged column) of every input, in writing order;
        `filled`: only 活动明细 rows with a value or a problem."""
        spec, cells, prefill = self.spec, self.cells, self.prefill
        for item in spec.info:
            cell = cells.info[item.id]
            base = {"longtext": "note", "date": "date_input"}.get(item.type, "text_input")
            last = lay.HINT_COL if item.type == "longtext" else cell.col  # 情况说明: merged to the hints
            yield cell, prefill.info.get(item.id), base, last
        for fl in spec.inputs:
            cell = cells.fields[fl.id]
            yield cell, prefill.fields.get(fl.id), "input", cell.col
        d = spec.detail
        if d is None:
            return
        # rows go back where the unit typed them; rows without a known place fill up from the top
        placed = {r[lay.DETAIL_ROW_KEY]: r for r in prefill.detail if lay.DETAIL_ROW_KEY in r}
        loose = iter([r for r in prefill.detail if lay.DETAIL_ROW_KEY not in r])
        problem_rows = {cell.row for cell in self.bad if cell.sheet == d.sheet}
        for i in range(d.rows):
            row = cells.detail_first + i
            given = placed.get(row) or (next(loose, {}) if not placed else {})
            if filled and not given and row not in problem_rows:
                continue
            for c in d.columns:
                col = cells.detail_cols[c.id]
                base = {"date": "date_input", "integer": "input", "decimal": "input"}.get(
                    c.type, "text_input"
                )
                yield Cell(d.sheet, row, col), given.get(c.id), base, col

    def inputs(self, filled: bool = False) -> list[tuple[Cell, Any, str]]:
        """Every input cell (and the cells merged into it) with the unit's value (None: blank) and its
        format's name, in writing order: the text fields, the numbers, then 活动明细 row by row.
        `filled`: only those with a value or a problem (the others are blank in their own format)."""
        out = []
        for cell, value, base, last in self._own_inputs(filled):
            fmt = self.format_name(cell, base)
            if filled and value is None and fmt == base:
                continue
            out.append((cell, value, fmt))
            out += [(Cell(cell.sheet, cell.row, col), None, fmt) for col in range(cell.col + 1, last + 1)]
        return out

    def input_cells(self) -> list[Cell]:
        """The input cells (without the cells merged into a 情况说明), in writing order."""
        return [cell for cell, _, _, _ in self._own_inputs()]

    def comments(self) -> dict[Cell, str]:
        """The comment on each input cell a problem points at: its problems' messages."""
        out = {}
        for cell, _, _, _ in self._own_inputs(filled=True):
            found = self.problems.get((cell.sheet, cell.a1)) if cell in self.bad else None
            if found:
                out[cell] = "\n".join(f"【{p.severity.zh}】{p.message}" for p in found)[:2000]
        return out

    def problem_title(self) -> str:
        return _wrap(f"{self.unit.name}：报送数据审核问题（请修改后重新报送本表）", PROBLEM_WIDTHS)

    def problem_rows(self) -> list[tuple[Finding, str]]:
        """The 问题清单 rows: each problem with its message broken into lines."""
        return [(p, _wrap(p.message, PROBLEM_WIDTHS[3:])) for p in self.problem_list]


def rule_texts(spec: FormSpec, rule: Rule) -> tuple[str, str]:
    """A self-check's message (VALUE_SLOT where the value goes) and what it checks ("" if nothing), each
    broken into lines for its merged cell."""
    target = spec.field(rule.target)
    columns = MAIN_WIDTHS[lay.LABEL_COL : lay.VALUE_COL + 1]
    message = _wrap(rule.message.format(label=target.label, value=VALUE_SLOT, unit=target.unit), columns)
    return message, _wrap(rule.check_text(spec), columns) if rule.check else ""


class _FormWriter:
    def __init__(self, wb: ProtectedWorkbook, fill: FormFill, identity: Identity, password: str):
        self.wb, self.fill, self.identity, self.password = wb, fill, identity, password
        self.spec, self.cells, self.campaign, self.unit = fill.spec, fill.cells, fill.campaign, fill.unit
        self.example = self.campaign.date_example  # in prompts, as in collect's messages
        self.fmt = _formats(wb, fill.fixed_formats)
        self.results = fill.results()
        # Excel keeps an inline dropdown list to 255 characters and splits it at commas: longer
        # lists, or choices with a comma, live in a range of the hidden _meta sheet instead
        self.choice_ranges: dict[str, str] = {}
        long_lists = [
            (key, choices)
            for key, choices in _choice_lists(self.spec).items()
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
        sheets = {self.spec.sheet: main}
        if self.spec.detail is not None:
            sheets[self.spec.detail.sheet] = self.detail_sheet()
        problems = self.problem_sheet() if self.fill.problem_list else None
        self.meta_sheet()
        self.fields_sheet()
        self.write_fill(
            sheets, problems
        )  # last: every fixed text comes first (feedback_template relies on it)
        main.activate()

    def write_fill(self, sheets: Mapping[str, CheckedSheet], problems: CheckedSheet | None) -> None:
        """The unit's values, the comments on its problem cells and its 问题清单 (`FormFill`), after every
        fixed text of the form."""
        for cell, value, fmt in self.fill.inputs():
            _write_value(sheets[cell.sheet], cell.row, cell.col, value, self.fmt[fmt])
        for cell, text in self.fill.comments().items():
            sheets[cell.sheet].write_comment(cell.row, cell.col, text, COMMENT_OPTIONS)
        if problems is not None:
            self.problem_rows(problems)

    def result(self, sheet: str, row: int, col: int) -> Any:
        """A formula's saved result (`FormFill.results`)."""
        return self.results[Cell(sheet, row, col)]

    def title(self) -> str:
        return f"{self.campaign.year}年{self.spec.title}"

    def protect(self, ws: CheckedSheet) -> None:
        ws.protect(self.password, {"format_columns": False, "format_rows": False, "insert_rows": False})

    # -- 填报说明 -------------------------------------------------------------------------------

    def info_sheet(self) -> None:
        c, f = self.campaign, self.fmt
        ws = CheckedSheet(self.wb.add_worksheet(lay.INFO_SHEET, FastRowsWorksheet))
        ws.set_column(0, 0, INFO_WIDTHS[0])
        ws.set_column(1, 1, INFO_WIDTHS[1])
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
            text = _wrap(f"{n}. {line}", INFO_WIDTHS[1:])
            ws.write_string(r, 1, text, f["wrap"])
            ws.set_row(r, _height(text) + 4)
            r += 1
        r += 1
        ws.merge_range(
            r, 0, r, 1, "请勿修改表格结构（不要插入/删除行列、改工作表名），否则无法自动汇总。", f["warn"]
        )
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.set_footer(PAGE_FOOTER)
        self.protect(ws)

    # -- 统计表 ---------------------------------------------------------------------------------

    def main_sheet(self) -> CheckedSheet:
        spec, cells, f = self.spec, self.cells, self.fmt
        ws = CheckedSheet(self.wb.add_worksheet(spec.sheet, FastRowsWorksheet))
        for col, width in enumerate(MAIN_WIDTHS):
            ws.set_column(col, col, width)
        ws.set_column(lay.STATE_COL, lay.STATE_COL, 16, None, {"hidden": True})
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
                text = _wrap(title, MAIN_WIDTHS[:1])
                ws.merge_range(first, lay.SECTION_COL, last, lay.SECTION_COL, text, f["section"])
        for fl in spec.fields:
            self.field_row(ws, fl)
        for item in spec.info:
            if item.type == "longtext":
                cell = cells.info[item.id]
                ws.write_string(cell.row, lay.SECTION_COL, item.label, f["section"])
                ws.set_row(cell.row, 66)
        if cells.explained is not None and self.fill.note is not None:
            formula = "=" + _explained_formula(cells.info[self.fill.note.id].a1)
            cached = self.results[cells.explained]
            ws.write_formula(cells.explained.row, cells.explained.col, formula, f["hint"], cached)
        self.rule_block(ws)
        self.main_page(ws)
        self.protect(ws)
        return ws

    def field_row(self, ws: CheckedSheet, fl: Field) -> None:
        """One field's row: section and label (wrapped where sensible), unit, value or total, state, hint."""
        f, cells = self.fmt, self.cells
        cell = cells.fields[fl.id]
        row = cell.row
        first, last, title = next(s for s in cells.sections if s[0] <= row <= s[1])
        texts = []
        if first == last and fl.label == title:
            ws.merge_range(row, lay.SECTION_COL, row, lay.LABEL_COL, fl.label, f["section"])
        else:
            if first == last:
                texts.append(_wrap(title, MAIN_WIDTHS[:1]))
                ws.write_string(row, lay.SECTION_COL, texts[-1], f["section"])
            texts.append(_wrap(fl.label, MAIN_WIDTHS[1:2]))
            ws.write_string(row, lay.LABEL_COL, texts[-1], f["label"])
        if any("\n" in t for t in texts):
            ws.set_row(row, max(_height(t) for t in texts))
        ws.write_string(row, lay.UNIT_COL, fl.unit, f["center"])
        if fl.computed:
            formula = "=" + fl.formula.to_excel(self.ref)
            cached = self.result(self.spec.sheet, row, lay.VALUE_COL)
            ws.write_formula(row, lay.VALUE_COL, formula, f["computed"], cached)
        else:
            self.numeric_input(ws, fl, cell)
        state, hint = cells.states[fl.id], cells.hints[fl.id]
        ws.write_formula(state.row, state.col, "=" + self.state_formula(fl), f["hint"], self.results[state])
        ws.write_formula(hint.row, hint.col, "=" + self.hint_formula(fl), f["hint"], self.results[hint])

    def main_page(self, ws: CheckedSheet) -> None:
        """One A4 portrait page, title to the last self-check, with the stamp line in the footer."""
        last, f = self.cells.last_row, self.fmt
        ws.set_paper(9)
        ws.set_portrait()
        ws.fit_to_pages(1, 1)
        ws.center_horizontally()
        ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.7)
        ws.print_area(0, 0, last, lay.HINT_COL)
        ws.set_footer("&L单位（盖章）：          填表人：&C第 &P 页，共 &N 页&R日期：    年  月  日")
        for mark, fmt in ((BAD, f["bad"]), ("⚠", f["warnfill"])):
            ws.conditional_format(
                0,
                lay.HINT_COL,
                last,
                lay.HINT_COL,
                {"type": "text", "criteria": "begins with", "value": mark, "format": fmt},
            )

    def ref(self, field_id: str) -> str:
        return self.cells.fields[field_id].a1

    def detail_ref(self, column: str | None) -> str:
        d = self.spec.detail
        assert d is not None
        if column is None:
            return f"COUNTA({self.cells.detail_range(d.key)})"
        return f"SUM({self.cells.detail_range(column)})"

    def input_format(self, cell: Cell, base: str) -> Any:
        return self.fmt[self.fill.format_name(cell, base)]

    def numeric_input(self, ws: CheckedSheet, fl: Field, cell: Cell) -> None:
        """The input's validation; its value comes with the unit's (`write_fill`)."""
        ws.data_validation(cell.row, cell.col, cell.row, cell.col, _numeric_validation(fl, fl.label, cell.a1))

    def info_input(self, ws: CheckedSheet, item: InfoField) -> None:
        info_id, kind = item.id, item.type
        cell = self.cells.info[info_id]
        if kind == "longtext":
            ws.merge_range(cell.row, cell.col, cell.row, lay.HINT_COL, "", self.input_format(cell, "note"))
        validation = _column_validation(item, self.choice_ranges.get(_INFO_KEY + info_id), self.example)
        ws.data_validation(cell.row, cell.col, cell.row, cell.col, validation)

    # -- the verdicts: state of each value, self-checks, hints (Python for the saved results, Excel live)

    def state_formula(self, fl: Field) -> str:
        if not fl.computed:
            return _state_formula(fl, self.ref(fl.id), fl.required)
        parts = [f'LEFT({self.cells.states[n].a1},1)="{BAD}"' for n in fl.formula.names]
        return f'IF(OR({",".join(parts)}),"{PARTS_HINT}","")' if parts else '""'

    def rule_formula(self, rule: Rule) -> str:
        """The self-check: not made over a missing or wrong number, else its mark when the rule fires."""
        fired = f'"{RULE_MARKS[rule.severity]}"'
        if rule.severity in EXPLAINED_MARKS and self.cells.explained is not None:
            mark = EXPLAINED_MARKS[rule.severity]
            fired = f'IF({self.cells.explained.a1}="{EXPLAINED}","{mark}",{fired})'
        expr = f'IF({self.condition(rule)},{fired},"{OK_MARK}")'
        bad = [f'LEFT({self.cells.states[n].a1},1)="{BAD}"' for n in rule.when.names]
        return f'IF(OR({",".join(bad)}),"{SKIP_MARK}",{expr})' if bad else expr

    def hint_formula(self, fl: Field) -> str:
        """The field's 自查提示: its own error first, else the worst mark of the self-checks on it."""
        state = self.cells.states[fl.id].a1
        mine = [(r, c) for r, c in zip(self.spec.rules, self.cells.rules, strict=True) if r.target == fl.id]
        expr = state
        for mark, severity in reversed(HINT_ORDER):
            hits = [f'{c.a1}="{mark}"' for r, c in mine if r.severity is severity]
            if hits:
                expr = f'IF(OR({",".join(hits)}),"{mark}",{expr})'
        return f'IF(LEFT({state},1)="{BAD}",{state},{expr})' if mine else state

    def condition(self, rule: Rule) -> str:
        return rule.when.to_excel(self.ref, self.detail_ref if self.spec.detail else None)

    def rule_block(self, ws: CheckedSheet) -> None:
        if not self.spec.rules:
            return
        f, first = self.fmt, self.cells.rules[0].row - 1
        ws.write_string(first, lay.SECTION_COL, "自查项目", f["header"])
        ws.merge_range(
            first, lay.LABEL_COL, first, lay.VALUE_COL, "自查内容（表格根据填写的数据自动检查）", f["header"]
        )
        ws.write_string(first, lay.HINT_COL, "自查结果", f["header"])
        for n, (rule, cell) in enumerate(zip(self.spec.rules, self.cells.rules, strict=True), 1):
            ws.write_string(cell.row, lay.SECTION_COL, f"自查{n}（{rule.severity.zh}）", f["center"])
            ws.merge_range(cell.row, lay.LABEL_COL, cell.row, lay.VALUE_COL, "", f["wrap_locked"])
            formula, lines = self.rule_text(rule, cell)
            shown = self.result(cell.sheet, cell.row, lay.LABEL_COL)
            ws.write_formula(cell.row, lay.LABEL_COL, "=" + formula, f["wrap_locked"], shown)
            ws.set_row(cell.row, max(30, _height("\n" * (lines - 1))))
            ws.write_formula(cell.row, cell.col, "=" + self.rule_formula(rule), f["hint"], self.results[cell])

    def rule_text(self, rule: Rule, cell: Cell) -> tuple[str, int]:
        """The self-check's text as a formula (what is checked until it fires, then the message with the
        value; its saved result is `FormFill.rule_shown`) and its lines."""
        message, check_text = rule_texts(self.spec, rule)
        target = self.spec.field(rule.target)
        places = target.places if target.type == "decimal" else 0
        formula = _text_formula(message, f"ROUND({excel_value(self.ref(rule.target))},{places})")
        lines = message.count("\n") + 1
        if check_text:  # until the rule fires, say what is checked rather than a message with a value
            quiet = f'OR({cell.a1}="{OK_MARK}",{cell.a1}="{SKIP_MARK}")'
            formula = f"IF({quiet},{_text_formula(check_text, '')},{formula})"
            lines = max(lines, check_text.count("\n") + 1)
        return formula, lines

    # -- 活动明细 -------------------------------------------------------------------------------

    def detail_sheet(self) -> CheckedSheet:
        d, cells, f = self.spec.detail, self.cells, self.fmt
        assert d is not None
        ws = CheckedSheet(self.wb.add_worksheet(d.sheet, FastRowsWorksheet))
        ncol = len(d.columns)
        widths = (DETAIL_NUMBER_WIDTH, *(c.width for c in d.columns))
        ws.merge_range(0, 0, 0, ncol, f"{self.campaign.year}年{d.title}（{self.unit.name}）", f["title"])
        note = _wrap(
            f"每项活动填一行；“形式”“类别”请从下拉列表选择；日期格式如 {self.example}。没有活动的不用填写。",
            widths,
        )
        ws.merge_range(1, 0, 1, ncol, note, f["note_text"])
        ws.set_column(0, 0, DETAIL_NUMBER_WIDTH)
        ws.write_string(cells.detail_header, 0, "序号", f["header"])
        for c in d.columns:
            col = cells.detail_cols[c.id]
            ws.set_column(col, col, c.width)
            ws.write_string(cells.detail_header, col, c.label, f["header"])
        for i in range(d.rows):  # the rows' values come with the unit's (`write_fill`)
            ws.write_number(cells.detail_first + i, 0, i + 1, f["center"])
        total = cells.detail_total
        ws.write_string(total, 0, "合计", f["header"])
        for c in d.columns:
            col = cells.detail_cols[c.id]
            first, last = cells.detail_first, cells.detail_last
            rng = f"{xl_rowcol_to_cell(first, col)}:{xl_rowcol_to_cell(last, col)}"
            if c.type in ("integer", "decimal"):
                ws.write_formula(total, col, f"=SUM({rng})", f["computed"], self.result(d.sheet, total, col))
                # a value collect would warn about (text, 约300, negative, too many places) turns red as it
                # is pasted in: the same state formula as a field's, on the range's first cell (relative)
                state = _state_formula(c, xl_rowcol_to_cell(first, col), required=False)
                ws.conditional_format(
                    first,
                    col,
                    last,
                    col,
                    {"type": "formula", "criteria": f'=LEFT({state},1)="{BAD}"', "format": f["bad"]},
                )
            elif c.id == d.key:
                cached = self.result(d.sheet, total, col)
                ws.write_formula(total, col, f'=COUNTA({rng})&" 项"', f["computed"], cached)
            else:
                ws.write_blank(total, col, None, f["computed"])
            validation = _column_validation(c, self.choice_ranges.get(c.id), self.example)
            ws.data_validation(first, col, last, col, validation)
        ws.freeze_panes(cells.detail_first, 2)
        self.detail_pages(ws, widths, _height(note))
        self.protect(ws)
        return ws

    def detail_pages(self, ws: CheckedSheet, widths: Sequence[float], note_height: float) -> None:
        """Landscape A4 pages of equal share, each with the header row, 合计 on the last page with its rows.

        A fixed scale and manual page breaks, not fit-to-page: Excel ignores manual breaks when fitting.
        """
        cells, d = self.cells, self.spec.detail
        assert d is not None
        pages = max(1, math.ceil(d.rows / DETAIL_ROWS_PER_PAGE))
        per_page = math.ceil(d.rows / pages)
        heights = (DETAIL_TITLE_HEIGHT, note_height, DETAIL_HEADER_HEIGHT)
        for row, height in enumerate(heights):
            ws.set_row(row, height)
        for row in range(cells.detail_first, cells.detail_total + 1):
            ws.set_row(row, DETAIL_ROW_HEIGHT)
        tallest = sum(heights) + (per_page + 1) * DETAIL_ROW_HEIGHT  # the first page, or the last with 合计
        ws.set_paper(9)
        ws.set_landscape()
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        width_pt = sum(_column_px(w) for w in widths) * 0.75
        usable_w, usable_h = (842 - 0.8 * 72) * 0.9, (595 - 1.1 * 72) * 0.95
        ws.set_print_scale(max(10, min(100, int(100 * min(usable_w / width_pt, usable_h / tallest)))))
        ws.set_h_pagebreaks([cells.detail_first + k * per_page for k in range(1, pages)])
        ws.repeat_rows(cells.detail_header)
        ws.print_area(0, 0, cells.detail_total, len(d.columns))
        ws.set_footer("&L单位（盖章）：&C第 &P 页，共 &N 页&R填表人：")

    # -- 问题清单 (feedback) and _meta ----------------------------------------------------------

    def problem_sheet(self) -> CheckedSheet:
        """问题清单's fixed part; its title and rows come with the unit's values (`problem_rows`)."""
        f = self.fmt
        ws = CheckedSheet(self.wb.add_worksheet(lay.FEEDBACK_SHEET, FastRowsWorksheet))
        for col, width in enumerate(PROBLEM_WIDTHS):
            ws.set_column(col, col, width)
        for col, text in enumerate(("序号", "级别", "位置", "问题及修改方法")):
            ws.write_string(1, col, text, f["header"])
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(1)
        ws.set_footer(PAGE_FOOTER)
        self.protect(ws)
        return ws

    def problem_rows(self, ws: CheckedSheet) -> None:
        f = self.fmt
        title = self.fill.problem_title()
        ws.merge_range(0, 0, 0, 3, title, f["title_wrap"])
        ws.set_row(0, max(30, _height(title, 22)))
        for n, (p, message) in enumerate(self.fill.problem_rows(), start=1):
            ws.write_number(n + 1, 0, n, f["center"])
            ws.write_string(n + 1, 1, p.severity.zh, f["center"])
            ws.text(n + 1, 2, p.location, f["center"])
            ws.text(n + 1, 3, message, f["wrap_locked"])
            ws.set_row(n + 1, _height(message) + 4)

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

    def fields_sheet(self) -> None:
        """The field-id → cell map, for the level below's report-up (field_map.py); collect never reads it."""
        ws = CheckedSheet(self.wb.add_worksheet(lay.FIELDS_SHEET, FastRowsWorksheet))
        for row, texts in enumerate(field_map.rows(self.spec, self.cells)):
            for col, text in enumerate(texts):
                if text:
                    ws.write_string(row, col, text)
        ws.very_hidden()
        self.protect(ws)


# -- helpers ---------------------------------------------------------------------------------------

_INFO_KEY = "info:"  # a choice field around the table, apart from the detail columns (ids have no ':')


def _choice_lists(spec: FormSpec) -> dict[str, tuple[str, ...]]:
    """Every drop-down list of the form: detail columns by id, choice fields by info:id."""
    lists = {_INFO_KEY + i.id: i.choices for i in spec.info if i.type == "choice"}
    columns = spec.detail.columns if spec.detail else ()
    return {**{c.id: c.choices for c in columns if c.type == "choice"}, **lists}


def _formats(wb: xlsxwriter.Workbook, fixed: bool = False) -> dict[str, Any]:
    """The form's formats by name; `fixed`: the cell formats numbered up front (`FormFill`)."""
    base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "border": 1}
    locked = {**base, "bg_color": "#F2F2F2"}
    unlocked = {**base, "locked": False, "bg_color": "#FFFFFF"}
    bad = {"bg_color": BAD_FILL, "font_color": "#9C0006"}
    specs = {
        "title": {"font_name": "黑体", "font_size": 16, "bold": True, "align": "center", "valign": "vcenter"},
        "title_wrap": {
            "font_name": "黑体",
            "font_size": 16,
            "bold": True,
            "align": "center",
            "valign": "vcenter",
            "text_wrap": True,
        },
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
    formats = {name: wb.add_format(props) for name, props in specs.items()}
    if fixed:
        fix_xf_order(fmt for name, fmt in formats.items() if name not in DXF_FORMATS)
    return formats


_REF = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")


def _cell(sheet: str, ref: str) -> Cell | None:
    """The cell `ref` names ("D7"), if it is written as kepuxl writes one (not "$D$7", not "d7")."""
    m = _REF.fullmatch(ref)
    if m is None:
        return None
    col = 0
    for ch in m[1]:
        col = col * 26 + ord(ch) - 64
    cell = Cell(sheet, int(m[2]) - 1, col - 1)
    return cell if cell.a1 == ref else None


def cell_content(value: Any) -> tuple[str, Any]:
    """How a prefilled value is written, as what it is: ("blank", None), ("string", text) as it is,
    ("number", x), ("date", datetime) or ("text", value) through `CheckedSheet.text` (never a formula
    or a link)."""
    if value is None or value == "":
        return "blank", None
    if isinstance(value, bool):
        return "string", str(value)
    if isinstance(value, int | float):
        return "number", value
    if isinstance(value, datetime | date):
        return "date", value if isinstance(value, datetime) else datetime.combine(value, time())
    return "text", value


def _write_value(ws: CheckedSheet, row: int, col: int, value: Any, fmt: Any) -> None:
    kind, content = cell_content(value)
    if kind == "blank":
        ws.write_blank(row, col, None, fmt)
    elif kind == "string":
        ws.write_string(row, col, content, fmt)
    elif kind == "number":
        ws.write_number(row, col, content, fmt)
    elif kind == "date":
        ws.write_datetime(row, col, content, fmt)
    else:
        ws.text(row, col, content, fmt)


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


def _text_validation(kind: str, label: str, help_text: str, example: str) -> dict[str, Any]:
    if kind == "date":
        rule = {
            "validate": "date",
            "criteria": "between",
            "minimum": datetime(2000, 1, 1),
            "maximum": datetime(2099, 12, 31),
        }
        message = help_text or f"请填日期，如 {example}。"
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


def _column_validation(c: Any, choice_range: str | None, example: str) -> dict[str, Any]:
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
    return _text_validation(c.type, c.label, c.help, example)


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


# -- the state of a value: the same verdict in Python (saved results) and in every office suite ------


def value_state(fl: Field, value: Any) -> str:
    """A field's state for a value as the reader returns it, decided by the audit's own functions."""
    parsed = audit.parse_number(Raw(value, _kind(value), Cell("", 0, 0)))
    if parsed.value is None:
        if parsed.code is None:  # blank
            return BLANK_HINT if fl.required else ""
        return NOT_A_NUMBER
    problem = audit.check_number(parsed.value, fl)
    return VALUE_HINTS[problem[0]] if problem else VALUE_HINTS.get(parsed.code, "")


def _kind(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int | float):
        return "n"
    return "d" if isinstance(value, date | datetime) else "s"


def _explained_formula(note: str) -> str:
    """audit.explains as a formula: every ignored character taken out, then at least N characters left."""
    text = note
    for ch in audit.EXPLANATION_IGNORED:
        literal = f"CHAR({ord(ch)})" if ord(ch) < 32 else '"' + ch.replace('"', '""') + '"'
        text = f'SUBSTITUTE({text},{literal},"")'
    return f'IF(LEN({text})>={audit.EXPLANATION_MIN_CHARS},"{EXPLAINED}","")'


def _state_formula(fl: Field | Column, x: str, required: bool) -> str:
    """`value_state` as a formula over the input cell `x`, with functions every office suite computes alike
    (`required`: a blank is an error, as for a field of the table; a detail row's cell may stay blank).

    A number: its range and places, in check_number's order. Anything else: with the spaces parse_number
    ignores removed and any "|" made "#", FIND it between bars in "||-|--|…|无|": found first, it is
    blank; found later, one of audit.ZERO_WORDS (none holds "|" or "#", so only a whole word matches);
    not found, or an error value, it is not a number.
    """
    squeezed = x
    for space in audit.ZERO_SPACES:
        squeezed = f'SUBSTITUTE({squeezed},"{space}","")'
    words = "||" + "|".join(audit.ZERO_WORDS) + "|"
    places = fl.places if fl.type == "decimal" else 0
    places_hint = VALUE_HINTS[Code.AUDIT_DECIMALS if fl.type == "decimal" else Code.AUDIT_NOT_INTEGER]
    number = (
        f'IF({x}<0,"{VALUE_HINTS[Code.AUDIT_NEGATIVE]}",'
        f'IF({x}>{_num(fl.max)},"{VALUE_HINTS[Code.AUDIT_OUT_OF_RANGE]}",'
        f'IF(ROUND({x},{places})<>{x},"{places_hint}","")))'
    )
    blank = f'"{BLANK_HINT}"' if required else '""'
    found = f'FIND("|"&SUBSTITUTE({squeezed},"|","#")&"|","{words}")'
    text = f'IFERROR(IF({found}=1,{blank},"{VALUE_HINTS[Code.AUDIT_DASH_ZERO]}"),"{NOT_A_NUMBER}")'
    return f"IF(ISNUMBER({x}),{number},{text})"


def _bad(state: str) -> bool:
    return state.startswith(BAD)


def _text_formula(text: str, value: str) -> str:
    """Text with VALUE_SLOT and line breaks as a formula: `"…"&value&CHAR(10)&"…"`."""
    parts = []
    for piece in re.split(f"({VALUE_SLOT}|\n)", text):
        if piece == VALUE_SLOT:
            parts.append(value)
        elif piece == "\n":
            parts.append("CHAR(10)")
        elif piece:
            parts.append(_excel_string(piece))
    return "&".join(parts) or '""'


# -- line breaks at sensible points ---------------------------------------------------------------

VALUE_SLOT = "\0"  # where a rule message shows its value; measured as VALUE_UNITS wide
VALUE_UNITS = 8
OPENING = "（“‘《〈【「『([{"
CLOSING = "）”’》〉】」』)]}，,。.、；;：:！!？?％%"
_ATOM = re.compile(r"[A-Za-z0-9_.,:%+\-/]+|.", re.S)


@functools.lru_cache(maxsize=4096)  # the same labels, messages and titles in every unit's form
def _wrap(text: str, columns: tuple[float, ...]) -> str:
    """`text` with line breaks so that each line fits the columns in any office suite, broken at
    sensible points: never before a closing or after an opening bracket or quote, preferably after a
    clause, and never leaving a character or two alone on the last line."""
    capacity = _capacity(columns)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        atoms, first = _atoms(paragraph), len(lines)
        while _units("".join(atoms)) > capacity:
            cut = _cut(atoms, capacity)
            lines.append("".join(atoms[:cut]).rstrip())
            atoms = atoms[cut:]
            if atoms and atoms[0].isspace():
                atoms = atoms[1:]
        if atoms or len(lines) == first:
            lines.append("".join(atoms))
    return "\n".join(lines)


def _atoms(text: str) -> list[str]:
    """Pieces never split across lines: an ASCII word or number or one other character, with opening
    brackets and quotes joined to what follows and closing punctuation to what precedes."""
    out: list[str] = []
    glue = False
    for piece in _ATOM.findall(text):
        if out and (glue or piece[0] in CLOSING):
            out[-1] += piece
        else:
            out.append(piece)
        glue = piece[-1] in OPENING
    return out


def _cut(atoms: list[str], capacity: int) -> int:
    """How many atoms go on the next line: up to the best break in the second half of what fits; with
    none, an even split when the rest takes two lines; else all that fits."""
    widths = list(accumulate(_units(a) for a in atoms))
    fits = max(1, sum(1 for w in widths if w <= capacity))
    best, score = fits, 0
    for i in range(fits, 0, -1):
        if widths[i - 1] * 2 < capacity or i == len(atoms):
            break
        if (found := _break_score(atoms[i - 1], atoms[i])) > score:
            best, score = i, found
    if score == 0 and widths[-1] <= 2 * capacity:
        return min(range(1, fits + 1), key=lambda i: abs(2 * widths[i - 1] - widths[-1]))
    return best


def _break_score(before: str, after: str) -> int:
    """3 after the end of a clause, 2 around a bracket or after 、, 1 at a quote or space, else 0."""
    tail = before[len(before.rstrip(CLOSING)) :]
    if any(ch in "，,。；;！!？?" for ch in tail):
        return 3
    if any(ch in "）)、" for ch in tail) or after[0] in "（(":
        return 2
    return int(bool(tail) or after[0] in OPENING or before[-1].isspace() or after[0].isspace())


def _units(text: str) -> int:
    """Width in half-width characters: Chinese characters, full-width and ambiguous ones count 2."""
    return sum(
        VALUE_UNITS if ch == VALUE_SLOT else 2 if unicodedata.east_asian_width(ch) in "WFA" else 1
        for ch in text
    )


def _column_px(width: float) -> int:
    """Excel's pixel width of a column `width` characters wide (as xlsxwriter computes it)."""
    return int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)


def _capacity(columns: Sequence[float]) -> int:
    """Half-width characters that fit the columns with room to spare in every suite: 11-point SimSun
    draws a Chinese character 15 px wide (LibreOffice's fonts are narrower), a cell pads 3 px a side."""
    return int((sum(_column_px(w) for w in columns) - 6) / 7.5 * 0.92)


def _height(text: str, line: float = LINE_HEIGHT) -> float:
    """A row height (points) for the lines of `text`."""
    return line * (text.count("\n") + 1) + 3
