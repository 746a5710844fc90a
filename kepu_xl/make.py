"""The make-forms job: a campaign → one workbook per unit in output/forms/, replaced as a whole set.

Library entry point mirrored by the CLI: `make_forms(config)`. It returns plain data (or raises
`KepuError`); the CLI renders it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import workers as workers_mod
from .campaign import Unit
from .context import Context
from .files import (
    check_replaceable,
    clean_stale_temps,
    discard,
    new_folder,
    swap_folder,
    write_new,
)
from .findings import Code, Finding, KepuError, Report
from .workers import Progress
from .xlsx_out import same_parts


@dataclass
class FormsReport(Report):
    forms: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # forms of the old set no unit has any more

    @property
    def counts(self) -> dict[str, int]:
        """Forms new, replaced (different bytes), unchanged (same bytes), and old ones removed."""
        n = {status: 0 for status in FORM_STATUSES}
        for form in self.forms:
            n[form["status"]] += 1
        n["removed"] = len(self.removed)
        return n

    def parts(self) -> dict[str, Any]:
        return {"counts": self.counts, "forms": self.forms, "removed": self.removed}


FORM_STATUSES = ("new", "replaced", "unchanged")
FORM_NAMES = re.compile(r"\d+_.+\.xlsx")  # what kepuxl names a form (with a time stamp when kept aside)


def make_forms(
    config: Path, outdir: Path | None = None, progress: Progress | None = None, *, workers: int | None = None
) -> FormsReport:
    """Write one form per roster unit into `outdir` (default: output/forms/ of the campaign).

    The forms are a set: written into a fresh folder beside `outdir`, which then replaces `outdir` as a
    whole (`files.swap_folder`), so a run killed half-way leaves the old set, and a unit dropped from
    the roster loses its form. A folder holding files kepuxl did not make is not replaced (KepuError).
    Each form is reported new, replaced or unchanged against the old set.

    Each form is the campaign's template with the unit's name and identity put in (~1.5 ms; see
    form_template.py), or built by xlsxwriter (~20 ms) when that could differ. Big rosters are
    written by one worker process per core; `workers` overrides that (0: in this process).
    """
    ctx = Context.load(Path(config), create_secret=True)
    outdir = Path(outdir) if outdir else ctx.campaign.folder / "output" / "forms"
    report = FormsReport(ctx.campaign.title, outdir)
    report.findings.extend(ctx.campaign.warnings)
    units = ctx.campaign.units
    if workers is None:  # xlsxwriter cannot crash the process: small rosters need no pool
        workers = workers_mod.default_workers(len(units)) if len(units) >= 2 * workers_mod.PER_WORKER else 0
    clean_stale_temps(outdir.parent)
    clean_stale_temps(outdir)
    check_replaceable(outdir, FORM_NAMES, "统计表")
    ctx.template()  # built once here: the forked workers inherit it
    update = None
    if progress is not None:

        def update(done: int, total: int, unit: Unit) -> None:
            progress(done, len(units), unit.name)

    staging = new_folder(outdir)
    try:
        written = workers_mod.run(
            units,
            _write_form,
            (ctx, outdir, staging),
            failed=_form_failed,
            workers=workers,
            expected=len(units),
            progress=update,
        )
        for result in written:
            if isinstance(result, _NotWritten):
                raise KepuError(result.findings or result.text)
        names = {name for name, _ in written}
        report.removed = sorted(set(_old_forms(outdir)) - names)
        where = swap_folder(staging, outdir)
    except BaseException:
        discard(staging)
        raise
    if where != outdir:
        report.findings.add(Code.OUT_LOCKED, path=str(outdir), saved=str(where))
        report.outdir = where
    for unit, (name, status) in zip(units, written, strict=True):
        report.forms.append(
            {
                "unit_id": unit.id,
                "unit": unit.name,
                "category": unit.category,
                "file": str(where / name),
                "status": status,
            }
        )
    return report


def _old_forms(outdir: Path) -> list[str]:
    try:
        return [n for n in os.listdir(outdir) if FORM_NAMES.fullmatch(n)]
    except OSError:
        return []


@dataclass(frozen=True)
class _NotWritten:
    """A writer error, carried back from a worker as data (an exception would lose its findings)."""

    findings: list[Finding]
    text: str


def _write_form(unit: Unit, job: tuple[Context, Path, Path]) -> tuple[str, str] | _NotWritten:
    """One unit's form written into the new set → (file name, new | replaced | unchanged)."""
    ctx, outdir, staging = job
    name = ctx.form_name(unit)
    try:
        data = ctx.form_bytes(unit)
        write_new(staging / name, data, outdir / name)
    except KepuError as exc:
        return _NotWritten(exc.findings, str(exc))
    return name, _compared(outdir / name, data)


def _compared(old: Path, data: bytes) -> str:
    """How `data` compares with the form it replaces: unchanged when the bytes are the same, or when every
    part is once inflated (a form from an earlier kepuxl, compressed otherwise: the unit need not be sent
    it again)."""
    try:
        if old.stat().st_size > 4 * len(data) + 65_536:  # (never inflate a stranger's file)
            return "replaced"
        before = old.read_bytes()
    except FileNotFoundError:
        return "new"
    except OSError:
        return "replaced"
    return "unchanged" if before == data or same_parts(before, data) else "replaced"


def _form_failed(unit: Unit, failure: Any) -> Path:
    raise KepuError(f"生成“{unit.name}”的统计表失败（{failure.detail}）")
