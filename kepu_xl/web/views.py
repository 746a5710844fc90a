"""What each page shows, as plain data from the library's results (no second implementation).

The unit rows, counts and totals are read from the last collect's report (`lastrun.load`, the
`kepuxl collect --json` contract); before the first collect the roster alone gives the rows. Filtering,
searching, sorting and paging are presentation only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..campaign import Campaign
from ..findings import SEVERITY_ZH
from ..results import STATUS_ZH, Status
from ..spec import FormSpec

PAGE_SIZE = 100
NOT_COLLECTED = "uncollected"  # a roster unit before the first collect
STATUS_WORDS = {str(k): v for k, v in STATUS_ZH.items()} | {NOT_COLLECTED: "未汇总"}
SEVERITY_WORDS = {str(k): v for k, v in SEVERITY_ZH.items()}
FROM_WORDS = {"email": "邮件", "file": "文件时间", "first_seen": "首次收集"}
FILTERS = (
    ("", "全部"),
    ("accepted", "通过"),
    ("warnings", "有警告"),
    ("pending", "待核实"),
    ("rejected", "退回"),
    ("missing", "未报"),
    ("late", "逾期"),
)
SORTS = (
    ("seq", "名单顺序"),
    ("name", "名称"),
    ("status", "状态"),
    ("received", "收到时间"),
    ("problems", "问题数"),
)
STATUS_ORDER = {s: n for n, s in enumerate(("rejected", "pending", "warnings", "accepted", "missing"))}


@dataclass(frozen=True, slots=True)
class Row:
    """One unit on the 单位 page."""

    seq: int
    unit_id: str
    name: str
    category: str
    status: str
    late: bool
    maybe_late: bool
    received: str  # "05-29 16:40" or ""
    received_from: str  # 邮件 / 文件时间 / 首次收集
    problems: int
    materials: int
    feedback: bool

    @property
    def status_word(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)


def rows(campaign: Campaign, report: dict[str, Any] | None) -> list[Row]:
    """Every roster unit as a row: from the last collect's report, else from the roster alone."""
    seqs = {u.id: u.seq for u in campaign.units}
    if report is None:
        return [
            Row(u.seq, u.id, u.name, u.category, NOT_COLLECTED, False, False, "", "", 0, 0, False)
            for u in campaign.units
        ]
    return [_row(u, seqs.get(u["unit_id"], n)) for n, u in enumerate(report["units"], start=1)]


def _row(u: dict[str, Any], seq: int) -> Row:
    received = datetime.fromisoformat(u["received"]).strftime("%m-%d %H:%M") if u.get("received") else ""
    problems = sum((u.get("problems") or {}).values())
    return Row(
        seq=seq,
        unit_id=u["unit_id"],
        name=u["unit"],
        category=u.get("category") or "",
        status=u["status"],
        late=bool(u.get("late")),
        maybe_late=bool(u.get("maybe_late")),
        received=received,
        received_from=FROM_WORDS.get(u.get("received_from") or "", ""),
        problems=problems,
        materials=sum((u.get("materials") or {}).values()),
        feedback=bool(u.get("feedback")),
    )


def select(all_rows: Sequence[Row], status: str, query: str, sort: str, descending: bool) -> list[Row]:
    """The rows a filter, a search (name or code, any part) and a sort leave, in order."""
    query = query.strip().casefold()
    out = [
        r
        for r in all_rows
        if (not status or (r.late if status == "late" else r.status == status))
        and (not query or query in r.name.casefold() or query in r.unit_id.casefold())
    ]
    keys = {
        "name": lambda r: r.name,
        "status": lambda r: (STATUS_ORDER.get(r.status, 9), r.seq),
        "received": lambda r: (r.received == "", r.received, r.seq),
        "problems": lambda r: (r.problems, r.seq),
    }
    out.sort(key=keys.get(sort, lambda r: r.seq), reverse=descending)
    return out


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    number: int  # 1-based
    pages: int
    total: int


def page(selected: list[Row], number: int, size: int = PAGE_SIZE) -> Page:
    pages = max(1, -(-len(selected) // size))
    number = min(max(1, number), pages)
    return Page(selected[(number - 1) * size : number * size], number, pages, len(selected))


def headline_fields(spec: FormSpec) -> list[Any]:
    """The totals shown first: each section's computed total, else its first two fields."""
    out = []
    for section in spec.sections:
        computed = [f for f in section.fields if f.formula is not None]
        out.extend(computed or section.fields[:2])
    return out


def totals_rows(report: dict[str, Any], fields: Iterable[Any]) -> list[dict[str, Any]]:
    """label, unit, 已确认, 待核实 and (when the report has it) last year, per field."""
    totals, pending = report.get("totals", {}), report.get("pending_totals", {})
    previous = report.get("previous_totals") or {}
    return [
        {
            "label": f.label,
            "unit": f.unit,
            "confirmed": _number(totals.get(f.id)),
            "pending": _number(pending.get(f.id)) if pending.get(f.id) else "",
            "previous": _number(previous.get(f.id)) if f.id in previous else "",
        }
        for f in fields
    ]


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def deadline_text(deadline: datetime, now: datetime) -> tuple[str, bool]:
    """(“还剩 3 天” / “今天截止” / “已逾期 2 天”, overdue)."""
    days = (deadline.date() - now.date()).days
    if now > deadline:
        late = max(1, (now.date() - deadline.date()).days)
        return f"已逾期 {late} 天", True
    return ("今天截止" if days == 0 else f"还剩 {days} 天"), False


def unit_findings(report: dict[str, Any] | None, name: str) -> list[dict[str, Any]]:
    """The unit's current findings (its chosen return's and resolve's), as the report lists them."""
    if report is None:
        return []
    return [f for f in report["findings"] if f["unit"] == name and f["code"] != "RESOLVE_MISSING"]


def unit_entry(report: dict[str, Any] | None, unit_id: str) -> dict[str, Any] | None:
    if report is None:
        return None
    return next((u for u in report["units"] if u["unit_id"] == unit_id), None)


def counts(report: dict[str, Any] | None, campaign: Campaign) -> list[tuple[str, int, str]]:
    """(word, number, status key for the colour and the filter link) for the overview's counters."""
    if report is None:
        n: dict[str, int] = {"expected": len(campaign.units)}
    else:
        n = report["counts"]
    return [
        ("应报", n.get("expected", 0), ""),
        ("已报", n.get("reported", 0), ""),
        ("通过", n.get(Status.ACCEPTED, 0), "accepted"),
        ("有警告", n.get(Status.WARNINGS, 0), "warnings"),
        ("待核实", n.get(Status.PENDING, 0), "pending"),
        ("退回", n.get(Status.REJECTED, 0), "rejected"),
        ("未报", n.get(Status.MISSING, 0), "missing"),
        ("逾期", n.get("late", 0), "late"),
    ]
