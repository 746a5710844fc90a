"""待核实 before totals: verify rules, explanations in 情况说明, kepuxl confirm, and what the clerk reads.

Runs on the sample county (白沙镇 returns 50,000 万元 where 50,000 元 was meant) with real returns
filled by openpyxl, real collect runs and the real ledger.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import init_sample
from openpyxl import load_workbook

from kepu_xl import confirmation as confirm_mod
from kepu_xl.audit import explains
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.ledger import Ledger, ledger_path
from kepu_xl.sample_returns import fill, values_for

NOW = datetime(2023, 6, 5, 9, 0)
LATER = datetime(2023, 6, 6, 10, 0)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return init_sample(tmp_path / "青溪县", with_returns=True)


def unit_of(report, name: str):
    return next(u for u in report.units if u.unit.name == name)


def put(inbox: Path, name: str, data: bytes, when: datetime) -> Path:
    path = inbox / name
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


@pytest.mark.parametrize(
    ("note", "counts"),
    [
        ("", False),
        ("无", False),
        ("  没有。 ", False),
        ("暂无", False),
        ("略", False),
        ("——", False),
        ("见附件", False),
        ("确为万元", True),  # four characters that say something
        ("5月20日科技广场主题展，单场参与群众约 2.8 万人次。", True),
        ("经费是县财政拨付的专项资金50000万元", True),
    ],
)
def test_what_counts_as_an_explanation(note: str, counts: bool) -> None:
    assert explains(note) is counts


def test_the_confirm_loop(county: Path) -> None:
    config = county / "kepuxl.toml"
    first = collect(county / "inbox", config, now=NOW)
    t06 = unit_of(first, "白沙镇")
    assert t06.status == "pending" and t06.confirmation is None
    assert first.totals["fund_government"] == pytest.approx(72.81)
    assert first.pending_totals["fund_government"] == 50000

    done = confirm_mod.confirm(config, ["白沙镇"], "电话核实，确为5万元", now=LATER)
    (item,) = done.items
    assert item.outcome == "confirmed" and item.file == t06.file
    assert item.confirmation.sha256 == next(f.sha256 for f in first.files if f.path == t06.file)

    second = collect(county / "inbox", config, now=LATER)
    t06 = unit_of(second, "白沙镇")
    assert t06.status == "warnings" and t06.counted
    assert t06.confirmation is not None and t06.confirmation.note == "电话核实，确为5万元"
    codes = [(f.code.name, f.severity) for f in t06.findings]
    assert codes == [("AUDIT_RULE", "warning"), ("RESOLVE_CONFIRMED", "info")]
    assert t06.findings[0].message.startswith("【已核实】")
    assert "电话核实，确为5万元" in t06.findings[1].message
    assert second.totals["fund_government"] == pytest.approx(50072.81)
    assert second.pending_totals["fund_government"] == 0
    data = second.to_dict()
    unit = next(u for u in data["units"] if u["unit"] == "白沙镇")
    assert unit["confirmation"] == {
        "at": "2023-06-06T10:00:00",
        "note": "电话核实，确为5万元",
        "sha256": item.confirmation.sha256,
    }

    # the unit sends a new return (still 50,000): the confirmation was for the old content
    ctx = Context.load(config)
    unit_row = ctx.campaign.unit_by_name("白沙镇")
    values = values_for(unit_row.seq, {"fund_government": 50000, "media_reports": 9})
    put(county / "inbox", "白沙镇-重报.xlsx", fill(ctx, unit_row.id, values, detail_rows=3), LATER)
    third = collect(county / "inbox", config, now=LATER)
    t06 = unit_of(third, "白沙镇")
    assert t06.status == "pending" and t06.confirmation is None
    (void,) = [f for f in t06.findings if f.code.name == "RESOLVE_CONFIRM_VOID"]
    assert "白沙镇-科技活动周统计表.xlsx" in void.message
    assert next(f.severity for f in t06.findings if f.code.name == "AUDIT_RULE") == "verify"


def test_undo_and_list(county: Path) -> None:
    config = county / "kepuxl.toml"
    collect(county / "inbox", config, now=NOW, write=False)  # write=False: nothing staged in the ledger
    refused = confirm_mod.confirm(config, ["白沙镇"], "核实", now=LATER)
    assert [i.outcome for i in refused.items] == ["refused"]  # no run recorded yet
    assert [f.code.name for f in refused.findings] == ["CONFIRM_NO_RETURN"]

    collect(county / "inbox", config, now=NOW)
    confirm_mod.confirm(config, ["T06"], "电话核实", now=LATER)  # a unit id works too
    assert [(u.name, c.note) for u, c in confirm_mod.standing(config).standing] == [("白沙镇", "电话核实")]
    undone = confirm_mod.undo(config, ["白沙镇"], now=LATER)
    assert [i.outcome for i in undone.items] == ["undone"] and undone.standing == []
    assert unit_of(collect(county / "inbox", config, now=LATER), "白沙镇").status == "pending"
    again = confirm_mod.undo(config, ["白沙镇"], now=LATER)
    assert [f.code.name for f in again.findings] == ["CONFIRM_NOT_FOUND"]
    with Ledger(ledger_path(county / ".kepuxl")) as ledger:  # the withdrawn one is kept, with its time
        rows = ledger.db.execute("SELECT note, undone_at FROM confirmations").fetchall()
    assert rows == [("电话核实", "2023-06-06T10:00:00")]


def test_confirm_refuses_what_it_cannot_confirm(county: Path) -> None:
    config = county / "kepuxl.toml"
    collect(county / "inbox", config, now=NOW)
    report = confirm_mod.confirm(config, ["城关街道", "白砂镇", "县融媒体中心"], "电话核实", now=LATER)
    assert [i.outcome for i in report.items] == ["refused", "refused", "refused"]
    assert [f.code.name for f in report.findings] == [
        "CONFIRM_NOTHING",
        "CONFIRM_UNKNOWN_UNIT",
        "CONFIRM_NO_RETURN",
    ]
    assert "是否是：白沙镇" in report.findings.items[1].message
    assert confirm_mod.standing(config).standing == []


def test_cli_confirm(county: Path) -> None:
    config = str(county / "kepuxl.toml")
    runner = CliRunner()
    assert runner.invoke(cli, ["collect", str(county / "inbox"), "-c", config]).exit_code == 0
    no_note = runner.invoke(cli, ["confirm", "白沙镇", "-c", config])
    assert no_note.exit_code == 2 and "--note" in no_note.stderr
    no_unit = runner.invoke(cli, ["confirm", "-c", config, "--note", "x"])
    assert no_unit.exit_code == 2
    ok = runner.invoke(
        cli, ["confirm", "白沙镇", "-c", config, "--note", "电话核实，确为5万元", "--json", "-"]
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert [(i["unit"], i["outcome"]) for i in data["items"]] == [("白沙镇", "confirmed")]
    assert data == confirm_mod.standing(Path(config)).to_dict() | {"items": data["items"]}
    listed = runner.invoke(cli, ["confirm", "--list", "-c", config])
    assert listed.exit_code == 0 and "白沙镇" in listed.output and "电话核实" in listed.output
    bad = runner.invoke(cli, ["confirm", "白沙", "-c", config, "--note", "x", "--json", "-"])
    assert bad.exit_code == 1
    assert "是否是：白沙镇" in json.loads(bad.output)["findings"][0]["message"]  # the closest name
    strict = runner.invoke(cli, ["collect", str(county / "inbox"), "-c", config, "--strict", "--json", "-"])
    assert json.loads(strict.output)["counts"]["pending"] == 0


def test_nothing_to_say_does_not_explain(county: Path) -> None:
    config = county / "kepuxl.toml"
    ctx = Context.load(config)
    u = ctx.campaign.unit_by_name("白沙镇")
    values = values_for(u.seq, {"fund_government": 50000})
    for note, status in (("无", "pending"), ("确为县财政专项经费 5 亿元", "warnings")):
        put(county / "inbox", "白沙镇-重报.xlsx", fill(ctx, u.id, values, detail_rows=3, note=note), LATER)
        report = collect(county / "inbox", config, now=LATER, write=False)
        assert unit_of(report, "白沙镇").status == status, note


def test_summary_shows_confirmed_pending_and_both(county: Path, tmp_path: Path) -> None:
    report = collect(county / "inbox", county / "kepuxl.toml", tmp_path / "out", now=NOW)
    wb = load_workbook(report.outputs["summary"])
    ws = wb["汇总表"]
    header = next(r for r in ws.iter_rows(values_only=True) if r[0] == "项目")
    assert header[:6] == ("项目", "指标", "计量单位", "数量（已确认）", "待核实", "含待核实")
    row = next(r for r in ws.iter_rows(values_only=True) if r[1] == "县级(单位)财政经费投入情况")
    assert row[3:6] == (pytest.approx(72.81), 50000, pytest.approx(50072.81))
    note = next(r[1] for r in ws.iter_rows(values_only=True) if r[0] == "情况说明")
    assert "待核实 1 个单位（白沙镇）" in note
    by_unit = wb["分单位"]
    rows = list(by_unit.iter_rows(values_only=True))
    baisha = next(r for r in rows if r[1] == "白沙镇")
    assert baisha[3] == "待核实" and baisha[5] == 50000  # shown for checking ...
    subtotal = [
        c
        for r in by_unit.iter_rows()
        for c in r
        if isinstance(c.value, str) and c.value.startswith("=SUMIF(")
    ]
    assert subtotal, "subtotals leave 待核实 rows out"  # ... but not summed (LibreOffice computes them below)
    status = wb["上报情况"]
    head = [c.value for c in status[2]]
    rows = {r[1]: dict(zip(head, r, strict=False)) for r in status.iter_rows(min_row=3, values_only=True)}
    assert (rows["白沙镇"]["状态"], rows["白沙镇"]["待核实数"]) == ("待核实", 1)
    # a missing unit has no return to count problems in; a late but correct return is 通过 with 0 warnings
    assert (rows["县融媒体中心"]["错误数"], rows["县融媒体中心"]["警告数"]) == (None, None)
    assert (
        rows["县农业农村局"]["状态"],
        rows["县农业农村局"]["警告数"],
        rows["县农业农村局"]["是否逾期"],
    ) == (
        "通过",
        0,
        "是",
    )
    assert rows["县市场监管局"]["是否逾期"] == "可能"


def test_summary_subtotals_computed_by_libreoffice_leave_pending_out(county: Path, tmp_path: Path) -> None:
    from libreoffice import convert

    report = collect(county / "inbox", county / "kepuxl.toml", tmp_path / "out", now=NOW)
    recalculated = convert(Path(report.outputs["summary"]), "xlsx", tmp_path / "lo")
    ws = load_workbook(recalculated, data_only=True)["分单位"]
    head = [c.value for c in ws[3]]
    col = next(
        i for i, h in enumerate(head) if h and str(h).replace("\n", "").startswith("县级(单位)财政经费")
    )
    total = next(r for r in ws.iter_rows(values_only=True) if r[1] == "合计")
    assert total[col] == pytest.approx(report.totals["fund_government"]) == pytest.approx(72.81)


def test_collect_json_is_the_library_report(county: Path) -> None:
    from kepu_xl.findings import dumps

    config, inbox, out = county / "kepuxl.toml", county / "inbox", county / "output"
    result = CliRunner().invoke(cli, ["collect", str(inbox), "-c", str(config), "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    library = collect(inbox, config, out, now=datetime.fromisoformat(data["generated_at"]))
    assert json.loads(dumps(library.to_dict())) == data
    assert data["counts"]["pending"] == 1 and data["pending_totals"]["fund_government"] == 50000
    assert {u["received_from"] for u in data["units"] if u["file"]} == {"file", "email"}
    assert all("confirmation" in u for u in data["units"])
    assert {f["severity"] for f in data["findings"]} == {"error", "verify", "warning", "info"}
