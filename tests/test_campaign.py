"""Campaign config and roster (kepu_xl/campaign.py): kepuxl.toml + units.xlsx/.csv → Campaign, or every problem.

Roster problems carry the roster row (and cell) a clerk has to fix; messages are asserted in full.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import xlsxwriter
from helpers import ROSTER_HEADER, use_roster, write_csv

from kepu_xl import campaign, make
from kepu_xl.findings import Code, KepuError

EXPECTED_COLUMNS = "单位编码、单位名称、单位类别、联系人、联系电话、电子邮箱"


def roster_errors(path: Path) -> list[tuple[str, str, str]]:
    """(code, cell, message) of every finding in the KepuError the roster must raise."""
    with pytest.raises(KepuError) as info:
        campaign.load_roster(path)
    return [(f.code.name, f.cell, f.message) for f in info.value.findings]


def csv_roster(tmp_path: Path, *rows: tuple[str, ...], encoding: str = "utf-8") -> Path:
    return write_csv(tmp_path / "units.csv", [ROSTER_HEADER, *rows], encoding=encoding)


# -- the sample campaign ------------------------------------------------------------------------------------


def test_sample_campaign_loads(config: Path) -> None:
    c = campaign.load(config)
    assert (c.id, c.title, c.form, c.year) == (
        "qingxi-2023-science-week",
        "2023年科技活动周",
        "science_week",
        2023,
    )
    assert str(c.deadline) == "2023-05-30 17:30:00"
    assert (str(c.start), str(c.end)) == ("2023-05-20", "2023-05-27")
    assert len(c.units) == 26
    assert [u.seq for u in c.units] == list(range(1, 27))
    assert c.unit("D01") == c.unit_by_name("县教育局") == c.unit_by_name(" 县 教育局 ")
    assert c.unit("D01").email == "jyj@qingxi.example.org"
    assert c.roster == config.parent / "units.xlsx"


def test_sheet_password_is_stable_and_comes_from_the_secret(config: Path) -> None:
    c = campaign.load(config)
    secret = c.secret()
    assert c.sheet_password(secret, "D01") == campaign.load(config).sheet_password(secret, "D01")
    assert c.sheet_password(secret, "D01") != c.sheet_password(b"another secret", "D01")
    text = config.read_text(encoding="utf-8").replace('# password = ""', 'password = "kx2023"')
    config.write_text(text, encoding="utf-8")
    assert campaign.load(config).sheet_password(secret, "D01") == "kx2023"


def test_missing_secret_is_made_by_make_forms_and_then_kept(config: Path, tmp_path: Path) -> None:
    use_roster(config, [ROSTER_HEADER, ("D01", "县教育局")])
    (config.parent / ".kepuxl" / "secret").unlink()
    with pytest.raises(KepuError) as info:
        campaign.load(config).secret()
    assert [f.code for f in info.value.findings] == [Code.CAMPAIGN_FILE]
    make.make_forms(config, tmp_path / "first")
    secret = (config.parent / ".kepuxl" / "secret").read_bytes()
    make.make_forms(config, tmp_path / "second")
    assert (config.parent / ".kepuxl" / "secret").read_bytes() == secret
    assert (tmp_path / "first" / "01_县教育局.xlsx").read_bytes() == (
        tmp_path / "second" / "01_县教育局.xlsx"
    ).read_bytes()


# -- roster: the good cases -------------------------------------------------------------------------------------


def test_csv_in_gbk_as_saved_by_excel_on_chinese_windows(tmp_path: Path) -> None:
    path = csv_roster(
        tmp_path, ("T01", "城关街道", "镇（街道）", "王芳", "13900000001", "cg@example.org"), encoding="gbk"
    )
    units = campaign.load_roster(path)
    assert [(u.id, u.name, u.category, u.contact) for u in units] == [
        ("T01", "城关街道", "镇（街道）", "王芳")
    ]


def test_csv_in_utf8_with_bom(tmp_path: Path) -> None:
    path = csv_roster(tmp_path, ("T01", "城关街道", "", "", "", ""), encoding="utf-8-sig")
    assert [u.name for u in campaign.load_roster(path)] == ["城关街道"]


def test_blank_trailing_rows_are_ignored(tmp_path: Path) -> None:
    path = csv_roster(
        tmp_path, ("T01", "城关街道", "", "", "", ""), ("", "", "", "", "", ""), (" ", "", "", "", "", "")
    )
    path.write_bytes(path.read_bytes() + b"\r\n\r\n,,\r\n")
    assert [u.name for u in campaign.load_roster(path)] == ["城关街道"]


def test_xlsx_roster_with_blank_formatted_rows_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("单位名单")
    ws.write_row(0, 0, ROSTER_HEADER)
    ws.write_row(1, 0, ["T01", "城关街道", "镇（街道）", "王芳", 13900000001, "cg@example.org"])
    ws.write_row(2, 0, [7, "县科协"])  # a code typed as a number
    bordered = wb.add_format({"border": 1})
    for row in range(3, 40):  # a clerk's bordered but empty rows
        for col in range(6):
            ws.write_blank(row, col, None, bordered)
    wb.close()
    units = campaign.load_roster(path)
    assert [(u.id, u.name, u.phone, u.category) for u in units] == [
        ("T01", "城关街道", "13900000001", "镇（街道）"),
        ("7", "县科协", "", "其他"),
    ]


def _roster_xlsx(path: Path, rows: list[list[object]]) -> Path:
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("单位名单")
    ws.write_row(0, 0, ROSTER_HEADER)
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            ws.write(r, c, value, day if hasattr(value, "year") else None)
    wb.close()
    return path


def test_an_xlsx_roster_is_parsed_once_and_then_read_from_its_cache(tmp_path: Path) -> None:
    # A province's roster takes half a second to parse; its cells are kept as JSON under the file's hash
    from datetime import datetime

    cache = tmp_path / ".kepuxl"
    cache.mkdir()
    roster = _roster_xlsx(
        tmp_path / "units.xlsx",
        [
            ["T01", "城关街道", "镇（街道）", "王芳", 13900000001, "cg@example.org"],
            [7, datetime(2023, 5, 20)],
        ],
    )
    fresh = campaign.read_roster(roster)
    assert campaign.read_roster(roster, cache) == fresh  # parsed, and the cache written
    cached = json.loads((cache / campaign.ROSTER_CACHE).read_text(encoding="utf-8"))
    assert cached["sha256"] == hashlib.sha256(roster.read_bytes()).hexdigest()
    assert cached["rows"][2][:2] == [7, "2023-05-20 00:00:00"]  # a date cell as the roster shows it
    assert campaign.read_roster(roster, cache) == fresh  # from the cache: the same units and warnings

    # the cache is what is read while the file is unchanged ...
    cached["rows"][1][1] = "从缓存读取"
    (cache / campaign.ROSTER_CACHE).write_text(json.dumps(cached, ensure_ascii=False), encoding="utf-8")
    assert campaign.read_roster(roster, cache)[0][0].name == "从缓存读取"
    # ... and never once the file changes
    _roster_xlsx(roster, [["T01", "城关街道（新）"]])
    assert [u.name for u in campaign.read_roster(roster, cache)[0]] == ["城关街道（新）"]
    # a broken cache is parsed around, and rewritten
    (cache / campaign.ROSTER_CACHE).write_bytes(b"{not json")
    assert [u.name for u in campaign.read_roster(roster, cache)[0]] == ["城关街道（新）"]
    assert (
        json.loads((cache / campaign.ROSTER_CACHE).read_text(encoding="utf-8"))["rows"][1][1]
        == "城关街道（新）"
    )


def test_unit_code_is_optional(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "units.csv", [("单位名称",), ("县科协",), ("县气象局",)])
    units = campaign.load_roster(path)
    assert [u.name for u in units] == ["县科协", "县气象局"]
    assert all(u.id.startswith("U") and len(u.id) == 7 for u in units)
    assert units[0].id == campaign.load_roster(path)[0].id  # stable across loads


# -- roster: every error, with its row ---------------------------------------------------------------------------


def test_duplicate_name(tmp_path: Path) -> None:
    path = csv_roster(
        tmp_path,
        ("T01", "青山镇", "", "", "", ""),
        ("T02", "柳河镇", "", "", "", ""),
        ("T03", "青山镇", "", "", "", ""),
    )
    msg = Code.ROSTER_DUPLICATE.format(row=4, what="单位名称", value="青山镇", first_row=2)
    assert roster_errors(path) == [("ROSTER_DUPLICATE", "", msg)]


def test_duplicate_code(tmp_path: Path) -> None:
    path = csv_roster(tmp_path, ("T01", "青山镇", "", "", "", ""), ("T01", "柳河镇", "", "", "", ""))
    msg = Code.ROSTER_DUPLICATE.format(row=3, what="单位编码", value="T01", first_row=2)
    assert roster_errors(path) == [("ROSTER_DUPLICATE", "", msg)]


def test_empty_name(tmp_path: Path) -> None:
    path = csv_roster(tmp_path, ("T01", "青山镇", "", "", "", ""), ("T02", " ", "镇（街道）", "刘洋", "", ""))
    assert roster_errors(path) == [("ROSTER_EMPTY_NAME", "B3", Code.ROSTER_EMPTY_NAME.format(row=3))]


def test_unknown_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "units.csv", [("单位编码", "单位名称", "备注"), ("T01", "青山镇", "")])
    msg = Code.ROSTER_UNKNOWN_COLUMN.format(column="备注", expected=EXPECTED_COLUMNS)
    assert roster_errors(path) == [("ROSTER_UNKNOWN_COLUMN", "C1", msg)]


def test_missing_name_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "units.csv", [("单位编码", "名称"), ("T01", "青山镇")])
    assert roster_errors(path) == [
        (
            "ROSTER_UNKNOWN_COLUMN",
            "B1",
            Code.ROSTER_UNKNOWN_COLUMN.format(column="名称", expected=EXPECTED_COLUMNS),
        ),
        (
            "ROSTER_MISSING_COLUMN",
            "",
            Code.ROSTER_MISSING_COLUMN.format(column="单位名称", expected=EXPECTED_COLUMNS),
        ),
    ]


@pytest.mark.parametrize("code", ["T 01", "T01!", "青山", "X" * 33])
def test_bad_unit_code(tmp_path: Path, code: str) -> None:
    path = csv_roster(tmp_path, ("T00", "柳河镇", "", "", "", ""), (code, "青山镇", "", "", "", ""))
    assert roster_errors(path) == [("ROSTER_BAD_ID", "A3", Code.ROSTER_BAD_ID.format(row=3, value=code))]


def test_bad_email_is_only_a_warning(tmp_path: Path) -> None:
    path = csv_roster(
        tmp_path,
        ("T01", "青山镇", "", "", "", "qingshan@example"),
        ("T02", "柳河镇", "", "", "", "lh@example.org"),
    )
    units = campaign.load_roster(path)  # no error: the forms can still be made
    assert [u.email for u in units] == ["qingshan@example", "lh@example.org"]
    _, warnings = campaign.read_roster(path)
    assert [(f.code.name, f.severity, f.cell, f.message) for f in warnings] == [
        ("ROSTER_BAD_EMAIL", "warning", "F2", Code.ROSTER_BAD_EMAIL.format(row=2, value="qingshan@example"))
    ]


def test_bad_email_warning_is_reported_by_make_forms(config: Path, tmp_path: Path) -> None:
    use_roster(
        config,
        [
            ROSTER_HEADER,
            ("T01", "青山镇", "", "", "", "qingshan@@example.org"),
            ("T02", "柳河镇", "", "", "", ""),
        ],
    )
    report = make.make_forms(config, tmp_path / "forms")
    assert report.ok and len(report.forms) == 2
    assert report.findings.flatten(("code", "severity", "file", "message")) == [
        [
            "ROSTER_BAD_EMAIL",
            "warning",
            "units.csv",
            Code.ROSTER_BAD_EMAIL.format(row=2, value="qingshan@@example.org"),
        ]
    ]


def test_bad_email_warning_names_the_roster_row_after_a_blank_row(config: Path, tmp_path: Path) -> None:
    rows = [
        ROSTER_HEADER,
        ("T01", "青山镇", "", "", "", ""),
        ("", "", "", "", "", ""),
        ("T02", "柳河镇", "", "", "", "bad"),
    ]
    use_roster(config, rows)
    report = make.make_forms(config, tmp_path / "forms")
    assert [f.message for f in report.findings] == [Code.ROSTER_BAD_EMAIL.format(row=4, value="bad")]


def test_all_roster_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = csv_roster(
        tmp_path,
        ("T01", "青山镇", "", "", "", ""),
        ("T02", "", "", "", "", ""),
        ("T 3", "柳河镇", "", "", "", ""),
        ("T04", "青山镇", "", "", "", "no-at-sign"),
    )
    assert [(code, cell) for code, cell, _ in roster_errors(path)] == [
        ("ROSTER_EMPTY_NAME", "B3"),
        ("ROSTER_BAD_ID", "A4"),
        ("ROSTER_DUPLICATE", ""),
        ("ROSTER_BAD_EMAIL", "F5"),
    ]


def test_unreadable_roster(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    path.write_bytes(b"not a workbook")
    with pytest.raises(KepuError) as info:
        campaign.load_roster(path)
    assert [f.code for f in info.value.findings] == [Code.ROSTER_FILE]
    assert str(path) in info.value.findings[0].message
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(KepuError) as info:
        campaign.load_roster(empty)
    assert [f.message for f in info.value.findings] == [
        Code.ROSTER_FILE.format(path=str(empty), error="名单为空")
    ]


# -- kepuxl.toml ------------------------------------------------------------------------------------------------


def config_errors(config: Path) -> list[str]:
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    assert all(f.file == config.name for f in info.value.findings)
    return [f.message for f in info.value.findings]


def test_missing_keys_are_all_named(tmp_path: Path) -> None:
    config = tmp_path / "kepuxl.toml"
    config.write_text("[campaign]\ndeadline = 2023-05-30T17:30:00\n", encoding="utf-8")
    assert config_errors(config) == [
        Code.CAMPAIGN_MISSING.format(table="campaign", key=key) for key in ("title", "form", "roster", "id")
    ]


def test_bad_deadline(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace(
        "deadline = 2023-05-30T17:30:00", 'deadline = "5月30日下午"'
    )
    config.write_text(text, encoding="utf-8")
    assert config_errors(config) == [
        Code.CAMPAIGN_BAD_VALUE.format(
            table="campaign",
            key="deadline",
            value="5月30日下午",
            rule="应为日期时间，如 2023-05-30T17:30:00（不加引号）",
        )
    ]


def test_deadline_as_a_date_means_the_end_of_that_day(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace(
        "deadline = 2023-05-30T17:30:00", "deadline = 2023-05-30"
    )
    config.write_text(text, encoding="utf-8")
    assert str(campaign.load(config).deadline) == "2023-05-30 23:59:59"


def test_missing_deadline_is_reported_as_missing(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace("deadline = 2023-05-30T17:30:00", "")
    config.write_text(text, encoding="utf-8")
    assert config_errors(config) == [Code.CAMPAIGN_MISSING.format(table="campaign", key="deadline")]


def test_bad_campaign_id(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace('id = "qingxi-2023-science-week"', 'id = "青溪 2023"')
    config.write_text(text, encoding="utf-8")
    assert config_errors(config) == [
        Code.CAMPAIGN_BAD_VALUE.format(
            table="campaign", key="id", value="青溪 2023", rule="只能用字母、数字、-、_"
        )
    ]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(KepuError) as info:
        campaign.load(tmp_path / "kepuxl.toml")
    assert [f.message for f in info.value.findings] == [
        Code.CAMPAIGN_NOT_FOUND.format(path=str(tmp_path / "kepuxl.toml"))
    ]


def test_config_with_toml_syntax_error(config: Path) -> None:
    config.write_text('[campaign]\ntitle = "2023年科技活动周\n', encoding="utf-8")
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    assert [f.code for f in info.value.findings] == [Code.CAMPAIGN_SYNTAX]
    assert info.value.findings[0].message.startswith(f"活动配置文件 {config} 第 2 行写法有误：")


def test_config_roster_problems_stop_the_load(config: Path) -> None:
    use_roster(config, [ROSTER_HEADER, ("T01", "", "", "", "", "")])
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    assert [(f.code.name, f.file, f.cell) for f in info.value.findings] == [
        ("ROSTER_EMPTY_NAME", "units.csv", "B2")
    ]


@pytest.mark.parametrize(
    ("target", "error"),
    [("名单.xlsx", "文件不存在"), (".", "这是一个文件夹，不是文件")],
    ids=["missing", "folder"],
)
def test_unreadable_roster_is_named_in_chinese(config: Path, target: str, error: str) -> None:
    # the operating system's own message ("No such file or directory") is English on most machines
    text = config.read_text(encoding="utf-8").replace('roster = "units.xlsx"', f'roster = "{target}"')
    config.write_text(text, encoding="utf-8")
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    path = config.parent / target
    assert [f.message for f in info.value.findings] == [Code.ROSTER_FILE.format(path=str(path), error=error)]
