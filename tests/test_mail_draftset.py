"""Nothing lost: a drafts folder is written and replaced as one set, and `send` sends only a complete set
(issue 12).

The kill tests run the real `kepuxl mail drafts` in a subprocess on a 300-unit campaign and SIGKILL it
after random delays; whatever the moment, the folder then holds the complete old set or the complete
new one, and `send` sends every draft of it or refuses.
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ROSTER_HEADER, use_roster
from mailservers import (  # noqa: F401 (fixtures)
    Certs,
    SmtpServer,
    certs_fixture,
    smtp_server_fixture,
)
from test_mail import configure, use_smtp

from kepu_xl import mail
from kepu_xl.context import CONFIG_NAME
from kepu_xl.findings import Code, KepuError
from kepu_xl.init import init_campaign

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # inside aiosmtpd

UNITS = 300


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "青溪县"
    configure(init_campaign(path), pause=0, timeout=10)
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def config(folder: Path) -> Path:
    return folder / CONFIG_NAME


def big_roster(config: Path, n: int = UNITS) -> None:
    rows = [
        (f"U{i:03d}", f"第{i}号单位", "其他", "张三", "1", f"u{i:03d}@unit.test") for i in range(1, n + 1)
    ]
    use_roster(config, [ROSTER_HEADER, *rows])


def set_subject(folder: Path, subject: str) -> None:
    template = folder / "邮件模板.txt"
    body = template.read_text(encoding="utf-8").partition("\n")[2]
    template.write_text(f"主题：{subject}{{单位}}\n{body}", encoding="utf-8")


def subjects(outdir: Path) -> set[str]:
    """The versions (subject prefixes) of the drafts in `outdir`: one for a whole set."""
    found = set()
    for path in outdir.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.add(str(msg["Subject"]).split("第")[0])
    return found


def drafts_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "kepu_xl", "mail", "drafts", "-c", str(config)]


def run_and_kill(config: Path, ready: Callable[[], bool]) -> None:
    """`kepuxl mail drafts` in a subprocess, SIGKILLed (no cleanup runs) as soon as `ready()` holds."""
    proc = subprocess.Popen(drafts_cmd(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not ready():
            time.sleep(0.002)
    finally:
        proc.kill()  # a no-op when it has already finished
        proc.wait()


def test_a_killed_mail_drafts_leaves_a_whole_set(config: Path, folder: Path) -> None:
    big_roster(config)
    outdir = folder / "output" / "邮件" / "统计表"
    new, old = outdir.with_name(".统计表.kepuxl-new"), outdir.with_name(".统计表.kepuxl-old")
    set_subject(folder, "V0-")
    started = time.monotonic()
    subprocess.run(drafts_cmd(config), check=True, capture_output=True)
    full = time.monotonic() - started
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)

    def written() -> int:
        return len(os.listdir(new)) if new.is_dir() else 0

    pause, count, delay = rng.uniform(0, 0.5), rng.randint(1, 250), rng.uniform(0.3, 1.0) * full
    # (moment of the kill, the sets it may leave: "old" = the one before the run, "new" = the run's)
    moments: list[tuple[str, Callable[[], bool], set[str]]] = [
        ("start-up", lambda: time.monotonic() - started > pause, {"old"}),
        (f"{delay:.2f}s of a {full:.2f}s run", lambda: time.monotonic() - started > delay, {"old", "new"}),
        (f"{count} drafts written", lambda: written() >= count, {"old"}),
        ("manifest written", lambda: (new / mail.MANIFEST).exists(), {"old", "new"}),
        ("swapped", old.exists, {"new"}),  # or the run ended first
    ]
    current = "V0-"
    for k, (moment, ready, allowed) in enumerate(moments, start=1):
        label = f"V{k}-"
        set_subject(folder, label)
        started = time.monotonic()
        run_and_kill(config, ready)
        where = f"seed {seed}, killed at {moment} ({time.monotonic() - started:.2f}s)"
        left = {p.name for p in outdir.parent.iterdir()}
        # the folder, or, killed between the two renames, the siblings: recognisable, finished by send
        assert left <= {"统计表", new.name, old.name}, where
        report = mail.send_drafts(config, dry_run=True)
        assert [i.outcome for i in report.items] == ["dry-run"] * UNITS, where
        assert sorted(p.name for p in outdir.parent.iterdir()) == ["统计表"], where
        versions = subjects(outdir)
        assert versions in [{v} for v in ({"old": current, "new": label}[a] for a in allowed)], where
        current = versions.pop()
    assert current == f"V{len(moments)}-"  # the last run's set is in place


def test_a_swap_cut_between_its_two_renames_is_finished_or_undone(
    config: Path, folder: Path, tmp_path: Path
) -> None:
    """The moment a kill is unlikely to hit: the old set renamed aside, the new one not yet renamed in."""
    big_roster(config, 5)
    outdir = folder / "output" / "邮件" / "统计表"
    new, old = outdir.with_name(".统计表.kepuxl-new"), outdir.with_name(".统计表.kepuxl-old")
    set_subject(folder, "旧版")
    mail.make_drafts(config)
    shutil.copytree(outdir, tmp_path / "旧版")
    set_subject(folder, "新版")
    mail.make_drafts(config)
    # the new set is complete: it is renamed in, and the old one removed
    os.replace(outdir, new)
    shutil.copytree(tmp_path / "旧版", old)
    mail.recover(outdir)
    assert subjects(outdir) == {"新版"}
    assert sorted(p.name for p in outdir.parent.iterdir()) == ["统计表"]
    # the new set is incomplete (no manifest yet): the old set goes back, and `send` sends it whole
    os.replace(outdir, new)
    (new / mail.MANIFEST).unlink()
    shutil.copytree(tmp_path / "旧版", old)
    report = mail.send_drafts(config, dry_run=True)
    assert [i.outcome for i in report.items] == ["dry-run"] * 5 and subjects(outdir) == {"旧版"}
    assert sorted(p.name for p in outdir.parent.iterdir()) == ["统计表"]


def test_send_refuses_an_incomplete_set_and_sends_nothing(
    config: Path, folder: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_smtp(config, smtp_server, certs)
    report = mail.make_drafts(config)
    outdir = report.outdir
    assert len(report.drafts) == 26
    lost = sorted(outdir.glob("*.eml"))[3:]
    for path in lost:  # what the old `mail drafts` left when it was killed after 3 drafts
        path.unlink()
    with pytest.raises(KepuError) as info:
        mail.send_drafts(config, password=smtp_server.password)
    names = "、".join(p.name for p in lost[:3])
    assert [f.message for f in info.value.findings] == [
        Code.MAIL_DRAFTS_INCOMPLETE.format(folder=outdir, error=f"清单中的 26 封草稿缺少 23 封（{names}等）")
    ]
    # a folder without a manifest (made by an older kepuxl, or cut before its end) is refused too
    (outdir / mail.MANIFEST).unlink()
    with pytest.raises(KepuError) as info:
        mail.send_drafts(config, password=smtp_server.password)
    assert f"没有草稿清单 {mail.MANIFEST}" in info.value.findings[0].message
    assert smtp_server.received == [] and smtp_server.logins == 0
