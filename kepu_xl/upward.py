"""The report-up job: this campaign's confirmed result → the form the level above made for it, filled in
(output/上报/<the same file name>), and with `mail` the e-mail draft that sends it up.

The same tool runs at every level (town → county → city → province) and one level's result is the next
level's return, untouched by hand. The upper form is a kepuxl form of the upper campaign made for this
level as a unit: its identity, protection and layout are the upper campaign's and stay as they are; this
level has neither the upper definition nor its key. What it needs comes from the form itself: the field
map in its `_fields` sheet (field_map.py), or, for a form made before the map existed, a definition (this campaign's
or a bundled one) whose layout fingerprint equals the form's stamp.

Steps: read the upper form (pre-checked like any inbox file) → collect this campaign without writing
(the results the summary shows) → refuse while units are 待核实, unless `include_pending` → match the
upper form's fields by id or by [report_up.map] (each unmatched field on both sides is listed) → fill it
in place (xlsx_patch): the totals over the counted units (accepted, warnings), the counted units' detail
rows marked with their unit, the header fields, a generated 情况说明, and the 下级单位 sheet (subunits.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import field_map, intake, layout, reader, rules, subunits, xlsx_patch
from . import spec as spec_mod
from .book import load_xlsx
from .collection import collect
from .context import Context
from .field_map import Entry, FieldMap
from .files import os_error_zh, write_atomic
from .findings import Code, Finding, Findings, KepuError, Severity
from .identity import Identity
from .mail.report_draft import make_report_draft
from .results import COUNTED, CollectReport, Status, UnitResult
from .spec import FormSpec
from .workers import Progress

REPORT_DIR = "上报"  # under the output folder: the filled upper forms (and the 总结报告 beside them)
NAMES_SHOWN = 10  # units named in 情况说明 before "等 N 个"
NOTE_LIMIT = 1500  # characters of 情况说明 (the form's validation allows 2,000)
SHOWN = (*COUNTED, Status.PENDING)  # units whose numbers the 下级单位 sheet shows


@dataclass(frozen=True)
class UpperForm:
    """The form the level above made for this level: its bytes, identity and field map."""

    path: Path
    data: bytes
    identity: Identity
    fields: FieldMap
    unit_name: str  # the visible unit cell: who the upper campaign thinks it is writing to


@dataclass
class ReportUpReport:
    """What report-up wrote; `to_dict()` is `kepuxl report-up --json`."""

    campaign: str
    upper: UpperForm
    output: Path | None = None
    values: dict[str, float] = field(default_factory=dict)  # upper field id → the number written
    sources: dict[str, str] = field(default_factory=dict)  # upper field id → this campaign's id or expression
    counts: dict[str, int] = field(default_factory=dict)  # this campaign's units, as collect counts them
    pending: list[str] = field(default_factory=list)  # 待核实 units left out (with include_pending)
    subunits: int = 0  # rows of the 下级单位 sheet
    detail: dict[str, int] = field(default_factory=dict)  # total rows of the counted units, rows written
    note: str = ""  # the 情况说明 written
    mail: dict[str, Any] | None = None  # the draft (`mail=True`)
    document: Path | None = None  # the 总结报告（数据部分）.docx written beside the filled form
    findings: Findings = field(default_factory=Findings)

    def to_dict(self) -> dict[str, Any]:
        ident = self.upper.identity
        return {
            "campaign": self.campaign,
            "upper_form": str(self.upper.path),
            "output": str(self.output) if self.output else None,
            "upper": {
                "campaign_id": ident.campaign,
                "year": ident.year,
                "title": ident.title,
                "form": ident.form,
                "form_version": ident.version,
                "unit_id": ident.unit,
                "unit": self.upper.unit_name,
            },
            "values": self.values,
            "sources": self.sources,
            "counts": self.counts,
            "pending": self.pending,
            "subunits": self.subunits,
            "detail": self.detail,
            "note": self.note,
            "report": str(self.document) if self.document else None,
            "mail": self.mail,
            "findings": [f.to_dict() for f in self.findings],
        }


def report_up(
    upper_form: Path,
    config: Path,
    outdir: Path | None = None,
    *,
    include_pending: bool = False,
    mail: bool = False,
    inbox: Path | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ReportUpReport:
    """Fill `upper_form` with this campaign's confirmed result; returns what was written.

    Raises `KepuError` (nothing written) when the upper form cannot be used, when a field of it has no
    counterpart here (each unmatched field on both sides listed), or when units are 待核实 and
    `include_pending` is not given (they are named).
    """
    ctx = Context.load(Path(config))
    camp = ctx.campaign
    if mail and not camp.report_up.email:  # said before anything is written
        raise KepuError(Finding.make(Code.REPORT_NO_EMAIL))
    upper = read_upper(Path(upper_form), ctx)
    sources, notes = match(upper.fields, ctx.spec, camp.report_up.map)  # before the inbox is read
    now = (now or datetime.now()).replace(microsecond=0)
    inbox = Path(inbox) if inbox else camp.folder / "inbox"
    result = collect(inbox, Path(config), write=False, now=now, progress=progress)
    pending = result.by_status(Status.PENDING)
    if pending and not include_pending:
        raise KepuError(Finding.make(Code.REPORT_PENDING, n=len(pending), names=_names(pending, 40)))
    report = ReportUpReport(camp.title, upper, counts=result.counts, pending=[u.unit.name for u in pending])
    report.findings.extend(notes)
    report.sources = {fid: e.text for fid, e in sources.items()}
    data = _filled(upper, ctx, result, sources, report, now.date())
    target = (Path(outdir) if outdir else camp.folder / "output") / REPORT_DIR / upper.path.name
    report.output = write_atomic(target, data)
    if report.output != target:
        report.findings.add(Code.OUT_LOCKED, path=str(target), saved=str(report.output))
    from .report_docx import write_report  # python-docx and matplotlib: loaded for the report only

    seen = len(result.findings)
    report.document = write_report(result, target.parent)  # the 总结报告 the level above asks for
    report.findings.extend(result.findings[seen:])  # its template's or its charts' problems
    if mail:
        unit = (upper.identity.unit, upper.unit_name)
        report.mail, found = make_report_draft(
            ctx, report.output, report.note, result, now.date(), unit, report.document
        )
        report.findings.extend(found)
    return report


def _filled(
    upper: UpperForm,
    ctx: Context,
    result: CollectReport,
    sources: dict[str, rules.Expr],
    report: ReportUpReport,
    today: date,
) -> bytes:
    """The upper form's bytes with the totals, the detail rows, the header fields, 情况说明 and the
    下级单位 sheet in place (what went in is recorded in `report`)."""
    fields = upper.fields
    cells: dict[str, dict[tuple[int, int], Any]] = {fields.main: {}}
    for entry in fields.inputs:
        value = fit(entry, float(sources[entry.id].evaluate(result.totals)), report.findings)
        report.values[entry.id] = value
        cells[fields.main][(entry.cell.row, entry.cell.col)] = value
    rest = _fill_detail(fields, ctx.spec, result, cells, report)
    # last year's totals: on the report once [compare] is configured (another part of the chain's issue)
    report.note = account(result, rest, result.previous_totals)
    _fill_info(fields, ctx, report.note, today, cells[fields.main])
    rows = [_subunit(u, sources) for u in result.units]
    report.subunits = len(rows)
    columns = [subunits.Column(e.id, e.label, e.places) for e in fields.fields if e.id in sources]
    title = f"下级单位报送情况（{ctx.campaign.title}，{ctx.campaign.organizer}）"
    try:
        return xlsx_patch.patch(upper.data, cells, [subunits.new_sheet(title, columns, rows)])
    except (ValueError, KeyError) as exc:
        raise KepuError(_unusable(upper.path, f"表格结构无法识别（{exc}）")) from None


# -- the upper form --------------------------------------------------------------------------------------


def read_upper(path: Path, ctx: Context) -> UpperForm:
    """The upper form's identity and field map; `KepuError` when it cannot be filled."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KepuError(_unusable(path, os_error_zh(exc))) from None
    kind, found = intake.precheck(data, name=path.name)
    problem = next((f.message for f in found if f.severity is Severity.ERROR), "")
    if kind != "xlsx" or problem:
        raise KepuError(_unusable(path, problem or "不是 .xlsx 工作簿"))
    window = {
        layout.META_SHEET: reader.META_WINDOW,
        layout.FIELDS_SHEET: (field_map.LIMIT, field_map.WIDTH - 1),
    }
    try:
        book = load_xlsx(data, window, default=None)
    except Exception as exc:  # bytes from outside: any parser failure means the form cannot be used
        raise KepuError(_unusable(path, f"{type(exc).__name__}: {str(exc)[:200]}")) from None
    props, meta = reader.identities(book)
    ident = meta or props
    if ident is None:
        raise KepuError(_unusable(path, "没有 kepuxl 统计表的身份信息（不是 kepuxl 生成的表格）"))
    if ident.campaign == ctx.campaign.id:
        raise KepuError(Finding.make(Code.REPORT_OWN_FORM, path=str(path), campaign=ctx.campaign.id))
    fields = _field_map(book, ident, ctx, path)
    try:
        main = load_xlsx(data, {fields.main: layout.UNIT_CELL}, default=None).sheets.get(fields.main)
    except Exception as exc:
        raise KepuError(_unusable(path, f"{type(exc).__name__}: {str(exc)[:200]}")) from None
    if main is None:
        raise KepuError(_unusable(path, f"没有工作表“{fields.main}”"))
    return UpperForm(path, data, ident, fields, main.text(*layout.UNIT_CELL))


def _field_map(book: Any, ident: Identity, ctx: Context, path: Path) -> FieldMap:
    """The map the form carries; else one from a definition whose layout is the form's (a form made
    by a kepuxl from before the map, of a definition this level has too)."""
    sheet = book.sheets.get(layout.FIELDS_SHEET)
    if sheet is not None:
        lines = []
        for row in range(field_map.LIMIT):
            line = [sheet.text(row, col) for col in range(field_map.WIDTH)]
            if not any(line):
                break
            lines.append(line)
        try:
            return field_map.parse(lines)
        except ValueError:
            pass
    for spec in _definitions(ctx):
        if (spec.id, spec.version) == (ident.form, ident.version):
            cells = layout.build(spec)
            if not ident.layout or cells.fingerprint() == ident.layout:
                return field_map.from_spec(spec, cells)
    finding = Finding.make(Code.REPORT_NO_FIELD_MAP, path=str(path), form=ident.form, version=ident.version)
    raise KepuError(finding)


def _definitions(ctx: Context) -> list[FormSpec]:
    out = [ctx.spec]
    for path in spec_mod.bundled():
        try:
            out.append(spec_mod.load(path))
        except KepuError:  # a bundled definition that does not load is the package's bug, not this form's
            continue
    return out


def _unusable(path: Path, error: str) -> Finding:
    return Finding.make(Code.REPORT_UPPER_FORM, path=str(path), error=error)


# -- fields -------------------------------------------------------------------------------------------


def match(
    upper: FieldMap, spec: FormSpec, mapping: tuple[tuple[str, str], ...]
) -> tuple[dict[str, rules.Expr], list[Finding]]:
    """Each upper field → the expression over this campaign's fields that gives it: [report_up.map], else
    the field of the same id. An upper input without one stops the job, listing every unmatched field
    on both sides; this campaign's inputs the upper form does not take are warnings (not reported)."""
    names = {f.id for f in spec.fields}
    inputs = {f.id for f in upper.inputs}
    sources: dict[str, rules.Expr] = {}
    errors: list[Finding] = []
    for key, text in mapping:
        if key not in inputs:
            errors.append(Finding.make(Code.REPORT_MAP_UNKNOWN, key=key, known="、".join(sorted(inputs))))
            continue
        try:
            sources[key] = rules.parse(text, names)
        except rules.RuleError as exc:
            errors.append(Finding.make(Code.REPORT_MAP_BAD, key=key, expr=text, error=str(exc)))
    for f in upper.fields:
        if f.id not in sources and f.id in names:
            sources[f.id] = rules.parse(f.id, names)
    unmatched = [
        Finding.make(Code.REPORT_UPPER_FIELD, label=f.label, id=f.id, at=str(f.cell))
        for f in upper.inputs
        if f.id not in sources
    ]
    used = _used(sources.values(), spec)
    lower = [
        Finding.make(Code.REPORT_LOWER_FIELD, label=f.label, id=f.id) for f in spec.inputs if f.id not in used
    ]
    if errors or unmatched:
        raise KepuError([*errors, *unmatched, *lower])
    return sources, lower


def _used(exprs: Any, spec: FormSpec) -> set[str]:
    """The fields the upper form takes, a computed field standing for the fields it adds up."""
    todo = [n for e in exprs for n in e.names]
    used: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            formula = spec.field(name).formula
            todo.extend(formula.names if formula is not None else ())
    return used


def fit(entry: Entry, value: float, out: Findings | None = None) -> float | int:
    """A value as the upper form's field takes it: at its places (a rounding is reported), and a value
    beyond its range reported (the upper level's collect would reject it)."""
    places = entry.places if entry.type == "decimal" else 0
    rounded = round(value, places) + 0.0
    if out is not None and abs(rounded - value) > 1e-9 * max(1.0, abs(value)):
        out.add(
            Code.REPORT_ROUNDED, label=entry.label, places=places, value=_show(value), rounded=_show(rounded)
        )
    if out is not None and (rounded < 0 or (entry.max is not None and rounded > entry.max)):
        out.add(Code.REPORT_RANGE, label=entry.label, value=_show(rounded), max=_show(entry.max or 0))
    return int(rounded) if places == 0 and rounded.is_integer() else rounded


def _subunit(u: UnitResult, sources: dict[str, rules.Expr]) -> subunits.SubUnit:
    """A unit of this campaign as a row of the 下级单位 sheet, in the upper form's field ids."""
    shown = u.status in SHOWN
    values = {fid: float(e.evaluate(u.values)) if shown else None for fid, e in sources.items()}
    return subunits.SubUnit(u.unit.id, u.unit.name, u.unit.category, str(u.status), u.counted, values)


# -- detail rows, header fields, 情况说明 ----------------------------------------------------------------


def _columns(these: list[tuple[str, str]], others: list[tuple[str, str]]) -> str:
    """Columns by their labels for the message; a label the other side has too (the same name, another
    field) also gives the field id, or the two lists would read alike."""
    shared = {label for _, label in others}
    return "、".join(f"{label}（字段 {fid}）" if label in shared else label for fid, label in these) or "无"


def _fill_detail(
    upper: FieldMap,
    spec: FormSpec,
    result: CollectReport,
    cells: dict[str, dict[tuple[int, int], Any]],
    report: ReportUpReport,
) -> int:
    """The counted units' detail rows into the upper detail table, each marked with its unit in the key
    column (【城关街道】科普讲座); the rest of the table cleared. Returns the rows that did not fit."""
    rows = [(u.unit.name, row) for u in result.units if u.counted for row in u.detail]
    if upper.detail is None or spec.detail is None:
        report.detail = {"rows": len(rows), "written": 0}
        return 0
    mine = {c.id for c in spec.detail.columns}
    missing = [(c.id, c.label) for c in spec.detail.columns if c.id not in {u.id for u in upper.columns}]
    blank = [(c.id, c.label) for c in upper.columns if c.id not in mine]
    if missing or blank:
        report.findings.add(
            Code.REPORT_DETAIL_COLUMNS, columns=_columns(missing, blank), blank=_columns(blank, missing)
        )
    first, last = upper.detail_rows
    room = last - first + 1
    target = cells.setdefault(upper.detail, {})
    for n in range(room):
        unit, row = rows[n] if n < len(rows) else ("", {})
        for c in upper.columns:
            value = row.get(c.id) if c.id in mine else None
            if c.id == upper.detail_key and unit:
                value = f"【{unit}】{'' if value is None else value}"
            target[(first + n, c.cell.col)] = value
    report.detail = {"rows": len(rows), "written": min(room, len(rows))}
    rest = max(0, len(rows) - room)
    if rest:
        report.findings.add(Code.REPORT_DETAIL_FULL, total=len(rows), room=room, rest=rest)
    return rest


def _fill_info(
    upper: FieldMap, ctx: Context, note: str, today: date, cells: dict[tuple[int, int], Any]
) -> None:
    """The header fields as this level's bureau fills them (its contact, today), and 情况说明."""
    notes = [e for e in upper.info if e.type == "longtext"]
    for e in upper.info:
        if e.type == "longtext":
            value: Any = note if e is notes[-1] else None  # the last one explains, as collect reads it
        else:
            value = ctx.campaign.header_value(e.type, e.id, e.label, today)
        if value is not None:
            cells[(e.cell.row, e.cell.col)] = value


def account(result: CollectReport, detail_rest: int, previous: dict[str, float]) -> str:
    """The 情况说明: who reported and who is counted, and what changed most against last year."""
    n = result.counts
    parts = [
        f"本级应报 {n['expected']} 个单位，已报 {n['reported']} 个；通过 {n['accepted']} 个、有警告 "
        f"{n['warnings']} 个，均计入本表合计。"
    ]
    for status, what, why in (
        (Status.PENDING, "待核实", "（数据尚未核实，未计入）"),
        (Status.REJECTED, "退回修改", "（未计入）"),
        (Status.MISSING, "未报", ""),
    ):
        units = result.by_status(status)
        if units:
            parts.append(f"{what} {len(units)} 个{why}：{_names(units)}。")
    changes = _changes(result, previous)
    if changes:
        parts.append("与上年相比：" + "；".join(changes) + "。")
    if detail_rest:
        parts.append(f"活动明细另有 {detail_rest} 项未能列入本表，见各单位的报表。")
    parts.append("各下级单位的数据见“下级单位”表。")
    text = "".join(parts)
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"


def _changes(result: CollectReport, previous: dict[str, float], most: int = 3) -> list[str]:
    """The fields whose total moved most against last year (at least 10 %), "举办活动次数 150 次，增长 12.0%"."""
    found = []
    for f in result.spec.inputs:
        old, new = previous.get(f.id), result.totals.get(f.id)
        if old and new is not None and abs(new - old) / abs(old) >= 0.10:
            rate = (new - old) / abs(old) * 100
            found.append(
                (
                    abs(rate),
                    f"{f.label} {_show(new)} {f.unit}，{'增长' if rate > 0 else '下降'} {abs(rate):.1f}%",
                )
            )
    return [text for _, text in sorted(found, key=lambda x: -x[0])[:most]]


def _names(units: list[UnitResult], shown: int = NAMES_SHOWN) -> str:
    names = [u.unit.name for u in units]
    return "、".join(names[:shown]) + (f"等 {len(names)} 个" if len(names) > shown else "")


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}".rstrip("0").rstrip(".")
