"""The reminders job: a collect run → drafts for missing, rejected and 待核实 units (kepuxl remind).

A missing unit gets its blank form again; a rejected or 待核实 one its feedback workbook and the list of
problems in the body. It uses collect (to know who is due) and mail (to build the drafts)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from .collection import collect
from .context import Context
from .findings import Finding, Severity
from .forms_writer import Prefill
from .mail.drafts import DraftsReport, _draft, _draft_name, _mailable, _sender
from .mail.draftset import DraftSet
from .mail.message import Attachment
from .mail.templates import Template, base_values, form_title, when_text
from .materials import count_materials, shortfalls
from .results import UnitResult
from .workers import Progress

# ---------------------------------------------------------------------------------------------------
# reminders
# ---------------------------------------------------------------------------------------------------

REMIND_STATUSES = ("missing", "rejected", "pending")


def make_reminders(
    config: Path,
    inbox: Path | None = None,
    outdir: Path | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> DraftsReport:
    """Reminder drafts for the units that are missing, rejected or 待核实 (default output/邮件/催报-年月日/).

    A missing unit gets its blank form again; a rejected or 待核实 one its feedback workbook (its own
    values with the problems marked) and the problem list in the body — a 待核实 unit is asked to check
    the numbers and explain them in 情况说明 (or correct them) before they can enter the totals.
    """
    config = Path(config)
    now = (now or datetime.now()).replace(microsecond=0)
    ctx = Context.load(config)
    camp = ctx.campaign
    inbox = Path(inbox) if inbox else camp.folder / "inbox"
    result = collect(inbox, config, write=False, now=now)
    short = shortfalls(camp, count_materials(result))
    # one reminder folder a day: re-running remind the same day makes the same messages, which
    # `send` then does not send twice; a unit whose situation changed gets a new message
    outdir = Path(outdir) if outdir else camp.folder / "output" / "邮件" / f"催报-{now:%Y%m%d}"
    template = Template.load(camp, "remind_template")
    report = DraftsReport(camp.title, outdir, "reminder")
    _sender(camp)
    targets = [u for u in result.units if u.status in REMIND_STATUSES]
    with DraftSet(outdir, "reminder", camp.id) as drafts:
        for n, u in enumerate(targets, start=1):
            unit = u.unit
            if progress:
                progress(n, len(targets), unit.name)
            if not _mailable(unit, report.findings):
                continue
            missing_materials = [f"· {f.message}" for f in short.get(unit.id, [])]
            values, attachment = _reminder(ctx, u, now.date(), missing_materials)
            subject, body = template.render(values, report.findings)
            data = _draft(ctx, unit, "reminder", subject, body, [attachment], now.date().isoformat())
            path = drafts.add(_draft_name(unit), unit.id, data)
            report.drafts.append(
                {
                    "unit_id": unit.id,
                    "unit": unit.name,
                    "status": u.status,
                    "to": unit.email,
                    "subject": subject,
                    "file": str(path),
                }
            )
        drafts.commit()
    return report


def _reminder(
    ctx: Context, u: UnitResult, today: date, missing_materials: list[str]
) -> tuple[dict[str, str], Attachment]:
    """The template's values and the attachment for one missing or rejected unit.

    Every mention of the attachment (情况, 所需材料, 附件名) is the name of the file attached.
    """
    unit, title = u.unit, form_title(ctx)
    if u.status == "missing":
        name = f"{title}（{unit.name}）.xlsx"
        values = base_values(ctx, unit, name, today)
        values["情况标题"] = "催报"
        values["情况"] = (
            f"截至{values['发出日期']}，尚未收到贵单位的《{values['表名']}》。"
            f"附件《{name}》是贵单位的统计表，请填写后回复本邮件。"
        )
        values["问题清单"] = "\n".join(missing_materials)
        return values, Attachment(name, ctx.form_bytes(unit))
    name = f"{title}（{unit.name}）_反馈.xlsx"
    values = base_values(ctx, unit, name, today)
    problems = [f for f in u.findings if f.severity is not Severity.INFO]
    prefill = Prefill(fields=u.raw, info=u.info, detail=u.detail)
    received = f"（{when_text(u.received)}收到）" if u.received else ""
    if u.status == "pending":
        values["情况标题"] = "数据核实"
        values["情况"] = (
            f"贵单位报送的《{values['表名']}》{received}有数据需要核实，核实前暂未计入汇总，问题如下。"
            f"附件《{name}》是贵单位填报的表格，已标出需要核实的单元格：数据有误的请直接修改；"
            "数据无误的请在表中“情况说明”写明原因。改好后回复本邮件。"
        )
    else:
        values["情况标题"] = "退回修改"
        values["情况"] = (
            f"贵单位报送的《{values['表名']}》{received}审核未通过，问题如下。"
            f"附件《{name}》是贵单位填报的表格，已标出有问题的单元格，请在其中修改后回复本邮件。"
        )
    lines = [f"{k}. {_problem_line(f)}" for k, f in enumerate(problems, start=1)]
    values["问题清单"] = "\n".join(["问题清单：", *lines, *missing_materials])
    return values, Attachment(name, ctx.form_bytes(unit, prefill, problems))


def _problem_line(f: Finding) -> str:
    where = f"（{f.location}）" if f.location else ""
    return f"【{f.severity.zh}】{f.message}{where}"
