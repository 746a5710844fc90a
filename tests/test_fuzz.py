"""Fuzzing the intake + per-file reading path with mutated real forms and mutated e-mails (hypothesis).

Every example starts from real bytes: the sample county's generated form filled as a unit fills it,
and a real e-mail carrying it (as an attachment, inside a zip, and forwarded). Mutations work at three
levels: raw bytes (flips, cuts, insertions), zip members (XML edits with hostile tokens, dropped,
renamed, duplicated, lying sizes, the encryption flag) and MIME structure. Each mutant goes through
`intake.scan` and `collect.process` (then `collect.resolve`), and must come out with no exception, at
least one candidate per inbox file, exactly one outcome per candidate, and bounded memory.

Runs are derandomized (the same examples on every run with one Hypothesis release, so CI is stable; another
release draws other examples, so no finding code may rely on these alone: tests/every_code.py) and capped at a
few hundred examples in total. Known failure outside intake, kept out of these strategies and tested on its own in
test_hostile_inbox.py: a number cell holding NaN/INF/1E+400 (book.py/audit.py).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import resource
import signal
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import hostile as h
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kepu_xl import collection as collect_mod
from kepu_xl import intake
from kepu_xl.context import Context
from kepu_xl.init import init_campaign
from kepu_xl.results import OUTCOMES
from kepu_xl.sample_returns import fill, values_for

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # duplicates are a mutation

NOW = datetime(2023, 6, 5, 9, 0)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples on every run of one Hypothesis release: a CI failure is reproducible
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RSS_GROWTH_LIMIT = 256 << 20  # bytes: the whole run may not raise the process's peak by more

# Fragments a hostile or broken producer puts into package parts (never NaN/INF: see the module doc).
XML_TOKENS = [
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE x SYSTEM "file:///etc/passwd">',
    b"&a;",
    b"&#0;",
    b"<![CDATA[x]]>",
    b'<c r="XFD1048576"><v>1</v></c>',
    b'<row r="1048577"><c r="A1048577"><v>1</v></c></row>',
    b'<c r="A0" t="s"><v>99999</v></c>',
    b'<c r="D5" t="e"><v>#DIV/0!</v></c>',
    b'<c r="D5" t="inlineStr"><is><t>=HYPERLINK("http://x","y")</t></is></c>',
    b'<c r="D5"><f>SUM(A1:A9)</f></c>',
    b'<c r="D5" s="99999"><v>45000</v></c>',
    b'<c r="D5" t="b"><v>1</v></c>',
    b"<v>-0</v>",
    b"<v>1e20</v>",
    b"<v>12.000000001</v>",
    b' t="str"',
    b' r=""',
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\x1b",
    b"_x0007_",
    b"</sheetData>",
    b"</worksheet>",
    b"<sheet/>",
    b'<sheet name="_meta" sheetId="9" r:id="rId99"/>',
    b'<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="9" name="kepuxl:unit"><vt:lpwstr>T02</vt:lpwstr></property>',
    b"x" * 5000,
]
MAIL_TOKENS = [
    b"\r\n",
    b"\r\n\r\n",
    b"--BOUND\r\n",
    b"--BOUND--\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=BOUND\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b'Content-Disposition: attachment; filename="=?gb18030?B?1eLKx7Hto6g=?="\r\n',
    b"Content-Disposition: attachment; filename*0*=UTF-8''%E4%B8; filename*1*=%AD.xlsx\r\n",
    'Content-Disposition: attachment; filename="三班.xlsx"\r\n'.encode("gbk"),
    b'filename="../../../etc/cron.d/x.xlsx"',
    b"Subject: " + b"=?utf-8?b?5byg?= " * 600 + b"\r\n",
    b"X-Pad: " + b"(" * 5000 + b"\r\n",
    b"=\r\n",
    b"!!!*",
    b"From \r\n",
]


class Blob(bytes):
    """Bytes with a short repr: hypothesis prints strategy arguments when it reports a failure."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


# -- the corpus: real bytes, made once per module --------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz") / "c"
    config = init_campaign(folder)
    ctx = Context.load(config)
    unit = ctx.campaign.unit("T01")
    assert unit is not None
    values = values_for(unit.seq, {})
    form = fill(ctx, "T01", values, detail_rows=values["activities"])

    def other(unit_id: str) -> bytes:
        v = values_for(ctx.campaign.unit(unit_id).seq, {})
        return fill(ctx, unit_id, v, detail_rows=v["activities"])

    inner = h.mail([h.attachment("东湖街道.xlsx", other("T02"))], sender="东湖 <donghu@qingxi.example.org>")
    message = h.mail(
        [
            h.attachment("城关街道-统计表.xlsx", form),
            h.attachment("回执.zip", h.zip_of({"子目录/青山镇.xlsx": other("T03")})),
            b"Content-Type: message/rfc822\r\n\r\n" + inner,
        ]
    )
    main, meta = h.sheet_part(form, ctx.spec.sheet), h.sheet_part(form, "_meta")
    cells = [*ctx.cells.fields.values(), *ctx.cells.info.values(), ctx.cells.unit]
    targets = tuple((main, c.a1) for c in cells) + tuple((meta, f"B{r}") for r in range(1, 9))
    return {"ctx": ctx, "form": Blob(form), "mail": Blob(message), "targets": targets}


# -- mutations ---------------------------------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def _flip(draw: Draw, data: bytes) -> bytes:
    if not data:
        return data
    pos = draw(st.integers(0, len(data) - 1))
    return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]


def _cut(draw: Draw, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def _insert(draw: Draw, data: bytes, tokens: list[bytes]) -> bytes:
    pos = draw(st.integers(0, len(data)))
    blob = draw(st.sampled_from(tokens) | st.binary(max_size=32))
    return data[:pos] + blob + data[pos:]


def _delete(draw: Draw, data: bytes) -> bytes:
    if not data:
        return data
    start = draw(st.integers(0, len(data) - 1))
    return data[:start] + data[start + draw(st.integers(1, 512)) :]


def _member_op(draw: Draw, data: bytes) -> bytes:
    """One edit of the package at the level of its parts (skipped when the zip no longer opens)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except Exception:
        return data
    if not infos:
        return data
    info = draw(st.sampled_from(infos))
    name = info.filename
    op = draw(
        st.sampled_from(["edit", "edit", "edit", "drop", "rename", "duplicate", "size", "flag", "stored"])
    )
    try:
        if op == "edit":
            edit = draw(st.sampled_from([_flip, _cut, _delete, "token"]))

            def change(old: bytes) -> bytes:
                return _insert(draw, old, XML_TOKENS) if edit == "token" else edit(draw, old)

            return h.rezip(data, change={name: change})
        if op == "drop":
            return h.rezip(data, drop=(name,))
        if op == "rename":
            new = draw(
                st.sampled_from(
                    ["xl/worksheets/sheet9.xml", "../evil.xml", "XL/WORKBOOK.XML", "", name + "/"]
                )
            )
            return h.rezip(data, drop=(name,), add={new: h.member(data, name)})
        if op == "duplicate":
            return h.duplicate_member(data, name)
        if op == "size":
            size = draw(
                st.sampled_from([0, 1, 4096, info.file_size - 1, info.file_size + 1, 2**31, 2**32 - 1])
            )
            return h.declare_size(data, name, max(0, size))
        if op == "flag":
            return h.flag_encrypted(data)
        out = io.BytesIO()  # "stored": every member uncompressed (a legal, rarer package)
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
            for i in src.infolist():
                dst.writestr(i.filename, src.read(i))
        return out.getvalue()
    except Exception:  # the builder could not apply this edit to an already broken package
        return data


_CELL = re.compile(rb"<c\b[^>]*?(?:/>|>.*?</c>)", re.S)
_XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff"), max_size=40
)


def _xml_escape(text: str) -> bytes:
    text = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def _cell_op(draw: Draw, data: bytes, targets: tuple[tuple[str, str], ...]) -> bytes:
    """Rewrite one cell as another well-formed cell: the reader and the audit see it. Half the time the
    cell is one the form reads (`targets`: part and A1 of its input and identity cells)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            sheets = sorted(n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml"))
            aimed = draw(st.sampled_from(targets)) if targets and draw(st.booleans()) else None
            part = aimed[0] if aimed else (draw(st.sampled_from(sheets)) if sheets else "")
            xml = z.read(part) if part else b""
    except Exception:  # an already broken package: nothing to edit at the cell level
        return data
    cells = [m for m in _CELL.finditer(xml) if aimed is None or f' r="{aimed[1]}"'.encode() in m.group(0)]
    if not cells:
        return data
    m = draw(st.sampled_from(cells))
    ref = re.search(rb'\br="([^"]*)"', m.group(0))
    r = ref.group(1) if ref else b"A1"
    number = draw(
        st.integers(-(10**12), 10**12).map(str)
        | st.floats(-1e12, 1e12, allow_nan=False).map(repr)
        | st.sampled_from(["-0", "0.1", "1E+3", "12.0000001", "4.5E-7"])
    ).encode()
    text = _xml_escape(draw(_XML_TEXT))
    new = draw(
        st.sampled_from(
            [
                b'<c r="%s"><v>%s</v></c>' % (r, number),
                b'<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (r, text),
                b'<c r="%s" t="str"><f>A1+1</f><v>%s</v></c>' % (r, text),
                b'<c r="%s"><f>SUM(D5:D6)</f></c>' % r,
                b'<c r="%s" t="e"><v>#N/A</v></c>' % r,
                b'<c r="%s" t="b"><v>%s</v></c>' % (r, number),
                b'<c r="%s" t="s"><v>%s</v></c>' % (r, number),
                b'<c r="%s" s="%s"><v>%s</v></c>' % (r, number[:6], number),
                b'<c r="%s"/>' % r,
                b"",
            ]
        )
    )
    try:
        return h.rezip(data, change={part: xml[: m.start()] + new + xml[m.end() :]})
    except Exception:
        return data


@st.composite
def mutated_form(draw: Draw, form: bytes, targets: tuple[tuple[str, str], ...]) -> bytes:
    """Mostly well-formed packages with edited parts (they reach the reader and the audit); some byte-level
    damage on top (it mostly reaches the pre-check)."""
    data = form
    for _ in range(draw(st.integers(1, 4))):
        cell_level = draw(st.integers(0, 4)) < 3
        data = _cell_op(draw, data, targets) if cell_level else _member_op(draw, data)
    if draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from([_flip, _flip, _cut, _delete, "insert"]))
            data = _insert(draw, data, XML_TOKENS) if op == "insert" else op(draw, data)
    return data


@st.composite
def mutated_mail(draw: Draw, message: bytes) -> bytes:
    data = message
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from([_flip, _cut, _delete, "insert", "insert", "wrap", "reencode"]))
        if op == "insert":
            data = _insert(draw, data, MAIL_TOKENS)
        elif op == "wrap":  # forward the whole thing again
            data = h.mail([b"Content-Type: message/rfc822\r\n\r\n" + data], boundary=f"W{len(data)}")
        elif op == "reencode":  # a base64 forward, as some webmails send it
            data = h.mail(
                [
                    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    + base64.encodebytes(data)
                ]
            )
        else:
            data = op(draw, data)
    return data


# -- the checks --------------------------------------------------------------------------------------------


def _rss() -> int:
    """Resident memory now, in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


@contextlib.contextmanager
def bounded(seconds: int) -> Iterator[None]:
    """The whole fuzz run may neither hang nor raise the memory peak by more than RSS_GROWTH_LIMIT."""
    peak, now = _peak(), _rss()

    def _raise(*_: object) -> None:
        raise TimeoutError(f"fuzzing took over {seconds} s: something hangs")

    old = signal.signal(signal.SIGALRM, _raise) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.alarm(seconds)
    try:
        yield
    finally:
        if old is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    assert _peak() - peak < RSS_GROWTH_LIMIT, f"peak RSS rose by {(_peak() - peak) >> 20} MB"
    assert _rss() - now < RSS_GROWTH_LIMIT // 2, f"RSS grew by {(_rss() - now) >> 20} MB and stayed"


def check_one_inbox_file(ctx: Context, name: str, data: bytes) -> list[str]:
    """`data` saved as inbox/`name`, scanned, every candidate processed, then resolved; returns outcomes."""
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp)
        (inbox / name).write_bytes(data)
        candidates = list(intake.scan(inbox))
        assert candidates, "a file must never vanish: at least one candidate, one outcome"
        paths = [c.path for c in candidates]
        assert len(set(paths)) == len(paths), paths
        assert all(p == name or p.startswith(name + intake.SEP) or p.startswith(name + "#") for p in paths)
        processed = [collect_mod.process(c, ctx) for c in candidates]
        outcomes = [p.file.outcome for p in processed]
        assert all(o in OUTCOMES for o in outcomes), outcomes
        for c, p in zip(candidates, processed, strict=True):
            assert p.file.path == c.path and all(f.code.name and f.message for f in p.file.findings)
            if p.file.outcome == "rejected":  # a rejected file always says why
                assert p.file.has_error
        report = collect_mod.resolve(ctx, processed, NOW)
        assert sorted(f.path for f in report.files) == sorted(paths)
        return outcomes


# -- the tests ---------------------------------------------------------------------------------------------


def test_the_unmutated_corpus_is_read(corpus: dict[str, Any]) -> None:
    """The starting points are good: without mutation every copy of the return is used."""
    assert check_one_inbox_file(corpus["ctx"], "回执.xlsx", corpus["form"]) == ["used"]
    assert check_one_inbox_file(corpus["ctx"], "回执.eml", corpus["mail"]) == ["used"] * 3


def test_fuzz_forms(corpus: dict[str, Any]) -> None:
    seen: dict[str, int] = {}

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        mutant = data.draw(mutated_form(corpus["form"], corpus["targets"]))
        name = data.draw(st.sampled_from(["回执.xlsx", "回执.xls", "回执.ods", "回执.zip", "回执"]))
        for outcome in check_one_inbox_file(corpus["ctx"], name, mutant):
            seen[outcome] = seen.get(outcome, 0) + 1

    with bounded(300):
        run()
    # the mutations reach both ends: files rejected by the pre-check and the reader, and files still read
    assert seen.get("rejected", 0) > 10 and seen.get("used", 0) + seen.get("ignored", 0) > 5, seen


def test_fuzz_mails(corpus: dict[str, Any]) -> None:
    seen: dict[str, int] = {}

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        mutant = data.draw(mutated_mail(corpus["mail"]))
        name = data.draw(st.sampled_from(["回执.eml", "收件箱.mbox", "回执.txt"]))
        for outcome in check_one_inbox_file(corpus["ctx"], name, mutant):
            seen[outcome] = seen.get(outcome, 0) + 1

    with bounded(300):
        run()
    assert seen.get("used", 0) > 10 and seen.get("rejected", 0) + seen.get("ignored", 0) > 10, seen
