"""One verdict per entry: the form's own self-checks, computed by real office suites, and collect agree.

A table of entries a unit really types or pastes goes into forms filled in headless LibreOffice (typed
as a person types, with the zh-CN locale; "text" entries are pasted text and stay text). LibreOffice
recalculates and saves each form; collect reads the same files. For every field the 自查提示 cell must
give the verdict collect gives that field's cell, for every self-check (自查n) the verdict collect gives
that rule, and each entry the verdict the README promises:

    ✗ error · ⚠ 请核实 verify · ⚠ 请注意 warning · － not checked (a number it reads is wrong) · ok

Collect's verdict of a cell is the worst severity found there (info counts as ok). A total, and a rule,
is "not checked"/an error in collect's terms when a number it reads has a value error: collect then skips
the rule and leaves the total short, and the form says so.

The same files, recalculated by Gnumeric (`ssconvert --recalc`), must give the same value in every
formula cell as in LibreOffice: blank, clean, sloppy and feedback forms.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import libreoffice as lo
import openpyxl
import pytest

from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Finding, Severity
from kepu_xl.init import init_campaign
from kepu_xl.results import CollectReport, UnitResult

pytestmark = [
    lo.requires_libreoffice,
    pytest.mark.filterwarnings("ignore:Workbook contains no default style"),  # Gnumeric's files
]

MAIN, DETAIL = "统计表", "活动明细"
ERROR, VERIFY, WARNING, NOT_CHECKED, OK = "error", "verify", "warning", "not checked", "ok"

# A quiet form: every number filled, no self-check fires (2 activities, 2 rows in 活动明细).
BASE = {
    "activities": "2",
    "fund_government": "1",
    "fund_enterprise": "0.5",
    "fund_in_kind": "0",
    "fund_other": "0",
    "staff_fulltime": "1",
    "staff_scientists": "2",
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
BLANK = None  # an entry that leaves the cell empty

# scenario → unit id, {field: (how, entry, expected verdict of the field's 自查提示)}, 情况说明
SCENARIOS: dict[str, tuple[str, dict[str, tuple[str, Any, str]], str]] = {
    "clean": ("T01", {}, ""),
    "text": (
        "T02",
        {
            "fund_government": ("text", "１２００", ERROR),  # full-width digits pasted as text
            "fund_enterprise": ("text", "1,200", ERROR),  # thousands separator, as text
            "fund_in_kind": ("text", " 12 ", ERROR),  # spaces around, as text
            "fund_other": ("typed", "约300", ERROR),
            "staff_fulltime": ("text", "-", OK),  # a dash: 0, as the form counts it ("按 0 计")
            "staff_scientists": ("typed", "无", OK),
            "staff_volunteers": ("typed", "12次", ERROR),
            "staff_other": ("typed", "300-400", ERROR),
            "public_online": ("typed", "１２００", OK),  # typed full-width digits: LibreOffice makes a number
            "venues_open": ("typed", "1,200", OK),  # typed: a number
            "institutes_open": ("typed", "=1+2", OK),  # a formula: its result counts
            "universities_open": ("typed", " 12 ", OK),  # typed: a number
            "media_reports": ("text", "约3", ERROR),  # text in a field that 自查2 reads
            "activities": ("typed", "0", WARNING),  # 活动明细 lists 2: detail_count warns
            "public_offline": ("typed", "100", ERROR),  # people but 0 activities: the error rule
        },
        "",
    ),
    "numbers": (
        "T03",
        {
            "fund_government": ("typed", "1.23456", ERROR),  # 4 places at most
            "fund_enterprise": ("typed", "-5", ERROR),
            "fund_in_kind": ("typed", "600", VERIFY),  # 万元 typed as 元? fund_in_yuan is verify
            "staff_fulltime": ("typed", "1.5", ERROR),  # 1.5 people
            "staff_scientists": ("typed", "=2/0", ERROR),  # a formula whose result is an error value
            "venues_open": ("typed", "20000000", ERROR),  # over the field's maximum
            "public_online": ("typed", BLANK, ERROR),  # blank: required
            "media_outlets": ("typed", "3", OK),
            "media_reports": ("typed", "1", WARNING),  # fewer reports than outlets
        },
        "",
    ),
    "explained": (
        "T04",
        {
            "media_outlets": ("typed", "3", OK),
            "media_reports": ("typed", "1", OK),  # the warning is explained in 情况说明: a note
            "public_offline": ("typed", "20000", OK),
            "activities": ("typed", "2", WARNING),  # 10,000 a activity: 待核实, explained: a warning
            "fund_other": ("typed", "600", WARNING),
        },
        "5月20日科技广场主题展，单场参与群众约 1.8 万人次。",
    ),
    "blank": ("T05", {field: ("typed", BLANK, ERROR) for field in BASE}, ""),
    # explained or not is the same test in both: "无" is not an explanation (audit.explains)
    "nothing said": (
        "T06",
        {"media_outlets": ("typed", "3", OK), "media_reports": ("typed", "1", WARNING)},
        "无",
    ),
}


# -- fixtures: one campaign, one LibreOffice fill per scenario, one collect over all of them ---------------------


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    config = init_campaign(tmp_path_factory.mktemp("verdicts") / "青溪县")
    return Context.load(config)


def edits_for(ctx: Context, name: str) -> list[dict[str, str]]:
    _, entries, note = SCENARIOS[name]
    cells, out = ctx.cells, []
    if name != "blank":
        for field, text in BASE.items():
            how, entry, _ = entries.get(field, ("typed", text, OK))
            if entry is not BLANK:
                out.append({"sheet": MAIN, "cell": cells.fields[field].a1, how: entry})
        for key, text in (("preparer", "王芳"), ("phone", "0557-5550101"), ("fill_date", "2023-05-28")):
            out.append({"sheet": MAIN, "cell": cells.info[key].a1, "typed": text})
        for i, name_of_activity in enumerate(("科普讲座进校园", "科技志愿服务")):
            at = cells.detail_first + 1 + i
            out.append({"sheet": DETAIL, "cell": f"B{at}", "typed": name_of_activity})
    if note:
        out.append({"sheet": MAIN, "cell": cells.info["note"].a1, "typed": note})
    return out


@pytest.fixture(scope="module")
def filled(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each scenario's form, filled, recalculated and saved by LibreOffice, in one inbox."""
    inbox = tmp_path_factory.mktemp("inbox")
    out: dict[str, Path] = {}
    for name, (unit_id, _, _) in SCENARIOS.items():
        src = tmp_path_factory.mktemp(f"src_{name}") / f"{unit_id}.xlsx"
        src.write_bytes(ctx.form_bytes(ctx.campaign.unit(unit_id)))
        result = lo.fill(src, inbox, edits=edits_for(ctx, name))
        assert set(result.statuses) <= {"ok"}, (name, result.edits)
        out[name] = result.paths["xlsx"]
    return out


@pytest.fixture(scope="module")
def report(ctx: Context, filled: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> CollectReport:
    inbox = next(iter(filled.values())).parent
    config = ctx.campaign.folder / CONFIG_NAME
    return collect(inbox, config, tmp_path_factory.mktemp("out"), now=datetime(2023, 6, 5, 9, 0))


def unit_of(report: CollectReport, name: str) -> UnitResult:
    return next(u for u in report.units if u.unit.id == SCENARIOS[name][0])


# -- verdicts --------------------------------------------------------------------------------------------------


def form_verdict(text: Any) -> str:
    text = text or ""
    if text.startswith("✗"):
        return ERROR
    marks = {"⚠ 请核实": VERIFY, "⚠ 请注意": WARNING, "⚠ 已说明": WARNING}
    return marks.get(text, NOT_CHECKED if text.startswith("－") else OK)


def form_verdicts(ctx: Context, path: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path, data_only=True)[MAIN]
    out = {f"hint {f}": form_verdict(ws[c.a1].value) for f, c in ctx.cells.hints.items()}
    for n, (rule, cell) in enumerate(zip(ctx.spec.rules, ctx.cells.rules, strict=True), start=1):
        out[f"自查{n} {rule.id} {rule.target}"] = form_verdict(ws[cell.a1].value)
    return out


WORST = {Severity.ERROR: ERROR, Severity.VERIFY: VERIFY, Severity.WARNING: WARNING, Severity.INFO: OK}


def collect_verdicts(ctx: Context, findings: list[Finding]) -> dict[str, str]:
    at: dict[str, list[Severity]] = {}
    for f in findings:
        if f.sheet == MAIN and f.cell:
            at.setdefault(f.cell, []).append(f.severity)
    value_errors = {f.cell for f in findings if f.severity is Severity.ERROR and f.code.name != "AUDIT_RULE"}

    def worst(cell: str) -> str:
        return next((WORST[s] for s in WORST if s in at.get(cell, ())), OK)

    def wrong(field_id: str) -> bool:  # collect would not check a rule over it, nor trust a total of it
        f = ctx.spec.field(field_id)
        if f.computed:
            return any(wrong(n) for n in f.formula.names)
        return ctx.cells.fields[field_id].a1 in value_errors

    out = {}
    for f in ctx.spec.fields:
        a1 = ctx.cells.fields[f.id].a1
        out[f"hint {f.id}"] = ERROR if f.computed and wrong(f.id) else worst(a1)
    for n, rule in enumerate(ctx.spec.rules, start=1):
        cell = ctx.cells.fields[rule.target].a1
        fired = [
            x.severity
            for x in findings
            if x.code.name == "AUDIT_RULE" and x.context.get("rule") == rule.id and x.cell == cell
        ]
        verdict = WORST[fired[0]] if fired else NOT_CHECKED if any(map(wrong, rule.when.names)) else OK
        out[f"自查{n} {rule.id} {rule.target}"] = verdict
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_form_and_collect_give_the_same_verdict(
    ctx: Context, filled: dict[str, Path], report: CollectReport, name: str
) -> None:
    form = form_verdicts(ctx, filled[name])
    findings = unit_of(report, name).findings
    if name == "blank":  # one finding for a form sent back empty (the form marks every cell)
        located = [(f.code.name, f.severity) for f in findings if f.cell]
        assert located == [("AUDIT_BLANK", "error")]
        assert {v for k, v in form.items() if k.startswith("hint ")} == {ERROR}
        return
    assert form == collect_verdicts(ctx, findings)
    expected = {f"hint {field}": verdict for field, (_, _, verdict) in SCENARIOS[name][1].items()}
    assert {key: form[key] for key in expected} == expected


def test_the_table_covers_every_verdict(ctx: Context, filled: dict[str, Path]) -> None:
    seen = {v for name in SCENARIOS for v in form_verdicts(ctx, filled[name]).values()}
    assert seen == {ERROR, VERIFY, WARNING, NOT_CHECKED, OK}


def test_what_the_form_cannot_count_is_never_shown_as_fine(
    ctx: Context, filled: dict[str, Path], report: CollectReport
) -> None:
    ws = openpyxl.load_workbook(filled["text"], data_only=True)[MAIN]

    def shown(field: str) -> Any:
        return ws[ctx.cells.hints[field].a1].value

    # text is counted as nothing by the form's totals: the parts are errors and so are the totals
    assert ws[ctx.cells.fields["fund_total"].a1].value == 0
    assert (shown("fund_government"), shown("fund_total"), shown("staff_total")) == (
        "✗ 请填数字",
        "✗ 分项未填好",
        "✗ 分项未填好",
    )
    assert (shown("staff_fulltime"), shown("staff_scientists")) == ("按 0 计", "按 0 计")
    t02 = {(f.code.name, f.cell) for f in unit_of(report, "text").findings}
    assert ("AUDIT_NUMBER_AS_TEXT", ctx.cells.fields["fund_government"].a1) in t02
    assert ("AUDIT_DASH_ZERO", ctx.cells.fields["staff_fulltime"].a1) in t02
    assert ("AUDIT_FORMULA_VALUE", ctx.cells.fields["institutes_open"].a1) in t02
    assert unit_of(report, "text").values["institutes_open"] == 3
    # a self-check over a wrong number is not made, in the form as in collect
    rule2 = ctx.cells.rules[1]
    assert ws[rule2.a1].value == "－ 先填好数字"
    assert ws.cell(row=rule2.row + 1, column=2).value == "“宣传报道数量”是否不少于“参与媒体数量”"


def test_a_formula_that_fails_is_an_error_in_the_form_and_in_collect(
    ctx: Context, filled: dict[str, Path], report: CollectReport
) -> None:
    # a unit types =2/0 (a formula over an empty cell, say): LibreOffice saves the error value #DIV/0!
    a1 = ctx.cells.fields["staff_scientists"].a1
    ws = openpyxl.load_workbook(filled["numbers"], data_only=True)[MAIN]
    assert ws[a1].value == "#DIV/0!"
    assert ws[ctx.cells.hints["staff_scientists"].a1].value == "✗ 请填数字"
    unit = unit_of(report, "numbers")
    at = [f for f in unit.findings if f.cell == a1]
    assert [(f.code.name, f.sheet, f.severity) for f in at] == [("AUDIT_CELL_ERROR", MAIN, Severity.ERROR)]
    assert "#DIV/0!" in at[0].message
    assert unit.values.get("staff_scientists") is None  # never a silent 0


def test_the_feedback_form_shows_what_collect_found(
    ctx: Context, report: CollectReport, tmp_path: Path
) -> None:
    # The feedback form (prefilled with what the unit sent) says the same before and after recalculation.
    for name in ("text", "numbers"):
        result = unit_of(report, name)
        saved = form_verdicts(ctx, Path(result.feedback))
        assert saved == collect_verdicts(ctx, result.findings), name
        recalculated = lo.fill(result.feedback, tmp_path / name).paths["xlsx"]
        assert form_verdicts(ctx, recalculated) == saved, name


# -- 活动明细: a value collect warns about turns red in the form --------------------------------------------------

# (column id, row of the table) → how it is entered, the entry, whether collect warns about it
DETAIL_ENTRIES: dict[tuple[str, int], tuple[str, Any, bool]] = {
    ("offline", 0): ("text", "约300", True),
    ("offline", 1): ("value", 1.5, True),  # pasted: typing is refused by the cell's validation
    ("offline", 2): ("value", -2, True),
    ("offline", 3): ("text", "-", False),  # a dash: 0
    ("offline", 4): ("typed", "12", False),
    ("offline", 5): ("text", "1,200", True),  # a number pasted as text
    ("offline", 6): ("text", "无", False),
    ("online", 0): ("value", 20_000_000, True),  # over the column's maximum
    ("online", 1): ("typed", "30", False),
    ("reports", 0): ("text", " 12 ", True),
}


def red_cells(html: Path, sheet: str, fill: str) -> set[str]:
    """The cells of a sheet that LibreOffice's HTML export shows with the background `fill` (conditional
    formatting applied, as the unit sees it). The export heads each sheet's table "Sheet N: name"."""
    from lxml import html as lxml_html
    from xlsxwriter.utility import xl_rowcol_to_cell

    root = lxml_html.parse(str(html)).getroot()
    headings = [h.text_content().strip() for h in root.iter("h1") if h.text_content().startswith("Sheet ")]
    table = root.findall(".//table")[next(i for i, h in enumerate(headings) if h.endswith(f": {sheet}"))]
    out = set()
    for row, tr in enumerate(table.findall(".//tr")):
        col = 0
        for td in tr.findall("td"):
            if (td.get("bgcolor") or "").upper() == fill.upper():
                out.add(xl_rowcol_to_cell(row, col))
            col += int(td.get("colspan") or 1)
    return out


def test_the_detail_table_turns_red_where_collect_warns(ctx: Context, tmp_path: Path) -> None:
    """Values pasted or typed into 活动明细 in LibreOffice: the cells its conditional formatting shows red
    are exactly those collect warns about, and the totals' SUM is LibreOffice's."""
    from xlsxwriter.utility import xl_rowcol_to_cell

    from kepu_xl.forms_writer import BAD_FILL

    unit = ctx.campaign.units[0]
    src = tmp_path / "src" / f"{unit.id}.xlsx"
    src.parent.mkdir()
    src.write_bytes(ctx.form_bytes(unit))
    cells = ctx.cells
    edits = []
    for row in range(7):
        edits.append({"sheet": DETAIL, "cell": f"B{cells.detail_first + 1 + row}", "typed": f"活动{row + 1}"})
    expected = set()
    for (column, row), (how, entry, warned) in DETAIL_ENTRIES.items():
        a1 = xl_rowcol_to_cell(cells.detail_first + row, cells.detail_cols[column])
        edits.append({"sheet": DETAIL, "cell": a1, how: entry})
        if warned:
            expected.add(a1)
    inbox = tmp_path / "inbox"
    saved = lo.fill(src, inbox, edits=edits).paths["xlsx"]
    html = lo.convert(saved, "html", tmp_path / "html")
    assert red_cells(html, DETAIL, BAD_FILL) == expected

    report = collect(inbox, ctx.campaign.folder / CONFIG_NAME, write=False)
    warned = {f.cell for f in report.findings if f.sheet == DETAIL and f.severity is not Severity.INFO}
    assert warned == expected


# -- the same value in LibreOffice and Gnumeric ------------------------------------------------------------------

requires_gnumeric = pytest.mark.skipif(
    not lo.in_ci() and shutil.which("ssconvert") is None, reason="Gnumeric (ssconvert) not installed"
)


def gnumeric_recalc(src: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{src.stem}.gnumeric.xlsx"
    env = {**os.environ, "HOME": str(out_dir)}  # Gnumeric writes its settings under $HOME
    proc = subprocess.run(
        ["ssconvert", "--recalc", str(src), str(target)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0 and target.exists(), proc.stderr[-2000:]
    return target


def formula_values(source: Path, computed: Path) -> dict[str, Any]:
    """Every formula cell of `source` (sheet!cell) → its value as saved in `computed`."""
    formulas = openpyxl.load_workbook(source)
    values = openpyxl.load_workbook(computed, data_only=True)
    out = {}
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    out[f"{ws.title}!{cell.coordinate}"] = values[ws.title][cell.coordinate].value
    return out


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    # an empty text result is saved as an empty string by one suite and without a value by another
    def same(x: Any, y: Any) -> bool:
        x, y = ("" if x is None else x), ("" if y is None else y)
        if is_number(x) or is_number(y):
            return is_number(x) and is_number(y) and x == y
        return x == y

    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if not same(a.get(k), b.get(k))}


@requires_gnumeric
@pytest.mark.parametrize("name", SCENARIOS)
def test_gnumeric_computes_every_formula_as_libreoffice(
    ctx: Context, filled: dict[str, Path], name: str, tmp_path: Path
) -> None:
    # LibreOffice filled and recalculated the form; Gnumeric recalculates the very same file
    libre = formula_values(filled[name], filled[name])
    gnumeric = formula_values(filled[name], gnumeric_recalc(filled[name], tmp_path))
    assert len(libre) > 50
    assert differences(libre, gnumeric) == {}


@requires_gnumeric
def test_blank_and_feedback_forms_compute_alike(ctx: Context, report: CollectReport, tmp_path: Path) -> None:
    blank = tmp_path / "blank.xlsx"
    blank.write_bytes(ctx.form_bytes(ctx.campaign.unit("T06")))
    for src in (blank, Path(unit_of(report, "text").feedback)):
        libre = formula_values(src, lo.fill(src, tmp_path / f"lo_{src.stem}").paths["xlsx"])
        gnumeric = formula_values(src, gnumeric_recalc(src, tmp_path / f"gn_{src.stem}"))
        assert differences(libre, gnumeric) == {}, src.name
        # and what the form saves before any suite recalculates it (a phone preview shows that)
        assert differences(formula_values(src, src), libre) == {}, src.name
