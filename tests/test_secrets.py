"""The campaign key and the sheet passwords derived from it (campaign.new_secret, Campaign.sheet_password).

The key is readable by its owner only (POSIX: .kepuxl/ 0700, secret 0600; a key left 0644 by an
older kepuxl is tightened on load). Each unit's form is protected by its own password, derived
from the key, so that one unit told how to unprotect its form cannot open another's.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.protection import hash_password

from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.init import init_campaign

posix_only = pytest.mark.skipif(os.name != "posix", reason="Windows: the profile's ACLs protect the key")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_a_new_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask: kepuxl 0.1 left the key 0644 in a 0755 folder
    try:
        config = init_campaign(tmp_path / "活动")
    finally:
        os.umask(old_umask)
    state = config.parent / ".kepuxl"
    assert (mode(state), mode(state / "secret")) == (0o700, 0o600)


@posix_only
def test_a_key_left_open_by_an_older_kepuxl_is_closed_on_load(config: Path) -> None:
    state = config.parent / ".kepuxl"
    state.chmod(0o755)
    (state / "secret").chmod(0o644)
    key = (state / "secret").read_bytes()
    Context.load(config)
    assert (mode(state), mode(state / "secret")) == (0o700, 0o600)
    assert (state / "secret").read_bytes() == key


def protection(data: bytes) -> set[str]:
    """Every password hash a form's protection carries (each sheet and the workbook structure)."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.protection.password for ws in book.worksheets} | {book.security.workbookPassword}


def test_each_unit_has_its_own_sheet_password(ctx: Context) -> None:
    units = ctx.campaign.units[:6]
    hashes = [protection(ctx.form_bytes(u)) for u in units]
    assert all(len(h) == 1 for h in hashes)  # one password per form, on every sheet
    assert len({next(iter(h)) for h in hashes}) == len(units)  # kepuxl 0.1: one for the whole campaign
    for unit, h in zip(units, hashes, strict=True):
        assert h == {hash_password(ctx.password(unit))}
    assert ctx.password(units[0]) != ctx.password(units[1])


def test_a_password_set_in_the_config_is_every_units(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace('# password = ""', 'password = "qx2023"')
    config.write_text(text, encoding="utf-8")
    ctx = Context.load(config)
    assert {h for u in ctx.campaign.units[:4] for h in protection(ctx.form_bytes(u))} == {
        hash_password("qx2023")
    }


def test_an_unprotected_return_is_still_flagged(ctx: Context, tmp_path: Path) -> None:
    unit = ctx.campaign.unit("D01")
    book = openpyxl.load_workbook(io.BytesIO(ctx.form_bytes(unit)))
    book[ctx.spec.sheet].protection.sheet = False  # what "撤销工作表保护" saves
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    book.save(inbox / "d01.xlsx")
    report = collect(inbox, ctx.campaign.folder / CONFIG_NAME, write=False, workers=0)
    (result,) = report.files
    assert ("AUDIT_UNPROTECTED", ctx.spec.sheet) in [(f.code.name, f.sheet) for f in result.findings]
