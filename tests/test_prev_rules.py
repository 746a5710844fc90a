"""prev(field) in the rule language and the bundled rules over last year (verify: ten times last year's
value, or 0 where last year's was large).

prev() is last year's value of the same unit ([compare] previous). A rule that reads a blank prev() (no
last year, a new unit, a field last year's summary lacks) does not fire, whatever its shape. Such rules
have no cell in the form: collect checks them and the form is the same as without them — byte for byte,
so forms already sent stay valid and the form's version is unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from conftest import init_sample
from lastyear import THIS, last_year, row, send, this_year

from kepu_xl import layout, rules
from kepu_xl import spec as spec_mod
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.rules import RuleError

NAMES = {"activities", "public_offline"}
NOW = datetime(2023, 6, 5, 9, 0)
MARKER = "# ---- 与上年比较"


def parse(text: str) -> rules.Expr:
    return rules.parse(text, NAMES, previous=True)


# -- the language ------------------------------------------------------------------------------------------


def test_prev_reads_last_years_value() -> None:
    expr = parse("prev(activities) > 0 and activities >= 10 * prev(activities)")
    assert expr.names == ("activities",) and expr.previous == ("activities",)
    assert expr.evaluate({"activities": 50}, None, {"activities": 5}) is True
    assert expr.evaluate({"activities": 49}, None, {"activities": 5}) is False


@pytest.mark.parametrize(
    "text",
    [
        "prev(activities) > 100",
        "not (prev(activities) > 100)",  # a negation does not make a blank last year true
        "activities == 0 or prev(activities) >= 0",
        "abs(activities - prev(activities)) >= 0",
    ],
)
@pytest.mark.parametrize("previous", [None, {}, {"activities": None}, {"public_offline": 7}])
def test_a_blank_prev_never_fires(text: str, previous: dict | None) -> None:
    assert parse(text).evaluate({"activities": 0}, None, previous) is False


def test_prev_only_where_allowed_and_only_over_a_field() -> None:
    with pytest.raises(RuleError, match="只能使用函数"):
        rules.parse("prev(activities) + 1", NAMES)  # a computed field's formula has no last year
    with pytest.raises(RuleError, match="不是指标编号"):
        parse("prev(nope) > 1")
    with pytest.raises(RuleError, match="只能写一个指标编号"):
        parse("prev(activities + 1) > 1")
    with pytest.raises(RuleError, match="没有对应的单元格"):
        parse("prev(activities) > 1").to_excel(lambda name: "D5")


MINI = """
[form]
id = "mini"
version = "1"
title = "小表"

[[sections]]
id = "s"
title = "部分"
  [[sections.fields]]
  id = "a"
  label = "甲"
  unit = "次"
  [[sections.fields]]
  id = "b"
  label = "乙"
  unit = "次"
  [[sections.fields]]
  id = "t"
  label = "合计"
  unit = "次"
  formula = "a + b"
"""


def check(tmp_path: Path, text: str) -> tuple[spec_mod.FormSpec | None, list[str]]:
    path = tmp_path / "mini.toml"
    path.write_text(MINI + text, encoding="utf-8")
    loaded, findings = spec_mod.check(path)
    return loaded, [f.message for f in findings if f.severity == "error"]


def test_rules_over_last_year_are_kept_apart_from_the_forms_self_checks(tmp_path: Path) -> None:
    loaded, errors = check(
        tmp_path,
        '[[rules]]\nid = "own"\nwhen = "a > b"\nmessage = "甲大于乙"\n'
        '[[rules]]\nid = "last"\neach = ["a", "b"]\nwhen = "value > 2 * prev(value)"\n'
        'message = "“{label}”为 {value}，上年为 {previous}"\n',
    )
    assert errors == [] and loaded is not None
    assert [r.id for r in loaded.rules] == ["own"]
    assert [(r.id, r.target) for r in loaded.previous_rules] == [("last", "a"), ("last", "b")]
    assert loaded.previous_rules[0].text(loaded, 9, 4) == "“甲”为 9，上年为 4"


def test_previous_placeholder_only_in_a_rule_over_last_year(tmp_path: Path) -> None:
    _, errors = check(tmp_path, '[[rules]]\nid = "own"\nwhen = "a > b"\nmessage = "上年为 {previous}"\n')
    assert errors == [
        "规则 own 的“message”取值“上年为 {previous}”不正确：只能使用 {label}、{value}、{unit}。"
    ]


# -- the bundled forms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["science_week", "science_month"])
def test_the_bundled_rules_over_last_year_leave_the_form_as_it_was(tmp_path: Path, form: str) -> None:
    path = spec_mod.bundled_dir() / f"{form}.toml"
    text = path.read_text(encoding="utf-8")
    assert MARKER in text
    before = tmp_path / f"{form}.toml"
    before.write_text(text[: text.index(MARKER)], encoding="utf-8")  # the definition as sent out
    bundled, old = spec_mod.load(path), spec_mod.load(before)
    assert bundled.version == old.version and bundled.rules == old.rules and not old.previous_rules
    inputs = {fl.id for fl in bundled.inputs}
    assert {r.target for r in bundled.previous_rules} == inputs  # every input, each once per rule
    assert layout.build(bundled).fingerprint() == layout.build(old).fingerprint()
    config = init_sample(tmp_path / "c") / "kepuxl.toml"
    config.write_text(re.sub(r'(?m)^form = "[^"]*"', f'form = "{form}"', config.read_text("utf-8")), "utf-8")
    ctx = Context.load(config)
    unit = ctx.campaign.units[0]
    new_form = ctx.form_bytes(unit)
    ctx_old = Context(ctx.campaign, old, layout.build(old), ctx.secret)
    assert new_form == ctx_old.form_bytes(unit)


def statuses(report) -> dict[str, tuple[str, list[str]]]:
    return {
        u.unit.id: (u.status, [f.message for f in u.findings if f.code.name == "AUDIT_RULE"])
        for u in report.units
    }


@pytest.fixture(scope="module")
def last(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return last_year(tmp_path_factory.mktemp("last") / "2022年科技活动周")


def test_ten_times_last_year_or_zero_where_it_was_large_is_to_be_verified(last: Path, tmp_path: Path) -> None:
    returns = dict(THIS)
    returns["T01"] = THIS["T01"] | {"activities": 50}  # last year 5: ten times
    returns["D01"] = THIS["D01"] | {"public_offline": 0}  # last year 1,500 (≥ 100 people): now 0
    returns["D02"] = THIS["D02"] | {"activities": 9}  # last year 1: nine times, and below 10
    returns["D03"] = row(30, 30, 300, 30000)  # new this year: nothing to compare with
    config = this_year(tmp_path / "2023", str(last), returns)
    got = statuses(collect(config.parent / "inbox", config, now=NOW))
    assert got["T01"] == (
        "pending",
        [
            "“举办活动次数”为 50 次，上年为 5 次，是上年的 10 倍以上，可能多填了位数或填错了单位。"
            "请核实；确实如此的，请在“情况说明”中写明原因。"
        ],
    )
    assert got["D01"] == (
        "pending",
        [
            "“线下活动群众参与数量”为 0，上年为 1,500 人次。请核实是否漏填；今年确实没有的，请在“情况说明”中写明原因。"
        ],
    )
    assert (
        got["D02"] == ("accepted", []) and got["D03"] == ("accepted", []) and got["TT2"] == ("accepted", [])
    )

    # the same returns without last year: nothing to verify
    plain = config.read_text("utf-8").split("\n[compare]")[0]
    config.write_text(plain, "utf-8")
    assert {s for s, _ in statuses(collect(config.parent / "inbox", config, now=NOW)).values()} == {
        "accepted"
    }


def test_an_explained_change_counts_with_a_warning(last: Path, tmp_path: Path) -> None:
    config = this_year(tmp_path / "2023", str(last), returns={})
    send(config, "T01", THIS["T01"] | {"activities": 50}, note="今年新增了 45 场科普进校园活动")
    report = collect(config.parent / "inbox", config, now=NOW)
    status, messages = statuses(report)["T01"]
    assert status == "warnings" and messages[0].startswith("【已说明】“举办活动次数”为 50 次，上年为 5 次")
    assert report.totals["activities"] == 50
