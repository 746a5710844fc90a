"""Forms spliced from pieces (xlsx_out.splice): one valid deflate stream per zip member, the fixed runs of
a campaign deflated once, the same parts as a direct build — checked with zlib, zipfile, openpyxl and
real LibreOffice — and `helpers.zip_differences`, which the template tests rely on, failing when it must.
"""

from __future__ import annotations

import io
import random
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import libreoffice as lo
import openpyxl
import pytest
from helpers import zip_differences

from kepu_xl import xlsx_out
from kepu_xl.campaign import Unit
from kepu_xl.context import Context
from kepu_xl.findings import Code, Finding, Severity
from kepu_xl.forms_writer import Prefill, build_form
from kepu_xl.xlsx_out import UNIT_DEFLATE_MIN, Fixed, Xml, splice, stored_blocks

RNG = random.Random(17)
XML = b'<row r="5" spans="1:6"><c r="A5" s="3" t="s"><v>12</v></c><c r="B5" s="9"><f>SUM(D5:D9)</f>' * 40
NOISE = RNG.randbytes(70_000)  # incompressible: deflated it is stored, in blocks of at most 65,535 bytes

PIECES = {
    "fixed runs only": [Fixed.of(XML), Fixed.of(XML[:300])],
    "the unit's bytes only": [b"\xe5\x8e\xbf\xe6\x95\x99\xe8\x82\xb2\xe5\xb1\x80", b"", b"300"],
    "nothing": [],
    "alternating, short and long": [
        Fixed.of(XML),
        b"CE4B",
        Fixed.of(XML[:200]),
        b"",
        Fixed.of(b"<a/>"),  # shorter than FIXED_MIN: stored with the unit's bytes
        b"x" * UNIT_DEFLATE_MIN,  # deflated per form
        Fixed.of(NOISE),
        NOISE[:66_000],  # more than one stored block's worth, deflated (and stored by zlib)
        Fixed.of(XML),
    ],
    "a fixed run at each end": [Fixed.of(XML), b"<v>1</v>", Fixed.of(XML[::-1])],
}


@pytest.mark.parametrize("pieces", PIECES.values(), ids=PIECES.keys())
def test_a_spliced_member_is_one_deflate_stream_of_its_pieces(pieces: list[Fixed | bytes]) -> None:
    raw = b"".join(p.raw if isinstance(p, Fixed) else p for p in pieces)
    member = splice(pieces)
    assert zlib.decompress(member.data, -15) == raw
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(member.data) == raw and inflater.eof and inflater.unused_data == b""
    assert (member.size, member.crc) == (len(raw), zlib.crc32(raw))
    # in a zip: the same entry as zipfile's compression of the same bytes, and the same bytes inflated
    spliced = Xml.package([("xl/worksheets/sheet1.xml", member), ("单位.xml", Fixed.of(XML).raw)])
    plain = Xml.package([("xl/worksheets/sheet1.xml", raw), ("单位.xml", XML)])
    assert zip_differences(spliced, plain) == []
    # where zipfile writes the zips (a Python whose zipfile `_zip` does not match): inflated, then zipped
    assert zip_differences(xlsx_out._zipfile([("a.xml", member)]), Xml.package([("a.xml", raw)])) == []
    with zipfile.ZipFile(io.BytesIO(spliced)) as z:
        assert z.testzip() is None and z.read("xl/worksheets/sheet1.xml") == raw


def test_fixed_runs_end_on_a_byte_boundary_and_are_not_final() -> None:
    for run in (XML, XML[:200], b"x" * 5000):
        piece = Fixed.of(run)
        assert piece.blocks.endswith(b"\x00\x00\xff\xff")  # the empty stored block of a sync flush
        inflater = zlib.decompressobj(-15)
        assert inflater.decompress(piece.blocks) == run and not inflater.eof
    # too short to deflate alone, or not shortened by deflating: stored with the bytes next to it
    assert Fixed.of(b"<a/>").blocks == Fixed.of(NOISE).blocks == b""
    blocks = stored_blocks(NOISE * 2)  # 140,000 bytes: three stored blocks
    assert len(blocks) == len(NOISE) * 2 + 3 * 5
    assert zlib.decompress(blocks + b"\x01\x00\x00\xff\xff", -15) == NOISE * 2


def test_a_broken_splice_is_caught_by_the_comparison() -> None:
    raw = XML + b"CE4B" + XML
    whole = splice([Fixed.of(XML), b"CE4B", Fixed.of(XML)])
    unfinished = replace(whole, data=whole.data.removesuffix(b"\x01\x00\x00\xff\xff"))
    expected = Xml.package([("a.xml", raw)])
    assert zip_differences(Xml.package([("a.xml", whole)]), expected) == []
    with pytest.raises(AssertionError, match="not one whole deflate stream"):
        zip_differences(Xml.package([("a.xml", unfinished)]), expected)


# -- the comparison the template tests use ------------------------------------------------------------------


def _rezip(data: bytes, change=lambda info, body: (info, body), order=lambda infos: infos) -> bytes:
    """The same zip written again by zipfile, each member through `change`, in `order`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in order(src.infolist()):
            new_info, body = change(info, src.read(info))
            dst.writestr(new_info, body)
    return out.getvalue()


def test_zip_differences_sees_one_inflated_byte(ctx: Context) -> None:
    unit = ctx.campaign.units[0]
    form = ctx.form_bytes(unit)  # from the template: spliced
    direct = build_form(ctx.spec, ctx.cells, ctx.campaign, unit, ctx.identity(unit), ctx.password(unit))
    assert form != direct and zip_differences(form, direct) == []  # compressed differently, the same parts
    assert zip_differences(_rezip(direct), direct) == []  # zipfile's own compression of them: the same too

    def one_byte(info: zipfile.ZipInfo, body: bytes) -> tuple[zipfile.ZipInfo, bytes]:
        if info.filename != "xl/sharedStrings.xml":
            return info, body
        at = body.index(unit.name.encode())
        return info, body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]

    with zipfile.ZipFile(io.BytesIO(direct)) as z:
        at = z.read("xl/sharedStrings.xml").index(unit.name.encode())
    crc, content = zip_differences(_rezip(form, one_byte), direct)  # nothing else differs
    assert crc.startswith("xl/sharedStrings.xml: CRC ")
    assert content.startswith(f"xl/sharedStrings.xml: inflated bytes differ at {at}: ")


@pytest.mark.parametrize(
    ("field", "value"), [("date_time", (2023, 5, 20, 9, 0, 0)), ("external_attr", 0o644 << 16)]
)
def test_zip_differences_sees_dates_and_attributes(ctx: Context, field: str, value: object) -> None:
    form = ctx.form_bytes(ctx.campaign.units[0])

    def changed(info: zipfile.ZipInfo, body: bytes) -> tuple[zipfile.ZipInfo, bytes]:
        if info.filename == "docProps/core.xml":
            setattr(info, field, value)
        return info, body

    with zipfile.ZipFile(io.BytesIO(form)) as z:
        before = getattr(z.getinfo("docProps/core.xml"), field)
    assert zip_differences(_rezip(form), form) == []
    assert zip_differences(_rezip(form, changed), form) == [
        f"docProps/core.xml: {field} {value!r} != {before!r}"
    ]


def test_zip_differences_sees_the_order_of_members(ctx: Context) -> None:
    form = ctx.form_bytes(ctx.campaign.units[0])
    [diff] = zip_differences(_rezip(form, order=lambda infos: infos[::-1]), form)
    assert diff.startswith("members ")


# -- no fixed run deflated per form -------------------------------------------------------------------------


def _count_deflates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every input zlib deflates from now on (zlib.compress, zlib.compressobj().compress)."""
    seen: list[int] = []
    compress, compressobj = zlib.compress, zlib.compressobj

    class Counted:
        def __init__(self, *args, **kwargs):
            self._c = compressobj(*args, **kwargs)

        def compress(self, data: bytes) -> bytes:
            seen.append(len(data))
            return self._c.compress(data)

        def flush(self, *args) -> bytes:
            return self._c.flush(*args)

    def counted_compress(data: bytes, *args, **kwargs) -> bytes:
        seen.append(len(data))
        return compress(data, *args, **kwargs)

    monkeypatch.setattr(zlib, "compress", counted_compress)
    monkeypatch.setattr(zlib, "compressobj", Counted)
    return seen


def _problems(ctx: Context) -> list[Finding]:
    cells = [ctx.cells.fields[fl.id] for fl in ctx.spec.inputs[::4]]
    problem = Finding.make(Code.AUDIT_RULE, message="请核实。")
    return [replace(problem, sheet=c.sheet, cell=c.a1, severity=Severity.WARNING) for c in cells]


def test_forms_from_a_template_deflate_no_fixed_run(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    units = ctx.campaign.units
    fields = {fl.id: n * 7 for n, fl in enumerate(ctx.spec.inputs)}
    ctx.form_bytes(units[0]), ctx.form_bytes(units[0], Prefill(fields), _problems(ctx))  # templates built
    seen = _count_deflates(monkeypatch)
    for unit in units[1:6]:
        ctx.form_bytes(unit)
    assert seen == []  # blank forms: not one byte deflated
    for unit in units[1:6]:
        data = ctx.form_bytes(unit, Prefill(fields), _problems(ctx))
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            size = sum(i.file_size for i in z.infolist())
        # feedback forms: only runs of the unit's own bytes (a table of them, the problem list), long ones
        assert all(n >= UNIT_DEFLATE_MIN for n in seen) and sum(seen) < size / 4, (seen, size)
        seen.clear()


def test_the_same_template_gives_the_same_zip(ctx: Context) -> None:
    # make-forms reports a form "unchanged" when its bytes are: splicing is deterministic
    unit = ctx.campaign.units[3]
    problems, prefill = _problems(ctx), Prefill({ctx.spec.inputs[0].id: "约300"})
    assert ctx.form_bytes(unit) == Context.load(ctx.campaign.folder / "kepuxl.toml").form_bytes(unit)
    again = Context.load(ctx.campaign.folder / "kepuxl.toml")
    assert ctx.form_bytes(unit, prefill, problems) == again.form_bytes(unit, prefill, problems)


# -- real readers: openpyxl and LibreOffice -----------------------------------------------------------------


def _feedback_case(ctx: Context) -> tuple[Unit, Prefill, list[Finding]]:
    unit = ctx.campaign.unit_by_name("县教育局")
    assert unit is not None
    fields = {fl.id: (n * 13) % 97 for n, fl in enumerate(ctx.spec.inputs)}
    fields[ctx.spec.inputs[1].id] = "约300"  # text in a number cell: a formula flags it
    d = ctx.spec.detail
    rows = [
        {c.id: (f"活动{i}" if c.type in ("text", "choice") else i + 1) for c in d.columns} for i in range(3)
    ]
    return unit, Prefill(fields, {"preparer": "张三"}, rows), _problems(ctx)


def test_openpyxl_reads_the_spliced_forms(ctx: Context) -> None:
    unit, prefill, problems = _feedback_case(ctx)
    stamp, password = ctx.identity(unit), ctx.password(unit)
    for got, direct in (
        (ctx.form_bytes(unit), build_form(ctx.spec, ctx.cells, ctx.campaign, unit, stamp, password)),
        (
            ctx.form_bytes(unit, prefill, problems),
            build_form(
                ctx.spec, ctx.cells, ctx.campaign, unit, stamp, password, prefill=prefill, problems=problems
            ),
        ),
    ):
        assert got != direct
        mine, theirs = openpyxl.load_workbook(io.BytesIO(got)), openpyxl.load_workbook(io.BytesIO(direct))
        assert mine.sheetnames == theirs.sheetnames
        for sheet in mine.sheetnames:
            assert _cells(mine[sheet]) == _cells(theirs[sheet]), sheet
        assert mine[ctx.cells.unit.sheet][ctx.cells.unit.a1].value == unit.name
    first = ctx.cells.fields[ctx.spec.inputs[0].id]
    assert mine[first.sheet][first.a1].value == prefill.fields[ctx.spec.inputs[0].id]
    assert mine[first.sheet][first.a1].comment.text.endswith("请核实。")


def _cells(ws) -> list[tuple[str, object, str | None]]:
    return [(c.coordinate, c.value, c.comment and c.comment.text) for row in ws.iter_rows() for c in row]


@lo.requires_libreoffice
def test_libreoffice_computes_the_spliced_forms_as_the_direct_ones(ctx: Context, tmp_path: Path) -> None:
    # the template's blank and feedback forms, opened in LibreOffice, typed into, recalculated and saved:
    # every cell as LibreOffice makes of the direct build of the same form
    unit, prefill, problems = _feedback_case(ctx)
    stamp, password = ctx.identity(unit), ctx.password(unit)
    first = ctx.cells.fields[ctx.spec.inputs[0].id]
    edits = [{"sheet": first.sheet, "cell": first.a1, "typed": "-5"}]  # its self-check turns red
    for kind, got, direct in (
        ("blank", ctx.form_bytes(unit), build_form(ctx.spec, ctx.cells, ctx.campaign, unit, stamp, password)),
        (
            "feedback",
            ctx.form_bytes(unit, prefill, problems),
            build_form(
                ctx.spec, ctx.cells, ctx.campaign, unit, stamp, password, prefill=prefill, problems=problems
            ),
        ),
    ):
        saved = {}
        for name, data in (("template", got), ("direct", direct)):
            src = tmp_path / kind / f"{name}.xlsx"
            src.parent.mkdir(exist_ok=True)
            src.write_bytes(data)
            result = lo.fill(src, tmp_path / kind / "lo", edits=edits)
            assert result.statuses == ["ok"], (kind, name)
            saved[name] = openpyxl.load_workbook(result.paths["xlsx"], data_only=True)
        book = saved["template"]
        for sheet in book.sheetnames:
            assert _cells(book[sheet]) == _cells(saved["direct"][sheet]), (kind, sheet)
        assert book[first.sheet][first.a1].value == -5
        assert book[ctx.cells.unit.sheet][ctx.cells.unit.a1].value == unit.name
