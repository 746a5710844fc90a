"""The send job: a drafts folder → SMTP, to the roster's address of each draft's unit, each attempt in the
ledger so a re-run sends only what did not go out; an incomplete drafts set is refused."""

from __future__ import annotations

import email
import email.policy
import hashlib
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate, getaddresses
from pathlib import Path
from typing import Any

from ..campaign import Campaign, load
from ..findings import Code, Finding, KepuError
from ..ledger import Ledger, ledger_path
from ..workers import Progress
from .drafts import FORMS_DIR, REPORT_UP_KIND, _sender
from .draftset import MANIFEST, read_manifest, recover
from .message import _WIRE, MAX_MESSAGE, SEND_ADDRESS, _decode, visible
from .transport import MAX_CONNECT_FAILURES, _net_error, _server_text, _Smtp, require_settings

# ---------------------------------------------------------------------------------------------------
# send
# ---------------------------------------------------------------------------------------------------

SEND_OUTCOMES = ("sent", "failed", "skipped", "dry-run", "not-attempted")


@dataclass
class Sent:
    """One draft and what became of it."""

    draft: str
    unit_id: str = ""
    unit: str = ""
    to: str = ""
    subject: str = ""
    message_id: str = ""
    outcome: str = "not-attempted"
    finding: Finding | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "draft": self.draft,
            "unit_id": self.unit_id,
            "unit": self.unit,
            "to": self.to,
            "subject": self.subject,
            "message_id": self.message_id,
            "outcome": self.outcome,
            "message": self.finding.message if self.finding else "",
        }


@dataclass
class SendReport:
    campaign: str
    folder: Path
    server: str
    dry_run: bool
    items: list[Sent] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [i.finding for i in self.items if i.finding is not None]

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(1 for i in self.items if i.outcome == o) for o in SEND_OUTCOMES}

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was left unsent."""
        return not any(i.outcome in ("failed", "not-attempted") for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "folder": str(self.folder),
            "server": self.server,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "messages": [i.to_dict() for i in self.items],
            "findings": [f.to_dict() for f in self.findings],
        }


def _read_draft(path: Path) -> tuple[email.message.Message, bytes]:
    data = path.read_bytes()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"草稿超过 {MAX_MESSAGE >> 20} MB")
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    return msg, data


def send_drafts(
    config: Path,
    folder: Path | None = None,
    *,
    password: str = "",
    dry_run: bool = False,
    resend: bool = False,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = datetime.now,
) -> SendReport:
    """Send every .eml draft in `folder` (default output/邮件/统计表/) over SMTP, in name order.

    The folder must be a complete set (its manifest lists every draft), else nothing is sent. Each
    draft goes to the roster's address of the unit it was made for, never to an address read from the
    draft. A draft whose Message-ID the ledger has as sent is skipped, and so is a form draft for a
    unit that was already sent its form in another version (unless `resend`): a re-run after a failure
    sends only what did not go out. Each failure is one finding and the run goes on; after a refused
    login nothing more is tried (repeated failed logins lock QQ/163 accounts).
    """
    camp = load(Path(config))
    mail = camp.mail
    folder = Path(folder) if folder else camp.folder / FORMS_DIR
    entries = _complete_set(folder)
    drafts = sorted(folder.glob("*.eml"))
    report = SendReport(camp.title, folder, f"{mail.smtp_host}:{mail.smtp_port}", dry_run)
    if not dry_run:
        require_settings(mail, "smtp_host", "smtp_user")
        if not password:
            raise KepuError(
                Finding.make(
                    Code.MAIL_CONFIG, key="password", hint=f"请设置环境变量 {mail.password_env}（授权码）"
                )
            )
    run = _SendRun(camp, report, _Smtp(mail, password), resend=resend, sleep=sleep, now=now)
    with Ledger(ledger_path(camp.state_dir)) as ledger:
        try:
            for n, path in enumerate(drafts, start=1):
                if progress:
                    progress(n, len(drafts), path.name)
                run.draft(ledger, path, entries.get(path.name))
        finally:
            run.smtp.drop()
    return report


class _SendRun:
    """One `send_drafts` run: each draft's fate, the SMTP session, and when to stop trying."""

    def __init__(
        self,
        camp: Campaign,
        report: SendReport,
        smtp: _Smtp,
        *,
        resend: bool,
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
    ):
        self.camp, self.mail, self.report, self.smtp = camp, camp.mail, report, smtp
        self.sender = _sender(camp)[1]  # raises on a From that cannot go into a header
        self.resend, self.sleep, self.now = resend, sleep, now
        self.connect_failures = 0
        self.stop_why = ""  # once set (a refused login, a dead server), nothing more is tried
        self.last_sent = False  # the previous draft went out: pause before the next

    def draft(self, ledger: Ledger, path: Path, entry: dict[str, str] | None) -> None:
        """One draft: failed, skipped, rehearsed, not attempted, or sent (and the attempt recorded)."""
        item = Sent(draft=str(path))
        self.report.items.append(item)
        msg, data, error = _open_draft(self.camp, path, entry, item)
        where = {"unit": item.unit, "file": path.name}
        if msg is None or error:
            item.outcome = "failed"
            item.finding = Finding.make(Code.MAIL_DRAFT, **where, draft=path.name, error=error)
            return
        kind = str(msg.get("X-Kepuxl-Kind", "")).strip() or "form"
        skip = _already_sent(ledger, item, kind, self.resend)
        if skip is not None:
            item.outcome, item.finding = "skipped", skip.located(**where)
            return
        if self.report.dry_run:
            item.outcome = "dry-run"
            return
        if self.stop_why:
            item.finding = Finding.make(Code.MAIL_NOT_ATTEMPTED, **where, to=item.to, why=self.stop_why)
            return
        conn = self.connect(item, where)
        if conn is None:
            return
        self.send(conn, item, msg, where)
        ledger.record_send(
            message_id=item.message_id,
            unit_id=item.unit_id,
            kind=kind,
            draft=str(path),
            sha256=hashlib.sha256(data).hexdigest(),
            recipient=item.to,
            at=self.now(),
            outcome=item.outcome,
            error=item.finding.message if item.finding else "",
        )

    def connect(self, item: Sent, where: dict[str, str]) -> smtplib.SMTP | None:
        """The SMTP session, after the pause between two messages; None (the item failed) if it fails."""
        if self.last_sent and self.mail.pause:
            self.sleep(self.mail.pause)  # QQ/163 treat a burst from a new sender as spam
        self.last_sent = False
        server = self.report.server
        try:
            conn = self.smtp.open()
        except smtplib.SMTPAuthenticationError as exc:
            error = _server_text(exc.smtp_code, exc.smtp_error)
            item.outcome = "failed"
            item.finding = Finding.make(
                Code.MAIL_LOGIN, **where, server=server, user=self.mail.smtp_user, error=error
            )
            self.stop_why = "邮箱登录失败，为免账号被锁定未再尝试"
            return None
        except (OSError, smtplib.SMTPException) as exc:
            self.connect_failures += 1
            item.outcome = "failed"
            item.finding = Finding.make(Code.MAIL_CONNECT, **where, server=server, error=_net_error(exc))
            if self.connect_failures >= MAX_CONNECT_FAILURES:
                self.stop_why = f"连续 {self.connect_failures} 次无法连接服务器"
            return None
        self.connect_failures = 0
        return conn

    def send(self, conn: smtplib.SMTP, item: Sent, msg: email.message.Message, where: dict[str, str]) -> None:
        """One message over the open session; a failure mid-session drops it, for the next to start afresh."""
        outcome, finding = _send_one(conn, self.sender, item, msg, self.now())
        if outcome == "sent":
            item.outcome, self.last_sent = "sent", True
        else:
            item.outcome, item.finding = "failed", finding.located(**where) if finding else None
            if finding is not None and finding.code is Code.MAIL_SEND_FAILED:
                self.smtp.drop()  # the session may be half-broken: start the next one afresh


def _complete_set(folder: Path) -> dict[str, dict[str, str]]:
    """The manifest of a drafts folder (file → entry); raises unless every draft it lists is there."""
    recover(folder)  # a `mail drafts` killed between its two renames: finish (or undo) its swap
    if not folder.is_dir():
        raise KepuError(
            Finding.make(Code.MAIL_DRAFT, file=str(folder), draft=str(folder), error="文件夹不存在")
        )
    entries, problem = read_manifest(folder)
    if problem:
        raise KepuError(Finding.make(Code.MAIL_DRAFTS_INCOMPLETE, folder=str(folder), error=problem))
    return entries


_RECIPIENT_HEADERS = ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")


def _open_draft(
    camp: Campaign, path: Path, entry: dict[str, str] | None, item: Sent
) -> tuple[email.message.Message | None, bytes, str]:
    """(message, bytes, why it cannot be sent or ""); fills in `item`, its recipient from the roster.

    The draft names its unit (X-Kepuxl-Unit); the address is the roster's 电子邮箱 of that unit (for a
    report-up draft, [report_up] email), never one read back from the draft, whose decoded display names
    may hold anything. The draft's own recipients, read without decoding, must be that one address and
    nothing else.
    """
    try:
        msg, data = _read_draft(path)
    except Exception as exc:  # an unreadable draft is this draft's problem only
        return None, b"", _net_error(exc)
    item.subject = _decode(msg.get("Subject"))
    item.message_id = str(msg.get("Message-ID", "")).strip()
    item.unit_id = str(msg.get("X-Kepuxl-Unit", "")).strip()
    if entry is None:
        return msg, data, f"不在草稿清单 {MANIFEST} 中（不是与这批草稿一起生成的）"
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return msg, data, "草稿生成后被改动或已损坏"
    if str(msg.get("X-Kepuxl-Kind", "")).strip() == REPORT_UP_KIND:  # to the level above, not to a unit
        item.unit = camp.report_up.name or "上级"
        address, where = camp.report_up.email, "kepuxl.toml [report_up] 的 email"
    else:
        unit = camp.unit(item.unit_id)
        if unit is None:
            return msg, data, f"单位编码“{visible(item.unit_id)}”不在单位名单中"
        item.unit = unit.name
        address, where = unit.email, "名单中的电子邮箱"
    campaign = str(msg.get("X-Kepuxl-Campaign", "")).strip()
    if campaign != camp.id:
        return msg, data, f"草稿属于另一个活动（{visible(campaign)}）"
    if not SEND_ADDRESS.match(address):
        return msg, data, f"{where}不是有效的邮箱地址"
    item.to = address
    listed = getaddresses([str(v) for h in _RECIPIENT_HEADERS for v in msg.get_all(h, [])])
    if [a.lower() for _, a in listed] != [address.lower()]:
        return msg, data, f"草稿的收件人与{where} {address} 不符"
    if not item.message_id:
        return msg, data, "缺少 Message-ID"
    return msg, data, ""


def _already_sent(ledger: Ledger, item: Sent, kind: str, resend: bool) -> Finding | None:
    at = ledger.sent_at(item.message_id)
    what = {"form": "统计表邮件", REPORT_UP_KIND: "上报邮件"}.get(kind, "催报邮件")
    if at is not None:
        return Finding.make(Code.MAIL_ALREADY_SENT, to=item.to, what=what, at=f"{at:%m-%d %H:%M}", hint="")
    if kind == "form" and item.unit_id and not resend:
        earlier = ledger.sent_to_unit(item.unit_id, "form")
        if earlier:
            hint = "草稿已重新生成（内容有变）；如确需再发一次，请加 --resend。"
            return Finding.make(
                Code.MAIL_ALREADY_SENT, to=item.to, what=what, at=f"{earlier[-1][1]:%m-%d %H:%M}", hint=hint
            )
    return None


def _wire_bytes(msg: email.message.Message, moment: datetime) -> bytes:
    """The draft as it goes out: dated now, no longer marked unsent."""
    del msg["X-Unsent"]
    del msg["Date"]
    msg["Date"] = formatdate(moment.timestamp(), localtime=True)
    return msg.as_bytes(policy=_WIRE)


def _send_one(
    conn: smtplib.SMTP, sender: str, item: Sent, msg: email.message.Message, moment: datetime
) -> tuple[str, Finding | None]:
    try:
        refused = conn.sendmail(sender, [item.to], _wire_bytes(msg, moment))
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = exc.recipients.get(item.to, (None, b""))
        return "failed", Finding.make(Code.MAIL_REFUSED, to=item.to, error=_server_text(code, text))
    except smtplib.SMTPSenderRefused as exc:
        error = (
            f"发件人 {sender} 被拒绝：{_server_text(exc.smtp_code, exc.smtp_error)}"
            "（QQ/163 邮箱要求发件地址 sender 与登录账号 smtp_user 相同）"
        )
        return "failed", Finding.make(Code.MAIL_SEND_FAILED, to=item.to, error=error)
    except (smtplib.SMTPException, OSError) as exc:
        return "failed", Finding.make(Code.MAIL_SEND_FAILED, to=item.to, error=_net_error(exc))
    if refused:
        code, text = refused.get(item.to, (None, b""))
        return "failed", Finding.make(Code.MAIL_REFUSED, to=item.to, error=_server_text(code, text))
    return "sent", None
