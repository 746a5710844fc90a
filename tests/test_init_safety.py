"""`kepuxl init` never overwrites a campaign, and does not nest one inside another (init_campaign).

A clerk whose kepuxl.toml went missing runs init again: kepuxl 0.1 wrote a new units.xlsx and a new
key over theirs, and every form already sent then failed with ID_BAD_TOKEN.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kepu_xl.cli import cli
from kepu_xl.findings import Code, KepuError
from kepu_xl.init import init_campaign, init_files

WRITTEN = [
    "kepuxl.toml",
    "units.xlsx",
    ".kepuxl/secret",
    "邮件模板.txt",
    "催报模板.txt",
    "总结报告模板.txt",
    "打开工作台.bat",
]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refusal(folder: Path, **kw) -> list:
    with pytest.raises(KepuError) as info:
        init_campaign(folder, **kw)
    return info.value.findings


def test_the_files_init_writes_are_the_ones_it_checks(tmp_path: Path) -> None:
    folder = tmp_path / "活动"
    init_campaign(folder)
    assert [str(p.relative_to(folder)) for p in init_files(folder)] == [str(Path(n)) for n in WRITTEN]
    assert {p for p in snapshot(folder) if not p.startswith(".kepuxl/roster")} == {
        str(Path(n)) for n in WRITTEN
    }


@pytest.mark.parametrize("name", WRITTEN)
def test_any_one_file_of_a_campaign_stops_init(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "2024科技活动周"
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"the clerk's own file")
    before = snapshot(folder)
    findings = refusal(folder)
    assert [f.message for f in findings] == [
        Code.CAMPAIGN_EXISTS.format(folder=str(folder), files=str(Path(name)))
    ]
    assert snapshot(folder) == before  # nothing written, nothing overwritten


def test_a_campaign_without_its_config_keeps_its_roster_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "2024科技活动周"
    init_campaign(folder)
    (folder / "kepuxl.toml").unlink()  # lost, or renamed by the clerk
    before = snapshot(folder)
    findings = refusal(folder)
    listed = "、".join(str(Path(n)) for n in WRITTEN[1:])
    assert [f.message for f in findings] == [Code.CAMPAIGN_EXISTS.format(folder=str(folder), files=listed)]
    assert snapshot(folder) == before


def test_returns_already_in_the_inbox_are_fine(tmp_path: Path) -> None:
    folder = tmp_path / "活动"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "城关街道.xlsx").write_bytes(b"PK early return")
    init_campaign(folder)
    assert (folder / "inbox" / "城关街道.xlsx").read_bytes() == b"PK early return"


def test_a_campaign_inside_a_campaign_needs_nested(tmp_path: Path) -> None:
    outer = tmp_path / "2024科技活动周"
    init_campaign(outer)
    before = snapshot(outer)
    inner = outer / "output" / "副本"
    assert [f.message for f in refusal(inner)] == [
        Code.CAMPAIGN_NESTED.format(folder=str(inner), outer=str(outer.resolve()))
    ]
    assert snapshot(outer) == before and not inner.exists()
    init_campaign(inner, nested=True)
    assert (inner / "kepuxl.toml").is_file()


def test_the_cli_refuses_init_run_inside_a_campaign_folder(tmp_path: Path, monkeypatch) -> None:
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(cli, ["init", "县活动"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "县活动")
    result = runner.invoke(cli, ["init", "新活动"])
    assert result.exit_code == 3 and not Path("新活动").exists()
    message = Code.CAMPAIGN_NESTED.format(folder="新活动", outer=str((tmp_path / "县活动").resolve()))
    assert "".join(result.stderr.split()) == "无法继续：" + "".join(message.split())
    assert runner.invoke(cli, ["init", "新活动", "--nested"]).exit_code == 0
    # `init .` in the campaign itself: what exists is listed, and nothing changes
    result = runner.invoke(cli, ["init", "."])
    assert (
        result.exit_code == 3
        and "kepuxl.toml" in result.stderr
        and "该文件夹已有活动配置" not in result.stderr
    )
