"""A small county over two years, for the tests of last year beside this year ([compare]) and the report.

`county(folder, year, roster)` is the sample campaign made a given year's, with a small roster; `send`
puts a unit's return (its real generated form, filled with openpyxl) in the inbox. LAST and THIS are the
figures the tests state their expectations from (worked out by hand in the tests' comments, never by the
code under test).

Last year (2022): T01 城关街道, T02 东湖街道, D01 县教育局, D02 县科协, D05 县文化旅游体育局 reported.
This year (2023): T02 has a new code (TT2, matched by name), D02 was renamed 县科学技术协会 (matched by
code), D05 is gone (its figures count in last year's totals only), D03 县气象局 is new and sends nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from conftest import init_sample
from helpers import ROSTER_HEADER, use_roster

from kepu_xl.context import Context
from kepu_xl.sample_returns import fill

ZERO = {
    "activities": 0,
    "fund_government": 0,
    "fund_enterprise": 0,
    "fund_in_kind": 0,
    "fund_other": 0,
    "staff_fulltime": 0,
    "staff_scientists": 0,
    "staff_volunteers": 0,
    "staff_other": 0,
    "public_offline": 0,
    "public_online": 0,
    "media_outlets": 0,
    "media_reports": 0,
    "venues_open": 0,
    "institutes_open": 0,
    "universities_open": 0,
}

ROSTER_2022 = [
    ("T01", "城关街道", "镇（街道）"),
    ("T02", "东湖街道", "镇（街道）"),
    ("D01", "县教育局", "县级部门"),
    ("D02", "县科协", "县级部门"),
    ("D05", "县文化旅游体育局", "县级部门"),
]
ROSTER_2023 = [
    ("T01", "城关街道", "镇（街道）"),
    ("TT2", "东湖街道", "镇（街道）"),
    ("D01", "县教育局", "县级部门"),
    ("D02", "县科学技术协会", "县级部门"),
    ("D03", "县气象局", "县级部门"),
]


def row(activities: int, fund: float, staff: int, offline: int, online: int = 0) -> dict[str, Any]:
    """A unit's return: `fund` as 县级财政经费, `staff` as volunteers, outlets 1 and reports 2."""
    return ZERO | {
        "activities": activities,
        "fund_government": fund,
        "staff_volunteers": staff,
        "public_offline": offline,
        "public_online": online,
        "media_outlets": 1,
        "media_reports": 2,
    }


# activities 5+4+3+1+2 = 15; fund 4+3+2+0.5+0.5 = 10; staff 30+25+20+15+10 = 100; offline 10,000; online 0
LAST = {
    "T01": row(5, 4, 30, 4000),
    "T02": row(4, 3, 25, 3000),
    "D01": row(3, 2, 20, 1500),
    "D02": row(1, 0.5, 15, 1000),
    "D05": row(2, 0.5, 10, 500),
}
# activities 6+5+4+3 = 18 (+20.0%); fund 4+2.5+2+1 = 9.5 (−5.0%); staff 35+25+25+15 = 100 (持平);
# offline 4500+3800+2540+1500 = 12,340 (+23.4%); online 300+200 = 500 (上年为 0); D03 sends nothing
THIS = {
    "T01": row(6, 4, 35, 4500, 300),
    "TT2": row(5, 2.5, 25, 3800, 200),
    "D01": row(4, 2, 25, 2540),
    "D02": row(3, 1, 15, 1500),
}


def county(folder: Path, year: int, roster: list[tuple[str, str, str]], previous: str = "") -> Path:
    """The sample campaign as `year`'s, with `roster` (code, name, category); returns its kepuxl.toml."""
    config = init_sample(folder) / "kepuxl.toml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^id = "[^"]*"', f'id = "qingxi-{year}-science-week"', text)
    text = re.sub(r'(?m)^title = "[^"]*"', f'title = "{year}年科技活动周"', text)
    text = re.sub(r"(?m)^year = \d+", f"year = {year}", text)
    text = re.sub(r"2023-", f"{year}-", text)
    if previous:
        text += f'\n[compare]\nprevious = "{previous}"\n'
    config.write_text(text, encoding="utf-8")
    rows = [(code, name, category, "", "", f"{code.lower()}@example.cn") for code, name, category in roster]
    use_roster(config, [ROSTER_HEADER, *rows])
    return config


def send(config: Path, unit_id: str, values: dict[str, Any], note: str = "") -> Path:
    """The unit's return in the inbox, its detail table listing as many activities as it reports."""
    ctx = Context.load(config)
    data = fill(ctx, unit_id, values, detail_rows=int(values["activities"]), note=note)
    path = config.parent / "inbox" / f"{unit_id}.xlsx"
    path.write_bytes(data)
    return path


def last_year(folder: Path, now: datetime = datetime(2022, 6, 5, 9, 0)) -> Path:
    """Last year's campaign, collected: its folder (output/2022年科技活动周_汇总.xlsx inside)."""
    from kepu_xl.collection import collect

    config = county(folder, 2022, ROSTER_2022)
    for unit_id, values in LAST.items():
        send(config, unit_id, values)
    report = collect(config.parent / "inbox", config, now=now)
    assert all(u.status == "accepted" for u in report.units), [(u.unit.name, u.status) for u in report.units]
    return config.parent


def this_year(folder: Path, previous: str, returns: dict[str, dict[str, Any]] | None = None) -> Path:
    """This year's campaign with [compare] previous and THIS's returns (or `returns`); its kepuxl.toml."""
    config = county(folder, 2023, ROSTER_2023, previous)
    for unit_id, values in (THIS if returns is None else returns).items():
        send(config, unit_id, values)
    return config
