"""A drafts folder replaced as one set: drafts written into a fresh sibling folder with a manifest
(草稿清单.json) written last, then swapped in; `recover` finishes or undoes a swap a kill interrupted."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from ..files import os_error_zh, write_atomic
from ..findings import Code, Finding, KepuError, dumps

# -- a drafts folder is one set ---------------------------------------------------------------------

MANIFEST = "草稿清单.json"  # in every drafts folder: the drafts of the set, written last
_LEFT_BY_FILE_MANAGERS = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


def _aside(folder: Path, what: str) -> Path:
    """`.统计表.kepuxl-new` / `.统计表.kepuxl-old`: where a new set is written, where the old one goes."""
    return folder.with_name(f".{folder.name}.kepuxl-{what}")


class DraftSet:
    """A drafts folder written as a whole, so that a kill never leaves part of a set to be sent.

    The drafts go into a fresh sibling folder and, last, the manifest listing them (file, unit,
    SHA-256); then the old folder is renamed aside, the new one renamed in and the old one removed.
    Nothing is deleted before its replacement exists: a run killed at any moment leaves the complete
    old set or the complete new one, plus a sibling that the next run (`recover`) finishes or removes.
    """

    def __init__(self, outdir: Path, kind: str, campaign: str):
        self.outdir, self.kind, self.campaign = outdir, kind, campaign
        self.new = _aside(outdir, "new")
        self.entries: list[dict[str, str]] = []
        self.committed = False

    def __enter__(self) -> DraftSet:
        recover(self.outdir)
        _check_own(self.outdir)
        try:
            self.new.mkdir(parents=True)
        except OSError as exc:
            raise KepuError(
                Finding.make(Code.OUT_WRITE_FAILED, path=str(self.new), error=os_error_zh(exc))
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            shutil.rmtree(self.new, ignore_errors=True)

    def add(self, name: str, unit_id: str, data: bytes) -> Path:
        path = write_atomic(self.new / name, data)
        self.entries.append(
            {"file": path.name, "unit_id": unit_id, "sha256": hashlib.sha256(data).hexdigest()}
        )
        return self.outdir / path.name

    def commit(self) -> None:
        manifest = {"kepuxl": "drafts", "kind": self.kind, "campaign": self.campaign, "drafts": self.entries}
        write_atomic(self.new / MANIFEST, dumps(manifest).encode("utf-8"))
        old = _aside(self.outdir, "old")
        moved = False
        try:
            if self.outdir.exists():
                os.replace(self.outdir, old)
                moved = True
            os.replace(self.new, self.outdir)
        except OSError as exc:  # Windows: a draft open in another program; the old set is put back
            if moved:
                with contextlib.suppress(OSError):  # else `recover` puts it back on the next run
                    os.replace(old, self.outdir)
            raise KepuError(
                Finding.make(Code.OUT_WRITE_FAILED, path=str(self.outdir), error=os_error_zh(exc))
            ) from None
        self.committed = True
        shutil.rmtree(old, ignore_errors=True)


def recover(outdir: Path) -> None:
    """Finish or undo the swap of a run killed between its two renames; remove what a run left aside."""
    new, old = _aside(outdir, "new"), _aside(outdir, "old")
    try:
        if not outdir.exists():
            if new.is_dir() and not read_manifest(new)[1]:
                os.replace(new, outdir)
            elif old.is_dir():
                os.replace(old, outdir)
    except OSError as exc:
        raise KepuError(
            Finding.make(Code.OUT_WRITE_FAILED, path=str(outdir), error=os_error_zh(exc))
        ) from None
    for left in (new, old):
        shutil.rmtree(left, ignore_errors=True)


def read_manifest(folder: Path) -> tuple[dict[str, dict[str, str]], str]:
    """(file name → its manifest entry, "") for a complete set; else ({}, why it is not one)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = {str(e["file"]): e for e in manifest["drafts"]}
    except FileNotFoundError:
        return {}, f"没有草稿清单 {MANIFEST}（生成草稿时被中断，或由旧版本生成）"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {}, f"草稿清单 {MANIFEST} 无法读取（{type(exc).__name__}）"
    missing = [name for name in entries if not (folder / name).is_file()]
    if missing:
        more = "等" if len(missing) > 3 else ""
        return {}, f"清单中的 {len(entries)} 封草稿缺少 {len(missing)} 封（{'、'.join(missing[:3])}{more}）"
    return entries, ""


def _check_own(outdir: Path) -> None:
    """Refuse to replace a folder holding anything but kepuxl's drafts: -o may name the clerk's mail."""
    if outdir.exists() and not outdir.is_dir():
        raise KepuError(
            Finding.make(Code.OUT_WRITE_FAILED, path=str(outdir), error="这是一个文件，不是文件夹")
        )
    for path in sorted(outdir.iterdir()) if outdir.exists() else ():
        name = path.name
        if name == MANIFEST or name.lower() in _LEFT_BY_FILE_MANAGERS or _is_draft(path):
            continue
        if name.startswith(".kepuxl-") and name.endswith(".tmp"):  # a killed write_atomic's temp file
            continue
        raise KepuError(Finding.make(Code.MAIL_DRAFTS_FOLDER, folder=str(outdir), name=name))


def _is_draft(path: Path) -> bool:
    """A kepuxl draft: an .eml file whose header block names an X-Kepuxl-Kind."""
    if path.suffix.lower() != ".eml" or not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(8192).split(b"\r\n\r\n", 1)[0]
    return b"\r\nX-Kepuxl-Kind: " in head
