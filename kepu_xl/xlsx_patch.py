"""Filling a workbook in place: xlsx bytes + cell values (+ new sheets) → xlsx bytes, every other part kept.

`kepuxl report-up` fills the form the level above made for this level. That form carries the upper
campaign's identity (document properties, `_meta`, the unit cell), its sheet and workbook protection
(whose password this level does not know), its layout, validations and print set-up: everything the
upper level's collect checks. So it is not rebuilt and not round-tripped through openpyxl; only the parts
that must change are rewritten, with lxml:

- each patched sheet: the given cells get their values (numbers, dates as serial numbers in the cell's
  own date style, text as inline strings), and every formula loses its cached result, which would now be
  stale; the workbook already asks every office suite to recalculate on opening (`fullCalcOnLoad`, made
  sure of here), and kepuxl's reader never trusts a cached result anyway;
- a new sheet (`NewSheet`): its part, its entries in workbook.xml, the workbook's rels and the content
  types, the few cell styles it uses appended to styles.xml, its print titles; it is protected with the
  password hash the form's own sheets carry, and placed last so no sheet index in the workbook moves.

Every other zip member is copied byte for byte, in order. Raises `ValueError` when the workbook is not
shaped as expected (the caller reports it).
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from lxml import etree
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from .book import NS, PARSER, position
from .xlsx_out import clean_text

_M = "{" + NS["m"] + "}"
_R = "{" + NS["r"] + "}"
_REL = "{" + NS["rel"] + "}"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
WORKSHEET_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
WORKBOOK, WORKBOOK_RELS, CONTENT_TYPES, STYLES_PART = (
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "[Content_Types].xml",
    "xl/styles.xml",
)
FOOTER = "&L&A&C第 &P 页，共 &N 页"
Cells = Mapping[tuple[int, int], Any]  # (row, col), 0-based → value (None: blank)


@dataclass
class NewSheet:
    """A plain list sheet to add: rows of values, a style name per cell, column widths, print set-up."""

    name: str
    rows: list[list[Any]]
    styles: list[list[str]]  # per cell: one of STYLES ("" = the workbook's default)
    widths: list[float]
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # first row/col, last row/col
    heights: dict[int, float] = field(default_factory=dict)  # row → points
    hidden_rows: tuple[int, ...] = ()
    freeze: tuple[int, int] = (0, 0)  # rows, columns frozen
    repeat_rows: tuple[int, int] | None = None  # printed on every page (first, last)
    # printed pages (print_layout.plan_pages): orientation, fixed scale, column breaks, columns repeated
    landscape: bool = True
    scale: int = 100
    col_breaks: tuple[int, ...] = ()
    repeat_cols: int = 0


# the styles a NewSheet may use: (font, fill, border, number format, alignment)
_FONT = (
    '<font>{bold}<sz val="{size}"/>{colour}<name val="{name}"/><family val="3"/><charset val="134"/></font>'
)
_FILL = '<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/></patternFill></fill>'
_BORDER = (
    '<border><left style="thin"><color rgb="FF808080"/></left><right style="thin"><color rgb="FF808080"/>'
    '</right><top style="thin"><color rgb="FF808080"/></top><bottom style="thin"><color rgb="FF808080"/>'
    "</bottom><diagonal/></border>"
)
STYLES: dict[str, dict[str, Any]] = {
    "title": {"font": ("黑体", 14, True, ""), "align": "center"},
    "hint": {"font": ("宋体", 10, False, "595959"), "align": "left", "wrap": True},
    "header": {
        "font": ("宋体", 11, True, ""),
        "fill": "D9E1F2",
        "border": True,
        "align": "center",
        "wrap": True,
    },
    "group": {"font": ("宋体", 11, True, ""), "fill": "EDF3FA", "border": True, "align": "left"},
    "group_number": {"font": ("宋体", 11, True, ""), "fill": "EDF3FA", "border": True, "number": True},
    "cell": {"font": ("宋体", 11, False, ""), "border": True, "align": "left"},
    "center": {"font": ("宋体", 11, False, ""), "border": True, "align": "center"},
    "number": {"font": ("宋体", 11, False, ""), "border": True, "number": True},
    "grey": {"font": ("宋体", 11, False, "8C8C8C"), "fill": "F2F2F2", "border": True, "align": "left"},
    "grey_center": {
        "font": ("宋体", 11, False, "8C8C8C"),
        "fill": "F2F2F2",
        "border": True,
        "align": "center",
    },
    "grey_number": {"font": ("宋体", 11, False, "8C8C8C"), "fill": "F2F2F2", "border": True, "number": True},
}
NUMBER_FORMAT = "#,##0.####"


def patch(data: bytes, cells: Mapping[str, Cells], add: Sequence[NewSheet] = ()) -> bytes:
    """The workbook with `cells` (sheet name → values) filled in and the `add` sheets appended (or, when
    the workbook has a sheet of that name already, put in its place)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        parts = {i.filename: z.read(i) for i in infos}
    workbook = etree.fromstring(parts[WORKBOOK], PARSER)
    rels = etree.fromstring(parts[WORKBOOK_RELS], PARSER)
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iterfind(f"{_REL}Relationship")}
    sheets = {
        s.get("name"): _part(targets.get(s.get(f"{_R}id"), ""))
        for s in workbook.iterfind(f"{_M}sheets/{_M}sheet")
    }
    pr = workbook.find(f"{_M}workbookPr")
    date1904 = pr is not None and pr.get("date1904") in ("1", "true")
    for name, values in cells.items():
        if name not in sheets or sheets[name] not in parts:
            raise ValueError(f"no sheet {name!r}")
        parts[sheets[name]] = _patch_sheet(parts[sheets[name]], values, date1904)
    if add:
        password = _password_hash(parts, sheets.values())
        for new in add:
            _put_sheet(parts, workbook, rels, new, password)
        parts[WORKBOOK_RELS] = _xml(rels)
    _recalculate_on_load(workbook)
    parts[WORKBOOK] = _xml(workbook)
    return _zip(infos, parts)


def _part(target: str) -> str:
    target = target.lstrip("/")
    return target if target.startswith("xl/") else "xl/" + target


def _xml(root: Any) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _zip(infos: list[zipfile.ZipInfo], parts: dict[str, bytes]) -> bytes:
    """The members in their order (new ones last), each with its own date, deflated."""
    buffer = io.BytesIO()
    names = [i.filename for i in infos]
    dates = {i.filename: i.date_time for i in infos}
    stamp = infos[0].date_time if infos else (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name in [*names, *(n for n in parts if n not in dates)]:
            info = zipfile.ZipInfo(name, dates.get(name, stamp))
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, parts[name])
    return buffer.getvalue()


def _recalculate_on_load(workbook: Any) -> None:
    """Every office suite recalculates the formulas on opening: their cached results were dropped."""
    calc = workbook.find(f"{_M}calcPr")
    if calc is None:
        calc = etree.SubElement(workbook, f"{_M}calcPr")
        after = [workbook.find(f"{_M}{t}") for t in ("definedNames", "sheets")]
        anchor = next((a for a in after if a is not None), None)
        if anchor is not None:
            anchor.addnext(calc)
    calc.set("fullCalcOnLoad", "1")


# -- filling cells -----------------------------------------------------------------------------------


def _patch_sheet(xml: bytes, values: Cells, date1904: bool) -> bytes:
    root = etree.fromstring(xml, PARSER)
    data = root.find(f"{_M}sheetData")
    if data is None:
        raise ValueError("a sheet without sheetData")
    for c in data.iter(f"{_M}c"):  # cached results of formulas: stale once inputs change
        if c.find(f"{_M}f") is not None:
            for v in c.findall(f"{_M}v"):
                c.remove(v)
            c.attrib.pop("t", None)
    rows = {}
    for row in data.iterfind(f"{_M}row"):
        if not (row.get("r") or "").isdigit():
            raise ValueError("a row without its number")
        rows[int(row.get("r")) - 1] = row
    for (r, col), value in sorted(values.items()):
        row = rows.get(r)
        if row is None:
            row = rows[r] = _insert_row(data, rows, r)
        _set(_cell(row, r, col), value, date1904)
    return _xml(root)


def _insert_row(data: Any, rows: dict[int, Any], r: int) -> Any:
    new = etree.Element(f"{_M}row", {"r": str(r + 1)})
    later = [n for n in rows if n > r]
    if later:
        rows[min(later)].addprevious(new)
    else:
        data.append(new)
    return new


def _cell(row: Any, r: int, col: int) -> Any:
    ref = xl_rowcol_to_cell(r, col)
    row.attrib.pop("spans", None)  # a hint only; a cell added outside it would contradict it
    for c in row.iterfind(f"{_M}c"):
        pos = position(c.get("r", ""))
        if pos is None:
            raise ValueError("a cell without its reference")
        if pos == (r, col):
            return c
        if pos[1] > col:
            new = etree.Element(f"{_M}c", {"r": ref})
            c.addprevious(new)
            return new
    return etree.SubElement(row, f"{_M}c", {"r": ref})


def _set(c: Any, value: Any, date1904: bool) -> None:
    """A cell's value as what it is; its style (a date format, the unlocked input look) is kept."""
    for child in list(c):
        c.remove(child)
    c.attrib.pop("t", None)
    if value is None or value == "":
        return
    if isinstance(value, datetime | date) and not isinstance(value, bool):
        # openpyxl (~0.4 s to import, numpy with it) only here: collect loads this module, not this branch
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, to_excel

        moment = value if isinstance(value, datetime) else datetime.combine(value, time())
        epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
        etree.SubElement(c, f"{_M}v").text = _number(to_excel(moment, epoch))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):  # NaN or an infinity is no number a cell can hold: left blank
            etree.SubElement(c, f"{_M}v").text = _number(value)
    else:
        c.set("t", "inlineStr")
        t = etree.SubElement(etree.SubElement(c, f"{_M}is"), f"{_M}t")
        t.text = clean_text(value)
        t.set(_XML_SPACE, "preserve")


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


# -- a new sheet -----------------------------------------------------------------------------------------


_PROTECTION = re.compile(rb"<(?:\w+:)?sheetProtection\b[^>]*>")
_PASSWORD = re.compile(rb'\b(password|algorithmName|hashValue|saltValue|spinCount)="([^"]*)"')


def _password_hash(parts: dict[str, bytes], sheet_parts: Any) -> dict[str, str]:
    """The password hash the form's sheets are protected with (the 16-bit one xlsxwriter writes, or the
    attributes of Excel's SHA-512 one), for the new sheet; {} when they are not protected alike."""
    found = {
        tuple((k.decode(), v.decode()) for k, v in _PASSWORD.findall(m.group()))
        for p in sheet_parts
        if p in parts
        for m in _PROTECTION.finditer(parts[p])
    }
    return dict(found.pop()) if len(found) == 1 else {}


def _put_sheet(
    parts: dict[str, bytes], workbook: Any, rels: Any, new: NewSheet, password: dict[str, str]
) -> None:
    """Add the sheet last, or replace the one of that name (a form filled before): same part, same place."""
    sheets = workbook.find(f"{_M}sheets")
    existing = next((s for s in sheets if s.get("name") == new.name), None)
    if existing is None:
        part = _new_part(parts, workbook, rels, new.name)
        index = len(sheets) - 1
    else:
        targets = {r.get("Id"): r.get("Target", "") for r in rels}
        part = _part(targets.get(existing.get(f"{_R}id"), ""))
        index = list(sheets).index(existing)
        if part not in parts:
            raise ValueError(f"sheet {new.name!r} has no part")
    titles = []
    if new.repeat_cols:
        titles.append(f"'{new.name}'!$A:${xl_col_to_name(new.repeat_cols - 1)}")
    if new.repeat_rows is not None:
        titles.append(f"'{new.name}'!${new.repeat_rows[0] + 1}:${new.repeat_rows[1] + 1}")
    _defined_name(workbook, "_xlnm.Print_Titles", index, ",".join(titles))
    styles, parts[STYLES_PART] = _add_styles(parts[STYLES_PART])
    parts[part] = _sheet_xml(new, styles, password)


def _new_part(parts: dict[str, bytes], workbook: Any, rels: Any, name: str) -> str:
    """A new worksheet part, with its relationship, its <sheet> entry (last) and its content type."""
    numbers = [int(m.group(1)) for n in parts if (m := re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", n))]
    part = f"xl/worksheets/sheet{max(numbers, default=0) + 1}.xml"
    ids = {r.get("Id") for r in rels}
    rid = next(f"rId{n}" for n in range(1, len(ids) + 2) if f"rId{n}" not in ids)
    relation = {"Id": rid, "Type": WORKSHEET_TYPE, "Target": part.removeprefix("xl/")}
    etree.SubElement(rels, f"{_REL}Relationship", relation)
    sheets = workbook.find(f"{_M}sheets")
    sheet_id = max((int(s.get("sheetId", "0")) for s in sheets), default=0) + 1
    etree.SubElement(sheets, f"{_M}sheet", {"name": name, "sheetId": str(sheet_id), f"{_R}id": rid})
    types = etree.fromstring(parts[CONTENT_TYPES], PARSER)
    etree.SubElement(types, f"{{{_CT}}}Override", {"PartName": "/" + part, "ContentType": WORKSHEET_CONTENT})
    parts[CONTENT_TYPES] = _xml(types)
    parts[part] = b""
    return part


def _defined_name(workbook: Any, name: str, sheet: int, ref: str) -> None:
    """The sheet's defined name `name` set to `ref` (removed when `ref` is empty)."""
    names = workbook.find(f"{_M}definedNames")
    if names is None:
        names = etree.Element(f"{_M}definedNames")
        workbook.find(f"{_M}sheets").addnext(names)
    for old in names.findall(f"{_M}definedName"):
        if old.get("name") == name and old.get("localSheetId") == str(sheet):
            names.remove(old)
    if ref:
        etree.SubElement(names, f"{_M}definedName", {"name": name, "localSheetId": str(sheet)}).text = ref


def _add_styles(xml: bytes) -> tuple[dict[str, int], bytes]:
    """styles.xml with STYLES appended (fonts, fills, a border, a number format, cell formats): name → xf."""
    root = etree.fromstring(xml, PARSER)

    def section(tag: str) -> Any:
        found = root.find(f"{_M}{tag}")
        if found is None:
            raise ValueError(f"styles.xml without {tag}")
        return found

    def append(tag: str, snippet: str) -> int:
        parent = section(tag)
        parent.append(etree.fromstring(_in_main(snippet), PARSER))
        parent.set("count", str(len(parent)))
        return len(parent) - 1

    fmt_id = _number_format(root)
    border = append("borders", _BORDER)
    out = {}
    for name, s in STYLES.items():
        font_name, size, bold, colour = s["font"]
        font = append(
            "fonts",
            _FONT.format(
                bold="<b/>" if bold else "",
                size=size,
                colour=f'<color rgb="FF{colour}"/>' if colour else "",
                name=font_name,
            ),
        )
        fill = append("fills", _FILL.format(rgb=s["fill"])) if "fill" in s else 0
        align = s.get("align", "right")
        wrap = ' wrapText="1"' if s.get("wrap") else ""
        xf = (
            f'<xf numFmtId="{fmt_id if s.get("number") else 0}" fontId="{font}" fillId="{fill}" '
            f'borderId="{border if s.get("border") else 0}" xfId="0" applyNumberFormat="1" applyFont="1" '
            f'applyFill="1" applyBorder="1" applyAlignment="1">'
            f'<alignment horizontal="{align}" vertical="center"{wrap}/></xf>'
        )
        out[name] = append("cellXfs", xf)
    return out, _xml(root)


def _in_main(snippet: str) -> str:
    """A snippet of SpreadsheetML with the main namespace declared on its root element."""
    head, _, rest = snippet.partition(">")
    closing = head.endswith("/")
    head = head.rstrip("/")
    return f'{head} xmlns="{NS["m"]}"' + ("/>" if closing else ">") + rest


def _number_format(root: Any) -> int:
    """The id of NUMBER_FORMAT among the workbook's number formats (added when missing)."""
    formats = root.find(f"{_M}numFmts")
    if formats is None:
        formats = etree.Element(f"{_M}numFmts")
        root.insert(0, formats)
    for f in formats:
        if f.get("formatCode") == NUMBER_FORMAT:
            return int(f.get("numFmtId"))
    new = max([int(f.get("numFmtId", "0")) for f in formats] + [163]) + 1
    etree.SubElement(formats, f"{_M}numFmt", {"numFmtId": str(new), "formatCode": NUMBER_FORMAT})
    formats.set("count", str(len(formats)))
    return new


def _sheet_xml(new: NewSheet, styles: Mapping[str, int], password: dict[str, str]) -> bytes:
    root = etree.Element(f"{_M}worksheet", nsmap={None: NS["m"], "r": NS["r"]})
    width = max((len(r) for r in new.rows), default=1)
    last = xl_rowcol_to_cell(max(len(new.rows) - 1, 0), max(width - 1, 0))
    etree.SubElement(root, f"{_M}dimension", {"ref": f"A1:{last}"})
    view = etree.SubElement(
        etree.SubElement(root, f"{_M}sheetViews"), f"{_M}sheetView", {"workbookViewId": "0"}
    )
    rows_frozen, cols_frozen = new.freeze
    if rows_frozen or cols_frozen:
        top_left = xl_rowcol_to_cell(rows_frozen, cols_frozen)
        pane = {"topLeftCell": top_left, "activePane": "bottomRight", "state": "frozen"}
        if rows_frozen:
            pane["ySplit"] = str(rows_frozen)
        if cols_frozen:
            pane["xSplit"] = str(cols_frozen)
        if not cols_frozen:
            pane["activePane"] = "bottomLeft"
        elif not rows_frozen:
            pane["activePane"] = "topRight"
        etree.SubElement(view, f"{_M}pane", pane)
    etree.SubElement(root, f"{_M}sheetFormatPr", {"defaultRowHeight": "15"})
    cols = etree.SubElement(root, f"{_M}cols")
    for n, w in enumerate(new.widths, start=1):
        etree.SubElement(
            cols, f"{_M}col", {"min": str(n), "max": str(n), "width": f"{w:g}", "customWidth": "1"}
        )
    data = etree.SubElement(root, f"{_M}sheetData")
    for r, (values, kinds) in enumerate(zip(new.rows, new.styles, strict=True)):
        row = etree.SubElement(data, f"{_M}row", {"r": str(r + 1)})
        if r in new.heights:
            row.set("ht", f"{new.heights[r]:g}")
            row.set("customHeight", "1")
        if r in new.hidden_rows:
            row.set("hidden", "1")
        for col, (value, kind) in enumerate(zip(values, kinds, strict=True)):
            c = etree.SubElement(row, f"{_M}c", {"r": xl_rowcol_to_cell(r, col)})
            if kind:
                c.set("s", str(styles[kind]))
            _set(c, value, date1904=False)
    if password:
        protection = {**password, "sheet": "1", "objects": "1", "scenarios": "1"}
        etree.SubElement(root, f"{_M}sheetProtection", protection)
    if new.merges:
        merges = etree.SubElement(root, f"{_M}mergeCells", {"count": str(len(new.merges))})
        for r1, c1, r2, c2 in new.merges:
            ref = f"{xl_rowcol_to_cell(r1, c1)}:{xl_rowcol_to_cell(r2, c2)}"
            etree.SubElement(merges, f"{_M}mergeCell", {"ref": ref})
    etree.SubElement(
        root,
        f"{_M}pageMargins",
        {"left": "0.4", "right": "0.4", "top": "0.6", "bottom": "0.6", "header": "0.3", "footer": "0.3"},
    )
    # a fixed scale, not fit-to-page (Excel ignores manual breaks under fit-to-page); across, then down
    page = {"paperSize": "9", "scale": str(new.scale), "pageOrder": "overThenDown"}
    page["orientation"] = "landscape" if new.landscape else "portrait"
    etree.SubElement(root, f"{_M}pageSetup", page)
    footer = etree.SubElement(etree.SubElement(root, f"{_M}headerFooter"), f"{_M}oddFooter")
    footer.text = FOOTER
    if new.col_breaks:
        n = str(len(new.col_breaks))
        breaks = etree.SubElement(root, f"{_M}colBreaks", {"count": n, "manualBreakCount": n})
        for col in new.col_breaks:
            etree.SubElement(breaks, f"{_M}brk", {"id": str(col), "max": "1048575", "man": "1"})
    return _xml(root)
