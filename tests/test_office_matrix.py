"""Forms filled and saved by a real office suite, in every format it offers, read exactly by collect.

Each case is one headless LibreOffice session (tests/libreoffice.py) that types into a generated form
as a person would under a zh-CN locale (so "２" and "1,200" become numbers, "2023年5月28日" a date),
then saves the same workbook as .xlsx, .xls and .ods. For each format an inbox holds the four cases and
collect must find, for every case, the same unit, values and findings at the same cells:

- clean: every field filled, two activities listed → accepted with exact values;
- sloppy: "约300", "12篇", a negative count, 50000 typed for 万元 → each defect at its cell;
- tampered: sheet unprotected, a row inserted, re-protected → structure error at the first moved label;
- copied: another unit's form with this unit's name typed over the locked cell → identity mismatch.

Saving in LibreOffice also turns the veryHidden _meta sheet into a plain hidden one (asserted): the
identity must still be read from it.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
from conftest import init_sample
from xlsxwriter.utility import xl_rowcol_to_cell

from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.results import CollectReport

pytestmark = lo.requires_libreoffice

FORMATS = ("xlsx", "xls", "ods")
NOW = datetime(2023, 6, 1, 9, 0)
TYPED = {
    "activities": "２",  # full-width: LibreOffice's zh-CN input turns it into 2
    "fund_government": "1.5",
    "fund_enterprise": "0",
    "fund_in_kind": "0.25",
    "fund_other": "0",
    "staff_fulltime": "2",
    "staff_scientists": "3",
    "staff_volunteers": "4",
    "staff_other": "0",
    "public_offline": "1,200",
    "public_online": "300",
    "media_outlets": "1",
    "media_reports": "2",
    "venues_open": "0",
    "institutes_open": "0",
    "universities_open": "0",
}
CLEAN_VALUES = {
    "activities": 2,
    "fund_government": 1.5,
    "fund_enterprise": 0,
    "fund_in_kind": 0.25,
    "fund_other": 0,
    "fund_total": 1.75,
    "staff_fulltime": 2,
    "staff_scientists": 3,
    "staff_volunteers": 4,
    "staff_other": 0,
    "staff_total": 9,
    "public_offline": 1200,
    "public_online": 300,
    "media_outlets": 1,
    "media_reports": 2,
    "venues_open": 0,
    "institutes_open": 0,
    "universities_open": 0,
}
SLOPPY = {"public_online": "约300", "media_reports": "12篇", "staff_other": "-5", "fund_government": "50000"}
# case → (form of unit, unit the return is for, extra edits/steps)
CASES = {"clean": "D01", "sloppy": "D02", "tampered": "D03", "copied": "D04"}


def typed_edits(ctx: Context, values: dict[str, str]) -> list[dict[str, str]]:
    main, cells = ctx.spec.sheet, ctx.cells
    edits = [{"sheet": main, "cell": cells.fields[k].a1, "typed": v} for k, v in values.items()]
    edits += [
        {"sheet": main, "cell": cells.info["preparer"].a1, "typed": "王芳"},
        {"sheet": main, "cell": cells.info["phone"].a1, "typed": "0557-5550100"},
        {"sheet": main, "cell": cells.info["fill_date"].a1, "typed": "2023年5月28日"},
    ]
    detail = ctx.spec.detail
    assert detail is not None
    for i, name in enumerate(("科普讲座进校园", "科技志愿服务")):
        row = {"name": name, "start": "2023-05-21", "mode": "线下", "category": "科普讲座", "offline": "600"}
        for column, text in row.items():
            a1 = xl_rowcol_to_cell(cells.detail_first + i, cells.detail_cols[column])
            edits.append({"sheet": detail.sheet, "cell": a1, "typed": text})
    return edits


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_sample(tmp_path_factory.mktemp("matrix") / "青溪县")


@pytest.fixture(scope="module")
def ctx(county: Path) -> Context:
    return Context.load(county / CONFIG_NAME)


@pytest.fixture(scope="module")
def saved(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """case → format → the file LibreOffice saved."""
    main, work = ctx.spec.sheet, tmp_path_factory.mktemp("filled")
    password = ctx.password(ctx.campaign.unit(CASES["tampered"]))  # each unit's form has its own
    steps = {
        "clean": {"edits": typed_edits(ctx, TYPED)},
        "sloppy": {"edits": typed_edits(ctx, TYPED | SLOPPY)},
        "tampered": {
            "edits": typed_edits(ctx, TYPED),
            "unprotect": {"sheet": main, "password": password},
            "insert_rows": [{"sheet": main, "before_row": 8, "count": 1}],
            "reprotect": {"sheet": main, "password": password},
        },
        "copied": {  # D05 took D04's file and typed its own name over the (locked) unit cell
            "edits": [
                *typed_edits(ctx, TYPED),
                {"sheet": main, "cell": ctx.cells.unit.a1, "text": ctx.campaign.unit("D05").name},
            ]
        },
    }
    out = {}
    for case, unit_id in CASES.items():
        src = work / f"{case}_{unit_id}.xlsx"
        src.write_bytes(ctx.form_bytes(ctx.campaign.unit(unit_id)))
        result = lo.fill(src, work / case, outputs=FORMATS, **steps[case])
        assert set(result.statuses) == {"ok"}, (case, result.statuses)
        out[case] = result.paths
    return out


@pytest.fixture(scope="module")
def reports(county: Path, saved: dict[str, dict[str, Path]]) -> dict[str, CollectReport]:
    """format → collect over an inbox holding the four cases saved in that format."""
    out = {}
    for fmt in FORMATS:
        inbox = county / f"inbox_{fmt}"
        inbox.mkdir()
        for paths in saved.values():
            shutil.copy2(paths[fmt], inbox / paths[fmt].name)
        out[fmt] = collect(inbox, county / CONFIG_NAME, now=NOW, write=False)
    return out


def file_result(report: CollectReport, case: str):
    return next(f for f in report.files if Path(f.path).name.startswith(case))


def cells_of(report: CollectReport, case: str) -> list[tuple[str, str]]:
    return sorted((f.code.name, f.cell) for f in file_result(report, case).findings)


def test_libreoffice_turns_very_hidden_into_hidden(saved: dict[str, dict[str, Path]]) -> None:
    # the premise of reading identity from a return LibreOffice saved
    assert openpyxl.load_workbook(saved["clean"]["xlsx"])["_meta"].sheet_state == "hidden"


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_fill_is_read_exactly(ctx: Context, reports: dict[str, CollectReport], fmt: str) -> None:
    report = reports[fmt]
    fr = file_result(report, "clean")
    assert (fr.kind, fr.outcome, fr.unit_id, fr.findings) == (fmt, "used", "D01", [])
    unit = next(u for u in report.units if u.unit.id == "D01")
    assert unit.status == "accepted"
    assert unit.values == pytest.approx(CLEAN_VALUES)
    assert unit.info["fill_date"] == date(2023, 5, 28)  # typed 2023年5月28日 under zh-CN
    assert [r["name"] for r in unit.detail] == ["科普讲座进校园", "科技志愿服务"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_sloppy_fill_reports_every_defect_at_its_cell(
    ctx: Context, reports: dict[str, CollectReport], fmt: str
) -> None:
    at = {f: ctx.cells.fields[f].a1 for f in SLOPPY}
    assert cells_of(reports[fmt], "sloppy") == sorted(
        [
            ("AUDIT_NEGATIVE", at["staff_other"]),
            ("AUDIT_RULE", at["fund_government"]),  # 50000 万元: typed in 元?
            ("AUDIT_UNPARSED", at["media_reports"]),
            ("AUDIT_UNPARSED", at["public_online"]),
        ]
    )
    messages = " ".join(f.message for f in file_result(reports[fmt], "sloppy").findings)
    assert "约300" in messages and "12篇" in messages  # the raw text is quoted, never a silent 0
    assert next(u for u in reports[fmt].units if u.unit.id == "D02").status == "rejected"


@pytest.mark.parametrize("fmt", FORMATS)
def test_inserted_row_is_a_structure_error(reports: dict[str, CollectReport], fmt: str) -> None:
    assert cells_of(reports[fmt], "tampered") == [("AUDIT_STRUCTURE", "B8")]
    assert file_result(reports[fmt], "tampered").unit_id == "D03"


@pytest.mark.parametrize("fmt", FORMATS)
def test_copied_form_is_an_identity_mismatch(reports: dict[str, CollectReport], fmt: str) -> None:
    fr = file_result(reports[fmt], "copied")
    assert (fr.outcome, fr.unit_id, cells_of(reports[fmt], "copied")) == (
        "rejected",
        "D05",
        [("ID_MISMATCH", "B2")],
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_totals_count_only_the_clean_return(reports: dict[str, CollectReport], fmt: str) -> None:
    assert reports[fmt].totals == pytest.approx(CLEAN_VALUES)


def test_a_wps_et_file_is_read_like_xls(county: Path, saved: dict[str, dict[str, Path]]) -> None:
    # WPS saves .et; a BIFF .et is an .xls by content, and the reader goes by content, not by name
    inbox = county / "inbox_et"
    inbox.mkdir()
    shutil.copy2(saved["clean"]["xls"], inbox / "县教育局_科技活动周.et")
    report = collect(inbox, county / CONFIG_NAME, now=NOW, write=False)
    [fr] = report.files
    assert (fr.kind, fr.outcome, fr.unit_id) == ("xls", "used", "D01")
    assert report.totals == pytest.approx(CLEAN_VALUES)
