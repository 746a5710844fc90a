"""Definition workbooks: a form definition as a spreadsheet ↔ the raw tables spec.py builds a `FormSpec` from.

XLSForm showed that people who never program write forms happily in a spreadsheet, one row per question.
A definition workbook has the sheets 表单 (项目 | 内容 rows: 编号, 版本, 表名, 工作表名, 填表说明, 明细…),
指标 (one row per field: the numeric fields, grouped by 分组, and the text fields around the table),
规则 (one row per rule, in the rule language of rules.py), 明细 (one row per column of the detail table)
and 说明 (how to fill it in; never read). Headers are Chinese; the TOML keys are accepted as aliases.

`read`: workbook bytes → the dict the TOML path gives, each table a `Located` that remembers the
cell of every value, so the one builder of spec.py checks both kinds of definition and its findings
point at 工作表!单元格 (pyxform's `__row`). Only the workbook's own shape (a sheet that cannot be read,
an unknown column) is judged here. `write`: such a dict → workbook bytes (xlsxwriter, deterministic),
with drop-downs on the columns of fixed words; `spec.spec_raw` gives that dict for a checked definition.
This module sits below spec.py (which reads a workbook definition through it) and never imports it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from .book import Book, Sheet
from .findings import Code, Findings
from .xlsx_out import CheckedSheet, strict_warnings

FORM, FIELDS, RULES, DETAIL, README = "表单", "指标", "规则", "明细", "说明"
SHEET_ALIASES = {FORM: ("form",), FIELDS: ("fields",), RULES: ("rules",), DETAIL: ("detail",)}

# (key, header): the order is the order of the columns written
FORM_KEYS = (
    ("id", "编号"),
    ("version", "版本"),
    ("title", "表名"),
    ("sheet", "工作表名"),
    ("subtitle", "副标题"),
    ("instructions", "填表说明"),
    ("detail_sheet", "明细工作表名"),
    ("detail_title", "明细标题"),
    ("detail_rows", "明细行数"),
    ("detail_key", "明细计数列"),
)
FIELD_COLUMNS = (
    ("id", "编号"),
    ("section", "分组"),
    ("section_id", "分组编号"),
    ("label", "标签"),
    ("unit", "单位"),
    ("type", "类型"),
    ("places", "小数位"),
    ("required", "必填"),
    ("min", "最小"),
    ("max", "最大"),
    ("formula", "公式"),
    ("help", "提示"),
    ("choices", "选项"),
)
RULE_COLUMNS = (
    ("id", "编号"),
    ("each", "指标"),
    ("when", "条件"),
    ("severity", "级别"),
    ("message", "提示"),
    ("check", "自查说明"),
)
DETAIL_COLUMNS = (
    ("id", "编号"),
    ("label", "标签"),
    ("type", "类型"),
    ("choices", "选项"),
    ("width", "宽度"),
    ("places", "小数位"),
    ("min", "最小"),
    ("max", "最大"),
    ("help", "提示"),
)

# the words of the columns with fixed values, in the workbook's order (the drop-down's)
FIELD_TYPES = {"整数": "integer", "小数": "decimal", "文本": "text", "电话": "phone", "日期": "date"}
FIELD_TYPES |= {"长文本": "longtext", "选项": "choice"}
DETAIL_TYPES = {"文本": "text", "日期": "date", "选项": "choice", "整数": "integer", "小数": "decimal"}
SEVERITIES = {"错误": "error", "待核实": "verify", "警告": "warning"}
FLAGS = {"是": True, "否": False}
_FLAG_ALIASES = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

TEXT_KEYS = {"id", "section", "section_id", "label", "unit", "formula", "help", "message", "check", "when"}
TEXT_KEYS |= {"title", "sheet", "version", "subtitle", "detail_sheet", "detail_title", "detail_key"}
NUMBER_KEYS = {"places", "min", "max", "width", "detail_rows"}
LIST_KEYS = {"each", "choices"}
WINDOW = (1999, 25)  # rows and columns read from each sheet: a definition has tens of rows
_LIST_SPLIT = re.compile(r"\s*[\n、，,；;]\s*")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_HEADER_NOTE = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")  # "类型（整数/小数）" is the column 类型


# the 指标 rows that are the fields around the table, not numbers (spec.py's builder uses the same list)
INFO_TYPES = ("text", "phone", "date", "longtext", "choice")


class Located(dict):
    """One table of a definition read from a workbook: its values and, per key, the cell it came from.

    The builder checks it as it checks a TOML table and puts each finding at `sheet`!cell (pyxform's
    `__row`): the key is named by the workbook's column header (`names`), and a value outside a fixed
    list is answered in the workbook's own words for that list (`allowed`).
    """

    __slots__ = ("allowed", "anchor", "cells", "names", "sheet", "where")

    def __init__(
        self,
        values: Any = (),
        *,
        sheet: str = "",
        where: str = "",
        anchor: str = "",
        cells: dict[str, str] | None = None,
        names: dict[str, str] | None = None,
        allowed: dict[str, str] | None = None,
    ):
        super().__init__(values)
        self.sheet, self.where, self.anchor = sheet, where, anchor
        self.cells, self.names, self.allowed = cells or {}, names or {}, allowed or {}

    def cell(self, key: str | None) -> str:
        return self.cells.get(key or "", self.anchor)


def is_workbook(data: bytes) -> bool:
    """A spreadsheet by its first bytes (zip: .xlsx/.ods; OLE: .xls/.et), never by its name."""
    return data.startswith(b"PK\x03\x04") or data.startswith(bytes.fromhex("d0cf11e0a1b11ae1"))


def load_book(
    data: bytes, name: str, window: tuple[int, int] = WINDOW, only: str | None = None
) -> tuple[Book | None, str]:
    """A workbook a clerk gave (a definition, a table from above, last year's summary) → (Book, "") or
    (None, why not). `only`: read that sheet's cells alone (the others are only listed).

    The bytes pass the inbox's pre-check first (zip bombs, DTDs, encryption are refused the same way).
    """
    from . import book, book_legacy
    from .intake import precheck

    kind, problems = precheck(data, name=name)
    if kind == "rejected":
        error = problems[0].context.get("error")
        return None, problems[0].code.title + (f"（{error}）" if error else "")
    if kind not in ("xlsx", "xls", "ods"):
        return None, "文件不是 Excel/WPS/LibreOffice 工作簿"
    windows, default = ({only: window}, None) if only else ({}, window)
    try:
        if kind == "xlsx":
            return book.load_xlsx(data, windows, default=default, merges=True), ""
        load = book_legacy.load_xls if kind == "xls" else book_legacy.load_ods
        return load(data, windows, default=default or (0, 0)), ""  # legacy: the others' A1 only
    except Exception as exc:  # a parser's own error on a damaged file: say so, never crash
        return None, f"文件已损坏或格式不受支持（{type(exc).__name__}）"


# -- reading ---------------------------------------------------------------------------------------------


def read(data: bytes, name: str, out: Findings) -> dict[str, Any] | None:
    """A definition workbook → the raw tables, `Located` at their cells; None when it cannot be read."""
    book, why = load_book(data, name)
    if book is None:
        out.add(Code.SPEC_WORKBOOK, file=name, error=why)
        return None
    reader = _Reader(book, name, out)
    return reader.raw()


class _Reader:
    def __init__(self, book: Book, name: str, out: Findings):
        self.book, self.name, self.out = book, name, out

    def sheet(self, title: str) -> Sheet | None:
        names = {title, *SHEET_ALIASES.get(title, ())}
        return next((s for n, s in self.book.sheets.items() if n.strip().casefold() in names), None)

    def raw(self) -> dict[str, Any]:
        top = Located(sheet=FIELDS, where="定义工作簿", anchor="A1")
        top.names["[[sections]]"] = "指标（“指标”工作表中至少一行整数或小数指标）"
        top.names["[form]"] = "工作表“表单”"
        form, detail_keys = self.form()
        top["form"] = form
        sections, info = self.fields()
        if sections:
            top["sections"] = sections
        if info:
            top["info"] = info
        rules = list(self.rows(RULES, RULE_COLUMNS, {"severity": SEVERITIES}))
        if rules:
            top["rules"] = rules
        columns = list(self.rows(DETAIL, DETAIL_COLUMNS, {"type": DETAIL_TYPES}))
        if columns or detail_keys:
            detail_keys["columns"] = columns
            top["detail"] = detail_keys
        return top

    def form(self) -> tuple[Located, Located]:
        """The 表单 sheet: key | value rows (填表说明 may repeat, one line each) → [form] and [detail]."""
        sheet = self.sheet(FORM)
        title = sheet.name if sheet else FORM
        where = f"工作表“{title}”" + ("" if sheet else "（工作簿中没有这张工作表）")
        names = {k: h for k, h in FORM_KEYS}
        form = Located(sheet=title, where=where, anchor="A1", names=names)
        detail = Located(sheet=title, where=where, anchor="A1")
        detail.names = {"sheet": "明细工作表名", "title": "明细标题", "rows": "明细行数", "key": "明细计数列"}
        if sheet is None:
            return form, detail
        keys = _lookup(FORM_KEYS)
        lines: list[str] = []
        for row in sorted({r for r, _ in sheet.cells}):
            label = sheet.text(row, 0)
            key = keys.get(_header(label))
            if not label or (row == 0 and label in ("项目", "item")):
                continue
            if key is None:
                self.unknown(title, row, 0, label, (h for _, h in FORM_KEYS))
                continue
            value = _value(sheet, row, 1, "text" if key == "instructions" else key)
            if key == "instructions":
                lines += [value] if value else []
                form.cells.setdefault(key, _a1(row, 1))
            elif value in (None, ""):
                continue
            elif key.startswith("detail_"):
                detail[key.removeprefix("detail_")] = value
                detail.cells[key.removeprefix("detail_")] = _a1(row, 1)
            else:
                form[key], form.cells[key] = value, _a1(row, 1)
        if lines:
            form["instructions"] = lines
        return form, detail

    def fields(self) -> tuple[list[Located], list[Located]]:
        """The 指标 sheet: numeric rows grouped into sections by 分组 (a blank 分组 continues the one
        above), text rows (文本/电话/日期/长文本/选项) are the fields around the table."""
        sections: list[Located] = []
        info: list[Located] = []
        title = section_id = None
        for row in self.rows(FIELDS, FIELD_COLUMNS, {"type": FIELD_TYPES, "required": FLAGS}):
            new_title, new_id = row.pop("section", None), row.pop("section_id", None)
            if row.get("type") in INFO_TYPES:
                info.append(row)
                continue
            if not sections or (new_title and new_title != title) or (new_id and new_id != section_id):
                title, section_id = new_title, new_id
                sections.append(self.section(row, title, section_id))
            sections[-1]["fields"].append(row)
        return sections, info

    @staticmethod
    def section(row: Located, title: str | None, section_id: str | None) -> Located:
        """A section begun by field row `row`: its 分组 (and 分组编号) located at that row."""
        section = Located(sheet=row.sheet, where=row.where, anchor=row.anchor)
        section.names = {"title": "分组", "id": "分组编号", "fields": "指标"}
        section.cells = {"title": row.cells.get("section", row.anchor), "id": row.cells.get("section_id", "")}
        section.update({"title": title or "", "fields": []})
        if section_id:
            section["id"] = section_id
        return section

    def rows(
        self, title: str, columns: tuple[tuple[str, str], ...], words: dict[str, Any]
    ) -> Iterator[Located]:
        """One `Located` per filled row of a table sheet whose first row names the columns."""
        sheet = self.sheet(title)
        if sheet is None:
            return
        keys, headers = _lookup(columns), dict(columns)
        cols: dict[int, str] = {}
        for (row, col), _ in sorted(sheet.cells.items()):
            if row != 0:
                continue
            text = sheet.text(0, col)
            key = keys.get(_header(text))
            if key in cols.values():
                rule = "与前面的一列同名，只读前面那一列"
                self.out.add(
                    Code.SPEC_BAD_VALUE,
                    **{"file": self.name, "sheet": sheet.name, "cell": _a1(0, col)},
                    where=f"工作表“{sheet.name}”第 1 行",
                    key=text,
                    value=text,
                    rule=rule,
                )
            elif key is None and text:
                self.unknown(sheet.name, 0, col, text, headers.values())
            elif key is not None:
                cols[col] = key
        allowed = {k: "应为 " + "、".join(v) + " 之一" for k, v in words.items()}
        allowed["min/max"] = "应为数字，且最小不大于最大"
        for row in sorted({r for r, _ in sheet.cells if r > 0}):
            located = Located(
                sheet=sheet.name, where=f"工作表“{sheet.name}”第 {row + 1} 行", anchor=_a1(row, 0)
            )
            located.names, located.allowed = {**headers, "min/max": "最小/最大"}, allowed
            for col, key in cols.items():
                located.cells[key] = _a1(row, col)  # a finding about an empty cell points at it too
                value = _value(sheet, row, col, key, words.get(key))
                if value not in (None, "", []):
                    located[key] = value
            located.cells.setdefault("min/max", located.cells.get("min", located.cells.get("max", "")))
            if located:
                yield located

    def unknown(self, sheet: str, row: int, col: int, text: str, known: Any) -> None:
        self.out.add(
            Code.SPEC_UNKNOWN_KEY,
            file=self.name,
            sheet=sheet,
            cell=_a1(row, col),
            where=f"工作表“{sheet}”",
            key=text,
            allowed="、".join(known),
        )


def _lookup(columns: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Header text (Chinese, or the TOML key in any case) → key."""
    return {**{h: k for k, h in columns}, **{k.casefold(): k for k, _ in columns}}


def _header(text: str) -> str:
    return _HEADER_NOTE.sub("", text.strip()).casefold()


def _a1(row: int, col: int) -> str:
    return xl_rowcol_to_cell(row, col)


def _value(sheet: Sheet, row: int, col: int, key: str, words: dict[str, Any] | None = None) -> Any:
    """A cell as the TOML value of `key`: text, a number, a list, or a fixed word translated. A value
    that is none of what the key takes is kept as it is, for the builder to report at its cell."""
    cell = sheet.get(row, col)
    raw = None if cell is None else cell.value
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if key == "text" or key in TEXT_KEYS:
        text = _text(raw)
        return text.strip() if key in ("id", "section_id", "version", "formula", "when") else text
    if key in LIST_KEYS:
        return [x for x in _LIST_SPLIT.split(_text(raw).strip()) if x]
    if key in NUMBER_KEYS:
        if isinstance(raw, str) and _NUMBER.match(raw.strip()):
            number = float(raw.strip())
            return int(number) if number.is_integer() and "." not in raw else number
        return raw
    if words is not None:
        if isinstance(raw, bool) and words is FLAGS:
            return raw
        text = _text(raw).strip()
        found = words.get(text, _FLAG_ALIASES.get(text.casefold()) if words is FLAGS else None)
        if found is None and text.casefold() in words.values():
            found = text.casefold()  # the TOML word itself (integer, warning …)
        return text if found is None else found
    return raw


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, float):
        return repr(raw)  # 2023.1 typed as a number is the version "2023.1"
    if isinstance(raw, datetime):
        return raw.date().isoformat() if raw.time() == datetime.min.time() else raw.isoformat(" ")
    return str(raw)


# -- writing ---------------------------------------------------------------------------------------------

MAX_ROWS = 500  # rows that carry the drop-downs
WIDTHS = {"编号": 18, "分组": 26, "标签": 36, "提示": 40, "公式": 40, "条件": 44, "自查说明": 40, "选项": 30}


def write(raw: dict[str, Any], created: datetime = datetime(2024, 1, 1)) -> bytes:
    """Raw tables → a definition workbook (the same bytes for the same tables)."""
    buffer = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    with strict_warnings():  # an xlsxwriter warning is a definition written wrong, not a footnote
        wb = xlsxwriter.Workbook(buffer, options | {"strings_to_numbers": False})
        wb.set_properties(
            {"title": "kepuxl 表单定义", "comments": "由 kepuxl 生成的表单定义。", "created": created}
        )
        fmt = {
            "head": wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "valign": "top"}),
            "cell": wb.add_format({"valign": "top", "text_wrap": True}),
            "note": wb.add_format({"text_wrap": True, "valign": "top"}),
        }
        _form_sheet(wb, raw, fmt)
        field_rows = [(s, f) for s in raw.get("sections", ()) for f in s.get("fields", ())]
        rows = [{**f, "section": s.get("title", ""), "section_id": s.get("id", "")} for s, f in field_rows]
        rows += list(raw.get("info", ()))
        _table(wb, FIELDS, FIELD_COLUMNS, rows, fmt, {"type": FIELD_TYPES, "required": FLAGS})
        _table(wb, RULES, RULE_COLUMNS, raw.get("rules", ()), fmt, {"severity": SEVERITIES})
        columns = (raw.get("detail") or {}).get("columns", ())
        _table(wb, DETAIL, DETAIL_COLUMNS, columns, fmt, {"type": DETAIL_TYPES})
        _readme(wb, fmt)
        wb.close()
    return buffer.getvalue()


def _form_sheet(wb: Any, raw: dict[str, Any], fmt: dict[str, Any]) -> None:
    ws = CheckedSheet(wb.add_worksheet(FORM))
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 90)
    ws.write_string(0, 0, "项目", fmt["head"])
    ws.write_string(0, 1, "内容", fmt["head"])
    form, detail = raw.get("form", {}), raw.get("detail")
    pairs = [(h, form[k]) for k, h in FORM_KEYS if k in form and k != "instructions"]
    pairs += [("填表说明", line) for line in form.get("instructions", ())]
    if detail is not None:
        pairs += [(h, detail[k[7:]]) for k, h in FORM_KEYS if k.startswith("detail_") and k[7:] in detail]
    for r, (head, value) in enumerate(pairs, start=1):
        ws.write_string(r, 0, head)
        _write(ws, r, 1, value, fmt["cell"])
    ws.freeze_panes(1, 0)


def _table(
    wb: Any,
    title: str,
    columns: tuple[tuple[str, str], ...],
    rows: Any,
    fmt: dict[str, Any],
    words: dict[str, Any],
) -> None:
    ws = CheckedSheet(wb.add_worksheet(title))
    for c, (key, head) in enumerate(columns):
        ws.write_string(0, c, head, fmt["head"])
        ws.set_column(c, c, WIDTHS.get(head, 10))
        if key in words:
            choices = list(words[key])
            col = xl_col_to_name(c)
            ws.data_validation(
                f"{col}2:{col}{MAX_ROWS}",
                {
                    "validate": "list",
                    "source": choices,
                    "input_title": head,
                    "input_message": "可选：" + "、".join(choices),
                    "error_type": "warning",
                    "error_title": "不在可选范围内",
                    "error_message": f"“{head}”应为 " + "、".join(choices) + " 之一。",
                },
            )
    for r, item in enumerate(rows, start=1):
        for c, (key, _) in enumerate(columns):
            value = item.get(key)
            if key in words and value is not None:
                value = next((w for w, v in words[key].items() if v == value), value)
            _write(ws, r, c, value, fmt["cell"])
    ws.freeze_panes(1, 1)


def _write(ws: CheckedSheet, row: int, col: int, value: Any, cell_format: Any) -> None:
    if value is None or value == "" or value == []:
        return
    if isinstance(value, bool):
        ws.write_string(row, col, "是" if value else "否", cell_format)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, cell_format)
    elif isinstance(value, list | tuple):
        texts = [str(x) for x in value]
        ws.text(row, col, ("\n" if any("、" in x for x in texts) else "、").join(texts), cell_format)
    else:
        ws.text(row, col, str(value), cell_format)


README_LINES = (
    "这是 kepuxl 的表单定义工作簿：每个工作表写定义的一部分，改好后用 kepuxl forms check 检查，"
    '在 kepuxl.toml 中写 form = "本文件名.xlsx" 即可使用。',
    "“表单”：每行一项。编号只用小写英文字母、数字和下划线（如 science_week）；表名是表头（前面自动加“某年”）；"
    "填表说明可以写多行，每行一条。改动表格结构后请把版本加 1。",
    "“指标”：每行一个指标。编号（如 fund_total）是对外约定，汇总 JSON 和上报都按编号取数，发布后不要改。"
    "分组相同的相邻各行是表中的一个部分（分组不填则沿用上一行）；分组编号可不填。",
    "类型：整数、小数（数值指标，必须写单位）；文本、电话、日期、长文本、选项（表头、表尾的填表信息，如填表人、"
    "联系电话、填报日期、情况说明）。小数位只用于小数；必填填“是”或“否”；最小、最大不填则为 0 和默认上限。",
    "公式：合计等自动计算的指标，写其他指标编号的算式，如 fund_a + fund_b；有公式的指标由表格自动计算（单位照常填写）。"
    "提示：单位填表时看到的说明。选项：用顿号分隔，如 线下、线上。",
    "“规则”：每行一条审核规则。条件是“出问题”时成立的式子，如 activities > 0 and staff_total == 0；"
    "指标列写了几个编号时，对每个指标分别检查，条件中用 value 代表该指标。级别：错误（退回）、待核实、警告。"
    "提示是规则成立时给单位看的话，可用 {label}、{value}、{unit}；自查说明是表内平时显示的检查项。",
    "“明细”：活动明细表的每一列（类型：文本、日期、选项、整数、小数）；表单中的明细计数列是“填了就算一项活动”的那一列。",
    "本工作表（说明）不会被读取。",
)


def _readme(wb: Any, fmt: dict[str, Any]) -> None:
    ws = CheckedSheet(wb.add_worksheet(README))
    ws.set_column(0, 0, 120)
    for r, line in enumerate(README_LINES):
        ws.write_string(r, 0, line, fmt["note"])
