"""The 总结报告（数据部分）.docx (`kepuxl collect --report`, kepu_xl/report_docx.py).

A small county with last year (tests/lastyear.py, the figures worked out by hand there) is collected by
the real command; the document is opened with python-docx (paragraphs, table cells, pictures) and printed
to PDF by LibreOffice (pages and text). The words come from 总结报告模板.txt in the campaign folder: an
edited template is followed, an unknown placeholder is reported, a broken one stops the run before it
starts. Without a Chinese font the report has no charts and says why.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import docx
import libreoffice as lo
import pytest
from click.testing import CliRunner
from conftest import init_sample
from lastyear import last_year, this_year

from kepu_xl import campaign as campaign_mod
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.findings import KepuError
from kepu_xl.report_docx import report_name, write_report

NOW = datetime(2023, 6, 5, 9, 0)
TITLE = "2023年科技活动周总结报告（数据部分）"
# by hand, from tests/lastyear.py: 15 → 18 activities, 10 → 9.5 万元, 100 → 100 people,
# 10,000 → 12,340 offline, 0 → 500 online
SENTENCES = [
    "全县举办活动次数 18 次，比上年增长 20.0%（上年 15 次）。",
    "全县经费合计 9.5 万元，比上年下降 5.0%（上年 10 万元）。",
    "全县人员合计 100 人，与上年持平（上年 100 人）。",
    "全县线下活动群众参与数量 12,340 人次，比上年增长 23.4%（上年 10,000 人次）。",
    "全县线上活动群众参与数量 500 人次，上年为 0。",
]


def summary_docx() -> bytes:
    """A unit's own activity summary, as a unit sends it along with the form."""
    document = docx.Document()
    document.add_paragraph("县教育局科技活动周工作总结")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    last_year(root / "2022年科技活动周")
    config = this_year(root / "2023年科技活动周", "../2022年科技活动周")
    inbox = config.parent / "inbox"
    (inbox / "城关街道-活动照片1.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200))
    (inbox / "县教育局-活动总结.docx").write_bytes(summary_docx())
    return config


@pytest.fixture(scope="module")
def made(county: Path) -> tuple[Path, dict]:
    result = CliRunner().invoke(
        cli, ["collect", str(county.parent / "inbox"), "-c", str(county), "--report", "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return Path(data["outputs"]["report"]), data


def texts(document: docx.document.Document) -> list[str]:
    return [p.text for p in document.paragraphs if p.text.strip()]


def cells(table: docx.table.Table) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in table.rows]


def test_the_report_is_written_beside_the_summary(made: tuple[Path, dict], county: Path) -> None:
    path, data = made
    assert path == county.parent / "output" / report_name(campaign_mod.load(county)) and path.is_file()
    assert path.name == "2023年科技活动周_总结报告（数据部分）.docx"
    assert not [f for f in data["findings"] if f["code"].startswith("REPORT")]


def test_the_key_figures_in_sentences_with_the_change_on_last_year(made: tuple[Path, dict]) -> None:
    paragraphs = texts(docx.Document(made[0]))
    assert paragraphs[0] == TITLE
    assert (
        "青溪县科学技术局组织开展了2023年科技活动周。全县应报单位 5 个，已报 4 个，其中审核通过 4 个、有警告 0 个；"
        "待核实 0 个，退回修改 0 个，未报 1 个。以下数据为审核通过（含有警告）的 4 个单位的合计；"
        "待核实、退回和未报单位的数据未计入。"
    ) in paragraphs
    start = paragraphs.index("二、主要数据") + 1
    assert paragraphs[start : start + len(SENTENCES)] == SENTENCES
    assert "未报单位（1 个）：县气象局。" in paragraphs


def test_the_tables(made: tuple[Path, dict]) -> None:
    categories, top, materials = docx.Document(made[0]).tables
    heads = ["举办活动次数（次）", "经费合计（万元）", "人员合计（人）", "线下活动群众参与数量（人次）"]
    assert cells(categories)[0] == ["单位类别", "计入单位数", *heads, "线上活动群众参与数量（人次）"]
    assert cells(categories)[1:] == [
        ["镇（街道）", "2", "11", "6.5", "60", "8,300", "500"],
        ["县级部门", "2", "7", "3", "40", "4,040", "0"],  # 县气象局 sent nothing
        ["合计", "4", "18", "9.5", "100", "12,340", "500"],
        ["上年", "", "15", "10", "100", "10,000", "0"],
        ["增减%", "", "+20.0%", "-5.0%", "+0.0%", "+23.4%", "—"],
    ]
    assert cells(top) == [
        ["名次", "单位", "单位类别", "举办活动次数（次）", "上年", "增减%"],
        ["1", "城关街道", "镇（街道）", "6", "5", "+20.0%"],
        ["2", "东湖街道", "镇（街道）", "5", "4", "+25.0%"],
        ["3", "县教育局", "县级部门", "4", "3", "+33.3%"],
        ["4", "县科学技术协会", "县级部门", "3", "1", "+200.0%"],
    ]
    rows = {r[0]: r[1:] for r in cells(materials)}
    # the kinds asked for or sent: no unit sent a scan, a video or a media report and none is asked for
    assert rows["单位"] == ["状态", "活动照片（张）", "活动总结（份）"]
    assert rows["城关街道"] == ["通过", "1", "0"] and rows["县教育局"] == ["通过", "0", "1"]
    assert rows["县气象局"] == ["未报", "0", "0"]


def test_the_charts_are_pictures_with_captions(made: tuple[Path, dict]) -> None:
    document = docx.Document(made[0])
    assert len(document.inline_shapes) == 3
    captions = [t for t in texts(document) if t.startswith("图 ")]
    assert captions == [
        "图 1\u3000各单位举办活动次数（次）",
        "图 2\u3000活动经费投入（按来源，万元）",
        "图 3\u3000主要指标同比增减",
    ]
    for shape in document.inline_shapes:  # real PNGs, as wide as the text
        assert shape.width > docx.shared.Cm(15)


@lo.requires_libreoffice
def test_libreoffice_prints_it(made: tuple[Path, dict], tmp_path: Path) -> None:
    pdf = lo.to_pdf(made[0], tmp_path, timeout=300)
    pages = lo.pdf_page_count(pdf)
    # title, counts, sentences, two tables (page 1); three charts of 7-8 cm (pages 2-3); materials
    assert 3 <= pages <= 5, pages
    text = "".join("".join(lo.pdf_text(pdf, n).split()) for n in range(1, pages + 1))
    for expected in (TITLE, *SENTENCES, "图3", "未报单位（1个）：县气象局。"):
        assert "".join(expected.split()) in text, expected
    assert {(round(w), round(h)) for w, h in lo.pdf_page_sizes(pdf)} == {(595, 842)}  # A4


def test_an_edited_template_is_followed(county: Path, tmp_path: Path) -> None:
    template = county.parent / "总结报告模板.txt"
    original = template.read_text(encoding="utf-8")
    template.write_text(
        "标题：{组织单位}{年度}年活动周数据\n\n// 只要两句\n# 概况\n"
        "全县举办活动 {activities}，{activities.同比}；经费由上年的 {fund_total.上年} 变为 {fund_total}。\n"
        "{不存在的占位符}\n",
        encoding="utf-8",
    )
    try:
        report = collect(county.parent / "inbox", county, tmp_path / "out", now=NOW, report_doc=True)
    finally:
        template.write_text(original, encoding="utf-8")
    document = docx.Document(report.outputs["report"])
    assert texts(document) == [
        "青溪县科学技术局2023年活动周数据",
        "概况",
        "全县举办活动 18 次，比上年增长 20.0%；经费由上年的 10 万元 变为 9.5 万元。",
        "{不存在的占位符}",
    ]
    assert not document.tables and not document.inline_shapes
    (unknown,) = [f for f in report.findings if f.code.name == "REPORT_TEMPLATE"]
    assert unknown.context["placeholder"] == "{不存在的占位符}" and "{指标编号.同比}" in unknown.message


def test_a_broken_template_stops_the_run_before_it_begins(tmp_path: Path) -> None:
    county = init_sample(tmp_path / "青溪县", with_returns=True)
    (county / "总结报告模板.txt").write_text("一、概况\n", encoding="utf-8")  # no 标题： line
    with pytest.raises(KepuError, match="第一行应为“标题：……”"):
        collect(county / "inbox", county / "kepuxl.toml", now=NOW, report_doc=True)
    assert not (county / "output").exists()


def test_without_a_chinese_font_the_report_says_why_it_has_no_charts(county: Path, tmp_path: Path) -> None:
    report = collect(county.parent / "inbox", county, tmp_path / "out", now=NOW)
    path = write_report(report, tmp_path / "out", fonts=("没有这种字体",))
    document = docx.Document(path)
    assert not document.inline_shapes
    (finding,) = [f for f in report.findings if f.code.name == "REPORT_NO_CHARTS"]
    assert "没有这种字体" in finding.message and "fonts-noto-cjk" in finding.message
    assert any(t.startswith("（未插入图表：本机找不到中文字体") for t in texts(document))


def test_without_last_year_the_figures_stand_alone(tmp_path: Path) -> None:
    county = init_sample(tmp_path / "青溪县", with_returns=True)
    report = collect(county / "inbox", county / "kepuxl.toml", now=NOW, report_doc=True)
    document = docx.Document(report.outputs["report"])
    paragraphs = texts(document)
    activities = report.totals["activities"]
    assert f"全县举办活动次数 {activities:,.0f} 次。" in paragraphs  # no 同比 without last year
    assert "待核实、核实前数据未计入的单位（1 个）：白沙镇。" in paragraphs
    categories = cells(document.tables[0])
    assert categories[-1][0] == "合计" and "上年" not in [r[0] for r in categories]
    assert len(document.inline_shapes) == 2  # no 同比 chart
