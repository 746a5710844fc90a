"""The 总结报告（数据部分）: a collect report → a Word document the clerk edits rather than writes.

The words come from the campaign folder's 总结报告模板.txt (installed by `kepuxl init`; the bundled copy
when the folder has none), rendered with the mail templates' machinery (first line 标题：…, {占位符}):
the key figures in sentences with 同比, the counts, what is missing. A line holding only {分类表},
{前列单位}, {图表} or {材料表} becomes a table or the charts (report_charts, PNG); `# ` and `## ` start
headings; `//` lines are notes for the clerk, left out. Built with python-docx, A4, Chinese fonts set
for East Asian text; written atomically beside the summary (`write_report`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor

from . import merge
from .campaign import MATERIALS, Campaign
from .files import discard, replace_file, safe_name, write_temp
from .findings import Code, Finding, Findings
from .mail.templates import REPORT_TEMPLATE, Template, fill, note_unknown
from .merge import Frames
from .report_charts import CJK_FONTS, NoCharts, charts, cjk_font
from .results import COUNT_ZH, COUNTED, STATUS_ZH, CollectReport, Status
from .spec import Field, show_number
from .xlsx_out import clean_text

TEMPLATE_NAME = REPORT_TEMPLATE  # 总结报告模板.txt in the campaign folder, the clerk's to edit
BLOCKS = ("分类表", "前列单位", "图表", "材料表")
TOP_UNITS = 10
MATERIAL_ROWS = 200  # units listed in 材料表; a province's others are in the summary's 上报情况
NAMES_SHOWN = 30
BODY_FONT, HEADING_FONT = "宋体", "黑体"
BODY_PT, TABLE_PT = 12, 10.5  # 小四, 五号


def report_name(campaign: Campaign) -> str:
    return f"{safe_name(campaign.title)}_总结报告（数据部分）.docx"


def write_report(report: CollectReport, outdir: Path, fonts: tuple[str, ...] = CJK_FONTS) -> Path:
    """Write the report beside the summary (replacing the old one as a whole); returns where it went
    (a time-stamped name when Word holds the old one open: OUT_LOCKED). Its findings join the report's."""
    target = Path(outdir) / report_name(report.campaign)
    data = build_report(report, fonts)
    tmp = write_temp(target.parent, data, target)
    try:
        saved = replace_file(tmp, target)
    finally:
        discard(tmp)
    if saved != target:
        report.findings.append(Finding.make(Code.OUT_LOCKED, path=str(target), saved=str(saved)))
    report.outputs["report"] = str(saved)
    return saved


def build_report(report: CollectReport, fonts: tuple[str, ...] = CJK_FONTS) -> bytes:
    """The document's bytes; problems with the template or the charts are added to `report.findings`."""
    findings = Findings()
    template = Template.load(report.campaign, "report")
    builder = _Builder(report, merge.frames(report), findings, fonts)
    builder.write(template)
    report.findings.extend(findings.items)
    buffer = io.BytesIO()
    builder.doc.save(buffer)
    return buffer.getvalue()


# -- the words --------------------------------------------------------------------------------------------


def text_values(report: CollectReport, frames: Frames) -> dict[str, str]:
    """Every text placeholder of the template → its words (per field: {id}, {id.上年}, {id.同比})."""
    c, n = report.campaign, report.counts
    values = {
        "活动": c.title,
        "年度": str(c.year),
        "表名": report.spec.title,
        "组织单位": c.organizer,
        "范围": scope(c.organizer),
        "汇总时间": _when(report.generated_at),
        "上年数据": Path(report.previous_source).name if report.previous_source else "未配置",
        **{zh: str(n[key]) for zh, key in COUNT_ZH},
        "计入说明": counted_note(report),
        "主要数据": "\n".join(key_sentences(report, frames)),
        "前列指标": report.spec.main_fields[0].label if report.spec.main_fields else "",
        "缺报情况": "\n".join(missing_lines(report)),
    }
    for fl in report.spec.fields:
        now, before = _figure(frames.totals, fl.id), _figure(frames.previous_totals, fl.id)
        values[fl.id] = amount(now, fl)
        values[f"{fl.id}.上年"] = amount(before, fl) if before is not None else "—"
        values[f"{fl.id}.同比"] = change_words(now, before, fl)
    return values


SHOWN_NAMES = (
    "活动",
    "年度",
    "表名",
    "组织单位",
    "范围",
    "汇总时间",
    "上年数据",
    *(z for z, _ in COUNT_ZH),
)
SHOWN_NAMES += ("计入说明", "主要数据", "前列指标", "缺报情况", "指标编号", "指标编号.上年", "指标编号.同比")


def scope(organizer: str) -> str:
    """全县 / 全市 / 全区 / 全省 …: the level of the organizing bureau (青溪县科学技术局 → 全县)."""
    name = re.sub(
        r"(科学技术|科技|科学技术协会|科协|教育|人民政府|委员会|办公室|局|委|厅|部).*$", "", organizer
    )
    m = re.search(r"(自治区|省|市|州|盟|区|县|旗|镇|乡|街道)$", name)
    return "全" + (m.group(1) if m else "县")


def counted_note(report: CollectReport) -> str:
    n = report.counts
    counted = n["accepted"] + n["warnings"]
    left = n["pending"] + n["rejected"] + n["missing"]
    note = f"以下数据为审核通过（含有警告）的 {counted} 个单位的合计"
    return note + ("；待核实、退回和未报单位的数据未计入。" if left else "。")


def key_sentences(report: CollectReport, frames: Frames) -> list[str]:
    """One sentence per main field: the total, and with last year the change in per cent."""
    where = scope(report.campaign.organizer)
    out = []
    for fl in report.spec.main_fields:
        now, before = _figure(frames.totals, fl.id), _figure(frames.previous_totals, fl.id)
        sentence = f"{where}{fl.label} {amount(now, fl)}"
        if before == 0:
            sentence += f"，{change_words(now, before, fl)}"  # 上年为 0: no per cent to state
        elif before is not None:
            sentence += f"，{change_words(now, before, fl)}（上年 {amount(before, fl)}）"
        out.append(sentence + "。")
    return out


def change_words(now: float | None, before: float | None, fl: Field) -> str:
    """比上年增长 12.0% / 比上年下降 3.1% / 与上年持平 / 上年为 0 / 上年无可比数据."""
    if now is None or before is None:
        return "上年无可比数据"
    if before == 0:
        return "上年为 0" if now else "与上年持平（均为 0）"
    ratio = (now - before) / before * 100
    if round(ratio, 1) == 0:
        return "与上年持平"
    return f"比上年{'增长' if ratio > 0 else '下降'} {abs(ratio):.1f}%"


def amount(value: float | None, fl: Field) -> str:
    """`134 次`, `72.81 万元` (thousands separated, no trailing zeros); `—` for none."""
    return "—" if value is None else f"{show_number(fl.rounded(value))} {fl.unit}"


def missing_lines(report: CollectReport) -> list[str]:
    """What is still missing: units not reported, returned for correction, 待核实, short of materials."""
    lines = []
    for status, words in (
        (Status.MISSING, "未报单位"),
        (Status.REJECTED, "退回修改、尚未改正的单位"),
        (Status.PENDING, "待核实、核实前数据未计入的单位"),
    ):
        names = [u.unit.name for u in report.by_status(status)]
        if names:
            lines.append(f"{words}（{len(names)} 个）：{_names(names)}。")
    short: dict[str, list[str]] = {}
    for f in report.findings:
        if f.code is Code.MATERIAL_MISSING and f.unit:
            ctx = f.context
            short.setdefault(f.unit, []).append(
                f"{ctx['name']}收到 {ctx['got']} {ctx['measure']}，应至少 {ctx['need']}"
            )
    if short:
        parts = [f"{unit}（{'；'.join(items)}）" for unit, items in short.items()]
        lines.append(f"材料不全的单位（{len(parts)} 个）：{_names(parts)}。")
    return lines or ["各单位的统计表均已收齐并计入汇总，要求的材料也已收齐。"]


def _when(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"


def _names(names: Sequence[str]) -> str:
    shown = "、".join(names[:NAMES_SHOWN])
    return shown + (f"等 {len(names)} 个" if len(names) > NAMES_SHOWN else "")


def _figure(series: Any, key: str) -> float | None:
    value = series.get(key) if len(series) else None
    return None if value is None or value != value else float(value)  # NaN: no figure


# -- the document -----------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, report: CollectReport, frames: Frames, findings: Findings, fonts: tuple[str, ...]):
        self.report, self.frames, self.findings, self.fonts = report, frames, findings, fonts
        self.spec = report.spec
        self.doc = docx.Document()
        _page_and_styles(self.doc)
        props = self.doc.core_properties
        props.author = props.last_modified_by = report.campaign.organizer or "kepuxl"
        props.created = props.modified = report.generated_at
        props.comments = "由 kepuxl collect --report 生成"

    def write(self, template: Template) -> None:
        values = text_values(self.report, self.frames)
        unknown: list[str] = []
        title = clean_text(fill(template.subject, values, unknown))
        self.doc.core_properties.title = title
        _paragraph(self.doc, title, HEADING_FONT, 18, bold=True, centre=True)
        for line in template.body.split("\n"):
            stripped = line.strip()
            block = stripped[1:-1] if stripped.startswith("{") and stripped.endswith("}") else ""
            if stripped.startswith("//"):
                continue
            if block in BLOCKS:
                getattr(self, BLOCK_METHODS[block])()
            elif stripped.startswith("#"):
                level = 2 if stripped.startswith("##") else 1
                self.doc.add_heading(clean_text(fill(stripped.lstrip("#").strip(), values, unknown)), level)
            elif stripped:
                for text in fill(stripped, values, unknown).split("\n"):  # {主要数据}: a paragraph each
                    _paragraph(self.doc, clean_text(text), BODY_FONT, BODY_PT, indent=True)
        note_unknown(self.findings, unknown, TEMPLATE_NAME, SHOWN_NAMES, Code.REPORT_TEMPLATE)

    # -- blocks ---------------------------------------------------------------------------------------

    def category_table(self) -> None:
        """The main fields per unit category (counted units), then 合计, and with last year 上年 and 增减%."""
        fields = self.spec.main_fields
        units = self.frames.units
        counted = units["状态"].isin(COUNTED)
        header = ["单位类别", "计入单位数", *(f"{fl.label}（{fl.unit}）" for fl in fields)]
        rows = []
        for category, sums in self.frames.by_category.iterrows():
            n = int((counted & (units["单位类别"] == category)).sum())
            rows.append([str(category), str(n), *(_cell(_figure(sums, fl.id), fl) for fl in fields)])
        totals, before = self.frames.totals, self.frames.previous_totals
        rows.append(["合计", str(int(counted.sum())), *(_cell(_figure(totals, fl.id), fl) for fl in fields)])
        if self.frames.has_previous:
            rows.append(["上年", "", *(_cell(_figure(before, fl.id), fl) for fl in fields)])
            rows.append(
                ["增减%", "", *(_percent(_figure(totals, fl.id), _figure(before, fl.id)) for fl in fields)]
            )
        _table(self.doc, header, rows, bold_rows=len(rows) - len(self.frames.by_category))

    def top_table(self) -> None:
        """The TOP_UNITS counted units with the most of the first main field, with last year's figure."""
        if not self.spec.main_fields:
            return
        fl = self.spec.main_fields[0]
        counted = [u for u in self.report.units if u.counted]
        ranked = sorted(counted, key=lambda u: -(u.values.get(fl.id) or 0.0))[:TOP_UNITS]
        header = ["名次", "单位", "单位类别", f"{fl.label}（{fl.unit}）"]
        last_year = self.frames.has_previous
        if last_year:
            header += ["上年", "增减%"]
        rows = []
        for n, u in enumerate(ranked, start=1):
            now = u.values.get(fl.id)
            row = [str(n), u.unit.name, u.unit.category, _cell(now, fl)]
            if last_year:
                before = (u.previous or {}).get(fl.id)
                row += [_cell(before, fl), _percent(now, before)]
            rows.append(row)
        if not rows:
            _paragraph(self.doc, "（还没有计入汇总的单位。）", BODY_FONT, BODY_PT)
            return
        _table(self.doc, header, rows)

    def charts(self) -> None:
        """The charts as pictures with numbered captions; none (and a finding) where they cannot be drawn."""
        try:
            pictures = charts(self.spec, self.frames, cjk_font(self.fonts))
        except NoCharts as exc:
            self.findings.add(Code.REPORT_NO_CHARTS, why=exc.why, fix=exc.fix)
            _paragraph(self.doc, f"（未插入图表：{exc.why}。{exc.fix}）", BODY_FONT, BODY_PT)
            return
        for n, chart in enumerate(pictures, start=1):
            self.doc.add_picture(io.BytesIO(chart.png), width=Cm(15.5))
            self.doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            _paragraph(self.doc, f"图 {n}　{chart.title}", BODY_FONT, TABLE_PT, centre=True)

    def materials_table(self) -> None:
        """Per unit: its status and the materials received with its form (photos, summaries, …)."""
        units = self.report.units
        asked = {key for key, _ in self.report.campaign.materials}
        # the kinds the campaign asks for and any a unit sent anyway: no column of zeros nobody expected
        keys = [k for k in MATERIALS if k in asked or any(u.materials.get(k) for u in units)]
        header = ["单位", "状态", *(f"{MATERIALS[k][0]}（{MATERIALS[k][1]}）" for k in keys)]
        rows = [
            [u.unit.name, STATUS_ZH.get(u.status, str(u.status)), *(str(u.materials.get(k, 0)) for k in keys)]
            for u in units[:MATERIAL_ROWS]
        ]
        _table(self.doc, header, rows)
        if len(units) > MATERIAL_ROWS:
            more = f"（其余 {len(units) - MATERIAL_ROWS} 个单位见汇总表的“上报情况”。）"
            _paragraph(self.doc, more, BODY_FONT, BODY_PT)


BLOCK_METHODS = {
    "分类表": "category_table",
    "前列单位": "top_table",
    "图表": "charts",
    "材料表": "materials_table",
}


def _cell(value: float | None, fl: Field) -> str:
    return "—" if value is None else show_number(fl.rounded(value))


def _percent(now: float | None, before: float | None) -> str:
    if now is None or not before:
        return "—"
    return f"{(now - before) / before * 100:+.1f}%"


# -- python-docx --------------------------------------------------------------------------------------------


def _page_and_styles(doc: Any) -> None:
    """A4 portrait with the margins of an official document; Chinese fonts for body, headings, tables."""
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(30), Mm(28)
    section.left_margin, section.right_margin = Mm(26), Mm(26)
    _font(doc.styles["Normal"], BODY_FONT, BODY_PT)
    for name, size in (("Heading 1", 15), ("Heading 2", 13)):
        style = doc.styles[name]
        _font(style, HEADING_FONT, size, bold=True)
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.paragraph_format.space_before, style.paragraph_format.space_after = Pt(12), Pt(6)


def _font(target: Any, name: str, size: float, bold: bool = False) -> None:
    """A style's or run's font, East Asian text included (python-docx sets only the Latin one)."""
    target.font.name, target.font.size, target.font.bold = name, Pt(size), bold
    fonts = target.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


def _paragraph(
    doc: Any,
    text: str,
    font: str,
    size: float,
    *,
    bold: bool = False,
    centre: bool = False,
    indent: bool = False,
) -> Any:
    p = doc.add_paragraph()
    _font(p.add_run(text), font, size, bold)
    if centre:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if indent:
        p.paragraph_format.first_line_indent = Pt(size * 2)  # two characters, as Chinese prose
    p.paragraph_format.space_after = Pt(6)
    return p


def _table(doc: Any, header: Sequence[str], rows: Iterable[Sequence[str]], bold_rows: int = 0) -> None:
    """A bordered table: the header row bold, repeated on every page; numbers right-aligned; the last
    `bold_rows` rows (合计 …) bold."""
    rows = list(rows)
    table = doc.add_table(rows=1 + len(rows), cols=len(header))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _repeat_header(table.rows[0])
    for r, values in enumerate([header, *rows]):
        bold = r == 0 or r > len(rows) - bold_rows
        for c, text in enumerate(values):
            cell = table.cell(r, c)
            p = cell.paragraphs[0]
            _font(p.add_run(clean_text(text)), BODY_FONT, TABLE_PT, bold)
            if r and _numeric(text):
                p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            elif r == 0:
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph()


def _repeat_header(row: Any) -> None:
    props = row._tr.get_or_add_trPr()
    mark = OxmlElement("w:tblHeader")
    mark.set(qn("w:val"), "true")
    props.append(mark)


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?[\d,]+(\.\d+)?%?|—", text))
