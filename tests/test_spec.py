"""Form definitions (kepu_xl/spec.py): bundled forms load clean; every bad definition is reported, exactly.

Inline definitions are TOML strings written to tmp_path; each assertion is the full message built
from the catalogue with `Code.X.format(...)`, as pyxform does with its error codes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kepu_xl import identity, layout, spec
from kepu_xl.context import Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.forms_writer import build_form

# A minimal good definition; the cases below each break one thing in it.
MINI = """
[form]
id = "mini"
version = "1"
title = "迷你统计表"

[[sections]]
id = "basic"
title = "基本情况"
  [[sections.fields]]
  id = "a"
  label = "活动次数"
  unit = "次"
  [[sections.fields]]
  id = "b"
  label = "参与人数"
  unit = "人"
"""
FIELD_KEYS = "formula、help、id、label、max、min、places、required、type、unit"


def write(tmp_path: Path, text: str, name: str = "mini.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def messages(tmp_path: Path, text: str) -> list[str]:
    """Check a definition that must be refused; its findings' messages, in order."""
    found, findings = spec.check(write(tmp_path, text))
    assert found is None, "a definition with errors must be refused as a whole"
    assert all(f.file == "mini.toml" for f in findings)
    return [f.message for f in findings]


def with_rule(rule: str) -> str:
    return MINI + "\n[[rules]]\n" + rule


# -- bundled definitions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", spec.bundled(), ids=lambda p: p.name)
def test_bundled_definition_loads_with_no_findings(path: Path) -> None:
    loaded, findings = spec.check(path)
    assert findings == []
    assert loaded is not None and loaded.id == path.stem


def test_the_bundled_definitions() -> None:
    assert [p.name for p in spec.bundled()] == ["science_month.toml", "science_week.toml"]
    assert spec.find("science_week") == spec.bundled_dir() / "science_week.toml"


def test_the_mini_definition_is_good(tmp_path: Path) -> None:
    loaded, findings = spec.check(write(tmp_path, MINI))
    assert findings == [] and loaded is not None
    assert [f.id for f in loaded.fields] == ["a", "b"]
    assert (loaded.sheet, loaded.detail, loaded.rules) == ("统计表", None, ())


# -- the science_week contract: ids are a published interface (summary JSON, users' scripts) --------------------

SCIENCE_WEEK_UNITS = {
    "activities": "次",
    "fund_government": "万元",
    "fund_enterprise": "万元",
    "fund_in_kind": "万元",
    "fund_other": "万元",
    "fund_total": "万元",
    "staff_fulltime": "人",
    "staff_scientists": "人",
    "staff_volunteers": "人",
    "staff_other": "人",
    "staff_total": "人",
    "public_offline": "人次",
    "public_online": "人次",
    "media_outlets": "家",
    "media_reports": "篇",
    "venues_open": "个",
    "institutes_open": "个",
    "universities_open": "所",
}


@pytest.fixture(scope="module")
def science_week() -> spec.FormSpec:
    return spec.load(spec.bundled_dir() / "science_week.toml")


def test_science_week_field_ids_and_units(science_week: spec.FormSpec) -> None:
    assert {f.id: f.unit for f in science_week.fields} == SCIENCE_WEEK_UNITS
    assert [f.id for f in science_week.fields] == list(SCIENCE_WEEK_UNITS)  # the paper form's order
    assert (science_week.id, science_week.version) == ("science_week", "2023.1")


def test_science_week_totals_are_computed_from_their_four_parts(science_week: spec.FormSpec) -> None:
    computed = {f.id: f.formula.names for f in science_week.fields if f.computed}
    assert computed == {
        "fund_total": ("fund_government", "fund_enterprise", "fund_in_kind", "fund_other"),
        "staff_total": ("staff_fulltime", "staff_scientists", "staff_volunteers", "staff_other"),
    }
    total = science_week.field("fund_total").formula
    assert total.evaluate({"fund_government": 1.5, "fund_enterprise": 2, "fund_other": 0.25}) == 3.75


def test_science_week_types(science_week: spec.FormSpec) -> None:
    decimals = {f.id for f in science_week.fields if f.type == "decimal"}
    assert decimals == {k for k, unit in SCIENCE_WEEK_UNITS.items() if unit == "万元"}
    assert all(f.places == 4 for f in science_week.fields if f.type == "decimal")
    assert all(f.places == 0 and f.min == 0 for f in science_week.fields if f.type == "integer")


def test_science_week_rules_and_detail(science_week: spec.FormSpec) -> None:
    # `each` expands fund_in_yuan into one instance per fund input.
    assert [(r.id, r.target) for r in science_week.rules] == [
        ("public_without_activities", "public_offline"),
        ("reports_below_outlets", "media_reports"),
        ("offline_per_activity", "activities"),
        ("fund_in_yuan", "fund_government"),
        ("fund_in_yuan", "fund_enterprise"),
        ("fund_in_yuan", "fund_in_kind"),
        ("fund_in_yuan", "fund_other"),
        ("activities_without_staff", "activities"),
        ("detail_count", "activities"),
    ]
    assert science_week.rules[4].when.text == "fund_enterprise > 500"
    assert science_week.detail is not None and science_week.detail.rows >= 50
    assert [c.id for c in science_week.detail.columns if c.type == "choice"] == ["mode", "category"]
    assert [i.id for i in science_week.info] == ["preparer", "phone", "fill_date", "note"]


# -- bad definitions: one problem each, the exact catalogue message -------------------------------------------


def test_toml_syntax_error(tmp_path: Path) -> None:
    text = MINI.replace('title = "迷你统计表"', "title = 迷你统计表")
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        tomllib.loads(text)
    assert messages(tmp_path, text) == [Code.SPEC_TOML.format(error=str(info.value))]


def test_unreadable_file_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes(MINI.encode("gbk"))
    found, findings = spec.check(path)
    assert found is None and [f.code for f in findings] == [Code.SPEC_TOML]


def test_missing_form_id(tmp_path: Path) -> None:
    text = MINI.replace('id = "mini"\n', "")
    assert messages(tmp_path, text) == [Code.SPEC_MISSING.format(where="[form]", key="id")]


def test_missing_form_table(tmp_path: Path) -> None:
    text = MINI.replace("[form]", "[from]")
    assert messages(tmp_path, text) == [Code.SPEC_MISSING.format(where="定义文件", key="[form]")]


def test_unknown_key_is_named_with_the_allowed_keys(tmp_path: Path) -> None:
    text = MINI.replace('label = "活动次数"', 'lable = "活动次数"')
    assert messages(tmp_path, text) == [
        Code.SPEC_UNKNOWN_KEY.format(
            where="第 1 个 [[sections]] 第 1 个指标", key="lable", allowed=FIELD_KEYS
        ),
        Code.SPEC_MISSING.format(where="指标 a", key="label"),
    ]


def test_unknown_key_in_form(tmp_path: Path) -> None:
    text = MINI.replace('version = "1"', 'version = "1"\nauthor = "李明"')
    assert messages(tmp_path, text) == [
        Code.SPEC_UNKNOWN_KEY.format(
            where="[form]", key="author", allowed="id、instructions、sheet、subtitle、title、version"
        )
    ]


def test_duplicate_field_id(tmp_path: Path) -> None:
    text = MINI.replace('id = "b"', 'id = "a"')
    assert messages(tmp_path, text) == [Code.SPEC_DUPLICATE_ID.format(where="指标 a", id="a")]


@pytest.mark.parametrize("bad", ["Activities", "1st", "fund-total", "活动", "sum", "value", "detail_rows"])
def test_bad_field_id(tmp_path: Path, bad: str) -> None:
    text = MINI.replace('id = "a"', f'id = "{bad}"')
    assert messages(tmp_path, text) == [Code.SPEC_BAD_ID.format(where=f"指标 {bad}", id=bad)]


def test_bad_type(tmp_path: Path) -> None:
    text = MINI.replace('unit = "次"', 'unit = "次"\n  type = "float"')
    assert messages(tmp_path, text) == [
        Code.SPEC_BAD_VALUE.format(where="指标 a", key="type", value="float", rule="应为 integer 或 decimal")
    ]


def test_formula_with_unknown_field(tmp_path: Path) -> None:
    text = MINI + '  [[sections.fields]]\n  id = "t"\n  label = "合计"\n  unit = "次"\n  formula = "a + c"\n'
    assert messages(tmp_path, text) == [
        Code.SPEC_RULE.format(where="指标 t 的 formula", expr="a + c", error="未知的指标编号“c”")
    ]


def test_rule_with_unknown_field(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\nwhen = "a > 0 and c == 0"\nmessage = "请核实。"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_RULE.format(where="规则 r1", expr="a > 0 and c == 0", error="未知的指标编号“c”")
    ]


def test_rule_syntax_error(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\nwhen = "a > 0 && b == 0"\nmessage = "请核实。"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_RULE.format(where="规则 r1", expr="a > 0 && b == 0", error="语法错误（第 8 个字符附近）")
    ]


def test_rule_cannot_smuggle_python(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\nwhen = "__import__(\'os\').system(\'id\')"\nmessage = "x"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_RULE.format(
            where="规则 r1",
            expr="__import__('os').system('id')",
            error="只能使用函数 abs、min、max、sum、detail_sum(列编号)、prev(指标编号)",
        )
    ]


def test_rule_bad_severity(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\nwhen = "a > b"\nseverity = "fatal"\nmessage = "请核实。"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_BAD_VALUE.format(
            where="规则 r1",
            key="severity",
            value="fatal",
            rule="应为 error（错误）、verify（待核实）或 warning（警告）",
        )
    ]


def test_rule_each_with_unknown_field(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\neach = ["a", "nope"]\nwhen = "value > 5"\nmessage = "请核实。"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_BAD_VALUE.format(where="规则 r1", key="each", value="nope", rule="没有这些指标编号")
    ]


def test_rule_detail_names_without_a_detail_table(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\nwhen = "detail_rows != a"\nmessage = "请核实。"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_RULE.format(
            where="规则 r1",
            expr="detail_rows != a",
            error="此表没有明细表，不能使用 detail_rows / detail_sum",
        )
    ]


def test_rule_message_placeholders(tmp_path: Path) -> None:
    text = with_rule('id = "r1"\nwhen = "a > b"\nmessage = "“{label}”为 {amount}。"\n')
    assert messages(tmp_path, text) == [
        Code.SPEC_BAD_VALUE.format(
            where="规则 r1",
            key="message",
            value="“{label}”为 {amount}。",
            rule="只能使用 {label}、{value}、{unit}",
        )
    ]


def test_help_text_over_255_characters(tmp_path: Path) -> None:
    text = MINI.replace('unit = "次"', f'unit = "次"\n  help = "{"说" * 256}"')
    assert messages(tmp_path, text) == [
        Code.SPEC_TOO_LONG.format(where="指标 a", key="help", length=256, limit=255)
    ]


def test_help_text_of_exactly_255_characters_is_fine(tmp_path: Path) -> None:
    loaded, findings = spec.check(
        write(tmp_path, MINI.replace('unit = "次"', f'unit = "次"\n  help = "{"说" * 255}"'))
    )
    assert findings == [] and loaded is not None and len(loaded.field("a").help) == 255


DETAIL = """
[detail]
sheet = "活动明细"
rows = 20
key = "name"
  [[detail.columns]]
  id = "name"
  label = "活动名称"
  [[detail.columns]]
  id = "mode"
  label = "形式"
  type = "choice"
"""


def test_detail_choice_column_without_choices(tmp_path: Path) -> None:
    assert messages(tmp_path, MINI + DETAIL) == [
        Code.SPEC_MISSING.format(where="[detail] 第 2 列", key="choices")
    ]


def test_detail_choice_column_with_choices_is_fine(tmp_path: Path) -> None:
    text = MINI + DETAIL + 'choices = ["线下", "线上"]\n'
    loaded, findings = spec.check(write(tmp_path, text))
    assert findings == [] and loaded is not None
    assert loaded.detail.column("mode").choices == ("线下", "线上")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        MINI.replace('id = "mini"\n', "")
        .replace('id = "b"', 'id = "a"')
        .replace('unit = "人"', f'unit = "人"\n  help = "{"长" * 300}"')
        + DETAIL
        + '\n[[rules]]\nid = "r1"\nwhen = "a > 0"\nseverity = "fatal"\nmessage = "x"\n'
        + '\n[[rules]]\nid = "r2"\nwhen = "a > 0 && b"\nmessage = "x"\n'
    )
    found, findings = spec.check(write(tmp_path, text))
    assert found is None
    assert [(f.code.name, f.message) for f in findings] == [
        ("SPEC_MISSING", Code.SPEC_MISSING.format(where="[form]", key="id")),
        ("SPEC_DUPLICATE_ID", Code.SPEC_DUPLICATE_ID.format(where="指标 a", id="a")),
        ("SPEC_TOO_LONG", Code.SPEC_TOO_LONG.format(where="指标 a", key="help", length=300, limit=255)),
        ("SPEC_MISSING", Code.SPEC_MISSING.format(where="[detail] 第 2 列", key="choices")),
        (
            "SPEC_BAD_VALUE",
            Code.SPEC_BAD_VALUE.format(
                where="规则 r1",
                key="severity",
                value="fatal",
                rule="应为 error（错误）、verify（待核实）或 warning（警告）",
            ),
        ),
        (
            "SPEC_RULE",
            Code.SPEC_RULE.format(where="规则 r2", expr="a > 0 && b", error="语法错误（第 8 个字符附近）"),
        ),
    ]
    # load() refuses the definition and carries the same findings.
    with pytest.raises(KepuError) as info:
        spec.load(tmp_path / "mini.toml")
    assert info.value.findings == findings


SPEC_CASES = {
    "SPEC_TOML": "[form",
    "SPEC_MISSING": MINI.replace('title = "迷你统计表"\n', ""),
    "SPEC_UNKNOWN_KEY": MINI.replace('unit = "次"', 'unit = "次"\n  colour = "red"'),
    "SPEC_BAD_VALUE": MINI.replace('unit = "次"', 'unit = "次"\n  min = 10\n  max = 1'),
    "SPEC_DUPLICATE_ID": MINI.replace('id = "b"', 'id = "a"'),
    "SPEC_BAD_ID": MINI.replace('id = "b"', 'id = "B"'),
    "SPEC_RULE": with_rule('id = "r"\nwhen = "a.b > 0"\nmessage = "x"\n'),
    "SPEC_TOO_LONG": MINI.replace('unit = "次"', f'unit = "次"\n  help = "{"x" * 300}"'),
    "SPEC_WORKBOOK": b"PK\x03\x04 a definition workbook cut short",
}


@pytest.mark.parametrize("code", [c for c in Code if c.name.startswith("SPEC_")], ids=lambda c: c.name)
def test_every_spec_code_can_be_triggered(tmp_path: Path, code: Code) -> None:
    assert code.name in SPEC_CASES, f"no test definition triggers {code.name}"
    case = SPEC_CASES[code.name]
    path = tmp_path / "mini.toml"
    path.write_bytes(case) if isinstance(case, bytes) else write(tmp_path, case)
    found, findings = spec.check(path)
    assert found is None and [f.code for f in findings] == [code]


def test_a_section_can_be_borrowed_from_another_definition(tmp_path: Path) -> None:
    text = MINI + '\n[[sections]]\nfrom = "science_week"\nid = "staff"\n'
    loaded, findings = spec.check(write(tmp_path, text))
    assert findings == [] and loaded is not None
    assert loaded.field("staff_total").formula.names[0] == "staff_fulltime"
    bad = MINI + '\n[[sections]]\nfrom = "no_such_form"\nid = "staff"\n'
    assert messages(tmp_path, bad) == [
        Code.SPEC_BAD_VALUE.format(
            where="第 2 个 [[sections]]", key="from", value="no_such_form", rule="找不到该表单定义"
        )
    ]


# -- known gaps: a definition must either be refused with findings or build ----------------------------------


@pytest.mark.parametrize(
    "change",
    ['unit = "次"\n  help = 5', 'unit = "次"\n  type = "decimal"\n  places = "two"'],
    ids=["help-number", "places-text"],
)
def test_wrongly_typed_values_are_findings_not_crashes(tmp_path: Path, change: str) -> None:
    found, findings = spec.check(write(tmp_path, MINI.replace('unit = "次"', change)))
    assert found is None and findings and all(f.code.name.startswith("SPEC_") for f in findings)


def test_instructions_as_a_single_string(tmp_path: Path) -> None:
    text = MINI.replace('title = "迷你统计表"', 'title = "迷你统计表"\ninstructions = "请按时填写。"')
    found, findings = spec.check(write(tmp_path, text))
    assert (found is None and findings) or found.instructions == ("请按时填写。",)


SCIENCE_WEEK_TEXT = (spec.bundled_dir() / "science_week.toml").read_text(encoding="utf-8")
UNBUILDABLE = {
    "sheet-with-slash": SCIENCE_WEEK_TEXT.replace('sheet = "统计表"', 'sheet = "统计/表"'),
    "sheet-over-31-chars": SCIENCE_WEEK_TEXT.replace('sheet = "统计表"', f'sheet = "{"统" * 32}"'),
    "sheet-named-like-the-instructions": SCIENCE_WEEK_TEXT.replace('sheet = "统计表"', 'sheet = "填报说明"'),
    "detail-sheet-same-as-main": SCIENCE_WEEK_TEXT.replace('sheet = "活动明细"', 'sheet = "统计表"'),
    "choices-over-255-chars": SCIENCE_WEEK_TEXT.replace(
        '"科研机构开放", "其他"]',
        '"科研机构开放", "其他", ' + ", ".join(f'"农村实用技术培训班{i}"' for i in range(25)) + "]",
    ),
}


@pytest.mark.parametrize("case", list(UNBUILDABLE))
def test_a_definition_that_passes_check_can_be_built(tmp_path: Path, ctx: Context, case: str) -> None:
    found, findings = spec.check(write(tmp_path, UNBUILDABLE[case], "custom.toml"))
    if found is None:
        assert findings  # refused, with reasons: fine
        return
    cells = layout.build(found)
    unit = ctx.campaign.units[0]
    c = ctx.campaign
    stamp = identity.stamp(
        ctx.secret, c.id, c.year, c.title, found.id, found.version, unit.id, cells.fingerprint()
    )
    assert build_form(found, cells, ctx.campaign, unit, stamp, ctx.password(unit))[:2] == b"PK"


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("sheet-with-slash", "工作表名不能含有"),
        ("sheet-over-31-chars", "工作表名不能超过 31 个字（现为 32 个）"),
        ("sheet-named-like-the-instructions", "工作表名与表格中另一张工作表同名"),
        ("detail-sheet-same-as-main", "工作表名与表格中另一张工作表同名"),
    ],
)
def test_sheet_names_excel_refuses_are_findings(tmp_path: Path, case: str, rule: str) -> None:
    found, findings = spec.check(write(tmp_path, UNBUILDABLE[case], "custom.toml"))
    assert found is None
    assert [(f.code, rule in f.message) for f in findings] == [(Code.SPEC_BAD_VALUE, True)], findings
    assert "sheet" in findings[0].message


# -- values a workbook can carry as easily as TOML: judged, never read loosely --------------------------------


def test_required_must_be_true_or_false(tmp_path: Path) -> None:
    """`required = "no"` used to be read as true (any non-empty text is): now it is a finding."""
    text = MINI.replace('unit = "次"', 'unit = "次"\n  required = "no"')
    assert messages(tmp_path, text) == [
        Code.SPEC_BAD_VALUE.format(where="指标 a", key="required", value="no", rule="应为 true 或 false")
    ]


def test_a_detail_column_width_must_be_a_number(tmp_path: Path) -> None:
    text = (
        MINI
        + DETAIL.replace('label = "活动名称"', 'label = "活动名称"\n  width = "wide"')
        + 'choices = ["线下"]\n'
    )
    assert messages(tmp_path, text) == [
        Code.SPEC_BAD_VALUE.format(
            where="[detail] 第 1 列", key="width", value="wide", rule="应为 1～100 的数字"
        )
    ]


def test_a_field_missing_its_label_is_one_finding_not_two(tmp_path: Path) -> None:
    """A rule naming a field whose label is missing is not reported as naming an unknown field."""
    text = with_rule('id = "r1"\nwhen = "a > b"\nmessage = "请核实。"\n').replace('label = "活动次数"\n', "")
    assert messages(tmp_path, text) == [Code.SPEC_MISSING.format(where="指标 a", key="label")]
