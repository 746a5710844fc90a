"""The LibreOffice test helper (tests/libreoffice.py, tests/lo_uno_fill.py) against a real soffice.

A small protected form is built with xlsxwriter, filled through UNO, saved as xlsx/xls/ods and read
back with openpyxl/xlrd; other tests rely on these promises. Each fill costs ~3 s, so the fills are
module-scoped fixtures shared by several tests.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
import xlrd
import xlsxwriter

pytestmark = lo.requires_libreoffice

SHEET = "统计表"
PASSWORD = "pw"
LABELS = {4: "科普人员", 5: "科普场馆", 6: "科普经费", 7: "合计"}


def make_form(path: Path) -> Path:
    """A miniature kepuxl form: protected sheet, three unlocked inputs, a total, a veryHidden _meta."""
    wb = xlsxwriter.Workbook(path)
    unlocked = wb.add_format({"locked": False})
    ws = wb.add_worksheet(SHEET)
    ws.write("A1", "科普统计表")
    for row, label in LABELS.items():
        ws.write(f"A{row}", label)
    for row in (4, 5, 6):
        ws.write_blank(f"C{row}", None, unlocked)
    # xlsxwriter caches 0 as the result: a 24 read back proves LibreOffice recalculated.
    ws.write_formula("C7", "=SUM(C4:C6)")
    ws.protect(PASSWORD)
    meta = wb.add_worksheet("_meta")
    meta.write_row("A1", ["form_id", "F01"])
    meta.very_hidden()
    wb.add_worksheet("说明").write("A1", "填表说明")
    wb.close()
    return path


def edit(cell: str, **kind: object) -> dict:
    return {"sheet": SHEET, "cell": cell, **kind}


@pytest.fixture(scope="module")
def form(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_form(tmp_path_factory.mktemp("form") / "form.xlsx")


@pytest.fixture(scope="module")
def filled(form: Path, tmp_path_factory: pytest.TempPathFactory) -> lo.FillResult:
    """One soffice session: six edits, three output formats."""
    return lo.fill(
        form,
        tmp_path_factory.mktemp("filled"),
        edits=[
            edit("C4", typed="12"),
            edit("C5", typed="\uff11\uff12"),  # full-width "12": a number only under zh-CN
            edit("C6", typed="约300"),
            edit("A4", typed="篡改"),  # locked cell: typing is refused
            edit("A9", text="t"),  # setString/setValue ignore protection
            edit("B9", value=5),
        ],
        outputs=("xlsx", "xls", "ods"),
    )


@pytest.fixture(scope="module")
def inserted(form: Path, tmp_path_factory: pytest.TempPathFactory) -> lo.FillResult:
    """Unprotect, insert a row before row 5, type into it, protect again."""
    return lo.fill(
        form,
        tmp_path_factory.mktemp("inserted"),
        unprotect={"sheet": SHEET, "password": PASSWORD},
        insert_rows=[{"sheet": SHEET, "before_row": 5}],
        edits=[edit("C5", typed="7")],
        reprotect={"sheet": SHEET, "password": PASSWORD},
    )


def values(path: Path, cells: str) -> list:
    ws = openpyxl.load_workbook(path, data_only=True)[SHEET]
    return [ws[c].value for c in cells.split()]


def test_typed_input_is_parsed_with_the_zh_cn_locale(filled: lo.FillResult) -> None:
    assert filled.statuses[:3] == ["ok", "ok", "ok"]
    assert filled.raw["locale"] == "zh-CN"
    assert values(filled.paths["xlsx"], "C4 C5 C6") == [12, 12, "约300"]


def test_total_is_recalculated(filled: lo.FillResult) -> None:
    assert values(filled.paths["xlsx"], "C7") == [24]


def test_typing_into_a_locked_cell_is_refused(filled: lo.FillResult) -> None:
    assert filled.statuses[3] == "refused"
    assert values(filled.paths["xlsx"], "A4") == [LABELS[4]]
    # API writes bypass protection: the helper can plant values a person could not type.
    assert filled.statuses[4:] == ["ok", "ok"]
    assert values(filled.paths["xlsx"], "A9 B9") == ["t", 5]


def test_one_session_writes_xlsx_xls_and_ods(filled: lo.FillResult) -> None:
    assert set(filled.paths) == {"xlsx", "xls", "ods"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in filled.paths.values())

    book = xlrd.open_workbook(filled.paths["xls"])
    assert book.sheet_names() == [SHEET, "_meta", "说明"]
    sheet = book.sheet_by_name(SHEET)
    assert [sheet.cell_value(r, 2) for r in range(3, 7)] == [12.0, 12.0, "约300", 24.0]

    with zipfile.ZipFile(filled.paths["ods"]) as ods:
        assert ods.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        content = ods.read("content.xml").decode("utf-8")
    assert "约300" in content and 'office:value="24"' in content

    wb = openpyxl.load_workbook(filled.paths["xlsx"])
    assert wb[SHEET].protection.sheet
    # As the notes say: LibreOffice has no veryHidden, _meta comes back merely hidden.
    assert wb["_meta"].sheet_state == "hidden"


def test_inserted_row_moves_the_total_down(inserted: lo.FillResult) -> None:
    raw = inserted.raw
    assert [s["status"] for s in raw["unprotect"] + raw["insert_rows"] + raw["reprotect"]] == ["ok"] * 3
    ws = openpyxl.load_workbook(inserted.paths["xlsx"])[SHEET]
    assert ws["C8"].value == "=SUM(C4:C7)"
    assert ws["C7"].value is None
    assert (ws["A5"].value, ws["A6"].value) == (None, LABELS[5])
    assert ws.protection.sheet
    assert values(inserted.paths["xlsx"], "C5 C8") == [7, 7]


def test_wrong_password_is_reported_not_raised_without_check(form: Path, tmp_path: Path) -> None:
    res = lo.fill(
        form,
        tmp_path,
        unprotect={"sheet": SHEET, "password": "wrong"},
        insert_rows=[{"sheet": SHEET, "before_row": 5}],
        outputs=(),
        check=False,
    )
    assert not res.ok
    assert res.raw["unprotect"][0]["status"] == "error: ValueError: wrong password for sheet '统计表'"
    # Still protected, so the row insert is refused too.
    assert res.raw["insert_rows"][0]["status"].startswith("error: ")
    with pytest.raises(lo.LibreOfficeError, match="wrong password"):
        lo.fill(form, tmp_path, unprotect={"sheet": SHEET, "password": "wrong"}, outputs=())


def test_unloadable_file_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(lo.LibreOfficeError, match="cannot load") as info:
        lo.fill(bad, tmp_path / "out")
    assert info.value.result is not None and not info.value.result["loaded"]


def test_timeout_kills_soffice_and_raises(form: Path, tmp_path: Path) -> None:
    with pytest.raises(lo.LibreOfficeError, match="timeout") as info:
        lo.fill(form, tmp_path, timeout=0.5)
    assert_nothing_left(info.value.result)


def test_pdf_has_pages_and_renders(form: Path, tmp_path: Path) -> None:
    pdf = lo.to_pdf(form, tmp_path)
    assert pdf == tmp_path / "form.pdf"
    assert lo.pdf_page_count(pdf) >= 1
    pngs = lo.pdf_to_png(pdf, tmp_path / "png" / "page", dpi=50)
    assert len(pngs) == lo.pdf_page_count(pdf)
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (form.parent / ".~lock.form.xlsx#").exists()


def test_fills_leave_no_soffice_profile_or_socket(filled: lo.FillResult, inserted: lo.FillResult) -> None:
    for res in (filled, inserted):
        assert_nothing_left(res.raw)


def assert_nothing_left(raw: dict | None) -> None:
    """soffice's process group is gone, and its profile and pipe socket were removed."""
    assert raw is not None
    info = raw["soffice"]
    assert not Path(info["profile"]).exists()
    assert not Path(f"/tmp/OSL_PIPE_{os.getuid()}_{info['pipe']}").exists()
    if info["pid"] is not None:
        with pytest.raises(ProcessLookupError):
            os.killpg(info["pid"], 0)
