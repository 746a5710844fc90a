"""Feedback forms from a template: (frame, unit, its values and problems) → the form `build_form` gives.

A feedback form is the unit's form with the values it sent, each problem cell red with a comment, and a
问题清单 sheet. Everything the unit's values and problems put into it is a `FormFill`; the writer writes
that after every fixed text of the form and numbers the formats up front, so the fixed texts keep their
shared-string numbers and every cell its format number whatever the unit sent. A feedback form is then a
frame with the unit's part patched in:

- a `Frame` (one per campaign and choice of sheets with comments): a feedback form built for the
  placeholder unit of form_template.py, its sheets cut at every input and formula cell, its fixed shared
  strings, the parts that never change;
- an `Atlas`: every input cell's comment and comment box as xlsxwriter writes them (a form with a
  comment on every input, built once);
- per unit (`FeedbackTemplate.render`): the input cells (value; red or not), every formula's saved result,
  the 问题清单 rows, the shared strings it adds after the fixed ones, its comments (numbered per drawing
  as xlsxwriter numbers them), and its name, identity and sheet-password hash as in a blank form.

Every part of the zip, inflated, has the bytes of a direct build, in a fraction of the time (tests compare
every feedback case, the benchmark its returns); the parts the unit reaches are spliced
(xlsx_out.splice): their fixed runs deflated once per frame, the unit's bytes stored or deflated alone,
so the zip is compressed differently. `render` raises `Fallback` when anything could make the two
differ (a value xlsxwriter would escape, clip or refuse, a name or identity the blank template would not
take); the caller then builds the form directly. Only with a verified xlsxwriter (xlsx_out.FAST): what
is patched in follows its conventions (`xlsx_out.Xml`).
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import layout as lay
from .campaign import Campaign, Unit
from .findings import Code, Finding
from .form_template import HASH as HASH_KEY
from .form_template import NAME, PARTS, STRINGS, TOKEN, UNIT, FormTemplate, _fill, _pieces, _values
from .forms_writer import DXF_FORMATS, FormFill, Prefill, _height, _legacy_hash, build, cell_content
from .identity import Identity
from .layout import Cell, CellMap
from .spec import FormSpec
from .xlsx_out import FAST, Deflated, Fixed, Xml, clean_text, splice, xf_indices

MAIN, DETAIL = "main", "detail"  # the sheets that can carry comments, in sheet order
STAND_IN = "\ue000kepuxl-problem\ue001"  # the placeholder unit's problem: never a form's text
_HASH = re.compile(
    rb'(?<=<sheetProtection password=")[0-9A-F]{1,4}(?=")'
    rb'|(?<=<workbookProtection workbookPassword=")[0-9A-F]{1,4}(?=")'
)
_CELL = re.compile(rb'<c r="([A-Z]+)([0-9]+)"[^>]*?(?:/>|>.*?</c>)', re.S)
_FORMULA = re.compile(
    rb'(<c r="[A-Z]+[0-9]+"(?: s="[0-9]+")?)(?: t="[a-z]+")?><f>(.*?)</f><v>.*?</v></c>', re.S
)
_STRING_CELL = re.compile(rb'<c r="[A-Z]+[0-9]+"(?: s="[0-9]+")? t="s">')
_SI = re.compile(rb"<si>.*?</si>", re.S)
_PLAIN_SI = re.compile(rb'<si><t(?: xml:space="preserve")?>([^<]*)</t></si>')
_SST = re.compile(rb'(.*?<sst [^>]*?)count="([0-9]+)" uniqueCount="[0-9]+">.*</si>(.*)', re.S)
_SHEETS = re.compile(rb'<sheet name="([^"]+)" sheetId="[0-9]+" r:id="(rId[0-9]+)"/>')
_RELS = re.compile(rb'<Relationship Id="(rId[0-9]+)" Type="[^"]+" Target="([^"]+)"/>')
_ROW = re.compile(rb'<row r="([0-9]+)"[^>]*>.*?</row>', re.S)
_SIZED_ROW = re.compile(rb'<row r="([0-9]+)"([^>]*?) ht="[^"]*"([^>]*)>(.*?)</row>', re.S)
_DIMENSION = re.compile(rb'(<dimension ref="A1:[A-Z]+)[0-9]+("/>)')
_REF = re.compile(rb"([A-Z]+)([0-9]+)")
_COMMENT = re.compile(rb'<comment ref="([A-Z]+[0-9]+)".*?</comment>', re.S)
_COMMENT_TEXT = re.compile(rb"(.*)<t>[^<]*(</t>.*)", re.S)
_SHAPE = re.compile(rb"<v:shape id=.*?</v:shape>", re.S)
_SHAPE_CELL = re.compile(rb"<x:Row>([0-9]+)</x:Row><x:Column>([0-9]+)</x:Column>")
_SHAPE_IDS = re.compile(rb'(<v:shape id="_x0000_s)[0-9]+(".*?z-index:)[0-9]+(;)', re.S)
_IDMAP = re.compile(rb'(<o:idmap v:ext="edit" data=")[^"]*(")')
_PLACEHOLDERS = re.compile("|".join(map(re.escape, (NAME, UNIT, TOKEN))))


class Fallback(Exception):
    """The unit's feedback form could differ from a direct build: build it directly (the reason)."""


class _Mismatch(Exception):
    """The form built for a frame is not cut where expected: the frame is not used."""


class _Slot:
    """A place in a cut part for something of the unit's (the unit's cells are numbered instead)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


HASH, ROWS, PROBLEMS = _Slot("hash"), _Slot("rows"), _Slot("problems")
COUNTS, ADDED = _Slot("counts"), _Slot("added strings")  # sharedStrings.xml's counts, the unit's texts


@dataclass(frozen=True)
class Frame:
    """A feedback form of the placeholder unit, cut where a unit's part goes (see the module docstring).

    `members`: each zip member as (name, how, what): ("bytes", data compressed once), ("cut", pieces:
    fixed runs (`Fixed`, deflated once) and groups between them of short texts and slots: HASH, ROWS,
    PROBLEMS, or the number of one of the unit's cells), ("fill", fixed runs and placeholders:
    form_template._pieces), ("strings", `sst`),
    ("comments", kind), ("vml", kind). Each member the unit reaches is spliced (xlsx_out.splice).
    """

    members: tuple[tuple[str, str, Any], ...]
    kinds: tuple[str, ...]  # the sheets with comments (MAIN, DETAIL)
    styles: dict[str, int]  # each format's number
    slots: dict[Cell, int]  # the unit's cells → their numbers in the cut parts (a formula: +1 its result)
    formulas: dict[Cell, tuple[str, str]]  # a formula cell's '<c r=".." s=".."' and its escaped formula
    blanks: tuple[str, ...]  # each slot as an empty input in its own format (what most of them are)
    strings: tuple[bytes, ...]  # the fixed <si> elements, some with placeholders
    texts: dict[str, int]  # each fixed text without a placeholder → its number
    templated: tuple[tuple[int, str], ...]  # (number, text) of the fixed texts with a placeholder
    string_cells: int  # cells holding fixed texts (sharedStrings.xml's count before the unit's)
    # sharedStrings.xml cut as a sheet is, its slots: COUNTS, the number of a fixed text with a
    # placeholder, ADDED
    sst: tuple[Any, ...]
    title_row: tuple[str, str, str]  # 问题清单 row 1 around its height and its title's number
    problem_row: tuple[str, str, str, tuple[str, ...]]  # a row's tag around its number and height; heads
    header_row: str  # 问题清单 row 2, fixed
    names: FormTemplate  # the blank template's checks of a name and identity, over the fixed texts

    @classmethod
    def build(
        cls, fill: FormFill, identity: Identity, password: str, sheets: dict[str, str]
    ) -> tuple[Frame | str, bytes]:
        """(the frame of `fill`, the placeholder unit's form; or why there is none, the form)."""
        data, formats = build(fill, identity, password)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            parts = {info.filename: z.read(info) for info in z.infolist()}
        try:
            styles = xf_indices({name: f for name, f in formats.items() if name not in DXF_FORMATS})
            return cls._cut(parts, fill, identity, styles, sheets), data
        except (_Mismatch, KeyError, ValueError, IndexError, TypeError) as exc:
            return f"template: {exc}", data

    @classmethod
    def _cut(
        cls,
        parts: dict[str, bytes],
        fill: FormFill,
        identity: Identity,
        styles: dict[str, int],
        sheets: dict[str, str],
    ) -> Frame:
        by_name = _sheet_parts(parts)
        inputs = {cell: fmt.removesuffix("_bad") for cell, _, fmt in fill.inputs()}
        results = fill.results()
        cut_sheets = {by_name[name]: name for name in sheets.values()}
        kinds = _kinds(fill.spec, fill.comments())
        comment_parts = _comment_parts(parts, by_name, {k: s for k, s in sheets.items() if k in kinds})
        formulas: dict[Cell, tuple[str, str]] = {}
        slots: dict[Cell, int] = {}
        members: list[tuple[str, str, Any]] = []
        for member, data in parts.items():
            if member == STRINGS:
                members.append((member, "strings", None))
            elif member in PARTS:
                members.append((member, "fill", _pieces(data)))
            elif member in comment_parts:
                members.append((member, *comment_parts[member]))
            elif member == by_name[lay.FEEDBACK_SHEET]:
                members.append((member, "cut", _fixed(_problem_sheet(data))))
            elif member in cut_sheets:
                cut = _cut_sheet(data, cut_sheets[member], set(inputs) | set(results), slots, formulas)
                members.append((member, "cut", _fixed(cut)))
            else:
                pieces = _with_hash(data)
                fixed = (member, "bytes", Deflated.of(data))  # compressed once
                members.append((member, "cut", _fixed(pieces)) if len(pieces) > 1 else fixed)
        if set(slots) != set(inputs) | set(results) or set(formulas) != set(results):
            missing = (set(inputs) | set(results)) ^ set(slots)
            raise _Mismatch(f"cells not where expected ({sorted(map(str, missing))[:3]})")
        blanks = [""] * (len(slots) + len(formulas))
        for cell, fmt in inputs.items():
            blanks[slots[cell]] = Xml.blank_cell(Xml.head(cell.a1, styles[fmt]))
        rows = {int(m[1]): m[0] for m in _ROW.finditer(parts[by_name[lay.FEEDBACK_SHEET]])}
        title, header = _SIZED_ROW.fullmatch(rows[1]), rows[2]
        title_cell = next(_CELL.finditer(title[4]))[0]
        fixed = int(re.search(rb"<v>([0-9]+)</v>", title_cell)[1])  # the title: the unit's first text
        strings = tuple(_SI.findall(parts[STRINGS])[:fixed])
        texts, templated = _texts(strings)
        sst = _SST.fullmatch(parts[STRINGS])
        if sst is None:
            raise _Mismatch("sharedStrings.xml")
        # string cells of the fixed texts: all of the form's but the unit's (问题清单's title and rows)
        unit_rows = b"".join(row for n, row in rows.items() if n != 2)
        string_cells = int(sst[2]) - len(_STRING_CELL.findall(unit_rows))
        names = FormTemplate(
            identity,
            (),
            tuple(strings[n] for n, _ in templated),
            frozenset(s for n, s in enumerate(strings) if n not in dict(templated)),
            16_383 - max((len(strings[n].decode()) for n, _ in templated), default=0),
        )
        return cls(
            members=tuple(members),
            kinds=kinds,
            styles=styles,
            slots=slots,
            formulas=formulas,
            blanks=tuple(blanks),
            strings=strings,
            texts=texts,
            templated=tuple(templated),
            string_cells=string_cells,
            sst=_sst(sst[1], strings, [n for n, _ in templated], sst[3]),
            title_row=_title_row(title[0], title_cell),
            problem_row=_problem_row(_SIZED_ROW.fullmatch(rows[3])),
            header_row=header.decode(),
            names=names,
        )


def _fixed(pieces: tuple[Any, ...]) -> tuple[Any, ...]:
    """Cut pieces as they are spliced: each run of text deflated once (a `Fixed`), and what lies between
    two of them (the unit's slots, texts too short to deflate alone) as one group, joined per form."""
    out: list[Any] = []
    group: list[Any] = []
    run: list[str] = []
    for piece in (*pieces, None):
        if type(piece) is str:
            run.append(piece)
            continue
        text = "".join(run)
        run.clear()
        fixed = Fixed.of(text.encode())
        if fixed.blocks:
            if group:
                out.append(tuple(group))
                group.clear()
            out.append(fixed)
        elif text:
            group.append(text)
        if piece is not None:
            group.append(piece)
    return (*out, tuple(group)) if group else tuple(out)


def _sst(head: bytes, strings: tuple[bytes, ...], templated: list[int], tail: bytes) -> tuple[Any, ...]:
    """sharedStrings.xml cut where the unit's parts go: its counts, the fixed texts with a placeholder
    (their numbers), the unit's texts after the fixed ones."""
    pieces: list[Any] = [head.decode(), COUNTS]
    for n, element in enumerate(strings):
        pieces.append(n if n in templated else element.decode())
    return _fixed((*pieces, ADDED, tail.decode()))


def _kinds(spec: FormSpec, comments: dict[Cell, str]) -> tuple[str, ...]:
    """The sheets (MAIN, DETAIL) with `comments`."""
    names = {cell.sheet for cell in comments}
    out = [MAIN] if spec.sheet in names else []
    return (*out, DETAIL) if spec.detail is not None and spec.detail.sheet in names else tuple(out)


def _texts(strings: tuple[bytes, ...]) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """The fixed texts → their numbers; those with a placeholder apart."""
    texts: dict[str, int] = {}
    templated: list[tuple[int, str]] = []
    for n, element in enumerate(strings):
        plain = _PLAIN_SI.fullmatch(element)
        if plain is None:
            raise _Mismatch(f"a fixed text that is not plain text ({element[:40]!r})")
        text = _unescape(plain[1].decode())
        if _PLACEHOLDERS.search(text):
            templated.append((n, text))
        else:
            texts[text] = n
    return texts, templated


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _sheet_parts(parts: dict[str, bytes]) -> dict[str, str]:
    """Sheet name → its part (xl/worksheets/sheetN.xml), from workbook.xml and its rels."""
    rels = dict(_RELS.findall(parts["xl/_rels/workbook.xml.rels"]))
    return {
        name.decode(): "xl/" + rels[rid].decode() for name, rid in _SHEETS.findall(parts["xl/workbook.xml"])
    }


def _comment_parts(
    parts: dict[str, bytes], by_name: dict[str, str], sheets: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Each comments and drawing part of the comment-bearing `sheets` → its slot."""
    out: dict[str, tuple[str, str]] = {}
    for kind, name in sheets.items():
        rels = by_name[name].replace("worksheets/", "worksheets/_rels/") + ".rels"
        for _, target in _RELS.findall(parts.get(rels, b"")):
            member = "xl/" + target.decode().removeprefix("../")
            out[member] = ("comments" if member.startswith("xl/comments") else "vml", kind)
    return out


def _with_hash(data: bytes) -> tuple[Any, ...]:
    """`data` as text with each sheet-protection or workbook-protection hash as a slot."""
    pieces: list[Any] = []
    for n, chunk in enumerate(_HASH.split(data)):
        if n:
            pieces.append(HASH)
        pieces.append(chunk.decode())
    return tuple(pieces)


def _cell(sheet: str, letters: bytes, number: bytes) -> Cell:
    col = 0
    for ch in letters:
        col = col * 26 + ch - 64
    return Cell(sheet, int(number) - 1, col - 1)


def _cut_sheet(
    data: bytes,
    sheet: str,
    unit_cells: set[Cell],
    slots: dict[Cell, int],
    formulas: dict[Cell, tuple[str, str]],
) -> tuple[Any, ...]:
    """A main or detail sheet cut at the unit's cells (inputs and formulas), each numbered in `slots`: an
    input is a number, a formula cell two (its type attribute and its result; the rest is fixed)."""
    pieces: list[Any] = []
    at = 0
    for m in _CELL.finditer(data):
        cell = _cell(sheet, m[1], m[2])
        if cell not in unit_cells:
            continue
        n = slots[cell] = len(slots) + len(formulas)  # the numbers taken so far
        pieces += _with_hash(data[at : m.start()])
        formula = _FORMULA.fullmatch(m[0])
        if formula is None:
            pieces.append(n)
        else:
            head, text = formulas[cell] = (formula[1].decode(), formula[2].decode())
            pieces += [head, n, f"><f>{text}</f><v>", n + 1, "</v></c>"]
        at = m.end()
    return (*pieces, *_with_hash(data[at:]))


def _problem_sheet(data: bytes) -> tuple[Any, ...]:
    """问题清单: its rows, and the number of its last row in <dimension>, are the unit's."""
    start, end = data.index(b"<sheetData>") + len(b"<sheetData>"), data.index(b"</sheetData>")
    dimension = _DIMENSION.search(data, 0, start)
    if dimension is None:
        raise _Mismatch("问题清单 dimension")
    return (
        *_with_hash(data[: dimension.end(1)]),
        ROWS,
        *_with_hash(data[dimension.start(2) : start]),
        PROBLEMS,
        *_with_hash(data[end:]),
    )


def _title_row(row: bytes, first_cell: bytes) -> tuple[str, str, str]:
    """问题清单 row 1 cut at its height and its title's string number."""
    tag = re.fullmatch(rb'(<row r="1"[^>]*? ht=")[^"]*("[^>]*>)(.*)', row, re.S)
    cut = re.fullmatch(rb'(<c r="A1"[^>]*? t="s"><v>)[0-9]+(</v></c>)', first_cell)
    if tag is None or cut is None or not tag[3].startswith(first_cell):
        raise _Mismatch("问题清单 title row")
    return tag[1].decode(), (tag[2] + cut[1]).decode(), (cut[2] + tag[3][len(first_cell) :]).decode()


def _problem_row(row: re.Match[bytes]) -> tuple[str, str, str, tuple[str, ...]]:
    """A 问题清单 row's tag around its number and height, and the heads of its four cells."""
    heads = []
    for m in _CELL.finditer(row[4]):
        style = re.match(rb'<c r="[A-Z]+[0-9]+"( s="[0-9]+")?', m[0])[1] or b""
        heads.append((m[1].decode(), style.decode()))
    if [col for col, _ in heads] != ["A", "B", "C", "D"]:
        raise _Mismatch("问题清单 row cells")
    middle, end = (b'"' + row[2] + b' ht="').decode(), (b'"' + row[3] + b">").decode()
    return '<row r="', middle, end, tuple(f'<c r="{col}{{}}"{style}' for col, style in heads)


@dataclass(frozen=True)
class Atlas:
    """Every input cell's comment as xlsxwriter writes it: its <comment> around the text, its drawing's
    <v:shape> around the shape's number and z-index; and the ends of both parts (the drawing's head cut
    at its o:idmap data). Each piece deflated once (`Fixed`)."""

    comments: dict[Cell, tuple[Fixed, Fixed]]
    shapes: dict[Cell, tuple[Fixed, Fixed, Fixed]]
    comment_ends: tuple[Fixed, Fixed]
    vml_ends: tuple[Fixed, Fixed, Fixed]

    @classmethod
    def from_form(cls, data: bytes, sheets: dict[str, str]) -> Atlas:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            parts = {info.filename: z.read(info) for info in z.infolist()}
        comments: dict[Cell, tuple[Fixed, Fixed]] = {}
        shapes: dict[Cell, tuple[Fixed, Fixed, Fixed]] = {}
        ends: dict[str, tuple[bytes, bytes]] = {}
        for member, (part, kind) in _comment_parts(parts, _sheet_parts(parts), sheets).items():
            data, sheet = parts[member], sheets[kind]
            pattern = _COMMENT if part == "comments" else _SHAPE
            found = list(pattern.finditer(data))
            ends[part] = (data[: found[0].start()], data[found[-1].end() :])
            for m in found:
                if part == "comments":
                    text = _COMMENT_TEXT.fullmatch(m[0])
                    comments[_cell(sheet, *_REF.fullmatch(m[1]).groups())] = _fixed_of(text[1], text[2])
                else:
                    where = _SHAPE_CELL.search(m[0])
                    ids = _SHAPE_IDS.search(m[0])
                    cell = Cell(sheet, int(where[1]), int(where[2]))
                    shape = (m[0][: ids.start()] + ids[1], ids[2], ids[3] + m[0][ids.end() :])
                    shapes[cell] = _fixed_of(*shape)
        head, end = ends["vml"]
        idmap = list(_IDMAP.finditer(head))
        if len(idmap) != 1:
            raise KeyError(f"{len(idmap)} o:idmap in a drawing")
        vml = _fixed_of(head[: idmap[0].end(1)], head[idmap[0].start(2) :], end)
        return cls(comments, shapes, _fixed_of(*ends["comments"]), vml)


def _fixed_of(*runs: bytes) -> tuple[Fixed, ...]:
    return tuple(Fixed.of(run) for run in runs)


class FeedbackTemplate:
    """The feedback forms of one campaign: frames and the atlas are built on first use."""

    def __init__(
        self,
        spec: FormSpec,
        cells: CellMap,
        campaign: Campaign,
        identity: Identity,
        password: Callable[[Unit], str],
    ):
        self.spec, self.cells, self.campaign = spec, cells, campaign
        self.identity = replace(identity, unit=UNIT, token=TOKEN)
        self.unit = Unit(UNIT, NAME)
        self.password = password(self.unit)
        self.sheets = {MAIN: spec.sheet, **({DETAIL: spec.detail.sheet} if spec.detail else {})}
        self.frames: dict[tuple[str, ...], Frame | str] = {}
        self.atlas: Atlas | str | None = None

    def frame(self, kinds: tuple[str, ...]) -> Frame | str:
        """The frame whose sheets `kinds` carry comments (or why there is none)."""
        if kinds not in self.frames:
            fill = self._stand_in(kinds, every=False)
            self.frames[kinds] = Frame.build(fill, self.identity, self.password, self.sheets)[0]
        return self.frames[kinds]

    def comment_atlas(self) -> Atlas | str:
        if self.atlas is None:
            data, _ = build(self._stand_in(tuple(self.sheets), every=True), self.identity, self.password)
            try:
                self.atlas = Atlas.from_form(data, self.sheets)
            except (KeyError, IndexError, TypeError) as exc:
                self.atlas = f"template: comments ({exc})"
        return self.atlas

    def _stand_in(self, kinds: tuple[str, ...], every: bool) -> FormFill:
        """The placeholder unit's feedback form without values: a problem without a cell (a 问题清单), and
        one on the first input of each sheet in `kinds` (on every input if `every`): their comments."""
        problem = Finding.make(Code.AUDIT_RULE, message=STAND_IN)
        problems = [problem]
        for cell in FormFill(self.spec, self.cells, self.campaign, self.unit, Prefill()).input_cells():
            kind = next((k for k, name in self.sheets.items() if name == cell.sheet), None)
            if kind in kinds and (every or all(p.sheet != cell.sheet for p in problems)):
                problems.append(replace(problem, sheet=cell.sheet, cell=cell.a1))
        return FormFill(self.spec, self.cells, self.campaign, self.unit, Prefill(), problems)

    def render(
        self,
        unit: Unit,
        identity: Identity,
        password: str,
        prefill: Prefill | None,
        problems: Sequence[Finding],
    ) -> bytes:
        """The unit's feedback form; raises Fallback when it must be built directly."""
        if not FAST:
            raise Fallback("xlsxwriter not verified for templates (xlsx_out.VERIFIED_VERSIONS)")
        if not problems:
            raise Fallback("no problems: not a feedback form")
        fill = FormFill(self.spec, self.cells, self.campaign, unit, prefill, problems)
        comments = fill.comments()
        frame = self.frame(_kinds(self.spec, comments))
        if isinstance(frame, str):
            raise Fallback(frame)
        reason = frame.names.fallback_reason(unit.name, identity)
        if reason is not None:
            raise Fallback(reason)
        atlas = self.comment_atlas() if frame.kinds else None
        if isinstance(atlas, str):
            raise Fallback(atlas)
        return _Rendering(frame, atlas, fill, comments, identity, password).package()


class _Rendering:
    """One unit's feedback form from a frame: its cells and shared strings in writing order, then the zip."""

    def __init__(
        self,
        frame: Frame,
        atlas: Atlas | None,
        fill: FormFill,
        comments: dict[Cell, str],
        identity: Identity,
        password: str,
    ):
        self.frame, self.atlas, self.fill = frame, atlas, fill
        self.comments: dict[str, list[tuple[Cell, str]]] = {}  # by sheet, in xlsxwriter's order
        for cell, text in sorted(comments.items(), key=lambda item: (item[0].row, item[0].col)):
            self.comments.setdefault(cell.sheet, []).append((cell, text))
        self.hash = _legacy_hash(password)
        self.values = {**_values(fill.unit.name, identity), HASH_KEY: self.hash.encode()}
        self.strings = list(frame.strings)
        self.texts = dict(frame.texts)
        raw = {NAME: fill.unit.name, UNIT: identity.unit, TOKEN: identity.token}
        for n, text in frame.templated:
            self.strings[n] = _fill(frame.strings[n], self.values)
            self.texts[_PLACEHOLDERS.sub(lambda m: raw[m[0]], text)] = n
        self.count = frame.string_cells
        # the unit's cells, in the order the writer writes them (their new texts are numbered so)
        cells, slots, styles = list(frame.blanks), frame.slots, frame.styles
        for cell, value, fmt in fill.inputs(filled=True):
            cells[slots[cell]] = self.input_cell(cell.a1, styles[fmt], value)
        for cell, value in fill.results().items():
            n = slots[cell]
            cells[n], cells[n + 1] = Xml.formula_result(value)
        self.cells = cells
        self.slots = {HASH: self.hash, **dict(zip((ROWS, PROBLEMS), self.problem_sheet(), strict=True))}

    def string(self, text: str) -> int:
        """A text cell's shared-string number: a known text's, or a new one at the end."""
        self.count += 1
        n = self.texts.get(text)
        if n is None:
            element = Xml.shared_string(text)
            if element is None:
                raise Fallback(f"a text xlsxwriter writes otherwise: {text[:20]!r}")
            n = self.texts[text] = len(self.strings)
            self.strings.append(element)
        return n

    def input_cell(self, ref: str, style: int, value: Any) -> str:
        """A cell as `forms_writer._write_value` writes `value` into it."""
        head = Xml.head(ref, style)
        kind, content = cell_content(value)
        if kind == "number":
            if not math.isfinite(content):
                raise Fallback("a number xlsxwriter refuses")
            return Xml.number_cell(head, content)
        if kind == "date":
            serial = Xml.serial(content)
            if serial is None:
                raise Fallback("a date with a time zone")
            return Xml.number_cell(head, serial)
        if kind == "text":
            return self.text_cell(head, content)
        if kind == "string":
            return Xml.string_cell(head, self.string(content))
        return Xml.blank_cell(head)

    def text_cell(self, head: str, value: Any) -> str:
        """`CheckedSheet.text`: cleaned text, empty → a blank cell."""
        text = clean_text(value)
        return Xml.string_cell(head, self.string(text)) if text else Xml.blank_cell(head)

    def problem_sheet(self) -> tuple[str, str]:
        """问题清单: (its last row's number, its rows), as `_FormWriter.problem_rows` writes them."""
        fill, frame = self.fill, self.frame
        title = fill.problem_title()
        before, middle, after = frame.title_row
        height = Xml.row_height(max(30, _height(title, 22)))
        out = [before, height, middle, str(self.string(title)), after, frame.header_row]
        start, mid, end, heads = frame.problem_row
        rows = fill.problem_rows()
        for n, (problem, message) in enumerate(rows, start=1):
            r = n + 2
            out += [
                f"{start}{r}{mid}{Xml.row_height(_height(message) + 4)}{end}",
                Xml.number_cell(heads[0].format(r), n),
                Xml.string_cell(heads[1].format(r), self.string(problem.severity.zh)),
                self.text_cell(heads[2].format(r), problem.location),
                self.text_cell(heads[3].format(r), message),
                "</row>",
            ]
        return str(len(rows) + 2), "".join(out)

    def sheet_of(self, kind: str) -> str:
        spec = self.fill.spec
        return spec.sheet if kind == MAIN or spec.detail is None else spec.detail.sheet

    def comments_part(self, kind: str) -> list[Fixed | bytes]:
        atlas = self.atlas
        assert atlas is not None
        out: list[Fixed | bytes] = [atlas.comment_ends[0]]
        for cell, text in self.comments[self.sheet_of(kind)]:
            before, after = atlas.comments[cell]
            out += [before, f"<t{Xml.preserve(text)}>{Xml.data(text)}".encode(), after]
        out.append(atlas.comment_ends[1])
        return out

    def vml_part(self, kind: str) -> list[Fixed | bytes]:
        atlas, frame = self.atlas, self.frame
        assert atlas is not None
        counts = [len(self.comments[self.sheet_of(k)]) for k in frame.kinds]
        data, first = Xml.vml_ids(counts)[frame.kinds.index(kind)]
        head, after_data, end = atlas.vml_ends
        out: list[Fixed | bytes] = [head, data.encode(), after_data]
        for z, (cell, _) in enumerate(self.comments[self.sheet_of(kind)]):
            before, middle, after = atlas.shapes[cell]
            out += [before, str(first + z).encode(), middle, str(z + 1).encode(), after]
        out.append(end)
        return out

    def cut(self, pieces: tuple[Any, ...]) -> list[Fixed | bytes]:
        cells, slots = self.cells, self.slots
        return [
            p
            if type(p) is Fixed
            else "".join(
                [q if type(q) is str else cells[q] if type(q) is int else slots[q] for q in p]
            ).encode()
            for p in pieces
        ]

    def shared_strings(self, pieces: tuple[Any, ...]) -> list[Fixed | bytes]:
        out: list[Fixed | bytes] = []
        for p in pieces:
            if type(p) is Fixed:
                out.append(p)
                continue
            for q in p:
                if type(q) is str:
                    out.append(q.encode())
                elif type(q) is int:
                    out.append(self.strings[q])  # a fixed text with the unit's name, id or token
                elif q is COUNTS:
                    out.append(b'count="%d" uniqueCount="%d">' % (self.count, len(self.strings)))
                else:
                    out += self.strings[len(self.frame.strings) :]
        return out

    def member(self, how: str, what: Any) -> Deflated:
        if how == "bytes":
            return what
        if how == "cut":
            return splice(self.cut(what))
        if how == "fill":
            return splice(p if type(p) is Fixed else self.values[p] for p in what)
        if how == "comments":
            return splice(self.comments_part(what))
        if how == "vml":
            return splice(self.vml_part(what))
        return splice(self.shared_strings(self.frame.sst))

    def package(self) -> bytes:
        return Xml.package((name, self.member(how, what)) for name, how, what in self.frame.members)
