"""Feedback forms: what a unit with problems gets back, and that its corrected return closes the loop.

A feedback form is a fresh form for the unit (same identity, valid for resubmission) prefilled with
what the unit sent, each problem cell highlighted with a comment holding the message, plus a 问题清单
sheet. The unit corrects it and sends it back; collect takes it as the newer version and shows what
changed.
"""

from __future__ import annotations

import io
import os
import shutil
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from xlsxwriter.utility import xl_rowcol_to_cell

from kepu_xl import audit, reader
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.init import init_campaign
from kepu_xl.results import CollectReport

NOW = datetime(2023, 6, 5, 9, 0)
BAD_FILL = "FFFFC7CE"  # the highlight of a problem cell (Excel's "bad" red)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_campaign(tmp_path_factory.mktemp("feedback") / "青溪县", with_returns=True).parent


@pytest.fixture(scope="module")
def first(county: Path) -> CollectReport:
    return collect(county / "inbox", county / CONFIG_NAME, county / "output", now=NOW)


@pytest.fixture(scope="module")
def ctx(county: Path) -> Context:
    return Context.load(county / CONFIG_NAME)


def unit_result(report: CollectReport, unit_id: str):
    return next(u for u in report.units if u.unit.id == unit_id)


def test_only_units_with_problems_get_feedback(first: CollectReport) -> None:
    with_feedback = {u.unit.id for u in first.units if u.feedback}
    assert with_feedback == {
        u.unit.id for u in first.units if u.status in ("rejected", "pending", "warnings")
    }
    assert all(Path(u.feedback).parent.name == "反馈" for u in first.units if u.feedback)


def test_feedback_is_a_valid_form_for_the_same_unit(first: CollectReport, ctx: Context) -> None:
    t03 = unit_result(first, "T03")
    form = reader.read(Path(t03.feedback).read_bytes(), "xlsx", ctx.spec, ctx.cells)
    unit, found = audit.identify(form, ctx.campaign, ctx.spec, ctx.cells, ctx.secret)
    assert unit is not None and unit.id == "T03" and found == []


def test_problem_cells_are_highlighted_with_the_message(first: CollectReport, ctx: Context) -> None:
    t03 = unit_result(first, "T03")
    book = openpyxl.load_workbook(t03.feedback)
    main = book[ctx.spec.sheet]
    a1 = ctx.cells.fields["fund_enterprise"].a1
    assert main[a1].value == "约300"  # what the unit sent, kept as typed
    assert main[a1].fill.fgColor.rgb == BAD_FILL
    finding = next(f for f in t03.findings if f.cell == a1)
    assert finding.message in main[a1].comment.text
    clean = ctx.cells.fields["activities"].a1
    assert main[clean].comment is None and main[clean].fill.fgColor.rgb != BAD_FILL
    assert main[clean].value == t03.values["activities"]
    listed = [[str(c.value).replace("\n", "") for c in row] for row in book["问题清单"].iter_rows(min_row=1)]
    assert any(finding.message in row for row in listed)  # printed on as many lines as it takes


def test_the_corrected_feedback_is_taken_as_the_newer_version(
    first: CollectReport, ctx: Context, county: Path, tmp_path: Path
) -> None:
    t03 = unit_result(first, "T03")
    book = openpyxl.load_workbook(t03.feedback)
    book[ctx.spec.sheet][ctx.cells.fields["fund_enterprise"].a1] = 3
    inbox = tmp_path / "inbox"
    shutil.copytree(county / "inbox", inbox)
    corrected = inbox / "城西镇-统计表（按反馈修改）.xlsx"
    book.save(corrected)
    stamp = datetime(2023, 6, 3, 10, 0).timestamp()
    os.utime(corrected, (stamp, stamp))
    second = collect(inbox, county / CONFIG_NAME, tmp_path / "out", now=NOW)
    fixed = unit_result(second, "T03")
    assert fixed.status == "accepted" and Path(fixed.file).name == corrected.name
    assert [(c.field_id, c.old, c.new) for c in fixed.changes] == [
        ("fund_enterprise", None, 3),
        ("fund_total", t03.values["fund_total"], t03.values["fund_total"] + 3),
    ]
    # saved 06-03, after the 05-30 deadline: still used; a file time makes it only "maybe" late
    assert fixed.maybe_late and not fixed.late


def test_detail_rows_go_back_to_their_rows(ctx: Context, tmp_path: Path) -> None:
    # A unit that skipped a row in 活动明细: the feedback keeps each row, and its comment, where it was.
    unit = ctx.campaign.unit("T11")
    book = openpyxl.load_workbook(io.BytesIO(ctx.form_bytes(unit)))
    main, detail = book[ctx.spec.sheet], book[ctx.spec.detail.sheet]
    for field in ctx.spec.inputs:
        main[ctx.cells.fields[field.id].a1] = 2
    main[ctx.cells.info["preparer"].a1], main[ctx.cells.info["phone"].a1] = "周敏", "0557-5550199"
    main[ctx.cells.info["fill_date"].a1] = datetime(2023, 5, 28)

    def at(i: int, column: str) -> str:
        return xl_rowcol_to_cell(ctx.cells.detail_first + i, ctx.cells.detail_cols[column])

    detail[at(0, "name")], detail[at(0, "offline")] = "科普讲座", 80
    detail[at(2, "name")], detail[at(2, "offline")] = "科普展览", "约50"  # row 2 left empty
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    book.save(inbox / "T11.xlsx")
    report = collect(inbox, ctx.campaign.folder / CONFIG_NAME, tmp_path / "out", now=NOW)
    result = unit_result(report, "T11")
    assert (result.status, [(f.code.name, f.cell) for f in result.findings if f.sheet == "活动明细"]) == (
        "warnings",
        [("AUDIT_UNPARSED", at(2, "offline"))],
    )
    back = openpyxl.load_workbook(result.feedback)[ctx.spec.detail.sheet]
    assert [back[at(i, "name")].value for i in range(3)] == ["科普讲座", None, "科普展览"]
    assert back[at(2, "offline")].value == "约50" and "约50" in back[at(2, "offline")].comment.text
    assert back[at(0, "offline")].value == 80 and back[at(0, "offline")].comment is None
