"""The report-up draft: the filled upper form, the 总结报告 when there is one, and materials the units sent
(summaries, photos) within the size limit → one .eml to the level above in output/邮件/上报/, sent with
`kepuxl send output/邮件/上报` to the address in [report_up] email (never one read from the draft).

The body comes from 上报模板.txt in the campaign folder (copied there from the bundled one the first time,
then the clerk's to edit). The draft folder is one set (DraftSet), as every drafts folder.
"""

from __future__ import annotations

import mimetypes
from datetime import date
from email.utils import formataddr
from pathlib import Path
from typing import Any

from .. import intake, materials
from ..context import Context
from ..files import safe_name
from ..findings import Code, Finding, Findings, KepuError
from ..results import CollectReport
from .drafts import REPORT_UP_KIND, _sender
from .draftset import DraftSet
from .message import Attachment, build_message, message_id
from .templates import Template, form_title, install_templates

REPORT_UP_DIR = Path("output") / "邮件" / "上报"  # relative to the campaign folder
KIND = REPORT_UP_KIND  # X-Kepuxl-Kind: `send` takes the recipient from [report_up] email
TEMPLATE_KEY = "report_up_template"
# the message as sent, base64 and headers included: the level above's kepuxl reads mails up to 30 MB
# (intake.Limits.max_eml), and QQ/163 take about that much as ordinary attachments
MAIL_LIMIT = 25 << 20
DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


def make_report_draft(
    ctx: Context,
    filled: Path,
    note: str,
    result: CollectReport,
    today: date,
    upper_unit: tuple[str, str],
    document: Path | None = None,
) -> tuple[dict[str, Any], list[Finding]]:
    """The draft to the level above; (what it holds, findings: materials left out, template problems).

    `upper_unit`: (id, name) of this level in the upper campaign's roster, as its form names it;
    `document`: the 总结报告（数据部分）.docx report-up wrote, attached after the form.
    """
    camp = ctx.campaign
    up = camp.report_up
    if not up.email:
        raise KepuError(Finding.make(Code.REPORT_NO_EMAIL))
    sender = _sender(camp)
    install_templates(camp.folder, camp.mail, (TEMPLATE_KEY,))  # the clerk edits the wording there
    template = Template.load(camp, TEMPLATE_KEY)
    found = Findings()
    attachments = [Attachment(filled.name, filled.read_bytes())]
    if document is not None and document.is_file():
        attachments.append(Attachment(document.name, document.read_bytes(), DOCX_TYPE))
    extra, left = _materials(result, camp.folder / "inbox", up.materials, MAIL_LIMIT - _size(attachments))
    attachments += extra
    if left:
        found.add(Code.REPORT_MATERIALS_LEFT, limit=MAIL_LIMIT >> 20, n=len(left), names="、".join(left[:20]))
    values = {
        "上级": up.name or "上级主管部门",
        "本单位": upper_unit[1] or camp.organizer,
        "活动": camp.title,
        "表名": ctx.spec.title,
        "年度": str(camp.year),
        "附件清单": "\n".join(f"{n}. {a.name}" for n, a in enumerate(attachments, start=1)),
        "情况说明": note,
        "主办单位": camp.organizer,
        "联系人": camp.contact.name,
        "联系电话": camp.contact.phone,
        "联系邮箱": camp.contact.email,
        "发出日期": f"{today.year}年{today.month}月{today.day}日",
    }
    subject, body = template.render(values, found)
    mid = message_id(sender[1], camp.id, KIND, up.email, subject, body, *(a.data for a in attachments))
    headers = {
        "Reply-To": formataddr(sender, charset="utf-8"),
        "X-Kepuxl-Campaign": camp.id,
        "X-Kepuxl-Unit": upper_unit[0],
        "X-Kepuxl-Kind": KIND,
        "X-Unsent": "1",
    }
    to = (up.name or up.email, up.email)
    data = build_message(
        sender=sender,
        to=to,
        subject=subject,
        body=body,
        attachments=attachments,
        headers=headers,
        message_id=mid,
    )
    outdir = camp.folder / REPORT_UP_DIR
    with DraftSet(outdir, KIND, camp.id) as drafts:
        path = drafts.add(f"上报_{safe_name(form_title(ctx))}.eml", upper_unit[0], data)
        drafts.commit()
    draft = {"file": str(path), "to": up.email, "subject": subject, "size": len(data)}
    draft["attachments"] = [a.name for a in attachments]
    draft["left_out"] = left
    return draft, found.items


def _materials(
    result: CollectReport, inbox: Path, kinds: tuple[str, ...], budget: int
) -> tuple[list[Attachment], list[str]]:
    """The counted units' materials of `kinds`, taken in turns (each unit's first summary, then each
    unit's second…, then the photos alike) while the message stays within `budget`; and what was left."""
    counted = materials.count_materials(result)
    units = [u for u in result.units if u.counted]
    order: list[tuple[str, str]] = []  # (unit name, file path)
    for kind in kinds:
        lists = [(u.unit.name, counted[u.unit.id].files.get(kind, [])) for u in units]
        for n in range(max((len(files) for _, files in lists), default=0)):
            order += [(name, files[n]) for name, files in lists if n < len(files)]
    if not order:
        return [], []
    wanted = {path for _, path in order}
    own = (result.campaign.folder / "output", result.campaign.state_dir)
    found = {c.path: c for c in intake.scan(inbox, skip=own) if c.path in wanted}
    out: list[Attachment] = []
    left: list[str] = []
    used = 0
    names: set[str] = set()
    for unit, path in order:
        cand = found.get(path)
        if cand is None:
            continue
        name = cand.name if unit in cand.name else f"{unit}_{cand.name}"  # whose it is, at a glance
        att = Attachment(_unique(name, names), cand.data, _mime(cand.name))
        # a video is never read whole (intake): too big for a mail anyway, it is listed to be sent otherwise
        if not cand.data or used + _size([att]) > budget:
            left.append(att.name)
            continue
        used += _size([att])
        out.append(att)
    return out, left


def _size(attachments: list[Attachment]) -> int:
    """Bytes on the wire: base64 (4 for 3, 76-character lines with CRLF) plus the part's headers."""
    return sum((len(a.data) + 2) // 3 * 4 * 78 // 76 + 600 for a in attachments) + 8 * 1024


def _mime(name: str) -> tuple[str, str]:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    major, _, minor = kind.partition("/")
    return major, minor


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if stem else (name, "")
    out, n = name, 2
    while out in taken:
        out, n = f"{stem} ({n}){ext}", n + 1
    taken.add(out)
    return out
