"""Runs killed with SIGKILL at sampled moments (issue 12.5): what is left must be whole and recognisable.

A campaign of 160 units, half of them with a defect (about 60 feedback forms, written by two worker
processes), is collected by a real `kepuxl collect` process that is killed (the whole process group,
as closing the console window does): once at a random moment of the run, most times at a random moment
after the outputs began to be written (a set being built or a temp file with data appears in output/;
the delay is sampled over how long that phase lasted in finished runs), and some times just after the
run went into the ledger, while its outputs are being put in place. Between kills the inbox switches between two states with different
feedback sets (some units send a corrected return), and every other kill is followed by a run left to
finish. After each kill:

- every workbook visible in output/ is complete (a valid zip);
- 反馈/ holds exactly one run's whole set (or, killed between the two renames of a swap, the old set
  is aside, to be put back);
- the ledger agrees with the summary on disk: the last run is done and the summary and feedback files
  are byte for byte the ones it recorded (and the summary carries the run's time), or the last run is
  still 'writing', which the next run must report (OUT_INTERRUPTED).
After each finished run: no `.kepuxl-*` debris anywhere under output/, the current set, a done ledger.

`kepuxl make-forms` gets the same treatment with two rosters whose form sets differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from helpers import ROSTER_HEADER, use_roster

from kepu_xl.sample_returns import fill, values_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_collect  # the benchmark's province generator, at a small N

from kepu_xl.context import Context

N = 160
FIXED = 16  # defective units that send a corrected return in state B
# when to kill: at a random moment of the run, at a random moment once the outputs are being written
# (measured on finished runs), or just after the run went into the ledger
COLLECT_KILLS = ("start", "write", "write", "ledger", "write", "ledger", "write", "ledger")
MAKE_FORMS_KILLS = 6


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """N units and their returns (half with a defect), plus corrected returns for FIXED of them."""
    work = tmp_path_factory.mktemp("province") / "campaign"
    manifest = bench_collect.prepare(work, N, seed=11, rate=0.5)
    ctx = Context.load(work / "kepuxl.toml")
    fixes = work / "修订"
    fixes.mkdir()
    bad = [d["unit_id"] for d in manifest["defects"] if d["kind"] != "truncated"][:FIXED]
    for unit_id in bad:
        unit = ctx.campaign.unit(unit_id)
        assert unit is not None
        values = values_for(unit.seq, {"public_online": 20000 + unit.seq})
        path = fixes / f"{unit_id}-修改后.xlsx"
        path.write_bytes(fill(ctx, unit_id, values, detail_rows=values["activities"]))
        stamp = datetime(2023, 5, 29, 18, 0).timestamp()
        os.utime(path, (stamp, stamp))
    return work


def kepuxl(work: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "kepu_xl", *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def killed(work: Path, *args: str, when: Callable[[], bool] | None = None, delay: float = 0.0) -> str:
    """The CLI in its own process group, SIGKILLed (all its processes, as closing the console window does)
    `delay` seconds after `when()` first holds (after the start without `when`); says when it was."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kepu_xl", *args],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = time.perf_counter()
    while when is not None and proc.poll() is None and not when():
        time.sleep(0.002)
    triggered = time.perf_counter()
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):  # it had finished
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    time.sleep(0.2)  # forked workers see their parent gone
    return f"killed {triggered - started:.2f} + {delay:.3f} s after the start of `kepuxl {' '.join(args)}`"


def phases(work: Path, *args: str, when: Callable[[], bool]) -> tuple[float, float]:
    """A finished run: its length and how long it ran after `when()` first held."""
    proc = subprocess.Popen([sys.executable, "-m", "kepu_xl", *args], cwd=work, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    while proc.poll() is None and not when():
        time.sleep(0.002)
    triggered = time.perf_counter()
    assert proc.wait(timeout=600) == 0
    end = time.perf_counter()
    return end - started, end - triggered


def writing(*folders: Path) -> Callable[[], bool]:
    """True once outputs are being written in one of `folders`: a new .kepuxl- folder (a set being built)
    or a new temp file with data in it (what earlier runs left does not count)."""

    def temps() -> set[str]:
        found = set()
        for folder in folders:
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for e in entries:
                    if e.name.startswith(".kepuxl-") and (e.is_dir() or e.stat().st_size > 0):
                        found.add(e.path)
        return found

    before = temps()
    return lambda: bool(temps() - before)


def recorded(work: Path) -> Callable[[], bool]:
    """True once the ledger holds one more run than now (committed: its outputs are about to go in)."""
    ledger = work / ".kepuxl" / "ledger.sqlite"

    def count() -> int:
        try:
            db = sqlite3.connect(ledger, timeout=0.05)
            try:
                return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            return -1

    before = count()
    return lambda: count() > before


def debris(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob(".kepuxl-*"))


def visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".kepuxl-") for part in path.relative_to(root).parts)


def assert_whole_workbooks(out: Path) -> None:
    for path in out.rglob("*.xlsx"):
        if visible(path, out):
            with zipfile.ZipFile(path) as z:
                assert z.testzip() is None, path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summary_created(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        core = z.read("docProps/core.xml").decode()
    found = re.search(r"<dcterms:created[^>]*>([^<]+)</dcterms:created>", core)
    assert found, core
    return found.group(1)[:19]


def last_run(work: Path) -> dict:
    db = sqlite3.connect(work / ".kepuxl" / "ledger.sqlite")
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
        wanted = ["at"] + [c for c in ("state", "outputs") if c in columns]
        row = db.execute(f"SELECT {', '.join(wanted)} FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
    finally:
        db.close()
    return dict(zip(wanted, row, strict=True))


def assert_ledger_agrees(work: Path, summary: Path, *, finished: bool) -> str:
    """The last run recorded vs the outputs on disk; returns its state."""
    run = last_run(work)
    state = run.get("state", "done")
    if state == "writing":  # recorded, outputs not all in place: the next run must say so
        assert not finished
        return state
    assert state == "done", run
    assert summary_created(summary) == run["at"], "the summary on disk is not the last recorded run's"
    if "outputs" in run:
        outputs = json.loads(run["outputs"])
        assert sha(summary) == outputs["summary"]["sha256"]
        folder = Path(outputs["feedback"]["path"])
        assert {p.name: sha(p) for p in folder.iterdir()} == outputs["feedback"]["files"]
    return state


def test_collect_killed_at_any_moment_leaves_a_recognisable_whole(province: Path, tmp_path: Path) -> None:
    work = tmp_path / "campaign"
    shutil.copytree(province, work)
    out, fixes, parked = work / "output", work / "修订", work / "修订-未放入"
    fixes.rename(parked)
    summary = out / "2023年科技活动周_汇总.xlsx"

    def switch(state: str) -> None:  # B: the corrected returns are in the inbox
        if state == "B" and parked.exists():
            parked.rename(work / "inbox" / "修订")
        elif state == "A" and (work / "inbox" / "修订").exists():
            (work / "inbox" / "修订").rename(parked)

    sets, lengths = {}, []
    for state in ("A", "B"):
        switch(state)
        lengths.append(phases(work, "collect", "inbox", "--json", "run.json", when=writing(out)))
        sets[state] = {
            Path(p).name for p in json.loads((work / "run.json").read_text())["outputs"]["feedback_files"]
        }
    assert len(sets["A"]) > 48 and sets["B"] < sets["A"]  # the corrected units lose their feedback
    length, writes = max(x[0] for x in lengths), max(x[1] for x in lengths)
    rng = random.Random()
    states = []
    for n, mode in enumerate(COLLECT_KILLS):
        state = "AB"[n % 2]
        switch(state)
        if mode == "start":  # reading the inbox, or earlier
            where = killed(work, "collect", "inbox", delay=rng.uniform(0.1, 0.8) * length)
        elif mode == "write":  # building or swapping in the outputs
            where = killed(work, "collect", "inbox", when=writing(out), delay=rng.uniform(0, 1.1) * writes)
        else:  # the run is in the ledger: its outputs are being put in place
            where = killed(work, "collect", "inbox", when=recorded(work), delay=rng.uniform(0, 0.005))
        assert_whole_workbooks(out)
        feedback = out / "反馈"
        if feedback.exists():
            assert set(os.listdir(feedback)) in sets.values(), where
        else:  # killed between the two renames of the swap: the old set is aside
            [aside] = out.glob(".kepuxl-old-*-反馈.tmp")
            assert set(os.listdir(aside)) in sets.values(), where
        states.append(assert_ledger_agrees(work, summary, finished=False))
        if n % 2:
            kepuxl(work, "collect", "inbox", "--json", "run.json")
            report = json.loads((work / "run.json").read_text())
            assert debris(out) == [], where
            assert set(os.listdir(feedback)) == sets[state], where
            assert_ledger_agrees(work, summary, finished=True)
            interrupted = [f for f in report["findings"] if f["code"] == "OUT_INTERRUPTED"]
            assert bool(interrupted) == (states[-1] == "writing"), where


def roster(*, renamed: bool) -> list[tuple[str, str]]:
    """The province's units; `renamed`: every eighth with a new name (so a new form name)."""
    names = [f"第{i}号单位" + ("（更名）" if renamed and i % 8 == 0 else "") for i in range(1, N + 1)]
    return [ROSTER_HEADER[:2], *[(f"U{i:05d}", name) for i, name in enumerate(names, start=1)]]


def test_make_forms_killed_at_any_moment_leaves_one_whole_set(province: Path, tmp_path: Path) -> None:
    work = tmp_path / "campaign"
    work.mkdir()
    for name in ("kepuxl.toml", "units.xlsx"):
        shutil.copyfile(province / name, work / name)
    shutil.copytree(province / ".kepuxl", work / ".kepuxl")
    config, forms = work / "kepuxl.toml", work / "output" / "forms"
    rows = {state: roster(renamed=state == "B") for state in "AB"}
    sets, lengths = {}, []
    for state in ("A", "B"):
        use_roster(config, rows[state])
        lengths.append(phases(work, "make-forms", when=writing(work / "output", forms)))
        sets[state] = set(os.listdir(forms))
    assert sets["A"] != sets["B"] and len(sets["A"]) == len(sets["B"]) == N
    writes = max(x[1] for x in lengths)
    rng = random.Random()
    for n in range(MAKE_FORMS_KILLS):
        state = "AB"[n % 2]
        use_roster(config, rows[state])
        watch = writing(work / "output", forms)
        where = killed(work, "make-forms", when=watch, delay=rng.uniform(0, 1.1) * writes)
        assert_whole_workbooks(work / "output")
        if forms.exists():
            assert set(os.listdir(forms)) in sets.values(), where
        else:
            [aside] = (work / "output").glob(".kepuxl-old-*-forms.tmp")
            assert set(os.listdir(aside)) in sets.values(), where
        if n % 2:
            kepuxl(work, "make-forms")
            assert debris(work / "output") == [], where
            assert set(os.listdir(forms)) == sets[state], where
