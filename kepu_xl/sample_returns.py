"""The sample county's returned forms: what a clerk's inbox really looks like, made reproducibly.

Each return is the unit's own generated form filled the way a unit does it (openpyxl stands in
for Excel here: it keeps the form's identity and protection and drops cached formula results),
with the mistakes clerks meet: "约300", "12次", amounts in 元, full-width digits, a copied
form, a resubmission, a duplicate, a late e-mail, a file saved after the deadline, a photo, and two
units that never reply. File modification times carry the received times (and one return comes as the
.eml it was sent in, whose Date says when), so resubmissions and lateness are real.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from .context import Context

BASE = {
    "activities": 3,
    "fund_government": 1.5,
    "fund_enterprise": 0.5,
    "fund_in_kind": 0.2,
    "fund_other": 0,
    "staff_fulltime": 2,
    "staff_scientists": 3,
    "staff_volunteers": 10,
    "staff_other": 1,
    "public_offline": 600,
    "public_online": 1200,
    "media_outlets": 2,
    "media_reports": 4,
    "venues_open": 1,
    "institutes_open": 0,
    "universities_open": 0,
}
ACTIVITY = ("科普讲座", "2023-05-21", "2023-05-21", "文化广场", "线下", "科普讲座", 200, 400, 1)


def _on(day: int, hour: int = 10, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2023, month, day, hour, minute)


# unit id → (values changed from BASE scaled by the unit's seq, extra cell edits, received time)
SCENARIOS: dict[str, dict[str, Any]] = {
    "T03": {"set": {"fund_enterprise": "约300"}},  # text in a number cell → error
    "T04": {"set": {"activities": "12次", "public_online": "三百"}},
    "T05": {
        "set": {"staff_volunteers": "１５", "public_offline": "1,200", "media_outlets": " 2\u00a0"}
    },  # numbers as text: the form cannot count them → errors naming the number to retype
    "T06": {"set": {"fund_government": 50000}},  # 元 typed for 万元 → 待核实, not in the totals
    "T07": {"set": {"activities": 0}, "detail": 0},  # participants without activities → error
    # 6,000 a activity → 待核实, explained by the unit in 情况说明 → counted, with a warning
    "T08": {
        "set": {"activities": 5, "public_offline": 30000},
        "note": "5月20日科技广场主题展，单场参与群众约 2.8 万人次。",
    },
    "T09": {"set": {"staff_fulltime": -2, "staff_other": 1.5}},  # negative, decimal count
    "T10": {"set": {"venues_open": "-", "institutes_open": "无"}},  # → 0 with info
    "D01": {"versions": 2},  # resubmission: the later one is used
    "D02": {"duplicate": True},
    "D03": {"received": _on(2, 9, 15, month=6), "email": True},  # sent after the deadline: late
    "D11": {"received": _on(1, 8, 30, month=6)},  # saved after the deadline: maybe late
    "D04": {"copy_of": "D05"},  # D05's form filled and sent by D04
    "D06": {"no_identity": True},  # re-typed into a new workbook
    "D07": {"set": {"media_reports": 1, "media_outlets": 3}},
    "D08": {"set": {"public_offline": "300-400"}},
    "D12": {"missing": True},
    "D14": {"missing": True},
}


def values_for(seq: int, changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in BASE.items():
        scaled = value * (1 + seq % 5)
        out[key] = round(scaled + seq / 100, 4) if isinstance(value, float) else scaled
    out["public_offline"] += seq * 10  # every unit's vector differs: identical ones mean copy-paste
    out["public_online"] += seq * 7
    out.update(changes)
    return out


def fill(
    ctx: Context,
    unit_id: str,
    values: dict[str, Any],
    *,
    detail_rows: int,
    note: str = "",
    unit_name: str = "",
) -> bytes:
    """The unit's form as a unit would return it, filled with openpyxl."""
    unit = ctx.campaign.unit(unit_id)
    assert unit is not None
    wb = load_workbook(io.BytesIO(ctx.form_bytes(unit)))
    ws = wb[ctx.spec.sheet]
    if unit_name:  # another unit's form with the name typed over (openpyxl ignores the protection)
        ws[ctx.cells.unit.a1] = unit_name
    for fid, value in values.items():
        ws[ctx.cells.fields[fid].a1] = value
    ws[ctx.cells.info["preparer"].a1] = unit.contact or "填表人"
    ws[ctx.cells.info["phone"].a1] = unit.phone or "0557-5550000"
    ws[ctx.cells.info["fill_date"].a1] = datetime(2023, 5, 28)
    ws[ctx.cells.info["fill_date"].a1].number_format = "yyyy-mm-dd"
    if note:
        ws[ctx.cells.info["note"].a1] = note
    if ctx.spec.detail is not None:
        d = wb[ctx.spec.detail.sheet]
        for i in range(detail_rows):
            row = ctx.cells.detail_first + i + 1
            for col, value in enumerate(ACTIVITY, start=1):
                d.cell(row=row, column=col + 1, value=f"{value}（第{i + 1}场）" if col == 1 else value)
    return _saved(wb)


def retyped(ctx: Context, unit_id: str, values: dict[str, Any]) -> bytes:
    """A unit that copied the table into a fresh workbook: same cells, no identity carriers."""
    from openpyxl import Workbook

    unit = ctx.campaign.unit(unit_id)
    assert unit is not None
    src = load_workbook(io.BytesIO(fill(ctx, unit_id, values, detail_rows=values["activities"])))
    wb = Workbook()
    wb.remove(wb.active)
    for name in (ctx.spec.sheet, ctx.spec.detail.sheet if ctx.spec.detail else None):
        if name is None:
            continue
        target = wb.create_sheet(name)
        for row in src[name].iter_rows(max_row=80, max_col=12):
            for cell in row:
                if cell.value is not None and cell.data_type != "f":
                    target[cell.coordinate] = cell.value
    wb.properties.created = datetime(2023, 5, 28, 9, 0)
    return _saved(wb)


def _saved(wb: Any) -> bytes:
    """The workbook's bytes, reproducible: openpyxl stamps the save time into core.xml and the zip."""
    buffer = io.BytesIO()
    wb.save(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2023-05-28T10:00:00Z", data)
            member = zipfile.ZipInfo(info.filename, date_time=(2023, 5, 28, 10, 0, 0))
            dst.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def reply(sender: str, name: str, data: bytes, sent: datetime) -> bytes:
    """A unit's reply as the .eml a mail client saves: the form attached, the Date it was sent."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "kjj@example.cn"
    msg["Subject"] = "科技活动周统计表"
    msg["Date"] = format_datetime(sent)  # naive: "-0000", read back as the same wall-clock time
    msg["Message-ID"] = f"<{hashlib.sha256(data).hexdigest()[:16]}@example.cn>"
    msg.set_content("您好，附件是我单位的统计表，请查收。")
    kind = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=name)
    msg.set_boundary("==kepuxl-sample==")  # the same bytes on every machine
    return msg.as_bytes()


def write_inbox(ctx: Context, inbox: Path) -> list[Path]:
    """Write the sample returns into `inbox`; returns the files written."""
    inbox.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes, when: datetime) -> None:
        path = inbox / name
        path.write_bytes(data)
        stamp = when.timestamp()
        os.utime(path, (stamp, stamp))
        written.append(path)

    for unit in ctx.campaign.units:
        plan = SCENARIOS.get(unit.id, {})
        if plan.get("missing"):
            continue
        values = values_for(unit.seq, plan.get("set", {}))
        rows = plan.get("detail", values["activities"] if isinstance(values["activities"], int) else 0)
        when = plan.get("received", _on(22 + unit.seq % 7, 9 + unit.seq % 8, unit.seq % 60))
        name = f"{unit.name}-科技活动周统计表.xlsx"
        if plan.get("no_identity"):
            put(name, retyped(ctx, unit.id, values), when)
        elif plan.get("copy_of"):
            put(name, fill(ctx, plan["copy_of"], values, detail_rows=rows, unit_name=unit.name), when)
        elif plan.get("versions"):
            first = dict(values, fund_government=0.8, public_offline=450)
            put(f"{unit.name}-统计表（初稿）.xlsx", fill(ctx, unit.id, first, detail_rows=rows), _on(25, 9))
            put(
                f"{unit.name}-统计表（修改后）.xlsx",
                fill(ctx, unit.id, values, detail_rows=rows),
                _on(29, 16, 40),
            )
        elif plan.get("email"):
            data = fill(ctx, unit.id, values, detail_rows=rows)
            put(f"{unit.name}-来信.eml", reply(unit.email or "unit@example.cn", name, data, when), when)
        else:
            data = fill(ctx, unit.id, values, detail_rows=rows, note=plan.get("note", ""))
            put(name, data, when)
            if plan.get("duplicate"):
                put(f"{unit.name}-统计表(1).xlsx", data, when.replace(minute=(when.minute + 5) % 60))
    # not forms: a photo and a stamped scan sent along with the returns
    put("城关街道-活动照片1.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200), _on(28, 11))
    put(
        "县教育局-盖章扫描件.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        _on(29, 16, 45),
    )
    return written
