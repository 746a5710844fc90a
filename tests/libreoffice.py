"""Real LibreOffice for tests: fill a form through UNO, convert files, render PDFs → paths to read back.

The UNO part runs in tests/lo_uno_fill.py under Debian's /usr/bin/python3 (the only interpreter with
`import uno`); this module, imported by pytest's own Python, writes its job file, runs it and reads
its result. Every soffice gets a private profile in a temp dir that is removed afterwards.

Example::

    from libreoffice import fill, requires_libreoffice

    @requires_libreoffice
    def test_typed_number(tmp_path):
        res = fill(form, tmp_path, edits=[{"sheet": "统计表", "cell": "C4", "typed": "12"}])
        assert res.statuses == ["ok"]
        ...openpyxl.load_workbook(res.paths["xlsx"])...

Without LibreOffice the marked tests are skipped, except under CI (env CI set), where they fail: CI
installs LibreOffice, so a skip there would only hide a broken set-up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
FILL_SCRIPT = Path(__file__).with_name("lo_uno_fill.py")
INSTALL_HINT = (
    "apt-get install -y --no-install-recommends libreoffice-calc python3-uno fonts-wqy-zenhei "
    "fonts-crosextra-carlito"
)

# `soffice --convert-to` targets; keep the filter names in step with FILTERS in lo_uno_fill.py.
CONVERT_TARGETS = {
    "xlsx": "xlsx:Calc Office Open XML",
    "xls": "xls:MS Excel 97",
    "ods": "ods:calc8",
    "pdf": "pdf:calc_pdf_Export",
}

# The fill script exits 4 when LibreOffice cannot open the document.
EXIT_LOAD = 4


class LibreOfficeError(RuntimeError):
    """soffice failed, timed out or could not do what was asked; `result` is the script's JSON, if any."""

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result


class LibreOfficeUnavailable(LibreOfficeError):
    """LibreOffice (soffice plus UNO for /usr/bin/python3) is not installed."""


def in_ci() -> bool:
    """CI systems set CI (this project's CI runs with CI=true); 'false'/'0' count as unset."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def soffice_path() -> str | None:
    return shutil.which("soffice")


def _system_python_env() -> dict[str, str]:
    """The environment for /usr/bin/python3, minus what points it at pytest's own Python."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


@functools.cache
def _why_unavailable() -> str | None:
    """None when LibreOffice can be driven, else the reason (cached: checking costs a subprocess)."""
    if soffice_path() is None:
        return "soffice is not on PATH"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} is missing"
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import uno"], env=_system_python_env(), capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} could not be run: {exc}"
    if proc.returncode != 0:
        return f"`import uno` fails in {SYSTEM_PYTHON} (python3-uno missing?)"
    return None


def available() -> bool:
    """True when soffice is installed and /usr/bin/python3 can `import uno`."""
    return _why_unavailable() is None


def require() -> None:
    """Raise LibreOfficeUnavailable, with the reason and the install command, if LibreOffice is missing."""
    why = _why_unavailable()
    if why is not None:
        ci = " (CI is set, so this fails instead of skipping)" if in_ci() else ""
        raise LibreOfficeUnavailable(f"LibreOffice is not available{ci}: {why}. Install: {INSTALL_HINT}")


# Skip without LibreOffice on a developer's machine; under CI never skip, so fill()/convert() fail loudly.
requires_libreoffice = pytest.mark.skipif(
    not in_ci() and not available(), reason=f"LibreOffice not available ({_why_unavailable()})"
)


@dataclass
class FillResult:
    """What one fill() did: output paths by format, one status per edit, the script's raw JSON."""

    paths: dict[str, Path]
    edits: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)
    seconds: float = 0.0

    @property
    def statuses(self) -> list[str]:
        """One of "ok", "refused", "error: ..." per edit, in the order given."""
        return [e["status"] for e in self.edits]

    @property
    def ok(self) -> bool:
        return bool(self.raw.get("ok"))

    @property
    def errors(self) -> list[str]:
        return list(self.raw.get("errors", []))


def fill(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    edits: Iterable[Mapping[str, Any]] = (),
    outputs: Iterable[str | tuple[str, str]] = ("xlsx",),
    locale: str = "zh-CN",
    unprotect: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    insert_rows: Iterable[Mapping[str, Any]] = (),
    delete_rows: Iterable[Mapping[str, Any]] = (),
    reprotect: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    recalculate: bool = True,
    timeout: float = 120,
    check: bool = True,
) -> FillResult:
    """Open `src` in one headless LibreOffice, apply the steps, recalculate and save it in each format.

    Args:
        src: the workbook; a private copy is opened, never the file itself.
        out_dir: where the outputs go (created if needed).
        edits: ``{"sheet": ..., "cell": "C4", "typed": "12"}`` (typed, as by a person: parsed with
            `locale`, refused on locked cells), or ``"text": str`` / ``"value": number`` instead of
            ``"typed"`` (API writes that ignore protection).
        outputs: formats among xlsx, xls, ods, pdf, named ``<src stem>.<fmt>``; or (format, file name).
        locale: the profile's locale ("zh-CN", "en-US", ...) or "system" for the process's LANG.
        unprotect / reprotect: ``{"sheet": ..., "password": ...}`` or a list of them.
        insert_rows: ``{"sheet": ..., "before_row": 5, "count": 1}`` (1-based rows).
        delete_rows: ``{"sheet": ..., "row": 5, "count": 1}``.
        recalculate: run calculateAll() before saving.
        timeout: seconds for the whole run, soffice start to shutdown.
        check: raise LibreOfficeError when a step failed (an edit's "refused" is not a failure); with
            False, look at ``FillResult.ok`` / ``errors`` and each item's status in ``raw`` instead.

    Raises:
        LibreOfficeUnavailable: LibreOffice is not installed.
        LibreOfficeError: soffice crashed, timed out or could not load `src`; or, with `check`, a step
            failed. The message includes the errors and the tail of soffice's stderr.
    """
    require()
    src, out_dir = Path(src), Path(out_dir)
    named = _output_names(src, outputs)
    job_dir = Path(tempfile.mkdtemp(prefix="kepuxl_lojob_"))
    try:
        job = {
            "src": str(src.resolve()),
            "out_dir": str(out_dir.resolve()),
            "result": str(job_dir / "result.json"),
            "state_file": str(job_dir / "state.json"),
            "outputs": [{"format": fmt, "name": name} for fmt, name in named.items()],
            "locale": locale,
            "unprotect": _as_list(unprotect),
            "insert_rows": [dict(i) for i in insert_rows],
            "delete_rows": [dict(i) for i in delete_rows],
            "edits": [_check_edit(e) for e in edits],
            "reprotect": _as_list(reprotect),
            "recalculate": recalculate,
            "timeout": timeout,
        }
        job_file = job_dir / "job.json"
        job_file.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
        started = time.monotonic()
        # The script has its own watchdog at `timeout`; ours, a bit later, only catches a stuck script.
        code, out, err = _run_group([SYSTEM_PYTHON, str(FILL_SCRIPT), str(job_file)], timeout + 30)
        seconds = time.monotonic() - started
        if code is None:
            # The script was killed, but soffice runs in a session of its own: kill that group as well.
            _kill_stuck_fill(job_dir / "state.json")
        result_file = Path(job["result"])
        raw = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else None
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)

    if code is None or raw is None:
        what = f"timed out after {timeout + 30:g} s" if code is None else f"exited with code {code}"
        raise LibreOfficeError(f"LibreOffice fill of {src} {what} without a result.{_tail(out, err)}", raw)
    # Not started, not loaded or out of time is always an error; a failed step only with `check`.
    timed_out = any(e.startswith("timeout") for e in raw.get("errors", []))
    if code == EXIT_LOAD or not raw.get("loaded") or timed_out or (check and not raw.get("ok")):
        raise LibreOfficeError(
            f"LibreOffice fill of {src} failed: {'; '.join(raw.get('errors', []))}"
            + _tail(out, raw.get("soffice", {}).get("stderr_tail", ""), err),
            raw,
        )
    paths = {o["format"]: Path(o["path"]) for o in raw.get("outputs", []) if o.get("status") == "ok"}
    return FillResult(paths=paths, edits=raw.get("edits", []), raw=raw, seconds=round(seconds, 2))


def convert(src: str | os.PathLike, fmt: str, out_dir: str | os.PathLike, timeout: float = 120) -> Path:
    """Resave `src` as `fmt` (xlsx, xls, ods, pdf, or "ext:Filter Name") with `soffice --convert-to`.

    This is the plain "opened and saved in another app" path: no edits, formulas without a cached value
    are recalculated. Returns ``out_dir/<src stem>.<ext>``.
    """
    require()
    src, out_dir = Path(src), Path(out_dir)
    target_spec = CONVERT_TARGETS.get(fmt, fmt)
    ext = target_spec.split(":", 1)[0]
    if not re.fullmatch(r"[A-Za-z0-9]+", ext):
        raise ValueError(f"bad format {fmt!r}: expected xlsx, xls, ods, pdf or 'ext:Filter Name'")
    target = out_dir / f"{src.stem}.{ext}"
    if target.resolve() == src.resolve():
        raise ValueError(f"converting {src} to {fmt} in {out_dir} would overwrite the source")
    work = Path(tempfile.mkdtemp(prefix="kepuxl_locv_"))
    profile_url = (work / "profile").as_uri()
    try:
        # A private copy: soffice would otherwise leave a .~lock file next to the user's file.
        copy = work / "in" / src.name
        copy.parent.mkdir()
        shutil.copyfile(src, copy)
        (work / "tmp").mkdir()
        cmd = [
            soffice_path() or "soffice", "--headless", "--norestore", "--nolockcheck", "--nologo",
            "--nodefault", f"-env:UserInstallation={profile_url}",
            "--convert-to", target_spec, "--outdir", str(work / "out"), str(copy),
        ]  # fmt: skip
        code, out, err = _run_group(cmd, timeout, env=dict(os.environ, TMPDIR=str(work / "tmp")))
        produced = work / "out" / target.name
        if code is None:
            raise LibreOfficeError(f"soffice --convert-to {fmt} of {src} timed out after {timeout:g} s")
        # soffice exits 0 even when it could not convert: the output file is the only proof.
        if not produced.exists():
            raise LibreOfficeError(f"soffice --convert-to {fmt} of {src} produced nothing{_tail(out, err)}")
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(produced, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _remove_ipc_socket(profile_url)


def to_pdf(src: str | os.PathLike, out_dir: str | os.PathLike, timeout: float = 120) -> Path:
    """`src` printed to PDF by LibreOffice (every visible sheet)."""
    return convert(src, "pdf", out_dir, timeout=timeout)


def pdf_to_png(pdf: str | os.PathLike, out_prefix: str | os.PathLike, dpi: int = 110) -> list[Path]:
    """Render each page with pdftoppm (poppler-utils); returns ``<out_prefix>-<n>.png`` in page order."""
    prefix = Path(out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(prefix)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftoppm failed on {pdf}: {proc.stderr.strip()}")
    # pdftoppm pads page numbers to the page count's width (-1, -01, ...): sort by number, not name.
    pages = re.compile(re.escape(prefix.name) + r"-(\d+)\.png")
    found = [(int(m.group(1)), p) for p in prefix.parent.iterdir() if (m := pages.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def pdf_text(pdf: str | os.PathLike, page: int) -> str:
    """The text of one page (1-based), from pdftotext (poppler-utils)."""
    cmd = ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftotext failed on {pdf}: {proc.stderr.strip()}")
    return proc.stdout


def pdf_lines(pdf: str | os.PathLike, page: int) -> list[str]:
    """The text lines of one page (1-based) as poppler groups them (`pdftotext -bbox-layout`): each line
    of a wrapped cell is a line of its own, whatever stands beside it in other cells."""
    cmd = ["pdftotext", "-f", str(page), "-l", str(page), "-bbox-layout", str(pdf), "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftotext failed on {pdf}: {proc.stderr.strip()}")
    return [
        " ".join(html.unescape(w) for w in re.findall(r"<word\b[^>]*>(.*?)</word>", line, re.S))
        for line in re.findall(r"<line\b[^>]*>(.*?)</line>", proc.stdout, re.S)
    ]


def pdf_page_sizes(pdf: str | os.PathLike) -> list[tuple[float, float]]:
    """(width, height) in points of every page, from pdfinfo (poppler-utils)."""
    proc = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "9999", str(pdf)], capture_output=True, text=True, timeout=60
    )
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not sizes:
        raise LibreOfficeError(f"pdfinfo failed on {pdf}: {proc.stderr.strip()}")
    return [(float(w), float(h)) for w, h in sizes]


@dataclass(frozen=True)
class Word:
    """One word as pdftotext -bbox finds it: text and box in points, y down from the top."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class PdfPage:
    number: int  # 1-based
    width: float
    height: float
    words: list[Word]

    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def band(self, top: float, bottom: float) -> list[Word]:
        """The words whose middle lies between `top` and `bottom` (points from the top)."""
        return [w for w in self.words if top <= (w.y0 + w.y1) / 2 <= bottom]


def pdf_pages(pdf: str | os.PathLike) -> list[PdfPage]:
    """Every page with its size and words, from one `pdftotext -bbox` run (poppler-utils)."""
    import html

    proc = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftotext -bbox failed on {pdf}: {proc.stderr.strip()}")
    pages = []
    page_re = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
    word_re = re.compile(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
    )
    for n, m in enumerate(page_re.finditer(proc.stdout), start=1):
        words = [
            Word(html.unescape(t), float(x0), float(y0), float(x1), float(y1))
            for x0, y0, x1, y1, t in word_re.findall(m.group(3))
        ]
        pages.append(PdfPage(n, float(m.group(1)), float(m.group(2)), words))
    return pages


# Text operators of a content stream: BT starts a text object, Tm sets its matrix, Tf its font size.
_TEXT_OPS = re.compile(
    rb"\bBT\b|([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) [-\d.]+ [-\d.]+ (Tm|cm)\b|/\S+ ([\d.]+) Tf\b"
)


def pdf_font_sizes(pdf: str | os.PathLike) -> list[list[float]]:
    """The size every text run of each page is printed at, in points.

    LibreOffice writes a run's printed size in its Tf operator (the print scale already applied,
    e.g. 11 pt at 85 % → 9.35) and uses Tm only to place or rotate it; the size is Tf times the text
    matrix's vertical scale. A scaling `cm` in a page with text would make that wrong: it raises.
    """
    import zlib

    work = Path(tempfile.mkdtemp(prefix="kepuxl_pdfsizes_"))
    try:
        proc = subprocess.run(
            ["pdfseparate", str(pdf), str(work / "p-%d.pdf")], capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise LibreOfficeError(f"pdfseparate failed on {pdf}: {proc.stderr.strip()}")
        pages = sorted(work.glob("p-*.pdf"), key=lambda p: int(p.stem[2:]))
        out = []
        for page in pages:
            sizes: list[float] = []
            for stream in re.findall(rb"stream\r?\n(.*?)endstream", page.read_bytes(), re.S):
                try:
                    content = zlib.decompress(stream)
                except zlib.error:
                    continue  # not a Flate stream: fonts and images are not content
                if b"BT" in content:
                    sizes += _run_sizes(content, pdf)
            out.append(sizes)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_sizes(content: bytes, pdf: str | os.PathLike) -> list[float]:
    sizes, scale = [], 1.0
    for m in _TEXT_OPS.finditer(content):
        if m.group(0) == b"BT":
            scale = 1.0
        elif m.group(5) == b"Tm":
            scale = (float(m.group(3)) ** 2 + float(m.group(4)) ** 2) ** 0.5
        elif m.group(5) == b"cm":
            if (float(m.group(1)), float(m.group(4))) != (1.0, 1.0):
                raise LibreOfficeError(f"{pdf}: a scaling cm operator; text sizes cannot be read this way")
        else:
            sizes.append(float(m.group(6)) * scale)
    return sizes


def pdf_page_count(pdf: str | os.PathLike) -> int:
    """Number of pages, from pdfinfo (poppler-utils)."""
    proc = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60)
    m = re.search(r"^Pages:\s+(\d+)", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not m:
        raise LibreOfficeError(f"pdfinfo failed on {pdf}: {proc.stderr.strip()}")
    return int(m.group(1))


# -- internals ---------------------------------------------------------------------------------------

# (exit code, or None when killed at the timeout; stdout; stderr)
Outcome = tuple[int | None, str, str]


def _run_group(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> Outcome:
    """Run `cmd` in its own process group; on timeout kill that group. Returns (code or None, out, err)."""
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env if env is not None else _system_python_env(),
        start_new_session=True,  # its own group: a timeout kill reaches soffice's children, nothing else
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _kill_stuck_fill(state_file: Path) -> None:
    """Do the killed fill script's cleanup: SIGKILL its soffice group, remove its temp dir and sockets."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # killed before soffice started: nothing to clean
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int(state["pgid"]), signal.SIGKILL)
    shutil.rmtree(state["work"], ignore_errors=True)
    for socket in state["sockets"]:
        Path(socket).unlink(missing_ok=True)


def _remove_ipc_socket(profile_url: str) -> None:
    """soffice leaves /tmp/OSL_PIPE_<uid>_SingleOfficeIPC_<hash of profile URL> behind; remove ours.

    Same naming rule as ipc_pipe_name() in lo_uno_fill.py: MD5 of the URL in UTF-16, unpadded hex bytes.
    """
    digest = hashlib.md5(profile_url.encode("utf-16-le")).digest()
    name = "SingleOfficeIPC_" + "".join(format(b, "x") for b in digest)
    Path(f"/tmp/OSL_PIPE_{os.getuid()}_{name}").unlink(missing_ok=True)


def _output_names(src: Path, outputs: Iterable[str | tuple[str, str]]) -> dict[str, str]:
    """outputs → {format: file name}; one file per format, so FillResult.paths can be keyed by format."""
    named: dict[str, str] = {}
    for item in outputs:
        fmt, name = (item, f"{src.stem}.{item}") if isinstance(item, str) else item
        if fmt not in CONVERT_TARGETS:
            raise ValueError(f"unknown output format {fmt!r}: expected one of {', '.join(CONVERT_TARGETS)}")
        if fmt in named:
            raise ValueError(f"output format {fmt!r} given twice")
        named[fmt] = name
    return named


def _check_edit(edit: Mapping[str, Any]) -> dict[str, Any]:
    """Catch a malformed edit here, with a plain message, rather than after soffice has started."""
    kinds = [k for k in ("typed", "text", "value") if k in edit]
    if len(kinds) != 1 or "sheet" not in edit or "cell" not in edit:
        raise ValueError(f"edit {dict(edit)!r} needs 'sheet', 'cell' and one of 'typed', 'text', 'value'")
    return dict(edit)


def _as_list(item: Mapping[str, str] | Sequence[Mapping[str, str]] | None) -> list[dict[str, str]]:
    if item is None:
        return []
    return [dict(item)] if isinstance(item, Mapping) else [dict(i) for i in item]


def _tail(*texts: str, limit: int = 1500) -> str:
    """The last lines of the processes' output, for an error message."""
    text = "\n".join(t.strip() for t in texts if t and t.strip())
    return f"\n--- output tail ---\n{text[-limit:]}" if text else ""


if __name__ == "__main__":
    # `python3 tests/libreoffice.py` tells whether the tests will find LibreOffice.
    print("available" if available() else f"unavailable: {_why_unavailable()}")
    sys.exit(0 if available() else 1)
