"""kepuxl report-up: a county's confirmed result → the form its city made for it, filled in place; the city's
collect takes it as that county's return, reads its 下级单位 sheet and checks that the towns add up.

Real workbooks throughout: the city's forms come from make-forms, the towns' returns are filled as a unit
fills them, and the filled city form is read by the city's own collect (and opened by LibreOffice).
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from chain import COUNTY, TOWN, campaign, fill_returns, received, set_config, upper_form
from click.testing import CliRunner
from libreoffice import requires_libreoffice
from openpyxl import Workbook, load_workbook

from kepu_xl import field_map, layout, reader, subunits, xlsx_patch
from kepu_xl import spec as spec_mod
from kepu_xl.book import load_xlsx
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.confirmation import confirm
from kepu_xl.context import Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.sample_returns import values_for
from kepu_xl.upward import REPORT_DIR, report_up

NOW = datetime(2023, 6, 1, 9, 0)
TOWNS = [("T01", "城关镇", TOWN), ("T02", "青山镇", TOWN), ("T03", "白沙镇", TOWN), ("T04", "柳河镇", TOWN)]
COUNTIES = [("C01", "青溪县", COUNTY), ("C02", "白河县", COUNTY)]
# the city's checks of a return: identity and structure must be clean for the county's form to count
IDENTITY_CODES = {c for c in Code if c.name.startswith("ID_")} | {
    Code.AUDIT_STRUCTURE,
    Code.AUDIT_UNPROTECTED,
}


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return campaign(tmp_path / "济宁市", "jining-2023-week", "济宁市科学技术局", COUNTIES)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    """Four towns: three fine, 白沙镇 with 50,000 万元 (元 typed for 万元: 待核实)."""
    config = campaign(
        tmp_path / "青溪县", "qingxi-2023-week", "青溪县科学技术局", TOWNS, email="kjj@jining.example.org"
    )
    values = {uid: values_for(n, {}) for n, (uid, _, _) in enumerate(TOWNS, start=1)}
    values["T03"] = values_for(3, {"fund_government": 50000})
    fill_returns(config, values)
    return config


def confirmed_totals(config: Path) -> dict[str, float]:
    return collect(config.parent / "inbox", config, write=False, now=NOW).totals


def city_collect(city: Path, *files: Path):
    for f in files:
        received(Path(shutil.copy(f, city.parent / "inbox")))
    return collect(city.parent / "inbox", city, write=False, now=NOW)


def unit_of(report, unit_id: str):
    return next(u for u in report.units if u.unit.id == unit_id)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


# -- the field map forms carry --------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["science_week", "science_month"])
def test_forms_carry_their_field_map_in_a_sheet_collect_never_reads(city: Path, form: str) -> None:
    text = city.read_text(encoding="utf-8").replace('form = "science_week"', f'form = "{form}"')
    city.write_text(text, encoding="utf-8")
    ctx = Context.load(city)
    data = ctx.form_bytes(ctx.campaign.units[0])
    sheet = load_xlsx(data, {layout.FIELDS_SHEET: (200, 3)}, default=None).sheets[layout.FIELDS_SHEET]
    assert sheet.state == "veryHidden"
    carried = field_map.parse([[sheet.text(r, c) for c in range(4)] for r in range(200) if sheet.text(r, 0)])
    assert carried == field_map.from_spec(ctx.spec, ctx.cells)
    assert [f.id for f in carried.fields] == [f.id for f in ctx.spec.fields]
    assert {f.id: f.cell for f in carried.fields} == ctx.cells.fields
    assert carried.field("fund_total").computed and not carried.field("activities").computed
    assert [c.id for c in carried.columns] == [c.id for c in ctx.spec.detail.columns]
    # collect reads windows of the form's own sheets only: the map's sheet is listed, never parsed
    assert layout.FIELDS_SHEET not in reader.windows(ctx.spec, ctx.cells)
    book = reader.load_book(data, "xlsx", ctx.spec, ctx.cells)
    assert book.sheets[layout.FIELDS_SHEET].cells == {}


def test_no_definition_may_name_a_sheet_like_the_fixed_ones(city: Path) -> None:
    for name in ("_fields", "下级单位"):
        form = (Path(__file__).parents[1] / "forms" / "science_week.toml").read_text(encoding="utf-8")
        (city.parent / "mine.toml").write_text(
            form.replace('sheet = "活动明细"', f'sheet = "{name}"'), "utf-8"
        )
        with pytest.raises(KepuError) as refused:
            spec_mod.load(city.parent / "mine.toml")
        assert [f.code for f in refused.value.findings] == [Code.SPEC_BAD_VALUE], name


# -- filling the city's form --------------------------------------------------------------------------------


def test_the_city_takes_the_filled_form_as_the_countys_return(city: Path, county: Path) -> None:
    blank = upper_form(city, "C01")
    report = report_up(blank, county, include_pending=True, now=NOW)
    assert report.output == county.parent / "output" / REPORT_DIR / blank.name
    totals = confirmed_totals(county)
    ctx = Context.load(city)
    assert report.values == pytest.approx({f.id: totals[f.id] for f in ctx.spec.inputs})
    assert report.sources == {f.id: f.id for f in ctx.spec.fields}
    assert report.pending == ["白沙镇"] and "白沙镇" in report.note

    result = city_collect(city, report.output)
    c01 = unit_of(result, "C01")
    assert c01.status in ("accepted", "warnings")
    assert [f for f in c01.findings if f.code in IDENTITY_CODES] == []
    assert c01.values == pytest.approx({f.id: totals[f.id] for f in ctx.spec.fields})
    assert [s.unit for s in c01.subunits] == [name for _, name, _ in TOWNS]
    assert [s.counted for s in c01.subunits] == [True, True, False, True]
    assert [str(s.status) for s in c01.subunits] == ["accepted", "accepted", "pending", "accepted"]
    assert [f.code for f in c01.findings if f.code.name.startswith("REPORT_")] == []
    # the JSON contract: units[].subunits[]
    row = c01.to_dict()["subunits"][2]
    assert row["unit"] == "白沙镇" and row["status"] == "pending" and row["counted"] is False
    assert row["values"]["fund_government"] == 50000


def test_only_what_must_change_is_rewritten(city: Path, county: Path) -> None:
    blank = upper_form(city, "C01")
    before = members(blank.read_bytes())
    filled = report_up(blank, county, include_pending=True, now=NOW).output.read_bytes()
    after = members(filled)
    changed = {n for n in before if before[n] != after.get(n)}
    # the statistics table, the detail table, the workbook (a recalculation flag, one sheet more), its rels,
    # the content types and the styles (the new sheet's cells); identity, 填报说明 and _meta as they were
    assert changed == {
        "xl/worksheets/sheet2.xml",
        "xl/worksheets/sheet3.xml",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "[Content_Types].xml",
        "xl/styles.xml",
    }
    assert set(after) - set(before) == {"xl/worksheets/sheet6.xml"}
    assert list(after)[: len(before)] == list(before)  # the order of the members too
    # the protection of the filled sheets, and the new one's, is the form's own
    protections = {
        xlsx_patch._PROTECTION.search(after[f"xl/worksheets/sheet{n}.xml"]).group() for n in (2, 6)
    }
    assert len({xlsx_patch._PASSWORD.findall(p)[0] for p in protections}) == 1
    book = load_workbook(io.BytesIO(filled))
    assert book.sheetnames == ["填报说明", "统计表", "活动明细", "_meta", "_fields", "下级单位"]
    assert book["_meta"].sheet_state == "veryHidden" and book["下级单位"].protection.sheet


def test_detail_rows_are_marked_with_their_unit_and_the_header_filled(city: Path, county: Path) -> None:
    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    ws = load_workbook(report.output)["活动明细"]
    names = [ws.cell(row=r, column=2).value for r in range(4, 54)]
    counted = [values_for(n, {})["activities"] for n in (1, 2, 4)]  # 白沙镇 is pending: not counted
    assert report.detail == {"rows": sum(counted), "written": sum(counted)}
    expected = [
        f"【{town}】科普讲座（第{i + 1}场）"
        for town, k in zip(("城关镇", "青山镇", "柳河镇"), counted, strict=True)
        for i in range(k)
    ]
    assert names[: len(expected)] == expected and set(names[len(expected) :]) == {None}
    main = load_workbook(report.output)["统计表"]
    ctx = Context.load(city)
    assert main[ctx.cells.info["preparer"].a1].value == "李明"
    assert main[ctx.cells.info["fill_date"].a1].value == datetime(2023, 6, 1)
    assert main[ctx.cells.info["note"].a1].value == report.note
    assert main[ctx.cells.unit.a1].value == "青溪县"


def test_pending_units_are_refused_by_name_unless_included(city: Path, county: Path) -> None:
    blank = upper_form(city, "C01")
    with pytest.raises(KepuError) as refused:
        report_up(blank, county, now=NOW)
    assert [f.code for f in refused.value.findings] == [Code.REPORT_PENDING]
    assert "白沙镇" in refused.value.findings[0].message
    assert not (county.parent / "output" / REPORT_DIR).exists()
    result = CliRunner().invoke(cli, ["report-up", str(blank), "-c", str(county)])
    assert result.exit_code == 3 and "白沙镇" in result.output
    # once the clerk has confirmed it (电话核实), it is counted and nothing is pending
    collect(county.parent / "inbox", county, now=NOW)
    assert confirm(county, ["白沙镇"], note="电话核实，确为5亿元").ok
    report = report_up(blank, county, now=NOW)
    assert (
        report.pending == []
        and report.values["fund_government"] == confirmed_totals(county)["fund_government"]
    )
    assert report.values["fund_government"] > 50000


def test_unmatched_fields_are_listed_on_both_sides_and_a_map_joins_them(city: Path, county: Path) -> None:
    # the county's definition calls 举办活动次数 "events"; the city's form has "activities"
    text = (Path(__file__).parents[1] / "forms" / "science_week.toml").read_text(encoding="utf-8")
    text = text.replace('id = "activities"\n  label', 'id = "events"\n  label').replace(
        "activities", "events"
    )
    (county.parent / "county_form.toml").write_text(text, encoding="utf-8")
    config = county.read_text(encoding="utf-8").replace('form = "science_week"', 'form = "county_form.toml"')
    county.write_text(config, encoding="utf-8")
    for f in (county.parent / "inbox").iterdir():
        f.unlink()
    values = values_for(1, {})
    values["events"] = values.pop("activities")
    fill_returns(county, {"T01": values})
    blank = upper_form(city, "C01")
    with pytest.raises(KepuError) as refused:
        report_up(blank, county, now=NOW)
    found = [(f.code, f.context["id"]) for f in refused.value.findings]
    assert found == [(Code.REPORT_UPPER_FIELD, "activities"), (Code.REPORT_LOWER_FIELD, "events")]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["report-up", str(blank), "-c", str(county)])
    assert result.exit_code == 3 and "activities" in result.output and "events" in result.output

    set_config(
        county, "report_up.map", 'activities = "events"\nnot_a_field = "events"\npublic_online = "events +"'
    )
    with pytest.raises(KepuError) as refused:
        report_up(blank, county, now=NOW)
    assert [f.code for f in refused.value.findings] == [Code.REPORT_MAP_UNKNOWN, Code.REPORT_MAP_BAD]
    county.write_text(county.read_text(encoding="utf-8").split("\n[report_up.map]")[0], encoding="utf-8")
    set_config(county, "report_up.map", 'activities = "events"')
    report = report_up(blank, county, now=NOW)
    assert report.sources["activities"] == "events" and report.values["activities"] == values["events"]
    assert unit_of(city_collect(city, report.output), "C01").values["activities"] == values["events"]


def test_a_mapped_value_is_fitted_to_the_upper_field_and_said_so(city: Path, county: Path) -> None:
    set_config(
        county, "report_up.map", 'activities = "public_offline / 7"\nvenues_open = "public_offline * 100000"'
    )
    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    offline = confirmed_totals(county)["public_offline"]
    assert report.values["activities"] == round(offline / 7)
    codes = [(f.code, f.context.get("label")) for f in report.findings if f.code.name.startswith("REPORT_")]
    assert (Code.REPORT_ROUNDED, "举办活动次数") in codes
    assert (Code.REPORT_RANGE, "活动周期间开放的科普场馆数量") in codes  # over the city form's maximum


def test_towns_that_do_not_add_up_get_a_warning_at_the_cell(city: Path, county: Path) -> None:
    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    # someone changes a town's number on the 下级单位 sheet after the county filled the form
    tampered = report.output.with_name("tampered.xlsx")
    at = (subunits.FIRST_ROW, 5)  # 城关镇, 举办活动次数
    tampered.write_bytes(xlsx_patch.patch(report.output.read_bytes(), {subunits.SHEET: {at: 999}}))
    c01 = unit_of(city_collect(city, tampered), "C01")
    found = [(f.code, f.sheet, f.cell) for f in c01.findings if f.code is Code.REPORT_SUBUNITS_SUM]
    assert found == [(Code.REPORT_SUBUNITS_SUM, "统计表", Context.load(city).cells.fields["activities"].a1)]
    assert c01.status == "warnings"


def test_a_sheet_of_towns_that_cannot_be_read_is_said_so_and_not_summed(city: Path, county: Path) -> None:
    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    data = report.output.read_bytes()
    # a town's number replaced by text: said at its cell, left out of the check of the sums
    at = (subunits.FIRST_ROW, 5)
    typed = report.output.with_name("typed.xlsx")
    typed.write_bytes(xlsx_patch.patch(data, {subunits.SHEET: {at: "约20"}}))
    c01 = unit_of(city_collect(city, typed), "C01")
    found = [(f.code, f.sheet, f.cell) for f in c01.findings if f.code.name.startswith("REPORT_SUBUNITS")]
    assert (Code.REPORT_SUBUNITS_VALUE, subunits.SHEET, f"F{subunits.FIRST_ROW + 1}") in found
    assert c01.subunits and c01.subunits[0].values.get("activities") is None
    # the row of field ids emptied: the sheet cannot be read, no town is listed and nothing is summed
    wiped = report.output.with_name("wiped.xlsx")
    row = {(subunits.ID_ROW, col): None for col in range(2)}
    wiped.write_bytes(xlsx_patch.patch(data, {subunits.SHEET: row}))
    c01 = unit_of(city_collect(city, wiped), "C01")
    found = [(f.code, f.sheet, f.cell) for f in c01.findings if f.code.name.startswith("REPORT_SUBUNITS")]
    assert found == [(Code.REPORT_SUBUNITS_SHEET, subunits.SHEET, f"A{subunits.ID_ROW + 1}")]
    assert c01.subunits == [] and c01.status == "warnings"


def test_detail_columns_the_upper_form_lacks_are_said_so(city: Path, county: Path) -> None:
    # the county's 活动明细 calls its 媒体报道数 column "press"; the city's has "reports"
    text = (Path(__file__).parents[1] / "forms" / "science_week.toml").read_text(encoding="utf-8")
    (county.parent / "county_form.toml").write_text(text.replace('id = "reports"', 'id = "press"'), "utf-8")
    config = county.read_text(encoding="utf-8").replace('form = "science_week"', 'form = "county_form.toml"')
    county.write_text(config, encoding="utf-8")
    for f in (county.parent / "inbox").iterdir():
        f.unlink()
    fill_returns(county, {"T01": values_for(1, {})})
    report = report_up(upper_form(city, "C01"), county, now=NOW)
    found = [f for f in report.findings if f.code is Code.REPORT_DETAIL_COLUMNS]
    # the same label on both sides, so each side also names its field id
    assert [(f.context["columns"], f.context["blank"]) for f in found] == [
        ("媒体报道数（字段 press）", "媒体报道数（字段 reports）")
    ]
    assert report.detail["written"] == report.detail["rows"] > 0


def test_videos_are_listed_to_be_sent_otherwise_never_attached(city: Path, county: Path) -> None:
    text = county.read_text(encoding="utf-8").replace(
        "[report_up]\n", '[report_up]\nmaterials = ["videos", "photos"]\n'
    )
    county.write_text(text, encoding="utf-8")
    inbox = county.parent / "inbox"
    (inbox / "城关镇-活动视频.mp4").write_bytes(bytes(64) + b"ftypisom" + bytes(4000))  # never read whole
    (inbox / "城关镇-活动照片1.jpg").write_bytes(PHOTO + bytes(1000))
    report = report_up(upper_form(city, "C01"), county, include_pending=True, mail=True, now=NOW)
    assert report.mail["attachments"][2:] == ["城关镇-活动照片1.jpg"]
    assert report.mail["left_out"] == ["城关镇-活动视频.mp4"]
    left = [f for f in report.findings if f.code is Code.REPORT_MATERIALS_LEFT]
    assert len(left) == 1 and "城关镇-活动视频.mp4" in left[0].message


def test_a_form_filled_before_is_filled_again(city: Path, county: Path) -> None:
    first = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    collect(county.parent / "inbox", county, now=NOW)
    assert confirm(county, ["白沙镇"], note="电话核实").ok
    again = report_up(first.output, county, now=NOW)  # the earlier filled copy is the upper form now
    assert again.output == first.output and again.pending == []
    assert load_workbook(again.output).sheetnames.count("下级单位") == 1
    c01 = unit_of(city_collect(city, again.output), "C01")
    assert c01.values["fund_government"] == pytest.approx(confirmed_totals(county)["fund_government"])
    assert all(s.counted for s in c01.subunits) and len(c01.subunits) == len(TOWNS)


def test_a_form_without_a_map_is_placed_by_a_definition_with_its_layout(city: Path, county: Path) -> None:
    blank = upper_form(city, "C01")
    ctx = Context.load(city)
    rows = len(field_map.rows(ctx.spec, ctx.cells))
    # the map's cells emptied: a form as a kepuxl from before the map made it
    wipe = {(r, c): None for r in range(rows) for c in range(field_map.WIDTH)}
    old = blank.with_name("old.xlsx")
    old.write_bytes(xlsx_patch.patch(blank.read_bytes(), {layout.FIELDS_SHEET: wipe}))
    report = report_up(old, county, include_pending=True, now=NOW)
    assert report.values == pytest.approx(report_up(blank, county, include_pending=True, now=NOW).values)
    # a definition neither level's kepuxl knows: nothing to place the cells by
    form = (Path(__file__).parents[1] / "forms" / "science_week.toml").read_text(encoding="utf-8")
    (city.parent / "city_form.toml").write_text(
        form.replace('version = "2023.1"', 'version = "2099.9"'), "utf-8"
    )
    city.write_text(
        city.read_text(encoding="utf-8").replace('form = "science_week"', 'form = "city_form.toml"'), "utf-8"
    )
    shutil.rmtree(city.parent / "output")
    blank = upper_form(city, "C01")
    old.write_bytes(xlsx_patch.patch(blank.read_bytes(), {layout.FIELDS_SHEET: wipe}))
    with pytest.raises(KepuError) as refused:
        report_up(old, county, include_pending=True, now=NOW)
    assert [f.code for f in refused.value.findings] == [Code.REPORT_NO_FIELD_MAP]
    assert report_up(blank, county, include_pending=True, now=NOW).values  # with its map it is fine


def test_forms_that_are_not_from_above_are_refused(city: Path, county: Path, tmp_path: Path) -> None:
    own = upper_form(county, "T01")  # the county's own form for a town
    with pytest.raises(KepuError) as refused:
        report_up(own, county, include_pending=True, now=NOW)
    assert [f.code for f in refused.value.findings] == [Code.REPORT_OWN_FORM]
    fake = tmp_path / "统计表.xlsx"
    fake.write_bytes(b"name,value\n")
    with pytest.raises(KepuError) as refused:
        report_up(fake, county, include_pending=True, now=NOW)
    assert [f.code for f in refused.value.findings] == [Code.REPORT_UPPER_FORM]
    plain = tmp_path / "plain.xlsx"
    Workbook().save(plain)  # a workbook, but no kepuxl form
    with pytest.raises(KepuError) as refused:
        report_up(plain, county, include_pending=True, now=NOW)
    assert "身份信息" in refused.value.findings[0].message


def test_json_equals_the_library_report(city: Path, county: Path) -> None:
    blank = upper_form(city, "C01")
    result = CliRunner().invoke(
        cli, ["report-up", str(blank), "-c", str(county), "--include-pending", "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    library = report_up(blank, county, include_pending=True).to_dict()
    assert data == json.loads(json.dumps(library, ensure_ascii=False, default=str))
    assert data["upper"]["campaign_id"] == "jining-2023-week" and data["upper"]["unit_id"] == "C01"
    assert data["upper"]["unit"] == "青溪县" and data["subunits"] == len(TOWNS)


def test_the_city_summary_lists_every_county_and_its_towns(city: Path, county: Path) -> None:
    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    received(Path(shutil.copy(report.output, city.parent / "inbox")))
    summary = collect(city.parent / "inbox", city, now=NOW).outputs["summary"]
    book = load_workbook(summary)
    assert book.sheetnames[4] == "下级单位"
    rows = [r for r in book["下级单位"].iter_rows(min_row=4, max_col=6, values_only=True)]
    assert [(r[0], r[1].strip(), r[3], r[4], r[5]) for r in rows] == [
        ("C01", "青溪县", "通过", "是", None),
        ("T01", "城关镇", "通过", "是", "青溪县"),
        ("T02", "青山镇", "通过", "是", "青溪县"),
        ("T03", "白沙镇", "待核实", "否", "青溪县"),
        ("T04", "柳河镇", "通过", "是", "青溪县"),
        ("C02", "白河县", "未报", "否", None),
    ]
    # a county's summary (no return from below) has no such sheet
    assert (
        "下级单位"
        not in load_workbook(collect(county.parent / "inbox", county, now=NOW).outputs["summary"]).sheetnames
    )


@requires_libreoffice
def test_the_filled_form_opens_in_libreoffice_and_its_resave_is_still_the_countys(
    city: Path, county: Path, tmp_path: Path
) -> None:
    import libreoffice as lo

    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    pdf = lo.to_pdf(report.output, tmp_path / "pdf")
    texts = [lo.pdf_text(pdf, n) for n in range(1, lo.pdf_page_count(pdf) + 1)]
    assert any("下级单位报送情况" in t and "柳河镇" in t for t in texts)
    assert any("110.33" in t or "经费合计" in t for t in texts)
    resaved = lo.convert(report.output, "xlsx", tmp_path / "lo")  # recalculated and saved by LibreOffice
    c01 = unit_of(city_collect(city, resaved), "C01")
    # LibreOffice keeps the identity (its protection of the sheets may differ: a warning at most)
    assert [f for f in c01.findings if f.code in IDENTITY_CODES - {Code.AUDIT_UNPROTECTED}] == []
    totals = confirmed_totals(county)
    assert c01.values == pytest.approx({f.id: totals[f.id] for f in Context.load(city).spec.fields})
    assert [s.unit for s in c01.subunits] == [name for _, name, _ in TOWNS]


# -- the e-mail to the level above ------------------------------------------------------------------------

PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_the_draft_carries_the_form_the_report_and_the_materials_that_fit(
    city: Path, county: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kepu_xl.mail import report_draft
    from kepu_xl.mail.sending import send_drafts

    inbox = county.parent / "inbox"
    (inbox / "城关镇活动总结.pdf").write_bytes(PDF)
    (inbox / "城关镇-活动照片1.jpg").write_bytes(PHOTO + bytes(1000))
    (inbox / "青山镇-活动照片1.jpg").write_bytes(PHOTO + bytes(300_000))
    (inbox / "白沙镇-活动照片1.jpg").write_bytes(PHOTO + bytes(500))  # 待核实: not counted, not sent up
    first = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    assert first.document is not None and first.document.parent == first.output.parent
    assert first.document.name.endswith("_总结报告（数据部分）.docx")
    fixed = first.output.stat().st_size + first.document.stat().st_size
    # the form and the report go first; after them only the small materials fit, not the 300 KB photo
    monkeypatch.setattr(report_draft, "MAIL_LIMIT", int(fixed * 1.4) + 150_000)
    report = report_up(upper_form(city, "C01"), county, include_pending=True, mail=True, now=NOW)
    draft = report.mail
    assert draft["to"] == "kjj@jining.example.org"
    assert report.to_dict()["report"] == str(report.document)
    assert draft["attachments"] == [
        "01_青溪县.xlsx",
        report.document.name,
        "城关镇活动总结.pdf",
        "城关镇-活动照片1.jpg",
    ]
    assert draft["left_out"] == ["青山镇-活动照片1.jpg"]
    assert [f.code for f in report.findings if f.code is Code.REPORT_MATERIALS_LEFT] == [
        Code.REPORT_MATERIALS_LEFT
    ]
    message = email.message_from_bytes(Path(draft["file"]).read_bytes(), policy=email.policy.default)
    files = {p.get_filename(): p.get_payload(decode=True) for p in message.walk() if p.get_filename()}
    assert files["01_青溪县.xlsx"] == report.output.read_bytes()
    assert report.note in message.get_body(("plain",)).get_content()
    assert (county.parent / "上报模板.txt").is_file()  # the wording is the clerk's to edit from now on
    # sent to [report_up] email only: an address changed since the draft was made is refused
    assert [i.to for i in send_drafts(county, Path(draft["file"]).parent, dry_run=True).items] == [
        draft["to"]
    ]
    county.write_text(county.read_text(encoding="utf-8").replace("kjj@jining", "other@jining"), "utf-8")
    items = send_drafts(county, Path(draft["file"]).parent, dry_run=True).items
    assert items[0].outcome == "failed" and "other@jining.example.org" in items[0].finding.message


def test_no_draft_without_the_upper_address(city: Path, county: Path) -> None:
    county.write_text(
        county.read_text(encoding="utf-8").replace('email = "kjj@jining.example.org"', ""), "utf-8"
    )
    with pytest.raises(KepuError) as refused:
        report_up(upper_form(city, "C01"), county, include_pending=True, mail=True, now=NOW)
    assert [f.code for f in refused.value.findings] == [Code.REPORT_NO_EMAIL]
    assert not (county.parent / "output" / REPORT_DIR).exists()  # refused before anything was written


def test_the_report_up_table_is_checked_key_by_key(county: Path) -> None:
    set_config(county, "report_up.map", 'Bad-Key = "activities"\nactivities = 3')
    text = county.read_text(encoding="utf-8").replace(
        "[report_up]\n", '[report_up]\ncolour = "red"\nmaterials = ["photo"]\n'
    )
    county.write_text(text.replace("kjj@jining.example.org", "市科技局"), encoding="utf-8")
    with pytest.raises(KepuError) as refused:
        Context.load(county)
    found = [(f.code, f.context["table"], f.context["key"]) for f in refused.value.findings]
    assert found == [
        (Code.CAMPAIGN_BAD_VALUE, "report_up", "colour"),
        (Code.CAMPAIGN_BAD_VALUE, "report_up", "materials"),
        (Code.CAMPAIGN_BAD_VALUE, "report_up", "email"),
        (Code.CAMPAIGN_BAD_VALUE, "report_up.map", "Bad-Key"),
        (Code.CAMPAIGN_BAD_VALUE, "report_up.map", "activities"),
    ]


@requires_libreoffice
def test_both_subunit_sheets_print_on_a4_at_8_pt_or_more(city: Path, county: Path, tmp_path: Path) -> None:
    import libreoffice as lo

    report = report_up(upper_form(city, "C01"), county, include_pending=True, now=NOW)
    received(Path(shutil.copy(report.output, city.parent / "inbox")))
    summary = Path(collect(city.parent / "inbox", city, now=NOW).outputs["summary"])
    for name, workbook in (("form", report.output), ("summary", summary)):
        pdf = lo.to_pdf(workbook, tmp_path / name, timeout=300)
        pages = lo.pdf_pages(pdf)
        mine = [
            (page, sizes)
            for page, sizes in zip(pages, lo.pdf_font_sizes(pdf), strict=True)
            if [w.text for w in sorted(page.band(page.height - 36, page.height), key=lambda w: w.x0)][:1]
            == [subunits.SHEET]
        ]
        assert mine, name
        for page, sizes in mine:
            assert sorted((round(page.width), round(page.height))) == [595, 842], (name, page.number)
            assert min(sizes) >= 8.0, (name, page.number, min(sizes))
            assert f"共 {len(pages)} 页" in page.text()
        assert "柳河镇" in " ".join(page.text() for page, _ in mine)


def test_the_note_names_who_is_out_and_what_changed_most_against_last_year(county: Path) -> None:
    from kepu_xl.upward import account

    result = collect(county.parent / "inbox", county, write=False, now=NOW)
    totals = result.totals
    note = account(result, 0, {})
    assert note.startswith("本级应报 4 个单位，已报 4 个；通过 3 个、有警告 0 个，均计入本表合计。")
    assert "待核实 1 个（数据尚未核实，未计入）：白沙镇。" in note and "与上年" not in note
    # last year (the report's previous_totals, when [compare] is configured): the largest moves, 10 % or more
    previous = {"activities": totals["activities"] / 1.5, "public_offline": totals["public_offline"] * 2}
    previous["media_reports"] = totals["media_reports"] * 1.05  # 5 %: not notable
    note = account(result, 3, previous)
    assert f"与上年相比：举办活动次数 {int(totals['activities'])} 次，增长 50.0%；" in note
    assert "线下活动群众参与数量" in note and "下降 50.0%" in note and "宣传报道数量" not in note
    assert "活动明细另有 3 项未能列入本表" in note
