"""What intake hands on: `Candidate` (one file, attachment or member, or why it will not be read), `Limits`,
and the small helpers every intake stage shares (display names, sizes, technical error text)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..files import os_error_zh
from ..findings import Code, Finding, Severity
from ..headers import _decode_8bit

KINDS = ("xlsx", "xls", "ods", "other", "rejected")
PENDING = "pending"  # kind of a candidate whose content check was deferred to where it is read (`checked`)
SPREADSHEET_EXTS = frozenset(
    {".xlsx", ".xlsm", ".xltx", ".xltm", ".xlsb", ".xls", ".xlt", ".et", ".ett", ".ods", ".ots"}
)
# what a phone, a camera or a screen recorder saves a video as; such a file is never read whole (see folder)
VIDEO_EXTS = frozenset(
    {".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".mkv", ".webm", ".avi", ".wmv", ".asf", ".flv", ".f4v"}
    | {".mpg", ".mpeg", ".vob", ".ts", ".mts", ".m2ts", ".rm", ".rmvb"}
)
VIDEO_LABEL = "视频"  # the READ_OTHER_FILE kind of a video (materials counts it, media reads its length)
SEP = " → "  # joins a container's path and a member/attachment name in `Candidate.path` (GBK has no »)

_CFB = bytes.fromhex("d0cf11e0a1b11ae1")
_ZIP = b"PK\x03\x04"
_EMPTY_SHA = hashlib.sha256(b"").hexdigest()
# A real mail has a few multipart levels; 1,200 nested ones make the parser hit RecursionError (§3.7).
MAX_MIME_PARTS = 500


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied before anything is parsed (bytes unless named otherwise); values from the notes §5."""

    max_file: int = 20 << 20  # one workbook/attachment/member
    max_members: int = 1000  # zip members
    max_member: int = 64 << 20  # declared uncompressed size of one package part
    max_total: int = 200 << 20  # declared uncompressed total of a package; also caps .zip/.mbox files
    max_sst: int = 20 << 20  # xl/sharedStrings.xml, which every reader loads whole
    max_ratio: int = 100  # compression ratio ...
    ratio_from: int = 16 << 20  # ... checked only for parts over this size (a 1 MB-string sheet is ×934)
    max_eml: int = 30 << 20
    max_header_block: int = 64 << 10
    max_header: int = 8 << 10  # one (unfolded) header field
    max_depth: int = 3  # containers (mail, forwarded mail, zip) nested in one another
    max_video: int = 500 << 20  # a video added through the page (a 3-minute 4K phone video is ~400 MB);
    # collect never reads a video file whole, whatever its size: only the header that holds its length


DEFAULT_LIMITS = Limits()  # frozen: one instance serves every default


@dataclass(frozen=True, slots=True)
class Candidate:
    """One file to read, or the reason it will not be read (`kind == "rejected"`)."""

    path: str  # display path relative to the inbox, '/'-separated; "mail.eml → 附件.xlsx", "a.zip → b.xlsx"
    name: str  # cleaned display name (never used as a filesystem path)
    data: bytes  # the bytes, read once (b"" when rejected before reading)
    sha256: str  # hex of data
    kind: str  # "xlsx" | "xls" | "ods" | "other" | "rejected", sniffed from the content
    received: datetime | None  # naive local time: e-mail Date header for attachments, else file mtime
    source: str  # "file" | "email" | "zip"
    sender: str = ""  # e-mail From address (lower-case) for attachments
    findings: tuple[Finding, ...] = ()  # pre-check findings; an ERROR here means the file is rejected
    macro: bool = False
    # an inbox file not read yet, by its filesystem path: a deferred one (`checked` reads it), or a video
    # (never read whole: media.inspect reads its header)
    location: str = ""
    received_from: str = "file"  # "email" when `received` is a message's Date, "file" for a file time

    @property
    def ok(self) -> bool:
        """True when the reader should open it (a spreadsheet with no error finding)."""
        return self.kind in ("xlsx", "xls", "ods") and not any(
            f.severity is Severity.ERROR for f in self.findings
        )


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file at `path`: no link following, never blocks (OSError else)."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    # O_NONBLOCK: if the entry was swapped for a FIFO after lstat, open() must not wait for a writer.
    flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("不是普通文件")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_capped(path: str, cap: int) -> bytes | None:
    """The whole file, or None if it is longer than `cap`. Read-only, no link following, never blocks."""
    fd = open_regular(path)
    try:
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def _is_junk(name: str) -> bool:
    """Names skipped silently: hidden, Office/WPS owner files, LibreOffice locks, OS thumbnails."""
    if name in (".", ".."):  # path steps inside a zip member name; cleaned later, not junk
        return False
    low = name.lower()
    return name.startswith((".", "~$")) or low in ("thumbs.db", "desktop.ini", "__macosx")


def _hidden_attr(st: os.stat_result) -> bool:
    """Windows' hidden/system attribute (the Explorer equivalent of a dotfile)."""
    attrs = getattr(st, "st_file_attributes", 0)
    return bool(
        attrs & (getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0) | getattr(stat, "FILE_ATTRIBUTE_SYSTEM", 0))
    )


def read_cap(name: str, limits: Limits) -> int:
    """How many bytes a file may have before it is refused unread (by extension: nothing is read yet)."""
    ext = _ext(name)
    if ext == ".eml":
        return limits.max_eml
    if ext in (".zip", ".mbox"):
        return limits.max_total
    if ext in VIDEO_EXTS:  # only a page upload is capped so; collect reads a video's header alone
        return limits.max_video
    return limits.max_file


def other_kind(findings: Iterable[Finding]) -> str:
    """What the content check called a file that is not a form (图片, PDF, 视频…; "" when not said)."""
    return next((f.context.get("kind", "") for f in findings if f.code is Code.READ_OTHER_FILE), "")


# ---------------------------------------------------------------------------------------------------
# routing by content: e-mail, mbox, plain zip, or a file for the pre-check
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    """Where a blob came from; carried down through mail and archive nesting."""

    path: str
    name: str
    received: datetime | None
    source: str
    limits: Limits
    sender: str = ""
    depth: int = 0  # containers around this blob
    seen: dict[str, str] | None = None  # sha256 → path of the first copy in the same mail
    defer: bool = False  # leave the pre-check to `checked`
    received_from: str = "file"  # "email" once `received` comes from a message's Date


def _make(ctx: _Ctx, data: bytes, kind: str, findings: list[Finding], *, sha: str | None = None) -> Candidate:
    located = tuple(f.located(file=ctx.path) for f in findings)
    too_large = any(f.code is Code.READ_TOO_LARGE for f in located)
    if too_large:  # a refused oversize blob is not kept in memory
        data, sha = b"", _EMPTY_SHA
    return Candidate(
        path=ctx.path,
        name=ctx.name,
        data=data,
        sha256=sha or hashlib.sha256(data).hexdigest(),
        kind=kind,
        received=ctx.received,
        source=ctx.source,
        sender=ctx.sender,
        findings=located,
        macro=any(f.code is Code.READ_MACRO_IGNORED for f in located),
        received_from=ctx.received_from,
    )


def _reject(ctx: _Ctx, data: bytes, code: Code, **context: str) -> Candidate:
    return _make(ctx, data, "rejected", [Finding.make(code, **context)])


def _too_deep(ctx: _Ctx, data: bytes, what: str) -> Candidate:
    return _reject(ctx, data, Code.READ_TOO_DEEP, what=what, limit=str(ctx.limits.max_depth))


def _rejected(rel: str, display: str, st: os.stat_result | None, code: Code, **context: str) -> Candidate:
    """An inbox file refused before its bytes were read."""
    ctx = _Ctx(path=rel, name=display, received=_mtime(st), source="file", limits=DEFAULT_LIMITS)
    return _reject(ctx, b"", code, **context)


# ---------------------------------------------------------------------------------------------------
# names and small helpers
# ---------------------------------------------------------------------------------------------------

_WIN_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"|?*]')


def display_name(raw: str, fallback: str) -> str:
    """A file name safe to show: basename only, no bidi/zero-width/control characters, no Windows device
    names, at most 80 + 10 characters; `fallback` when nothing is left. Never used as a path."""
    name = unicodedata.normalize("NFC", raw or "")
    # Cf covers bidi overrides (回执\u202eslx.exe), zero-width spaces and BOMs; surrogates are undecodable bytes.
    if not name.isprintable():  # a printable name has neither (the usual case: no per-character look)
        name = "".join(
            "\ufffd" if unicodedata.category(ch) == "Cs" else ch
            for ch in name
            if unicodedata.category(ch) != "Cf"
        )
    name = re.split(r"[\\/]", name)[-1]
    name = _BAD_CHARS.sub("_", name).strip().rstrip(". ")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.split(".")[0].strip().upper() in _WIN_RESERVED:
        stem = "_" + stem
    stem, ext = stem[:80], ext[:10]
    if not stem:
        return fallback
    return f"{stem}.{ext}" if ext else stem


def _fs_text(name: str) -> str:
    """A directory entry name as text; undecodable bytes (GBK names on a UTF-8 system) are re-decoded."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return _decode_8bit(os.fsencode(name))


def _ext(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def _mtime(st: os.stat_result | None) -> datetime | None:
    return datetime.fromtimestamp(st.st_mtime) if st is not None else None


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{size} 字节"


def _short(text: str, limit: int = 120) -> str:
    """Text for a message: a hostile name can be kilobytes long."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local(exc: OSError) -> str:
    """An error reading a file on this computer, in Chinese, with the OS's own words for the log."""
    return f"{os_error_zh(exc)}；{_tech(exc)}"


def _tech(exc: BaseException) -> str:
    """Exception class and message, for the log line inside a finding (shortened)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."
