"""The `kepuxl` command: parse → one library call → render (rich) → exit code.

Exit codes: 0 the run completed; 1 `--strict` and something is wrong; 2 usage error;
3 the run cannot proceed (bad config, unwritable output). No logic lives here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from . import spec as spec_mod
from .findings import Finding, KepuError, Severity, dumps
from .make import CONFIG_NAME, init_campaign, make_forms
from .results import CollectReport

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
SEVERITY_ZH = {
    Severity.ERROR: "[red]错误[/]",
    Severity.WARNING: "[yellow]警告[/]",
    Severity.INFO: "[blue]提示[/]",
}


class Fatal(click.ClickException):
    """The run cannot proceed; exit 3."""

    exit_code = 3

    def show(self, file: Any = None) -> None:
        err.print(f"[red]无法继续：[/]{escape(self.message)}")


def config_option(f: Any) -> Any:
    return click.option(
        "-c",
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=CONFIG_NAME,
        show_default=True,
        help="活动配置文件",
    )(f)


@contextmanager
def fatal_on_error(debug: bool = False) -> Iterator[None]:
    """Library errors become a Chinese message and exit code 3 (`--debug` re-raises)."""
    try:
        yield
    except KepuError as exc:
        if debug:
            raise
        raise Fatal("\n".join(str(f) for f in exc.findings) or str(exc)) from None
    except OSError as exc:
        if debug:
            raise
        raise Fatal(f"{exc.filename or ''} {exc.strerror or exc}") from None


@contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        yield update


def write_json(target: str | None, data: dict[str, Any]) -> None:
    if target == "-":
        click.echo(dumps(data))
    elif target:
        Path(target).write_text(dumps(data), encoding="utf-8")


def findings_table(findings: list[Finding], title: str = "问题清单") -> Table:
    table = Table(title=title, show_lines=False, title_justify="left")
    for name in ("级别", "单位", "位置", "代码", "说明"):
        table.add_column(name, overflow="fold")
    for f in findings:
        where = " ".join(x for x in (f.file, f.location) if x)
        table.add_row(SEVERITY_ZH[f.severity], escape(f.unit), escape(where), f.code.name, escape(f.message))
    return table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kepuxl")
def cli() -> None:
    """kepuxl：科普活动统计表的生成、收集、审核与汇总。

    \b
    Example:
        kepuxl init 示例县 && cd 示例县
        kepuxl make-forms
        kepuxl collect inbox
    """


@cli.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--with-returns", is_flag=True, help="同时在 inbox/ 放入示例县的回执（演示 collect）")
def init_cmd(folder: Path, with_returns: bool) -> None:
    """新建活动文件夹（内置示例县：配置、单位名单、空的 inbox/）。

    \b
    Example:
        kepuxl init 2023科技活动周
    """
    with fatal_on_error():
        config = init_campaign(folder, with_returns=with_returns)
    console.print(f"已创建活动文件夹：{folder}")
    console.print(
        f"  活动配置：{config}\n  单位名单：{folder / 'units.xlsx'}\n  回执收件箱：{folder / 'inbox'}"
    )
    console.print(f"下一步：编辑以上两个文件后，运行 [bold]kepuxl make-forms -c {config}[/]")


@cli.command("make-forms")
@config_option
@click.option(
    "-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), help="输出文件夹（默认 output/forms）"
)
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def make_forms_cmd(config: Path, outdir: Path | None, json_target: str | None, debug: bool) -> None:
    """为名单中每个单位生成一份统计表（单位已预填并锁定）。

    \b
    Example:
        kepuxl make-forms -c kepuxl.toml -o output/forms
    """
    with fatal_on_error(debug), progress_bar("生成统计表") as update:
        report = make_forms(config, outdir, progress=update)
    write_json(json_target, report.to_dict())
    if json_target == "-":
        return
    console.print(f"{report.campaign}：已为 {len(report.forms)} 个单位生成统计表 → {report.outdir}")
    if report.findings.items:
        console.print(findings_table(report.findings.items, "名单提示"))


@cli.group("forms")
def forms_group() -> None:
    """表单定义：查看内置定义、检查自定义定义。"""


@forms_group.command("list")
def forms_list() -> None:
    """列出内置表单定义。

    \b
    Example:
        kepuxl forms list
    """
    table = Table(title="内置表单定义", title_justify="left")
    for name in ("编号", "名称", "版本", "指标数", "审核规则数", "文件"):
        table.add_column(name)
    for path in spec_mod.bundled():
        spec, findings = spec_mod.check(path)
        if spec is None:
            table.add_row(path.stem, f"[red]定义有误（{len(findings)} 处）[/]", "", "", "", str(path))
        else:
            table.add_row(
                spec.id, spec.title, spec.version, str(len(spec.fields)), str(len(spec.rules)), path.name
            )
    console.print(table)


@forms_group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "json_target", metavar="FILE|-", help="把检查结果写成 JSON")
def forms_check(file: Path, json_target: str | None) -> None:
    """检查一个表单定义文件，列出全部问题及位置。有错误时退出码为 1。

    \b
    Example:
        kepuxl forms check forms/science_week.toml
    """
    spec, findings = spec_mod.check(file)
    write_json(
        json_target, {"file": str(file), "ok": spec is not None, "findings": [f.to_dict() for f in findings]}
    )
    if json_target != "-":
        if findings:
            console.print(findings_table(findings, f"{file.name} 的问题"))
        if spec is not None:
            console.print(
                f"[green]定义正确[/]：{spec.title}（{len(spec.fields)} 个指标，{len(spec.rules)} 条审核规则）"
            )
    sys.exit(0 if spec is not None else 1)


def _resolve_config(config: Path | None, inbox: Path | None = None) -> Path:
    """-c if given; else ./kepuxl.toml; else the campaign folder the inbox sits in."""
    if config is not None:
        return config
    here = Path(CONFIG_NAME)
    if here.exists() or inbox is None:
        return here
    beside = inbox.resolve().parent / CONFIG_NAME
    return beside if beside.exists() else here


def render_collect(report: CollectReport) -> None:
    n = report.counts
    console.print(
        f"[bold]{escape(report.campaign.title)}[/] 应报 {n['expected']}，已报 {n['reported']}，"
        f"通过 [green]{n['accepted']}[/]，有警告 [yellow]{n['warnings']}[/]，退回 [red]{n['rejected']}[/]，"
        f"未报 [red]{n['missing']}[/]，逾期 {n['late']}"
    )
    missing = [u.unit.name for u in report.units if u.status == "missing"]
    if missing:
        console.print(f"未报单位：{escape('、'.join(missing))}")
    rejected = [u.unit.name for u in report.units if u.status == "rejected"]
    if rejected:
        console.print(f"退回单位：{escape('、'.join(rejected))}")
    shown = [
        f for f in report.findings if f.severity is not Severity.INFO and f.code.name != "RESOLVE_MISSING"
    ]
    if shown:
        console.print(findings_table(shown[:60]))
        if len(shown) > 60:
            console.print(f"……另有 {len(shown) - 60} 条，见汇总表的“问题清单”。")
    for key, label in (("summary", "汇总表"), ("feedback", "反馈表")):
        if report.outputs.get(key):
            console.print(f"{label}：{escape(report.outputs[key])}")


@cli.command("collect")
@click.argument("inbox", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="活动配置文件（默认 ./kepuxl.toml）",
)
@click.option(
    "-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), help="输出文件夹（默认 output/）"
)
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--strict", is_flag=True, help="有退回或未报单位时退出码为 1")
@click.option("--debug", is_flag=True, hidden=True)
def collect_cmd(
    inbox: Path, config: Path | None, outdir: Path | None, json_target: str | None, strict: bool, debug: bool
) -> None:
    """读取 INBOX 中的全部回执，审核、汇总，生成汇总表和反馈表。

    \b
    Example:
        kepuxl collect inbox -c kepuxl.toml
        kepuxl collect inbox --json report.json --strict
    """
    from .collect import collect

    with fatal_on_error(debug), progress_bar("读取回执") as update:
        report = collect(inbox, _resolve_config(config, inbox), outdir, progress=update)
    write_json(json_target, report.to_dict())
    if json_target != "-":
        render_collect(report)
    sys.exit(1 if strict and not report.ok else 0)


@cli.command("demo")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default="kepuxl-示例县")
def demo_cmd(folder: Path) -> None:
    """用内置示例县走一遍全流程：建文件夹、生成统计表、收集示例回执并汇总。

    \b
    Example:
        kepuxl demo
    """
    from .collect import collect

    with fatal_on_error():
        config = folder / CONFIG_NAME
        if not config.exists():
            init_campaign(folder, with_returns=True)
        forms = make_forms(config)
        console.print(f"① 已为 {len(forms.forms)} 个单位生成统计表 → {escape(str(forms.outdir))}")
        with progress_bar("读取回执") as update:
            report = collect(folder / "inbox", config, progress=update)
    console.print(f"② 已收集示例回执 {len(report.files)} 个文件：")
    render_collect(report)
