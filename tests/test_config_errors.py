"""kepuxl.toml as a clerk edits it in Notepad: every mistake explained in Chinese, with its line.

Control characters in [campaign]/[contact]/[mail] text are refused (a newline in sender_name would
start a mail header); a mistyped form name lists the bundled ones; TOML syntax errors name the
likely cause on the offending line; a missing config says where to run from.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kepu_xl import campaign
from kepu_xl.cli import cli
from kepu_xl.context import Context
from kepu_xl.findings import Code, KepuError


def load_errors(config: Path) -> list:
    with pytest.raises(KepuError) as info:
        Context.load(config)
    return info.value.findings


def edit(config: Path, pattern: str, replacement: str) -> None:
    text, n = re.subn(pattern, lambda _: replacement, config.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert n == 1, pattern
    config.write_text(text, encoding="utf-8")


# -- control characters -------------------------------------------------------------------------------------


def test_control_characters_in_config_text_are_refused_naming_table_and_key(config: Path) -> None:
    edit(config, r"^title = .*$", r'title = "2023年科技活动周\n（第二批）"')
    edit(config, r"^name = .*$", r'name = "李\t明"')
    edit(config, r"^sender_name = .*$", r'sender_name = "青溪县科学技术局\r\nBcc: all@example.org"')
    edit(config, r"^subject = .*$", r'subject = ["科技活动周", "统计表\u0085"]')
    findings = load_errors(config)
    assert [(f.code.name, f.file) for f in findings] == [("CAMPAIGN_BAD_VALUE", "kepuxl.toml")] * 4
    bad = Code.CAMPAIGN_BAD_VALUE.format
    rule = "含控制字符（{}）。请写在一行内，删去换行、制表等字符".format
    assert [f.message for f in findings] == [
        bad(table="campaign", key="title", value="2023年科技活动周\\n（第二批）", rule=rule("换行 \\n")),
        bad(table="contact", key="name", value="李\\t明", rule=rule("制表符 \\t")),
        bad(
            table="mail",
            key="sender_name",
            value="青溪县科学技术局\\r\\nBcc: all@example.org",
            rule=rule("回车 \\r、换行 \\n"),
        ),
        bad(table="mail", key="subject", value="科技活动周、统计表\\x85", rule=rule("U+0085")),
    ]
    assert all("\n" not in f.message and "\r" not in f.message for f in findings)


def test_a_title_too_long_for_the_forms_identity_is_refused(config: Path) -> None:
    edit(config, r"^title = .*$", 'title = "' + "科" * 101 + '"')
    assert [f.context["key"] for f in load_errors(config)] == ["title"]


# -- form names ---------------------------------------------------------------------------------------------


def test_a_mistyped_form_name_lists_the_known_ones_closest_first(config: Path) -> None:
    edit(config, r'^form = "science_week"', 'form = "science_weak"')
    assert [f.message for f in load_errors(config)] == [
        Code.CAMPAIGN_UNKNOWN_FORM.format(
            form="science_weak", path=str(config.parent / "science_weak"), known="science_week、science_month"
        )
    ]
    edit(config, r'^form = "science_weak"', 'form = "month"')
    assert load_errors(config)[0].context["known"] == "science_month、science_week"


# -- TOML syntax ------------------------------------------------------------------------------------------------

# what the clerk typed on the title/deadline/... line → (cause, fix) the message must give
MISTAKES = {
    "chinese-quotes": ("title = “2024年科技活动周”", "用了中文引号"),
    "chinese-single-quotes": ("title = ‘2024年科技活动周’", "用了中文引号"),
    "missing-closing-quote": ('title = "2024年科技活动周', "引号不成对"),
    "missing-opening-quote": ('title = 2024年科技活动周"', "引号不成对"),
    "unquoted-text": ("organizer = 青溪县科学技术局", "文字没有加引号"),
    "date-unpadded": ("deadline = 2024-5-30", "日期写法不对"),
    "date-with-slashes": ("deadline = 2024/05/30", "日期写法不对"),
    "time-without-seconds": ("deadline = 2024-05-30T17:30", "日期写法不对"),
    "date-in-chinese": ("deadline = 2024年5月30日", "日期写法不对"),
    "full-width-equals": ('title ＝ "2024年科技活动周"', "等号用了全角"),
    "colon": ('title："2024年科技活动周"', "用了冒号"),
    "chinese-comma": ('subject = ["科技活动周"，"统计表"]', "中文逗号"),
    "windows-path": ('template = "D:\\活动\\邮件模板.txt"', "反斜杠"),
    "capital-true": ("pause = True", "全小写"),
    "number-with-unit": ("pause = 3秒", "文字没有加引号（或数字后面带了文字）"),
    "quotes-in-a-comment": ("pause = 3秒  # 两封“之间”", "文字没有加引号（或数字后面带了文字）"),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_toml_mistakes_are_explained_at_their_line(config: Path, case: str) -> None:
    typed, cause = MISTAKES[case]
    key = re.split("[ =＝：]", typed, maxsplit=1)[0]
    lines = config.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf"#? ?{key} ", line))
    lines[at] = typed
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    (finding,) = info.value.findings
    assert (finding.code, finding.file, finding.context["line"]) == (
        Code.CAMPAIGN_SYNTAX,
        "kepuxl.toml",
        at + 1,
    )
    assert cause in finding.context["cause"], finding.message
    assert finding.context["text"] == typed
    assert finding.message.startswith(f"活动配置文件 {config} 第 {at + 1} 行写法有误：")
    # the parser's English is only the technical tail, after the Chinese explanation
    explanation, tail = finding.message.split("解析器提示：")
    assert finding.context["detail"] in tail and finding.context["detail"] not in explanation


def test_a_key_written_twice_is_found_although_the_parser_gives_no_line(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace("[contact]\n", '[contact]\nname = "王芳"\n', 1)
    config.write_text(text, encoding="utf-8")
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    (finding,) = info.value.findings
    line = text.splitlines().index('name = "李明"') + 1
    assert (finding.context["line"], finding.context["cause"]) == (line, "同一项或同一个表写了两次")


def test_a_config_saved_as_gbk_is_explained(config: Path) -> None:
    config.write_bytes(config.read_text(encoding="utf-8").encode("gbk"))
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    assert [f.message for f in info.value.findings] == [
        Code.CAMPAIGN_FILE.format(
            path=str(config),
            error="文件不是 UTF-8 编码（可能被另存为 ANSI/GBK）。请用记事本打开，“另存为”时编码选 UTF-8",
        )
    ]


def test_a_config_saved_with_a_bom_by_notepad_loads(config: Path) -> None:
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    assert campaign.load(config).title == "2023年科技活动周"


# -- no config here -----------------------------------------------------------------------------------------


def test_running_outside_a_campaign_folder_says_where_to_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["make-forms"])
    assert result.exit_code == 3
    text = "".join(result.stderr.split())
    for hint in ("cd", "-c", "kepuxlinit"):
        assert hint in text, hint
    assert text == "无法继续：" + "".join(Code.CAMPAIGN_NOT_FOUND.format(path="kepuxl.toml").split())
