"""邮件: the drafts folders as lists; make drafts or reminders; send a folder (or rehearse it).

The folders are the ones the server finds under output/邮件/ with a complete manifest
(`mail.read_manifest`); the page names a folder by its name among those, never by a path. Sending asks
for the authorisation code in a password field: it goes to `send_drafts` for that one run and is kept
nowhere (not in a file, a cookie, the job's record or a log).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, abort, render_template, request

from ..mail import make_drafts, read_manifest, send_drafts
from ..remind import make_reminders

if TYPE_CHECKING:
    from .app import Site

MAIL_DIR = ("output", "邮件")


@dataclass(frozen=True, slots=True)
class Draft:
    file: str
    unit: str
    to: str


@dataclass(frozen=True, slots=True)
class Folder:
    name: str  # the folder's name under output/邮件/: 统计表, 催报-20230531 …
    path: Path
    drafts: tuple[Draft, ...]
    problem: str  # why it cannot be sent ("" for a complete set)

    @property
    def kind(self) -> str:
        return "催报" if self.name.startswith("催报") else "下发"


def folders(site: Site) -> list[Folder]:
    """Every drafts folder of the campaign, newest reminders first."""
    camp = site.campaign()
    root = camp.folder.joinpath(*MAIL_DIR)
    found = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    out = []
    for path in reversed([p for p in found if not p.name.startswith(".")]):
        entries, problem = read_manifest(path)
        drafts = []
        for file, entry in sorted(entries.items()):
            unit = camp.unit(entry.get("unit_id", ""))
            name = unit.name if unit else entry.get("unit_id", "")
            drafts.append(Draft(file, name, unit.email if unit else ""))
        out.append(Folder(path.name, path, tuple(drafts), problem))
    return out


def install(app: Flask, site: Site) -> None:
    @app.get("/mail")
    def mail_page() -> str:
        return render_template("mail.html", page="mail", folders=folders(site), job=site.jobs.latest("mail"))

    @app.post("/mail/drafts")
    def mail_drafts() -> str:
        config = site.config
        site.jobs.start("mail", "生成下发邮件草稿", lambda progress: make_drafts(config, progress=progress))
        return render_template("_job.html", job=site.jobs.current, busy=False)

    @app.post("/mail/remind")
    def mail_remind() -> str:
        config, inbox = site.config, site.inbox
        site.jobs.start(
            "mail", "生成催报邮件", lambda progress: make_reminders(config, inbox, progress=progress)
        )
        return render_template("_job.html", job=site.jobs.current, busy=False)

    @app.post("/mail/send")
    def mail_send() -> str:
        folder = next((f for f in folders(site) if f.name == request.form.get("folder", "")), None)
        if folder is None:
            abort(404)
        dry_run = request.form.get("dry_run") == "1"
        password = "" if dry_run else request.form.get("password", "")
        config, path = site.config, folder.path
        label = "演练发送（不连接服务器）" if dry_run else "发送邮件"
        site.jobs.start(
            "mail",
            label,
            lambda progress: send_drafts(config, path, password=password, dry_run=dry_run, progress=progress),
        )
        return render_template("_job.html", job=site.jobs.current, busy=False)
