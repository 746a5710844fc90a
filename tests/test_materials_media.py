"""Videos and media reports sent with the returns: counted per unit, lengths read from real video files
(made here with ffmpeg) in every supported container, over-long ones flagged, the big ones never read whole."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from libreoffice import in_ci
from openpyxl import load_workbook

from kepu_xl import intake
from kepu_xl.campaign import load as load_campaign
from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.context import Context
from kepu_xl.findings import KepuError, Severity
from kepu_xl.inbox_add import add
from kepu_xl.init import init_campaign
from kepu_xl.mail.templates import materials_text
from kepu_xl.media import MediaInfo, inspect, mmss, read_video
from kepu_xl.sample_returns import fill, values_for

NOW = datetime(2023, 6, 5, 9, 0)
FFMPEG = shutil.which("ffmpeg")
requires_ffmpeg = pytest.mark.skipif(
    not FFMPEG and not in_ci(), reason="ffmpeg not installed (apt-get install ffmpeg; .ci/run does)"
)
pytestmark = requires_ffmpeg

# container → (file suffix, ffmpeg output options); each a 5-second test picture with sound
CONTAINERS = {
    "MP4": (".mp4", []),
    "QuickTime": (".mov", []),
    "3GP": (".3gp", ["-s", "176x144", "-c:a", "aac"]),
    "Matroska": (".mkv", []),
    "WebM": (".webm", []),
    "AVI": (".avi", []),
    "WMV": (".wmv", []),
    "FLV": (".flv", ["-ar", "22050"]),
}


def ffmpeg(out: Path, seconds: float, *options: str, size: str = "160x120", rate: int = 10) -> Path:
    """A real video: ffmpeg's test picture and a tone, `seconds` long."""
    picture = f"testsrc=duration={seconds}:size={size}:rate={rate}"
    sound = f"sine=duration={seconds}:sample_rate=8000"
    cmd = [FFMPEG or "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", sound]
    subprocess.run([*cmd, *options, str(out)], check=True, timeout=120)
    return out


def ffprobe_seconds(path: Path) -> float:
    """The length ffmpeg's ffprobe reads (the reference here; kepuxl itself never runs ffmpeg)."""
    cmd = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    made = {fmt: ffmpeg(folder / f"short{ext}", 5, *opts) for fmt, (ext, opts) in CONTAINERS.items()}
    # 3:20 at one picture a second and 8 kHz mono sound: 250 KB
    made["long"] = ffmpeg(folder / "long.mp4", 200, "-ac", "1", "-b:a", "8k", size="64x48", rate=1)
    # uncompressed pictures: 29 MB for 10 s, over the 20 MB a file may have to be read; index at the end
    made["big"] = ffmpeg(
        folder / "big.mov", 10, "-c:v", "rawvideo", "-pix_fmt", "yuv420p", size="320x240", rate=25
    )
    made["truncated"] = folder / "truncated.mp4"  # the start of a phone video whose upload broke off
    made["truncated"].write_bytes(made["MP4"].read_bytes()[:2000])
    return made


@pytest.mark.parametrize("fmt", CONTAINERS)
def test_length_read_in_every_supported_container(videos, fmt):
    path = videos[fmt]
    with path.open("rb") as fh:
        on_disk = read_video(fh, path.name)
    in_memory = read_video(io.BytesIO(path.read_bytes()), path.name)  # an e-mail attachment
    assert on_disk == in_memory
    assert on_disk.format == fmt
    # as ffmpeg's own reader says, within 0.1 s (ASF counts its preroll differently); limits are whole seconds
    assert on_disk.seconds == pytest.approx(ffprobe_seconds(path), abs=0.1)
    assert on_disk.seconds == pytest.approx(5.0, abs=0.25)  # the audio track's padding (AVI: +0.2 s)


class CountingFile(io.FileIO):
    """A real file that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = super().readinto(buffer) or 0
        self.read_bytes += n
        return n


def test_a_big_video_is_read_by_its_header_only(videos, tmp_path):
    big = videos["big"]
    assert big.stat().st_size > intake.Limits().max_file  # over what any other file may have
    with CountingFile(big) as fh:
        info = read_video(fh, big.name)
    assert (info.format, round(info.seconds or 0, 1)) == ("QuickTime", 10.0)
    assert fh.read_bytes < 64 << 10  # of 29 MB: the index at the end is reached by seeking
    # the inbox walk does not read it either: the worker gets its path, not its bytes
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(big, inbox / "活动录像.dat")  # not even named as a video: told by its first bytes
    (cand,) = intake.scan(inbox)
    assert (cand.kind, cand.data, cand.location) == ("other", b"", str(inbox / "活动录像.dat"))
    assert [f.context["kind"] for f in cand.findings] == ["视频"]


def test_not_videos_are_not_taken_for_videos(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "说明.txt").write_bytes(b"I'm free to talk about the activity." + bytes(10))
    (inbox / "录音.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + bytes(64))
    (inbox / "照片.mp4").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200))  # a photo named .mp4
    kinds = {c.name: c.findings[0].context["kind"] for c in intake.scan(inbox)}
    assert kinds == {"说明.txt": "文本", "录音.m4a": "其他", "照片.mp4": "图片"}


def _reply(sender: str, sent: datetime, attachments: list[tuple[str, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "kjj@example.cn", "科技活动周统计表及材料"
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = "<media-test@example.cn>"
    msg.set_content("您好，附件是我单位的统计表、活动视频和媒体报道，请查收。")
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


@pytest.fixture(scope="module")
def county(tmp_path_factory, videos) -> Path:
    """The sample county's inbox with videos and media reports: loose, in an e-mail, in a zip."""
    folder = tmp_path_factory.mktemp("county")
    config = init_campaign(folder, with_returns=True)
    inbox = folder / "inbox"
    shutil.copy(videos["MP4"], inbox / "城关街道-活动视频.mp4")
    (inbox / "城关街道-新闻报道链接.txt").write_text(
        "县电视台：https://tv.example.cn/news/1\n公众号：https://mp.example.cn/s/abc，再贴一次 https://tv.example.cn/news/1\n",
        encoding="utf-8",
    )
    shutil.copy(videos["big"], inbox / "东湖街道-科普讲座录像.mov")
    shutil.copy(videos["truncated"], inbox / "县科协-活动视频（未传完）.mp4")
    shutil.copy(videos["long"], inbox / "未署名视频.mp4")  # nothing tells whose it is
    # 县融媒体中心 (missing in the sample) replies by e-mail: its form, a Matroska video, a link, a photo
    ctx = Context.load(config)
    unit = ctx.campaign.unit("D12")
    values = values_for(unit.seq, {})
    form = fill(ctx, "D12", values, detail_rows=values["activities"])
    shortcut = b"[InternetShortcut]\r\nURL=https://www.example.cn/kepu/2023/0525.html\r\n"
    attachments = [
        (f"{unit.name}-科技活动周统计表.xlsx", form),
        ("活动视频.mkv", videos["Matroska"].read_bytes()),
        ("科技周新闻报道.url", shortcut),
        (f"{unit.name}-活动照片.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(300)),
    ]
    (inbox / "县融媒体中心-来信.eml").write_bytes(_reply(unit.email, datetime(2023, 5, 29, 10), attachments))
    # 县科协 zips its materials: a 3:20 video (too long), an AVI, a screenshot of the report
    with zipfile.ZipFile(inbox / "县科协-活动材料.zip", "w") as zf:
        zf.write(videos["long"], "县科协/科普大篷车.mp4")
        zf.write(videos["AVI"], "县科协/讲座.avi")
        zf.writestr("县科协/媒体报道截图.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    return folder


@pytest.fixture(scope="module")
def report(county):
    return collect(county / "inbox", county / "kepuxl.toml", now=NOW, write=False)


def _unit(report, unit_id):
    return next(u for u in report.units if u.unit.id == unit_id)


def test_videos_and_media_reports_counted_per_unit(report):
    counted = {u.unit.id: u.materials for u in report.units if u.materials["videos"] or u.materials["media"]}
    assert counted == {
        "T01": {"photos": 1, "summary": 0, "scan": 0, "videos": 1, "media": 2},  # two distinct links
        "T02": {"photos": 0, "summary": 0, "scan": 0, "videos": 1, "media": 0},
        "D02": {"photos": 0, "summary": 0, "scan": 0, "videos": 3, "media": 1},
        "D12": {"photos": 1, "summary": 0, "scan": 0, "videos": 1, "media": 1},  # 融媒体 is a name here
    }
    assert _unit(report, "D12").material_files == {
        "photos": ["县融媒体中心-来信.eml → 县融媒体中心-活动照片.jpg"],
        "videos": ["县融媒体中心-来信.eml → 活动视频.mkv"],
        "media": ["县融媒体中心-来信.eml → 科技周新闻报道.url"],
    }
    assert _unit(report, "D12").status == "accepted"  # its form came in the same mail


def test_lengths_in_the_report_and_in_上报情况(report):
    media = {f.path: f.media for f in report.files if f.media is not None}
    lengths = {path: (m.format, round(m.seconds, 1) if m.seconds else None) for path, m in media.items()}
    assert lengths == {
        "东湖街道-科普讲座录像.mov": ("QuickTime", 10.0),
        "县科协-活动材料.zip → 县科协/科普大篷车.mp4": ("MP4", 200.0),
        "县科协-活动材料.zip → 县科协/讲座.avi": ("AVI", pytest.approx(5.0, abs=0.25)),
        "县科协-活动视频（未传完）.mp4": ("MP4", None),
        "县融媒体中心-来信.eml → 活动视频.mkv": ("Matroska", pytest.approx(5.0, abs=0.15)),
        "县融媒体中心-来信.eml → 科技周新闻报道.url": ("", None),
        "城关街道-新闻报道链接.txt": ("", None),
        "城关街道-活动视频.mp4": ("MP4", 5.0),
        "未署名视频.mp4": ("MP4", 200.0),
    }
    assert media["城关街道-新闻报道链接.txt"].links == 2
    assert _unit(report, "D02").materials_text == "活动视频 3（3:20、0:05、?，1 个超过 3:00），媒体报道 1"
    assert _unit(report, "T01").materials_text == "活动照片 1，活动视频 1（0:05），媒体报道 2"


def test_long_and_unreadable_videos_are_findings_that_keep_the_status(report):
    found = [
        (f.code.name, f.severity, f.unit, f.file, f.message)
        for f in report.findings
        if f.code.name.startswith("MATERIAL_VIDEO")
    ]
    long_message = "视频“{}”长 3:20，超过规定的 3:00。请提醒该单位剪辑到 3:00 以内后重发。"
    assert found == [
        (
            "MATERIAL_VIDEO_LONG",
            Severity.WARNING,
            "县科协",
            "县科协-活动材料.zip → 县科协/科普大篷车.mp4",
            long_message.format("科普大篷车.mp4"),
        ),
        (
            "MATERIAL_VIDEO_UNREAD",
            Severity.INFO,
            "县科协",
            "县科协-活动视频（未传完）.mp4",
            "视频“县科协-活动视频（未传完）.mp4”的时长未能读出（视频头部没有时长，文件可能不完整），"
            "已计入视频数。如需核对时长，请打开视频查看。",
        ),
        (
            "MATERIAL_VIDEO_LONG",
            Severity.WARNING,
            "",
            "未署名视频.mp4",
            long_message.format("未署名视频.mp4"),
        ),
    ]
    d02 = _unit(report, "D02")
    assert d02.status == "accepted" and d02.count(Severity.WARNING) == 0  # the video is not the return
    assert [f.code.name for f in d02.findings if f.code.name.startswith("MATERIAL")] == [
        "MATERIAL_VIDEO_LONG",
        "MATERIAL_VIDEO_UNREAD",
    ]
    assert not any(f.code.name == "READ_TOO_LARGE" for f in report.findings)  # the 29 MB video included


def test_json_carries_counts_files_and_lengths(county, report):
    result = CliRunner().invoke(
        cli, ["collect", str(county / "inbox"), "-c", str(county / "kepuxl.toml"), "--json", "-"]
    )
    data = json.loads(result.output[result.output.index("{") :])
    unit = next(u for u in data["units"] if u["unit_id"] == "D02")
    assert unit["materials"] == {"photos": 0, "summary": 0, "scan": 0, "videos": 3, "media": 1}
    assert unit["material_files"]["videos"] == [
        "县科协-活动材料.zip → 县科协/科普大篷车.mp4",
        "县科协-活动材料.zip → 县科协/讲座.avi",
        "县科协-活动视频（未传完）.mp4",
    ]
    files = {f["path"]: f["media"] for f in data["files"]}
    assert files["未署名视频.mp4"] == {"format": "MP4", "seconds": 200.0, "error": None, "links": 0}
    assert files["县融媒体中心-来信.eml → 科技周新闻报道.url"] == {
        "format": None,
        "seconds": None,
        "error": None,
        "links": 1,
    }
    assert files["县融媒体中心-来信.eml → 县融媒体中心-科技活动周统计表.xlsx"] is None


def _with_materials(county: Path, tmp_path: Path, table: str) -> Path:
    config = tmp_path / "kepuxl.toml"
    shutil.copytree(county, tmp_path, dirs_exist_ok=True)
    config.write_text(config.read_text(encoding="utf-8") + f"\n[materials]\n{table}", encoding="utf-8")
    return config


def test_video_max_seconds_and_required_videos(county, tmp_path):
    config = _with_materials(county, tmp_path, "videos = 1\nmedia = 1\nvideo_max_seconds = 240\n")
    report = collect(tmp_path / "inbox", config, now=NOW, write=False)
    assert not any(f.code.name == "MATERIAL_VIDEO_LONG" for f in report.findings)  # 3:20 is within 4:00
    t03 = _unit(report, "T03")  # a unit that sent a form and nothing else
    assert [f.message for f in t03.findings if f.code.name == "MATERIAL_MISSING"] == [
        "活动视频应至少 1 个，收到 0 个。请提醒该单位补报。",
        "媒体报道应至少 1 篇，收到 0 篇。请提醒该单位补报。",
    ]
    assert _unit(report, "T01").materials_text == "活动视频 1/1（0:05），媒体报道 2/1"
    assert "2. 活动视频1 个（MP4 等，每个不超过 4 分钟）" in materials_text(report.campaign, "表.xlsx")


def test_video_max_seconds_zero_turns_the_check_off_and_a_bad_value_is_refused(county, tmp_path):
    config = _with_materials(county, tmp_path, "video_max_seconds = 0\n")
    report = collect(tmp_path / "inbox", config, now=NOW, write=False)
    assert [f.code.name for f in report.findings if f.code.name.startswith("MATERIAL_VIDEO")] == [
        "MATERIAL_VIDEO_UNREAD"
    ]
    config.write_text(config.read_text(encoding="utf-8").replace("= 0", '= "3分钟"'), encoding="utf-8")
    with pytest.raises(KepuError) as err:
        load_campaign(config)
    assert "video_max_seconds" in str(err.value) and "0～86400 的整数" in str(err.value)


def test_the_page_takes_a_phone_sized_video(tmp_path):
    data = io.BytesIO(b"\x00\x00\x00\x18ftypmp42" + bytes(25 << 20))  # 25 MB: over the 20 MB of a form
    added = add(tmp_path / "inbox", "科普讲座.mp4", data, size=len(data.getvalue()))
    assert (added.outcome, added.path) == ("saved", "科普讲座.mp4")


def test_mmss():
    assert [mmss(s) for s in (0, 59.4, 59.6, 180, 200.2, 3725)] == [
        "0:00",
        "0:59",
        "1:00",
        "3:00",
        "3:20",
        "1:02:05",
    ]


def test_a_video_attachment_over_the_form_cap_is_kept_and_a_zipped_one_is_not_inflated(videos, tmp_path):
    # an attachment is in memory already (a mail is at most 30 MB): a 21 MB video is read from there
    big = b"\x00\x00\x00\x18ftypmp42" + bytes(21 << 20)
    assert intake.precheck(big, name="讲座.mp4")[0] == "other"
    assert [f.context["kind"] for f in intake.precheck(big, name="讲座.mp4")[1]] == ["视频"]
    # a zip member is inflated into memory only up to the form cap: a bigger video is counted, length unread
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "东湖街道-材料.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(videos["big"], "讲座录像.mov")
    (cand,) = intake.scan(inbox)
    assert (cand.kind, cand.data, [f.context["kind"] for f in cand.findings]) == ("other", b"", ["视频"])
    assert inspect(cand) == MediaInfo(error="压缩包中超过 20.0 MB 的视频不解压，时长未读取")


def test_the_summary_shows_videos_in_上报情况_and_the_long_ones_in_问题清单(county, tmp_path):
    report = collect(county / "inbox", county / "kepuxl.toml", tmp_path / "out", now=NOW)
    book = load_workbook(report.outputs["summary"], read_only=True)
    status = {row[1]: row for row in book["上报情况"].iter_rows(min_row=3, values_only=True) if row[1]}
    assert status["县科协"][11] == "活动视频 3（3:20、0:05、?，1 个超过 3:00），媒体报道 1"
    assert status["东湖街道"][11] == "活动视频 1（0:10）"
    listed = [str(c) for row in book["问题清单"].iter_rows(values_only=True) for c in row if c]
    assert sum("长 3:20，超过规定的 3:00" in c for c in listed) == 2
