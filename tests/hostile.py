"""Builders of hostile and broken inbox files, made from real bytes at test time (notes/hostile-inputs.md).

Every builder returns bytes and reads nothing from disk: workbooks start from a real return (the sample
county's generated form, filled), e-mails are RFC 822 messages written by hand so raw 8-bit headers
survive, compound files are real CFB containers that olefile can list. Used by test_hostile_inbox.py and
test_fuzz.py.
"""

from __future__ import annotations

import base64
import io
import random
import re
import struct
import warnings
import zipfile
from collections.abc import Callable

from lxml import etree

MAIN_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_NS = b"http://purl.oclc.org/ooxml/spreadsheetml/main"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

# -- zip packages ---------------------------------------------------------------------------------------


def member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name)


def rezip(
    data: bytes,
    *,
    change: dict[str, bytes | Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
) -> bytes:
    """A copy of a zip with members replaced (bytes, or a function of the old bytes), added or dropped."""
    change, add = change or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        missing = (set(change) | set(drop)) - set(src.namelist())
        if missing:  # a builder that silently changes nothing would make its test pass for nothing
            raise KeyError(f"no such members: {sorted(missing)}")
        for info in src.infolist():
            if info.filename in drop:
                continue
            new = change.get(info.filename, src.read(info))
            dst.writestr(info.filename, new(src.read(info)) if callable(new) else new)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # adding a name that exists makes a duplicate, on purpose
            for name, extra in add.items():
                dst.writestr(name, extra)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def sheet_part(data: bytes, sheet: str) -> str:
    """The package part holding worksheet `sheet`, found as a reader finds it (workbook.xml + rels)."""
    wb = etree.fromstring(member(data, "xl/workbook.xml"))
    rels = etree.fromstring(member(data, "xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    for node in wb.iter("{*}sheet"):
        if node.get("name") == sheet:
            target = targets[node.get(f"{_REL_NS}id")].lstrip("/")
            return target if target.startswith("xl/") else "xl/" + target
    raise KeyError(sheet)


def bad_crc(data: bytes, name: str) -> bytes:
    """Flip the stored CRC-32 of one member (local header and central directory alike)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        crc = z.getinfo(name).CRC
    old, new = struct.pack("<I", crc), struct.pack("<I", crc ^ 0x5A5A5A5A)
    assert data.count(old) == 2, "the CRC bytes must be unique to patch them"
    return data.replace(old, new)


def truncated(data: bytes, fraction: float = 0.6) -> bytes:
    return data[: int(len(data) * fraction)]


def big_member(base: bytes, name: str, size: int, chunk: bytes = b"\0") -> bytes:
    """`base` plus (or with) member `name` inflating to `size` bytes of `chunk` repeated (a zip bomb)."""
    out = io.BytesIO()
    block = chunk * ((1 << 20) // len(chunk))
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info.filename, src.read(info))
        with dst.open(name, "w", force_zip64=True) as fh:
            left = size
            while left > 0:
                fh.write(block[:left])
                left -= len(block)
    return out.getvalue()


def many_members(base: bytes, total: int) -> bytes:
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        have = len(z.infolist())
    return rezip(base, add={f"xl/media/pad{i}.bin": b"" for i in range(total - have)})


def huge_shared_strings(base: bytes, size: int) -> bytes:
    """A sharedStrings.xml part of `size` bytes (every reader loads it whole before the first row)."""
    head = b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="' + MAIN_NS + b'">'
    unit = b"<si><t>x</t></si>"
    body = unit * ((size - len(head)) // len(unit) + 1)
    sst = "xl/sharedStrings.xml"
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        where = "change" if sst in z.namelist() else "add"  # openpyxl writes inline strings only
    return rezip(base, **{where: {sst: head + body + b"</sst>"}})


def forged_size(base: bytes) -> bytes:
    """A member whose declared size (4 kB) is far below its compressed size: the lying-size bomb."""
    payload = random.Random(7).randbytes(512 << 10)  # 512 kB that deflate cannot shrink
    return declare_size(rezip(base, add={"xl/media/blob.bin": payload}), "xl/media/blob.bin", 4096)


def declare_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with `name`'s uncompressed size rewritten in its local header and central directory."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
        struct.pack_into("<I", out, info.header_offset + 22, size)
        pos = z.start_dir
    encoded = name.encode()
    while out[pos : pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", out, pos + 28)
        if out[pos + 46 : pos + 46 + n] == encoded:
            struct.pack_into("<I", out, pos + 24, size)
        pos += 46 + n + m + k
    return bytes(out)


def duplicate_member(base: bytes, name: str) -> bytes:
    """Two members with the same name (readers disagree on which one wins)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns "Duplicate name": that is the point
            dst.writestr(name, b'<?xml version="1.0"?><x/>')
    return out.getvalue()


def flag_encrypted(data: bytes) -> bytes:
    """Set the "encrypted" flag bit of every member (as a zip tool with a password would)."""
    out = bytearray(data)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        for m in re.finditer(re.escape(sig), data):
            flags = struct.unpack_from("<H", out, m.start() + flag_at)[0]
            struct.pack_into("<H", out, m.start() + flag_at, flags | 1)
    return bytes(out)


def xml_with_dtd(root: bytes, dtd: bytes) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + dtd + b"\n" + root


BILLION_LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
)
XXE_PASSWD = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def with_dtd(base: bytes, part: str, dtd: bytes, entity: bytes = b"&lol9;") -> bytes:
    """`part` rewritten with a DTD in its prolog and the entity used in its body."""

    def edit(old: bytes) -> bytes:
        body = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", old)
        body = body.replace(b"</t>", entity + b"</t>", 1) if b"</t>" in body else body
        return xml_with_dtd(body, dtd)

    return rezip(base, change={part: edit})


def strict(base: bytes) -> bytes:
    """Strict Open XML: the transitional main namespace replaced by the purl.oclc.org one."""
    return rezip(base, change={"xl/workbook.xml": lambda b: b.replace(MAIN_NS, STRICT_NS)})


def xlsb() -> bytes:
    types = (
        b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Override PartName="/xl/workbook.bin" '
        b'ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>'
    )
    return zip_of({"[Content_Types].xml": types, "xl/workbook.bin": b"\x83\x01\x00", "_rels/.rels": b"<x/>"})


def docx() -> bytes:
    types = (
        b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'wordprocessingml.document.main+xml"/></Types>'
    )
    return zip_of({"[Content_Types].xml": types, "word/document.xml": b"<w:document/>"})


def ods_encrypted() -> bytes:
    return zip_of(
        {
            "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": b'<?xml version="1.0"?><office:document-content/>',
            "META-INF/manifest.xml": (
                b'<?xml version="1.0"?><manifest:manifest><manifest:file-entry>'
                b"<manifest:encryption-data/></manifest:file-entry></manifest:manifest>"
            ),
        }
    )


# -- compound files (OLE2/CFB) ------------------------------------------------------------------------

_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def cfb(streams: dict[str, bytes]) -> bytes:
    """A real compound file (version 3, 512-byte sectors) with `streams` at the root.

    Each stream is padded to at least 4,096 bytes so that all of them live in regular sectors (no mini
    stream to write); the siblings form a chain sorted as the format requires (length, then upper case).
    """
    sector = 512
    items = sorted(
        ((name, data.ljust(4096, b"\0")) for name, data in streams.items()),
        key=lambda item: (len(item[0]), item[0].upper()),
    )
    n_dir = (len(items) + 1 + 3) // 4
    chains, next_free = [], 1 + n_dir
    for _, data in items:
        count = -(-len(data) // sector)
        chains.append((next_free, count))
        next_free += count
    assert next_free <= sector // 4, "one FAT sector is enough for these tests"
    fat = [_FREE] * (sector // 4)
    fat[0] = _FATSECT
    for i in range(n_dir):
        fat[1 + i] = 2 + i if i < n_dir - 1 else _END
    for start, count in chains:
        for k in range(count):
            fat[start + k] = start + k + 1 if k < count - 1 else _END

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""
        fixed = struct.pack("<HBBIII", len(raw), kind, 1, _NOSTREAM, right, child)
        return raw.ljust(64, b"\0") + fixed + bytes(16) + struct.pack("<IQQIQ", 0, 0, 0, start, size)

    entries = [entry("Root Entry", 5, _NOSTREAM, 1 if items else _NOSTREAM, _END, 0)]
    for i, ((name, data), (start, _)) in enumerate(zip(items, chains, strict=True)):
        right = i + 2 if i + 1 < len(items) else _NOSTREAM
        entries.append(entry(name, 2, right, _NOSTREAM, start, len(data)))
    while len(entries) % 4:
        entries.append(entry("", 0, _NOSTREAM, _NOSTREAM, 0, 0))
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<108I", *([_FREE] * 108))
    )
    body = b"".join(
        data.ljust(count * sector, b"\0") for (_, data), (_, count) in zip(items, chains, strict=True)
    )
    return header + struct.pack(f"<{len(fat)}I", *fat) + b"".join(entries) + body


def encrypted_ooxml() -> bytes:
    """What Excel writes for an .xlsx with a password to open: a CFB with EncryptionInfo/EncryptedPackage."""
    info = b"\x04\x00\x04\x00\x40\x00\x00\x00" + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
        b'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        b'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        b"</encryption>"
    )
    package = struct.pack("<Q", 16_384) + bytes(range(256)) * 64
    return cfb({"EncryptionInfo": info, "EncryptedPackage": package})


def encrypted_xls() -> bytes:
    """A BIFF8 workbook whose globals start with FILEPASS (RC4 CryptoAPI): an .xls with a password."""
    bof = struct.pack("<HH", 0x0809, 16) + struct.pack("<HHHHII", 0x0600, 0x0005, 0x2D81, 0x07CC, 0x41, 0x406)
    filepass = struct.pack("<HH", 0x002F, 54) + struct.pack("<HHH", 1, 1, 1) + bytes(range(48))
    eof = struct.pack("<HH", 0x000A, 0)
    return cfb({"Workbook": bof + filepass + eof})


# -- e-mail --------------------------------------------------------------------------------------------

XLSX_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def raw_part(disposition: bytes, payload: bytes, ctype: bytes = XLSX_TYPE) -> bytes:
    """A base64 MIME part with a hand-written Content-Disposition line (raw 8-bit bytes allowed)."""
    head = b"Content-Type: " + ctype + b"\r\n" + (disposition + b"\r\n" if disposition else b"")
    return head + b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(payload)


def attachment(name: str, payload: bytes) -> bytes:
    """An attachment named the RFC 2231 way (what Thunderbird and Outlook send for Chinese names)."""
    from urllib.parse import quote

    disposition = f"Content-Disposition: attachment; filename*=UTF-8''{quote(name)}".encode()
    return raw_part(disposition, payload)


def mail(
    parts: list[bytes],
    *,
    sender: str = "单位 <unit@qingxi.example.org>",
    date: str = "Mon, 29 May 2023 10:00:00 +0800",
    boundary: str = "BOUND",
    subject: str = "回执",
) -> bytes:
    """A multipart/mixed message with a text body and `parts` (already MIME-encoded)."""
    head = (
        f"From: {sender}\r\nTo: kepu@qingxi.example.org\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    ).encode()
    sep = f"--{boundary}\r\n".encode()
    body = sep + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "请查收。".encode() + b"\r\n"
    for part in parts:
        body += sep + part + b"\r\n"
    return head + body + f"--{boundary}--\r\n".encode()


def forward(inner: bytes, levels: int) -> bytes:
    """`inner` forwarded `levels` times, each time as a message/rfc822 part of a new mail."""
    for level in range(levels):
        inner = mail([b"Content-Type: message/rfc822\r\n\r\n" + inner], boundary=f"FWD{level}")
    return inner


def nested_multipart(levels: int) -> bytes:
    """`levels` multiparts inside one another (1,200 make the e-mail parser hit RecursionError)."""
    raw = b"From: a@b.c\r\nDate: Mon, 29 May 2023 10:00:00 +0800\r\nMIME-Version: 1.0\r\n"
    for i in range(levels):
        raw += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
    raw += b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for i in reversed(range(levels)):
        raw += b"--b%d--\r\n" % i
    return raw


def slow_header(words: int = 20_000) -> bytes:
    """A 340 kB Subject of encoded-words: 7.5 s in policy.default's parser (notes §3.7)."""
    return b"From: a@b.c\r\nSubject: " + b"=?utf-8?b?5byg?= " * words + b"\r\n\r\nbody\r\n"


def broken_base64(name: str = "broken.xlsx") -> bytes:
    return raw_part(f'Content-Disposition: attachment; filename="{name}"'.encode(), b"") + (
        b"UEsDBBQAAAAIA!!!*not base64 at all\r\n"
    )
