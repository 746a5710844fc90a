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
