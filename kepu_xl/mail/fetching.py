"""The fetch job: an IMAP folder → inbox/邮件/*.eml, read-only (EXAMINE, BODY.PEEK), once per Message-ID."""

from __future__ import annotations

import email
import email.policy
import hashlib
import imaplib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

from ..campaign import Campaign, load
from ..files import safe_name, write_atomic
from ..findings import Code, Finding, Findings, KepuError
from ..ledger import Ledger, ledger_path
from ..workers import Progress
from .message import MAX_MESSAGE, _decode
from .transport import _imap, _logout, _net_error, _select, require_settings

FETCH_DIR = "邮件"  # inside the inbox


# ---------------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
FETCH_OUTCOMES = ("fetched", "already", "filtered", "own", "too-large", "failed")


@dataclass
class Fetched:
    uid: str
    message_id: str = ""
    subject: str = ""
    sender: str = ""
    date: datetime | None = None
    outcome: str = "failed"
    file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "message_id": self.message_id,
            "subject": self.subject,
            "sender": self.sender,
            "date": self.date.isoformat(timespec="seconds") if self.date else None,
            "outcome": self.outcome,
            "file": self.file,
        }


@dataclass
class FetchReport:
    campaign: str
    server: str
    folder: str
    inbox: Path
    messages: list[Fetched] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(1 for m in self.messages if m.outcome == o) for o in FETCH_OUTCOMES}

    @property
    def ok(self) -> bool:
        return not any(m.outcome == "failed" for m in self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "server": self.server,
            "folder": self.folder,
            "inbox": str(self.inbox),
            "counts": self.counts,
            "messages": [m.to_dict() for m in self.messages],
            "findings": [f.to_dict() for f in self.findings],
        }


def fetch(
    config: Path,
    inbox: Path | None = None,
    *,
    password: str,
    folder: str | None = None,
    since: date | None = None,
    subject: Iterable[str] | None = None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = datetime.now,
) -> FetchReport:
    """Download new messages of an IMAP folder into `inbox`/邮件/ as .eml files (once per Message-ID).

    The folder is opened read-only and messages are read with BODY.PEEK, so nothing in the mailbox
    changes (not even the unread marks). `since` (default: [mail] since, else the day kepuxl first sent
    the forms, else no limit) and `subject` (default: [mail] subject; any word matches) narrow what is
    downloaded; the messages kepuxl sent itself are left out.
    """
    camp = load(Path(config))
    mail = camp.mail
    require_settings(mail, "imap_host", "imap_user")
    inbox = Path(inbox) if inbox else camp.folder / "inbox"
    folder = folder or mail.imap_folder
    words = tuple(subject) if subject is not None else mail.subject
    report = FetchReport(camp.title, f"{mail.imap_host}:{mail.imap_port}", folder, inbox)
    since = since or _first_sent(camp) or mail.since
    conn = _imap(mail, password)
    try:
        _select(conn, folder)
        uids = _search(conn, since, report.server)
        with Ledger(ledger_path(camp.state_dir)) as ledger:
            own = ledger.sent_message_ids()
            for start in range(0, len(uids), 100):
                chunk = uids[start : start + 100]
                heads = _headers(conn, chunk)
                for k, uid in enumerate(chunk, start=start + 1):
                    if progress:
                        progress(k, len(uids), uid)
                    item = _fetch_one(
                        conn, uid, heads.get(uid), words, own, ledger, inbox, folder, report, now
                    )
                    report.messages.append(item)
    finally:
        _logout(conn)
    return report


def _first_sent(camp: Campaign) -> date | None:
    """The day kepuxl first sent the forms (the default start of a fetch unless [mail] since is set)."""
    if camp.mail.since is not None:
        return None
    with Ledger(ledger_path(camp.state_dir)) as ledger:
        first = ledger.first_sent("form")
    return first.date() if first else None


def _search(conn: imaplib.IMAP4, since: date | None, server: str) -> list[str]:
    """The UIDs of the folder's messages that arrived on or after `since` (all without it)."""
    criteria = ["SINCE", f"{since.day:02d}-{_MONTHS[since.month - 1]}-{since.year}"] if since else ["ALL"]
    status, data = conn.uid("SEARCH", *criteria)
    if status != "OK":
        raise KepuError(Finding.make(Code.MAIL_CONNECT, server=server, error=_imap_text(data)))
    return [u.decode() for u in (data[0] or b"").split()]


def _imap_text(data: Any) -> str:
    parts = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in (data or [])]
    return " ".join(parts) or "服务器未说明原因"


def _headers(conn: imaplib.IMAP4, uids: list[str]) -> dict[str, tuple[bytes, int]]:
    """uid → (the few headers that decide, message size), for a batch of messages."""
    status, data = conn.uid(
        "FETCH", ",".join(uids), "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT FROM DATE)])"
    )
    out: dict[str, tuple[bytes, int]] = {}
    if status != "OK":
        return out
    for entry in data:
        if isinstance(entry, tuple) and len(entry) == 2:
            uid, size = _UID.search(entry[0]), _SIZE.search(entry[0])
            if uid:
                out[uid.group(1).decode()] = (entry[1][:16384], int(size.group(1)) if size else 0)
    return out


def _fetch_one(
    conn: imaplib.IMAP4,
    uid: str,
    head: tuple[bytes, int] | None,
    words: tuple[str, ...],
    own: set[str],
    ledger: Ledger,
    inbox: Path,
    folder: str,
    report: FetchReport,
    now: Callable[[], datetime],
) -> Fetched:
    if head is None:
        report.findings.add(Code.MAIL_FETCH_FAILED, what=f"UID {uid}", error="服务器未返回邮件头")
        return Fetched(uid=uid)
    raw, size = head
    item = _described(uid, raw)
    if item.message_id in own:
        item.outcome = "own"
    elif ledger.was_fetched(item.message_id):
        item.outcome = "already"
    elif words and not any(w in item.subject for w in words):
        item.outcome = "filtered"
    elif size > MAX_MESSAGE:
        item.outcome = "too-large"
        report.findings.add(
            Code.MAIL_FETCH_FAILED,
            what=f"“{item.subject}”",
            error=f"邮件 {size >> 20} MB，超过 {MAX_MESSAGE >> 20} MB，请在网页邮箱中下载附件",
        )
    else:
        try:
            data = _body(conn, uid)
        except (imaplib.IMAP4.error, OSError, ValueError) as exc:
            report.findings.add(Code.MAIL_FETCH_FAILED, what=f"“{item.subject}”", error=_net_error(exc))
            return item
        stamp = item.date or now()
        who = safe_name(item.sender or "unknown", 40)
        name = f"{stamp:%Y%m%d-%H%M%S}_{who}_{hashlib.sha256(data).hexdigest()[:8]}.eml"
        path = write_atomic(inbox / FETCH_DIR / name, data)
        ledger.record_fetch(item.message_id, folder, uid, str(path), now())
        item.outcome, item.file = "fetched", str(path)
    return item


def _described(uid: str, raw: bytes) -> Fetched:
    """A message as its headers describe it: subject, sender, date, Message-ID (else one from its hash)."""
    item = Fetched(uid=uid)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    item.subject = _decode(msg.get("Subject"))
    item.sender = parseaddr(_decode(msg.get("From")))[1].lower()
    try:
        when = parsedate_to_datetime(str(msg.get("Date", "")))
        item.date = when.astimezone().replace(tzinfo=None) if when.tzinfo else when
    except Exception:  # no or bad Date: the file name uses the fetch time
        item.date = None
    mid = " ".join(str(msg.get("Message-ID", "")).split())
    item.message_id = mid or "<sha256-" + hashlib.sha256(raw).hexdigest()[:40] + "@kepuxl>"
    return item


def _body(conn: imaplib.IMAP4, uid: str) -> bytes:
    status, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        raise ValueError(_imap_text(data))
    for entry in data:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], bytes):
            return entry[1]
    raise ValueError("服务器未返回邮件内容")
