"""`kepuxl remind`: what a reminder says matches what it carries, in the house's words (issues 12, 13).

The sample county with its returned forms (conftest.init_sample) gives missing and rejected units.
"""

from __future__ import annotations

from kepu_xl import mail
from kepu_xl.findings import Code, Finding, Severity


def test_problem_lines_use_the_one_word_per_severity() -> None:
    lines = [
        mail._problem_line(Finding.make(Code.AUDIT_RULE, sheet="表", cell="C7", message="有误", severity=s))
        for s in Severity
    ]
    assert lines == [
        "【错误】有误（表!C7）",
        "【待核实】有误（表!C7）",
        "【警告】有误（表!C7）",
        "【提示】有误（表!C7）",
    ]
