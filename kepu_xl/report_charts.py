"""The report's charts as pictures: (CollectReport, Frames) → PNG bytes, drawn with matplotlib (Agg).

The summary workbook has native Excel charts; a Word document needs pictures. Three, over the same data
as the workbook's: the units with the most activities (top UNITS_SHOWN), the funding by source, and — with
last year — each main field's change on last year in per cent. Chinese text needs a CJK font: the first
of CJK_FONTS this computer has is set explicitly (never matplotlib's default, which draws boxes); with
none, `NoCharts` says what to install.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import print_layout as pl
from .merge import Frames
from .spec import Field, FormSpec
from .summary_writer import short_label

# Windows' own fonts first (微软雅黑, 黑体), then the free ones (fonts-noto-cjk, 思源, 文泉驿), then serif
CJK_FONTS = (
    "Microsoft YaHei",
    "SimHei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "PingFang SC",
    "Hiragino Sans GB",
    "SimSun",
    "Noto Serif CJK SC",
    "Source Han Serif SC",
)
UNITS_SHOWN = 15
WIDTH_IN, DPI = 6.3, 150  # 16 cm wide, sharp when printed
BLUE, ORANGE, GREEN, RED = "#4472C4", "#ED7D31", "#70AD47", "#C00000"
FUNDING = "funding"


class NoCharts(Exception):
    """Charts cannot be drawn here; `why` and `fix` are Chinese, for the report's finding."""

    def __init__(self, why: str, fix: str):
        super().__init__(why)
        self.why, self.fix = why, fix


@dataclass(frozen=True)
class Chart:
    title: str
    png: bytes


def cjk_font(candidates: tuple[str, ...] = CJK_FONTS) -> str:
    """The first installed font of `candidates` (a family name matplotlib knows), else `NoCharts`."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in candidates:
        if name in installed:
            return name
    raise NoCharts(
        "本机找不到中文字体（" + "、".join(candidates[:4]) + " 等）",
        "请安装中文字体后重新运行（Windows 自带微软雅黑、黑体；Linux 可安装 fonts-noto-cjk）。",
    )


def charts(spec: FormSpec, frames: Frames, font: str) -> list[Chart]:
    """The report's pictures, in order; a chart without data is left out. Every text in `font`."""
    out = []
    activity = spec.main_fields[0] if spec.main_fields else None
    funding = [fl for s in spec.sections if s.id == FUNDING for fl in s.fields if not fl.computed]
    # the font set for these figures only (rcParams restored after): matplotlib's default has no CJK
    with rc_context({"font.family": [font], "axes.unicode_minus": False}):
        if activity is not None:
            out.append(_units_chart(frames, activity))
        if funding:
            out.append(_funding_chart(frames, funding))
        if frames.has_previous and spec.main_fields:
            out.append(_change_chart(frames, spec.main_fields))
    return out


def _units_chart(frames: Frames, fl: Field) -> Chart:
    counted = frames.counted[["单位名称", fl.id]].fillna(0.0)
    top = counted.sort_values(fl.id, ascending=False, kind="stable").head(UNITS_SHOWN)
    title = (
        f"各单位{fl.label}（前 {UNITS_SHOWN} 名，{fl.unit}）"
        if len(counted) > UNITS_SHOWN
        else (f"各单位{fl.label}（{fl.unit}）")
    )
    fig, ax = _figure(max(2.6, 0.9 + 0.3 * len(top)))
    names, values = list(top["单位名称"])[::-1], list(top[fl.id])[::-1]  # the largest on top
    bars = ax.barh(names, values, color=BLUE)
    ax.bar_label(bars, labels=[_number(v, fl) for v in values], padding=3, fontsize=8)
    ax.set_xlabel(fl.unit)
    ax.margins(x=0.12)
    return Chart(title, _png(fig, ax, title))


def _funding_chart(frames: Frames, fields: list[Field]) -> Chart:
    unit = fields[0].unit
    title = f"活动经费投入（按来源，{unit}）"
    values = [float(frames.totals.get(fl.id, 0.0) or 0.0) for fl in fields]
    fig, ax = _figure(3.0)
    bars = ax.bar(
        [_axis_label(short_label(fl.label), len(fields)) for fl in fields], values, color=ORANGE, width=0.6
    )
    ax.bar_label(bars, labels=[_number(v, fields[0]) for v in values], padding=3, fontsize=8)
    ax.set_ylabel(unit)
    ax.margins(y=0.15)
    return Chart(title, _png(fig, ax, title))


def _change_chart(frames: Frames, fields: tuple[Field, ...]) -> Chart:
    title = "主要指标同比增减"
    ratios = []
    for fl in fields:
        now, before = frames.totals.get(fl.id), frames.previous_totals.get(fl.id)
        ok = before is not None and before == before and before != 0 and now == now  # NaN != NaN
        ratios.append((now - before) / before * 100 if ok else None)
    fig, ax = _figure(3.2)
    labels = [_axis_label(f"{short_label(fl.label)}（{fl.unit}）", len(fields)) for fl in fields]
    heights = [r or 0.0 for r in ratios]
    bars = ax.bar(labels, heights, color=[GREEN if h >= 0 else RED for h in heights], width=0.6)
    ax.bar_label(bars, labels=["—" if r is None else f"{r:+.1f}%" for r in ratios], padding=3, fontsize=8)
    ax.axhline(0, color="#595959", linewidth=0.8)
    ax.set_ylabel("比上年增减（%）")
    ax.margins(y=0.2)
    return Chart(title, _png(fig, ax, title))


def _figure(height: float) -> tuple[Figure, Any]:
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="tight")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.tick_params(labelsize=8)
    ax.grid(axis="both", color="#D9D9D9", linewidth=0.6)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig, ax


def _png(fig: Figure, ax: Any, title: str) -> bytes:
    ax.set_title(title, fontsize=11, fontweight="bold")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _axis_label(text: str, bars: int) -> str:
    """A category label broken into lines as wide as its share of the axis (8 pt text)."""
    return pl.wrap_header(text, max(6.0, 70 / max(bars, 1)), 8, bold=False)


def _number(value: float, fl: Field) -> str:
    return f"{value:,.2f}" if fl.type == "decimal" else f"{value:,.0f}"
