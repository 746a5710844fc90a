"""Findings that only failure paths produce, made to happen in this process (issue 14.7).

Most of these are also tested through the real CLI in a subprocess (tests/test_outputs.py), where
tests/every_code.py cannot see them; here each is produced by a library call, on real files: a sheet
renamed with openpyxl, two units sending the same numbers, a ledger held, damaged or on a read-only
file, an output path that is a file, a folder holding someone else's file, outputs Excel holds open
(made immutable with chattr, which is what a locked file looks like to a rename).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from conftest import init_sample

from kepu_xl import ledger as ledger_mod
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.make import make_forms
from kepu_xl.sample_returns import BASE, fill

NOW = datetime(2023, 6, 1, 9, 0)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    """The sample county with an empty inbox."""
    return init_sample(tmp_path / "青溪县")


@pytest.fixture
def returned(tmp_path: Path) -> Path:
    """The sample county with its sample returns."""
    return init_sample(tmp_path / "青溪县", with_returns=True)


def codes(error: pytest.ExceptionInfo[KepuError]) -> list[str]:
    return [f.code.name for f in error.value.findings]


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Paths nobody may replace or rename, not even root: what a file open in Excel is on Windows."""
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("chattr +i needs root")
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def test_a_renamed_sheet_is_a_missing_sheet(county: Path) -> None:
    ctx = Context.load(county / CONFIG_NAME)
    wb = openpyxl.load_workbook(io.BytesIO(fill(ctx, "T01", BASE, detail_rows=3)))
    wb[ctx.spec.sheet].title = "Sheet1"  # the identity (document properties, _meta) stays
    del wb[ctx.spec.detail.sheet]
    wb.save(county / "inbox" / "城关街道.xlsx")
    report = collect(county / "inbox", county / CONFIG_NAME, now=NOW, write=False)
    [unit] = [u for u in report.units if u.unit.id == "T01"]
    assert unit.status == "rejected"
    missing = [(f.sheet, f.context["name"]) for f in unit.findings if f.code is Code.AUDIT_SHEET_MISSING]
    assert missing == [(ctx.spec.sheet, ctx.spec.sheet)]  # no values can be read: one finding, no more


def test_two_units_with_the_same_numbers_are_a_possible_copy(county: Path) -> None:
    ctx = Context.load(county / CONFIG_NAME)
    for unit_id in ("T01", "T02"):
        (county / "inbox" / f"{unit_id}.xlsx").write_bytes(fill(ctx, unit_id, BASE, detail_rows=3))
    report = collect(county / "inbox", county / CONFIG_NAME, now=NOW, write=False)
    copies = {
        u.unit.id: f.context["other"] for u in report.units for f in u.findings if f.code is Code.AUDIT_COPY
    }
    name = {u.id: u.name for u in ctx.campaign.units}
    assert copies == {"T01": name["T02"], "T02": name["T01"]}


def test_a_ledger_held_by_another_program(returned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    monkeypatch.setattr(ledger_mod, "BUSY_SECONDS", 0.2)  # wait less than a clerk would
    holder = sqlite3.connect(ledger_mod.ledger_path(returned / ".kepuxl"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(KepuError) as error:
            collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert codes(error) == ["LEDGER_LOCKED"]


def test_a_damaged_ledger(returned: Path) -> None:
    ledger = ledger_mod.ledger_path(returned / ".kepuxl")
    ledger.parent.mkdir(exist_ok=True)
    ledger.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # the header, then garbage
    with pytest.raises(KepuError) as error:
        collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    assert codes(error) == ["LEDGER_FAILED"]
    assert "改名备份" in error.value.findings[0].message


def test_a_ledger_that_cannot_be_written(returned: Path) -> None:
    collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    summary = sorted((returned / "output").glob("*_汇总.xlsx"))
    before = summary[0].read_bytes()
    ledger = ledger_mod.ledger_path(returned / ".kepuxl")
    with immutable(ledger), pytest.raises(KepuError) as error:
        collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    assert codes(error) == ["LEDGER_READONLY"]
    assert summary[0].read_bytes() == before  # checked before any output changed


def test_an_output_folder_that_is_a_file(returned: Path) -> None:
    (returned / "结果").write_text("not a folder", encoding="utf-8")
    with pytest.raises(KepuError) as error:
        collect(returned / "inbox", returned / CONFIG_NAME, returned / "结果", now=NOW)
    assert codes(error) == ["OUT_WRITE_FAILED"]
    assert str(returned / "结果") in error.value.findings[0].message


def test_a_forms_folder_holding_someone_elses_file_is_left_alone(county: Path) -> None:
    forms = county / "output" / "forms"
    make_forms(county / CONFIG_NAME, forms, workers=0)
    (forms / "我的笔记.docx").write_bytes(b"PK\x03\x04 mine")
    before = sorted(p.name for p in forms.iterdir())
    with pytest.raises(KepuError) as error:
        make_forms(county / CONFIG_NAME, forms, workers=0)
    assert codes(error) == ["OUT_FOREIGN_FILES"]
    assert "我的笔记.docx" in error.value.findings[0].message
    assert sorted(p.name for p in forms.iterdir()) == before


def test_outputs_held_open_are_kept_beside_them(returned: Path) -> None:
    first = collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    summary, feedback = Path(first.outputs["summary"]), Path(first.outputs["feedback"])
    with immutable(summary, feedback):
        again = collect(returned / "inbox", returned / CONFIG_NAME, now=NOW)
    locked = [f.context for f in again.findings if f.code is Code.OUT_LOCKED]
    assert [c["path"] for c in locked] == [str(summary), str(feedback)]
    for context in locked:
        kept = Path(context["saved"])
        assert kept != Path(context["path"]) and kept.exists() and kept.parent == Path(context["path"]).parent
    assert again.outputs["summary"] == locked[0]["saved"]
    assert summary.read_bytes() == Path(locked[0]["saved"]).read_bytes()  # the same run's numbers
