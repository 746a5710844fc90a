"""The `kepuxl` command: parse → one library call → render (rich) → exit code.

Exit codes: 0 the run completed; 1 `--strict` and something is wrong; 2 usage error;
3 the run cannot proceed (bad config, unwritable output). No logic lives here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from . import __version__, cli_zh
from .campaign import CONFIG_NAME
from .files import os_error_zh, safe_name
from .findings import KepuError, Severity, dumps
from .terminal import Column, Paragraph, Rows, findings_view, json_for

if TYPE_CHECKING:
    from .results import CollectReport

# The jobs' modules load xlsxwriter, openpyxl, lxml or pandas: each command imports what it runs, so that
# `kepuxl --help` (and a usage error) answers at once (tests/test_imports.py checks it).

cli_zh.install()  # before the commands below are defined: click translates some texts at definition
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
findings_table = findings_view  # findings as a table, or as a list on a narrow terminal


class Fatal(click.ClickException):
    """The run cannot proceed; exit 3."""

    exit_code = 3

    def show(self, file: Any = None) -> None:
        err.print(Paragraph(("无法继续：", "red"), self.message))


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
        raise Fatal(f"{exc.filename or ''} {os_error_zh(exc)}".strip()) from None


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
        click.echo(json_for(sys.stdout, dumps(data)))
    elif target:
        Path(target).write_text(dumps(data), encoding="utf-8")


@click.group(cls=cli_zh.ZhGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--nested", is_flag=True, help="允许在另一个活动文件夹之内新建")
@click.option(
    "--form",
    metavar="定义",
    help="表单定义：内置编号（如 science_month），或定义文件（.xlsx/.toml，先检查再复制进活动文件夹）",
)
def init_cmd(folder: Path, with_returns: bool, nested: bool, form: str | None) -> None:
    """新建活动文件夹（内置示例县：配置、单位名单、空的 inbox/）。已有活动的文件从不覆盖。

    \b
    Example:
        kepuxl init 2023科技活动周
        kepuxl init 2024科普日 --form 科普日定义.xlsx
    """
    from .init import init_campaign

    if form and with_returns:
        raise click.UsageError("--with-returns 的示例回执只适用于内置示例表单，不能与 --form 同用。")
    with fatal_on_error():
        config = init_campaign(folder, with_returns=with_returns, nested=nested, form=form)
    console.print(f"已创建活动文件夹：{folder}")
    console.print(
        f"  活动配置：{config}\n  单位名单：{folder / 'units.xlsx'}\n  回执收件箱：{folder / 'inbox'}"
    )
    console.print(f"下一步：编辑以上两个文件后，运行 [bold]kepuxl make-forms -c {config}[/]")


@cli.command("make-forms")
@config_option
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    help="输出文件夹（默认 output/forms；每次整套替换）",
)
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    help="工作进程数：0 表示在本进程中逐个生成，其他数字表示用这么多个工作进程（默认：单位多时每个 CPU 核一个）",
)
@click.option("--debug", is_flag=True, hidden=True)
def make_forms_cmd(
    config: Path, outdir: Path | None, json_target: str | None, jobs: int | None, debug: bool
) -> None:
    """为名单中每个单位生成一份统计表（单位已预填并锁定）。

    \b
    Example:
        kepuxl make-forms -c kepuxl.toml -o output/forms
    """
    from .make import make_forms

    with fatal_on_error(debug), progress_bar("生成统计表") as update:
        report = make_forms(config, outdir, progress=update, workers=jobs)
    write_json(json_target, report.to_dict())
    if json_target == "-":
        return
    n = report.counts
    console.print(
        f"{escape(report.campaign)}：已为 {len(report.forms)} 个单位生成统计表（新增 {n['new']}，"
        f"更新 {n['replaced']}，未变 {n['unchanged']}，移除 {n['removed']}）→ {escape(str(report.outdir))}"
    )
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
    from . import spec as spec_mod

    columns = [Column("编号", head=True), Column("名称", head=True, flex=True), Column("版本", head=True)]
    columns += [Column("指标数"), Column("审核规则数"), Column("文件", cap=30)]
    rows: list[tuple[str | Text, ...]] = []
    for path in spec_mod.bundled():
        spec, findings = spec_mod.check(path)
        if spec is None:
            rows.append(
                (path.stem, Text(f"定义有误（{len(findings)} 处）", style="red"), "", "", "", str(path))
            )
        else:
            rows.append(
                (spec.id, spec.title, spec.version, str(len(spec.fields)), str(len(spec.rules)), path.name)
            )
    console.print(Rows("内置表单定义", columns, rows))


@forms_group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "json_target", metavar="FILE|-", help="把检查结果写成 JSON")
def forms_check(file: Path, json_target: str | None) -> None:
    """检查一个表单定义文件（.toml 或定义工作簿 .xlsx），列出全部问题及位置（工作簿中为“工作表!单元格”）。
    有错误时退出码为 1。

    \b
    Example:
        kepuxl forms check forms/science_week.toml
        kepuxl forms check 科技活动周.xlsx
    """
    from . import spec as spec_mod

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


@forms_group.command("export")
@click.argument("form", metavar="定义")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="写出的定义工作簿（默认：当前文件夹下的“定义名.xlsx”）",
)
@click.option("--force", is_flag=True, help="覆盖已有的文件")
def forms_export(form: str, output: Path | None, force: bool) -> None:
    """把表单定义（内置编号或定义文件）写成定义工作簿：每个指标、每条规则一行，可在 Excel/WPS 中修改。

    \b
    Example:
        kepuxl forms export science_week -o 科技活动周.xlsx
    """
    from . import spec as spec_mod

    with fatal_on_error():
        path = spec_mod.find(form)
        output = output or Path(safe_name(path.stem) + ".xlsx")
        written = spec_mod.export_to(path, output, overwrite=force)
    console.print(f"已写出定义工作簿：{escape(str(written))}")
    check = f"kepuxl forms check {escape(str(written))}"
    console.print(
        f'修改后用 [bold]{check}[/] 检查；在 kepuxl.toml 中写 form = "{escape(written.name)}" 即可使用。'
    )


@forms_group.command("from-table")
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="写出的定义工作簿（默认：当前文件夹下的“统计表文件名_定义.xlsx”）",
)
@click.option("--force", is_flag=True, help="覆盖已有的定义工作簿")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
def forms_from_table(table: Path, output: Path | None, force: bool, json_target: str | None) -> None:
    """由上级下发的空白统计表（.xlsx/.xls/.ods，或 Word 文档 .docx 中的第一张表）生成表单定义工作簿，
    逐项列出推断出的内容和没能推断、需要补充的内容（都注明单元格）。定义还需补充时退出码为 1。

    \b
    Example:
        kepuxl forms from-table 科技活动周统计表.xlsx -o 科技活动周.xlsx
    """
    from .table_import import from_table

    output = output or Path(safe_name(table.stem + "_定义") + ".xlsx")
    with fatal_on_error():
        report = from_table(table, output, overwrite=force)
    write_json(json_target, report.to_dict())
    if json_target != "-":
        console.print(findings_table(report.findings, f"{table.name} 的导入结果"))
        name = escape(report.output)
        if report.ok:
            console.print(
                f"[green]已写出[/] {name}：{report.fields} 个指标，定义检查通过。下一步：在 kepuxl.toml 中写 "
                f'form = "{escape(output.name)}"，或用 kepuxl init 活动文件夹 --form {name} 新建活动。'
            )
        else:
            console.print(findings_table(report.check, f"{output.name} 还需补充"))
            console.print(
                f"已写出 {name}。请按上表在定义工作簿中补充，然后运行 [bold]kepuxl forms check {name}[/]。"
            )
    sys.exit(0 if report.ok else 1)


def _resolve_config(config: Path | None, inbox: Path | None = None) -> Path:
    """-c if given; else ./kepuxl.toml; else the campaign folder the inbox sits in."""
    if config is not None:
        return config
    here = Path(CONFIG_NAME)
    if here.exists() or inbox is None:
        return here
    beside = inbox.resolve().parent / CONFIG_NAME
    return beside if beside.exists() else here


NAMES_SHOWN = 40  # unit names listed on the terminal (a province may have thousands missing)


def render_collect(report: CollectReport) -> None:
    n = report.counts
    console.print(f"[bold]{escape(report.campaign.title)}[/]：应报 {n['expected']}，已报 {n['reported']}")
    console.print(
        f"通过 [green]{n['accepted']}[/]，有警告 [yellow]{n['warnings']}[/]，"
        f"待核实 [dark_orange]{n['pending']}[/]，退回 [red]{n['rejected']}[/]，未报 [red]{n['missing']}[/]"
    )
    if n["late"] or n["maybe_late"]:
        console.print(f"逾期 {n['late']}" + (f"，可能逾期 {n['maybe_late']}" if n["maybe_late"] else ""))
    for status, label in (("missing", "未报单位"), ("rejected", "退回单位"), ("pending", "待核实单位")):
        names = [u.unit.name for u in report.units if u.status == status]
        if names:
            more = f"……共 {len(names)} 个，全部见汇总表的“上报情况”" if len(names) > NAMES_SHOWN else ""
            console.print(Paragraph(f"{label}：{'、'.join(names[:NAMES_SHOWN])}{more}"))
    shown = [
        f for f in report.findings if f.severity is not Severity.INFO and f.code.name != "RESOLVE_MISSING"
    ]
    if shown:
        console.print(findings_table(shown[:60]))
        if len(shown) > 60:
            console.print(f"……另有 {len(shown) - 60} 条，见汇总表的“问题清单”。")
    for key, label in (("summary", "汇总表"), ("feedback", "反馈表"), ("report", "总结报告")):
        if report.outputs.get(key):
            console.print(f"{label}：{escape(report.outputs[key])}")
    if n["pending"]:
        console.print(
            "待核实单位的数据未计入合计。核实后（如电话核实）运行："
            '[bold]kepuxl confirm 单位名称 --note "核实情况"[/]，再重新汇总；'
            "或请单位在“情况说明”中写明原因后重报。"
        )


@cli.command("collect")
@click.argument("inbox", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="活动配置文件（默认 ./kepuxl.toml）",
)
@click.option("-o", "--outdir", type=click.Path(path_type=Path), help="输出文件夹（默认 output/）")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--strict", is_flag=True, help="有待核实、退回或未报单位时退出码为 1")
@click.option(
    "--report",
    "report_doc",
    is_flag=True,
    help="同时生成“总结报告（数据部分）”Word 文档（文字来自活动文件夹里的 总结报告模板.txt，可修改）",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    help="读取回执的工作进程数：0 表示在本进程中逐个读取（不隔离崩溃，仅供排查问题），其他数字表示用这么多个工作进程"
    "（默认：回执多时每个 CPU 核一个）",
)
@click.option("--debug", is_flag=True, hidden=True)
def collect_cmd(
    inbox: Path,
    config: Path | None,
    outdir: Path | None,
    json_target: str | None,
    strict: bool,
    report_doc: bool,
    jobs: int | None,
    debug: bool,
) -> None:
    """读取 INBOX 中的全部回执，审核、汇总，生成汇总表和反馈表。

    \b
    Example:
        kepuxl collect inbox -c kepuxl.toml
        kepuxl collect inbox --json report.json --strict
        kepuxl collect inbox --report
    """
    from .collection import collect

    with fatal_on_error(debug), progress_bar("读取回执") as update:
        report = collect(
            inbox,
            _resolve_config(config, inbox),
            outdir,
            progress=update,
            workers=jobs,
            report_doc=report_doc,
        )
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
    from .collection import collect
    from .init import init_campaign
    from .make import make_forms

    with fatal_on_error():
        config = folder / CONFIG_NAME
        if not config.exists():  # the demo may sit in a campaign folder: it is a sample, not a campaign
            init_campaign(folder, with_returns=True, nested=True)
        forms = make_forms(config)
        console.print(f"① 已为 {len(forms.forms)} 个单位生成统计表 → {escape(str(forms.outdir))}")
        with progress_bar("读取回执") as update:
            report = collect(folder / "inbox", config, progress=update)
    console.print(f"② 已收集示例回执 {len(report.files)} 个文件：")
    render_collect(report)


@cli.command("confirm")
@click.argument("units", nargs=-1, metavar="[单位名称或编码]...")
@config_option
@click.option("--note", help="核实情况（必填），如“电话核实，确为5万元”")
@click.option("--list", "list_only", is_flag=True, help="列出已核实的单位")
@click.option("--undo", is_flag=True, help="撤销这些单位的核实")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def confirm_cmd(
    units: tuple[str, ...],
    config: Path,
    note: str | None,
    list_only: bool,
    undo: bool,
    json_target: str | None,
    debug: bool,
) -> None:
    """记录对待核实单位的核实（单位名称或单位编码，可写多个）。无法核实的单位退出码为 1。

    核实记入 .kepuxl/ledger.sqlite（时间、说明、所核实文件的指纹），下次 kepuxl collect 时
    该单位的数据计入合计；单位重报新文件后，需要重新核实。

    \b
    Example:
        kepuxl confirm 白沙镇 --note "电话核实，确为5万元"
        kepuxl confirm --list
        kepuxl confirm 白沙镇 --undo
    """
    from . import confirmation as confirm_mod

    if not list_only and not units:
        raise click.UsageError("请写出要核实的单位名称或单位编码，或用 --list 查看已核实的单位。")
    if not list_only and not undo and not (note or "").strip():
        raise click.UsageError('请用 --note 写明核实情况，例如 --note "电话核实，确为5万元"。')
    with fatal_on_error(debug):
        if list_only:
            report = confirm_mod.standing(config)
        elif undo:
            report = confirm_mod.undo(config, units)
        else:
            report = confirm_mod.confirm(config, units, note or "")
    write_json(json_target, report.to_dict())
    if json_target != "-":
        render_confirm(report, list_only)
    sys.exit(0 if report.ok else 1)


def render_confirm(report: Any, list_only: bool) -> None:
    words = {"confirmed": "[green]已核实[/]", "undone": "已撤销核实", "refused": "[red]未记录[/]"}
    for item in report.items:
        unit = item.unit.name if item.unit else item.name
        console.print(
            f"{escape(unit)}：{words[item.outcome]}" + (f"（{escape(item.file)}）" if item.file else "")
        )
    if report.findings.items:
        console.print(findings_table(report.findings.items, "提示"))
    if list_only or not report.items:
        columns = (Column("单位", head=True), Column("核实时间", head=True), Column("说明", flex=True))
        rows = [(unit.name, f"{c.at:%Y-%m-%d %H:%M}", c.note) for unit, c in report.standing]
        console.print(
            Rows(
                f"已核实的单位（{len(report.standing)} 个）",
                (*columns, Column("文件 SHA-256")),
                [(*r, c.sha256[:12]) for r, (_, c) in zip(rows, report.standing, strict=True)],
            )
        )
    elif any(i.outcome in ("confirmed", "undone") for i in report.items):
        console.print("重新汇总后生效：kepuxl collect inbox")


def render_report_up(report: Any) -> None:
    ident, n = report.upper.identity, report.counts
    console.print(f"已填好上级的统计表：{escape(str(report.output))}")
    console.print(
        f"上级活动：{escape(ident.title)}，本单位：{escape(report.upper.unit_name)}；"
        f"填入 {len(report.values)} 项指标（计入合计的单位 {n['accepted'] + n['warnings']} 个，应报 {n['expected']} 个），"
        f"活动明细 {report.detail.get('written', 0)}/{report.detail.get('rows', 0)} 项，下级单位表 {report.subunits} 行"
    )
    if report.document:
        console.print(f"总结报告（数据部分）：{escape(str(report.document))}")
    if report.pending:
        console.print(Paragraph(f"待核实、未计入：{'、'.join(report.pending)}（已写入情况说明）"))
    shown = [f for f in report.findings if f.severity is not Severity.INFO]
    if shown:
        console.print(findings_table(shown))
    if report.mail:
        console.print(f"上报邮件草稿：{escape(report.mail['file'])}（收件人 {escape(report.mail['to'])}）")
        console.print(f"发送：kepuxl send {escape(str(Path(report.mail['file']).parent))}")


@cli.command("report-up")
@click.argument("upper_form", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@click.option(
    "-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), help="输出文件夹（默认 output/）"
)
@click.option(
    "--include-pending",
    is_flag=True,
    help="有待核实单位时仍上报已确认的数据（这些单位未计入，情况说明中写明）",
)
@click.option("--mail", "make_mail", is_flag=True, help="同时生成发给上级的邮件草稿（output/邮件/上报/）")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def report_up_cmd(
    upper_form: Path,
    config: Path,
    outdir: Path | None,
    include_pending: bool,
    make_mail: bool,
    json_target: str | None,
    debug: bool,
) -> None:
    """把本活动已确认的汇总数据填入上级下发的统计表 UPPER_FORM，写到 output/上报/（文件名不变），上级直接汇总。

    按指标编号逐项填写（编号不同时在 kepuxl.toml 的 [report_up.map] 中写明）；活动明细列出各单位的活动并注明单位；
    情况说明自动生成；另附“下级单位”表，列出本活动每个单位的数据；旁边写出总结报告（数据部分）.docx。
    有待核实单位时不上报，除非加 --include-pending。

    \b
    Example:
        kepuxl report-up 2023年科技活动周开展情况统计表（青溪县）.xlsx
        kepuxl report-up 上级统计表.xlsx --mail
        kepuxl send output/邮件/上报
    """
    from .upward import report_up

    with fatal_on_error(debug), progress_bar("读取本级回执") as update:
        report = report_up(
            upper_form, config, outdir, include_pending=include_pending, mail=make_mail, progress=update
        )
    write_json(json_target, report.to_dict())
    if json_target != "-":
        render_report_up(report)


@cli.command("serve")
@config_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="端口（默认由系统选一个空闲端口）")
@click.option("--no-browser", is_flag=True, help="不自动打开浏览器（只打印网址）")
@click.option("--debug", is_flag=True, hidden=True)
def serve_cmd(config: Path, port: int, no_browser: bool, debug: bool) -> None:
    """在本机打开工作台网页：看谁已上报、放入收到的文件、汇总、核实、催报、下载汇总表。按 Ctrl-C 停止。

    只监听 127.0.0.1（其他电脑无法访问），网址带本次运行的随机口令。

    \b
    Example:
        kepuxl serve
        kepuxl serve --port 8765 --no-browser
    """
    from .campaign import load

    with fatal_on_error(debug):
        folder = load(config).folder
        from .web.server import serve, write_bat

        bat = write_bat(folder)

        def ready(url: str) -> None:
            console.print(f"工作台已启动：[bold]{escape(url)}[/]", soft_wrap=True)  # one line: copyable
            console.print("请用浏览器打开上面的网址（已自动打开时不必再开）。按 Ctrl-C 停止。")
            if bat is not None:
                console.print(f"以后可双击 {escape(str(bat))} 打开工作台。", soft_wrap=True)
            sys.stdout.flush()  # a pipe (a test, a launcher) reads the address now, not at exit

        serve(config, port=port, open_browser=not no_browser, ready=ready)
    console.print("工作台已停止。")


# -- e-mail: drafts, send, fetch, remind ------------------------------------------------------------

SEND_ZH = {
    "sent": Text("已发送", style="green"),
    "failed": Text("失败", style="red"),
    "skipped": Text("跳过"),
    "dry-run": Text("将发送", style="blue"),
    "not-attempted": Text("未发送", style="yellow"),
}


def _mail_password(config: Path, *needed: str) -> str:
    """The password (QQ/163: the authorization code): the environment variable named in [mail], else a
    hidden prompt on a terminal. Never stored. The `needed` [mail] keys are checked first, so a clerk
    is not asked for a password only to hear that the server is not set."""
    import os

    from .campaign import load
    from .mail import require_settings

    with fatal_on_error():
        mail = load(config).mail
        require_settings(mail, *needed)
    value = os.environ.get(mail.password_env, "")
    if value:
        return value
    if not sys.stdin.isatty():
        raise Fatal(
            f"未设置环境变量 {mail.password_env}。请先设置邮箱密码（QQ/163 邮箱为授权码），或在终端中运行以便输入。"
        )
    user = mail.smtp_user or mail.login_imap
    return click.prompt(f"邮箱 {user} 的密码/授权码（输入时不显示）", hide_input=True, err=True)


def render_drafts(report: Any, what: str) -> None:
    console.print(
        f"{escape(report.campaign)}：已生成{what} {len(report.drafts)} 封 → {escape(str(report.outdir))}"
    )
    if report.findings.items:
        console.print(findings_table(report.findings.items, "提示"))


def render_send(report: Any) -> None:
    columns = (Column("单位", cap=14, head=True), Column("收件人", cap=30), Column("结果", head=True))
    rows = [
        (item.unit, item.to, SEND_ZH[item.outcome], item.finding.message if item.finding else item.subject)
        for item in report.items
    ]
    title = "发送结果" if not report.dry_run else "将发送的邮件（演练，未发送）"
    console.print(Rows(title, (*columns, Column("说明", flex=True)), rows))
    n = report.counts
    if report.dry_run:
        console.print(
            f"演练：将发送 {n['dry-run']} 封，跳过 {n['skipped']} 封（此前已发送），草稿有误 {n['failed']} 封"
        )
    else:
        console.print(
            f"已发送 [green]{n['sent']}[/] 封，失败 [red]{n['failed']}[/] 封，跳过 {n['skipped']} 封（此前已发送），"
            f"未发送 {n['not-attempted']} 封"
        )
        if n["failed"] or n["not-attempted"]:
            console.print("排除问题后再次运行 kepuxl send，只会补发未成功的邮件。")


@cli.group("mail")
def mail_group() -> None:
    """邮件：生成下发邮件草稿、检查邮箱设置（发送用 kepuxl send，收取用 kepuxl fetch）。"""


@mail_group.command("drafts")
@config_option
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="草稿文件夹（默认 output/邮件/统计表）",
)
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def mail_drafts_cmd(config: Path, outdir: Path | None, json_target: str | None, debug: bool) -> None:
    """为每个单位生成一封下发邮件（.eml，附本单位统计表），正文来自 邮件模板.txt。

    草稿可直接用 Outlook 打开发送，或用 kepuxl send 批量发送。

    \b
    Example:
        kepuxl mail drafts
        kepuxl send --dry-run
    """
    from .mail import make_drafts

    with fatal_on_error(debug), progress_bar("生成邮件草稿") as update:
        report = make_drafts(config, outdir, progress=update)
    write_json(json_target, report.to_dict())
    if json_target != "-":
        render_drafts(report, "邮件草稿")


@mail_group.command("check")
@config_option
@click.option("--debug", is_flag=True, hidden=True)
def mail_check_cmd(config: Path, debug: bool) -> None:
    """登录 kepuxl.toml 中设置的发件（SMTP）和收件（IMAP）服务器，检查设置和授权码。失败时退出码为 1。

    \b
    Example:
        KEPUXL_MAIL_PASSWORD=授权码 kepuxl mail check
    """
    from .mail import check_servers

    password = _mail_password(config)
    with fatal_on_error(debug):
        rows = check_servers(config, password=password)
    columns = (Column("服务器", cap=30, head=True), Column("结果", head=True), Column("说明", flex=True))
    ok = {True: Text("正常", style="green"), False: Text("失败", style="red")}
    cells = [(row["server"], ok[row["ok"] == "是"], row["message"]) for row in rows]
    console.print(Rows("邮箱设置检查", columns, cells))
    sys.exit(0 if all(r["ok"] == "是" for r in rows) else 1)


@cli.command("send")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), required=False)
@config_option
@click.option("--dry-run", is_flag=True, help="只列出将发送的邮件，不连接服务器")
@click.option("--resend", is_flag=True, help="草稿重新生成后，对已发过统计表的单位再发一次")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def send_cmd(
    folder: Path | None, config: Path, dry_run: bool, resend: bool, json_target: str | None, debug: bool
) -> None:
    """通过 SMTP 发送 FOLDER 中的邮件草稿（默认 output/邮件/统计表）。有发送失败时退出码为 1。

    密码从 kepuxl.toml 中 password_env 指定的环境变量读取（默认 KEPUXL_MAIL_PASSWORD），没有则提示输入，
    从不保存。已发送的邮件记入 .kepuxl/ledger.sqlite，再次运行只补发未成功的。

    \b
    Example:
        kepuxl send --dry-run
        kepuxl send
        kepuxl send output/邮件/催报-20230529
    """
    from .mail import send_drafts

    password = "" if dry_run else _mail_password(config, "smtp_host", "smtp_user")
    with fatal_on_error(debug), progress_bar("发送邮件") as update:
        report = send_drafts(
            config, folder, password=password, dry_run=dry_run, resend=resend, progress=update
        )
    write_json(json_target, report.to_dict())
    if json_target != "-":
        render_send(report)
    sys.exit(0 if report.ok else 1)


@cli.command("fetch")
@click.argument("inbox", type=click.Path(file_okay=False, path_type=Path), required=False)
@config_option
@click.option("--folder", help="邮箱文件夹（默认 kepuxl.toml 的 imap_folder）")
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="只下载此日期以后的邮件，如 2023-05-20"
)
@click.option("--subject", "subjects", multiple=True, help="只下载主题含此词的邮件（可多次给出）")
@click.option("--all", "all_subjects", is_flag=True, help="不按主题筛选")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def fetch_cmd(
    inbox: Path | None,
    config: Path,
    folder: str | None,
    since: Any,
    subjects: tuple[str, ...],
    all_subjects: bool,
    json_target: str | None,
    debug: bool,
) -> None:
    """从 IMAP 邮箱下载新邮件到 INBOX/邮件/（默认活动文件夹的 inbox），每封只下载一次。

    只读打开邮箱，不改动任何邮件（也不标为已读）。下载后运行 kepuxl collect inbox。

    \b
    Example:
        kepuxl fetch
        kepuxl fetch --since 2023-05-20 --subject 科技活动周
    """
    from .mail import fetch

    password = _mail_password(config, "imap_host", "imap_user")
    words = () if all_subjects else (subjects or None)
    with fatal_on_error(debug), progress_bar("下载邮件") as update:
        report = fetch(
            config,
            inbox,
            password=password,
            folder=folder,
            since=since.date() if since else None,
            subject=words,
            progress=update,
        )
    write_json(json_target, report.to_dict())
    if json_target != "-":
        n = report.counts
        new = [m for m in report.messages if m.outcome == "fetched"]
        if new:
            columns = (Column("时间", head=True), Column("发件人", cap=30), Column("主题", flex=True))
            rows = [(f"{m.date:%m-%d %H:%M}" if m.date else "", m.sender, m.subject) for m in new]
            console.print(Rows("新下载的邮件", columns, rows))
        console.print(
            f"{escape(report.server)}“{escape(report.folder)}”：新下载 [green]{n['fetched']}[/] 封 → "
            f"{escape(str(report.inbox / '邮件'))}，已下载过 {n['already']} 封，主题不符 {n['filtered']} 封，"
            f"本机发出 {n['own']} 封"
        )
        if report.findings.items:
            console.print(findings_table(report.findings.items, "下载问题"))
        if new:
            console.print(f"下一步：kepuxl collect {escape(str(report.inbox))}")
    sys.exit(0 if report.ok else 1)


@cli.command("remind")
@click.argument("inbox", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False)
@config_option
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), help="草稿文件夹")
@click.option("--send", "send_now", is_flag=True, help="生成后立即发送")
@click.option("--json", "json_target", metavar="FILE|-", help="把结果写成 JSON（- 表示输出到屏幕）")
@click.option("--debug", is_flag=True, hidden=True)
def remind_cmd(
    inbox: Path | None,
    config: Path,
    outdir: Path | None,
    send_now: bool,
    json_target: str | None,
    debug: bool,
) -> None:
    """给未报、被退回和待核实的单位生成催报邮件（退回、待核实的附反馈表和问题清单），可加 --send 直接发送。

    先按 INBOX（默认活动文件夹的 inbox）收集一遍，正文来自 催报模板.txt。

    \b
    Example:
        kepuxl remind
        kepuxl remind --send
    """
    from .mail import send_drafts
    from .remind import make_reminders

    password = _mail_password(config, "smtp_host", "smtp_user") if send_now else ""
    with fatal_on_error(debug), progress_bar("生成催报邮件") as update:
        report = make_reminders(config, inbox, outdir, progress=update)
    data: dict[str, Any] = {"drafts": report.to_dict()}
    sent = None
    if send_now and report.drafts:
        with fatal_on_error(debug), progress_bar("发送邮件") as update:
            sent = send_drafts(config, report.outdir, password=password, progress=update)
        data["send"] = sent.to_dict()
    write_json(json_target, data)
    if json_target != "-":
        statuses = [d["status"] for d in report.drafts]
        render_drafts(
            report,
            f"催报邮件（未报 {statuses.count('missing')}，退回 {statuses.count('rejected')}，"
            f"待核实 {statuses.count('pending')}）",
        )
        if sent is not None:
            render_send(sent)
        elif report.drafts:
            console.print(f"发送：kepuxl send {escape(str(report.outdir))}")
    sys.exit(0 if sent is None or sent.ok else 1)
