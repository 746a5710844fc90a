"""Feedback forms from the template: the workbook `build_form` makes, or built directly. "The same" is
helpers.zip_differences: the same zip members and metadata and, inflated, the same bytes in every part
(the template's parts are spliced from runs deflated once, so the compressed bytes differ).

Every feedback case of the sample county (both bundled forms), the hostile texts units type, a long
problem list, comments on 活动明细 only and on both sheets, and generated values and problems: the
template's parts are the direct build's. What the template cannot reproduce (a text xlsxwriter escapes
or refuses, a name the blank template would not take) is built directly, which a spy on
`context.build_form` sees.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import pytest
from conftest import init_sample
from helpers import zip_differences
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kepu_xl.campaign import Unit
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.feedback_template import DETAIL, MAIN, Fallback
from kepu_xl.findings import Code, Finding, Severity
from kepu_xl.forms_writer import Prefill, build_form
from kepu_xl.layout import DETAIL_ROW_KEY
from kepu_xl.results import CollectReport
from kepu_xl.sample_returns import write_inbox

NOW = datetime(2023, 6, 5, 9, 0)
FORMS = ("science_week", "science_month")

# what units type, as the reader gives it back: each must come back in the form as the unit typed it
HOSTILE = [
    '=HYPERLINK("http://evil.example","点我")',
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script> & <b>",
    "&amp; &lt; ]]> \"quoted\" 'single'",
    "  前后空格  ",
    "\u3000全角空格开头",
    "第一行\n第二行\t制表",
    "控制\x01字符\x1f被去掉",
    "😀 𠀀 🇨🇳",
    "长" * 3000,
    "约300",
    "300-400",
    "１５",
    "",
    True,
    False,
    0,
    -0.0,
    1e20,
    1.2345678901234567,
    12345678901234567890,
    date(2023, 5, 20),
    datetime(2023, 5, 28, 14, 30, 15),
    time(8, 30),
]


def direct(ctx: Context, unit: Unit, prefill: Prefill | None, problems: list[Finding]) -> bytes:
    stamp, password = ctx.identity(unit), ctx.password(unit)
    return build_form(
        ctx.spec, ctx.cells, ctx.campaign, unit, stamp, password, prefill=prefill, problems=problems
    )


def rendered(ctx: Context, unit: Unit, prefill: Prefill | None, problems: list[Finding]) -> bytes:
    """The template's bytes (raises Fallback where it would build directly)."""
    return ctx.feedback_template().render(unit, ctx.identity(unit), ctx.password(unit), prefill, problems)


@pytest.fixture(scope="module", params=FORMS)
def county(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Context, CollectReport]:
    """The sample county collected: its own returns for the week form; for the month form, returns
    written by kepuxl's writer with each unit's values (every tenth value something else than a number)."""
    folder = tmp_path_factory.mktemp(request.param) / "青溪县"
    init_sample(folder)
    config = folder / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    form = f'form = "{request.param}"'
    config.write_text(re.sub(r'(?m)^form = "science_week"', form, text), encoding="utf-8")
    ctx = Context.load(config)
    if request.param == "science_week":
        write_inbox(ctx, folder / "inbox")
    else:
        _month_returns(ctx, folder / "inbox")
    return ctx, collect(folder / "inbox", config, write=False, now=NOW, workers=0)


def _month_returns(ctx: Context, inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    odd = ["约300", -2, 1.5, "三百", 10**9, "-", ""]
    d = ctx.spec.detail
    for n, unit in enumerate(ctx.campaign.units):
        fields = {
            fl.id: odd[(n + k) % len(odd)] if (n + k) % 10 == 0 else (n + 1) * (k + 2)
            for k, fl in enumerate(ctx.spec.inputs)
        }
        info = {"preparer": f"填表人{n}", "phone": "0557-5550199", "fill_date": datetime(2023, 9, 28)}
        rows = [
            {c.id: (f"活动{i}" if c.type in ("text", "choice") else i + 1) for c in d.columns}
            for i in range(n % 4)
        ]
        data = ctx.form_bytes(unit, Prefill(fields, info, rows))
        (inbox / f"{unit.seq:02d}_{unit.name}.xlsx").write_bytes(data)


def feedback_cases(report: CollectReport) -> list[tuple[Unit, Prefill, list[Finding]]]:
    """Each returned unit with its values and its problems, as collect would make its feedback form."""
    return [
        (u.unit, Prefill(u.raw, u.info, u.detail), [f for f in u.findings if f.severity is not Severity.INFO])
        for u in report.units
        if u.file
    ]


def problem_at(
    sheet: str, cell: str, message: str = "请核实。", severity: Severity = Severity.WARNING
) -> Finding:
    return replace(Finding.make(Code.AUDIT_RULE, message=message, sheet=sheet, cell=cell), severity=severity)


# -- the sample county: every feedback case ---------------------------------------------------------------


def test_every_feedback_form_of_the_county_is_the_direct_build(
    county: tuple[Context, CollectReport], direct_builds: list[str]
) -> None:
    ctx, report = county
    cases = [c for c in feedback_cases(report) if c[2]]
    assert len(cases) >= 10
    for unit, prefill, problems in cases:
        got = ctx.form_bytes(unit, prefill, problems)
        assert zip_differences(got, direct(ctx, unit, prefill, problems)) == [], unit.name
    assert direct_builds == []  # not one was built directly


def test_every_returned_unit_with_a_problem_on_its_first_input(
    county: tuple[Context, CollectReport], direct_builds: list[str]
) -> None:
    # the units without problems too: their values, a warning on the first number
    ctx, report = county
    first = ctx.cells.fields[ctx.spec.inputs[0].id]
    for unit, prefill, problems in feedback_cases(report):
        problems = problems or [problem_at(first.sheet, first.a1)]
        got = ctx.form_bytes(unit, prefill, problems)
        assert zip_differences(got, direct(ctx, unit, prefill, problems)) == [], unit.name
    assert direct_builds == []


def test_all_the_county_s_problems_in_one_form(county: tuple[Context, CollectReport]) -> None:
    # a long 问题清单 over several pages, comments on many cells, messages of every length
    ctx, report = county
    everything = [f for f in report.findings if f.severity is not Severity.INFO]
    unit, prefill, _ = next(c for c in feedback_cases(report) if c[0].id == "T04")
    many = [*everything, *(replace(f, message=f.message * 9) for f in everything[:5])]
    assert zip_differences(rendered(ctx, unit, prefill, many), direct(ctx, unit, prefill, many)) == []


# -- comments on either sheet, and the texts units type ----------------------------------------------------


def _detail_cell(ctx: Context, row: int, column: str) -> str:
    from xlsxwriter.utility import xl_rowcol_to_cell

    return xl_rowcol_to_cell(ctx.cells.detail_first + row, ctx.cells.detail_cols[column])


@pytest.mark.parametrize("where", [(MAIN,), (DETAIL,), (MAIN, DETAIL), ()])
def test_comments_on_each_choice_of_sheets(
    county: tuple[Context, CollectReport], where: tuple[str, ...]
) -> None:
    ctx, report = county
    unit, prefill, _ = next(c for c in feedback_cases(report) if c[0].id == "T11")
    d = ctx.spec.detail
    problems = [Finding.make(Code.RESOLVE_LATE, received="2023-06-02 09:00", deadline="2023-05-30 17:00")]
    if MAIN in where:
        for fl in ctx.spec.inputs[::3]:
            problems.append(problem_at(ctx.spec.sheet, ctx.cells.fields[fl.id].a1))
        problems.append(problem_at(ctx.spec.sheet, ctx.cells.info["note"].a1, "情况说明未写明原因。"))
    if DETAIL in where:
        for row, column in ((0, d.columns[0].id), (2, d.columns[-1].id), (d.rows - 1, d.columns[3].id)):
            problems.append(problem_at(d.sheet, _detail_cell(ctx, row, column), severity=Severity.ERROR))
    got = rendered(ctx, unit, prefill, problems)
    assert zip_differences(got, direct(ctx, unit, prefill, problems)) == []


def test_the_texts_units_type_come_back_as_typed(county: tuple[Context, CollectReport]) -> None:
    ctx, _ = county
    unit = ctx.campaign.units[2]
    d = ctx.spec.detail
    fields = {fl.id: HOSTILE[n % len(HOSTILE)] for n, fl in enumerate(ctx.spec.inputs)}
    info = {item.id: HOSTILE[(n + 3) % len(HOSTILE)] for n, item in enumerate(ctx.spec.info)}
    rows = [
        {
            DETAIL_ROW_KEY: ctx.cells.detail_first + i,
            **{c.id: HOSTILE[(i * 7 + k) % len(HOSTILE)] for k, c in enumerate(d.columns)},
        }
        for i in range(0, d.rows, 2)
    ]
    prefill = Prefill(fields, info, rows)
    problems = [
        problem_at(ctx.spec.sheet, ctx.cells.fields[fl.id].a1, f"“{fields[fl.id]}”不是数字。")
        for fl in ctx.spec.inputs
        if isinstance(fields[fl.id], str) and "_x" not in fields[fl.id]
    ]
    problems.append(problem_at(d.sheet, _detail_cell(ctx, 2, d.columns[1].id), "  前后有空格的说明  "))
    got = rendered(ctx, unit, prefill, problems)
    assert zip_differences(got, direct(ctx, unit, prefill, problems)) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Dept_x0041_", "writes otherwise"),  # xlsxwriter escapes an _xHHHH_ sequence
        ("<r>富文本</r>", "writes otherwise"),  # written as a rich string
        ("长" * 17_000, "writes otherwise"),  # measured (and clipped) by xlsxwriter
        (datetime(2023, 5, 20, tzinfo=datetime.now().astimezone().tzinfo), "time zone"),
    ],
)
def test_values_the_template_cannot_reproduce_are_built_directly(
    county: tuple[Context, CollectReport], direct_builds: list[str], value: object, why: str
) -> None:
    ctx, _ = county
    unit = ctx.campaign.units[0]
    fl = ctx.spec.inputs[1]
    prefill = Prefill({fl.id: value})
    problems = [problem_at(ctx.spec.sheet, ctx.cells.fields[fl.id].a1)]
    with pytest.raises(Fallback, match=why):
        rendered(ctx, unit, prefill, problems)
    try:
        expected = direct(ctx, unit, prefill, problems)
    except Exception as exc:  # the direct build refuses it too (a date with a time zone): both alike
        with pytest.raises(type(exc)):
            ctx.form_bytes(unit, prefill, problems)
    else:
        assert ctx.form_bytes(unit, prefill, problems) == expected  # built directly: the very bytes
    assert direct_builds[-1:] == [unit.name]


def test_a_number_xlsxwriter_refuses_fails_alike(county: tuple[Context, CollectReport]) -> None:
    ctx, _ = county
    unit, fl = ctx.campaign.units[0], ctx.spec.inputs[0]
    prefill, problems = Prefill({fl.id: math.nan}), [problem_at(ctx.spec.sheet, ctx.cells.fields[fl.id].a1)]
    with pytest.raises(Fallback, match="refuses"):
        rendered(ctx, unit, prefill, problems)
    with pytest.raises(TypeError):
        ctx.form_bytes(unit, prefill, problems)


@pytest.mark.parametrize("name", ["填报单位", " 前导空格", "控制\x01字符", "<r>富文本</r>", "长" * 17_000])
def test_names_the_blank_template_would_not_take_are_built_directly(
    county: tuple[Context, CollectReport], direct_builds: list[str], name: str
) -> None:
    ctx, _ = county
    unit = Unit("X99", name)
    problems = [problem_at(ctx.spec.sheet, ctx.cells.fields[ctx.spec.inputs[0].id].a1)]
    with pytest.raises(Fallback):
        rendered(ctx, unit, None, problems)
    assert ctx.form_bytes(unit, None, problems) == direct(ctx, unit, None, problems)  # the very bytes
    assert direct_builds == [name]


def test_a_form_without_problems_is_not_a_feedback_form(county: tuple[Context, CollectReport]) -> None:
    ctx, _ = county
    with pytest.raises(Fallback, match="no problems"):
        rendered(ctx, ctx.campaign.units[0], Prefill(), [])


# -- generated values and problems --------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUE = st.one_of(
    st.none(),
    TEXT,
    st.integers(-(10**6), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(date(1950, 1, 1), date(2090, 1, 1)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_feedback_forms_are_the_direct_build(data: st.DataObject, tmp_path_factory) -> None:
    ctx = _generated_ctx(tmp_path_factory)
    d = ctx.spec.detail
    fields = {fl.id: data.draw(VALUE) for fl in ctx.spec.inputs}
    info = {i.id: data.draw(VALUE) for i in ctx.spec.info}
    rows = [{c.id: data.draw(VALUE) for c in d.columns} for _ in range(data.draw(st.integers(0, 4)))]
    targets = [ctx.cells.fields[fl.id] for fl in ctx.spec.inputs] + list(ctx.cells.info.values())
    targets += [c for c in (ctx.cells.unit, ctx.cells.title)]  # problems at cells that are not inputs
    picked = data.draw(st.lists(st.sampled_from(targets), max_size=6))
    problems = [problem_at(c.sheet, c.a1, data.draw(TEXT) or "说明") for c in picked]
    problems += [Finding.make(Code.AUDIT_COPY, other=data.draw(TEXT))]
    unit = ctx.campaign.units[data.draw(st.integers(0, len(ctx.campaign.units) - 1))]
    prefill = Prefill(fields, info, rows)
    try:
        got: bytes | None = rendered(ctx, unit, prefill, problems)
    except Fallback:
        got = None
    try:
        expected = direct(ctx, unit, prefill, problems)
    except Exception:  # a value the writer refuses (a huge text): the template gave no form either
        assert got is None
        return
    assert got is None or zip_differences(got, expected) == []
    final = ctx.form_bytes(unit, prefill, problems)  # the template's, or (Fallback) the direct build
    assert zip_differences(final, expected) == [] and (got is not None or final == expected)


_CTX: dict[str, Context] = {}


def _generated_ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    if "ctx" not in _CTX:
        folder = init_sample(tmp_path_factory.mktemp("generated") / "青溪县")
        _CTX["ctx"] = Context.load(Path(folder) / CONFIG_NAME)
    return _CTX["ctx"]
