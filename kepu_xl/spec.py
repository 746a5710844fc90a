"""Form definitions: forms/<id>.toml → a frozen `FormSpec`, plus SPEC_* findings.

A definition declares the numeric fields (grouped in sections, as on the paper form), the text
fields around them (填表人, 联系电话, 填报日期, 情况说明), an optional detail table (活动明细) and
audit rules. Loading never stops at the first problem: every problem is reported with where it
is and how to fix it, and a spec with any error is refused as a whole.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from . import rules, spec_book
from .files import write_atomic
from .findings import Code, Finding, Findings, KepuError, Severity
from .spec_book import INFO_TYPES, Located

NUMERIC = ("integer", "decimal")
COLUMN_TYPES = ("text", "date", "choice", "integer", "decimal")
ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED = {"value", "detail_rows", "detail_sum", "abs", "min", "max", "sum", "prev"}
EXCEL_PROMPT_LIMIT = 255  # data-validation input message; xlsxwriter refuses longer ones
EXCEL_FORMULA_TEXT_LIMIT = 255  # a text constant inside a formula (rule messages are live formulas)
# Sheets every form has besides the definition's own (instructions, identity, feedback list, field map), and
# the one report-up adds to the form from above (下级单位): no definition may use their names.
INFO_SHEET, META_SHEET, FEEDBACK_SHEET = "填报说明", "_meta", "问题清单"
FIELDS_SHEET, SUBUNITS_SHEET = "_fields", "下级单位"
FIXED_SHEETS = (INFO_SHEET, META_SHEET, FEEDBACK_SHEET, FIELDS_SHEET, SUBUNITS_SHEET)
SHEET_NAME_LIMIT = 31
_SHEET_BAD_CHARS = re.compile(r"[\[\]:*?/\\]")
DEFAULT_MAX = {"integer": 10_000_000, "decimal": 1_000_000}
ACTIVITIES, PARTICIPANTS = "activities", "public"  # the field and the section of `FormSpec.main_fields`
MAIN_FIELDS = 6
PLACEHOLDERS = ("label", "value", "unit")  # what a rule's message and check may name ({previous}: see Rule)

_FORM_KEYS = {"id", "version", "title", "sheet", "subtitle", "instructions"}
_SECTION_KEYS = {"id", "title", "fields", "from"}
_FIELD_KEYS = {"id", "label", "unit", "type", "min", "max", "places", "required", "formula", "help"}
_INFO_KEYS = {"id", "label", "type", "required", "help", "choices"}
_DETAIL_KEYS = {"sheet", "title", "rows", "columns", "key"}
_COLUMN_KEYS = {"id", "label", "type", "choices", "width", "min", "max", "places", "help"}
_RULE_KEYS = {"id", "when", "severity", "message", "each", "check"}


@dataclass(frozen=True, slots=True)
class Field:
    """A numeric field of the statistics table."""

    id: str
    label: str
    unit: str
    type: str  # integer | decimal
    section: str
    required: bool = True
    min: float = 0
    max: float = DEFAULT_MAX["integer"]
    places: int = 0
    formula: rules.Expr | None = None  # computed fields only
    help: str = ""

    @property
    def computed(self) -> bool:
        return self.formula is not None

    def rounded(self, value: float) -> float:
        """A sum of this field's values without binary-float noise (0.1 + 0.2 → 0.3), at its places."""
        return round(value, self.places if self.type == "decimal" else 6) + 0.0


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class InfoField:
    """A text field around the table: 填表人, 联系电话, 填报日期, 情况说明."""

    id: str
    label: str
    type: str  # text | phone | date | longtext | choice
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()  # a choice field's drop-down


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the detail table (one row per activity)."""

    id: str
    label: str
    type: str  # text | date | choice | integer | decimal
    choices: tuple[str, ...] = ()
    width: float = 12
    min: float = 0
    max: float = DEFAULT_MAX["integer"]
    places: int = 0
    help: str = ""


@dataclass(frozen=True, slots=True)
class Detail:
    sheet: str
    title: str
    rows: int
    columns: tuple[Column, ...]
    key: str  # the column whose filling makes a row count (活动名称)

    def column(self, column_id: str) -> Column:
        return next(c for c in self.columns if c.id == column_id)


@dataclass(frozen=True, slots=True)
class Rule:
    """One audit rule instance. A rule with `each` becomes one instance per listed field."""

    id: str
    when: rules.Expr
    severity: Severity
    message: str  # may use {label}, {value}, {unit} and {previous} (last year's value) of `target`
    target: str  # the field the finding points at
    check: str = ""  # what is checked, shown in the form until the rule fires; may use {label}, {unit}

    def text(self, spec: FormSpec, value: float | None = None, previous: float | None = None) -> str:
        target = spec.field(self.target)
        shown = "该数" if value is None else show_number(value)
        before = "—" if previous is None else show_number(previous)
        return self.message.format(label=target.label, value=shown, unit=target.unit, previous=before)

    def check_text(self, spec: FormSpec) -> str:
        """The neutral description of the check ("" when the definition gives none)."""
        target = spec.field(self.target)
        return self.check.format(label=target.label, value="", unit=target.unit, previous="")


@dataclass(frozen=True, slots=True)
class FormSpec:
    id: str
    version: str
    title: str
    sheet: str
    sections: tuple[Section, ...]
    info: tuple[InfoField, ...]
    detail: Detail | None
    rules: tuple[Rule, ...]  # the form's self-checks, checked by collect too
    instructions: tuple[str, ...] = ()
    source: str = ""
    # rules over last year's values (prev()): checked by collect only, never in the form (no cell holds
    # last year's value), and only for units that have one; kept apart so the form's layout is unchanged
    previous_rules: tuple[Rule, ...] = ()

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for s in self.sections for f in s.fields)

    @property
    def inputs(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.computed)

    @property
    def main_fields(self) -> tuple[Field, ...]:
        """The headline figures: the activity count (field `activities`, else the first input), every
        computed total, then the participants (the inputs of section `public`), in the form's order, at
        most MAIN_FIELDS. The summary shows last year's value of these per unit; the report's sentences
        and its table by unit category are about these."""
        inputs = self.inputs
        activity = next((f for f in inputs if f.id == ACTIVITIES), inputs[0] if inputs else None)
        public = {f.id for s in self.sections if s.id == PARTICIPANTS for f in s.fields}
        chosen = [f for f in self.fields if f is activity or f.computed or f.id in public]
        return tuple(chosen[:MAIN_FIELDS])

    def field(self, field_id: str) -> Field:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    def info_field(self, info_id: str) -> InfoField | None:
        return next((i for i in self.info if i.id == info_id), None)


def show_number(value: float) -> str:
    """A figure as messages and the report write it: 1,200 or 72.81 (at most 4 places, no trailing 0)."""
    return f"{value:,.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


# -- locating definitions ------------------------------------------------------------------------


def bundled_dir() -> Path:
    """The folder of bundled definitions (installed as the package `kepu_xl.forms`)."""
    return Path(str(resources.files("kepu_xl.forms")))


def bundled() -> list[Path]:
    return sorted(bundled_dir().glob("*.toml"))


def find(form: str, base: Path | None = None) -> Path:
    """A form reference → its file: a path (relative to `base`) or a bundled definition's id."""
    for candidate in ((base or Path.cwd()) / form, Path(form), bundled_dir() / f"{form}.toml"):
        if candidate.is_file():
            return candidate
    known = [p.stem for p in bundled()]
    # closest first: difflib ranks every bundled id by its likeness to what was typed
    ranked = difflib.get_close_matches(form, known, n=len(known), cutoff=0.0)
    path = (base or Path.cwd()) / form
    raise KepuError(
        Finding.make(Code.CAMPAIGN_UNKNOWN_FORM, form=form, path=str(path), known="、".join(ranked))
    )


def load(path: Path) -> FormSpec:
    """Load a definition; raise `KepuError` carrying every problem found."""
    spec, findings = check(path)
    if spec is None:
        raise KepuError(findings)
    return spec


def check(path: Path) -> tuple[FormSpec | None, list[Finding]]:
    """Load and check a definition: (spec or None when it has errors, all findings)."""
    out = Findings()
    raw = read_raw(path, out)
    if raw is None:
        return None, out.items
    spec = _Builder(raw, path.name, path.parent, out).build()
    return (spec if out.ok else None), out.items


def read_raw(path: Path, out: Findings) -> dict[str, Any] | None:
    """A definition's tables as one dict: TOML parsed, or a definition workbook read (spec_book.py) with its
    tables `Located` at their cells. None, with a finding, when the file cannot be read at all."""
    try:
        data = path.read_bytes()
        if spec_book.is_workbook(data):
            return spec_book.read(data, path.name, out)
        return tomllib.loads(data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        out.add(Code.SPEC_TOML, file=path.name, error=str(exc))
        return None


def borrow(raw: dict[str, Any], folder: Path) -> tuple[dict[str, Any] | None, str, str]:
    """`{from = "science_week", id = "staff"}` → (the donor's section with this one's keys over it, "", ""),
    or (None, the key at fault, why) when there is no such definition or section."""
    other = raw.get("from")
    path = next((p for p in (folder / f"{other}.toml", bundled_dir() / f"{other}.toml") if p.is_file()), None)
    if path is None:
        return None, "from", "找不到该表单定义"
    donor = tomllib.loads(path.read_text(encoding="utf-8"))
    match = [s for s in donor.get("sections", ()) if s.get("id") == raw.get("id")]
    if not match:
        return None, "id", f"{other} 中没有该部分"
    return {**match[0], **{k: v for k, v in raw.items() if k != "from"}}, "", ""


class _Builder:
    """Turns the raw TOML dict into a FormSpec, adding a finding for every problem."""

    def __init__(self, raw: dict[str, Any], name: str, folder: Path, out: Findings):
        self.raw, self.name, self.folder, self.out = raw, name, folder, out
        self.ids: set[str] = set()
        self.field_tables: dict[str, dict[str, Any]] = {}  # a field's raw table, to locate its formula
        # every numeric field with a good id, built or not: a rule naming a field whose label is missing
        # is not wrong too (the spec is refused anyway)
        self.field_ids: set[str] = set()

    def bad(self, code: Code, where: str, at: Any = None, col: str = "", **kw: Any) -> None:
        """A finding about table `at` (its key `kw["key"]`, else `col`); a `Located` table puts it at its cell."""
        located: dict[str, str] = {}
        if isinstance(at, Located):
            key = kw.get("key") or col
            where, located = at.where, {"sheet": at.sheet, "cell": at.cell(key)}
            if "key" in kw:
                kw["key"] = at.names.get(kw["key"], kw["key"])
            if code is Code.SPEC_BAD_VALUE and key in at.allowed:
                kw["rule"] = at.allowed[key]
        self.out.add(code, file=self.name, where=where, **located, **kw)

    def keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        names = table.names if isinstance(table, Located) else {}
        shown = "、".join(sorted(names.get(k, k) for k in allowed))
        for key in table:
            if key not in allowed:
                self.bad(Code.SPEC_UNKNOWN_KEY, where, table, key=key, allowed=shown)

    def need(self, table: dict[str, Any], key: str, where: str, kind: Any = str) -> Any:
        value = table.get(key)
        if value is None or value == "":
            self.bad(Code.SPEC_MISSING, where, table, key=key)
            return None
        if not isinstance(value, kind):
            rule = f"应为{_KIND_ZH.get(kind, '文字')}"
            self.bad(Code.SPEC_BAD_VALUE, where, table, key=key, value=value, rule=rule)
            return None
        return value

    def flag(self, table: dict[str, Any], key: str, where: str, default: bool) -> bool:
        """A true/false value (必填: 是/否 in a workbook); anything else is a finding, never read as true."""
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.bad(Code.SPEC_BAD_VALUE, where, table, key=key, value=value, rule="应为 true 或 false")
            return default
        return value

    def new_id(self, value: Any, where: str, at: Any = None) -> str | None:
        if not isinstance(value, str) or not ID_RE.match(value) or value in RESERVED:
            self.bad(Code.SPEC_BAD_ID, where, at, "id", id=value)
            return None
        if value in self.ids:
            self.bad(Code.SPEC_DUPLICATE_ID, where, at, "id", id=value)
            return None
        self.ids.add(value)
        return value

    def build(self) -> FormSpec | None:
        form = self.raw.get("form")
        if not isinstance(form, dict):
            self.bad(Code.SPEC_MISSING, "定义文件", self.raw, key="[form]")
            return None
        self.keys(form, _FORM_KEYS, "[form]")
        self.keys(self.raw, {"form", "sections", "info", "detail", "rules"}, "定义文件顶层")
        form_id = self.need(form, "id", "[form]")
        version = str(self.need(form, "version", "[form]", (str, int)) or "")
        title = self.need(form, "title", "[form]")
        sheet = self.sheet_name(form, "统计表", "[form]", list(FIXED_SHEETS))
        sections = tuple(self.sections())
        if not sections:
            self.bad(Code.SPEC_MISSING, "定义文件", self.raw, key="[[sections]]")
        info = tuple(self.info())
        detail = self.detail([*FIXED_SHEETS, sheet])
        fields = {f.id: f for s in sections for f in s.fields}
        sections = tuple(self.formulas(sections, set(fields) | self.field_ids))
        spec = FormSpec(
            id=form_id or "",
            version=version,
            title=title or "",
            sheet=sheet,
            sections=sections,
            info=info,
            detail=detail,
            rules=(),
            instructions=self.instructions(form),
            source=self.name,
        )
        rule_list = tuple(self.rules(spec))
        own = tuple(r for r in rule_list if not r.when.previous)
        over_last_year = tuple(r for r in rule_list if r.when.previous)
        built = {k: getattr(spec, k) for k in spec.__slots__}
        return FormSpec(**{**built, "rules": own, "previous_rules": over_last_year})

    def sheet_name(self, table: dict[str, Any], default: str, where: str, taken: list[str]) -> str:
        name = table.get("sheet", default)
        problem = _sheet_name_problem(name, taken)
        if problem:
            self.bad(Code.SPEC_BAD_VALUE, where, table, key="sheet", value=name, rule=f"工作表名{problem}")
        return name if isinstance(name, str) else str(name)

    def instructions(self, form: dict[str, Any]) -> tuple[str, ...]:
        """填报说明 lines: a list of texts (one text is one line)."""
        raw = form.get("instructions", ())
        lines = [raw] if isinstance(raw, str) else raw
        if not isinstance(lines, list | tuple) or not all(isinstance(x, str) for x in lines):
            self.bad(
                Code.SPEC_BAD_VALUE, "[form]", form, key="instructions", value=raw, rule="应为文字的列表"
            )
            return ()
        return tuple(lines)

    def text(self, raw: dict[str, Any], key: str, where: str, limit: int | None = None) -> str:
        """An optional text value ("" when absent); a number or table there is a finding."""
        value = raw.get(key, "")
        if not isinstance(value, str):
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key=key, value=value, rule="应为文字")
            return ""
        if limit is not None and len(value) > limit:
            self.bad(Code.SPEC_TOO_LONG, where, raw, key=key, length=len(value), limit=limit)
        return value

    def places(self, raw: dict[str, Any], kind: str, where: str) -> int:
        value = raw.get("places", 4 if kind == "decimal" else 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="places", value=value, rule="应为 0～10 的整数")
            return 0
        if kind == "integer" and value:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="places", value=value, rule="整数指标不能有小数位")
        return value

    # -- sections and fields -----------------------------------------------------------------

    def sections(self) -> Iterator[Section]:
        for n, raw in enumerate(self.raw.get("sections", ()), start=1):
            where = f"第 {n} 个 [[sections]]"
            if "from" in raw:
                raw = self.borrowed(raw, where)
                if raw is None:
                    continue
            self.keys(raw, _SECTION_KEYS, where)
            title = self.need(raw, "title", where)
            section_id = raw.get("id") or f"section{n}"
            fields = tuple(
                self.field(f, section_id, f"{where} 第 {m} 个指标")
                for m, f in enumerate(raw.get("fields", ()), 1)
            )
            fields = tuple(f for f in fields if f is not None)
            if not raw.get("fields"):  # (fields that failed have their own findings)
                self.bad(Code.SPEC_MISSING, where, raw, key="fields")
            yield Section(id=section_id, title=title or "", fields=fields)

    def borrowed(self, raw: dict[str, Any], where: str) -> dict[str, Any] | None:
        """`{from = "science_week", id = "staff"}` reuses a section of another definition."""
        section, key, rule = borrow(raw, self.folder)
        if section is None:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key=key, value=raw.get(key), rule=rule)
        return section

    def field(self, raw: dict[str, Any], section: str, where: str) -> Field | None:
        self.keys(raw, _FIELD_KEYS, where)
        where = f"指标 {raw.get('id', where)}"
        field_id = self.new_id(raw.get("id"), where, raw)
        self.field_ids |= {field_id} if field_id else set()
        label = self.need(raw, "label", where)
        unit = self.need(raw, "unit", where)
        kind = raw.get("type", "integer")
        if kind not in NUMERIC:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="type", value=kind, rule="应为 integer 或 decimal")
            kind = "decimal" if "places" in raw else "integer"  # one finding, not a second about places
        places = self.places(raw, kind, where)
        low, high = self.bounds(raw, kind, where)
        help_text = self.text(raw, "help", where, EXCEL_PROMPT_LIMIT)
        required = self.flag(raw, "required", where, True)
        if field_id is None or label is None or unit is None:
            return None
        self.field_tables[field_id] = raw
        return Field(
            id=field_id,
            label=label,
            unit=unit,
            type=kind,
            section=section,
            required=required,
            min=low,
            max=high,
            places=places,
            formula=raw.get("formula"),  # parsed in formulas() once all ids are known
            help=help_text,
        )

    def formulas(self, sections: tuple[Section, ...], names: set[str]) -> Iterator[Section]:
        for section in sections:
            fields = []
            for f in section.fields:
                if isinstance(f.formula, str):
                    try:
                        expr = rules.parse(f.formula, names - {f.id})
                    except rules.RuleError as exc:
                        at = self.field_tables.get(f.id)
                        where = f"指标 {f.id} 的 formula"
                        self.bad(Code.SPEC_RULE, where, at, "formula", expr=f.formula, error=str(exc))
                        expr = None
                    f = Field(**{**{k: getattr(f, k) for k in f.__slots__}, "formula": expr})
                fields.append(f)
            yield Section(section.id, section.title, tuple(fields))

    # -- text fields and the detail table ----------------------------------------------------

    def info(self) -> Iterator[InfoField]:
        for n, raw in enumerate(self.raw.get("info", ()), start=1):
            where = f"第 {n} 个 [[info]]"
            self.keys(raw, _INFO_KEYS, where)
            info_id = self.new_id(raw.get("id"), where, raw)
            label = self.need(raw, "label", where)
            kind = raw.get("type", "text")
            if kind not in INFO_TYPES:
                rule = "应为 " + "、".join(INFO_TYPES)
                self.bad(Code.SPEC_BAD_VALUE, where, raw, key="type", value=kind, rule=rule)
            required = self.flag(raw, "required", where, False)
            choices = self.choices(raw, kind, where)
            if info_id and label:
                help_text = self.text(raw, "help", where, EXCEL_PROMPT_LIMIT)
                yield InfoField(info_id, label, kind, required, help_text, choices)

    def detail(self, taken: list[str]) -> Detail | None:
        raw = self.raw.get("detail")
        if raw is None:
            return None
        where = "[detail]"
        self.keys(raw, _DETAIL_KEYS, where)
        columns: list[Column] = []
        for n, col in enumerate(raw.get("columns", ()), start=1):
            column = self.column(col, f"[detail] 第 {n} 列", {c.id for c in columns})
            if column is not None:
                columns.append(column)
        seen = {c.id for c in columns}
        rows = raw.get("rows", 50)
        if not isinstance(rows, int) or not 1 <= rows <= 5000:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="rows", value=rows, rule="应为 1～5000 的整数")
            rows = 50
        key = raw.get("key", columns[0].id if columns else "")
        if key not in seen:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="key", value=key, rule="应为明细表中某一列的编号")
        sheet = self.sheet_name(raw, "活动明细", where, taken)
        return Detail(sheet, raw.get("title", "活动明细"), rows, tuple(columns), key)

    def column(self, col: dict[str, Any], where: str, seen: set[str]) -> Column | None:
        self.keys(col, _COLUMN_KEYS, where)
        col_id, label = col.get("id"), self.need(col, "label", where)
        if not isinstance(col_id, str) or not ID_RE.match(col_id) or col_id in seen:
            code = Code.SPEC_BAD_ID if col_id not in seen else Code.SPEC_DUPLICATE_ID
            self.bad(code, where, col, "id", id=col_id)
            return None
        kind = col.get("type", "text")
        if kind not in COLUMN_TYPES:
            rule = "应为 " + "、".join(COLUMN_TYPES)
            self.bad(Code.SPEC_BAD_VALUE, where, col, key="type", value=kind, rule=rule)
        width = col.get("width", 12)
        if not isinstance(width, int | float) or isinstance(width, bool) or not 1 <= width <= 100:
            self.bad(Code.SPEC_BAD_VALUE, where, col, key="width", value=width, rule="应为 1～100 的数字")
            width = 12
        low, high = self.bounds(col, kind, where)
        return Column(
            id=col_id,
            label=label or "",
            type=kind,
            choices=self.choices(col, kind, where),
            width=width,
            min=low,
            max=high,
            places=self.places(col, kind, where),
            help=self.text(col, "help", where, EXCEL_PROMPT_LIMIT),
        )

    def choices(self, raw: dict[str, Any], kind: str, where: str) -> tuple[str, ...]:
        value = raw.get("choices", ())
        if not isinstance(value, list | tuple) or not all(isinstance(x, str) and x for x in value):
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="choices", value=value, rule="应为文字的列表")
            return ()
        if kind == "choice" and not value:
            self.bad(Code.SPEC_MISSING, where, raw, key="choices")
        return tuple(value)

    def bounds(self, raw: dict[str, Any], kind: str, where: str) -> tuple[float, float]:
        default = DEFAULT_MAX.get(kind, 0)
        low, high = raw.get("min", 0), raw.get("max", default)
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (low, high)) or low > high:
            rule = "应为数字且 min ≤ max"
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="min/max", value=f"{low}～{high}", rule=rule)
            return 0, default
        return low, high

    # -- rules -------------------------------------------------------------------------------

    def rules(self, spec: FormSpec) -> Iterator[Rule]:
        names = {f.id for f in spec.fields} | self.field_ids
        columns = {c.id for c in spec.detail.columns} if spec.detail else set()
        rule_ids: set[str] = set()
        for n, raw in enumerate(self.raw.get("rules", ()), start=1):
            where = f"规则 {raw.get('id', n)}"
            self.keys(raw, _RULE_KEYS, where)
            text = self.rule_text(raw, where, rule_ids)
            targets = self.rule_targets(raw, where, names) if text is not None else None
            if text is None or targets is None or text.when is None or text.message is None:
                continue
            for target in targets:
                rule = self.rule_for(raw, where, text, target, spec, names, columns)
                if rule is None:
                    break
                yield rule

    def rule_text(self, raw: dict[str, Any], where: str, rule_ids: set[str]) -> _RuleText | None:
        """A rule's id, condition, messages and severity, checked; None when the rule cannot be kept."""
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not ID_RE.match(rule_id):
            self.bad(Code.SPEC_BAD_ID, where, raw, "id", id=rule_id)
            return None
        if rule_id in rule_ids:
            self.bad(Code.SPEC_DUPLICATE_ID, where, raw, "id", id=rule_id)
            return None
        rule_ids.add(rule_id)
        when, message = self.need(raw, "when", where), self.need(raw, "message", where)
        check = self.text(raw, "check", where, EXCEL_FORMULA_TEXT_LIMIT)
        if isinstance(message, str) and len(message) > EXCEL_FORMULA_TEXT_LIMIT:
            limit = EXCEL_FORMULA_TEXT_LIMIT
            self.bad(Code.SPEC_TOO_LONG, where, raw, key="message", length=len(message), limit=limit)
        severity = raw.get("severity", "warning")
        if severity not in ("error", "verify", "warning"):
            rule = "应为 error（错误）、verify（待核实）或 warning（警告）"
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="severity", value=severity, rule=rule)
            return None
        return _RuleText(rule_id, when, message, check, Severity(severity))

    def rule_targets(self, raw: dict[str, Any], where: str, names: set[str]) -> list[str | None] | None:
        """The fields `each` names (the rule is checked for each, as `value`), or [None] without `each`;
        None when `each` is wrong."""
        each = raw.get("each")
        if each is None:
            return [None]
        if not isinstance(each, list) or not each:
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="each", value=each, rule="应为指标编号的列表")
            return None
        unknown = [str(x) for x in each if x not in names]
        if unknown:
            shown = "、".join(unknown)
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key="each", value=shown, rule="没有这些指标编号")
            return None
        return list(each)

    def rule_for(
        self,
        raw: dict[str, Any],
        where: str,
        text: _RuleText,
        target: str | None,
        spec: FormSpec,
        names: set[str],
        columns: set[str],
    ) -> Rule | None:
        """The rule for one target: its condition parsed (`value` → the target), pointed at a field, its
        messages' placeholders checked. None, with findings, when it cannot be made."""
        when = text.when if target is None else re.sub(r"\bvalue\b", target, text.when)
        try:
            expr = rules.parse(when, names, columns, previous=True)
            if spec.detail is None and (expr.detail_columns or rules.DETAIL_ROWS in when):
                raise rules.RuleError("此表没有明细表，不能使用 detail_rows / detail_sum")
        except rules.RuleError as exc:
            self.bad(Code.SPEC_RULE, where, raw, "when", expr=text.when, error=str(exc))
            return None
        point = target or (expr.names[0] if expr.names else None)
        if point is None:
            self.bad(Code.SPEC_RULE, where, raw, "when", expr=text.when, error="至少要引用一个指标")
            return None
        # {previous} (last year's value) only where the rule reads last year's values
        allowed = (*PLACEHOLDERS, "previous") if expr.previous else PLACEHOLDERS
        texts = (("message", text.message), ("check", text.check))
        bad = [(k, t) for k, t in texts if not _placeholders_ok(t, allowed)]
        for key, value in bad:
            shown = "、".join("{" + name + "}" for name in allowed)
            self.bad(Code.SPEC_BAD_VALUE, where, raw, key=key, value=value, rule=f"只能使用 {shown}")
        if bad:
            return None
        return Rule(text.id, expr, text.severity, text.message, point, text.check)


class _RuleText(NamedTuple):
    """What a [[rules]] table says, before its condition is parsed for each target."""

    id: str
    when: Any  # str, or None when missing (reported)
    message: Any
    check: str
    severity: Severity


def _placeholders_ok(text: str, allowed: tuple[str, ...]) -> bool:
    try:
        text.format(**dict.fromkeys(allowed, ""))
    except (KeyError, IndexError, ValueError):
        return False
    return True


def _sheet_name_problem(name: Any, taken: list[str]) -> str | None:
    """Why Excel would refuse `name` as a sheet name next to `taken`, or None."""
    if not isinstance(name, str) or not name.strip():
        return "应为非空文字"
    if len(name) > SHEET_NAME_LIMIT:
        return f"不能超过 {SHEET_NAME_LIMIT} 个字（现为 {len(name)} 个）"
    if _SHEET_BAD_CHARS.search(name) or name.startswith("'") or name.endswith("'"):
        return "不能含有 [ ] : * ? / \\ 等字符，也不能以单引号开头或结尾"
    if name.casefold() in (t.casefold() for t in taken):
        return "与表格中另一张工作表同名（" + "、".join(taken) + "）"
    return None


_KIND_ZH = {str: "文字", int: "整数", (str, int): "文字或整数", bool: "true/false", list: "列表"}


# -- a checked definition as a definition workbook (kepuxl forms export) ------------------------------


def spec_raw(spec: FormSpec, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A checked definition as explicit raw tables (every section's fields spelled out, types and
    required written even where they are the default): what `write` puts in a workbook. `rules` are
    the raw rules (with `each` and `value`), which a FormSpec holds expanded."""
    form: dict[str, Any] = {"id": spec.id, "version": spec.version, "title": spec.title, "sheet": spec.sheet}
    if spec.instructions:
        form["instructions"] = list(spec.instructions)
    raw: dict[str, Any] = {"form": form, "sections": [], "info": []}
    for section in spec.sections:
        fields = []
        for f in section.fields:
            item = {"id": f.id, "label": f.label, "unit": f.unit, "type": f.type, "required": f.required}
            item |= {"places": f.places} if f.type == "decimal" else {}
            item |= {"min": f.min} if f.min != 0 else {}
            item |= {"max": f.max} if f.max != DEFAULT_MAX[f.type] else {}
            item |= {"formula": f.formula.text} if f.formula is not None else {}
            item |= {"help": f.help} if f.help else {}
            fields.append(item)
        raw["sections"].append({"id": section.id, "title": section.title, "fields": fields})
    for i in spec.info:
        raw["info"].append({"id": i.id, "label": i.label, "type": i.type, "required": i.required} | _help(i))
    if spec.detail is not None:
        d = spec.detail
        columns = []
        for c in d.columns:
            item = {"id": c.id, "label": c.label, "type": c.type, "width": c.width}
            item |= {"choices": list(c.choices)} if c.choices else {}
            item |= {"places": c.places} if c.type == "decimal" else {}
            item |= {"min": c.min} if c.min != 0 else {}
            item |= {"max": c.max} if c.max != DEFAULT_MAX.get(c.type, 0) else {}
            columns.append(item | _help(c))
        raw["detail"] = {"sheet": d.sheet, "title": d.title, "rows": d.rows, "key": d.key, "columns": columns}
    raw["rules"] = [dict(r) for r in rules]
    return raw


def _help(item: Any) -> dict[str, str]:
    return {"help": item.help} if item.help else {}


def export(path: Path) -> bytes:
    """A definition (TOML or workbook) as a definition workbook; `KepuError` when it does not check."""
    spec, findings = check(path)
    if spec is None:
        raise KepuError(findings)
    raw = read_raw(path, Findings()) or {}
    return spec_book.write(spec_raw(spec, list(raw.get("rules", ()))))


def export_to(path: Path, output: Path, *, overwrite: bool = False) -> Path:
    """`export` written (atomically) to `output`, which is never replaced unless `overwrite`."""
    if output.exists() and not overwrite:
        raise KepuError(Finding.make(Code.DEFINITION_EXISTS, path=str(output)))
    return write_atomic(output, export(path))
