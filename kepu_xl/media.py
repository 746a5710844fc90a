"""Media sent with the returns: a candidate that is a video or a link file → `MediaInfo` (container, length,
links), measured in the worker that handles the file.

The notices ask for short videos of the activity (no longer than 3 minutes) and media reports. A phone
video is 50–300 MB, so it is never read whole: a loose inbox video reaches the worker as a path (see
intake.folder), is opened read-only and handed to hachoir as a file object, which reads the few header
boxes/elements that hold the length and seeks past the picture data (a 230 MB MP4 whose index sits at
its end: 0.01 s). A video that came in an e-mail is already in memory (the mail cap is 30 MB) and is read
from those bytes the same way. Lengths are read for MP4/M4V, QuickTime (.mov), 3GP, Matroska (.mkv),
WebM, AVI, WMV/ASF and FLV; MPEG program/transport streams and RealMedia are counted as videos but their
length is not read. Nothing here judges: materials.py compares the length with [materials]
video_max_seconds and counts the media reports.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

from .files import os_error_zh
from .headers import _decode_8bit
from .intake import VIDEO_LABEL, Candidate, other_kind
from .intake.base import DEFAULT_LIMITS, _mb, _tech, open_regular
from .intake.bytecheck import VIDEO_HEAD, video_format

# a file named so is a media report (报道截图.jpg, 新闻链接.txt, 媒体报道.pdf); a .url shortcut always is one
MEDIA_WORDS = re.compile(r"报道|新闻|媒体|报刊|刊发|转载|链接|网址|公众号|头条|news|media", re.I)
LINK_EXTS = (".url",)  # Windows' Internet shortcut: [InternetShortcut] URL=…
_URL = re.compile(r"https?://[^\s<>\"'，。；、）)\]】]+", re.I)
LINK_READ = 1 << 20  # the part of a link file searched for addresses
_NO_LENGTH = ("MPEG", "MPEG-TS", "RealMedia")  # counted as videos; their headers carry no reliable length


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What was measured on one material file: a video's container and length, or a link file's links."""

    format: str = ""  # the video's container: MP4, QuickTime, 3GP, Matroska, WebM, AVI, WMV, FLV, …
    seconds: float | None = None  # the video's length; None when it could not be read (then `error`)
    error: str = ""  # why the length is unknown (Chinese)
    links: int = 0  # distinct web addresses in a link file (a .url, or a text file of links)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format or None,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "error": self.error or None,
            "links": self.links,
        }


def inspect(cand: Candidate) -> MediaInfo | None:
    """A video's length or a link file's links; None for every other file. Never raises for a bad file."""
    kind = other_kind(cand.findings)
    if kind == VIDEO_LABEL:
        return video_info(cand)
    if is_link_file(cand.name, kind):
        return MediaInfo(links=count_links(cand.data[:LINK_READ]))
    return None


def is_link_file(name: str, kind: str) -> bool:
    """A .url shortcut, or a text file named as a media report (媒体报道链接.txt)."""
    return name.lower().endswith(LINK_EXTS) or (kind == "文本" and bool(MEDIA_WORDS.search(name)))


def count_links(data: bytes) -> int:
    """The distinct http(s) addresses in a text (UTF-8, GB18030 or UTF-16 with its BOM)."""
    text = data.decode("utf-16", "replace") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else _decode_8bit(data)
    return len({u.rstrip(".,;:!?") for u in _URL.findall(text)})


def video_info(cand: Candidate) -> MediaInfo:
    """The container and length of a video candidate: from the file on disk (only its header is read),
    else from its bytes; a video left packed in a zip (over the member cap) has no length."""
    if cand.location:
        try:
            fh = os.fdopen(open_regular(cand.location), "rb")
        except OSError as exc:
            return MediaInfo(error=f"无法打开：{os_error_zh(exc)}")
        with fh:
            return read_video(fh, cand.name)
    if cand.data:
        return read_video(io.BytesIO(cand.data), cand.name)
    return MediaInfo(error=f"压缩包中超过 {_mb(DEFAULT_LIMITS.max_file)} 的视频不解压，时长未读取")


def read_video(fh: BinaryIO, name: str) -> MediaInfo:
    """A seekable video file object → its container and length. Reads the header, never the pictures."""
    try:
        head = fh.read(VIDEO_HEAD)
        fh.seek(0)
    except OSError as exc:
        return MediaInfo(error=f"无法读取：{os_error_zh(exc)}")
    fmt = video_format(head)
    if fmt is None:
        return MediaInfo(error="内容不是可识别的视频格式，可能已损坏")
    if fmt in _NO_LENGTH:
        return MediaInfo(fmt, error=f"{fmt} 格式的视频不读取时长")
    try:
        seconds = _duration(fh, name, fmt)
    except Exception as exc:  # any parser failure on untrusted bytes is this file's problem only
        return MediaInfo(fmt, error=f"视频头部无法解析（{_tech(exc)}）")
    if seconds is None:
        return MediaInfo(fmt, error="视频头部没有时长，文件可能不完整")
    return MediaInfo(fmt, seconds)


def _duration(fh: BinaryIO, name: str, fmt: str) -> float | None:
    """hachoir's reading of the container header; None when the header says no length."""
    parser_for, extract_metadata, stream_of = _hachoir()
    parser = parser_for(stream_of(fh, name), fmt)
    if parser is None:
        return None
    meta = extract_metadata(parser)
    if meta is None or not meta.has("duration"):
        return None
    seconds = meta.get("duration").total_seconds()
    return seconds if seconds > 0 else None


def _hachoir() -> tuple[Any, Any, Any]:
    """hachoir's parser, metadata and stream entry points, imported on first use: the import costs about
    0.15 s, paid only by a worker that meets a video. Its log is silenced (the core never prints)."""
    from hachoir.core import config
    from hachoir.core.log import log
    from hachoir.metadata import extractMetadata
    from hachoir.parser.container.mkv import MkvFile
    from hachoir.parser.container.mp4 import MP4File
    from hachoir.parser.container.riff import RiffFile
    from hachoir.parser.video.asf import AsfFile
    from hachoir.parser.video.flv import FlvFile
    from hachoir.stream import InputIOStream

    config.quiet = True
    log.use_print = False
    classes = {
        "MP4": MP4File,
        "QuickTime": MP4File,
        "3GP": MP4File,
        "Matroska": MkvFile,
        "WebM": MkvFile,
        "AVI": RiffFile,
        "WMV": AsfFile,
        "FLV": FlvFile,
    }

    def parser_for(stream: Any, fmt: str) -> Any:
        cls = classes.get(fmt)
        return cls(stream, validate=True) if cls is not None else None

    def stream_of(fh: BinaryIO, name: str) -> Any:
        return InputIOStream(fh, source=f"file:{name}", tags=[("filename", name)])

    return parser_for, extractMetadata, stream_of


def whole_seconds(seconds: float) -> int:
    """A length as shown and as compared with the limit: to the nearest second (a phone's 3:00.4 is 3:00)."""
    return int(seconds + 0.5)


def mmss(seconds: float) -> str:
    """A length as 分:秒 (`3:20`; `1:02:05` past an hour), to the nearest second."""
    whole = whole_seconds(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
