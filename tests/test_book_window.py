"""book.load_xlsx reads only a window, fast, and the same whichever path a sheet part takes.

Parts up to WHOLE_PART are parsed whole with the empty cells pruned first; bigger ones are streamed
and the stream stops after the window. Both must give the same Book; the reader's narrowing to the
cells it looks at (`only=`) must give the same ReturnedForm as a full window.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from kepu_xl import book, reader
from kepu_xl.book import Value, load_xlsx
from kepu_xl.context import Context
from kepu_xl.init import init_campaign


def _xlsx(write) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = wb.add_worksheet("表")
    write(wb, ws)
    wb.close()
    return buffer.getvalue()


def _patch(data: bytes, part: str, edit) -> bytes:  # type: ignore[no-untyped-def]
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(info.filename, edit(body) if info.filename == part else body)
    return out.getvalue()


def _cells(b: book.Book) -> dict[str, dict[tuple[int, int], Value]]:
    return {name: dict(s.cells) for name, s in b.sheets.items()}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("county")
    init_campaign(folder, with_returns=True)
    return folder


@pytest.fixture(scope="module")
def returns(county: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((county / "inbox").glob("*.xlsx"))]


def test_a_cell_at_xfd1048576_is_outside_the_window_and_costs_nothing() -> None:
    def write(wb, ws):  # type: ignore[no-untyped-def]
        ws.write_string(0, 0, "单位")
        ws.write_number(1048575, 16383, 1)

    data = _xlsx(write)
    for whole in (book.WHOLE_PART, 0):  # parsed whole, and streamed
        started = time.monotonic()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(book, "WHOLE_PART", whole)
            sheet = load_xlsx(data, {"表": (10, 10)}).sheets["表"]
        assert time.monotonic() - started < 1.0
        assert sheet.cells == {(0, 0): Value("单位", "s")}


def test_streaming_stops_after_the_window_and_still_sees_the_protection(returns: list[bytes]) -> None:
    windows = {"统计表": (44, 6), "活动明细": (60, 10), "_meta": (20, 2)}
    protected = 0
    for data in returns:
        whole = load_xlsx(data, windows)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(book, "WHOLE_PART", 0)
            streamed = load_xlsx(data, windows)
        assert _cells(streamed) == _cells(whole)
        assert {n: s.protected for n, s in streamed.sheets.items()} == {
            n: s.protected for n, s in whole.sheets.items()
        }
        protected += whole.sheets["统计表"].protected
    assert protected >= len(returns) - 2  # all but the retyped copy (and its like) keep the protection


def test_rows_past_the_window_are_never_parsed_when_streaming() -> None:
    def write(wb, ws):  # type: ignore[no-untyped-def]
        ws.write_number(0, 0, 1)
        for row in range(20, 8000):  # ~300 KB of rows below the window
            ws.write_number(row, 0, row)
        ws.protect()

    # the last row, far below the window, would not parse: a streamed read never gets there
    data = _patch(
        _xlsx(write),
        "xl/worksheets/sheet1.xml",
        lambda x: x.replace(b'<c r="A8000">', b'<c r="A8000" r="A8000">'),
    )
    with pytest.raises(Exception, match="redefined"):
        load_xlsx(data, {"表": (10, 10)})  # parsed whole, the error is found
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(book, "WHOLE_PART", 0)
        sheet = load_xlsx(data, {"表": (10, 10)}).sheets["表"]
    assert sheet.cells == {(0, 0): Value(1, "n")}
    assert sheet.protected


def test_pruning_empty_cells_spares_inline_strings_and_cdata() -> None:
    def write(wb, ws):  # type: ignore[no-untyped-def]
        fmt = wb.add_format({"bold": True})
        ws.write_blank(0, 0, None, fmt)
        ws.write_number(0, 1, 5, fmt)
        ws.write_string(0, 2, "x")

    def edit(x: bytes) -> bytes:
        x = re.sub(rb'<c r="C1"[^>]*>.*?</c>', b'<c r="C1" t="inlineStr"/>', x)
        return x.replace(
            b"</row>", b'<c r="D1" t="str"><f>1</f><v><![CDATA[<c r="E1" s="1"/>]]></v></c></row>'
        )

    data = _patch(_xlsx(write), "xl/worksheets/sheet1.xml", edit)
    cells = load_xlsx(data, {"表": (10, 10)}).sheets["表"].cells
    assert cells == {
        (0, 1): Value(5, "n"),
        (0, 2): Value("", "s"),  # an empty inline string is text, not nothing
        (0, 3): Value('<c r="E1" s="1"/>', "f", "1"),  # CDATA content kept as written
    }


def test_only_keeps_the_named_positions() -> None:
    def write(wb, ws):  # type: ignore[no-untyped-def]
        for r in range(5):
            for c in range(5):
                ws.write_number(r, c, r * 10 + c)

    data = _xlsx(write)
    cells = load_xlsx(data, {"表": (10, 10)}, only={"表": {(1, 1), (4, 4), (9, 9)}}).sheets["表"].cells
    assert cells == {(1, 1): Value(11, "n"), (4, 4): Value(44, "n")}


def test_the_reader_sees_what_a_full_window_shows(county: Path, returns: list[bytes]) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    windows = reader.windows(ctx.spec, ctx.cells)
    for data in returns:
        full = reader.from_book(load_xlsx(data, windows), ctx.spec, ctx.cells)
        assert reader.read(data, "xlsx", ctx.spec, ctx.cells) == full
