"""Workbook bytes → `Book`: the cells of a few bounded windows, sheet states, protection, properties.

One neutral view over .xlsx (zipfile + lxml, here), .xls and .ods (book_legacy.py), so the reader
and audit never care which office suite saved a return. Only the window of cells the layout
names is kept (a 2 KB file with a cell at XFD1048576 costs nothing); formulas are recorded with
their cached value, which the audit never trusts; error cells stay errors (never '' or 0).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

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


@dataclass(frozen=True, slots=True)
class Value:
    """One cell as saved: `value` is str/float/int/bool/datetime or None; `kind` says what it was.

    kind: 'n' number, 's' text, 'b' boolean, 'd' date, 'e' error (value = '#DIV/0!' …),
    'f' formula (value = cached result, None when the file has none).
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


def load_xlsx(data: bytes, windows: dict[str, Window], default: Window = (60, 12)) -> Book:
    """Read the named windows of every sheet of an .xlsx (other sheets: `default` window)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    names = set(z.namelist())
    wb = etree.fromstring(z.read("xl/workbook.xml"), PARSER)
    rels = _rels(z, "xl/_rels/workbook.xml.rels")
    date1904 = wb.find("m:workbookPr", NS) is not None and wb.find("m:workbookPr", NS).get("date1904") in (
        "1",
        "true",
    )
    protection = wb.find("m:workbookProtection", NS)
    shared = _shared_strings(z, names)
    date_styles = _date_styles(z, names)
    sheets: dict[str, Sheet] = {}
    for node in wb.iterfind("m:sheets/m:sheet", NS):
        name = node.get("name", "")
        target = rels.get(node.get(f"{{{NS['r']}}}id", ""), "")
        part = _resolve(target)
        sheet = Sheet(name=name, state=node.get("state", "visible"))
        sheets[name] = sheet
        if part in names:
            window = windows.get(name, default)
            _read_sheet(z.read(part), sheet, window, shared, date_styles, date1904)
    return Book(
        kind="xlsx",
        sheets=sheets,
        properties=_custom_properties(z, names),
        application=_application(z, names),
        structure_locked=protection is not None and protection.get("lockStructure") in ("1", "true"),
    )


def _resolve(target: str) -> str:
    target = target.lstrip("/")
    return target if target.startswith("xl/") else "xl/" + target


def _rels(z: zipfile.ZipFile, part: str) -> dict[str, str]:
    try:
        root = etree.fromstring(z.read(part), PARSER)
    except KeyError:
        return {}
    return {r.get("Id"): r.get("Target", "") for r in root.iterfind("rel:Relationship", NS)}


def _shared_strings(z: zipfile.ZipFile, names: set[str]) -> list[str]:
    if "xl/sharedStrings.xml" not in names:
        return []
    root = etree.fromstring(z.read("xl/sharedStrings.xml"), PARSER)
    # rich text runs: the text is the concatenation of every <t>, phonetic runs (rPh) excluded
    return [
        "".join(si.xpath("./m:t/text()|./m:r/m:t/text()", namespaces=NS)) for si in root.iterfind("m:si", NS)
    ]


def _date_styles(z: zipfile.ZipFile, names: set[str]) -> set[int]:
    """Indexes of cell styles (xf) whose number format shows a date."""
    if "xl/styles.xml" not in names:
        return set()
    root = etree.fromstring(z.read("xl/styles.xml"), PARSER)
    custom = {
        int(n.get("numFmtId")): n.get("formatCode", "") for n in root.iterfind("m:numFmts/m:numFmt", NS)
    }
    out = set()
    for i, xf in enumerate(root.iterfind("m:cellXfs/m:xf", NS)):
        fmt_id = int(xf.get("numFmtId", "0"))
        code = custom.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id, "")
        if (14 <= fmt_id <= 22) or (code and is_date_format(code)):
            out.add(i)
    return out


def _read_sheet(
    xml: bytes,
    sheet: Sheet,
    window: Window,
    shared: list[str],
    date_styles: set[int],
    date1904: bool,
) -> None:
    last_row, last_col = window
    # iterparse keeps memory flat for big sheets; cells outside the window are dropped at once
    for _, el in etree.iterparse(
        io.BytesIO(xml), events=("end",), resolve_entities=False, no_network=True, huge_tree=False
    ):
        tag = el.tag
        if tag == _M + "c":
            m = _REF.match(el.get("r", ""))
            if m:
                row, col = int(m.group(2)) - 1, col_index(m.group(1))
                if row <= last_row and col <= last_col:
                    value = _cell(el, shared, date_styles, date1904)
                    if value is not None:
                        sheet.cells[(row, col)] = value
            el.clear()
        elif tag == _M + "row":
            el.clear()
        elif tag == _M + "sheetProtection":
            sheet.protected = el.get("sheet") in ("1", "true")


def _cell(el: Any, shared: list[str], date_styles: set[int], date1904: bool) -> Value | None:
    t = el.get("t", "n")
    v = el.findtext(_M + "v")
    f = el.find(_M + "f")
    formula = (f.text or "") if f is not None else ""
    if t == "inlineStr":
        text = "".join(el.xpath("./m:is/m:t/text()|./m:is/m:r/m:t/text()", namespaces=NS))
        return Value(text, "s")
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
            return Value(v, "s")
        if int(el.get("s", "0") or 0) in date_styles:
            try:
                value, kind = (
                    from_excel(number, epoch=CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900),
                    "d",
                )
            except (ValueError, OverflowError):
                value, kind = number, "n"
        else:
            value, kind = (int(number) if number.is_integer() and abs(number) < 2**53 else number), "n"
    if f is not None:
        return Value(value, "f", formula or "(shared)")
    return Value(value, kind)


def _custom_properties(z: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    if "docProps/custom.xml" not in names:
        return {}
    root = etree.fromstring(z.read("docProps/custom.xml"), PARSER)
    out = {}
    for prop in root.iterfind("cp:property", NS):
        texts = [t for t in prop.itertext() if t.strip()]
        out[prop.get("name", "")] = texts[0].strip() if texts else ""
    return out


def _application(z: zipfile.ZipFile, names: set[str]) -> str:
    if "docProps/app.xml" not in names:
        return ""
    root = etree.fromstring(z.read("docProps/app.xml"), PARSER)
    return " ".join(root.xpath("//*[local-name()='Application']/text()")).strip()
