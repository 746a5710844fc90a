"""Printed pages of a list sheet: column widths → orientation, print scale and column pages; a header's
text → explicit line breaks. Pure: no xlsxwriter, no I/O.

Widths are Excel's: characters of the workbook's default font (Calibri 11: 7 px a character plus 5 px
of padding, 96 px an inch). The print scale is fixed, never fit-to-page, so the printed font size is
known in every application: at MIN_SCALE the summary's smallest font (10 pt) prints at 8.5 pt. A sheet
too wide for one A4 page at that scale is split into column pages, whose breaks fall between bands of
columns (a section's fields stay together where they fit) and whose leading columns (the unit) repeat.

An application that draws columns wider (LibreOffice without Calibri or its metric twin Carlito: a
third wider) adds a page where a planned one overflows; the scale, hence the font size, stays.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

A4_PT = (595.28, 841.89)  # portrait width, height
PX_PER_PT = 4 / 3  # 96 px an inch
MIN_PT = 8.0  # the smallest printed font size we accept
SMALLEST_FONT_PT = 10  # the summary's smallest cell font (hints)
MIN_SCALE = 85  # percent: 10 pt prints at 8.5 pt, 11 pt at 9.35 pt
SLACK = 1.08  # LibreOffice draws a column 6 % wider than Excel (unrounded digit width), WPS as Excel
MARGIN_IN = 0.4  # left and right margins of list sheets

assert SMALLEST_FONT_PT * MIN_SCALE / 100 >= MIN_PT


@dataclass(frozen=True)
class PagePlan:
    """How a sheet prints across: orientation, scale (%), column breaks and the repeated columns."""

    landscape: bool
    scale: int
    breaks: tuple[int, ...] = ()  # first column of each column page after the first
    repeat: int = 0  # leading columns printed on every column page (0 when there is one)

    def first_page_last_col(self, last_col: int) -> int:
        """The last column printed on the first page (where a title is centred)."""
        return self.breaks[0] - 1 if self.breaks else last_col


def column_px(width: float) -> int:
    """A column's width in pixels, as Excel and xlsxwriter convert it."""
    if width <= 0:
        return 0
    return round(width * 12) if width < 1 else int(width * 7 + 0.5) + 5


def printable_px(landscape: bool, margin_in: float = MARGIN_IN) -> float:
    """Sheet pixels across one A4 page at 100 % between the left and right margins."""
    paper = A4_PT[1] if landscape else A4_PT[0]
    return (paper - 2 * margin_in * 72) * PX_PER_PT


def plan_pages(
    widths: Sequence[float], *, repeat: int = 0, bands: Sequence[int] = (), margin_in: float = MARGIN_IN
) -> PagePlan:
    """Portrait if the columns fit a portrait page at MIN_SCALE or more, else landscape; the largest
    scale up to 100 % at which they fit; failing that, MIN_SCALE and column pages.

    Args:
        widths: every printed column's width, in Excel's characters.
        repeat: the leading columns to print on every column page (the unit's code and name).
        bands: a band number per column after the repeated ones (same number = keep together), or ().
    """
    px = [column_px(w) for w in widths]
    need = sum(px) * SLACK
    for landscape in (False, True):
        scale = min(100, math.floor(100 * printable_px(landscape, margin_in) / max(need, 1)))
        if scale >= MIN_SCALE:
            return PagePlan(landscape, scale)
    room = printable_px(True, margin_in) * 100 / MIN_SCALE / SLACK
    breaks = _column_breaks(px, repeat, list(bands) or list(range(len(px) - repeat)), room)
    return PagePlan(True, MIN_SCALE, tuple(breaks), repeat if breaks else 0)


def _column_breaks(px: list[int], repeat: int, bands: list[int], room: float) -> list[int]:
    """Pack bands of columns onto pages of `room` px (each page starts with the repeated columns)."""
    fixed = sum(px[:repeat])
    groups: list[list[int]] = []
    for col, band in enumerate(bands, start=repeat):
        if groups and bands[groups[-1][0] - repeat] == band:
            groups[-1].append(col)
        else:
            groups.append([col])
    breaks: list[int] = []
    used = fixed
    for group in groups:
        width = sum(px[c] for c in group)
        if used + width <= room:
            used += width
        elif used > fixed and fixed + width <= room:  # the whole band on the next page
            breaks.append(group[0])
            used = fixed + width
        else:  # a band wider than a page: split it where the page is full
            for col in group:
                if used + px[col] > room and used > fixed:
                    breaks.append(col)
                    used = fixed
                used += px[col]
    return breaks


# -- header text --------------------------------------------------------------------------------------

# A line-breaking unit: opening brackets stay with what follows, closing punctuation (and a space) with
# what precedes, and a run of Latin letters or digits is never split (SHA-256, 2023).
_CLOSERS = "）)》”’]、，。：；！？,.:;!?"
_TOKEN = re.compile(r"[（(《“‘\[]*(?:[A-Za-z0-9_.%/+-]+|\S)[" + re.escape(_CLOSERS) + r"]*\s*")
_ORPHAN, _LINE = 1e7, 1e5  # costs: a one-character line is worse than one more line


def text_px(text: str, font_pt: float = 11, bold: bool = False) -> float:
    """Printed width in px: a CJK character is one em (+1 px when bold: Windows emboldens SimSun),
    anything else half an em (SimSun and Noto CJK draw Latin text about that wide)."""
    em = font_pt * PX_PER_PT
    wide = wide_chars(text)
    return wide * (em + bold) + (len(text) - wide) * em / 2


_WIDE: dict[str, bool] = {}  # a character → East Asian wide or fullwidth; bounded below
_WIDE_MAX = 1 << 16


def wide_chars(text: str) -> int:
    """How many characters of `text` are East Asian wide or fullwidth (W, F: a CJK character, an
    ideographic space, a fullwidth digit), shown two columns wide; the others take one.

    A summary measures a million characters of messages: each distinct character is looked up once per
    text (counted in C) and its width once per process."""
    if text.isascii():
        return 0
    wide = 0
    for ch, n in Counter(text).items():
        known = _WIDE.get(ch)
        if known is None:
            known = unicodedata.east_asian_width(ch) in "WF"
            if len(_WIDE) < _WIDE_MAX:
                _WIDE[ch] = known
        if known:
            wide += n
    return wide


def wrap_header(text: str, width: float, font_pt: float = 11, bold: bool = True) -> str:
    """`text` with a newline wherever it must break in a column `width` wide: the fewest lines,
    evenly filled, never a line of one character or one that starts with a closing bracket."""
    lines = (_balanced(_TOKEN.findall(part), _usable(width), font_pt, bold) for part in text.split("\n"))
    return "\n".join(line.strip() for part in lines for line in part)


def header_width(text: str, width: float, max_lines: int = 3, font_pt: float = 11) -> float:
    """The smallest width ≥ `width` in which `text` wraps into at most `max_lines` lines, none of them
    a single character (a three-character header such as 错误数 then stays on one line). A header that
    two more characters of width would keep on one line gets them (是否逾期)."""
    for wider in (width, width + 1, width + 2):
        lines = wrap_header(text, wider, font_pt).split("\n")
        if len(lines) == 1 and _fits(lines, wider, font_pt):
            return wider
    while width < 255:
        lines = wrap_header(text, width, font_pt).split("\n")
        # a token wider than the column (SHA-256) widens it too
        orphans = len(lines) > 1 and any(map(_orphan, lines))
        if _fits(lines, width, font_pt) and len(lines) <= max_lines and not orphans:
            return width
        width += 1
    return width


def header_lines(text: str) -> int:
    return text.count("\n") + 1


def _usable(width: float) -> float:
    """A column's room for text in px (Excel's padding is in the 5 px column_px adds)."""
    return 7 * width - 2


def _fits(lines: list[str], width: float, font_pt: float) -> bool:
    return all(text_px(line, font_pt, bold=True) <= _usable(width) for line in lines)


def _orphan(line: str) -> bool:
    """A line of one character, closing punctuation aside (数, 数）, ）), as a wrapped header ends badly."""
    return len(line.strip().rstrip(_CLOSERS)) <= 1


def _balanced(tokens: list[str], usable: float, font_pt: float, bold: bool) -> list[str]:
    """Lines of tokens minimising (lines, one-character lines, sum of squared unused room): dynamic
    programming over break positions; a header has a few dozen tokens at most."""
    if not tokens:
        return [""]
    widths = [text_px(t, font_pt, bold) for t in tokens]
    n = len(tokens)
    best: list[tuple[float, int]] = [(0.0, -1)] + [(math.inf, -1)] * n
    for j in range(1, n + 1):
        width = 0.0
        for i in range(j - 1, -1, -1):
            width += widths[i]
            if width > usable and i < j - 1:
                break  # a single token wider than the column gets a line of its own
            line = "".join(tokens[i:j])
            cost = best[i][0] + _LINE + max(0.0, usable - width) ** 2 + (_ORPHAN if _orphan(line) else 0)
            if cost < best[j][0]:
                best[j] = (cost, i)
    lines, j = [], n
    while j > 0:
        i = best[j][1]
        lines.append("".join(tokens[i:j]))
        j = i
    return lines[::-1]
