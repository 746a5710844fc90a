"""The verdict on each kind of entry in a number cell, decided once (audit.parse_number/check_number).

collect judges a returned cell with these two functions; the form's hidden state cells compute the same
state with formulas (checked in real LibreOffice and Gnumeric by test_form_verdicts.py), and a feedback
form saves the state `forms_writer.value_state` derives from them. This table is the README's list.
"""

from __future__ import annotations

from typing import Any

import pytest

from kepu_xl import audit
from kepu_xl.findings import Severity
from kepu_xl.forms_writer import value_state
from kepu_xl.layout import Cell
from kepu_xl.reader import Raw
from kepu_xl.spec import Field

PEOPLE = Field("staff", "科普专职人员数量", "人", "integer", "staff")
FUNDS = Field("fund", "企业赞助经费情况", "万元", "decimal", "funding", places=4, max=100000)
AT = Cell("统计表", 10, 3)

# (cell content, kind as the reader returns it, formula) → (value counted, code, severity, the form's state)
ENTRIES: list[tuple[Any, str, str, Field, float | None, str | None, str]] = [
    (12, "n", "", PEOPLE, 12.0, None, ""),
    ("１２００", "s", "", PEOPLE, None, "AUDIT_NUMBER_AS_TEXT", "✗ 请填数字"),  # full-width, pasted as text
    ("1,200", "s", "", PEOPLE, None, "AUDIT_NUMBER_AS_TEXT", "✗ 请填数字"),
    (" 12 ", "s", "", PEOPLE, None, "AUDIT_NUMBER_AS_TEXT", "✗ 请填数字"),
    ("-", "s", "", PEOPLE, 0.0, "AUDIT_DASH_ZERO", "按 0 计"),
    ("无", "s", "", PEOPLE, 0.0, "AUDIT_DASH_ZERO", "按 0 计"),
    ("\u3000——\u00a0", "s", "", PEOPLE, 0.0, "AUDIT_DASH_ZERO", "按 0 计"),
    ("－－", "s", "", PEOPLE, 0.0, "AUDIT_DASH_ZERO", "按 0 计"),
    ("-\t", "s", "", PEOPLE, None, "AUDIT_UNPARSED", "✗ 请填数字"),  # a tab: the form cannot see past it
    ("—-", "s", "", PEOPLE, None, "AUDIT_UNPARSED", "✗ 请填数字"),
    ("约300", "s", "", PEOPLE, None, "AUDIT_UNPARSED", "✗ 请填数字"),
    ("12次", "s", "", PEOPLE, None, "AUDIT_UNPARSED", "✗ 请填数字"),
    ("300-400", "s", "", PEOPLE, None, "AUDIT_UNPARSED", "✗ 请填数字"),
    (-5, "n", "", PEOPLE, -5.0, "AUDIT_NEGATIVE", "✗ 不能为负"),
    (1.5, "n", "", PEOPLE, 1.5, "AUDIT_NOT_INTEGER", "✗ 应为整数"),
    (1.23456, "n", "", FUNDS, 1.23456, "AUDIT_DECIMALS", "✗ 小数过多"),
    (20_000_000, "n", "", PEOPLE, 20_000_000.0, "AUDIT_OUT_OF_RANGE", "✗ 超出范围"),
    (None, "", "", PEOPLE, None, None, "✗ 未填写"),
    ("  ", "s", "", PEOPLE, None, None, "✗ 未填写"),
    (3, "f", "1+2", PEOPLE, 3.0, "AUDIT_FORMULA_VALUE", ""),  # a formula: its saved result counts
    (None, "f", "1+2", PEOPLE, None, "AUDIT_UNPARSED", ""),  # …none saved (openpyxl): not a number
    ("#N/A", "e", "", PEOPLE, None, "AUDIT_CELL_ERROR", "✗ 请填数字"),
]


@pytest.mark.parametrize(("raw", "kind", "formula", "field", "value", "code", "state"), ENTRIES)
def test_each_entry_has_one_verdict(
    raw: Any, kind: str, formula: str, field: Field, value: float | None, code: str | None, state: str
) -> None:
    parsed = audit.parse_number(Raw(raw, kind, AT, formula))
    problem = audit.check_number(parsed.value, field) if parsed.value is not None else None
    found = problem[0] if problem else parsed.code
    assert (parsed.value, found.name if found else None) == (value, code)
    # the form's verdict is collect's: an error exactly when the state says ✗ (blank: AUDIT_REQUIRED)
    is_error = (found is not None and found.severity is Severity.ERROR) or (value is None and code is None)
    if kind != "f":  # a feedback form is prefilled with a formula's result, not the formula
        assert value_state(field, raw) == state
        assert state.startswith("✗") == is_error


def test_text_that_reads_as_a_number_names_the_number_to_retype() -> None:
    parsed = audit.parse_number(Raw("１２００", "s", AT))
    assert parsed.context == {"raw": "１２００", "value": "1200"}


def test_the_forms_zero_words_can_be_found_in_a_formula() -> None:
    # forms_writer finds a word with FIND("|"&text&"|", "|-|--|…|") after turning "|" into "#"
    assert all(word and not set(word) & {"|", "#"} for word in audit.ZERO_WORDS)
    assert all(space.isspace() for space in audit.ZERO_SPACES)


# -- audit.parse_number alone: what each kind of entry parses to ------------------------------------------

# (cell content, kind as the reader returns it) → (value counted, code, the number the message names)
PARSED: list[tuple[Any, str, float | None, str | None, str | None]] = [
    # full-width digits, signs and points (NFKC): text, never counted; the message names the number
    ("１２００", "s", None, "AUDIT_NUMBER_AS_TEXT", "1200"),
    ("１.５", "s", None, "AUDIT_NUMBER_AS_TEXT", "1.5"),
    ("－１２", "s", None, "AUDIT_NUMBER_AS_TEXT", "-12"),
    # thousands separators: only well-formed groups read as one number
    ("1,200", "s", None, "AUDIT_NUMBER_AS_TEXT", "1200"),
    ("1，200", "s", None, "AUDIT_NUMBER_AS_TEXT", "1200"),  # a Chinese comma
    ("12,345,678.5", "s", None, "AUDIT_NUMBER_AS_TEXT", "12345678.5"),
    ("12,00", "s", None, "AUDIT_UNPARSED", None),
    ("1,2,3", "s", None, "AUDIT_UNPARSED", None),
    # spaces (ASCII, ideographic, no-break) around or inside
    (" 12 ", "s", None, "AUDIT_NUMBER_AS_TEXT", "12"),
    ("\u3000１２\u3000", "s", None, "AUDIT_NUMBER_AS_TEXT", "12"),
    ("12\u00a0", "s", None, "AUDIT_NUMBER_AS_TEXT", "12"),
    ("1 200", "s", None, "AUDIT_NUMBER_AS_TEXT", "1200"),
    # invisible characters pasted with the number: zero-width space, BOM, soft hyphen
    ("1\u200b200", "s", None, "AUDIT_NUMBER_AS_TEXT", "1200"),
    ("\ufeff12", "s", None, "AUDIT_NUMBER_AS_TEXT", "12"),
    ("1\u00ad2", "s", None, "AUDIT_NUMBER_AS_TEXT", "12"),
    # approximations: 约/余/多/左右 are never a number
    ("约300", "s", None, "AUDIT_UNPARSED", None),
    ("300余", "s", None, "AUDIT_UNPARSED", None),
    ("300多", "s", None, "AUDIT_UNPARSED", None),
    ("300左右", "s", None, "AUDIT_UNPARSED", None),
    # ranges
    ("300-400", "s", None, "AUDIT_UNPARSED", None),
    ("300～400", "s", None, "AUDIT_UNPARSED", None),
    ("300至400", "s", None, "AUDIT_UNPARSED", None),
    # Chinese numerals
    ("三百", "s", None, "AUDIT_UNPARSED", None),
    ("十二", "s", None, "AUDIT_UNPARSED", None),
    ("壹佰", "s", None, "AUDIT_UNPARSED", None),
    # units and other words after the number
    ("12次", "s", None, "AUDIT_UNPARSED", None),
    ("5万元", "s", None, "AUDIT_UNPARSED", None),
    ("12%", "s", None, "AUDIT_UNPARSED", None),
    # exponents: a number cell holds the number; as text they are not a plain number to retype
    (1e3, "n", 1000.0, None, None),
    ("1e3", "s", None, "AUDIT_UNPARSED", None),
    ("1E+400", "s", None, "AUDIT_UNPARSED", None),
    # NaN and infinities, as text or saved into a number cell: never a count
    ("NaN", "s", None, "AUDIT_UNPARSED", None),
    ("INF", "s", None, "AUDIT_UNPARSED", None),
    ("-Infinity", "s", None, "AUDIT_UNPARSED", None),
    (float("nan"), "n", None, "AUDIT_UNPARSED", None),
    (float("inf"), "n", None, "AUDIT_UNPARSED", None),
    (float("nan"), "f", None, "AUDIT_UNPARSED", None),  # a formula's saved #NUM! as NaN: no number
    # the other kinds of cell
    (-0.0, "n", 0.0, None, None),
    (True, "b", None, "AUDIT_UNPARSED", None),
    ("#DIV/0!", "e", None, "AUDIT_CELL_ERROR", None),
    ("0", "s", None, "AUDIT_NUMBER_AS_TEXT", "0"),
    ("没有", "s", None, "AUDIT_UNPARSED", None),  # only the dashes and 无 mean 0
]


@pytest.mark.parametrize(("raw", "kind", "value", "code", "names"), PARSED)
def test_parse_number_table(
    raw: Any, kind: str, value: float | None, code: str | None, names: str | None
) -> None:
    parsed = audit.parse_number(Raw(raw, kind, AT, "1+2" if kind == "f" else ""))
    assert (repr(parsed.value), parsed.code.name if parsed.code else None) == (repr(value), code)  # -0.0 too
    assert parsed.context.get("value") == names
    if code is not None and code != "AUDIT_CELL_ERROR":
        assert parsed.context["raw"]  # the message quotes what the unit typed
