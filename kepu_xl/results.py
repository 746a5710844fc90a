"""What a collect run produces: per-file outcomes, one result per roster unit, and the report.

Plain data shared by resolve (which fills it), merge/summary_writer/feedback (which render it)
and the CLI/JSON (contract in DESIGN.md: `kepuxl collect --json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .campaign import Campaign, Unit
from .findings import Code, Finding, Severity
from .layout import CellMap
from .media import MediaInfo
from .spec import FormSpec


class Status(StrEnum):
    """A unit's standing after collect (the JSON contract's strings)."""

    ACCEPTED = "accepted"  # no problem: counted
    WARNINGS = "warnings"  # warnings only (or verify findings explained/confirmed): counted
    PENDING = "pending"  # 待核实: a verify finding not explained in 情况说明 nor confirmed: not counted yet
    REJECTED = "rejected"  # an error: the unit must correct and resend: not counted
    MISSING = "missing"  # nothing received: not counted

    @property
    def zh(self) -> str:
        return STATUS_ZH[self]


class Outcome(StrEnum):
    """What became of one file of the inbox (the JSON contract's strings, `files[].outcome`)."""

    USED = "used"  # a unit's return without errors (the newest one is the unit's)
    SUPERSEDED = "superseded"  # an older return of a unit that sent a newer one
    DUPLICATE = "duplicate"  # the same bytes as a file seen before: read once
    REJECTED = "rejected"  # refused by the pre-check or the reader, or a return with errors
    UNIDENTIFIED = "unidentified"  # a form no unit of the roster could be told from
    IGNORED = "ignored"  # not a form of this campaign: photos, documents, other workbooks

    @property
    def zh(self) -> str:
        return OUTCOME_ZH[self]


STATUSES = tuple(Status)
COUNTED = (Status.ACCEPTED, Status.WARNINGS)  # the statuses whose numbers enter the totals
OUTCOMES = tuple(Outcome)
STATUS_ZH = {
    Status.ACCEPTED: "通过",
    Status.WARNINGS: "有警告",
    Status.PENDING: "待核实",
    Status.REJECTED: "退回",
    Status.MISSING: "未报",
}
# Facts about the submission rather than the return's content: shown, but they neither decide the status
# nor count in a unit's 错误数/待核实数/警告数 (a late but correct return is still 通过, and 逾期 has its
# own column; a missing unit's "not received" is its status, not an error in a return).
NOT_CONTENT = frozenset(
    {
        Code.RESOLVE_MISSING,
        Code.RESOLVE_LATE,
        Code.RESOLVE_SENDER,
        Code.RESOLVE_SUPERSEDED,
        Code.RESOLVE_DUPLICATE,
        Code.MATERIAL_MISSING,
        Code.MATERIAL_VIDEO_LONG,
        Code.MATERIAL_VIDEO_UNREAD,
    }
)
# the counts of a run as the summary's 说明 and the report's placeholders name them: (Chinese word, key of `counts`)
COUNT_ZH = (
    ("应报", "expected"),
    ("已报", "reported"),
    ("通过", "accepted"),
    ("有警告", "warnings"),
    ("待核实", "pending"),
    ("退回", "rejected"),
    ("未报", "missing"),
    ("逾期", "late"),
    ("可能逾期", "maybe_late"),
)
OUTCOME_ZH = {
    Outcome.USED: "采用",
    Outcome.SUPERSEDED: "已被替代",
    Outcome.DUPLICATE: "重复",
    Outcome.REJECTED: "退回",
    Outcome.UNIDENTIFIED: "无法识别",
    Outcome.IGNORED: "其他材料",
}


@dataclass
class FileResult:
    """One file (or e-mail attachment) seen in the inbox and what became of it."""

    path: str
    sha256: str
    kind: str  # xlsx | xls | ods | other | rejected
    received: datetime | None
    unit_id: str = ""
    outcome: Outcome = Outcome.IGNORED
    source: str = "file"
    sender: str = ""
    findings: list[Finding] = field(default_factory=list)
    values: dict[str, float | None] = field(default_factory=dict)
    received_from: str = "file"  # email: `received` is the message's Date; file: a file time; first_seen
    media: MediaInfo | None = None  # a video's container and length, a link file's links (media.inspect)

    @property
    def has_error(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "unit_id": self.unit_id,
            "outcome": self.outcome,
            "kind": self.kind,
            "received": self.received.isoformat(timespec="seconds") if self.received else None,
            "received_from": self.received_from,
            "media": self.media.to_dict() if self.media is not None else None,
        }


@dataclass
class Change:
    """A value that differs between a unit's previous and chosen return."""

    field_id: str
    label: str
    old: float | None
    new: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"field_id": self.field_id, "label": self.label, "old": self.old, "new": self.new}


def changes(spec: FormSpec, old: dict[str, float | None], new: dict[str, float | None]) -> list[Change]:
    """The fields whose value differs between two versions of a return, in the form's order."""
    return [
        Change(f.id, f.label, old.get(f.id), new.get(f.id))
        for f in spec.fields
        if old.get(f.id) != new.get(f.id)
    ]


@dataclass
class UnitResult:
    """One roster unit: its chosen return (if any), status, values and findings."""

    unit: Unit
    status: Status = Status.MISSING
    file: str = ""
    received: datetime | None = None
    received_from: str = ""  # email (the message's Date) | file (file time) | first_seen (the ledger's)
    late: bool = False  # certainly late: the e-mail's Date is after the deadline
    maybe_late: bool = False  # only a file time is after it (saved late, perhaps received in time)
    values: dict[str, float | None] = field(default_factory=dict)  # field id → number, totals recomputed
    info: dict[str, Any] = field(default_factory=dict)  # 填表人, 联系电话, 填报日期, 情况说明
    detail: list[dict[str, Any]] = field(default_factory=list)  # the detail table's filled rows
    findings: list[Finding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    replaced: str = ""  # the file the chosen return superseded
    raw: dict[str, Any] = field(default_factory=dict)  # field id → raw cell value, for feedback forms
    feedback: str = ""  # the feedback form written for the unit to correct and resend
    materials: dict[str, int] = field(default_factory=dict)  # photos/summary/scan sent with the form
    materials_text: str = ""  # the same for 上报情况, against what the campaign requires
    material_files: dict[str, list[str]] = field(default_factory=dict)  # material key → the files counted
    confirmation: Confirmation | None = None  # the clerk's 核实 of the chosen return (kepuxl confirm)
    # last year's values ([compare] previous), None when not configured or the unit has none
    previous: dict[str, float | None] | None = None
    # a return from a level that reports up (kepuxl report-up): its own units, as its 下级单位 sheet lists them
    subunits: list[Any] = field(default_factory=list)  # subunits.SubUnit

    @property
    def counted(self) -> bool:
        """Whether the unit's numbers enter the county totals."""
        return self.status in COUNTED

    def count(self, severity: Severity) -> int:
        """Problems of this severity in the return itself (what decides the status; see NOT_CONTENT)."""
        return sum(1 for f in self.findings if f.severity is severity and f.code not in NOT_CONTENT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit.id,
            "unit": self.unit.name,
            "category": self.unit.category,
            "status": self.status,
            "file": self.file or None,
            "received": self.received.isoformat(timespec="seconds") if self.received else None,
            "received_from": self.received_from or None,
            "late": self.late,
            "maybe_late": self.maybe_late,
            "values": self.values,
            "confirmation": self.confirmation.to_dict() if self.confirmation else None,
            "feedback": self.feedback or None,
            "materials": self.materials,
            "material_files": self.material_files,
            "problems": {str(s): self.count(s) for s in (Severity.ERROR, Severity.VERIFY, Severity.WARNING)},
            "replaced": self.replaced or None,
            "changes": [c.to_dict() for c in self.changes],
            "previous": self.previous,
            "subunits": [s.to_dict() for s in self.subunits],
        }


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The clerk's record that a unit's return was verified (电话核实…), bound to that file's content."""

    unit_id: str
    sha256: str
    at: datetime
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(timespec="seconds"), "note": self.note, "sha256": self.sha256}


@dataclass
class CollectReport:
    campaign: Campaign
    spec: FormSpec
    cells: CellMap
    units: list[UnitResult]
    files: list[FileResult]
    findings: list[Finding]  # every finding of the run, each with unit/file/sheet/cell
    totals: dict[str, float]  # over the counted units (accepted + warnings)
    generated_at: datetime
    pending_totals: dict[str, float] = field(default_factory=dict)  # over the 待核实 units
    # last year's totals ([compare] previous; {} when not configured) and the workbook they came from
    previous_totals: dict[str, float] = field(default_factory=dict)
    previous_source: str = ""
    # what was written: summary, feedback (folder), feedback_files (list), ledger
    outputs: dict[str, str | list[str]] = field(default_factory=dict)

    def by_status(self, status: str) -> list[UnitResult]:
        return [u for u in self.units if u.status == status]

    @property
    def counts(self) -> dict[str, int]:
        n = {s: len(self.by_status(s)) for s in STATUSES}
        n["expected"] = len(self.units)
        n["reported"] = len(self.units) - n["missing"]
        n["late"] = sum(1 for u in self.units if u.late)
        n["maybe_late"] = sum(1 for u in self.units if u.maybe_late)
        return n

    @property
    def ok(self) -> bool:
        """Every unit counted: none rejected, pending or missing (what `--strict` checks)."""
        return all(u.counted for u in self.units)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.title,
            "campaign_id": self.campaign.id,
            "form": self.spec.id,
            "form_version": self.spec.version,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "counts": self.counts,
            "units": [u.to_dict() for u in self.units],
            "totals": self.totals,
            "pending_totals": self.pending_totals,
            "previous_totals": self.previous_totals,
            "files": [f.to_dict() for f in self.files],
            "findings": [f.to_dict() for f in self.findings],
            "outputs": self.outputs,
        }
