"""Cell positions: `FormSpec` → `CellMap` (field id ↔ sheet!cell). The one place positions live.

The forms writer places every cell where the map says and the reader reads exactly those cells
(never scanning labels to find values); the labels the map expects are re-read to detect an
inserted row or an old template. Pure: no I/O. Rows and columns are 0-based inside, A1 outside.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

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


_a1 = functools.lru_cache(maxsize=65_536)(xl_rowcol_to_cell)  # forms ask for the same cells again and again


@dataclass(frozen=True, slots=True)
class Cell:
    sheet: str
    row: int
    col: int

    @property
    def a1(self) -> str:
        return _a1(self.row, self.col)

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
    """Every position of the form, top to bottom as the writer lays it out (and the reader reads it)."""
    place = _Placer(spec.sheet)
    unit, info, header_row = place.header(spec)
    fields, hints, states, sections = place.sections(spec)
    explained = place.long_texts(spec, info)
    rule_cells = place.rules(spec)
    last_row = place.row - 1
    detail = place.detail(spec)  # before the labels are taken: the detail sheet's come last
    return CellMap(
        main=spec.sheet,
        detail=spec.detail.sheet if spec.detail else None,
        title=Cell(spec.sheet, 0, 0),
        unit=unit,
        header_row=header_row,
        info=info,
        fields=fields,
        hints=hints,
        states=states,
        rules=tuple(rule_cells),
        labels=tuple(place.labels),
        sections=tuple(sections),
        last_row=last_row,
        meta_keys=(),
        explained=explained,
        **detail,
    )


@dataclass
class _Placer:
    """Places the form's cells row by row (`row`: the next free one), collecting the labels to re-check."""

    sheet: str
    row: int = 0
    labels: list[tuple[Cell, str]] = field(default_factory=list)

    def label(self, row: int, col: int, text: str, where: str = "") -> None:
        self.labels.append((Cell(where or self.sheet, row, col), text))

    def header(self, spec: FormSpec) -> tuple[Cell, dict[str, Cell], int]:
        """(label, input) pairs two per row, the unit first, then the column headings: (the unit's
        cell, the info fields' cells, the heading row)."""
        header_infos = [i for i in spec.info if i.type != "longtext"]
        slots: list[InfoField | None] = [None, *header_infos]
        info: dict[str, Cell] = {}
        for n, item in enumerate(slots):
            row, col = 1 + n // 2, (0 if n % 2 == 0 else 2)
            self.label(row, col, UNIT_LABEL if item is None else item.label)
            if item is not None:
                info[item.id] = Cell(self.sheet, row, col + 1)
        header_row = 1 + (len(slots) + 1) // 2
        for col, text in enumerate(COLUMNS):
            self.label(header_row, col, text)
        self.row = header_row + 1
        return Cell(self.sheet, *UNIT_CELL), info, header_row

    def sections(
        self, spec: FormSpec
    ) -> tuple[dict[str, Cell], dict[str, Cell], dict[str, Cell], list[tuple[int, int, str]]]:
        """One row per numeric field, section by section: (values, hints, states, section row spans)."""
        fields: dict[str, Cell] = {}
        hints: dict[str, Cell] = {}
        states: dict[str, Cell] = {}
        sections = []
        for section in spec.sections:
            first = self.row
            for f in section.fields:
                fields[f.id] = Cell(self.sheet, self.row, VALUE_COL)
                hints[f.id] = Cell(self.sheet, self.row, HINT_COL)
                states[f.id] = Cell(self.sheet, self.row, STATE_COL)
                if not (len(section.fields) == 1 and f.label == section.title):
                    self.label(self.row, LABEL_COL, f.label)
                self.label(self.row, UNIT_COL, f.unit)
                self.row += 1
            self.label(first, SECTION_COL, section.title)
            sections.append((first, self.row - 1, section.title))
        return fields, hints, states, sections

    def long_texts(self, spec: FormSpec, info: dict[str, Cell]) -> Cell | None:
        """A row each for the long texts (情况说明) under the table; returns the state cell of the last,
        which says whether it explains (as in collect)."""
        explained = None
        for item in spec.info:
            if item.type == "longtext":
                self.label(self.row, SECTION_COL, item.label)
                info[item.id] = Cell(self.sheet, self.row, LABEL_COL)
                explained = Cell(self.sheet, self.row, STATE_COL)
                self.row += 1
        return explained

    def rules(self, spec: FormSpec) -> list[Cell]:
        """The self-checks (自查项目) after a blank row: one result cell per rule."""
        rule_cells = []
        if spec.rules:
            self.row += 1
            self.label(self.row, SECTION_COL, "自查项目")
            self.label(self.row, HINT_COL, "自查结果")
            self.row += 1
            for _ in spec.rules:
                rule_cells.append(Cell(self.sheet, self.row, HINT_COL))
                self.row += 1
        return rule_cells

    def detail(self, spec: FormSpec) -> dict[str, Any]:
        """The detail sheet's positions (header, first and last row, columns, 合计 row), or none."""
        if spec.detail is None:
            return {}
        d = spec.detail
        header, first = 2, 3
        cols = {c.id: i + 1 for i, c in enumerate(d.columns)}
        self.label(header, 0, "序号", d.sheet)
        for c in d.columns:
            self.label(header, cols[c.id], c.label, d.sheet)
        self.label(first + d.rows, 0, "合计", d.sheet)
        return dict(
            detail_header=header,
            detail_first=first,
            detail_last=first + d.rows - 1,
            detail_cols=cols,
            detail_total=first + d.rows,
        )
