"""Returned workbook bytes → `ReturnedForm`: identity carriers, raw values at their cells, structure facts.

Positions come from the layout (`CellMap`), never from scanning labels; the labels the layout
expects are read back only to detect inserted/deleted rows or an old template. Values are kept
raw (with their kind and cell) for the audit to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from . import layout as lay
from . import subunits as subunits_mod
from .book import Book, Value, Window, load_xlsx
from .findings import Finding
from .identity import PROPERTY_PREFIX, Identity
from .layout import Cell, CellMap
from .spec import FormSpec
from .textnorm import squash

META_WINDOW: Window = (20, 2)


class Raw(NamedTuple):  # a tuple: made for every cell the reader looks at, and a tuple is made fastest
    """A cell's content as saved, with where it is."""

    value: object
    kind: str  # see book.Value; '' for an empty cell
    cell: Cell
    formula: str = ""

    @property
    def blank(self) -> bool:
        return self.kind == "" or (self.kind == "s" and not str(self.value).strip())


@dataclass
class ReturnedForm:
    kind: str
    application: str = ""
    sheets: list[str] = field(default_factory=list)
    props: Identity | None = None  # from custom document properties
    meta: Identity | None = None  # from the _meta sheet
    meta_state: str = ""
    unit_text: str = ""  # the visible unit cell
    title_text: str = (
        ""  # the visible title, "2023年科技活动周开展情况统计表": places a legacy stamp in a year
    )
    has_main: bool = False
    has_detail: bool = False
    fields: dict[str, Raw] = field(default_factory=dict)
    info: dict[str, Raw] = field(default_factory=dict)
    detail: list[dict[str, Raw]] = field(default_factory=list)  # rows with anything in them
    first_difference: tuple[Cell, str, str] | None = None  # (cell, expected, actual)
    unprotected: list[str] = field(default_factory=list)
    # a return made by the level below's report-up: its 下级单位 rows (None: no such sheet), and what in
    # the sheet could not be read
    subunits: list[subunits_mod.SubUnit] | None = None
    subunit_findings: list[Finding] = field(default_factory=list)

    @property
    def identity(self) -> Identity | None:
        return self.meta or self.props


def windows(spec: FormSpec, cells: CellMap) -> dict[str, Window]:
    out = {cells.main: (cells.last_row + 3, lay.HINT_COL + 2), lay.META_SHEET: META_WINDOW}
    out[subunits_mod.SHEET] = subunits_mod.WINDOW  # only in a return from a level that reports up
    if cells.detail:
        out[cells.detail] = (cells.detail_total + 2, cells.detail_width + 1)
    return out


def wanted(cells: CellMap) -> dict[str, frozenset[tuple[int, int]]]:
    """The positions `from_book` looks at on the main and detail sheets (the rest of a window is skipped)."""
    out: dict[str, set[tuple[int, int]]] = {
        cells.main: {(cells.unit.row, cells.unit.col), (cells.title.row, cells.title.col)}
    }
    for c in (*cells.fields.values(), *cells.info.values(), *(c for c, _ in cells.labels)):
        out.setdefault(c.sheet, set()).add((c.row, c.col))
    if cells.detail:
        rows = range(cells.detail_first, cells.detail_last + 1)
        out.setdefault(cells.detail, set()).update((r, c) for r in rows for c in cells.detail_cols.values())
    return {name: frozenset(positions) for name, positions in out.items()}


_WANTED: dict[int, tuple[CellMap, dict[str, frozenset[tuple[int, int]]]]] = {}


def _wanted(cells: CellMap) -> dict[str, frozenset[tuple[int, int]]]:
    cached = _WANTED.get(id(cells))
    if cached is None or cached[0] is not cells:  # keyed by identity: a CellMap holds dicts (unhashable)
        if len(_WANTED) >= 8:
            _WANTED.clear()
        cached = _WANTED[id(cells)] = (cells, wanted(cells))
    return cached[1]


def load_book(
    data: bytes, kind: str, spec: FormSpec, cells: CellMap, parts: Mapping[str, bytes] | None = None
) -> Book:
    """`parts`: package parts the pre-check already inflated from `data` (see intake.checked)."""
    wins = windows(spec, cells)
    if kind == "xlsx":
        # the instructions sheet's cells are never used; on the others only what from_book reads
        return load_xlsx(data, wins, default=None, only=_wanted(cells), parts=parts)
    from . import book_legacy  # xlrd/odf only when such a file arrives

    return book_legacy.load_xls(data, wins) if kind == "xls" else book_legacy.load_ods(data, wins)


def read(
    data: bytes, kind: str, spec: FormSpec, cells: CellMap, parts: Mapping[str, bytes] | None = None
) -> ReturnedForm:
    """Read one return; raises only on bytes the parsers cannot read at all (caller maps that)."""
    return from_book(load_book(data, kind, spec, cells, parts), spec, cells)


def identities(book: Book) -> tuple[Identity | None, Identity | None]:
    """The identity a workbook carries in its document properties and in its `_meta` sheet."""
    props = {
        k.removeprefix(PROPERTY_PREFIX): v
        for k, v in book.properties.items()
        if k.startswith(PROPERTY_PREFIX)
    }
    meta = book.sheets.get(lay.META_SHEET)
    rows = {meta.text(r, 0): meta.text(r, 1) for r in range(META_WINDOW[0])} if meta is not None else {}
    return Identity.from_mapping(props), Identity.from_mapping(rows)


def from_book(book: Book, spec: FormSpec, cells: CellMap) -> ReturnedForm:
    form = ReturnedForm(kind=book.kind, application=book.application, sheets=list(book.sheets))
    form.props, form.meta = identities(book)
    meta = book.sheets.get(lay.META_SHEET)
    if meta is not None:
        form.meta_state = meta.state
    main = book.sheets.get(cells.main)
    if main is None:
        return form
    form.has_main = True
    form.unit_text = main.text(cells.unit.row, cells.unit.col)
    form.title_text = main.text(cells.title.row, cells.title.col)

    def raw(c: Cell) -> Raw:
        sheet = book.sheets.get(c.sheet)
        v: Value | None = sheet.get(c.row, c.col) if sheet else None
        return Raw(None, "", c) if v is None else Raw(v.value, v.kind, c, v.formula)

    form.fields = {fid: raw(c) for fid, c in cells.fields.items()}
    form.info = {iid: raw(c) for iid, c in cells.info.items()}
    for cell, expected in cells.labels:
        sheet = book.sheets.get(cell.sheet)
        if sheet is None:
            continue
        actual = sheet.text(cell.row, cell.col)
        if actual != expected and squash(actual) != squash(expected):
            form.first_difference = (cell, expected, actual)
            break
    form.unprotected = [
        name for name in (cells.main, cells.detail) if name in book.sheets and not book.sheets[name].protected
    ]
    below = book.sheets.get(subunits_mod.SHEET)
    if below is not None:
        form.subunits, form.subunit_findings = subunits_mod.from_sheet(below)
    detail = book.sheets.get(cells.detail) if cells.detail else None
    if detail is not None:
        form.has_detail = True
        columns = set(cells.detail_cols.values())
        # a row with nothing in the detail columns is blank: skip it without building its entry
        filled = {row for row, col in detail.cells if col in columns}
        for row in range(cells.detail_first, cells.detail_last + 1):
            if row not in filled:
                continue
            entry = {cid: raw(Cell(detail.name, row, col)) for cid, col in cells.detail_cols.items()}
            if any(not r.blank for r in entry.values()):
                form.detail.append(entry)
    return form
