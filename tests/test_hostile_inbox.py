"""collect over an inbox of hostile and broken files mixed with good returns (tracker issue 4).

The inbox is built at test time from the sample county's own generated forms (filled as a unit fills
them) and the hostile cases of notes/hostile-inputs.md: 0-byte and disguised files, encrypted
containers, broken zips, zip bombs, DTDs, Strict OOXML, macros, owner/lock/hidden files, a symlink and a
FIFO, hostile e-mails, and returns whose text cells carry formulas, links and 40,000 characters. One
real `collect` over it must complete, give every bad file its code, count the good units exactly,
leave the inbox byte for byte as it was, and write outputs in which unit text is only ever text.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import hostile as h
import libreoffice as lo
import pytest
from openpyxl import load_workbook

from kepu_xl import make
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.findings import Severity
from kepu_xl.init import init_campaign
from kepu_xl.results import OUTCOMES
from kepu_xl.sample_returns import fill, values_for

NOW = datetime(2023, 6, 5, 9, 0)
RECEIVED = datetime(2023, 5, 29, 10, 0).timestamp()  # before the sample campaign's deadline
SEP = " → "

# Text a unit typed into text cells of an otherwise good return (D07). None may ever come back as a
# formula, a hyperlink or an external link in an output workbook.
HYPERLINK_TEXT = '=HYPERLINK("http://evil.example/x","点我")'
DDE_TEXT = "=cmd|' /C calc'!A0"
DETAIL_FORMULA_TEXT = '=HYPERLINK("http://evil.example/d","明细")'
URL_TEXT = "http://evil.example/share"
EXTERNAL_TEXT = "external:\\\\evil\\share\\a.xlsx"
LONG = 40_000  # characters, over Excel's 32,767
MARKERS = ("HYPERLINK", "cmd|", "evil.example", "evil\\share")


# -- the inbox --------------------------------------------------------------------------------------------


def good_values(ctx: Context, unit_id: str) -> dict[str, Any]:
    """The numbers a unit fills in: distinct per unit, passing every rule of the sample form."""
    unit = ctx.campaign.unit(unit_id)
    assert unit is not None
    return values_for(unit.seq, {})


def good_return(ctx: Context, unit_id: str, **cells: str) -> bytes:
    """The unit's own form filled as a unit fills it (openpyxl standing in for Excel)."""
    values = good_values(ctx, unit_id)
    data = fill(ctx, unit_id, values, detail_rows=values["activities"])
    if not cells:
        return data
    wb = load_workbook(io.BytesIO(data))
    for ref, text in cells.items():
        sheet, a1 = ref.split("!")
        cell = wb[sheet][a1]
        cell.value = text
        cell.data_type = "s"  # text typed after an apostrophe: a string cell, never a formula
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def hostile_text_return(ctx: Context) -> bytes:
    """D07's return: formulas, links and 40,000-character strings typed into its text cells.

    openpyxl clips strings to 32,767 characters when it saves, so the long ones are put into the
    package afterwards (a hand-made or non-Excel file can hold any length).
    """
    info, first = ctx.cells.info, ctx.cells.detail_first + 1  # 1-based row of the first detail row
    detail = ctx.spec.detail.sheet
    data = good_return(
        ctx,
        "D07",
        **{
            f"{ctx.spec.sheet}!{info['preparer'].a1}": HYPERLINK_TEXT,
            f"{ctx.spec.sheet}!{info['phone'].a1}": DDE_TEXT,
            f"{ctx.spec.sheet}!{info['note'].a1}": "NOTE-PLACEHOLDER",
            f"{detail}!B{first}": DETAIL_FORMULA_TEXT,
            f"{detail}!E{first}": "PLACE-PLACEHOLDER",
            f"{detail}!E{first + 1}": URL_TEXT,
            f"{detail}!E{first + 2}": EXTERNAL_TEXT,
        },
    )
    long_note = ("情况说明" + "很" * LONG).encode()
    long_place = ("地点" + "远" * LONG).encode()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        holders = [n for n in z.namelist() if re.search(rb"(NOTE|PLACE)-PLACEHOLDER", z.read(n))]
    assert len(holders) == 2, "the placeholders must be in the package (one per sheet)"
    return h.rezip(
        data,
        change={
            name: lambda b: b.replace(b"NOTE-PLACEHOLDER", long_note).replace(
                b"PLACE-PLACEHOLDER", long_place
            )
            for name in holders
        },
    )


def far_cells_return(ctx: Context) -> bytes:
    """T12's return with a cell at XFD1048576, one on row 2,000,000 and a <dimension> that lies."""
    data = good_return(ctx, "T12")
    part = h.sheet_part(data, ctx.spec.sheet)

    def edit(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:A1"/>', xml)
        far = (
            b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far</t></is></c></row>'
            b'<row r="2000000"><c r="A2000000"><v>1</v></c></row>'
        )
        assert b"</sheetData>" in xml
        return xml.replace(b"</sheetData>", far + b"</sheetData>")

    return h.rezip(data, change={part: edit})


def build_inbox(ctx: Context, inbox: Path) -> tuple[dict[str, tuple[str, list[str]]], set[str]]:
    """Write the inbox; returns ({report path: (outcome, codes)}, the unit ids whose returns are good)."""
    inbox.mkdir(parents=True, exist_ok=True)  # init_campaign makes an empty one
    base = good_return(ctx, "T01")  # a real return to break in every way
    main, detail = h.sheet_part(base, ctx.spec.sheet), h.sheet_part(base, ctx.spec.detail.sheet)
    expected: dict[str, tuple[str, list[str]]] = {}
    good: set[str] = set()

    def put(name: str, data: bytes) -> Path:
        path = inbox / name
        path.write_bytes(data)
        os.utime(path, (RECEIVED, RECEIVED))
        return path

    def bad(name: str, data: bytes, code: str, path: str | None = None) -> None:
        put(name, data)
        expected[path or name] = ("rejected", [code])

    def ok(
        name: str, unit_id: str, data: bytes, codes: list[str] | None = None, path: str | None = None
    ) -> None:
        put(name, data)
        expected[path or name] = ("used", codes or [])
        good.add(unit_id)

    # good returns, some delivered oddly
    ok("城关街道-统计表.xlsx", "T01", base)
    ok("东湖街道-统计表.xls", "T02", good_return(ctx, "T02"))  # an .xlsx named .xls: read by content
    ok(
        "马庄镇-统计表.xlsm",
        "T11",
        h.rezip(good_return(ctx, "T11"), add={"xl/vbaProject.bin": b"\xcc\x61VBA-never-run"}),
        ["READ_MACRO_IGNORED"],
    )
    ok("丰乐镇-统计表.xlsx", "T12", far_cells_return(ctx))
    ok("县生态环境分局-统计表.xlsx", "D07", hostile_text_return(ctx), ["AUDIT_TEXT_TRUNCATED"] * 2)
    ok("县应急管理局\x07回执\x1b.xlsx", "D09", good_return(ctx, "D09"))  # C0 characters in the file name
    ok(
        "回执合集.zip",
        "D10",
        h.zip_of({"../../县水利局-统计表.xlsx": good_return(ctx, "D10")}),
        path=f"回执合集.zip{SEP}县水利局-统计表.xlsx",
    )

    # byte-level: format, container, encryption
    bad("空文件.xlsx", b"", "READ_EMPTY")
    bad("CSV改名.xlsx", "单位,人数\r\n城关街道,12\r\n".encode("gbk"), "READ_WRONG_FORMAT")
    bad("网页另存.xls", b"<html><body><table><tr><td>12</td></tr></table></body></html>", "READ_WRONG_FORMAT")
    bad("Word改名.xlsx", h.docx(), "READ_WRONG_FORMAT")
    bad("照片改名.xls", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200), "READ_WRONG_FORMAT")
    bad("有打开密码.xlsx", h.encrypted_ooxml(), "READ_ENCRYPTED")
    bad("有打开密码.ods", h.ods_encrypted(), "READ_ENCRYPTED")
    bad("旧版有密码.xls", h.encrypted_xls(), "READ_LEGACY_FORMAT")
    bad("二进制工作簿.xlsb", h.xlsb(), "READ_XLSB")
    bad("严格格式.xlsx", h.strict(base), "READ_STRICT_OOXML")
    bad("截断.xlsx", h.truncated(base), "READ_CORRUPT")
    bad("校验和错.xlsx", h.bad_crc(base, main), "READ_CORRUPT")
    bad("普通压缩包改名.xlsx", h.zip_of({"说明.txt": "请查收".encode()}), "READ_CORRUPT")
    bad("大小造假.xlsx", h.forged_size(base), "READ_CORRUPT")
    bad("重名成员.xlsx", h.duplicate_member(base, main), "READ_CORRUPT")
    bad("乱码.xlsx", bytes(range(256)) * 16, "READ_CORRUPT")
    ebcdic = '<?xml version="1.0" encoding="cp500"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'.encode("cp500")
    bad("EBCDIC部件.xlsx", h.rezip(base, change={"docProps/app.xml": ebcdic}), "READ_CORRUPT")
    # zip limits: declared size, ratio, member count, shared strings
    bad("炸弹-解压后70MB.xlsx", h.big_member(base, main, 70 << 20), "READ_ZIP_LIMITS")
    bad("炸弹-压缩比.xlsx", h.big_member(base, "xl/media/fill.bin", 17 << 20), "READ_ZIP_LIMITS")
    bad("炸弹-成员数.xlsx", h.many_members(base, 1001), "READ_ZIP_LIMITS")
    bad("共享字符串过大.xlsx", h.huge_shared_strings(base, 21 << 20), "READ_ZIP_LIMITS")
    # DTDs and entities, wherever they hide
    bad("十亿笑.xlsx", h.with_dtd(base, main, h.BILLION_LAUGHS), "READ_XML_DTD")
    bad("XXE读passwd.xlsx", h.with_dtd(base, detail, h.XXE_PASSWD, b"&xxe;"), "READ_XML_DTD")
    utf32 = ('<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>').encode(
        "utf-32"
    )
    bad("UTF32带DTD.xlsx", h.rezip(base, change={"docProps/core.xml": utf32}), "READ_XML_DTD")
    hidden_xml = h.xml_with_dtd(b"<x>&xxe;</x>", h.XXE_PASSWD)
    bad(
        "DTD藏在非xml名部件.xlsx", h.rezip(base, add={"xl/worksheets/sheet9.dat": hidden_xml}), "READ_XML_DTD"
    )

    # names the scan skips silently: owner files, LibreOffice locks, hidden files
    put("~$城关街道-统计表.xlsx", b"\x0c\xe7\x8e\x8b\xe8\x8a\xb3" + bytes(158))
    put(".~lock.城关街道-统计表.xlsx#", ",王芳,PC-01,29.05.2023 10:00,file:///C:/Users/王芳;".encode())
    put(".隐藏回执.xlsx", good_return(ctx, "T03"))  # a good return, but hidden: never read
    # entries that are not regular files: reported, never opened
    os.symlink("/etc/passwd", inbox / "链接到passwd.xlsx")
    expected["链接到passwd.xlsx"] = ("ignored", ["READ_SKIPPED"])
    os.mkfifo(inbox / "管道.xlsx")  # openpyxl blocks forever on this
    expected["管道.xlsx"] = ("ignored", ["READ_SKIPPED"])

    # e-mail
    bad("超长邮件头.eml", h.slow_header(), "READ_EML")
    bad("千层嵌套.eml", h.nested_multipart(1200), "READ_EML")
    inner = h.mail([h.attachment("深处.xlsx", good_return(ctx, "T04"))])
    put("转发三次.eml", h.forward(inner, 3))
    expected[f"转发三次.eml{SEP}转发邮件-1"] = ("rejected", ["READ_TOO_DEEP"])
    put(
        "转发两次.eml",
        h.forward(h.mail([h.attachment("县市场监管局-统计表.xlsx", good_return(ctx, "D11"))]), 2),
    )
    expected[f"转发两次.eml{SEP}县市场监管局-统计表.xlsx"] = ("used", [])
    good.add("D11")
    put(
        "RFC2231文件名.eml",
        h.mail(
            [
                h.raw_part(
                    b"Content-Disposition: attachment;\r\n filename*0*=UTF-8''%E5%8E%BF%E6%95%99%E8%82%B2%E5%B1%80;"
                    b"\r\n filename*1*=-%E7%BB%9F%E8%AE%A1%E8%A1%A8.xlsx",
                    good_return(ctx, "D01"),
                )
            ]
        ),
    )
    expected[f"RFC2231文件名.eml{SEP}县教育局-统计表.xlsx"] = ("used", [])
    good.add("D01")
    words = "=?GB18030?B?" + base64.b64encode("县科协-统计表.xlsx".encode("gb18030")).decode() + "?="
    put(
        "GB18030文件名.eml",
        h.mail(
            [
                h.raw_part(
                    f'Content-Disposition: attachment; filename="{words}"'.encode(), good_return(ctx, "D02")
                )
            ]
        ),
    )
    expected[f"GB18030文件名.eml{SEP}县科协-统计表.xlsx"] = ("used", [])
    good.add("D02")
    put(
        "GBK原始文件名.eml",
        h.mail(
            [
                h.raw_part(
                    b'Content-Disposition: attachment; filename="'
                    + "县农业农村局-统计表.xlsx".encode("gbk")
                    + b'"',
                    good_return(ctx, "D03"),
                )
            ]
        ),
    )
    expected[f"GBK原始文件名.eml{SEP}县农业农村局-统计表.xlsx"] = ("used", [])
    good.add("D03")
    put(
        "路径穿越附件名.eml",
        h.mail(
            [
                h.raw_part(
                    b'Content-Disposition: attachment; filename="../../../../tmp/kepuxl-evil.xlsx"',
                    good_return(ctx, "D05"),
                )
            ]
        ),
    )
    expected[f"路径穿越附件名.eml{SEP}kepuxl-evil.xlsx"] = ("used", ["READ_ATTACHMENT_NAME"])
    good.add("D05")
    put(
        "base64损坏.eml",
        h.mail([h.broken_base64("破损.xlsx"), h.attachment("新集镇-统计表.xlsx", good_return(ctx, "T10"))]),
    )
    expected[f"base64损坏.eml{SEP}破损.xlsx"] = ("rejected", ["READ_ATTACHMENT"])
    expected[f"base64损坏.eml{SEP}新集镇-统计表.xlsx"] = ("used", [])
    good.add("T10")
    twice = good_return(ctx, "D13")
    put(
        "同一附件两次.eml",
        h.mail([h.attachment("县妇联-统计表.xlsx", twice), h.attachment("县妇联-统计表(1).xlsx", twice)]),
    )
    expected[f"同一附件两次.eml{SEP}县妇联-统计表.xlsx"] = ("used", [])
    expected[f"同一附件两次.eml{SEP}县妇联-统计表(1).xlsx"] = ("ignored", ["READ_DUPLICATE_ATTACHMENT"])
    good.add("D13")
    put("无文件名附件.eml", h.mail([h.raw_part(b"", good_return(ctx, "D08"), b"application/octet-stream")]))
    expected[f"无文件名附件.eml{SEP}附件-1"] = ("used", ["READ_NO_FILENAME"])
    good.add("D08")
    long_name = b'Content-Disposition: attachment; filename="' + b"=?utf-8?b?5byg?= " * 20_000 + b'"'
    put("附件名超长.eml", h.mail([h.raw_part(long_name, good_return(ctx, "T05"))]))
    expected[f"附件名超长.eml{SEP}附件-1"] = ("rejected", ["READ_ATTACHMENT"])

    # archives
    put("加密压缩包.zip", h.flag_encrypted(h.zip_of({"青山镇.xlsx": good_return(ctx, "T03")})))
    expected[f"加密压缩包.zip{SEP}青山镇.xlsx"] = ("rejected", ["READ_ENCRYPTED"])
    deep = h.zip_of({"柳河镇.xlsx": good_return(ctx, "T04")})
    for _ in range(3):
        deep = h.zip_of({"套.zip": deep})
    put("套娃压缩包.zip", deep)
    expected[f"套娃压缩包.zip{SEP}套.zip{SEP}套.zip{SEP}套.zip"] = ("rejected", ["READ_TOO_DEEP"])
    return expected, good


def fingerprint(root: Path) -> dict[str, tuple]:
    """Every entry under root: kind, sha256 (regular files), link target, size and mtime, from lstat."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            else:
                content = stat.S_IFMT(st.st_mode)
            out[str(path.relative_to(root))] = (content, st.st_size, st.st_mtime_ns)
    return out


class _Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging if anything blocks (opening the FIFO would block forever)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(*_: object) -> None:
        raise _Hang(f"blocked or took over {seconds} s (opened a FIFO?)")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs POSIX FIFOs and symlinks")
    folder = tmp_path_factory.mktemp("hostile") / "青溪县"
    config = init_campaign(folder)
    ctx = Context.load(config)
    inbox = folder / "inbox"
    expected, good = build_inbox(ctx, inbox)
    return {
        "folder": folder,
        "config": config,
        "ctx": ctx,
        "inbox": inbox,
        "expected": expected,
        "good": good,
    }


@pytest.fixture(scope="module")
def run(county: dict[str, Any]) -> dict[str, Any]:
    """One real collect over the inbox, outputs written; the inbox fingerprinted before and after."""
    before = fingerprint(county["inbox"])
    with deadline(240):
        report = collect(county["inbox"], county["config"], county["folder"] / "output", now=NOW)
    return {"report": report, "before": before, "after": fingerprint(county["inbox"])}


# -- the tests ---------------------------------------------------------------------------------------------


def test_the_inbox_is_hostile_enough(county: dict[str, Any]) -> None:
    hostile = [p for p, (outcome, codes) in county["expected"].items() if outcome != "used" or codes]
    skipped_silently = 3  # owner file, lock file, hidden file
    assert len(hostile) + skipped_silently >= 30
    assert len(county["good"]) >= 10


def test_every_file_gets_exactly_its_expected_code(county: dict[str, Any], run: dict[str, Any]) -> None:
    report = run["report"]
    got = {f.path: (f.outcome, [x.code.name for x in f.findings]) for f in report.files}
    assert got == county["expected"]
    assert len({f.path for f in report.files}) == len(report.files)  # exactly one outcome per file
    assert all(f.outcome in OUTCOMES for f in report.files)


def test_skipped_names_are_never_read(run: dict[str, Any]) -> None:
    paths = {f.path for f in run["report"].files}
    assert not any(p.startswith(("~$", ".~lock", ".隐藏")) for p in paths)


def test_messages_tell_the_clerk_what_to_ask_for(run: dict[str, Any]) -> None:
    for f in run["report"].findings:
        if f.code.name.startswith("READ_") and f.severity is Severity.ERROR:
            assert f.file and "请对方" in f.message, f  # located, and says what to ask the unit for
    by_path = {f.path: f for f in run["report"].files}
    assert "压缩比" in by_path["炸弹-压缩比.xlsx"].findings[0].message
    assert "共享字符串表" in by_path["共享字符串过大.xlsx"].findings[0].message
    assert "xl/worksheets/sheet9.dat" in by_path["DTD藏在非xml名部件.xlsx"].findings[0].message


def test_good_units_totals_are_exact(county: dict[str, Any], run: dict[str, Any]) -> None:
    report, ctx = run["report"], county["ctx"]
    by_unit = {u.unit.id: u for u in report.units}
    counted = {u.unit.id for u in report.units if u.counted}
    assert counted == county["good"]
    assert {k for k, u in by_unit.items() if u.status == "rejected"} == set()
    expected_totals = dict.fromkeys((f.id for f in ctx.spec.fields), 0.0)
    for unit_id in county["good"]:
        values = _with_totals(good_values(ctx, unit_id))
        assert by_unit[unit_id].values == pytest.approx(values), unit_id
        for key, value in values.items():
            expected_totals[key] += value
    assert report.totals == pytest.approx(expected_totals)


def test_inbox_is_byte_for_byte_unchanged(county: dict[str, Any], run: dict[str, Any]) -> None:
    assert run["after"] == run["before"]
    assert not Path("/tmp/kepuxl-evil.xlsx").exists()  # an attachment name is never a path


def _xlsx_outputs(report) -> list[Path]:
    paths = [Path(report.outputs["summary"]), *map(Path, report.outputs["feedback_files"])]
    assert paths[0].exists() and len(paths) >= 2  # the summary and at least D07's feedback form
    return paths


def test_unit_text_is_only_ever_text_in_outputs(run: dict[str, Any]) -> None:
    for path in _xlsx_outputs(run["report"]):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            assert not [n for n in names if "externalLink" in n or "hyperlink" in n.lower()], path
            for name in names:
                if not name.endswith((".xml", ".rels")):
                    continue
                xml = z.read(name)
                assert b"<hyperlink" not in xml and b'TargetMode="External"' not in xml, (path, name)
                assert b"/relationships/hyperlink" not in xml and b"externalLink" not in xml, (path, name)
                for formula in re.findall(rb"<f\b[^>]*>(.*?)</f>", xml, re.S):
                    text = formula.decode()
                    assert not any(m in text for m in MARKERS), (path, name, text)
                # XML 1.0 cannot carry C0 controls; xlsxwriter would escape them as _x0007_
                assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|_x00[01][0-9A-Fa-f]_", xml), (path, name)


def test_summary_is_readable_and_shows_the_text_as_text(county: dict[str, Any], run: dict[str, Any]) -> None:
    summary = Path(run["report"].outputs["summary"])
    wb = load_workbook(summary, read_only=True)
    texts = {
        cell.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for cell in row
        if getattr(cell, "data_type", None) == "s" and isinstance(cell.value, str)
    }
    wb.close()
    assert HYPERLINK_TEXT in texts and DDE_TEXT in texts  # written, and as strings
    clipped = [t for t in texts if t.startswith("情况说明很")]
    assert [len(t) for t in clipped] == [32_767]
    assert any("县应急管理局回执.xlsx" in t for t in texts)  # C0 characters stripped from the name
    d07 = next(u for u in run["report"].units if u.unit.id == "D07")
    truncated = [f for f in d07.findings if f.code.name == "AUDIT_TEXT_TRUNCATED"]
    assert [(f.sheet, f.cell) for f in truncated] == [
        (county["ctx"].spec.sheet, county["ctx"].cells.info["note"].a1),
        (county["ctx"].spec.detail.sheet, f"E{county['ctx'].cells.detail_first + 1}"),
    ]


def test_feedback_form_gives_the_text_back_as_text(county: dict[str, Any], run: dict[str, Any]) -> None:
    """D07's feedback form (its own form, prefilled to correct) holds what it typed, as strings."""
    ctx = county["ctx"]
    [path] = [p for p in run["report"].outputs["feedback_files"] if "县生态环境分局" in p]
    wb = load_workbook(path)
    main, detail, first = wb[ctx.spec.sheet], wb[ctx.spec.detail.sheet], ctx.cells.detail_first + 1
    cells = [
        main[ctx.cells.info["preparer"].a1],
        main[ctx.cells.info["phone"].a1],
        detail[f"B{first}"],
        detail[f"E{first + 1}"],
        detail[f"E{first + 2}"],
    ]
    assert [(c.value, c.data_type) for c in cells] == [
        (HYPERLINK_TEXT, "s"),
        (DDE_TEXT, "s"),
        (DETAIL_FORMULA_TEXT, "s"),
        (URL_TEXT, "s"),
        (EXTERNAL_TEXT, "s"),
    ]
    assert len(main[ctx.cells.info["note"].a1].value) == 32_767
    assert not main._hyperlinks and not detail._hyperlinks and not wb._external_links


def test_readme_lists_what_is_rejected(run: dict[str, Any]) -> None:
    """README's 安全与容错 section names real codes, and every READ_* code this inbox produces."""
    from kepu_xl.findings import Code

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### 安全与容错", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"`((?:READ|AUDIT)_[A-Z_]+)`", section))
    assert listed <= {c.name for c in Code}
    produced = {f.code.name for f in run["report"].findings if f.code.name.startswith("READ_")}
    assert produced <= listed, produced - listed


def test_xml_defences_are_never_switched_off(tmp_path: Path) -> None:
    """Behind the byte pre-check (a DTD never reaches a parser), the readers' parser itself loads no DTD,
    expands no entity and reads no file; and no code turns an XML defence off."""
    from lxml import etree

    from kepu_xl.book import PARSER

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET", encoding="utf-8")
    xml = f'<!DOCTYPE r [<!ENTITY a "EXPANDED"><!ENTITY f SYSTEM "{secret.as_uri()}">]><r>&a;&f;</r>'
    text = "".join(etree.fromstring(xml.encode(), PARSER).itertext())
    assert "EXPANDED" not in text and "SECRET" not in text
    package = Path(make.__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for switch in ("OPENPYXL_DEFUSEDXML", "resolve_entities=True", "load_dtd=True", "huge_tree=True"):
            assert switch not in text, (source.name, switch)


def test_absurd_numbers_in_ods_are_text() -> None:
    """An OpenDocument float cell holding INF/NaN/1E+400 comes back as text (audit: "not a number")."""
    from kepu_xl.book_legacy import load_ods

    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
    )
    cells = (
        "".join(
            f'<table:table-cell office:value-type="float" office:value="{v}"/>'
            for v in ("INF", "NaN", "1E+400", "-inf", "12")
        )
        + '<table:table-cell office:value-type="time" office:time-value="PT'
        + "9" * 400
        + 'H"/>'
    )
    content = (
        f'<?xml version="1.0"?><office:document-content {ns}><office:body><office:spreadsheet>'
        f'<table:table table:name="S"><table:table-row>{cells}</table:table-row></table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    data = h.zip_of(
        {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": content.encode()}
    )
    row = load_ods(data, {"S": (0, 5)}).sheets["S"].cells
    assert [(row[(0, c)].value, row[(0, c)].kind) for c in range(5)] == [
        ("INF", "s"),
        ("NaN", "s"),
        ("1E+400", "s"),
        ("-inf", "s"),
        (12, "n"),
    ]
    assert row[(0, 5)].kind == "s"  # a duration of 10^400 hours is not a number either


def test_json_report_is_complete(run: dict[str, Any]) -> None:
    data = json.loads(json.dumps(run["report"].to_dict(), default=str))
    assert {f["path"] for f in data["files"]} == {f.path for f in run["report"].files}
    assert all(f["outcome"] in OUTCOMES for f in data["files"])


FAILING_WRITE = r"""
import resource, signal, sys
from pathlib import Path
from kepu_xl.collection import collect
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[4]), int(sys.argv[4])))
collect(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
"""


def test_a_failed_write_leaves_the_previous_summary_intact(tmp_path: Path) -> None:
    """A real failed write (the file-size limit of the OS, which root cannot bypass), in a child process."""
    folder = tmp_path / "c"
    config = init_campaign(folder)
    ctx = Context.load(config)
    (folder / "inbox" / "城关街道.xlsx").write_bytes(good_return(ctx, "T01"))
    first = collect(folder / "inbox", config, folder / "output", now=NOW)
    summary = Path(first.outputs["summary"])
    before = hashlib.sha256(summary.read_bytes()).hexdigest()
    (folder / "inbox" / "东湖街道.xlsx").write_bytes(good_return(ctx, "T02"))  # the new summary differs
    limit = summary.stat().st_size // 2
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            FAILING_WRITE,
            str(folder / "inbox"),
            str(config),
            str(folder / "output"),
            str(limit),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "File too large" in proc.stderr, proc.stderr[-2000:]
    assert hashlib.sha256(summary.read_bytes()).hexdigest() == before
    assert not list((folder / "output").glob(".kepuxl-*"))  # no half-written temp file left behind
    with contextlib.closing(sqlite3.connect(folder / ".kepuxl" / "ledger.sqlite")) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)  # the failed run is not recorded


# -- cases that need a real office suite, and known failures ------------------------------------------------


def _patch_workbook_stream(xls: bytes, patch: Callable[[bytearray], None]) -> bytes:
    """The same .xls with its Workbook stream changed in place by `patch(bytearray)` (same size)."""
    import olefile

    ole = olefile.OleFileIO(io.BytesIO(xls), write_mode=True)
    stream = bytearray(ole.openstream("Workbook").read())
    patch(stream)
    ole.write_stream("Workbook", bytes(stream))
    ole.fp.seek(0)
    out = ole.fp.read()
    ole.close()
    return out


def _records(stream: bytearray) -> Iterator[tuple[int, int, int]]:
    pos = 0
    while pos + 4 <= len(stream):
        rtype, length = struct.unpack_from("<HH", stream, pos)
        yield rtype, pos, length
        pos += 4 + length


def _encrypt_in_place(stream: bytearray) -> None:
    """Turn the record right after the globals BOF into FILEPASS: where an encrypted file has it."""
    (_, _, bof_len), (_, pos, _) = list(_records(stream))[:2]
    assert struct.unpack_from("<H", stream, 0)[0] == 0x0809 and pos == 4 + bof_len
    struct.pack_into("<H", stream, pos, 0x002F)


def _number_to_infinity(row: int, col: int) -> Callable[[bytearray], None]:
    """Set every RK/NUMBER cell at (row, col) to +inf (RK 0x7FF00000 decodes to the double +inf)."""

    def patch(stream: bytearray) -> None:
        hits = 0
        for rtype, pos, _ in _records(stream):
            if rtype in (0x027E, 0x0203) and struct.unpack_from("<HH", stream, pos + 4) == (row, col):
                if rtype == 0x027E:
                    struct.pack_into("<I", stream, pos + 10, 0x7FF00000)
                else:
                    struct.pack_into("<d", stream, pos + 10, float("inf"))
                hits += 1
        assert hits, "no number cell at that position"

    return patch


@lo.requires_libreoffice
def test_real_xls_and_ods_returns_are_read_by_content(tmp_path: Path) -> None:
    """LibreOffice's .xls named .xlsx and .et, its .ods, and hostile edits of them, in one collect."""
    folder = tmp_path / "c"
    config = init_campaign(folder)
    ctx = Context.load(config)
    src, out, inbox = tmp_path / "src", tmp_path / "out", folder / "inbox"
    src.mkdir()
    converted = {}
    # Excel's _x0007_ escape: LibreOffice decodes it and writes a real BEL into the .xls text cell
    preparer = {f"{ctx.spec.sheet}!{ctx.cells.info['preparer'].a1}": "王_x0007_芳_x001B_"}
    for unit_id, fmt in (("T01", "xls"), ("T02", "xls"), ("T03", "ods"), ("T04", "xls")):
        (src / f"{unit_id}.xlsx").write_bytes(
            good_return(ctx, unit_id, **(preparer if unit_id == "T01" else {}))
        )
        converted[unit_id] = lo.convert(src / f"{unit_id}.xlsx", fmt, out).read_bytes()
    activities = ctx.cells.fields["activities"]
    files = {
        "城关街道.xlsx": converted["T01"],  # a real .xls named .xlsx
        "东湖街道.et": converted["T02"],  # WPS's .et is BIFF inside, too
        "青山镇.ods": converted["T03"],
        "加密旧版.xls": _patch_workbook_stream(converted["T01"], _encrypt_in_place),
        "无穷大.xls": _patch_workbook_stream(
            converted["T04"], _number_to_infinity(activities.row, activities.col)
        ),
    }
    for name, data in files.items():
        (inbox / name).write_bytes(data)
        os.utime(inbox / name, (RECEIVED, RECEIVED))
    before = fingerprint(inbox)
    with deadline(240):
        report = collect(inbox, config, folder / "output", now=NOW)
    got = {f.path: (f.kind, f.outcome, [x.code.name for x in f.findings]) for f in report.files}
    assert got == {
        "城关街道.xlsx": ("xls", "used", []),
        "东湖街道.et": ("xls", "used", []),
        "青山镇.ods": ("ods", "used", []),
        "加密旧版.xls": ("rejected", "rejected", ["READ_LEGACY_FORMAT"]),
        "无穷大.xls": ("xls", "rejected", ["AUDIT_UNPARSED"]),  # inf is "not a number", never arithmetic
    }
    by_unit = {u.unit.id: u for u in report.units}
    for unit_id in ("T01", "T02", "T03"):
        assert by_unit[unit_id].values == pytest.approx(_with_totals(good_values(ctx, unit_id))), unit_id
    assert fingerprint(inbox) == before
    assert by_unit["T01"].info["preparer"] == "王\x07芳\x1b"  # the reader keeps what the file holds ...
    with zipfile.ZipFile(report.outputs["summary"]) as z:  # ... the summary never carries a C0 control
        xml = b"".join(z.read(n) for n in z.namelist() if n.endswith(".xml"))
    assert "王芳".encode() in xml
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|_x00[01][0-9A-Fa-f]_", xml)


def _with_totals(values: dict[str, Any]) -> dict[str, Any]:
    funds = ("fund_government", "fund_enterprise", "fund_in_kind", "fund_other")
    staff = ("staff_fulltime", "staff_scientists", "staff_volunteers", "staff_other")
    return {
        **values,
        "fund_total": sum(values[k] for k in funds),
        "staff_total": sum(values[k] for k in staff),
    }


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("activities", "NaN", "n"),
        ("activities", "INF", "n"),
        ("activities", "1E+400", "n"),
        ("fund_government", "1e308", "n"),
        pytest.param("activities", "1" + "0" * 400, "s", id="400-digit-text"),
        ("activities", "-inf", "n"),
        ("activities", "1e300", "n"),
    ],
)
def test_absurd_number_is_a_finding_not_a_crash(tmp_path: Path, field: str, value: str, kind: str) -> None:
    folder = tmp_path / "c"
    config = init_campaign(folder)
    ctx = Context.load(config)
    cell = ctx.cells.fields[field].a1
    data = good_return(ctx, "T01")
    if kind == "n":
        part = h.sheet_part(data, ctx.spec.sheet)
        pattern = rb'(<c r="' + cell.encode() + rb'"[^>]*>)<v>[^<]*</v>'
        data = h.rezip(
            data, change={part: lambda b: re.sub(pattern, rb"\1<v>" + value.encode() + b"</v>", b)}
        )
    else:
        data = good_return(ctx, "T01", **{f"{ctx.spec.sheet}!{cell}": value})
    (folder / "inbox" / "城关街道.xlsx").write_bytes(data)
    (folder / "inbox" / "东湖街道.xlsx").write_bytes(good_return(ctx, "T02"))
    report = collect(folder / "inbox", config, write=False, now=NOW)
    files = {f.path: f for f in report.files}
    assert (files["东湖街道.xlsx"].outcome, files["东湖街道.xlsx"].findings) == ("used", [])
    bad = files["城关街道.xlsx"]
    codes = [x.code.name for x in bad.findings]
    at_cell = [x.code.name for x in bad.findings if x.cell == cell]
    assert bad.outcome == "rejected" and not [c for c in codes if c.startswith("READ_")], codes
    assert at_cell in (["AUDIT_UNPARSED"], ["AUDIT_OUT_OF_RANGE"], ["AUDIT_NEGATIVE"]), codes
