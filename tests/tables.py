"""Blank statistics tables as the level above sends them, built for the tests: .xlsx (xlsxwriter), .docx
(python-docx, with merged cells); .xls and .ods come from the .xlsx through real LibreOffice.

A `Table` is the paragraphs above it (title, 填报单位), its grid (texts and merged ranges) and the
paragraphs below it (填表人, 注：). In a workbook the paragraphs are rows merged across the table, as
clerks lay them out; in Word they are paragraphs around the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import xlsxwriter

Range = tuple[int, int, int, int]


@dataclass
class Table:
    above: list[str]
    rows: list[list[str | None]]  # None: covered by a merged range
    merges: list[Range] = field(default_factory=list)  # in grid coordinates (row 0 = first grid row)
    below: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return max(len(r) for r in self.rows)


def write_xlsx(table: Table, path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    ws = wb.add_worksheet("Sheet1")
    border = wb.add_format({"border": 1, "text_wrap": True, "valign": "vcenter"})
    plain = wb.add_format({"text_wrap": True})
    top = len(table.above)
    width = table.width
    for r, text in enumerate(table.above):
        ws.merge_range(r, 0, r, width - 1, text, plain)
    merged_at = {(r0, c0): (r0, c0, r1, c1) for r0, c0, r1, c1 in table.merges}
    for r, row in enumerate(table.rows):
        for c in range(width):
            text = row[c] if c < len(row) else ""
            if (r, c) in merged_at:
                r0, c0, r1, c1 = merged_at[(r, c)]
                ws.merge_range(top + r0, c0, top + r1, c1, text or "", border)
            elif text is not None:
                ws.write_string(top + r, c, text, border) if text else ws.write_blank(
                    top + r, c, None, border
                )
    bottom = top + len(table.rows)
    for n, text in enumerate(table.below):
        ws.merge_range(bottom + n, 0, bottom + n, width - 1, text, plain)
    ws.set_column(0, width - 1, 18)
    wb.close()
    return path


def write_docx(table: Table, path: Path) -> Path:
    import docx

    doc = docx.Document()
    doc.add_paragraph("关于报送2023年科技活动周统计数据的通知")  # a notice text before the table's title
    doc.add_paragraph("")
    for text in table.above:
        doc.add_paragraph(text)
    grid = doc.add_table(rows=len(table.rows), cols=table.width)
    grid.style = "Table Grid"
    for r, row in enumerate(table.rows):
        for c, text in enumerate(row):
            if text:
                grid.cell(r, c).text = text
    for r0, c0, r1, c1 in table.merges:
        text = table.rows[r0][c0] or ""
        cell = grid.cell(r0, c0).merge(grid.cell(r1, c1))
        cell.text = text  # merge() joins the paragraphs of the merged cells: write the text once
    for text in table.below:
        doc.add_paragraph(text)
    doc.save(str(path))
    return path


# -- the tables ------------------------------------------------------------------------------------------

# 泗县 2023 科技活动周开展情况统计表, as the county received it (the bundled science_week copies it)
SIXIAN = Table(
    above=["2023年科技活动周开展情况统计表", "填报单位（盖章）："],
    rows=[
        ["项目", "指标", "单位", "数量"],
        ["科普活动开展次数", "举办活动次数", "次", ""],
        ["活动经费投入数量（单位：万元）", "县级(单位)财政经费投入情况", "", ""],
        [None, "企业赞助经费情况", "", ""],
        [None, "实物投入情况（如：捐赠图书、光盘、创新操作室等）", "", ""],
        [None, "其他经费情况", "", ""],
        [None, "经费合计", "", ""],
        ["科普工作人员参与数量", "科普专职人员数量", "人", ""],
        [None, "科技工作者参与数量", "人", ""],
        [None, "招募科技志愿者数量", "人", ""],
        [None, "其他人员数量", "人", ""],
        [None, "人员合计", "人", ""],
        ["科普活动群众参与数量", "线下活动群众参与数量", "人次", ""],
        [None, "线上活动群众参与数量", "人次", ""],
        ["宣传报道情况", "参与媒体数量", "家", ""],
        [None, "宣传报道数量", "篇", ""],
        ["活动周期间开放的科普场馆数量", None, "个", ""],
        ["活动周期间开放活动的科研机构数量", None, "个", ""],
        ["活动周期间开放活动的大学数量", None, "所", ""],
    ],
    merges=[
        (2, 0, 6, 0),
        (7, 0, 11, 0),
        (12, 0, 13, 0),
        (14, 0, 15, 0),
        (16, 0, 16, 1),
        (17, 0, 17, 1),
        (18, 0, 18, 1),
    ],
    below=[
        "填表人：              联系电话：              填报日期：    年  月  日",
        "注：经费单位为万元，请勿按元填写。\n没有开展的项目请填 0。",
    ],
)

# label/value pairs, three a row, with a section row and the 填表人 row inside the grid
PAIRS = Table(
    above=["2024年全国科普日活动情况表", "单位：万元"],
    rows=[
        ["一、活动开展", None, None, None, None, None],
        ["举办活动（场）", "", "参与人数（人次）", "", "其中：青少年（人次）", ""],
        ["科普讲座（场）", "", "科普展览（次）", "", "发放资料（份）", ""],
        ["二、经费投入", None, None, None, None, None],
        ["财政投入", "", "社会投入", "", "经费合计", ""],
        ["填表人", "", "联系电话", "", "填报日期", ""],
    ],
    merges=[(0, 0, 0, 5), (3, 0, 3, 5)],
    below=["注：参与人数按人次统计。"],
)

# horizontal: two header rows with merged group headers, then one input row per unit and a 合计 row
HORIZONTAL = Table(
    above=["2024年科普日活动统计表"],
    rows=[
        ["序号", "单位名称", "活动开展", None, "经费投入（万元）", None, None, "宣传报道（篇）"],
        [None, None, "活动次数（次）", "参与人数（人次）", "财政", "社会", "小计", None],
        ["1", "", "", "", "", "", "", ""],
        ["2", "", "", "", "", "", "", ""],
        ["合计", None, "", "", "", "", "", ""],
    ],
    merges=[(0, 0, 1, 0), (0, 1, 1, 1), (0, 2, 0, 3), (0, 4, 0, 6), (0, 7, 1, 7), (4, 0, 4, 1)],
    below=["填表人：          审核人：          联系电话："],
)
