"""tests/quiet_crashes.py: a worker crashed on purpose in a `crashes_workers` test prints nothing when the test
passes and its dump shows with the captured stderr when the test fails; unmarked tests are unchanged.

Each case runs a real pytest in a subprocess on a small test file whose tests fork a process that aborts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers: Linux")
TESTS = Path(__file__).parent
FATAL = "Fatal Python error: Aborted"
CRASHING = """
import multiprocessing, os, pytest

def crash():
    child = multiprocessing.get_context("fork").Process(target=os.abort)
    child.start()
    child.join()
    return child.exitcode

@pytest.mark.crashes_workers
def test_marked():
    assert crash() == -6

@pytest.mark.crashes_workers
def test_marked_but_failing():
    assert crash() == 0

def test_unmarked():
    assert crash() == -6
"""


def pytest_run(tmp_path: Path, *options: str) -> tuple[str, str]:
    """pytest's report (stdout) and what reached the terminal's stderr."""
    (tmp_path / "test_crashing.py").write_text(CRASHING, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "test_crashing.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 2 passed" in done.stdout, done.stdout + done.stderr
    return done.stdout, done.stderr


def dumped_by(output: str) -> list[str]:
    """The test each faulthandler dump comes from (the innermost test function in its stack)."""
    out = []
    for dump in output.split(FATAL)[1:]:
        frames = [line.rsplit(" in ", 1)[1] for line in dump.splitlines() if " in test_" in line]
        out.append(frames[0])
    return out


def test_a_passing_crash_test_prints_no_dump_and_a_failing_one_shows_it(tmp_path: Path) -> None:
    report, terminal = pytest_run(tmp_path, "-p", "quiet_crashes")
    assert dumped_by(terminal) == ["test_unmarked"]
    assert dumped_by(report.split("Captured stderr call")[1]) == ["test_marked_but_failing"]


def test_without_the_plugin_every_crash_dumps_on_the_terminal(tmp_path: Path) -> None:
    report, terminal = pytest_run(tmp_path, "-W", "ignore::pytest.PytestUnknownMarkWarning")
    assert dumped_by(terminal) == ["test_marked", "test_marked_but_failing", "test_unmarked"]
    assert FATAL not in report
