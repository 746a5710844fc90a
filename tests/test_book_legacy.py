"""book_legacy: .xls (xlrd + raw BIFF records + OLE property sets) and .ods (lxml) → the neutral `Book`.

The real files come from LibreOffice: one xlsx written with xlsxwriter is converted to .xls and .ods
once per module (two `soffice --convert-to` runs, ~3 s together) and all three are read back, so
the values, kinds, sheet states, protection and custom properties are checked against what an
office suite actually writes, and against load_xlsx on the original (parity). Hand-made .ods and
property-set bytes cover what LibreOffice never writes (hostile repeats, old error cells, code pages).
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

import libreoffice as lo
import olefile
import pytest
import xlsxwriter

from kepu_xl import book_legacy
from kepu_xl.book import Value, load_xlsx
from kepu_xl.book_legacy import load_ods, load_xls

MAIN = "统计表"
WINDOW = (59, 11)  # A1:L60 — L60 is inside, M61 just outside
WINDOWS = {MAIN: WINDOW}

# What LibreOffice writes back for the main sheet, position → Value; kinds per format below.
TEXTS = {
    (0, 0): "科普统计表",
    (1, 0): "人数",
    (2, 0): "经费",
    (7, 0): "第一行\n第二行",
    (8, 0): "a  b",  # two spaces: <text:s/> in .ods
    (59, 11): "角落",
}
NUMBERS = {(1, 1): 12, (2, 1): 3.5}
DATE = (3, 1), datetime(2024, 1, 5)
FORMULA = (4, 1)  # =B2+B3, cached 15.5
ERROR = (5, 1)  # =1/0
BOOLEAN = (6, 1)
PROPERTIES = {"form_id": "F01", "版本": "2024", "单位": "县教育局"}


class _LockedWorkbook(xlsxwriter.Workbook):
    """xlsxwriter has no workbook structure protection; add it as forms_writer does."""

    def _write_workbook_pr(self) -> None:
        super()._write_workbook_pr()
        self._xml_empty_tag("workbookProtection", [("workbookPassword", "CBEB"), ("lockStructure", 1)])


def make_source(path: Path) -> Path:
    wb = _LockedWorkbook(path)
    datef = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet(MAIN)
    for (row, col), text in TEXTS.items():
        ws.write_string(row, col, text)
    for (row, col), number in NUMBERS.items():
        ws.write_number(row, col, number)
    ws.write_datetime(*DATE[0], DATE[1], datef)
    ws.write_formula(*FORMULA, "=B2+B3", None, 15.5)
    ws.write_formula(*ERROR, "=1/0", None, "#DIV/0!")
    ws.write_boolean(*BOOLEAN, True)
    ws.write_string("M61", "窗外")  # (60, 12): outside WINDOW
    hidden = wb.add_worksheet("隐藏")
    hidden.write("A1", "hid")
    hidden.hide()
    meta = wb.add_worksheet("_meta")
    meta.write_row("A1", ["form_id", "F01"])
    meta.very_hidden()
    notes = wb.add_worksheet("说明")  # enough text for a Workbook stream in regular (4 KB+) sectors
    for row in range(300):
        notes.write_string(row, 0, f"填表说明第{row + 1}条：请按实际情况填写。")
    locked = wb.add_worksheet("保护")
    locked.write("A1", "locked")
    locked.protect("pw")
    for name, value in PROPERTIES.items():
        wb.set_custom_property(name, value)
    wb.close()
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The source .xlsx and LibreOffice's .xls and .ods of it (two soffice runs for the module)."""
    if not lo.available() and not lo.in_ci():
        pytest.skip("LibreOffice not available")
    folder = tmp_path_factory.mktemp("legacy")
    src = make_source(folder / "form.xlsx")
    out = folder / "out"
    return {
        "xlsx": src.read_bytes(),
        "xls": lo.convert(src, "xls", out).read_bytes(),
        "ods": lo.convert(src, "ods", out).read_bytes(),
    }


def _expected_main(kind: str) -> dict[tuple[int, int], Value]:
    cells = {pos: Value(text, "s") for pos, text in TEXTS.items()}
    cells |= {pos: Value(n, "n") for pos, n in NUMBERS.items()}
    cells[DATE[0]] = Value(DATE[1], "d")
    if kind == "xls":  # xlrd sees no formulas: cached values with their own kinds
        cells[FORMULA] = Value(15.5, "n")
        cells[ERROR] = Value("#DIV/0!", "e")
        cells[BOOLEAN] = Value(True, "b")
    else:
        cells[FORMULA] = Value(15.5, "f", "[.B2]+[.B3]")
        cells[ERROR] = Value("#DIV/0!", "e", "1/0")
        # LibreOffice imports an xlsx boolean as the formula =TRUE() with a number format: 1, not True
        cells[BOOLEAN] = Value(1, "f", "TRUE()")
    return cells


@lo.requires_libreoffice
@pytest.mark.parametrize("kind", ["xls", "ods"])
def test_cells_kinds_and_window(files: dict[str, bytes], kind: str) -> None:
    book = (load_xls if kind == "xls" else load_ods)(files[kind], WINDOWS)
    assert book.kind == kind
    assert list(book.sheets) == [MAIN, "隐藏", "_meta", "说明", "保护"]
    main = book.sheets[MAIN]
    assert main.cells == _expected_main(kind)
    assert type(main.cells[(1, 1)].value) is int  # integral numbers are ints, as load_xlsx gives them
    assert book.sheets["_meta"].cells == {(0, 0): Value("form_id", "s"), (0, 1): Value("F01", "s")}
    assert book.sheets["保护"].cells == {(0, 0): Value("locked", "s")}
    # the default window (60, 12) reaches M61
    wide = (load_xls if kind == "xls" else load_ods)(files[kind], {})
    assert wide.sheets[MAIN].cells[(60, 12)] == Value("窗外", "s")
    tiny = (load_xls if kind == "xls" else load_ods)(files[kind], {MAIN: (1, 0)})
    assert tiny.sheets[MAIN].cells == {(0, 0): Value("科普统计表", "s"), (1, 0): Value("人数", "s")}


@lo.requires_libreoffice
@pytest.mark.parametrize("kind", ["xls", "ods"])
def test_states_protection_properties(files: dict[str, bytes], kind: str) -> None:
    book = (load_xls if kind == "xls" else load_ods)(files[kind], WINDOWS)
    if kind == "xls":
        # ≥ 4 KB: the stream sits in regular sectors, where xlrd's `mem` is the whole file read from
        # `base` — the records must still be found at the right offsets
        assert len(olefile.OleFileIO(io.BytesIO(files["xls"])).openstream("Workbook").read()) > 4096
    # LibreOffice has no veryHidden: _meta comes back plain hidden in both formats
    assert {name: s.state for name, s in book.sheets.items()} == {
        MAIN: "visible",
        "隐藏": "hidden",
        "_meta": "hidden",
        "说明": "visible",
        "保护": "visible",
    }
    assert {name: s.protected for name, s in book.sheets.items()} == {
        MAIN: False,
        "隐藏": False,
        "_meta": False,
        "说明": False,
        "保护": True,
    }
    # LibreOffice 7.4 drops the xlsx's workbookProtection lockStructure on --convert-to (its own xlsx
    # round trip writes an empty <workbookProtection/>); a structure-locked .xls from LibreOffice would
    # be RC4-encrypted with Excel's default password anyway, which xlrd cannot open
    assert book.structure_locked is False
    # LibreOffice turns the xlsx's docProps/app.xml AppVersion into one more user-defined property
    assert book.properties == {"AppVersion": "12.0000", **PROPERTIES}
    if kind == "ods":
        assert book.application.startswith("LibreOffice/")


@lo.requires_libreoffice
def test_parity_with_xlsx(files: dict[str, bytes]) -> None:
    """Same window, same values: the source .xlsx, LibreOffice's .xls and its .ods."""
    books = {
        "xlsx": load_xlsx(files["xlsx"], WINDOWS),
        "xls": load_xls(files["xls"], WINDOWS),
        "ods": load_ods(files["ods"], WINDOWS),
    }
    for name in books["xlsx"].sheets:
        values = {k: {pos: v.value for pos, v in b.sheets[name].cells.items()} for k, b in books.items()}
        if name == MAIN:
            assert values["ods"].pop(BOOLEAN) == 1  # =TRUE() in LibreOffice, see above
            assert values["xlsx"][BOOLEAN] is True and values["xls"][BOOLEAN] is True
            values["xlsx"].pop(BOOLEAN)
            values["xls"].pop(BOOLEAN)
        assert values["xls"] == values["xlsx"], name
        assert values["ods"] == values["xlsx"], name
        # kinds agree except where a format cannot tell: xls has no formulas (a formula's error is 'e' in all)
        for pos, v in books["xlsx"].sheets[name].cells.items():
            if v.kind != "f":
                assert books["xls"].sheets[name].cells[pos].kind == v.kind, (name, pos)
                if pos != BOOLEAN:
                    assert books["ods"].sheets[name].cells[pos].kind == v.kind, (name, pos)
    assert books["xlsx"].sheets[MAIN].cells[ERROR] == Value("#DIV/0!", "e", "1/0")
    assert books["xlsx"].sheets["保护"].protected and books["xls"].sheets["保护"].protected
    assert books["xlsx"].sheets["_meta"].state == "veryHidden"  # lost by LibreOffice, see above
    assert {k: v for k, v in books["xls"].properties.items() if k in PROPERTIES} == books["xlsx"].properties


def _patch_workbook_stream(xls: bytes, patch) -> bytes:
    """The same .xls with its Workbook stream changed in place by `patch(bytearray)` (same size)."""
    ole = olefile.OleFileIO(io.BytesIO(xls), write_mode=True)
    stream = bytearray(ole.openstream("Workbook").read())
    patch(stream)
    ole.write_stream("Workbook", bytes(stream))
    ole.fp.seek(0)
    out = ole.fp.read()
    ole.close()
    return out


def _globals(stream: bytearray) -> list[tuple[int, int, int]]:
    return list(book_legacy._substream(bytes(stream), 0))


@lo.requires_libreoffice
def test_xls_very_hidden(files: dict[str, bytes]) -> None:
    """Excel's veryHidden is hsState 2 in the sheet's BOUNDSHEET record; LibreOffice never writes it."""

    def very_hide_meta(stream: bytearray) -> None:
        for rtype, offset, length in _globals(stream):
            name = book_legacy._boundsheet_name(bytes(stream[offset + 6 : offset + length]), 80, None)
            if rtype == 0x0085 and name == "_meta":
                stream[offset + 4] = 2
                return
        raise AssertionError("no BOUNDSHEET for _meta")

    book = load_xls(_patch_workbook_stream(files["xls"], very_hide_meta), WINDOWS)
    assert book.sheets["_meta"].state == "veryHidden"
    assert book.sheets["_meta"].cells[(0, 1)] == Value("F01", "s")


@lo.requires_libreoffice
def test_xls_structure_protection_record(files: dict[str, bytes]) -> None:
    """A PROTECT record (0x0012, fLock=1) in the globals substream is a locked workbook structure.

    LibreOffice cannot give us one (see above), so the globals' PROT4REV record (same size, ignored by
    readers) is turned into PROTECT in place.
    """

    def lock(stream: bytearray) -> None:
        for rtype, offset, length in _globals(stream):
            if rtype == 0x01AF and length == 2:
                struct.pack_into("<HHH", stream, offset - 4, 0x0012, 2, 1)
                return
        raise AssertionError("no PROT4REV record")

    assert load_xls(files["xls"], WINDOWS).structure_locked is False
    book = load_xls(_patch_workbook_stream(files["xls"], lock), WINDOWS)
    assert book.structure_locked is True
    assert book.sheets["保护"].protected and not book.sheets[MAIN].protected


@lo.requires_libreoffice
def test_xls_retries_without_formatting_info(
    files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = book_legacy.xlrd.open_workbook
    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs["formatting_info"])
        if kwargs["formatting_info"]:
            raise AssertionError("xlrd: unexpected XF record")  # what xlrd raises on odd formatting
        return real(*args, **kwargs)

    monkeypatch.setattr(book_legacy.xlrd, "open_workbook", flaky)
    book = load_xls(files["xls"], WINDOWS)
    assert calls == [True, False]
    assert book.sheets[MAIN].cells == _expected_main("xls")


# ------------------------------------------------------------------------- hand-made .ods

_ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"'
)


def make_ods(body: str, styles: str = "", meta: str = "", auto_styles: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr(
            "content.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODS_NS}>'
            f"<office:automatic-styles>{auto_styles}</office:automatic-styles>"
            f"<office:body>{body}</office:body></office:document-content>",
        )
        z.writestr(
            "styles.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {_ODS_NS}>'
            f"<office:styles>{styles}</office:styles></office:document-styles>",
        )
        z.writestr(
            "meta.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {_ODS_NS}>'
            f"<office:meta>{meta}</office:meta></office:document-meta>",
        )
    return buf.getvalue()


def test_ods_huge_repeats_cost_nothing() -> None:
    """1,048,576 repeated rows of a repeated non-empty cell, then a cell far away: only the window is built."""
    body = (
        "<office:spreadsheet><table:table table:name='S'>"
        "<table:table-column table:number-columns-repeated='16384'/>"
        "<table:table-row><table:table-cell office:value-type='string'><text:p>top</text:p>"
        "</table:table-cell></table:table-row>"
        "<table:table-row table:number-rows-repeated='1048576'>"
        "<table:table-cell table:number-columns-repeated='16384' office:value-type='float' office:value='7'/>"
        "</table:table-row>"
        "<table:table-row table:number-rows-repeated='1048576'><table:table-cell "
        "table:number-columns-repeated='16384'/></table:table-row>"
        "<table:table-row><table:table-cell table:number-columns-repeated='16000'/>"
        "<table:table-cell office:value-type='string'><text:p>far</text:p></table:table-cell>"
        "</table:table-row></table:table>"
        "<table:table table:name='T'><table:table-row><table:table-cell office:value-type='float' "
        "office:value='1'/></table:table-row></table:table>"
        "</office:spreadsheet>"
    )
    data = make_ods(body)
    start = time.perf_counter()
    book = load_ods(data, {"S": (3, 2)})
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5
    cells = book.sheets["S"].cells
    assert cells == {(0, 0): Value("top", "s")} | {
        (r, c): Value(7, "n") for r in (1, 2, 3) for c in (0, 1, 2)
    }
    assert book.sheets["T"].cells == {(0, 0): Value(1, "n")}  # the table after the huge one is still read


def test_ods_kinds_positions_styles() -> None:
    auto = (
        "<style:style style:name='ta1' style:family='table'>"
        "<style:table-properties table:display='true'/></style:style>"
    )
    styles = (  # a hidden table whose style is a common style in styles.xml
        "<style:style style:name='Hide' style:family='table'>"
        "<style:table-properties table:display='false'/></style:style>"
    )
    cells = (
        # row 0: A1:B1 merged (B1 covered), C1 after it
        "<table:table-row>"
        "<table:table-cell table:number-columns-spanned='2' office:value-type='string'>"
        "<text:p>合并<text:span>单元</text:span>格<text:s text:c='3'/>x<text:tab/>y<text:line-break/>z</text:p>"
        "<office:annotation><text:p>批注</text:p></office:annotation></table:table-cell>"
        "<table:covered-table-cell/>"
        "<table:table-cell office:value-type='percentage' office:value='0.125'/>"
        "</table:table-row>"
        # row 1: booleans, currency, time, date-time
        "<table:table-row>"
        "<table:table-cell office:value-type='boolean' office:boolean-value='false'/>"
        "<table:table-cell office:value-type='currency' office:currency='CNY' office:value='1200'/>"
        "<table:table-cell office:value-type='time' office:time-value='PT13H30M00S'/>"
        "<table:table-cell office:value-type='date' office:date-value='2024-03-01T08:15:30.25'/>"
        "</table:table-row>"
        # row 2: error results as old and new LibreOffice write them, a formula with a string, a bad date
        "<table:table-row>"
        "<table:table-cell table:formula='of:=SUM(X)'><text:p>Err:502</text:p></table:table-cell>"
        "<table:table-cell table:formula='of:=NA()' office:value-type='string' office:string-value='' "
        "calcext:value-type='error'><text:p>#N/A</text:p></table:table-cell>"
        "<table:table-cell table:formula='of:=\"a\"&amp;\"b\"' office:value-type='string' "
        "office:string-value='ab'><text:p>ab</text:p></table:table-cell>"
        "<table:table-cell office:value-type='date' office:date-value='not a date'/>"
        "<table:table-cell table:formula='of:=[.A1]'/>"
        "</table:table-row>"
        # row 3 inside a row group and header rows: still counted in order
        "<table:table-row-group><table:table-header-rows><table:table-row>"
        "<table:table-cell office:value-type='float' office:value='-2.5E3'/>"
        "</table:table-row></table:table-header-rows></table:table-row-group>"
    )
    body = (
        "<office:spreadsheet table:structure-protected='true'>"
        f"<table:table table:name='主表' table:style-name='ta1' table:protected='true'>{cells}</table:table>"
        "<table:table table:name='藏' table:style-name='Hide'><table:table-row>"
        "<table:table-cell office:value-type='string'><text:p>x</text:p></table:table-cell>"
        "</table:table-row></table:table>"
        "</office:spreadsheet>"
    )
    meta = (
        "<meta:generator>WPS Office</meta:generator>"
        "<meta:user-defined meta:name='form_id'>F01</meta:user-defined>"
        "<meta:user-defined meta:name='n' meta:value-type='float'>3</meta:user-defined>"
    )
    book = load_ods(make_ods(body, styles=styles, meta=meta, auto_styles=auto), {})
    main = book.sheets["主表"]
    assert main.cells == {
        (0, 0): Value("合并单元格   x\ty\nz", "s"),
        (0, 2): Value(0.125, "n"),
        (1, 0): Value(False, "b"),
        (1, 1): Value(1200, "n"),
        (1, 2): Value(dtime(13, 30), "d"),
        (1, 3): Value(datetime(2024, 3, 1, 8, 15, 30, 250000), "d"),
        (2, 0): Value("Err:502", "e", "SUM(X)"),
        (2, 1): Value("#N/A", "e", "NA()"),
        (2, 2): Value("ab", "f", '"a"&"b"'),
        (2, 3): Value("not a date", "s"),
        (2, 4): Value(None, "f", "[.A1]"),
        (3, 0): Value(-2500, "n"),
    }
    assert main.protected and main.state == "visible"
    assert book.sheets["藏"].state == "hidden" and not book.sheets["藏"].protected
    assert book.structure_locked
    assert book.properties == {"form_id": "F01", "n": "3"}
    assert book.application == "WPS Office"


def test_ods_refuses_entities_and_encryption() -> None:
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_ods("<office:spreadsheet/>"))) as src,
        zipfile.ZipFile(buf, "w") as dst,
    ):
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr(
            "META-INF/manifest.xml", "<manifest><file-entry><encryption-data/></file-entry></manifest>"
        )
    with pytest.raises(ValueError, match="encrypted"):
        load_ods(buf.getvalue(), {})
    doctype = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "boom">]>'
        f"<office:document-content {_ODS_NS}><office:body><office:spreadsheet>"
        "<table:table table:name='S'><table:table-row><table:table-cell office:value-type='string'>"
        "<text:p>&e;</text:p></table:table-cell></table:table-row></table:table>"
        "</office:spreadsheet></office:body></office:document-content>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("content.xml", doctype)
    book = load_ods(buf.getvalue(), {})
    assert "boom" not in book.sheets["S"].text(0, 0)  # entities are never expanded


# ------------------------------------------------------------- OLE property sets (.xls)


def _section(props: list[tuple[int, bytes]]) -> bytes:
    """One property set section: size, count, (id, offset) table, then the values."""
    head = 8 + 8 * len(props)
    table, values = b"", b""
    for pid, value in props:
        table += struct.pack("<II", pid, head + len(values))
        values += value + b"\0" * (-len(value) % 4)
    return struct.pack("<II", head + len(values), len(props)) + table + values


def _dsi_stream(section: bytes) -> bytes:
    """A \\x05DocumentSummaryInformation stream: an empty first set, the user-defined set second."""
    first = _section([(1, struct.pack("<HHh", 2, 0, 1200))])
    header = struct.pack("<HHI16sI", 0xFFFE, 0, 0x00020006, b"\0" * 16, 2)
    header += bytes.fromhex("02D5CDD59C2E1B10939708002B2CF9AE") + struct.pack("<I", 28 + 40)  # DocSummaryInfo
    header += book_legacy._FMTID_USER + struct.pack("<I", 28 + 40 + len(first))
    return header + first + section


class _FakeOle:
    def __init__(self, streams: dict[str, bytes]):
        self.streams = streams

    def exists(self, name: str) -> bool:
        return name in self.streams

    def openstream(self, name: str) -> io.BytesIO:
        return io.BytesIO(self.streams[name])


def _lpstr(text: str, encoding: str) -> bytes:
    raw = text.encode(encoding) + b"\0"
    return struct.pack("<HHI", 0x1E, 0, len(raw)) + raw


def test_user_properties_gbk_code_page() -> None:
    """Chinese Excel writes code page 936: names and VT_LPSTR values are GBK bytes."""
    names = [(2, "form_id"), (3, "单位"), (4, "份数"), (5, "已审"), (6, "截止")]
    dictionary = struct.pack("<I", len(names))
    for pid, name in names:
        raw = name.encode("gbk") + b"\0"
        dictionary += struct.pack("<II", pid, len(raw)) + raw
    filetime = int((datetime(2024, 6, 30, 12) - datetime(1601, 1, 1)).total_seconds() * 10**7)
    section = _section(
        [
            (0, dictionary),
            (1, struct.pack("<HHh", 2, 0, 936)),
            (2, _lpstr("F01", "gbk")),
            (3, _lpstr("县教育局", "gbk")),
            (4, struct.pack("<HHi", 3, 0, 12)),
            (5, struct.pack("<HHH", 0x0B, 0, 0xFFFF)),
            (6, struct.pack("<HHQ", 0x40, 0, filetime)),
        ]
    )
    ole = _FakeOle({"\x05DocumentSummaryInformation": _dsi_stream(section)})
    assert book_legacy._ole_user_properties(ole) == {
        "form_id": "F01",
        "单位": "县教育局",
        "份数": "12",
        "已审": "true",
        "截止": "2024-06-30T12:00:00Z",
    }


def test_user_properties_unicode_code_page_and_damage() -> None:
    """Code page 1200: dictionary names are UTF-16 and padded to 4 bytes; VT_LPWSTR values."""
    dictionary = struct.pack("<I", 2)
    for pid, name in [(2, "单位"), (3, "form_id")]:
        raw = (name + "\0").encode("utf-16-le")
        dictionary += struct.pack("<II", pid, len(name) + 1) + raw + b"\0" * (-len(raw) % 4)
    value = ("县科协" + "\0").encode("utf-16-le")
    section = _section(
        [
            (0, dictionary),
            (1, struct.pack("<HHh", 2, 0, 1200)),
            (2, struct.pack("<HHI", 0x1F, 0, 4) + value),
            (3, struct.pack("<HHI", 0x1F, 0, 4) + "F02\0".encode("utf-16-le")),
        ]
    )
    stream = _dsi_stream(section)
    assert book_legacy._ole_user_properties(_FakeOle({"\x05DocumentSummaryInformation": stream})) == {
        "单位": "县科协",
        "form_id": "F02",
    }
    # truncated or garbage streams never fail a load: no properties
    for broken in (stream[:60], stream[:-20], b"\xfe\xff" + b"\xff" * 200, b""):
        assert isinstance(
            book_legacy._ole_user_properties(_FakeOle({"\x05DocumentSummaryInformation": broken})), dict
        )
    assert book_legacy._ole_user_properties(_FakeOle({})) == {}


@lo.requires_libreoffice
def test_xls_protection_from_xlrd_stream_and_encrypted(files: dict[str, bytes]) -> None:
    """Without olefile's stream, xlrd's own copy (`mem` from `base`) gives the same protection; an
    encrypted .xls (FILEPASS, e.g. LibreOffice's default-password file for a structure-locked book)
    raises xlrd's error at once instead of a second attempt."""
    book = book_legacy._read_xls(files["xls"], WINDOWS, (60, 12), None, formatting_info=True)
    assert {n: s.protected for n, s in book.sheets.items() if s.protected} == {"保护": True}

    def encrypt(stream: bytearray) -> None:
        for rtype, offset, length in _globals(stream):
            if rtype == 0x01AF and length == 2:
                struct.pack_into("<HH", stream, offset - 4, 0x002F, 2)
                return
        raise AssertionError("no PROT4REV record")

    with pytest.raises(book_legacy.xlrd.XLRDError, match="encrypted"):
        load_xls(_patch_workbook_stream(files["xls"], encrypt), WINDOWS)
