"""Intake: an inbox folder → `Candidate` files, sniffed by content and pre-checked.

Input: a folder of whatever the units sent (xlsx/xlsm/xls/et/ods returns, .eml/.mbox mail, .zip archives
and strays such as photos or Word files). Output: one `Candidate` per file, e-mail attachment or archive
member, in a deterministic order, each with its bytes (read once), their sha256, the kind sniffed from the
content and the READ_* findings of the pre-check.

Nothing here parses a workbook. The pre-check reads zip directories, declared sizes and XML prologs only
(stdlib, well under 1 ms for a normal form), so bombs, DTDs, encrypted and disguised files are rejected
before any spreadsheet library sees them (see notes/hostile-inputs.md §4–§5). Inbox files are opened
read-only and never changed; archives and attachments are unpacked in memory, never onto disk.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import hashlib
import io
import os
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from email.header import decode_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

from kepu_xl.findings import Code, Finding, KepuError, Severity

__all__ = [
    "Candidate",
    "Limits",
    "candidates_from_email",
    "checked",
    "display_name",
    "document_problem",
    "precheck",
    "scan",
]

KINDS = ("xlsx", "xls", "ods", "other", "rejected")
PENDING = "pending"  # kind of a candidate whose content check was deferred to where it is read (`checked`)
SPREADSHEET_EXTS = frozenset(
    {".xlsx", ".xlsm", ".xltx", ".xltm", ".xlsb", ".xls", ".xlt", ".et", ".ett", ".ods", ".ots"}
)
SEP = " » "  # joins a container's path and a member/attachment name in `Candidate.path`

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


@dataclass(frozen=True, slots=True)
class Candidate:
    """One file to read, or the reason it will not be read (`kind == "rejected"`)."""

    path: str  # display path relative to the inbox, '/'-separated; "mail.eml » 附件.xlsx", "a.zip » b.xlsx"
    name: str  # cleaned display name (never used as a filesystem path)
    data: bytes  # the bytes, read once (b"" when rejected before reading)
    sha256: str  # hex of data
    kind: str  # "xlsx" | "xls" | "ods" | "other" | "rejected", sniffed from the content
    received: datetime | None  # naive local time: e-mail Date header for attachments, else file mtime
    source: str  # "file" | "email" | "zip"
    sender: str = ""  # e-mail From address (lower-case) for attachments
    findings: tuple[Finding, ...] = ()  # pre-check findings; an ERROR here means the file is rejected
    macro: bool = False
    location: str = ""  # a deferred inbox file not read yet: its filesystem path (`checked` reads it)
    received_from: str = "file"  # "email" when `received` is a message's Date, "file" for a file time

    @property
    def ok(self) -> bool:
        """True when the reader should open it (a spreadsheet with no error finding)."""
        return self.kind in ("xlsx", "xls", "ods") and not any(
            f.severity is Severity.ERROR for f in self.findings
        )


# ---------------------------------------------------------------------------------------------------
# scan: folder → candidates
# ---------------------------------------------------------------------------------------------------


def scan(inbox: Path, *, limits: Limits = Limits(), defer: bool = False) -> Iterator[Candidate]:
    """Walk `inbox` recursively and yield candidates sorted by relative path.

    Args:
        inbox: the folder the returns were saved into (only read, never written).
        limits: size and nesting caps.
        defer: leave the content pre-check of each file (kind PENDING) to `checked`, called where the
            file is read: collect runs it in the worker processes, and the reader then reuses the parts
            the check inflated. Mail and archives are still opened here.

    Yields:
        `Candidate`s: files by content; each e-mail's attachments; each plain zip's members. Hidden files,
        Office/WPS owner files (`~$*`) and LibreOffice locks are skipped silently; symlinks, FIFOs and other
        non-regular entries come back rejected with READ_SKIPPED so the clerk sees why.

    Raises:
        KepuError: the inbox itself is missing or is not a folder.
    """
    root = Path(inbox)
    if not root.is_dir():
        raise KepuError(Finding.make(Code.READ_FAILED, file=str(root), error="收件文件夹不存在或不是文件夹"))
    # Collect first (lstat only) so the order is the sorted relative path, not the directory walk order.
    entries = sorted(_walk(root), key=lambda e: e[0])
    for rel, full, st, why in entries:
        if why:
            base = rel.rsplit("/", 1)[-1]
            yield _rejected(rel, display_name(base, "文件"), st, Code.READ_SKIPPED, name=base, why=why)
            continue
        yield from _scan_file(rel, full, st, limits, defer)


def _walk(root: Path) -> Iterator[tuple[str, str, os.stat_result | None, str]]:
    """(relative path, full path, lstat, why-rejected) for every entry worth reporting under `root`."""
    stack = [("", str(root))]
    while stack:
        rel_dir, full_dir = stack.pop()
        try:
            with os.scandir(full_dir) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            yield rel_dir or ".", full_dir, None, f"文件夹无法打开（{_tech(exc)}）"
            continue
        for name in names:
            if _is_junk(name):
                continue
            full = os.path.join(full_dir, name)
            rel = f"{rel_dir}/{_fs_text(name)}" if rel_dir else _fs_text(name)
            try:
                st = os.lstat(full)
            except OSError as exc:
                yield rel, full, None, f"无法读取文件信息（{_tech(exc)}）"
                continue
            if _hidden_attr(st):
                continue
            # Never follow links (they can point anywhere, e.g. /etc) and never open FIFOs (they block).
            if stat.S_ISLNK(st.st_mode) or getattr(st, "st_reparse_tag", 0) & _NAME_SURROGATE:
                yield rel, full, st, "是符号链接/快捷方式，为安全起见不跟随"
            elif stat.S_ISDIR(st.st_mode):
                stack.append((rel, full))
            elif stat.S_ISREG(st.st_mode):
                yield rel, full, st, ""
            else:
                yield rel, full, st, "不是普通文件（管道、设备等）"


# Windows reparse tags with this bit point elsewhere (symlinks, junctions); OneDrive placeholders do not.
_NAME_SURROGATE = 0x20000000


def _scan_file(
    rel: str, full: str, st: os.stat_result | None, limits: Limits, defer: bool = False
) -> Iterator[Candidate]:
    """One regular inbox file → its candidate(s)."""
    base = rel.rsplit("/", 1)[-1]
    name = display_name(base, "文件")
    received = _mtime(st)
    cap = _read_cap(base, limits)
    if st is not None and st.st_size > cap:
        yield _rejected(rel, name, st, Code.READ_TOO_LARGE, error=f"{_mb(st.st_size)}，上限 {_mb(cap)}")
        return
    if defer and _ext(name) in SPREADSHEET_EXTS:  # nothing to sniff here: read where it is checked
        yield Candidate(rel, name, b"", _EMPTY_SHA, PENDING, received, "file", location=full)
        return
    try:
        data = _read_capped(full, cap)
    except OSError as exc:
        yield _rejected(rel, name, st, Code.READ_FAILED, error=_tech(exc))
        return
    if data is None:  # it grew past the cap between lstat and read
        yield _rejected(rel, name, st, Code.READ_TOO_LARGE, error=f"超过 {_mb(cap)}")
        return
    ctx = _Ctx(path=rel, name=name, received=received, source="file", limits=limits, defer=defer)
    yield from _route(data, ctx)


def _read_capped(path: str, cap: int) -> bytes | None:
    """The whole file, or None if it is longer than `cap`. Read-only, no link following, never blocks."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    # O_NONBLOCK: if the entry was swapped for a FIFO after lstat, open() must not wait for a writer.
    flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("不是普通文件")
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


def _read_cap(name: str, limits: Limits) -> int:
    """How many bytes a file may have before it is refused unread (by extension: nothing is read yet)."""
    ext = _ext(name)
    if ext == ".eml":
        return limits.max_eml
    if ext in (".zip", ".mbox"):
        return limits.max_total
    return limits.max_file


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


def _route(data: bytes, ctx: _Ctx) -> list[Candidate]:
    """Bytes → candidates: mail and plain archives are opened, everything else is pre-checked."""
    sha = hashlib.sha256(data).hexdigest()
    if ctx.seen is not None:
        kept = ctx.seen.setdefault(sha, ctx.path)
        if kept != ctx.path:
            # The same bytes attached twice: read once, the copy only listed. Like every entry that is
            # not read, it carries no bytes (and so the empty sha256): resolve pairs duplicates by
            # sha256 in path order, and must not take the unread copy for the return it repeats.
            return [_reject(ctx, b"", Code.READ_DUPLICATE_ATTACHMENT, kept=kept)]
    ext = _ext(ctx.name)
    if data and ext not in SPREADSHEET_EXTS:
        if ext == ".mbox" or (ext != ".eml" and data.startswith(b"From ") and _looks_like_email(data)):
            return _from_mbox(data, ctx)
        if _looks_like_email(data) or (ext == ".eml" and _binary_label(data) is None):
            return _from_email(data, ctx)
        if data.startswith(_ZIP) and _is_plain_zip(data, ctx.limits):
            return _from_zip(data, ctx)
    if ctx.defer:
        return [_make(ctx, data, PENDING, [], sha=sha)]
    kind, findings = precheck(data, name=ctx.name, limits=ctx.limits)
    return [_make(ctx, data, kind, findings, sha=sha)]


def checked(cand: Candidate, *, limits: Limits = Limits()) -> tuple[Candidate, dict[str, bytes]]:
    """A deferred candidate (kind PENDING) with its pre-check done, and the package parts it inflated.

    The parts (XML parts read whole by the check, name → bytes) let the reader skip inflating them a
    second time. Any other candidate comes back as it is, with no parts.
    """
    if cand.kind != PENDING:
        return cand, {}
    if cand.location:  # an inbox file scan left unread: read it now, as scan would have
        ctx = _Ctx(path=cand.path, name=cand.name, received=cand.received, source=cand.source, limits=limits)
        cap = _read_cap(cand.name, limits)
        try:
            data = _read_capped(cand.location, cap)
        except OSError as exc:
            return _reject(ctx, b"", Code.READ_FAILED, error=_tech(exc)), {}
        if data is None:
            return _reject(ctx, b"", Code.READ_TOO_LARGE, error=f"超过 {_mb(cap)}"), {}
        cand = replace(cand, data=data, sha256=hashlib.sha256(data).hexdigest(), location="")
    parts: dict[str, bytes] = {}
    kind, findings = precheck(cand.data, name=cand.name, limits=limits, parts=parts)
    located = tuple(f.located(file=cand.path) for f in findings)
    data, sha = cand.data, cand.sha256
    if any(f.code is Code.READ_TOO_LARGE for f in located):
        data, sha = b"", _EMPTY_SHA
    done = replace(
        cand,
        data=data,
        sha256=sha,
        kind=kind,
        findings=(*cand.findings, *located),
        macro=any(f.code is Code.READ_MACRO_IGNORED for f in located),
    )
    return done, parts if kind in ("xlsx", "ods") else {}


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
    ctx = _Ctx(path=rel, name=display, received=_mtime(st), source="file", limits=Limits())
    return _reject(ctx, b"", code, **context)


# ---------------------------------------------------------------------------------------------------
# precheck: bytes → (kind, findings)
# ---------------------------------------------------------------------------------------------------


def precheck(
    data: bytes, *, name: str = "", limits: Limits = Limits(), parts: dict[str, bytes] | None = None
) -> tuple[str, list[Finding]]:
    """Classify one file by its content and refuse what no reader should open.

    Args:
        data: the whole file, already in memory.
        name: its display name; the extension only decides between "wrong format" (an Excel name on
            non-Excel content, an error) and "other material" (a photo named .jpg, an info finding).
        limits: size caps.
        parts: if given, filled with the package parts read whole by the check (XML parts up to 1 MB).

    Returns:
        (kind, findings): kind is "xlsx" | "xls" | "ods" | "other" | "rejected". A rejected file has exactly
        one error finding; an accepted one may carry READ_MACRO_IGNORED or READ_OTHER_FILE. Findings have
        no `file` yet; the caller locates them.
    """
    ext = _ext(name)
    label = name or "该文件"
    if not data:
        return "rejected", [Finding.make(Code.READ_EMPTY)]
    if len(data) > limits.max_file:
        return "rejected", [
            Finding.make(Code.READ_TOO_LARGE, error=f"{_mb(len(data))}，上限 {_mb(limits.max_file)}")
        ]
    if data[:8] == _CFB:
        return _check_cfb(data, ext, label)
    if data.startswith(_ZIP):
        return _check_zip(data, ext, label, limits, parts)
    kind = _binary_label(data) or _text_label(data)
    if kind == "文本" and ext == ".csv":
        kind = "CSV 文本"
    if kind is None:  # unrecognised binary: a broken download is likelier than a disguise
        if ext in SPREADSHEET_EXTS:
            return "rejected", [Finding.make(Code.READ_CORRUPT, error="无法识别的文件内容")]
        kind = _EXT_LABELS.get(ext, "其他")
    return _other(ext, label, kind)


def _other(ext: str, label: str, kind: str) -> tuple[str, list[Finding]]:
    """Not a spreadsheet: an error if it is named like one (the unit sent the wrong thing), else info."""
    if ext in SPREADSHEET_EXTS:
        return "rejected", [Finding.make(Code.READ_WRONG_FORMAT)]
    return "other", [Finding.make(Code.READ_OTHER_FILE, name=label, kind=kind)]


_U16 = "utf-16-le"
_ENCRYPTED_STREAMS = ("EncryptedPackage".encode(_U16), "EncryptionInfo".encode(_U16))
_CFB_OTHER = (  # checked before "Workbook": a .msg or .doc may embed a workbook
    ("__substg1.0_".encode(_U16), "Outlook 邮件（.msg）"),
    ("WordDocument".encode(_U16), "Word 文档"),
    ("PowerPoint Document".encode(_U16), "PowerPoint 演示文稿"),
)
_CFB_BOOK = ("Workbook".encode(_U16), "Book\0".encode(_U16))


def _check_cfb(data: bytes, ext: str, label: str) -> tuple[str, list[Finding]]:
    """OLE compound file: encrypted OOXML, legacy .xls/.et, or another Office document."""
    if any(s in data for s in _ENCRYPTED_STREAMS):
        return "rejected", [Finding.make(Code.READ_ENCRYPTED)]
    for marker, kind in _CFB_OTHER:
        if marker in data:
            return _other(ext, label, kind)
    if ext in SPREADSHEET_EXTS or any(s in data for s in _CFB_BOOK):
        if _biff_encrypted(data):
            # Not always a password the unit chose: LibreOffice encrypts a structure-locked book saved
            # as .xls with Excel's default password, which Excel opens silently and xlrd cannot read.
            error = "文件已加密（设置了打开密码，或用 WPS/LibreOffice 保存带保护的表格时被自动加密）"
            return "rejected", [Finding.make(Code.READ_LEGACY_FORMAT, error=error)]
        return "xls", []
    return _other(ext, label, "Office 文档")


# BOF of a BIFF5/BIFF8 workbook-globals substream: type 0x0809, length 8 or 16, version, dt = 0x0005.
_BIFF_GLOBALS_BOF = re.compile(rb"\x09\x08(?:\x08|\x10)\x00\x00(?:\x05|\x06)\x05\x00")
_FILEPASS, _WRITEPROT = 0x002F, 0x0086


def _biff_encrypted(data: bytes) -> bool:
    """FILEPASS right after the globals BOF (an optional WRITEPROT between): the BIFF stream is encrypted.

    The first records of a stream sit in one sector, so they are contiguous in the file even though the
    compound file is not parsed here.
    """
    for k, m in enumerate(_BIFF_GLOBALS_BOF.finditer(data)):
        if k >= 16:
            break
        pos = m.start() + 4 + data[m.start() + 2]
        for _ in range(2):
            if pos + 4 > len(data):
                break
            rtype, length = struct.unpack_from("<HH", data, pos)
            if rtype == _FILEPASS:
                return True
            if rtype != _WRITEPROT:
                break
            pos += 4 + length
    return False


def _declared_entries(data: bytes) -> int | None:
    """Member count from the end-of-central-directory record, without building the member list."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if pos < 0 or pos + 22 > len(data):
        return None
    count = struct.unpack_from("<H", data, pos + 10)[0]
    return None if count == 0xFFFF else count  # 0xFFFF: zip64, let zipfile count


def _check_zip(
    data: bytes, ext: str, label: str, limits: Limits, parts: dict[str, bytes] | None = None
) -> tuple[str, list[Finding]]:
    """Zip container: OOXML workbook, ODS, another Office package, or a plain archive."""
    count = _declared_entries(data)
    # Listing 30,000 members alone costs 141 ms; refuse on the declared count first.
    if count is not None and count > limits.max_members:
        return "rejected", [_zip_limits(f"含 {count} 个成员，上限 {limits.max_members}")]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return _check_package(zf, ext, label, limits, parts, data)
    except NotImplementedError as exc:
        return "rejected", [Finding.make(Code.READ_FAILED, error=f"不支持的压缩方式：{exc}")]
    except Exception as exc:  # any zip/zlib failure means the container is broken
        return "rejected", [Finding.make(Code.READ_CORRUPT, error=f"压缩结构损坏：{_tech(exc)}")]


_HEAD = 65536  # a DTD can only precede the root element; this much prolog is plenty
_FULL_READ = 1 << 20  # XML parts up to this size are read to the end, so zipfile verifies their CRC
_XML_NAMES = (".xml", ".rels", ".vml")
_WORKBOOK_TYPES = re.compile(
    rb"application/vnd\.(?:openxmlformats-officedocument\.spreadsheetml\.(?:sheet|template)\.main\+xml"
    rb"|ms-excel\.(?:sheet|template|addin)\.macroEnabled\.main\+xml)"
)
_OVERRIDE = re.compile(rb"<Override\b[^>]*>")
_ATTR = re.compile(rb'\b(PartName|ContentType)\s*=\s*["\']([^"\']*)["\']')


def _check_package(
    zf: zipfile.ZipFile,
    ext: str,
    label: str,
    limits: Limits,
    parts: dict[str, bytes] | None = None,
    data: bytes = b"",
) -> tuple[str, list[Finding]]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        return "rejected", [_zip_limits(f"含 {len(infos)} 个成员，上限 {limits.max_members}")]
    names = {i.filename for i in infos}
    if len(names) != len(infos):  # readers disagree on which duplicate wins: a known smuggling trick
        return "rejected", [Finding.make(Code.READ_CORRUPT, error="压缩包内有重名成员")]
    if any(i.flag_bits & 0x1 for i in infos):  # zip-level password: nothing inside can be read
        return "rejected", [Finding.make(Code.READ_ENCRYPTED)]
    kind, workbook = _package_kind(zf, names)
    if kind == "zip":
        if ext in SPREADSHEET_EXTS:
            return "rejected", [
                Finding.make(Code.READ_CORRUPT, error="不是 Excel 工作簿结构（缺少 [Content_Types].xml）")
            ]
        return _other(ext, label, "压缩包")
    if kind == "xlsb":
        return "rejected", [Finding.make(Code.READ_XLSB)]
    if kind not in ("xlsx", "ods"):
        return _other(ext, label, kind)
    total = sum(i.file_size for i in infos)
    if total > limits.max_total:
        return "rejected", [_zip_limits(f"解压后共 {_mb(total)}，上限 {_mb(limits.max_total)}")]
    if kind == "ods" and b"encryption-data" in _head(zf, "META-INF/manifest.xml"):
        return "rejected", [Finding.make(Code.READ_ENCRYPTED)]
    # Declared sizes of every part first: nothing is inflated before all of them pass.
    for info in infos:
        problem = _member_problem(info, limits)
        if problem is not None:
            return "rejected", [problem]
    macro, wb_head = False, b""
    for info in infos:
        low = info.filename.lower()
        macro = (
            macro
            or low.endswith("vbaproject.bin")
            or low.startswith(("xl/macrosheets/", "basic/", "scripts/"))
        )
        # Every XML part, whatever its name says: a reader follows relationships, not extensions.
        head = _xml_head(zf, info, parts, data)
        if head is None:
            continue
        problem = _xml_problem(info, head)
        if problem is not None:
            return "rejected", [problem]
        if info.filename == workbook:
            wb_head = head
    if b"purl.oclc.org/ooxml/spreadsheetml" in wb_head:
        return "rejected", [Finding.make(Code.READ_STRICT_OOXML)]
    return kind, [Finding.make(Code.READ_MACRO_IGNORED)] if macro else []


def _xml_problem(info: zipfile.ZipInfo, head: bytes) -> Finding | None:
    """A DTD (or a prolog this check cannot follow) before an XML part's root element."""
    prolog = _prolog(head, complete=info.file_size <= _HEAD)
    if prolog == "dtd":
        return Finding.make(Code.READ_XML_DTD, part=info.filename)
    if prolog == "bad":
        return Finding.make(Code.READ_CORRUPT, error=f"{info.filename} 不是可识别的 XML")
    return None


def document_problem(data: bytes, limits: Limits = Limits()) -> Finding | None:
    """Why a zip package that is no workbook (a Word document from above) must not be parsed, or None: the
    checks a workbook gets (member count and declared sizes, a zip password, a DTD in any XML part)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_members:
                return _zip_limits(f"含 {len(infos)} 个成员，上限 {limits.max_members}")
            for info in infos:
                problem = _member_problem(info, limits)
                if problem is not None:
                    return problem
            for info in infos:
                head = _xml_head(zf, info)
                problem = _xml_problem(info, head) if head is not None else None
                if problem is not None:
                    return problem
    except Exception as exc:  # any zip/zlib failure means the container is broken
        return Finding.make(Code.READ_CORRUPT, error=f"压缩结构损坏：{_tech(exc)}")
    return None


def _xml_head(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, parts: dict[str, bytes] | None = None, data: bytes = b""
) -> bytes | None:
    """The first 64 kB of a part that is XML by name or by content; None for binary parts.

    A part read whole is also put in `parts` (if given) for the reader. `data`, the archive's bytes,
    lets a small XML part be inflated straight from them (`_inflated`).
    """
    whole = _inflated(data, info) if data and info.filename.lower().endswith(_XML_NAMES) else None
    if whole is not None:
        if parts is not None:
            parts[info.filename] = whole
        return whole[:_HEAD]
    with zf.open(info) as fh:
        head = b""
        if not info.filename.lower().endswith(_XML_NAMES):
            head = fh.read(64)
            if not _starts_like_xml(head):
                return None
        if info.file_size > _FULL_READ:
            return head + fh.read(_HEAD - len(head))
        # Read small parts to the end: zipfile checks the CRC only there (a bad CRC is a broken file).
        whole = head + fh.read()
    if parts is not None:
        parts[info.filename] = whole
    return whole[:_HEAD]


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader: 30 bytes before the name


def _inflated(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """A plain member (stored or deflated, up to 1 MB, not encrypted) inflated straight from `data`.

    zipfile's own reader spends ~30 µs a member on its file objects, as much as a form's inflating:
    here zipfile's directory entry, the member's local header and zlib do the same work. The result
    is what zipfile would return, and is only returned when it passes zipfile's own checks (header
    signature, the same name in the header as in the directory, the declared size, the CRC-32);
    otherwise None, and zipfile reads the member and reports what is wrong with it.
    """
    if (
        info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        or info.flag_bits & 0x1
        or info.file_size > _FULL_READ
        or not 0 <= info.header_offset <= len(data) - _LOCAL_HEADER.size
    ):
        return None
    header = _LOCAL_HEADER.unpack_from(data, info.header_offset)
    name_at = info.header_offset + _LOCAL_HEADER.size
    start = name_at + header[-2] + header[-1]
    end = start + info.compress_size
    if header[0] != b"PK\x03\x04" or end > len(data):
        return None
    try:
        name = data[name_at : name_at + header[-2]].decode("utf-8" if info.flag_bits & 0x800 else "cp437")
        if name != info.orig_filename:
            return None
        if info.compress_type == zipfile.ZIP_STORED:
            out = data[start:end]
        else:
            out = zlib.decompressobj(-15).decompress(data[start:end], info.file_size + 1)
    except (UnicodeDecodeError, zlib.error):
        return None
    return out if len(out) == info.file_size and zlib.crc32(out) == info.CRC else None


def _starts_like_xml(head: bytes) -> bool:
    text = _xml_text(head)
    return text is not None and text.lstrip(b" \t\r\n").startswith(b"<")


def _xml_text(head: bytes) -> bytes | None:
    """The head as ASCII-compatible bytes (UTF-16/32 transcoded by BOM or NUL pattern), None if unknown."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, ""),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            body = head[len(bom) :]
            return body if not codec else _transcode(body, codec)
    for pattern, codec in (
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00", "utf-16-le"),
        (b"\x00<", "utf-16-be"),
    ):
        if head.startswith(pattern):
            return _transcode(head, codec)
    return None if b"\x00" in head[:4] else head


def _transcode(raw: bytes, codec: str) -> bytes:
    unit = 4 if "32" in codec else 2
    return raw[: len(raw) - len(raw) % unit].decode(codec, "replace").encode("utf-8", "replace")


def _head(zf: zipfile.ZipFile, member: str) -> bytes:
    try:
        return zf.open(member).read(_HEAD)
    except KeyError:
        return b""


_PROLOG_ITEM = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)
_ROOT_START = re.compile(rb"\s*<[A-Za-z_:\x80-\xff]")


def _prolog(head: bytes, *, complete: bool) -> str:
    """Classify a part's prolog: "ok" (the root element starts before any DTD), "dtd" (a DTD, or a prolog
    still running at 64 kB, comes first) or "bad" (bytes this check cannot follow, e.g. an exotic encoding)."""
    text = _xml_text(head)
    if text is None:
        return "bad"
    pos = 0
    # Walk the prolog item by item: a '<a' inside a comment must not pass for the root element.
    while (m := _PROLOG_ITEM.match(text, pos)) and m.end() > pos:
        pos = m.end()
    if _ROOT_START.match(text, pos):
        return "ok"
    rest = text[pos:].lstrip()
    if rest.startswith(b"<!"):
        return "dtd"
    if not complete:
        return "dtd"  # prolog still running at 64 kB: refuse rather than guess
    return "ok" if not rest else "bad"  # an empty part holds no DTD


def _member_problem(info: zipfile.ZipInfo, limits: Limits) -> Finding | None:
    """Declared-size checks for one package part (zipfile never inflates past the declared size)."""
    size, packed = info.file_size, info.compress_size
    if info.flag_bits & 0x1:
        return Finding.make(Code.READ_ENCRYPTED)
    if size > limits.max_member:
        return _zip_limits(f"{info.filename} 解压后 {_mb(size)}，上限 {_mb(limits.max_member)}")
    if info.filename.lower() == "xl/sharedstrings.xml" and size > limits.max_sst:
        return _zip_limits(f"共享字符串表 {_mb(size)}，上限 {_mb(limits.max_sst)}")
    if size > limits.ratio_from and size > limits.max_ratio * max(packed, 1):
        return _zip_limits(f"{info.filename} 压缩比 {size // max(packed, 1)} 倍，异常")
    if info.compress_type != zipfile.ZIP_STORED and size + 1024 < packed:
        return Finding.make(Code.READ_CORRUPT, error=f"{info.filename} 的大小记录被篡改")
    return None


def _package_kind(zf: zipfile.ZipFile, names: set[str]) -> tuple[str, str]:
    """("xlsx", workbook part) | ("ods", "") | ("xlsb", "") | ("zip", "") | ("other", label)."""
    if "mimetype" in names:
        mime = zf.read("mimetype")[:100].strip() if zf.getinfo("mimetype").file_size <= 100 else b""
        if mime.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
            return "ods", ""
        if mime.startswith(b"application/vnd.oasis.opendocument."):
            return "OpenDocument 文档", ""
    if "[Content_Types].xml" not in names:
        return "zip", ""
    if "xl/workbook.xml" in names:
        return "xlsx", "xl/workbook.xml"
    if "xl/workbook.bin" in names:
        return "xlsb", ""
    types = _head(zf, "[Content_Types].xml")
    for tag in _OVERRIDE.findall(types):
        attrs = dict(_ATTR.findall(tag))
        part = attrs.get(b"PartName", b"").decode("utf-8", "replace").lstrip("/")
        if _WORKBOOK_TYPES.fullmatch(attrs.get(b"ContentType", b"")) and part in names:
            return "xlsx", part
    if b"sheet.binary.macroEnabled.main" in types:
        return "xlsb", ""
    if b"wordprocessingml" in types or "word/document.xml" in names:
        return "Word 文档", ""
    if b"presentationml" in types or "ppt/presentation.xml" in names:
        return "PowerPoint 演示文稿", ""
    return "Office 文档", ""


def _zip_limits(error: str) -> Finding:
    return Finding.make(Code.READ_ZIP_LIMITS, error=error)


# -- content labels for non-spreadsheets -------------------------------------------------------------

_MAGIC = (
    (b"\xff\xd8\xff", "图片"),
    (b"\x89PNG\r\n\x1a\n", "图片"),
    (b"GIF87a", "图片"),
    (b"GIF89a", "图片"),
    (b"II*\x00", "图片"),
    (b"MM\x00*", "图片"),
    (b"%PDF-", "PDF"),
    (b"Rar!\x1a\x07", "压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "压缩包"),
    (b"\x1f\x8b", "压缩包"),
    (b"PK\x05\x06", "压缩包"),
    (b"{\\rtf", "RTF 文档"),
    (_CFB, "Office 文档"),
    (_ZIP, "压缩包"),
)
_EXT_LABELS = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic"), "图片"),
    **dict.fromkeys((".doc", ".docx", ".wps", ".rtf"), "Word 文档"),
    **dict.fromkeys((".ppt", ".pptx", ".dps"), "演示文稿"),
    **dict.fromkeys((".zip", ".rar", ".7z", ".gz"), "压缩包"),
    **dict.fromkeys((".htm", ".html", ".mht"), "网页"),
    **dict.fromkeys((".eml", ".msg", ".mbox"), "邮件"),
    ".pdf": "PDF",
    ".txt": "文本",
    ".csv": "CSV 文本",
}
_HTML = re.compile(rb"(?i)<(?:!doctype\s+html|html|head|body|table|meta)\b")


def _binary_label(data: bytes) -> str | None:
    """A label for well-known non-spreadsheet binary formats, by magic number."""
    for magic, label in _MAGIC:
        if data.startswith(magic):
            return label
    if (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or data[4:12] in (b"ftypheic", b"ftypmif1"):
        return "图片"
    return None


def _text_label(data: bytes) -> str | None:
    """'网页' / 'Excel 2003 XML' / '文本' for text content (CSV and HTML exports), else None."""
    head = data[:8192]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text" export is UTF-16
        head = head.decode("utf-16", "ignore").encode()
    elif b"\x00" in head:
        return None
    if b"urn:schemas-microsoft-com:office:spreadsheet" in head:
        return "Excel 2003 XML 表格"
    if _HTML.search(head):
        return "网页"
    return "文本"


# ---------------------------------------------------------------------------------------------------
# plain zip archives
# ---------------------------------------------------------------------------------------------------


def _is_plain_zip(data: bytes, limits: Limits) -> bool:
    """A zip that is an archive of files, not an OOXML/ODF package (those go to the pre-check)."""
    count = _declared_entries(data)
    if count is not None and count > limits.max_members:
        return False  # the pre-check reports the member count
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except Exception:  # a broken zip is reported by the pre-check
        return False
    return "[Content_Types].xml" not in names and "mimetype" not in names


def _from_zip(data: bytes, ctx: _Ctx) -> list[Candidate]:
    """A plain .zip → one candidate per member, in memory, names cleaned, sizes and nesting capped."""
    limits = ctx.limits
    if ctx.depth + 1 > limits.max_depth:
        return [_too_deep(ctx, data, "压缩包")]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if len(infos) > limits.max_members or total > limits.max_total:
                error = f"{len(infos)} 个成员，解压后共 {_mb(total)}，超过上限"
                return [_reject(ctx, data, Code.READ_ZIP_LIMITS, error=error)]
            members, used = [], set()
            for k, info in enumerate(infos, 1):
                parts = [p for p in re.split(r"[\\/]", _member_name(info)) if p]
                if info.is_dir() or any(_is_junk(p) for p in parts):
                    continue
                # '..' and absolute prefixes vanish here: a member name never escapes its archive.
                dirs = [d for d in (display_name(p, "") for p in parts[:-1]) if d]
                name = display_name(parts[-1] if parts else "", f"成员-{k}")
                members.append(("/".join([*dirs, name]), name, info))
            if not members:  # only folders, hidden or system files: still one outcome for the archive
                return [
                    _make(
                        ctx,
                        data,
                        "other",
                        [Finding.make(Code.READ_OTHER_FILE, name=ctx.name, kind="空压缩包")],
                    )
                ]
            out: list[Candidate] = []
            for inner, name, info in sorted(members, key=lambda m: m[0]):
                path = _unique(f"{ctx.path}{SEP}{inner}", used)
                sub = replace(ctx, path=path, name=name, source="zip", depth=ctx.depth + 1)
                out.extend(_zip_member(zf, info, sub))
            return out
    except Exception as exc:  # _is_plain_zip opened it already; kept for safety
        return [_reject(ctx, data, Code.READ_CORRUPT, error=f"压缩结构损坏：{_tech(exc)}")]


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, sub: _Ctx) -> list[Candidate]:
    """One archive member → its candidate(s); the declared size is checked before inflating."""
    if info.flag_bits & 0x1:
        return [_reject(sub, b"", Code.READ_ENCRYPTED)]
    if info.file_size > _read_cap(sub.name, sub.limits):
        return [_reject(sub, b"", Code.READ_TOO_LARGE, error=f"解压后 {_mb(info.file_size)}")]
    if (problem := _member_problem(info, sub.limits)) is not None:
        return [_make(sub, b"", "rejected", [problem])]
    try:
        member = zf.read(info)
    except NotImplementedError as exc:
        return [_reject(sub, b"", Code.READ_FAILED, error=f"不支持的压缩方式：{exc}")]
    except Exception as exc:  # CRC/zlib/truncation: this member is broken
        return [_reject(sub, b"", Code.READ_CORRUPT, error=f"解压失败：{_tech(exc)}")]
    return _route(member, sub)


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: UTF-8 flag, Info-ZIP Unicode path field, else GBK (Chinese Windows zips)."""
    if info.flag_bits & 0x800:
        return info.filename
    extra, i = info.extra, 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        if tag == 0x7075 and size > 5 and extra[i + 4] == 1:
            try:
                return extra[i + 9 : i + 4 + size].decode("utf-8")
            except UnicodeDecodeError:
                break
        i += 4 + size
    try:
        raw = info.filename.encode("cp437")  # zipfile decoded the flagless name as cp437
    except UnicodeEncodeError:
        return info.filename
    return _decode_8bit(raw)


# ---------------------------------------------------------------------------------------------------
# e-mail
# ---------------------------------------------------------------------------------------------------


def candidates_from_email(data: bytes, *, path: str, limits: Limits = Limits()) -> list[Candidate]:
    """One RFC 822 message → a candidate per attachment (forwarded messages and zips included).

    Args:
        data: the raw message.
        path: its display path; attachments become "path » 附件名".
        limits: size, header and nesting caps.

    Returns:
        The attachments in MIME order, each with `received` (the Date header in naive local time) and
        `sender`; a payload attached again is read once, its copies listed unread with
        READ_DUPLICATE_ATTACHMENT. A message that cannot be parsed safely gives one rejected candidate
        with READ_EML (READ_TOO_DEEP when nested too deep); one without attachments gives one "other"
        candidate.
    """
    name = display_name(path.rsplit("/", 1)[-1], "邮件")
    return _from_email(data, _Ctx(path=path, name=name, received=None, source="email", limits=limits))


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOUNDARY = re.compile(rb"(?i)boundary\s*=")
_KNOWN_HEADERS = {
    b"from",
    b"date",
    b"subject",
    b"received",
    b"message-id",
    b"mime-version",
    b"return-path",
    b"to",
    b"delivered-to",
    b"x-mailer",
    b"content-type",
    b"reply-to",
    b"cc",
}
_HEADER_LINE = re.compile(rb"([!-9;-~]+):")
_BASE64_DEFECTS = ("InvalidBase64CharactersDefect", "InvalidBase64PaddingDefect", "InvalidBase64LengthDefect")


def _looks_like_email(data: bytes) -> bool:
    """RFC 822 header lines at the very start, with at least two typical mail headers."""
    head = data[:4096]
    if head.startswith(b"From "):
        head = head.partition(b"\n")[2]
    seen = set()
    for line in head.split(b"\n")[:40]:
        if line in (b"", b"\r"):
            break
        if line[:1] in (b" ", b"\t"):
            continue
        m = _HEADER_LINE.match(line)
        if m is None:
            return False
        seen.add(m.group(1).lower())
    return len(seen & _KNOWN_HEADERS) >= 2 and bool(
        seen & {b"from", b"received", b"message-id", b"mime-version"}
    )


def _email_problem(data: bytes, limits: Limits) -> str | None:
    """Why the message must not be parsed at all; checked before the parser sees it (§3.7)."""
    if len(data) > limits.max_eml:
        return f"邮件 {_mb(len(data))}，上限 {_mb(limits.max_eml)}"
    end = _HEADER_END.search(data, 0, limits.max_header_block + 4)
    if end is None and len(data) > limits.max_header_block:
        return f"邮件头超过 {limits.max_header_block // 1024} KB"
    block = data[: end.start()] if end else data
    size = 0
    for line in block.split(b"\n"):
        size = size + len(line) if line[:1] in (b" ", b"\t") else len(line)
        if size > limits.max_header:
            return f"邮件头字段超过 {limits.max_header // 1024} KB"
    parts = sum(1 for _ in zip(_BOUNDARY.finditer(data), range(MAX_MIME_PARTS + 1), strict=False))
    if parts > MAX_MIME_PARTS:
        return f"MIME 分段超过 {MAX_MIME_PARTS} 个（嵌套过深）"
    return None


def _from_mbox(data: bytes, ctx: _Ctx) -> list[Candidate]:
    """An mbox file → the attachments of each message ("box.mbox#2 » 附件.xlsx")."""
    starts = [m.start() for m in re.finditer(rb"(?m)^From [^\n]*\n", data)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    out: list[Candidate] = []
    for i, start in enumerate(starts, 1):
        end = starts[i] if i < len(starts) else len(data)
        chunk = data[start:end]
        if chunk.startswith(b"From "):
            chunk = chunk.partition(b"\n")[2]
        sub = replace(ctx, path=f"{ctx.path}#{i}", name=f"{ctx.name}#{i}", source="email")
        out.extend(_from_email(chunk, sub))
    return out


def _from_email(data: bytes, ctx: _Ctx) -> list[Candidate]:
    """One message (its bytes) → candidates; `ctx.received` is the fallback when Date is unusable."""
    if ctx.depth + 1 > ctx.limits.max_depth:
        return [_too_deep(ctx, data, "邮件转发或压缩包")]
    problem = _email_problem(data, ctx.limits)
    if problem:
        return [_reject(ctx, data, Code.READ_EML, error=problem)]
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception as exc:  # RecursionError on deep nesting, and whatever else
        return [_reject(ctx, data, Code.READ_EML, error=f"结构无法解析：{_tech(exc)}")]
    if ctx.seen is None:  # the outermost mail: its Date and From say when and from whom it reached us
        sent = _date(msg)
        ctx = replace(
            ctx,
            received=sent or ctx.received,
            received_from="email" if sent else ctx.received_from,
            sender=_sender(msg),
            seen={},
        )
    elif not ctx.sender:  # a mail inside an attached zip keeps the outer mail's time; fill in a sender
        ctx = replace(ctx, sender=_sender(msg))
    try:
        out = _attachments(msg, ctx)
    except Exception as exc:  # a malformed tree must not stop the batch
        return [_reject(ctx, data, Code.READ_EML, error=f"结构无法解析：{_tech(exc)}")]
    if not out:
        return [
            _make(
                ctx, data, "other", [Finding.make(Code.READ_OTHER_FILE, name=ctx.name, kind="邮件（无附件）")]
            )
        ]
    return out


def _attachments(msg: Message, ctx: _Ctx) -> list[Candidate]:
    """Walk the whole MIME tree (iteratively, into forwarded message/rfc822 parts) and route each leaf."""
    limits, out, used, n = ctx.limits, [], set(), 0
    stack: list[tuple[Message, int]] = [(msg, ctx.depth + 1)]
    while stack:
        part, level = stack.pop()
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if part.get_content_maintype() == "message":  # a forwarded mail: one container deeper
                encoded = _encoded_forward(part, children)
                if encoded is not None:
                    n += 1
                    out.extend(_attachment(encoded, _filename(part), n, level, ctx, used))
                    continue
                if level + 1 > limits.max_depth:
                    n += 1
                    name = display_name(_filename(part), f"转发邮件-{n}")
                    path = _unique(f"{ctx.path}{SEP}{name}", used)
                    sub = replace(ctx, path=path, name=name, source="email", depth=level)
                    out.append(_too_deep(sub, b"", "转发邮件"))
                    continue
                level += 1
            stack.extend((c, level) for c in reversed(children))
            continue
        ctype, disposition = part.get_content_type(), part.get_content_disposition()
        if part.get_content_maintype() == "multipart":  # a multipart with no usable boundary: no file in it
            continue
        if any(len(value) > limits.max_header for _, value in part.raw_items()):
            # Checked before any name decoding: 20,000 encoded-words in one name cost seconds (§3.7).
            n += 1
            name = f"附件-{n}"
            sub = replace(
                ctx, path=_unique(f"{ctx.path}{SEP}{name}", used), name=name, source="email", depth=level
            )
            error = f"附件头字段超过 {limits.max_header // 1024} KB"
            out.append(_reject(sub, b"", Code.READ_ATTACHMENT, name=name, error=error))
            continue
        raw = _filename(part)
        if not raw and disposition != "attachment" and ctype in ("text/plain", "text/html"):
            continue  # the message body, not an attachment
        n += 1
        if n > limits.max_members:
            out.append(
                _reject(ctx, b"", Code.READ_EML, error=f"附件超过 {limits.max_members} 个，其余未读取")
            )
            break
        out.extend(_attachment(part, raw, n, level, ctx, used))
    return out


def _encoded_forward(part: Message, children: list[Message]) -> Message | None:
    """A base64/QP-encoded message/rfc822 part (non-conforming, but some webmails send it) as a leaf.

    The parser reads such a part as a header-less message whose body is the encoded text; the leaf
    returned here decodes back to the forwarded .eml bytes, which are then routed like any attachment.
    """
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte not in ("base64", "quoted-printable") or len(children) != 1 or children[0].keys():
        return None
    body = children[0].get_payload()
    if not isinstance(body, str):
        return None
    leaf = Message()
    for key, value in part.raw_items():
        leaf[key] = value
    leaf.set_payload(body)
    return leaf


def _attachment(part: Message, raw: str, n: int, level: int, ctx: _Ctx, used: set[str]) -> list[Candidate]:
    """One MIME leaf → its candidate(s), with the name finding first."""
    name = display_name(raw, f"附件-{n}")
    sub = replace(ctx, path=_unique(f"{ctx.path}{SEP}{name}", used), name=name, source="email", depth=level)
    notes = []
    if not raw:
        if part.get_content_maintype() != "message":  # a forwarded mail is a container, not a file
            notes.append(Finding.make(Code.READ_NO_FILENAME, file=sub.path, name=name))
    elif raw != name:
        notes.append(Finding.make(Code.READ_ATTACHMENT_NAME, file=sub.path, raw=_short(raw), name=name))
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception as exc:  # a broken transfer encoding is a broken attachment
        return [_with_notes(_reject(sub, b"", Code.READ_ATTACHMENT, name=name, error=_tech(exc)), notes)]
    # get_payload() does not raise on bad base64; it records defects and returns what it could decode.
    if any(type(d).__name__ in _BASE64_DEFECTS for d in part.defects):
        if sub.seen is not None:
            sub.seen.setdefault(hashlib.sha256(payload).hexdigest(), sub.path)
        broken = _reject(sub, payload, Code.READ_ATTACHMENT, name=name, error="base64 编码损坏，附件不完整")
        return [_with_notes(broken, notes)]
    found = _route(payload, sub)
    if found:
        found[0] = _with_notes(found[0], notes)
    return found


def _with_notes(cand: Candidate, notes: list[Finding]) -> Candidate:
    return replace(cand, findings=(*notes, *cand.findings)) if notes else cand


def _unique(path: str, used: set[str]) -> str:
    """Two attachments with the same name in one mail get distinct display paths."""
    out, k = path, 1
    while out in used:
        k += 1
        out = f"{path} ({k})"
    used.add(out)
    return out


def _filename(part: Message) -> str:
    """The attachment's file name as the sender meant it (RFC 2231, encoded-words, raw GBK/UTF-8)."""
    try:
        name = part.get_filename() or ""
    except Exception:  # malformed parameters: treat as unnamed
        name = ""
    if "\ufffd" in name:  # raw 8-bit bytes, which the parser decoded as UTF-8 with replacement
        name = _raw_filename(part) or name
    if "=?" in name:  # QQ/163 put encoded-words inside the quoted name; compat32 leaves them
        name = decode_words(name)
    return name


def _raw_filename(part: Message) -> str:
    """Re-read filename=/name= from the undecoded header bytes (kept by the parser as surrogates)."""
    for header in ("content-disposition", "content-type"):
        for key, value in part.raw_items():
            if key.lower() != header:
                continue
            text = _decode_8bit(value.encode("ascii", "surrogateescape"))
            probe = Message()
            probe[header] = text
            try:
                found = probe.get_filename()
            except Exception:
                found = None
            if found:
                return found
    return ""


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


def _tech(exc: BaseException) -> str:
    """Exception class and message, for the log line inside a finding (shortened)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."
