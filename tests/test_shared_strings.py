"""Shared strings read without a tree: `book._plain_strings` takes only parts it reads as libxml2 does.

A plain part (the declaration, the root, <si><t>text</t></si> items with plain text and the five
predefined entities) is cut into its texts; everything else goes to libxml2. Every text must come out
exactly as libxml2 gives it, and a part libxml2 refuses must never be read the fast way.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import libreoffice as lo
import pytest
from conftest import init_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from kepu_xl import book
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.forms_writer import Prefill

HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
ROOT = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="9" uniqueCount="9">'


def both(xml: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object, bool]:
    """(texts the fast way or the error, texts through libxml2 or the error, whether the fast way took it)."""

    def texts() -> object:
        try:
            sst = book._shared_strings(book._Package(b"", {"xl/sharedStrings.xml": xml}))
            return [sst[i] for i in range(len(sst))]
        except etree.XMLSyntaxError:
            return "XMLSyntaxError"

    fast = texts()
    taken = book._plain_strings(xml) is not None
    with monkeypatch.context() as m:
        m.setattr(book, "_plain_strings", lambda xml: None)
        slow = texts()
    return fast, slow, taken


# text the way units type it and the way hostile files carry it
_CHARS = st.one_of(
    st.sampled_from(list("科普活动周 ab1\t\n<>&\"'\r]")),
    st.sampled_from(
        ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#65;", "&#x4E2D;", "&#0;", "&nbsp;", "]]>"]
    ),
    st.sampled_from(["_x000D_", "_x005F_x0041_", "\x01", "\x0b", "\ufffe", "\uffff", "\U0001f389", "\u2028"]),
    st.characters(),
)
_TEXT = st.lists(_CHARS, max_size=8).map("".join)
_ITEM = st.one_of(
    _TEXT.map(lambda t: f"<si><t>{t}</t></si>"),
    _TEXT.map(lambda t: f'<si><t xml:space="preserve">{t}</t></si>'),
    _TEXT.map(lambda t: f"<si><r><t>{t}</t></r><r><rPr><b/></rPr><t>x</t></r></si>"),  # rich text
    _TEXT.map(lambda t: f'<si><t>{t}</t><rPh sb="0" eb="1"><t>ふ</t></rPh></si>'),  # a phonetic run
    st.just("<si><t/></si>"),
    st.just("<si><t></t></si>"),
)
_HEADS = st.sampled_from(
    [HEAD, HEAD.rstrip("\n"), HEAD.replace("\n", "\r\n"), "\ufeff" + HEAD, "", HEAD.replace("UTF-8", "utf-8")]
)
_ROOTS = st.sampled_from(
    [ROOT, ROOT.replace(' count="9" uniqueCount="9"', ""), ROOT.replace("main", "other"), ROOT + " "]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    head=_HEADS,
    root=_ROOTS,
    items=st.lists(_ITEM, max_size=6),
    tail=st.sampled_from(["", "\n", " ", "</sst>"]),
)
def test_every_text_reads_as_libxml2_reads_it(head, root, items, tail, monkeypatch) -> None:
    xml = (head + root + "".join(items) + "</sst>" + tail).encode("utf-8", "surrogatepass")
    fast, slow, _ = both(xml, monkeypatch)
    assert fast == slow


_PLAINISH = st.lists(
    st.one_of(
        st.sampled_from([*"科普活动周　ａ１ ab1\t\n>\"']", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]),
        st.sampled_from(["\r", "\r\n", "]]>", "\x01", "\x0c", "\ufffe", "\uffff", "&#13;"]),  # now and then
        st.characters(blacklist_categories=("Cs",)).filter(lambda ch: ch not in "<&"),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_PLAINISH, max_size=6), preserve=st.lists(st.booleans(), min_size=6, max_size=6))
def test_plain_parts_are_read_the_fast_way_as_libxml2_reads_them(texts, preserve, monkeypatch) -> None:
    # mostly parts the fast way takes: their texts must be libxml2's, character for character; the odd
    # one with a control character, a CR or ']]>' must go to libxml2 (and fail there, or read the same)
    items = "".join(
        f'<si><t xml:space="preserve">{t}</t></si>' if keep else f"<si><t>{t}</t></si>"
        for t, keep in zip(texts, preserve, strict=False)
    )
    xml = (HEAD + ROOT + items + "</sst>").encode("utf-8")
    fast, slow, taken = both(xml, monkeypatch)
    assert fast == slow
    if taken:
        assert slow != "XMLSyntaxError"


def test_the_parts_of_real_returns_take_the_fast_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # kepuxl's forms filled with text that needs every entity, and one of them as openpyxl (an outside
    # tool) saves it: read the fast way, the same texts as libxml2 gives
    ctx = Context.load(init_sample(tmp_path / "青溪县") / CONFIG_NAME)
    tricky = "甲 & 乙 <丙> \"丁\" '戊'  _x000D_ 末尾空格 "
    forms = [
        ctx.form_bytes(unit, Prefill({}, {"preparer": tricky, "note": f"第{n}行\n{tricky}"}, []))
        for n, unit in enumerate(ctx.campaign.units[:8])
    ]
    for data in forms:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            xml = z.read("xl/sharedStrings.xml")
        fast, slow, fast_way = both(xml, monkeypatch)
        assert fast == slow and fast_way
        assert any(tricky in text for text in fast)
    # the same form opened and saved by real LibreOffice: whichever way it is read, the same texts
    (tmp_path / "表.xlsx").write_bytes(forms[0])
    saved = lo.convert(tmp_path / "表.xlsx", "xlsx", tmp_path / "lo")
    with zipfile.ZipFile(saved) as z:
        xml = z.read("xl/sharedStrings.xml")
    fast, slow, _ = both(xml, monkeypatch)
    assert fast == slow and any(tricky in text for text in fast)
