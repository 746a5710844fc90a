"""One collect at a time per campaign: the lock in .kepuxl, honoured by `kepuxl collect` and by the page.

Real processes hold the lock (a second Python process), the real CLI is refused with exit 3 and a
Chinese message, and a holder killed with SIGKILL leaves no stale lock behind.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from conftest import init_sample
from helpers import lock_held_elsewhere

from kepu_xl import lastrun, locks
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.findings import KepuError


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return init_sample(tmp_path / "青溪县", with_returns=True)


def test_a_second_taker_in_the_same_process_is_refused_with_the_holders_note(tmp_path: Path) -> None:
    path = tmp_path / "collect.lock"
    with locks.held(path, "collect"):
        assert locks.is_held(path)
        with pytest.raises(locks.Busy) as busy, locks.held(path):
            pass
        assert busy.value.holder["pid"] == os.getpid() and busy.value.holder["what"] == "collect"
    assert not locks.is_held(path)
    with locks.held(path):  # released: taken again at once
        pass


def test_a_waiting_taker_gets_the_lock_when_it_is_released(tmp_path: Path) -> None:
    path = tmp_path / "collect.lock"
    got = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locks.held(path):
            got.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    got.wait(10)
    threading.Timer(0.3, release.set).start()
    with locks.held(path, wait=10):
        assert not thread.is_alive() or release.is_set()
    thread.join()


def test_collect_is_refused_while_another_process_collects_and_changes_nothing(county: Path) -> None:
    config = county / "kepuxl.toml"
    state = county / ".kepuxl"
    with lock_held_elsewhere(lastrun.lock_path(state)) as holder:  # then SIGKILL: no chance to clean up
        with pytest.raises(KepuError) as refused:
            collect(county / "inbox", config)
        assert refused.value.findings[0].code.name == "OUT_BUSY"
        assert f"进程 {holder.pid}" in str(refused.value)
        assert not (county / "output").exists() and not lastrun.report_path(state).exists()

        result = _run_cli(["collect", str(county / "inbox"), "-c", str(config)])
        assert result.exit_code == 3
        assert "这个活动正在汇总" in result.output and "本次未做任何改动" in result.output
        assert not (county / "output").exists()
    report = collect(county / "inbox", config)  # the OS dropped the dead holder's lock: no stale lock
    assert report.outputs["summary"]


def test_a_collect_that_only_reads_takes_no_lock(county: Path) -> None:
    """remind reads a collect (write=False) to know whom to remind: it neither writes nor waits."""
    with lock_held_elsewhere(lastrun.lock_path(county / ".kepuxl"), kill=False):
        report = collect(county / "inbox", county / "kepuxl.toml", write=False)
        assert report.counts["pending"] == 1


def _run_cli(args: list[str]):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, args)
