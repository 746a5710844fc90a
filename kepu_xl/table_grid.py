"""A blank statistics table as it arrives from above → `Grid`: its texts by (row, col) and its merged cells.

.xlsx, .xls and .ods go through kepuxl's own readers (book.py, book_legacy.py), after the inbox's byte
pre-check; the first visible sheet with something in it is the table. .docx goes through python-docx:
the first table of the document, with its horizontal (gridSpan) and vertical (vMerge) merges, and the
few paragraphs around it (the title above, 填表人/注： below) as rows of one cell spanning the table.
A cell is named the way the clerk finds it: A1 in a workbook, 第 3 行第 2 列 (or 表格前/后第 n 段) in Word.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xlsxwriter.utility import xl_rowcol_to_cell

from .book import Book
from .findings import Code, Finding, KepuError

Range = tuple[int, int, int, int]  # first row, first col, last row, last col (0-based, inclusive)
WINDOW = (299, 39)  # a statistics table fits in 300 rows and 40 columns
AROUND = 4  # paragraphs kept above a Word table (title, 填报单位) …
BELOW = 10  # … and below it (填表人, 注：)
_SPACES = re.compile(r"[ \t\u3000\xa0]*\n[ \t\u3000\xa0]*")


@dataclass
class Grid:
    kind: str  # xlsx | xls | ods | docx
    sheet: str  # the sheet's name; for Word "表格 1"
    texts: dict[tuple[int, int], str] = field(default_factory=dict)
    merged: list[Range] = field(default_factory=list)
    first_row: int = 0  # Word: the table's first row (rows above it are paragraphs) …
    last_row: int = -1  # … and its last

    def name(self, row: int, col: int) -> str:
        """Where the clerk finds this cell."""
        if self.kind != "docx":
            return xl_rowcol_to_cell(row, col)
        if row < self.first_row:
            return f"表格前第 {self.first_row - row} 段"
        if row > self.last_row:
            return f"表格后第 {row - self.last_row} 段"
        return f"第 {row - self.first_row + 1} 行第 {col + 1} 列"

    def span(self, block: Range) -> str:
        """A merged range as the clerk names it: A4:A8, or 第 3–7 行第 1 列."""
        r0, c0, r1, c1 = block
        if self.kind != "docx":
            return f"{xl_rowcol_to_cell(r0, c0)}:{xl_rowcol_to_cell(r1, c1)}"
        rows = f"第 {r0 - self.first_row + 1}" + (f"–{r1 - self.first_row + 1}" if r1 > r0 else "") + " 行"
        return rows + f"第 {c0 + 1}" + (f"–{c1 + 1}" if c1 > c0 else "") + " 列"


def load(data: bytes, name: str) -> Grid:
    """The table in a file from above; `KepuError` (TABLE_FILE) when there is none to read."""
    from .intake import document_problem, precheck
    from .spec_book import load_book

    kind, _ = precheck(data, name=name)
    if kind == "other" and _is_docx(data):
        problem = document_problem(data)
        if problem is not None:  # a Word document gets the checks a workbook gets before it is parsed
            error = problem.code.title + (
                f"（{problem.context['error']}）" if "error" in problem.context else ""
            )
            raise KepuError(Finding.make(Code.TABLE_FILE, file=name, error=error))
        try:
            return _from_docx(data, name)
        except KepuError:
            raise
        except Exception as exc:  # python-docx on a damaged document: say so, never crash
            error = f"Word 文档已损坏或格式不受支持（{type(exc).__name__}）"
            raise KepuError(Finding.make(Code.TABLE_FILE, file=name, error=error)) from None
    book, why = load_book(data, name, WINDOW)
    if book is None:
        raise KepuError(Finding.make(Code.TABLE_FILE, file=name, error=why))
    return _from_book(book, name)


def _from_book(book: Book, name: str) -> Grid:
    for sheet in book.sheets.values():
        texts = {pos: text for pos, v in sheet.cells.items() if (text := _text(v.value))}
        if sheet.state == "visible" and texts:
            return Grid(book.kind, sheet.name, texts, list(sheet.merged), 0, max(r for r, _ in texts))
    raise KepuError(Finding.make(Code.TABLE_FILE, file=name, error="工作簿中没有写了内容的工作表"))


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return clean(str(value))


def clean(text: str) -> str:
    """A cell's text with the spaces around line breaks and at the ends gone (the wording is kept)."""
    return _SPACES.sub("\n", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


# -- Word ---------------------------------------------------------------------------------------------------


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "word/document.xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


def _from_docx(data: bytes, name: str) -> Grid:
    import docx
    from docx.oxml.ns import qn

    body = docx.Document(io.BytesIO(data)).element.body
    items = [el for el in body.iterchildren() if el.tag in (qn("w:p"), qn("w:tbl"))]
    at = next((i for i, el in enumerate(items) if el.tag == qn("w:tbl")), None)
    if at is None:
        raise KepuError(Finding.make(Code.TABLE_FILE, file=name, error="Word 文档中没有表格"))
    above = [t for t in (_paragraph(el) for el in items[:at] if el.tag == qn("w:p")) if t][-AROUND:]
    below: list[str] = []
    for el in items[at + 1 :]:
        if el.tag == qn("w:tbl") or len(below) == BELOW:
            break
        text = _paragraph(el)
        below += [text] if text else []
    grid = Grid("docx", "表格 1", first_row=len(above))
    width = _table_into(grid, items[at], len(above))
    grid.last_row = max([r for r, _ in grid.texts] + [grid.first_row])
    grid.last_row = max(grid.last_row, max((m[2] for m in grid.merged), default=0))
    for n, text in enumerate(above):
        _paragraph_row(grid, n, text, width)
    for n, text in enumerate(below, start=grid.last_row + 1):
        _paragraph_row(grid, n, text, width)
    return grid


def _paragraph(el: Any) -> str:
    """A w:p's text: its runs' w:t, a line break (w:br, w:cr) as a newline, a tab as a space."""
    parts = []
    for t in el.iter():
        tag = t.tag.rsplit("}", 1)[-1]
        parts.append(
            t.text or "" if tag == "t" else "\n" if tag in ("br", "cr") else " " if tag == "tab" else ""
        )
    return clean("".join(parts))


def _paragraph_row(grid: Grid, row: int, text: str, width: int) -> None:
    grid.texts[(row, 0)] = text
    if width > 1:
        grid.merged.append((row, 0, row, width - 1))


def _table_into(grid: Grid, tbl: Any, top: int) -> int:
    """The rows of a w:tbl into the grid from row `top`; returns the table's width in columns."""
    from docx.oxml.ns import qn

    width = 0
    open_blocks: dict[int, list[int]] = {}  # column → [first row, col, last row, last col] merging down
    for r, tr in enumerate(tbl.iterchildren(qn("w:tr")), start=top):
        c = tr.grid_before
        for tc in tr.iterchildren(qn("w:tc")):
            span = tc.grid_span
            text = clean("\n".join(_paragraph(p) for p in tc.iterchildren(qn("w:p"))))
            if tc.vMerge == "continue" and c in open_blocks:
                open_blocks[c][2] = r
            else:
                if c in open_blocks:
                    _close(grid, open_blocks.pop(c))
                if text:
                    grid.texts[(r, c)] = text
                if tc.vMerge == "restart" or span > 1:
                    open_blocks[c] = [r, c, r, c + span - 1]
                    if tc.vMerge != "restart":
                        _close(grid, open_blocks.pop(c))
            c += span
        width = max(width, c)
    for block in open_blocks.values():
        _close(grid, block)
    return width


def _close(grid: Grid, block: list[int]) -> None:
    r0, c0, r1, c1 = block
    if (r0, c0) != (r1, c1):
        grid.merged.append((r0, c0, r1, c1))
