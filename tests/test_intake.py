"""intake: inbox folder → candidates. Every hostile sample is built here, in tmp_path (notes/hostile-inputs.md)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import signal
import struct
import time
import timeit
import zipfile
import zlib
from datetime import datetime, timedelta, timezone
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from types import SimpleNamespace

import hostile as h
import pytest
import xlsxwriter
from hostile import member, rezip, zip_of

from kepu_xl import intake
from kepu_xl.context import Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.init import init_campaign
from kepu_xl.intake import Candidate, Limits, candidates_from_email, display_name, precheck, scan
from kepu_xl.intake import bytecheck as precheck_mod
from kepu_xl.intake import unpack as unpack_mod

# -- builders ---------------------------------------------------------------------------------------


def xlsx(text: str = "单位") -> bytes:
    """A small, valid workbook; `text` makes the bytes (and sha256) distinct."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("统计表")
    ws.write(0, 0, text)
    ws.write_number(0, 1, 12)
    wb.close()
    return buf.getvalue()


def bad_crc(data: bytes, name: str) -> bytes:
    """Flip the stored CRC-32 of one member (local header and central directory alike)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        crc = z.getinfo(name).CRC
    old, new = struct.pack("<I", crc), struct.pack("<I", crc ^ 0x5A5A5A5A)
    assert data.count(old) == 2
    return data.replace(old, new)


def zeros_bomb(size: int = 70 << 20) -> bytes:
    """A sheet part that inflates to `size` bytes of zeros (about 70 kB on disk)."""
    base = xlsx()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info))
        with dst.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                fh.write(chunk)
    return out.getvalue()


def with_members(total: int) -> bytes:
    """A valid workbook padded with empty members to exactly `total` members."""
    base = xlsx()
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        have = len(z.infolist())
    return rezip(base, add={f"pad/{i}.bin": b"" for i in range(total - have)})


def ods() -> bytes:
    return zip_of(
        {
            "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": b'<?xml version="1.0"?><office:document-content/>',
            "META-INF/manifest.xml": b'<?xml version="1.0"?><manifest:manifest/>',
        }
    )


CFB = bytes.fromhex("d0cf11e0a1b11ae1")


def cfb(*streams: str) -> bytes:
    """A compound-file stand-in: the magic plus UTF-16LE directory names (what the pre-check sniffs)."""
    return CFB + bytes(504) + b"".join(s.encode("utf-16-le").ljust(64, b"\0") for s in streams) + bytes(1024)


def codes(cand: Candidate) -> list[str]:
    return [f.code.name for f in cand.findings]


def flat(cands: list[Candidate]) -> list[list]:
    """One line per candidate, as in Findings.flatten: [path, kind, [codes]]."""
    return [[c.path, c.kind, codes(c)] for c in cands]


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every regular file under root (to prove scan changed nothing)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        if path.is_file() and not path.is_symlink():
            out[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out


# -- precheck ---------------------------------------------------------------------------------------

STRICT_NS = b"http://purl.oclc.org/ooxml/spreadsheetml/main"
MAIN_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DTD = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>\n'


def _sheet(data: bytes) -> bytes:
    return member(data, "xl/worksheets/sheet1.xml")


PRECHECK_CASES = {
    # name: (file name, builder, kind, codes)
    "good": ("回执.xlsx", lambda: xlsx(), "xlsx", []),
    "empty": ("empty.xlsx", lambda: b"", "rejected", ["READ_EMPTY"]),
    "csv_renamed": (
        "csv.xlsx",
        lambda: "单位,人数\r\n一中,12\r\n".encode("gbk"),
        "rejected",
        ["READ_WRONG_FORMAT"],
    ),
    "html_as_xls": (
        "page.xls",
        lambda: b"<html><body><table><tr><td>12</td></tr></table></body></html>",
        "rejected",
        ["READ_WRONG_FORMAT"],
    ),
    "truncated": ("cut.xlsx", lambda: xlsx()[: len(xlsx()) * 6 // 10], "rejected", ["READ_CORRUPT"]),
    "bad_crc": (
        "crc.xlsx",
        lambda: bad_crc(xlsx(), "xl/worksheets/sheet1.xml"),
        "rejected",
        ["READ_CORRUPT"],
    ),
    "not_ooxml_zip": ("plain.xlsx", lambda: zip_of({"a.txt": b"hello"}), "rejected", ["READ_CORRUPT"]),
    "many_members": ("many.xlsx", lambda: with_members(1001), "rejected", ["READ_ZIP_LIMITS"]),
    "members_at_limit": ("ok.xlsx", lambda: with_members(1000), "xlsx", []),
    "member_bomb": ("bomb.xlsx", zeros_bomb, "rejected", ["READ_ZIP_LIMITS"]),
    "dtd_sheet": (
        "dtd.xlsx",
        lambda: rezip(xlsx(), change={"xl/worksheets/sheet1.xml": DTD + _sheet(xlsx())[39:]}),
        "rejected",
        ["READ_XML_DTD"],
    ),
    "dtd_after_comment": (
        "dtd2.xlsx",
        lambda: rezip(xlsx(), change={"xl/worksheets/sheet1.xml": b"<!-- <a --><!DOCTYPE x []><x/>"}),
        "rejected",
        ["READ_XML_DTD"],
    ),
    "dtd_utf16": (
        "dtd16.xlsx",
        lambda: rezip(xlsx(), change={"xl/worksheets/sheet1.xml": (DTD.decode() + "<x/>").encode("utf-16")}),
        "rejected",
        ["READ_XML_DTD"],
    ),
    "strict": (
        "strict.xlsx",
        lambda: rezip(
            xlsx(), change={"xl/workbook.xml": member(xlsx(), "xl/workbook.xml").replace(MAIN_NS, STRICT_NS)}
        ),
        "rejected",
        ["READ_STRICT_OOXML"],
    ),
    "encrypted": (
        "secret.xlsx",
        lambda: cfb("Root Entry", "EncryptionInfo", "EncryptedPackage"),
        "rejected",
        ["READ_ENCRYPTED"],
    ),
    "plain_cfb": ("old.xls", lambda: cfb("Root Entry", "Workbook"), "xls", []),
    "cfb_named_et": ("old.et", lambda: cfb("Root Entry"), "xls", []),
    "xlsx_named_xls": ("named.xls", lambda: xlsx(), "xlsx", []),
    "macro": (
        "macro.xlsx",
        lambda: rezip(xlsx(), add={"xl/vbaProject.bin": b"\x00vba"}),
        "xlsx",
        ["READ_MACRO_IGNORED"],
    ),
    "ods": ("表.ods", ods, "ods", []),
    "jpeg": (
        "photo.jpg",
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100),
        "other",
        ["READ_OTHER_FILE"],
    ),
    "pdf": ("通知.pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "other", ["READ_OTHER_FILE"]),
    "docx": ("说明.docx", h.docx, "other", ["READ_OTHER_FILE"]),
    "ods_encrypted": (
        "加密.ods",
        lambda: rezip(
            ods(), change={"META-INF/manifest.xml": b"<manifest><manifest:encryption-data/></manifest>"}
        ),
        "rejected",
        ["READ_ENCRYPTED"],
    ),
    "doc": ("说明.doc", lambda: cfb("Root Entry", "WordDocument"), "other", ["READ_OTHER_FILE"]),
    "csv_named_csv": ("data.csv", lambda: b"a,b\n1,2\n", "other", ["READ_OTHER_FILE"]),
    "jpeg_named_xlsx": (
        "photo.xlsx",
        lambda: b"\xff\xd8\xff\xe0" + bytes(100),
        "rejected",
        ["READ_WRONG_FORMAT"],
    ),
    "docx_named_xlsx": ("doc.xlsx", h.docx, "rejected", ["READ_WRONG_FORMAT"]),
    "garbage_xlsx": ("junk.xlsx", lambda: bytes(range(256)) * 4, "rejected", ["READ_CORRUPT"]),
    "xlsb": (
        "b.xlsb",
        lambda: zip_of({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\0"}),
        "rejected",
        ["READ_XLSB"],
    ),
}


def _big_sheet(data: bytes, chars: int) -> bytes:
    """The workbook with a sheet part of about `chars` characters (text in one inline cell)."""
    sheet = _sheet(data)
    return rezip(
        data,
        change={
            "xl/worksheets/sheet1.xml": sheet.replace(
                b"</worksheet>", b"<!--" + b"x" * chars + b"--></worksheet>"
            )
        },
    )


PRECHECK_CASES |= {
    # an XML part is checked whatever its name says: readers follow relationships, not extensions
    "dtd_in_part_named_bin": (
        "bin.xlsx",
        lambda: rezip(xlsx(), add={"xl/media/image1.bin": DTD + b"<x/>"}),
        "rejected",
        ["READ_XML_DTD"],
    ),
    "dtd_utf32": (
        "dtd32.xlsx",
        lambda: rezip(xlsx(), change={"xl/worksheets/sheet1.xml": (DTD.decode() + "<x/>").encode("utf-32")}),
        "rejected",
        ["READ_XML_DTD"],
    ),
    "xml_in_ebcdic": (  # lxml would decode it; this check cannot see a DTD in it, so it refuses the part
        "ebcdic.xlsx",
        lambda: rezip(xlsx(), change={"docProps/app.xml": (DTD.decode() + "<x/>").encode("cp500")}),
        "rejected",
        ["READ_CORRUPT"],
    ),
    "xml_part_empty": (
        "empty-part.xlsx",
        lambda: rezip(xlsx(), add={"customXml/item1.xml": b""}),
        "xlsx",
        [],
    ),
    "binary_part": (
        "img.xlsx",
        lambda: rezip(xlsx(), add={"xl/media/image1.png": b"\x89PNG\r\n\x1a\n"}),
        "xlsx",
        [],
    ),
    "zip_password": ("pw.xlsx", lambda: h.flag_encrypted(xlsx()), "rejected", ["READ_ENCRYPTED"]),
    "bad_crc_past_64k": (  # parts up to 1 MB are read to the end, so their CRC is checked too
        "crc-big.xlsx",
        lambda: bad_crc(_big_sheet(xlsx(), 200_000), "xl/worksheets/sheet1.xml"),
        "rejected",
        ["READ_CORRUPT"],
    ),
    "big_part_ok": ("big.xlsx", lambda: _big_sheet(xlsx(), 200_000), "xlsx", []),
    "lying_size": ("lie.xlsx", lambda: h.forged_size(xlsx()), "rejected", ["READ_CORRUPT"]),
    "ratio": (
        "ratio.xlsx",
        lambda: h.big_member(xlsx(), "xl/media/fill.bin", 17 << 20),
        "rejected",
        ["READ_ZIP_LIMITS"],
    ),
    "ratio_under_16mb": (
        "ok-ratio.xlsx",
        lambda: h.big_member(xlsx(), "xl/media/fill.bin", 15 << 20),
        "xlsx",
        [],
    ),
    "shared_strings": (
        "sst.xlsx",
        lambda: h.huge_shared_strings(xlsx(), 21 << 20),
        "rejected",
        ["READ_ZIP_LIMITS"],
    ),
    "real_cfb_encrypted": ("pw2.xlsx", h.encrypted_ooxml, "rejected", ["READ_ENCRYPTED"]),
    "xls_filepass": ("pw.xls", h.encrypted_xls, "rejected", ["READ_LEGACY_FORMAT"]),
    "xls_writeprot_then_filepass": (
        "pw2.xls",
        lambda: h.cfb({"Workbook": _biff(0x0809, BOF8) + _biff(0x0086, b"") + _biff(0x002F, bytes(54))}),
        "rejected",
        ["READ_LEGACY_FORMAT"],
    ),
    "xls_plain_biff": (
        "plain.xls",
        lambda: h.cfb({"Workbook": _biff(0x0809, BOF8) + _biff(0x00E1, b"\xb0\x04") + _biff(0x000A, b"")}),
        "xls",
        [],
    ),
    "xlsb_by_content_type": (
        "b2.xlsx",
        lambda: zip_of(
            {
                "[Content_Types].xml": b'<Types><Override PartName="/xl/wb.bin" '
                b'ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>',
                "xl/wb.bin": b"\0",
            }
        ),
        "rejected",
        ["READ_XLSB"],
    ),
}


@pytest.mark.parametrize("case", PRECHECK_CASES, ids=list(PRECHECK_CASES))
def test_precheck(case: str) -> None:
    name, build, kind, expected = PRECHECK_CASES[case]
    got_kind, findings = precheck(build(), name=name)
    assert [got_kind, [f.code.name for f in findings]] == [kind, expected]


BOF8 = struct.pack("<HHHHII", 0x0600, 0x0005, 0x2D81, 0x07CC, 0x41, 0x406)  # BIFF8 workbook globals


def _biff(rtype: int, body: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(body)) + body


def test_precheck_is_well_under_a_millisecond(tmp_path: Path) -> None:
    """The pre-check of a real return (the sample county's filled form) costs well under 1 ms."""
    from kepu_xl.sample_returns import fill, values_for

    ctx = Context.load(init_campaign(tmp_path / "c"))
    values = values_for(1, {})
    form = fill(ctx, "T01", values, detail_rows=values["activities"])
    assert precheck(form, name="回执.xlsx") == ("xlsx", [])
    # CPU time, best of 30: what the check costs, not how busy the (shared, 2-core) machine is
    runs = timeit.repeat(
        lambda: precheck(form, name="回执.xlsx"), number=5, repeat=30, timer=time.process_time
    )
    best = min(runs) / 5
    assert best < 1e-3, f"{best * 1e3:.2f} ms"


def test_precheck_messages_name_the_problem() -> None:
    _, [dtd] = precheck(PRECHECK_CASES["dtd_sheet"][1](), name="dtd.xlsx")
    assert dtd.context == {"part": "xl/worksheets/sheet1.xml"}
    _, [other] = precheck(PRECHECK_CASES["jpeg"][1](), name="photo.jpg")
    assert other.message == "“photo.jpg”不是统计表（图片），已列入其他材料。"
    _, [doc] = precheck(h.docx(), name="说明.docx")
    assert doc.context["kind"] == "Word 文档"
    _, [csv] = precheck(b"a,b\n1,2\n", name="data.csv")
    assert csv.context == {"name": "data.csv", "kind": "CSV 文本"}
    _, [ratio] = precheck(PRECHECK_CASES["ratio"][1](), name="r.xlsx")
    assert "xl/media/fill.bin 压缩比" in ratio.message and ratio.message.endswith("请对方重新另存后发送。")
    _, [sst] = precheck(PRECHECK_CASES["shared_strings"][1](), name="s.xlsx")
    assert "共享字符串表 21.0 MB，上限 20.0 MB" in sst.message
    _, [xlsb] = precheck(PRECHECK_CASES["xlsb"][1](), name="b.xlsb")
    assert xlsb.message.startswith("文件是 Excel 二进制工作簿（.xlsb）")
    _, [legacy] = precheck(h.encrypted_xls(), name="pw.xls")
    assert "自动加密" in legacy.message and legacy.message.endswith("请对方另存为 .xlsx 后重发。")


def test_precheck_limits_are_configurable() -> None:
    data = xlsx()
    assert precheck(data, limits=Limits(max_file=100))[1][0].code.name == "READ_TOO_LARGE"
    assert precheck(data, limits=Limits(max_members=3))[1][0].code.name == "READ_ZIP_LIMITS"


# -- scan -------------------------------------------------------------------------------------------


class _Blocked(Exception):
    pass


@pytest.fixture
def no_hang():
    """Fail (instead of hanging the run) if something opens a FIFO."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(*_):
        raise _Blocked("scan blocked (opened a FIFO?)")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs and symlinks")
def test_scan_routes_by_content_and_changes_nothing(tmp_path: Path, no_hang) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "二中").mkdir(parents=True)
    (inbox / ".hidden").mkdir()
    files = {
        "一中.xlsx": xlsx("一中"),
        "二中/回执.xls": xlsx("二中"),  # an xlsx named .xls is read as xlsx
        "csv.xlsx": "单位,人数\n".encode("gbk"),
        "empty.xlsx": b"",
        "macro.xlsm": rezip(xlsx("宏"), add={"xl/vbaProject.bin": b"vba"}),
        "photo.jpg": b"\xff\xd8\xff\xe0" + bytes(64),
        "~$一中.xlsx": b"\x05owner" + bytes(160),  # Excel/WPS owner file
        ".~lock.一中.xlsx#": b"lock",  # LibreOffice lock
        ".hidden/x.xlsx": xlsx("hidden"),
        "Thumbs.db": cfb("Root Entry", "Catalog"),
        "多个.zip": zip_of({"a.xlsx": xlsx("a"), "sub/b.xlsx": xlsx("b")}),
    }
    for rel, data in files.items():
        (inbox / rel).write_bytes(data)
    os.symlink("/etc/hostname", inbox / "link.xlsx")
    os.mkfifo(inbox / "fifo.xlsx")  # opening it would block forever
    os.utime(inbox / "一中.xlsx", (1_700_000_000, 1_700_000_000))
    before = fingerprint(inbox)

    got = list(scan(inbox))

    assert flat(got) == [
        ["csv.xlsx", "rejected", ["READ_WRONG_FORMAT"]],
        ["empty.xlsx", "rejected", ["READ_EMPTY"]],
        ["fifo.xlsx", "rejected", ["READ_SKIPPED"]],
        ["link.xlsx", "rejected", ["READ_SKIPPED"]],
        ["macro.xlsm", "xlsx", ["READ_MACRO_IGNORED"]],
        ["photo.jpg", "other", ["READ_OTHER_FILE"]],
        ["一中.xlsx", "xlsx", []],
        ["二中/回执.xls", "xlsx", []],
        ["多个.zip → a.xlsx", "xlsx", []],
        ["多个.zip → sub/b.xlsx", "xlsx", []],
    ]
    assert fingerprint(inbox) == before
    by_path = {c.path: c for c in got}
    one = by_path["一中.xlsx"]
    assert (one.data, one.sha256, one.source) == (
        files["一中.xlsx"],
        hashlib.sha256(one.data).hexdigest(),
        "file",
    )
    assert one.received == datetime.fromtimestamp(1_700_000_000)
    assert by_path["macro.xlsm"].macro is True
    assert [by_path["多个.zip → sub/b.xlsx"].source, by_path["多个.zip → sub/b.xlsx"].name] == [
        "zip",
        "b.xlsx",
    ]
    assert by_path["link.xlsx"].data == b""
    assert all(f.file == c.path for c in got for f in c.findings)


def test_scan_refuses_oversize_file_unread(tmp_path: Path) -> None:
    (tmp_path / "big.xlsx").write_bytes(xlsx())
    [cand] = scan(tmp_path, limits=Limits(max_file=1000))
    assert [cand.kind, codes(cand), cand.data] == ["rejected", ["READ_TOO_LARGE"], b""]


def test_scan_zip_member_names(tmp_path: Path) -> None:
    # A flagless GBK member name (Chinese Windows zip tools), a traversal name and a nested archive.
    data = zip_of(
        {"XXXX.xlsx": xlsx("gbk"), "../../evil.xlsx": xlsx("evil"), "in.zip": zip_of({"c.xlsx": xlsx("c")})}
    )
    data = data.replace(b"XXXX.xlsx", "二班.xlsx".encode("gbk"))
    (tmp_path / "回执.zip").write_bytes(data)
    assert flat(scan(tmp_path)) == [
        ["回执.zip → evil.xlsx", "xlsx", []],
        ["回执.zip → in.zip → c.xlsx", "xlsx", []],
        ["回执.zip → 二班.xlsx", "xlsx", []],
    ]


def test_scan_zip_nesting_is_capped(tmp_path: Path) -> None:
    data = zip_of({"a.xlsx": xlsx("deep")})
    for _ in range(3):
        data = zip_of({"x.zip": data})
    (tmp_path / "deep.zip").write_bytes(data)  # a.xlsx sits 4 archives deep; max_depth is 3
    [cand] = scan(tmp_path)
    assert [cand.path, cand.kind, codes(cand)] == [
        "deep.zip → x.zip → x.zip → x.zip",
        "rejected",
        ["READ_TOO_DEEP"],
    ]
    assert (
        cand.findings[0].message
        == "压缩包嵌套超过 3 层，里面的文件未展开。请对方把统计表直接作为邮件附件发送。"
    )


def test_scan_archive_of_nothing_still_has_an_outcome(tmp_path: Path) -> None:
    (tmp_path / "空.zip").write_bytes(zip_of({"__MACOSX/._a.xlsx": b"\0\5", ".DS_Store": b"\0"}))
    [cand] = scan(tmp_path)
    assert [cand.path, cand.kind, codes(cand), cand.findings[0].context["kind"]] == [
        "空.zip",
        "other",
        ["READ_OTHER_FILE"],
        "空压缩包",
    ]


def test_scan_mail_inside_zip_inside_mail_is_capped(tmp_path: Path) -> None:
    inner = mail([_raw_part(b'Content-Disposition: attachment; filename="deep.xlsx"', xlsx("deep"))])
    archive = zip_of({"fwd.eml": mail([b"Content-Type: message/rfc822\r\n\r\n" + inner], boundary="Z")})
    (tmp_path / "m.eml").write_bytes(
        mail([_raw_part(b'Content-Disposition: attachment; filename="a.zip"', archive)])
    )
    got = flat(scan(tmp_path))  # m.eml → a.zip → fwd.eml → forwarded mail → deep.xlsx: one level too many
    assert got == [["m.eml → a.zip → fwd.eml → 转发邮件-1", "rejected", ["READ_TOO_DEEP"]]]


def test_scan_missing_inbox_raises(tmp_path: Path) -> None:
    with pytest.raises(KepuError):
        list(scan(tmp_path / "nope"))


# -- e-mail -----------------------------------------------------------------------------------------

DATE = "Mon, 04 Mar 2024 10:00:00 +0800"
LOCAL = datetime(2024, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=8))).astimezone().replace(tzinfo=None)


def _raw_part(header: bytes, payload: bytes) -> bytes:
    """A base64 MIME part with a hand-written Content-Disposition line (raw bytes allowed)."""
    body = base64.encodebytes(payload)
    return (
        b"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n"
        + header
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
    )


def mail(
    parts: list[bytes],
    *,
    sender: str = "一中 <YiZhong@Example.COM>",
    date: str = DATE,
    boundary: str = "BOUND",
) -> bytes:
    """A multipart/mixed message from hand-built parts (so raw 8-bit headers survive)."""
    head = (
        f"From: {sender}\r\nTo: kepu@example.org\r\nSubject: 回执\r\nDate: {date}\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    ).encode()
    sep = f"--{boundary}\r\n".encode()
    body = sep + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "请查收。".encode() + b"\r\n"
    for part in parts:
        body += sep + part + b"\r\n"
    return head + body + f"--{boundary}--\r\n".encode()


def forwarded(inner_xlsx: bytes) -> bytes:
    inner = MIMEMultipart()
    inner["From"] = "二中 <erzhong@example.com>"
    inner["Subject"] = "Fwd"
    inner.attach(MIMEText("转发", "plain", "utf-8"))
    att = MIMEApplication(inner_xlsx)
    att.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "转发的回执.xlsx"))
    inner.attach(att)
    wrapper = MIMEMessage(inner)
    return wrapper.as_bytes()


def test_email_attachments(tmp_path: Path) -> None:
    enc = "=?GB18030?B?" + base64.b64encode("报名表（二班）.xlsx".encode("gb18030")).decode() + "?="
    dup = xlsx("dup")
    # gb2312 encoded-words split over a folded line (163/QQ style)
    w1, w2 = (base64.b64encode(t.encode("gb2312")).decode() for t in ("二班报名", "回执表.xlsx"))
    folded = (
        f'Content-Disposition: attachment;\r\n filename="=?gb2312?B?{w1}?=\r\n =?gb2312?B?{w2}?="'.encode()
    )
    raw = mail(
        [
            _raw_part(
                b"Content-Disposition: attachment; filename*=UTF-8''%E6%8A%A5%E5%90%8D%E5%9B%9E%E6%89%A7%E8%A1%A8.xlsx",
                xlsx("2231"),
            ),
            _raw_part(f'Content-Disposition: attachment; filename="{enc}"'.encode(), xlsx("gb18030")),
            _raw_part(
                b'Content-Disposition: attachment; filename="' + "三班回执.xlsx".encode("gbk") + b'"',
                xlsx("gbk"),
            ),
            _raw_part(b'Content-Disposition: attachment; filename="../../x.xlsx"', xlsx("traversal")),
            _raw_part(b'Content-Disposition: attachment; filename="broken.xlsx"', b"")
            + b"UEsDBBQAAAAIA!!!*not base64 at all\r\n",
            _raw_part(b'Content-Disposition: attachment; filename="dup.xlsx"', dup),
            _raw_part(b'Content-Disposition: attachment; filename="dup-copy.xlsx"', dup),
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(xlsx("noname")),
            forwarded(xlsx("fwd")),
            _raw_part(folded, xlsx("folded")),
            _raw_part(
                b'Content-Disposition: attachment; filename="' + "原始名.xlsx".encode() + b'"', xlsx("utf8")
            ),
            _raw_part(
                b'Content-Disposition: attachment; filename="dup.xlsx"', xlsx("same name, other bytes")
            ),
        ]
    )
    got = candidates_from_email(raw, path="一中.eml")
    assert flat(got) == [
        ["一中.eml → 报名回执表.xlsx", "xlsx", []],
        ["一中.eml → 报名表（二班）.xlsx", "xlsx", []],
        ["一中.eml → 三班回执.xlsx", "xlsx", []],
        ["一中.eml → x.xlsx", "xlsx", ["READ_ATTACHMENT_NAME"]],
        ["一中.eml → broken.xlsx", "rejected", ["READ_ATTACHMENT"]],
        ["一中.eml → dup.xlsx", "xlsx", []],
        ["一中.eml → dup-copy.xlsx", "rejected", ["READ_DUPLICATE_ATTACHMENT"]],  # listed, not read twice
        ["一中.eml → 附件-8", "xlsx", ["READ_NO_FILENAME"]],
        ["一中.eml → 转发的回执.xlsx", "xlsx", []],
        ["一中.eml → 二班报名回执表.xlsx", "xlsx", []],
        ["一中.eml → 原始名.xlsx", "xlsx", []],
        ["一中.eml → dup.xlsx (2)", "xlsx", []],  # same name, different bytes: both kept
    ]
    assert {(c.source, c.sender, c.received) for c in got} == {("email", "yizhong@example.com", LOCAL)}
    assert got[3].findings[0].context == {"raw": "../../x.xlsx", "name": "x.xlsx"}
    assert [c.name for c in got][:3] == ["报名回执表.xlsx", "报名表（二班）.xlsx", "三班回执.xlsx"]
    assert got[5].data == dup
    assert (got[6].data, got[6].sha256, got[6].ok) == (b"", hashlib.sha256(b"").hexdigest(), False)
    assert got[6].findings[0].message == "与同一邮件中的“一中.eml → dup.xlsx”内容完全相同，已忽略。"
    assert got[7].findings[0].message == "邮件附件没有文件名，已按内容识别，记为“附件-8”。"


def test_email_base64_forward_is_decoded() -> None:
    # message/rfc822 must not be base64 (RFC 2046), but some webmails send it so; the parser then sees
    # a header-less body and walk() alone would lose the forwarded attachment.
    inner = mail(
        [_raw_part(b'Content-Disposition: attachment; filename="in.xlsx"', xlsx("in"))], sender="x@y.cn"
    )
    part = (
        b'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(inner)
    )
    got = candidates_from_email(mail([part]), path="m.eml")
    assert flat(got) == [["m.eml → fwd.eml → in.xlsx", "xlsx", []]]
    # Like a parsed forward: received/sender are those of the mail that reached the inbox.
    assert (got[0].sender, got[0].received) == ("yizhong@example.com", LOCAL)


def test_email_forward_nesting_is_capped() -> None:
    inner = mail([_raw_part(b'Content-Disposition: attachment; filename="deep.xlsx"', xlsx("deep"))])
    for level in range(3):  # three forwards: the workbook's mail is 4 containers deep; max_depth is 3
        inner = mail([b"Content-Type: message/rfc822\r\n\r\n" + inner], boundary=f"L{level}")
    got = candidates_from_email(inner, path="m.eml")
    assert flat(got) == [["m.eml → 转发邮件-1", "rejected", ["READ_TOO_DEEP"]]]


def test_email_overlong_header_is_refused_before_parsing() -> None:
    # 20,000 encoded-words: 7.5 s in policy.default's get_filename(); refused here before parsing.
    slow = b"From: a@b.c\r\nSubject: " + b"=?utf-8?b?5byg?= " * 20_000 + b"\r\n\r\nbody"
    one_field = b"From: a@b.c\r\nSubject: " + b"x" * 9000 + b"\r\n\r\nbody"  # one 9 kB field, small block
    wide = b"From: a@b.c\r\n" + b"X-Pad: " + b"a" * 1000 + b"\r\n" * 70 + b"\r\nbody"
    block = b"From: a@b.c\r\n" + b"".join(b"X-Pad: " + b"a" * 1000 + b"\r\n" for _ in range(70)) + b"\r\nbody"
    for raw in (slow, one_field, block):
        [cand] = candidates_from_email(raw, path="slow.eml")
        assert [cand.kind, codes(cand)] == ["rejected", ["READ_EML"]]
    assert codes(candidates_from_email(wide, path="ok.eml")[0]) == ["READ_OTHER_FILE"]


def test_email_overlong_attachment_header_is_refused_before_decoding() -> None:
    slow = (
        b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="'
        + b"=?utf-8?b?5byg?= " * 20_000
        + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n'
    )
    ok = _raw_part(b'Content-Disposition: attachment; filename="ok.xlsx"', xlsx("ok"))
    got = candidates_from_email(mail([slow, ok]), path="m.eml")
    assert flat(got) == [["m.eml → 附件-1", "rejected", ["READ_ATTACHMENT"]], ["m.eml → ok.xlsx", "xlsx", []]]


def _nested(levels: int) -> bytes:
    raw = b"From: a@b.c\r\nDate: " + DATE.encode() + b"\r\nMIME-Version: 1.0\r\n"
    for i in range(levels):
        raw += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
    raw += b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for i in reversed(range(levels)):
        raw += b"--b%d--\r\n" % i
    return raw


def test_email_deep_nesting_is_refused() -> None:
    [cand] = candidates_from_email(_nested(1200), path="deep.eml")
    assert [cand.kind, codes(cand)] == ["rejected", ["READ_EML"]]


def test_email_parser_recursion_error_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the boundary count pre-check, the parser itself raises RecursionError (§3.7).
    monkeypatch.setattr(unpack_mod, "MAX_MIME_PARTS", 10_000)
    [cand] = candidates_from_email(_nested(1200), path="deep.eml")
    assert codes(cand) == ["READ_EML"]
    assert "RecursionError" in cand.findings[0].message


def test_email_without_attachment_is_other() -> None:
    raw = b"From: a@b.c\r\nDate: " + DATE.encode() + b"\r\nSubject: hi\r\n\r\nno file, sorry\r\n"
    [cand] = candidates_from_email(raw, path="a.eml")
    assert [cand.kind, codes(cand), cand.findings[0].context["kind"]] == [
        "other",
        ["READ_OTHER_FILE"],
        "邮件（无附件）",
    ]


def test_scan_eml_and_mbox(tmp_path: Path) -> None:
    one = mail(
        [_raw_part(b'Content-Disposition: attachment; filename="a.xlsx"', xlsx("mbox-a"))], sender="a@one.cn"
    )
    two = mail(
        [_raw_part(b'Content-Disposition: attachment; filename="b.xlsx"', xlsx("mbox-b"))],
        sender="B@Two.CN",
        date="garbage",
    )
    (tmp_path / "收件.mbox").write_bytes(
        b"From a@one.cn Mon Mar  4 10:00:00 2024\n"
        + one.replace(b"\r\n", b"\n")
        + b"\nFrom b@two.cn Mon Mar  4 11:00:00 2024\n"
        + two.replace(b"\r\n", b"\n")
    )
    (tmp_path / "回执.eml").write_bytes(
        mail([_raw_part(b'Content-Disposition: attachment; filename="c.xlsx"', xlsx("eml"))])
    )
    os.utime(tmp_path / "收件.mbox", (1_700_000_000, 1_700_000_000))
    got = list(scan(tmp_path))
    assert flat(got) == [
        ["回执.eml → c.xlsx", "xlsx", []],
        ["收件.mbox#1 → a.xlsx", "xlsx", []],
        ["收件.mbox#2 → b.xlsx", "xlsx", []],
    ]
    assert [(c.sender, c.received) for c in got] == [
        ("yizhong@example.com", LOCAL),
        ("a@one.cn", LOCAL),
        ("b@two.cn", datetime.fromtimestamp(1_700_000_000)),  # bad Date: the mbox file's mtime
    ]


def test_scan_eml_zip_attachment(tmp_path: Path) -> None:
    archive = zip_of({"x.xlsx": xlsx("zx"), "y.xlsx": xlsx("zy")})
    (tmp_path / "m.eml").write_bytes(
        mail([_raw_part(b'Content-Disposition: attachment; filename="all.zip"', archive)])
    )
    got = list(scan(tmp_path))
    assert flat(got) == [["m.eml → all.zip → x.xlsx", "xlsx", []], ["m.eml → all.zip → y.xlsx", "xlsx", []]]
    assert {(c.source, c.sender) for c in got} == {("zip", "yizhong@example.com")}


# -- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../x.xlsx", "x.xlsx"),
        ("/etc/cron.d/x.xlsx", "x.xlsx"),
        ("..\\..\\x.xlsx", "x.xlsx"),
        ("C:\\Users\\Public\\x.xlsx", "x.xlsx"),
        ("CON.xlsx", "_CON.xlsx"),
        ("trailing dot. .xlsx. ", "trailing dot. .xlsx"),
        (".xlsx", "附件-7"),
        ("回执\u202eslx.exe", "回执slx.exe"),
        ("a\u200bb\x07.xlsx", "ab_.xlsx"),
        ("", "附件-7"),
        ("x" * 300 + ".xlsx", "x" * 80 + ".xlsx"),
    ],
)
def test_display_name(raw: str, clean: str) -> None:
    assert display_name(raw, "附件-7") == clean


# -- inflating a part straight from the archive (intake._inflated) ---------------------------------------


def _local_patch(data: bytes, name: str, at: int, new: bytes) -> bytes:
    """`data` with bytes at offset `at` of member `name`'s local header replaced (the directory untouched)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        start = z.getinfo(name).header_offset + at
    return data[:start] + new + data[start + len(new) :]


def _stored(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def _garbled_stream(data: bytes, name: str) -> bytes:
    """The middle of one member's deflate stream overwritten (directory and sizes untouched)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    start = info.header_offset + 30 + len(name.encode()) + len(info.extra) + info.compress_size // 3
    return data[:start] + b"\xff" * 40 + data[start + 40 :]


def _broken_packages(form: bytes) -> dict[str, bytes]:
    sheet = "xl/worksheets/sheet2.xml"
    return {
        "good": form,
        "stored": _stored(form),
        "bad CRC": h.bad_crc(form, sheet),
        "truncated": h.truncated(form, 0.8),
        "declared smaller": h.declare_size(form, "xl/styles.xml", 100),
        "declared larger": h.declare_size(form, "xl/styles.xml", 60_000),
        "garbled stream": _garbled_stream(form, sheet),
        "local signature": _local_patch(form, "xl/styles.xml", 0, b"PK\x03\x05"),
        "local name": _local_patch(form, "xl/styles.xml", 30, b"xl/stylez"),
        "local name length": _local_patch(form, "xl/styles.xml", 26, b"\xff\x00"),
        "local extra past the end": _local_patch(form, "xl/styles.xml", 28, b"\xff\xff"),
    }


def test_parts_inflated_from_the_archive_are_what_zipfile_reads(form_bytes: bytes, monkeypatch) -> None:
    # The pre-check inflates small XML parts itself (zipfile's file objects cost as much as the inflating);
    # on a good package or a broken one, the outcome and the parts handed to the reader must be exactly
    # zipfile's, and zipfile must be what reports every defect.
    fast_hits = []
    real = precheck_mod._inflated

    def spy(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
        got = real(data, info)
        fast_hits.append(got is not None)
        return got

    for label, data in _broken_packages(form_bytes).items():
        fast_parts: dict[str, bytes] = {}
        monkeypatch.setattr(precheck_mod, "_inflated", spy)
        fast = intake.precheck(data, name="表.xlsx", parts=fast_parts)
        monkeypatch.setattr(precheck_mod, "_inflated", lambda data, info: None)
        slow_parts: dict[str, bytes] = {}
        slow = intake.precheck(data, name="表.xlsx", parts=slow_parts)
        assert fast == slow, label
        assert fast_parts == slow_parts, label
        if label in ("good", "stored"):
            assert fast[0] == "xlsx" and fast[1] == [], label
            assert fast_parts and all(fast_hits), label  # every XML part came the fast way
        elif label == "declared larger":  # zipfile reads to the stream's end and checks the CRC: fine
            assert fast[0] == "xlsx" and not all(fast_hits), label
        else:
            assert fast[0] == "rejected", label
            assert fast[1][0].code is Code.READ_CORRUPT, label
        fast_hits.clear()


def test_a_part_seen_before_is_not_inflated_again_and_a_lookalike_is(form_bytes: bytes, monkeypatch) -> None:
    # Returns of one campaign share most of their parts: the pre-check keeps what a packed part inflated
    # to and gives it again for the same packed bytes. A part whose directory entry matches a kept one
    # (same CRC and sizes) but whose packed bytes differ must be inflated and checked as any other.
    inflates = []

    def counting(wbits: int) -> object:
        inflates.append(wbits)
        return zlib.decompressobj(wbits)

    monkeypatch.setattr(
        precheck_mod, "zlib", SimpleNamespace(decompressobj=counting, crc32=zlib.crc32, error=zlib.error)
    )
    monkeypatch.setattr(precheck_mod, "_SEEN", {})
    first: dict[str, bytes] = {}
    assert precheck(form_bytes, name="表.xlsx", parts=first) == ("xlsx", [])
    assert len(inflates) >= 10  # every deflated XML part of a form, once
    inflates.clear()
    again: dict[str, bytes] = {}
    assert precheck(form_bytes, name="表.xlsx", parts=again) == ("xlsx", [])
    assert inflates == []  # the same packed bytes: nothing inflated a second time
    assert again == first and all(again[name] is first[name] for name in first)

    sheet = "xl/worksheets/sheet2.xml"
    garbled = _garbled_stream(form_bytes, sheet)
    with zipfile.ZipFile(io.BytesIO(garbled)) as z, zipfile.ZipFile(io.BytesIO(form_bytes)) as good:
        kept, forged = good.getinfo(sheet), z.getinfo(sheet)
        assert (forged.CRC, forged.file_size, forged.compress_size) == (
            kept.CRC,
            kept.file_size,
            kept.compress_size,
        )
    kind, findings = precheck(garbled, name="表.xlsx")
    assert inflates  # not taken from what was kept for the genuine part
    assert kind == "rejected" and findings[0].code is Code.READ_CORRUPT
    monkeypatch.setattr(precheck_mod, "_SEEN", {})
    assert precheck(garbled, name="表.xlsx") == (kind, findings)  # what a fresh process says

    # bounded: many other parts push the form's out, and the form is then inflated again, the same
    many = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
    many |= {f"xl/p{i}.xml": b"<p>%d</p>" % i * 50 for i in range(3 * precheck_mod._SEEN_KEPT)}
    precheck(form_bytes, name="表.xlsx")
    precheck(zip_of(many), name="表.xlsx")
    assert len(precheck_mod._SEEN) == precheck_mod._SEEN_KEPT
    inflates.clear()
    later: dict[str, bytes] = {}
    assert precheck(form_bytes, name="表.xlsx", parts=later) == ("xlsx", []) and later == first
    assert len(inflates) >= 10


def test_a_deferred_scan_checked_later_gives_what_a_scan_gives(tmp_path: Path, form_bytes: bytes) -> None:
    # collect scans with defer=True: spreadsheet files are read and pre-checked in the workers, mail and
    # archives are still opened here; checked() must then give exactly what the eager scan gives
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "城关街道.xlsx").write_bytes(form_bytes)
    (inbox / "空.xlsx").write_bytes(b"")
    (inbox / "坏.xls").write_bytes(b"not a workbook at all")
    (inbox / "截断.xlsx").write_bytes(h.truncated(form_bytes))
    (inbox / "照片.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    (inbox / "回执.zip").write_bytes(zip_of({"青山镇.xlsx": form_bytes, "说明.txt": "说明".encode()}))
    (inbox / "邮件.eml").write_bytes(h.mail([h.attachment("东湖街道.xlsx", form_bytes)]))

    def facts(c: Candidate) -> tuple:
        codes = [f.code for f in c.findings]
        return (c.path, c.name, c.data, c.sha256, c.kind, c.received, c.source, c.sender, codes, c.macro)

    eager = [facts(c) for c in scan(inbox)]
    deferred = list(scan(inbox, defer=True))
    unread = {c.path for c in deferred if c.location}
    assert unread == {"城关街道.xlsx", "空.xlsx", "坏.xls", "截断.xlsx"}  # left for the workers to read
    assert [facts(intake.checked(c)[0]) for c in deferred] == eager

    # the file changes between the scan and the check: what the check finds is what is reported
    late = {c.path: c for c in deferred}
    (inbox / "城关街道.xlsx").unlink()
    gone = intake.checked(late["城关街道.xlsx"])[0]
    # gone from this computer's disk: a local problem, not the unit's
    assert (gone.kind, [f.code for f in gone.findings]) == ("rejected", [Code.READ_LOCAL])
    (inbox / "空.xlsx").write_bytes(b"\0" * 2048)
    grown = intake.checked(late["空.xlsx"], limits=Limits(max_file=1024))[0]
    assert (grown.kind, [f.code for f in grown.findings]) == ("rejected", [Code.READ_TOO_LARGE])
