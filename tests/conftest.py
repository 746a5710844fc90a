"""Shared fixtures: a fresh sample campaign (kepuxl init), its Context, and one unit's generated form.

`pytest --update-golden` rewrites tests/golden/*.xlsx from the current code; review the diff (and open
the files in Excel and WPS) before committing them. Tests marked `crashes_workers` crash worker processes on
purpose; tests/quiet_crashes.py keeps their crash dumps out of the log (see there). tests/every_code.py
fails a whole run in which some finding code was never produced.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import every_code
import pytest
import quiet_crashes

from kepu_xl.campaign import Unit
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.init import init_campaign, samples_dir
from kepu_xl.sample_returns import write_inbox

GOLDEN_DIR = Path(__file__).with_name("golden")
UNIT_NAME = "县教育局"  # roster row 14, code D01: the unit every form test looks at


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.xlsx from the current code instead of comparing against them",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("quiet_crashes"):  # tests that crash workers on purpose
        config.pluginmanager.register(quiet_crashes, "quiet_crashes")
    if not config.pluginmanager.has_plugin("every_code"):  # every finding code is produced by some test
        config.pluginmanager.register(every_code, "every_code")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    """A campaign folder made by `init_campaign`: sample config, units.xlsx, inbox/ and the sample secret."""
    return init_sample(tmp_path / "青溪县科技活动周")


def init_sample(folder: Path, with_returns: bool = False) -> Path:
    """The sample county with the fixed key in samples/secret, so forms are byte-for-byte reproducible.

    `with_returns` then fills inbox/ with the sample returns, made with that key.
    """
    init_campaign(folder)
    shutil.copyfile(samples_dir() / "secret", folder / ".kepuxl" / "secret")
    if with_returns:
        write_inbox(Context.load(folder / CONFIG_NAME), folder / "inbox")
    return folder


@pytest.fixture
def config(campaign_dir: Path) -> Path:
    return campaign_dir / CONFIG_NAME


@pytest.fixture
def ctx(config: Path) -> Context:
    return Context.load(config)


@pytest.fixture
def unit(ctx: Context) -> Unit:
    found = ctx.campaign.unit_by_name(UNIT_NAME)
    assert found is not None, f"the sample roster has no {UNIT_NAME}"
    return found


@pytest.fixture
def form_bytes(ctx: Context, unit: Unit) -> bytes:
    return ctx.form_bytes(unit)


@pytest.fixture
def form_path(tmp_path: Path, form_bytes: bytes) -> Path:
    path = tmp_path / f"science_week_{UNIT_NAME}.xlsx"
    path.write_bytes(form_bytes)
    return path


@pytest.fixture
def direct_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the units whose form `Context.form_bytes` built directly (not from a template)."""
    from kepu_xl import context as context_mod
    from kepu_xl.forms_writer import build_form

    built: list[str] = []

    def spy(*args, **kwargs):
        built.append(args[3].name)
        return build_form(*args, **kwargs)

    monkeypatch.setattr(context_mod, "build_form", spy)
    return built
