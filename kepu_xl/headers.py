"""Mail header text as Chinese mail clients write it: RFC 2047 words in GB18030/GBK, raw 8-bit headers,
the sender and the Date (shared by intake, which reads mail, and mail, which writes and fetches it)."""

from __future__ import annotations

from datetime import datetime
from email.header import decode_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

_GB = {"gb2312", "gbk", "cp936", "x-gbk", "euc-cn", "gb18030", "gb_2312-80", "csgb2312"}


def decode_words(text: str) -> str:
    """RFC 2047 encoded-words → text; GB2312/GBK labels are decoded as GB18030, their superset."""
    try:
        chunks = decode_header(text)
    except Exception:
        return text
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        cs = (charset or "utf-8").lower()
        cs = "gb18030" if cs in _GB else cs
        try:
            out.append(chunk.decode(cs, "replace"))
        except LookupError:  # unknown charset label
            out.append(_decode_8bit(chunk))
    return "".join(out)


def _decode_8bit(raw: bytes) -> str:
    """Undeclared 8-bit text: UTF-8 if it is valid UTF-8, else GB18030 (Chinese Windows defaults)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _header_text(msg: Message, name: str) -> str:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return (
                _decode_8bit(value.encode("ascii", "surrogateescape"))
                if isinstance(value, str)
                else str(value)
            )
    return ""


def _sender(msg: Message) -> str:
    try:
        return parseaddr(_header_text(msg, "from"))[1].strip().lower()
    except Exception:
        return ""


def _date(msg: Message) -> datetime | None:
    """The Date header as naive local time, or None when missing or unparseable."""
    try:
        when = parsedate_to_datetime(_header_text(msg, "date"))
        return when.astimezone().replace(tzinfo=None) if when.tzinfo else when
    except Exception:  # a bad Date is common and not a reason to drop the mail
        return None
