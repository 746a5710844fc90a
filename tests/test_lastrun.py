"""What the last collect leaves for the page: its report in .kepuxl/, and each unit's versions with changes."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from conftest import init_sample

from kepu_xl import lastrun
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.sample_returns import fill, values_for


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return init_sample(tmp_path / "青溪县", with_returns=True)


def test_collect_leaves_its_report_as_the_json_contract_with_absolute_paths(
    county: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(county)  # kepuxl collect inbox -o out: the outputs are named relative to here
    assert lastrun.load(Path(".kepuxl")) is None
    report = collect(Path("inbox"), Path("kepuxl.toml"), Path("out"))
    saved = lastrun.load(county / ".kepuxl")
    expected = json.loads(json.dumps(report.to_dict(), default=str))
    assert not Path(report.outputs["summary"]).is_absolute()  # the report keeps what it was given ...
    assert Path(saved["outputs"]["summary"]).is_absolute()  # ... the saved one can be read from anywhere
    assert Path(saved["outputs"]["summary"]) == (county / report.outputs["summary"]).resolve()
    assert [Path(p) for p in saved["outputs"]["feedback_files"]] == [
        (county / p).resolve() for p in report.outputs["feedback_files"]
    ]
    for key in ("counts", "totals", "pending_totals", "findings", "files", "campaign", "generated_at"):
        assert saved[key] == expected[key], key
    for got, want in zip(saved["units"], expected["units"], strict=True):
        assert got == {
            **want,
            "feedback": str((county / want["feedback"]).resolve()) if want["feedback"] else None,
        }


def test_a_unit_entry_counts_its_problems_and_changes(county: Path) -> None:
    report = collect(county / "inbox", county / "kepuxl.toml")
    units = {u["unit"]: u for u in lastrun.load(county / ".kepuxl")["units"]}
    assert units["白沙镇"]["status"] == "pending"
    assert units["白沙镇"]["problems"] == {"error": 0, "verify": 1, "warning": 0}
    assert units["柳河镇"]["problems"]["error"] == 2  # 12次, 三百
    assert units["县教育局"]["replaced"] == "县教育局-统计表（初稿）.xlsx"
    changed = {c["field_id"]: (c["old"], c["new"]) for c in units["县教育局"]["changes"]}
    d01 = next(u for u in report.units if u.unit.name == "县教育局")
    assert changed["fund_government"] == (0.8, d01.values["fund_government"])
    assert changed["public_offline"] == (450, d01.values["public_offline"])


def test_the_file_is_read_again_only_when_it_changed(county: Path) -> None:
    collect(county / "inbox", county / "kepuxl.toml", now=datetime(2023, 6, 1, 9))
    first = lastrun.load(county / ".kepuxl")
    assert lastrun.load(county / ".kepuxl") is first
    collect(county / "inbox", county / "kepuxl.toml", now=datetime(2023, 6, 2, 9))
    second = lastrun.load(county / ".kepuxl")
    assert second is not first and second["generated_at"] == "2023-06-02T09:00:00"


def test_versions_from_the_ledger_say_what_changed_between_them(county: Path) -> None:
    config = county / "kepuxl.toml"
    ctx = Context.load(config)
    collect(county / "inbox", config, now=datetime(2023, 5, 31, 9))
    # the unit sends a third version later; the first two have left the inbox by then
    unit = ctx.campaign.unit("D01")
    for old in (county / "inbox").glob("县教育局-统计表*"):
        old.unlink()
    third = values_for(unit.seq, {"activities": 9})
    path = county / "inbox" / "县教育局-第三版.xlsx"
    path.write_bytes(fill(ctx, "D01", third, detail_rows=9))
    stamp = datetime(2023, 5, 30, 12).timestamp()
    os.utime(path, (stamp, stamp))
    collect(county / "inbox", config, now=datetime(2023, 6, 1, 9))

    versions = lastrun.versions(county / ".kepuxl", ctx.spec, "D01")
    assert [v.path for v in versions] == [
        "县教育局-统计表（初稿）.xlsx",
        "县教育局-统计表（修改后）.xlsx",
        "县教育局-第三版.xlsx",
    ]
    assert versions[0].changes == []
    second = {c.field_id: (c.old, c.new) for c in versions[1].changes}
    assert second["fund_government"][0] == 0.8 and second["public_offline"][0] == 450
    third_changes = {c.field_id: (c.old, c.new) for c in versions[2].changes}
    assert set(third_changes) == {"activities"}
    assert third_changes["activities"][1] == 9
    assert versions[2].outcome == "used"
    assert lastrun.versions(county / ".kepuxl", ctx.spec, "D12") == []  # never sent anything
