"""Definition workbooks (kepu_xl/spec_book.py): a form definition written in a spreadsheet.

`kepuxl forms export` writes any definition as a workbook that reads back to the same definition; `forms
check` reports every problem of a workbook at its 工作表!单元格, through the one builder of spec.py; a
campaign on a workbook makes the same bytes as on the TOML it came from; `kepuxl init --form` starts a
campaign on one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner
from conftest import init_sample

from kepu_xl import audit, make, reader, spec, spec_book
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.init import init_campaign

BUNDLED = spec.bundled()


def exported(tmp_path: Path, name: str = "science_week") -> Path:
    return spec.export_to(spec.bundled_dir() / f"{name}.toml", tmp_path / f"{name}.xlsx")


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_export_reads_back_to_the_same_definition(tmp_path: Path, path: Path) -> None:
    book = spec.export_to(path, tmp_path / "定义.xlsx")
    got, findings = spec.check(book)
    assert findings == []
    original = spec.load(path)
    assert dataclasses.replace(got, source=original.source) == original
    assert got.source == "定义.xlsx"


def test_the_exported_workbook_is_filled_and_has_drop_downs(tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(exported(tmp_path))
    week = spec.load(spec.bundled_dir() / "science_week.toml")
    assert wb.sheetnames == ["表单", "指标", "规则", "明细", "说明"]
    fields = wb["指标"]
    assert [c.value for c in fields[1]] == [h for _, h in spec_book.FIELD_COLUMNS]
    rows = list(fields.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == [f.id for f in week.fields] + [i.id for i in week.info]
    assert rows[5][:6] == (
        "fund_total",
        "活动经费投入数量（单位：万元）",
        "funding",
        "经费合计",
        "万元",
        "小数",
    )
    assert rows[5][10] == "fund_government + fund_enterprise + fund_in_kind + fund_other"
    assert rows[-1][3:6] == ("情况说明", None, "长文本")
    lists = {
        sheet: {str(v.sqref): v.formula1 for v in wb[sheet].data_validations.dataValidation}
        for sheet in ("指标", "规则", "明细")
    }
    assert lists == {
        "指标": {"F2:F500": '"整数,小数,文本,电话,日期,长文本,选项"', "H2:H500": '"是,否"'},
        "规则": {"D2:D500": '"错误,待核实,警告"'},
        "明细": {"C2:C500": '"文本,日期,选项,整数,小数"'},
    }
    rules = list(wb["规则"].iter_rows(min_row=2, values_only=True))
    assert rules[3][:4] == (
        "fund_in_yuan",
        "fund_government、fund_enterprise、fund_in_kind、fund_other",
        "value > 500",
        "待核实",
    )
    form = dict(wb["表单"].iter_rows(min_row=2, max_row=5, values_only=True))
    assert form == {
        "编号": "science_week",
        "版本": "2023.1",
        "表名": "科技活动周开展情况统计表",
        "工作表名": "统计表",
    }


def test_export_is_deterministic_and_never_replaces_a_file(tmp_path: Path) -> None:
    first = exported(tmp_path).read_bytes()
    with pytest.raises(KepuError) as info:
        exported(tmp_path)
    assert [f.code for f in info.value.findings] == [Code.DEFINITION_EXISTS]
    again = spec.export_to(spec.bundled_dir() / "science_week.toml", tmp_path / "x.xlsx", overwrite=True)
    assert again.read_bytes() == first


# -- forms check on a workbook: every problem at its cell --------------------------------------------------


def test_every_problem_of_a_workbook_is_found_at_its_cell(tmp_path: Path) -> None:
    book = exported(tmp_path)
    wb = openpyxl.load_workbook(book)
    fields, rules = wb["指标"], wb["规则"]
    fields["F3"] = "浮点"  # fund_government: an unknown type
    fields["A5"] = "fund_enterprise"  # fund_in_kind: a duplicate id
    fields["K7"] = "fund_government + fund_nope"  # fund_total: a formula naming a missing field
    fields["H9"] = "也许"  # staff_scientists: 必填 is 是 or 否
    fields["N1"] = "颜色"  # an unknown column
    rules["C3"] = "media_reports <<< media_outlets"  # a rule that does not parse
    rules["D4"] = "严重"  # an unknown level
    wb.save(book)
    found, findings = spec.check(book)
    assert found is None
    assert [(f.code.name, f.sheet, f.cell) for f in findings] == [
        ("SPEC_UNKNOWN_KEY", "指标", "N1"),
        ("SPEC_BAD_VALUE", "指标", "F3"),
        ("SPEC_DUPLICATE_ID", "指标", "A5"),
        ("SPEC_BAD_VALUE", "指标", "H9"),
        ("SPEC_RULE", "指标", "K7"),
        ("SPEC_RULE", "规则", "C3"),
        ("SPEC_BAD_VALUE", "规则", "D4"),
        ("SPEC_BAD_VALUE", "规则", "B5"),  # fund_in_kind is gone: the rules listing it are wrong too
        ("SPEC_BAD_VALUE", "规则", "B8"),  # (tenfold_last_year, zero_last_year: over last year's values)
        ("SPEC_BAD_VALUE", "规则", "B10"),
    ]
    messages = [f.message for f in findings]
    assert messages[1] == Code.SPEC_BAD_VALUE.format(
        where="工作表“指标”第 3 行",
        key="类型",
        value="浮点",
        rule="应为 整数、小数、文本、电话、日期、长文本、选项 之一",
    )
    assert messages[2] == Code.SPEC_DUPLICATE_ID.format(where="工作表“指标”第 5 行", id="fund_enterprise")
    assert messages[4] == Code.SPEC_RULE.format(
        where="工作表“指标”第 7 行", expr="fund_government + fund_nope", error="未知的指标编号“fund_nope”"
    )
    assert messages[6] == Code.SPEC_BAD_VALUE.format(
        where="工作表“规则”第 4 行", key="级别", value="严重", rule="应为 错误、待核实、警告 之一"
    )


def test_a_column_twice_and_an_empty_setting(tmp_path: Path) -> None:
    book = exported(tmp_path)
    wb = openpyxl.load_workbook(book)
    wb["指标"]["N1"] = "标签"  # a second 标签 column: the first is read, the second reported
    wb["指标"]["N2"] = "另一个标签"
    form = wb["表单"]
    form.append(["明细行数", None])  # a setting left empty is absent, not a bad value
    wb.save(book)
    found, findings = spec.check(book)
    assert found is None
    assert [(f.code.name, f.sheet, f.cell) for f in findings] == [("SPEC_BAD_VALUE", "指标", "N1")]
    assert findings[0].message == Code.SPEC_BAD_VALUE.format(
        where="工作表“指标”第 1 行", key="标签", value="标签", rule="与前面的一列同名，只读前面那一列"
    )


def test_cli_check_of_a_workbook_names_the_cells(tmp_path: Path) -> None:
    book = exported(tmp_path)
    wb = openpyxl.load_workbook(book)
    wb["指标"]["D2"] = None  # activities: no label
    wb.save(book)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["forms", "check", str(book), "--json", "-"])
    assert result.exit_code == 1
    assert json.loads(result.output)["findings"] == [
        {
            "code": "SPEC_MISSING",
            "severity": "error",
            "unit": "",
            "file": "science_week.xlsx",
            "sheet": "指标",
            "cell": "D2",
            "message": Code.SPEC_MISSING.format(where="工作表“指标”第 2 行", key="标签"),
        }
    ]


def test_a_workbook_that_cannot_be_read(tmp_path: Path) -> None:
    book = tmp_path / "定义.xlsx"
    book.write_bytes(exported(tmp_path).read_bytes()[:3000])  # cut short
    found, findings = spec.check(book)
    assert found is None and [f.code for f in findings] == [Code.SPEC_WORKBOOK]


# -- English headers, other office formats -------------------------------------------------------------------


def test_english_headers_and_sheet_names_are_aliases(tmp_path: Path) -> None:
    path = tmp_path / "english.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    form = wb.add_worksheet("form")
    for r, (key, value) in enumerate([("id", "mini"), ("version", "1"), ("title", "迷你统计表")]):
        form.write_string(r, 0, key)
        form.write_string(r, 1, value)
    fields = wb.add_worksheet("fields")
    rows = [
        ("id", "section", "label", "unit", "type", "required"),
        ("a", "基本情况", "活动次数", "次", "integer", "TRUE"),
        ("b", "", "参与人数", "人", "整数", "是"),
        ("who", "", "填表人", "", "text", "false"),
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            fields.write_string(r, c, value)
    wb.close()
    got, findings = spec.check(path)
    assert findings == []
    assert [(f.id, f.label, f.unit, f.section, f.required) for f in got.fields] == [
        ("a", "活动次数", "次", "section1", True),
        ("b", "参与人数", "人", "section1", True),
    ]
    assert [(s.title, len(s.fields)) for s in got.sections] == [("基本情况", 2)]
    assert [(i.id, i.type, i.required) for i in got.info] == [("who", "text", False)]


@lo.requires_libreoffice
@pytest.mark.parametrize("fmt", ["xls", "ods"])
def test_a_definition_saved_by_libreoffice_reads_the_same(tmp_path: Path, fmt: str) -> None:
    converted = lo.convert(exported(tmp_path), fmt, tmp_path / fmt)
    got, findings = spec.check(converted)
    assert findings == []
    original = spec.load(spec.bundled_dir() / "science_week.toml")
    assert dataclasses.replace(got, source=original.source) == original


# -- campaigns on a workbook -----------------------------------------------------------------------------


def test_a_workbook_and_its_toml_make_byte_identical_forms(tmp_path: Path) -> None:
    toml = init_sample(tmp_path / "toml")
    book = init_sample(tmp_path / "book")
    exported(book)
    config = book / CONFIG_NAME
    config.write_text(
        config.read_text(encoding="utf-8").replace('form = "science_week"', 'form = "science_week.xlsx"'),
        encoding="utf-8",
    )
    assert Context.load(config).spec.source == "science_week.xlsx"
    made = {
        name: make.make_forms(folder / CONFIG_NAME, workers=0) for name, folder in (("t", toml), ("b", book))
    }
    pairs = list(zip(made["t"].forms, made["b"].forms, strict=True))
    assert len(pairs) == 26
    for a, b in pairs:
        assert Path(a["file"]).read_bytes() == Path(b["file"]).read_bytes()


def test_collect_on_a_workbook_judges_as_on_its_toml(tmp_path: Path) -> None:
    """The sample county's returns (made on the TOML form) collected under the workbook: the same report."""
    folder = init_sample(tmp_path / "青溪县", with_returns=True)
    config = folder / CONFIG_NAME
    now = datetime(2023, 6, 1, 9, 0)
    before = collect(folder / "inbox", config, now=now, write=False).to_dict()
    exported(folder)
    config.write_text(
        config.read_text(encoding="utf-8").replace('form = "science_week"', 'form = "science_week.xlsx"'),
        encoding="utf-8",
    )
    after = collect(folder / "inbox", config, now=now, write=False).to_dict()
    assert after == before
    assert any(f["code"] == "AUDIT_RULE" for f in after["findings"])  # the definition's rules judged


def test_a_choice_field_around_the_table(tmp_path: Path) -> None:
    """选项 in the 指标 sheet: a text field with a drop-down, and a value outside it is reported."""
    folder = init_sample(tmp_path / "活动")
    book = exported(folder)
    wb = openpyxl.load_workbook(book)
    ws = wb["指标"]
    row = ws.max_row + 1
    for col, value in zip(
        "ADFM", ["activity_kind", "活动形式", "选项", "线下、线上、线上线下结合"], strict=True
    ):
        ws[f"{col}{row}"] = value
    wb.save(book)
    config = folder / CONFIG_NAME
    config.write_text(
        config.read_text(encoding="utf-8").replace('form = "science_week"', 'form = "science_week.xlsx"'),
        encoding="utf-8",
    )
    ctx = Context.load(config)
    assert ctx.spec.info_field("activity_kind").choices == ("线下", "线上", "线上线下结合")
    unit = ctx.campaign.unit("T01")
    form = openpyxl.load_workbook(io.BytesIO(ctx.form_bytes(unit)))
    cell = ctx.cells.info["activity_kind"].a1
    validation = [v for v in form[ctx.spec.sheet].data_validations.dataValidation if cell in v.sqref]
    assert [(v.type, v.formula1) for v in validation] == [("list", '"线下,线上,线上线下结合"')]
    for typed, codes in (("线上", []), ("电话会议", ["AUDIT_BAD_CHOICE"])):
        form[ctx.spec.sheet][cell] = typed
        buffer = io.BytesIO()
        form.save(buffer)
        returned = reader.read(buffer.getvalue(), "xlsx", ctx.spec, ctx.cells)
        result = audit.audit(returned, ctx.spec, ctx.cells, unit)
        assert [f.code.name for f in result.findings if f.cell == cell] == codes


# -- kepuxl init --form ----------------------------------------------------------------------------------


def test_init_on_a_definition_workbook(tmp_path: Path) -> None:
    book = exported(tmp_path)
    config = init_campaign(tmp_path / "新活动", form=str(book))
    assert (tmp_path / "新活动" / "science_week.xlsx").read_bytes() == book.read_bytes()
    assert 'form = "science_week.xlsx"' in config.read_text(encoding="utf-8")
    assert Context.load(config).spec.source == "science_week.xlsx"


def test_init_on_a_bundled_definition(tmp_path: Path) -> None:
    config = init_campaign(tmp_path / "科普月", form="science_month")
    assert Context.load(config).spec.id == "science_month"
    assert sorted(p.name for p in config.parent.iterdir()) == sorted(
        [
            "kepuxl.toml",
            "units.xlsx",
            ".kepuxl",
            "inbox",
            "邮件模板.txt",
            "催报模板.txt",
            "总结报告模板.txt",
            "打开工作台.bat",
        ]
    )


def test_init_refuses_a_bad_definition_and_writes_nothing(tmp_path: Path) -> None:
    book = exported(tmp_path)
    wb = openpyxl.load_workbook(book)
    wb["指标"]["F2"] = "浮点"
    wb.save(book)
    with pytest.raises(KepuError) as info:
        init_campaign(tmp_path / "新活动", form=str(book))
    assert [(f.code, f.cell) for f in info.value.findings] == [(Code.SPEC_BAD_VALUE, "F2")]
    assert not (tmp_path / "新活动").exists()


def test_init_never_replaces_a_file_of_that_name(tmp_path: Path) -> None:
    book = exported(tmp_path)
    (tmp_path / "新活动").mkdir()
    (tmp_path / "新活动" / "science_week.xlsx").write_bytes(b"another definition")
    with pytest.raises(KepuError) as info:
        init_campaign(tmp_path / "新活动", form=str(book))
    assert [f.code for f in info.value.findings] == [Code.CAMPAIGN_EXISTS]
    assert (tmp_path / "新活动" / "science_week.xlsx").read_bytes() == b"another definition"
    assert not (tmp_path / "新活动" / CONFIG_NAME).exists()


def test_a_definition_named_like_an_init_file_is_renamed(tmp_path: Path) -> None:
    book = shutil.copy(exported(tmp_path), tmp_path / "units.xlsx")
    config = init_campaign(tmp_path / "新活动", form=str(book))
    assert 'form = "表单定义_units.xlsx"' in config.read_text(encoding="utf-8")
    assert Context.load(config).spec.id == "science_week"


def test_cli_init_form(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exported(tmp_path)
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(cli, ["init", "活动", "--form", "science_week.xlsx"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "活动" / "science_week.xlsx").exists()
    refused = runner.invoke(cli, ["init", "活动2", "--form", "science_week.xlsx", "--with-returns"])
    assert refused.exit_code == 2 and not (tmp_path / "活动2").exists()
    unknown = runner.invoke(cli, ["init", "活动3", "--form", "no_such_form"])
    assert unknown.exit_code == 3 and "science_month、science_week" in unknown.output.replace("\n", "")
