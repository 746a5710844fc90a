"""E-mail: campaign + forms → .eml drafts → SMTP; IMAP mailbox → inbox/*.eml; collect report → reminders.

The only network code of kepuxl. Library calls mirrored by the CLI, each returning a report (plain
data with `to_dict()`), never printing or prompting; the password is always an argument (the CLI
takes it from an environment variable or a prompt) and is never written anywhere:

- `make_drafts(config)`: one .eml per roster unit with an address (output/邮件/统计表/), the body from
  the campaign's editable template (邮件模板.txt), the unit's form attached under a Chinese name
  encoded both ways clients read it (RFC 2231 `filename*=` and an RFC 2047 `name=`).
- `send_drafts(config, folder, password=...)`: SMTP over SSL or STARTTLS with login; each failure is a
  finding and the run goes on; every attempt goes into the ledger, so a re-run sends only what has
  not gone out yet.
- `fetch(config, password=...)`: new messages of an IMAP folder (read-only, BODY.PEEK: the mailbox is
  never changed) into inbox/邮件/ as .eml files, once per Message-ID.
- `make_reminders(config, inbox)`: drafts for units that are missing or rejected; a rejected unit's
  draft carries its feedback workbook and the list of problems.
- `check_servers(config, password=...)`: log in to SMTP and IMAP and say what fails.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import hashlib
import imaplib
import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, getaddresses, parseaddr, parsedate_to_datetime
from importlib import resources
from pathlib import Path
from typing import Any

from .campaign import EMAIL_RE, MATERIALS, Campaign, MailSettings, Unit
from .files import os_error_zh, safe_name, write_atomic
from .findings import Code, Finding, Findings, KepuError, Severity, dumps
from .intake import decode_words
from .ledger import Ledger
from .make import Context
from .results import UnitResult

Progress = Callable[[int, int, str], None]
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
FORMS_DIR = Path("output") / "邮件" / "统计表"  # relative to the campaign folder
FETCH_DIR = "邮件"  # inside the inbox
TEMPLATE_FILES = {"template": "mail_template.txt", "remind_template": "remind_template.txt"}
MAX_MESSAGE = 30 << 20  # the intake's cap on one .eml; a larger message is not downloaded
MAX_CONNECT_FAILURES = 3  # consecutive; then the rest of the run is not attempted


class _Wire(email.policy.Compat32):
    """compat32 with CRLF that keeps an ASCII header value it is given already folded, as is.

    compat32 (re)folds every header and would put the xlsx type on a line of its own; the attachment
    headers are folded here the way Thunderbird writes them instead.
    """

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and "\n" in value and value.isascii():
            return f"{name}: " + re.sub(r"\r?\n", self.linesep, value) + self.linesep
        return super()._fold(name, value, sanitize)


_WIRE = _Wire(linesep="\r\n")

# -- text that goes into a header -------------------------------------------------------------------
# A CR or LF in a header value starts a new header line (a Bcc in a draft the clerk opens in Outlook);
# the other control characters have no business in a name either. Roster and config text is checked
# before a draft is made (a finding names the unit and the column); `build_message` then flattens
# whatever it is given, so no caller can make a header line out of text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SEND_ADDRESS = EMAIL_RE  # what kepuxl sends to: the roster's own check of an address


def control_chars(text: str) -> str:
    """The control characters in `text` as a reader sees them (`\\r\\n`); empty when it has none."""
    return "".join(dict.fromkeys(_escaped(c) for c in _CONTROL.findall(text)))


def visible(text: str) -> str:
    """`text` with each control character written out, for a message that quotes it."""
    return _CONTROL.sub(lambda m: _escaped(m.group()), text)


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def one_line(text: str) -> str:
    """Header text: control characters become spaces, runs of spaces one."""
    return " ".join(_CONTROL.sub(" ", text).split())


def ledger_path(campaign: Campaign) -> Path:
    return campaign.state_dir / "ledger.sqlite"


# ---------------------------------------------------------------------------------------------------
# templates
# ---------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([^{}\s]{1,20})\}")


@dataclass(frozen=True, slots=True)
class Template:
    """An editable mail template: first line `主题：…`, a blank line, then the body."""

    subject: str
    body: str
    source: str  # the file it came from, for messages

    @classmethod
    def load(cls, campaign: Campaign, key: str) -> Template:
        """The campaign folder's copy (the clerk may have edited it), else the bundled one."""
        name = getattr(campaign.mail, key)
        path = campaign.folder / name
        if path.is_file():
            try:
                return cls.parse(path.read_text(encoding="utf-8-sig"), name)
            except (OSError, UnicodeDecodeError) as exc:
                raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(path), error=str(exc))) from None
        return cls.parse(bundled_template(key), name)

    @classmethod
    def parse(cls, text: str, source: str) -> Template:
        text = text.replace("\r\n", "\n")
        first, _, rest = text.partition("\n")
        m = re.match(r"\s*(?:主题|subject)\s*[:：]\s*(.*)", first, re.I)
        if m is None:
            raise KepuError(
                Finding.make(
                    Code.CAMPAIGN_FILE,
                    path=source,
                    error="第一行应为“主题：……”（邮件主题），空一行后是正文",
                )
            )
        return cls(m.group(1).strip(), rest.strip("\n") + "\n", source)

    def render(self, values: dict[str, str], findings: Findings) -> tuple[str, str]:
        """(subject, body) with every known {占位符} replaced; unknown ones are kept and reported once."""
        unknown: list[str] = []

        def sub(m: re.Match[str]) -> str:
            if m.group(1) in values:
                return values[m.group(1)]
            if m.group(0) not in unknown:
                unknown.append(m.group(0))
            return m.group(0)

        subject = one_line(_PLACEHOLDER.sub(sub, self.subject))  # one line, no stray spaces
        body = _PLACEHOLDER.sub(sub, self.body)
        body = re.sub(r"\n{3,}", "\n\n", body)  # an empty {问题清单} leaves no hole
        allowed = "、".join("{" + k + "}" for k in values)
        for token in unknown:
            if not any(f.context.get("placeholder") == token for f in findings):
                findings.add(
                    Code.MAIL_TEMPLATE,
                    file=self.source,
                    template=self.source,
                    placeholder=token,
                    allowed=allowed,
                )
        return subject, body


def bundled_template(key: str) -> str:
    return (Path(str(resources.files("kepu_xl.samples"))) / TEMPLATE_FILES[key]).read_text(encoding="utf-8")


def install_templates(folder: Path, mail: MailSettings | None = None) -> list[Path]:
    """Copy the bundled templates into a campaign folder (never over an existing file)."""
    mail, written = mail or MailSettings(), []
    for key in TEMPLATE_FILES:
        path = Path(folder) / getattr(mail, key)
        if not path.exists():
            written.append(write_atomic(path, bundled_template(key).encode("utf-8")))
    return written


def when_text(moment: datetime, *, year: bool = True) -> str:
    """2023年5月30日17:30 (no time when the deadline is a whole day)."""
    day = f"{moment.year}年" if year else ""
    day += f"{moment.month}月{moment.day}日"
    return day if (moment.hour, moment.minute) == (23, 59) else f"{day}{moment:%H:%M}"


def form_title(ctx: Context) -> str:
    """`2023年科技活动周开展情况统计表`: the form's title with the campaign year in front."""
    title = ctx.spec.title
    return title if re.match(r"\d{4}", title) else f"{ctx.campaign.year}年{title}"


def materials_text(campaign: Campaign, attachment: str) -> str:
    lines = [f"1. 填好的统计表（即附件《{attachment}》，请直接回传此 Excel 文件）"]
    hints = {"photos": "（JPG 等图片）", "summary": "（Word 或 PDF）", "scan": "（PDF 或清晰照片）"}
    for n, (key, need) in enumerate(campaign.materials, start=2):
        label, measure = MATERIALS[key]
        amount = f"不少于 {need} {measure}" if need > 1 else f"1 {measure}"
        lines.append(f"{n}. {label}{amount}{hints[key]}")
    return "\n".join(lines)


def base_values(ctx: Context, unit: Unit, attachment: str, today: date) -> dict[str, str]:
    camp = ctx.campaign
    return {
        "活动": camp.title,
        "表名": ctx.spec.title,
        "年度": str(camp.year),
        "单位": unit.name,
        "单位联系人": unit.contact,
        "称呼": f"{unit.name} {unit.contact}同志" if unit.contact else unit.name,
        "截止": when_text(camp.deadline, year=False),
        "截止时间": when_text(camp.deadline),
        "附件名": attachment,
        "所需材料": materials_text(camp, attachment),
        "主办单位": camp.organizer,
        "联系人": camp.contact.name,
        "联系电话": camp.contact.phone,
        "联系邮箱": camp.contact.email,
        "发出日期": f"{today.year}年{today.month}月{today.day}日",
    }


# ---------------------------------------------------------------------------------------------------
# building messages
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    data: bytes
    mime: tuple[str, str] = XLSX_TYPE


def build_message(
    *,
    sender: tuple[str, str],
    to: tuple[str, str],
    subject: str,
    body: str,
    attachments: Iterable[Attachment] = (),
    headers: dict[str, str] | None = None,
    message_id: str = "",
    when: datetime | None = None,
) -> bytes:
    """An RFC 5322 message as bytes with CRLF line ends, 7-bit clean, every header ≤ 78 columns.

    Header text never makes a header line of its own: control characters (CR, LF, ...) in names,
    addresses, the subject and `headers` become spaces; callers check roster and config text first.
    Non-ASCII text goes in RFC 2047 encoded-words (subject, names) and base64 bodies. An attachment's
    name is given twice, the way Thunderbird does it: `filename*=UTF-8''…` (RFC 2231, read by
    Thunderbird, Gmail, Apple Mail) and `name="=?UTF-8?B?…?="` (RFC 2047, read by Outlook, Foxmail and
    the Chinese webmails), so every client shows the Chinese name.
    """
    msg = MIMEMultipart("mixed")
    msg["From"] = formataddr((one_line(sender[0]), one_line(sender[1])), charset="utf-8")
    msg["To"] = formataddr((one_line(to[0]), one_line(to[1])), charset="utf-8")
    # the name counts in the 78 columns
    msg["Subject"] = Header(one_line(subject), "utf-8", header_name="Subject")
    if when is not None:
        msg["Date"] = formatdate(when.timestamp(), localtime=True)
    if message_id:
        msg["Message-ID"] = one_line(message_id)
    for key, value in (headers or {}).items():
        msg[key] = one_line(value)
    msg.attach(MIMEText(body.replace("\n", "\r\n"), "plain", "utf-8"))
    for att in attachments:
        part = MIMEApplication(att.data, att.mime[1])  # base64
        words = Header(att.name, "utf-8").encode(maxlinelen=68).replace('"', "")
        part.replace_header("Content-Type", f'{att.mime[0]}/{att.mime[1]};\n name="{words}"')
        part.add_header("Content-Disposition", "attachment;\n " + rfc2231_param("filename", att.name))
        msg.attach(part)
    return msg.as_bytes(policy=_WIRE)


_ATTR_CHAR = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~")


def rfc2231_param(key: str, value: str, width: int = 64) -> str:
    """`key*0*=utf-8''%E5%8E%BF;\n key*1*=…`: an RFC 2231 parameter in continuations of at most `width`
    characters, each cut between whole characters (some clients decode every piece on its own)."""
    pieces, current = [], "utf-8''"
    for ch in value:
        enc = "".join(chr(b) if b in _ATTR_CHAR else f"%{b:02X}" for b in ch.encode("utf-8"))
        if len(current) + len(enc) > width and current not in ("", "utf-8''"):
            pieces.append(current)
            current = ""
        current += enc
    pieces.append(current)
    if len(pieces) == 1:
        return f"{key}*={pieces[0]}"
    return ";\n ".join(f"{key}*{n}*={piece}" for n, piece in enumerate(pieces))


def message_id(sender: str, *parts: str | bytes) -> str:
    """A Message-ID that depends only on what the message says: the same draft made twice is the same
    message (and is not sent twice); a changed one is a new message."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        digest.update(b"\0")
    domain = sender.rpartition("@")[2] or "kepuxl.localhost"
    return f"<kepuxl.{digest.hexdigest()[:32]}@{domain}>"


@dataclass
class DraftsReport:
    """What `make_drafts` / `make_reminders` wrote."""

    campaign: str
    outdir: Path
    kind: str  # "form" | "reminder"
    drafts: list[dict[str, Any]] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)

    @property
    def ok(self) -> bool:
        return self.findings.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "outdir": str(self.outdir),
            "kind": self.kind,
            "drafts": self.drafts,
            "findings": [f.to_dict() for f in self.findings],
        }


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


# -- a drafts folder is one set ---------------------------------------------------------------------

MANIFEST = "草稿清单.json"  # in every drafts folder: the drafts of the set, written last
_LEFT_BY_FILE_MANAGERS = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


def _aside(folder: Path, what: str) -> Path:
    """`.统计表.kepuxl-new` / `.统计表.kepuxl-old`: where a new set is written, where the old one goes."""
    return folder.with_name(f".{folder.name}.kepuxl-{what}")


class DraftSet:
    """A drafts folder written as a whole, so that a kill never leaves part of a set to be sent.

    The drafts go into a fresh sibling folder and, last, the manifest listing them (file, unit,
    SHA-256); then the old folder is renamed aside, the new one renamed in and the old one removed.
    Nothing is deleted before its replacement exists: a run killed at any moment leaves the complete
    old set or the complete new one, plus a sibling that the next run (`recover`) finishes or removes.
    """

    def __init__(self, outdir: Path, kind: str, campaign: str):
        self.outdir, self.kind, self.campaign = outdir, kind, campaign
        self.new = _aside(outdir, "new")
        self.entries: list[dict[str, str]] = []
        self.committed = False

    def __enter__(self) -> DraftSet:
        recover(self.outdir)
        _check_own(self.outdir)
        try:
            self.new.mkdir(parents=True)
        except OSError as exc:
            raise KepuError(
                Finding.make(Code.OUT_WRITE_FAILED, path=str(self.new), error=os_error_zh(exc))
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            shutil.rmtree(self.new, ignore_errors=True)

    def add(self, name: str, unit_id: str, data: bytes) -> Path:
        path = write_atomic(self.new / name, data)
        self.entries.append(
            {"file": path.name, "unit_id": unit_id, "sha256": hashlib.sha256(data).hexdigest()}
        )
        return self.outdir / path.name

    def commit(self) -> None:
        manifest = {"kepuxl": "drafts", "kind": self.kind, "campaign": self.campaign, "drafts": self.entries}
        write_atomic(self.new / MANIFEST, dumps(manifest).encode("utf-8"))
        old = _aside(self.outdir, "old")
        moved = False
        try:
            if self.outdir.exists():
                os.replace(self.outdir, old)
                moved = True
            os.replace(self.new, self.outdir)
        except OSError as exc:  # Windows: a draft open in another program; the old set is put back
            if moved:
                with contextlib.suppress(OSError):  # else `recover` puts it back on the next run
                    os.replace(old, self.outdir)
            raise KepuError(
                Finding.make(Code.OUT_WRITE_FAILED, path=str(self.outdir), error=os_error_zh(exc))
            ) from None
        self.committed = True
        shutil.rmtree(old, ignore_errors=True)


def recover(outdir: Path) -> None:
    """Finish or undo the swap of a run killed between its two renames; remove what a run left aside."""
    new, old = _aside(outdir, "new"), _aside(outdir, "old")
    try:
        if not outdir.exists():
            if new.is_dir() and not read_manifest(new)[1]:
                os.replace(new, outdir)
            elif old.is_dir():
                os.replace(old, outdir)
    except OSError as exc:
        raise KepuError(
            Finding.make(Code.OUT_WRITE_FAILED, path=str(outdir), error=os_error_zh(exc))
        ) from None
    for left in (new, old):
        shutil.rmtree(left, ignore_errors=True)


def read_manifest(folder: Path) -> tuple[dict[str, dict[str, str]], str]:
    """(file name → its manifest entry, "") for a complete set; else ({}, why it is not one)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = {str(e["file"]): e for e in manifest["drafts"]}
    except FileNotFoundError:
        return {}, f"没有草稿清单 {MANIFEST}（生成草稿时被中断，或由旧版本生成）"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {}, f"草稿清单 {MANIFEST} 无法读取（{type(exc).__name__}）"
    missing = [name for name in entries if not (folder / name).is_file()]
    if missing:
        more = "等" if len(missing) > 3 else ""
        return {}, f"清单中的 {len(entries)} 封草稿缺少 {len(missing)} 封（{'、'.join(missing[:3])}{more}）"
    return entries, ""


def _check_own(outdir: Path) -> None:
    """Refuse to replace a folder holding anything but kepuxl's drafts: -o may name the clerk's mail."""
    if outdir.exists() and not outdir.is_dir():
        raise KepuError(
            Finding.make(Code.OUT_WRITE_FAILED, path=str(outdir), error="这是一个文件，不是文件夹")
        )
    for path in sorted(outdir.iterdir()) if outdir.exists() else ():
        name = path.name
        if name == MANIFEST or name.lower() in _LEFT_BY_FILE_MANAGERS or _is_draft(path):
            continue
        if name.startswith(".kepuxl-") and name.endswith(".tmp"):  # a killed write_atomic's temp file
            continue
        raise KepuError(Finding.make(Code.MAIL_DRAFTS_FOLDER, folder=str(outdir), name=name))


def _is_draft(path: Path) -> bool:
    """A kepuxl draft: an .eml file whose header block names an X-Kepuxl-Kind."""
    if path.suffix.lower() != ".eml" or not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(8192).split(b"\r\n\r\n", 1)[0]
    return b"\r\nX-Kepuxl-Kind: " in head


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


# ---------------------------------------------------------------------------------------------------
# reminders
# ---------------------------------------------------------------------------------------------------

REMIND_STATUSES = ("missing", "rejected", "pending")


def make_reminders(
    config: Path,
    inbox: Path | None = None,
    outdir: Path | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> DraftsReport:
    """Reminder drafts for the units that are missing, rejected or 待核实 (default output/邮件/催报-年月日/).

    A missing unit gets its blank form again; a rejected or 待核实 one its feedback workbook (its own
    values with the problems marked) and the problem list in the body — a 待核实 unit is asked to check
    the numbers and explain them in 情况说明 (or correct them) before they can enter the totals.
    """
    from .collect import collect
    from .materials import count_materials, shortfalls

    config = Path(config)
    now = (now or datetime.now()).replace(microsecond=0)
    ctx = Context.load(config)
    camp = ctx.campaign
    inbox = Path(inbox) if inbox else camp.folder / "inbox"
    result = collect(inbox, config, write=False, now=now)
    short = shortfalls(camp, count_materials(result))
    # one reminder folder a day: re-running remind the same day makes the same messages, which
    # `send` then does not send twice; a unit whose situation changed gets a new message
    outdir = Path(outdir) if outdir else camp.folder / "output" / "邮件" / f"催报-{now:%Y%m%d}"
    template = Template.load(camp, "remind_template")
    report = DraftsReport(camp.title, outdir, "reminder")
    _sender(camp)
    targets = [u for u in result.units if u.status in REMIND_STATUSES]
    with DraftSet(outdir, "reminder", camp.id) as drafts:
        for n, u in enumerate(targets, start=1):
            unit = u.unit
            if progress:
                progress(n, len(targets), unit.name)
            if not _mailable(unit, report.findings):
                continue
            missing_materials = [f"· {f.message}" for f in short.get(unit.id, [])]
            values, attachment = _reminder(ctx, u, now.date(), missing_materials)
            subject, body = template.render(values, report.findings)
            data = _draft(ctx, unit, "reminder", subject, body, [attachment], now.date().isoformat())
            path = drafts.add(_draft_name(unit), unit.id, data)
            report.drafts.append(
                {
                    "unit_id": unit.id,
                    "unit": unit.name,
                    "status": u.status,
                    "to": unit.email,
                    "subject": subject,
                    "file": str(path),
                }
            )
        drafts.commit()
    return report


def _reminder(
    ctx: Context, u: UnitResult, today: date, missing_materials: list[str]
) -> tuple[dict[str, str], Attachment]:
    """The template's values and the attachment for one missing or rejected unit.

    Every mention of the attachment (情况, 所需材料, 附件名) is the name of the file attached.
    """
    from .forms_writer import Prefill

    unit, title = u.unit, form_title(ctx)
    if u.status == "missing":
        name = f"{title}（{unit.name}）.xlsx"
        values = base_values(ctx, unit, name, today)
        values["情况标题"] = "催报"
        values["情况"] = (
            f"截至{values['发出日期']}，尚未收到贵单位的《{values['表名']}》。"
            f"附件《{name}》是贵单位的统计表，请填写后回复本邮件。"
        )
        values["问题清单"] = "\n".join(missing_materials)
        return values, Attachment(name, ctx.form_bytes(unit))
    name = f"{title}（{unit.name}）_反馈.xlsx"
    values = base_values(ctx, unit, name, today)
    problems = [f for f in u.findings if f.severity is not Severity.INFO]
    prefill = Prefill(fields=u.raw, info=u.info, detail=u.detail)
    received = f"（{when_text(u.received)}收到）" if u.received else ""
    if u.status == "pending":
        values["情况标题"] = "数据核实"
        values["情况"] = (
            f"贵单位报送的《{values['表名']}》{received}有数据需要核实，核实前暂未计入汇总，问题如下。"
            f"附件《{name}》是贵单位填报的表格，已标出需要核实的单元格：数据有误的请直接修改；"
            "数据无误的请在表中“情况说明”写明原因。改好后回复本邮件。"
        )
    else:
        values["情况标题"] = "退回修改"
        values["情况"] = (
            f"贵单位报送的《{values['表名']}》{received}审核未通过，问题如下。"
            f"附件《{name}》是贵单位填报的表格，已标出有问题的单元格，请在其中修改后回复本邮件。"
        )
    lines = [f"{k}. {_problem_line(f)}" for k, f in enumerate(problems, start=1)]
    values["问题清单"] = "\n".join(["问题清单：", *lines, *missing_materials])
    return values, Attachment(name, ctx.form_bytes(unit, prefill, problems))


def _problem_line(f: Finding) -> str:
    where = f"（{f.location}）" if f.location else ""
    return f"【{f.severity.zh}】{f.message}{where}"


# ---------------------------------------------------------------------------------------------------
# TLS and servers
# ---------------------------------------------------------------------------------------------------


def tls_context(mail: MailSettings) -> ssl.SSLContext:
    """Verify the server's certificate against the system CAs, plus `ca_file` when configured."""
    context = ssl.create_default_context()
    if mail.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(mail.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise KepuError(
                Finding.make(Code.CAMPAIGN_FILE, path=str(mail.ca_file), error=f"证书文件无法读取：{exc}")
            ) from None
    return context


def require_settings(mail: MailSettings, *keys: str) -> None:
    """Raise MAIL_CONFIG for the first of `keys` that [mail] leaves empty."""
    hints = {
        "smtp_host": "发件服务器，如 QQ 邮箱 smtp.qq.com、163 邮箱 smtp.163.com",
        "smtp_user": "发件邮箱账号，如 12345678@qq.com",
        "imap_host": "收件服务器，如 QQ 邮箱 imap.qq.com、163 邮箱 imap.163.com",
        "imap_user": "收件邮箱账号（不填则同 smtp_user）",
    }
    for key in keys:
        value = mail.login_imap if key == "imap_user" else getattr(mail, key)
        if not value:
            raise KepuError(Finding.make(Code.MAIL_CONFIG, key=key, hint=hints[key]))


def _server_text(code: int | None, text: bytes | str | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join((text or "").split())
    return f"{code} {text}".strip() if code else text or "服务器未说明原因"


def _net_error(exc: BaseException) -> str:
    """A network failure in words a clerk can act on (the class name stays for the technician)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"服务器证书验证失败（{exc.verify_message}）"
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS 握手失败（{exc.reason or exc}），请确认端口与加密方式匹配：465/993 用 ssl，587 用 starttls"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝（端口不对或服务未开启）"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "连接超时"
    if isinstance(exc, socket.gaierror):
        return "找不到服务器（地址写错或没有网络）"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _server_text(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "服务器断开了连接"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Smtp:
    """One SMTP session, opened on first use and reopened after the server drops it."""

    def __init__(self, mail: MailSettings, password: str):
        self.mail, self.password = mail, password
        self.conn: smtplib.SMTP | None = None
        self.server = f"{mail.smtp_host}:{mail.smtp_port}"

    def open(self) -> smtplib.SMTP:
        if self.conn is not None:
            return self.conn
        m, context = self.mail, tls_context(self.mail)
        if m.smtp_security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                m.smtp_host, m.smtp_port, local_hostname="localhost", timeout=m.timeout, context=context
            )
        else:
            conn = smtplib.SMTP(m.smtp_host, m.smtp_port, local_hostname="localhost", timeout=m.timeout)
            try:
                conn.starttls(context=context)
            except BaseException:
                conn.close()
                raise
        try:
            _login(conn, m.smtp_user, self.password)
        except UnicodeEncodeError:  # smtplib sends AUTH in ASCII; QQ/163 authorization codes are ASCII
            conn.close()
            raise smtplib.SMTPAuthenticationError(
                535, "密码含中文等非 ASCII 字符（授权码只有英文字母和数字）"
            ) from None
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return conn

    def drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except Exception:  # the connection is already gone: nothing to tidy up
                self.conn.close()
            self.conn = None


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """One AUTH attempt (PLAIN, else LOGIN): smtplib's `login` tries every mechanism in turn, and each
    wrong try counts towards QQ/163 locking the account."""
    conn.ehlo_or_helo_if_needed()
    offered = conn.esmtp_features.get("auth", "").upper().split()
    for name, method in (("PLAIN", conn.auth_plain), ("LOGIN", conn.auth_login)):
        if name in offered:
            conn.user, conn.password = user, password
            conn.auth(name, method)
            return
    conn.login(user, password)  # CRAM-MD5 only, or no AUTH at all (smtplib says which)


def _imap(mail: MailSettings, password: str) -> imaplib.IMAP4:
    """An IMAP session, logged in. Raises `KepuError` (MAIL_CONNECT / MAIL_LOGIN) when it cannot."""
    server = f"{mail.imap_host}:{mail.imap_port}"
    try:
        if mail.imap_security == "ssl":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                mail.imap_host, mail.imap_port, ssl_context=tls_context(mail), timeout=mail.timeout
            )
        else:
            conn = imaplib.IMAP4(mail.imap_host, mail.imap_port, timeout=mail.timeout)
            conn.starttls(tls_context(mail))
    except (OSError, imaplib.IMAP4.error) as exc:
        raise KepuError(Finding.make(Code.MAIL_CONNECT, server=server, error=_net_error(exc))) from None
    try:
        conn.login(mail.login_imap, password)
    except (imaplib.IMAP4.error, UnicodeEncodeError) as exc:
        _logout(conn)
        error = str(exc.args[0] if exc.args else exc)
        if isinstance(error, bytes):
            error = error.decode("utf-8", "replace")
        raise KepuError(
            Finding.make(Code.MAIL_LOGIN, server=server, user=mail.login_imap, error=error)
        ) from None
    except OSError as exc:
        raise KepuError(Finding.make(Code.MAIL_CONNECT, server=server, error=_net_error(exc))) from None
    _send_id(conn)
    return conn


def _send_id(conn: imaplib.IMAP4) -> None:
    """RFC 2971 ID: 163/126 mail refuse SELECT ("Unsafe Login") from a client that does not name itself."""
    if "ID" not in conn.capabilities:
        return
    imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
    with contextlib.suppress(imaplib.IMAP4.error):
        conn._simple_command("ID", '("name" "kepuxl" "version" "0.1" "vendor" "kepuxl")')


def _logout(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):  # logging out of a broken session: nothing left to do
        conn.logout()


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


def _decode(value: Any) -> str:
    """A header as text: encoded-words decoded (GB2312/GBK read as GB18030), whitespace collapsed."""
    if value is None:
        return ""
    return " ".join(decode_words(str(value)).split())


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
    from .campaign import load

    camp = load(Path(config))
    mail = camp.mail
    folder = Path(folder) if folder else camp.folder / FORMS_DIR
    entries = _complete_set(folder)
    drafts = sorted(folder.glob("*.eml"))
    server = f"{mail.smtp_host}:{mail.smtp_port}"
    report = SendReport(camp.title, folder, server, dry_run)
    if not dry_run:
        require_settings(mail, "smtp_host", "smtp_user")
        if not password:
            raise KepuError(
                Finding.make(
                    Code.MAIL_CONFIG, key="password", hint=f"请设置环境变量 {mail.password_env}（授权码）"
                )
            )
    sender = _sender(camp)[1]
    smtp = _Smtp(mail, password)
    connect_failures, stop_why, last_sent = 0, "", False
    with Ledger(ledger_path(camp)) as ledger:
        try:
            for n, path in enumerate(drafts, start=1):
                item = Sent(draft=str(path))
                report.items.append(item)
                if progress:
                    progress(n, len(drafts), path.name)
                msg, data, error = _open_draft(camp, path, entries.get(path.name), item)
                where = {"unit": item.unit, "file": path.name}
                if msg is None or error:
                    item.outcome = "failed"
                    item.finding = Finding.make(Code.MAIL_DRAFT, **where, draft=path.name, error=error)
                    continue
                kind = str(msg.get("X-Kepuxl-Kind", "")).strip() or "form"
                skip = _already_sent(ledger, item, kind, resend)
                if skip is not None:
                    item.outcome, item.finding = "skipped", skip.located(**where)
                    continue
                if dry_run:
                    item.outcome = "dry-run"
                    continue
                if stop_why:
                    item.finding = Finding.make(Code.MAIL_NOT_ATTEMPTED, **where, to=item.to, why=stop_why)
                    continue
                if last_sent and mail.pause:
                    sleep(mail.pause)  # QQ/163 treat a burst from a new sender as spam
                last_sent = False
                try:
                    conn = smtp.open()
                    connect_failures = 0
                except smtplib.SMTPAuthenticationError as exc:
                    error = _server_text(exc.smtp_code, exc.smtp_error)
                    item.outcome = "failed"
                    item.finding = Finding.make(
                        Code.MAIL_LOGIN, **where, server=server, user=mail.smtp_user, error=error
                    )
                    stop_why = "邮箱登录失败，为免账号被锁定未再尝试"
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    connect_failures += 1
                    item.outcome = "failed"
                    item.finding = Finding.make(
                        Code.MAIL_CONNECT, **where, server=server, error=_net_error(exc)
                    )
                    if connect_failures >= MAX_CONNECT_FAILURES:
                        stop_why = f"连续 {connect_failures} 次无法连接服务器"
                    continue
                outcome, finding = _send_one(conn, sender, item, msg, now())
                if outcome == "sent":
                    item.outcome, last_sent = "sent", True
                else:
                    item.outcome, item.finding = "failed", finding.located(**where) if finding else None
                    if finding is not None and finding.code is Code.MAIL_SEND_FAILED:
                        smtp.drop()  # the session may be half-broken: start the next one afresh
                ledger.record_send(
                    message_id=item.message_id,
                    unit_id=item.unit_id,
                    kind=kind,
                    draft=str(path),
                    sha256=hashlib.sha256(data).hexdigest(),
                    recipient=item.to,
                    at=now(),
                    outcome=item.outcome,
                    error=item.finding.message if item.finding else "",
                )
        finally:
            smtp.drop()
    return report


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

    The draft names its unit (X-Kepuxl-Unit); the address is the roster's 电子邮箱 of that unit, never
    one read back from the draft, whose decoded display names may hold anything. The draft's own
    recipients, read without decoding, must be that one address and nothing else.
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
    unit = camp.unit(item.unit_id)
    if unit is None:
        return msg, data, f"单位编码“{visible(item.unit_id)}”不在单位名单中"
    item.unit = unit.name
    campaign = str(msg.get("X-Kepuxl-Campaign", "")).strip()
    if campaign != camp.id:
        return msg, data, f"草稿属于另一个活动（{visible(campaign)}）"
    if not SEND_ADDRESS.match(unit.email):
        return msg, data, "名单中该单位没有有效的电子邮箱"
    item.to = unit.email
    listed = getaddresses([str(v) for h in _RECIPIENT_HEADERS for v in msg.get_all(h, [])])
    if [a.lower() for _, a in listed] != [unit.email.lower()]:
        return msg, data, f"草稿的收件人与名单中的电子邮箱 {unit.email} 不符"
    if not item.message_id:
        return msg, data, "缺少 Message-ID"
    return msg, data, ""


def _already_sent(ledger: Ledger, item: Sent, kind: str, resend: bool) -> Finding | None:
    at = ledger.sent_at(item.message_id)
    what = "统计表邮件" if kind == "form" else "催报邮件"
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


# ---------------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
FETCH_OUTCOMES = ("fetched", "already", "filtered", "own", "too-large", "failed")


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 §5.1.3): 收件箱 → &ZTZO9g2x-."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii").rstrip("=")
            out.append("&" + raw.replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def imap_utf7_decode(name: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "":
            return "&"
        raw = m.group(1).replace(",", "/")
        raw += "=" * (-len(raw) % 4)
        try:
            return base64.b64decode(raw).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return m.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", sub, name)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
    from .campaign import load

    camp = load(Path(config))
    mail = camp.mail
    require_settings(mail, "imap_host", "imap_user")
    inbox = Path(inbox) if inbox else camp.folder / "inbox"
    folder = folder or mail.imap_folder
    words = tuple(subject) if subject is not None else mail.subject
    report = FetchReport(camp.title, f"{mail.imap_host}:{mail.imap_port}", folder, inbox)
    if since is None and mail.since is None:
        with Ledger(ledger_path(camp)) as ledger:
            first = ledger.first_sent("form")
        since = first.date() if first else None
    since = since or mail.since
    conn = _imap(mail, password)
    try:
        _select(conn, folder)
        criteria = ["SINCE", f"{since.day:02d}-{_MONTHS[since.month - 1]}-{since.year}"] if since else ["ALL"]
        status, data = conn.uid("SEARCH", *criteria)
        if status != "OK":
            raise KepuError(Finding.make(Code.MAIL_CONNECT, server=report.server, error=_imap_text(data)))
        uids = [u.decode() for u in (data[0] or b"").split()]
        with Ledger(ledger_path(camp)) as ledger:
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


def _select(conn: imaplib.IMAP4, folder: str) -> None:
    status, _ = conn.select(_quote(imap_utf7(folder)), readonly=True)
    if status == "OK":
        return
    names = []
    st, listing = conn.list()
    for line in listing if st == "OK" else []:
        if isinstance(line, bytes):
            m = re.search(rb'(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$', line)
            if m:
                names.append(imap_utf7_decode((m.group(1) or m.group(2)).decode("ascii", "replace")))
    raise KepuError(Finding.make(Code.MAIL_FOLDER, folder=folder, folders="、".join(names) or "无"))


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
    item = Fetched(uid=uid)
    if head is None:
        report.findings.add(Code.MAIL_FETCH_FAILED, what=f"UID {uid}", error="服务器未返回邮件头")
        return item
    raw, size = head
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


def _body(conn: imaplib.IMAP4, uid: str) -> bytes:
    status, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        raise ValueError(_imap_text(data))
    for entry in data:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], bytes):
            return entry[1]
    raise ValueError("服务器未返回邮件内容")


# ---------------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------------


def check_servers(config: Path, *, password: str) -> list[dict[str, str]]:
    """Log in to the SMTP and the IMAP server; one row per server: server, ok ("是"/"否"), message."""
    from .campaign import load

    mail = load(Path(config)).mail
    rows = []
    if mail.smtp_host:
        smtp = _Smtp(mail, password)
        try:
            smtp.open()
            rows.append({"server": f"SMTP {smtp.server}", "ok": "是", "message": "登录成功"})
        except smtplib.SMTPAuthenticationError as exc:
            error = _server_text(exc.smtp_code, exc.smtp_error)
            message = Code.MAIL_LOGIN.format(server=smtp.server, user=mail.smtp_user, error=error)
            rows.append({"server": f"SMTP {smtp.server}", "ok": "否", "message": message})
        except (OSError, smtplib.SMTPException) as exc:
            message = Code.MAIL_CONNECT.format(server=smtp.server, error=_net_error(exc))
            rows.append({"server": f"SMTP {smtp.server}", "ok": "否", "message": message})
        finally:
            smtp.drop()
    if mail.imap_host:
        server = f"IMAP {mail.imap_host}:{mail.imap_port}"
        try:
            conn = _imap(mail, password)
        except KepuError as exc:
            rows.append({"server": server, "ok": "否", "message": str(exc)})
        else:
            try:
                _select(conn, mail.imap_folder)
                rows.append(
                    {"server": server, "ok": "是", "message": f"登录成功，文件夹“{mail.imap_folder}”可读"}
                )
            except KepuError as exc:
                rows.append({"server": server, "ok": "否", "message": str(exc)})
            finally:
                _logout(conn)
    if not rows:
        raise KepuError(
            Finding.make(Code.MAIL_CONFIG, key="smtp_host", hint="请在 [mail] 中填写 smtp_host 和 imap_host")
        )
    return rows
