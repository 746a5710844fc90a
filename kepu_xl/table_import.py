"""A blank statistics table from above (`table_grid.Grid`) → a definition (raw tables for spec_book.write),
with one finding for everything inferred and everything that could not be.

The shapes a 统计表 takes:
- vertical: 项目 | 指标 | 单位 | 数量, a section as a merged cell spanning its items (or a row of its own),
  an item alone spanning the section and item columns;
- pairs: label | blank, two or three pairs a row;
- horizontal: one or two header rows (merged group headers over their columns), then one input row per unit;
and around any of them a title row, a 填报单位/单位（盖章） row, a （单位：万元） row, and footer rows
(填表人, 联系电话, 审核人, 填报日期, 注：…).

Units come from a unit column, the label (（人）, (个), /次), the section or group header (（单位：万元）) or
the table's own unit row, in that order; types from units (人/次/个… integer, 万元/元 decimal). 合计/小计/总计
items become formulas over their section. Ids are ASCII and positional (f1, f2 … in table order; s1 … for
sections): the same table gives the same ids everywhere, and a row added at the end changes no other id.
Labels keep the table's wording. What cannot be inferred (an input with no label, an item with no unit, a
merged block of unclear role, a total of unclear range) is a warning finding at its cell and is left blank
in the definition for the clerk; nothing is guessed silently.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import write_atomic
from .findings import Code, Finding, Findings, KepuError
from .intake import Limits
from .table_grid import Grid, Range

INTEGER_UNITS = set("人次个场篇家所项件册份块期名条处座台套部幅天支户张本间批门节集") | {
    "人次",
    "场次",
    "课时",
    "人天",
    "个次",
    "家次",
    "所次",
    "场（次）",
}
DECIMAL_UNITS = {"万元": 4, "元": 2, "千元": 3, "亿元": 6, "平方米": 2, "米": 2, "公里": 2, "千米": 2}
DECIMAL_UNITS |= {"小时": 1, "吨": 2, "%": 2, "亩": 2}
UNITS = INTEGER_UNITS | set(DECIMAL_UNITS)

# header words of a vertical table's columns
ROLE_WORDS = {
    "section": ("项目", "类别", "分类", "大类", "类型"),
    "label": ("指标", "内容", "名称", "指标名称", "项目名称", "统计内容", "子项"),
    "unit": ("单位", "计量单位"),
    "value": (
        "数量",
        "数值",
        "数据",
        "填报数",
        "完成数",
        "本年",
        "实际完成",
        "金额",
        "统计数",
        "填报数据",
        "数",
    ),
    "remark": ("备注", "说明"),
    "seq": ("序号", "编号"),
}
# text fields around a table: label pattern → (id, type)
INFO_LABELS = (
    (re.compile(r"^(填表人|填报人|制表人|统计人|经办人)$"), "preparer", "text"),
    (re.compile(r"^(联系电话|电话|手机|联系方式|手机号码)$"), "phone", "phone"),
    (re.compile(r"^(填报日期|填表日期|报送日期|日期|填报时间)$"), "fill_date", "date"),
    (re.compile(r"^(审核人|审核)$"), "reviewer", "text"),
    (re.compile(r"^(单位负责人|负责人|主管领导|分管领导|审批人)$"), "leader", "text"),
    (re.compile(r"^(备注|情况说明|说明|其他情况说明)$"), "note", "longtext"),
)
UNIT_CELL = re.compile(r"^(填报单位|填表单位|报送单位|单位名称|单位)(（盖章）|\(盖章\))?$")
IDENTITY = re.compile(r"^(序号|编号|单位名称|填报单位|单位|名称|乡镇|乡镇（街道）|地区|县区)$")
TOTAL = re.compile(r"(合计|小计|总计)")
SUBITEM = re.compile(r"^其中")
NOTE = re.compile(r"^(注|备注|说明|填表说明|填报说明)\s*[:：]\s*")
TITLE_YEAR = re.compile(r"^\s*\d{4}\s*年度?\s*")
UNIT_ROW = re.compile(r"^[（(]?\s*(?:计量)?单位\s*[:：]\s*([^）)，,；;\s]+)\s*[）)]?$")
UNIT_IN_HEADER = re.compile(r"[（(]\s*(?:计量)?单位\s*[:：]\s*([^）)]+?)\s*[）)]")
UNIT_SUFFIX = re.compile(r"(?:[（(]\s*([^（）()]{1,5})\s*[）)]|[/／]\s*([^/／\s]{1,3}))\s*$")
FILL_IN = re.compile(r"([^\s：:_＿]{1,12}?)\s*[:：]\s*[_＿\s]*(?:年\s*月\s*日)?[_＿\s]*")
ENUMERATED = re.compile(
    r"^([一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[）)]|\d+[、.．]|第.{1,3}部分)"
)
ATTACHMENT = re.compile(r"^附件\s*\d*\s*[:：]?$|^附表\s*\d*\s*[:：]?$")


@dataclass
class Item:
    """A numeric field as inferred from the table."""

    label: str
    input: tuple[int, int]  # the cell the unit would type into
    label_at: tuple[int, int] | None
    section: int  # index into sections
    unit: str = ""
    unit_from: str = ""
    total: bool = False


@dataclass
class SectionInfo:
    title: str
    at: tuple[int, int] | None
    unit: str = ""  # from （单位：万元） in its title


@dataclass
class Imported:
    """What `infer` made of a table: the definition's raw tables and the findings (inferred and not)."""

    raw: dict[str, Any]
    findings: Findings
    shape: str

    @property
    def unresolved(self) -> list[Finding]:
        return self.findings.warnings + self.findings.errors


@dataclass
class _Token:
    col: int
    kind: str  # T text, B blank, v covered by a block from above
    block: Range
    text: str = ""


@dataclass
class _Inference:
    grid: Grid
    name: str
    findings: Findings = field(default_factory=Findings)
    items: list[Item] = field(default_factory=list)
    sections: list[SectionInfo] = field(default_factory=list)
    info: list[tuple[str, str, str, tuple[int, int]]] = field(default_factory=list)  # (id, label, type, at)
    notes: list[str] = field(default_factory=list)
    title: str = ""
    titles: list[tuple[str, tuple[int, int]]] = field(default_factory=list)  # lines above the table
    unit: str = ""  # the table's own （单位：万元）
    shape: str = ""

    def __post_init__(self) -> None:
        self.order: list[tuple[int, int]] = []  # the position each finding is about
        self.owner: dict[tuple[int, int], Range] = {}
        for block in self.grid.merged:
            r0, c0, r1, c1 = block
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    self.owner[(r, c)] = block
        cols = [c for _, c in self.grid.texts] + [m[3] for m in self.grid.merged]
        self.width = max(cols, default=-1) + 1
        rows = [r for r, _ in self.grid.texts] + [m[2] for m in self.grid.merged]
        self.height = max(rows, default=-1) + 1

    # -- cells ---------------------------------------------------------------------------------------

    def block(self, r: int, c: int) -> Range:
        return self.owner.get((r, c), (r, c, r, c))

    def tokens(self, r: int) -> list[_Token]:
        out = []
        for c in range(self.width):
            block = self.block(r, c)
            if block[1] != c:
                continue  # covered from the left: part of the token before
            if block[0] < r:
                out.append(_Token(c, "v", block, self.grid.texts.get(block[:2], "")))
            else:
                text = self.grid.texts.get((r, c), "")
                out.append(_Token(c, "T" if text else "B", block, text))
        return out

    def note(self, code: Code, at: tuple[int, int] | None, **context: Any) -> None:
        cell = self.grid.name(*at) if at is not None else ""
        self.findings.add(code, file=self.name, sheet=self.grid.sheet, cell=cell, **context)
        self.order.append(at or (-1, -1))

    def sorted_findings(self) -> Findings:
        """The findings in the table's reading order (row by row), the ones about the whole table first."""
        ranked = sorted(zip(self.order, range(len(self.order)), self.findings.items, strict=True))
        return Findings([f for _, _, f in ranked])

    # -- rows around the table ---------------------------------------------------------------------------

    def split_rows(self) -> list[int]:
        """Title, unit, 填报单位, footer and note rows handled; the body rows returned, in order."""
        body: list[int] = []
        for r in range(self.height):
            tokens = self.tokens(r)
            texts = [t for t in tokens if t.kind == "T"]
            if not texts:
                if body and any(t.kind == "v" and t.text for t in tokens):
                    body.append(r)  # a row inside a merged section, with nothing of its own
                continue
            if self.line_row(r, texts, seen_body=bool(body)):
                continue
            body.append(r)
        self.choose_title()
        return body

    def choose_title(self) -> None:
        """The title: the last line above the table that names a table (…统计表), else the first line there;
        the other lines above the table are listed as not used."""
        named = [c for c in self.titles if c[0].endswith("表") or "统计" in c[0]]
        chosen = (named or self.titles or [None])[-1 if named else 0]
        for text, at in self.titles:
            if (text, at) != chosen:
                self.note(Code.TABLE_SKIPPED, at, text=_short(text), why="在表格之上，不是表名")
        if chosen is None:
            return
        text, at = chosen
        year = TITLE_YEAR.match(text)
        self.title = TITLE_YEAR.sub("", text) if year and TITLE_YEAR.sub("", text) else text
        why = f"（去掉了“{year.group(0).strip()}”：表头按活动年度自动加上）" if year else ""
        self.note(Code.TABLE_TITLE, at, title=self.title, note=why)

    def line_row(self, r: int, texts: list[_Token], seen_body: bool) -> bool:
        """A row that is not part of the grid of items: handle it and say True."""
        if all(_fill_in_labels(t.text) is not None for t in texts) and self.fill_in_row(r, texts):
            return True
        if len(texts) != 1:
            return False
        token = texts[0]
        text, at = token.text, (r, token.col)
        wide = token.block[3] - token.block[1] + 1 >= max(2, self.width // 2)
        if NOTE.match(text):
            for line in text.split("\n"):
                line = NOTE.sub("", line).strip()
                if line:
                    self.notes.append(line)
                    self.note(Code.TABLE_NOTE, at, text=_short(line))
            return True
        if (m := UNIT_ROW.match(text)) and m.group(1) in UNITS:
            self.unit = m.group(1)
            self.note(Code.TABLE_UNIT, at, text=text, measure=self.unit)
            return True
        if not seen_body and ATTACHMENT.match(text):
            self.note(Code.TABLE_SKIPPED, at, text=text, why="是附件编号")
            return True
        inside = self.grid.first_row <= r <= self.grid.last_row and self.grid.kind == "docx"
        if not seen_body and not inside and not ENUMERATED.match(text) and (wide or "表" in text):
            self.titles.append((text, at))  # the title, or a line of the notice above the table
            return True
        return False

    def fill_in_row(self, r: int, texts: list[_Token]) -> bool:
        """A row of 填表人：____ 联系电话：____ (in one cell, or label cells with blanks between them)."""
        labels = [(label, t) for t in texts for label in _fill_in_labels(t.text) or ()]
        if not labels or any(_info_kind(label) is None and not UNIT_CELL.match(label) for label, _ in labels):
            return False
        for label, token in labels:
            self.add_info(label, (r, token.col))
        return True

    def add_info(self, label: str, at: tuple[int, int]) -> None:
        if UNIT_CELL.match(label):
            self.note(Code.TABLE_UNIT_CELL, at, label=label)
            return
        kind = _info_kind(label)
        assert kind is not None
        base, type_ = kind
        taken = {i[0] for i in self.info}
        info_id = (
            base
            if base not in taken
            else next(f"{base}{n}" for n in range(2, 99) if f"{base}{n}" not in taken)
        )
        self.info.append((info_id, label, type_, at))
        self.note(Code.TABLE_INFO, at, label=label, id=info_id, kind=_TYPE_ZH[type_])

    # -- shape -------------------------------------------------------------------------------------------

    def run(self) -> None:
        body = self.split_rows()
        if not body:
            self.note(Code.TABLE_NO_INPUT, None, detail="表中只有标题和说明")
            return
        header = self.header_row(body)
        roles = self.roles(header) if header is not None else {}
        horizontal = None if "value" in roles else self.horizontal(body)
        if horizontal is not None:
            self.read_horizontal(*horizontal)
        elif self.pairs_table(body):
            self.read_pairs(body)
        else:
            rows = [r for r in body if header is None or r > header]
            self.read_vertical(rows, roles)
        self.note(Code.TABLE_SHAPE, (body[0], 0), shape=self.shape)
        if not self.items:
            self.note(Code.TABLE_NO_INPUT, None, detail=f"看作{self.shape}，但没有一处是“标签 + 空白格”")

    def header_row(self, body: list[int]) -> int | None:
        """A row of column headers (项目 | 指标 | 单位 | 数量) among the first body rows."""
        for r in body[:3]:
            texts = [t.text for t in self.tokens(r) if t.kind == "T"]
            if len(texts) >= 2 and sum(_role(t) is not None for t in texts) >= 2:
                return r
        return None

    def roles(self, header: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tokens(header):
            role = _role(t.text) if t.kind == "T" else None
            if role is not None and role not in out:
                out[role] = t.col
        out["header"] = header
        return out

    def pairs_table(self, body: list[int]) -> bool:
        """Rows of two or more label/blank pairs at least as many as rows of one (a vertical table has none)."""
        counts = Counter(min(len(self.pairs(r)), 2) for r in body)
        return counts[2] > 0 and counts[2] >= counts[1]

    def pairs(self, r: int) -> list[tuple[_Token, tuple[int, int]]]:
        """(label, input) pairs of a row: a text followed by a blank (or by nothing, at the row's end)."""
        tokens = [t for t in self.tokens(r) if t.kind != "v"]
        out = []
        for i, t in enumerate(tokens):
            if t.kind != "T" or _unit_word(t.text):
                continue
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            if after is None and i > 0:
                out.append((t, (r, t.block[3] + 1)))
            elif after is not None and after.kind == "B":
                out.append((t, (r, after.col)))
        return out

    # -- vertical --------------------------------------------------------------------------------------

    def read_vertical(self, rows: list[int], roles: dict[str, int]) -> None:
        value = roles.get("value", self.value_column(rows))
        skip = {roles[k] for k in ("unit", "remark", "seq") if k in roles}
        unit_col = roles.get("unit")
        self.shape = "竖表（每行一个指标，数值填在第 " + str(value + 1) + " 列）"
        header_unit = ""
        if "value" in roles:
            header_unit = _unit_of(self.grid.texts.get((roles["header"], value), ""))[0]
        current: int | None = None
        for r in rows:
            tokens = [t for t in self.tokens(r) if t.col < value and t.col not in skip]
            cell = self.block(r, value)
            texts = [t for t in tokens if t.kind == "T"]
            if cell[:3] != (r, value, r) or self.grid.texts.get((r, value)):  # not a one-row blank
                current = self.vertical_non_item(r, tokens, cell, value, current)
                continue
            if not texts and not any(t.kind == "v" for t in tokens):
                continue  # a blank row: nothing asks for a number here
            current, label, label_at = self.vertical_label(r, tokens, current)
            unit = self.grid.texts.get((r, unit_col), "") if unit_col is not None else ""
            self.add_item(label, (r, value), label_at, current, unit, header_unit)

    def value_column(self, rows: list[int]) -> int:
        """Without a header: the column where most rows have their first blank after a text."""
        firsts = Counter()
        for r in rows:
            tokens = [t for t in self.tokens(r) if t.kind != "v"]
            seen_text = False
            for t in tokens:
                if t.kind == "T":
                    seen_text = True
                elif seen_text:
                    firsts[t.col] += 1
                    break
            else:
                firsts[self.width] += 1  # the row ends with its label: the value is right of the table
        return firsts.most_common(1)[0][0] if firsts else self.width

    def vertical_non_item(
        self, r: int, tokens: list[_Token], cell: Range, value: int, current: int | None
    ) -> int | None:
        """A row whose value cell is not a blank of its own: a section row, or something unclear."""
        texts = [t for t in tokens if t.kind == "T"]
        if cell[:2] != (r, value) and cell[0] < r:
            return current  # the value cell continues a merged block: reported at its first row
        block = self.block(r, min((t.col for t in tokens), default=value))
        if len(texts) == 1 and block[3] >= value:  # one text across the row: a section of its own
            self.sections.append(_section(texts[0].text, (r, texts[0].col)))
            return len(self.sections) - 1
        if cell[:2] == (r, value) and cell[2] > r and not self.grid.texts.get((r, value)):
            text = "、".join(t.text for t in texts) or "（无标签）"
            why = "是跨多行的数值格，看不出每行各填什么"
            self.note(Code.TABLE_UNCLEAR, (r, value), range=self.grid.span(cell), text=text, why=why)
            return current
        if texts:
            shown = self.grid.texts.get((r, value), "")
            self.note(
                Code.TABLE_SKIPPED,
                (r, texts[-1].col),
                text=_short(texts[-1].text),
                why=f"的数值格已写“{shown}”",
            )
        return current

    def vertical_label(
        self, r: int, tokens: list[_Token], current: int | None
    ) -> tuple[int | None, str, Any]:
        """(section, label, label cell) of an item row: a text in the section column opens a section; a
        text across the section and item columns is an item of its own; a lone label column's item joins
        the section row above it (一、经费投入), if there is one."""
        if not tokens:
            return current, "", None
        first = tokens[0]
        if len(tokens) == 1:
            if first.kind != "T":
                return current, "", None
            if first.block[3] > first.block[1]:
                current = None  # an item of its own (add_item titles its section with it)
            return current, first.text, (r, first.col)
        if first.kind == "T":
            self.sections.append(_section(first.text, (r, first.col)))
            current = len(self.sections) - 1
        elif first.kind == "v" and current is None:
            self.sections.append(_section(first.text, first.block[:2]))
            current = len(self.sections) - 1
        labels = [t for t in tokens[1:] if t.kind == "T"]
        if not labels:
            return current, "", None
        return current, "：".join(t.text for t in labels), (r, labels[-1].col)

    # -- pairs ---------------------------------------------------------------------------------------------

    def read_pairs(self, body: list[int]) -> None:
        most = max(len(self.pairs(r)) for r in body)
        self.shape = f"标签与填报格成对排列（每行最多 {most} 对）"
        current: int | None = None
        for r in body:
            pairs = self.pairs(r)
            texts = [t for t in self.tokens(r) if t.kind == "T"]
            if not pairs and len(texts) == 1:
                self.sections.append(_section(texts[0].text, (r, texts[0].col)))
                current = len(self.sections) - 1
                continue
            for token, at in pairs:
                if _info_kind(token.text.rstrip("：:")) is not None or UNIT_CELL.match(
                    token.text.rstrip("：:")
                ):
                    self.add_info(token.text.rstrip("：:"), (r, token.col))
                    continue
                unit = self.unit_after(r, at)
                self.add_item(token.text.rstrip("：:"), at, (r, token.col), current, unit, "")

    def unit_after(self, r: int, at: tuple[int, int]) -> str:
        """A unit written right of an input (举办活动 | ___ | 次)."""
        text = self.grid.texts.get((r, self.block(*at)[3] + 1), "")
        return text if _unit_word(text) else ""

    # -- horizontal ------------------------------------------------------------------------------------------

    def horizontal(self, body: list[int]) -> tuple[list[int], int, list[int]] | None:
        """(header rows, input row, further input rows) when the body is headers over rows of blanks: the
        first row of blanks (at most one text, a 序号) right under 1–3 rows of headers, every blank under one."""
        for i, r in enumerate(body):
            tokens = self.tokens(r)
            blanks = [t for t in tokens if t.kind == "B"]
            if i == 0 or len(blanks) < 2 or sum(t.kind == "T" for t in tokens) > 1:
                continue
            header: list[int] = []
            for h in reversed(body[max(0, i - 3) : i]):
                if h != r - len(header) - 1 or sum(t.kind == "B" for t in self.tokens(h)) > 1:
                    break
                header.insert(0, h)
            labelled = [
                t for t in blanks if any(self.grid.texts.get(self.block(h, t.col)[:2]) for h in header)
            ]
            if not header or len(labelled) < len(blanks):
                return None
            return header, r, body[i + 1 :]
        return None

    def read_horizontal(self, header: list[int], row: int, more: list[int]) -> None:
        self.shape = f"横表（{len(header)} 行表头，第 {row + 1 - self.grid.first_row} 行起每个单位一行）"
        groups: dict[Range, int] = {}
        for t in self.tokens(row):
            if t.kind != "B":
                if t.kind == "T":
                    self.note(Code.TABLE_SKIPPED, (row, t.col), text=t.text, why="是填报行中已写好的内容")
                continue
            label, label_at, group = self.column_header(header, t.col)
            if label and (IDENTITY.match(label) or UNIT_CELL.match(label)):
                code = Code.TABLE_UNIT_CELL if UNIT_CELL.match(label) else Code.TABLE_SKIPPED
                self.note(code, label_at, label=label, text=label, why="是单位或序号列")
                continue
            if label and _info_kind(label) is not None:
                self.add_info(label, label_at)
                continue
            section = None
            if group is not None:
                if group not in groups:
                    groups[group] = len(self.sections)
                    self.sections.append(_section(self.grid.texts[group[:2]], group[:2]))
                section = groups[group]
            self.add_item(label, (row, t.col), label_at, section, "", "")
        for r in more:
            first = next((t for t in self.tokens(r) if t.kind == "T"), None)
            if first is not None and TOTAL.search(first.text):
                self.note(Code.TABLE_SKIPPED, (r, first.col), text=first.text, why="是各单位的合计行")

    def column_header(self, header: list[int], col: int) -> tuple[str, Any, Range | None]:
        """(label, its cell, the group block over it or None) of a column of a horizontal table."""
        blocks = []
        for h in header:
            block = self.block(h, col)
            if block not in blocks and self.grid.texts.get(block[:2]):
                blocks.append(block)
        if not blocks:
            return "", None, None
        label_block = blocks[-1]
        group = next((b for b in blocks[:-1] if b[3] > b[1]), None)
        return self.grid.texts[label_block[:2]], label_block[:2], group

    # -- items, units, totals ------------------------------------------------------------------------------

    def add_item(
        self, label: str, at: tuple[int, int], label_at: Any, section: int | None, unit: str, header_unit: str
    ) -> None:
        if section is None:  # an item of its own: a one-field section titled by its label
            self.sections.append(SectionInfo(label, label_at))
            section = len(self.sections) - 1
        item = Item(label, at, label_at, section, total=bool(TOTAL.search(label)))
        own = _unit_of(label)
        for value, source in (
            (unit, "单位列"),
            (own[0], "标签"),
            (self.sections[section].unit, "所在部分的表头"),
            (header_unit, "数值列的表头"),
            (self.unit, "表的单位行"),
        ):
            if value:
                item.unit, item.unit_from = value, source
                break
        self.items.append(item)

    def totals(self) -> dict[int, list[int]]:
        """Total items → the items they sum (the section's items since its previous total, 其中 aside)."""
        out: dict[int, list[int]] = {}
        since: dict[int, int] = {}
        for n, item in enumerate(self.items):
            if not item.total:
                continue
            start = since.get(item.section, 0)
            parts = [
                m
                for m in range(start, n)
                if self.items[m].section == item.section
                and not self.items[m].total
                and not SUBITEM.match(self.items[m].label)
            ]
            since[item.section] = n + 1
            out[n] = parts
        return out


def infer(grid: Grid, name: str) -> Imported:
    """The definition a blank table asks for (see the module doc)."""
    inference = _Inference(grid, name)
    inference.run()
    raw = _Writer(inference).raw() if inference.items else {}
    return Imported(raw, inference.sorted_findings(), inference.shape)


class _Writer:
    """The inference as raw definition tables, reporting each field with where it will be in the workbook."""

    FIRST_ROW = 2  # the 指标 sheet's first field row, as spec_book.write writes it

    def __init__(self, inference: _Inference):
        self.inf = inference

    def raw(self) -> dict[str, Any]:
        inf = self.inf
        title = inf.title or inf.sections[0].title
        digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:8]
        form = {"id": f"table_{digest}", "version": "1", "title": title, "sheet": "统计表"}
        if not inf.title:
            inf.note(
                Code.TABLE_TITLE,
                None,
                title=title,
                note="（表中没有标题，取第一个部分的名称；请在“表单”中改写表名）",
            )
        if inf.notes:
            form["instructions"] = list(inf.notes)
        sections: list[dict[str, Any]] = []
        fields = self.fields()
        for n, item in enumerate(inf.items):
            if not sections or sections[-1]["_index"] != item.section:
                title = inf.sections[item.section].title
                sections.append(
                    {"_index": item.section, "id": f"s{len(sections) + 1}", "title": title, "fields": []}
                )
            sections[-1]["fields"].append(fields[n])
        for s in sections:
            del s["_index"]
        info = [{"id": i, "label": label, "type": kind} for i, label, kind, _ in inf.info]
        return {"form": form, "sections": sections, "info": info}

    def fields(self) -> list[dict[str, Any]]:
        inf, totals = self.inf, self.inf.totals()
        out = []
        for n, item in enumerate(inf.items):
            row = self.FIRST_ROW + n
            raw: dict[str, Any] = {"id": f"f{n + 1}", "label": item.label, "unit": item.unit}
            raw |= _type_of(item.unit) if item.unit else {}
            if not item.label:
                where = inf.grid.name(*item.input)
                target = f"“指标”表 D{row}" + ("" if item.unit else f"、E{row}")
                inf.note(Code.TABLE_NO_LABEL, item.input, input=where, target=target)
            elif n in totals:
                self.total(n, item, raw, totals[n], row)
            elif not item.unit:
                inf.note(Code.TABLE_NO_UNIT, item.label_at, label=item.label, target=f"“指标”表 E{row}")
            else:
                self.field_note(item, raw)
            out.append(raw)
        return out

    def field_note(self, item: Item, raw: dict[str, Any]) -> None:
        kind = _KIND_ZH[raw["type"]] + (f"，{raw['places']} 位小数" if raw["type"] == "decimal" else "")
        if item.unit not in UNITS:
            kind = f"整数（“{item.unit}”不是常见单位，按整数；请核对类型）"
        source = f"（单位来自{item.unit_from}）"
        self.inf.note(
            Code.TABLE_FIELD,
            item.input,
            id=raw["id"],
            label=item.label,
            measure=item.unit,
            kind=kind,
            source=source,
        )

    def total(self, n: int, item: Item, raw: dict[str, Any], parts: list[int], row: int) -> None:
        inf = self.inf
        units = {inf.items[m].unit for m in parts}
        if not parts:
            why = "所在部分没有其他分项"
        elif len(units) != 1 or "" in units or (item.unit and units != {item.unit}):
            why = (
                "各分项与合计的单位不一致（"
                + "、".join(sorted(u or "未定" for u in units | {item.unit}))
                + "）"
            )
        else:
            raw["formula"] = " + ".join(f"f{m + 1}" for m in parts)
            if not item.unit:  # the total's unit is its parts'
                raw |= {"unit": next(iter(units))} | _type_of(next(iter(units)))
            inf.note(Code.TABLE_TOTAL, item.input, label=item.label, id=raw["id"], formula=raw["formula"])
            return
        target = f"“指标”表 K{row} 的公式" if item.unit else f"“指标”表 E{row} 的单位和 K{row} 的公式"
        inf.note(
            Code.TABLE_TOTAL_UNCLEAR, item.label_at or item.input, label=item.label, why=why, target=target
        )


_TYPE_ZH = {"text": "文本", "phone": "电话", "date": "日期", "longtext": "长文本"}
_KIND_ZH = {"integer": "整数", "decimal": "小数"}


def _type_of(unit: str) -> dict[str, Any]:
    if unit in DECIMAL_UNITS:
        return {"type": "decimal", "places": DECIMAL_UNITS[unit]}
    return {"type": "integer"}


def _unit_word(text: str) -> bool:
    return text.strip() in UNITS


def _unit_of(text: str) -> tuple[str, str]:
    """(unit, how it was written) from a label or header: （单位：万元）, （人）, (个), /次."""
    m = UNIT_IN_HEADER.search(text)
    if m and m.group(1).strip() in UNITS:
        return m.group(1).strip(), m.group(0)
    m = UNIT_SUFFIX.search(text)
    if m:
        word = (m.group(1) or m.group(2) or "").strip()
        if word in UNITS:
            return word, m.group(0)
    return "", ""


def _section(title: str, at: tuple[int, int]) -> SectionInfo:
    return SectionInfo(title, at, _unit_of(title)[0])


def _role(text: str) -> str | None:
    bare = re.sub(r"[（(].*?[）)]", "", text).strip()
    return next((role for role, words in ROLE_WORDS.items() if bare in words), None)


def _info_kind(label: str) -> tuple[str, str] | None:
    bare = re.sub(r"[（(][^）)]*[）)]$", "", label.strip()).strip()
    return next(((i, t) for pattern, i, t in INFO_LABELS if pattern.match(bare)), None)


def _fill_in_labels(text: str) -> list[str] | None:
    """The labels of a fill-in line (填表人：____  联系电话：____), or None when the text is not one."""
    if not re.search(r"[:：]", text) and _info_kind(text) is None and not UNIT_CELL.match(text):
        return None
    if ":" not in text and "：" not in text:
        return [text]
    rest = FILL_IN.sub("", text).strip(" _＿\n")
    labels = [m.group(1) for m in FILL_IN.finditer(text)]
    return labels if labels and not rest else None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the job: a table file → a definition workbook --------------------------------------------------------


@dataclass
class ImportReport:
    """`kepuxl forms from-table`: what was inferred and what was not, and whether the definition checks."""

    table: str
    output: str
    shape: str
    fields: int
    findings: list[Finding]  # about the table: inferred (提示) and left to the clerk (警告)
    check: list[Finding]  # `forms check` of the definition written
    ok: bool  # the definition passes `forms check` as it is

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "output": self.output,
            "shape": self.shape,
            "fields": self.fields,
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
            "check": [f.to_dict() for f in self.check],
        }


def from_table(table: Path, output: Path, *, overwrite: bool = False) -> ImportReport:
    """Read a blank table from above, infer its definition and write it as a definition workbook.

    `KepuError` when the table cannot be read or asks for nothing, and when `output` exists (a definition
    the clerk may have edited is never replaced unless `overwrite`).
    """
    from . import spec, spec_book, table_grid

    table, output = Path(table), Path(output)
    if output.exists() and not overwrite:
        raise KepuError(Finding.make(Code.DEFINITION_EXISTS, path=str(output)))
    if table.stat().st_size > Limits().max_file:
        error = f"文件超过 {Limits().max_file >> 20} MB，不像是一张空白统计表"
        raise KepuError(Finding.make(Code.TABLE_FILE, file=table.name, error=error))
    imported = infer(table_grid.load(table.read_bytes(), table.name), table.name)
    if not imported.raw:
        raise KepuError(imported.findings.errors)
    write_atomic(output, spec_book.write(imported.raw))
    checked, problems = spec.check(output)
    fields = sum(len(s["fields"]) for s in imported.raw["sections"])
    return ImportReport(
        table.name,
        str(output),
        imported.shape,
        fields,
        imported.findings.items,
        problems,
        checked is not None,
    )
