"""Blank forms from a template: (template, unit name, identity) → the form `build_form` would give.

The blank forms of one campaign differ only in the unit's name (document title, 填报单位, the unit
cell, the detail sheet's title), its identity (unit id and token: custom properties and `_meta`) and
its sheet password (the 16-bit hash in every <sheetProtection> and the <workbookProtection>).
`FormTemplate.build` makes one form for a placeholder unit; `render` replaces the placeholders in
the three parts they reach with the unit's values, escaped as xlsxwriter escapes them there, puts the
unit's password hash in place of the placeholder's, and zips the members as xlsxwriter does (names,
order, dates, flags). Every part, inflated, has the bytes of a direct build; the parts the unit reaches
are compressed differently: spliced (xlsx_out.splice) from runs deflated once per campaign and the
unit's values stored, so that no form deflates the fixed text again (~0.2 ms a form instead of ~18 ms).

`fallback_reason` names anything that could make the two differ (a name xlsxwriter would escape
or de-duplicate, a template whose placeholders are not where expected); the caller then builds
the form directly.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace

from .campaign import Campaign, Unit
from .forms_writer import _legacy_hash, build_form
from .identity import Identity
from .layout import CellMap
from .spec import FormSpec
from .xlsx_out import Deflated, Fixed, Xml, clean_text, splice

# private-use characters around a tag: never in real text, and xlsxwriter escapes none of them
NAME, UNIT, TOKEN = "\ue000kepuxl-name\ue001", "\ue000kepuxl-unit\ue001", "\ue000kepuxl-token\ue001"
STRINGS = "xl/sharedStrings.xml"
# the parts a unit's values reach, and the placeholders each must hold (nowhere else)
PARTS = {
    "docProps/core.xml": (NAME,),
    "docProps/custom.xml": (UNIT, TOKEN),
    STRINGS: (NAME, UNIT, TOKEN),
}
_PLACEHOLDER = re.compile("|".join(map(re.escape, (NAME, UNIT, TOKEN))).encode())
# a neighbour that could join the value into an "_x0041_" sequence, which xlsxwriter re-escapes
_JOINS_ESCAPE = re.compile(rb"[_x0-9a-fA-F](?:%s)|(?:%s)[_x0-9a-fA-F]" % ((_PLACEHOLDER.pattern,) * 2))
# inside a tag it would be an attribute, which xlsxwriter escapes differently (quotes, newlines)
_IN_TAG = re.compile(rb"<[^<>]*(?:%s)" % _PLACEHOLDER.pattern)
_ESCAPE_LIKE = re.compile("_x[0-9a-fA-F]{4}_")
_SI = re.compile(rb"<si>.*?</si>", re.S)
# a protection element, and the password hash it carries (xlsxwriter writes it first, as %X)
_PROTECTION = re.compile(rb"<(?:sheetProtection|workbookProtection)\b[^>]*>")
_HASH = re.compile(
    rb'(?<=<sheetProtection password=")[0-9A-F]{1,4}(?=")|(?<=<workbookProtection workbookPassword=")[0-9A-F]{1,4}(?=")'
)
_SLOT = re.compile(_PLACEHOLDER.pattern + b"|" + _HASH.pattern)  # where a unit's value or hash goes
HASH = b"hash"  # the key of the unit's password hash among its values (the others: the placeholders)
STRING_LIMIT = 16_383  # xlsxwriter only measures (and clips) a string longer than this
PROPERTY_LIMIT = 255  # UTF-16 units: set_custom_property warns beyond it


@dataclass(frozen=True, slots=True)
class FormTemplate:
    """One blank form of a campaign with placeholders for the unit's name, id and token."""

    identity: Identity  # the campaign-wide identity with the UNIT and TOKEN placeholders
    # zip members in xlsxwriter's order: unchanging ones compressed once, the others cut (`_pieces`)
    members: tuple[tuple[str, Deflated | tuple[Fixed | bytes, ...]], ...]
    templated: tuple[bytes, ...]  # the <si> elements holding a placeholder
    others: frozenset[bytes]  # every other <si> element
    name_limit: int  # longest name whose strings stay under STRING_LIMIT
    password_hash: bytes = b""  # the placeholder unit's hash, in every protection element
    problem: str | None = None  # why no form can come from this template

    @classmethod
    def build(
        cls,
        spec: FormSpec,
        cells: CellMap,
        campaign: Campaign,
        identity: Identity,
        password: Callable[[Unit], str],
    ) -> FormTemplate:
        """The template of a campaign; `identity` is any unit's (only its campaign-wide parts are used),
        `password` gives a unit's sheet password."""
        identity, unit = replace(identity, unit=UNIT, token=TOKEN), Unit(UNIT, NAME)
        data = build_form(spec, cells, campaign, unit, identity, password(unit))
        return cls.from_bytes(data, identity)

    @classmethod
    def from_bytes(cls, data: bytes, identity: Identity) -> FormTemplate:
        """A template from a form built for the placeholder unit; checks the placeholders are in place."""
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = tuple((info.filename, z.read(info)) for info in z.infolist())
        elements = _SI.findall(dict(members).get(STRINGS, b""))
        templated = tuple(si for si in elements if _PLACEHOLDER.search(si))
        others = frozenset(si for si in elements if not _PLACEHOLDER.search(si))
        limit = STRING_LIMIT - max((len(si.decode()) for si in templated), default=0)
        found = {h for _, data in members for h in _HASH.findall(data)}
        problem = _template_problem(members) or _protection_problem(members, found)
        password_hash = next(iter(found)) if len(found) == 1 else b""
        members = tuple(
            (m, _pieces(d) if m in PARTS or _PROTECTION.search(d) else Deflated.of(d)) for m, d in members
        )
        return cls(identity, members, templated, others, limit, password_hash, problem)

    def fallback_reason(self, name: str, identity: Identity) -> str | None:
        """Why this unit's form must be built directly; None when `render` gives the same parts."""
        if self.problem:
            return self.problem
        if replace(identity, unit=UNIT, token=TOKEN) != self.identity:
            return "identity of another campaign, form or layout"
        for what, text in (("name", name), ("unit id", identity.unit), ("token", identity.token)):
            why = _text_problem(text)
            if why:
                return f"{what}: {why}"
        if len(name) > self.name_limit:
            return "name: long enough for xlsxwriter to measure and clip"
        if _utf16_len(identity.unit) > PROPERTY_LIMIT or _utf16_len(identity.token) > PROPERTY_LIMIT:
            return "identity: over the 255 characters of a custom property"
        values = _values(name, identity)
        filled = [_fill(si, values) for si in self.templated]
        if len(set(filled)) < len(filled) or not self.others.isdisjoint(filled):
            return "equals another text of the form (xlsxwriter would store one shared string)"
        return None

    def render(self, name: str, identity: Identity, password: str | None = None) -> bytes:
        """The unit's blank form with its sheet `password` (None: the placeholder's); only valid when
        `fallback_reason` is None."""
        values = _values(name, identity)
        values[HASH] = self.password_hash if password is None else _legacy_hash(password).encode()

        def part(data: Deflated | tuple[Fixed | bytes, ...]) -> Deflated:
            if type(data) is Deflated:
                return data
            return splice(p if type(p) is Fixed else values[p] for p in data)

        return Xml.package((member, part(data)) for member, data in self.members)


def _values(name: str, identity: Identity) -> dict[bytes, bytes]:
    pairs = ((NAME, name), (UNIT, identity.unit), (TOKEN, identity.token))
    return {p.encode(): _escape(v).encode() for p, v in pairs}


def _pieces(data: bytes) -> tuple[Fixed | bytes, ...]:
    """A part cut at its placeholders and password hashes: the runs between them deflated once, each
    placeholder as itself (the key of the unit's value in `_values`), each hash as HASH."""
    pieces: list[Fixed | bytes] = []
    at = 0
    for m in _SLOT.finditer(data):
        if m.start() > at:
            pieces.append(Fixed.of(data[at : m.start()]))
        pieces.append(m[0] if _PLACEHOLDER.fullmatch(m[0]) else HASH)
        at = m.end()
    return (*pieces, Fixed.of(data[at:])) if at < len(data) else tuple(pieces)


def _fill(data: bytes, values: dict[bytes, bytes]) -> bytes:
    # one pass: a value that happens to contain a placeholder is not replaced again
    return _PLACEHOLDER.sub(lambda m: values[m.group()], data)


def _escape(text: str) -> str:
    """xlsxwriter's XMLwriter._escape_data; the same in <si>, <dc:title> and <vt:lpwstr> for the
    texts `_text_problem` lets through (no control characters, no _xHHHH_, no edge whitespace)."""
    return Xml.escape(text)


def _text_problem(text: str) -> str | None:
    """What makes xlsxwriter (or `CheckedSheet.text`) write this text other than `_escape` does."""
    if not text:
        return "empty (written as a blank cell)"
    if text != text.strip():
        return 'leading or trailing whitespace (xml:space="preserve")'
    if clean_text(text) != text:
        return "characters a cell drops (control, non-XML) or over Excel's length"
    if text.startswith("<r>") and text.endswith("</r>"):
        return "rich-text markup"
    if _ESCAPE_LIKE.search(text):
        return "an _xHHHH_ sequence (xlsxwriter escapes it)"
    return None


def _template_problem(members: tuple[tuple[str, bytes], ...]) -> str | None:
    """Each placeholder only in its parts, in each of them, in text (not a tag), never by an _x…_ character."""
    for member, data in members:
        found = {m.decode() for m in _PLACEHOLDER.findall(data)}
        expected = set(PARTS.get(member, ()))
        if found != expected:
            return f"template: placeholders {sorted(found)} in {member}, expected {sorted(expected)}"
        if _IN_TAG.search(data):
            return f"template: a placeholder in {member} is inside a tag"
        if _JOINS_ESCAPE.search(data):
            return f"template: a placeholder in {member} stands next to an _xHHHH_ character"
    missing = set(PARTS) - {member for member, _ in members}
    return f"template: no {sorted(missing)}" if missing else None


def _protection_problem(members: tuple[tuple[str, bytes], ...], hashes: set[bytes]) -> str | None:
    """Every protection element carries the one placeholder hash, right where `_HASH` finds it."""
    elements = sum(len(_PROTECTION.findall(data)) for _, data in members)
    with_hash = sum(len(_HASH.findall(data)) for _, data in members)
    if not elements or elements != with_hash:
        return f"template: {with_hash} password hashes in {elements} protection elements"
    if len(hashes) != 1:
        return f"template: protection elements with {len(hashes)} different password hashes"
    return None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
