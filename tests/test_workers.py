"""workers.run: real worker processes; a crash, a hang or an exception costs one item, never the batch.

The per-file functions below misbehave on chosen inputs the way a native parser does on a hostile file
(os.abort, as C code does on a failed assertion; a segfault; os._exit; a loop that never ends).
The collect tests then run the real job on the sample county with such a function swapped in.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from kepu_xl import collection as collect_mod
from kepu_xl import workers
from kepu_xl.init import init_campaign

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and fork: Linux")
NOW = datetime(2023, 6, 5, 9, 0)


def misbehave(item: str, ctx: str) -> str:
    """A per-file function with a bad day on some inputs."""
    if item == "abort":
        os.abort()  # SIGABRT, as C code on a failed assertion
    if item == "segfault":
        ctypes.string_at(0)  # SIGSEGV
    if item == "exit":
        os._exit(3)
    if item == "hang":
        time.sleep(600)
    if item == "raise":
        raise ValueError("坏文件")
    if item == "memory":
        bytearray(1 << 33)  # 8 GiB: past the worker's address-space limit
    return f"{ctx}:{item}"


def failure(kept: str, why: workers.Failure) -> tuple[str, str, str]:
    return (kept, why.kind, why.detail)


@pytest.mark.crashes_workers  # its dumps are captured: tests/quiet_crashes.py
def test_every_item_gets_exactly_one_outcome_in_input_order() -> None:
    bad = ["abort", "segfault", "exit", "raise", "memory"]
    items = [f"f{i}" for i in range(40)]
    for n, b in enumerate(bad):
        items.insert(3 + n * 8, b)
    seen = []
    out = workers.run(
        items,
        misbehave,
        "ok",
        failed=failure,
        workers=2,
        batch=4,
        timeout=60,  # a crash must be noticed at once, not after the time limit
        progress=lambda done, total, kept: seen.append(done),
    )
    assert len(out) == len(items)
    assert seen == list(range(1, len(items) + 1))
    for item, result in zip(items, out, strict=True):
        if item not in bad:
            assert result == f"ok:{item}"
    outcomes = {r[0]: r[1:] for r in out if isinstance(r, tuple)}
    assert set(outcomes) == set(bad)
    assert outcomes["abort"] == ("crashed", "进程被信号 SIGABRT 终止")
    assert outcomes["segfault"] == ("crashed", "进程被信号 SIGSEGV 终止")
    assert outcomes["exit"] == ("crashed", "进程异常退出，退出码 3")
    assert outcomes["raise"] == ("error", "ValueError: 坏文件")
    assert outcomes["memory"][0] == "error" and outcomes["memory"][1].startswith("MemoryError")
    assert multiprocessing.active_children() == []  # the pool is gone when run returns


def test_a_hang_is_cut_at_the_time_limit_and_the_rest_goes_on() -> None:
    items = ["a", "hang", "b", "c", "d"]
    started = time.monotonic()
    out = workers.run(items, misbehave, "ok", failed=failure, workers=1, batch=5, timeout=1.0)
    assert time.monotonic() - started < 20
    assert out == ["ok:a", ("hang", "timeout", ""), "ok:b", "ok:c", "ok:d"]


@pytest.mark.crashes_workers  # its dumps are captured: tests/quiet_crashes.py
def test_crashes_in_a_row_never_lose_or_repeat_an_item() -> None:
    items = ["abort" if i % 3 == 0 else f"f{i}" for i in range(30)]
    out = workers.run(items, misbehave, "ok", failed=failure, workers=2, batch=5, timeout=60)
    assert [r if isinstance(r, str) else r[0] for r in out] == [
        "abort" if i % 3 == 0 else f"ok:f{i}" for i in range(30)
    ]


def test_many_items_stream_through_in_order() -> None:
    pulled = []

    def items():
        for i in range(2000):
            pulled.append(i)
            yield i

    out = workers.run(items(), _square, None, failed=failure, workers=2, batch=7, expected=2000)
    assert out == [i * i for i in range(2000)]
    assert pulled == list(range(2000))


def _square(i: int, ctx: object) -> int:
    return i * i


def unpicklable(item: str, ctx: str) -> object:
    """A result that cannot travel back (a lambda) for one item, plain text for the others."""
    return (lambda: item) if item == "lambda" else f"{ctx}:{item}"


def test_a_result_that_cannot_travel_costs_its_item_only() -> None:
    # results travel back together, a batch at a time: one that cannot be pickled must not take the
    # others of its batch with it
    items = ["a", "b", "lambda", "c", "d"]
    out = workers.run(items, unpicklable, "ok", failed=failure, workers=1, batch=5)
    assert out[:2] == ["ok:a", "ok:b"] and out[3:] == ["ok:c", "ok:d"]
    kept, kind, detail = out[2]
    assert (kept, kind) == ("lambda", "error") and "pickle" in detail.lower()


def slow(item: str, ctx: str) -> str:
    time.sleep(0.6)
    return f"{ctx}:{item}"


def test_the_time_limit_is_per_item_not_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker holding its results to the batch's end still shows its progress (the shared count of
    # finished items): four items of 0.6 s in one batch, 2.4 s in all, are within a 1 s limit each.
    monkeypatch.setattr(workers, "FLUSH_AFTER", 100.0)  # forked: the worker sends only at the batch's end
    items = ["a", "b", "c", "d"]
    out = workers.run(items, slow, "ok", failed=failure, workers=1, batch=4, timeout=1.0)
    assert out == [f"ok:{i}" for i in items]
    # and the item that does overrun is the one blamed, not the first unsent one before it
    out = workers.run(
        ["a", "b", "hang", "c"], misbehave, "ok", failed=failure, workers=1, batch=4, timeout=1.0
    )
    assert out == ["ok:a", "ok:b", ("hang", "timeout", ""), "ok:c"]


def test_a_failure_callback_that_raises_stops_the_run_and_the_workers() -> None:
    def stop(kept: str, why: workers.Failure) -> str:
        raise RuntimeError(f"stop at {kept}")

    with pytest.raises(RuntimeError, match="stop at raise"):
        workers.run(["a", "raise", "b"], misbehave, "ok", failed=stop, workers=2, batch=1)
    assert multiprocessing.active_children() == []


def test_in_process_mode_runs_the_same_function_without_a_pool() -> None:
    out = workers.run(["a", "raise", "b"], misbehave, "ok", failed=failure, workers=0)
    assert out == ["ok:a", ("raise", "error", "ValueError: 坏文件"), "ok:b"]


def slow_echo(item: str, ctx: str) -> str:
    time.sleep(0.05)
    return f"{ctx}:{item}"


@pytest.mark.parametrize("n_workers", [0, 2])
def test_this_process_does_its_own_work_while_the_workers_are_busy(n_workers: int) -> None:
    # collect writes its ledger while workers write the summary and the feedback forms
    calls: list[int] = []
    done: list[int] = []
    items = [f"f{i}" for i in range(12)]

    def progress(n: int, total: int, kept: str) -> None:
        done.append(n)

    def meanwhile() -> None:
        calls.append(len(done))

    out = workers.run(
        items,
        slow_echo,
        "ok",
        failed=failure,
        workers=n_workers,
        batch=2,
        progress=progress,
        meanwhile=meanwhile,
    )
    assert out == [f"ok:{i}" for i in items]
    assert len(calls) == 1  # exactly once
    if n_workers:
        assert calls[0] < len(items)  # while items were still being worked on, not after
    with pytest.raises(ZeroDivisionError):  # what it raises comes out of run, the pool closed
        workers.run(items[:4], slow_echo, "ok", failed=failure, workers=n_workers, meanwhile=lambda: 1 / 0)


def test_pool_size_pays_for_itself() -> None:
    assert workers.default_workers(10) == 1
    assert workers.default_workers(10_000) == min(workers._cores(), 10_000 // workers.PER_WORKER)


# -- collect on the sample county ------------------------------------------------------------------


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("county")
    init_campaign(folder, with_returns=True)
    return folder


def _run(county: Path, **kw: object):
    return collect_mod.collect(county / "inbox", county / "kepuxl.toml", now=NOW, write=False, **kw)


def test_serial_and_parallel_give_the_same_report(county: Path) -> None:
    in_process = _run(county, workers=0).to_dict()
    one = _run(county, workers=1).to_dict()
    two = _run(county, workers=2).to_dict()
    assert one == in_process
    assert two == in_process
    assert len(in_process["files"]) == 28


CRASH_ON = "青山镇-科技活动周统计表.xlsx"  # T03's return
HANG_ON = "柳河镇-科技活动周统计表.xlsx"  # T04's return


def _abort_on_one(cand, ctx):  # type: ignore[no-untyped-def]
    if cand.name == CRASH_ON:
        os.abort()
    return _real_process(cand, ctx)


def _hang_on_one(cand, ctx):  # type: ignore[no-untyped-def]
    if cand.name == HANG_ON:
        time.sleep(600)
    return _real_process(cand, ctx)


_real_process = collect_mod.process


@pytest.mark.crashes_workers  # its dumps are captured: tests/quiet_crashes.py
def test_a_parser_crash_costs_its_file_only(county: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    normal = _run(county, workers=2)
    monkeypatch.setattr(collect_mod, "process", _abort_on_one)
    crashed = _run(county, workers=2)
    f = next(f for f in crashed.files if f.path == CRASH_ON)
    assert f.outcome == "rejected"
    assert [(x.code.name, x.message) for x in f.findings] == [
        (
            "READ_CRASHED",
            "读取此文件时解析程序崩溃（进程被信号 SIGABRT 终止），已跳过，其余文件不受影响。"
            "请对方用 Excel/WPS 打开原表，另存为 .xlsx 后重发。",
        )
    ]
    t03 = next(u for u in crashed.units if u.unit.id == "T03")
    assert t03.status == "missing"  # its only file could not be read
    # every other file and unit comes out exactly as without the crash
    assert [x.to_dict() for x in crashed.files if x.path != CRASH_ON] == [
        x.to_dict() for x in normal.files if x.path != CRASH_ON
    ]
    assert [u.to_dict() for u in crashed.units if u.unit.id != "T03"] == [
        u.to_dict() for u in normal.units if u.unit.id != "T03"
    ]


def test_a_parser_hang_costs_its_file_only(county: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    normal = _run(county, workers=1)
    monkeypatch.setattr(collect_mod, "process", _hang_on_one)
    report = _run(county, workers=1, timeout=1.5)
    f = next(f for f in report.files if f.path == HANG_ON)
    assert f.outcome == "rejected"
    assert [(x.code.name, x.message) for x in f.findings] == [
        (
            "READ_TIMEOUT",
            "读取此文件超过 1.5 秒，已跳过。请对方用 Excel/WPS 打开原表，删去多余的工作表和图片，另存为 .xlsx 后重发。",
        )
    ]
    assert [x.to_dict() for x in report.files if x.path != HANG_ON] == [
        x.to_dict() for x in normal.files if x.path != HANG_ON
    ]
