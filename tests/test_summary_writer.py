"""merge.frames + summary_writer.build_summary on a hand-made CollectReport → assertions on the real xlsx.

The report uses the bundled science_week form and the sample county's 26 units (some rejected or
missing, with big values that would show if they leaked into a sum). The workbook is read back with
openpyxl (formulas and cached values) and as a zip (chart parts, sheet XML).
"""

from __future__ import annotations

import io
import math
import re
import time
import zipfile
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
from openpyxl.utils import range_boundaries

from kepu_xl import campaign as campaign_mod
from kepu_xl import layout, merge, summary_writer
from kepu_xl import spec as spec_mod
from kepu_xl.campaign import Campaign, Unit
from kepu_xl.findings import Code, Finding, KepuError
from kepu_xl.init import init_campaign
from kepu_xl.results import Change, CollectReport, FileResult, UnitResult
from kepu_xl.xlsx_out import FastRowsWorksheet

SHEETS = ["汇总表", "分单位", "图表", "上报情况", "问题清单", "活动明细", "文件清单", "说明"]
EVIL = '=HYPERLINK("http://evil","x")'
REJECTED, MISSING = {4, 15}, {9, 20}
LEAK = 987_654  # rejected units carry this everywhere: any leak into a total is obvious
C_NS = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}


# -- building the report -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> spec_mod.FormSpec:
    return spec_mod.load(spec_mod.bundled_dir() / "science_week.toml")


@pytest.fixture(scope="module")
def camp(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return campaign_mod.load(init_campaign(tmp_path_factory.mktemp("campaign") / "c"))


def status_of(i: int) -> str:
    if i in MISSING:
        return "missing"
    if i in REJECTED:
        return "rejected"
    return "warnings" if i % 3 == 2 else "accepted"


def make_report(camp: Campaign, spec: spec_mod.FormSpec, n_units: int = 26) -> CollectReport:
    """A collect result as resolve would hand it over: varied values, statuses, findings and files."""
    units = list(camp.units)
    units[1] = Unit(units[1].id, "东湖\x07街道", units[1].category, seq=units[1].seq)  # a control char
    kinds = ["镇（街道）", "县级部门", "群团组织", "学校"]
    while len(units) < n_units:
        k = len(units) + 1
        units.append(Unit(f"X{k:03d}", f"测试单位{k:03d}", kinds[k % len(kinds)], seq=k))
    results: list[UnitResult] = []
    files: list[FileResult] = []
    start = datetime(2023, 5, 26, 9, 0)
    for i, unit in enumerate(units[:n_units]):
        status = status_of(i)
        r = UnitResult(unit=unit, status=status)
        if status == "missing":
            r.findings.append(Finding.make(Code.RESOLVE_MISSING, unit=unit.name))
            results.append(r)
            continue
        r.file = f"inbox/{unit.seq:02d}_{unit.name}.xlsx"
        r.received = start + timedelta(hours=5 * i)
        r.late = r.received > camp.deadline
        if status == "rejected":
            values = {f.id: float(LEAK) for f in spec.inputs}
        else:
            values = {
                "activities": float((i * 7) % 23 + 1),
                "fund_government": round(1.25 + i * 0.3333, 4),
                "fund_enterprise": round((i % 5) * 0.5, 4),
                "fund_in_kind": 0.1 * (i % 3),
                "fund_other": 0.0,
                "staff_fulltime": float(i % 4 + 1),
                "staff_scientists": float(i % 6),
                "staff_volunteers": float(10 + i),
                "staff_other": float(i % 2),
                "public_offline": float(1000 + 137 * i),
                "public_online": float((i * 911) % 5000),
                "media_outlets": float(i % 3),
                "media_reports": float(i % 7),
                "venues_open": float(i % 2),
                "institutes_open": 0.0,
                "universities_open": None,  # blank: shown blank, counted as 0
            }
        for f in spec.fields:
            if f.computed:
                values[f.id] = float(f.formula.evaluate(values))
        r.values = values
        r.detail = [
            {
                "name": f"{unit.name}科普讲座",
                "start": date(2023, 5, 20),
                "end": date(2023, 5, 21),
                "place": "广场",
                "mode": "线下",
                "category": "科普讲座",
                "offline": 120 + i,
                "online": 0,
                "reports": 1,
            },
        ]
        if i == 3:
            r.detail.append({"name": EVIL, "place": "<r><t>x</t></r>", "mode": "线上", "offline": None})
            r.info = {"note": "情况说明\x01" + "长" * 40_000}
        if i == 5:
            r.changes = [
                Change("fund_government", "县级(单位)财政经费投入情况", 1.2, 1.5),
                Change("activities", "举办活动次数", None, 3.0),
            ]
            r.replaced = "inbox/06_old.xlsx"
        if status == "rejected":
            r.findings += [
                Finding.make(
                    Code.AUDIT_NEGATIVE,
                    unit=unit.name,
                    file=r.file,
                    sheet="统计表",
                    cell=cell,
                    label="经费",
                    value=-1,
                )
                for cell in ("D10", "D6", "D2")
            ]
        if status == "warnings":
            r.findings.append(
                Finding.make(
                    Code.AUDIT_RULE, unit=unit.name, file=r.file, sheet="统计表", cell="E18", message=EVIL
                )
            )
        files.append(
            FileResult(
                r.file,
                f"{i:02d}" * 32,
                "xlsx",
                r.received,
                unit.id,
                "rejected" if status == "rejected" else "used",
            )
        )
        results.append(r)
    files.append(FileResult("inbox/说明.docx", "ab" * 32, "other", None, outcome="ignored"))
    # findings arrive in no particular order: the sheet sorts them by roster order, file, location
    findings = [f for r in reversed(results) for f in r.findings]
    findings.append(
        Finding.make(Code.READ_OTHER_FILE, file="inbox/说明.docx", name="说明.docx", kind="Word 文档")
    )
    totals = {f.id: sum((r.values.get(f.id) or 0.0) for r in results if r.counted) for f in spec.fields}
    return CollectReport(
        camp, spec, layout.build(spec), results, files, findings, totals, datetime(2023, 5, 31, 9, 30)
    )


@pytest.fixture(scope="module")
def report(camp: Campaign, spec: spec_mod.FormSpec) -> CollectReport:
    return make_report(camp, spec)


@pytest.fixture(scope="module")
def xlsx(report: CollectReport) -> bytes:
    return summary_writer.build_summary(report, merge.frames(report))


@pytest.fixture(scope="module")
def book(xlsx: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(xlsx))


@pytest.fixture(scope="module")
def values(xlsx: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(xlsx), data_only=True)


def counted_sum(report: CollectReport, field_id: str) -> float:
    return sum((u.values.get(field_id) or 0.0) for u in report.units if u.counted)


def row_of(ws, col: int, text: str) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, col).value == text)


# -- merge.frames ------------------------------------------------------------------------------------


def test_frames_keep_roster_order_and_values_only_for_counted_units(report: CollectReport) -> None:
    fr = merge.frames(report)
    field_ids = [f.id for f in report.spec.fields]
    assert list(fr.units.columns) == ["单位编码", "单位名称", "单位类别", "状态", *field_ids]
    assert list(fr.units["单位编码"]) == [u.unit.id for u in report.units]
    for i in REJECTED | MISSING:
        assert fr.units.loc[i, field_ids].isna().all()
    assert fr.units.loc[0, "activities"] == report.units[0].values["activities"]
    assert math.isnan(fr.units.loc[0, "universities_open"])  # blank stays blank
    assert list(fr.by_category.index) == ["镇（街道）", "县级部门", "群团组织"]
    assert fr.by_category["activities"].sum() == pytest.approx(counted_sum(report, "activities"))
    assert fr.totals.to_dict() == pytest.approx(report.totals)
    assert list(fr.detail.columns) == ["单位", *(c.id for c in report.spec.detail.columns)]
    assert len(fr.detail) == sum(len(u.detail) for u in report.units if u.counted)


# -- the workbook --------------------------------------------------------------------------------------


def test_sheets_in_order(book: openpyxl.Workbook) -> None:
    assert book.sheetnames == SHEETS


def test_totals_sheet_has_the_county_totals_as_numbers_in_the_form_layout(
    report: CollectReport, book: openpyxl.Workbook
) -> None:
    ws, cells = book["汇总表"], report.cells
    assert [ws.cell(cells.header_row + 1, c + 1).value for c in range(4)] == [
        "项目",
        "指标",
        "计量单位",
        "数量",
    ]
    assert ws.cell(cells.unit.row + 1, cells.unit.col + 1).value == report.campaign.organizer
    for fid, cell in cells.fields.items():
        got = ws.cell(cell.row + 1, layout.VALUE_COL + 1)
        assert got.data_type == "n", fid  # a number, not a formula over other sheets
        assert got.value == pytest.approx(report.totals[fid]), fid
        assert report.totals[fid] < LEAK
    merged = {str(r) for r in ws.merged_cells.ranges}
    first, last, _ = cells.sections[1]  # 活动经费投入数量: five rows, one merged section cell
    assert f"A{first + 1}:A{last + 1}" in merged
    n = report.counts
    line = f"汇总单位数：{n['accepted'] + n['warnings']}（通过 {n['accepted']}，有警告 {n['warnings']}）"
    assert any(line in str(c.value) for row in ws.iter_rows() for c in row if c.value)
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "portrait"
    assert ws.sheet_properties.pageSetUpPr.fitToPage  # one page: fitToWidth/Height default to 1
    assert ws.page_setup.fitToHeight in (None, 1) and ws.page_setup.fitToWidth in (None, 1)
    assert "审核人" in ws.oddFooter.center.text and "盖章" in ws.oddFooter.left.text


def test_by_unit_sums_are_live_formulas_over_counted_units(
    report: CollectReport, book: openpyxl.Workbook, values: openpyxl.Workbook
) -> None:
    ws, cached = book["分单位"], values["分单位"]
    header = row_of(ws, 1, "单位编码")
    fields = list(report.spec.fields)
    # headers carry explicit line breaks (tests/test_summary_print.py): compare the text without them
    assert ws.cell(header, 5).value.replace("\n", "") == "举办活动次数（次）"
    assert ws.cell(header, 6).value.replace("\n", "") == "县级(单位)财政经费投入情况（万元）"
    assert ws.freeze_panes == f"C{header + 1}"
    assert ws.auto_filter.ref.startswith(f"A{header}:")
    total = row_of(ws, 2, "合计")
    subtotals = [r for r in range(header + 1, total) if str(ws.cell(r, 2).value).endswith(" 小计")]
    assert [ws.cell(r, 3).value for r in subtotals] == ["镇（街道）", "县级部门", "群团组织"]

    def numbers(rng: str) -> list[float]:
        c1, r1, c2, r2 = range_boundaries(rng)
        return [
            v
            for r in range(r1, r2 + 1)
            for c in range(c1, c2 + 1)
            if isinstance(v := cached.cell(r, c).value, int | float)
        ]

    for k, fl in enumerate(fields, start=5):
        formula = ws.cell(total, k).value
        refs = re.fullmatch(r"=SUM\(([A-Z]+\d+(?:,[A-Z]+\d+)*)\)", formula).group(1).split(",")
        assert [int(re.sub(r"[A-Z]+", "", ref)) for ref in refs] == subtotals, fl.id
        group_sum = 0.0
        first = header + 1
        for r in subtotals:
            col = ws.cell(r, k).column_letter
            assert ws.cell(r, k).value == f"=SUM({col}{first}:{col}{r - 1})", fl.id
            group_sum += sum(numbers(f"{col}{first}:{col}{r - 1}"))  # what Excel will compute
            first = r + 1
        assert group_sum == pytest.approx(counted_sum(report, fl.id)), fl.id
        assert cached.cell(total, k).value == pytest.approx(counted_sum(report, fl.id)), fl.id
    assert ws.cell(header + 1, 5).number_format == "#,##0"
    assert ws.cell(header + 1, 6).number_format == "#,##0.0000"


def test_rejected_and_missing_units_are_grey_blank_and_out_of_the_sums(
    report: CollectReport, book: openpyxl.Workbook
) -> None:
    ws = book["分单位"]
    for i in REJECTED | MISSING:
        u = report.units[i]
        r = row_of(ws, 1, u.unit.id)
        assert ws.cell(r, 4).value == ("退回" if i in REJECTED else "未报")
        assert all(ws.cell(r, c).value is None for c in range(5, 5 + len(report.spec.fields)))
        assert ws.cell(r, 2).font.color.rgb.endswith("8C8C8C")
    for row in ws.iter_rows(min_col=5):
        for c in row:
            assert not (isinstance(c.value, int | float) and c.value >= LEAK)


def test_charts_are_native_and_read_the_sorted_data_block(
    report: CollectReport, xlsx: bytes, values: openpyxl.Workbook
) -> None:
    charts = chart_parts(xlsx)
    assert len(charts) >= 4
    data = values["图表"]
    counted = [u for u in report.units if u.counted]

    activities = charts["各单位举办活动次数"]
    assert activities["type"] == "barChart" and activities["direction"] == "bar"
    # every chart reads the data block beside the charts: 图表!N (names) and O… (values)
    for chart in charts.values():
        assert all(re.fullmatch(r"'?图表'?!\$[N-Q]\$\d+(:\$[N-Q]\$\d+)?", f) for f in chart["refs"]), chart[
            "refs"
        ]
    names, numbers = resolve(data, activities["series"][0])
    expected = sorted(counted, key=lambda u: -u.values["activities"])  # stable: roster order on ties
    assert names == [summary_writer.clean_text(u.unit.name) for u in expected]
    assert numbers == [u.values["activities"] for u in expected]
    assert numbers == sorted(numbers, reverse=True)

    people = charts["各单位科普活动群众参与数量（人次）"]
    assert people["grouping"] == "stacked" and len(people["series"]) == 2
    names, offline = resolve(data, people["series"][0])
    _, online = resolve(data, people["series"][1])
    by_name = {summary_writer.clean_text(u.unit.name): u for u in counted}
    assert sorted(names) == sorted(by_name)
    assert [by_name[n].values["public_offline"] for n in names] == offline
    assert [a + b for a, b in zip(offline, online, strict=True)] == sorted(
        [a + b for a, b in zip(offline, online, strict=True)], reverse=True
    )

    funding = charts["活动经费投入数量（按来源，万元）"]
    names, numbers = resolve(data, funding["series"][0])
    # a long label is broken where it must wrap under its column (tests/test_summary_print.py)
    assert [n.replace("\n", "") for n in names] == [
        "县级财政经费投入情况",
        "企业赞助经费情况",
        "实物投入情况",
        "其他经费情况",
    ]
    ids = ["fund_government", "fund_enterprise", "fund_in_kind", "fund_other"]
    assert numbers == pytest.approx([report.totals[i] for i in ids])

    staff = charts["科普工作人员参与数量（按类型，人）"]
    assert staff["type"] == "barChart" and staff["direction"] == "col"
    _, numbers = resolve(data, staff["series"][0])
    ids = ["staff_fulltime", "staff_scientists", "staff_volunteers", "staff_other"]
    assert numbers == pytest.approx([report.totals[i] for i in ids])
    assert all(c["axis_titles"] for c in charts.values())  # every chart names its axes


def test_status_sheet(report: CollectReport, book: openpyxl.Workbook) -> None:
    ws = book["上报情况"]
    headers = [c.value for c in ws[2]]
    assert headers[:12] == [
        "单位编码",
        "单位",
        "类别",
        "状态",
        "文件",
        "收到时间",
        "是否逾期",
        "错误数",
        "待核实数",
        "警告数",
        "修改情况",
        "随表材料",
    ]
    assert headers[12:] == [i.label for i in report.spec.info]  # 填表人 … 情况说明, the unit's own words
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert [r[0] for r in rows] == [u.unit.id for u in report.units]
    assert rows[1][1] == "东湖街道"  # the \x07 is gone
    assert rows[4][3] == "退回" and rows[4][7] == 3 and rows[9][3] == "未报" and rows[9][4] is None
    assert rows[5][10] == "县级(单位)财政经费投入情况：1.2→1.5；举办活动次数：空→3"
    assert isinstance(rows[0][5], datetime)
    assert sum(len(cf.rules) for cf in ws.conditional_formatting) >= 5  # 4 statuses + 逾期
    note = rows[3][headers.index("情况说明")]
    assert note.startswith("情况说明长") and len(note) == 32_767  # \x01 dropped, clipped to Excel's limit
    assert ws.auto_filter.ref == f"A2:{ws.cell(2, len(headers)).column_letter}{len(rows) + 2}"


def test_findings_sorted_by_roster_then_file_then_location(
    report: CollectReport, book: openpyxl.Workbook
) -> None:
    ws = book["问题清单"]
    assert [c.value for c in ws[2]] == ["序号", "级别", "代码", "单位", "文件", "位置", "说明"]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert len(rows) == len(report.findings)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    order = {u.unit.name: n for n, u in enumerate(report.units)}
    ranks = [order.get(r[3], len(order)) for r in rows]
    assert ranks == sorted(ranks)
    first_rejected = [r for r in rows if r[3] == report.units[4].unit.name and r[2] == "AUDIT_NEGATIVE"]
    assert [r[5] for r in first_rejected] == ["统计表!D2", "统计表!D6", "统计表!D10"]  # D2 < D6 < D10
    assert rows[-1][2] == "READ_OTHER_FILE" and rows[-1][3] is None
    assert {r[1] for r in rows} == {"错误", "警告", "提示"}
    assert ws.auto_filter.ref
    evil = [c for row in ws.iter_rows(min_row=3, min_col=7, max_col=7) for c in row if c.value == EVIL]
    assert evil and all(c.data_type == "s" for c in evil)


def test_unit_text_stays_plain_text(xlsx: bytes, book: openpyxl.Workbook) -> None:
    ws = book["活动明细"]
    assert [c.value for c in ws[2]][:3] == ["单位", "活动名称", "开始日期"]
    cells = [c for row in ws.iter_rows() for c in row if c.value == EVIL]
    assert len(cells) == 1 and cells[0].data_type == "s"  # a string, not 'f'
    assert ws.cell(cells[0].row, 1).value == "柳河镇"
    assert any(c.value == "<r><t>x</t></r>" for row in ws.iter_rows() for c in row)  # escaped, file intact
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                sheet_xml = z.read(name).decode()
                assert "<hyperlink" not in sheet_xml and "HYPERLINK" not in sheet_xml, name
        assert not any("hyperlink" in z.read(n).decode() for n in z.namelist() if n.endswith(".rels"))
    everything = [
        c.value for s in book.worksheets for row in s.iter_rows() for c in row if isinstance(c.value, str)
    ]
    assert not any(re.search(r"[\x00-\x08\x0b-\x1f]", v) for v in everything)


def test_files_and_notes(report: CollectReport, book: openpyxl.Workbook) -> None:
    files = list(book["文件清单"].iter_rows(min_row=3, values_only=True))
    assert len(files) == len(report.files)
    assert files[0][1:5] == (
        report.files[0].path,
        report.files[0].sha256[:12],
        report.units[0].unit.name,
        "采用",
    )
    assert files[4][4] == "退回" and files[-1][4] == "其他材料" and files[-1][5] is None
    notes = book["说明"]
    text = [c.value for row in notes.iter_rows() for c in row if c.value is not None]
    assert report.campaign.title in text
    n = report.counts
    for key, name in [
        ("应报", "expected"),
        ("已报", "reported"),
        ("通过", "accepted"),
        ("有警告", "warnings"),
        ("退回", "rejected"),
        ("未报", "missing"),
        ("逾期", "late"),
    ]:
        r = row_of(notes, 1, key)
        assert notes.cell(r, 2).value == n[name], key
    assert any("不计入" in str(v) for v in text)
    r = row_of(notes, 2, report.units[5].unit.name)
    assert notes.cell(r, 4).value == report.units[5].file and "06_old.xlsx" in notes.cell(r, 6).value


def test_same_report_same_bytes(report: CollectReport, xlsx: bytes) -> None:
    assert summary_writer.build_summary(report, merge.frames(report)) == xlsx


def test_xlsxwriter_errors_raise() -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(io.BytesIO(), summary_writer.OPTIONS)
    ws = summary_writer._Sheet(wb.add_worksheet("x"), None)
    with pytest.raises(KepuError, match="returned -1"):
        ws.write_string(2_000_000, 0, "beyond the last row")
    assert summary_writer.clean_text("a\x00b\x1fc\td\ne" + "z" * 40_000) == "abc\td\ne" + "z" * 32_760


def test_a_row_of_values_is_checked_once() -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(io.BytesIO(), summary_writer.OPTIONS)
    ws = summary_writer._Sheet(wb.add_worksheet("x", FastRowsWorksheet), None)
    with pytest.raises(KepuError, match=r"x\.write_values\(1048576, 0\) returned -1"):
        ws.values(1_048_576, 0, ["beyond the last row", 1.0], [None, None])
    # every cell's code counts: a text over Excel's limit in UTF-16 units (-2) anywhere in the row
    assert ws.raw.write_values(0, 0, ["ok", "😀" * 20_000, 1.0], [None, None, None]) == -2


# -- FastRowsWorksheet: the same bytes as xlsxwriter's own code ------------------------------------------

ODD_VALUES = [
    *(True, False, 2.5, 7, -0.0, 1e20, 0.1, 10**17, float("nan"), float("inf"), float("-inf"), None),
    *(
        "",
        "plain",
        "\x01\x02",
        "a\tb\nc",
        "<r><t>x</t></r>",
        EVIL,
        "@SUM(A1)",
        "\u3000全角",
        "\ud800",
        "\ufffe",
    ),
    *("z" * 40_000, "长" * 20_000, "_x0041_"),
    *(
        date(1900, 1, 1),
        datetime(1900, 1, 1),
        datetime(1900, 3, 1, 12),
        date(2023, 5, 20),
        datetime(2023, 1, 1, 8, 30).time(),
    ),
    *(
        datetime(2023, 5, 20, 10, tzinfo=timezone(timedelta(hours=8))),
        timedelta(days=1),
        Decimal("1.25"),
        [1, 2],
    ),
]


def fast_rows_book(fast: bool) -> bytes:
    """A workbook of every kind of cell FastRowsWorksheet writes or hands back to xlsxwriter."""
    import xlsxwriter

    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, summary_writer.OPTIONS)
    wb.set_properties({"created": datetime(2023, 5, 31)})
    bold, date_fmt = wb.add_format({"bold": True}), wb.add_format({"num_format": "yyyy-mm-dd"})
    # a duplicate of bold, too; None only for plain values ("<r>…</r>" text needs a format, as in .text)
    formats = [bold, date_fmt, wb.add_format({"bold": True}), wb.add_format({"font_color": "red"})]
    for name in ("a", "b"):
        ws = wb.add_worksheet(name, FastRowsWorksheet)
        ws.fast_rows = fast
        ws.set_column(1, 1, 12, wb.add_format({"italic": True}))  # formats cells that have none
        ws.set_row(3, 30, wb.add_format({"underline": 1}))
        ws.set_row(70, 40)  # a row with attributes only
        for row in range(len(ODD_VALUES)):
            values = (ODD_VALUES[row:] + ODD_VALUES[:row])[:12]
            assert ws.write_values(row, 1, values, (formats * 3)[:12], date_fmt, summary_writer._plain) == 0
        plain = ["text", 1.5, None, 3, datetime(2023, 5, 20, 9), "", float("nan")]
        assert ws.write_values(50, 20, plain, [*formats, None, bold, None]) == 0
        assert ws.write_values(51, 0, plain, [None] * 7) == 0  # blanks without a format: no cell
        ws.write_formula(60, 0, "=SUM(B1:B3)", bold, 3.5)
        ws.write_formula(60, 1, '="a"&"<b>"', None, "a<b>")
        ws.write_formula(60, 2, "=1=1", None, True)
        ws.write_formula(60, 3, "=1/0", None, "#DIV/0!")
        ws.write_array_formula(61, 0, 61, 0, "{=SUM(B1:B3*C1:C3)}", bold, 2)
        ws.write_boolean(62, 0, False, bold)
        ws.write_rich_string(62, 1, "a", bold, "b")
        ws.merge_range(63, 0, 63, 3, "merged", bold)
    wb.worksheets()[1].write_comment(0, 0, "a note")  # comments: xlsxwriter's own row writer
    wb.close()
    return buffer.getvalue()


def _fast_rows_verified() -> None:
    """Skip on an xlsxwriter the fast path was not checked against: it is off there (stock path, slower).

    A fresh install may bring a newer xlsxwriter than the one in FAST_ROWS_VERSIONS; that must not
    fail the suite. To cover it: force `fast_rows` on, run the comparison below, add the version.
    """
    import xlsxwriter

    if not FastRowsWorksheet.fast_rows:
        pytest.skip(f"xlsxwriter {xlsxwriter.__version__} not in FAST_ROWS_VERSIONS: the fast path is off")


def test_fast_rows_write_what_xlsxwriter_writes() -> None:
    _fast_rows_verified()
    assert fast_rows_book(fast=True) == fast_rows_book(fast=False)


def test_the_summary_is_the_same_without_the_fast_path(
    report: CollectReport, xlsx: bytes, monkeypatch
) -> None:
    monkeypatch.setattr(FastRowsWorksheet, "fast_rows", False)
    assert summary_writer.build_summary(report, merge.frames(report)) == xlsx


def test_xlsxwriter_warnings_are_errors(report: CollectReport, monkeypatch: pytest.MonkeyPatch) -> None:
    # xlsxwriter only warns about merging a single cell and writes on: the summary must fail instead
    monkeypatch.setattr(summary_writer, "CHART_LAST_COL", 0)
    with pytest.raises(UserWarning, match="single cell"):
        summary_writer.build_summary(report, merge.frames(report))


def test_300_units_top_30_charts(camp: Campaign, spec: spec_mod.FormSpec, record_property) -> None:
    big = make_report(camp, spec, n_units=300)
    started = time.perf_counter()
    data = summary_writer.build_summary(big, merge.frames(big))
    seconds = time.perf_counter() - started
    record_property("build_seconds_300_units", round(seconds, 3))
    print(f"\n300-unit summary built in {seconds:.2f} s ({len(data):,} bytes)")
    charts = chart_parts(data)
    assert len(charts) >= 5
    book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    names, numbers = resolve(book["图表"], charts["各单位举办活动次数（前30名）"]["series"][0])
    assert len(names) == 30 and numbers == sorted(numbers, reverse=True)
    counted = sorted((u.values["activities"] for u in big.units if u.counted), reverse=True)
    assert numbers == counted[:30]
    assert (
        len(resolve(book["图表"], charts["各单位科普活动群众参与数量（人次）（前30名）"]["series"][0])[0])
        == 30
    )
    by_cat = next(c for title, c in charts.items() if title.startswith("各类别单位"))
    cats, acts = resolve(book["图表"], by_cat["series"][0])
    assert cats == ["镇（街道）", "县级部门", "群团组织", "学校"]
    assert sum(acts) == pytest.approx(big.totals["activities"])
    assert len(book["分单位"]["A"]) > 300


# -- LibreOffice: the workbook prints, charts included ---------------------------------------------


@lo.requires_libreoffice  # skipped without LibreOffice, except under CI where it must run
def test_libreoffice_renders_the_summary(xlsx: bytes, tmp_path: Path) -> None:
    src = tmp_path / "汇总.xlsx"
    src.write_bytes(xlsx)
    pdf = lo.to_pdf(src, tmp_path / "pdf")
    pages = lo.pdf_page_count(pdf)
    assert pages >= len(SHEETS)
    texts = [lo.pdf_text(pdf, p) for p in range(1, pages + 1)]
    assert "汇总单位数" in texts[0] and "审核人" in texts[0]  # 汇总表 on one page, with its footer
    chart_pages = [n for n, t in enumerate(texts, 1) if "各单位举办活动次数" in t]
    assert chart_pages, "chart titles missing from the PDF"
    assert "活动经费投入数量" in "".join(texts) and "科普工作人员参与数量（按类型" in "".join(texts)
    png = lo.pdf_to_png(pdf, tmp_path / "png" / "page", dpi=40)
    assert len(png) == pages and png[chart_pages[0] - 1].stat().st_size > 5_000


# -- helpers ---------------------------------------------------------------------------------------------


def chart_parts(xlsx: bytes) -> dict[str, dict]:
    """Title → {type, direction, grouping, series [(cat ref, val ref)], refs, axis_titles} for every chart."""
    from lxml import etree

    out = {}
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        parts = [n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        for name in parts:
            root = etree.fromstring(z.read(name))
            title = "".join(
                root.xpath(
                    "/c:chartSpace/c:chart/c:title//a:t/text()",
                    namespaces={**C_NS, "a": "http://schemas.openxmlformats.org/drawingml/2006/main"},
                )
            )
            plot = root.xpath("//c:plotArea", namespaces=C_NS)[0]
            first = next(el for el in plot if el.tag.endswith("Chart"))
            series = [
                (
                    s.xpath("c:cat//c:f/text()", namespaces=C_NS)[0],
                    s.xpath("c:val//c:f/text()", namespaces=C_NS)[0],
                )
                for s in root.xpath("//c:ser", namespaces=C_NS)
            ]
            out[title] = {
                "type": etree.QName(first).localname,
                "direction": (first.xpath("c:barDir/@val", namespaces=C_NS) or [""])[0],
                "grouping": (first.xpath("c:grouping/@val", namespaces=C_NS) or [""])[0],
                "series": series,
                "refs": root.xpath("//c:f/text()", namespaces=C_NS),
                "axis_titles": root.xpath("//c:valAx/c:title|//c:catAx/c:title", namespaces=C_NS),
            }
    return out


def resolve(ws, series: tuple[str, str]) -> tuple[list, list]:
    """The category names and values a chart series reads from the sheet."""
    out = []
    for ref in series:
        sheet, rng = ref.split("!")
        assert sheet.strip("'") == "图表", ref
        c1, r1, c2, r2 = range_boundaries(rng.replace("$", ""))
        assert c1 == c2
        out.append([ws.cell(r, c1).value for r in range(r1, r2 + 1)])
    return out[0], out[1]
