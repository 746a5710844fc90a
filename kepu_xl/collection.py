"""The collect job: inbox/ → per-file outcomes → one result per unit → summary, feedback, ledger.

intake → (per file, pure: `process`) reader + identify + audit → `resolve` → merge →
summary_writer / feedback. Inbox files are read once and never modified; a bad file yields
findings and the batch goes on.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any

from . import audit as audit_mod
from . import intake, lastrun, locks, materials, media, reader
from . import previous as previous_mod
from . import workers as workers_mod
from .campaign import Unit
from .context import Context
from .files import (
    check_replaceable,
    clean_stale_temps,
    discard,
    ensure_dir,
    new_folder,
    replace_file,
    safe_name,
    swap_folder,
    write_new,
    write_temp,
)
from .findings import Code, Finding, KepuError, Severity
from .forms_writer import Prefill
from .ledger import Entry, Ledger, ledger_path
from .mail.templates import Template
from .results import (
    NOT_CONTENT,
    CollectReport,
    Confirmation,
    FileResult,
    Outcome,
    Status,
    UnitResult,
    changes,
)
from .workers import Progress

FORM_KINDS = ("xlsx", "xls", "ods")


@dataclass
class Processed:
    """One inbox file after the per-file stages."""

    file: FileResult
    audited: audit_mod.Audited | None = None
    unit: Unit | None = None


def process(cand: intake.Candidate, ctx: Context) -> Processed:
    """One candidate file → its outcome. Pure over the bytes; never raises for a bad file.

    A deferred candidate (intake.scan(defer=True)) is pre-checked here first, in the worker.
    """
    return read_and_audit(*intake.checked(cand), ctx)


def read_and_audit(cand: intake.Candidate, parts: Mapping[str, bytes], ctx: Context) -> Processed:
    """A pre-checked candidate → its outcome; `parts`: what the pre-check inflated (reused, not re-read)."""
    fr = FileResult(
        path=cand.path,
        sha256=cand.sha256,
        kind=cand.kind,
        received=cand.received,
        source=cand.source,
        sender=cand.sender,
        findings=list(cand.findings),
        received_from=cand.received_from,
    )
    if fr.has_error:
        fr.outcome = Outcome.REJECTED
        return Processed(fr)
    if cand.kind not in FORM_KINDS:
        fr.outcome = Outcome.IGNORED
        fr.media = media.inspect(cand)  # a video's length (its header only), a link file's links
        return Processed(fr)
    try:
        form = reader.read(cand.data, cand.kind, ctx.spec, ctx.cells, parts)
    except Exception as exc:  # any parser failure on untrusted bytes is this file's problem only
        fr.findings.append(Finding.make(Code.READ_FAILED, error=f"{type(exc).__name__}: {str(exc)[:200]}"))
        fr.outcome = Outcome.REJECTED
        return Processed(fr)
    if not form.has_main and form.identity is None:
        fr.findings.append(Finding.make(Code.ID_NOT_A_FORM, name=cand.name, form_sheet=ctx.spec.sheet))
        fr.outcome = Outcome.IGNORED
        return Processed(fr)
    unit, found = audit_mod.identify(form, ctx.campaign, ctx.spec, ctx.cells, ctx.secret)
    fr.findings.extend(found)
    if unit is None:
        fr.outcome = Outcome.UNIDENTIFIED
        return Processed(fr)
    fr.unit_id = unit.id
    if any(f.severity is Severity.ERROR for f in found):
        fr.outcome = Outcome.REJECTED
        return Processed(fr, audit_mod.Audited(unit=unit), unit)
    last_year = ctx.previous.of(unit.id) if ctx.previous is not None else None
    audited = audit_mod.audit(form, ctx.spec, ctx.cells, unit, last_year, ctx.campaign)
    fr.findings.extend(audited.findings)
    fr.values = audited.values
    fr.outcome = Outcome.REJECTED if fr.has_error else Outcome.USED
    return Processed(fr, audited, unit)


def collect(
    inbox: Path,
    config: Path,
    outdir: Path | None = None,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    write: bool = True,
    workers: int | None = None,
    timeout: float = workers_mod.FILE_TIMEOUT,
    report_doc: bool = False,
) -> CollectReport:
    """Run the whole job; returns the report (outputs listed in `report.outputs`).

    Each file is read and audited in a worker process (`workers.run`): a parser that crashes or
    hangs costs that file (READ_CRASHED / READ_TIMEOUT after `timeout` seconds), not the run.
    `workers` overrides the pool size (0: in this process; default: one per core when the inbox is big
    enough to pay). The inbox is streamed: only a few batches of file bytes are in memory at a time.
    kepuxl's own folders (the output folder, .kepuxl/) are never read as returns, wherever the inbox is.

    Before anything is read, the output folder and the ledger are checked (a run that could not be
    recorded is not begun); see `_write` for what an interruption leaves. A run that writes holds the
    campaign's collect lock (one at a time, the page's runs included: a second one is refused with
    OUT_BUSY) and leaves its report in .kepuxl/ for the page (`lastrun`).

    `report_doc` also writes the 总结报告（数据部分）.docx beside the summary (`report_docx.write_report`,
    listed as `outputs.report`) once the run's outputs are in place.
    """
    ctx = Context.load(Path(config))
    if report_doc:
        Template.load(ctx.campaign, "report")  # a broken 总结报告模板.txt stops the run before it begins
    ctx.previous = previous_mod.load(ctx.campaign, ctx.spec)  # last year's, read by rules and the summary
    outdir = Path(outdir) if outdir else ctx.campaign.folder / "output"
    if not write:
        return _collect(ctx, Path(inbox), outdir, progress, now, write, workers, timeout)
    # checked before the lock is taken: a read-only campaign folder is explained as such, not as a lock
    _check_ledger(ledger_path(ctx.campaign.state_dir))
    try:
        with locks.held(lastrun.lock_path(ctx.campaign.state_dir), "collect"):
            report = _collect(ctx, Path(inbox), outdir, progress, now, write, workers, timeout)
            if report_doc:
                _write_report(report, outdir, progress)
            lastrun.save(report, ctx.campaign.state_dir)
    except locks.Busy as busy:
        raise KepuError(lastrun.busy(busy)) from None
    return report


def _collect(
    ctx: Context,
    inbox: Path,
    outdir: Path,
    progress: Progress | None,
    now: datetime | None,
    write: bool,
    workers: int | None,
    timeout: float,
) -> CollectReport:
    now = now or datetime.now().replace(microsecond=0)
    ledger_file = ledger_path(ctx.campaign.state_dir)
    if write:
        _check_outputs(outdir)
    report_progress = None
    if progress is not None:

        def report_progress(done: int, total: int, cand: intake.Candidate) -> None:
            progress(done, total, cand.name)

    own = (outdir, ctx.campaign.folder / "output", ctx.campaign.state_dir)
    processed: list[Processed] = workers_mod.run(
        intake.scan(inbox, defer=True, skip=own),  # the pre-check runs in the workers, beside the reading
        process,
        ctx,
        failed=_failed,
        keep=_without_bytes,
        weigh=_size,
        workers=workers,
        expected=_count_files(inbox, own),
        timeout=timeout,
        progress=report_progress,
        meanwhile=_load_writers if write else None,
    )
    if progress is not None:  # resolve and the summary take seconds at province scale: say so
        progress(len(processed), len(processed), "正在核对、汇总……")
    # a province's 10,000 results are in memory now: no collector passes over them while they are used
    with workers_mod.gc_paused(), Ledger(ledger_file) as ledger:
        report = resolve(ctx, processed, now, ledger)
        if write:
            _write(ctx, report, outdir, ledger, str(inbox))
    return report


def _check_outputs(outdir: Path) -> None:
    """Raise (Chinese, exit 3) before the inbox is read when the outputs could not be written."""
    ensure_dir(outdir)
    check_replaceable(outdir / FEEDBACK_DIR, FEEDBACK_NAMES, "反馈表")
    write_temp(outdir, b"", outdir).unlink()  # the folder takes new files (a read-only disk fails here)


def _check_ledger(ledger_file: Path) -> None:
    """Raise (Chinese, exit 3) when the run could not be recorded (read-only, or another program holds it)."""
    with Ledger(ledger_file) as ledger:
        ledger.check_writable()


def _write(ctx: Context, report: CollectReport, outdir: Path, ledger: Ledger, inbox: str) -> None:
    """Build the outputs, record the run, then put the outputs in place.

    Order, so that any moment a run is killed leaves a state the next run recognises:
    1. the summary (a temp file) and the feedback set (a fresh folder) are built beside the old ones,
       while this process stages the run in the ledger; a kill here leaves temp files only;
    2. the run is committed to the ledger, state 'writing';
    3. the summary replaces the old one (one rename) and the feedback set the old set (`swap_folder`);
    4. the run is marked done with the paths and SHA-256 of what it wrote.
    A run killed after 2 and before 4 stays 'writing': the next collect says so (OUT_INTERRUPTED) and,
    like every run, writes everything again. A run that fails before 2 records nothing.
    """
    for at in ledger.unfinished():
        report.findings.append(Finding.make(Code.OUT_INTERRUPTED, at=at.replace("T", " ")))
    staged: list[int | Exception] = []

    def stage() -> None:
        try:
            staged.append(ledger.stage(report.files, report.generated_at, inbox, report.counts))
        except Exception as exc:  # raised below, unless the outputs fail first
            staged.append(exc)

    built = build_outputs(ctx, report, outdir, stage)
    try:
        if isinstance(staged[0], Exception):
            raise staged[0]
        ledger.commit()
        built.put_in_place(report)
    finally:
        built.discard()
    ledger.finish(staged[0], built.record())
    report.outputs["ledger"] = str(ledger.path)


def _write_report(report: CollectReport, outdir: Path, progress: Progress | None) -> None:
    """The 总结报告（数据部分）.docx (python-docx and matplotlib are loaded only for it)."""
    from .report_docx import write_report

    if progress is not None:
        n = len(report.files)
        progress(n, n, "正在生成总结报告……")
    write_report(report, outdir)


def _load_writers() -> None:
    """The summary's modules (pandas alone takes ~0.4 s to import), loaded while the workers read."""
    importlib.import_module(f"{__package__}.summary_writer")


def _failed(cand: intake.Candidate, failure: workers_mod.Failure) -> Processed:
    """The outcome of a file whose worker crashed or overran: rejected, the rest of the run unaffected."""
    fr = FileResult(
        path=cand.path,
        sha256=cand.sha256,
        kind="rejected" if cand.kind == intake.PENDING else cand.kind,  # its check never finished
        received=cand.received,
        source=cand.source,
        sender=cand.sender,
        findings=list(cand.findings),
        received_from=cand.received_from,
    )
    if failure.kind == "timeout":
        fr.findings.append(Finding.make(Code.READ_TIMEOUT, seconds=f"{failure.seconds:g}"))
    else:
        fr.findings.append(Finding.make(Code.READ_CRASHED, error=failure.detail))
    fr.outcome = Outcome.REJECTED
    return Processed(fr)


def _without_bytes(cand: intake.Candidate) -> intake.Candidate:
    return replace(cand, data=b"")


def _size(cand: intake.Candidate) -> int:
    return len(cand.data)


def _count_files(inbox: Path, skip: Iterable[Path] = ()) -> int:
    """About how many files the inbox holds (sizes the worker pool and the progress bar)."""
    count = 0
    skipped = {os.path.normcase(os.path.abspath(p)) for p in skip}
    for top, dirs, files in os.walk(inbox):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and os.path.normcase(os.path.abspath(os.path.join(top, d))) not in skipped
        ]
        count += sum(1 for name in files if not name.startswith((".", "~$")))
    return count


# -- resolve ----------------------------------------------------------------------------------------


def resolve(
    ctx: Context, processed: list[Processed], now: datetime, ledger: Ledger | None = None
) -> CollectReport:
    """All returns + roster → one result per unit: duplicates, superseded, missing, late, 待核实, totals."""
    camp, spec = ctx.campaign, ctx.spec
    first_seen = ledger.first_seen() if ledger is not None else {}
    for p in processed:
        _arrival(p.file, first_seen)
    by_unit = _by_unit(processed)
    history = ledger.histories() if ledger is not None else {}  # earlier runs' files, by unit
    confirmations = ledger.confirmations() if ledger is not None else {}
    units = [
        _unit_result(
            ctx, unit, by_unit.get(unit.id, []), history.get(unit.id, []), confirmations.get(unit.id)
        )
        for unit in camp.units
    ]
    _copies(spec, units)
    for u in units:
        if u.file:
            u.status = _status(u.findings)
        u.findings = [f.located(unit=u.unit.name, file=u.file) for f in u.findings]
    totals = _sums(spec, [u.values for u in units if u.counted])
    pending = _sums(spec, [u.values for u in units if u.status is Status.PENDING])
    files = sorted((p.file for p in processed), key=lambda f: f.path)
    names = {u.id: u.name for u in camp.units}
    for f in files:
        f.findings = [x.located(unit=names.get(f.unit_id, ""), file=f.path) for x in f.findings]
    findings = _all_findings(units, files)
    report = CollectReport(camp, spec, ctx.cells, units, files, findings, totals, now, pending_totals=pending)
    _last_year(report, ctx.previous)
    materials.apply(report)  # photos, summaries, scans sent along: counted per unit, shortfalls noted
    return report


def _last_year(report: CollectReport, previous: previous_mod.Previous | None) -> None:
    """Last year beside this year: each unit's values, the totals, and what reading them found."""
    if previous is None:
        return
    for u in report.units:
        u.previous = previous.of(u.unit.id)
    report.previous_totals = dict(previous.totals)
    report.previous_source = previous.source
    report.findings.extend(previous.findings)


def _arrival(f: FileResult, first_seen: Mapping[str, datetime]) -> None:
    """When a file arrived, as well as can be told: an e-mail's Date is exact; otherwise the earlier of
    the file's time and the first run that saw this content (both only say "by then")."""
    if f.received_from == "email":
        return
    seen = first_seen.get(f.sha256)  # a run's time, in whole seconds: compare the file's time alike
    if seen is not None and (f.received is None or seen < f.received.replace(microsecond=0)):
        f.received, f.received_from = seen, "first_seen"


def _by_unit(processed: list[Processed]) -> dict[str, list[Processed]]:
    """The returns that reached a unit, oldest first; a second copy of the same content is a duplicate."""
    seen: dict[str, str] = {}
    by_unit: dict[str, list[Processed]] = {}
    for p in sorted(processed, key=lambda p: p.file.path):
        f = p.file
        if f.sha256 in seen and f.kind in FORM_KINDS and f.outcome != Outcome.IGNORED:
            f.outcome = Outcome.DUPLICATE
            f.findings = [Finding.make(Code.RESOLVE_DUPLICATE, kept=seen[f.sha256])]
            continue
        seen.setdefault(f.sha256, f.path)
        if f.unit_id and f.outcome in (Outcome.USED, Outcome.REJECTED) and p.audited is not None:
            by_unit.setdefault(f.unit_id, []).append(p)
    for returns in by_unit.values():
        returns.sort(key=lambda p: (p.file.received or datetime.min, p.file.path))
    return by_unit


def _unit_result(
    ctx: Context,
    unit: Unit,
    returns: list[Processed],
    history: list[Entry],
    confirmation: Confirmation | None,
) -> UnitResult:
    """One roster unit from its returns (oldest first): the chosen one, what it replaced, late, 核实."""
    result = UnitResult(unit=unit)
    if not returns:
        result.findings.append(Finding.make(Code.RESOLVE_MISSING))
        return result
    chosen, passed_over = _choose(returns)
    stamp = _when(chosen.file.received)
    for older in returns:
        if older is not chosen and older not in passed_over:
            older.file.outcome = Outcome.SUPERSEDED
            older.file.findings.append(
                Finding.make(Code.RESOLVE_SUPERSEDED, newer=chosen.file.path, received=stamp)
            )
    audited = chosen.audited
    assert audited is not None
    f = chosen.file
    result.file, result.received, result.received_from = f.path, f.received, f.received_from
    result.values, result.info, result.detail, result.raw = (
        audited.values,
        audited.info,
        audited.detail,
        audited.raw,
    )
    result.subunits = audited.subunits
    result.findings = list(f.findings)
    for p in passed_over:  # a newer file that failed its identity check never replaces one that passed
        result.findings.append(
            Finding.make(
                Code.RESOLVE_NOT_SUPERSEDED, newer=p.file.path, received=_when(p.file.received), kept=f.path
            )
        )
    _lateness(result, ctx.campaign.deadline)
    if f.sender and unit.email and f.sender.lower() != unit.email.lower():
        result.findings.append(Finding.make(Code.RESOLVE_SENDER, sender=f.sender, expected=unit.email))
    _confirmed(result, f.sha256, confirmation, history)
    replaced = _replaced(returns, chosen, history)
    if replaced is not None:
        result.replaced, old_values = replaced
        result.changes = changes(ctx.spec, old_values, result.values)
    return result


def _identity_ok(p: Processed) -> bool:
    return not any(f.severity is Severity.ERROR and f.code.name.startswith("ID_") for f in p.file.findings)


def _choose(returns: list[Processed]) -> tuple[Processed, list[Processed]]:
    """The newest return, unless it failed the identity check and an older one passed: then the newest
    that passed, and the newer failures are passed over (reported beside it, not superseding it)."""
    trusted = [p for p in returns if _identity_ok(p)]
    if not trusted or trusted[-1] is returns[-1]:
        return returns[-1], []
    chosen = trusted[-1]
    return chosen, returns[returns.index(chosen) + 1 :]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%m-%d %H:%M") if moment else "—"


def _lateness(result: UnitResult, deadline: datetime) -> None:
    """Late for certain when the e-mail was sent after the deadline; only maybe when a file time says so."""
    received = result.received
    if received is None or received <= deadline:
        return
    times = {"received": f"{received:%Y-%m-%d %H:%M}", "deadline": f"{deadline:%Y-%m-%d %H:%M}"}
    if result.received_from == "email":
        result.late = True
        result.findings.append(Finding.make(Code.RESOLVE_LATE, **times))
    else:
        result.maybe_late = True
        source = "文件时间" if result.received_from == "file" else "首次收集时间"
        result.findings.append(Finding.make(Code.RESOLVE_MAYBE_LATE, source=source, **times))


def _confirmed(
    result: UnitResult, sha256: str, confirmation: Confirmation | None, history: list[Entry]
) -> None:
    """Apply the clerk's 核实: it covers the return with that content only; a newer return voids it."""
    if confirmation is None:
        return
    at = f"{confirmation.at:%Y-%m-%d %H:%M}"
    if confirmation.sha256 != sha256:
        if any(f.severity is Severity.VERIFY for f in result.findings):
            old = next((e.path for e in history if e.sha256 == confirmation.sha256), "此前的文件")
            result.findings.append(Finding.make(Code.RESOLVE_CONFIRM_VOID, at=at, path=old))
        return
    result.confirmation = confirmation
    result.findings = [
        replace(f, severity=Severity.WARNING, message=f"【已核实】{f.message}")
        if f.severity is Severity.VERIFY
        else f
        for f in result.findings
    ]
    result.findings.append(Finding.make(Code.RESOLVE_CONFIRMED, at=at, note=confirmation.note))


def _status(findings: list[Finding]) -> Status:
    """The worst problem in the return's content decides (facts such as 逾期 don't: see NOT_CONTENT)."""
    seen = {f.severity for f in findings if f.code not in NOT_CONTENT}
    if Severity.ERROR in seen:
        return Status.REJECTED
    if Severity.VERIFY in seen:
        return Status.PENDING
    return Status.WARNINGS if Severity.WARNING in seen else Status.ACCEPTED


def _sums(spec, counted: list[dict[str, float | None]]) -> dict[str, float]:
    """Each field's sum over these units (a blank is nothing to add): map/filter keep 10,000 units in C."""
    return {
        f.id: f.rounded(sum(filter(None, map(dict.get, counted, repeat(f.id))), 0.0)) for f in spec.fields
    }


def _replaced(
    returns: list[Processed], chosen: Processed, history: list[Entry]
) -> tuple[str, dict[str, float | None]] | None:
    """The version the chosen return replaces: an older file in the inbox, else the ledger's (`history`)."""
    if len(returns) > 1:
        return returns[-2].file.path, returns[-2].file.values
    older = [
        e
        for e in history
        if e.sha256 != chosen.file.sha256
        and e.outcome in (Outcome.USED, Outcome.SUPERSEDED, Outcome.REJECTED)
    ]
    received = chosen.file.received or datetime.max
    older = [e for e in older if (e.received or e.first_seen) <= received]
    return (older[-1].path, older[-1].values) if older else None


def _copies(spec, units: list[UnitResult]) -> None:
    """Two units with identical non-zero value vectors: a warning on both (copy-paste)."""
    groups: dict[tuple, list[UnitResult]] = {}
    inputs = [f.id for f in spec.inputs]
    for u in units:
        if not u.file or not u.values:
            continue
        vector = tuple(map(u.values.get, inputs))
        if any(v for v in vector):
            groups.setdefault(vector, []).append(u)
    for same in groups.values():
        if len(same) > 1:
            for u in same:
                others = "、".join(o.unit.name for o in same if o is not u)
                u.findings.append(Finding.make(Code.AUDIT_COPY, other=others))


def _all_findings(units: Iterable[UnitResult], files: Iterable[FileResult]) -> list[Finding]:
    """The run's problems: each unit's (its chosen return's, and resolve's), then the files no unit took.

    A superseded file's old problems are history (文件清单, the ledger), not current problems: only the
    note that it was replaced is listed.
    """
    units = list(units)
    chosen = {u.file for u in units if u.file}
    out: list[Finding] = []
    seen: set[tuple] = set()
    stray = (
        x
        for fr in files
        if fr.path not in chosen
        for x in fr.findings
        if fr.outcome != Outcome.SUPERSEDED or x.code is Code.RESOLVE_SUPERSEDED
    )
    for f in [*(x for u in units for x in u.findings), *stray]:
        key = (f.code, f.unit, f.file, f.sheet, f.cell, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# -- outputs ----------------------------------------------------------------------------------------


def summary_name(ctx: Context) -> str:
    return f"{safe_name(ctx.campaign.title)}_汇总.xlsx"


# Feedback forms take ~20 ms each (xlsxwriter). With this many, they are written by a worker process
# while another builds the summary (a province: 10,000 units, hundreds of forms, a 3 s summary).
FEEDBACK_DIR = "反馈"
# what kepuxl names a feedback form (an older kepuxl kept a locked one aside with a time stamp)
FEEDBACK_NAMES = re.compile(r"\d+_.+_反馈(-\d{8}-\d{6})?\.xlsx")
OUTPUT_DEPTH = 3  # folders below output/ cleaned of what a killed run left (output/邮件/统计表/…)
PARALLEL_FEEDBACK = 24
FEEDBACK_CHUNK = 16  # forms per task: a worker that is done with the summary takes the next chunk
OUTPUT_TIMEOUT = 1800.0  # seconds one output task may take (the summary of a very large run)


@dataclass(frozen=True, slots=True)
class _Feedback:
    unit: int  # index into report.units
    name: str
    prefill: Prefill
    problems: list[Finding]


@dataclass(frozen=True, slots=True)
class _Redo:
    """An output task whose worker failed: done again in this process (an error then surfaces here)."""


def write_outputs(
    ctx: Context,
    report: CollectReport,
    outdir: Path,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """The summary and the feedback forms into `outdir`, each replacing the old as a whole; `meanwhile`
    runs here while workers write them. (collect itself records the run between the two steps.)"""
    built = build_outputs(ctx, report, outdir, meanwhile)
    try:
        built.put_in_place(report)
    finally:
        built.discard()


@dataclass
class Built:
    """Outputs written beside the ones they replace, not yet in place (`put_in_place`)."""

    summary: Path  # where the summary goes
    summary_tmp: Path | None  # the new summary, a temp file beside it
    summary_sha: str
    feedback_dir: Path  # where the feedback set goes
    staging: Path | None  # the new feedback set, a fresh folder beside it
    feedback: list[tuple[int, str, str]]  # (index into report.units, file name, SHA-256)
    placed: dict[str, str] = field(default_factory=dict)  # summary / feedback → where they went

    def put_in_place(self, report: CollectReport) -> None:
        """The summary, then the feedback set, replace the old ones; a locked one is kept aside."""
        assert self.summary_tmp is not None and self.staging is not None
        saved = replace_file(self.summary_tmp, self.summary)
        self.summary_tmp = None
        if saved != self.summary:
            report.findings.append(Finding.make(Code.OUT_LOCKED, path=str(self.summary), saved=str(saved)))
        where = swap_folder(self.staging, self.feedback_dir)
        self.staging = None
        if where != self.feedback_dir:
            report.findings.append(
                Finding.make(Code.OUT_LOCKED, path=str(self.feedback_dir), saved=str(where))
            )
        written = []
        for n, name, _ in self.feedback:
            report.units[n].feedback = str(where / name)
            written.append(str(where / name))
        self.placed = {"summary": str(saved), "feedback": str(where)}
        report.outputs["summary"] = str(saved)
        report.outputs["feedback"] = str(where) if written else ""
        report.outputs["feedback_files"] = written

    def discard(self) -> None:
        """What was built and not put in place (a failure on the way) goes."""
        for leftover in (self.summary_tmp, self.staging):
            if leftover is not None:
                discard(leftover)
        self.summary_tmp = self.staging = None

    def record(self) -> dict[str, Any]:
        """What the ledger keeps of the outputs: where they are and their SHA-256."""
        return {
            "summary": {"path": self.placed.get("summary", ""), "sha256": self.summary_sha},
            "feedback": {
                "path": self.placed.get("feedback", ""),
                "files": {name: sha for _, name, sha in self.feedback},
            },
        }


def build_outputs(
    ctx: Context,
    report: CollectReport,
    outdir: Path,
    meanwhile: Callable[[], None] | None = None,
) -> Built:
    """The summary (a temp file in `outdir`) and the feedback forms (a fresh folder beside 反馈/), written
    by workers while `meanwhile` runs here; nothing is replaced yet. What a killed run left goes first."""
    ensure_dir(outdir)
    clean_stale_temps(outdir, depth=OUTPUT_DEPTH)
    target = outdir / summary_name(ctx)
    feedback_dir = outdir / FEEDBACK_DIR
    jobs = _feedback_jobs(report)
    tasks: list[tuple[str, list[_Feedback]]] = [("summary", [])]
    tasks += [("feedback", jobs[i : i + FEEDBACK_CHUNK]) for i in range(0, len(jobs), FEEDBACK_CHUNK)]
    from . import merge

    staging = new_folder(feedback_dir)
    built = Built(target, None, "", feedback_dir, staging, [])
    try:
        # the summary's tables are made here: a forked worker would pay for copying the report's pages
        job = (ctx, report, merge.frames(report), target, staging, feedback_dir)
        workers = 0 if len(jobs) < PARALLEL_FEEDBACK else min(2, workers_mod.default_workers(None))
        done = workers_mod.run(
            tasks,
            _output,
            job,
            failed=_redo,
            workers=workers,
            batch=1,
            timeout=OUTPUT_TIMEOUT,
            meanwhile=meanwhile,
        )
        for task, result in zip(tasks, done, strict=True):
            if isinstance(result, _Redo):
                result = _output(task, job)
            if task[0] == "summary":
                built.summary_tmp, built.summary_sha = Path(result[0]), result[1]
            else:
                built.feedback += [
                    (fb.unit, name, sha) for fb, (name, sha) in zip(task[1], result, strict=True)
                ]
    except BaseException:
        built.discard()
        raise
    return built


def needs_feedback(u: UnitResult) -> bool:
    """Whether a unit has something to do about its return: an error (it sends the return again), or a
    warning or 待核实 at a cell (it corrects the value or explains it in 情况说明). A return that is only
    late, has only notes (提示), or only warnings about the file as a whole gets no feedback form."""
    return bool(u.file) and any(
        f.severity is Severity.ERROR or (f.severity in (Severity.WARNING, Severity.VERIFY) and f.cell)
        for f in u.findings
        if f.code not in NOT_CONTENT
    )


def _feedback_jobs(report: CollectReport) -> list[_Feedback]:
    """A feedback form for each unit with something to do (`needs_feedback`): its values, its problems."""
    jobs = []
    for n, u in enumerate(report.units):
        if needs_feedback(u):
            problems = [f for f in u.findings if f.severity is not Severity.INFO]
            name = f"{u.unit.seq:02d}_{safe_name(u.unit.name)}_反馈.xlsx"
            jobs.append(_Feedback(n, name, Prefill(fields=u.raw, info=u.info, detail=u.detail), problems))
    return jobs


def _output(
    task: tuple[str, list[_Feedback]], job: tuple[Context, CollectReport, Any, Path, Path, Path]
) -> Any:
    """One output task: the summary workbook (→ its temp file and SHA-256) or a chunk of feedback forms
    (→ their names and SHA-256), written where `build_outputs` gathers them."""
    from . import summary_writer

    ctx, report, frames, target, staging, feedback_dir = job
    kind, chunk = task
    if kind == "summary":
        data = summary_writer.build_summary(report, frames)
        return str(write_temp(target.parent, data, target)), hashlib.sha256(data).hexdigest()
    out = []
    for fb in chunk:
        data = ctx.form_bytes(report.units[fb.unit].unit, fb.prefill, fb.problems)
        write_new(staging / fb.name, data, feedback_dir / fb.name)
        out.append((fb.name, hashlib.sha256(data).hexdigest()))
    return out


def _redo(task: Any, failure: workers_mod.Failure) -> _Redo:
    return _Redo()
