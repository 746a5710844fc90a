"""`ReturnedForm` + spec → who sent it, clean numbers, and findings at sheet!cell.

Values are re-validated here because Excel's validation is bypassed by paste and other suites.
Unambiguous formatting (full-width digits, thousands separators, spaces, zero-width
characters) is normalised and recorded; anything ambiguous ("约300", "12次", "300-400") is an
error quoting the raw text, never a silent 0. Totals are recomputed, never taken from the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import identity as identity_mod
from . import subunits
from .campaign import Campaign, Unit
from .findings import Code, Finding, Severity
from .identity import Identity
from .layout import DETAIL_ROW_KEY, CellMap
from .reader import Raw, ReturnedForm
from .rules import DetailStats
from .spec import Column, Field, FormSpec
from .textnorm import name_key, squash
from .xlsx_out import EXCEL_TEXT_LIMIT

_PLAIN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
# Text that counts as 0 ("none" in Chinese statistics), once these spaces are removed: exactly what the
# form's own formulas recognise (forms_writer), so that the form and collect give the same verdict.
ZERO_WORDS = ("-", "--", "－", "－－", "—", "——", "–", "无")
ZERO_SPACES = (" ", "\u3000", "\u00a0")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
)
_NO_YEAR = re.compile(r"^(\d{1,2})月(\d{1,2})[日号]?$")  # "5月21日" pasted as text: the campaign's year


@dataclass
class Audited:
    """The audit's verdict on one return."""

    unit: Unit | None
    values: dict[str, float | None] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    detail: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    is_form: bool = True
    subunits: list[subunits.SubUnit] = field(default_factory=list)  # the 下级单位 rows of a return from below


# -- identity ------------------------------------------------------------------------------------


def identify(
    form: ReturnedForm, campaign: Campaign, spec: FormSpec, cells: CellMap, secret: bytes
) -> tuple[Unit | None, list[Finding]]:
    """Which roster unit sent this form, checking every identity carrier against the others."""
    out: list[Finding] = []
    sheet, unit_cell = cells.main, cells.unit.a1
    ident, props = form.meta, form.props
    if ident is None and props is None:
        unit = campaign.unit_by_name(form.unit_text)
        if unit is None:
            out.append(
                Finding.make(
                    Code.ID_UNKNOWN_UNIT, sheet=sheet, cell=unit_cell, name=form.unit_text or "（空）"
                )
            )
            return None, out
        out.append(Finding.make(Code.ID_NO_IDENTITY, sheet=sheet, cell=unit_cell, name=unit.name))
        return unit, out
    if ident is None:
        ident = props
    elif props is not None and props != ident:
        differ = [k for k in identity_mod.KEYS if getattr(props, k) != getattr(ident, k)]
        detail = "文档属性与隐藏信息表的" + "、".join(differ) + "不同"
        out.append(Finding.make(Code.ID_MISMATCH, sheet=sheet, cell=unit_cell, detail=detail))
    unit = campaign.unit(ident.unit)
    stamp = _stamp_problem(form, ident, campaign, spec, cells, secret)
    if stamp is not None:
        out.append(stamp)
    if unit is None:
        by_name = campaign.unit_by_name(form.unit_text)
        out.append(
            Finding.make(Code.ID_UNKNOWN_UNIT, sheet=sheet, cell=unit_cell, name=form.unit_text or ident.unit)
        )
        return by_name, out
    if form.has_main and name_key(form.unit_text) != name_key(unit.name):
        detail = f"表内单位为“{form.unit_text}”，身份信息为“{unit.name}”"
        out.append(Finding.make(Code.ID_MISMATCH, sheet=sheet, cell=unit_cell, detail=detail))
        # the visible name is who sent it: the error goes to that unit, not the form's owner
        return campaign.unit_by_name(form.unit_text) or unit, out
    return unit, out


def _stamp_problem(
    form: ReturnedForm, ident: Identity, campaign: Campaign, spec: FormSpec, cells: CellMap, secret: bytes
) -> Finding | None:
    """What is wrong with a stamp of this campaign: another campaign or year, an old form, a bad token.

    A legacy stamp (kepuxl 0.1: no year, no title) of this campaign and key is placed in a year by
    the form's visible title, "2023年…": this year's is accepted with a note, any other is refused.
    """
    at = {"sheet": cells.main, "cell": cells.unit.a1}
    current = {"current_year": campaign.year, "current_title": campaign.title}
    if ident.campaign != campaign.id:
        return Finding.make(Code.ID_OTHER_CAMPAIGN, **at, campaign=ident.campaign)
    if ident.legacy:
        year = re.match(r"\s*(\d{4})\s*年", form.title_text)
        title = form.title_text or "（空）"
        if year is None:
            return Finding.make(Code.ID_LEGACY_NO_YEAR, **at, title=title, **current)
        if int(year.group(1)) != campaign.year:
            return Finding.make(Code.ID_OTHER_YEAR, **at, year=year.group(1), title=title, **current)
    elif (ident.year, ident.title) != (str(campaign.year), campaign.title):
        return Finding.make(Code.ID_OTHER_YEAR, **at, year=ident.year, title=ident.title, **current)
    if (
        ident.form != spec.id
        or ident.version != spec.version
        or (ident.layout and ident.layout != cells.fingerprint())
    ):
        version, expected = f"{ident.form} {ident.version}", f"{spec.id} {spec.version}"
        return Finding.make(Code.ID_OLD_VERSION, **at, version=version, expected=expected)
    if not identity_mod.verify(ident, secret):
        return Finding.make(Code.ID_BAD_TOKEN, **at)
    if ident.legacy:
        return Finding.make(Code.ID_LEGACY_STAMP, **at, title=form.title_text, year=campaign.year)
    return None


# -- values --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parsed:
    value: float | None
    code: Code | None = None  # a finding to record (error, or info for a normalisation)
    context: dict[str, Any] = field(default_factory=dict)


clean_text = squash  # a number cell's text as it is parsed: NFKC, no invisible characters or spaces


def parse_number(raw: Raw) -> Parsed:
    """A cell → a number, or the reason it is not one. Never guesses.

    The verdicts are the form's: a number (typed, or a formula's saved result) is a number; text is
    never a number, because the form's totals and self-checks cannot count it, except a dash or 无
    (0, as the form counts it); text that reads as a number ("１２００", "1,200") is an error that
    names the number to retype.
    """
    v, kind = raw.value, raw.kind
    if raw.blank:
        return Parsed(None)
    if kind == "f":
        if isinstance(v, int | float) and not isinstance(v, bool):
            number = _finite(v)
            if number is not None:
                return Parsed(
                    number, Code.AUDIT_FORMULA_VALUE, {"raw": _formula(raw), "value": _show(number)}
                )
        if not isinstance(v, str) or not v.strip():  # no saved result, or TRUE/FALSE
            return Parsed(None, Code.AUDIT_UNPARSED, {"raw": _formula(raw)[:60]})
        kind = "s"  # a formula whose result is text: judged as that text
    if kind == "e":
        return Parsed(None, Code.AUDIT_CELL_ERROR, {"raw": v})
    if kind == "n":
        number = _finite(v)
        if number is None:  # NaN/INF/1E+400 saved into a number cell: not a count
            return Parsed(None, Code.AUDIT_UNPARSED, {"raw": str(v)[:60]})
        return Parsed(number)
    if kind in ("d", "b"):
        return Parsed(None, Code.AUDIT_UNPARSED, {"raw": _show(v)})
    text = str(v)
    squeezed = text
    for space in ZERO_SPACES:
        squeezed = squeezed.replace(space, "")
    if squeezed in ZERO_WORDS:
        return Parsed(0.0, Code.AUDIT_DASH_ZERO, {"raw": text})
    cleaned = clean_text(text)
    if _THOUSANDS.match(cleaned):
        cleaned = cleaned.replace(",", "")
    if _PLAIN.match(cleaned) and math.isfinite(number := float(cleaned) + 0.0):
        return Parsed(None, Code.AUDIT_NUMBER_AS_TEXT, {"raw": text.strip()[:60], "value": _show(number)})
    return Parsed(None, Code.AUDIT_UNPARSED, {"raw": text.strip()[:60]})


def _finite(v: Any) -> float | None:
    try:
        number = float(v) + 0.0  # -0.0 → 0.0
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _formula(raw: Raw) -> str:
    return "=" + raw.formula.lstrip("=")


def check_number(number: float, f: Field | Column) -> tuple[Code, dict[str, Any]] | None:
    if number < 0:
        return Code.AUDIT_NEGATIVE, {"value": _show(number)}
    if number > f.max:  # first: the place checks below overflow on numbers like 1e308
        return Code.AUDIT_OUT_OF_RANGE, {"value": _show(number), "low": _show(f.min), "high": _show(f.max)}
    if f.type == "integer" and abs(number - round(number)) > 1e-9:
        return Code.AUDIT_NOT_INTEGER, {"value": _show(number)}
    if f.type == "decimal" and abs(number * 10**f.places - round(number * 10**f.places)) > 1e-6:
        return Code.AUDIT_DECIMALS, {"value": _show(number), "places": f.places}
    return None


def _show(v: Any) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.10g}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d") if v.time() == datetime.min.time() else v.isoformat(sep=" ")
    return str(v)


# -- the audit -------------------------------------------------------------------------------------


def audit(
    form: ReturnedForm,
    spec: FormSpec,
    cells: CellMap,
    unit: Unit | None,
    previous: Mapping[str, float | None] | None = None,
    campaign: Campaign | None = None,
) -> Audited:
    """Structure, values, totals, rules and detail rows of one identified return.

    `previous`: the unit's values last year ([compare]), read by the rules over last year (prev()); None
    when there are none, and then those rules are not checked. `campaign`: the one whose days a date written
    without its year ("5月21日") falls in (`Campaign.days_year`; None: such a date is not read), and whose
    example date a message about a date gives.
    """
    result = Audited(unit=unit)
    out = result.findings

    def add(code: Code, at: Raw | None = None, severity: Severity | None = None, **ctx: Any) -> None:
        where = {"sheet": at.cell.sheet, "cell": at.cell.a1} if at is not None else {}
        out.append(Finding.make(code, severity=severity, **where, **ctx))

    if not _structure(form, cells, out):
        return result  # positions are unreliable: reading on would put numbers in the wrong fields
    bad = _numbers(form, spec, result, add)
    note = _info(form, spec, result, campaign, add)
    stats = _detail(form, spec, result, campaign, add)
    if _all_blank(form, spec):
        # one finding for a form sent back empty, not one per empty cell
        first = form.fields[spec.inputs[0].id] if spec.inputs else None
        out[:] = [f for f in out if f.code not in _BLANK_NOISE]
        add(Code.AUDIT_BLANK, first)
        return result
    explained = note if explains(note) else ""
    for rule in (*spec.rules, *(spec.previous_rules if previous is not None else ())):
        if any(n in bad for n in rule.when.names):
            continue  # a rule over a wrong number would only echo the error already reported
        if rule.when.evaluate(result.values, stats, previous):
            out.append(_rule_finding(rule, spec, cells, result.values, explained, previous))
    if form.subunits is not None:  # a return made by report-up: its units below must add up to it
        result.subunits = form.subunits
        out.extend(form.subunit_findings)
        out.extend(subunits.check(form.subunits, result.values, spec, cells))
    return result


def _structure(form: ReturnedForm, cells: CellMap, out: list[Finding]) -> bool:
    """The sheets and the labels where the layout puts them; False when the values cannot be read."""
    if not form.has_main:
        out.append(Finding.make(Code.AUDIT_SHEET_MISSING, sheet=cells.main, name=cells.main))
        return False
    if cells.detail and not form.has_detail:
        out.append(Finding.make(Code.AUDIT_SHEET_MISSING, sheet=cells.detail, name=cells.detail))
    if form.first_difference:
        cell, expected, actual = form.first_difference
        out.append(
            Finding.make(
                Code.AUDIT_STRUCTURE,
                sheet=cell.sheet,
                cell=cell.a1,
                expected=expected,
                actual=actual or "（空）",
            )
        )
        return False
    for name in form.unprotected:
        out.append(Finding.make(Code.AUDIT_UNPROTECTED, sheet=name, name=name))
    return True


def _numbers(form: ReturnedForm, spec: FormSpec, result: Audited, add: Any) -> set[str]:
    """Every input parsed and checked, every total recomputed (into `result.values`); returns the ids of
    the fields whose number is wrong, or is a total over one."""
    values: dict[str, float | None] = {}
    bad: set[str] = set()
    for f in spec.inputs:
        raw = form.fields[f.id]
        result.raw[f.id] = raw.value
        parsed = parse_number(raw)
        ctx = {"label": f.label, "measure": f.unit, **parsed.context}
        if parsed.code is not None:
            add(parsed.code, raw, **ctx)
        if parsed.value is None:
            if parsed.code is None and f.required:
                add(Code.AUDIT_REQUIRED, raw, label=f.label)
            bad.add(f.id)
            values[f.id] = None
            continue
        problem = check_number(parsed.value, f)
        if problem:
            add(problem[0], raw, **{**ctx, **problem[1]})
            bad.add(f.id)
        values[f.id] = parsed.value
    for f in spec.fields:
        if f.computed:
            values[f.id] = _total(f, values, form.fields[f.id], add)
            if any(n in bad for n in f.formula.names):
                bad.add(f.id)
    result.values = values
    return bad


def _total(f: Field, values: dict[str, float | None], raw: Raw, add: Any) -> float:
    """A total recomputed from its parts; the form's cached result is never trusted, only compared."""
    total = f.rounded(float(f.formula.evaluate(values)))
    cached = raw.value
    if isinstance(cached, int | float) and not isinstance(cached, bool) and abs(cached - total) > 1e-6:
        add(Code.AUDIT_TOTAL_DIFFERS, raw, label=f.label, cached=_show(float(cached)), value=_show(total))
    return total


def _info(form: ReturnedForm, spec: FormSpec, result: Audited, campaign: Campaign | None, add: Any) -> str:
    """The fields around the table (填表人, 联系电话, 填报日期, 情况说明) into `result.info`; returns the
    情况说明 (the long text), which may explain a rule's finding."""
    note = ""
    for item in spec.info:
        raw = form.info.get(item.id)
        if raw is None:
            continue
        if item.type == "date":
            parsed_date = _date(raw, item.label, campaign, add)
            result.info[item.id] = parsed_date if isinstance(parsed_date, date) else (parsed_date or None)
        else:
            text = _fit("" if raw.blank else _show(raw.value).strip(), raw, item.label, add)
            result.info[item.id] = text
            if item.type == "longtext":
                note = text
            if item.type == "choice" and text and text not in item.choices:
                choices = "、".join(item.choices)
                add(Code.AUDIT_BAD_CHOICE, raw, label=item.label, raw=_quote(text), choices=choices)
        if item.required and raw.blank:
            add(Code.AUDIT_INFO_MISSING, raw, label=item.label)
    return note


# A 情况说明 explains a warning or a 待核实 when, once spaces and punctuation are taken out, it still has at
# least EXPLANATION_MIN_CHARS characters: "无", "没有", "暂无", "略", "见附件", "——" do not. The form's own
# formulas compute the same test (forms_writer: SUBSTITUTE of each ignored character, then LEN), so the unit
# sees the verdict collect will give while filling in.
EXPLANATION_MIN_CHARS = 4
EXPLANATION_IGNORED = " \u3000\u00a0\t\r\n。，、；：！？…—－-～~·.,;:!?\"'“”‘’（）()《》【】[]"


def explains(note: str) -> bool:
    """Whether a unit's 情况说明 counts as an explanation of its warnings and 待核实 values."""
    core = note or ""
    for ch in EXPLANATION_IGNORED:
        core = core.replace(ch, "")
    return len(core) >= EXPLANATION_MIN_CHARS


def _rule_finding(
    rule: Any,
    spec: FormSpec,
    cells: CellMap,
    values: dict[str, float | None],
    note: str,
    previous: Mapping[str, float | None] | None = None,
) -> Finding:
    """A fired rule at its target cell. Explained by the unit (`note`): a warning becomes a note (info)
    and a 待核实 becomes a warning — counted, still shown — both quoting the unit's words."""
    cell = cells.fields[rule.target]
    last_year = (previous or {}).get(rule.target)
    message, severity = rule.text(spec, values.get(rule.target), last_year), rule.severity
    lowered = {Severity.WARNING: Severity.INFO, Severity.VERIFY: Severity.WARNING}
    if note and severity in lowered:
        message = f"【已说明】{message}（单位说明：{_quote(note, 80)}）"
        severity = lowered[severity]
    return Finding(
        code=Code.AUDIT_RULE,
        message=message,
        severity=severity,
        sheet=cell.sheet,
        cell=cell.a1,
        context={"rule": rule.id, "explained": bool(note) and rule.severity in lowered},
    )


_BLANK_NOISE = frozenset({Code.AUDIT_REQUIRED, Code.AUDIT_INFO_MISSING})


def _all_blank(form: ReturnedForm, spec: FormSpec) -> bool:
    """Nothing typed anywhere: every input, every info field and the detail table are empty."""
    return (
        all(form.fields[f.id].blank for f in spec.inputs)
        and all(raw.blank for raw in form.info.values())
        and not form.detail
    )


def _detail(
    form: ReturnedForm, spec: FormSpec, result: Audited, campaign: Campaign | None, add: Any
) -> DetailStats:
    d = spec.detail
    if d is None:
        return DetailStats()
    sums = {c.id: 0.0 for c in d.columns if c.type in ("integer", "decimal")}
    count = 0
    for entry in form.detail:
        row: dict[str, Any] = {}
        for c in d.columns:
            raw = entry[c.id]
            if raw.blank:
                row[c.id] = None
                continue
            if c.type in ("integer", "decimal"):
                parsed = parse_number(raw)
                problem = check_number(parsed.value, c) if parsed.value is not None else None
                if parsed.value is None or problem:
                    code, ctx = (parsed.code, parsed.context) if problem is None else problem
                    add(
                        code, raw, severity=Severity.WARNING, label=f"{d.sheet}“{c.label}”", measure="", **ctx
                    )
                    row[c.id] = _fit(_show(raw.value), raw, f"{d.sheet}“{c.label}”", add)
                    continue
                row[c.id] = parsed.value
                sums[c.id] += parsed.value
            elif c.type == "date":
                row[c.id] = _date(raw, f"{d.sheet}“{c.label}”", campaign, add)
            elif c.type == "choice":
                text = str(raw.value).strip()
                if text not in c.choices:
                    add(
                        Code.AUDIT_BAD_CHOICE,
                        raw,
                        label=f"{d.sheet}“{c.label}”",
                        raw=_quote(text),
                        choices="、".join(c.choices),
                    )
                row[c.id] = _fit(text, raw, f"{d.sheet}“{c.label}”", add)
            else:
                row[c.id] = _fit(_show(raw.value).strip(), raw, f"{d.sheet}“{c.label}”", add)
        if row.get(d.key) not in (None, ""):
            count += 1
        row[DETAIL_ROW_KEY] = next(iter(entry.values())).cell.row
        result.detail.append(row)
    return DetailStats(rows=count, sums=sums)


def _date(raw: Raw, label: str, campaign: Campaign | None, add: Any) -> date | str | None:
    """A date field or column: a date, None when blank, or the text (AUDIT_BAD_DATE). A date cell, or text
    such as 2023-05-21 or 2023年5月21日, is that date; "5月21日" pasted as text, with no year, is that day of
    the campaign's year (when all its days are in one year), recorded (AUDIT_DATE_YEAR_ADDED); an impossible
    day stays text."""
    if raw.blank:
        return None
    if isinstance(raw.value, datetime):
        return raw.value.date()
    if isinstance(raw.value, date):
        return raw.value
    text = str(raw.value)
    cleaned = clean_text(text)
    for pattern in _DATE_PATTERNS:
        if m := pattern.match(cleaned):
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                break
    year = campaign.days_year if campaign is not None else None
    if year is not None and (m := _NO_YEAR.match(cleaned)):
        try:
            day = date(year, int(m.group(1)), int(m.group(2)))
        except ValueError:
            pass
        else:
            add(Code.AUDIT_DATE_YEAR_ADDED, raw, label=label, raw=_quote(text), value=day.isoformat())
            return day
    example = campaign.date_example if campaign is not None else "2023-05-20"
    add(Code.AUDIT_BAD_DATE, raw, label=label, raw=_quote(text), example=example)
    return _fit(text, raw, label, add)


def _fit(text: str, raw: Raw, label: str, add: Any) -> str:
    """Unit text as it goes into the summary: Excel keeps 32,767 characters, and a cut is reported."""
    if len(text) > EXCEL_TEXT_LIMIT:
        add(Code.AUDIT_TEXT_TRUNCATED, raw, label=label, limit=EXCEL_TEXT_LIMIT)
        return text[:EXCEL_TEXT_LIMIT]
    return text


def _quote(text: str, limit: int = 60) -> str:
    """Unit text quoted in a message: enough to find the cell, never the whole 32 KB."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
