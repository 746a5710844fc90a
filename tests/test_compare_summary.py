"""Last year in the summary workbook: 上年 / 增减 / 增减% in 汇总表, 上年 of the main fields in 分单位, a 同比
chart; the formulas compute what kepuxl saved in LibreOffice and in Gnumeric.

The campaign is tests/lastyear.py's small county, last year's summary written by a real collect; the
expected figures are worked out by hand there. Printing (one A4 portrait page, no text below 8 pt) is
checked with the other sheets in tests/test_summary_print.py.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import libreoffice as lo
import openpyxl
import pytest
from lastyear import last_year, this_year
from test_form_verdicts import differences, formula_values, gnumeric_recalc, requires_gnumeric

from kepu_xl.collection import collect
from kepu_xl.results import CollectReport
from kepu_xl.summary_writer import CHANGE_TITLE, DASH

NOW = datetime(2023, 6, 5, 9, 0)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CollectReport:
    root = tmp_path_factory.mktemp("compare")
    last_year(root / "2022年科技活动周")
    config = this_year(root / "2023年科技活动周", "../2022年科技活动周")
    return collect(config.parent / "inbox", config, now=NOW)


@pytest.fixture(scope="module")
def summary(report: CollectReport) -> Path:
    return Path(report.outputs["summary"])


def rows_of(path: Path, sheet: str, data_only: bool = True) -> list[tuple[Any, ...]]:
    return list(openpyxl.load_workbook(path, data_only=data_only)[sheet].iter_rows(values_only=True))


def test_totals_sheet_has_last_year_the_change_and_the_change_in_per_cent(summary: Path) -> None:
    rows = rows_of(summary, "汇总表")
    header = next(r for r in rows if r[0] == "项目")
    assert header == ("项目", "指标", "计量单位", "数量", "上年", "增减", "增减%")
    by_label = {r[1]: r[2:7] for r in rows if r[1]}
    # by hand (tests/lastyear.py): 15 → 18 activities, 10 → 9.5 万元, 100 → 100 people, 0 → 500 online
    assert by_label["举办活动次数"] == ("次", 18, 15, 3, pytest.approx(0.2))
    assert by_label["经费合计"] == ("万元", 9.5, 10, -0.5, pytest.approx(-0.05))
    assert by_label["人员合计"] == ("人", 100, 100, 0, 0)
    assert by_label["线上活动群众参与数量"] == ("人次", 500, 0, 500, DASH)  # no per cent of last year's 0
    formulas = {r[1]: r[5:7] for r in rows_of(summary, "汇总表", data_only=False) if r[1]}
    assert formulas["举办活动次数"] == (
        '=IF(ISNUMBER(E5),D5-E5,"—")',
        '=IF(AND(ISNUMBER(E5),E5<>0),(D5-E5)/E5,"—")',
    )


def test_a_field_last_year_lacks_shows_a_dash(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "分单位"
    ws.append(["单位编码", "单位名称", "状态", "举办活动次数（次）"])
    ws.append(["T01", "城关街道", "通过", 12])
    wb.save(tmp_path / "上年.xlsx")
    config = this_year(tmp_path / "2023", "../上年.xlsx")
    report = collect(config.parent / "inbox", config, now=NOW)
    rows = {r[1]: r[3:7] for r in rows_of(Path(report.outputs["summary"]), "汇总表") if r[1]}
    assert rows["举办活动次数"] == (18, 12, 6, pytest.approx(0.5))
    assert rows["经费合计"] == (9.5, DASH, DASH, DASH)
    assert report.previous_totals == {"activities": 12}


def test_by_unit_sheet_shows_each_units_last_year_of_the_main_fields(
    report: CollectReport, summary: Path
) -> None:
    rows = rows_of(summary, "分单位")
    header = [str(h).replace("\n", "") for h in rows[2]]
    main = [
        "举办活动次数（次）",
        "经费合计（万元）",
        "人员合计（人）",
        "线下活动群众参与数量（人次）",
        "线上活动群众参与数量（人次）",
    ]
    for label in main:  # 上年 right after this year's column
        assert header[header.index(label) + 1] == "上年" + label
    assert sum(h.startswith("上年") for h in header) == len(main)
    col = header.index("上年举办活动次数（次）")
    by_name = {r[1]: r for r in rows[3:]}
    # 城关街道 by code, 东湖街道 by name, 县科学技术协会 (县科协 last year) by code; 县气象局 new
    assert [by_name[n][col] for n in ("城关街道", "东湖街道", "县科学技术协会", "县气象局")] == [
        5,
        4,
        1,
        None,
    ]
    assert by_name["合计"][col] == 5 + 4 + 3 + 1  # this year's units; 县文化旅游体育局's 2 in 汇总表 only


def test_the_charts_sheet_has_a_change_chart(summary: Path) -> None:
    with zipfile.ZipFile(summary) as z:
        charts = "".join(
            z.read(n).decode() for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)
        )
    assert CHANGE_TITLE in charts
    ws = openpyxl.load_workbook(summary)["图表"]
    cells = {
        (c.row, c.column): c.value for row in ws.iter_rows(min_col=14) for c in row if c.value is not None
    }
    top = next(r for (r, c), v in cells.items() if v == CHANGE_TITLE)
    assert [cells.get((top + 1, 14 + k)) for k in range(4)] == ["指标", "本年", "上年", "增减%"]
    assert cells[(top + 2, 17)] == pytest.approx(0.2)  # 举办活动次数: +20 %


def without_cached_values(src: Path, target: Path) -> Path:
    """The workbook with every formula's saved result removed: an office suite must compute them all."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            data = z.read(info.filename)
            if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", info.filename):
                data = re.sub(rb"(</f>)<v>[^<]*</v>", rb"\1", data)
                data = re.sub(rb'(<c [^>]*?) t="str"', rb"\1", data)
            out.writestr(info, data)
    return target


@lo.requires_libreoffice
def test_libreoffice_computes_what_kepuxl_saved(summary: Path, tmp_path: Path) -> None:
    bare = without_cached_values(summary, tmp_path / "bare.xlsx")
    assert not formula_values(bare, bare)["汇总表!F5"]  # nothing saved: LibreOffice has to compute it
    computed = lo.fill(bare, tmp_path / "lo").paths["xlsx"]
    saved = formula_values(summary, summary)
    assert len(saved) > 100 and differences(saved, formula_values(bare, computed)) == {}


@requires_gnumeric
def test_gnumeric_computes_what_kepuxl_saved(summary: Path, tmp_path: Path) -> None:
    bare = without_cached_values(summary, tmp_path / "bare.xlsx")
    computed = gnumeric_recalc(bare, tmp_path / "gn")
    assert differences(formula_values(summary, summary), formula_values(bare, computed)) == {}
