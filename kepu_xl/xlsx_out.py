"""What every workbook kepuxl writes shares: checked xlsxwriter calls, safe text cells, and the one
place that knows xlsxwriter's internals.

xlsxwriter reports many problems by returning -1/-2 instead of raising; `CheckedSheet` turns them
into errors, and `strict_warnings` turns its warnings (a merge of one cell, a string clipped, a chart
series dropped: it warns and writes on) into errors. Text that came from outside (unit names, values
units typed, file names, messages) goes through `CheckedSheet.text`: always a string cell (never a
formula or a link), characters XML 1.0 cannot carry dropped, clipped to Excel's 32,767 characters.

The fast paths rely on how xlsxwriter works inside, so they are only taken with a version in
VERIFIED_VERSIONS (pyproject.toml pins xlsxwriter to these; tests/test_xlsx_fast_paths.py checks that
they are on, and each fast path's tests compare its output with xlsxwriter's own): with any other
version the same calls go through xlsxwriter's public methods and every form is built directly.

- `FastRowsWorksheet`: sheets of thousands of rows (a row in one call, the cell XML written directly,
  formulas rewritten once per text) — same bytes, ~4× faster.
- `fix_xf_order`: a form's cell formats numbered in one fixed order (xlsxwriter numbers them by first
  use), so that a problem cell's red format does not renumber every other cell.
- `ProtectedWorkbook`: workbook structure protection, which xlsxwriter has no method for.
- The cell, string, row and zip conventions below (`Xml`): what form_template.py and
  feedback_template.py patch into a template so that every part of it is xlsxwriter's bytes.
- `splice`: a zip member from pieces, the fixed ones deflated once per campaign (`Fixed`), the unit's
  stored: the parts of a templated form are xlsxwriter's bytes once inflated, compressed differently.
"""

from __future__ import annotations

import io
import math
import numbers
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import xlsxwriter
import xlsxwriter.utility as xlsxwriter_utility
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import (
    CellBlankTuple,
    CellDatetimeTuple,
    CellFormulaTuple,
    CellNumberTuple,
    CellStringTuple,
    Worksheet,
)

from .findings import KepuError

# xlsxwriter versions whose internals the fast paths were checked against; pyproject.toml pins these.
VERIFIED_VERSIONS = frozenset({"3.3.1"})
FAST = xlsxwriter.__version__ in VERIFIED_VERSIONS


@contextmanager
def strict_warnings() -> Iterator[None]:
    """Every warning while a workbook is built is an error: xlsxwriter warns and writes on when a cell, a
    merge or a chart silently goes missing. A library's notice of a future change is not an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("default", category)
        yield


EXCEL_TEXT_LIMIT = 32_767
# XML 1.0 cannot carry C0 controls (except tab/newline), lone surrogates or U+FFFE/U+FFFF.
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: Any) -> str:
    """Text safe for a cell: characters that corrupt the XML dropped, Excel's length limit kept."""
    return _BAD_CHARS.sub("", str(value))[:EXCEL_TEXT_LIMIT]


def check(rc: Any, what: str) -> Any:
    """Raise on xlsxwriter's silent negative return codes; pass anything else through."""
    if isinstance(rc, int) and not isinstance(rc, bool) and rc < 0:
        raise KepuError(f"xlsxwriter {what} returned {rc}")
    return rc


class CheckedSheet:
    """A worksheet whose calls raise instead of returning xlsxwriter's silent -1/-2."""

    def __init__(self, ws: Any):
        self._ws = ws

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._ws, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            rc = attr(*args, **kwargs)
            if isinstance(rc, int) and not isinstance(rc, bool) and rc < 0:
                raise KepuError(f"xlsxwriter {self._ws.name}.{name}{args[:2]!r} returned {rc}")
            return rc

        self.__dict__[name] = call  # later calls skip __getattr__ (a form makes thousands of them)
        return call

    def text(self, row: int, col: int, value: Any, fmt: Any = None) -> None:
        """Always a string cell: '=HYPERLINK(…)' stays text; empty text is a truly blank cell."""
        text = clean_text(value)
        if not text:
            self.write_blank(row, col, None, fmt)  # ISBLANK and filters see it as empty
        elif text.startswith("<r>") and text.endswith("</r>"):
            # xlsxwriter copies such a string into sharedStrings.xml as raw rich-text XML, which
            # corrupts the file; as a two-run rich string it is escaped like any other text
            self.write_rich_string(row, col, fmt, text[:1], fmt, text[1:], fmt)
        else:
            self.write_string(row, col, text, fmt)


def write_text(ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> int:
    """`CheckedSheet.text` on a plain worksheet, returning xlsxwriter's code instead of raising."""
    text = clean_text(value)
    if not text:
        return ws.write_blank(row, col, None, fmt)
    if text.startswith("<r>") and text.endswith("</r>"):
        return ws.write_rich_string(row, col, fmt, text[:1], fmt, text[1:], fmt)  # see CheckedSheet.text
    return ws.write_string(row, col, text, fmt)


_PLAIN = (str, float, int, type(None))  # what write_values takes without `convert`


class FastRowsWorksheet(Worksheet):
    """A worksheet for sheets of thousands of rows: `write_values` stores a whole row in one call and
    the sheet's cell XML is written directly, both giving the same bytes as xlsxwriter's own code.

    At 800,000 cells, xlsxwriter's per-cell path (argument conversion, dimension checks, generic
    XML helpers, a format lookup per cell) is most of a summary's build time. The fast path uses
    xlsxwriter internals (its cell table, shared strings, `<c>` layout), so it is only taken when FAST;
    otherwise the same calls go through xlsxwriter's public methods.
    """

    fast_rows = FAST

    def __init__(self) -> None:
        super().__init__()
        self._serials: dict[datetime, float] = {}  # a list repeats the same few dates thousands of times

    # xlsxwriter rewrites every formula with ~30 regular expressions (future functions); a form has
    # ~50 formulas, the same in every unit's form. The rewrite depends only on these arguments.
    _prepared: ClassVar[dict[tuple[str, bool, bool], str]] = {}

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        if not self.fast_rows:
            return super()._prepare_formula(formula, expand_future_functions)
        key = (formula, bool(expand_future_functions), bool(self.use_future_functions))
        done = self._prepared.get(key)
        if done is None:
            if len(self._prepared) >= 4096:
                self._prepared.clear()
            done = self._prepared[key] = super()._prepare_formula(formula, expand_future_functions)
        return done

    def write_values(
        self,
        row: int,
        col: int,
        values: Sequence[Any],
        formats: Sequence[Any],
        date_format: Any = None,
        convert: Callable[[Any], Any] | None = None,
    ) -> int:
        """Write `values` into `row` from `col` on, `formats[k]` for `values[k]`.

        str → text as `write_text` writes it (never a formula or a link; empty → blank); int/float →
        number (NaN/±inf → blank); None → blank; datetime, date, time → `date_format` or the cell's
        format. `convert`, if given, first maps any value of another type (bool, numpy, dates…).

        Returns:
            0, or a negative xlsxwriter code when a cell could not be written (the row's codes ORed:
            a negative code stays negative).
        """
        if len(values) != len(formats):
            raise ValueError(f"{len(values)} values but {len(formats)} formats")
        columns = range(col, col + len(values))
        if not self.fast_rows or self.constant_memory:
            rc = 0
            for c, value, fmt in zip(columns, values, formats, strict=True):
                if convert is not None and type(value) not in _PLAIN:
                    value = convert(value)
                rc |= self._write_value(row, c, value, fmt, date_format)
            return rc
        if not values:
            return 0
        if row < 0 or col < 0 or row >= self.xls_rowmax or columns[-1] >= self.xls_colmax:
            return -1
        # What _write_string/_write_number/_write_blank/_write_datetime store, minus their per-call
        # checks (bounds above; dimensions once, below). Kept in sync by the tests (FAST_ROWS_VERSIONS).
        cells, serials, isfinite = self.table[row], self._serials, math.isfinite
        new = tuple.__new__  # builds a namedtuple without going through its Python-level __new__
        half = self.xls_strmax // 2  # longer text may exceed Excel's limit in UTF-16: xlsxwriter checks it
        strings = self.str_table  # _get_shared_string_index, inlined for the strings already in the table
        known, add = strings.string_table, strings._get_shared_string_index
        rc, first, last, repeats = 0, None, None, 0
        for c, value, fmt in zip(columns, values, formats, strict=True):
            kind = type(value)
            if kind is str:
                # printable text has nothing for clean_text to drop (no controls, surrogates, U+FFFE/F)
                text = value if value.isprintable() else clean_text(value)
                if text:
                    if len(text) > half or (
                        text[0] == "<" and text.startswith("<r>") and text.endswith("</r>")
                    ):
                        rc |= write_text(self, row, c, text, fmt)  # clipped (-2) or a rich string
                        continue
                    index = known.get(text)
                    if index is None:
                        index = add(text)  # a new string: added and counted
                    else:
                        repeats += 1  # counted below
                    cells[c] = new(CellStringTuple, (index, fmt))
                elif fmt is not None:  # empty text: a blank, which xlsxwriter keeps only with a format
                    cells[c] = new(CellBlankTuple, (fmt,))
                else:
                    continue
            elif kind is float or kind is int:
                if isfinite(value):
                    cells[c] = new(CellNumberTuple, (float(value), fmt))
                elif fmt is not None:
                    cells[c] = new(CellBlankTuple, (fmt,))
                else:
                    continue
            elif value is None:
                if fmt is None:
                    continue
                cells[c] = new(CellBlankTuple, (fmt,))
            else:
                if convert is not None:
                    value = convert(value)
                if type(value) is datetime and value.tzinfo is None:
                    number = serials.get(value)
                    if number is None:
                        number = serials[value] = self._convert_date_time(value)
                    cells[c] = new(CellDatetimeTuple, (number, date_format or fmt))
                else:  # what convert made of it, or any other type: xlsxwriter's public methods
                    rc |= self._write_value(row, c, value, fmt, date_format)
                    continue
            if first is None:
                first = c
            last = c
        strings.count += repeats  # sharedStrings.xml's count: every use of a string
        if first is not None:  # the dimensions are a min/max: the row's outermost cells are enough
            self._check_dimensions(row, first)
            self._check_dimensions(row, last)
        return rc

    def _write_value(self, row: int, col: int, value: Any, fmt: Any, date_format: Any) -> int:
        """One cell of `write_values` through xlsxwriter's public methods."""
        if value is None:
            return self.write_blank(row, col, None, fmt)
        if isinstance(value, str):
            return write_text(self, row, col, value, fmt)
        if isinstance(value, bool):
            return self.write_boolean(row, col, value, fmt)
        if isinstance(value, numbers.Real):
            if not math.isfinite(value):
                return self.write_blank(row, col, None, fmt)
            return self.write_number(row, col, float(value), fmt)
        if isinstance(value, datetime | date | time | timedelta):
            return self.write_datetime(row, col, value, date_format or fmt)
        return write_text(self, row, col, value, fmt)

    def _write_rows(self) -> None:
        if not self.fast_rows or self.constant_memory or self.comments:
            super()._write_rows()  # cases xlsxwriter handles in ways not reproduced here
            return
        self._spans()
        write, table, row_info, col_info, spans = (
            self.fh.write,
            self.table,
            self.row_info,
            self.col_info,
            self.row_spans,
        )
        cols = {col: f'<c r="{xl_col_to_name(col)}' for col in range(self.dim_colmin, self.dim_colmax + 1)}
        # a format's ' s="7"' attribute; asked of the format in xlsxwriter's order, so numbered the same
        styles: dict[Any, str] = {}
        escape = self._escape_data
        # rows of the default height, without the Excel 2010 attribute: a bare <row r= spans=>
        plain_rows = self.default_row_height == self.original_row_height and self.excel_version != 2010
        for row in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = table[row]  # indexing (not .get), as xlsxwriter does: the table ends up the same
            info = row_info.get(row)
            if not cells:
                if info is not None:
                    self._write_empty_row(row, spans.get(row // 16), info)
                continue
            span = spans.get(row // 16)
            parts: list[str] = []
            append = parts.append
            if info is None and plain_rows:  # what _write_row writes for a row without attributes
                append(f'<row r="{row + 1}" spans="{span}">' if span else f'<row r="{row + 1}">')
            else:
                self._write_row(row, span, info)
            number = f'{row + 1}"'
            for col, cell in sorted(cells.items()):
                kind = type(cell)
                fmt = cell.format
                if not fmt:  # a cell's own format, else its row's, else its column's
                    if info is not None and info.row_format:
                        fmt = info.row_format
                    elif col in col_info:
                        fmt = col_info[col].column_format
                if fmt:
                    style = styles.get(fmt)
                    if style is None:
                        style = styles[fmt] = f' s="{fmt._get_xf_index()}"'
                else:
                    style = ""
                if kind is CellStringTuple:
                    append(f'{cols[col]}{number}{style} t="s"><v>{cell[0]}</v></c>')
                elif kind is CellNumberTuple or kind is CellDatetimeTuple:
                    append(f"{cols[col]}{number}{style}><v>{cell[0]:.16G}</v></c>")
                elif kind is CellBlankTuple:
                    append(f"{cols[col]}{number}{style}/>")
                elif kind is CellFormulaTuple and not isinstance(cell.value, bool | str):
                    formula, value = escape(cell.formula), escape(cell.value)
                    append(f"{cols[col]}{number}{style}><f>{formula}</f><v>{value}</v></c>")
                else:  # rich strings, booleans, errors, array and text-valued formulas: xlsxwriter's code
                    write("".join(parts))
                    parts.clear()
                    self._write_cell(row, col, cell)
            append("</row>")
            write("".join(parts))

    def _spans(self) -> None:
        """xlsxwriter's `_calculate_spans` (the first:last column of each block of 16 rows), without
        testing every column of every row. Only used without comments, which also count there."""
        spans, table, first, last = {}, self.table, None, None
        for row in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = table.get(row)
            if cells:
                low, high = min(cells), max(cells)
                if first is None:
                    first, last = low, high
                else:
                    first, last = min(first, low), max(last, high)
            if ((row + 1) % 16 == 0 or row == self.dim_rowmax) and first is not None:
                spans[row // 16] = f"{first + 1}:{last + 1}"
                first = None
        self.row_spans = spans


# -- workbooks: structure protection and a fixed format order ----------------------------------------


class ProtectedWorkbook(xlsxwriter.Workbook):
    """A workbook whose structure (sheets added, removed, renamed, unhidden) is locked with a password
    hash: xlsxwriter has no method for it, so the element is written after <workbookPr> by overriding
    xlsxwriter's private writer of that element. With a version not in VERIFIED_VERSIONS, `close` checks
    that the element is really there (a renamed private method would otherwise drop it silently)."""

    structure_password_hash: str = ""

    def _write_workbook_pr(self) -> None:
        super()._write_workbook_pr()
        if self.structure_password_hash:
            self._xml_empty_tag(
                "workbookProtection",
                [("workbookPassword", self.structure_password_hash), ("lockStructure", 1)],
            )

    def close(self) -> None:
        super().close()
        if not FAST and self.structure_password_hash and isinstance(self.filename, io.BytesIO):
            with zipfile.ZipFile(self.filename) as z:
                if b"<workbookProtection " not in z.read("xl/workbook.xml"):
                    raise KepuError(
                        f"xlsxwriter {xlsxwriter.__version__} 未写入工作簿保护，请安装 pyproject.toml 指定的版本"
                    )


def fix_xf_order(formats: Iterable[Any]) -> None:
    """Number these cell formats now, in this order. xlsxwriter numbers a format when a cell first uses
    it as it writes the sheets, so a red problem cell early in a form would renumber every format after
    it; numbered up front, each format has one number in every form of a campaign (unused ones are
    listed in styles.xml too). Not FAST: left to xlsxwriter (forms are then built directly)."""
    if FAST:
        for fmt in formats:
            fmt._get_xf_index()


def xf_indices(formats: Mapping[str, Any]) -> dict[str, int]:
    """Each named format's number in styles.xml (after `fix_xf_order`)."""
    assert FAST
    return {name: fmt._get_xf_index() for name, fmt in formats.items()}


# -- xlsxwriter's XML and zip conventions, for the templates (used only when FAST) -------------------

STRING_CHECKED = 16_383  # xlsxwriter measures (and may clip) a string longer than this, in UTF-16 units
_EDGE_SPACE = re.compile(r"^\s|\s$")  # xlsxwriter then adds xml:space="preserve"
_ESCAPED_BY_XLSXWRITER = re.compile("_x[0-9a-fA-F]{4}_|[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
_ERROR_VALUES = frozenset(("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"))
# xlsxwriter's Workbook._store_workbook (in_memory): members dated 1980-01-01, deflated
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class Xml:
    """How xlsxwriter writes cells, shared strings, rows, comments and the package (FAST only)."""

    @staticmethod
    def escape(text: str) -> str:
        """XMLwriter._escape_data: element text and the values of formulas."""
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    @classmethod
    def data(cls, text: str) -> str:
        """XMLwriter._xml_data_element's text (a comment's): escaped, then control characters, U+FFFE/F
        and _xHHHH_ sequences written as _xHHHH_ (Excel's escape)."""
        text = _ESCAPE_LIKE.sub(r"_x005F\1", cls.escape(text))
        text = _CONTROL.sub(lambda m: f"_x{ord(m[0]):04X}_", text)
        return text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")

    @staticmethod
    def preserve(text: str) -> str:
        return ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""

    @classmethod
    def shared_string(cls, text: str) -> bytes | None:
        """The <si> of a plain string; None when xlsxwriter would do more with it (escape a control
        character or an _xHHHH_ sequence, write rich-text markup as it is, measure its length)."""
        if len(text) > STRING_CHECKED or _ESCAPED_BY_XLSXWRITER.search(text):
            return None
        if text.startswith("<r>") and text.endswith("</r>"):
            return None
        return f"<si><t{cls.preserve(text)}>{cls.escape(text)}</t></si>".encode()

    @staticmethod
    def string_cell(head: str, index: int) -> str:
        """A shared-string cell; `head` is '<c r="A1"' with its ' s="n"' (see `head`)."""
        return f'{head} t="s"><v>{index}</v></c>'

    @staticmethod
    def number_cell(head: str, number: float) -> str:
        return f"{head}><v>{number:.16G}</v></c>"

    @staticmethod
    def blank_cell(head: str) -> str:
        return f"{head}/>"

    @staticmethod
    def head(ref: str, style: int | None) -> str:
        return f'<c r="{ref}" s="{style}"' if style is not None else f'<c r="{ref}"'

    @classmethod
    def formula_cell(cls, head: str, formula: str, value: Any) -> str:
        """A formula cell with its saved result; `formula` already escaped (as it stands in the XML)."""
        kind, result = cls.formula_result(value)
        return f"{head}{kind}><f>{formula}</f><v>{result}</v></c>"

    @classmethod
    def formula_result(cls, value: Any) -> tuple[str, str]:
        """A formula cell's type attribute (' t="str"', or none) and its <v> text, for a result `value`."""
        if isinstance(value, bool):
            return ' t="b"', str(int(value))
        if isinstance(value, str):
            kind = ' t="e"' if value in _ERROR_VALUES else ' t="str"' if value else ""
            return kind, cls.escape(value)
        return "", f"{value}"

    @staticmethod
    def row_height(points: float) -> str:
        """A row's ht attribute for `set_row(row, points)` (xlsxwriter keeps whole pixels)."""
        return f"{int(points * 4.0 / 3.0 + 0.5) * 0.75:.16g}"

    @staticmethod
    def serial(value: datetime) -> float | None:
        """A naive date-time as the number `write_datetime` stores; None for one with a time zone."""
        if value.tzinfo is not None:
            return None
        return xlsxwriter_utility._datetime_to_excel_datetime(value, False, False)

    @staticmethod
    def vml_ids(counts: Sequence[int]) -> list[tuple[str, int]]:
        """For drawings holding `counts` comments, in sheet order: each one's o:idmap data and the
        number of its first shape (Workbook._prepare_vml, Worksheet._prepare_vml_objects)."""
        out, data_id, shape_id = [], 1, 1024
        for count in counts:
            blocks = count // 1024
            data = ",".join(str(data_id + i) for i in range(blocks + 1))
            out.append((data, shape_id + 1))
            data_id += (1024 + count) // 1024
            shape_id += 1024 * ((1024 + count) // 1024)
        return out

    @staticmethod
    def package(members: Iterable[tuple[str, bytes | Deflated]]) -> bytes:
        """The zip of an in-memory workbook, as Workbook._store_workbook writes it (with zipfile): members
        dated 1980-01-01, deflated. A `Deflated` member (a part every form of a campaign shares, or one
        spliced from pieces) is not compressed again."""
        if _zip_as_zipfile():
            return _zip(members)
        return _zipfile(members)


@dataclass(frozen=True, slots=True)
class Deflated:
    """A zip member's data compressed once, as zipfile compresses it (`of`), or spliced (`splice`)."""

    size: int
    crc: int
    data: bytes

    @classmethod
    def of(cls, data: bytes) -> Deflated:
        return cls(len(data), zlib.crc32(data), zlib.compress(data, zlib.Z_DEFAULT_COMPRESSION, -15))


# -- a member spliced from pieces: fixed runs deflated once per campaign, the unit's bytes per form -------

_STORED = struct.Struct("<BHH")  # a stored block's header from a byte boundary: BFINAL=0 BTYPE=00, LEN, NLEN
_STORED_MAX = 65_535
_FINAL = b"\x01\x00\x00\xff\xff"  # an empty final stored block: where a spliced stream ends
UNIT_DEFLATE_MIN = 1_024  # a run of the unit's bytes this long is deflated per form; a shorter one stored
# a fixed run shorter than this goes with the unit's bytes around it: deflated alone it saves a few bytes
# at most, while a table's rows of the unit's cells, with the short fixed runs between them, deflate to
# a fifth (a sheet's fixed runs deflate independently: the member is bigger than deflated whole)
FIXED_MIN = 128


def stored_blocks(raw: bytes) -> bytes:
    """`raw` as non-final stored (uncompressed) deflate blocks, written from a byte boundary."""
    out: list[bytes] = []
    for at in range(0, len(raw), _STORED_MAX):
        block = raw[at : at + _STORED_MAX]
        out += (_STORED.pack(0, len(block), len(block) ^ 0xFFFF), block)
    return b"".join(out)


def deflated_run(raw: bytes) -> bytes:
    """`raw` deflated on its own (no reference to anything before it), ended by a sync flush: non-final
    blocks ending on a byte boundary, so that any deflate blocks can follow."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True, slots=True)
class Fixed:
    """A run of a member's bytes that every form of a campaign shares, deflated once as a piece of a
    longer stream (see `splice`). `blocks` is empty for a run under FIXED_MIN bytes or one that deflating
    alone would not shorten by more than a block header: its bytes then go with the unit's next to it."""

    raw: bytes
    blocks: bytes

    @classmethod
    def of(cls, raw: bytes) -> Fixed:
        if len(raw) < FIXED_MIN:
            return cls(raw, b"")
        deflated = deflated_run(raw)
        return cls(raw, deflated if len(deflated) + _STORED.size < len(raw) else b"")


def splice(pieces: Iterable[Fixed | bytes]) -> Deflated:
    """A zip member made of `pieces` in order — `Fixed` runs and the unit's bytes — as ONE raw-deflate
    stream without compressing the fixed runs again: their blocks as made once, each run of other bytes
    between them (the unit's, and short fixed runs) stored, or deflated here when UNIT_DEFLATE_MIN long;
    an empty final block at the end.
    Every piece's blocks end on a byte boundary and refer to nothing before them, so any sequence of
    them is a valid stream. The CRC-32 and size are those of the pieces' bytes joined."""
    out: list[bytes] = []
    raws: list[bytes] = []
    start = 0  # where in `raws` the run of bytes to store began
    for piece in pieces:
        if type(piece) is Fixed:
            if piece.blocks:
                if start < len(raws):
                    out += _unit_blocks(raws[start] if start + 1 == len(raws) else b"".join(raws[start:]))
                out.append(piece.blocks)
                raws.append(piece.raw)
                start = len(raws)
                continue
            piece = piece.raw
        raws.append(piece)
    if start < len(raws):
        out += _unit_blocks(b"".join(raws[start:]))
    out.append(_FINAL)
    data = b"".join(raws)
    return Deflated(len(data), zlib.crc32(data), b"".join(out))


def _unit_blocks(raw: bytes) -> tuple[bytes, ...]:
    if len(raw) < UNIT_DEFLATE_MIN:  # one stored block
        return (stored_blocks(raw),) if raw else ()
    return (deflated_run(raw),)


def same_parts(a: bytes, b: bytes) -> bool:
    """Whether two zips hold the same members, in the same order, with the same bytes once inflated
    (compressed alike or not). The directories are compared first (names, sizes, CRC-32), so nothing is
    inflated past the sizes `b` declares; any unreadable zip is not the same."""
    try:
        with zipfile.ZipFile(io.BytesIO(a)) as za, zipfile.ZipFile(io.BytesIO(b)) as zb:
            ia, ib = za.infolist(), zb.infolist()
            if [(i.filename, i.file_size, i.CRC) for i in ia] != [
                (i.filename, i.file_size, i.CRC) for i in ib
            ]:
                return False
            return all(za.read(x) == zb.read(y) for x, y in zip(ia, ib, strict=True))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError):
        return False


_LOCAL, _CENTRAL = struct.Struct("<4s2B4HL2L2H"), struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")


def _zip(members: Iterable[tuple[str, bytes | Deflated]]) -> bytes:
    """zipfile's bytes without zipfile (a fifth of the time for a form's 15 small parts): checked
    against zipfile on first use (`_zip_as_zipfile`), zipfile's otherwise."""
    defaults = zipfile.ZipInfo("", _ZIP_DATE)  # this platform's "made by" and versions
    date = (_ZIP_DATE[0] - 1980) << 9 | _ZIP_DATE[1] << 5 | _ZIP_DATE[2]
    made, system, needs = defaults.create_version, defaults.create_system, defaults.extract_version
    parts: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in members:
        part = data if isinstance(data, Deflated) else Deflated.of(data)
        try:
            encoded, flags = name.encode("ascii"), 0
        except UnicodeEncodeError:
            encoded, flags = name.encode("utf-8"), 0x800
        head = (part.crc, len(part.data), part.size, len(encoded))
        local = _LOCAL.pack(b"PK\x03\x04", needs, 0, flags, zipfile.ZIP_DEFLATED, 0, date, *head, 0)
        parts += (local, encoded, part.data)
        central += (
            _CENTRAL.pack(
                b"PK\x01\x02",
                made,
                system,
                needs,
                0,
                flags,
                zipfile.ZIP_DEFLATED,
                0,
                date,
                *head,
                0,
                0,
                0,
                0,
                0o600 << 16,
                offset,
            ),
            encoded,
        )
        offset += len(local) + len(encoded) + len(part.data)
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(central) // 2, len(central) // 2, len(directory), offset, 0)
    return b"".join(parts) + directory + end


def _zipfile(members: Iterable[tuple[str, bytes | Deflated]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=False) as out:
        for member, data in members:
            info = zipfile.ZipInfo(member, _ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, data if isinstance(data, bytes) else zlib.decompress(data.data, -15))
    return buffer.getvalue()


_ZIP_CHECK: list[bool] = []


def _zip_as_zipfile() -> bool:
    """Whether `_zip` writes zipfile's bytes on this Python (checked once per process)."""
    if not _ZIP_CHECK:
        sample = [
            ("[Content_Types].xml", b"<Types/>" * 40),
            ("xl/worksheets/sheet1.xml", bytes(range(256)) * 9),
        ]
        _ZIP_CHECK.append(_zip(sample) == _zipfile(sample))
    return _ZIP_CHECK[0]
