"""A pytest plugin (loaded by conftest.py): every finding code has a reason to exist — some test makes the
package produce it.

From the moment this module is imported (before any test module), it records the code of every `Finding`
the package makes: through `Finding.make`, `Findings.add`, `located` or a direct `Finding(...)` in
kepu_xl, and every finding that comes back pickled from a worker process (forked or spawned). Findings
that test code builds itself (to compare with) do not count. Findings made in a subprocess (a CLI run with
subprocess.run, the page's server) are not seen; every code has an in-process test as well.

When the whole suite ran and passed, the session fails if a code of `kepu_xl.findings.Code` was never
produced, or if an exempt code was. "The whole suite": no file or test named on the command line (or only
the tests folder), no -k or -m, nothing deselected (--lf, --deselect), no failure (so no -x stop). A partial
run proves nothing either way: the check is skipped and the summary says so.

`EXEMPT` lists the codes that cannot arise on this machine, each with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kepu_xl import findings as findings_mod
from kepu_xl.findings import Code, Finding

# code name → why no test on Linux can produce it (an exemption that is produced fails the session too)
EXEMPT: dict[str, str] = {}

_FINDINGS_FILE = Path(findings_mod.__file__).resolve()
_seen: set[Code] = set()
_state: dict[str, Any] = {"deselected": 0, "verdict": ""}


def _made_by_the_package() -> bool:
    """Whether the code that asked for the finding (the first frame outside findings.py) is kepu_xl's."""
    frame = sys._getframe(2)
    while frame is not None and Path(frame.f_code.co_filename).resolve() == _FINDINGS_FILE:
        frame = frame.f_back
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith("kepu_xl")


def _install() -> None:
    init, setstate = Finding.__init__, Finding.__setstate__

    def __init__(self: Finding, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if self.code not in _seen and _made_by_the_package():
            _seen.add(self.code)

    def __setstate__(self: Finding, state: Any) -> None:  # a finding made in a worker process
        setstate(self, state)
        _seen.add(self.code)

    Finding.__init__ = __init__  # type: ignore[method-assign]
    Finding.__setstate__ = __setstate__  # type: ignore[method-assign]


_install()


def seen() -> set[Code]:
    return set(_seen)


def pytest_deselected(items: list[pytest.Item]) -> None:
    _state["deselected"] += len(items)


def _whole_suite(session: pytest.Session) -> str:
    """Why this run is not the whole suite ("" when it is)."""
    config = session.config
    whole = {Path(__file__).resolve().parent, config.rootpath.resolve()}
    if any("::" in a or (config.invocation_params.dir / a).resolve() not in whole for a in config.args):
        return "some test files or tests named"
    if config.option.keyword or config.option.markexpr:
        return "-k or -m"
    if _state["deselected"]:
        return f"{_state['deselected']} tests deselected"
    if session.testsfailed or session.shouldstop or session.shouldfail:
        return "a test failed"
    return ""


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    partial = _whole_suite(session)
    if partial or exitstatus != 0:
        _state["verdict"] = f"codes: not checked ({partial or 'the run did not pass'})"
        return
    missing = sorted(c.name for c in Code if c not in _seen and c.name not in EXEMPT)
    produced = sorted(name for name in EXEMPT if Code[name] in _seen)
    if not missing and not produced:
        _state["verdict"] = (
            f"codes: all {len(Code)} produced by the package in some test ({len(EXEMPT)} exempt)"
        )
        return
    lines = []
    if missing:
        lines.append(
            f"{len(missing)} finding code(s) no test made the package produce: " + ", ".join(missing)
        )
        lines.append("Add a test that produces each, or remove the code (or, if it cannot arise here, add it")
        lines.append("to EXEMPT in tests/every_code.py with the reason).")
    if produced:
        lines.append("exempt, yet produced (remove from EXEMPT): " + ", ".join(produced))
    _state["verdict"] = "\n".join(lines)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    verdict = _state["verdict"]
    if not verdict:
        return
    if verdict.startswith("codes:"):
        terminalreporter.write_line(verdict)
    else:
        terminalreporter.section("finding codes never produced", sep="=", red=True)
        for line in verdict.splitlines():
            terminalreporter.write_line(line, red=True)
