"""The rule language (kepu_xl/rules.py): parse → evaluate (Python) and → to_excel (the form's live checks).

The promise under test: one tree, two renderings that agree. Python's answer is compared with the
rendered formula as Excel would compute it, using a small evaluator of exactly the Excel subset
to_excel emits (Excel's precedence and its typed comparisons: a logical value is never equal to a number
and sorts above every number).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kepu_xl import rules, spec
from kepu_xl.rules import DetailStats, RuleError

NAMES = {"activities", "staff_total", "public_offline", "public_online", "fund_total"}
COLUMNS = {"offline", "reports"}
# field id → cell, and the detail aggregates → cells holding their values
CELLS = {
    "activities": "D5",
    "fund_total": "D6",
    "public_offline": "D7",
    "public_online": "D8",
    "staff_total": "D9",
}
DETAIL_CELLS = {None: "Z1", "offline": "Z2", "reports": "Z3"}


def ref(name: str) -> str:
    return CELLS[name]


def detail_ref(column: str | None) -> str:
    return DETAIL_CELLS[column]


def parse(text: str) -> rules.Expr:
    return rules.parse(text, NAMES, COLUMNS)


# -- a tiny Excel: the subset to_excel emits ------------------------------------------------------------


class XlError(Exception):
    """An Excel error value (#DIV/0!, #VALUE!)."""


_TOKEN = re.compile(
    r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?)|([A-Z]+\d+)|([A-Z]+)\(|(TRUE|FALSE)\b|(<>|<=|>=|[-+*/=<>(),]))"
)


def _tokens(formula: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(formula.rstrip()):
        m = _TOKEN.match(formula, pos)
        assert m, f"cannot read {formula[pos:]!r} in {formula!r}"
        kind = ("num", "ref", "fn", "bool", "op")[next(i for i, g in enumerate(m.groups()) if g is not None)]
        out.append((kind, m.group(m.lastindex)))
        pos = m.end()
    return out


def xl_eval(formula: str, cells: Mapping[str, float | None]) -> float | bool:
    """Evaluate a formula body with Excel's precedence: comparisons < + - < * / < unary minus."""
    tokens = _tokens(formula)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(value: str | None = None) -> tuple[str, str]:
        nonlocal pos
        tok = tokens[pos]
        assert value is None or tok[1] == value, f"expected {value!r} at {tok!r} in {formula!r}"
        pos += 1
        return tok

    def binary(level: int) -> Callable[[], object]:
        ops = (("=", "<>", "<", ">", "<=", ">="), ("+", "-"), ("*", "/"))[level]
        nxt = (lambda: binary(level + 1)()) if level < 2 else unary

        def parse_level() -> object:
            left = nxt()
            while (tok := peek()) and tok[0] == "op" and tok[1] in ops:  # left-associative, like Excel
                left = ("bin", take()[1], left, nxt())
            return left

        return parse_level

    def unary() -> object:
        if peek() == ("op", "-"):
            take()
            return ("neg", unary())
        kind, value = take()
        if kind == "num":
            return ("const", float(value))
        if kind == "bool":
            return ("const", value == "TRUE")
        if kind == "ref":
            return ("ref", value)
        if value == "(":
            inner = binary(0)()
            take(")")
            return inner
        assert kind == "fn", f"unexpected {value!r} in {formula!r}"
        args = []
        while peek() != ("op", ")"):
            args.append(binary(0)())
            if peek() == ("op", ","):
                take()
        take(")")
        return ("call", value, args)

    tree = binary(0)()
    assert pos == len(tokens), f"trailing tokens in {formula!r}"
    return _run(tree, cells)


def _num(v: object) -> float:
    return float(v)  # TRUE → 1 in arithmetic, as in Excel


def _truthy(v: object) -> bool:
    return bool(v)


def _rank(v: object) -> tuple[int, float]:
    return (1, float(v)) if isinstance(v, bool) else (0, float(v))  # logicals sort above all numbers


def _run(node: object, cells: Mapping[str, float | None]) -> float | bool:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "ref":
        value = cells.get(node[1])
        return 0.0 if value is None else value
    if kind == "neg":
        return -_num(_run(node[1], cells))
    if kind == "bin":
        op, a, b = node[1], _run(node[2], cells), _run(node[3], cells)
        if op in ("+", "-", "*", "/"):
            x, y = _num(a), _num(b)
            if op == "/" and y == 0:
                raise XlError("#DIV/0!")
            return {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else 0}[op]
        ra, rb = _rank(a), _rank(b)
        return {"=": ra == rb, "<>": ra != rb, "<": ra < rb, ">": ra > rb, "<=": ra <= rb, ">=": ra >= rb}[op]
    name, args = node[1], node[2]
    if name == "IF":  # lazy, as in Excel: the branch not taken is never computed
        return _run(args[1] if _truthy(_run(args[0], cells)) else args[2], cells)
    if name == "ISNUMBER":  # a blank cell is not a number (a reference reads as 0 elsewhere)
        arg = args[0]
        value = cells.get(arg[1]) if arg[0] == "ref" else _run(arg, cells)
        return isinstance(value, int | float) and not isinstance(value, bool)
    values = [_run(a, cells) for a in args]
    if name == "N":
        return _num(values[0])
    if name == "AND":
        return all(_truthy(v) for v in values)
    if name == "OR":
        return any(_truthy(v) for v in values)
    if name == "NOT":
        return not _truthy(values[0])
    funcs = {"ABS": lambda xs: abs(xs[0]), "MIN": min, "MAX": max, "SUM": sum}
    return funcs[name]([_num(v) for v in values])


def excel_says(expr: rules.Expr, values: Mapping[str, float | None], detail: DetailStats) -> bool:
    cells = {CELLS[k]: v for k, v in values.items()}
    cells |= {DETAIL_CELLS[None]: detail.rows, **{DETAIL_CELLS[c]: detail.sum(c) for c in COLUMNS}}
    return _truthy(xl_eval(expr.to_excel(ref, detail_ref), cells))


def test_the_test_evaluator_follows_excel_precedence() -> None:
    assert xl_eval("1+2*3", {}) == 7
    assert xl_eval("-2*-3", {}) == 6
    assert xl_eval("1+2>2", {}) is True  # comparison binds loosest
    assert xl_eval("1>0=1", {}) is False  # left to right: (TRUE)=1, and a logical is not a number
    assert xl_eval("IF(A1=0,0,1/A1)", {"A1": 0}) == 0
    with pytest.raises(XlError):
        xl_eval("1/A1", {})


# -- parse: what the language accepts --------------------------------------------------------------------


def test_names_and_detail_columns_are_collected_in_order_without_repeats() -> None:
    expr = parse("activities > 0 and staff_total == 0 or activities + fund_total > detail_sum(offline)")
    assert expr.names == ("activities", "staff_total", "fund_total")
    assert expr.detail_columns == ("offline",)
    assert expr.text == "activities > 0 and staff_total == 0 or activities + fund_total > detail_sum(offline)"


def test_surrounding_whitespace_is_dropped() -> None:
    assert parse("  activities > 0 \n").text == "activities > 0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "只能使用函数 abs、min、max、sum、detail_sum(列编号)"),
        ("__import__('os').system('rm -rf /')", "只能使用函数 abs、min、max、sum、detail_sum(列编号)"),
        ("open('/etc/passwd')", "只能使用函数 abs、min、max、sum、detail_sum(列编号)"),
        ("activities.real", "不支持的写法“activities.real”"),
        ("().__class__", "不支持的写法“().__class__”"),
        ("lambda: 1", "不支持的写法“lambda: 1”"),
        ("activities[0]", "不支持的写法“activities[0]”"),
        ("'activities'", "不支持的写法“'activities'”"),
        ("f'{activities}'", "不支持的写法“f'{activities}'”"),
        ("True", "不支持的写法“True”"),
        ("activities ** 2", "不支持的写法“activities ** 2”"),
        ("activities % 7", "不支持的写法“activities % 7”"),
        ("activities if staff_total else 1", "不支持的写法“activities if staff_total else 1”"),
        ("activities in (1, 2)", "不支持的写法“activities in (1, 2)”"),
        ("[activities]", "不支持的写法“[activities]”"),
        ("abs(activities, key=1)", "只能使用函数 abs、min、max、sum、detail_sum(列编号)"),
        ("max()", "只能使用函数 abs、min、max、sum、detail_sum(列编号)"),
        ("detail_sum(1)", "只能使用函数 abs、min、max、sum、detail_sum(列编号)"),
        ("detail_sum(nope)", "明细表没有列“nope”"),
        ("activitys > 0", "未知的指标编号“activitys”"),
        ("value > 500", "未知的指标编号“value”"),
        ("activities > 0 && staff_total", "语法错误（第 17 个字符附近）"),
        ("activities ＞ 0", "语法错误（第 12 个字符附近）"),
    ],
)
def test_anything_outside_the_language_is_refused_with_a_chinese_message(text: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse(text)
    assert str(info.value) == message


def test_parse_never_evaluates_the_text(tmp_path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(RuleError):
        parse(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    assert not marker.exists()


def test_syntax_error_at_the_end_points_at_the_end() -> None:
    # Python reports offset 0 for "unexpected end of input"; the message then sends the user to the start.
    with pytest.raises(RuleError) as info:
        parse("activities >")
    offset = int(re.search(r"第 (\d+) 个字符", str(info.value)).group(1))
    assert 1 <= offset <= len("activities >") + 1


# -- evaluate: the Python side -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("activities + staff_total * 2", {"activities": 1, "staff_total": 3}, 7),
        ("-activities + +staff_total", {"activities": 1, "staff_total": 3}, 2),
        ("activities - staff_total", {"activities": None}, 0),  # blank counts as 0
        ("abs(activities - staff_total)", {"activities": 1, "staff_total": 3}, 2),
        ("min(activities, staff_total, 9)", {"activities": 4, "staff_total": 3}, 3),
        ("max(activities, staff_total)", {"activities": 4, "staff_total": 3}, 4),
        ("sum(activities, staff_total, 1)", {"activities": 4, "staff_total": 3}, 8),
        ("fund_total / activities", {"fund_total": 3, "activities": 2}, 1.5),
        ("fund_total / activities", {"fund_total": 3, "activities": 0}, 0),
        ("fund_total / activities", {"fund_total": 3}, 0),
        ("not activities", {"activities": 0}, True),
        ("0.1 + 0.2 == 0.3", {}, True),
    ],
)
def test_evaluate(text: str, values: dict, expected: float | bool) -> None:
    assert parse(text).evaluate(values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [({"activities": 5}, True), ({"activities": 0}, False), ({"activities": 10}, False), ({}, False)],
)
def test_chained_comparison_means_each_pair(values: dict, expected: bool) -> None:
    expr = parse("0 < activities < 10")
    assert expr.evaluate(values) is expected
    assert expr.to_excel(ref) == "AND(0<IF(ISNUMBER(D5),D5,0),IF(ISNUMBER(D5),D5,0)<10)"
    assert excel_says(expr, values, DetailStats()) is expected


def test_division_by_zero_gives_zero_and_does_not_raise() -> None:
    expr = parse("public_offline / activities > 5000")
    assert expr.evaluate({"public_offline": 9000, "activities": 0}) is False
    assert expr.evaluate({"public_offline": 9000, "activities": 1}) is True


def test_and_or_short_circuit_in_python() -> None:
    expr = parse("activities > 0 and public_offline / activities > 5000")
    assert expr.evaluate({"activities": 0, "public_offline": 1}) is False
    assert parse("activities == 0 or public_offline / activities > 1").evaluate({"activities": 0}) is True


def test_detail_rows_and_detail_sum() -> None:
    expr = parse("detail_rows != activities or detail_sum(offline) > public_offline")
    stats = DetailStats(rows=3, sums={"offline": 120.0})
    assert expr.evaluate({"activities": 3, "public_offline": 120}, stats) is False
    assert expr.evaluate({"activities": 2, "public_offline": 120}, stats) is True
    assert expr.evaluate({"activities": 3, "public_offline": 100}, stats) is True
    # Without a detail table everything there counts as empty.
    assert parse("detail_rows + detail_sum(reports)").evaluate({}) == 0
    assert DetailStats(rows=1).sum("reports") == 0


# -- to_excel: the Excel side ---------------------------------------------------------------------------------


def test_names_become_the_number_in_their_cell() -> None:
    # A blank or text entry counts as 0 (no #VALUE!), the same in every office suite: not N(), whose
    # N(blank) is #NUM! in Gnumeric and whose N("１５") is 15 there but 0 in Excel and LibreOffice.
    assert parse("activities").to_excel(ref) == "IF(ISNUMBER(D5),D5,0)"
    assert parse("activities >= 2.5").to_excel(ref) == "IF(ISNUMBER(D5),D5,0)>=2.5"
    assert parse("activities == staff_total").to_excel(ref) == "IF(ISNUMBER(D5),D5,0)=IF(ISNUMBER(D9),D9,0)"
    assert parse("activities != staff_total").to_excel(ref) == "IF(ISNUMBER(D5),D5,0)<>IF(ISNUMBER(D9),D9,0)"
    assert parse("-activities").to_excel(ref) == "(-IF(ISNUMBER(D5),D5,0))"
    assert parse("not activities > 0").to_excel(ref) == "NOT(IF(ISNUMBER(D5),D5,0)>0)"
    assert parse("max(activities, 1)").to_excel(ref) == "MAX(IF(ISNUMBER(D5),D5,0),1)"


def test_and_or_render_as_nested_if_so_they_short_circuit() -> None:
    assert (
        parse("activities > 0 and staff_total == 0").to_excel(ref)
        == "IF(IF(ISNUMBER(D5),D5,0)>0,IF(ISNUMBER(D9),D9,0)=0,FALSE)"
    )
    assert (
        parse("activities > 0 or staff_total == 0").to_excel(ref)
        == "IF(IF(ISNUMBER(D5),D5,0)>0,TRUE,IF(ISNUMBER(D9),D9,0)=0)"
    )
    assert (
        parse("activities > 0 and staff_total > 0 and fund_total > 0").to_excel(ref)
        == "IF(IF(ISNUMBER(D5),D5,0)>0,IF(IF(ISNUMBER(D9),D9,0)>0,IF(ISNUMBER(D6),D6,0)>0,FALSE),FALSE)"
    )
    assert (
        parse("activities > 0 or staff_total > 0 or fund_total > 0").to_excel(ref)
        == "IF(IF(ISNUMBER(D5),D5,0)>0,TRUE,IF(IF(ISNUMBER(D9),D9,0)>0,TRUE,IF(ISNUMBER(D6),D6,0)>0))"
    )
    assert "AND(" not in parse("activities > 0 and staff_total > 0").to_excel(ref)


def test_division_is_guarded_in_excel_too() -> None:
    formula = parse("public_offline / activities > 5000").to_excel(ref)
    assert formula == "IF((IF(ISNUMBER(D5),D5,0))=0,0,(IF(ISNUMBER(D7),D7,0))/(IF(ISNUMBER(D5),D5,0)))>5000"
    assert xl_eval(formula, {}) is False  # no #DIV/0! on an empty form
    assert xl_eval(formula, {"D5": 1, "D7": 9000}) is True


def test_division_stays_guarded_inside_a_non_short_circuiting_and() -> None:
    # A chain renders as AND(), which evaluates every term: only the guard keeps #DIV/0! away.
    formula = parse("0 < activities < public_offline / activities").to_excel(ref)
    assert formula.startswith("AND(")
    assert xl_eval(formula, {}) is False


def test_detail_names_use_the_given_references() -> None:
    formula = parse("detail_rows != activities and detail_sum(offline) > 0").to_excel(ref, detail_ref)
    assert formula == "IF(Z1<>IF(ISNUMBER(D5),D5,0),Z2>0,FALSE)"


def test_detail_names_without_a_detail_table_are_an_error() -> None:
    with pytest.raises(RuleError) as info:
        parse("detail_rows > 0").to_excel(ref)
    assert str(info.value) == "此表没有明细表，不能使用 detail_rows / detail_sum"


# -- the two renderings agree --------------------------------------------------------------------------------

AGREEING = [
    "activities > 0 and staff_total == 0",
    "public_offline + public_online > 0 and activities == 0",
    "activities > 0 and public_offline / activities > 5000",
    "activities == 0 or public_offline / activities > 50",
    "not (activities > 0 or staff_total > 0)",
    "0 < activities <= staff_total < 100",
    "abs(activities - staff_total) > 2 * min(activities, staff_total)",
    "sum(activities, staff_total, fund_total) >= max(public_offline, 1) - 3",
    "-activities + fund_total / 4 < 1.5",
    "detail_rows != activities",
    "detail_sum(offline) > public_offline or detail_sum(reports) < 1",
]
BUNDLED_RULES = [r.when for r in spec.load(spec.bundled_dir() / "science_week.toml").rules]
maybe_number = st.one_of(st.none(), st.integers(0, 12_000), st.sampled_from([0.5, 1.25, 2.0]))


@settings(max_examples=150, deadline=None)
@given(
    values=st.fixed_dictionaries({name: maybe_number for name in sorted(NAMES)}),
    rows=st.integers(0, 12),
    offline=st.integers(0, 12_000),
    reports=st.integers(0, 3),
)
def test_python_and_excel_agree(values: dict, rows: int, offline: int, reports: int) -> None:
    stats = DetailStats(rows=rows, sums={"offline": float(offline), "reports": float(reports)})
    for text in AGREEING:
        expr = parse(text)
        assert bool(expr.evaluate(values, stats)) == excel_says(expr, values, stats), text


BUNDLED_NAMES = sorted({name for expr in BUNDLED_RULES for name in expr.names})


@settings(max_examples=150, deadline=None)
@given(values=st.fixed_dictionaries({name: maybe_number for name in BUNDLED_NAMES}), rows=st.integers(0, 12))
def test_bundled_rules_agree_in_python_and_excel(values: dict, rows: int) -> None:
    cells = {name: f"A{n}" for n, name in enumerate(sorted(values), start=1)}
    sheet = {cells[k]: v for k, v in values.items()} | {"Z1": rows}
    for expr in BUNDLED_RULES:
        formula = expr.to_excel(cells.__getitem__, lambda column: "Z1")
        python = bool(expr.evaluate(values, DetailStats(rows=rows)))
        assert python == _truthy(xl_eval(formula, sheet)), (expr.text, formula)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # "filled in one but not the other": both filled, so Python says no; Excel and LibreOffice say yes
        ("(public_offline > 0) != (activities > 0)", {"public_offline": 100, "activities": 5}),
        # exactly one of two filled: Python says yes; Excel reads D5 > (0+D9) > 0, then TRUE=1 is FALSE
        ("(activities > 0) + (staff_total > 0) == 1", {"activities": 5, "staff_total": 0}),
    ],
)
def test_comparison_as_an_operand_keeps_its_parentheses(text: str, values: dict) -> None:
    expr = parse(text)
    assert bool(expr.evaluate(values)) == excel_says(expr, values, DetailStats())


def test_constants_render_as_excel_numbers() -> None:
    assert parse("activities > 1e20").to_excel(ref) == "IF(ISNUMBER(D5),D5,0)>1e+20"
    assert xl_eval("IF(ISNUMBER(D5),D5,0)>1e+20", {"D5": 1}) is False
    assert parse("activities > 1_000").to_excel(ref) == "IF(ISNUMBER(D5),D5,0)>1000"
    assert math.isclose(xl_eval(parse("fund_total * 0.0001").to_excel(ref), {"D6": 5}), 0.0005)
