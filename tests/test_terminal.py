"""What kepuxl prints is readable at 80 columns and on a GBK console (kepu_xl/terminal.py).

The findings are the sample county's (`kepuxl demo`, made through the library), rendered by rich at several
widths: no line is wider than the terminal, no number, code, date or quoted value is split across lines, and
no line starts with closing punctuation. The GBK runs are real `python -m kepu_xl` processes with
PYTHONIOENCODING=gbk, as on a Windows console (code page 936) or a redirected Windows output.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import init_sample
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Finding, Severity, dumps
from kepu_xl.results import CollectReport
from kepu_xl.sample_returns import fill, values_for
from kepu_xl.terminal import CLOSING, findings_view, wrap

TOKENS = re.compile(r"“[^“”]*”|[!-~]*[0-9A-Za-z][!-~]*")  # quoted values and ASCII runs with a letter/digit
BORDERS = "│┃|"


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    """The findings `kepuxl demo` shows for the sample county (all but notes and missing units)."""
    folder = init_sample(tmp_path_factory.mktemp("demo") / "kepuxl-示例县", with_returns=True)
    report = collect(folder / "inbox", folder / CONFIG_NAME, write=False)
    out = [f for f in report.findings if f.severity is not Severity.INFO and f.code.name != "RESOLVE_MISSING"]
    assert len(out) > 10 and any("“约300”" in f.message for f in out)
    return out


def rendered(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), highlight=False)
    console.print(renderable)
    return console.export_text().splitlines()


def cells_of(findings: Sequence[Finding]) -> list[str]:
    return [text for f in findings for text in (f.unit, f.file, f.location, f.code.name, f.message)]


def assert_readable(lines: list[str], texts: list[str], width: int) -> None:
    assert max(cell_len(line) for line in lines) <= width
    for token in {t for text in texts for t in TOKENS.findall(text)}:
        assert sum(line.count(token) for line in lines) == sum(text.count(token) for text in texts), token
    for line in lines:
        for part in re.split(f"[{BORDERS}]", line):
            assert not part.strip() or part.strip()[0] not in CLOSING, line


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160, 200])
def test_findings_are_readable_at_any_width(shown: list[Finding], width: int) -> None:
    lines = rendered(findings_view(shown), width)
    assert_readable(lines, cells_of(shown), width)
    text = re.sub(rf"[\s{BORDERS}]", "", "".join(lines))
    for f in shown:
        assert re.sub(r"\s", "", f.message) in text or width >= 100  # a table splits a message into rows


def test_narrow_terminals_get_a_list_and_wide_ones_a_table(shown: list[Finding]) -> None:
    narrow = rendered(findings_view(shown), 80)
    first = shown[0]
    assert narrow[:4] == [
        "问题清单",
        f"{first.severity.zh}  {first.unit}  {first.code.name}",
        f"  位置：{first.file} {first.location}",
        "  “企业赞助经费情况”填写的是“约300”，不是数字。请只填阿拉伯数字（单位：万元），",
    ]
    wide = rendered(findings_view(shown), 160)
    assert wide[0].rstrip() == "问题清单"
    assert [name.strip() for name in wide[2].split("┃")[1:-1]] == ["级别", "单位", "位置", "代码", "说明"]


@given(st.text(alphabet="天地人和。，“”（）ab1- .:", max_size=120), st.integers(min_value=4, max_value=50))
def test_wrap_keeps_every_character_and_fits(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(cell_len(line) <= width for line in lines)
    assert re.sub(r"\s", "", "".join(lines)) == re.sub(r"\s", "", text)  # nothing lost, moved or added
    breaks, at = set(), 0  # where the lines break, counted in the text without its spaces
    for line in lines[:-1]:
        at += len(re.sub(r"\s", "", line))
        breaks.add(at)
    for run in re.finditer(r"[!-~]+", text):  # an ASCII run that fits a line is never split
        start = len(re.sub(r"\s", "", text[: run.start()]))
        if cell_len(run[0]) <= width:
            assert not any(start < b < start + len(run[0]) for b in breaks), (run[0], lines)


# -- a GBK console ---------------------------------------------------------------------------------------


def kepuxl(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONIOENCODING="gbk", COLUMNS=str(columns))
    return subprocess.run(
        [sys.executable, "-m", "kepu_xl", *args], cwd=cwd, env=env, capture_output=True, timeout=300
    )


@pytest.fixture(scope="module")
def county_with_a_tick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample county where 青山镇 typed “约300✓” (✓ is not in GBK) into a number cell."""
    folder = init_sample(tmp_path_factory.mktemp("gbk") / "青溪县", with_returns=True)
    ctx = Context.load(folder / CONFIG_NAME)
    unit = ctx.campaign.unit("T03")
    assert unit is not None
    values = values_for(unit.seq, {"fund_enterprise": "约300✓"})
    (folder / "inbox" / f"{unit.name}-科技活动周统计表.xlsx").write_bytes(
        fill(ctx, "T03", values, detail_rows=3)
    )
    with pytest.raises(UnicodeEncodeError):
        "✓".encode("gbk")
    return folder


@pytest.fixture(scope="module")
def library_report(county_with_a_tick: Path) -> CollectReport:
    return collect(county_with_a_tick / "inbox", county_with_a_tick / CONFIG_NAME, write=False)


@pytest.mark.parametrize("columns", [80, 200])
def test_collect_prints_on_a_gbk_console(
    county_with_a_tick: Path, library_report: CollectReport, columns: int
) -> None:
    done = kepuxl("collect", "inbox", cwd=county_with_a_tick, columns=columns)
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    assert done.stderr == b""
    out = done.stdout.decode("gbk")  # strict: every byte is GBK
    assert max(cell_len(line) for line in out.splitlines()) <= columns
    assert out.count("?") == 1 and "“约300?”" in out  # only the character GBK lacks is replaced
    if columns == 80:  # a list: each message is whole, in GBK
        shown = [
            f
            for f in library_report.findings
            if f.severity is not Severity.INFO and f.code.name != "RESOLVE_MISSING"
        ]
        for f in shown:
            assert re.sub(r"\s", "", f.message.replace("✓", "?")) in re.sub(r"\s", "", out)
    else:  # a table: rich draws it in ASCII on a console that is not UTF-8
        assert "+---" in out and "┃" not in out


def test_json_on_a_gbk_console_loses_nothing(county_with_a_tick: Path, library_report: CollectReport) -> None:
    done = kepuxl("collect", "inbox", "--json", "-", cwd=county_with_a_tick)
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    printed = json.loads(done.stdout.decode("gbk"))
    assert printed["findings"] == json.loads(dumps(library_report.to_dict()))["findings"]
    assert any("约300✓" in f["message"] for f in printed["findings"])


def test_make_forms_prints_on_a_gbk_console(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "青溪县")
    done = kepuxl("make-forms", "-o", "forms", cwd=folder)
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    assert done.stdout.decode("gbk").split() == [
        "2023年科技活动周：已为",
        "26",
        "个单位生成统计表（新增",
        "26，更新",
        "0，未变",
        "0，移除",
        "0）→",
        "forms",
    ]
