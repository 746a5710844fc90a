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
from mailservers import (  # noqa: F401 (fixtures)
    Certs,
    SmtpServer,
    certs_fixture,
    smtp_server_fixture,
)
from test_mail import configure, use_smtp

from kepu_xl import mail, remind
from kepu_xl.context import CONFIG_NAME
from kepu_xl.findings import Code, Finding, KepuError, Severity

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # inside aiosmtpd

NOW = datetime(2023, 5, 31, 9, 0)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_sample(tmp_path / "青溪县", with_returns=True) / CONFIG_NAME
    configure(config, pause=0, timeout=10)
    return config


def test_a_reminder_names_exactly_the_file_it_carries(config: Path) -> None:
    report = remind.make_reminders(config, now=NOW)
    statuses = {d["status"] for d in report.drafts}
    assert statuses == {"missing", "rejected", "pending"}
    for draft in report.drafts:
        msg = email.message_from_bytes(Path(draft["file"]).read_bytes(), policy=email.policy.default)
        attached = [p.get_filename() for p in msg.walk() if p.get_filename()]
        body = msg.get_body(("plain",)).get_content()
        named = set(re.findall(r"《([^《》]+\.xlsx)》", body))
        assert named == set(attached), (draft["unit"], named, attached)
        if draft["status"] in ("rejected", "pending"):
            assert attached == [f"2023年科技活动周开展情况统计表（{draft['unit']}）_反馈.xlsx"]
        if draft["status"] == "pending":  # 白沙镇's 50,000 万元: check it, or explain it in 情况说明
            assert draft["unit"] == "白沙镇" and "【数据核实】" in draft["subject"]
            assert "【待核实】" in body and "情况说明" in body


def test_problem_lines_use_the_one_word_per_severity() -> None:
    lines = [
        remind._problem_line(Finding.make(Code.AUDIT_RULE, sheet="表", cell="C7", message="有误", severity=s))
        for s in Severity
    ]
    assert lines == [
        "【错误】有误（表!C7）",
        "【待核实】有误（表!C7）",
        "【警告】有误（表!C7）",
        "【提示】有误（表!C7）",
    ]


def test_the_reminder_folder_is_one_set(config: Path, smtp_server: SmtpServer, certs: Certs) -> None:
    use_smtp(config, smtp_server, certs)
    report = remind.make_reminders(config, now=NOW)
    outdir = report.outdir
    files = sorted(p.name for p in outdir.glob("*.eml"))
    assert files == sorted(Path(d["file"]).name for d in report.drafts) and len(files) > 3
    assert (outdir / mail.MANIFEST).is_file()
    # reminding again the same day replaces the set as a whole: a unit no longer due loses its draft
    stale = outdir / "99_已报单位.eml"
    stale.write_bytes(Path(report.drafts[0]["file"]).read_bytes())
    (outdir / "说明.txt").write_text("clerk's note", encoding="utf-8")  # ... but never the clerk's files
    with pytest.raises(KepuError) as info:
        remind.make_reminders(config, now=NOW)
    assert info.value.findings[0].code is Code.MAIL_DRAFTS_FOLDER
    (outdir / "说明.txt").unlink()
    again = remind.make_reminders(config, now=NOW)
    assert sorted(p.name for p in outdir.glob("*.eml")) == files and not stale.exists()
    assert [d["file"] for d in again.drafts] == [d["file"] for d in report.drafts]
    # a set missing a draft is not sent at all
    Path(again.drafts[-1]["file"]).unlink()
    with pytest.raises(KepuError) as info:
        mail.send_drafts(config, outdir, password=smtp_server.password)
    assert info.value.findings[0].code is Code.MAIL_DRAFTS_INCOMPLETE
    assert smtp_server.received == [] and smtp_server.logins == 0
