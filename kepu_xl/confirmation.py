"""The confirm job: the clerk's 核实 of a unit's 待核实 numbers → a row in the ledger.

`kepuxl collect` holds back a unit whose return has a `verify` finding (e.g. 50,000 万元, probably 元)
that the unit did not explain in 情况说明: status 待核实, not in the totals. Once the clerk has checked
it (a phone call), `confirm` records the time, the clerk's note and the sha256 of the return the last
collect used; the next collect counts that return, with the note quoted. A newer return from the unit
has another sha256 and is not covered. Who ran the command is not knowable and is not claimed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .campaign import Campaign, Unit
from .campaign import load as load_campaign
from .findings import Code, Finding, Findings, KepuError
from .ledger import Ledger, ledger_path
from .results import Confirmation


@dataclass
class ConfirmItem:
    """What became of one unit named on the command line."""

    name: str  # as the clerk typed it
    unit: Unit | None = None
    outcome: str = ""  # confirmed | undone | refused
    confirmation: Confirmation | None = None
    file: str = ""
    refusal: list[Finding] = field(default_factory=list)  # why it was refused (also in the report)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit_id": self.unit.id if self.unit else None,
            "unit": self.unit.name if self.unit else None,
            "outcome": self.outcome,
            "file": self.file or None,
            "confirmation": self.confirmation.to_dict() if self.confirmation else None,
        }


@dataclass
class ConfirmReport:
    campaign: str
    items: list[ConfirmItem] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)
    standing: list[tuple[Unit, Confirmation]] = field(default_factory=list)  # --list

    @property
    def ok(self) -> bool:
        return all(i.outcome != "refused" for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "items": [i.to_dict() for i in self.items],
            "confirmations": [{"unit_id": u.id, "unit": u.name, **c.to_dict()} for u, c in self.standing],
            "findings": [f.to_dict() for f in self.findings],
        }


def confirm(config: Path, names: Iterable[str], note: str, *, now: datetime | None = None) -> ConfirmReport:
    """Record the clerk's 核实 of each named unit's latest used return (by name or unit id)."""
    note = " ".join((note or "").split())
    if not note:
        raise KepuError('请用 --note 写明核实情况，例如 --note "电话核实，确为5万元"。')

    def one(ledger: Ledger, item: ConfirmItem, unit: Unit, at: datetime) -> None:
        entry = ledger.chosen(unit.id)
        if entry is None:
            _refuse(item, Code.CONFIRM_NO_RETURN, unit)
        elif not entry.verify:
            item.file = entry.path
            _refuse(item, Code.CONFIRM_NOTHING, unit, file=entry.path, path=entry.path)
        else:
            item.confirmation = ledger.confirm(unit.id, entry.sha256, note, at)
            item.outcome, item.file = "confirmed", entry.path

    return _each(config, names, now, one)


def undo(config: Path, names: Iterable[str], *, now: datetime | None = None) -> ConfirmReport:
    """Withdraw each named unit's 核实: its 待核实 numbers leave the totals again at the next collect."""

    def one(ledger: Ledger, item: ConfirmItem, unit: Unit, at: datetime) -> None:
        item.confirmation = ledger.undo_confirmation(unit.id, at)
        if item.confirmation is None:
            _refuse(item, Code.CONFIRM_NOT_FOUND, unit)
        else:
            item.outcome = "undone"

    return _each(config, names, now, one)


def _each(
    config: Path,
    names: Iterable[str],
    now: datetime | None,
    one: Callable[[Ledger, ConfirmItem, Unit, datetime], None],
) -> ConfirmReport:
    """`one` for each named unit the roster has (the others are reported), then the standing list."""
    camp = load_campaign(Path(config))
    now = now or datetime.now().replace(microsecond=0)
    report = ConfirmReport(camp.title)
    with _ledger(camp) as ledger:
        for name in names:
            item = _find(camp, name, report)
            if item.unit is not None:
                one(ledger, item, item.unit, now)
                report.findings.extend(item.refusal)
        report.standing = _standing(camp, ledger)
    return report


def _refuse(item: ConfirmItem, code: Code, unit: Unit, **context: str) -> None:
    item.outcome = "refused"
    item.refusal.append(Finding.make(code, unit=unit.name, name=unit.name, **context))


def standing(config: Path) -> ConfirmReport:
    """Every unit's standing 核实 (kepuxl confirm --list)."""
    camp = load_campaign(Path(config))
    report = ConfirmReport(camp.title)
    with _ledger(camp) as ledger:
        report.standing = _standing(camp, ledger)
    return report


def _ledger(camp: Campaign) -> Ledger:
    return Ledger(ledger_path(camp.state_dir))


def _standing(camp: Campaign, ledger: Ledger) -> list[tuple[Unit, Confirmation]]:
    current = ledger.confirmations()
    return [(u, current[u.id]) for u in camp.units if u.id in current]


def _find(camp: Campaign, name: str, report: ConfirmReport) -> ConfirmItem:
    """The roster unit a clerk means: its unit id, else its name (normalised as identification does)."""
    item = ConfirmItem(name=name)
    report.items.append(item)
    item.unit = camp.unit(name.strip()) or camp.unit_by_name(name)
    if item.unit is None:
        names = [u.name for u in camp.units]
        close = difflib.get_close_matches(name.strip(), names, n=3, cutoff=0.5)
        hint = f"（是否是：{'、'.join(close)}）" if close else ""
        report.findings.items.append(Finding.make(Code.CONFIRM_UNKNOWN_UNIT, name=name, hint=hint))
        item.outcome = "refused"
    return item
