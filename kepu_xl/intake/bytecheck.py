"""The byte pre-check: bytes → (kind by content, findings) before any parser sees them — zip bombs, DTDs,
encryption, Strict OOXML, .xlsb, truncated or forged packages — in well under a millisecond a form."""

from __future__ import annotations

import codecs
import io
import re
import struct
import zipfile
import zlib

from ..findings import Code, Finding
from .base import (
    _CFB,
    _ZIP,
    DEFAULT_LIMITS,
    SPREADSHEET_EXTS,
    VIDEO_EXTS,
    VIDEO_LABEL,
    Limits,
    _ext,
    _mb,
    _tech,
)

# ---------------------------------------------------------------------------------------------------
# precheck: bytes → (kind, findings)
# ---------------------------------------------------------------------------------------------------


def precheck(
    data: bytes, *, name: str = "", limits: Limits = DEFAULT_LIMITS, parts: dict[str, bytes] | None = None
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
    if video_format(data) is not None:  # already in memory (an attachment): its size costs nothing more
        return _other(ext, label, VIDEO_LABEL)
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
    problem = _container_problem(infos, limits)
    if problem is not None:
        return "rejected", [problem]
    kind, workbook = _package_kind(zf, {i.filename for i in infos})
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
    problem, wb_head = _parts_problem(zf, infos, workbook, parts, data)
    if problem is not None:
        return "rejected", [problem]
    if b"purl.oclc.org/ooxml/spreadsheetml" in wb_head:
        return "rejected", [Finding.make(Code.READ_STRICT_OOXML)]
    macro = any(
        low.endswith("vbaproject.bin") or low.startswith(("xl/macrosheets/", "basic/", "scripts/"))
        for low in (i.filename.lower() for i in infos)
    )
    return kind, [Finding.make(Code.READ_MACRO_IGNORED)] if macro else []


def _container_problem(infos: list[zipfile.ZipInfo], limits: Limits) -> Finding | None:
    """What is wrong with the zip itself: too many members, two of one name, a zip password."""
    if len(infos) > limits.max_members:
        return _zip_limits(f"含 {len(infos)} 个成员，上限 {limits.max_members}")
    if len({i.filename for i in infos}) != len(infos):  # readers disagree on which duplicate wins
        return Finding.make(Code.READ_CORRUPT, error="压缩包内有重名成员")
    if any(i.flag_bits & 0x1 for i in infos):  # zip-level password: nothing inside can be read
        return Finding.make(Code.READ_ENCRYPTED)
    return None


def _parts_problem(
    zf: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    workbook: str,
    parts: dict[str, bytes] | None,
    data: bytes,
) -> tuple[Finding | None, bytes]:
    """The first XML part with a DTD (or a prolog this check cannot follow), and the workbook part's head.

    Every XML part, whatever its name says: a reader follows relationships, not extensions."""
    wb_head = b""
    for info in infos:
        head = _xml_head(zf, info, parts, data)
        if head is None:
            continue
        problem = _xml_problem(info, head)
        if problem is not None:
            return problem, wb_head
        if info.filename == workbook:
            wb_head = head
    return None, wb_head


def _xml_problem(info: zipfile.ZipInfo, head: bytes) -> Finding | None:
    """A DTD (or a prolog this check cannot follow) before an XML part's root element."""
    prolog = _prolog(head, complete=info.file_size <= _HEAD)
    if prolog == "dtd":
        return Finding.make(Code.READ_XML_DTD, part=info.filename)
    if prolog == "bad":
        return Finding.make(Code.READ_CORRUPT, error=f"{info.filename} 不是可识别的 XML")
    return None


def document_problem(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Finding | None:
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
    key = (info.CRC, info.file_size, info.compress_size)  # of a kept part (_SEEN)
    try:
        name = data[name_at : name_at + header[-2]].decode("utf-8" if info.flag_bits & 0x800 else "cp437")
        if name != info.orig_filename:
            return None
        if info.compress_type == zipfile.ZIP_STORED:
            out = data[start:end]
        else:
            packed = data[start:end]
            seen = _SEEN.pop(key, None)  # (pop and put back, not del: the page's threads share it)
            if seen is not None:
                _SEEN[key] = seen  # most recently used last: the campaign's common parts stay
                if seen[0] == packed:
                    return seen[1]
            out = zlib.decompressobj(-15).decompress(packed, info.file_size + 1)
    except (UnicodeDecodeError, zlib.error):
        return None
    if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
        return None
    if info.compress_type != zipfile.ZIP_STORED and info.file_size <= _SEEN_PART:
        if len(_SEEN) >= _SEEN_KEPT:
            _SEEN.pop(next(iter(_SEEN), None), None)  # the least recently used
        _SEEN[key] = (packed, out)
    return out


# Deflated parts byte-identical to one this process inflated recently, and what they inflate to.
# Returns of one campaign share most of their parts (theme, styles, relationships, the hidden and
# instruction sheets): saved by the same program, the same XML compresses to the same bytes, so the
# second copy is recognised by its packed bytes (compared whole, not by a checksum) and costs no
# inflating. Inflating is a function of those bytes alone, and the result passed the size and CRC
# checks when it was stored. Unique parts (each unit's sheets) pass through and are dropped first.
_SEEN_PART = 64 << 10  # parts up to this size inflated are kept
_SEEN_KEPT = 64  # parts kept, at most (~4 MB)
_SEEN: dict[tuple[int, int, int], tuple[bytes, bytes]] = {}


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
    # named as a video, content not recognised: still counted as one (its length cannot be read)
    **dict.fromkeys(VIDEO_EXTS, VIDEO_LABEL),
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
    if video_format(data) is not None:
        return VIDEO_LABEL
    return None


# ISO base media brands that are sound or pictures, not video (an .m4a recording, a HEIF/AVIF photo)
_NOT_VIDEO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis")
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")  # old .mov files have no ftyp
_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
VIDEO_HEAD = 4 * 188  # bytes `video_format` looks at: four MPEG-TS packets


def video_format(head: bytes) -> str | None:
    """The container of a video from its first bytes (VIDEO_HEAD of them), or None when it is not one."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _NOT_VIDEO_BRANDS:
            return None
        return "QuickTime" if brand == b"qt  " else "3GP" if brand.startswith(b"3g") else "MP4"
    size = int.from_bytes(head[:4], "big")  # of the first atom: 1 = a 64-bit size follows
    if head[4:8] in _QUICKTIME_ATOMS and (size == 1 or size >= 8) and head[:1] < b"\x20":  # not "I'm free"
        return "QuickTime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "WebM" if b"webm" in head[:64] else "Matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith(_ASF):
        return "WMV"
    if head.startswith(b"FLV\x01"):
        return "FLV"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "MPEG"
    if all(head[k : k + 1] == b"\x47" for k in range(0, VIDEO_HEAD, 188)) and b"\x00" in head[:188]:
        return "MPEG-TS"  # a sync byte every 188 bytes, and binary (a text starting with "G" is not)
    if head.startswith(b".RMF"):
        return "RealMedia"
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
