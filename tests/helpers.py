"""Test helpers: compare two xlsx files part by part; point a sample campaign at another roster or form.

`zip_differences` is what "the same form" means for a form from a template against a direct build: the
same members in the same order with the same zip metadata, and every member the same bytes once
inflated (each a complete raw-deflate stream); only the compressed bytes may differ.

`compare_xlsx` is modelled on XlsxWriter's own comparator (`_compare_xlsx_files` in its test suite,
which is not shipped in the wheel): the zip member lists must match, each XML part is compared as a list
of tags once volatile content is removed, and binary parts byte for byte.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

# docProps/core.xml carries the save time; everything else kepuxl writes is a pure function of its inputs.
VOLATILE = {
    "docProps/core.xml": [
        re.compile(r"<dcterms:created\b[^>]*>[^<]*</dcterms:created>"),
        re.compile(r"<dcterms:modified\b[^>]*>[^<]*</dcterms:modified>"),
    ],
}
XML_SUFFIXES = (".xml", ".rels", ".vml")


def compare_xlsx(got: Path | bytes, expected: Path | bytes) -> list[str]:
    """Human-readable differences between two xlsx files; empty when they are equivalent."""
    with _zip(got) as g, _zip(expected) as e:
        got_names, exp_names = set(g.namelist()), set(e.namelist())
        diffs = []
        if got_names != exp_names:
            diffs.append(
                f"zip members differ: only in got {sorted(got_names - exp_names)}, "
                f"only in expected {sorted(exp_names - got_names)}"
            )
        for name in sorted(got_names & exp_names):
            got_data, exp_data = g.read(name), e.read(name)
            if not name.endswith(XML_SUFFIXES):
                if got_data != exp_data:
                    diffs.append(f"{name}: binary part differs ({len(got_data)} vs {len(exp_data)} bytes)")
                continue
            got_tags, exp_tags = _tags(name, got_data), _tags(name, exp_data)
            if got_tags != exp_tags:
                diffs.append(_first_difference(name, got_tags, exp_tags))
        return diffs


# what a member's zip entry says, apart from where it is and its compressed size
ZIP_FIELDS = (
    "filename", "date_time", "compress_type", "comment", "extra", "create_system", "create_version",
    "extract_version", "reserved", "flag_bits", "volume", "internal_attr", "external_attr", "CRC",
    "file_size",
)  # fmt: skip


def zip_differences(got: Path | bytes, expected: Path | bytes) -> list[str]:
    """How `got` differs from `expected` as a zip (see the module docstring); empty when the same."""
    with _zip(got) as g, _zip(expected) as e:
        if g.comment != e.comment:
            return [f"zip comment {g.comment!r} != {e.comment!r}"]
        names, wanted = [i.filename for i in g.infolist()], [i.filename for i in e.infolist()]
        if names != wanted:
            return [f"members {names} != {wanted}"]
        diffs = []
        for mine, theirs in zip(g.infolist(), e.infolist(), strict=True):
            diffs += [
                f"{mine.filename}: {field} {getattr(mine, field)!r} != {getattr(theirs, field)!r}"
                for field in ZIP_FIELDS
                if getattr(mine, field) != getattr(theirs, field)
            ]
            data, expected_data = inflated(g, mine), e.read(theirs)
            if data != expected_data:
                pairs = zip(data, expected_data, strict=False)  # the shorter one's end: a difference too
                at = next((k for k, (x, y) in enumerate(pairs) if x != y), min(len(data), len(expected_data)))
                diffs.append(f"{mine.filename}: inflated bytes differ at {at}: {data[at : at + 40]!r}")
        return diffs


def inflated(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes inflated by zlib straight from the archive (one complete raw-deflate stream,
    nothing after it), checked against what zipfile reads and against its CRC-32."""
    assert z.fp is not None
    z.fp.seek(info.header_offset)
    local = z.fp.read(30)
    assert local[:4] == b"PK\x03\x04", info.filename
    name_length, extra_length = struct.unpack("<2H", local[26:30])
    z.fp.seek(info.header_offset + 30 + name_length + extra_length)
    raw = z.fp.read(info.compress_size)
    if info.compress_type == zipfile.ZIP_STORED:
        data = raw
    else:
        inflater = zlib.decompressobj(-15)
        data = inflater.decompress(raw)
        assert inflater.eof and not inflater.unused_data, f"{info.filename}: not one whole deflate stream"
    assert zlib.crc32(data) == info.CRC and len(data) == info.file_size, info.filename
    assert z.read(info) == data, info.filename
    return data


def _zip(source: Path | bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else Path(source))


def _tags(name: str, data: bytes) -> list[str]:
    """An XML part as a list of tags, like XlsxWriter's `_xml_to_list`, volatile bits removed."""
    text = data.decode("utf-8").replace("\r", "")
    for pattern in VOLATILE.get(name, ()):
        text = pattern.sub("", text)
    tags = [t if t.startswith("<") else "<" + t for t in re.split(r">\s*<", text.strip())]
    tags = [t if t.endswith(">") else t + ">" for t in tags]
    # The order of relationships and content-type entries carries no meaning.
    if name.endswith(".rels") or name == "[Content_Types].xml":
        tags = tags[:2] + sorted(tags[2:-1]) + tags[-1:]
    return tags


def _first_difference(name: str, got: list[str], expected: list[str]) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
    if at is None:
        return f"{name}: {len(got)} tags vs {len(expected)} expected (one is a prefix of the other)"
    return f"{name}: tag {at} differs\n    got:      {got[at][:300]}\n    expected: {expected[at][:300]}"


# -- campaign variants ---------------------------------------------------------------------------------

ROSTER_HEADER = ("单位编码", "单位名称", "单位类别", "联系人", "联系电话", "电子邮箱")


def write_csv(path: Path, rows: Iterable[Sequence[str]], encoding: str = "utf-8") -> Path:
    """Rows as a CSV file (the header row included by the caller)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def use_roster(config: Path, rows: Iterable[Sequence[str]], name: str = "units.csv") -> Path:
    """Point the campaign at a CSV roster made of `rows` (header first); returns the roster path."""
    roster = write_csv(config.parent / name, rows)
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'(?m)^roster = "[^"]*"', f'roster = "{name}"', text), encoding="utf-8")
    return roster


def use_form(config: Path, toml_text: str, name: str = "custom_form.toml") -> Path:
    """Point the campaign at a form definition file holding `toml_text`; returns its path."""
    path = config.parent / name
    path.write_text(toml_text, encoding="utf-8")
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'(?m)^form = "[^"]*"', f'form = "{name}"', text), encoding="utf-8")
    return path


@contextlib.contextmanager
def lock_held_elsewhere(
    path: Path, what: str = "collect", *, kill: bool = True
) -> Iterator[subprocess.Popen]:
    """Another Python process holding the campaign lock at `path` while the block runs.

    It has taken the lock when the block starts. Afterwards it is ended with SIGKILL (no chance to clean
    up: the OS must drop its lock) or, with kill=False, SIGTERM; it is waited for and its pipe closed.
    """
    code = textwrap.dedent(
        f"""
        import time
        from kepu_xl import locks
        with locks.held({str(path)!r}, {what!r}):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    with proc:  # closes the pipe and waits, however the block ends
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
            yield proc
        finally:
            if kill:
                proc.kill()
            else:
                proc.send_signal(signal.SIGTERM)
