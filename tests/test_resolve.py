"""Resolving returns to units: which return counts, what the clerk is told, and when it arrived.

Real returns (the unit's generated form filled with openpyxl, or sent inside a real .eml) in the sample
county's inbox, collected for real, with the ledger between runs.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from conftest import init_sample

from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.sample_returns import fill, reply, values_for

BEFORE_DEADLINE = datetime(2023, 5, 29, 9, 0)  # the sample's deadline is 2023-05-30 17:30
AFTER_DEADLINE = datetime(2023, 6, 3, 9, 0)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return init_sample(tmp_path / "青溪县")


def put(inbox: Path, name: str, data: bytes, when: datetime) -> Path:
    path = inbox / name
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def filled(ctx: Context, name: str, changes: dict | None = None, **kw) -> bytes:
    unit = ctx.campaign.unit_by_name(name)
    values = values_for(unit.seq, changes or {})
    rows = values["activities"] if isinstance(values["activities"], int) else 0
    return fill(ctx, unit.id, values, detail_rows=rows, **kw)


def unit_of(report, name: str):
    return next(u for u in report.units if u.unit.name == name)


def test_a_copy_that_fails_identity_never_supersedes_a_verified_return(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    inbox = county / "inbox"
    put(inbox, "东湖街道.xlsx", filled(ctx, "东湖街道"), datetime(2023, 5, 25, 10))
    # 城关街道's form, 东湖街道's name typed over it, an hour later
    copy = filled(ctx, "城关街道", {"activities": 99}, unit_name="东湖街道")
    put(inbox, "东湖街道-更正.xlsx", copy, datetime(2023, 5, 25, 11))
    report = collect(inbox, county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    donghu = unit_of(report, "东湖街道")
    assert donghu.status == "warnings" and donghu.counted
    assert donghu.file == "东湖街道.xlsx" and donghu.values["activities"] != 99
    (note,) = [f for f in donghu.findings if f.code.name == "RESOLVE_NOT_SUPERSEDED"]
    assert "东湖街道-更正.xlsx" in note.message and "冒名" in note.message
    outcome = {f.path: f.outcome for f in report.files}
    assert outcome == {"东湖街道.xlsx": "used", "东湖街道-更正.xlsx": "rejected"}
    # the copy is reported beside it, at its cell, with its own error
    assert [(f.code.name, f.file, f.cell) for f in report.findings if f.code.name == "ID_MISMATCH"] == [
        ("ID_MISMATCH", "东湖街道-更正.xlsx", "B2")
    ]


def test_a_lone_copy_is_still_rejected(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    put(county / "inbox", "东湖街道.xlsx", filled(ctx, "城关街道", unit_name="东湖街道"), BEFORE_DEADLINE)
    report = collect(county / "inbox", county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    assert unit_of(report, "东湖街道").status == "rejected"


def test_a_corrected_return_leaves_the_old_problems_in_the_history(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    inbox = county / "inbox"
    put(inbox, "柳河镇-初稿.xlsx", filled(ctx, "柳河镇", {"activities": "12次"}), datetime(2023, 5, 25, 9))
    put(inbox, "柳河镇-修改.xlsx", filled(ctx, "柳河镇"), datetime(2023, 5, 26, 9))
    report = collect(inbox, county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    assert unit_of(report, "柳河镇").status == "accepted"
    listed = [(f.code.name, f.file) for f in report.findings if f.unit == "柳河镇"]
    assert listed == [("RESOLVE_SUPERSEDED", "柳河镇-初稿.xlsx")]  # not its old AUDIT_UNPARSED
    old = next(f for f in report.files if f.path == "柳河镇-初稿.xlsx")
    assert old.outcome == "superseded"
    assert [f.code.name for f in old.findings] == ["AUDIT_UNPARSED", "RESOLVE_SUPERSEDED"]  # its history


def test_lateness_from_the_email_date_or_the_first_sight(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    inbox = county / "inbox"
    sent_late = reply("unit@example.cn", "县科协.xlsx", filled(ctx, "县科协"), datetime(2023, 6, 1, 8))
    put(inbox, "县科协来信.eml", sent_late, BEFORE_DEADLINE)  # saved early, sent late: the Date decides
    sent_early = reply("unit@example.cn", "县妇联.xlsx", filled(ctx, "县妇联"), datetime(2023, 5, 28, 8))
    put(inbox, "县妇联来信.eml", sent_early, AFTER_DEADLINE)  # sent in time, saved late: in time
    saved = put(inbox, "县水利局.xlsx", filled(ctx, "县水利局"), BEFORE_DEADLINE)

    first = collect(inbox, county / "kepuxl.toml", now=BEFORE_DEADLINE)
    kx, fl, sl = (unit_of(first, n) for n in ("县科协", "县妇联", "县水利局"))
    assert (kx.received_from, kx.late, kx.received) == ("email", True, datetime(2023, 6, 1, 8))
    assert next(f.code.name for f in kx.findings if f.code.name.startswith("RESOLVE_")) == "RESOLVE_LATE"
    assert (fl.received_from, fl.late, fl.maybe_late) == ("email", False, False)
    assert (sl.received_from, sl.late, sl.maybe_late) == ("file", False, False)

    # the file is saved again after the deadline: the ledger saw that content before, in time
    os.utime(saved, (AFTER_DEADLINE.timestamp(), AFTER_DEADLINE.timestamp()))
    second = collect(inbox, county / "kepuxl.toml", now=AFTER_DEADLINE)
    sl = unit_of(second, "县水利局")
    assert (sl.received_from, sl.received, sl.maybe_late) == ("first_seen", BEFORE_DEADLINE, False)
    data = next(u for u in second.to_dict()["units"] if u["unit"] == "县水利局")
    assert data["received_from"] == "first_seen"

    # new content saved after the deadline, never seen before: maybe late, an info note, status kept
    put(inbox, "县水利局.xlsx", filled(ctx, "县水利局", {"media_reports": 7}), AFTER_DEADLINE)
    third = collect(inbox, county / "kepuxl.toml", now=AFTER_DEADLINE, write=False)
    sl = unit_of(third, "县水利局")
    assert (sl.received_from, sl.late, sl.maybe_late, sl.status) == ("file", False, True, "accepted")
    (maybe,) = [f for f in sl.findings if f.code.name == "RESOLVE_MAYBE_LATE"]
    assert maybe.severity == "info" and "kepuxl fetch" in maybe.message
    assert third.counts["late"] == 1 and third.counts["maybe_late"] == 1


def test_a_blank_return_is_one_finding(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    unit = ctx.campaign.unit_by_name("马庄镇")
    put(county / "inbox", "马庄镇.xlsx", ctx.form_bytes(unit), BEFORE_DEADLINE)  # the form sent back empty
    report = collect(county / "inbox", county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    mz = unit_of(report, "马庄镇")
    assert mz.status == "rejected"
    assert [(f.code.name, f.sheet, f.cell) for f in mz.findings] == [("AUDIT_BLANK", "统计表", "D5")]
    assert mz.findings[0].code.title == "整表未填写"


def test_counts_of_a_unit_are_those_of_its_return(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    mail = reply("unit@example.cn", "县科协.xlsx", filled(ctx, "县科协"), datetime(2023, 6, 1, 8))
    put(county / "inbox", "县科协来信.eml", mail, BEFORE_DEADLINE)
    report = collect(county / "inbox", county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    kx, missing = unit_of(report, "县科协"), unit_of(report, "县妇联")
    # late but correct: 通过, and 逾期 is not counted as a warning of its content
    assert (kx.status, kx.late, kx.count("warning"), kx.count("error")) == ("accepted", True, 0, 0)
    assert (missing.status, missing.count("error")) == ("missing", 0)
    assert report.counts["accepted"] == 1 and report.counts["warnings"] == 0


def test_messages_say_what_to_do(county: Path) -> None:
    # issue 13 §4.11: "尚未收到该单位的统计表。" and "…为 -2，不能为负数。" said nothing about what to do
    ctx = Context.load(county / "kepuxl.toml")
    put(county / "inbox", "云台乡.xlsx", filled(ctx, "云台乡", {"staff_fulltime": -2}), BEFORE_DEADLINE)
    report = collect(county / "inbox", county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    (missing,) = unit_of(report, "县妇联").findings
    assert "kepuxl remind" in missing.message and "放进收件箱" in missing.message
    (negative,) = [f for f in unit_of(report, "云台乡").findings if f.code.name == "AUDIT_NEGATIVE"]
    assert negative.message.endswith("不能为负数。请填实际数量，没有发生的填 0。")


def test_text_excel_escaped_is_read_as_typed(county: Path) -> None:
    # Excel writes a CR as _x000D_ and a literal "_x000D_" as _x005F_x000D_ (ECMA-376 ST_Xstring): read as typed
    from openpyxl import load_workbook

    ctx = Context.load(county / "kepuxl.toml")
    wb = load_workbook(io.BytesIO(filled(ctx, "县水利局")))
    wb[ctx.spec.sheet][ctx.cells.info["note"].a1] = "第一行\r\n第二行，字面 _x000D_ 保留"
    buffer = io.BytesIO()
    wb.save(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("xl/worksheets/"):  # as Excel escapes them
                data = data.replace(b" _x000D_ ", b" _x005F_x000D_ ")  # (openpyxl writes CJK as &#NNNN;)
                data = data.replace(b"&#13;", b"_x000D_")
            dst.writestr(info, data)
    put(county / "inbox", "县水利局.xlsx", out.getvalue(), BEFORE_DEADLINE)
    report = collect(county / "inbox", county / "kepuxl.toml", now=BEFORE_DEADLINE, write=False)
    assert unit_of(report, "县水利局").info["note"] == "第一行\r\n第二行，字面 _x000D_ 保留"
