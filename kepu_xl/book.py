"""Workbook bytes → `Book`: the cells of a few bounded windows, sheet states, protection, properties.

One neutral view over .xlsx (zipfile + lxml, here), .xls and .ods (book_legacy.py), so the reader
and audit never care which office suite saved a return. Only the window of cells the layout
names is kept (a 2 KB file with a cell at XFD1048576 costs nothing); formulas are recorded with
their cached value, which the audit never trusts; error cells stay errors (never '' or 0).

Speed (a province sends 10,000 returns): a sheet part of a normal size is cut after </sheetData>,
its styled empty cells are dropped, and libxml2 parses the rest in one go; an XPath hands Python
only the cells with something in them, and `only=` narrows those to what the caller will look at.
Parts shared by every form of a campaign (rels, styles) are parsed once per process. A part over
WHOLE_PART is streamed instead and the stream stops at the first row past the window. Every
shortcut falls back to parsing the part whole when the bytes are anything but plain.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import lru_cache
from typing import Any, NamedTuple

import xlrd
from lxml import etree
from xlrd.formatting import is_date_format_string

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
    "cp": "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties",
    "vt": "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
}
_M = "{" + NS["m"] + "}"
_REF = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")
# no DTDs, no entities, no network: the pre-check already refused DTDs; this is the second lock
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

Window = tuple[int, int]  # (last row, last col), 0-based, inclusive


class Value(NamedTuple):  # a tuple: a form has hundreds of cells, and a tuple is made fastest
    """One cell as saved: `value` is str/float/int/bool/datetime or None; `kind` says what it was.

    kind: 'n' number, 's' text, 'b' boolean, 'd' date, 'e' error (value = '#DIV/0!' …),
    'f' formula (value = cached result, None when the file has none); a formula whose cached result is an
    error is 'e', with its formula.
    """

    value: Any
    kind: str
    formula: str = ""


@dataclass
class Sheet:
    name: str
    state: str = "visible"  # visible | hidden | veryHidden
    protected: bool = False
    cells: dict[tuple[int, int], Value] = field(default_factory=dict)
    # merged ranges (first row, first col, last row, last col), 0-based; read only when asked for
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)

    def get(self, row: int, col: int) -> Value | None:
        return self.cells.get((row, col))

    def text(self, row: int, col: int) -> str:
        v = self.cells.get((row, col))
        return "" if v is None or v.value is None else str(v.value).strip()


@dataclass
class Book:
    kind: str  # xlsx | xls | ods
    sheets: dict[str, Sheet]
    properties: dict[str, str] = field(default_factory=dict)  # custom document properties
    application: str = ""  # who saved it (docProps/app.xml), for the report
    structure_locked: bool = False


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def load_xlsx(
    data: bytes,
    windows: dict[str, Window],
    default: Window | None = (60, 12),
    *,
    only: Mapping[str, Container[tuple[int, int]]] | None = None,
    parts: Mapping[str, bytes] | None = None,
    merges: bool = False,
) -> Book:
    """Read the named windows of every sheet of an .xlsx.

    Sheets not named in `windows` get the `default` window; with `default=None` they are only
    listed (name, state), their cells are not read (the reader never looks at them). `only`
    narrows a sheet further to the (row, col) positions its caller will look at. `parts` holds
    package parts already inflated from these very bytes (the pre-check's), used instead of
    inflating them again. `merges` also reads each sheet's merged ranges (a table from above, not a return).
    """
    z = _Package(data, parts or {})
    xml = z.read("xl/workbook.xml")
    workbook = _workbook_of(xml) if len(xml) <= _CACHE_PART else _workbook_of.__wrapped__(xml)
    rels = _rels(z, "xl/_rels/workbook.xml.rels")
    shared = _shared_strings(z)
    date_styles = _date_styles(z)
    date1904 = workbook.date1904
    sheets: dict[str, Sheet] = {}
    for name, rid, state in workbook.sheets:
        part = _resolve(rels.get(rid, ""))
        sheet = Sheet(name=name, state=state)
        sheets[name] = sheet
        window = windows.get(name, default)
        if window is not None and part in z:
            wanted = only.get(name) if only else None
            _read_sheet(z.read(part), sheet, window, shared, date_styles, date1904, wanted, merges)
    return Book(
        kind="xlsx",
        sheets=sheets,
        properties=_custom_properties(z),
        application=_application(z),
        structure_locked=workbook.structure_locked,
    )


class _Workbook(NamedTuple):
    """What xl/workbook.xml says: the sheets as (name, relationship id, state), in order."""

    sheets: tuple[tuple[str, str, str], ...]
    date1904: bool
    structure_locked: bool


@lru_cache(maxsize=32)
def _workbook_of(xml: bytes) -> _Workbook:
    wb = etree.fromstring(xml, PARSER)
    pr = wb.find("m:workbookPr", NS)
    protection = wb.find("m:workbookProtection", NS)
    return _Workbook(
        sheets=tuple(
            (node.get("name", ""), node.get(f"{{{NS['r']}}}id", ""), node.get("state", "visible"))
            for node in wb.iterfind("m:sheets/m:sheet", NS)
        ),
        date1904=pr is not None and pr.get("date1904") in ("1", "true"),
        structure_locked=protection is not None and protection.get("lockStructure") in ("1", "true"),
    )


class _Package:
    """The package's parts: from `parts` when given, else inflated from the zip (opened when needed).

    `name in package` says whether the zip has that member.
    """

    def __init__(self, data: bytes, parts: Mapping[str, bytes]):
        self._data = data
        self._parts = parts
        self._zip: zipfile.ZipFile | None = None
        self._names: set[str] = set()
        if not parts:
            self._open()

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(io.BytesIO(self._data))
            self._names = set(self._zip.namelist())
        return self._zip

    def __contains__(self, name: str) -> bool:
        if name in self._parts:
            return True
        self._open()
        return name in self._names

    def read(self, name: str) -> bytes:
        got = self._parts.get(name)
        return got if got is not None else self._open().read(name)


def _resolve(target: str) -> str:
    target = target.lstrip("/")
    return target if target.startswith("xl/") else "xl/" + target


# Parts this small and this common (every form of a campaign has the same workbook part, rels, styles
# and app.xml) are parsed once per process; the key is the part's bytes, so a changed part is parsed
# again. The pre-check hands the same bytes object for a part it has seen (intake.bytecheck._SEEN),
# whose hash is then already known: the lookup costs no pass over the bytes.
_CACHE_PART = 64 << 10


@lru_cache(maxsize=32)
def _rels_of(xml: bytes) -> dict[str, str]:
    root = etree.fromstring(xml, PARSER)
    return {r.get("Id"): r.get("Target", "") for r in root.iterfind("rel:Relationship", NS)}


def _rels(z: _Package, part: str) -> dict[str, str]:
    try:
        xml = z.read(part)
    except KeyError:
        return {}
    return dict(_rels_of(xml)) if len(xml) <= _CACHE_PART else _rels_of.__wrapped__(xml)


_SI = _M + "si"
_T = _M + "t"
_SI_TEXT = etree.XPath("./m:t/text()|./m:r/m:t/text()", namespaces=NS)


class _SharedStrings:
    """xl/sharedStrings.xml as a list whose items are only turned into text when a cell asks.

    A form's window references a third of the table; indexing behaves as the list of all texts would.
    """

    def __init__(self, items: list[Any], plain: bool = False):
        self._items = items  # <si> elements, or (plain) the text of each <si> as `_plain_strings` cut it
        self._plain = plain
        self._texts: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> str:
        text = self._texts.get(index)  # only valid indexes are stored, under their positive value
        if text is None:
            si = self._items[index]  # IndexError, and negative indexes, exactly as on a list
            raw = _plain_text(si) if self._plain else _si_text(si)
            text = self._texts[index % len(self._items)] = decode_xstring(raw)
        return text


_XSTRING = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_xstring(text: str) -> str:
    """An OOXML string as the unit typed it: Excel writes a character XML cannot hold (a CR, a control
    character) as _xHHHH_, and a literal "_x" before four hex digits as _x005F_x (ECMA-376 ST_Xstring)."""
    return _XSTRING.sub(_unescape, text) if "_x" in text else text


def _unescape(m: re.Match[str]) -> str:
    return chr(int(m.group(1), 16))


def _si_text(si: Any) -> str:
    # rich text runs: the text is the concatenation of every <t>, phonetic runs (rPh) excluded
    if len(si) == 1:
        t = si[0]
        if t.tag == _T and len(t) == 0:  # plain <si><t>text</t></si>: no XPath needed
            return t.text or ""
    return "".join(_SI_TEXT(si))


def _shared_strings(z: _Package) -> _SharedStrings:
    if "xl/sharedStrings.xml" not in z:
        return _SharedStrings([])
    xml = z.read("xl/sharedStrings.xml")
    plain = _plain_strings(xml)
    if plain is not None:
        return _SharedStrings(plain, plain=True)
    root = etree.fromstring(xml, PARSER)
    return _SharedStrings(root.findall(_SI))


# A shared-strings part as Excel, WPS, LibreOffice and kepuxl's own forms write it: the declaration, the
# root with its counts, then only <si><t>text</t></si> items, the text plain characters and the five
# predefined entities. Such a part is cut into its texts without building a tree (two to three times
# faster than libxml2 at a form's ~200 strings). Anything else (rich text, phonetic runs, character
# references, a CR that XML would normalise, a character XML does not allow, another declaration, a
# BOM, whitespace between elements) goes to libxml2 as before, which also reports what is malformed:
# the pattern accepts only what it would read the same.
_XML_CHAR_NOT = "<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"  # '<', '&', CR and what XML does not allow
_PLAIN_HEAD = re.compile(
    r'<\?xml version="1\.0" encoding="UTF-8" standalone="yes"\?>\n?'
    r'<sst xmlns="http://schemas\.openxmlformats\.org/spreadsheetml/2006/main"'
    r'(?: count="[0-9]{1,10}+")?+(?: uniqueCount="[0-9]{1,10}+")?+>'
)
_PLAIN_TEXT = f"[^{_XML_CHAR_NOT}]*+(?:&(?:amp|lt|gt|quot|apos);[^{_XML_CHAR_NOT}]*+)*+"
_PLAIN_ITEMS = re.compile(f'(?:<si><t(?: xml:space="preserve")?+>{_PLAIN_TEXT}</t></si>)*+')
_ITEM_END = "</t></si>"
_PRESERVE = '<si><t xml:space="preserve">'
_PLAIN = "<si><t>"


def _plain_strings(xml: bytes) -> list[str] | None:
    """The <si> items of a plain shared-strings part (see above), each cut to '<si><t…>text'; None
    when the part is anything else."""
    try:
        doc = xml.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _PLAIN_HEAD.match(doc)
    end = doc.rfind("</sst>")
    if head is None or end < 0 or doc[end + 6 :].strip(" \t\r\n") or "]]>" in doc:
        return None
    if _PLAIN_ITEMS.fullmatch(doc, head.end(), end) is None:
        return None
    return doc[head.end() : end].split(_ITEM_END)[:-1]


def _plain_text(item: str) -> str:
    text = item[len(_PRESERVE) :] if item.startswith(_PRESERVE) else item[len(_PLAIN) :]
    if "&" in text:
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'")
        text = text.replace("&amp;", "&")
    return text


def _date_styles(z: _Package) -> frozenset[int]:
    """Indexes of cell styles (xf) whose number format shows a date."""
    if "xl/styles.xml" not in z:
        return frozenset()
    xml = z.read("xl/styles.xml")
    return _date_styles_of(xml) if len(xml) <= _CACHE_PART else _date_styles_of.__wrapped__(xml)


# The built-in number formats (ECMA-376 Part 1, 18.8.30) that show a date or a time. A built-in id has no
# format code in the file: the id is all there is. Besides the international ones (14–22, 45–47), Chinese,
# Japanese and Korean Excel and WPS write 27–36 and 50–58 for the dates and times their own lists offer
# (zh-CN: 31 is yyyy"年"m"月"d"日", 57 yyyy"年"m"月", 58 m"月"d"日", 32 h"时"mm"分"); 71–81 are Thai dates.
# LibreOffice and Excel show them as dates, and xlrd reads them so in an .xls: a date a unit picked from
# Excel's list must not come back as its serial number. A file that defines one of these ids itself is
# judged by its own code.
BUILTIN_DATE_FORMATS = frozenset(
    (*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82))
)


@lru_cache(maxsize=32)
def _date_styles_of(xml: bytes) -> frozenset[int]:
    root = etree.fromstring(xml, PARSER)
    custom = {
        int(n.get("numFmtId")): n.get("formatCode", "") for n in root.iterfind("m:numFmts/m:numFmt", NS)
    }
    out = set()
    for i, xf in enumerate(root.iterfind("m:cellXfs/m:xf", NS)):
        fmt_id = int(xf.get("numFmtId", "0"))
        code = custom.get(fmt_id)
        if (fmt_id in BUILTIN_DATE_FORMATS) if code is None else is_date_format(code):
            out.add(i)
    return frozenset(out)


class _Quiet:
    """What xlrd's format classifier asks of a book: how much to log (nothing)."""

    verbosity = 0
    logfile = None


@lru_cache(maxsize=256)
def is_date_format(code: str) -> bool:
    """Whether a number format code shows a date or a time: xlrd's reading of it, which is also how an
    .xls's formats are read, so a format means the same in either file."""
    return is_date_format_string(_Quiet, code)


def excel_moment(serial: float, date1904: bool) -> datetime | time:
    """A date-formatted cell's serial number as the moment it shows, in .xlsx and .xls alike: xlrd's
    conversion (Excel's 1900 leap-year bug included); a bare time (below 1, 1900 calendar) is a time of
    day. ValueError or OverflowError when the number is no moment."""
    moment = xlrd.xldate_as_datetime(serial, 1 if date1904 else 0)
    return moment.time() if not date1904 and 0 <= serial < 1 else moment


# A sheet part up to this size is parsed whole by libxml2 and only the cells with content are handed
# to Python (a form's sheet is ~20 KB; 4 MB is hundreds of times that). A bigger part is streamed
# and the stream stops at the first row past the window, so a huge sheet never costs more than its
# window plus the part's size in bytes.
WHOLE_PART = 4 << 20
_C, _V, _F, _IS, _ROW = _M + "c", _M + "v", _M + "f", _M + "is", _M + "row"
_PROTECTION = _M + "sheetProtection"
_MERGE = _M + "mergeCell"
# cells with something in them (a value, a formula, an inline string) in row order
_FILLED = etree.XPath("/m:worksheet/m:sheetData/m:row/m:c[* or @t='inlineStr']", namespaces=NS)
_INLINE_TEXT = etree.XPath("./m:is/m:t/text()|./m:is/m:r/m:t/text()", namespaces=NS)
# A styled empty cell, `<c r="B7" s="3"/>` (Excel, xlsxwriter) or `<c r="B7" s="3" t="n"></c>`
# (openpyxl): no value, no formula, never selected by _FILLED. A form has hundreds (every input cell
# of the detail table); dropping them before libxml2 builds a node for each saves a third of the
# parse. The pattern allows nothing else: no other attribute, no content, no quoting to get wrong.
# Possessive quantifiers (+): the same matches (the parts cannot overlap), a third less time.
_EMPTY_CELL = re.compile(rb'<c r="[A-Z]{1,3}+[0-9]{1,7}+"(?: s="[0-9]{1,9}+")?+(?: t="n")?+(?:/>|></c>)')
_POSITIONS: dict[str, tuple[int, int] | None] = {}  # "D7" → (6, 3); bounded below
_POSITIONS_MAX = 50_000


def position(ref: str) -> tuple[int, int] | None:
    """An A1 reference → (row, col), 0-based; None when it is not one."""
    pos = _POSITIONS.get(ref, False)
    if pos is not False:
        return pos  # type: ignore[return-value]
    m = _REF.match(ref)
    pos = (int(m.group(2)) - 1, col_index(m.group(1))) if m else None
    if len(_POSITIONS) >= _POSITIONS_MAX:  # a big sheet (a roster) must not leave it full for the forms
        _POSITIONS.clear()
    _POSITIONS[ref] = pos
    return pos


def _read_sheet(
    xml: bytes,
    sheet: Sheet,
    window: Window,
    shared: _SharedStrings,
    date_styles: frozenset[int],
    date1904: bool,
    wanted: Container[tuple[int, int]] | None = None,
    merges: bool = False,
) -> None:
    if len(xml) > WHOLE_PART and not merges:  # (merged ranges follow the cells: a table is parsed whole)
        _stream_sheet(xml, sheet, window, shared, date_styles, date1904, wanted)
        return
    last_row, last_col = window
    if not merges and b"<![CDATA[" not in xml and b"<!--" not in xml:  # else the bytes may be text
        xml = _EMPTY_CELL.sub(b"", _trimmed(xml))
        if isinstance(wanted, frozenset) and wanted:
            xml = _pruned(xml, wanted, last_col)
    root = etree.fromstring(xml, PARSER)
    cells = sheet.cells
    positions = _POSITIONS
    for el in _FILLED(root):
        ref = el.get("r", "")
        pos = positions[ref] if ref in positions else position(ref)
        if (
            pos is None
            or pos[0] > last_row
            or pos[1] > last_col
            or (wanted is not None and pos not in wanted)
        ):
            continue
        value = _cell(el, shared, date_styles, date1904)
        if value is not None:
            cells[pos] = value
    for el in root.iter(_PROTECTION):
        sheet.protected = el.get("sheet") in ("1", "true")
    if merges:
        sheet.merged = _merged(root, window)


def _merged(root: Any, window: Window) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges that begin inside the window (clipped to it)."""
    out = []
    for el in root.iter(_MERGE):
        first, _, last = el.get("ref", "").partition(":")
        a, b = position(first), position(last or first)
        if a is not None and b is not None and a[0] <= window[0] and a[1] <= window[1]:
            out.append((a[0], a[1], min(b[0], window[0]), min(b[1], window[1])))
    return out


_PROTECTION_ELEMENT = re.compile(rb"<sheetProtection\b[^<>]*/>")
_ROW_NUMBER = re.compile(rb'<row r="([0-9]{1,7})"')
_FEW_ROWS = 3  # a column wanted on at most this many rows has its other cells dropped before parsing


def _pruned(xml: bytes, wanted: frozenset[tuple[int, int]], last_col: int) -> bytes:
    """The part without what the caller will not look at: the rows after the last wanted one, and the
    plain cells (a value and/or a formula, nothing else) of columns wanted on few rows, outside those
    rows. A form's self-checks and its hint and state formulas are most of its sheet; what is left is
    parsed in a third of the time. What is dropped would have been skipped after parsing anyway."""
    last, cells = _pruning(wanted, last_col)
    for m in _ROW_NUMBER.finditer(xml):
        if int(m[1]) - 1 > last:  # rows come in order: the rest of sheetData goes
            end = xml.find(b"</sheetData>", m.start())
            if end > 0:
                xml = xml[: m.start()] + xml[end:]
            break
    return cells.sub(b"", xml) if cells is not None else xml


@lru_cache(maxsize=16)
def _pruning(wanted: frozenset[tuple[int, int]], last_col: int) -> tuple[int, re.Pattern[bytes] | None]:
    """(the last wanted row, the pattern of the plain cells `_pruned` drops; None: none)."""
    rows: dict[int, set[int]] = {}
    for r, c in wanted:
        rows.setdefault(c, set()).add(r)
    columns = []
    for col in range(last_col + 1):
        letters = _letters(col)
        kept = rows.get(col, set())
        if not kept:
            columns.append(letters)
        elif len(kept) <= _FEW_ROWS:
            columns.append(letters + b"(?!(?:" + b"|".join(b"%d" % (r + 1) for r in sorted(kept)) + b')")')
    if not columns:
        return max(r for r, _ in wanted), None
    pattern = (
        rb'<c r="(?:' + b"|".join(columns) + rb')[0-9]{1,7}"(?: s="[0-9]{1,9}")?(?: t="[a-zA-Z]{1,9}")?'
        rb"(?:/>|>(?:<f>[^<]*</f>)?(?:<v>[^<]*</v>)?</c>)"
    )
    return max(r for r, _ in wanted), re.compile(pattern)


def _letters(col: int) -> bytes:
    out = b""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        out = bytes((65 + rest,)) + out
    return out


def _trimmed(xml: bytes) -> bytes:
    """The part up to </sheetData>, then its <sheetProtection/> and the root's end tag.

    What follows sheetData (validations, merged cells, formatting, page setup: half of a form's sheet)
    holds nothing the reader uses. Anything unusual (a prefix, two sheetData ends, a protection element
    the pattern does not take whole) and the part is returned as it is, to be parsed whole.
    """
    end = xml.find(b"</sheetData>")
    if end < 0 or xml.find(b"</sheetData>", end + 1) >= 0:
        return xml
    tail = xml[end + 12 :]
    close = tail.rfind(b"</worksheet>")
    if close < 0 or tail[close + 12 :].strip():
        return xml
    protection = _PROTECTION_ELEMENT.findall(tail, 0, close)
    if len(protection) != tail.count(b"sheetProtection"):
        return xml
    return xml[: end + 12] + b"".join(protection) + b"</worksheet>"


def _stream_sheet(
    xml: bytes,
    sheet: Sheet,
    window: Window,
    shared: _SharedStrings,
    date_styles: frozenset[int],
    date1904: bool,
    wanted: Container[tuple[int, int]] | None = None,
) -> None:
    """A big part: iterparse (memory stays flat), stop after the window, then read what follows sheetData."""
    last_row, last_col = window
    events = etree.iterparse(
        io.BytesIO(xml), events=("end",), resolve_entities=False, no_network=True, huge_tree=False
    )
    for _, el in events:
        tag = el.tag
        if tag == _C:
            pos = position(el.get("r", ""))
            if (
                pos is not None
                and pos[0] <= last_row
                and pos[1] <= last_col
                and (wanted is None or pos in wanted)
            ):
                value = _cell(el, shared, date_styles, date1904)
                if value is not None:
                    sheet.cells[pos] = value
            el.clear()
        elif tag == _ROW:
            number = el.get("r", "")
            el.clear()
            if number.isdigit() and int(number) - 1 > last_row:
                _tail(xml, sheet)  # rows come in order: nothing after this one is in the window
                return
        elif tag == _PROTECTION:
            sheet.protected = el.get("sheet") in ("1", "true")


_ROOT_TAG = re.compile(rb"<(?!\?|!)[^\s>/]+(?:\s+[^\s=>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*>")
_SHEETDATA_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>")


def _tail(xml: bytes, sheet: Sheet) -> None:
    """The elements after </sheetData> (sheetProtection lives there), parsed under the root's start tag."""
    root = _ROOT_TAG.search(xml)
    end = max(_SHEETDATA_END.finditer(xml), key=lambda m: m.end(), default=None)  # the last one
    if root is None or end is None:
        return
    tree = etree.fromstring(xml[: root.end()] + xml[end.end() :], PARSER)  # malformed: raises, as before
    for el in tree.iter(_PROTECTION):
        sheet.protected = el.get("sheet") in ("1", "true")


def _cell(el: Any, shared: _SharedStrings, date_styles: frozenset[int], date1904: bool) -> Value | None:
    t = el.get("t", "n")
    if t == "inlineStr":
        if len(el) == 1:
            inline = el[0]
            if inline.tag == _IS and len(inline) == 1:
                text = inline[0]
                if text.tag == _T and len(text) == 0:  # plain <is><t>text</t></is>: no XPath needed
                    return Value(decode_xstring(text.text or ""), "s")
        return Value(decode_xstring("".join(_INLINE_TEXT(el))), "s")
    v: str | None = None
    f: Any = None
    # the first <v> and the first <f>, in one pass (find/findtext go through ElementPath each time)
    n = len(el)
    for child in el if n > 1 else (el[0],) if n else ():
        tag = child.tag
        if tag == _V:
            if v is None:
                v = child.text or ""
        elif tag == _F and f is None:
            f = child
    formula = (f.text or "") if f is not None else ""
    if f is not None and v is None:
        return Value(None, "f", formula or "(shared)")
    if v is None:
        return None  # a styled empty cell
    if t == "s":
        try:
            value: Any = shared[int(v)]
        except (ValueError, IndexError):
            value = None
        kind = "s"
    elif t == "str":
        value, kind = v, "s"
    elif t == "b":
        value, kind = v in ("1", "true"), "b"
    elif t == "e":
        value, kind = v, "e"
    else:
        try:
            number = float(v)
        except ValueError:
            if f is not None:  # <f>…</f><v></v>, as openpyxl saves a formula: no cached value
                return Value(None, "f", formula or "(shared)")
            return Value(v, "s")
        if int(el.get("s", "0") or 0) in date_styles:
            try:
                value, kind = excel_moment(number, date1904), "d"
            except (ValueError, OverflowError):
                value, kind = number, "n"
        else:
            value, kind = (int(number) if number.is_integer() and abs(number) < 2**53 else number), "n"
    if f is not None:  # a formula whose saved result is an error value is that error, as in an .ods
        return Value(value, "e" if kind == "e" else "f", formula or "(shared)")
    return Value(value, kind)


_PROPERTY = f"{{{NS['cp']}}}property"
_APPLICATION = etree.XPath("//*[local-name()='Application']/text()")


def _custom_properties(z: _Package) -> dict[str, str]:
    if "docProps/custom.xml" not in z:
        return {}
    root = etree.fromstring(z.read("docProps/custom.xml"), PARSER)
    out = {}
    for prop in root.iterchildren(_PROPERTY):
        texts = [t for t in prop.itertext() if t.strip()]
        out[prop.get("name", "")] = texts[0].strip() if texts else ""
    return out


def _application(z: _Package) -> str:
    if "docProps/app.xml" not in z:
        return ""
    xml = z.read("docProps/app.xml")
    return _application_of(xml) if len(xml) <= _CACHE_PART else _application_of.__wrapped__(xml)


@lru_cache(maxsize=32)
def _application_of(xml: bytes) -> str:
    return " ".join(_APPLICATION(etree.fromstring(xml, PARSER))).strip()
