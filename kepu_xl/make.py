"""The make-forms job and `init`: campaign folder → one workbook per unit in output/forms/.

Library entry points mirrored by the CLI: `init_campaign(folder)` and `make_forms(config)`.
Both return plain data (or raise `KepuError`); the CLI renders it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import xlsxwriter

from . import campaign as campaign_mod
from . import identity, layout
from . import spec as spec_mod
from .campaign import Campaign, Unit
from .files import safe_name, write_atomic
from .findings import Code, Finding, Findings, KepuError
from .form_template import FormTemplate
from .forms_writer import Prefill, build_form

Progress = Callable[[int, int, str], None]
CONFIG_NAME = "kepuxl.toml"


@dataclass
class Context:
    """Everything needed to make or read forms of one campaign, loaded once."""

    campaign: Campaign
    spec: spec_mod.FormSpec
    cells: layout.CellMap
    secret: bytes
    _template: FormTemplate | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, config: Path, *, create_secret: bool = False) -> Context:
        camp = campaign_mod.load(config)
        spec = spec_mod.load(spec_mod.find(camp.form, camp.folder))
        return cls(camp, spec, layout.build(spec), camp.secret(create=create_secret))

    def password(self, unit: Unit) -> str:
        """The unit's sheet protection password (one per unit unless kepuxl.toml sets one)."""
        return self.campaign.sheet_password(self.secret, unit.id)

    def identity(self, unit: Unit) -> identity.Identity:
        c, s = self.campaign, self.spec
        return identity.stamp(
            self.secret, c.id, c.year, c.title, s.id, s.version, unit.id, self.cells.fingerprint()
        )

    def template(self) -> FormTemplate:
        """The campaign's blank form with placeholders, built on first use (forked workers inherit it)."""
        if self._template is None:
            # only the campaign-wide parts of the identity are used; the password is the placeholder's
            self._template = FormTemplate.build(
                self.spec, self.cells, self.campaign, self.identity(Unit("", "")), self.password
            )
        return self._template

    def form_bytes(
        self, unit: Unit, prefill: Prefill | None = None, problems: list[Finding] | None = None
    ) -> bytes:
        """The unit's form; a blank one comes from the template unless it could differ from a build."""
        stamp, password = self.identity(unit), self.password(unit)
        if prefill is None and not problems:
            template = self.template()
            if template.fallback_reason(unit.name, stamp) is None:
                return template.render(unit.name, stamp, password)
        return build_form(
            self.spec,
            self.cells,
            self.campaign,
            unit,
            stamp,
            password,
            prefill=prefill,
            problems=problems or (),
        )

    def form_name(self, unit: Unit) -> str:
        return f"{unit.seq:02d}_{safe_name(unit.name)}.xlsx"


@dataclass
class FormsReport:
    campaign: str
    outdir: Path
    forms: list[dict[str, Any]] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)

    @property
    def ok(self) -> bool:
        return self.findings.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "outdir": str(self.outdir),
            "forms": self.forms,
            "findings": [f.to_dict() for f in self.findings],
        }


def make_forms(
    config: Path, outdir: Path | None = None, progress: Progress | None = None, *, workers: int | None = None
) -> FormsReport:
    """Write one form per roster unit into `outdir` (default: output/forms/ of the campaign).

    Each form is the campaign's template with the unit's name and identity put in (~1.5 ms; see
    form_template.py), or built by xlsxwriter (~20 ms) when that could differ. Big rosters are
    written by one worker process per core; `workers` overrides that (0: in this process).
    """
    from . import workers as workers_mod

    ctx = Context.load(Path(config), create_secret=True)
    outdir = Path(outdir) if outdir else ctx.campaign.folder / "output" / "forms"
    report = FormsReport(ctx.campaign.title, outdir)
    report.findings.extend(ctx.campaign.warnings)
    units = ctx.campaign.units
    if workers is None:  # xlsxwriter cannot crash the process: small rosters need no pool
        workers = workers_mod.default_workers(len(units)) if len(units) >= 2 * workers_mod.PER_WORKER else 0
    ctx.template()  # built once here: the forked workers inherit it
    update = None
    if progress is not None:

        def update(done: int, total: int, unit: Unit) -> None:
            progress(done, len(units), unit.name)

    written = workers_mod.run(
        units,
        _write_form,
        (ctx, outdir),
        failed=_form_failed,
        workers=workers,
        expected=len(units),
        progress=update,
    )
    for unit, path in zip(units, written, strict=True):
        if isinstance(path, _NotWritten):
            raise KepuError(path.findings or path.text)
        report.forms.append(
            {"unit_id": unit.id, "unit": unit.name, "category": unit.category, "file": str(path)}
        )
    return report


@dataclass(frozen=True)
class _NotWritten:
    """A writer error, carried back from a worker as data (an exception would lose its findings)."""

    findings: list[Finding]
    text: str


def _write_form(unit: Unit, job: tuple[Context, Path]) -> Path | _NotWritten:
    """One unit's form written (atomically) where it belongs."""
    ctx, outdir = job
    try:
        return write_atomic(outdir / ctx.form_name(unit), ctx.form_bytes(unit))
    except KepuError as exc:
        return _NotWritten(exc.findings, str(exc))


def _form_failed(unit: Unit, failure: Any) -> Path:
    raise KepuError(f"生成“{unit.name}”的统计表失败（{failure.detail}）")


# -- init -----------------------------------------------------------------------------------------


def samples_dir() -> Path:
    return Path(str(resources.files("kepu_xl.samples")))


def init_campaign(
    folder: Path, *, with_returns: bool = False, nested: bool = False, form: str | None = None
) -> Path:
    """Create a ready campaign folder from the bundled sample county; returns its kepuxl.toml.

    Nothing is ever overwritten: when any file init writes is there already (a campaign's roster
    and key are what its forms in the field are recognised by), nothing is written. A folder inside
    another campaign's folder is refused unless `nested`. `with_returns` also fills inbox/ with the
    sample county's returned forms. `form` starts the campaign on another definition: a bundled id, or
    a definition file (.toml or a definition workbook), checked first and copied into the folder.
    """
    folder = Path(folder)
    config = folder / CONFIG_NAME
    definition = _init_form(folder, form) if form else None
    if definition is not None and with_returns:
        raise ValueError("the sample returns are made for the sample form only")
    copy = (folder / definition[1],) if definition and definition[0] else ()
    _check_init_target(folder, nested, copy)
    src = samples_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # the key first: created exclusively, it is the one file two racing inits cannot both write
    campaign_mod.new_secret(folder / campaign_mod.STATE_DIR / "secret")
    text = (src / CONFIG_NAME).read_text(encoding="utf-8")
    if definition is not None:
        source, name = definition
        if source is not None:
            shutil.copyfile(source, folder / name)
        text = re.sub(
            r'(?m)^form = "[^"]*"', lambda _: "form = " + json.dumps(name, ensure_ascii=False), text
        )
    write_atomic(config, text.encode("utf-8"))
    write_atomic(folder / "units.xlsx", roster_xlsx(src / "units.csv"))
    inbox = folder / "inbox"
    inbox.mkdir(exist_ok=True)
    from .mail import install_templates

    install_templates(folder)  # 邮件模板.txt, 催报模板.txt: the clerk edits the e-mails' wording there
    if with_returns:
        from .sample_returns import write_inbox

        write_inbox(Context.load(config), inbox)
    return config


def _init_form(folder: Path, form: str) -> tuple[Path | None, str]:
    """(the definition file to copy in, or None for a bundled one; the config's `form =`) of `init --form`.

    The definition is checked first (`KepuError` with its problems); a file keeps its own name, made safe,
    and never one of init's own files."""
    path = spec_mod.find(form)
    spec_mod.load(path)
    if path.parent == spec_mod.bundled_dir():
        return None, path.stem
    name = safe_name(path.stem) + path.suffix.lower()
    reserved = {p.name.casefold() for p in init_files(folder)}
    return path, ("表单定义_" + name if name.casefold() in reserved else name)


def init_files(folder: Path) -> list[Path]:
    """Every file `init_campaign` writes (inbox/ is a folder, and what is in it is left alone)."""
    from .mail import TEMPLATE_FILES

    mail = campaign_mod.MailSettings()
    names = [CONFIG_NAME, "units.xlsx", f"{campaign_mod.STATE_DIR}/secret"]
    return [folder / n for n in (*names, *(getattr(mail, key) for key in TEMPLATE_FILES))]


def _check_init_target(folder: Path, nested: bool, extra: tuple[Path, ...] = ()) -> None:
    """Refuse (changing nothing) a folder holding any file init writes, or one inside a campaign."""
    existing = [p for p in (*init_files(folder), *extra) if p.exists() or p.is_symlink()]
    if existing:
        files = "、".join(str(p.relative_to(folder)) for p in existing)
        raise KepuError(Finding.make(Code.CAMPAIGN_EXISTS, folder=str(folder), files=files))
    if nested:
        return
    outer = next((p for p in folder.resolve().parents if (p / CONFIG_NAME).is_file()), None)
    if outer is not None:
        raise KepuError(Finding.make(Code.CAMPAIGN_NESTED, folder=str(folder), outer=str(outer)))


def roster_xlsx(csv_path: Path) -> bytes:
    """The roster CSV as the .xlsx a clerk edits (header bold, columns wide, first row frozen)."""
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_urls": False}
    )
    ws = wb.add_worksheet("单位名单")
    bold = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    for col, width in enumerate((10, 26, 14, 10, 16, 30)):
        ws.set_column(col, col, width)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            ws.write_string(r, c, value, bold if r == 0 else None)
    ws.freeze_panes(1, 0)
    wb.close()
    return buffer.getvalue()
