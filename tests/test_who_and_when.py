"""Who sent a return and what its dates say, each on a real workbook as a unit would send it back: a form signed
with another campaign's key (ID_BAD_TOKEN), a form of a unit no longer on the roster (ID_UNKNOWN_UNIT), a date
that is no date (AUDIT_BAD_DATE). Each is reported at its cell; the rest of the batch goes on."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import init_sample
from openpyxl import load_workbook

from kepu_xl import sample_returns
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code
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


def test_a_date_that_is_no_date_is_found_at_its_cell(config: Path, ctx: Context) -> None:
    unit = ctx.campaign.units[0]
    wb = load_workbook(io.BytesIO(filled(ctx, unit.id)))
    at = ctx.cells.info["fill_date"]
    wb[at.sheet][at.a1] = "5月32日"
    buffer = io.BytesIO()
    wb.save(buffer)
    (config.parent / "inbox" / "date.xlsx").write_bytes(buffer.getvalue())
    report = collect(config.parent / "inbox", config, write=False)
    found = [f for f in report.findings if f.code is Code.AUDIT_BAD_DATE]
    assert [(f.sheet, f.cell) for f in found] == [(at.sheet, at.a1)]
    assert "5月32日" in found[0].message
