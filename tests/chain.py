"""Campaigns of a reporting chain for tests: a city whose units are counties, counties whose units are towns.

Each campaign is made by `kepuxl init` (its own key), gets its own id, organizer and roster, and the forms
its units return are filled as a unit fills them (openpyxl, `sample_returns.fill`), saved in its inbox with
a received time before the deadline.

    city = campaign(tmp / "市", "jining-2023", "济宁市科学技术局", COUNTIES)
    county = campaign(tmp / "县", "qingxi-2023", "青溪县科学技术局", TOWNS)
    fill_returns(county, {"T01": values_for(1, {}), ...})
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import ROSTER_HEADER, use_roster

from kepu_xl import sample_returns
from kepu_xl.context import Context
from kepu_xl.init import init_campaign
from kepu_xl.make import make_forms

TOWN, COUNTY, CITY = "镇（街道）", "县（市、区）", "市"
RECEIVED = datetime(2023, 5, 28, 10, 0)  # before the sample deadline (2023-05-30 17:30)


def campaign(
    folder: Path, campaign_id: str, organizer: str, units: list[tuple[str, str, str]], **report_up: str
) -> Path:
    """A campaign folder (`kepuxl init`) with this id, organizer and roster of (id, name, category);
    `report_up` keys (email, name) go into its [report_up] table. Returns its kepuxl.toml."""
    config = init_campaign(folder, nested=True)
    text = config.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^id = "[^"]*"', f'id = "{campaign_id}"', text)
    text = text.replace("青溪县科学技术局", organizer)
    if report_up:
        text += "\n[report_up]\n" + "".join(f'{k} = "{v}"\n' for k, v in report_up.items())
    config.write_text(text, encoding="utf-8")
    use_roster(config, [ROSTER_HEADER, *((uid, name, cat, "", "", "") for uid, name, cat in units)])
    return config


def set_config(config: Path, table: str, text: str) -> None:
    """Append `text` under a new `[table]` of kepuxl.toml."""
    config.write_text(config.read_text(encoding="utf-8") + f"\n[{table}]\n{text}\n", encoding="utf-8")


def fill_returns(config: Path, values: dict[str, dict[str, Any]], note: str = "") -> list[Path]:
    """Each unit's form, filled with its values (one detail row per activity), saved in the inbox."""
    ctx = Context.load(config)
    inbox = config.parent / "inbox"
    written = []
    for unit_id, vals in values.items():
        unit = ctx.campaign.unit(unit_id)
        assert unit is not None, unit_id
        rows = vals.get("activities", 0)
        data = sample_returns.fill(
            ctx, unit_id, vals, detail_rows=rows if isinstance(rows, int) else 0, note=note
        )
        path = inbox / f"{unit.name}-统计表.xlsx"
        path.write_bytes(data)
        received(path)
        written.append(path)
    return written


def received(path: Path, when: datetime = RECEIVED) -> Path:
    """Give a file in an inbox the time it was received (before the deadline)."""
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def upper_form(config: Path, unit_id: str) -> Path:
    """The form the campaign at `config` made for one of its units (make-forms, once)."""
    forms = config.parent / "output" / "forms"
    if not forms.is_dir():
        make_forms(config)
    ctx = Context.load(config)
    unit = ctx.campaign.unit(unit_id)
    assert unit is not None, unit_id
    return forms / ctx.form_name(unit)
