"""The second bundled definition, 科普活动月: a new campaign type made from a definition file alone.

It borrows four sections of 科技活动周 (`from = "science_week"`) and adds its own. The borrowed fields
must be the week's fields exactly (same ids, so city-level scripts compare the two campaigns), and a
campaign switched to it by one line of kepuxl.toml must go through make-forms, a LibreOffice fill and
collect with its own rules working in the form and in the audit.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
from conftest import init_sample
from xlsxwriter.utility import xl_rowcol_to_cell

from kepu_xl import spec
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context

WEEK = spec.load(spec.bundled_dir() / "science_week.toml")
MONTH = spec.load(spec.bundled_dir() / "science_month.toml")
BORROWED = ("funding", "staff", "public", "media")


def test_month_definition_checks_clean() -> None:
    found, findings = spec.check(spec.bundled_dir() / "science_month.toml")
    assert found is not None and findings == []
    assert [s.id for s in MONTH.sections] == ["activities", *BORROWED, "materials"]


@pytest.mark.parametrize("section", BORROWED)
def test_borrowed_sections_are_the_weeks_fields(section: str) -> None:
    week = next(s for s in WEEK.sections if s.id == section)
    month = next(s for s in MONTH.sections if s.id == section)
    assert [(f.id, f.label, f.unit, f.type, f.places, f.max) for f in month.fields] == [
        (f.id, f.label, f.unit, f.type, f.places, f.max) for f in week.fields
    ]
    # a borrowed section may be retitled; the week's own title is kept otherwise
    expected = "活动月经费投入数量（单位：万元）" if section == "funding" else week.title
    assert month.title == expected


def test_borrowed_formulas_are_recomputed() -> None:
    values = {"fund_government": 1, "fund_enterprise": 2, "fund_in_kind": 3, "fund_other": 4}
    assert MONTH.field("fund_total").formula.evaluate(values) == 10


# -- a whole campaign on the month form ------------------------------------------------------------

TYPED = {
    "activities": "3",
    "activities_science_day": "1",
    "lectures": "1",
    "exhibitions": "1",
    "fund_government": "2",
    "fund_enterprise": "0",
    "fund_in_kind": "0",
    "fund_other": "0",
    "staff_fulltime": "1",
    "staff_scientists": "2",
    "staff_volunteers": "5",
    "staff_other": "0",
    "public_offline": "900",
    "public_online": "0",
    "media_outlets": "1",
    "media_reports": "1",
    "leaflets": "2,000",
    "boards": "12",
}


@pytest.fixture(scope="module")
def month_campaign(tmp_path_factory: pytest.TempPathFactory) -> Context:
    folder = init_sample(tmp_path_factory.mktemp("month") / "青溪县科普月")
    config = folder / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'(?m)^form = "science_week"', 'form = "science_month"', text), encoding="utf-8")
    return Context.load(config)


def edits(ctx: Context, typed: dict[str, str], activities: int) -> list[dict[str, str]]:
    main, cells = ctx.spec.sheet, ctx.cells
    out = [{"sheet": main, "cell": cells.fields[k].a1, "typed": v} for k, v in typed.items()]
    out += [
        {"sheet": main, "cell": cells.info["preparer"].a1, "typed": "赵磊"},
        {"sheet": main, "cell": cells.info["phone"].a1, "typed": "0557-5550111"},
        {"sheet": main, "cell": cells.info["fill_date"].a1, "typed": "2024-09-25"},
    ]
    for i in range(activities):
        row = {"name": f"科普进农村（第{i + 1}场）", "mode": "线下", "science_day": "是" if i == 0 else "否"}
        for column, text in row.items():
            a1 = xl_rowcol_to_cell(cells.detail_first + i, cells.detail_cols[column])
            out.append({"sheet": ctx.spec.detail.sheet, "cell": a1, "typed": text})
    return out


@pytest.fixture(scope="module")
def filled(month_campaign: Context, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lo.require()
    ctx, work = month_campaign, tmp_path_factory.mktemp("month_filled")
    cases = {
        "T01": edits(ctx, TYPED, 3),
        "T02": edits(ctx, TYPED | {"activities_science_day": "5"}, 3),  # more 科普日 events than events
    }
    out = {}
    for unit_id, steps in cases.items():
        src = work / f"{unit_id}.xlsx"
        src.write_bytes(ctx.form_bytes(ctx.campaign.unit(unit_id)))
        result = lo.fill(src, work / unit_id, edits=steps)
        assert set(result.statuses) == {"ok"}, result.statuses
        out[unit_id] = result.paths["xlsx"]
    return out


@lo.requires_libreoffice
def test_month_form_self_checks_in_libreoffice(month_campaign: Context, filled: dict[str, Path]) -> None:
    ctx = month_campaign
    ws = openpyxl.load_workbook(filled["T02"], data_only=True)[ctx.spec.sheet]
    marks = {r.id: ws[c.a1].value for r, c in zip(ctx.spec.rules, ctx.cells.rules, strict=True)}
    assert marks["science_day_over_total"] == "✗ 请修改"
    assert {k: v for k, v in marks.items() if k != "science_day_over_total"} == dict.fromkeys(
        [k for k in marks if k != "science_day_over_total"], "✓"
    )
    assert ws[ctx.cells.fields["fund_total"].a1].value == 2
    assert ws[ctx.cells.fields["staff_total"].a1].value == 8


@lo.requires_libreoffice
def test_month_returns_are_collected(month_campaign: Context, filled: dict[str, Path]) -> None:
    ctx = month_campaign
    inbox = ctx.campaign.folder / "inbox"
    for path in filled.values():
        shutil.copy2(path, inbox / path.name)
    report = collect(inbox, ctx.campaign.folder / CONFIG_NAME, now=datetime(2024, 9, 30), write=False)
    status = {u.unit.id: u.status for u in report.units if u.file}
    assert status == {"T01": "accepted", "T02": "rejected"}
    t02 = next(u for u in report.units if u.unit.id == "T02")
    assert [(f.code.name, f.cell) for f in t02.findings if f.severity.value == "error"] == [
        ("AUDIT_RULE", ctx.cells.fields["activities_science_day"].a1)
    ]
    assert report.totals["leaflets"] == 2000 and report.totals["boards"] == 12
    assert report.totals["activities_science_day"] == 1 and report.totals["staff_total"] == 8
    assert report.to_dict()["units"][0]["values"].keys() == {f.id for f in ctx.spec.fields}
