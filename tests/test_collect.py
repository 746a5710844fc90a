"""collect on the sample county's inbox: every injected problem at its cell, statuses, totals, safety."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import GOLDEN_DIR, init_sample
from helpers import compare_xlsx

from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.init import init_campaign
from kepu_xl.make import make_forms

NOW = datetime(2023, 6, 5, 9, 0)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("county")
    init_campaign(folder, with_returns=True)
    return folder


@pytest.fixture(scope="module")
def report(county: Path):
    return collect(county / "inbox", county / "kepuxl.toml", now=NOW, write=False)


def _inbox_state(inbox: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in inbox.iterdir()
    }


def unit_rows(report, unit_id: str) -> list[list[str]]:
    u = next(u for u in report.units if u.unit.id == unit_id)
    return [[f.code.name, f.cell] for f in u.findings]


def test_statuses_of_the_sample_county(report):
    status = {u.unit.id: u.status for u in report.units}
    assert report.counts == {
        "accepted": 13,
        "warnings": 3,
        "pending": 1,
        "rejected": 7,
        "missing": 2,
        "expected": 26,
        "reported": 24,
        "late": 1,
        "maybe_late": 1,
    }
    assert [k for k, v in status.items() if v == "pending"] == ["T06"]  # 50,000 万元: 待核实
    assert [k for k, v in status.items() if v == "missing"] == ["D12", "D14"]
    assert sorted(k for k, v in status.items() if v == "rejected") == [
        "D04",
        "D08",
        "T03",
        "T04",
        "T05",
        "T07",
        "T09",
    ]


@pytest.mark.parametrize(
    ("unit_id", "expected"),
    [
        ("T03", [["AUDIT_UNPARSED", "D7"]]),  # 约300 in fund_enterprise
        ("T04", [["AUDIT_UNPARSED", "D5"], ["AUDIT_UNPARSED", "D17"]]),  # 12次, 三百
        # "１５", "1,200", " 2 " as text: the form's totals cannot count them, so they are errors too
        (
            "T05",
            [
                ["AUDIT_NUMBER_AS_TEXT", "D13"],
                ["AUDIT_NUMBER_AS_TEXT", "D16"],
                ["AUDIT_NUMBER_AS_TEXT", "D18"],
            ],
        ),
        ("T06", [["AUDIT_RULE", "D6"]]),  # 50000 万元: the one fund cell over 500 (待核实)
        ("T07", [["AUDIT_RULE", "D16"]]),  # participants with 0 activities: error at the first field named
        ("T09", [["AUDIT_NEGATIVE", "D11"], ["AUDIT_NOT_INTEGER", "D14"]]),
        ("T10", [["AUDIT_DASH_ZERO", "D20"], ["AUDIT_DASH_ZERO", "D21"]]),
        ("D03", [["RESOLVE_LATE", ""]]),  # the e-mail was sent after the deadline
        ("D11", [["RESOLVE_MAYBE_LATE", ""]]),  # only the file was saved after it
        ("D04", [["ID_MISMATCH", "B2"]]),
        ("D07", [["AUDIT_RULE", "D19"]]),
        ("D08", [["AUDIT_UNPARSED", "D16"]]),  # 300-400
        ("D12", [["RESOLVE_MISSING", ""]]),
    ],
)
def test_each_injected_problem_at_its_cell(report, unit_id, expected):
    assert unit_rows(report, unit_id) == expected


def test_messages_quote_the_raw_text_and_never_a_silent_zero(report):
    t03 = next(u for u in report.units if u.unit.id == "T03")
    assert "“约300”" in t03.findings[0].message
    assert t03.values["fund_enterprise"] is None
    assert not t03.counted


def test_explained_verify_is_counted_with_a_warning(report):
    # 6,000 participants a activity is 待核实; the unit explained it in 情况说明: counted, still shown
    t08 = next(u for u in report.units if u.unit.id == "T08")
    assert t08.status == "warnings" and t08.counted
    (rule,) = [f for f in t08.findings if f.code.name == "AUDIT_RULE"]
    assert (rule.severity, rule.cell) == ("warning", "D5")
    assert rule.message.startswith("【已说明】") and "单位说明：5月20日科技广场主题展" in rule.message


def test_pending_unit_stays_out_of_the_totals(report):
    t06 = next(u for u in report.units if u.unit.id == "T06")
    assert t06.status == "pending" and not t06.counted
    assert [f.severity for f in t06.findings] == ["verify"]
    assert report.totals["fund_government"] < 100  # not the 5 亿 of 白沙镇's 50,000 万元
    assert report.pending_totals["fund_government"] == 50000
    assert report.pending_totals["activities"] == t06.values["activities"]


def test_totals_are_the_sum_over_counted_units(report):
    counted = [u for u in report.units if u.counted]
    assert len(counted) == 16
    for field_id, total in report.totals.items():
        assert total == pytest.approx(sum(u.values[field_id] or 0 for u in counted))
    fund = report.totals
    assert fund["fund_total"] == pytest.approx(
        fund["fund_government"] + fund["fund_enterprise"] + fund["fund_in_kind"] + fund["fund_other"]
    )


def test_resubmission_duplicate_and_other_files(report):
    outcome = {f.path: f.outcome for f in report.files}
    assert outcome["县教育局-统计表（初稿）.xlsx"] == "superseded"
    assert outcome["县教育局-统计表（修改后）.xlsx"] == "used"
    assert outcome["县科协-统计表(1).xlsx"] == "duplicate"
    assert outcome["城关街道-活动照片1.jpg"] == "ignored"
    d01 = next(u for u in report.units if u.unit.id == "D01")
    changed = {c.field_id: (c.old, c.new) for c in d01.changes}
    assert changed["public_offline"][0] == 450
    assert "fund_government" in changed


def test_no_identity_falls_back_to_the_name_with_a_warning(report):
    assert unit_rows(report, "D06")[0] == ["ID_NO_IDENTITY", "B2"]


def test_idempotent_and_inbox_untouched(county: Path, report):
    before = _inbox_state(county / "inbox")
    again = collect(county / "inbox", county / "kepuxl.toml", now=NOW, write=False)
    assert json.dumps(again.to_dict(), default=str) == json.dumps(report.to_dict(), default=str)
    assert _inbox_state(county / "inbox") == before


def test_cli_collect_writes_summary_feedback_and_json(tmp_path: Path):
    folder = tmp_path / "c"
    init_campaign(folder, with_returns=True)
    make_forms(folder / "kepuxl.toml")
    before = _inbox_state(folder / "inbox")
    result = CliRunner().invoke(
        cli, ["collect", str(folder / "inbox"), "-c", str(folder / "kepuxl.toml"), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"]["missing"] == 2
    assert {u["status"] for u in data["units"]} == {"accepted", "warnings", "pending", "rejected", "missing"}
    summary = Path(data["outputs"]["summary"])
    assert summary.name == "2023年科技活动周_汇总.xlsx" and summary.stat().st_size > 0
    assert len(data["outputs"]["feedback_files"]) == 11  # rejected + pending + warnings units
    feedback = {u["unit_id"]: u["feedback"] for u in data["units"] if u["feedback"]}
    assert sorted(feedback.values()) == sorted(data["outputs"]["feedback_files"])
    assert all(u["status"] in ("rejected", "pending", "warnings") for u in data["units"] if u["feedback"])
    assert _inbox_state(folder / "inbox") == before
    strict = CliRunner().invoke(
        cli, ["collect", str(folder / "inbox"), "-c", str(folder / "kepuxl.toml"), "--strict"]
    )
    assert strict.exit_code == 1
    assert "未报 2" in strict.output


# -- golden summary ------------------------------------------------------------------------------------

GOLDEN_SUMMARY = GOLDEN_DIR / "summary_青溪县.xlsx"


def test_summary_matches_the_golden_file(tmp_path: Path, update_golden: bool) -> None:
    # The sample county with its fixed key gives byte-identical returns, so the whole summary is
    # reproducible; compared part by part, as XlsxWriter compares its files with Excel's.
    county = init_sample(tmp_path / "青溪县", with_returns=True)
    report = collect(county / "inbox", county / "kepuxl.toml", tmp_path / "out", now=NOW)
    got = Path(report.outputs["summary"]).read_bytes()
    if update_golden:
        GOLDEN_SUMMARY.write_bytes(got)
    assert GOLDEN_SUMMARY.exists(), (
        "no golden summary yet: run `python3 -m pytest --update-golden` and review it"
    )
    assert compare_xlsx(got, GOLDEN_SUMMARY) == []


def test_outputs_written_by_worker_processes_are_those_written_in_process(tmp_path, monkeypatch):
    # A province's run writes its feedback forms in a worker while another builds the summary; the
    # files must be exactly those of a run that writes everything itself (the golden summary's bytes).
    import kepu_xl.collection as collect_mod

    county = init_sample(tmp_path / "青溪县", with_returns=True)
    serial = collect(county / "inbox", county / "kepuxl.toml", tmp_path / "serial", now=NOW)
    monkeypatch.setattr(collect_mod, "PARALLEL_FEEDBACK", 1)
    monkeypatch.setattr(collect_mod, "FEEDBACK_CHUNK", 2)
    pooled = collect(county / "inbox", county / "kepuxl.toml", tmp_path / "pooled", now=NOW)
    assert len(serial.outputs["feedback_files"]) >= 6  # three feedback chunks beside the summary
    names = [Path(p).name for p in serial.outputs["feedback_files"]]
    assert [Path(p).name for p in pooled.outputs["feedback_files"]] == names
    assert [Path(u.feedback).name if u.feedback else "" for u in pooled.units] == [
        Path(u.feedback).name if u.feedback else "" for u in serial.units
    ]
    for name in names:
        assert (
            compare_xlsx(
                (tmp_path / "pooled" / "反馈" / name).read_bytes(), tmp_path / "serial" / "反馈" / name
            )
            == []
        ), name
    assert compare_xlsx(Path(pooled.outputs["summary"]).read_bytes(), GOLDEN_SUMMARY) == []
    # the ledger, written meanwhile by this process, holds both runs once each
    with contextlib.closing(sqlite3.connect(pooled.outputs["ledger"])) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)


def test_materials_sent_with_the_forms_are_counted(report):
    # the sample inbox holds 城关街道's photo and 县教育局's stamped scan beside their forms
    materials = {u.unit.id: u.materials for u in report.units if any(u.materials.values())}
    assert materials == {
        "T01": {"photos": 1, "summary": 0, "scan": 0, "videos": 0, "media": 0},
        "D01": {"photos": 0, "summary": 0, "scan": 1, "videos": 0, "media": 0},
    }
    assert next(u for u in report.units if u.unit.id == "T01").materials_text == "活动照片 1"


def test_required_materials_short_are_warnings_that_keep_the_status(tmp_path: Path):
    county = tmp_path / "c"
    config = init_campaign(county, with_returns=True)
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[materials]\nphotos = 4\nscan = 1\n", encoding="utf-8"
    )
    before = collect(county / "inbox", config, now=NOW, write=False)
    t01 = next(u for u in before.units if u.unit.id == "T01")
    short = [f.message for f in t01.findings if f.code.name == "MATERIAL_MISSING"]
    assert short == [
        "活动照片应至少 4 张，收到 1 张。请提醒该单位补报。",
        "盖章扫描件应至少 1 份，收到 0 份。请提醒该单位补报。",
    ]
    assert t01.materials_text == "活动照片 1/4，盖章扫描件 0/1"
    assert t01.status == "accepted"  # a missing photo is for the reminder, not a rejection
    missing = next(u for u in before.units if u.unit.id == "D12")
    assert [f.code.name for f in missing.findings] == ["RESOLVE_MISSING"]
