"""Files dropped on the page's 收件 go into the inbox: original names, never overwriting, same content once,
the inbox's own size caps enforced while reading, names treated as data (never a path)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from kepu_xl import inbox_add
from kepu_xl.intake import Limits, scan


class Trickle(io.RawIOBase):
    """A stream that says nothing of its size and counts what was read from it."""

    def __init__(self, size: int, chunk: int = 1000):
        self.left, self.chunk, self.read_bytes = size, chunk, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        take = min(self.left, self.chunk if n < 0 else min(n, self.chunk))
        self.left -= take
        self.read_bytes += take
        return b"x" * take


def add(inbox: Path, name: str, data: bytes, **kw) -> inbox_add.Added:
    return inbox_add.add(inbox, name, io.BytesIO(data), **kw)


def listing(inbox: Path) -> list[str]:
    return sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*"))


def test_a_file_keeps_its_name_and_a_taken_name_gets_a_suffix(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    first = add(inbox, "城关街道-统计表.xlsx", b"one")
    second = add(inbox, "城关街道-统计表.xlsx", b"two")
    third = add(inbox, "城关街道-统计表.xlsx", b"three")
    assert (first.outcome, first.path) == ("saved", "城关街道-统计表.xlsx")
    assert (second.outcome, second.path) == ("saved", "城关街道-统计表 (2).xlsx")
    assert (third.outcome, third.path) == ("saved", "城关街道-统计表 (3).xlsx")
    assert (inbox / "城关街道-统计表.xlsx").read_bytes() == b"one"  # never overwritten
    assert (inbox / "城关街道-统计表 (2).xlsx").read_bytes() == b"two"
    assert listing(inbox) == ["城关街道-统计表 (2).xlsx", "城关街道-统计表 (3).xlsx", "城关街道-统计表.xlsx"]


def test_the_same_content_is_stored_once_whatever_its_name(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "邮件").mkdir(parents=True)
    (inbox / "邮件" / "早先的.xlsx").write_bytes(b"same bytes")
    (inbox / "别的.xlsx").write_bytes(b"same size!")  # same length, other content
    again = add(inbox, "又发了一次.xlsx", b"same bytes")
    assert again.outcome == "same" and again.path == "邮件/早先的.xlsx"
    assert again.finding is not None and again.finding.code.name == "UPLOAD_SAME"
    assert "邮件/早先的.xlsx" in again.finding.message
    assert listing(inbox) == ["别的.xlsx", "邮件", "邮件/早先的.xlsx"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("../../evil.xlsx", "evil.xlsx"),
        ("..\\..\\windows\\evil.xlsx", "evil.xlsx"),
        ("/etc/cron.d/job.xlsx", "job.xlsx"),
        ("C:\\Users\\clerk\\回执.xlsx", "回执.xlsx"),
        ("CON.xlsx", "_CON.xlsx"),
        ("回执\u202eslx.xlsx", "回执slx.xlsx"),  # a bidi override never reaches the file system
        ('a<b>:"|?*.xlsx', "a_b______.xlsx"),
    ],
)
def test_names_are_data_never_a_path(tmp_path: Path, raw: str, stored: str) -> None:
    inbox = tmp_path / "box" / "inbox"
    added = add(inbox, raw, b"data")
    assert (added.outcome, added.path) == ("saved", stored)
    assert [p.name for p in (tmp_path / "box").rglob("*")] == ["inbox", stored]


def test_a_long_name_is_cut_to_fit_every_file_system(tmp_path: Path) -> None:
    name = "很长的单位名称" * 20 + ".xlsx"
    first = add(tmp_path, name, b"1")
    second = add(tmp_path, name, b"2")
    for added in (first, second):
        assert added.outcome == "saved" and added.path.endswith(".xlsx")
        assert len(added.path.encode("utf-8")) <= 255
    assert second.path.endswith(" (2).xlsx")


def test_declared_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    limits = Limits(max_file=1000)
    stream = Trickle(5000)
    added = inbox_add.add(tmp_path, "大表.xlsx", stream, size=5000, limits=limits)
    assert added.outcome == "refused" and added.finding.code.name == "UPLOAD_TOO_LARGE"
    assert stream.read_bytes == 0
    assert listing(tmp_path) == []


def test_too_large_is_caught_while_reading_and_leaves_nothing(tmp_path: Path) -> None:
    limits = Limits(max_file=10_000)
    stream = Trickle(10_000_000)
    added = inbox_add.add(tmp_path, "大表.xlsx", stream, limits=limits)  # no size declared
    assert added.outcome == "refused" and added.finding.code.name == "UPLOAD_TOO_LARGE"
    assert stream.read_bytes <= 10_000 + inbox_add.CHUNK  # stopped at the cap, not at the end
    assert listing(tmp_path) == []  # the temp file is gone too


def test_caps_follow_the_inbox_by_kind(tmp_path: Path) -> None:
    limits = Limits(max_file=100, max_eml=300, max_total=1000)
    assert add(tmp_path, "a.xlsx", b"x" * 200, limits=limits).outcome == "refused"
    assert add(tmp_path, "a.eml", b"x" * 200, limits=limits).outcome == "saved"
    assert add(tmp_path, "a.zip", b"y" * 900, limits=limits).outcome == "saved"
    assert add(tmp_path, "b.zip", b"z" * 1001, limits=limits).outcome == "refused"


@pytest.mark.parametrize("name", ["setup.exe", "script.js", "page.html", "无扩展名"])
def test_other_types_are_refused(tmp_path: Path, name: str) -> None:
    added = add(tmp_path, name, b"MZ")
    assert added.outcome == "refused" and added.finding.code.name == "UPLOAD_TYPE"
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "name", ["回执.xls", "回执.et", "回执.ods", "来信.eml", "打包.zip", "照片.JPG", "总结.docx", "盖章.pdf"]
)
def test_what_units_send_is_accepted(tmp_path: Path, name: str) -> None:
    assert add(tmp_path, name, b"data").outcome == "saved"


def test_collect_never_sees_a_half_written_upload(tmp_path: Path) -> None:
    """The bytes are written under a hidden temp name that intake skips, then linked in whole."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seen: list[list[str]] = []

    class Watching(io.RawIOBase):
        sent = False

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            seen.append([c.path for c in scan(inbox)])
            if self.sent:
                return b""
            self.sent = True
            return b"PK\x03\x04 partial"

    added = inbox_add.add(inbox, "回执.xlsx", Watching())
    assert added.outcome == "saved"
    assert all(paths == [] for paths in seen)
    assert [c.path for c in scan(inbox)] == ["回执.xlsx"]
    assert not [n for n in os.listdir(inbox) if n.startswith(".")]
