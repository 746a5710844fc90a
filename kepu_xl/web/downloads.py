"""下载: the files the server lists itself — the last report's outputs and the forms folder — by name.

A download is asked for by a fixed key (`summary`, `report`, `feedback.zip`, `forms.zip`) or a unit id,
looked up in those lists; nothing the client sends is ever joined to a folder. Zips are built into a
temporary file (spooled to disk past 32 MB), stored without recompression (xlsx is already compressed).
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, abort, render_template, send_file

from ..make import make_forms

if TYPE_CHECKING:
    from .app import Site

FORMS_DIR = ("output", "forms")  # make_forms' default folder in the campaign


@dataclass(frozen=True, slots=True)
class Download:
    key: str
    label: str
    name: str  # the file name the browser saves
    files: tuple[Path, ...]  # one file, or the members of a zip

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def listing(site: Site) -> dict[str, Download]:
    """What can be downloaded now, by key (only files that exist)."""
    camp, report = site.campaign(), site.report()
    out: dict[str, Download] = {}
    outputs: dict[str, Any] = report["outputs"] if report else {}
    for key, label in (("summary", "汇总表"), ("report", "总结报告")):
        path = Path(outputs[key]) if isinstance(outputs.get(key), str) and outputs[key] else None
        if path is not None and path.is_file():
            out[key] = Download(key, label, path.name, (path,))
    feedback = tuple(Path(p) for p in outputs.get("feedback_files") or () if Path(p).is_file())
    if feedback:
        out["feedback.zip"] = Download("feedback.zip", "全部反馈表", f"{camp.title}_反馈表.zip", feedback)
    forms_dir = camp.folder.joinpath(*FORMS_DIR)
    forms = tuple(sorted(p for p in forms_dir.glob("*.xlsx") if not p.name.startswith((".", "~$"))))
    if forms:
        out["forms.zip"] = Download("forms.zip", "全部空白统计表", f"{camp.title}_统计表.zip", forms)
    return out


def install(app: Flask, site: Site) -> None:
    @app.get("/downloads")
    def downloads_page() -> str:
        job = site.jobs.latest("forms")
        return render_template("downloads.html", page="downloads", items=listing(site), job=job)

    @app.get("/download/<key>")
    def download(key: str) -> Response:
        item = listing(site).get(key)
        if item is None:
            abort(404)
        if len(item.files) == 1 and not key.endswith(".zip"):
            return send_file(item.files[0], as_attachment=True, download_name=item.name)
        return send_file(_zipped(item.files), as_attachment=True, download_name=item.name)

    @app.get("/units/<unit_id>/feedback")
    def unit_feedback(unit_id: str) -> Response:
        report = site.report()
        entry = next((u for u in report["units"] if u["unit_id"] == unit_id), None) if report else None
        path = Path(entry["feedback"]) if entry and entry.get("feedback") else None
        if path is None or not path.is_file():
            abort(404)
        return send_file(path, as_attachment=True, download_name=path.name)

    @app.post("/forms/make")
    def forms_make() -> str:
        config = site.config
        site.jobs.start("forms", "生成统计表", lambda progress: make_forms(config, progress=progress))
        return render_template("_job.html", job=site.jobs.current, busy=False)


def _zipped(files: tuple[Path, ...]) -> Any:
    spool = tempfile.SpooledTemporaryFile(max_size=32 << 20)  # noqa: SIM115 - send_file closes it
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as zf:
        for path in files:
            zf.write(path, arcname=path.name)
    spool.seek(0)
    return spool
