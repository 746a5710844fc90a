"""Last year's summary read by sheet and column headers ([compare] previous; kepu_xl/previous.py).

Real workbooks: a summary written by an older kepuxl (tests/golden/old-summary_青溪县.xlsx is the golden
summary of git commit 02bc293, before 待核实 existed), last year's summary written by this kepuxl (headers
broken into lines), the same re-saved by LibreOffice as .xls and .ods, and a hand-made one whose columns
were moved. What previous.py reads is compared with what openpyxl reads by the headers, or with figures
worked out by hand (tests/lastyear.py). A bad [compare] previous is a finding, never a failed collect.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import libreoffice as lo
import openpyxl
import pytest
from click.testing import CliRunner
from conftest import GOLDEN_DIR, init_sample
from lastyear import LAST, last_year, this_year

from kepu_xl import campaign as campaign_mod
from kepu_xl import previous
from kepu_xl import spec as spec_mod
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.findings import KepuError

OLD = GOLDEN_DIR / "old-summary_青溪县.xlsx"
NOW = datetime(2023, 6, 5, 9, 0)
SPEC = spec_mod.load(spec_mod.bundled_dir() / "science_week.toml")


def configured(folder: Path, previous_path: str) -> Path:
    config = init_sample(folder) / "kepuxl.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[compare]\nprevious = "{previous_path}"\n', "utf-8"
    )
    return config


def load(config: Path) -> previous.Previous:
    result = previous.load(campaign_mod.load(config), SPEC)
    assert result is not None
    return result


def by_headers(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """What openpyxl reads from 分单位: {unit code: {field id: value}} of the counted rows, found by the
    headers `label（unit）`, and the 合计 row's saved values."""
    ws = openpyxl.load_workbook(path, data_only=True)["分单位"]
    rows = list(ws.iter_rows(values_only=True))
    header = next(r for r in rows if "单位编码" in r)
    column = {f"{fl.label}（{fl.unit}）": fl.id for fl in SPEC.fields}
    at = {
        column[str(h).replace("\n", "")]: k
        for k, h in enumerate(header)
        if str(h).replace("\n", "") in column
    }
    units = {r[0]: {fid: r[k] for fid, k in at.items()} for r in rows if r[3] in ("通过", "有警告")}
    total = next(r for r in rows if r[1] == "合计")
    return units, {fid: total[k] for fid, k in at.items()}


def test_a_summary_of_an_older_kepuxl_is_read_by_its_headers(tmp_path: Path) -> None:
    prev = load(configured(tmp_path / "青溪县", str(OLD)))
    units, total = by_headers(OLD)
    assert len(units) == 18 and prev.values == {
        k: {f: float(v) for f, v in u.items()} for k, u in units.items()
    }
    assert prev.totals == pytest.approx(total)  # the sums of the counted rows are the file's 合计 row
    assert prev.source == str(OLD)
    (new,) = prev.findings  # the 8 units not counted last year (退回, 未报) have nothing to compare with
    assert new.code.name == "COMPARE_UNITS_NEW" and new.severity == "info" and new.context["n"] == 8


def test_this_kepuxls_summary_with_headers_broken_into_lines(tmp_path: Path) -> None:
    last_year(tmp_path / "2022年科技活动周")
    config = this_year(tmp_path / "2023年科技活动周", "../2022年科技活动周", returns={})
    summary = tmp_path / "2022年科技活动周" / "output" / "2022年科技活动周_汇总.xlsx"
    assert any("\n" in str(c.value) for c in openpyxl.load_workbook(summary)["分单位"][3])
    prev = load(config)
    assert prev.source == str(summary)  # found in the folder through its kepuxl.toml's title
    # T01 by code; 东湖街道 (T02 last year, TT2 now) by name; 县科学技术协会 (县科协 last year) by code
    expected = {"T01": LAST["T01"], "TT2": LAST["T02"], "D01": LAST["D01"], "D02": LAST["D02"]}
    for unit_id, values in expected.items():
        got = prev.of(unit_id)
        assert got is not None and {k: got[k] for k in values} == pytest.approx(values), unit_id
    assert prev.of("D03") is None  # new this year
    # by hand: 5+4+3+1+2 activities, 4+3+2+0.5+0.5 万元, 30+25+20+15+10 people (D05 in the totals only)
    assert (prev.totals["activities"], prev.totals["fund_total"], prev.totals["staff_total"]) == (15, 10, 100)
    assert [(f.code.name, f.context["names"]) for f in prev.findings] == [
        ("COMPARE_UNITS_GONE", "县文化旅游体育局"),
        ("COMPARE_UNITS_NEW", "县气象局"),
    ]


@lo.requires_libreoffice
@pytest.mark.parametrize("fmt", ["xls", "ods"])
def test_a_summary_re_saved_by_libreoffice_reads_the_same(tmp_path: Path, fmt: str) -> None:
    resaved = lo.convert(OLD, fmt, tmp_path / "lo")
    original = load(configured(tmp_path / "a", str(OLD)))
    again = load(configured(tmp_path / "b", str(resaved)))
    assert again.values == original.values and again.totals == pytest.approx(original.totals)


def test_columns_moved_renamed_or_missing(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "分单位"
    ws.append(["上年的分单位汇总（手工整理）"])
    ws.append(
        ["状态", "备注", " 单位 名称 ", "单位编码", "经费合计(万元)", "举办活动\n次数（次）", "activities"]
    )
    ws.append(["有警告", "", "城关街道", "T01", 4.43, 6, 99])  # `activities` again: the first column wins
    ws.append(["通过", "", "东湖街道", "T02", 6.66, "约9", None])  # text: blank, never a guess
    ws.append(["退回", "", "青山镇", "T03", 1000, 1000, None])  # not counted last year
    ws.append(["计入 2", "", "镇（街道） 小计", "", 11.09, 6, None])
    path = tmp_path / "上年汇总.xlsx"
    wb.save(path)
    prev = load(configured(tmp_path / "c", str(path)))
    assert prev.values == {
        "T01": {"fund_total": 4.43, "activities": 6.0},
        "T02": {"fund_total": 6.66, "activities": None},
    }
    assert prev.totals == {"fund_total": pytest.approx(11.09), "activities": 6.0}
    codes = [f.code.name for f in prev.findings]
    assert codes == ["COMPARE_FIELDS", "COMPARE_BAD_VALUE", "COMPARE_UNITS_NEW"]
    missing, bad = prev.findings[0], prev.findings[1]
    assert "县级(单位)财政经费投入情况" in missing.message and "举办活动次数" not in missing.message
    assert (bad.sheet, bad.cell, bad.context["raw"]) == ("分单位", "F4", "约9") and bad.file == str(path)


def other_summary(tmp_path: Path) -> str:
    folder = tmp_path / "上年" / "output"
    folder.mkdir(parents=True)
    shutil.copy(OLD, folder / "a_汇总.xlsx")
    shutil.copy(OLD, folder / "b_汇总.xlsx")
    return "../上年"


def not_a_workbook(tmp_path: Path) -> str:
    (tmp_path / "上年_汇总.xlsx").write_text("单位编码,单位名称\n", encoding="utf-8")
    return "../上年_汇总.xlsx"


def no_by_unit_sheet(tmp_path: Path) -> str:
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "上年.xlsx")
    return "../上年.xlsx"


def own_summary(tmp_path: Path) -> str:
    return "."


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda tmp: "../没有这个文件夹", "COMPARE_NOT_FOUND"),
        (lambda tmp: (tmp / "空文件夹").mkdir() or "../空文件夹", "COMPARE_NO_SUMMARY"),
        (other_summary, "COMPARE_NO_SUMMARY"),
        (not_a_workbook, "COMPARE_UNREADABLE"),
        (no_by_unit_sheet, "COMPARE_NOT_SUMMARY"),
        (own_summary, "COMPARE_SELF"),
    ],
)
def test_a_bad_previous_is_a_finding_and_collect_goes_on(tmp_path: Path, make: Any, code: str) -> None:
    folder = tmp_path / "青溪县"
    folder.parent.mkdir(exist_ok=True)
    config = configured(folder, make(tmp_path))
    init_sample(tmp_path / "with_returns", with_returns=True)  # returns made with the same key and id
    shutil.copytree(tmp_path / "with_returns" / "inbox", folder / "inbox", dirs_exist_ok=True)
    collect(folder / "inbox", config, now=NOW)  # a first run: output/ has this campaign's own summary
    report = collect(folder / "inbox", config, now=NOW)
    assert report.previous_totals == {} and all(u.previous is None for u in report.units)
    found = [f for f in report.findings if f.code.name.startswith("COMPARE")]
    assert [f.code.name for f in found] == [code]
    assert found[0].file and found[0].severity == "warning"
    assert report.counts["accepted"] > 0  # the returns are judged as without [compare]


@pytest.mark.parametrize(
    ("table", "key"),
    [("previous = 3", "previous"), ('previous = "  "', "previous"), ('previuos = "../上年"', "previuos")],
)
def test_a_wrong_compare_table_is_a_config_error(tmp_path: Path, table: str, key: str) -> None:
    config = init_sample(tmp_path / "c") / "kepuxl.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"\n[compare]\n{table}\n", "utf-8")
    with pytest.raises(KepuError) as info:
        campaign_mod.load(config)
    assert [(f.code.name, f.context["table"], f.context["key"]) for f in info.value.findings] == [
        ("CAMPAIGN_BAD_VALUE", "compare", key)
    ]
    result = CliRunner().invoke(cli, ["collect", str(config.parent / "inbox"), "-c", str(config)])
    assert result.exit_code == 3 and "[compare]" in result.stderr


def test_the_json_report_carries_last_year(tmp_path: Path) -> None:
    last_year(tmp_path / "2022年科技活动周")
    config = this_year(tmp_path / "2023年科技活动周", "../2022年科技活动周")
    result = CliRunner().invoke(
        cli, ["collect", str(config.parent / "inbox"), "-c", str(config), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    units = {u["unit_id"]: u for u in data["units"]}
    assert units["T01"]["previous"]["activities"] == 5 and units["TT2"]["previous"]["activities"] == 4
    assert units["D03"]["previous"] is None and units["T01"]["replaced"] is None
    assert set(units["T01"]["previous"]) == {f.id for f in SPEC.fields}
    assert data["previous_totals"]["activities"] == 15 and data["previous_totals"]["public_offline"] == 10000
    # without [compare]: no last year, the same keys
    plain = init_sample(tmp_path / "plain", with_returns=True)
    report = collect(plain / "inbox", plain / "kepuxl.toml", now=NOW, write=False).to_dict()
    assert report["previous_totals"] == {} and {u["previous"] for u in report["units"]} == {None}
