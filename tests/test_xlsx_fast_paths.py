"""The speed does not depend on an xlsxwriter release silently: the fast paths rely on its internals, so
pyproject.toml pins xlsxwriter to the versions they were checked against (xlsx_out.VERIFIED_VERSIONS),
and with the installed one every fast path must be on. Their output is checked elsewhere, each against
xlsxwriter's own: test_form_template.py (blank forms) and test_feedback_template.py (feedback forms), part
by part inflated (their zips are spliced: test_splice.py), test_summary_writer.py (FastRowsWorksheet).

To verify a new xlsxwriter: install it, run those tests with it (forcing `xlsx_out.FAST` on), add the
version to VERIFIED_VERSIONS and to the pin.

Also here: one rule for warnings in every workbook kepuxl writes (`xlsx_out.strict_warnings`), and
structure protection (`ProtectedWorkbook`) in every form.
"""

from __future__ import annotations

import io
import re
import tomllib
import warnings
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from packaging.requirements import Requirement

from kepu_xl import merge, spec, summary_writer, xlsx_out
from kepu_xl.campaign import Unit
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.findings import Code, Finding
from kepu_xl.forms_writer import Prefill, build_form
from kepu_xl.spec import find
from kepu_xl.xlsx_out import FAST, VERIFIED_VERSIONS, FastRowsWorksheet, strict_warnings

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_installed_xlsxwriter_is_a_verified_one() -> None:
    assert xlsxwriter.__version__ in VERIFIED_VERSIONS, (
        f"xlsxwriter {xlsxwriter.__version__} is not verified: the forms are built directly (slowly). "
        "Install the version pyproject.toml pins, or verify this one (see this module's docstring)."
    )
    assert FAST


def test_pyproject_pins_exactly_the_verified_versions() -> None:
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    [pin] = [Requirement(d) for d in deps if Requirement(d).name.lower() == "xlsxwriter"]
    assert all(pin.specifier.contains(v) for v in VERIFIED_VERSIONS)
    major, minor, patch = (int(x) for x in max(VERIFIED_VERSIONS).split("."))
    others = [f"{major}.{minor}.{patch + 1}", f"{major}.{minor + 1}.0", f"{major + 1}.0.0", "3.2.0"]
    assert not any(pin.specifier.contains(v) for v in others if v not in VERIFIED_VERSIONS)


def test_every_fast_path_is_on(ctx: Context, direct_builds: list[str]) -> None:
    assert FastRowsWorksheet.fast_rows
    assert xlsx_out._zip_as_zipfile()  # forms zipped without zipfile, as zipfile zips them
    unit = ctx.campaign.units[0]
    ctx.form_bytes(unit)  # blank: from the template
    cell = ctx.cells.fields[ctx.spec.inputs[0].id]
    problem = Finding.make(Code.AUDIT_RULE, message="请核实。", sheet=cell.sheet, cell=cell.a1)
    ctx.form_bytes(unit, Prefill({ctx.spec.inputs[0].id: "约300"}), [problem])  # feedback: from its template
    assert direct_builds == []


def _styles(data: bytes) -> tuple[bytes, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/styles.xml"), z.read("xl/worksheets/sheet1.xml")


def test_a_red_cell_renumbers_no_format(ctx: Context) -> None:
    # xlsxwriter numbers a format where a cell first uses it; a feedback form numbers them up front, so
    # that the template's fixed cells keep their numbers wherever a problem is (here: near the top of the
    # table, or at its last number)
    unit, forms = ctx.campaign.units[0], []
    for cell in (ctx.cells.info["preparer"], ctx.cells.fields[ctx.spec.inputs[-1].id]):
        problem = Finding.make(Code.AUDIT_RULE, message="请核实。", sheet=cell.sheet, cell=cell.a1)
        stamp, password = ctx.identity(unit), ctx.password(unit)
        data = build_form(ctx.spec, ctx.cells, ctx.campaign, unit, stamp, password, problems=[problem])
        forms.append(data)
    assert _styles(forms[0]) == _styles(forms[1])


# -- one rule for warnings, in every writer ------------------------------------------------------------------


def test_strict_warnings_fail_on_a_warning_not_on_a_notice_of_change() -> None:
    with strict_warnings():
        warnings.warn("a deprecation is a notice, not a broken workbook", DeprecationWarning, stacklevel=1)
        with pytest.raises(UserWarning):
            warnings.warn("xlsxwriter: a cell went missing", stacklevel=1)


def _warn_in_set_properties(monkeypatch: pytest.MonkeyPatch, category: type[Warning]) -> None:
    """Every workbook's set_properties first warns (what a newer library could do on any call)."""
    original = xlsxwriter.Workbook.set_properties

    def warned(self, *args, **kwargs):
        warnings.warn("from inside the build", category, stacklevel=1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(xlsxwriter.Workbook, "set_properties", warned)


def _builds(ctx: Context):
    unit = Unit("X01", "某单位")
    report = collect(ctx.campaign.folder / "inbox", ctx.campaign.folder / "kepuxl.toml", write=False)
    return {
        "form": lambda: build_form(ctx.spec, ctx.cells, ctx.campaign, unit, ctx.identity(unit), "pw"),
        "summary": lambda: summary_writer.build_summary(report, merge.frames(report)),
        "definition": lambda: spec.export(find(ctx.campaign.form, ctx.campaign.folder)),
    }


@pytest.mark.parametrize("writer", ["form", "summary", "definition"])
def test_every_writer_fails_on_a_warning_and_not_on_a_deprecation(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    build = _builds(ctx)[writer]
    _warn_in_set_properties(monkeypatch, DeprecationWarning)
    assert build()[:2] == b"PK"
    _warn_in_set_properties(monkeypatch, UserWarning)
    with pytest.raises(UserWarning, match="from inside the build"):
        build()


def test_every_form_locks_its_structure(ctx: Context) -> None:
    for data in (ctx.form_bytes(ctx.campaign.units[0]), ctx.form_bytes(ctx.campaign.units[1], Prefill())):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            book = z.read("xl/workbook.xml")
        assert re.search(rb'<workbookProtection workbookPassword="[0-9A-F]+" lockStructure="1"/>', book)
