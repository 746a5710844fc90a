"""Campaign config and roster: kepuxl.toml + units.xlsx/.csv → `Campaign` with its `Unit`s.

The campaign folder holds kepuxl.toml, the roster, inbox/, output/ and `.kepuxl/` (the secret
that keys form tokens, the ledger). Problems are collected as findings that name the row or
key; any error stops the load with `KepuError`, since no form can be made from a bad roster.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from .files import os_error_zh, write_atomic
from .findings import Code, Finding, Findings, KepuError

STATE_DIR = ".kepuxl"
ROSTER_COLUMNS = {
    "单位编码": "id",
    "单位名称": "name",
    "单位类别": "category",
    "联系人": "contact",
    "联系电话": "phone",
    "电子邮箱": "email",
}
REQUIRED_COLUMNS = ("单位名称",)
ROSTER_MAX_ROWS = 100_000  # rows of units.xlsx read (a province has thousands of units)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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


MATERIALS = {"photos": ("活动照片", "张"), "summary": ("活动总结", "份"), "scan": ("盖章扫描件", "份")}
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
    # lookups by id and by squashed name: a province roster has thousands of units
    _by_id: dict[str, Unit] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_name: dict[str, Unit] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for u in reversed(self.units):  # the first of equal keys wins, as a linear search would
            self._by_id[u.id] = u
            self._by_name[_squash(u.name)] = u

    @property
    def state_dir(self) -> Path:
        return self.folder / STATE_DIR

    def unit(self, unit_id: str) -> Unit | None:
        return self._by_id.get(unit_id)

    def unit_by_name(self, name: str) -> Unit | None:
        return self._by_name.get(_squash(name))

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
        return bytes.fromhex(path.read_text(encoding="ascii").strip())

    def sheet_password(self, secret: bytes) -> str:
        """The sheet protection password: from the config, else derived from the secret (stable)."""
        return self.password or hashlib.sha256(b"sheet-password" + secret).hexdigest()[:10]


def _squash(text: str) -> str:
    return re.sub(r"[\s\u3000（）()]", "", text or "")


def load(config: Path) -> Campaign:
    """Read kepuxl.toml and its roster; raise `KepuError` listing every problem."""
    config = Path(config)
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(config), error=os_error_zh(exc))) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(config), error=str(exc))) from None
    out = Findings()
    c = raw.get("campaign", {})
    contact = raw.get("contact", {})

    def need(key: str) -> Any:
        if c.get(key) in (None, ""):
            out.add(Code.CAMPAIGN_MISSING, file=config.name, table="campaign", key=key)
        return c.get(key)

    title, form, roster = need("title"), need("form"), need("roster")
    campaign_id = need("id")
    deadline = _deadline(c.get("deadline"), out, config.name)
    year = c.get("year") or (deadline.year if deadline else 0)
    if campaign_id is not None and not UNIT_ID_RE.match(str(campaign_id)):
        out.add(
            Code.CAMPAIGN_BAD_VALUE,
            file=config.name,
            table="campaign",
            key="id",
            value=campaign_id,
            rule="只能用字母、数字、-、_",
        )
    folder = config.resolve().parent
    mail = _mail(raw.get("mail", {}), out, config.name, folder)
    materials = _materials(raw.get("materials", {}), out, config.name)
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
    )


_MAIL_TEXT = ("sender_name", "sender", "smtp_host", "smtp_user", "imap_host", "imap_user", "imap_folder")
_MAIL_TEXT += ("password_env", "template", "remind_template")
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
                bad(key, "应为日期，如 2023-05-15")
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


def _materials(table: Any, out: Findings, file: str) -> tuple[tuple[str, int], ...]:
    """[materials] → ((key, at least), ...) in MATERIALS order; 0 means not required."""
    if not isinstance(table, dict):
        out.add(
            Code.CAMPAIGN_BAD_VALUE,
            file=file,
            table="materials",
            key="materials",
            value=table,
            rule="应为一个表",
        )
        return ()
    found = {}
    for key, value in table.items():
        if key not in MATERIALS:
            rule = "未知材料（可用：" + "、".join(f"{k}（{v[0]}）" for k, v in MATERIALS.items()) + "）"
            out.add(Code.CAMPAIGN_BAD_VALUE, file=file, table="materials", key=key, value=value, rule=rule)
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
            found[key] = value
        else:
            out.add(
                Code.CAMPAIGN_BAD_VALUE,
                file=file,
                table="materials",
                key=key,
                value=value,
                rule="应为 0～100 的整数",
            )
    return tuple((k, found[k]) for k in MATERIALS if found.get(k))


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
        rule="应为日期时间，如 2023-05-30T17:30:00",
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
    if not rows:
        raise KepuError(Finding.make(Code.ROSTER_FILE, path=str(path), error="名单为空"))
    header = [str(h or "").strip() for h in rows[0]]
    expected = "、".join(ROSTER_COLUMNS)
    for name in header:
        if name and name not in ROSTER_COLUMNS:
            out.add(
                Code.ROSTER_UNKNOWN_COLUMN,
                file=path.name,
                cell=_a1(1, header.index(name)),
                column=name,
                expected=expected,
            )
    for name in REQUIRED_COLUMNS:
        if name not in header:
            out.add(Code.ROSTER_MISSING_COLUMN, file=path.name, column=name, expected=expected)
    if not out.ok:
        raise KepuError(out.items)
    index = {ROSTER_COLUMNS[h]: i for i, h in enumerate(header) if h in ROSTER_COLUMNS}
    units: list[Unit] = []
    seen_name: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    for rowno, row in enumerate(rows[1:], start=2):
        cells = {k: _text(row[i]) if i < len(row) else "" for k, i in index.items()}
        if not any(cells.values()):
            continue  # blank rows are common at the end of an Excel roster
        name = cells.get("name", "")
        if not name:
            out.add(Code.ROSTER_EMPTY_NAME, file=path.name, cell=_a1(rowno, index["name"]), row=rowno)
            continue
        unit_id = cells.get("id") or "U" + hashlib.sha256(name.encode()).hexdigest()[:6]
        if not UNIT_ID_RE.match(unit_id):
            out.add(
                Code.ROSTER_BAD_ID, file=path.name, cell=_a1(rowno, index["id"]), row=rowno, value=unit_id
            )
            continue
        for what, key, seen in (("单位名称", name, seen_name), ("单位编码", unit_id, seen_id)):
            if key in seen:
                out.add(
                    Code.ROSTER_DUPLICATE,
                    file=path.name,
                    row=rowno,
                    what=what,
                    value=key,
                    first_row=seen[key],
                )
            seen.setdefault(key, rowno)
        email = cells.get("email", "")
        if email and not EMAIL_RE.match(email):
            out.add(
                Code.ROSTER_BAD_EMAIL, file=path.name, cell=_a1(rowno, index["email"]), row=rowno, value=email
            )
        units.append(
            Unit(
                id=unit_id,
                name=name,
                category=cells.get("category") or "其他",
                contact=cells.get("contact", ""),
                phone=cells.get("phone", ""),
                email=email,
                seq=len(units) + 1,
            )
        )
    if not out.ok:
        raise KepuError(out.items)
    return tuple(units), tuple(out.items)


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
        text = json.dumps({"sha256": key, "rows": rows}, ensure_ascii=False, default=_json_cell)
        with contextlib.suppress(OSError):  # a read-only folder: no cache, nothing else changes
            write_atomic(cache_dir / ROSTER_CACHE, text.encode("utf-8"))
    return rows


def _cached_rows(cache_dir: Path, key: str) -> list[list[Any]] | None:
    try:
        cached = json.loads((cache_dir / ROSTER_CACHE).read_bytes())
        return (
            cached["rows"] if cached.get("sha256") == key and isinstance(cached.get("rows"), list) else None
        )
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
            rows[r][c] = value.value
        return rows
    except Exception as exc:  # any broken workbook: report it, the user fixes the roster
        raise KepuError(
            Finding.make(Code.ROSTER_FILE, path=str(path), error=f"{type(exc).__name__}: {exc}")
        ) from None


def new_secret(path: Path) -> None:
    """A fresh random campaign key at `path` (each campaign its own: tokens and passwords derive from it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
