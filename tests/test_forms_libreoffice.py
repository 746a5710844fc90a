"""A generated form in real LibreOffice: typed entries, recalculated totals and live self-checks.

tests/libreoffice.py drives a headless soffice through UNO: numbers are typed as a person would (zh-CN
locale, refused on locked cells), the workbook is recalculated and saved as xlsx, and openpyxl reads the
values LibreOffice computed. Each fill costs a few seconds, so two fills are shared by the module:
one with problems the self-checks must flag, one clean.
"""

from __future__ import annotations

from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
from conftest import UNIT_NAME
from openpyxl.worksheet.worksheet import Worksheet

from kepu_xl.context import Context
from kepu_xl.init import init_campaign

pytestmark = lo.requires_libreoffice

MAIN, DETAIL = "统计表", "活动明细"
OK, WARN, VERIFY, ERROR, NOT_CHECKED = "✓", "⚠ 请注意", "⚠ 请核实", "✗ 请修改", "－ 先填好数字"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    return Context.load(init_campaign(tmp_path_factory.mktemp("lo") / "青溪县"))


@pytest.fixture(scope="module")
def form(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("form") / f"13_{UNIT_NAME}.xlsx"
    path.write_bytes(ctx.form_bytes(ctx.campaign.unit_by_name(UNIT_NAME)))
    return path


def a1(ctx: Context, field_id: str) -> str:
    return ctx.cells.fields[field_id].a1


def typed(ctx: Context, entries: dict[str, str]) -> list[dict[str, str]]:
    return [{"sheet": MAIN, "cell": a1(ctx, f), "typed": text} for f, text in entries.items()]


PROBLEMS = {
    "activities": "0",
    "fund_government": "1.5",
    "fund_enterprise": "2",
    "fund_in_kind": "0.25",
    "fund_other": "600",  # 万元 typed as 元? the fund_in_yuan check must warn
    "staff_fulltime": "1",
    "staff_scientists": "2",
    "staff_volunteers": "3",
    "staff_other": "4",
    "public_offline": "100",  # people took part, yet 0 activities: an error
    "public_online": "50",
    "media_outlets": "1",
    "media_reports": "约300",  # text in a number cell: typed text bypasses the validation
}  # the three 开放 counts stay empty: each is "not filled in"
CLEAN = {
    "activities": "2",
    "fund_government": "0",
    "fund_enterprise": "0",
    "fund_in_kind": "0",
    "fund_other": "0",
    "staff_fulltime": "0",
    "staff_scientists": "3",
    "staff_volunteers": "0",
    "staff_other": "0",
    "public_offline": "100",
    "public_online": "0",
    "media_outlets": "1",
    "media_reports": "2",
    "venues_open": "0",
    "institutes_open": "0",
    "universities_open": "0",
}


@pytest.fixture(scope="module")
def with_problems(ctx: Context, form: Path, tmp_path_factory: pytest.TempPathFactory) -> lo.FillResult:
    edits = [*typed(ctx, PROBLEMS), {"sheet": MAIN, "cell": ctx.cells.unit.a1, "typed": "县科协"}]
    return lo.fill(form, tmp_path_factory.mktemp("problems"), edits=edits)


@pytest.fixture(scope="module")
def clean(ctx: Context, form: Path, tmp_path_factory: pytest.TempPathFactory) -> lo.FillResult:
    edits = [
        *typed(ctx, CLEAN),
        {"sheet": DETAIL, "cell": "B4", "typed": "科普讲座进校园"},
        {"sheet": DETAIL, "cell": "H4", "typed": "60"},
        {"sheet": DETAIL, "cell": "B5", "typed": "科技志愿服务"},
        {"sheet": DETAIL, "cell": "H5", "typed": "40"},
    ]
    return lo.fill(form, tmp_path_factory.mktemp("clean"), edits=edits)


def values(result: lo.FillResult, sheet: str = MAIN) -> Worksheet:
    return openpyxl.load_workbook(result.paths["xlsx"], data_only=True)[sheet]


def rule_marks(ctx: Context, ws: Worksheet) -> dict[tuple[str, str], str]:
    return {(r.id, r.target): ws[c.a1].value for r, c in zip(ctx.spec.rules, ctx.cells.rules, strict=True)}


def test_typed_inputs_are_accepted(with_problems: lo.FillResult, clean: lo.FillResult) -> None:
    assert with_problems.statuses[: len(PROBLEMS)] == ["ok"] * len(PROBLEMS)
    assert clean.statuses == ["ok"] * len(clean.edits)


def test_totals_are_recalculated(ctx: Context, with_problems: lo.FillResult) -> None:
    ws = values(with_problems)
    assert ws[a1(ctx, "fund_total")].value == pytest.approx(603.75)
    assert ws[a1(ctx, "staff_total")].value == 10
    assert ws[a1(ctx, "fund_government")].value == 1.5  # typed decimals read with the zh-CN locale


def test_the_unit_cell_cannot_be_typed_over(ctx: Context, with_problems: lo.FillResult) -> None:
    assert with_problems.statuses[-1] == "refused"
    assert values(with_problems)[ctx.cells.unit.a1].value == UNIT_NAME


def test_self_checks_flag_the_problems(ctx: Context, with_problems: lo.FillResult) -> None:
    marks = rule_marks(ctx, values(with_problems))
    assert marks == {
        ("public_without_activities", "public_offline"): ERROR,
        ("reports_below_outlets", "media_reports"): NOT_CHECKED,  # it reads the text: not made, as collect
        ("offline_per_activity", "activities"): OK,  # 100 / 0 activities: guarded, no #DIV/0!
        ("fund_in_yuan", "fund_government"): OK,
        ("fund_in_yuan", "fund_enterprise"): OK,
        ("fund_in_yuan", "fund_in_kind"): OK,
        ("fund_in_yuan", "fund_other"): VERIFY,  # 600 万元: probably 元, 待核实
        ("activities_without_staff", "activities"): OK,
        ("detail_count", "activities"): OK,
    }


def test_hints_next_to_the_fields(ctx: Context, with_problems: lo.FillResult) -> None:
    ws = values(with_problems)

    def hint(field_id: str) -> str | None:
        return ws[ctx.cells.hints[field_id].a1].value

    assert hint("public_offline") == ERROR
    assert hint("fund_other") == VERIFY
    assert hint("media_reports") == "✗ 请填数字"
    assert hint("venues_open") == "✗ 未填写"
    assert hint("fund_government") in (None, "")
    assert hint("activities") in (None, "")


def test_rule_text_shows_the_typed_value(ctx: Context, with_problems: lo.FillResult) -> None:
    ws = values(with_problems)
    row = ctx.cells.rules[6].row + 1  # fund_in_yuan for fund_other
    assert (
        ws.cell(row=row, column=2).value
        == "“其他经费情况”为 600 万元，超过 500 万元，\n可能把“元”当成了“万元”。请核实；确为万元的，\n请在“情况说明”中写明。"
    )


def test_a_clean_form_shows_only_ticks(ctx: Context, clean: lo.FillResult) -> None:
    ws = values(clean)
    assert set(rule_marks(ctx, ws).values()) == {OK}
    # until a rule fires its row says what is checked, not a message quoting the value
    texts = [ws.cell(row=c.row + 1, column=2).value for c in ctx.cells.rules]
    assert [t.replace("\n", "") for t in texts] == [r.check_text(ctx.spec) for r in ctx.spec.rules]
    assert texts[3] == "“县级(单位)财政经费投入情况”是否超过 500 万元\n（可能误按“元”填写）"
    assert {ws[c.a1].value for c in ctx.cells.hints.values()} <= {None, ""}
    assert ws[a1(ctx, "staff_total")].value == 3
    assert {ws[c.a1].value for c in ctx.cells.states.values()} <= {None, ""}


def test_detail_totals_are_recalculated(ctx: Context, clean: lo.FillResult) -> None:
    ws = values(clean, DETAIL)
    total = ctx.cells.detail_total + 1
    assert ws.cell(row=total, column=ctx.cells.detail_cols["offline"] + 1).value == 100
    assert ws.cell(row=total, column=ctx.cells.detail_cols["name"] + 1).value == "2 项"


def test_protection_survives_the_round_trip(clean: lo.FillResult) -> None:
    wb = openpyxl.load_workbook(clean.paths["xlsx"])
    assert all(wb[name].protection.sheet for name in ("填报说明", MAIN, DETAIL))
    assert wb[MAIN]["D10"].value == (
        "=(((IF(ISNUMBER(D6),D6,0)+IF(ISNUMBER(D7),D7,0))+IF(ISNUMBER(D8),D8,0))+IF(ISNUMBER(D9),D9,0))"
    )


def test_the_form_prints_on_one_a4_page(ctx: Context, form: Path, tmp_path: Path) -> None:
    # The clerk prints 统计表, stamps it and scans it: one A4 portrait page, title to footer, nothing cut.
    pdf = lo.to_pdf(form, tmp_path)
    texts = [lo.pdf_text(pdf, n) for n in range(1, lo.pdf_page_count(pdf) + 1)]
    sizes = lo.pdf_page_sizes(pdf)
    main = [n for n, text in enumerate(texts) if "自查结果" in text or "举办活动次数" in text]
    assert len(main) == 1, "统计表 spread over several pages"
    page, (width, height) = texts[main[0]], sizes[main[0]]
    assert (round(width), round(height)) == (595, 842)  # A4 portrait, in points
    last_field = ctx.spec.fields[-1].label
    for text in (ctx.spec.title, UNIT_NAME, last_field, "情况说明", "单位（盖章）：", "填表人：", "日期："):
        assert text in page, text
    for n in range(1, len(ctx.spec.rules) + 1):
        assert f"自查{n}" in page  # every self-check row printed, the last one included
    # the identity sheet is never printed
    assert not any(ctx.campaign.id in text for text in texts)
