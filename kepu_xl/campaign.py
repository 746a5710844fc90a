"""Campaign config and roster: kepuxl.toml + units.xlsx/.csv → `Campaign` with its `Unit`s.

The campaign folder holds kepuxl.toml, the roster, inbox/, output/ and `.kepuxl/` (the secret
that keys form tokens, the ledger). Problems are collected as findings that name the row or
key; any error stops the load with `KepuError`, since no form can be made from a bad roster.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Contact:
    name: str = ""
    phone: str = ""
    email: str = ""


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

    @property
    def state_dir(self) -> Path:
        return self.folder / STATE_DIR

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)

    def unit_by_name(self, name: str) -> Unit | None:
        wanted = _squash(name)
        return next((u for u in self.units if _squash(u.name) == wanted), None)

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
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
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
    except FileNotFoundError:
        raise KepuError(Finding.make(Code.CAMPAIGN_FILE, path=str(config), error="文件不存在")) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
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
    if not out.ok:
        raise KepuError(out.items)
    folder = config.resolve().parent
    units, warnings = read_roster(folder / roster)
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
    )


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


def read_roster(path: Path) -> tuple[tuple[Unit, ...], tuple[Finding, ...]]:
    """Like `load_roster`, plus the warnings that do not stop the job (a bad e-mail)."""
    rows = _read_rows(path)
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


def _read_rows(path: Path) -> list[list[Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KepuError(
            Finding.make(Code.ROSTER_FILE, path=str(path), error=exc.strerror or str(exc))
        ) from None
    if path.suffix.lower() == ".csv":
        for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV as GBK
            try:
                return [row for row in csv.reader(io.StringIO(data.decode(encoding)))]
            except UnicodeDecodeError:
                continue
        raise KepuError(Finding.make(Code.ROSTER_FILE, path=str(path), error="无法识别文字编码"))
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            ws.reset_dimensions()  # a wrong <dimension> would silently drop rows
            return [list(r) for r in ws.iter_rows(max_row=100_000, max_col=12, values_only=True)]
        finally:
            wb.close()
    except Exception as exc:  # any broken workbook: report it, the user fixes the roster
        raise KepuError(
            Finding.make(Code.ROSTER_FILE, path=str(path), error=f"{type(exc).__name__}: {exc}")
        ) from None
