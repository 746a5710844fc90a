"""Legacy and OpenDocument workbooks → the neutral `Book` of book.py: `load_xls` and `load_ods`.

.xls (BIFF8, also WPS .et files, which are BIFF inside) goes through xlrd for the cells; what xlrd
keeps to itself is read from the raw records: sheet protection (PROTECT, 0x0012, in each sheet's
substream), workbook structure protection (PROTECT in the globals). Custom document properties
come from the user-defined property set of the \\x05DocumentSummaryInformation OLE stream (olefile
opens the container; the property set is parsed here, with its code page, because olefile's own
helper decodes every name as UTF-8). xlrd does not expose formulas: a formula cell arrives as the
kind of its cached value ('n', 's', 'b', 'e').

.ods goes through lxml's iterparse over content.xml (meta.xml for properties): repeated rows and
columns are expanded only inside the window, so a row repeated 1,048,576 times costs one element.
Formula cells are 'f' with their cached value (formula text without the `of:=` prefix); a formula
whose cached result is an error is 'e' with the error text (LibreOffice: '#DIV/0!', 'Err:502').
OpenDocument has no "veryHidden": a hidden table is 'hidden'.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import xlrd
from lxml import etree

from .book import PARSER, Book, Sheet, Value, Window, excel_moment
from .xlsx_out import EXCEL_TEXT_LIMIT

_STATES = {0: "visible", 1: "hidden", 2: "veryHidden"}
_MAX_EXACT = 2**53


def _number(x: float) -> int | float:
    """Integral floats become ints (as load_xlsx does), others stay floats."""
    return int(x) if x.is_integer() and abs(x) < _MAX_EXACT else x


def _numeric(x: float, text: str = "") -> Value:
    """A number cell. inf/NaN (no office suite saves them; a crafted file can) come back as text, so the
    audit reports them as "not a number" instead of doing arithmetic on them."""
    return Value(_number(x), "n") if math.isfinite(x) else Value(text or str(x), "s")


# --------------------------------------------------------------------------------------------- .xls


def load_xls(data: bytes, windows: dict[str, Window], default: Window = (60, 12)) -> Book:
    """Read the named windows of every sheet of an .xls/.et (other sheets: `default` window)."""
    ole = _open_ole(data)
    try:
        stream = _ole_workbook_stream(ole)
        try:
            book = _read_xls(data, windows, default, stream, formatting_info=True)
        except xlrd.XLRDError as exc:
            if "encrypted" in str(exc).lower():  # FILEPASS (password, or Excel's default one): no retry
                raise
            book = _read_xls(data, windows, default, stream, formatting_info=False)
        except Exception:  # xlrd's formatting parser trips on some writers' records: retry without it
            book = _read_xls(data, windows, default, stream, formatting_info=False)
        if ole is not None:
            book.properties = _ole_user_properties(ole)
            book.application = _ole_application(ole)
        return book
    finally:
        if ole is not None:
            ole.close()


def _read_xls(
    data: bytes, windows: dict[str, Window], default: Window, stream: bytes | None, formatting_info: bool
) -> Book:
    wb = xlrd.open_workbook(file_contents=data, formatting_info=formatting_info, on_demand=True)
    try:
        if stream is None:  # olefile could not read the container (or a bare BIFF file): xlrd's view
            stream = _xlrd_stream(wb)
        structure_locked, protected = _biff_protection(stream, wb.biff_version, wb.encoding)
        sheets: dict[str, Sheet] = {}
        for index, name in enumerate(wb.sheet_names()):
            sh = wb.sheet_by_index(index)
            sheet = Sheet(
                name=name, state=_STATES.get(sh.visibility, "hidden"), protected=protected.get(name, False)
            )
            sheets[name] = sheet
            _read_xls_cells(sh, sheet, windows.get(name, default), wb.datemode)
            sheet.merged = _clipped(sh.merged_cells, windows.get(name, default))
            wb.unload_sheet(index)
        return Book(kind="xls", sheets=sheets, structure_locked=structure_locked)
    finally:
        wb.release_resources()


def _read_xls_cells(sh: Any, sheet: Sheet, window: Window, datemode: int) -> None:
    last_row, last_col = window
    for row in range(min(last_row + 1, sh.nrows)):
        for col in range(min(last_col + 1, sh.ncols, sh.row_len(row))):
            value = _xls_value(sh.cell_type(row, col), sh.cell_value(row, col), datemode)
            if value is not None:
                sheet.cells[(row, col)] = value


def _clipped(ranges: Any, window: Window) -> list[tuple[int, int, int, int]]:
    """xlrd's merged ranges (rlo, rhi, clo, chi; hi exclusive; only with formatting_info) → book.Sheet's."""
    last_row, last_col = window
    return [
        (rlo, clo, min(rhi - 1, last_row), min(chi - 1, last_col))
        for rlo, rhi, clo, chi in ranges or ()
        if rlo <= last_row and clo <= last_col
    ]


def _xls_value(ctype: int, raw: Any, datemode: int) -> Value | None:
    if ctype == xlrd.XL_CELL_NUMBER:
        return _numeric(float(raw))
    if ctype == xlrd.XL_CELL_TEXT:
        return Value(raw, "s")
    if ctype == xlrd.XL_CELL_DATE:
        try:
            return Value(excel_moment(raw, datemode == 1), "d")
        except (ValueError, OverflowError):  # xlrd's XLDateError is a ValueError
            return _numeric(float(raw))
    if ctype == xlrd.XL_CELL_BOOLEAN:
        return Value(bool(raw), "b")
    if ctype == xlrd.XL_CELL_ERROR:
        return Value(xlrd.error_text_from_code.get(raw, f"#ERR{raw}"), "e")
    return None  # XL_CELL_EMPTY, XL_CELL_BLANK


def _ole_workbook_stream(ole: Any) -> bytes | None:
    """The BIFF stream (Workbook; Book for BIFF5) of the OLE container, None when olefile cannot read it."""
    if ole is None:
        return None
    try:
        for name in ("Workbook", "Book"):
            if ole.exists(name):
                return ole.openstream(name).read()
    except Exception:  # a container olefile cannot walk (xlrd's parser is more lenient)
        return None
    return None


def _xlrd_stream(wb: Any) -> bytes | None:
    """The stream as xlrd holds it: `mem` is the whole file when the stream's sectors are contiguous
    (then `base` is the stream's offset in it), so records are only where they claim from `base` on."""
    mem, base = getattr(wb, "mem", None), getattr(wb, "base", 0)
    if isinstance(mem, bytes | bytearray | memoryview) and isinstance(base, int) and len(mem) >= base + 4:
        return bytes(mem[base:])
    return None


_BOF = {0x0809, 0x0409, 0x0209, 0x0009}
_EOF = 0x000A
_PROTECT = 0x0012
_BOUNDSHEET = 0x0085


def _records(stream: bytes, pos: int) -> Iterator[tuple[int, int, int]]:
    """(record type, data offset, data length) of every record from `pos` to the end of the stream."""
    end = len(stream)
    while pos + 4 <= end:
        rtype, length = struct.unpack_from("<HH", stream, pos)
        yield rtype, pos + 4, min(length, end - pos - 4)
        pos += 4 + length


def _substream(stream: bytes, pos: int) -> Iterator[tuple[int, int, int]]:
    """Records of the substream whose BOF is at `pos`, at depth 1 only (embedded charts skipped)."""
    depth = 0
    for rtype, offset, length in _records(stream, pos):
        if rtype in _BOF:
            depth += 1
            if depth == 1:
                continue
        elif rtype == _EOF:
            depth -= 1
            if depth <= 0:
                return
        if depth == 0:
            return  # no BOF where the substream should start
        if depth == 1:
            yield rtype, offset, length


def _biff_protection(
    stream: bytes | None, biff_version: int, encoding: str | None
) -> tuple[bool, dict[str, bool]]:
    """(workbook structure locked, {sheet name: PROTECT set}) from the raw BIFF5/BIFF8 records.

    BIFF2–4 files (pre-1995, one sheet per file) are not inspected: everything reads unprotected.
    """
    if not stream or biff_version < 50:
        return False, {}
    structure_locked = False
    positions: list[tuple[str, int]] = []
    try:
        for rtype, offset, length in _substream(stream, 0):
            if rtype == _PROTECT and length >= 2:
                structure_locked = struct.unpack_from("<H", stream, offset)[0] != 0
            elif rtype == _BOUNDSHEET and length >= 7:
                name = _boundsheet_name(stream[offset + 6 : offset + length], biff_version, encoding)
                if name is not None:
                    positions.append((name, struct.unpack_from("<I", stream, offset)[0]))
        protected = {}
        for name, pos in positions:
            protected[name] = any(
                rtype == _PROTECT and length >= 2 and struct.unpack_from("<H", stream, offset)[0] != 0
                for rtype, offset, length in _substream(stream, pos)
            )
    except struct.error:
        return structure_locked, {}
    return structure_locked, protected


def _boundsheet_name(raw: bytes, biff_version: int, encoding: str | None) -> str | None:
    try:
        cch = raw[0]
        if biff_version >= 80:  # ShortXLUnicodeString: cch, flags (bit 0: two bytes per char), chars
            if raw[1] & 1:
                return raw[2 : 2 + 2 * cch].decode("utf-16-le")
            return raw[2 : 2 + cch].decode("latin-1")
        return raw[1 : 1 + cch].decode(encoding or "cp1252")
    except (IndexError, UnicodeDecodeError, LookupError):
        return None


# ------------------------------------------------------------------- OLE property sets (.xls)

_FMTID_USER = bytes.fromhex("05D5CDD59C2E1B10939708002B2CF9AE")  # {D5CDD505-2E9C-101B-9397-08002B2CF9AE}
_FMTID_SUMMARY = bytes.fromhex("E0859FF2F94F6810AB9108002B27B3D9")  # {F29F85E0-4FF9-1068-AB91-08002B27B3D9}
_PIDSI_APPNAME = 0x12
_FILETIME_EPOCH = datetime(1601, 1, 1)
_OLE_EPOCH = datetime(1899, 12, 30)


def _open_ole(data: bytes) -> Any:
    try:
        import olefile

        # always a file object: olefile takes a short bytes argument for a *file name*
        return olefile.OleFileIO(io.BytesIO(data)) if olefile.isOleFile(io.BytesIO(data)) else None
    except Exception:  # olefile raises OSError/struct.error/… on damaged containers; properties are optional
        return None


def _ole_user_properties(ole: Any) -> dict[str, str]:
    """The user-defined (custom) properties, names as written, values as text like docProps/custom.xml."""
    section = _property_section(ole, "\x05DocumentSummaryInformation", _FMTID_USER)
    if section is None:
        return {}
    names, values = section
    return {names[pid]: values[pid] for pid in sorted(values) if pid in names}


def _ole_application(ole: Any) -> str:
    section = _property_section(ole, "\x05SummaryInformation", _FMTID_SUMMARY)
    return section[1].get(_PIDSI_APPNAME, "").strip() if section else ""


def _property_section(
    ole: Any, stream_name: str, fmtid: bytes
) -> tuple[dict[int, str], dict[int, str]] | None:
    """({property id: name} from the dictionary, {property id: value as text}) of one property set."""
    try:
        if not ole.exists(stream_name):
            return None
        data = ole.openstream(stream_name).read(1 << 20)  # property sets are small; 1 MB is plenty
        if len(data) < 28 or data[:2] != b"\xfe\xff":
            return None
        count = struct.unpack_from("<I", data, 24)[0]
        for i in range(min(count, 8)):
            if data[28 + 20 * i : 44 + 20 * i] == fmtid:
                return _parse_section(data, struct.unpack_from("<I", data, 44 + 20 * i)[0])
    except Exception:  # a damaged stream: no properties, never a failed load
        return None
    return None


def _parse_section(data: bytes, base: int) -> tuple[dict[int, str], dict[int, str]]:
    size, count = struct.unpack_from("<II", data, base)
    section = data[base : base + size]
    count = min(count, max(0, (len(section) - 8) // 8))
    offsets = {}
    for i in range(count):
        pid, offset = struct.unpack_from("<II", section, 8 + 8 * i)
        offsets[pid] = offset
    codepage = 1252
    if 1 in offsets:  # PID_CODEPAGE: VT_I2, stored signed (65001 reads as -535)
        codepage = struct.unpack_from("<H", section, offsets[1] + 4)[0]
    encoding = _codepage(codepage)
    names = _dictionary(section, offsets[0], codepage, encoding) if 0 in offsets else {}
    values: dict[int, str] = {}
    for pid, offset in offsets.items():
        if pid in (0, 1) or pid & 0x80000000:
            continue
        try:
            value = _typed_value(section, offset, encoding)
        except (struct.error, UnicodeDecodeError, ValueError, OverflowError):
            continue
        if value is not None:
            values[pid] = value
    return names, values


def _codepage(codepage: int) -> str:
    special = {1200: "utf-16-le", 1201: "utf-16-be", 65001: "utf-8", 10000: "mac_roman", 20127: "ascii"}
    name = special.get(codepage, f"cp{codepage}")
    try:
        "".encode(name)
    except LookupError:
        return "cp1252"
    return name


def _dictionary(section: bytes, offset: int, codepage: int, encoding: str) -> dict[int, str]:
    (count,) = struct.unpack_from("<I", section, offset)
    pos = offset + 4
    names: dict[int, str] = {}
    for _ in range(min(count, len(section) // 8)):
        pid, length = struct.unpack_from("<II", section, pos)
        pos += 8
        if codepage == 1200:  # length in UTF-16 code units, each entry padded to 4 bytes
            raw = section[pos : pos + 2 * length]
            pos += 2 * length + (-2 * length) % 4
        else:
            raw = section[pos : pos + length]
            pos += length
        if pos > len(section):
            break
        names[pid] = raw.decode(encoding, errors="replace").split("\x00", 1)[0]
    return names


def _typed_value(section: bytes, offset: int, encoding: str) -> str | None:
    (vt,) = struct.unpack_from("<H", section, offset)
    at = offset + 4
    if vt in (0x1E, 0x08):  # VT_LPSTR, VT_BSTR: byte count (with NUL), code-page text
        (n,) = struct.unpack_from("<I", section, at)
        return section[at + 4 : at + 4 + n].decode(encoding, errors="replace").split("\x00", 1)[0]
    if vt == 0x1F:  # VT_LPWSTR: char count (with NUL), UTF-16LE
        (n,) = struct.unpack_from("<I", section, at)
        return section[at + 4 : at + 4 + 2 * n].decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    ints = {0x02: "<h", 0x03: "<i", 0x10: "<b", 0x11: "<B", 0x12: "<H", 0x13: "<I", 0x14: "<q", 0x15: "<Q",
            0x16: "<i", 0x17: "<I"}  # fmt: skip
    if vt in ints:
        return str(struct.unpack_from(ints[vt], section, at)[0])
    if vt in (0x04, 0x05):  # VT_R4, VT_R8
        x = struct.unpack_from("<f" if vt == 0x04 else "<d", section, at)[0]
        return str(_number(x)) if math.isfinite(x) else str(x)
    if vt == 0x0B:  # VT_BOOL: 0xFFFF true
        return "true" if struct.unpack_from("<H", section, at)[0] else "false"
    if vt == 0x06:  # VT_CY: 64-bit, 1/10000 units
        return str(_number(struct.unpack_from("<q", section, at)[0] / 10000))
    if vt == 0x40:  # VT_FILETIME: 100 ns since 1601, UTC
        moment = _FILETIME_EPOCH + timedelta(microseconds=struct.unpack_from("<Q", section, at)[0] // 10)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if vt == 0x07:  # VT_DATE: days since 1899-12-30
        moment = _OLE_EPOCH + timedelta(days=struct.unpack_from("<d", section, at)[0])
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None  # vectors, blobs, clipboard data: not a form's identity


# --------------------------------------------------------------------------------------------- .ods

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "calcext": "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0",
}
_O, _T, _X, _S, _C = (f"{{{_NS[p]}}}" for p in ("office", "table", "text", "style", "calcext"))
_TABLE, _ROW, _CELL, _COVERED = _T + "table", _T + "table-row", _T + "table-cell", _T + "covered-table-cell"
_SPREADSHEET, _TABLE_PROPS = _O + "spreadsheet", _S + "table-properties"
_P, _H, _SPACE, _TAB, _BREAK = _X + "p", _X + "h", _X + "s", _X + "tab", _X + "line-break"
_SKIP_IN_TEXT = {_O + "annotation", _X + "note", _X + "ruby-text"}
_ERROR_TEXT = re.compile(r"^(#[A-Z0-9/_]+[!?]|#N/A|Err:\d{3})$")
_DURATION = re.compile(
    r"^-?P(?:(\d+(?:\.\d+)?)D)?T?(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$"
)
_MAX_REPEAT = 1 << 24  # beyond any sheet (1,048,576 rows × 16,384 columns); nonsense clamps here
_MAX_TEXT = 1 << 20  # characters kept per cell: a hostile file cannot inflate a cell past this


def load_ods(data: bytes, windows: dict[str, Window], default: Window = (60, 12)) -> Book:
    """Read the named windows of every table of an .ods (other tables: `default` window)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    names = set(z.namelist())
    if "content.xml" not in names:
        raise ValueError("not an OpenDocument spreadsheet: no content.xml")
    if "META-INF/manifest.xml" in names and b"encryption-data" in z.read("META-INF/manifest.xml"):
        raise ValueError("the OpenDocument file is encrypted (password to open)")
    reader = _OdsReader(windows, default)
    with z.open("content.xml") as fh:
        reader.run(fh)
    if reader.unresolved() and "styles.xml" in names:  # table styles may live in styles.xml
        with z.open("styles.xml") as fh:
            reader.run(fh, styles_only=True)
    reader.resolve_states()
    properties, application = _ods_meta(z.read("meta.xml")) if "meta.xml" in names else ({}, "")
    return Book(
        kind="ods",
        sheets=reader.sheets,
        properties=properties,
        application=application,
        structure_locked=reader.structure_locked,
    )


class _OdsReader:
    """One pass of iterparse: tables, rows and cells; only window positions are ever materialised."""

    def __init__(self, windows: dict[str, Window], default: Window) -> None:
        self.windows, self.default = windows, default
        self.sheets: dict[str, Sheet] = {}
        self.styles: dict[str, bool] = {}  # table style name → displayed
        self.table_styles: dict[str, str] = {}  # sheet name → its style name
        self.structure_locked = False
        # where the pass is: the sheet being read (None outside a window's table), its table and row
        # elements, the window's last row and column, the row and column reached, the row's repeat
        # count and the row's values not yet stored (one row, repeated `row_repeat` times)
        self.sheet: Sheet | None = None
        self.table_el: Any = None
        self.row_el: Any = None
        self.last_row = self.last_col = -1
        self.row = self.col = 0
        self.row_repeat = 1
        self.pending: dict[int, Value] = {}

    def run(self, fh: Any, styles_only: bool = False) -> None:
        tags = (_TABLE_PROPS,) if styles_only else (_SPREADSHEET, _TABLE, _ROW, _CELL, _COVERED, _TABLE_PROPS)
        events = etree.iterparse(
            fh, events=("start", "end"), tag=tags, resolve_entities=False, no_network=True, huge_tree=False
        )
        for event, el in events:
            tag = el.tag
            if tag in (_CELL, _COVERED):
                if event == "end" and self.row_el is not None and el.getparent() is self.row_el:
                    self.cell(el)
            elif tag == _ROW:
                if self.table_el is not None and _table_of(el) is self.table_el:
                    self.table_row(el, event)
            elif tag == _TABLE:
                if el.getparent() is not None and el.getparent().tag == _SPREADSHEET:  # else not a sheet
                    self.table(el, event)
            elif tag == _TABLE_PROPS:
                if event == "end":
                    self.table_props(el)
            elif tag == _SPREADSHEET and event == "start":
                self.structure_locked = el.get(_T + "structure-protected") in ("true", "1")

    def cell(self, el: Any) -> None:
        """A cell (or a covered one) of the current row: its value kept if inside the window."""
        row, col = self.row, self.col
        repeat = _count(el.get(_T + "number-columns-repeated"))
        if row <= self.last_row and col <= self.last_col:
            value = _ods_value(el)
            if value is not None:
                for c in range(col, min(col + repeat, self.last_col + 1)):
                    self.pending[c] = value
            spans = (
                _count(el.get(_T + "number-rows-spanned")),
                _count(el.get(_T + "number-columns-spanned")),
            )
            if self.sheet is not None and spans != (1, 1):
                last = (min(row + spans[0] - 1, self.last_row), min(col + spans[1] - 1, self.last_col))
                self.sheet.merged.append((row, col, *last))
        self.col += repeat
        el.clear()

    def table_row(self, el: Any, event: str) -> None:
        """A row of the current table: at its end, its values stored for each of its repeats."""
        if event == "start":
            self.row_el, self.col, self.pending = el, 0, {}
            self.row_repeat = _count(el.get(_T + "number-rows-repeated"))
            return
        if self.sheet is not None and self.pending and self.row <= self.last_row:
            for r in range(self.row, min(self.row + self.row_repeat, self.last_row + 1)):
                for c, value in self.pending.items():
                    self.sheet.cells[(r, c)] = value
        self.row += self.row_repeat
        self.row_el, self.pending = None, {}
        _drop(el)

    def table(self, el: Any, event: str) -> None:
        """A sheet: its name, protection and style at the start; at the end, nothing more to read in it."""
        if event == "start":
            name = el.get(_T + "name", "")
            self.sheet = Sheet(name=name, protected=el.get(_T + "protected") in ("true", "1"))
            self.sheets[name] = self.sheet
            self.table_styles[name] = el.get(_T + "style-name", "")
            self.table_el, self.row = el, 0
            self.last_row, self.last_col = self.windows.get(name, self.default)
        else:
            self.sheet, self.table_el = None, None
            _drop(el)

    def table_props(self, el: Any) -> None:
        """A table style's display setting (a hidden sheet is a table whose style says display=false)."""
        parent = el.getparent()
        if parent is not None and parent.get(_S + "family") == "table" and parent.get(_S + "name"):
            self.styles[parent.get(_S + "name")] = el.get(_T + "display") not in ("false", "0")

    def unresolved(self) -> bool:
        return any(style and style not in self.styles for style in self.table_styles.values())

    def resolve_states(self) -> None:
        for name, sheet in self.sheets.items():
            if not self.styles.get(self.table_styles.get(name, ""), True):
                sheet.state = "hidden"


def _table_of(el: Any) -> Any:
    """The table:table element a row belongs to (rows may sit in row groups / header rows)."""
    parent = el.getparent()
    while parent is not None and parent.tag != _TABLE:
        parent = parent.getparent()
    return parent


def _drop(el: Any) -> None:
    """Free a finished element and its already-finished previous siblings (iterparse memory stays flat)."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _count(raw: str | None) -> int:
    try:
        return max(1, min(int(raw), _MAX_REPEAT)) if raw else 1
    except ValueError:
        return 1


def _ods_value(el: Any) -> Value | None:
    vtype = el.get(_O + "value-type")
    formula = el.get(_T + "formula")
    if formula is not None:
        text = _cell_text(el)
        # LibreOffice ≥ 4.x: calcext:value-type="error" (value-type "string", string-value "");
        # older writers leave value-type out and put the error text in <text:p>
        if el.get(_C + "value-type") == "error" or (
            (vtype is None or (vtype == "string" and el.get(_O + "string-value") == ""))
            and _ERROR_TEXT.match(text)
        ):
            return Value(text or "#VALUE!", "e", _formula_text(formula))
        typed = _typed(el, vtype, text)
        return Value(typed.value if typed is not None else None, "f", _formula_text(formula))
    if el.get(_C + "value-type") == "error":
        return Value(_cell_text(el), "e")
    if vtype is None:  # no type: plain text if any (covered cells are usually empty)
        text = _cell_text(el)
        return Value(text, "s") if text else None
    return _typed(el, vtype, None)


def _typed(el: Any, vtype: str | None, text: str | None) -> Value | None:
    if vtype in ("float", "percentage", "currency"):
        raw = el.get(_O + "value", "")
        try:
            return _numeric(float(raw), raw)
        except ValueError:
            return Value(text if text is not None else _cell_text(el), "s")
    if vtype == "string":
        raw = el.get(_O + "string-value")
        return Value(raw if raw is not None else (text if text is not None else _cell_text(el)), "s")
    if vtype == "date":
        raw = el.get(_O + "date-value", "")
        moment = _parse_date(raw)
        return Value(moment, "d") if moment is not None else Value(raw, "s")
    if vtype == "time":
        raw = el.get(_O + "time-value", "")
        seconds = _parse_duration(raw)
        if seconds is None:
            return Value(raw, "s")
        if 0 <= seconds < 86400:  # a time of day, as load_xlsx returns a time-formatted serial < 1
            return Value(time(int(seconds // 3600), int(seconds % 3600 // 60), int(seconds % 60)), "d")
        return _numeric(seconds / 86400, raw)
    if vtype == "boolean":
        return Value(el.get(_O + "boolean-value", "").strip().lower() in ("true", "1"), "b")
    if vtype == "void" or vtype is None:
        return None
    text = text if text is not None else _cell_text(el)
    return Value(text, "s") if text else None  # an unknown value-type: keep what it shows


def _parse_date(raw: str) -> datetime | None:
    raw = raw.strip()
    m = re.match(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?)?", raw)
    if not m:
        return None
    frac = (m.group(3) or "")[:7].ljust(7, "0") if m.group(3) else ""
    try:
        return datetime.fromisoformat(m.group(1) + ("T" + m.group(2) if m.group(2) else "") + frac)
    except ValueError:
        return None


def _parse_duration(raw: str) -> float | None:
    m = _DURATION.match(raw.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    total = d * 86400 + h * 3600 + mi * 60 + s
    return -total if raw.strip().startswith("-") else total


def _formula_text(formula: str) -> str:
    """'of:=[.B2]+[.B3]' → '[.B2]+[.B3]' (namespace prefix and '=' dropped, like load_xlsx's 'B2+B3')."""
    m = re.match(r"^[A-Za-z][\w.-]*:(?==)", formula)
    body = formula[m.end() :] if m else formula
    return body[1:] if body.startswith("=") else body or "(formula)"


def _cell_text(cell: Any) -> str:
    budget = [_MAX_TEXT]
    paragraphs = []
    for child in cell:
        if child.tag in (_P, _H):
            paragraphs.append("".join(_inline(child, budget)))
    return "\n".join(paragraphs)


def _inline(el: Any, budget: list[int]) -> Iterator[str]:
    """Text of a paragraph: spans and links by their text, <text:s/> as spaces, tabs, line breaks."""

    def take(s: str) -> str:
        s = s[: max(0, budget[0])]
        budget[0] -= len(s)
        return s

    if el.text:
        yield take(el.text)
    for child in el:
        tag = child.tag
        if tag == _SPACE:
            # <text:s text:c="..."/>: a cell's worth of spaces at most
            yield take(" " * min(_count(child.get(_X + "c")), EXCEL_TEXT_LIMIT))
        elif tag == _TAB:
            yield take("\t")
        elif tag == _BREAK:
            yield take("\n")
        elif tag not in _SKIP_IN_TEXT and isinstance(tag, str):
            yield from _inline(child, budget)
        if child.tail:
            yield take(child.tail)


def _ods_meta(xml: bytes) -> tuple[dict[str, str], str]:
    root = etree.fromstring(xml, PARSER)
    properties = {}
    for prop in root.iter(f"{{{_NS['meta']}}}user-defined"):
        properties[prop.get(f"{{{_NS['meta']}}}name", "")] = "".join(prop.itertext()).strip()
    generator = root.findtext(f".//{{{_NS['meta']}}}generator") or ""
    return properties, generator.strip()
