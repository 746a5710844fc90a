"""A pytest plugin (loaded by conftest.py): worker processes that a test crashes on purpose stay quiet.

pytest turns faulthandler on, writing to a duplicate of the terminal's stderr, and a forked worker inherits
it: every deliberate os.abort() or segfault in tests/test_workers.py printed "Fatal Python error: Aborted" and
a 50-line stack into the log of a passing run. In a test marked `crashes_workers`, a forked child's
faulthandler writes to file descriptor 2 instead, which pytest captures during the test: the dump is shown
with the test's captured stderr if the test fails, and not at all if it passes.

Nothing else changes: a worker crash in an unmarked test, a crash of the pytest process itself and a run
with `-s` (nothing captured) still print their dumps on the terminal.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator

import pytest

MARK = "crashes_workers"
_state = {"quiet": False, "registered": False}


def _child_after_fork() -> None:
    if _state["quiet"] and faulthandler.is_enabled():
        faulthandler.enable(file=2, all_threads=True)  # fd 2 is pytest's capture file during a test


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARK}: the test crashes worker processes on purpose; their crash dumps are captured"
    )
    if hasattr(os, "register_at_fork") and not _state["registered"]:
        os.register_at_fork(after_in_child=_child_after_fork)
        _state["registered"] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _state["quiet"] = item.get_closest_marker(MARK) is not None  # setup, call and teardown alike
    try:
        return (yield)
    finally:
        _state["quiet"] = False
