"""Last year beside this year: [compare] previous → `Previous` (each unit's values and the totals of last
year, keyed by this year's unit ids and field ids).

`previous` names last year's campaign folder (its summary in output/ is read) or the summary workbook
itself. The summary is read by sheet and column headers, never by position, so one written by an older
kepuxl, or re-saved by Excel, WPS or LibreOffice as .xlsx/.xls/.ods, reads the same: sheet 分单位, a header
row holding 单位编码, 单位名称 and 状态, and one column per field headed `label（unit）` (line breaks, spaces,
full-width forms and brackets ignored: textnorm.name_key), or headed with the field's id. Only the units
counted last year (状态 通过 or 有警告) give values; subtotal and 合计 rows are not units. Units are matched
by code, then by name. Last year's totals are the sums over all of them, matched or not.

Nothing here stops collect: a missing or unreadable workbook is a finding naming the file and the fix,
and collect goes on without the comparison.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlsxwriter.utility import xl_rowcol_to_cell

from .book import Sheet, Value
from .campaign import Campaign, Unit
from .files import os_error_zh, safe_name
from .findings import Code, Finding
from .results import COUNTED, STATUS_ZH
from .spec import Field, FormSpec
from .spec_book import load_book
from .textnorm import name_key

SHEET = "分单位"
ID_HEADERS = ("单位编码", "单位名称", "状态")
COUNTED_ZH = frozenset(STATUS_ZH[s] for s in COUNTED)  # 通过, 有警告
WINDOW = (200_000, 400)  # rows and columns read of 分单位: a province's units and every field
HEADER_ROWS = 20  # the header row is among the first rows (title, hint, header)
NAMES_SHOWN = 20  # unit names listed in a finding (a province may have hundreds)
SUMMARY_SUFFIX = "_汇总.xlsx"


@dataclass
class Previous:
    """Last year's figures as this year reads them."""

    source: str  # the workbook read
    values: dict[str, dict[str, float | None]] = field(default_factory=dict)  # unit id → field id → value
    totals: dict[str, float] = field(default_factory=dict)  # field id → sum over last year's counted units
    findings: list[Finding] = field(default_factory=list)

    def of(self, unit_id: str) -> dict[str, float | None] | None:
        """A unit's values last year, or None when it has none (new, renamed, not counted last year)."""
        return self.values.get(unit_id)


def load(campaign: Campaign, spec: FormSpec) -> Previous | None:
    """Last year's figures for this campaign, or None when [compare] previous is not set.

    A `Previous` with no values and a finding when they cannot be read (the comparison is then left out).
    """
    if not campaign.previous:
        return None
    target = Path(os.path.normpath(campaign.folder / campaign.previous))  # shown without ../
    path, problem = _summary_path(target, campaign)
    if problem is not None:
        return Previous(source=str(target), findings=[problem])
    assert path is not None
    sheet, problem = _sheet(path)
    if problem is not None:
        return Previous(source=str(path), findings=[problem])
    assert sheet is not None
    return _Reading(sheet, str(path), campaign, spec).previous()


def _summary_path(target: Path, campaign: Campaign) -> tuple[Path | None, Finding | None]:
    """The summary workbook `previous` names: the file itself, or the one in a campaign folder's output/."""
    if target.is_file():
        path = target
    elif target.is_dir():
        path, why = _in_folder(target)
        if path is None:
            return None, Finding.make(Code.COMPARE_NO_SUMMARY, file=str(target), path=str(target), why=why)
    else:
        return None, Finding.make(Code.COMPARE_NOT_FOUND, file=str(target), path=campaign.previous)
    own = campaign.folder.resolve() / "output"
    if path.resolve().parent == own or target.resolve() == campaign.folder.resolve():
        return None, Finding.make(Code.COMPARE_SELF, file=str(path), path=campaign.previous)
    return path, None


def _in_folder(folder: Path) -> tuple[Path | None, str]:
    """Last year's summary in its campaign folder: output/<title>_汇总.xlsx, else the only *_汇总.xlsx."""
    title = _title(folder / "kepuxl.toml")
    if title:
        named = folder / "output" / f"{safe_name(title)}{SUMMARY_SUFFIX}"
        if named.is_file():
            return named, ""
    found = sorted({*folder.glob(f"output/*{SUMMARY_SUFFIX}"), *folder.glob(f"*{SUMMARY_SUFFIX}")})
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"没有汇总表（找过 output/ 和文件夹本身中的“……{SUMMARY_SUFFIX}”）"
    names = "、".join(str(p.relative_to(folder)) for p in found)
    return None, f"有 {len(found)} 个汇总表（{names}），不知道用哪一个"


def _title(config: Path) -> str:
    """[campaign] title of a kepuxl.toml ("" when there is none or it cannot be read: then glob)."""
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    title = raw.get("campaign", {}).get("title") if isinstance(raw.get("campaign"), dict) else None
    return title if isinstance(title, str) else ""


def _sheet(path: Path) -> tuple[Sheet | None, Finding | None]:
    """The 分单位 sheet of the workbook, read through the inbox's pre-check and kepuxl's own readers."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, Finding.make(
            Code.COMPARE_UNREADABLE, file=str(path), path=str(path), error=os_error_zh(exc)
        )
    book, why = load_book(data, path.name, WINDOW, only=SHEET)
    if book is None:
        return None, Finding.make(Code.COMPARE_UNREADABLE, file=str(path), path=str(path), error=why)
    if SHEET not in book.sheets:
        why = f"中没有“{SHEET}”工作表"
        return None, Finding.make(Code.COMPARE_NOT_SUMMARY, file=str(path), path=str(path), why=why)
    return book.sheets[SHEET], None


class _Reading:
    """One pass over 分单位: header → columns, rows → counted units → matched to this year's roster."""

    def __init__(self, sheet: Sheet, source: str, campaign: Campaign, spec: FormSpec):
        self.sheet, self.source, self.campaign, self.spec = sheet, source, campaign, spec
        self.out = Previous(source=source)
        self.by_row: dict[int, dict[int, Value]] = {}
        for (row, col), value in sheet.cells.items():
            self.by_row.setdefault(row, {})[col] = value

    def previous(self) -> Previous:
        found = self.header()
        if found is None:
            why = f"的“{SHEET}”工作表没有“单位编码”“单位名称”“状态”表头"
            return self.fail(Code.COMPARE_NOT_SUMMARY, why=why)
        header, ids, columns = found
        if not columns:
            why = f"的“{SHEET}”工作表中没有一列是本次表单的指标"
            return self.fail(Code.COMPARE_NOT_SUMMARY, why=why)
        missing = [fl.label for fl in self.spec.fields if fl.id not in columns]
        if missing:
            self.note(Code.COMPARE_FIELDS, labels="、".join(missing))
        self.units(header, ids, columns)
        return self.out

    def fail(self, code: Code, **context: Any) -> Previous:
        self.out.values, self.out.totals = {}, {}
        self.note(code, path=self.source, **context)
        return self.out

    def note(self, code: Code, **context: Any) -> None:
        self.out.findings.append(Finding.make(code, file=self.source, **context))

    def header(self) -> tuple[int, tuple[int, int, int], dict[str, int]] | None:
        """(header row, columns of 单位编码/单位名称/状态, field id → column) of the first row holding
        the three unit headings."""
        keys = self.field_keys()
        for row in range(HEADER_ROWS):
            texts = {c: name_key(v.value) for c, v in self.by_row.get(row, {}).items() if _text(v)}
            at = {text: col for col, text in sorted(texts.items(), reverse=True)}  # the first of equal ones
            if all(name_key(h) in at for h in ID_HEADERS):
                columns: dict[str, int] = {}
                for col, text in sorted(texts.items()):
                    fid = keys.get(text)
                    if fid is not None and fid not in columns:
                        columns[fid] = col
                code, name, status = (at[name_key(h)] for h in ID_HEADERS)
                return row, (code, name, status), columns
        return None

    def field_keys(self) -> dict[str, str]:
        """Header key → field id: `label（unit）`, the label alone, the id; a key two fields share is
        nobody's (no guessing)."""
        keys: dict[str, set[str]] = {}
        for fl in self.spec.fields:
            for text in (f"{fl.label}（{fl.unit}）", fl.label, fl.id):
                keys.setdefault(name_key(text), set()).add(fl.id)
        return {key: next(iter(ids)) for key, ids in keys.items() if len(ids) == 1}

    def units(self, header: int, ids: tuple[int, int, int], columns: dict[str, int]) -> None:
        """Counted rows → values per matched unit, totals over all of them, the unmatched listed."""
        code_col, name_col, status_col = ids
        fields = [self.spec.field(fid) for fid in columns]
        sums = dict.fromkeys(columns, 0.0)
        gone: list[str] = []
        for row in self.rows(header):
            if self.text(row, status_col) not in COUNTED_ZH:
                continue  # 退回/未报/待核实 last year, a subtotal, 合计
            code, name = self.text(row, code_col), self.text(row, name_col)
            values = {fl.id: self.number(row, columns[fl.id], fl, name) for fl in fields}
            for fid, value in values.items():
                sums[fid] += value or 0.0
            unit = self.match(code, name)
            if unit is None:
                gone.append(name or code)
            else:
                self.out.values[unit.id] = values
        self.out.totals = {fl.id: fl.rounded(sums[fl.id]) for fl in fields}
        if gone:
            self.note(Code.COMPARE_UNITS_GONE, n=len(gone), names=_names(gone))
        new = [u.name for u in self.campaign.units if u.id not in self.out.values]
        if new:
            self.note(Code.COMPARE_UNITS_NEW, n=len(new), names=_names(new))

    def rows(self, header: int) -> Iterator[int]:
        return iter(sorted(r for r in self.by_row if r > header))

    def match(self, code: str, name: str) -> Unit | None:
        """This year's unit of a row: by code, then by name; a unit matched twice keeps its first row."""
        unit = (self.campaign.unit(code) if code else None) or (
            self.campaign.unit_by_name(name) if name else None
        )
        return None if unit is None or unit.id in self.out.values else unit

    def text(self, row: int, col: int) -> str:
        return self.sheet.text(row, col)

    def number(self, row: int, col: int, fl: Field, unit: str) -> float | None:
        """A value cell: its number; blank → None; anything else → None and a finding (never a silent 0)."""
        v = self.sheet.get(row, col)
        if v is None or v.value is None or (isinstance(v.value, str) and not v.value.strip()):
            return None
        if isinstance(v.value, int | float) and not isinstance(v.value, bool):
            return float(v.value)
        a1 = xl_rowcol_to_cell(row, col)
        where = {"sheet": SHEET, "cell": a1, "where": f"{SHEET}!{a1}"}
        self.note(Code.COMPARE_BAD_VALUE, **where, name=unit, label=fl.label, raw=str(v.value)[:40])
        return None


def _text(v: Value) -> bool:
    return isinstance(v.value, str) and bool(v.value.strip())


def _names(names: list[str]) -> str:
    shown = "、".join(names[:NAMES_SHOWN])
    return shown + (f"等（共 {len(names)} 个）" if len(names) > NAMES_SHOWN else "")
