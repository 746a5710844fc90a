"""Materials sent with a form: a collect report's files → photos, summaries and stamped scans per unit.

A unit's reply carries more than the form: 4–5 photos, the activity summary (.docx/.pdf) and a scan
of the stamped form. Files are attributed to a unit by, in order: the form they came with (the same
e-mail, mbox message or zip), a unit name in their path (城关街道-活动照片1.jpg, 县教育局/总结.docx),
the sender's address in the roster. `shortfalls` compares the counts with the campaign's
[materials] (e.g. photos = 4, summary = 1) and gives one MATERIAL_MISSING finding per gap.

Pure functions over `CollectReport`; collect.py can call `apply(report)` after resolve (see the
function) to put the findings and counts on each unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .campaign import MATERIALS, Campaign, Unit
from .findings import Code, Finding
from .intake import SEP
from .results import CollectReport, FileResult

SCAN_WORDS = re.compile(r"盖章|扫描|签章|公章|scan", re.I)
SUMMARY_WORDS = re.compile(r"总结|小结|报告|summary", re.I)
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic")
WORD_EXT = (".doc", ".docx", ".wps", ".rtf", ".odt")


@dataclass
class UnitMaterials:
    """What one unit sent besides its form, by material key (see campaign.MATERIALS)."""

    unit_id: str
    files: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in MATERIALS})

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.files.items()}

    def to_dict(self) -> dict[str, object]:
        return {"unit_id": self.unit_id, "counts": self.counts, "files": self.files}


def classify(f: FileResult) -> str | None:
    """ "photos" | "summary" | "scan" for a non-form file, else None (by content label, then name)."""
    if f.kind != "other" or f.outcome != "ignored":
        return None
    label = next((x.context.get("kind", "") for x in f.findings if x.code is Code.READ_OTHER_FILE), "")
    name = f.path.rsplit(SEP, 1)[-1].rsplit("/", 1)[-1]
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    image = label == "图片" or (not label and ext in IMAGE_EXT)
    pdf = label == "PDF" or (not label and ext == ".pdf")
    word = "Word" in label or "RTF" in label or "OpenDocument" in label or (not label and ext in WORD_EXT)
    if (image or pdf) and SCAN_WORDS.search(name):
        return "scan"
    if word or (pdf and SUMMARY_WORDS.search(name)):
        return "summary"
    if pdf:
        return "scan"  # a PDF sent with a form and not called a summary is, in practice, the stamped scan
    if image:
        return "photos"
    return None


def _container(path: str) -> str:
    """The e-mail, mbox message or zip a file came in ("" for a loose file)."""
    return path.split(SEP, 1)[0] if SEP in path else ""


def count_materials(report: CollectReport) -> dict[str, UnitMaterials]:
    """unit id → the materials attributed to it (every roster unit present, possibly with none)."""
    camp = report.campaign
    out = {u.id: UnitMaterials(u.id) for u in camp.units}
    owner: dict[str, set[str]] = {}
    for f in report.files:
        if f.unit_id and _container(f.path):
            owner.setdefault(_container(f.path), set()).add(f.unit_id)
    by_email = {u.email.lower(): u.id for u in camp.units if u.email}
    named_in = NameFinder(camp.units)
    for f in report.files:
        key = classify(f)
        if key is None:
            continue
        units = owner.get(_container(f.path), set())
        unit_id = next(iter(units)) if len(units) == 1 else ""
        if not unit_id:
            unit_id = named_in(f.path)
        if not unit_id and f.sender:
            unit_id = by_email.get(f.sender.lower(), "")
        if unit_id in out:
            out[unit_id].files[key].append(f.path)
    return out


class NameFinder:
    """The unit whose name appears in a text: the longest such name (县教育局 before 教育局), then the
    first in the roster. Looks up the text's substrings in a dict, so a province's 10,000 names cost the
    same as a county's 26 (trying every name on every stray photo would be names × files)."""

    def __init__(self, units: Iterable[Unit]):
        self._by_name: dict[str, Unit] = {}
        for u in units:
            if u.name:
                self._by_name.setdefault(u.name, u)
        self._longest = max(map(len, self._by_name), default=0)

    def __call__(self, text: str) -> str:
        found = [
            u
            for i in range(len(text))
            for j in range(i + 1, min(len(text), i + self._longest) + 1)
            if (u := self._by_name.get(text[i:j])) is not None
        ]
        best = max(found, key=lambda u: (len(u.name), -u.seq), default=None)
        return best.id if best is not None else ""


def shortfalls(campaign: Campaign, counted: dict[str, UnitMaterials]) -> dict[str, list[Finding]]:
    """unit id → one MATERIAL_MISSING per required material the unit sent too few of."""
    out: dict[str, list[Finding]] = {}
    if not campaign.materials:
        return out
    for unit in campaign.units:
        have = (counted.get(unit.id) or UnitMaterials(unit.id)).counts
        for key, need in campaign.materials:
            if have[key] < need:
                name, measure = MATERIALS[key]
                out.setdefault(unit.id, []).append(
                    Finding.make(
                        Code.MATERIAL_MISSING,
                        unit=unit.name,
                        name=name,
                        need=need,
                        got=have[key],
                        measure=measure,
                    )
                )
    return out


def apply(report: CollectReport) -> dict[str, UnitMaterials]:
    """Count the materials: each unit's counts and 上报情况 text, and its shortfalls as findings.

    Called by collect's resolve once statuses are set: a missing photo is for 上报情况 and the
    reminder, it does not turn an accepted return into a rejected one. Units that sent no form get no
    material findings (RESOLVE_MISSING already says everything).
    """
    counted = count_materials(report)
    short = shortfalls(report.campaign, counted)
    for u in report.units:
        u.materials = counted[u.unit.id].counts
        u.materials_text = summary_text(counted[u.unit.id], report.campaign)
        if u.status == "missing":
            continue
        extra = [f.located(unit=u.unit.name, file=u.file) for f in short.get(u.unit.id, [])]
        u.findings.extend(extra)
        report.findings.extend(extra)
    return counted


def summary_text(counted: UnitMaterials, campaign: Campaign) -> str:
    """`照片 2/4，活动总结 1/1，盖章扫描件 0/1` for a 上报情况 cell (only the required ones, else all sent)."""
    have = counted.counts
    required = dict(campaign.materials)
    keys = list(required) or [k for k in MATERIALS if have[k]]
    return "，".join(
        f"{MATERIALS[k][0]} {have[k]}/{required[k]}" if k in required else f"{MATERIALS[k][0]} {have[k]}"
        for k in keys
    )
