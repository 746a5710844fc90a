"""The generated form (kepu_xl/forms_writer.py), opened with openpyxl exactly as a unit would receive it.

Assertions are on the real workbook: sheets, protection, which cells take input and how they are
validated, the formulas behind totals and self-checks, the identity stamps, print setup, determinism
and file names; then the whole file against tests/golden/ (`pytest --update-golden` rewrites it).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import GOLDEN_DIR, UNIT_NAME, init_sample
from helpers import ROSTER_HEADER, compare_xlsx, use_form, use_roster
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.utils.protection import hash_password
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from kepu_xl import audit, identity, layout, make, reader, spec
from kepu_xl.campaign import Unit
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.forms_writer import build_form
from kepu_xl.identity import Identity
from kepu_xl.init import init_campaign, samples_dir
from kepu_xl.layout import Cell

MAIN, DETAIL, INFO, META, FIELDS = "统计表", "活动明细", "填报说明", "_meta", "_fields"
REF = re.compile(r"\$?\b([A-Z]{1,3})\$?(\d+)\b")


def load(data: bytes, data_only: bool = False) -> Workbook:
    return openpyxl.load_workbook(io.BytesIO(data), data_only=data_only)


# The tests here only read, so one campaign, one form and one parsed workbook serve the whole module
# (these override the function-scoped fixtures of conftest.py).


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_sample(tmp_path_factory.mktemp("writer") / "青溪县科技活动周")


@pytest.fixture(scope="module")
def config(campaign_dir: Path) -> Path:
    return campaign_dir / CONFIG_NAME


@pytest.fixture(scope="module")
def ctx(config: Path) -> Context:
    return Context.load(config)


@pytest.fixture(scope="module")
def unit(ctx: Context) -> Unit:
    return ctx.campaign.unit_by_name(UNIT_NAME)


@pytest.fixture(scope="module")
def form_bytes(ctx: Context, unit: Unit) -> bytes:
    return ctx.form_bytes(unit)


@pytest.fixture(scope="module")
def wb(form_bytes: bytes) -> Workbook:
    return load(form_bytes)


@pytest.fixture(scope="module")
def main(wb: Workbook) -> Worksheet:
    return wb[MAIN]


def at(ws: Worksheet, cell: Cell) -> XlCell:
    assert cell.sheet == ws.title
    return ws[cell.a1]


def validation_of(ws: Worksheet, a1: str) -> DataValidation:
    found = [dv for dv in ws.data_validations.dataValidation if a1 in dv.sqref]
    assert len(found) == 1, f"{ws.title}!{a1} has {len(found)} data validations"
    return found[0]


def refs(formula: str) -> set[str]:
    return {f"{col}{row}" for col, row in REF.findall(formula)}


def fit(value: object) -> int:
    return 1 if value is None else int(value)  # OOXML leaves out fitToWidth/fitToHeight when they are 1


# -- sheets and protection --------------------------------------------------------------------------------------


def test_sheet_names_and_order(wb: Workbook) -> None:
    assert wb.sheetnames == [INFO, MAIN, DETAIL, META, FIELDS]
    assert wb.active.title == MAIN  # the form opens on the table to fill


def test_meta_is_very_hidden_and_the_rest_visible(wb: Workbook) -> None:
    assert {ws.title: ws.sheet_state for ws in wb.worksheets} == {
        INFO: "visible",
        MAIN: "visible",
        DETAIL: "visible",
        META: "veryHidden",
        FIELDS: "veryHidden",
    }


def test_every_sheet_is_protected_with_the_unit_password(wb: Workbook, ctx: Context, unit: Unit) -> None:
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
        assert ws.protection.password == hash_password(ctx.password(unit)), ws.title
        # Rows and columns cannot be inserted, deleted or resized: the reader relies on positions.
        assert ws.protection.insertRows and ws.protection.deleteRows and ws.protection.formatColumns, ws.title


def test_workbook_structure_is_locked(wb: Workbook, ctx: Context, unit: Unit) -> None:
    assert wb.security is not None
    assert wb.security.lockStructure
    assert wb.security.workbookPassword == hash_password(ctx.password(unit))


# -- the statistics table ------------------------------------------------------------------------------------------


def test_numeric_inputs_are_unlocked_and_validated(main: Worksheet, ctx: Context) -> None:
    assert len(ctx.spec.inputs) == 16
    for field in ctx.spec.inputs:
        cell = ctx.cells.fields[field.id]
        assert at(main, cell).protection.locked is False, field.id
        assert at(main, cell).value is None, field.id
        dv = validation_of(main, cell.a1)
        if field.type == "integer":
            assert (dv.type, dv.operator or "between") == ("whole", "between"), field.id
            assert (dv.formula1, dv.formula2) == ("0", str(int(field.max))), field.id
        else:
            assert dv.type == "custom", field.id
            assert f"ROUND({cell.a1},{field.places})={cell.a1}" in dv.formula1, field.id
            assert f"ISNUMBER({cell.a1})" in dv.formula1 and f"{cell.a1}>=0" in dv.formula1, field.id
        assert dv.showInputMessage and dv.showErrorMessage, field.id
        assert dv.errorStyle in (None, "stop"), field.id
        assert dv.promptTitle == field.label[:32], field.id
        assert dv.prompt.startswith(f"单位：{field.unit}。请填") and dv.prompt.endswith("没有请填 0。"), (
            field.id
        )
        assert field.label in dv.error and "不要带文字" in dv.error, field.id


def test_decimal_prompt_says_how_many_places(main: Worksheet, ctx: Context) -> None:
    dv = validation_of(main, ctx.cells.fields["fund_government"].a1)
    assert dv.prompt == "单位：万元。请填数字，最多 4 位小数，0～100,000。没有请填 0。"
    dv = validation_of(main, ctx.cells.fields["activities"].a1)
    assert dv.prompt == "单位：次。请填整数，0～100,000。没有请填 0。"


def test_only_the_inputs_are_unlocked(main: Worksheet, ctx: Context) -> None:
    inputs = {ctx.cells.fields[f.id].a1 for f in ctx.spec.inputs} | {c.a1 for c in ctx.cells.info.values()}
    # a merged input (情况说明) spans its row: the whole merge is writable
    for rng in main.merged_cells.ranges:
        if rng.coord.split(":")[0] in inputs:
            inputs |= {c.coordinate for row in main[rng.coord] for c in row}
    unlocked = {c.coordinate for row in main.iter_rows() for c in row if not c.protection.locked}
    assert unlocked == inputs


def test_computed_totals_are_locked_formulas_over_exactly_their_inputs(main: Worksheet, ctx: Context) -> None:
    parts = {
        "fund_total": ["fund_government", "fund_enterprise", "fund_in_kind", "fund_other"],
        "staff_total": ["staff_fulltime", "staff_scientists", "staff_volunteers", "staff_other"],
    }
    for total, fields in parts.items():
        cell = at(main, ctx.cells.fields[total])
        assert isinstance(cell.value, str) and cell.value.startswith("="), total
        assert refs(cell.value) == {ctx.cells.fields[f].a1 for f in fields}, total
        assert cell.protection.locked is True, total
        assert not any(cell.coordinate in dv.sqref for dv in main.data_validations.dataValidation)
    # the layout as published; a text or blank part counts 0 in every office suite (no N(): see rules.py)
    assert main["D10"].value == (
        "=(((IF(ISNUMBER(D6),D6,0)+IF(ISNUMBER(D7),D7,0))+IF(ISNUMBER(D8),D8,0))+IF(ISNUMBER(D9),D9,0))"
    )


def test_unit_name_is_in_the_locked_unit_cell(main: Worksheet, ctx: Context, unit: Unit) -> None:
    cell = at(main, ctx.cells.unit)
    assert cell.coordinate == "B2" and cell.value == UNIT_NAME
    assert cell.protection.locked is True
    assert main["A2"].value == layout.UNIT_LABEL


def test_labels_are_where_the_cell_map_says(wb: Workbook, ctx: Context) -> None:
    for cell, text in ctx.cells.labels:
        got = wb[cell.sheet][cell.a1]
        # a long label may be printed on two lines; the reader ignores the line break
        assert got.value.replace("\n", "") == text, f"{cell}: {got.value!r} != {text!r}"
        assert got.protection.locked is True, str(cell)
    assert main_label(wb, ctx, "funding") == "活动经费投入数量\n（单位：万元）"


def main_label(wb: Workbook, ctx: Context, section_id: str) -> str:
    title = next(s.title for s in ctx.spec.sections if s.id == section_id)
    first = next(first for first, _, t in ctx.cells.sections if t == title)
    return wb[MAIN].cell(row=first + 1, column=1).value


def test_info_inputs_are_validated(main: Worksheet, ctx: Context) -> None:
    kinds = {i.id: validation_of(main, ctx.cells.info[i.id].a1).type for i in ctx.spec.info}
    assert kinds == {
        "preparer": "textLength",
        "phone": "textLength",
        "fill_date": "date",
        "note": "textLength",
    }


def test_rule_cells_hold_live_self_checks(main: Worksheet, ctx: Context) -> None:
    detail_key = ctx.cells.detail_range(ctx.spec.detail.key)
    assert len(ctx.cells.rules) == len(ctx.spec.rules) == 9

    def ref(name: str) -> str:
        return ctx.cells.fields[name].a1

    def detail_ref(column: str | None) -> str:
        return f"COUNTA({detail_key})" if column is None else f"SUM({ctx.cells.detail_range(column)})"

    for rule, cell in zip(ctx.spec.rules, ctx.cells.rules, strict=True):
        got = at(main, cell)
        assert rule.when.to_excel(ref, detail_ref) in got.value, rule.id
        assert {f'LEFT({ctx.cells.states[n].a1},1)="✗"' for n in rule.when.names} <= set(
            re.findall(r'LEFT\(F\d+,1\)="✗"', got.value)
        ), rule.id
        assert got.protection.locked is True
        assert {ref(n) for n in rule.when.names} <= refs(got.value)
    # not made while 举办活动次数 is missing or wrong; a warning is 已说明 once 情况说明 (B23) holds text
    assert main["E34"].value == (
        '=IF(OR(LEFT(F5,1)="✗"),"－ 先填好数字",'
        "IF(COUNTA('活动明细'!$B$4:$B$53)<>IF(ISNUMBER(D5),D5,0),"
        'IF(F23="已说明","✓ 已说明","⚠ 请注意"),"✓"))'
    )
    note = "B23"  # audit.explains: without spaces and punctuation, at least 4 characters left
    for ch in audit.EXPLANATION_IGNORED:
        literal = f"CHAR({ord(ch)})" if ord(ch) < 32 else '"' + ch.replace('"', '""') + '"'
        note = f'SUBSTITUTE({note},{literal},"")'
    assert main["F23"].value == f'=IF(LEN({note})>=4,"已说明","")'
    assert main["E26"].value == (  # an error rule is never muted by an explanation
        '=IF(OR(LEFT(F16,1)="✗",LEFT(F17,1)="✗",LEFT(F5,1)="✗"),"－ 先填好数字",'
        "IF(IF((IF(ISNUMBER(D16),D16,0)+IF(ISNUMBER(D17),D17,0))>0,IF(ISNUMBER(D5),D5,0)=0,FALSE),"
        '"✗ 请修改","✓"))'
    )
    assert [main.cell(row=c.row + 1, column=1).value for c in ctx.cells.rules[:4]] == [
        "自查1（错误）",
        "自查2（警告）",
        "自查3（待核实）",
        "自查4（待核实）",
    ]


def test_rule_texts_show_the_live_value(main: Worksheet, ctx: Context) -> None:
    cell = ctx.cells.rules[3]  # fund_in_yuan for fund_government
    text = main.cell(row=cell.row + 1, column=layout.LABEL_COL + 1).value
    # what is checked while the rule holds (or is not made), the message with the live value once it fires;
    # long texts break after a clause, never before a closing bracket
    assert text == (
        f'=IF(OR({cell.a1}="✓",{cell.a1}="－ 先填好数字"),'
        '"“县级(单位)财政经费投入情况”是否超过 500 万元"&CHAR(10)&"（可能误按“元”填写）",'
        '"“县级(单位)财政经费投入情况”为 "&ROUND(IF(ISNUMBER(D6),D6,0),4)&" 万元，"'
        '&CHAR(10)&"超过 500 万元，可能把“元”当成了“万元”。请核实；"&CHAR(10)&"确为万元的，请在“情况说明”中写明。")'
    )


def test_each_value_has_a_hidden_state_that_its_hint_shows(main: Worksheet, ctx: Context) -> None:
    assert main.column_dimensions["F"].hidden
    for field in ctx.spec.inputs:
        state, a1 = at(main, ctx.cells.states[field.id]), ctx.cells.fields[field.id].a1
        assert state.value.startswith(f'=IF(ISNUMBER({a1}),IF({a1}<0,"✗ 不能为负",'), field.id
        assert '"||-|--|－|－－|—|——|–|无|"' in state.value and state.protection.locked
        hint = at(main, ctx.cells.hints[field.id]).value
        assert hint.startswith(f'=IF(LEFT({state.coordinate},1)="✗",{state.coordinate},') or hint == (
            f"={state.coordinate}"
        )
    assert at(main, ctx.cells.hints["public_offline"]).value.count("✗ 请修改") == 2  # its error rule
    assert main["F10"].value == (
        '=IF(OR(LEFT(F6,1)="✗",LEFT(F7,1)="✗",LEFT(F8,1)="✗",LEFT(F9,1)="✗"),"✗ 分项未填好","")'
    )


def test_cached_values_of_a_blank_form(form_bytes: bytes, ctx: Context) -> None:
    # What a viewer that does not recalculate (a phone preview) shows for an empty form: what collect says
    # of it (every number missing, so no check is made).
    ws = load(form_bytes, data_only=True)[MAIN]
    assert [at(ws, c).value for c in ctx.cells.rules] == ["－ 先填好数字"] * 9
    assert at(ws, ctx.cells.fields["fund_total"]).value == 0
    hints = {f.id: at(ws, ctx.cells.hints[f.id]).value for f in ctx.spec.fields}
    assert hints == {f.id: "✗ 分项未填好" if f.computed else "✗ 未填写" for f in ctx.spec.fields}


def test_main_sheet_prints_on_one_a4_portrait_page_for_the_stamp(main: Worksheet, ctx: Context) -> None:
    ps = main.page_setup
    assert (str(ps.paperSize), ps.orientation) == ("9", "portrait")
    assert main.sheet_properties.pageSetUpPr.fitToPage
    assert (fit(ps.fitToWidth), fit(ps.fitToHeight)) == (1, 1)
    assert main.print_area == f"'{MAIN}'!$A$1:$E${ctx.cells.last_row + 1}"
    assert ctx.cells.rules[-1].row == ctx.cells.last_row  # the self-checks are printed too
    assert "单位（盖章）" in main.oddFooter.left.text and "填表人" in main.oddFooter.left.text
    assert main.oddFooter.center.text == "第 &P 页，共 &N 页" and "日期" in main.oddFooter.right.text


def test_other_sheets_print_on_a4(wb: Workbook, ctx: Context) -> None:
    for name, orientation in ((INFO, "portrait"), (DETAIL, "landscape")):
        ps = wb[name].page_setup
        assert str(ps.paperSize) == "9", name
        assert ps.orientation == orientation, name
        assert wb[name].oddFooter.center.text == "第 &P 页，共 &N 页", name
    ps = wb[INFO].page_setup
    assert (fit(ps.fitToWidth), fit(ps.fitToHeight)) == (1, 0)  # as wide as the page, as long as needed
    # 活动明细: two pages of 25 rows at a fixed scale (Excel ignores manual breaks when fitting to pages)
    detail = wb[DETAIL]
    assert not detail.sheet_properties.pageSetUpPr or not detail.sheet_properties.pageSetUpPr.fitToPage
    assert [b.id for b in detail.row_breaks.brk] == [ctx.cells.detail_first + 25]
    assert 60 <= detail.page_setup.scale <= 100
    assert detail.print_title_rows == "$3:$3"
    assert "单位（盖章）" in detail.oddFooter.left.text


# -- the detail sheet ----------------------------------------------------------------------------------------------


def test_detail_sheet_has_50_unlocked_input_rows(wb: Workbook, ctx: Context) -> None:
    ws, cells = wb[DETAIL], ctx.cells
    rows = range(cells.detail_first + 1, cells.detail_last + 2)  # 1-based
    assert len(rows) >= 50
    columns = sorted(cells.detail_cols.values())
    unlocked = {c.coordinate for row in ws.iter_rows() for c in row if not c.protection.locked}
    assert unlocked == {ws.cell(row=r, column=c + 1).coordinate for r in rows for c in columns}
    assert [ws.cell(row=r, column=1).value for r in rows] == list(range(1, len(rows) + 1))
    total = cells.detail_total + 1
    assert ws.cell(row=total, column=1).value == "合计"
    assert (
        ws.cell(row=total, column=cells.detail_cols["offline"] + 1).value == f"=SUM(H{rows[0]}:H{rows[-1]})"
    )


def test_detail_choice_columns_have_dropdown_lists(wb: Workbook, ctx: Context) -> None:
    ws, cells, detail = wb[DETAIL], ctx.cells, ctx.spec.detail
    labels = {c.label: c for c in detail.columns}
    for label in ("形式", "类别"):
        column = labels[label]
        a1 = ws.cell(row=cells.detail_first + 1, column=cells.detail_cols[column.id] + 1).coordinate
        dv = validation_of(ws, a1)
        assert dv.type == "list"
        assert dv.formula1 == '"' + ",".join(column.choices) + '"'
        col = a1.rstrip("0123456789")
        assert str(dv.sqref) == f"{col}{cells.detail_first + 1}:{col}{cells.detail_last + 1}"
        assert dv.showDropDown in (None, False)  # (sic) in OOXML, True would hide the arrow
    assert labels["形式"].choices == ("线下", "线上", "线上线下结合")


def test_every_detail_column_is_validated(wb: Workbook, ctx: Context) -> None:
    ws = wb[DETAIL]
    kinds = {
        c.id: validation_of(
            ws, ws.cell(row=ctx.cells.detail_first + 1, column=ctx.cells.detail_cols[c.id] + 1).coordinate
        ).type
        for c in ctx.spec.detail.columns
    }
    assert kinds == {
        "name": "textLength",
        "start": "date",
        "end": "date",
        "place": "textLength",
        "mode": "list",
        "category": "list",
        "offline": "whole",
        "online": "whole",
        "reports": "whole",
    }


# -- identity ---------------------------------------------------------------------------------------------------------


def stamps(wb: Workbook) -> tuple[dict[str, str], dict[str, str]]:
    props = {
        p.name.removeprefix(identity.PROPERTY_PREFIX): p.value
        for p in wb.custom_doc_props.props
        if p.name.startswith(identity.PROPERTY_PREFIX)
    }
    meta = {row[0].value: row[1].value for row in wb[META].iter_rows(max_col=2)}
    return props, meta


def test_identity_is_stamped_in_properties_meta_and_unit_cell(wb: Workbook, ctx: Context, unit: Unit) -> None:
    props, meta = stamps(wb)
    expected = dict(ctx.identity(unit).as_pairs())
    assert props == meta == expected
    assert list(meta) == list(identity.KEYS)
    assert meta["unit"] == "D01" and meta["campaign"] == ctx.campaign.id
    assert (meta["form"], meta["version"]) == ("science_week", "2023.1")
    assert meta["layout"] == ctx.cells.fingerprint()
    # the visible unit cell names the same roster unit
    assert ctx.campaign.unit_by_name(wb[MAIN][ctx.cells.unit.a1].value).id == meta["unit"]


def test_token_verifies_only_for_this_campaign_and_unit(wb: Workbook, ctx: Context) -> None:
    _, meta = stamps(wb)
    stamped = Identity.from_mapping(meta)
    assert stamped is not None and len(stamped.token) == identity.TOKEN_LENGTH
    assert identity.verify(stamped, ctx.secret)
    assert not identity.verify(stamped, b"another campaign's secret")
    forged = Identity(**{**dict(stamped.as_pairs()), "unit": "D02"})
    assert not identity.verify(forged, ctx.secret)


def test_a_different_unit_gets_a_different_token(ctx: Context, unit: Unit, form_bytes: bytes) -> None:
    other = ctx.campaign.unit("D02")
    other_book = load(ctx.form_bytes(other))
    _, mine = stamps(load(form_bytes))
    _, theirs = stamps(other_book)
    assert theirs["unit"] == "D02" and theirs["token"] != mine["token"]
    assert {k for k in mine if mine[k] != theirs[k]} == {"unit", "token"}
    assert identity.verify(Identity.from_mapping(theirs), ctx.secret)
    assert other_book[MAIN]["B2"].value == "县科协"


def test_document_properties(wb: Workbook, ctx: Context) -> None:
    p = wb.properties
    assert p.title == f"2023年科技活动周开展情况统计表（{UNIT_NAME}）"
    assert p.creator == ctx.campaign.organizer == "青溪县科学技术局"
    assert str(p.created) == "2023-05-20 08:00:00"  # fixed: the campaign's start, so output is reproducible


def test_fingerprint_changes_with_the_layout(ctx: Context, tmp_path: Path) -> None:
    text = (spec.bundled_dir() / "science_week.toml").read_text(encoding="utf-8")
    renamed = tmp_path / "science_week.toml"
    renamed.write_text(text.replace('label = "其他经费情况"', 'label = "其他经费"'), encoding="utf-8")
    assert layout.build(spec.load(renamed)).fingerprint() != ctx.cells.fingerprint()
    assert (
        layout.build(spec.load(spec.bundled_dir() / "science_week.toml")).fingerprint()
        == ctx.cells.fingerprint()
    )


# -- determinism and files --------------------------------------------------------------------------------------------


def test_each_new_campaign_gets_its_own_key(tmp_path: Path) -> None:
    # tokens and the derived sheet password come from the key: a shared one would make forms forgeable
    keys = {Context.load(init_campaign(tmp_path / name)).secret for name in ("甲", "乙")}
    assert len(keys) == 2 and samples_dir().joinpath("secret").read_text().strip() not in {
        k.hex() for k in keys
    }


def test_building_twice_gives_identical_bytes(ctx: Context, unit: Unit, form_bytes: bytes) -> None:
    assert ctx.form_bytes(unit) == form_bytes


def test_the_campaign_folder_does_not_leak_into_the_form(form_bytes: bytes, tmp_path: Path) -> None:
    elsewhere = init_sample(tmp_path / "另一个文件夹")
    other = Context.load(elsewhere / CONFIG_NAME)
    assert other.form_bytes(other.campaign.unit("D01")) == form_bytes


def test_zip_members_are_dated_1980(form_bytes: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(form_bytes)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_make_forms_writes_one_form_per_unit(config: Path, tmp_path: Path, form_bytes: bytes) -> None:
    outdir = tmp_path / "forms"
    report = make.make_forms(config, outdir)
    assert report.ok and report.findings.items == []
    files = sorted(outdir.iterdir())
    assert len(files) == len(report.forms) == 26
    assert [Path(f["file"]) for f in report.forms] == sorted(files, key=lambda p: p.name)
    assert report.forms[12] == {
        "unit_id": "D01",
        "unit": UNIT_NAME,
        "category": "县级部门",
        "file": str(outdir / "13_县教育局.xlsx"),
        "status": "new",
    }
    assert (outdir / "13_县教育局.xlsx").read_bytes() == form_bytes
    seen = []
    again = make.make_forms(
        config, outdir, progress=lambda done, total, name: seen.append((done, total, name))
    )
    assert again.forms == [{**f, "status": "unchanged"} for f in report.forms]  # the same bytes again
    assert [p.name for p in sorted(outdir.iterdir())] == [p.name for p in files]  # no temp files left
    assert seen[0] == (1, 26, "城关街道") and seen[-1] == (26, 26, "团县委") and len(seen) == 26


WINDOWS_BAD = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?$", re.IGNORECASE)


def test_file_names_are_windows_safe(tmp_path: Path) -> None:
    names = ['a/b:c*?"<>|', "CON", "..", "县科协 ", "..\\..\\evil", "县卫生健康委" * 20]
    config = init_campaign(tmp_path / "campaign")
    use_roster(config, [ROSTER_HEADER[:2], *[(f"X{n}", name) for n, name in enumerate(names)]])
    outdir = tmp_path / "forms"
    report = make.make_forms(config, outdir)
    files = [Path(f["file"]) for f in report.forms]
    assert len(files) == len(set(files)) == len(names)
    for path in files:
        assert path.parent == outdir and path.is_file(), path
        assert not WINDOWS_BAD.search(path.name), path.name
        assert not WINDOWS_RESERVED.match(path.stem) and not path.name.endswith((" ", ".")), path.name
        assert len(path.name.encode("utf-8")) <= 255
    assert files[0].name == "01_a_b_c______.xlsx"
    assert sorted(p.name for p in outdir.iterdir()) == sorted(p.name for p in files)  # nothing escaped outdir
    # inside the workbook the unit keeps its real name
    assert load(files[0].read_bytes())[MAIN]["B2"].value == 'a/b:c*?"<>|'


def test_rule_message_unit_placeholder_reaches_the_form(ctx: Context, unit: Unit, tmp_path: Path) -> None:
    text = (spec.bundled_dir() / "science_week.toml").read_text(encoding="utf-8")
    path = tmp_path / "science_week.toml"
    path.write_text(text.replace("为 {value} 万元，超过", "为 {value} {unit}，超过"), encoding="utf-8")
    form = spec.load(path)
    cells = layout.build(form)
    assert form.rules[3].text(form, 600).startswith("“县级(单位)财政经费投入情况”为 600 万元，")
    data = build_form(form, cells, ctx.campaign, unit, ctx.identity(unit), ctx.password(unit))
    rule_cell = cells.rules[3]
    text_formula = load(data)[MAIN].cell(row=rule_cell.row + 1, column=layout.LABEL_COL + 1).value
    assert '&ROUND(IF(ISNUMBER(D6),D6,0),4)&" 万元，"&CHAR(10)&"超过' in text_formula


# -- golden file --------------------------------------------------------------------------------------------------------

GOLDEN = GOLDEN_DIR / f"science_week_{UNIT_NAME}.xlsx"


def test_form_matches_the_golden_file(form_path: Path, update_golden: bool) -> None:
    if update_golden:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(form_path.read_bytes())
    assert GOLDEN.exists(), "no golden file yet: run `python3 -m pytest --update-golden` and review it"
    assert compare_xlsx(form_path, GOLDEN) == []


def test_compare_xlsx_finds_real_differences(ctx: Context, form_bytes: bytes) -> None:
    other = ctx.form_bytes(ctx.campaign.unit("D02"))
    diffs = compare_xlsx(other, form_bytes)
    parts = {d.split(":")[0] for d in diffs}
    assert {"docProps/custom.xml", "docProps/core.xml", "xl/sharedStrings.xml"} <= parts
    assert all("\n    got:" in d for d in diffs)


def test_compare_xlsx_ignores_only_the_save_time(form_bytes: bytes) -> None:
    def rewrite(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                body = src.read(info)
                dst.writestr(info, body.replace(old, new) if info.filename == part else body)
        return out.getvalue()

    resaved = rewrite(form_bytes, "docProps/core.xml", b"2023-05-20T08:00:00Z", b"2024-01-02T03:04:05Z")
    assert resaved != form_bytes and compare_xlsx(resaved, form_bytes) == []
    retitled = rewrite(form_bytes, "docProps/core.xml", "县教育局".encode(), "县科协".encode())
    assert [d.split(":")[0] for d in compare_xlsx(retitled, form_bytes)] == ["docProps/core.xml"]
    assert compare_xlsx(form_bytes, form_bytes) == []


def test_compare_xlsx_reports_missing_parts(form_bytes: bytes) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(form_bytes)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != "docProps/custom.xml":
                dst.writestr(info, src.read(info))
    (diff, *_) = compare_xlsx(out.getvalue(), form_bytes)
    assert diff.startswith("zip members differ: only in got [], only in expected ['docProps/custom.xml']")


def test_a_dropdown_over_255_characters_lists_its_choices_in_the_hidden_sheet(tmp_path: Path) -> None:
    # Excel refuses an inline list over 255 characters (xlsxwriter would drop the dropdown), and
    # splits inline lists at commas: such lists are kept in _meta and the validation points there.
    folder = tmp_path / "camp"
    init_campaign(folder)
    config = folder / CONFIG_NAME
    extra = [f"农村实用技术培训班{i}" for i in range(25)] + ["讲座,展览"]
    text = (spec.bundled_dir() / "science_week.toml").read_text(encoding="utf-8")
    definition = text.replace(
        '"科研机构开放", "其他"]', '"科研机构开放", "其他", ' + ", ".join(f'"{x}"' for x in extra) + "]"
    )
    use_form(config, definition)
    ctx = Context.load(config)
    choices = next(c for c in ctx.spec.detail.columns if c.id == "category").choices
    assert len(",".join(choices)) > 255 and choices[-1] == "讲座,展览"
    unit = ctx.campaign.units[0]
    book = load(ctx.form_bytes(unit))
    detail = book[ctx.spec.detail.sheet]
    col = ctx.cells.detail_cols["category"]
    first = Cell(detail.title, ctx.cells.detail_first, col).a1
    dv = validation_of(detail, first)
    assert (dv.type, dv.formula1) == ("list", f"_meta!$E$1:$E${len(choices)}")
    assert [book["_meta"].cell(row=r + 1, column=5).value for r in range(len(choices))] == list(choices)
    assert book["_meta"].sheet_state == "veryHidden"
    # a unit that picks the last, comma-holding choice is accepted; a choice not in the list is not
    detail[first] = choices[-1]
    detail[Cell(detail.title, ctx.cells.detail_first + 1, col).a1] = "讲座"
    buffer = io.BytesIO()
    book.save(buffer)
    form = reader.read(buffer.getvalue(), "xlsx", ctx.spec, ctx.cells)
    found = audit.audit(form, ctx.spec, ctx.cells, unit).findings
    bad = [(f.code.name, f.cell) for f in found if f.code.name == "AUDIT_BAD_CHOICE"]
    second = Cell(detail.title, ctx.cells.detail_first + 1, col).a1
    assert bad == [("AUDIT_BAD_CHOICE", second)]


def test_example_dates_come_from_the_campaign(config: Path) -> None:
    # a 2024 campaign's prompts show a 2024 date (its last day), never the 2023 of the original form
    text = config.read_text(encoding="utf-8")
    for old, new in (
        ("2023-05-20", "2024-05-18"),
        ("2023-05-27", "2024-05-25"),
        ("2023-05-30", "2024-05-28"),
    ):
        text = text.replace(old, new)
    config.write_text(text.replace("year = 2023", "year = 2024"), encoding="utf-8")
    ctx = Context.load(config)
    book = load(ctx.form_bytes(ctx.campaign.units[0]))
    fill_date = validation_of(book[MAIN], ctx.cells.info["fill_date"].a1)
    assert fill_date.prompt == "请填日期，如 2024-05-25。"
    assert "日期格式如 2024-05-25。" in book[DETAIL]["A2"].value
    start = ctx.cells.detail_cols["start"]
    assert (
        "如 2024-05-25" in validation_of(book[DETAIL], Cell(DETAIL, ctx.cells.detail_first, start).a1).prompt
    )
    shown = [c.value for ws in book.worksheets if ws.title != META for row in ws.iter_rows() for c in row]
    assert not any("2023" in str(value) for value in shown)  # (_meta keeps the campaign id and form version)
