"""What a roster may not hold, at the cell the clerk must fix (campaign.read_roster).

Control characters (an Alt+Enter line break, a pasted tab or CR), names that the identification
of returns cannot tell apart, formulas saved without a value; and codes made for rosters without
a 单位编码 column, which must never collide.
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from helpers import ROSTER_HEADER, use_roster, write_csv

from kepu_xl import audit, campaign, textnorm
from kepu_xl.context import Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.reader import ReturnedForm


def problems(path: Path) -> list[tuple[str, str, str]]:
    """(code, cell, message) of every finding the roster load raises."""
    with pytest.raises(KepuError) as info:
        campaign.read_roster(path)
    return [(f.code.name, f.cell, f.message) for f in info.value.findings]


def xlsx_roster(path: Path, rows: list[tuple[object, ...]]) -> Path:
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("单位名单")
    for r, row in enumerate([ROSTER_HEADER, *rows]):
        for c, value in enumerate(row):
            ws.write_string(r, c, value) if isinstance(value, str) else ws.write(r, c, value)
    wb.close()
    return path


# -- control and invisible characters --------------------------------------------------------------------------


def test_control_characters_are_reported_at_their_cells_with_every_other_problem(tmp_path: Path) -> None:
    roster = xlsx_roster(
        tmp_path / "units.xlsx",
        [
            ("T01", "城关街道\n（城区）", "镇（街道）", "王芳"),  # Alt+Enter in the name
            ("T02", "青山镇", "镇（街道）", "刘\t洋", "139\r00000003"),
            ("T03", "柳河镇", "", "", "", "liuhe\x85@example.org"),  # a C1 control (NEL)
            ("T04", "青山镇"),  # and a duplicate: the load still lists everything
        ],
    )
    found = problems(roster)
    assert [code for code, _, _ in found].count("ROSTER_CONTROL_CHAR") == 4  # kepuxl 0.1: the duplicate only
    control = Code.ROSTER_CONTROL_CHAR.format
    assert found == [
        ("ROSTER_CONTROL_CHAR", "B2", control(row=2, column="单位名称", chars="换行 \\n")),
        ("ROSTER_CONTROL_CHAR", "D3", control(row=3, column="联系人", chars="制表符 \\t")),
        ("ROSTER_CONTROL_CHAR", "E3", control(row=3, column="联系电话", chars="回车 \\r")),
        ("ROSTER_CONTROL_CHAR", "F4", control(row=4, column="电子邮箱", chars="U+0085")),
        (
            "ROSTER_DUPLICATE",
            "",
            Code.ROSTER_DUPLICATE.format(row=5, what="单位名称", value="青山镇", first_row=3),
        ),
    ]


def test_control_characters_in_a_csv_roster(tmp_path: Path) -> None:
    roster = write_csv(tmp_path / "units.csv", [ROSTER_HEADER, ("T01", "城关\r\n街道")])
    assert [(code, cell) for code, cell, _ in problems(roster)] == [("ROSTER_CONTROL_CHAR", "B2")]


def test_invisible_characters_are_removed_from_a_name_with_a_warning(tmp_path: Path) -> None:
    roster = xlsx_roster(tmp_path / "units.xlsx", [("D01", "县妇\u200b联"), ("D02", "\u202e县科协")])
    units, warnings = campaign.read_roster(roster)
    assert [u.name for u in units] == ["县妇联", "县科协"]
    assert [(f.code.name, f.severity, f.cell, f.message) for f in warnings] == [
        (
            "ROSTER_INVISIBLE",
            "warning",
            "B2",
            Code.ROSTER_INVISIBLE.format(row=2, column="单位名称", chars="U+200B", value="县妇联"),
        ),
        (
            "ROSTER_INVISIBLE",
            "warning",
            "B3",
            Code.ROSTER_INVISIBLE.format(row=3, column="单位名称", chars="U+202E", value="县科协"),
        ),
    ]


def test_the_format_character_class_holds_every_format_character() -> None:
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
    assert textnorm.without_invisible(every) == "" and len(textnorm.invisible(every)) == len(every)
    assert textnorm.without_invisible("城关\u200b街道\u202e·A") == "城关街道·A"


# -- names that identify alike ---------------------------------------------------------------------------------


def test_names_that_identification_cannot_tell_apart_are_roster_errors(tmp_path: Path) -> None:
    roster = xlsx_roster(
        tmp_path / "units.xlsx",
        [
            ("T01", "城关街道（一）"),
            ("T02", "城关街道(一)"),
            ("T03", "城关街道一"),
            ("D01", "县妇联"),
            ("D02", "县妇\u200b联"),
            ("D03", "县科协A"),
            ("D04", "县科协Ａ"),
            ("D05", "县 科协a"),
        ],
    )
    found = problems(roster)  # kepuxl 0.1 took them as eight units
    similar = Code.ROSTER_SIMILAR_NAME.format
    invisible = Code.ROSTER_INVISIBLE.format(row=6, column="单位名称", chars="U+200B", value="县妇联")
    assert [(code, message) for code, _, message in found] == [
        ("ROSTER_INVISIBLE", invisible),  # a warning, found as the row is read
        ("ROSTER_SIMILAR_NAME", similar(row=3, value="城关街道(一)", first_row=2, first="城关街道（一）")),
        ("ROSTER_SIMILAR_NAME", similar(row=4, value="城关街道一", first_row=2, first="城关街道（一）")),
        (
            "ROSTER_DUPLICATE",
            Code.ROSTER_DUPLICATE.format(row=6, what="单位名称", value="县妇联", first_row=5),
        ),
        ("ROSTER_SIMILAR_NAME", similar(row=8, value="县科协Ａ", first_row=7, first="县科协A")),
        ("ROSTER_SIMILAR_NAME", similar(row=9, value="县 科协a", first_row=7, first="县科协A")),
    ]


def test_a_return_without_identity_is_found_by_the_same_normalisation(config: Path) -> None:
    use_roster(config, [ROSTER_HEADER, ("T01", "城关街道（一）"), ("D03", "县科协A")])
    ctx = Context.load(config)
    for typed, unit_id in [
        ("城关街道(一)", "T01"),
        ("城关 街道一", "T01"),
        ("县科协Ａ", "D03"),
        ("县科\u200b协a", "D03"),
    ]:
        assert ctx.campaign.unit_by_name(typed).id == unit_id, typed
        form = ReturnedForm(kind="xlsx", unit_text=typed, has_main=True)
        found, findings = audit.identify(form, ctx.campaign, ctx.spec, ctx.cells, ctx.secret)
        assert (found.id, [f.code.name for f in findings]) == (unit_id, ["ID_NO_IDENTITY"]), typed


# -- codes for a roster without a 单位编码 column -----------------------------------------------------------------


def test_ten_thousand_units_without_codes_get_distinct_stable_codes(tmp_path: Path) -> None:
    names = [f"第{i:05d}号科普单位" for i in range(10_000)]
    roster = write_csv(tmp_path / "units.csv", [("单位名称",), *((n,) for n in names)])
    ids = [u.id for u in campaign.load_roster(roster)]  # kepuxl 0.1 refused: 6 codes collided
    assert len(set(ids)) == 10_000
    assert ids == [u.id for u in campaign.load_roster(roster)]  # the same roster, the same codes
    short = [n for n, i in zip(names, ids, strict=True) if len(i) == 7]
    assert len(short) > 9_980  # nearly all keep the 6-digit code kepuxl 0.1 gave (forms in the field)
    assert all(
        i == "U" + hashlib.sha256(n.encode()).hexdigest()[:6]
        for n, i in zip(names, ids, strict=True)
        if len(i) == 7
    )
    longer = [i for i in ids if len(i) > 7]
    assert longer and all(len(i) <= 32 for i in longer)
    # a unit added at the end changes no other unit's code
    write_csv(roster, [("单位名称",), *((n,) for n in [*names, "新增单位"])])
    assert [u.id for u in campaign.load_roster(roster)][:-1] == ids


def test_a_made_code_never_takes_a_typed_one(tmp_path: Path) -> None:
    taken = "U" + hashlib.sha256("县科协".encode()).hexdigest()[:6]
    roster = write_csv(tmp_path / "units.csv", [ROSTER_HEADER, (taken, "县气象局"), ("", "县科协")])
    units = campaign.load_roster(roster)
    assert [u.id for u in units] == [taken, "U" + hashlib.sha256("县科协".encode()).hexdigest()[:8]]


# -- formulas without a value ------------------------------------------------------------------------------------


def test_a_formula_saved_without_its_value_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    wb = openpyxl.Workbook()  # openpyxl saves a formula with no cached value
    ws = wb.active
    ws.append(list(ROSTER_HEADER))
    ws.append(["T01", "城关"])
    ws.append(["T02", '=B2&"镇"'])
    wb.save(path)
    found = problems(path)
    assert [code for code, _, _ in found] == ["ROSTER_FORMULA"]  # kepuxl 0.1: ROSTER_EMPTY_NAME
    formula = Code.ROSTER_FORMULA.format(row=3, column="单位名称", formula='=B2&"镇"')
    assert found == [("ROSTER_FORMULA", "B3", formula)]
    cache = tmp_path / ".kepuxl"
    cache.mkdir()
    for _ in range(2):  # parsed and cached, then from the cache: the same finding
        with pytest.raises(KepuError) as info:
            campaign.read_roster(path, cache)
        assert [f.message for f in info.value.findings] == [formula]
