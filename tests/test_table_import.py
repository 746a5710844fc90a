"""`kepuxl forms from-table` (kepu_xl/table_grid.py, table_import.py): the blank table the level above sends
becomes a definition workbook, and a campaign runs on it.

Each shape of table (vertical 泗县, label/value pairs, horizontal with merged group headers; tests/tables.py)
is built as .xlsx (xlsxwriter) and .docx (python-docx, merged cells), and as .xls and .ods saved by real
LibreOffice. Every one is imported, checked, made into forms, filled (openpyxl; one unit typed in
LibreOffice), collected, and the collected values are compared exactly.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
import tables
from click.testing import CliRunner

from kepu_xl import make, spec, table_grid, table_import
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code, KepuError, Severity
from kepu_xl.init import init_campaign

SHAPES = {"sixian": tables.SIXIAN, "pairs": tables.PAIRS, "horizontal": tables.HORIZONTAL}
FORMATS = ("xlsx", "docx", "xls", "ods")
NOW = datetime(2023, 5, 29, 12, 0)

# what each table asks for: (id, section, label, unit, type, places, formula) in table order
EXPECTED = {
    "sixian": [
        ("f1", "科普活动开展次数", "举办活动次数", "次", "integer", None, None),
        ("f2", "活动经费投入数量（单位：万元）", "县级(单位)财政经费投入情况", "万元", "decimal", 4, None),
        ("f3", "活动经费投入数量（单位：万元）", "企业赞助经费情况", "万元", "decimal", 4, None),
        (
            "f4",
            "活动经费投入数量（单位：万元）",
            "实物投入情况（如：捐赠图书、光盘、创新操作室等）",
            "万元",
            "decimal",
            4,
            None,
        ),
        ("f5", "活动经费投入数量（单位：万元）", "其他经费情况", "万元", "decimal", 4, None),
        ("f6", "活动经费投入数量（单位：万元）", "经费合计", "万元", "decimal", 4, "f2 + f3 + f4 + f5"),
        ("f7", "科普工作人员参与数量", "科普专职人员数量", "人", "integer", None, None),
        ("f8", "科普工作人员参与数量", "科技工作者参与数量", "人", "integer", None, None),
        ("f9", "科普工作人员参与数量", "招募科技志愿者数量", "人", "integer", None, None),
        ("f10", "科普工作人员参与数量", "其他人员数量", "人", "integer", None, None),
        ("f11", "科普工作人员参与数量", "人员合计", "人", "integer", None, "f7 + f8 + f9 + f10"),
        ("f12", "科普活动群众参与数量", "线下活动群众参与数量", "人次", "integer", None, None),
        ("f13", "科普活动群众参与数量", "线上活动群众参与数量", "人次", "integer", None, None),
        ("f14", "宣传报道情况", "参与媒体数量", "家", "integer", None, None),
        ("f15", "宣传报道情况", "宣传报道数量", "篇", "integer", None, None),
        ("f16", "活动周期间开放的科普场馆数量", "活动周期间开放的科普场馆数量", "个", "integer", None, None),
        (
            "f17",
            "活动周期间开放活动的科研机构数量",
            "活动周期间开放活动的科研机构数量",
            "个",
            "integer",
            None,
            None,
        ),
        ("f18", "活动周期间开放活动的大学数量", "活动周期间开放活动的大学数量", "所", "integer", None, None),
    ],
    "pairs": [
        ("f1", "一、活动开展", "举办活动（场）", "场", "integer", None, None),
        ("f2", "一、活动开展", "参与人数（人次）", "人次", "integer", None, None),
        ("f3", "一、活动开展", "其中：青少年（人次）", "人次", "integer", None, None),
        ("f4", "一、活动开展", "科普讲座（场）", "场", "integer", None, None),
        ("f5", "一、活动开展", "科普展览（次）", "次", "integer", None, None),
        ("f6", "一、活动开展", "发放资料（份）", "份", "integer", None, None),
        ("f7", "二、经费投入", "财政投入", "万元", "decimal", 4, None),
        ("f8", "二、经费投入", "社会投入", "万元", "decimal", 4, None),
        ("f9", "二、经费投入", "经费合计", "万元", "decimal", 4, "f7 + f8"),
    ],
    "horizontal": [
        ("f1", "活动开展", "活动次数（次）", "次", "integer", None, None),
        ("f2", "活动开展", "参与人数（人次）", "人次", "integer", None, None),
        ("f3", "经费投入（万元）", "财政", "万元", "decimal", 4, None),
        ("f4", "经费投入（万元）", "社会", "万元", "decimal", 4, None),
        ("f5", "经费投入（万元）", "小计", "万元", "decimal", 4, "f3 + f4"),
        ("f6", "宣传报道（篇）", "宣传报道（篇）", "篇", "integer", None, None),
    ],
}
TITLES = {
    "sixian": "科技活动周开展情况统计表",
    "pairs": "全国科普日活动情况表",
    "horizontal": "科普日活动统计表",
}
INFO = {
    "sixian": [
        ("preparer", "填表人", "text"),
        ("phone", "联系电话", "phone"),
        ("fill_date", "填报日期", "date"),
    ],
    "pairs": [
        ("preparer", "填表人", "text"),
        ("phone", "联系电话", "phone"),
        ("fill_date", "填报日期", "date"),
    ],
    "horizontal": [
        ("preparer", "填表人", "text"),
        ("reviewer", "审核人", "text"),
        ("phone", "联系电话", "phone"),
    ],
}
NOTES = {
    "sixian": ["经费单位为万元，请勿按元填写。", "没有开展的项目请填 0。"],
    "pairs": ["参与人数按人次统计。"],
    "horizontal": [],
}


@pytest.fixture(scope="module")
def table_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every shape in every format: .xlsx and .docx written here, .xls and .ods saved by LibreOffice."""
    work = tmp_path_factory.mktemp("tables")
    out = {}
    for shape, table in SHAPES.items():
        out[shape, "xlsx"] = tables.write_xlsx(table, work / f"{shape}.xlsx")
        out[shape, "docx"] = tables.write_docx(table, work / f"{shape}.docx")
        if lo.available() or lo.in_ci():
            for fmt in ("xls", "ods"):
                out[shape, fmt] = lo.convert(out[shape, "xlsx"], fmt, work / fmt)
    return out


def table_file(table_files: dict[tuple[str, str], Path], shape: str, fmt: str) -> Path:
    if (shape, fmt) not in table_files:
        pytest.skip("LibreOffice makes the .xls and .ods tables")
    return table_files[shape, fmt]


def summary(raw: dict) -> list[tuple]:
    return [
        (f["id"], s["title"], f["label"], f["unit"], f.get("type"), f.get("places"), f.get("formula"))
        for s in raw["sections"]
        for f in s["fields"]
    ]


# -- what is inferred ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_in_each_format_is_inferred_exactly(table_files, shape: str, fmt: str) -> None:
    path = table_file(table_files, shape, fmt)
    imported = table_import.infer(table_grid.load(path.read_bytes(), path.name), path.name)
    assert summary(imported.raw) == EXPECTED[shape]
    assert imported.raw["form"]["title"] == TITLES[shape]
    assert imported.raw["form"].get("instructions", []) == NOTES[shape]
    assert [(i["id"], i["label"], i["type"]) for i in imported.raw["info"]] == INFO[shape]
    assert imported.unresolved == []  # every one of these tables is read in full
    # each input is reported at its own cell of the table, as the clerk names it
    fields = [f for f in imported.findings if f.code in (Code.TABLE_FIELD, Code.TABLE_TOTAL)]
    assert len(fields) == len(EXPECTED[shape])
    assert len({f.cell for f in fields}) == len(fields)


def test_the_sixian_table_gives_the_bundled_science_week(table_files) -> None:
    """The README's walk-through: the same 16 inputs, units, types and places as the bundled definition."""
    path = table_files["sixian", "xlsx"]
    raw = table_import.infer(table_grid.load(path.read_bytes(), path.name), path.name).raw
    week = spec.load(spec.bundled_dir() / "science_week.toml")
    imported = [f for s in raw["sections"] for f in s["fields"]]
    assert len([f for f in imported if "formula" not in f]) == len(week.inputs) == 16
    assert [(f["label"], f["unit"], f["type"], f.get("places", 0), "formula" in f) for f in imported] == [
        (f.label, f.unit, f.type, f.places, f.computed) for f in week.fields
    ]
    assert [s["title"] for s in raw["sections"]] == [s.title for s in week.sections]
    assert raw["form"]["title"] == week.title


def test_cells_are_named_the_way_the_clerk_finds_them(table_files) -> None:
    found = {}
    for fmt in ("xlsx", "docx"):
        path = table_files["sixian", fmt]
        imported = table_import.infer(table_grid.load(path.read_bytes(), path.name), path.name)
        found[fmt] = {
            f.context.get("id"): (f.sheet, f.cell) for f in imported.findings if f.code is Code.TABLE_FIELD
        }
    assert found["xlsx"]["f2"] == ("Sheet1", "D5")  # under the title, 填报单位 and header rows
    assert found["docx"]["f2"] == ("表格 1", "第 3 行第 4 列")


def test_the_same_table_gives_the_same_bytes(table_files, tmp_path: Path) -> None:
    path = table_files["horizontal", "xlsx"]
    first = table_import.from_table(path, tmp_path / "a.xlsx")
    second = table_import.from_table(path, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    assert first.findings == second.findings


@pytest.mark.parametrize("shape", SHAPES)
def test_ids_stay_when_the_table_gains_a_row_at_the_end(tmp_path: Path, shape: str) -> None:
    table = SHAPES[shape]
    grown = tables.Table(table.above, [list(r) for r in table.rows], list(table.merges), table.below)
    if shape == "horizontal":  # a new column at the right end
        for row, text in zip(grown.rows, ["新增项目（个）", None, "", "", ""], strict=True):
            row.append(text)
        grown.merges.append((0, 8, 1, 8))
    elif shape == "pairs":
        grown.rows.insert(5, ["科普基地（个）", "", None, None, None, None])
        grown.merges.append((5, 2, 5, 5))
    else:
        grown.rows.append(["活动周期间开放的科技馆数量", None, "个", ""])
        grown.merges.append((19, 0, 19, 1))
    before = table_import.infer(
        table_grid.load(tables.write_xlsx(table, tmp_path / "a.xlsx").read_bytes(), "a.xlsx"), "a"
    )
    after = table_import.infer(
        table_grid.load(tables.write_xlsx(grown, tmp_path / "b.xlsx").read_bytes(), "b.xlsx"), "b"
    )
    old, new = summary(before.raw), summary(after.raw)
    assert new[: len(old)] == old
    assert [f[0] for f in new[len(old) :]] == [f"f{len(old) + 1}"]


def test_sections_as_rows_of_their_own_and_a_table_unit(tmp_path: Path) -> None:
    table = tables.Table(
        above=["科普工作情况统计表", "（单位：万元）"],
        rows=[
            ["项目", "单位", "数量"],
            ["一、科普经费", None, None],
            ["财政拨款", "", ""],
            ["其中：省级拨款", "", ""],
            ["社会捐赠", "", ""],
            ["小计", "", ""],
            ["二、科普人员", None, None],
            ["专职人员", "人", ""],
            ["兼职人员（人）", "", ""],
            ["服务站(个)", "", ""],
            ["开展培训/次", "", ""],
        ],
        merges=[(1, 0, 1, 2), (6, 0, 6, 2)],
    )
    path = tables.write_xlsx(table, tmp_path / "表.xlsx")
    imported = table_import.infer(table_grid.load(path.read_bytes(), path.name), path.name)
    assert summary(imported.raw) == [
        ("f1", "一、科普经费", "财政拨款", "万元", "decimal", 4, None),
        ("f2", "一、科普经费", "其中：省级拨款", "万元", "decimal", 4, None),
        ("f3", "一、科普经费", "社会捐赠", "万元", "decimal", 4, None),
        ("f4", "一、科普经费", "小计", "万元", "decimal", 4, "f1 + f3"),  # 其中 is part of 财政拨款
        ("f5", "二、科普人员", "专职人员", "人", "integer", None, None),
        ("f6", "二、科普人员", "兼职人员（人）", "人", "integer", None, None),
        ("f7", "二、科普人员", "服务站(个)", "个", "integer", None, None),
        ("f8", "二、科普人员", "开展培训/次", "次", "integer", None, None),
    ]
    sources = [f.context["source"] for f in imported.findings if f.code is Code.TABLE_FIELD]
    assert sources == ["（单位来自表的单位行）"] * 3 + ["（单位来自单位列）"] + ["（单位来自标签）"] * 3
    assert [(f.code, f.cell) for f in imported.findings.items[:3]] == [
        (Code.TABLE_TITLE, "A1"),
        (Code.TABLE_UNIT, "A2"),
        (Code.TABLE_SHAPE, "A3"),
    ]


# -- what cannot be inferred is listed, at its cell, and left for the clerk ------------------------------

UNCLEAR = tables.Table(
    above=["2024年科普工作统计表"],
    rows=[
        ["项目", "指标", "单位", "数量"],
        ["科普活动", "举办讲座", "场", ""],
        [None, "", "", ""],  # an input without a label
        [None, "参与人数", "人次", ""],
        [None, "合计", "", ""],  # 场 + 人次: no total
        ["宣传", "报道", "", ""],  # no unit anywhere
        ["其他", "科普资料", "份", ""],
        [None, "展板数量", "块", None],  # one value cell for two items
    ],
    merges=[(1, 0, 4, 0), (6, 0, 7, 0), (6, 3, 7, 3)],
)


def test_what_cannot_be_inferred_is_listed_at_its_cell_and_left_blank(tmp_path: Path) -> None:
    path = tables.write_xlsx(UNCLEAR, tmp_path / "不清楚.xlsx")
    report = table_import.from_table(path, tmp_path / "定义.xlsx")
    warned = [(f.code.name, f.cell) for f in report.findings if f.severity is Severity.WARNING]
    assert warned == [
        ("TABLE_NO_LABEL", "D4"),
        ("TABLE_TOTAL_UNCLEAR", "B6"),
        ("TABLE_NO_UNIT", "B7"),
        ("TABLE_UNCLEAR", "D8"),
    ]
    messages = {f.code.name: f.message for f in report.findings}
    assert messages["TABLE_NO_LABEL"] == Code.TABLE_NO_LABEL.format(input="D4", target="“指标”表 D3、E3")
    assert messages["TABLE_TOTAL_UNCLEAR"] == Code.TABLE_TOTAL_UNCLEAR.format(
        label="合计",
        why="各分项与合计的单位不一致（人次、场、未定）",
        target="“指标”表 E5 的单位和 K5 的公式",
    )
    assert messages["TABLE_UNCLEAR"] == Code.TABLE_UNCLEAR.format(
        range="D8:D9", text="其他、科普资料", why="是跨多行的数值格，看不出每行各填什么"
    )
    # the definition is written with those cells empty: `forms check` names them, and nothing is guessed
    assert not report.ok
    assert [(f.code.name, f.sheet, f.cell) for f in report.check] == [
        ("SPEC_MISSING", "指标", "D3"),
        ("SPEC_MISSING", "指标", "E3"),
        ("SPEC_MISSING", "指标", "E5"),
        ("SPEC_MISSING", "指标", "E6"),
    ]
    ws = openpyxl.load_workbook(tmp_path / "定义.xlsx")["指标"]
    assert [ws.cell(r, 4).value for r in range(2, 7)] == ["举办讲座", None, "参与人数", "合计", "报道"]
    assert ws["K5"].value is None  # no formula guessed for 合计


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "空文件"),
        (b"PK\x03\x04 not really a zip", "文件已损坏"),
        ("项目,数量\n活动,\n".encode(), "不是 Excel 文件"),
    ],
    ids=["empty", "broken-zip", "csv"],
)
def test_a_file_that_is_no_table_is_one_clear_error(tmp_path: Path, content: bytes, error: str) -> None:
    path = tmp_path / "表.xlsx"
    path.write_bytes(content)
    with pytest.raises(KepuError) as info:
        table_import.from_table(path, tmp_path / "定义.xlsx")
    assert [f.code for f in info.value.findings] == [Code.TABLE_FILE]
    assert info.value.findings[0].message.startswith(error)
    assert not (tmp_path / "定义.xlsx").exists()


def test_a_word_document_without_a_table(tmp_path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_paragraph("请各单位于5月30日前报送。")
    doc.save(tmp_path / "通知.docx")
    with pytest.raises(KepuError) as info:
        table_import.from_table(tmp_path / "通知.docx", tmp_path / "定义.xlsx")
    assert [f.message for f in info.value.findings] == [Code.TABLE_FILE.format(error="Word 文档中没有表格")]


def test_a_word_document_gets_the_checks_a_workbook_gets(table_files, tmp_path: Path) -> None:
    """A DTD in document.xml (entity expansion, XXE) is refused before python-docx parses anything."""
    import io
    import zipfile

    src = zipfile.ZipFile(table_files["sixian", "docx"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(b"?>", b'?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1)
            out.writestr(info.filename, data)
    (tmp_path / "通知.docx").write_bytes(buffer.getvalue())
    with pytest.raises(KepuError) as info:
        table_import.from_table(tmp_path / "通知.docx", tmp_path / "定义.xlsx")
    assert [f.message for f in info.value.findings] == [Code.TABLE_FILE.format(error="文件含不安全内容")]


def test_a_table_with_nothing_to_fill_in(tmp_path: Path) -> None:
    table = tables.Table(above=["科普活动情况表"], rows=[["项目", "数量"], ["活动", "3"], ["人数", "20"]])
    with pytest.raises(KepuError) as info:
        table_import.from_table(tables.write_xlsx(table, tmp_path / "已填.xlsx"), tmp_path / "定义.xlsx")
    assert Code.TABLE_NO_INPUT in [f.code for f in info.value.findings]


def test_an_existing_definition_is_never_replaced(table_files, tmp_path: Path) -> None:
    out = tmp_path / "定义.xlsx"
    out.write_bytes(b"edited by the clerk")
    with pytest.raises(KepuError) as info:
        table_import.from_table(table_files["pairs", "xlsx"], out)
    assert [f.code for f in info.value.findings] == [Code.DEFINITION_EXISTS]
    assert out.read_bytes() == b"edited by the clerk"
    assert table_import.from_table(table_files["pairs", "xlsx"], out, overwrite=True).ok


# -- the CLI ------------------------------------------------------------------------------------------------


def test_cli_from_table_json_is_the_library_report(table_files, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(table_files["sixian", "docx"], tmp_path / "泗县统计表.docx")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["forms", "from-table", "泗县统计表.docx", "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["output"] == "泗县统计表_定义.xlsx" and data["ok"] and data["fields"] == 18
    again = table_import.from_table(tmp_path / "泗县统计表.docx", tmp_path / "again.xlsx")
    assert data["findings"] == [f.to_dict() for f in again.findings]
    assert (tmp_path / "泗县统计表_定义.xlsx").read_bytes() == (tmp_path / "again.xlsx").read_bytes()


def test_cli_from_table_exits_1_when_the_clerk_must_fill_in(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    tables.write_xlsx(UNCLEAR, tmp_path / "表.xlsx")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["forms", "from-table", "表.xlsx", "-o", "定义.xlsx"]
    )
    assert result.exit_code == 1
    assert "TABLE_NO_LABEL" in result.output and "定义.xlsx 还需补充" in result.output
    assert "kepuxl forms check 定义.xlsx" in result.output


# -- a whole campaign on an imported definition --------------------------------------------------------------


def typed_values(spec_: spec.FormSpec, seed: int) -> dict[str, float]:
    """A value for every input: integers for counts, a value with 4 places for 万元."""
    out = {}
    for n, f in enumerate(spec_.inputs, start=1):
        out[f.id] = round(n * 1.2345 + seed, 4) if f.type == "decimal" else n * 7 + seed
    return out


def campaign_on(definition: Path, folder: Path) -> Context:
    config = init_campaign(folder, form=str(definition))
    make.make_forms(config, workers=0)
    return Context.load(config)


def fill_with_openpyxl(ctx: Context, unit_id: str, values: dict[str, float], inbox: Path) -> None:
    unit = ctx.campaign.unit(unit_id)
    form = ctx.campaign.folder / "output" / "forms" / ctx.form_name(unit)
    wb = openpyxl.load_workbook(form)
    ws = wb[ctx.spec.sheet]
    for field_id, value in values.items():
        ws[ctx.cells.fields[field_id].a1] = value
    for info in ctx.spec.info:
        ws[ctx.cells.info[info.id].a1] = {"date": "2023-05-28", "phone": "0557-5550111"}.get(
            info.type, "赵磊"
        )
    wb.save(inbox / f"{unit_id}.xlsx")


def expected_values(ctx: Context, values: dict[str, float]) -> dict[str, float]:
    out = dict(values)
    for f in ctx.spec.fields:
        if f.computed:
            out[f.id] = f.rounded(sum(values[n] for n in f.formula.names))
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_import_make_fill_collect(table_files, tmp_path: Path, shape: str, fmt: str) -> None:
    path = table_file(table_files, shape, fmt)
    report = table_import.from_table(path, tmp_path / "定义.xlsx")
    assert report.ok and report.check == []
    ctx = campaign_on(tmp_path / "定义.xlsx", tmp_path / "活动")
    assert [f.id for f in ctx.spec.fields] == [e[0] for e in EXPECTED[shape]]
    inbox = ctx.campaign.folder / "inbox"
    sent = {"T01": typed_values(ctx.spec, 0), "D01": typed_values(ctx.spec, 3)}
    for unit_id, values in sent.items():
        fill_with_openpyxl(ctx, unit_id, values, inbox)
    result = collect(inbox, ctx.campaign.folder / CONFIG_NAME, now=NOW, write=False)
    got = {u.unit.id: (u.status, u.values) for u in result.units if u.file}
    assert got == {uid: ("accepted", expected_values(ctx, v)) for uid, v in sent.items()}
    assert result.totals == {
        f.id: f.rounded(sum(expected_values(ctx, v)[f.id] for v in sent.values())) for f in ctx.spec.fields
    }


@lo.requires_libreoffice
def test_an_imported_form_typed_in_libreoffice_is_collected_exactly(table_files, tmp_path: Path) -> None:
    table_import.from_table(table_files["sixian", "docx"], tmp_path / "定义.xlsx")
    ctx = campaign_on(tmp_path / "定义.xlsx", tmp_path / "活动")
    unit = ctx.campaign.unit("T02")
    form = ctx.campaign.folder / "output" / "forms" / ctx.form_name(unit)
    typed = {
        "f1": "3",
        "f2": "1.25",
        "f3": "0.5",
        "f4": "0",
        "f5": "0.0625",
        "f7": "2",
        "f8": "3",
        "f9": "10",
    }
    typed |= {
        "f10": "1",
        "f12": "1,200",
        "f13": "800",
        "f14": "2",
        "f15": "4",
        "f16": "1",
        "f17": "0",
        "f18": "0",
    }
    edits = [{"sheet": ctx.spec.sheet, "cell": ctx.cells.fields[k].a1, "typed": v} for k, v in typed.items()]
    edits += [{"sheet": ctx.spec.sheet, "cell": ctx.cells.info["preparer"].a1, "typed": "赵磊"}]
    filled = lo.fill(form, tmp_path / "filled", edits=edits, outputs=["xlsx", "ods"])
    assert set(filled.statuses) == {"ok"}, filled.statuses
    expected = {k: float(v.replace(",", "")) for k, v in typed.items()} | {"f6": 1.8125, "f11": 16.0}
    for fmt in ("xlsx", "ods"):
        inbox = tmp_path / f"inbox_{fmt}"
        inbox.mkdir()
        shutil.copy(filled.paths[fmt], inbox)
        result = collect(inbox, ctx.campaign.folder / CONFIG_NAME, now=NOW, write=False)
        t02 = next(u for u in result.units if u.unit.id == "T02")
        assert t02.status == "accepted", [str(f) for f in t02.findings]
        assert t02.values == expected
    # the form computed its own totals in LibreOffice as collect does
    ws = openpyxl.load_workbook(filled.paths["xlsx"], data_only=True)[ctx.spec.sheet]
    assert (ws[ctx.cells.fields["f6"].a1].value, ws[ctx.cells.fields["f11"].a1].value) == (1.8125, 16)


# -- every TABLE_ code is reachable ------------------------------------------------------------------------


def test_every_table_code_is_produced_by_some_table(table_files, tmp_path: Path) -> None:
    seen = set()
    for path in table_files.values():
        seen |= {
            f.code
            for f in table_import.infer(table_grid.load(path.read_bytes(), path.name), path.name).findings
        }
    seen |= {
        f.code
        for f in table_import.infer(
            table_grid.load(tables.write_xlsx(UNCLEAR, tmp_path / "u.xlsx").read_bytes(), "u"), "u"
        ).findings
    }
    raised = {Code.TABLE_FILE, Code.TABLE_NO_INPUT}  # raised as KepuError, tested above
    assert {c for c in Code if c.name.startswith("TABLE_")} - seen - raised == set()
