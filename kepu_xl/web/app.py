"""The 工作台 pages: each view reads the library's results or makes one library call, then renders.

Pages: 概览 `/`, 单位 `/units` (and `/units/<id>`), 收件 `/inbox`, 下载 `/downloads`, 邮件 `/mail`.
Every state change is a POST that names one library call: collect, confirm/undo, make_forms,
make_drafts/make_reminders, send_drafts, or adding a file to the inbox (`inbox_add.add`). Downloads are
looked up by name in lists the server made itself (the last report's outputs, the forms folder); no path
from the client is ever joined to a folder. Templates autoescape: unit text is never HTML.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from flask import Flask, Response, abort, jsonify, redirect, render_template, request

from .. import campaign as campaign_mod
from .. import confirmation as confirm_mod
from .. import inbox_add, lastrun, locks
from .. import spec as spec_mod
from ..campaign import Campaign
from ..findings import KepuError
from ..intake import Limits
from ..ledger import Ledger, ledger_path
from ..results import Confirmation
from ..spec import FormSpec
from . import downloads, guard, mailpage, views
from .jobs import Jobs

STATIC = ("htmx.min.js", "app.js", "app.css", "htmx.LICENSE.txt")
UPLOAD_CEILING = max(Limits().max_total, Limits().max_video) + (1 << 20)  # the largest file taken, plus slack


class Site:
    """One campaign behind the page: its config, the run's keys, the running job, cached loads."""

    def __init__(self, config: Path, keys: guard.Keys):
        self.config = Path(config).resolve()
        self.keys = keys
        self.jobs = Jobs()
        self._loaded: tuple[tuple[int, ...], Campaign, FormSpec] | None = None
        self._rows: tuple[Campaign, dict[str, Any] | None, list[views.Row]] | None = None

    def _load(self) -> tuple[Campaign, FormSpec]:
        """The campaign and its form, read again when kepuxl.toml or the roster changed."""
        stamp: tuple[int, ...] = (_mtime(self.config),)
        if self._loaded is not None:
            camp = self._loaded[1]
            stamp += (_mtime(camp.roster if camp.roster.is_absolute() else camp.folder / camp.roster),)
            if self._loaded[0] == stamp:
                return self._loaded[1], self._loaded[2]
        camp = campaign_mod.load(self.config)
        spec = spec_mod.load(spec_mod.find(camp.form, camp.folder))
        roster = camp.roster if camp.roster.is_absolute() else camp.folder / camp.roster
        self._loaded = ((_mtime(self.config), _mtime(roster)), camp, spec)
        return camp, spec

    def campaign(self) -> Campaign:
        return self._load()[0]

    def spec(self) -> FormSpec:
        return self._load()[1]

    def report(self) -> dict[str, Any] | None:
        return lastrun.load(self.campaign().state_dir)

    def rows(self) -> list[views.Row]:
        """Every unit's row, made once per report (a province has 10,000)."""
        camp, report = self.campaign(), self.report()
        if self._rows is None or self._rows[0] is not camp or self._rows[1] is not report:
            self._rows = (camp, report, views.rows(camp, report))
        return self._rows[2]

    @property
    def inbox(self) -> Path:
        return self.campaign().folder / "inbox"


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def create_app(config: Path, keys: guard.Keys) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # forms only; uploads are read as a stream (see upload)
    site = Site(config, keys)
    app.extensions["kepuxl"] = site
    guard.install(app, keys)
    static = _static_files()

    @app.context_processor
    def common() -> dict[str, Any]:
        try:
            camp: Campaign | None = site.campaign()
        except KepuError:  # the error page says why; its header goes without the title
            camp = None
        return {"campaign": camp, "csrf": keys.csrf, "csrf_header": guard.CSRF_HEADER, "site": site}

    @app.errorhandler(KepuError)
    def library_error(exc: KepuError) -> tuple[str, int]:
        text = "\n".join(f.message for f in exc.findings) or str(exc)
        return render_template("error.html", message=text), 500

    @app.get("/static/<name>")
    def static_file(name: str) -> Response:
        if name not in static:  # a fixed list: the name is a key, never a path
            abort(404)
        data, mimetype = static[name]
        return Response(data, mimetype=mimetype)

    @app.get("/")
    def overview() -> str:
        return _overview(site)

    @app.get("/units")
    def units() -> str:
        return _units(site)

    @app.get("/units/<unit_id>")
    def unit(unit_id: str) -> str:
        return _unit(site, unit_id)

    @app.post("/units/<unit_id>/confirm")
    def confirm(unit_id: str) -> str | Response:
        return _confirm(site, unit_id)

    @app.get("/inbox")
    def inbox() -> str:
        job = site.jobs.latest("collect")
        return render_template("inbox.html", page="inbox", limits=_limits_text(), job=job)

    @app.post("/inbox/upload")
    def upload() -> Response:
        return _upload(site)

    @app.post("/collect")
    def collect() -> str:
        return _start_collect(site)

    @app.get("/jobs/<kind>")
    def job_status(kind: str) -> Response:
        return _job_status(site, kind)

    downloads.install(app, site)
    mailpage.install(app, site)
    return app


def _static_files() -> dict[str, tuple[bytes, str]]:
    from importlib import resources

    types = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}
    folder = resources.files(__package__) / "static"
    return {
        name: ((folder / name).read_bytes(), types[Path(name).suffix] + "; charset=utf-8") for name in STATIC
    }


# -- 概览 -------------------------------------------------------------------------------------------


def _overview(site: Site) -> str:
    camp, spec, report = site.campaign(), site.spec(), site.report()
    now = datetime.now()
    deadline, overdue = views.deadline_text(camp.deadline, now)
    headline: list[dict[str, Any]] = []
    all_totals: list[dict[str, Any]] = []
    if report is not None:
        headline = views.totals_rows(report, views.headline_fields(spec))
        all_totals = views.totals_rows(report, spec.fields)
    return render_template(
        "overview.html",
        page="overview",
        report=report,
        deadline=deadline,
        overdue=overdue,
        counts=views.counts(report, camp),
        headline=headline,
        all_totals=all_totals,
        has_previous=bool(report and report.get("previous_totals")),
        last_collect=_when(report["generated_at"]) if report else "",
        job=site.jobs.latest("collect"),
    )


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


# -- 单位 -------------------------------------------------------------------------------------------


def _units(site: Site) -> str:
    args = request.args
    status = args.get("status", "")
    status = status if status in dict(views.FILTERS) else ""
    sort = args.get("sort", "seq")
    sort = sort if sort in dict(views.SORTS) else "seq"
    descending = args.get("desc") == "1"
    query = args.get("q", "")[:100]
    all_rows = site.rows()
    selected = views.select(all_rows, status, query, sort, descending)
    shown = views.page(selected, _int(args.get("page"), 1))
    template = "_unit_rows.html" if request.headers.get("HX-Request") else "units.html"
    return render_template(
        template,
        page="units",
        shown=shown,
        status=status,
        sort=sort,
        desc=descending,
        query=query,
        filters=views.FILTERS,
        sorts=views.SORTS,
        total=len(all_rows),
    )


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


DONE = {"confirm": "已记录核实，重新汇总后生效。", "undo": "已撤销核实，重新汇总后生效。"}


def _unit(site: Site, unit_id: str, error: str = "") -> str:
    camp, report = site.campaign(), site.report()
    unit = camp.unit(unit_id)
    if unit is None:
        abort(404)
    entry = views.unit_entry(report, unit_id)
    return render_template(
        "unit.html",
        page="units",
        unit=unit,
        entry=entry,
        status_word=views.STATUS_WORDS.get(entry["status"] if entry else views.NOT_COLLECTED, ""),
        findings=views.unit_findings(report, unit.name),
        severity_words=views.SEVERITY_WORDS,
        versions=lastrun.versions(camp.state_dir, site.spec(), unit_id),
        confirmation=_standing(camp, unit_id),
        from_words=views.FROM_WORDS,
        message=DONE.get(request.args.get("done", ""), ""),
        error=error,
    )


def _standing(camp: Campaign, unit_id: str) -> Confirmation | None:
    """The unit's 核实 as the ledger has it now (the report shows it only from the next collect on)."""
    path = ledger_path(camp.state_dir)
    if not path.exists():
        return None
    with Ledger(path) as ledger:
        return ledger.confirmations().get(unit_id)


def _confirm(site: Site, unit_id: str) -> str | Response:
    camp = site.campaign()
    if camp.unit(unit_id) is None:
        abort(404)
    undo = request.form.get("undo") == "1"
    note = request.form.get("note", "")
    if not undo and not note.strip():
        return _unit(site, unit_id, error="请写明核实情况，例如“电话核实，确为5万元”。")
    if undo:
        report = confirm_mod.undo(site.config, [unit_id])
    else:
        report = confirm_mod.confirm(site.config, [unit_id], note)
    (item,) = report.items
    if item.outcome == "refused":
        return _unit(site, unit_id, error="；".join(f.message for f in report.findings) or "未记录。")
    done = "undo" if undo else "confirm"  # then GET: a reload does not post again
    return redirect(f"/units/{quote(unit_id, safe='')}?done={done}", code=303)


# -- 收件 and 重新汇总 ------------------------------------------------------------------------------


def _limits_text() -> str:
    limits = Limits()
    return (
        f"统计表、照片、文档每个不超过 {limits.max_file >> 20} MB，邮件 {limits.max_eml >> 20} MB，"
        f"压缩包 {limits.max_total >> 20} MB"
    )


def _upload(site: Site) -> Response:
    """One file per request, its bytes as the body and its name in a header (URL-encoded UTF-8)."""
    # the body may be as large as the inbox takes (a video: 500 MB); each kind's cap is checked by `add`
    request.max_content_length = UPLOAD_CEILING
    raw_name = unquote(request.headers.get("X-File-Name", ""))
    added = inbox_add.add(site.inbox, raw_name, request.stream, size=request.content_length)
    status = 200 if added.outcome != "refused" else 422
    return Response(jsonify(added.to_dict()).get_data(), status=status, mimetype="application/json")


def _start_collect(site: Site) -> str:
    from ..collection import collect

    camp = site.campaign()
    if locks.is_held(lastrun.lock_path(camp.state_dir)):
        return render_template("_job.html", job=site.jobs.latest("collect"), busy=True)
    inbox, config = site.inbox, site.config
    site.jobs.start("collect", "重新汇总", lambda progress: collect(inbox, config, progress=progress))
    return render_template("_job.html", job=site.jobs.latest("collect"), busy=False)


def _job_status(site: Site, kind: str) -> Response:
    job = site.jobs.latest(kind)
    response = Response(render_template("_job.html", job=job, busy=False))
    if job is not None and not job.running and not job.error and request.args.get("wait") == "1":
        response.headers["HX-Refresh"] = "true"  # done: the page shows what changed
    return response
