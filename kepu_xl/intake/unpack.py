"""Routing by content and unpacking: a file's bytes → the candidates inside (e-mail and forwarded mail,
mbox, plain zip, nested up to `Limits.max_depth`), and `checked`, the deferred pre-check run in a worker."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import re
import struct
import zipfile
from dataclasses import replace
from email.message import Message

from ..findings import Code, Finding
from ..headers import _date, _decode_8bit, _sender, decode_words
from .base import (
    _EMPTY_SHA,
    _ZIP,
    DEFAULT_LIMITS,
    MAX_MIME_PARTS,
    PENDING,
    SEP,
    SPREADSHEET_EXTS,
    VIDEO_EXTS,
    VIDEO_LABEL,
    Candidate,
    Limits,
    _Ctx,
    _ext,
    _is_junk,
    _local,
    _make,
    _mb,
    _read_capped,
    _reject,
    _short,
    _tech,
    _too_deep,
    display_name,
    read_cap,
)
from .bytecheck import _binary_label, _declared_entries, _member_problem, precheck


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


def checked(cand: Candidate, *, limits: Limits = DEFAULT_LIMITS) -> tuple[Candidate, dict[str, bytes]]:
    """A deferred candidate (kind PENDING) with its pre-check done, and the package parts it inflated.

    The parts (XML parts read whole by the check, name → bytes) let the reader skip inflating them a
    second time. Any other candidate comes back as it is, with no parts.
    """
    if cand.kind != PENDING:
        return cand, {}
    if cand.location:  # an inbox file scan left unread: read it now, as scan would have
        ctx = _Ctx(path=cand.path, name=cand.name, received=cand.received, source=cand.source, limits=limits)
        cap = read_cap(cand.name, limits)
        try:
            data = _read_capped(cand.location, cap)
        except OSError as exc:  # a problem of this computer's, not of the file the unit sent
            return _reject(ctx, b"", Code.READ_LOCAL, name=cand.name, error=_local(exc)), {}
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
    if _ext(sub.name) in VIDEO_EXTS and info.file_size > sub.limits.max_file:
        # counted, not inflated into memory: its length is left unread (media.inspect says so)
        return [
            _make(sub, b"", "other", [Finding.make(Code.READ_OTHER_FILE, name=sub.name, kind=VIDEO_LABEL)])
        ]
    if info.file_size > read_cap(sub.name, sub.limits):
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


def candidates_from_email(data: bytes, *, path: str, limits: Limits = DEFAULT_LIMITS) -> list[Candidate]:
    """One RFC 822 message → a candidate per attachment (forwarded messages and zips included).

    Args:
        data: the raw message.
        path: its display path; attachments become "path → 附件名".
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
    """An mbox file → the attachments of each message ("box.mbox#2 → 附件.xlsx")."""
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
