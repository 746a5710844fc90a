"""Campaign config and roster: kepuxl.toml + units.xlsx/.csv → `Campaign` with its `Unit`s.

The campaign folder holds kepuxl.toml, the roster, inbox/, output/ and `.kepuxl/` (the secret
that keys form tokens, the ledger). Problems are collected as findings that name the row or
key; any error stops the load with `KepuError`, since no form can be made from a bad roster.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from . import textnorm, toml_zh
from .files import os_error_zh, write_atomic
from .findings import Code, Finding, Findings, KepuError
from .identity import TITLE_LIMIT

CONFIG_NAME = "kepuxl.toml"  # the campaign config, at the top of the campaign folder
STATE_DIR = ".kepuxl"
ROSTER_COLUMNS = {
    "单位编码": "id",
    "单位名称": "name",
    "单位类别": "category",
    "联系人": "contact",
    "联系电话": "phone",
    "电子邮箱": "email",
}
_HEADINGS = {key: heading for heading, key in ROSTER_COLUMNS.items()}
REQUIRED_COLUMNS = ("单位名称",)
ROSTER_MAX_ROWS = 100_000  # rows of units.xlsx read (a province has thousands of units)
# an address kepuxl can send to: plain ASCII, no display name, list, comment or route (mail.py sends only
# to these, so the roster check and the sender agree on what is usable)
EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
UNIT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    name: str
    category: str = "其他"
    contact: str = ""
    phone: str = ""
    email: str = ""
    seq: int = 0  # position in the roster, 1-based; used in file names

    def __reduce__(self) -> tuple[type[Unit], tuple[str, str, str, str, str, str, int]]:
        # every result a worker sends back carries its unit: a plain tuple pickles several times faster
        # than a slots dataclass's default state (which walks dataclasses.fields() on both sides)
        return (Unit, (self.id, self.name, self.category, self.contact, self.phone, self.email, self.seq))


@dataclass(frozen=True, slots=True)
class Contact:
    name: str = ""
    phone: str = ""
    email: str = ""


MATERIALS = {
    "photos": ("活动照片", "张"),
    "summary": ("活动总结", "份"),
    "scan": ("盖章扫描件", "份"),
    "videos": ("活动视频", "个"),
    "media": ("媒体报道", "篇"),
}
VIDEO_MAX_SECONDS = 180  # the notices: 视频不超过 3 分钟
MAP_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")  # a field id (spec.ID_RE)


@dataclass(frozen=True, slots=True)
class ReportUp:
    """The [report_up] table: where this campaign's result goes up (kepuxl report-up)."""

    email: str = ""  # the level above's address for the draft (--mail)
    name: str = ""  # how the draft greets it: 市科学技术局
    # upper field id → an expression over this campaign's field ids (the rule language), in file order
    map: tuple[tuple[str, str], ...] = ()
    materials: tuple[str, ...] = ("summary", "photos")  # what the draft attaches, within the size limit


MAIL_SECURITY = ("ssl", "starttls")


@dataclass(frozen=True, slots=True)
class MailSettings:
    """The [mail] table: SMTP/IMAP servers and accounts (never the password), pacing, templates."""

    sender_name: str = ""
    sender: str = ""  # the From address; defaults to smtp_user
    smtp_host: str = ""
    smtp_port: int = 465
    smtp_security: str = "ssl"  # ssl (implicit TLS, 465) | starttls (587)
    smtp_user: str = ""
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "ssl"
    imap_user: str = ""  # defaults to smtp_user
    imap_folder: str = "INBOX"
    since: date | None = None  # fetch only mail from this day on
    subject: tuple[str, ...] = ()  # fetch only mail whose subject contains one of these
    password_env: str = "KEPUXL_MAIL_PASSWORD"
    pause: float = 3.0  # seconds between two sent messages (QQ/163 throttle fast senders)
    timeout: float = 30.0
    ca_file: Path | None = None  # extra CA to trust (a self-signed server); None = system CAs
    template: str = "邮件模板.txt"
    remind_template: str = "催报模板.txt"
    report_up_template: str = "上报模板.txt"  # written into the campaign folder by the first report-up --mail

    @property
    def from_address(self) -> str:
        return self.sender or self.smtp_user

    @property
    def login_imap(self) -> str:
        return self.imap_user or self.smtp_user or self.sender


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    title: str
    form: str
    year: int
    start: date | None
    end: date | None
    deadline: datetime
    organizer: str
    contact: Contact
    roster: Path
    folder: Path
    password: str = ""
    units: tuple[Unit, ...] = ()
    warnings: tuple[Finding, ...] = ()  # roster problems that do not stop the job (a bad e-mail)
    mail: MailSettings = MailSettings()
    materials: tuple[tuple[str, int], ...] = ()  # required materials per unit: (key of MATERIALS, at least)
    video_max_seconds: int = VIDEO_MAX_SECONDS  # [materials] video_max_seconds; 0: lengths not checked
    previous: str = ""  # [compare] previous: last year's campaign folder or summary workbook, as written
    report_up: ReportUp = ReportUp()
    # lookups by id and by name key (textnorm.name_key): a province roster has thousands of units
    _by_id: dict[str, Unit] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_name: dict[str, Unit] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for u in reversed(self.units):  # the first of equal keys wins, as a linear search would
            self._by_id[u.id] = u
            self._by_name[textnorm.name_key(u.name)] = u

    @property
    def state_dir(self) -> Path:
        return self.folder / STATE_DIR

    @property
    def days_year(self) -> int | None:
        """The year a date written without one ("5月21日") belongs to: the campaign's, unless its days
        (start to end) reach into another year, when such a date is not read."""
        days = [d for d in (self.start, self.end) if d is not None]
        return self.year if all(d.year == self.year for d in days) else None

    @property
    def date_example(self) -> str:
        """The date the forms' prompts and collect's messages show as the way to write one: the campaign's
        own (its end, else the deadline's day)."""
        return f"{self.end or self.deadline.date():%Y-%m-%d}"

    def unit(self, unit_id: str) -> Unit | None:
        return self._by_id.get(unit_id)

    def unit_by_name(self, name: str) -> Unit | None:
        return self._by_name.get(textnorm.name_key(name))

    def secret(self, create: bool = False) -> bytes:
        """The per-campaign key of form tokens, kept in .kepuxl/secret (made on first use)."""
        path = self.state_dir / "secret"
        if not path.exists():
            if not create:
                raise KepuError(
                    Finding.make(
                        Code.CAMPAIGN_FILE, path=str(path), error="缺少活动密钥，请先运行 kepuxl make-forms"
                    )
                )
            new_secret(path)
        protect_secret(path)  # a key made by an older kepuxl was readable by every local user
        try:
            return bytes.fromhex(path.read_text(encoding="ascii").strip())
        except (OSError, ValueError) as exc:
            error = os_error_zh(exc) if isinstance(exc, OSError) else "活动密钥已损坏（应为 64 位十六进制数）"
            raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(path), error=error)) from None

    def header_value(self, kind: str, field_id: str, label: str, today: date) -> Any:
        """What this level's bureau writes in a header field of a form it fills (its summary, the form
        from above): today's date, its contact's phone and name; None for any other field."""
        if kind == "date":
            return today
        if kind == "phone":
            return self.contact.phone
        if field_id == "preparer" or "填表人" in label:
            return self.contact.name
        return None

    def sheet_password(self, secret: bytes, unit_id: str) -> str:
        """A unit's sheet protection password: from the config (every unit the same), else derived
        from the key and the unit, so that one unit's password opens no other unit's form."""
        if self.password:
            return self.password
        return hmac.new(secret, f"sheet-password|{unit_id}".encode(), hashlib.sha256).hexdigest()[:10]


def load(config: Path) -> Campaign:
    """Read kepuxl.toml and its roster; raise `KepuError` listing every problem."""
    config = Path(config)
    raw = _read_toml(config)
    out = Findings()
    _no_controls(raw, out, config.name)
    c = raw.get("campaign", {})
    contact = raw.get("contact", {})
    title, form, roster, campaign_id, deadline = _campaign_table(c, out, config.name)
    year = c.get("year") or (deadline.year if deadline else 0)
    folder = config.resolve().parent
    mail = _mail(raw.get("mail", {}), out, config.name, folder)
    materials, video_max = _materials(raw.get("materials", {}), out, config.name)
    previous = _compare(raw.get("compare", {}), out, config.name)
    report_up = _report_up(raw.get("report_up", {}), out, config.name)
    if not out.ok:
        raise KepuError(out.items)
    units, warnings = read_roster(folder / roster, cache_dir=folder / STATE_DIR)
    return Campaign(
        id=str(campaign_id),
        title=title,
        form=form,
        year=int(year),
        start=_as_date(c.get("start")),
        end=_as_date(c.get("end")),
        deadline=deadline,
        organizer=c.get("organizer", ""),
        contact=Contact(contact.get("name", ""), contact.get("phone", ""), contact.get("email", "")),
        roster=folder / roster,
        folder=folder,
        password=c.get("password", "") or "",
        units=units,
        warnings=warnings,
        mail=mail,
        materials=materials,
        video_max_seconds=video_max,
        previous=previous,
        report_up=report_up,
    )


def _campaign_table(
    c: dict[str, Any], out: Findings, file: str
) -> tuple[Any, Any, Any, Any, datetime | None]:
    """[campaign]'s title, form, roster, id and deadline: each present, the title short enough for a form's
    identity, the id a plain code, the deadline a time (what is missing or wrong goes to `out`)."""

    def need(key: str) -> Any:
        if c.get(key) in (None, ""):
            out.add(Code.CAMPAIGN_MISSING, file=file, table="campaign", key=key)
        return c.get(key)

    title, form, roster = need("title"), need("form"), need("roster")
    if isinstance(title, str) and len(title) > TITLE_LIMIT:
        out.add(
            Code.CAMPAIGN_BAD_VALUE,
            file=file,
            table="campaign",
            key="title",
            value=title[:20] + "…",
            rule=f"不能超过 {TITLE_LIMIT} 字（现为 {len(title)} 字），它写在每份表格的身份信息里",
        )
    campaign_id = need("id")
    deadline = _deadline(c.get("deadline"), out, file)
    if campaign_id is not None and not UNIT_ID_RE.match(str(campaign_id)):
        out.add(
            Code.CAMPAIGN_BAD_VALUE,
            file=file,
            table="campaign",
            key="id",
            value=campaign_id,
            rule="只能用字母、数字、-、_",
        )
    return title, form, roster, campaign_id, deadline


def _read_toml(config: Path) -> dict[str, Any]:
    """kepuxl.toml as a dict; a missing file, a wrong encoding or a typo is a Chinese finding."""
    try:
        text = config.read_text(encoding="utf-8-sig")  # Notepad may save UTF-8 with a BOM
    except FileNotFoundError:
        raise KepuError(Finding.make(Code.CAMPAIGN_NOT_FOUND, path=str(config))) from None
    except OSError as exc:
        raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(config), error=os_error_zh(exc))) from None
    except UnicodeDecodeError:
        error = "文件不是 UTF-8 编码（可能被另存为 ANSI/GBK）。请用记事本打开，“另存为”时编码选 UTF-8"
        raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(config), error=error)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        why = toml_zh.explain(text, exc)
        raise KepuError(
            Finding.make(
                Code.CAMPAIGN_SYNTAX,
                file=config.name,
                path=str(config),
                line=why.line,
                text=why.text,
                cause=why.cause,
                fix=why.fix,
                detail=why.detail,
            )
        ) from None


def _no_controls(raw: dict[str, Any], out: Findings, file: str) -> None:
    """Text in [campaign], [contact] and [mail] goes into workbooks and mail headers: one line, no
    control characters (a newline in sender_name would start a new header)."""
    for table in ("campaign", "contact", "mail", "report_up"):
        values = raw.get(table)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            texts = value if isinstance(value, list) else [value]
            found = [ch for t in texts if isinstance(t, str) for ch in textnorm.controls(t)]
            if found:
                shown = "、".join(textnorm.escaped(t) for t in texts if isinstance(t, str))
                rule = f"含控制字符（{textnorm.shown(found)}）。请写在一行内，删去换行、制表等字符"
                out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table=table, key=key, value=shown, rule=rule)


_MAIL_TEXT = ("sender_name", "sender", "smtp_host", "smtp_user", "imap_host", "imap_user", "imap_folder")
_MAIL_TEXT += ("password_env", "template", "remind_template", "report_up_template")
_MAIL_KEYS = (*_MAIL_TEXT, "smtp_port", "smtp_security", "imap_port", "imap_security", "since", "subject")
_MAIL_KEYS += ("pause", "timeout", "ca_file")


def _mail(table: Any, out: Findings, file: str, folder: Path) -> MailSettings:
    """[mail] → `MailSettings`; every bad key or value is a finding naming it (a typo must not pass)."""
    if not isinstance(table, dict):
        out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table="mail", key="mail", value=table, rule="应为一个表")
        return MailSettings()
    kw: dict[str, Any] = {}

    def bad(key: str, rule: str) -> None:
        out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table="mail", key=key, value=table[key], rule=rule)

    for key, value in table.items():
        if key not in _MAIL_KEYS:
            bad(key, "未知配置项（可用：" + "、".join(_MAIL_KEYS) + "）")
        elif key in _MAIL_TEXT:
            if isinstance(value, str):
                kw[key] = value.strip()
            else:
                bad(key, "应为文字")
        elif key in ("smtp_port", "imap_port"):
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
                kw[key] = value
            else:
                bad(key, "应为 1～65535 的端口号")
        elif key in ("smtp_security", "imap_security"):
            if value in MAIL_SECURITY:
                kw[key] = value
            else:
                bad(key, "应为 ssl 或 starttls")
        elif key in ("pause", "timeout"):
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 600:
                kw[key] = float(value)
            else:
                bad(key, "应为 0～600 的秒数")
        elif key == "since":
            if isinstance(value, date):
                kw[key] = _as_date(value)
            else:
                bad(key, "应为日期，如 2023-05-15（不加引号）")
        elif key == "subject":
            words = [value] if isinstance(value, str) else value
            if isinstance(words, list) and all(isinstance(w, str) for w in words):
                kw[key] = tuple(w.strip() for w in words if w.strip())
            else:
                bad(key, '应为文字或文字列表，如 ["科技活动周", "统计表"]')
        elif key == "ca_file":
            if isinstance(value, str):
                kw[key] = (folder / value) if value.strip() else None
            else:
                bad(key, "应为文件路径")
    return MailSettings(**kw)


def _materials(table: Any, out: Findings, file: str) -> tuple[tuple[tuple[str, int], ...], int]:
    """[materials] → (((key, at least), ...) in MATERIALS order, video_max_seconds); 0 means not required."""
    if not isinstance(table, dict):
        rule = "应为一个表"
        out.add(
            Code.CAMPAIGN_BAD_VALUE, file=file, table="materials", key="materials", value=table, rule=rule
        )
        return (), VIDEO_MAX_SECONDS
    found, video_max = {}, VIDEO_MAX_SECONDS
    for key, value in table.items():
        if key == "video_max_seconds":
            if _whole(value, 0, 86400):
                video_max = value
            else:
                rule = "应为 0～86400 的整数（秒；0 表示不检查时长）"
                out.add(
                    Code.CAMPAIGN_BAD_VALUE, file=file, table="materials", key=key, value=value, rule=rule
                )
        elif key not in MATERIALS:
            known = "、".join(f"{k}（{v[0]}）" for k, v in MATERIALS.items())
            rule = f"未知材料（可用：{known}，以及 video_max_seconds（视频时长上限，秒））"
            out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table="materials", key=key, value=value, rule=rule)
        elif _whole(value, 0, 100):
            found[key] = value
        else:
            rule = "应为 0～100 的整数"
            out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table="materials", key=key, value=value, rule=rule)
    return tuple((k, found[k]) for k in MATERIALS if found.get(k)), video_max


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _compare(table: Any, out: Findings, file: str) -> str:
    """[compare] → `previous`, the path of last year's campaign folder or summary ("" when not set)."""

    def bad(key: str, value: Any, rule: str) -> None:
        out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table="compare", key=key, value=value, rule=rule)

    if not isinstance(table, dict):
        bad("compare", table, "应为一个表")
        return ""
    for key, value in table.items():
        if key != "previous":
            bad(key, value, "未知配置项（可用：previous，上年的活动文件夹或汇总表）")
    previous = table.get("previous", "")
    if not isinstance(previous, str) or (previous and not previous.strip()):
        bad("previous", previous, '应为文字：上年活动文件夹或汇总表的路径，如 "../2022年科技活动周"')
        return ""
    return previous.strip()


def _report_up(table: Any, out: Findings, file: str) -> ReportUp:
    """[report_up] → `ReportUp`: the upper level's address and name, and [report_up.map]; the map's
    expressions are checked against the definitions by report-up, which has both."""

    def bad(key: str, value: Any, rule: str, where: str = "report_up") -> None:
        out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table=where, key=key, value=value, rule=rule)

    if not isinstance(table, dict):
        bad("report_up", table, "应为一个表")
        return ReportUp()
    kw: dict[str, Any] = {}

    for key, value in table.items():
        if key == "email":
            if isinstance(value, str) and (not value.strip() or EMAIL_RE.match(value.strip())):
                kw[key] = value.strip()
            else:
                bad(key, value, '应为一个邮箱地址，如 "kjj@city.example.org"')
        elif key == "name":
            if isinstance(value, str):
                kw[key] = value.strip()
            else:
                bad(key, value, "应为文字，如“市科学技术局”")
        elif key == "materials":
            if isinstance(value, list) and all(v in MATERIALS for v in value):
                kw[key] = tuple(dict.fromkeys(value))
            else:
                bad(
                    key,
                    value,
                    "应为材料列表，可用：" + "、".join(f'"{k}"（{v[0]}）' for k, v in MATERIALS.items()),
                )
        elif key == "map" and isinstance(value, dict):
            pairs = []
            for upper, expr in value.items():
                if not MAP_KEY_RE.match(upper):
                    bad(
                        upper,
                        expr,
                        "等号左边应为上级表格的指标编号（小写字母、数字、下划线）",
                        "report_up.map",
                    )
                elif not isinstance(expr, str) or not expr.strip():
                    bad(upper, expr, '应为带引号的表达式，如 "fund_a + fund_b"', "report_up.map")
                else:
                    pairs.append((upper, expr.strip()))
            kw[key] = tuple(pairs)
        else:
            bad(key, value, "未知配置项（可用：email、name、materials、[report_up.map]）")
    return ReportUp(**kw)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _deadline(value: Any, out: Findings, file: str) -> datetime | None:
    if value is None or value == "":
        out.add(Code.CAMPAIGN_MISSING, file=file, table="campaign", key="deadline")
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59))  # a date alone means the end of that day
    out.add(
        Code.CAMPAIGN_BAD_VALUE,
        file=file,
        table="campaign",
        key="deadline",
        value=value,
        rule="应为日期时间，如 2023-05-30T17:30:00（不加引号）",
    )
    return None


# -- roster ------------------------------------------------------------------------------------


def load_roster(path: Path) -> tuple[Unit, ...]:
    """units.xlsx / .csv → units; duplicate or empty names and unknown columns are errors."""
    return read_roster(path)[0]


def read_roster(path: Path, cache_dir: Path | None = None) -> tuple[tuple[Unit, ...], tuple[Finding, ...]]:
    """Like `load_roster`, plus the warnings that do not stop the job (a bad e-mail).

    `cache_dir`: where the cells of an .xlsx roster are kept as JSON, keyed by the file's SHA-256, so
    that the next run does not parse the workbook again (a province's roster: 0.5 s; the cache: 20 ms).
    """
    rows = _read_rows(path, cache_dir)
    out = Findings()
    index = _header(rows, path, out)
    entries = [
        e for rowno, row in enumerate(rows[1:], start=2) if (e := _entry(rowno, row, index, path.name, out))
    ]
    _check_unique(entries, path.name, out)
    ids = _unit_ids(entries)
    units = []
    for entry, unit_id in zip(entries, ids, strict=True):
        cells = entry.cells
        email = cells.get("email", "")
        if email and not EMAIL_RE.match(email) and not textnorm.controls(email):  # that one is reported
            out.add(
                Code.ROSTER_BAD_EMAIL,
                file=path.name,
                cell=_a1(entry.row, index["email"]),
                row=entry.row,
                value=email,
            )
        category, contact, phone = (
            cells.get("category") or "其他",
            cells.get("contact", ""),
            cells.get("phone", ""),
        )
        units.append(Unit(unit_id, cells["name"], category, contact, phone, email, seq=len(units) + 1))
    if not out.ok:
        raise KepuError(out.items)
    return tuple(units), tuple(out.items)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One roster row with a name: its cells as text (id "" when the row has none)."""

    row: int
    cells: dict[str, str]


def _header(rows: list[list[Any]], path: Path, out: Findings) -> dict[str, int]:
    """Column key → index; unknown or missing columns stop the load (nothing else can be read)."""
    if not rows:
        raise KepuError(Finding.make(Code.ROSTER_FILE, path=str(path), error="名单为空"))
    header = [str(h or "").strip() if not isinstance(h, dict) else "" for h in rows[0]]
    expected = "、".join(ROSTER_COLUMNS)
    for col, name in enumerate(header):
        if name and name not in ROSTER_COLUMNS:
            out.add(
                Code.ROSTER_UNKNOWN_COLUMN, file=path.name, cell=_a1(1, col), column=name, expected=expected
            )
    for name in REQUIRED_COLUMNS:
        if name not in header:
            out.add(Code.ROSTER_MISSING_COLUMN, file=path.name, column=name, expected=expected)
    if not out.ok:
        raise KepuError(out.items)
    return {ROSTER_COLUMNS[h]: i for i, h in enumerate(header) if h in ROSTER_COLUMNS}


def _entry(rowno: int, row: list[Any], index: dict[str, int], file: str, out: Findings) -> _Entry | None:
    """A row's cells checked one by one; None for a blank row or one whose name or id is unusable."""
    cells: dict[str, str] = {}
    usable = True
    for key, col in index.items():
        raw = row[col] if col < len(row) else None
        text = "" if isinstance(raw, dict) else _text(raw)
        # the common case costs one check: printable text has no control and no format character
        if isinstance(raw, dict) or not text.isprintable():
            text, ok = _odd_cell(raw, (file, rowno, col, key), out)
            usable = usable and (ok or key not in ("name", "id"))
        cells[key] = text
    if not any(cells.values()) and usable:
        return None  # blank rows are common at the end of an Excel roster
    if usable and not cells.get("name"):
        out.add(Code.ROSTER_EMPTY_NAME, file=file, cell=_a1(rowno, index["name"]), row=rowno)
        return None
    if usable and cells.get("id") and not UNIT_ID_RE.match(cells["id"]):
        out.add(Code.ROSTER_BAD_ID, file=file, cell=_a1(rowno, index["id"]), row=rowno, value=cells["id"])
        return None
    return _Entry(rowno, cells) if usable else None


def _odd_cell(raw: Any, at: tuple[str, int, int, str], out: Findings) -> tuple[str, bool]:
    """A cell that is a formula without a value, or holds control or format characters: (its text,
    whether it can be used)."""
    file, row, col, key = at
    where = {"file": file, "cell": _a1(row, col), "row": row, "column": _HEADINGS[key]}
    if isinstance(raw, dict):  # a formula saved without its value (see _xlsx_rows)
        out.add(Code.ROSTER_FORMULA, **where, formula=raw.get("formula", ""))
        return "", False
    text, ok = _text(raw), True
    if found := textnorm.controls(text):
        out.add(Code.ROSTER_CONTROL_CHAR, **where, chars=textnorm.shown(found))
        ok = False
    if hidden := textnorm.invisible(text):
        text = textnorm.without_invisible(text).strip()
        out.add(Code.ROSTER_INVISIBLE, **where, chars=textnorm.shown(hidden), value=text)
    return text, ok


def _check_unique(entries: list[_Entry], file: str, out: Findings) -> None:
    """Names (also as identification compares them: `textnorm.name_key`) and codes appear once."""
    names: dict[str, _Entry] = {}
    ids: dict[str, int] = {}
    for e in entries:
        name, unit_id = e.cells["name"], e.cells.get("id", "")
        first = names.setdefault(textnorm.name_key(name), e)
        if first is not e and first.cells["name"] == name:
            out.add(
                Code.ROSTER_DUPLICATE, file=file, row=e.row, what="单位名称", value=name, first_row=first.row
            )
        elif first is not e:
            out.add(
                Code.ROSTER_SIMILAR_NAME,
                file=file,
                row=e.row,
                value=name,
                first_row=first.row,
                first=first.cells["name"],
            )
        if unit_id and ids.setdefault(unit_id, e.row) != e.row:
            out.add(
                Code.ROSTER_DUPLICATE,
                file=file,
                row=e.row,
                what="单位编码",
                value=unit_id,
                first_row=ids[unit_id],
            )


def _unit_ids(entries: list[_Entry]) -> list[str]:
    """The roster's codes, and for a row without one `U` + the first 6 hex digits of its name's SHA-256.

    Collision-free by construction: a code already taken (by a typed code, or by an earlier row)
    makes the row take 8, 10, … digits instead. A row's code depends only on the typed codes and
    the rows above it: the same roster gives the same codes, a unit added at the end changes no
    other unit's code, and most codes are the 6-digit ones kepuxl 0.1 gave.
    """
    taken = {e.cells["id"] for e in entries if e.cells.get("id")}
    ids = []
    for e in entries:
        unit_id = e.cells.get("id", "")
        if not unit_id:
            digest = hashlib.sha256(e.cells["name"].encode()).hexdigest()
            unit_id = next(
                (c for n in range(6, 31, 2) if (c := "U" + digest[:n]) not in taken),
                f"U{digest[:24]}-{e.row}",  # unreachable: names are unique, so are their digests
            )
            taken.add(unit_id)
        ids.append(unit_id)
    return ids


def _a1(row: int, col: int) -> str:
    from xlsxwriter.utility import xl_rowcol_to_cell

    return xl_rowcol_to_cell(row - 1, col)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone or code typed as a number
    return str(value).strip()


ROSTER_CACHE = "roster-cache.json"
CACHE_VERSION = 2  # 2: a formula cell without a value is {"formula": ...}, no longer None


def _read_rows(path: Path, cache_dir: Path | None = None) -> list[list[Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KepuError(Finding.make(Code.ROSTER_FILE, path=str(path), error=os_error_zh(exc))) from None
    if path.suffix.lower() == ".csv":
        for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV as GBK
            try:
                return [row for row in csv.reader(io.StringIO(data.decode(encoding)))]
            except UnicodeDecodeError:
                continue
        raise KepuError(Finding.make(Code.ROSTER_FILE, path=str(path), error="无法识别文字编码"))
    key = hashlib.sha256(data).hexdigest()
    cached = _cached_rows(cache_dir, key) if cache_dir else None
    if cached is not None:
        return cached
    rows = _xlsx_rows(path, data)
    if cache_dir and cache_dir.is_dir():
        cache = {"sha256": key, "version": CACHE_VERSION, "rows": rows}
        text = json.dumps(cache, ensure_ascii=False, default=_json_cell)
        with contextlib.suppress(OSError):  # a read-only folder: no cache, nothing else changes
            write_atomic(cache_dir / ROSTER_CACHE, text.encode("utf-8"))
    return rows


def _cached_rows(cache_dir: Path, key: str) -> list[list[Any]] | None:
    try:
        cached = json.loads((cache_dir / ROSTER_CACHE).read_bytes())
        fresh = cached.get("sha256") == key and cached.get("version") == CACHE_VERSION
        return cached["rows"] if fresh and isinstance(cached.get("rows"), list) else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _json_cell(value: Any) -> str:
    """A roster cell JSON cannot hold (a date typed in a column): its text, as `_text` shows it."""
    return _text(value)


def _xlsx_rows(path: Path, data: bytes) -> list[list[Any]]:
    try:
        from .book import load_xlsx

        # the first sheet's first 12 columns (a province roster has 10,000 rows: lxml, not openpyxl)
        first = next(iter(load_xlsx(data, {}, default=None).sheets), None)
        if first is None:
            return []
        cells = load_xlsx(data, {first: (ROSTER_MAX_ROWS - 1, 11)}, default=None).sheets[first].cells
        rows: list[list[Any]] = [[None] * 12 for _ in range(max((r for r, _ in cells), default=-1) + 1)]
        for (r, c), value in cells.items():
            # a formula openpyxl or a script saved has no value: say so, rather than show an empty cell
            if value.kind == "f" and value.value is None:
                rows[r][c] = {"formula": "=" + value.formula.lstrip("=")}
            else:  # Excel's _x000D_ for a CR is decoded by the reader: the check for controls sees it
                rows[r][c] = value.value
        return rows
    except Exception as exc:  # any broken workbook: report it, the user fixes the roster
        raise KepuError(
            Finding.make(Code.ROSTER_FILE, path=str(path), error=f"{type(exc).__name__}: {exc}")
        ) from None


def new_secret(path: Path) -> None:
    """A fresh random campaign key at `path` (each campaign its own: tokens and passwords derive from it).

    Created exclusively (an existing key is never replaced: every form sent depends on it) and
    readable by its owner only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    protect_secret(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write((secrets.token_hex(32) + "\n").encode("ascii"))
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    protect_secret(path)


def protect_secret(path: Path) -> None:
    """POSIX: the state folder 0700 and the key 0600, whatever the umask made them.

    On Windows chmod only sets the read-only flag; there the key is protected by the ACLs of the
    folder it lives in (the user's profile: Documents, Desktop), which only that user can read.
    """
    if os.name != "posix":
        return
    for target, mode in ((path.parent, 0o700), (path, 0o600)):
        with contextlib.suppress(OSError):  # missing yet, another owner's, a read-only disk: leave it
            if target.stat().st_mode & 0o777 != mode:
                target.chmod(mode)
