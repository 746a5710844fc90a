"""The form and the feedback form on paper: LibreOffice prints them to PDF, poppler reads the pages back.

What a clerk checks on the printout: A4 pages (portrait, 活动明细 landscape), each numbered; no line of a
wrapped cell that is a lone closing bracket or punctuation mark; 活动明细 on whole pages of equal share,
each with the header row, 合计 on the page of the last row; a 问题清单 over several pages repeats its
header too.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import libreoffice as lo
import pytest
from conftest import init_sample

from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.forms_writer import Prefill, build_form

pytestmark = lo.requires_libreoffice

A4_PORTRAIT, A4_LANDSCAPE = (595, 842), (842, 595)
CLOSING = set("）)”’》」』】，,。.、；;：:！!？?")


@dataclass
class Page:
    number: int
    text: str
    lines: list[str]
    size: tuple[int, int]
    layout: str  # the page as pdftotext -layout lays it out: one printed row a line

    @property
    def sheet(self) -> str:
        for mark, sheet in (("填报说明", "info"), ("自查结果", "main"), ("问题及修改方法", "problems")):
            if mark in self.text:
                return sheet
        return "detail" if "活动名称" in self.text else "?"


def pages(pdf: Path) -> list[Page]:
    sizes = lo.pdf_page_sizes(pdf)
    return [
        Page(n, lo.pdf_text(pdf, n), lo.pdf_lines(pdf, n), (round(w), round(h)), layout_text(pdf, n))
        for n, (w, h) in enumerate(sizes, start=1)
    ]


def layout_text(pdf: Path, page: int) -> str:
    cmd = ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Page]]:
    folder = init_sample(tmp_path_factory.mktemp("print") / "青溪县", with_returns=True)
    config = folder / CONFIG_NAME
    report = collect(folder / "inbox", config, folder / "output", now=datetime(2023, 6, 5, 9, 0))
    ctx = Context.load(config)
    work = tmp_path_factory.mktemp("pdf")
    t04 = next(u for u in report.units if u.unit.id == "T04")
    form = work / "form.xlsx"
    form.write_bytes(ctx.form_bytes(t04.unit))
    # every problem of the county in one unit's feedback: a problem list over several pages
    everything = ([replace(f, unit="", file="") for f in report.findings if f.cell] * 10)[:80]
    long_list = work / "long_list.xlsx"
    long_list.write_bytes(
        build_form(
            ctx.spec,
            ctx.cells,
            ctx.campaign,
            t04.unit,
            ctx.identity(t04.unit),
            ctx.password(t04.unit),
            prefill=Prefill(t04.raw, t04.info, t04.detail),
            problems=everything,
        )
    )
    sources = {"form": form, "feedback": Path(t04.feedback), "long list": long_list}
    return {name: pages(lo.to_pdf(src, work / name.replace(" ", "_"))) for name, src in sources.items()}


def test_page_counts(printed: dict[str, list[Page]]) -> None:
    sheets = {name: [p.sheet for p in found] for name, found in printed.items()}
    assert sheets["form"] == ["info", "main", "detail", "detail"]
    assert sheets["feedback"] == ["info", "main", "detail", "detail", "problems"]
    assert sheets["long list"][:4] == sheets["form"] and set(sheets["long list"][4:]) == {"problems"}
    assert len(sheets["long list"]) >= 7


@pytest.mark.parametrize("name", ["form", "feedback", "long list"])
def test_every_page_is_a4_and_numbered(printed: dict[str, list[Page]], name: str) -> None:
    total = len(printed[name])
    for page in printed[name]:
        assert page.size == (A4_LANDSCAPE if page.sheet == "detail" else A4_PORTRAIT), page.number
        assert f"第 {page.number} 页，共 {total} 页" in page.text, page.number


@pytest.mark.parametrize("name", ["form", "feedback", "long list"])
def test_no_line_is_a_lone_closing_mark(printed: dict[str, list[Page]], name: str) -> None:
    lone = [(p.number, x) for p in printed[name] for x in p.lines if x.strip() and set(x.strip()) <= CLOSING]
    assert lone == []
    main = next(p for p in printed[name] if p.sheet == "main")
    assert "活动经费投入数量" in main.lines and "（单位：万元）" in main.lines  # broken before the bracket


@pytest.mark.parametrize("name", ["form", "feedback"])
def test_detail_rows_fill_whole_pages_with_header_and_total(
    printed: dict[str, list[Page]], name: str
) -> None:
    detail = [p for p in printed[name] if p.sheet == "detail"]
    numbers = []
    for page in detail:
        assert {"序号", "活动名称", "线下参与人次"} <= set(" ".join(page.lines).split()), page.number
        rows = re.findall(r"^ {0,4}(\d{1,2})(?: |$)", page.layout, re.M)  # 序号 is the leftmost column
        numbers.append([int(n) for n in rows])
    assert numbers == [list(range(1, 26)), list(range(26, 51))]
    assert "合计" in detail[-1].text and "合计" not in detail[0].text


def test_a_long_problem_list_repeats_its_header(printed: dict[str, list[Page]]) -> None:
    problems = [p for p in printed["long list"] if p.sheet == "problems"]
    assert len(problems) >= 3
    assert all({"序号", "级别", "位置"} <= set(" ".join(p.lines).split()) for p in problems)
    assert all("错误" in p.text or "警告" in p.text for p in problems)
