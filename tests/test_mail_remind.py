"""`kepuxl remind`: what a reminder says matches what it carries, in the house's words (issues 12, 13).

The sample county with its returned forms (conftest.init_sample) gives missing and rejected units.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime
from pathlib import Path

import pytest
from conftest import init_sample
from test_mail import configure

from kepu_xl import mail, make
from kepu_xl.findings import Code, Finding, Severity

NOW = datetime(2023, 5, 31, 9, 0)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_sample(tmp_path / "青溪县", with_returns=True) / make.CONFIG_NAME
    configure(config, pause=0, timeout=10)
    return config


def test_a_reminder_names_exactly_the_file_it_carries(config: Path) -> None:
    report = mail.make_reminders(config, now=NOW)
    statuses = {d["status"] for d in report.drafts}
    assert statuses == {"missing", "rejected"}
    for draft in report.drafts:
        msg = email.message_from_bytes(Path(draft["file"]).read_bytes(), policy=email.policy.default)
        attached = [p.get_filename() for p in msg.walk() if p.get_filename()]
        body = msg.get_body(("plain",)).get_content()
        named = set(re.findall(r"《([^《》]+\.xlsx)》", body))
        assert named == set(attached), (draft["unit"], named, attached)
        if draft["status"] == "rejected":
            assert attached == [f"2023年科技活动周开展情况统计表（{draft['unit']}）_反馈.xlsx"]


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
