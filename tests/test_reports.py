"""The jobs' reports as types (issue 14): make-forms' and mail drafts' reports share one base and keep their
`--json` shape; a file's outcome is an enum written as the contract's strings."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from conftest import init_sample

from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME
from kepu_xl.findings import Code, Finding, Findings, Report, dumps
from kepu_xl.mail import DraftsReport
from kepu_xl.make import FormsReport
from kepu_xl.results import OUTCOMES, Outcome

NOTE = Finding.make(Code.ROSTER_INVISIBLE, row=3, column="单位名称", chars="U+200B", value="城关街道")


def test_forms_and_drafts_reports_share_a_base_and_keep_their_json() -> None:
    forms = FormsReport("2023年科技活动周", Path("output/forms"), findings=Findings([NOTE]))
    forms.forms = [{"unit_id": "T01", "file": "01_城关街道.xlsx", "status": "new"}]
    forms.removed = ["09_旧单位.xlsx"]
    drafts = DraftsReport("2023年科技活动周", Path("output/邮件/统计表"), "form", findings=Findings([NOTE]))
    drafts.drafts = [{"unit_id": "T01", "file": "01_城关街道.eml"}]
    assert isinstance(forms, Report) and isinstance(drafts, Report)
    note = NOTE.to_dict()
    # the keys and their order are the commands' --json as they were before the base existed
    assert json.loads(dumps(forms.to_dict())) == {
        "campaign": "2023年科技活动周",
        "outdir": "output/forms",
        "counts": {"new": 1, "replaced": 0, "unchanged": 0, "removed": 1},
        "forms": [{"unit_id": "T01", "file": "01_城关街道.xlsx", "status": "new"}],
        "removed": ["09_旧单位.xlsx"],
        "findings": [note],
    }
    assert list(forms.to_dict()) == ["campaign", "outdir", "counts", "forms", "removed", "findings"]
    assert json.loads(dumps(drafts.to_dict())) == {
        "campaign": "2023年科技活动周",
        "outdir": "output/邮件/统计表",
        "kind": "form",
        "drafts": [{"unit_id": "T01", "file": "01_城关街道.eml"}],
        "findings": [note],
    }
    assert list(drafts.to_dict()) == ["campaign", "outdir", "kind", "drafts", "findings"]
    # ok: no finding is an error (a warning is not)
    assert forms.ok and drafts.ok
    drafts.findings.add(Code.MAIL_UNSAFE_TEXT, name="白沙镇", id="T05", column="联系人", chars="\\n")
    assert not drafts.ok


def test_a_files_outcome_is_an_enum_written_as_the_contracts_strings(tmp_path: Path) -> None:
    contract = "used|superseded|duplicate|rejected|unidentified|ignored"  # DESIGN.md, README
    assert [str(o) for o in OUTCOMES] == contract.split("|")
    assert [o.zh for o in Outcome] == ["采用", "已被替代", "重复", "退回", "无法识别", "其他材料"]
    folder = init_sample(tmp_path / "县", with_returns=True)
    report = collect(folder / "inbox", folder / CONFIG_NAME, write=False, now=datetime(2023, 6, 1))
    assert report.files and all(isinstance(f.outcome, Outcome) for f in report.files)
    written = json.loads(dumps(report.to_dict()))["files"]
    assert [f["outcome"] for f in written] == [f.outcome.value for f in report.files]
    assert {f["outcome"] for f in written} <= set(OUTCOMES)
    assert {f["outcome"] for f in written} >= {"used", "rejected"}
