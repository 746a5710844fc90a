"""MIME building, bytes only: headers that no text can break (control characters flattened, addresses checked),
attachments named both ways clients read them (RFC 2231 and RFC 2047), and stable Message-IDs."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate
from typing import Any

from ..campaign import EMAIL_RE
from ..headers import decode_words

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MAX_MESSAGE = 30 << 20  # the intake's cap on one .eml; a larger message is not downloaded


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


def _decode(value: Any) -> str:
    """A header as text: encoded-words decoded (GB2312/GBK read as GB18030), whitespace collapsed."""
    if value is None:
        return ""
    return " ".join(decode_words(str(value)).split())
