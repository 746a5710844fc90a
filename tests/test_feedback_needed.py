"""Which units get a feedback form: those with something to do about their return.

An error (the return is rejected: it is sent again), or a warning or 待核实 at a cell (corrected, or
explained in 情况说明). A return that is only late, has only notes (提示), or only a warning about the
file as a whole (its sheet protection removed) gets none: at province scale those are thousands of forms
nobody needs.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path

import pytest
from conftest import init_sample
from openpyxl import load_workbook

from kepu_xl.collection import collect, needs_feedback
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Severity
from kepu_xl.results import CollectReport
from kepu_xl.sample_returns import SCENARIOS, _saved, fill, reply, values_for

NOW = datetime(2023, 6, 5, 9, 0)
ON_TIME = datetime(2023, 5, 25, 10, 0)


def _put(inbox: Path, name: str, data: bytes, when: datetime = ON_TIME) -> None:
    path = inbox / name
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))


def _return(ctx: Context, unit_id: str, changes: dict | None = None) -> bytes:
    unit = ctx.campaign.unit(unit_id)
    values = values_for(
        unit.seq, changes if changes is not None else SCENARIOS.get(unit_id, {}).get("set", {})
    )
    return fill(ctx, unit_id, values, detail_rows=values["activities"])


def _unprotected(data: bytes) -> bytes:
    """The return with every sheet's protection taken off (a warning about the file, at no cell)."""
    book = load_workbook(io.BytesIO(data))
    for ws in book.worksheets:
        ws.protection.sheet = False
    return _saved(book)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CollectReport:
    folder = init_sample(tmp_path_factory.mktemp("needed") / "青溪县")
    ctx = Context.load(folder / CONFIG_NAME)
    inbox = folder / "inbox"
    _put(inbox, "T01.xlsx", _return(ctx, "T01", {}))  # clean
    _put(inbox, "T02.xlsx", _unprotected(_return(ctx, "T02", {})))  # only a warning about the file
    _put(inbox, "T03.xlsx", _return(ctx, "T03"))  # "约300": an error at a cell
    _put(inbox, "T06.xlsx", _return(ctx, "T06"))  # 50,000 万元: 待核实 at a cell
    _put(inbox, "T10.xlsx", _return(ctx, "T10"))  # "-" and "无": notes only
    _put(inbox, "D07.xlsx", _return(ctx, "D07"))  # fewer reports than outlets: a warning at a cell
    sender = ctx.campaign.unit("D03").email
    late = reply(sender, "D03.xlsx", _return(ctx, "D03", {}), datetime(2023, 6, 2, 9, 15))
    _put(inbox, "D03.eml", late, datetime(2023, 6, 2, 9, 15))  # only late (its e-mail's Date)
    return collect(inbox, folder / CONFIG_NAME, folder / "output", now=NOW)


def _unit(report: CollectReport, unit_id: str):
    return next(u for u in report.units if u.unit.id == unit_id)


def test_feedback_forms_only_for_units_with_something_to_do(report: CollectReport) -> None:
    with_form = {u.unit.id for u in report.units if u.feedback}
    assert with_form == {"T03", "T06", "D07"}
    assert len(report.outputs["feedback_files"]) == 3
    assert all(Path(p).exists() for p in report.outputs["feedback_files"])


def test_the_units_without_one_have_only_what_asks_nothing_of_them(report: CollectReport) -> None:
    t02, d03, t10 = (_unit(report, i) for i in ("T02", "D03", "T10"))
    # T02 has warnings (so it is counted "with warnings"), but none at a cell: the file's protection
    assert t02.status == "warnings" and {f.code.name for f in t02.findings} == {"AUDIT_UNPROTECTED"}
    assert all(not f.cell for f in t02.findings)
    assert d03.late and {f.code.name for f in d03.findings} == {"RESOLVE_LATE"}
    assert t10.findings and all(f.severity is Severity.INFO for f in t10.findings)
    assert not any(needs_feedback(u) for u in (t02, d03, t10))


def test_a_unit_that_must_act_gets_its_problems_in_its_form(report: CollectReport) -> None:
    for unit_id, severity in (("T03", Severity.ERROR), ("T06", Severity.VERIFY), ("D07", Severity.WARNING)):
        u = _unit(report, unit_id)
        assert any(f.severity is severity and f.cell for f in u.findings), unit_id
        book = load_workbook(u.feedback)
        assert "问题清单" in book.sheetnames
