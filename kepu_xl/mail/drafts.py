"""The mail drafts job: campaign → one .eml per unit with an address (output/邮件/统计表/), its form attached."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from email.utils import formataddr
from pathlib import Path
from typing import Any

from ..campaign import Campaign, Unit
from ..context import Context
from ..files import safe_name
from ..findings import Code, Finding, Findings, KepuError, Report
from ..workers import Progress
from .draftset import DraftSet
from .message import SEND_ADDRESS, Attachment, build_message, control_chars, message_id, visible
from .templates import Template, base_values, form_title

FORMS_DIR = Path("output") / "邮件" / "统计表"  # relative to the campaign folder
REPORT_UP_KIND = "report_up"  # X-Kepuxl-Kind of the draft to the level above (report_draft.py)


@dataclass
class DraftsReport(Report):
    """What `make_drafts` / `make_reminders` wrote."""

    kind: str  # "form" | "reminder"
    drafts: list[dict[str, Any]] = field(default_factory=list)

    def parts(self) -> dict[str, Any]:
        return {"kind": self.kind, "drafts": self.drafts}


def _sender(campaign: Campaign) -> tuple[str, str]:
    """(name, address) of the From; raises when the config's text cannot go into a header as it is."""
    mail = campaign.mail
    if not mail.from_address:
        raise KepuError(
            Finding.make(
                Code.MAIL_CONFIG,
                key="sender",
                hint='请填写发件邮箱 sender（或 smtp_user），如 sender = "12345678@qq.com"',
            )
        )
    name = mail.sender_name or campaign.organizer
    key = "sender" if mail.sender else "smtp_user"
    bad = [
        (table, k, value, "含换行等控制字符（" + control_chars(value) + "），不能写进邮件头")
        for table, k, value in (("mail", "sender_name", name), ("campaign", "id", campaign.id))
        if control_chars(value)
    ]
    if not SEND_ADDRESS.match(mail.from_address):
        bad.append(("mail", key, mail.from_address, '应为一个邮箱地址，如 "12345678@qq.com"'))
    if bad:
        raise KepuError(
            [
                Finding.make(Code.CAMPAIGN_BAD_VALUE, table=table, key=k, value=visible(value), rule=rule)
                for table, k, value, rule in bad
            ]
        )
    return (name, mail.from_address)


def _draft(
    ctx: Context,
    unit: Unit,
    kind: str,
    subject: str,
    body: str,
    attachments: list[Attachment],
    stamp: str,
) -> bytes:
    sender = _sender(ctx.campaign)
    to = (f"{unit.name} {unit.contact}" if unit.contact else unit.name, unit.email)
    mid = message_id(
        sender[1],
        ctx.campaign.id,
        kind,
        unit.id,
        unit.email,
        subject,
        body,
        stamp,
        *(a.data for a in attachments),
    )
    headers = {
        "Reply-To": formataddr(sender, charset="utf-8"),
        "X-Kepuxl-Campaign": ctx.campaign.id,
        "X-Kepuxl-Unit": unit.id,
        "X-Kepuxl-Kind": kind,
        "X-Unsent": "1",  # Outlook opens the .eml as a draft ready to send
    }
    return build_message(
        sender=sender,
        to=to,
        subject=subject,
        body=body,
        attachments=attachments,
        headers=headers,
        message_id=mid,
    )


UNIT_HEADER_TEXT = (("id", "单位编码"), ("name", "单位名称"), ("contact", "联系人"))  # roster columns


def _mailable(unit: Unit, findings: Findings) -> bool:
    """A unit gets a draft only with a valid address and no control character in its header text."""
    for attr, column in UNIT_HEADER_TEXT:
        chars = control_chars(getattr(unit, attr))
        if chars:
            name = visible(unit.name)
            findings.add(
                Code.MAIL_UNSAFE_TEXT, unit=name, name=name, id=visible(unit.id), column=column, chars=chars
            )
            return False
    if SEND_ADDRESS.match(unit.email):
        return True
    findings.add(Code.MAIL_NO_ADDRESS, unit=unit.name, name=unit.name)
    return False


def make_drafts(
    config: Path | Context,
    outdir: Path | None = None,
    *,
    today: date | None = None,
    progress: Progress | None = None,
) -> DraftsReport:
    """One .eml per roster unit with a valid address, its form attached (default output/邮件/统计表/).

    `config`: the campaign's kepuxl.toml, or a campaign already loaded.
    """
    ctx = config if isinstance(config, Context) else Context.load(Path(config), create_secret=True)
    camp = ctx.campaign
    today = today or date.today()
    outdir = Path(outdir) if outdir else camp.folder / FORMS_DIR
    template = Template.load(camp, "template")
    report = DraftsReport(camp.title, outdir, "form")
    _sender(camp)
    title = form_title(ctx)
    with DraftSet(outdir, "form", camp.id) as drafts:
        for n, unit in enumerate(camp.units, start=1):
            if progress:
                progress(n, len(camp.units), unit.name)
            if not _mailable(unit, report.findings):
                continue
            name = f"{title}（{unit.name}）.xlsx"
            values = base_values(ctx, unit, name, today)
            subject, body = template.render(values, report.findings)
            data = _draft(ctx, unit, "form", subject, body, [Attachment(name, ctx.form_bytes(unit))], "")
            path = drafts.add(_draft_name(unit), unit.id, data)
            report.drafts.append(
                {
                    "unit_id": unit.id,
                    "unit": unit.name,
                    "to": unit.email,
                    "subject": subject,
                    "file": str(path),
                }
            )
        drafts.commit()
    return report


def _draft_name(unit: Unit) -> str:
    return f"{unit.seq:02d}_{safe_name(unit.name)}.eml"
