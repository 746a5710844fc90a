"""A set of outputs (the blank forms, the feedback forms) is on disk before it takes the old set's place.

On Linux one sync(2) just before the swap puts every file of the set on disk (it waits there until it is
done), instead of an fsync per file (~1.5 ms each here: 10,000 forms spent more time in fsync than in
being made). Elsewhere each file is fsynced as it is written. Both ways are run here, in this process
(`workers=0`), with the real system calls, recording which file each fsync was for and what the set's
folder held when sync ran.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import init_sample

from kepu_xl import files, make
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd names the files")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """("fsync", path) and ("sync", the .xlsx names in every kepuxl staging folder at that moment)."""
    seen: list[tuple[str, str]] = []
    real_fsync, real_sync = os.fsync, os.sync

    def fsync(fd: int) -> None:
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def sync() -> None:
        seen.append(("sync", ""))
        real_sync()

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "sync", sync)
    return seen


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return init_sample(tmp_path / "青溪县", with_returns=True) / CONFIG_NAME


def _xlsx(seen: list[tuple[str, str]]) -> list[str]:
    return [path for what, path in seen if what == "fsync" and path.endswith(".xlsx")]


def test_on_linux_a_set_is_synced_once_before_its_swap_not_file_by_file(
    county: Path, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert files.SYNC_AT_SWAP
    held: list[list[str]] = []
    real_swap = files.swap_folder

    def swap(new: Path, target: Path) -> Path:
        held.append(sorted(p.name for p in new.iterdir()))  # the whole set, written, not yet synced
        before = len(calls)
        where = real_swap(new, target)
        assert calls[before:] == [("sync", "")]  # one sync, inside the swap (before its renames)
        return where

    monkeypatch.setattr(make, "swap_folder", swap)
    report = make.make_forms(county, workers=0)
    assert len(report.forms) == 26 and held == [sorted(Path(f["file"]).name for f in report.forms)]
    assert _xlsx(calls) == []  # no form fsynced one by one
    assert sorted(os.listdir(report.outdir)) == held[0]


def test_where_sync_does_not_wait_each_file_of_a_set_is_fsynced_as_it_is_written(
    county: Path, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "SYNC_AT_SWAP", False)  # as on Windows and macOS
    report = make.make_forms(county, workers=0)
    synced = _xlsx(calls)
    assert sorted(Path(p).name for p in synced) == sorted(Path(f["file"]).name for f in report.forms)
    assert ("sync", "") not in calls
    result = collect(county.parent / "inbox", county, workers=0)
    feedback = result.outputs["feedback_files"]
    assert feedback and {Path(p).name for p in feedback} <= {Path(p).name for p in _xlsx(calls)}
