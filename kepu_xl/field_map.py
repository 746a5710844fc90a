"""A form's field map: (spec, cells) → rows of its `_fields` sheet → `FieldMap`, read back by the level below.

Field ids are the contract between levels: a county's `kepuxl report-up` fills the form the city's campaign
made for it by id. The county has the city's form but neither its definition nor its key, so every form
carries the map itself, in a very hidden, protected sheet of its own (`_fields`: collect never reads it, so
a return's reading costs nothing more): one row per field, text field and detail column, each with its id,
its place, its type and its label:

    kepuxl_fields  | 1.0          |                  |
    field:<id>     | 统计表!D7     | integer:0:100000 | 举办活动次数     (=decimal:4:… for a computed field)
    info:<id>      | 统计表!B2     | text             | 填表人
    detail:<key>   | 活动明细!4:53 |                  |                  (the detail table's input rows)
    column:<id>    | 活动明细!B    | text             | 活动名称

Places carry their sheet, and the version has a dot: no text of the map can equal a unit code (letters,
digits, - and _), which would make the blank forms' template fall back to a direct build (form_template).

`rows` writes it (forms_writer), `parse` reads it, and `from_spec` is `parse(rows(...))`: a form made
before the map existed is placed by a definition whose layout fingerprint matches its stamp (upward.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xlsxwriter.utility import xl_col_to_name

from .book import col_index, position
from .layout import Cell, CellMap
from .spec import FormSpec

MARK = "kepuxl_fields"
VERSION = "1.0"
WIDTH = 4  # columns A:D
LIMIT = 5000  # rows read back: a definition with more fields than this is not a form anyone fills


@dataclass(frozen=True, slots=True)
class Entry:
    """A numeric field, text field or detail column of the form, as the map gives it."""

    id: str
    cell: Cell  # a detail column: its column on the detail sheet's first input row
    type: str  # integer | decimal | text | phone | date | longtext | choice
    label: str
    places: int = 0
    max: float | None = None
    computed: bool = False


@dataclass(frozen=True, slots=True)
class FieldMap:
    main: str
    fields: tuple[Entry, ...]
    info: tuple[Entry, ...]
    detail: str | None = None
    detail_rows: tuple[int, int] = (0, 0)  # first and last input row (0-based)
    detail_key: str = ""
    columns: tuple[Entry, ...] = ()

    @property
    def inputs(self) -> tuple[Entry, ...]:
        return tuple(f for f in self.fields if not f.computed)

    def field(self, field_id: str) -> Entry | None:
        return next((f for f in self.fields if f.id == field_id), None)


def rows(spec: FormSpec, cells: CellMap) -> list[tuple[str, str, str, str]]:
    """The map of a form as the rows `forms_writer` puts in its `_fields` sheet (columns A:D)."""
    out = [(MARK, VERSION, "", "")]
    for f in spec.fields:
        kind = f"{'=' if f.computed else ''}{f.type}:{f.places if f.type == 'decimal' else 0}:{_num(f.max)}"
        out.append((f"field:{f.id}", str(cells.fields[f.id]), kind, f.label))
    for i in spec.info:
        out.append((f"info:{i.id}", str(cells.info[i.id]), i.type, i.label))
    if spec.detail is not None:
        d = spec.detail
        rows = f"{d.sheet}!{cells.detail_first + 1}:{cells.detail_last + 1}"
        out.append((f"detail:{d.key}", rows, "", ""))
        for c in d.columns:
            kind = f"{c.type}:{c.places}:{_num(c.max)}" if c.type in ("integer", "decimal") else c.type
            out.append(
                (f"column:{c.id}", f"{d.sheet}!{xl_col_to_name(cells.detail_cols[c.id])}", kind, c.label)
            )
    return out


def from_spec(spec: FormSpec, cells: CellMap) -> FieldMap:
    return parse(rows(spec, cells))


def parse(lines: Iterable[Sequence[str]]) -> FieldMap:
    """The map from its rows (the first one the MARK row); ValueError when they are not a map."""
    it = iter(lines)
    head = list(next(it, ()))
    if len(head) < 2 or head[0] != MARK or head[1] != VERSION:
        raise ValueError("no field map")
    fields, info, columns = [], [], []
    detail, first, last, key = None, 0, 0, ""
    for line in it:
        kind, _, ident = str(line[0]).partition(":")
        where, spec, label = (str(x) for x in (*line[1:4], "", "", "")[:3])
        sheet, _, ref = where.rpartition("!")
        if kind == "field":
            fields.append(_entry(ident, _cell(sheet, ref), spec, label))
        elif kind == "info":
            info.append(_entry(ident, _cell(sheet, ref), spec, label))
        elif kind == "detail":
            a, _, b = ref.partition(":")
            detail, first, last, key = sheet, int(a) - 1, int(b) - 1, ident
        elif kind == "column" and detail:
            columns.append(_entry(ident, Cell(sheet, first, col_index(ref)), spec, label))
        elif kind:
            raise ValueError(f"unknown row {kind!r}")
    mains = {f.cell.sheet for f in (*fields, *info)}
    if len(mains) != 1 or (detail and (last < first or not columns)):
        raise ValueError("incomplete field map")
    return FieldMap(mains.pop(), tuple(fields), tuple(info), detail, (first, last), key, tuple(columns))


def _entry(ident: str, cell: Cell, spec: str, label: str) -> Entry:
    if not ident:
        raise ValueError("an entry without an id")
    computed = spec.startswith("=")
    kind, _, rest = spec.lstrip("=").partition(":")
    places, _, top = rest.partition(":")
    return Entry(ident, cell, kind, label, int(places or 0), float(top) if top else None, computed=computed)


def _cell(sheet: str, a1: str) -> Cell:
    pos = position(a1)
    if pos is None or not sheet:
        raise ValueError(f"not a cell: {a1!r}")
    return Cell(sheet, *pos)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
