"""The 工作台 in a real headless Chromium (Debian's, driven by Playwright) against the real `kepuxl serve`.

A clerk's afternoon: open the page with the token, drop three returns (one good, one with 约300, one with
50,000 万元 where 元 was meant), 重新汇总, see the statuses change, confirm the pending unit with a note,
汇总 again, download the summary (its totals read back with openpyxl) and the feedback zip. Unit names
with <script> and =HYPERLINK stay text. A 10,000-unit campaign pages.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from conftest import init_sample
from helpers import ROSTER_HEADER, use_roster
from openpyxl import load_workbook
from playwright.sync_api import expect
from webpage import chromium, requires_chromium, serving

from kepu_xl import layout
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.sample_returns import fill, values_for

pytestmark = requires_chromium


def returns(ctx: Context, folder: Path) -> dict[str, Path]:
    """Three returns as units send them: good, 约300 in a number cell, 元 typed where 万元 is asked."""
    folder.mkdir()
    plan = {
        "T01": ("城关街道-科技活动周统计表.xlsx", {}),
        "T03": ("青山镇统计表.xlsx", {"fund_enterprise": "约300"}),
        "T06": ("白沙镇 统计表（终稿）.xlsx", {"fund_government": 50000}),
    }
    out = {}
    for unit_id, (name, changes) in plan.items():
        values = values_for(ctx.campaign.unit(unit_id).seq, changes)
        (folder / name).write_bytes(fill(ctx, unit_id, values, detail_rows=values["activities"]))
        out[unit_id] = folder / name
    return out


def status_of(page, name: str) -> str:
    return (
        page.locator("#rows tr", has=page.get_by_role("link", name=name, exact=True))
        .locator(".status")
        .inner_text()
    )


def nav(page, word: str) -> None:
    page.get_by_role("navigation", name="页面").get_by_role("link", name=word, exact=True).click()


def run_collect(page) -> None:
    """Click 重新汇总 and wait until the page has reloaded with the result of this run (the page may still
    show the previous run's 重新汇总完成: wait for that status to be replaced first)."""
    before = page.locator("#job").element_handle()
    page.get_by_role("button", name="重新汇总").click()
    page.wait_for_function("el => !el.isConnected", arg=before, timeout=120_000)
    page.wait_for_selector("text=重新汇总完成", timeout=120_000)


def drop_file(page, path: Path) -> None:
    """A real drop event on the drop zone, carrying the file (as Explorer's drag and drop does)."""
    data = list(path.read_bytes())
    page.evaluate(
        """([name, bytes]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name));
            document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        }""",
        [path.name, data],
    )


def test_a_clerks_afternoon(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "青溪县")
    config = folder / "kepuxl.toml"
    ctx = Context.load(config)
    files = returns(ctx, tmp_path / "收到的")
    problems: list[str] = []
    with serving(config) as served, chromium() as browser:
        page = browser.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(served.url)
        assert page.url == served.base + "/"  # the token left the address bar
        assert page.locator(".counter").first.inner_text().split() == ["26", "应报"]

        # 收件: two files picked, one dropped; all three saved under their own names
        nav(page, "收件")
        page.set_input_files("#files", [files["T01"], files["T03"]])
        drop_file(page, files["T06"])
        expect(page.locator("#uploads .upload-saved")).to_have_count(3)
        assert sorted(p.name for p in (folder / "inbox").iterdir()) == sorted(f.name for f in files.values())
        page.set_input_files("#files", [files["T01"]])  # the same file again: not stored twice
        page.wait_for_selector("#uploads .upload-same")
        assert len(list((folder / "inbox").iterdir())) == 3

        run_collect(page)
        page.get_by_role("link", name="查看各单位").click()
        assert status_of(page, "城关街道") == "通过"
        assert status_of(page, "青山镇") == "退回"
        assert status_of(page, "白沙镇") == "待核实"
        assert status_of(page, "东湖街道") == "未报"

        # filter and search, as htmx partial updates
        page.get_by_label("状态", exact=True).select_option("pending")
        expect(page.locator("#rows tbody tr")).to_have_count(1)
        assert page.locator("#rows tbody tr").inner_text().startswith("6")
        page.get_by_label("状态", exact=True).select_option("")
        page.get_by_label("搜索", exact=True).fill("青山")
        expect(page.locator("#rows tbody tr")).to_have_count(1)
        assert "青山镇" in page.locator("#rows tbody").inner_text()

        # the pending unit: its finding at 统计表!D6, then 核实 with a note
        page.get_by_role("link", name="青山镇", exact=True).click()
        assert "约300" in page.locator("main").inner_text()
        page.goto(served.base + "/units/T06")
        findings = page.locator("section[aria-label=问题]").inner_text()
        assert (
            f"{ctx.spec.sheet}!{ctx.cells.fields['fund_government'].a1}" in findings
            and "50,000 万元" in findings
        )
        page.get_by_label("核实情况").fill("电话核实，确为5万元")
        page.get_by_role("button", name="核实", exact=True).click()
        page.wait_for_selector("text=已记录核实")
        assert "电话核实，确为5万元" in page.locator("section[aria-label=核实]").inner_text()

        nav(page, "概览")
        run_collect(page)
        page.goto(served.base + "/units")
        assert status_of(page, "白沙镇") == "有警告"

        # downloads: the summary's totals, the feedback forms as one zip
        nav(page, "下载")
        with page.expect_download() as summary:
            page.get_by_role("link", name="下载汇总表").click()
        assert summary.value.suggested_filename == "2023年科技活动周_汇总.xlsx"
        book = load_workbook(io.BytesIO(Path(summary.value.path()).read_bytes()))
        sheet = book["汇总表"]
        row = ctx.cells.fields["fund_government"].row + 1
        expected = values_for(1, {})["fund_government"] + 50000
        assert sheet.cell(row, layout.VALUE_COL + 1).value == pytest.approx(expected)
        with page.expect_download() as feedback:
            page.get_by_role("link", name="下载全部反馈表（一个压缩包）").click()
        names = zipfile.ZipFile(feedback.value.path()).namelist()
        assert any("青山镇" in n for n in names) and any("白沙镇" in n for n in names)
        assert not any("城关街道" in n for n in names)  # accepted: nothing to correct
        for name in names:
            assert load_workbook(io.BytesIO(zipfile.ZipFile(feedback.value.path()).read(name)))
    assert problems == []


def test_unit_names_stay_text_in_the_browser(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "县")
    config = folder / "kepuxl.toml"
    xss, formula = "<img src=x onerror=alert(1)>镇", '=HYPERLINK("http://evil.example/","点我")'
    use_roster(
        config, [ROSTER_HEADER, ("X01", xss, "镇（街道）", "", "", ""), ("X02", formula, "部门", "", "", "")]
    )
    collect(folder / "inbox", config)
    dialogs: list[str] = []
    with serving(config) as served, chromium() as browser:
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(served.url.replace("/?", "/units?"))
        assert page.get_by_role("link", name=xss, exact=True).is_visible()
        assert page.get_by_role("link", name=formula, exact=True).is_visible()
        assert page.locator("main img").count() == 0
        assert page.locator("a[href^='http']").count() == 0
        page.get_by_role("link", name=xss, exact=True).click()
        assert page.locator("h1").inner_text().startswith(xss)
    assert dialogs == []


def test_ten_thousand_units_page(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "省")
    config = folder / "kepuxl.toml"
    rows = [ROSTER_HEADER] + [
        (f"P{n:05d}", f"第{n}号单位", "镇（街道）", "", "", "") for n in range(1, 10_001)
    ]
    use_roster(config, rows)
    collect(folder / "inbox", config)
    with serving(config) as served, chromium() as browser:
        page = browser.new_page()
        page.goto(served.url)
        assert page.locator(".counter").first.inner_text().split() == ["10000", "应报"]
        started = time.perf_counter()
        nav(page, "单位")
        page.wait_for_selector("#rows tbody tr")
        first_page = time.perf_counter() - started
        assert page.locator("#rows tbody tr").count() == 100
        assert "第 1 / 100 页" in page.locator("#rows .hint").inner_text()
        page.get_by_role("link", name="下一页").first.click()
        page.wait_for_selector("text=第 2 / 100 页")
        assert page.locator("#rows tbody tr").first.inner_text().startswith("101")
        page.get_by_label("搜索", exact=True).fill("第9999号")
        expect(page.locator("#rows tbody tr")).to_have_count(1)
        page.get_by_role("link", name="第9999号单位").click()
        assert page.locator("h1").inner_text().startswith("第9999号单位")
    print(f"10,000 units: 单位 page in the browser {first_page * 1000:.0f} ms")
