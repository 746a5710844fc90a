"""What a collect run produces: per-file outcomes, one result per roster unit, and the report.

Plain data shared by resolve (which fills it), merge/summary_writer/feedback (which render it)
and the CLI/JSON (contract in DESIGN.md: `kepuxl collect --json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .campaign import Campaign, Unit
from .findings import Finding, Severity
from .layout import CellMap
from .spec import FormSpec

STATUSES = ("accepted", "warnings", "rejected", "missing")
OUTCOMES = ("used", "superseded", "duplicate", "rejected", "unidentified", "ignored")
STATUS_ZH = {"accepted": "通过", "warnings": "有警告", "rejected": "退回", "missing": "未报"}
OUTCOME_ZH = {
    "used": "采用",
    "superseded": "已被替代",
    "duplicate": "重复",
    "rejected": "退回",
    "unidentified": "无法识别",
    "ignored": "其他材料",
}


@dataclass
class FileResult:
    """One file (or e-mail attachment) seen in the inbox and what became of it."""

    path: str
    sha256: str
    kind: str  # xlsx | xls | ods | other | rejected
    received: datetime | None
    unit_id: str = ""
    outcome: str = "ignored"
    source: str = "file"
    sender: str = ""
    findings: list[Finding] = field(default_factory=list)
    values: dict[str, float | None] = field(default_factory=dict)

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
        }


@dataclass
class Change:
    """A value that differs between a unit's previous and chosen return."""

    field_id: str
    label: str
    old: float | None
    new: float | None


@dataclass
class UnitResult:
    """One roster unit: its chosen return (if any), status, values and findings."""

    unit: Unit
    status: str = "missing"  # accepted | warnings | rejected | missing
    file: str = ""
    received: datetime | None = None
    late: bool = False
    values: dict[str, float | None] = field(default_factory=dict)  # field id → number, totals recomputed
    info: dict[str, Any] = field(default_factory=dict)  # 填表人, 联系电话, 填报日期, 情况说明
    detail: list[dict[str, Any]] = field(default_factory=list)  # the detail table's filled rows
    findings: list[Finding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    previous: str = ""  # the file the chosen return superseded
    raw: dict[str, Any] = field(default_factory=dict)  # field id → raw cell value, for feedback forms
    feedback: str = ""  # the feedback form written for the unit to correct and resend
    materials: dict[str, int] = field(default_factory=dict)  # photos/summary/scan sent with the form
    materials_text: str = ""  # the same for 上报情况, against what the campaign requires

    @property
    def counted(self) -> bool:
        """Whether the unit's numbers enter the county totals."""
        return self.status in ("accepted", "warnings")

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit.id,
            "unit": self.unit.name,
            "category": self.unit.category,
            "status": self.status,
            "file": self.file or None,
            "received": self.received.isoformat(timespec="seconds") if self.received else None,
            "late": self.late,
            "values": self.values,
            "feedback": self.feedback or None,
            "materials": self.materials,
        }


@dataclass
class CollectReport:
    campaign: Campaign
    spec: FormSpec
    cells: CellMap
    units: list[UnitResult]
    files: list[FileResult]
    findings: list[Finding]  # every finding of the run, each with unit/file/sheet/cell
    totals: dict[str, float]
    generated_at: datetime
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
        return n

    @property
    def ok(self) -> bool:
        """No unit rejected or missing (what `--strict` checks)."""
        return not any(u.status in ("rejected", "missing") for u in self.units)

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
            "files": [f.to_dict() for f in self.files],
            "findings": [f.to_dict() for f in self.findings],
            "outputs": self.outputs,
        }
