"""Blank forms from the template: the workbook `build_form` makes, for both bundled forms — the same zip
members with the same metadata and, inflated, the same bytes (helpers.zip_differences; the template's
parts are compressed differently, spliced from runs deflated once per campaign).

Every name is checked against a direct build. Names the template cannot reproduce (xlsxwriter would
escape, clip or de-duplicate them) must take the direct build, which a spy on `context.build_form` sees.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from conftest import init_sample
from helpers import zip_differences

from kepu_xl import identity, make, reader
from kepu_xl.campaign import Unit
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.form_template import NAME, TOKEN, UNIT, FormTemplate
from kepu_xl.forms_writer import Prefill, _legacy_hash, build_form

FORMS = ("science_week", "science_month")

# the template gives these (no reason to fall back)
TEMPLATED = [
    "县教育局",
    "Qingxi County No.1 Middle School",
    "青溪县第一中学（高中部）",
    'A&B <Lab> "Q" \'s',
    "&amp; &lt;b&gt; ]]>",  # already looks escaped: escaped again, like any text
    "😀科普𠀀𝔘nit 🇨🇳",  # astral characters
    "长" * 5000,
    "第一行\n第二行\t制表",  # inner newline and tab are kept as they are
    "Dept_A x0041_ _x004",  # underscores without a whole _xHHHH_ sequence
    "<r>只在开头",
    "填报单位甲",  # contains a label, equals none
    UNIT,  # the text of a placeholder itself is not replaced again
]

# name → a fragment of the reason the direct build is taken
FALLBACK = {
    "填报单位": "equals another text",
    "单位（盖章）": "equals another text",
    "自查项目": "equals another text",
    " 前导空格": "whitespace",
    "尾随空格 ": "whitespace",
    "\u3000全角空格": "whitespace",
    "换行结尾\n": "whitespace",
    "控制\x01字符": "characters a cell drops",
    "回车\r符": "characters a cell drops",
    "非字符\uffff": "characters a cell drops",
    "_x0041_": "_xHHHH_",
    "前_x00e9_后": "_xHHHH_",
    "<r>富文本</r>": "rich-text",
    "": "empty",
    "长" * 17_000: "clip",
}


@pytest.fixture(scope="module", params=FORMS)
def form_ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Context:
    folder = init_sample(tmp_path_factory.mktemp(request.param) / "青溪县")
    config = folder / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    config.write_text(
        re.sub(r'(?m)^form = "science_week"', f'form = "{request.param}"', text), encoding="utf-8"
    )
    ctx = Context.load(config)
    assert ctx.spec.id == request.param
    return ctx


def direct(ctx: Context, unit: Unit) -> bytes:
    return build_form(ctx.spec, ctx.cells, ctx.campaign, unit, ctx.identity(unit), ctx.password(unit))


def test_the_template_gives_the_same_parts_as_a_build(form_ctx: Context, direct_builds: list[str]) -> None:
    template = form_ctx.template()
    assert template.problem is None
    for n, name in enumerate(TEMPLATED):
        unit = Unit(f"X{n:02d}", name)
        assert template.fallback_reason(name, form_ctx.identity(unit)) is None, name
        assert zip_differences(form_ctx.form_bytes(unit), direct(form_ctx, unit)) == [], name
    assert direct_builds == []


def test_every_roster_unit_gets_the_same_parts(form_ctx: Context, direct_builds: list[str]) -> None:
    for unit in form_ctx.campaign.units:
        assert zip_differences(form_ctx.form_bytes(unit), direct(form_ctx, unit)) == [], unit.name
    assert direct_builds == []


@pytest.mark.parametrize("name", FALLBACK, ids=lambda name: repr(name[:12]))
def test_names_that_could_differ_are_built_directly(
    form_ctx: Context, direct_builds: list[str], name: str
) -> None:
    unit = Unit("X99", name)
    reason = form_ctx.template().fallback_reason(name, form_ctx.identity(unit))
    assert reason is not None and FALLBACK[name] in reason
    assert form_ctx.form_bytes(unit) == direct(form_ctx, unit)  # built directly: the very bytes
    assert direct_builds == [name]


def test_every_label_of_the_form_as_a_name_is_built_directly(
    form_ctx: Context, direct_builds: list[str]
) -> None:
    labels = list(dict.fromkeys(text for _, text in form_ctx.cells.labels))
    for label in labels:
        unit = Unit("X98", label)
        assert zip_differences(form_ctx.form_bytes(unit), direct(form_ctx, unit)) == [], label
    # a label printed on two lines is another string than the name: the template gives the same parts
    with zipfile.ZipFile(io.BytesIO(form_ctx.template().render(NAME, form_ctx.template().identity))) as z:
        strings = z.read("xl/sharedStrings.xml").decode()
    verbatim = [label for label in labels if f"<t>{label}</t>" in strings]
    assert direct_builds == verbatim and len(verbatim) >= len(labels) - 4


@pytest.mark.parametrize(
    ("unit_id", "name", "why"),
    [
        ("D77", "D77", "equals another text"),  # id and name would share one string
        ("unit", "某单位", "equals another text"),  # a key of the _meta sheet
        ("science_week", "某单位", "equals another text"),  # the form id on _meta (week campaigns)
        (" D77", "某单位", "unit id: leading or trailing whitespace"),
        ("D" * 300, "某单位", "255 characters"),
    ],
)
def test_identities_that_could_differ_are_built_directly(
    form_ctx: Context, direct_builds: list[str], unit_id: str, name: str, why: str
) -> None:
    unit = Unit(unit_id, name)
    reason = form_ctx.template().fallback_reason(name, form_ctx.identity(unit))
    if unit_id == "science_week" and form_ctx.spec.id != unit_id:
        assert reason is None  # the month form does not carry that text
        assert zip_differences(form_ctx.form_bytes(unit), direct(form_ctx, unit)) == []
        return
    assert reason is not None and why in reason
    if len(unit_id) > 255:  # xlsxwriter warns, the writer turns warnings into errors: both ways fail alike
        with pytest.raises(UserWarning):
            form_ctx.form_bytes(unit)
    else:
        assert form_ctx.form_bytes(unit) == direct(form_ctx, unit)
    assert direct_builds == [name]


def test_each_unit_gets_its_own_sheet_password_from_the_template(
    form_ctx: Context, direct_builds: list[str]
) -> None:
    units = form_ctx.campaign.units[:8]
    hashes = set()
    for unit in units:
        data = form_ctx.form_bytes(unit)
        assert zip_differences(data, direct(form_ctx, unit)) == [], unit.name
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            found = {
                h for name in z.namelist() for h in re.findall(rb'[pP]assword="([0-9A-F]+)"', z.read(name))
            }
        assert found == {_legacy_hash(form_ctx.password(unit)).encode()}, unit.name
        hashes |= found
    assert len(hashes) == len(units) and direct_builds == []


def test_a_password_from_the_config_is_templated_too(tmp_path: Path, direct_builds: list[str]) -> None:
    config = init_sample(tmp_path / "青溪县") / CONFIG_NAME
    text = config.read_text(encoding="utf-8").replace('# password = ""', 'password = "qx2023"')
    config.write_text(text, encoding="utf-8")
    ctx = Context.load(config)
    assert ctx.template().problem is None
    for unit in ctx.campaign.units[:4]:
        assert ctx.password(unit) == "qx2023", unit.name
        assert zip_differences(ctx.form_bytes(unit), direct(ctx, unit)) == [], unit.name
    assert direct_builds == []


def test_feedback_forms_are_built_directly(form_ctx: Context, direct_builds: list[str]) -> None:
    unit = form_ctx.campaign.units[0]
    form_ctx.form_bytes(unit, Prefill())
    form_ctx.form_bytes(unit, problems=[])  # no problems and no prefill: a blank form
    assert direct_builds == [unit.name]


def test_an_identity_of_another_campaign_is_not_templated(form_ctx: Context) -> None:
    unit = form_ctx.campaign.units[0]
    other = replace(form_ctx.identity(unit), layout="0123456789ab")
    assert (
        form_ctx.template().fallback_reason(unit.name, other)
        == "identity of another campaign, form or layout"
    )


def _rewrite(data: bytes, member: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, change(body) if info.filename == member else body)
    return out.getvalue()


@pytest.mark.parametrize(
    ("member", "change", "why"),
    [
        (
            "xl/worksheets/sheet1.xml",
            lambda b: b.replace(b"</sheetData>", NAME.encode() + b"</sheetData>"),
            "in xl/worksheets/sheet1.xml",
        ),
        ("docProps/custom.xml", lambda b: b.replace(TOKEN.encode(), b""), "in docProps/custom.xml"),
        (
            "docProps/core.xml",
            lambda b: b.replace(b"<dc:title>", b'<dc:title x="' + NAME.encode() + b'">'),
            "inside a tag",
        ),
        ("docProps/core.xml", lambda b: b.replace(NAME.encode(), b"_" + NAME.encode()), "_xHHHH_ character"),
        (  # a protection element without the placeholder's hash: the unit's could not be put in
            "xl/worksheets/sheet2.xml",
            lambda b: re.sub(rb' password="[0-9A-F]+"', b"", b),
            "password hashes in",
        ),
        (
            "xl/workbook.xml",
            lambda b: re.sub(rb'workbookPassword="[0-9A-F]+"', b'workbookPassword="1"', b),
            "different password hashes",
        ),
    ],
)
def test_a_template_with_misplaced_placeholders_is_never_used(
    form_ctx: Context, member: str, change, why: str
) -> None:
    good = form_ctx.template()
    data = _rewrite(good.render(NAME, good.identity), member, change)
    broken = FormTemplate.from_bytes(data, good.identity)
    assert broken.problem is not None and why in broken.problem
    unit = form_ctx.campaign.units[0]
    assert broken.fallback_reason(unit.name, form_ctx.identity(unit)) == broken.problem


def test_a_template_form_reads_back_as_its_unit(form_ctx: Context, tmp_path: Path) -> None:
    unit = form_ctx.campaign.units[3]
    assert form_ctx.template().fallback_reason(unit.name, form_ctx.identity(unit)) is None
    data = form_ctx.form_bytes(unit)
    form = reader.read(data, "xlsx", form_ctx.spec, form_ctx.cells)
    assert form.meta == form.props == form_ctx.identity(unit)
    assert identity.verify(form.meta, form_ctx.secret)
    assert form.unit_text == unit.name and form.first_difference is None
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "回传.xlsx").write_bytes(data)
    config = form_ctx.campaign.folder / CONFIG_NAME
    report = collect(inbox, config, now=datetime(2023, 6, 5, 9, 0), write=False, workers=0)
    assert [f.unit_id for f in report.files] == [unit.id]
    assert next(u for u in report.units if u.unit.id == unit.id).file.endswith("回传.xlsx")


def test_make_forms_in_worker_processes_writes_the_built_forms(form_ctx: Context, tmp_path: Path) -> None:
    config = form_ctx.campaign.folder / CONFIG_NAME
    report = make.make_forms(config, tmp_path / "forms", workers=2)
    units = {u.id: u for u in form_ctx.campaign.units}
    assert len(report.forms) == len(units)
    for entry in report.forms:
        written = Path(entry["file"]).read_bytes()
        assert zip_differences(written, direct(form_ctx, units[entry["unit_id"]])) == [], entry["unit"]
