"""Cell positions: `FormSpec` → `CellMap` (field id ↔ sheet!cell). The one place positions live.

The forms writer places every cell where the map says and the reader reads exactly those cells
(never scanning labels to find values); the labels the map expects are re-read to detect an
inserted row or an old template. Pure: no I/O. Rows and columns are 0-based inside, A1 outside.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from .spec import FEEDBACK_SHEET as FEEDBACK_SHEET  # the fixed sheet names, re-exported
from .spec import FIELDS_SHEET as FIELDS_SHEET
from .spec import INFO_SHEET as INFO_SHEET
from .spec import META_SHEET as META_SHEET
from .spec import FormSpec, InfoField

COLUMNS = ("项目", "指标", "计量单位", "数量", "自查提示")
SECTION_COL, LABEL_COL, UNIT_COL, VALUE_COL, HINT_COL = range(5)
# a hidden, locked column next to the table: the state of each value as the audit judges it
# ("✗ 请填数字", "按 0 计", …), read by the hints and the self-checks; never read back, never printed
STATE_COL = 5
UNIT_LABEL = "单位（盖章）"
UNIT_CELL = (1, LABEL_COL)  # (row, col) of the unit's name on every form: what the level below reads
# A detail row read from a return remembers its sheet row (0-based) under this key, so a feedback
# form puts each row back where the unit typed it (and next to its problem comments).
DETAIL_ROW_KEY = "_row"


@dataclass(frozen=True, slots=True)
class Cell:
    sheet: str
    row: int
    col: int

    @property
    def a1(self) -> str:
        return xl_rowcol_to_cell(self.row, self.col)

    @property
    def absolute(self) -> str:
        return xl_rowcol_to_cell(self.row, self.col, row_abs=True, col_abs=True)

    def __str__(self) -> str:
        return f"{self.sheet}!{self.a1}"


@dataclass(frozen=True, slots=True)
class CellMap:
    main: str
    detail: str | None
    title: Cell
    unit: Cell
    header_row: int
    info: dict[str, Cell]  # text field id → input cell
    fields: dict[str, Cell]  # numeric field id → value cell
    hints: dict[str, Cell]  # numeric field id → its 自查提示 cell
    states: dict[str, Cell]  # numeric field id → its hidden state cell (STATE_COL)
    rules: tuple[Cell, ...]  # one result cell per rule instance, in spec order
    labels: tuple[tuple[Cell, str], ...]  # every fixed text the reader re-checks
    sections: tuple[tuple[int, int, str], ...]  # (first row, last row, title) for merged section cells
    last_row: int  # the window the reader reads on the main sheet
    detail_header: int = 0
    detail_first: int = 0
    detail_last: int = 0
    detail_cols: dict[str, int] = field(default_factory=dict)
    detail_total: int = 0
    meta_keys: tuple[str, ...] = ()
    # hidden (STATE_COL) in the row of 情况说明: whether it holds text, which explains warnings
    explained: Cell | None = None
    _fingerprint: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # every return is checked against it: compute once
        parts = [f"{c}={t}" for c, t in self.labels] + [f"{k}@{c}" for k, c in sorted(self.fields.items())]
        digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:12]
        object.__setattr__(self, "_fingerprint", digest)

    @property
    def last_col(self) -> int:
        return HINT_COL

    @property
    def detail_width(self) -> int:
        return len(self.detail_cols) + 1  # 序号 + the columns

    def detail_range(self, column_id: str) -> str:
        """An absolute A1 range over the input rows of one detail column, e.g. `'活动明细'!$B$4:$B$53`."""
        col = xl_col_to_name(self.detail_cols[column_id], col_abs=True)
        return f"'{self.detail}'!{col}${self.detail_first + 1}:{col}${self.detail_last + 1}"

    def fingerprint(self) -> str:
        """Changes whenever any position or fixed label changes: an old template won't match."""
        return self._fingerprint


def build(spec: FormSpec) -> CellMap:
    sheet = spec.sheet
    labels: list[tuple[Cell, str]] = []

    def label(row: int, col: int, text: str, where: str = sheet) -> None:
        labels.append((Cell(where, row, col), text))

    # header rows: (label, input) pairs, two per row, the unit first
    header_infos = [i for i in spec.info if i.type != "longtext"]
    slots: list[InfoField | None] = [None, *header_infos]
    info: dict[str, Cell] = {}
    unit = Cell(sheet, *UNIT_CELL)
    for n, item in enumerate(slots):
        row, col = 1 + n // 2, (0 if n % 2 == 0 else 2)
        label(row, col, UNIT_LABEL if item is None else item.label)
        if item is not None:
            info[item.id] = Cell(sheet, row, col + 1)
    header_row = 1 + (len(slots) + 1) // 2
    for col, text in enumerate(COLUMNS):
        label(header_row, col, text)

    fields: dict[str, Cell] = {}
    hints: dict[str, Cell] = {}
    states: dict[str, Cell] = {}
    sections = []
    row = header_row + 1
    for section in spec.sections:
        first = row
        for f in section.fields:
            fields[f.id] = Cell(sheet, row, VALUE_COL)
            hints[f.id] = Cell(sheet, row, HINT_COL)
            states[f.id] = Cell(sheet, row, STATE_COL)
            if not (len(section.fields) == 1 and f.label == section.title):
                label(row, LABEL_COL, f.label)
            label(row, UNIT_COL, f.unit)
            row += 1
        label(first, SECTION_COL, section.title)
        sections.append((first, row - 1, section.title))

    explained = None
    for item in spec.info:
        if item.type == "longtext":
            label(row, SECTION_COL, item.label)
            info[item.id] = Cell(sheet, row, LABEL_COL)
            explained = Cell(sheet, row, STATE_COL)  # the last one explains, as in collect
            row += 1

    rule_cells = []
    if spec.rules:
        row += 1
        label(row, SECTION_COL, "自查项目")
        label(row, HINT_COL, "自查结果")
        row += 1
        for _ in spec.rules:
            rule_cells.append(Cell(sheet, row, HINT_COL))
            row += 1
    last_row = row - 1

    detail_kw = {}
    if spec.detail is not None:
        d = spec.detail
        header, first = 2, 3
        cols = {c.id: i + 1 for i, c in enumerate(d.columns)}
        label(header, 0, "序号", d.sheet)
        for c in d.columns:
            label(header, cols[c.id], c.label, d.sheet)
        detail_kw = dict(
            detail_header=header,
            detail_first=first,
            detail_last=first + d.rows - 1,
            detail_cols=cols,
            detail_total=first + d.rows,
        )
        label(first + d.rows, 0, "合计", d.sheet)

    return CellMap(
        main=sheet,
        detail=spec.detail.sheet if spec.detail else None,
        title=Cell(sheet, 0, 0),
        unit=unit,
        header_row=header_row,
        info=info,
        fields=fields,
        hints=hints,
        states=states,
        rules=tuple(rule_cells),
        labels=tuple(labels),
        sections=tuple(sections),
        last_row=last_row,
        meta_keys=(),
        explained=explained,
        **detail_kw,
    )
