"""Outputs: nothing lost, nothing misdirected (issue 12) and the output chores of issue 13.

Real files on real file systems: a 256 KB tmpfs fills up, a read-only remount refuses writes, a real
SQLite lock is held by another connection, and a process without CAP_DAC_OVERRIDE meets a file it may
not read (as root, chmod alone would not stop it). Each CLI run that must not see this process's state
is a subprocess.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import init_sample
from helpers import ROSTER_HEADER, use_roster

from kepu_xl import make
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.files import NAME_BYTES, clean_stale_temps, safe_name
from kepu_xl.findings import Code
from kepu_xl.init import init_campaign
from kepu_xl.sample_returns import fill, values_for

NOW = datetime(2023, 6, 5, 9, 0)


def squash(text: str) -> str:
    """Terminal text without the line breaks and spaces rich adds when it wraps."""
    return re.sub(r"\s+", "", text)


def kepuxl(*args: str | Path, cwd: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The CLI in a process of its own (optionally under `prefix`, e.g. setpriv)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "kepu_xl", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "300"},
        check=False,
    )


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path → its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def debris(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob(".kepuxl-*")]


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return init_sample(tmp_path / "青溪县", with_returns=True)


# -- mounts (root only) ----------------------------------------------------------------------------


def _mount(*args: str) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a file system needs root")
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small RAM file system at `path` (a real full disk when it fills up)."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` seen through a read-only bind mount (what a write-protected USB stick or share gives)."""
    _mount("--bind", str(path), str(path))
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_up(folder: Path) -> None:
    """Write into `folder` until its disk is full."""
    with open(folder / "占满磁盘.bin", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    with contextlib.suppress(OSError):
        for n in range(1000):  # the last few blocks
            (folder / f"占满-{n}.bin").write_bytes(b"\0" * 512)


# -- 12.10: the campaign's own folders are not returns -----------------------------------------------


def test_collect_of_the_campaign_folder_skips_its_output_and_state(county: Path, monkeypatch) -> None:
    monkeypatch.chdir(county)
    make.make_forms(county / "kepuxl.toml")  # 26 blank forms in output/forms/, newer than the returns
    code, out, _ = invoke("collect", "inbox", "--json", "by-inbox.json")
    assert code == 0, out
    by_inbox = json.loads((county / "by-inbox.json").read_text(encoding="utf-8"))
    summary = county / "output" / "2023年科技活动周_汇总.xlsx"
    code, out, _ = invoke("collect", ".", "--json", "by-folder.json")
    assert code == 0, out
    by_folder = json.loads((county / "by-folder.json").read_text(encoding="utf-8"))
    assert by_folder["counts"] == by_inbox["counts"]  # 13 accepted, 7 rejected: not 23 rejected
    assert by_folder["counts"]["accepted"] == 13
    read = [f["path"] for f in by_folder["files"] if f["outcome"] != "ignored"]
    assert read and all(p.startswith("inbox/") for p in read)
    [skipped] = [f for f in by_folder["findings"] if f["file"] == "output"]
    assert skipped["code"] == "READ_SKIPPED" and "kepuxl 自己的输出" in skipped["message"]
    assert {u["unit_id"]: u["status"] for u in by_folder["units"]} == {
        u["unit_id"]: u["status"] for u in by_inbox["units"]
    }
    assert summary.is_file()


def test_an_output_folder_inside_the_inbox_is_not_read_back(county: Path) -> None:
    config, inbox = county / "kepuxl.toml", county / "inbox"
    first = collect(inbox, config, inbox / "结果", now=NOW)
    again = collect(inbox, config, inbox / "结果", now=NOW)
    assert again.counts == first.counts
    assert [f.path for f in again.files if f.path.startswith("结果")] == ["结果"]
    assert [f.code for f in again.findings if f.file == "结果"] == [Code.READ_SKIPPED]


# -- 12.11: names cut by bytes, kept distinct --------------------------------------------------------

LONG = "青溪县" + "科学技术普及工作领导小组办公室暨" * 5 + "县教育局局"  # 88 characters, 264 UTF-8 bytes
ASTRAL = "\U00020000" * 80  # 80 four-byte characters (CJK Extension B): 320 bytes


def test_safe_name_cuts_by_bytes_and_keeps_long_names_apart() -> None:
    assert len(LONG) == 88 and len(LONG.encode()) == 264
    a, b = safe_name(LONG), safe_name(LONG[:-4] + "县科协")
    assert a != b and a[:40] == b[:40]  # same beginning, told apart by the hash
    for name in (a, b, safe_name(ASTRAL), safe_name("x" * 300)):
        assert len(name.encode()) <= NAME_BYTES and len(name) <= 80
        assert re.fullmatch(r".+~[0-9a-f]{6}", name)
    assert safe_name("县科协") == "县科协"  # short names unchanged
    assert safe_name("CON") == "_CON" and safe_name("a:b") == "a_b"
    assert len(safe_name("科" * 49).encode()) == 147  # within both caps: not cut


def test_long_names_make_forms_and_feedback_within_255_bytes(tmp_path: Path) -> None:
    config = init_campaign(tmp_path / "c")
    twin = LONG[:-4] + "县科协"
    use_roster(config, [ROSTER_HEADER[:2], ("L01", LONG), ("L02", twin), ("L03", ASTRAL), ("L04", "县科协")])
    forms = make.make_forms(config)
    names = [Path(f["file"]).name for f in forms.forms]
    assert len(set(names)) == 4 and all(len(n.encode()) <= 255 for n in names)
    ctx = Context.load(config)
    inbox = tmp_path / "c" / "inbox"
    for unit in ctx.campaign.units:  # every unit returns a form with a negative count: rejected
        bad = values_for(unit.seq, {"staff_fulltime": -2})
        (inbox / f"{unit.id}.xlsx").write_bytes(fill(ctx, unit.id, bad, detail_rows=bad["activities"]))
    report = collect(inbox, config, now=NOW)
    assert [u.status for u in report.units] == ["rejected"] * 4
    feedback = [Path(u.feedback) for u in report.units]
    assert len(set(feedback)) == 4 and all(p.is_file() and len(p.name.encode()) <= 255 for p in feedback)
    assert Path(report.outputs["summary"]).is_file()


# -- 12.12: the ledger checked before anything is replaced -------------------------------------------


def _first_run(county: Path) -> tuple[Path, dict[str, bytes]]:
    out = county / "output"
    assert kepuxl("collect", "inbox", cwd=county).returncode == 0
    return out, snapshot(out)


@pytest.mark.parametrize("lock", ["EXCLUSIVE", "IMMEDIATE"])
def test_a_locked_ledger_stops_the_run_before_any_output_changes(county: Path, lock: str) -> None:
    out, before = _first_run(county)
    ledger = county / ".kepuxl" / "ledger.sqlite"
    holder = sqlite3.connect(ledger, isolation_level=None)
    try:
        holder.execute(f"BEGIN {lock}")  # another kepuxl or DB Browser in the middle of a write
        done = kepuxl("collect", "inbox", cwd=county)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 3, done.stderr
    message = Code.LEDGER_LOCKED.format(path=str(ledger), seconds="5")
    assert squash(message) in squash(done.stderr), done.stderr
    assert "Traceback" not in done.stderr and "sqlite3" not in done.stderr
    assert snapshot(out) == before


def test_a_read_only_ledger_stops_the_run_before_any_output_changes(county: Path) -> None:
    out, before = _first_run(county)
    with read_only(county / ".kepuxl"):
        done = kepuxl("collect", "inbox", cwd=county)
    assert done.returncode == 3, done.stderr
    ledger = county / ".kepuxl" / "ledger.sqlite"
    assert squash(f"台账 {ledger} 无法写入（文件或所在磁盘只读") in squash(done.stderr), done.stderr
    assert "Traceback" not in done.stderr and "readonly" not in done.stderr
    assert snapshot(out) == before


# -- 12.13: failures in Chinese, naming the real path ------------------------------------------------


def test_a_full_disk_stops_collect_with_the_old_outputs_intact(county: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "out", "1m") as out:
        assert kepuxl("collect", "inbox", "-o", out, cwd=county).returncode == 0
        before = snapshot(out)
        fill_up(out)
        done = kepuxl("collect", "inbox", "-o", out, cwd=county)
        assert done.returncode == 3, done.stderr
        text = squash(done.stderr)
        assert "磁盘空间已满" in text and squash(str(out)) in text, done.stderr
        assert ".kepuxl-" not in done.stderr and "Errno" not in done.stderr and "Traceback" not in text
        after = {k: v for k, v in snapshot(out).items() if not k.startswith("占满")}
        assert after == before and debris(out) == []


def test_a_full_disk_stops_make_forms_with_a_chinese_message(county: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "256k") as disk:  # 26 forms of 13 KB do not fit
        done = kepuxl("make-forms", "-o", disk / "forms", cwd=county)
        assert done.returncode == 3, done.stderr
        text = squash(done.stderr)
        assert "磁盘空间已满" in text and squash(str(disk / "forms")) in text, done.stderr
        assert "OSError" not in text and "Errno" not in text and "Traceback" not in text
        assert debris(disk) == [] and not (disk / "forms").exists()


def test_a_read_only_disk_names_the_output_not_a_temp_file(county: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "out", "2m") as out:
        assert kepuxl("collect", "inbox", "-o", out, cwd=county).returncode == 0
        assert kepuxl("make-forms", "-o", out / "forms", cwd=county).returncode == 0
        before = snapshot(out)
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        for args in (("collect", "inbox", "-o", out), ("make-forms", "-o", out / "forms")):
            done = kepuxl(*args, cwd=county)
            assert done.returncode == 3, done.stderr
            text = squash(done.stderr)
            assert "所在磁盘只读" in text and squash(str(out)) in text, done.stderr
            assert ".kepuxl-" not in text and "Errno" not in text and "Traceback" not in text
        assert snapshot(out) == before


def test_an_output_folder_that_is_a_file_is_a_chinese_error(county: Path) -> None:
    for args in (("collect", "inbox", "-o", "units.xlsx"), ("make-forms", "-o", "units.xlsx")):
        done = kepuxl(*args, cwd=county)
        assert done.returncode == 3, done.stderr
        assert squash("写入 units.xlsx 失败：这是一个已有的文件，不能用作文件夹") in squash(done.stderr)
        assert "Directory" not in done.stderr and "Traceback" not in done.stderr


def test_a_file_this_computer_cannot_read_is_not_blamed_on_the_unit(county: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run kepuxl without the right to bypass file permissions")
    locked = county / "inbox" / "县科协-科技活动周统计表.xlsx"
    locked.chmod(0)
    # root ignores file permissions; without CAP_DAC_OVERRIDE it meets them as a clerk would
    drop = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")
    done = kepuxl("collect", "inbox", "--json", "-", cwd=county, prefix=drop)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    [finding] = [f for f in data["findings"] if f["file"] == "县科协-科技活动周统计表.xlsx"]
    assert finding["code"] == "READ_LOCAL" and finding["severity"] == "error"
    assert "本机无法读取" in finding["message"] and "没有读写权限" in finding["message"]
    assert "请对方" not in finding["message"]


def test_names_alike_on_screen_are_told_apart(county: Path) -> None:
    ctx = Context.load(county / "kepuxl.toml")
    unit = ctx.campaign.unit_by_name("青山镇")
    assert unit is not None
    nfc = unicodedata.normalize("NFC", "青山镇-Café统计表.xlsx")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    inbox = county / "inbox"
    for n, name in enumerate((nfc, nfd)):
        values = values_for(unit.seq, {"public_offline": 100 + n})
        (inbox / name).write_bytes(fill(ctx, unit.id, values, detail_rows=values["activities"]))
        when = datetime(2023, 5, 29, 12 + n).timestamp()  # after the sample's own return of 青山镇
        os.utime(inbox / name, (when, when))
    report = collect(inbox, county / "kepuxl.toml", now=NOW, write=False)
    mine = [f for f in report.files if unicodedata.normalize("NFC", f.path).startswith(nfc)]
    shown = {unicodedata.normalize("NFC", f.path) for f in mine}
    assert len(mine) == 2 and len(shown) == 2  # two entries that read differently
    [older] = [f for f in mine if f.outcome == "superseded"]
    [finding] = [x for x in older.findings if x.code is Code.RESOLVE_SUPERSEDED]
    newer = next(f for f in mine if f is not older)
    assert newer.path in finding.message  # the message names the other file, told apart from this one


# -- 12.5: sets replaced whole -------------------------------------------------------------------------


def test_a_unit_that_fixed_its_return_loses_its_stale_feedback(county: Path) -> None:
    config, inbox = county / "kepuxl.toml", county / "inbox"
    first = collect(inbox, config, now=NOW)
    t09 = next(u for u in first.units if u.unit.id == "T09")
    assert t09.status == "rejected" and Path(t09.feedback).is_file()
    ctx = Context.load(config)
    good = values_for(t09.unit.seq, {})
    fixed = inbox / f"{t09.unit.name}-科技活动周统计表（修改）.xlsx"
    fixed.write_bytes(fill(ctx, "T09", good, detail_rows=good["activities"]))
    os.utime(fixed, (datetime(2023, 5, 30, 9).timestamp(),) * 2)
    again = collect(inbox, config, now=NOW)
    assert next(u for u in again.units if u.unit.id == "T09").status == "accepted"
    on_disk = sorted(p.name for p in (county / "output" / "反馈").iterdir())
    assert on_disk == sorted(Path(p).name for p in again.outputs["feedback_files"])
    assert not Path(t09.feedback).exists()


def test_a_set_moved_aside_by_a_killed_run_is_put_back(tmp_path: Path) -> None:
    # the state a run killed between the two renames of a swap leaves: the old set aside, the new one built
    out = tmp_path / "output"
    (out / ".kepuxl-old-0123abcd-反馈.tmp").mkdir(parents=True)
    (out / ".kepuxl-old-0123abcd-反馈.tmp" / "01_城关街道_反馈.xlsx").write_bytes(b"old set")
    (out / ".kepuxl-k2j3h4g5.tmp").mkdir()
    (out / ".kepuxl-k2j3h4g5.tmp" / "01_城关街道_反馈.xlsx").write_bytes(b"new set")
    (out / "forms").mkdir()
    (out / "forms" / ".kepuxl-abc.tmp").write_bytes(b"half a form")
    (out / "forms" / "01_城关街道.xlsx").write_bytes(b"a form")
    clean_stale_temps(out, depth=3)
    assert snapshot(out) == {"反馈/01_城关街道_反馈.xlsx": b"old set", "forms/01_城关街道.xlsx": b"a form"}


def test_make_forms_does_not_replace_a_folder_holding_other_files(county: Path) -> None:
    forms = county / "output" / "forms"
    make.make_forms(county / "kepuxl.toml")
    (forms / "说明.docx").write_bytes(b"the clerk's own notes")
    before = snapshot(forms)
    done = kepuxl("make-forms", cwd=county)
    assert done.returncode == 3
    assert "说明.docx" in done.stderr and "不是kepuxl生成的文件" in squash(done.stderr)
    assert snapshot(forms) == before


def test_make_forms_drops_the_form_of_a_unit_no_longer_on_the_roster(config: Path) -> None:
    rows = [ROSTER_HEADER[:2], ("A01", "城关街道"), ("A02", "青山镇"), ("A03", "县科协")]
    use_roster(config, rows)
    first = make.make_forms(config)
    use_roster(config, [*rows[:2], ("A03", "县科学技术协会")])
    second = make.make_forms(config)
    assert sorted(p.name for p in second.outdir.iterdir()) == ["01_城关街道.xlsx", "02_县科学技术协会.xlsx"]
    assert second.removed == ["02_青山镇.xlsx", "03_县科协.xlsx"]
    assert second.counts == {"new": 1, "replaced": 0, "unchanged": 1, "removed": 2}
    assert first.counts == {"new": 3, "replaced": 0, "unchanged": 0, "removed": 0}


# -- 13.4.15: what make-forms did to the forms already there ------------------------------------------


def test_make_forms_reports_new_replaced_and_unchanged(county: Path, monkeypatch) -> None:
    monkeypatch.chdir(county)
    code, out, _ = invoke("make-forms")
    assert code == 0 and squash("（新增 26，更新 0，未变 0，移除 0）") in squash(out)
    code, out, _ = invoke("make-forms", "--json", "-")
    data = json.loads(out)
    assert data["counts"] == {"new": 0, "replaced": 0, "unchanged": 26, "removed": 0}
    assert {f["status"] for f in data["forms"]} == {"unchanged"}
    text = (county / "kepuxl.toml").read_text(encoding="utf-8")  # a new deadline: every form differs
    (county / "kepuxl.toml").write_text(
        text.replace("2023-05-30T17:30", "2023-05-31T17:30"), encoding="utf-8"
    )
    code, out, _ = invoke("make-forms")
    assert code == 0 and squash("（新增 0，更新 26，未变 0，移除 0）") in squash(out), out


def _rezipped(data: bytes, level: int, edit: tuple[str, bytes, bytes] | None = None) -> bytes:
    """The same members in the same order, deflated at another level (and one part's text changed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if edit is not None and info.filename == edit[0]:
                body = body.replace(edit[1], edit[2])
            dst.writestr(info, body, zipfile.ZIP_DEFLATED, level)
    return out.getvalue()


def test_a_form_compressed_otherwise_with_the_same_parts_is_unchanged(county: Path) -> None:
    # forms made by an earlier kepuxl hold the same parts compressed otherwise: not to be sent again
    config = county / "kepuxl.toml"
    first = make.make_forms(config)
    forms = sorted(first.outdir.glob("*.xlsx"))
    same, edited = forms[0], forms[1]
    same.write_bytes(_rezipped(same.read_bytes(), 9))
    assert same.read_bytes() != Context.load(config).form_bytes(Context.load(config).campaign.units[0])
    edited.write_bytes(
        _rezipped(edited.read_bytes(), 9, ("docProps/app.xml", b"<Application>", b"<Application>x"))
    )
    status = {Path(f["file"]).name: f["status"] for f in make.make_forms(config).forms}
    assert status[same.name] == "unchanged"
    assert status[edited.name] == "replaced"
    assert not make.same_parts(b"PK not a zip", same.read_bytes())


# -- 13.4.13: shared outputs follow the umask -----------------------------------------------------------


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_follow_the_umask(tmp_path: Path, mask: int, file_mode: int, dir_mode: int) -> None:
    old = os.umask(mask)
    try:
        config = init_campaign(tmp_path / "c", with_returns=True)
        forms = make.make_forms(config)
        report = collect(tmp_path / "c" / "inbox", config, now=NOW)
    finally:
        os.umask(old)
    folder = tmp_path / "c"
    files = [
        folder / "units.xlsx",
        folder / "邮件模板.txt",
        Path(report.outputs["summary"]),
        *map(Path, report.outputs["feedback_files"]),
        *(Path(f["file"]) for f in forms.forms),
    ]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(file_mode)}
    folders = [forms.outdir, Path(report.outputs["feedback"])]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {oct(dir_mode)}


# -- 13.4.16: -j means the same in both commands -----------------------------------------------------------


def test_jobs_zero_and_n_mean_the_same_in_collect_and_make_forms(county: Path, monkeypatch) -> None:
    monkeypatch.chdir(county)
    for command in ("make-forms", "collect"):
        code, out, _ = invoke(command, "--help")
        assert "0表示在本进程中" in squash(out) and "其他数字表示用这么多个工作进程" in squash(out)
    results = {}
    for jobs in ("0", "2"):
        code, out, err = invoke("make-forms", "-j", jobs, "--json", "-")
        assert code == 0, err
        assert json.loads(out)["counts"]["new" if jobs == "0" else "unchanged"] == 26
        code, out, err = invoke("collect", "inbox", "-j", jobs, "--json", "-")
        assert code == 0, err
        data = json.loads(out)
        results[jobs] = (data["counts"], data["totals"], [f["outcome"] for f in data["files"]])
    assert results["0"] == results["2"]


# -- the ledger records what the outputs are -------------------------------------------------------------


def ledger_runs(county: Path) -> list[dict]:
    db = sqlite3.connect(county / ".kepuxl" / "ledger.sqlite")
    try:
        rows = db.execute("SELECT at, state, outputs FROM runs ORDER BY rowid").fetchall()
    finally:
        db.close()
    return [{"at": at, "state": state, "outputs": json.loads(outputs)} for at, state, outputs in rows]


def assert_ledger_matches_disk(county: Path) -> None:
    """The last run is done and what it recorded is what is on disk, byte for byte."""
    last = ledger_runs(county)[-1]
    assert last["state"] == "done"
    summary = Path(last["outputs"]["summary"]["path"])
    assert hashlib.sha256(summary.read_bytes()).hexdigest() == last["outputs"]["summary"]["sha256"]
    folder = Path(last["outputs"]["feedback"]["path"])
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert on_disk == last["outputs"]["feedback"]["files"]


def test_a_run_left_unfinished_is_reported_and_repaired(county: Path) -> None:
    config, inbox = county / "kepuxl.toml", county / "inbox"
    collect(inbox, config, now=NOW)
    assert_ledger_matches_disk(county)
    db = sqlite3.connect(county / ".kepuxl" / "ledger.sqlite")
    with db:  # what a run killed after recording itself and before its outputs were all in place leaves
        db.execute("UPDATE runs SET state = 'writing' WHERE rowid = (SELECT MAX(rowid) FROM runs)")
    db.close()
    again = collect(inbox, config, now=datetime(2023, 6, 5, 10, 0))
    [note] = [f for f in again.findings if f.code is Code.OUT_INTERRUPTED]
    assert "2023-06-05 09:00:00" in note.message
    assert [r["state"] for r in ledger_runs(county)] == ["interrupted", "done"]
    assert_ledger_matches_disk(county)
    third = collect(inbox, config, now=datetime(2023, 6, 5, 11, 0))
    assert not [f for f in third.findings if f.code is Code.OUT_INTERRUPTED]
