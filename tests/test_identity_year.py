"""A return from another year or campaign is named as such (identity.py, audit.identify).

The clerk copies last year's campaign folder and edits year, title and deadline: the campaign id
and the key come along. Year and title are part of the stamp and of its HMAC, so last year's
return is refused with ID_OTHER_YEAR naming its year and title. Forms stamped by kepuxl 0.1
(tests/golden/legacy-0.1_*.xlsx, written by that version with the sample key) carry no year: the
visible title places them.
"""

from __future__ import annotations

import io
import re
import shutil
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from conftest import GOLDEN_DIR, init_sample

from kepu_xl import identity, reader, sample_returns
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code

LEGACY = GOLDEN_DIR / "legacy-0.1_science_week_县教育局.xlsx"  # unit D01 of the sample county, 2023


def copy_campaign(old: Path, new: Path, **changes: str) -> Path:
    """A copy of a campaign folder with its [campaign] keys changed, as a clerk does it in Notepad."""
    shutil.copytree(old, new)
    config = new / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value}", text, count=1)
        assert n == 1, key
    config.write_text(text, encoding="utf-8")
    shutil.rmtree(new / "inbox")
    (new / "inbox").mkdir()
    return config


NEXT_YEAR = {
    "year": "2024",
    "title": '"2024年科技活动周"',
    "start": "2024-05-18",
    "end": "2024-05-25",
    "deadline": "2024-05-30T17:30:00",
}


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> Context:
    folder = init_sample(tmp_path_factory.mktemp("y2023") / "青溪县2023")
    return Context.load(folder / CONFIG_NAME)


def filled(ctx: Context, data: bytes, unit_id: str = "D01") -> bytes:
    """A form as its unit returns it, clean: every number, the header and three activities typed in."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    main = book[ctx.spec.sheet]
    unit = ctx.campaign.unit(unit_id)
    for fid, value in sample_returns.values_for(unit.seq, {}).items():
        main[ctx.cells.fields[fid].a1] = value
    for key, value in {"preparer": "王芳", "phone": "0557-5550000", "fill_date": "2023-05-28"}.items():
        main[ctx.cells.info[key].a1] = value
    detail = book[ctx.spec.detail.sheet]
    for i in range(3):
        for col, value in enumerate(sample_returns.ACTIVITY, start=2):
            detail.cell(row=ctx.cells.detail_first + i + 1, column=col, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def collect_one(config: Path, name: str, data: bytes):
    inbox = config.parent / "inbox"
    (inbox / name).write_bytes(data)
    report = collect(inbox, config, now=datetime(2024, 5, 29, 9, 0), write=False, workers=0)
    (inbox / name).unlink()
    (result,) = [f for f in report.files if f.path.endswith(name)]
    return result


def id_findings(result) -> list[tuple[str, str, str]]:
    return [(f.code.name, f.location, f.message) for f in result.findings if f.code.name.startswith("ID_")]


def test_last_years_return_is_named_as_last_years(old: Context, tmp_path: Path) -> None:
    config = copy_campaign(old.campaign.folder, tmp_path / "青溪县2024", **NEXT_YEAR)
    new = Context.load(config)
    assert (new.campaign.id, new.secret) == (old.campaign.id, old.secret)  # what the copy keeps
    result = collect_one(config, "县教育局2023.xlsx", filled(old, old.form_bytes(old.campaign.unit("D01"))))
    assert result.outcome == "rejected"  # kepuxl 0.1 used it, with no finding at all
    message = Code.ID_OTHER_YEAR.format(
        year="2023", title="2023年科技活动周", current_year=2024, current_title="2024年科技活动周"
    )
    assert id_findings(result) == [("ID_OTHER_YEAR", "统计表!B2", message)]
    assert result.unit_id == "D01"
    # this year's form of the same unit is accepted
    fresh = collect_one(config, "县教育局2024.xlsx", filled(new, new.form_bytes(new.campaign.unit("D01"))))
    assert (id_findings(fresh), fresh.outcome, fresh.unit_id) == ([], "used", "D01")


def test_a_new_title_in_the_same_year_is_another_campaign(old: Context, tmp_path: Path) -> None:
    config = copy_campaign(old.campaign.folder, tmp_path / "科普日", title='"2023年全国科普日"')
    result = collect_one(config, "d01.xlsx", filled(old, old.form_bytes(old.campaign.unit("D01"))))
    assert result.outcome == "rejected"
    message = Code.ID_OTHER_YEAR.format(
        year="2023", title="2023年科技活动周", current_year=2023, current_title="2023年全国科普日"
    )
    assert id_findings(result) == [("ID_OTHER_YEAR", "统计表!B2", message)]


def test_the_year_and_title_are_in_the_token(old: Context) -> None:
    stamp = old.identity(old.campaign.unit("D01"))
    assert (stamp.year, stamp.title) == ("2023", "2023年科技活动周") and identity.verify(stamp, old.secret)
    for change in ({"year": "2024"}, {"title": "2024年科技活动周"}):
        forged = identity.Identity(**{**dict(stamp.as_pairs()), **change})
        assert not identity.verify(forged, old.secret), change


def test_another_campaign_is_located_at_the_unit_cell(old: Context, tmp_path: Path) -> None:
    config = copy_campaign(old.campaign.folder, tmp_path / "别的活动", id='"qingxi-2023-other"')
    result = collect_one(config, "d01.xlsx", filled(old, old.form_bytes(old.campaign.unit("D01"))))
    message = Code.ID_OTHER_CAMPAIGN.format(campaign="qingxi-2023-science-week")
    assert id_findings(result) == [("ID_OTHER_CAMPAIGN", "统计表!B2", message)]


# -- forms stamped by kepuxl 0.1 -----------------------------------------------------------------------------


def test_a_legacy_stamp_reads_as_legacy(old: Context) -> None:
    form = reader.read(LEGACY.read_bytes(), "xlsx", old.spec, old.cells)
    assert form.meta is not None and form.meta.legacy and form.meta == form.props
    assert form.title_text == "2023年科技活动周开展情况统计表"
    assert identity.verify(form.meta, old.secret)  # by the message of kepuxl 0.1


def test_a_legacy_form_of_this_year_is_accepted_with_a_note(old: Context) -> None:
    config = old.campaign.folder / CONFIG_NAME
    result = collect_one(config, "legacy.xlsx", filled(old, LEGACY.read_bytes()))
    message = Code.ID_LEGACY_STAMP.format(title="2023年科技活动周开展情况统计表", year=2023)
    assert id_findings(result) == [("ID_LEGACY_STAMP", "统计表!B2", message)]
    assert (result.outcome, result.unit_id, result.findings[0].severity) == ("used", "D01", "info")


def test_a_legacy_form_of_last_year_is_refused(old: Context, tmp_path: Path) -> None:
    config = copy_campaign(old.campaign.folder, tmp_path / "青溪县2024", **NEXT_YEAR)
    result = collect_one(config, "legacy.xlsx", filled(old, LEGACY.read_bytes()))
    assert result.outcome == "rejected"
    message = Code.ID_OTHER_YEAR.format(
        year="2023",
        title="2023年科技活动周开展情况统计表",
        current_year=2024,
        current_title="2024年科技活动周",
    )
    assert id_findings(result) == [("ID_OTHER_YEAR", "统计表!B2", message)]


def test_a_legacy_form_without_a_year_in_its_title_is_refused(old: Context) -> None:
    book = openpyxl.load_workbook(LEGACY)
    book["统计表"]["A1"].value = "科技活动周开展情况统计表"  # no year left to place it by
    buffer = io.BytesIO()
    book.save(buffer)
    config = old.campaign.folder / CONFIG_NAME
    result = collect_one(config, "no-year.xlsx", buffer.getvalue())
    codes = [code for code, _, _ in id_findings(result)]
    assert codes == ["ID_LEGACY_NO_YEAR"] and result.outcome == "rejected"


def test_another_form_of_the_campaign_is_located_at_the_unit_cell(old: Context, tmp_path: Path) -> None:
    config = copy_campaign(old.campaign.folder, tmp_path / "科普月", form='"science_month"')
    new = Context.load(config)
    result = collect_one(config, "d01.xlsx", filled(old, old.form_bytes(old.campaign.unit("D01"))))
    message = Code.ID_OLD_VERSION.format(
        version="science_week 2023.1", expected=f"science_month {new.spec.version}"
    )
    assert id_findings(result) == [("ID_OLD_VERSION", f"{new.cells.main}!{new.cells.unit.a1}", message)]
