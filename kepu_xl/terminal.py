"""What kepuxl prints, readable on a clerk's terminal: Chinese text wrapped where a reader expects it, tables
that fit the width (a list below it), and output that a GBK console (Windows code page 936) can always take.

Input → output: text, rows and findings → lines and rich renderables sized at render time. Prints nothing.

Chinese has no spaces, so rich (and textwrap) would fold a message at any character, splitting “约300” or
2023-05-30 across two lines. `wrap` breaks between Chinese characters and at spaces instead; a run of ASCII
(a number, a date, a file name, a code) and a quoted value stay whole, closing punctuation never starts a
line and opening punctuation never ends one.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from .findings import Finding, Severity

CLOSING = set("，。、；：！？）》」』】〕〉…’”％,.;:!?)]}%")  # never at the start of a line
OPENING = set("（《「『【〔〈‘“([{")  # never at the end of a line
_QUOTED = r"“[^“”\n]*”|‘[^‘’\n]*’|"
_ASCII = r"[!-~]+|\s+|."
_UNITS = re.compile(_QUOTED + _ASCII, re.S)
_UNITS_UNQUOTED = re.compile(_ASCII, re.S)


def wrap(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` terminal cells (a Chinese character is two), broken between
    Chinese characters and at spaces; see the module doc. Newlines in `text` are kept."""
    width = max(width, 2)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for unit in _units(paragraph, width):
            if unit.isspace():
                line += unit if line else ""
            elif line and cell_len(line + unit) > width:
                lines.append(line.rstrip())
                line = unit
            else:
                line += unit
        lines.append(line.rstrip())
    return lines


def _units(text: str, width: int, quoted: bool = True) -> Iterator[str]:
    """The pieces of `text` no line break may fall inside, each at most `width` cells."""
    groups: list[list[str]] = []  # tokens that stick together: a closing mark to what it closes, …
    glue = False  # the previous token ends with opening punctuation: the next one sticks to it
    for token in (_UNITS if quoted else _UNITS_UNQUOTED).findall(text):
        if groups and not token.isspace() and not groups[-1][-1].isspace() and (glue or token[0] in CLOSING):
            groups[-1].append(token)
        else:
            groups.append([token])
        glue = token[-1] in OPENING
    for group in groups:
        if cell_len("".join(group)) <= width:
            yield "".join(group)
            continue
        for token in group:  # too long for a line together: break between them, then inside
            if cell_len(token) <= width:
                yield token
            elif quoted and token[0] in "“‘":  # a quoted value longer than the line
                yield from _units(token, width, quoted=False)
            else:
                yield from _fold(token, width)


def _fold(text: str, width: int) -> Iterator[str]:
    """Last resort for a run with no break in it (a very long file name): cut it at the width."""
    chunk = ""
    for char in text:
        if chunk and cell_len(chunk + char) > width:
            yield chunk
            chunk = ""
        chunk += char
    if chunk:
        yield chunk


# -- tables that fit, or a list -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A column of `Rows`. In a list (narrow terminal) the `head` columns share a row's first line and the
    others get a line each, labelled with the column's name unless it is the `flex` one (one per table)."""

    name: str
    cap: int = 24  # at most this many cells wide in a table (its text wraps inside)
    head: bool = False
    flex: bool = False  # takes the width the others leave


MIN_FLEX = 30  # below this many cells for the flexible column a list reads better than a table
_EDGE = 3  # per column: two padding cells and one border; plus one border at the right edge


class Rows:
    """Rows of text shown as a table when the terminal is wide enough, else as a list; either way every
    cell is wrapped by `wrap`. A cell is a string (never read as markup) or a rich `Text` (styles kept)."""

    def __init__(self, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str | Text]]) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = [[c if isinstance(c, Text) else Text(c) for c in row] for row in rows]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self.widths(options.max_width)
        if widths is None:
            yield from self.as_list(options.max_width)
        else:
            yield self.as_table(widths)

    def widths(self, width: int) -> list[int] | None:
        """Column widths for a table `width` cells wide, or None when the flexible column would be too
        narrow to read."""
        natural = [
            max(
                [
                    cell_len(col.name),
                    *(cell_len(line) for row in self.rows for line in row[i].plain.split("\n")),
                ]
            )
            for i, col in enumerate(self.columns)
        ]
        out = [
            0 if col.flex else min(n, max(col.cap, cell_len(col.name)))
            for col, n in zip(self.columns, natural, strict=True)
        ]
        flex = next(i for i, col in enumerate(self.columns) if col.flex)
        room = width - _EDGE * len(self.columns) - 1 - sum(out)
        if room < min(natural[flex], MIN_FLEX):
            return None
        out[flex] = min(natural[flex], room)
        return out

    def as_table(self, widths: list[int]) -> Table:
        table = Table(title=Text(self.title, style="table.title"), title_justify="left")
        for col, width in zip(self.columns, widths, strict=True):
            table.add_column(col.name, width=width, no_wrap=True)
        for row in self.rows:
            table.add_row(*(_wrapped(cell, w) for cell, w in zip(row, widths, strict=True)))
        return table

    def as_list(self, width: int) -> Iterator[Text]:
        yield Text(self.title, style="bold")
        for row in self.rows:
            pairs = list(zip(self.columns, row, strict=True))
            head = Text("  ").join(cell for col, cell in pairs if col.head and cell.plain)
            yield head if cell_len(head.plain) <= width else _wrapped(head, width)
            for col, cell in pairs:
                if not col.head and cell.plain:
                    label = "" if col.flex else f"{col.name}："
                    yield _wrapped(Text(label) + cell, width - 2, indent="  ")


def _wrapped(cell: Text, width: int, indent: str = "") -> Text:
    """`cell` wrapped by `wrap`, its styles kept (each line is a stretch of the original text)."""
    lines, cursor = [], 0
    for line in wrap(cell.plain, width):
        start = cell.plain.index(line, cursor)
        cursor = start + len(line)
        lines.append(Text(indent) + cell[start:cursor])
    return Text("\n").join(lines)


class Paragraph:
    """Text (a string is never read as markup) wrapped by `wrap` at the console's width when printed."""

    def __init__(self, *parts: str | tuple[str, str]) -> None:
        self.text = Text.assemble(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield _wrapped(self.text, options.max_width)


# -- findings -------------------------------------------------------------------------------------------

SEVERITY_STYLE = {
    Severity.ERROR: "red",
    Severity.VERIFY: "magenta",
    Severity.WARNING: "yellow",
    Severity.INFO: "blue",
}
FINDING_COLUMNS = (
    Column("级别", cap=6, head=True),
    Column("单位", cap=14, head=True),
    Column("位置", cap=28),
    Column("代码", cap=26, head=True),
    Column("说明", flex=True),
)


def findings_view(findings: Sequence[Finding], title: str = "问题清单") -> Rows:
    """Findings as `Rows`: severity (its one Chinese word, coloured), unit, where, code, message."""
    rows = [
        (
            Text(f.severity.zh, style=SEVERITY_STYLE[f.severity]),
            f.unit,
            " ".join(x for x in (f.file, f.location) if x),
            f.code.name,
            f.message,
        )
        for f in findings
    ]
    return Rows(title, FINDING_COLUMNS, rows)


# -- encodings ------------------------------------------------------------------------------------------


def tolerant_streams() -> None:
    """On a console that is not UTF-8 (a Windows GBK console, output redirected to a file there), a
    character the encoding lacks (a rare name, an emoji a unit typed) prints as '?' instead of stopping
    the run with UnicodeEncodeError. Chinese in GBK prints as it is."""
    for stream in (sys.stdout, sys.stderr):
        if not _is_utf(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def json_for(stream: Any, text: str) -> str:
    """JSON text `stream` can carry without loss: as it is, or, when the stream's encoding lacks one of its
    characters, with every non-ASCII character as a \\u escape (the same data for any JSON reader)."""
    if _is_utf(stream):
        return text
    try:
        text.encode(stream.encoding)
    except (UnicodeEncodeError, LookupError):
        return json.dumps(json.loads(text), ensure_ascii=True, indent=2)
    return text


def _is_utf(stream: Any) -> bool:
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-")
    return encoding.startswith("utf")
