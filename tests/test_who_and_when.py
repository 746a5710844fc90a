"""Who sent a return and what its dates say, each on a real workbook as a unit would send it back: a form signed
with another campaign's key (ID_BAD_TOKEN), a form of a unit no longer on the roster (ID_UNKNOWN_UNIT), a date
that is no date (AUDIT_BAD_DATE). Each is reported at its cell; the rest of the batch goes on."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import libreoffice as lo
from conftest import init_sample
from openpyxl import load_workbook
from xlsxwriter.utility import xl_rowcol_to_cell

from kepu_xl import reader, sample_returns
from kepu_xl.audit import audit
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code, Severity
from kepu_xl.init import init_campaign


def filled(ctx: Context, unit_id: str, seq: int = 1) -> bytes:
    values = sample_returns.values_for(seq, {})
    return sample_returns.fill(ctx, unit_id, values, detail_rows=values["activities"])


def findings_of(report, name: str) -> list[tuple[Code, str, str]]:
    return [(f.code, f.sheet, f.cell) for f in report.findings if Path(f.file).name == name]


def test_a_form_signed_with_another_key_is_not_taken(config: Path, ctx: Context, tmp_path: Path) -> None:
    # the same campaign (same id, year, roster) set up again elsewhere: init made it a key of its own
    other = init_campaign(tmp_path / "另一台电脑")
    other_ctx = Context.load(other)
    assert other_ctx.campaign.id == ctx.campaign.id and other_ctx.secret != ctx.secret
    unit = ctx.campaign.units[0]
    (config.parent / "inbox" / "forged.xlsx").write_bytes(filled(other_ctx, unit.id))
    (config.parent / "inbox" / "good.xlsx").write_bytes(filled(ctx, ctx.campaign.units[1].id, 2))
    report = collect(config.parent / "inbox", config, write=False)
    codes = [c for c, _, _ in findings_of(report, "forged.xlsx")]
    assert Code.ID_BAD_TOKEN in codes
    assert next(u for u in report.units if u.unit.id == unit.id).status != "accepted"
    assert next(u for u in report.units if u.unit.id == ctx.campaign.units[1].id).status == "accepted"


def test_a_form_of_a_unit_taken_off_the_roster_is_said_so(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "县")
    config = folder / CONFIG_NAME
    ctx = Context.load(config)
    gone = ctx.campaign.units[-1]
    (folder / "inbox" / "gone.xlsx").write_bytes(filled(ctx, gone.id))
    wb = load_workbook(folder / "units.xlsx")
    ws = wb.worksheets[0]
    row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == gone.id)
    ws.delete_rows(row)
    wb.save(folder / "units.xlsx")
    report = collect(folder / "inbox", config, write=False)
    assert gone.id not in {u.unit.id for u in report.units}
    found = findings_of(report, "gone.xlsx")
    assert (Code.ID_UNKNOWN_UNIT, ctx.spec.sheet, ctx.cells.unit.a1) in found


def with_text_dates(data: bytes, cells: dict[tuple[str, str], str]) -> bytes:
    """The return with dates pasted as text (a paste keeps text text; typing "5月21日" makes a date)."""
    wb = load_workbook(io.BytesIO(data))
    for (sheet, a1), text in cells.items():
        wb[sheet][a1] = text
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_a_date_that_is_no_date_is_found_at_its_cell(config: Path, ctx: Context) -> None:
    unit = ctx.campaign.units[0]
    at = ctx.cells.info["fill_date"]
    data = with_text_dates(filled(ctx, unit.id), {(at.sheet, at.a1): "5月32日"})
    (config.parent / "inbox" / "date.xlsx").write_bytes(data)
    report = collect(config.parent / "inbox", config, write=False)
    found = [f for f in report.findings if f.code is Code.AUDIT_BAD_DATE]
    assert [(f.sheet, f.cell) for f in found] == [(at.sheet, at.a1)]
    assert "5月32日" in found[0].message
    # the way to write it is the form's own example: the campaign's last day, as the form's prompts give it
    assert ctx.campaign.date_example == "2023-05-27"
    assert "请按 2023-05-27 这样的格式填写" in found[0].message


# Date formats Chinese Excel and WPS offer in their own lists, written as built-in ids with no format code
# in the file (ECMA-376 Part 1, 18.8.30, zh-CN): 31 is yyyy"年"m"月"d"日", 58 is m"月"d"日".
ZH_CN_BUILTIN = {31: 'yyyy"年"m"月"d"日"', 58: 'm"月"d"日"'}


def with_builtin_dates(data: bytes, cells: dict[tuple[str, str], tuple[datetime, int]]) -> bytes:
    """The return with each (sheet, cell) holding a date in a zh-CN built-in format, stored as Excel stores
    it: the style's numFmtId is the built-in id and styles.xml defines no code for it."""
    wb = load_workbook(io.BytesIO(data))
    for (sheet, a1), (moment, builtin) in cells.items():
        wb[sheet][a1] = moment
        wb[sheet][a1].number_format = ZH_CN_BUILTIN[builtin]
    buffer = io.BytesIO()
    wb.save(buffer)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            part = zin.read(info)
            if info.filename == "xl/styles.xml":
                xml = part.decode("utf-8")
                for builtin, code in ZH_CN_BUILTIN.items():
                    escaped = code.replace('"', "&quot;")
                    m = re.search(f'<numFmt numFmtId="([0-9]+)" formatCode="{re.escape(escaped)}"/>', xml)
                    if m:  # openpyxl gave the code an id of its own: make it the built-in id, undefined
                        xml = xml.replace(m[0], "").replace(f'numFmtId="{m[1]}"', f'numFmtId="{builtin}"')
                assert 'numFmtId="31"' in xml and "年" not in xml
                part = xml.encode("utf-8")
            zout.writestr(info, part)
    return out.getvalue()


@lo.requires_libreoffice
def test_a_date_in_a_format_from_chinese_excels_list_is_a_date(
    config: Path, ctx: Context, tmp_path: Path
) -> None:
    """A unit picks 2023年5月26日 from Excel's (or WPS's) date formats: the file holds the built-in id 31 and
    the serial number. It is read as the date, in .xlsx as in the .xls LibreOffice saves of it (xlrd's
    reading), never as 45072 with a warning."""
    unit = ctx.campaign.units[0]
    at = ctx.cells.info["fill_date"]
    detail_cell = xl_rowcol_to_cell(ctx.cells.detail_first, ctx.cells.detail_cols["start"])
    data = with_builtin_dates(
        filled(ctx, unit.id),
        {
            (at.sheet, at.a1): (datetime(2023, 5, 26), 31),
            (ctx.spec.detail.sheet, detail_cell): (datetime(2023, 5, 21), 58),
        },
    )
    source = tmp_path / "中文日期.xlsx"
    source.write_bytes(data)
    xls = lo.convert(source, "xls", tmp_path / "lo")
    for path in (source, xls):
        inbox = config.parent / "inbox"
        for old in inbox.iterdir():
            old.unlink()
        (inbox / path.name).write_bytes(path.read_bytes())
        report = collect(inbox, config, write=False)
        assert not [f for f in report.findings if f.code is Code.AUDIT_BAD_DATE], path.name
        result = next(u for u in report.units if u.unit.id == unit.id)
        assert result.info["fill_date"] == date(2023, 5, 26), path.name
        assert result.detail[0]["start"] == date(2023, 5, 21), path.name


@lo.requires_libreoffice
def test_a_date_without_its_year_is_a_day_of_the_campaigns_year(
    config: Path, ctx: Context, tmp_path: Path
) -> None:
    """ "5月21日" pasted as text into 活动明细 or 填报日期 is that day of 2023 (the campaign's days are all in
    2023), recorded at its cell as a note the unit has nothing to do about; "2月30日" is no day and stays a
    warning. Read alike from the .xlsx and from LibreOffice's .ods of it."""
    unit = ctx.campaign.units[1]
    at = ctx.cells.info["fill_date"]
    detail = ctx.spec.detail.sheet
    start = ctx.cells.detail_cols["start"]
    first, second = (xl_rowcol_to_cell(ctx.cells.detail_first + i, start) for i in (0, 1))
    source = tmp_path / "文字日期.xlsx"
    source.write_bytes(
        with_text_dates(
            filled(ctx, unit.id, 2),
            {(at.sheet, at.a1): "5月28日", (detail, first): " 5月21号 ", (detail, second): "2月30日"},
        )
    )
    ods = lo.convert(source, "ods", tmp_path / "lo")
    inbox = config.parent / "inbox"
    for path in (source, ods):
        for old in inbox.iterdir():
            old.unlink()
        (inbox / path.name).write_bytes(path.read_bytes())
        report = collect(inbox, config, write=False)
        mine = [f for f in report.findings if Path(f.file).name == path.name]
        added = [(f.sheet, f.cell, f.severity) for f in mine if f.code is Code.AUDIT_DATE_YEAR_ADDED]
        assert added == [(at.sheet, at.a1, Severity.INFO), (detail, first, Severity.INFO)], path.name
        assert "按活动所在年份记为 2023-05-21" in next(f.message for f in mine if f.cell == first)
        bad = [(f.sheet, f.cell) for f in mine if f.code is Code.AUDIT_BAD_DATE]
        assert bad == [(detail, second)], path.name
        result = next(u for u in report.units if u.unit.id == unit.id)
        assert result.info["fill_date"] == date(2023, 5, 28), path.name
        assert [row["start"] for row in result.detail[:2]] == [date(2023, 5, 21), "2月30日"], path.name


def test_a_date_without_its_year_is_not_read_when_the_campaign_spans_two_years(ctx: Context) -> None:
    assert ctx.campaign.days_year == 2023
    assert replace(ctx.campaign, end=date(2024, 1, 5)).days_year is None
    assert replace(ctx.campaign, start=None, end=None).days_year == 2023
    unit = ctx.campaign.units[0]
    at = ctx.cells.info["fill_date"]
    data = with_text_dates(filled(ctx, unit.id), {(at.sheet, at.a1): "12月28日"})
    form = reader.read(data, "xlsx", ctx.spec, ctx.cells)
    spanning = replace(ctx.campaign, end=date(2024, 1, 5))
    codes = {
        campaign.days_year: [
            (f.code, f.cell) for f in audit(form, ctx.spec, ctx.cells, unit, None, campaign).findings
        ]
        for campaign in (ctx.campaign, spanning)
    }
    assert (Code.AUDIT_DATE_YEAR_ADDED, at.a1) in codes[2023]
    assert (Code.AUDIT_BAD_DATE, at.a1) in codes[None]
    assert (Code.AUDIT_DATE_YEAR_ADDED, at.a1) not in codes[None]
