"""Materials sent with a form: a collect report's files → photos, summaries, stamped scans, videos and
media reports per unit.

A unit's reply carries more than the form: 4–5 photos, the activity summary (.docx/.pdf), a scan of the
stamped form, a short video and the media reports (a screenshot or PDF of the article, a link). Files are
attributed to a unit by, in order: the form they came with (the same e-mail, mbox message or zip), a unit
name in their path (城关街道-活动照片1.jpg, 县教育局/总结.docx), the sender's address in the roster.
`shortfalls` compares the counts with the campaign's [materials] (e.g. photos = 4, summary = 1) and gives
one MATERIAL_MISSING finding per gap; `video_findings` flags a video longer than [materials]
video_max_seconds (MATERIAL_VIDEO_LONG) or whose length could not be read (MATERIAL_VIDEO_UNREAD).

Pure functions over `CollectReport`; collect.py can call `apply(report)` after resolve (see the
function) to put the findings and counts on each unit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .campaign import MATERIALS, Campaign, Unit
from .findings import Code, Finding
from .intake import SEP, VIDEO_LABEL, other_kind
from .media import LINK_EXTS, MEDIA_WORDS, MediaInfo, mmss, whole_seconds
from .results import CollectReport, FileResult

SCAN_WORDS = re.compile(r"盖章|扫描|签章|公章|scan", re.I)
SUMMARY_WORDS = re.compile(r"总结|小结|报告|summary", re.I)
OWN_SUMMARY = re.compile(r"总结|小结|summary", re.I)  # 活动总结（含媒体报道）.docx is the summary
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic")
WORD_EXT = (".doc", ".docx", ".wps", ".rtf", ".odt")
WEB_EXT = (".htm", ".html", ".mht", ".mhtml")


@dataclass
class UnitMaterials:
    """What one unit sent besides its form, by material key (see campaign.MATERIALS)."""

    unit_id: str
    files: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in MATERIALS})
    media: dict[str, MediaInfo] = field(default_factory=dict)  # path → a video's length, a link file's links

    @property
    def counts(self) -> dict[str, int]:
        """Files per material; a media-report link file counts each address it lists (at least one)."""
        out = {k: len(v) for k, v in self.files.items()}
        out["media"] = sum(max(1, self._links(p)) for p in self.files["media"])
        return out

    def _links(self, path: str) -> int:
        info = self.media.get(path)
        return info.links if info is not None else 0

    def seconds(self) -> list[float | None]:
        """The length of each video, in the order received (None: not read)."""
        return [getattr(self.media.get(p), "seconds", None) for p in self.files["videos"]]

    def to_dict(self) -> dict[str, object]:
        return {"unit_id": self.unit_id, "counts": self.counts, "files": self.files}


def classify(f: FileResult, bare: Callable[[str], str] = str) -> str | None:
    """ "photos" | "summary" | "scan" | "videos" | "media" for a non-form file, else None (by content label,
    then name). A media report is a .url shortcut, or a picture, PDF, Word file, web page or text file
    whose name says so (报道/新闻/媒体/链接…) and does not call it the activity summary (总结/小结).
    `bare` takes the unit names out of a file name first: 县融媒体中心-活动照片.jpg is a photo."""
    if f.kind != "other" or f.outcome != "ignored":
        return None
    label = other_kind(f.findings)
    name = bare(f.path.rsplit(SEP, 1)[-1].rsplit("/", 1)[-1])
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if label == VIDEO_LABEL:
        return "videos"
    image = label == "图片" or (not label and ext in IMAGE_EXT)
    pdf = label == "PDF" or (not label and ext == ".pdf")
    word = "Word" in label or "RTF" in label or "OpenDocument" in label or (not label and ext in WORD_EXT)
    page = label in ("网页", "文本") or ext in WEB_EXT
    if (image or pdf) and SCAN_WORDS.search(name):
        return "scan"
    if ext in LINK_EXTS or (
        (image or pdf or word or page) and MEDIA_WORDS.search(name) and not OWN_SUMMARY.search(name)
    ):
        return "media"
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
    out = {u.id: UnitMaterials(u.id) for u in report.campaign.units}
    owner, names = owner_of(report), NameFinder(report.campaign.units)
    for f in report.files:
        key = classify(f, names.strip)
        unit_id = owner(f) if key is not None else ""
        if unit_id in out:
            out[unit_id].files[key].append(f.path)
            if f.media is not None:
                out[unit_id].media[f.path] = f.media
    return out


def owner_of(report: CollectReport) -> Callable[[FileResult], str]:
    """A material file → the id of the unit that sent it ("" when nothing tells)."""
    camp = report.campaign
    came_with: dict[str, set[str]] = {}
    for f in report.files:
        if f.unit_id and _container(f.path):
            came_with.setdefault(_container(f.path), set()).add(f.unit_id)
    by_email = {u.email.lower(): u.id for u in camp.units if u.email}
    named_in = NameFinder(camp.units)

    def owner(f: FileResult) -> str:
        units = came_with.get(_container(f.path), set())
        unit_id = next(iter(units)) if len(units) == 1 else ""
        if not unit_id:
            unit_id = named_in(f.path)
        if not unit_id and f.sender:
            unit_id = by_email.get(f.sender.lower(), "")
        return unit_id

    return owner


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

    def strip(self, text: str) -> str:
        """`text` without the unit names in it (the longest at each place), so that a name such as
        县融媒体中心 does not read as the word 媒体."""
        out, i = [], 0
        while i < len(text):
            j = next(
                (j for j in range(min(len(text), i + self._longest), i, -1) if text[i:j] in self._by_name), i
            )
            out.append(text[i] if j == i else "")
            i = max(j, i + 1)
        return "".join(out)


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


def video_findings(report: CollectReport) -> list[tuple[str, Finding]]:
    """(unit id or "", finding) for each video longer than [materials] video_max_seconds (a warning) or
    whose length could not be read (a note), located at the video file."""
    limit = report.campaign.video_max_seconds
    owner = owner_of(report)
    out = []
    for f in report.files:
        if classify(f) != "videos" or f.media is None:
            continue
        name = f.path.rsplit(SEP, 1)[-1].rsplit("/", 1)[-1]
        if f.media.seconds is None:
            found = Finding.make(Code.MATERIAL_VIDEO_UNREAD, name=name, error=f.media.error)
        elif limit and whole_seconds(f.media.seconds) > limit:
            found = Finding.make(
                Code.MATERIAL_VIDEO_LONG, name=name, length=mmss(f.media.seconds), limit=mmss(limit)
            )
        else:
            continue
        out.append((owner(f), found.located(file=f.path)))
    return out


def apply(report: CollectReport) -> dict[str, UnitMaterials]:
    """Count the materials: each unit's counts and 上报情况 text, its shortfalls and its videos' lengths
    as findings.

    Called by collect's resolve once statuses are set: a missing photo or a long video is for 上报情况
    and the reminder, it does not turn an accepted return into a rejected one. Units that sent no form
    get no shortfall findings (RESOLVE_MISSING already says everything); a video is judged whoever sent it.
    """
    counted = count_materials(report)
    short = shortfalls(report.campaign, counted)
    videos: dict[str, list[Finding]] = {}
    for unit_id, found in video_findings(report):
        videos.setdefault(unit_id, []).append(found)
    for u in report.units:
        u.materials = counted[u.unit.id].counts
        u.material_files = {k: v for k, v in counted[u.unit.id].files.items() if v}
        u.materials_text = summary_text(counted[u.unit.id], report.campaign)
        extra = [] if u.status == "missing" else short.get(u.unit.id, [])
        extra = [f.located(unit=u.unit.name, file=u.file) for f in [*extra, *videos.pop(u.unit.id, [])]]
        u.findings.extend(extra)
        report.findings.extend(extra)
    report.findings.extend(f for stray in videos.values() for f in stray)  # videos no unit could be told for
    return counted


def summary_text(counted: UnitMaterials, campaign: Campaign) -> str:
    """`照片 2/4，活动总结 1/1，盖章扫描件 0/1` for a 上报情况 cell (only the required ones, else all sent);
    videos add their lengths: `活动视频 2/1（0:45、3:20，1 个超过 3:00）`."""
    have = counted.counts
    required = dict(campaign.materials)
    keys = list(required) or [k for k in MATERIALS if have[k]]
    parts = []
    for k in keys:
        text = (
            f"{MATERIALS[k][0]} {have[k]}/{required[k]}" if k in required else f"{MATERIALS[k][0]} {have[k]}"
        )
        parts.append(text + (_lengths(counted, campaign) if k == "videos" else ""))
    return "，".join(parts)


def _lengths(counted: UnitMaterials, campaign: Campaign) -> str:
    """`（0:45、3:20，1 个超过 3:00）`: each video's length and how many are too long; "?": not read."""
    limit = campaign.video_max_seconds
    shown = [mmss(s) if s is not None else "?" for s in counted.seconds()]
    over = [mmss(s) for s in counted.seconds() if s is not None and limit and whole_seconds(s) > limit]
    if not shown:
        return ""
    note = f"，{len(over)} 个超过 {mmss(limit)}" if over else ""
    return f"（{'、'.join(shown)}{note}）"
