"""The init job: `kepuxl init DIR` → a ready campaign folder from the bundled sample county.

kepuxl.toml, units.xlsx (from samples/units.csv), a fresh campaign key in .kepuxl/, the editable mail
templates, 打开工作台.bat and an empty inbox/; with `with_returns`, the sample county's returned forms
(sample_returns) in the inbox. It never overwrites anything and refuses to nest a campaign in another.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from importlib import resources
from pathlib import Path

import xlsxwriter

from . import campaign as campaign_mod
from . import spec as spec_mod
from .context import CONFIG_NAME, Context
from .files import safe_name, write_atomic
from .findings import Code, Finding, KepuError
from .mail import install_templates, template_files
from .sample_returns import write_inbox
from .starter import BAT_NAME, write_bat


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
    install_templates(folder)  # 邮件模板.txt, 催报模板.txt, 总结报告模板.txt: the clerk edits the wording
    write_bat(folder)  # 打开工作台.bat: a double-click opens the page (kepuxl serve)
    if with_returns:
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
    names = [CONFIG_NAME, "units.xlsx", f"{campaign_mod.STATE_DIR}/secret"]
    return [folder / n for n in (*names, *template_files().values(), BAT_NAME)]


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
