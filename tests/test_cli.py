"""The `kepuxl` command (kepu_xl/cli.py) through click's CliRunner, in tmp_path.

Exit codes: 0 done, 1 the checked thing has errors, 2 usage error, 3 cannot proceed. `--json -` prints
exactly the library's `to_dict()`. rich wraps long lines at the console width, so messages are compared
with whitespace removed, and the runner gets a wide console for tables.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import ROSTER_HEADER, use_roster

from kepu_xl import make, spec
from kepu_xl.cli import cli
from kepu_xl.findings import Code, dumps

MINI = """
[form]
id = "mini"
version = "1"
title = "迷你统计表"

[[sections]]
title = "基本情况"
  [[sections.fields]]
  id = "a"
  label = "活动次数"
  unit = "次"
  [[sections.fields]]
  id = "b"
  label = "参与人数"
  unit = "人"
"""


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"COLUMNS": "200"})

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, [str(a) for a in args])

    return invoke


# -- init ---------------------------------------------------------------------------------------------------


def test_init_creates_a_campaign_folder(run, tmp_path: Path) -> None:
    result = run("init", "青溪县")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "青溪县"
    assert (folder / "kepuxl.toml").is_file()
    assert (folder / "units.xlsx").read_bytes()[:2] == b"PK"
    assert (folder / "inbox").is_dir() and not any((folder / "inbox").iterdir())
    assert (folder / ".kepuxl" / "secret").is_file()
    assert squash(result.stdout).startswith(squash(f"已创建活动文件夹：{Path('青溪县')}"))
    assert "kepuxl make-forms -c" in result.stdout
    assert result.stderr == ""


def test_init_refuses_to_overwrite(run, tmp_path: Path) -> None:
    assert run("init", "青溪县").exit_code == 0
    config = tmp_path / "青溪县" / "kepuxl.toml"
    config.write_text("# edited by the clerk\n", encoding="utf-8")
    result = run("init", "青溪县")
    assert result.exit_code == 3
    files = "、".join(
        str(Path(p))
        for p in (
            "kepuxl.toml",
            "units.xlsx",
            ".kepuxl/secret",
            "邮件模板.txt",
            "催报模板.txt",
            "总结报告模板.txt",
            "打开工作台.bat",
        )
    )
    message = Code.CAMPAIGN_EXISTS.format(folder="青溪县", files=files)
    assert squash(result.stderr) == squash(f"无法继续：{message}")
    assert result.stdout == ""
    assert config.read_text(encoding="utf-8") == "# edited by the clerk\n"


# -- make-forms ------------------------------------------------------------------------------------------------


@pytest.fixture
def config(run, tmp_path: Path) -> Path:
    assert run("init", "青溪县").exit_code == 0
    return Path("青溪县") / "kepuxl.toml"


@pytest.fixture
def small_config(config: Path) -> Path:
    """Three units, one with a bad e-mail, so that the report has forms and findings (and runs fast)."""
    rows = [
        ROSTER_HEADER,
        ("T01", "城关街道"),
        ("T02", "青山镇", "", "", "", "qingshan-at-example.org"),
        ("D01", "县教育局"),
    ]
    use_roster(config, rows)
    return config


def test_make_forms(run, config: Path, tmp_path: Path) -> None:
    result = run("make-forms", "-c", config, "-o", "forms")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "forms").iterdir())
    assert len(files) == 26 and all(p.suffix == ".xlsx" for p in files)
    assert squash(result.stdout) == squash(
        "2023年科技活动周：已为 26 个单位生成统计表（新增 26，更新 0，未变 0，移除 0）→ forms"
    )
    assert result.stderr == ""


def test_make_forms_default_outdir_and_config(run, small_config: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path / "青溪县")
    result = run("make-forms")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "青溪县" / "output" / "forms").glob("*.xlsx"))) == 3


def test_make_forms_json_equals_the_library_result(run, small_config: Path) -> None:
    result = run("make-forms", "-c", small_config, "-o", "forms", "--json", "-")
    assert result.exit_code == 0, result.output
    shutil.rmtree("forms")  # the library's run then makes the same forms new again
    library = make.make_forms(small_config, Path("forms")).to_dict()
    assert len(library["forms"]) == 3 and len(library["findings"]) == 1
    assert json.loads(result.stdout) == json.loads(dumps(library))
    assert result.stdout == dumps(library) + "\n"  # and nothing else on stdout


def test_make_forms_json_to_a_file(run, small_config: Path, tmp_path: Path) -> None:
    result = run("make-forms", "-c", small_config, "-o", "forms", "--json", "report.json")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    shutil.rmtree("forms")
    assert written == json.loads(dumps(make.make_forms(small_config, Path("forms")).to_dict()))
    assert squash("已为 3 个单位生成统计表") in squash(result.stdout)


def test_make_forms_lists_roster_warnings(run, small_config: Path) -> None:
    result = run("make-forms", "-c", small_config, "-o", "forms")
    assert result.exit_code == 0, result.output
    assert "名单提示" in result.stdout and "ROSTER_BAD_EMAIL" in result.stdout
    assert squash(Code.ROSTER_BAD_EMAIL.format(row=3, value="qingshan-at-example.org")) in squash(
        result.stdout
    )


def test_missing_config_cannot_proceed(run) -> None:
    result = run("make-forms", "-c", "nope.toml")
    assert result.exit_code == 3
    assert squash(result.stderr) == squash("无法继续：" + Code.CAMPAIGN_NOT_FOUND.format(path="nope.toml"))
    assert result.stdout == ""


def test_roster_errors_cannot_proceed(run, config: Path) -> None:
    use_roster(config, [("单位编码", "单位名称"), ("T01", "")])
    result = run("make-forms", "-c", config, "-o", "forms")
    assert result.exit_code == 3
    assert squash(result.stderr) == squash(
        f"无法继续：[units.csv | B2] {Code.ROSTER_EMPTY_NAME.format(row=2)}"
    )


def test_usage_error_exits_2(run) -> None:
    result = run("make-forms", "--no-such-option")
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[-1] == "错误：没有选项 --no-such-option。"
    )  # tests/test_cli_zh.py has more


# -- forms list / forms check ----------------------------------------------------------------------------------


def test_forms_list(run) -> None:
    result = run("forms", "list")
    assert result.exit_code == 0, result.output
    for path in spec.bundled():
        form = spec.load(path)
        row = next(line for line in result.stdout.splitlines() if form.id in line)
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells == [
            form.id,
            form.title,
            form.version,
            str(len(form.fields)),
            str(len(form.rules)),
            path.name,
        ]


def test_forms_check_good_definition(run) -> None:
    path = spec.bundled_dir() / "science_week.toml"
    result = run("forms", "check", path)
    assert result.exit_code == 0, result.output
    assert squash(result.stdout) == squash("定义正确：科技活动周开展情况统计表（18 个指标，9 条审核规则）")
    result = run("forms", "check", path, "--json", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"file": str(path), "ok": True, "findings": []}


def test_forms_check_bad_definition(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(MINI.replace('id = "b"', 'id = "B"').replace('version = "1"\n', ""), encoding="utf-8")
    result = run("forms", "check", bad)
    assert result.exit_code == 1
    assert (
        "bad.toml 的问题" in result.stdout
        and "SPEC_BAD_ID" in result.stdout
        and "定义正确" not in result.stdout
    )
    result = run("forms", "check", bad, "--json", "-")
    assert result.exit_code == 1
    _, findings = spec.check(bad)
    assert json.loads(result.stdout) == {
        "file": str(bad),
        "ok": False,
        "findings": [f.to_dict() for f in findings],
    }
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["SPEC_MISSING", "SPEC_BAD_ID"]


def test_forms_check_missing_file_is_a_usage_error(run) -> None:
    assert run("forms", "check", "nope.toml").exit_code == 2


def test_version(run) -> None:
    result = run("--version")
    assert result.exit_code == 0 and result.stdout == "kepuxl 版本 0.1.0\n"


def test_collect_lists_at_most_forty_missing_units_on_the_terminal(run, config: Path) -> None:
    # a province's first collect: thousands of units have not reported; the terminal names 40
    use_roster(config, [ROSTER_HEADER, *((f"U{i:03d}", f"第{i}号单位") for i in range(1, 61))])
    result = run("collect", config.parent / "inbox", "-c", config)
    assert result.exit_code == 0, result.output
    out = squash(result.output)
    assert "未报单位：第1号单位、第2号单位" in out
    assert "第40号单位……共60个，全部见汇总表的“上报情况”" in out
    assert "第41号单位" not in out
