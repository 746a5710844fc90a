"""The editable mail templates (邮件模板.txt, 催报模板.txt: first line 主题：…, then the body) and the
placeholder values every message of a campaign shares. The same machinery (`Template.parse` with another
head, `fill`, `note_unknown`) renders the report's template (总结报告模板.txt, report_docx.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path

from ..campaign import MATERIALS, Campaign, MailSettings, Unit
from ..context import Context
from ..files import write_atomic
from ..findings import Code, Finding, Findings, KepuError
from .message import one_line

TEMPLATE_FILES = {"template": "mail_template.txt", "remind_template": "remind_template.txt"}
# templates a campaign folder gets when first needed, not from kepuxl init (kepuxl report-up --mail)
LATER_TEMPLATES = {"report_up_template": "report_up_template.txt"}
# the 总结报告's template (report_docx.py): its name in a campaign folder, and the bundled copy's
REPORT_TEMPLATE, REPORT_BUNDLED = "总结报告模板.txt", "report_template.txt"
REPORT_HEAD = ("标题", "报告标题")  # the report template's first line: 标题：…


# ---------------------------------------------------------------------------------------------------
# templates
# ---------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([^{}\s]{1,40})\}")
MAIL_HEAD = ("主题", "邮件主题")  # a mail template's first line: 主题：…


@dataclass(frozen=True, slots=True)
class Template:
    """An editable mail template: first line `主题：…`, a blank line, then the body."""

    subject: str
    body: str
    source: str  # the file it came from, for messages

    @classmethod
    def load(cls, campaign: Campaign, key: str) -> Template:
        """The campaign folder's copy (the clerk may have edited it), else the bundled one; `key`: a
        MailSettings key, or `report` for the 总结报告's template."""
        name = template_name(campaign.mail, key)
        head = REPORT_HEAD if key == "report" else MAIL_HEAD
        path = campaign.folder / name
        if path.is_file():
            try:
                return cls.parse(path.read_text(encoding="utf-8-sig"), name, head)
            except (OSError, UnicodeDecodeError) as exc:
                raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(path), error=str(exc))) from None
        return cls.parse(bundled_template(key), name, head)

    @classmethod
    def parse(cls, text: str, source: str, head: tuple[str, str] = MAIL_HEAD) -> Template:
        """First line `<head>：…` (主题 for mail, or `subject`), then the body; `head`: (word, what it is)."""
        text = text.replace("\r\n", "\n")
        first, _, rest = text.partition("\n")
        m = re.match(rf"\s*(?:{head[0]}|subject)\s*[:：]\s*(.*)", first, re.I)
        if m is None:
            raise KepuError(
                Finding.make(
                    Code.CAMPAIGN_FILE,
                    path=source,
                    error=f"第一行应为“{head[0]}：……”（{head[1]}），空一行后是正文",
                )
            )
        return cls(m.group(1).strip(), rest.strip("\n") + "\n", source)

    def render(self, values: dict[str, str], findings: Findings) -> tuple[str, str]:
        """(subject, body) with every known {占位符} replaced; unknown ones are kept and reported once."""
        unknown: list[str] = []
        subject = one_line(fill(self.subject, values, unknown))  # one line, no stray spaces
        body = fill(self.body, values, unknown)
        body = re.sub(r"\n{3,}", "\n\n", body)  # an empty {问题清单} leaves no hole
        note_unknown(findings, unknown, self.source, values)
        return subject, body


def fill(text: str, values: dict[str, str], unknown: list[str]) -> str:
    """`text` with every known {占位符} replaced; unknown ones are kept and added to `unknown` once."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) in values:
            return values[m.group(1)]
        if m.group(0) not in unknown:
            unknown.append(m.group(0))
        return m.group(0)

    return _PLACEHOLDER.sub(sub, text)


def note_unknown(
    findings: Findings, unknown: list[str], source: str, names: Iterable[str], code: Code = Code.MAIL_TEMPLATE
) -> None:
    """One finding per unknown placeholder of a template (not again when one says so already); `names`:
    the placeholders the message lists as usable."""
    allowed = "、".join("{" + k + "}" for k in names)
    for token in unknown:
        if not any(f.context.get("placeholder") == token for f in findings):
            findings.add(code, file=source, template=source, placeholder=token, allowed=allowed)


def bundled_template(key: str) -> str:
    """A bundled template's text: a mail template by its MailSettings key, or the report's (`report`)."""
    name = REPORT_BUNDLED if key == "report" else {**TEMPLATE_FILES, **LATER_TEMPLATES}[key]
    return (Path(str(resources.files("kepu_xl.samples"))) / name).read_text(encoding="utf-8")


def template_name(mail: MailSettings, key: str) -> str:
    """The name in a campaign folder of the template `key` (a MailSettings key, or `report`)."""
    return REPORT_TEMPLATE if key == "report" else getattr(mail, key)


def template_files(mail: MailSettings | None = None) -> dict[str, str]:
    """key → the name of every template `kepuxl init` installs (the mail ones and the report's)."""
    mail = mail or MailSettings()
    return {key: template_name(mail, key) for key in (*TEMPLATE_FILES, "report")}


def install_templates(
    folder: Path, mail: MailSettings | None = None, keys: tuple[str, ...] | None = None
) -> list[Path]:
    """Copy the bundled templates (`keys`; by default those init installs) into a campaign folder (never
    over an existing file)."""
    mail, written = mail or MailSettings(), []
    for key in template_files(mail) if keys is None else keys:
        path = Path(folder) / template_name(mail, key)
        if not path.exists():
            written.append(write_atomic(path, bundled_template(key).encode("utf-8")))
    return written


def when_text(moment: datetime, *, year: bool = True) -> str:
    """2023年5月30日17:30 (no time when the deadline is a whole day)."""
    day = f"{moment.year}年" if year else ""
    day += f"{moment.month}月{moment.day}日"
    return day if (moment.hour, moment.minute) == (23, 59) else f"{day}{moment:%H:%M}"


def form_title(ctx: Context) -> str:
    """`2023年科技活动周开展情况统计表`: the form's title with the campaign year in front."""
    title = ctx.spec.title
    return title if re.match(r"\d{4}", title) else f"{ctx.campaign.year}年{title}"


def materials_text(campaign: Campaign, attachment: str) -> str:
    lines = [f"1. 填好的统计表（即附件《{attachment}》，请直接回传此 Excel 文件）"]
    limit = campaign.video_max_seconds
    length = (f"{limit // 60} 分钟" if limit % 60 == 0 else f"{limit} 秒") if limit else ""
    hints = {
        "photos": "（JPG 等图片）",
        "summary": "（Word 或 PDF）",
        "scan": "（PDF 或清晰照片）",
        "videos": f"（MP4 等，每个不超过 {length}）" if limit else "（MP4 等）",
        "media": "（报道截图、PDF 或网址链接，文件名请含“报道”二字）",
    }
    for n, (key, need) in enumerate(campaign.materials, start=2):
        label, measure = MATERIALS[key]
        amount = f"不少于 {need} {measure}" if need > 1 else f"1 {measure}"
        lines.append(f"{n}. {label}{amount}{hints[key]}")
    return "\n".join(lines)


def base_values(ctx: Context, unit: Unit, attachment: str, today: date) -> dict[str, str]:
    camp = ctx.campaign
    return {
        "活动": camp.title,
        "表名": ctx.spec.title,
        "年度": str(camp.year),
        "单位": unit.name,
        "单位联系人": unit.contact,
        "称呼": f"{unit.name} {unit.contact}同志" if unit.contact else unit.name,
        "截止": when_text(camp.deadline, year=False),
        "截止时间": when_text(camp.deadline),
        "附件名": attachment,
        "所需材料": materials_text(camp, attachment),
        "主办单位": camp.organizer,
        "联系人": camp.contact.name,
        "联系电话": camp.contact.phone,
        "联系邮箱": camp.contact.email,
        "发出日期": f"{today.year}年{today.month}月{today.day}日",
    }
