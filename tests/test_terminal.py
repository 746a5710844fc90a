"""What kepuxl prints is readable at 80 columns (kepu_xl/terminal.py).

The findings are the sample county's (`kepuxl demo`, made through the library), rendered by rich at several
widths: no line is wider than the terminal, no number, code, date or quoted value is split across lines, and
no line starts with closing punctuation.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import pytest
from conftest import init_sample
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from kepu_xl import make
from kepu_xl.collect import collect
from kepu_xl.findings import Finding, Severity
from kepu_xl.terminal import CLOSING, findings_view, wrap

TOKENS = re.compile(r"“[^“”]*”|[!-~]*[0-9A-Za-z][!-~]*")  # quoted values and ASCII runs with a letter/digit
BORDERS = "│┃|"


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    """The findings `kepuxl demo` shows for the sample county (all but notes and missing units)."""
    folder = init_sample(tmp_path_factory.mktemp("demo") / "kepuxl-示例县", with_returns=True)
    report = collect(folder / "inbox", folder / make.CONFIG_NAME, write=False)
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
