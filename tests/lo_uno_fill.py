#!/usr/bin/python3
"""Fill a workbook the way a person would in LibreOffice: job JSON → edited copies + result JSON.

Run by Debian's /usr/bin/python3, the only interpreter here where `import uno` works; the pytest side
(tests/libreoffice.py) starts it as a subprocess. Usage: ``/usr/bin/python3 lo_uno_fill.py JOB.json``.

Job (JSON object)::

    {"src": "form.xlsx", "out_dir": "out/", "result": "result.json",  # result: else printed
     "state_file": "state.json",             # optional: soffice's group id, temp dir and sockets
     "outputs": [{"format": "xlsx" | "xls" | "ods" | "pdf", "name": "filled.xlsx"}],
     "locale": "zh-CN",                      # or "en-US", ..., or "system" (the LANG of the process)
     "unprotect": {"sheet": "S", "password": "pw"},          # or a list of them
     "insert_rows": [{"sheet": "S", "before_row": 5, "count": 1}],
     "delete_rows": [{"sheet": "S", "row": 5, "count": 1}],   # "before_row" accepted as an alias of "row"
     "edits": [{"sheet": "S", "cell": "C4", "typed": "12"}],  # or "text": str, or "value": number
     "reprotect": {"sheet": "S", "password": "pw"},          # or a list of them
     "recalculate": true, "timeout": 120}

Steps, in this order: load a private copy → unprotect → insert rows → delete rows → edits → reprotect →
calculateAll → store each output → close. Kinds of edit:

* ``typed``: ``cell.FormulaLocal = text``, the code path of typing into a cell: parsed with the profile's
  locale and refused on a locked cell of a protected sheet (status ``refused``, cell unchanged).
* ``text`` / ``value``: ``setString`` / ``setValue``, which ignore sheet protection.

The result (written to job["result"], else printed) has ``ok``, ``errors``, one entry per step item with
its ``status`` ("ok", "refused" or "error: ..."), the output paths, timings and the soffice details.
Exit code: 0 when every step worked, 4 when the document cannot be loaded, 1 otherwise.

soffice runs with a fresh profile in a private temp dir, in its own session (process group), reached
over a uniquely named pipe; it is stopped with desktop.terminate() and then SIGTERM/SIGKILL to that
group only, and a watchdog kills the same group when the job's timeout runs out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SOFFICE = shutil.which("soffice") or "/usr/bin/soffice"

# Export filter per output format (LibreOffice's internal filter names).
FILTERS = {
    "xlsx": "Calc Office Open XML",
    "xls": "MS Excel 97",
    "ods": "calc8",
    "pdf": "calc_pdf_Export",
}

EXIT_OK, EXIT_FAILED, EXIT_LOAD = 0, 1, 4

# Locale tags end up inside XML: accept only the plain BCP 47 shape.
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?([1-9][0-9]{0,6})$")

# Written into the fresh profile before start so that input is parsed as on a Chinese desktop.
LOCALE_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse">\
<value>{locale}</value></prop></item>
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooLocale" oor:op="fuse">\
<value>{locale}</value></prop></item>
<item oor:path="/org.openoffice.Office.Linguistic/General"><prop oor:name="DefaultLocale" oor:op="fuse">\
<value>{locale}</value></prop></item>
</oor:items>
"""


class JobError(ValueError):
    """The job file is malformed."""


def cell_position(ref: str) -> tuple[int, int]:
    """'C4' → (column 2, row 3), zero-based as UNO wants them."""
    m = CELL_RE.match(ref.strip())
    if not m:
        raise JobError(f"bad cell reference {ref!r} (expected A1 form such as 'C4')")
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - ord("A") + 1
    return col - 1, int(m.group(2)) - 1


def as_list(item: Any) -> list[dict]:
    """`unprotect`/`reprotect` may be one object or a list of them."""
    if item is None:
        return []
    return [item] if isinstance(item, dict) else list(item)


def error_text(exc: BaseException) -> str:
    """UNO exceptions carry their text in .Message; Python ones in str()."""
    msg = getattr(exc, "Message", None) or str(exc) or ""
    return f"error: {type(exc).__name__}: {msg}".rstrip(": ")


def ipc_pipe_name(profile_url: str) -> str:
    """Name of the single-instance pipe soffice creates for a profile (desktop/app/officeipcthread.cxx).

    LibreOffice hashes the UserInstallation URL as UTF-16 with MD5 and prints each byte in hex without
    zero padding; the socket is left in /tmp after shutdown, so we must know its name to remove it.
    """
    digest = hashlib.md5(profile_url.encode("utf-16-le")).digest()
    return "SingleOfficeIPC_" + "".join(format(b, "x") for b in digest)


class Office:
    """One headless soffice with a private profile, reached over a private pipe."""

    def __init__(self, work: Path, locale: str, state_file: str | None = None) -> None:
        self.work = work
        self.state_file = state_file
        self.profile = work / "profile"
        self.profile_url = self.profile.as_uri()
        self.pipe = f"kepuxl_{os.getpid()}_{secrets.token_hex(6)}"
        self.locale = locale
        self.proc: subprocess.Popen | None = None
        self.log_path = work / "soffice.log"
        self.ctx = None
        self.desktop = None

    def start(self, deadline: float) -> None:
        """Start soffice and connect; raises RuntimeError if it dies or does not answer by `deadline`."""
        import uno
        from com.sun.star.connection import NoConnectException

        if self.locale != "system":
            # A fresh profile reads this file at first start, so the locale is in force from the start.
            (self.profile / "user").mkdir(parents=True)
            xcu = LOCALE_XCU.format(locale=self.locale)
            (self.profile / "user" / "registrymodifications.xcu").write_text(xcu, encoding="utf-8")
        tmp = self.work / "tmp"
        tmp.mkdir()
        # soffice puts its own temp files under TMPDIR; keep them in our folder so cleanup takes them.
        env = dict(os.environ, TMPDIR=str(tmp))
        cmd = [
            SOFFICE, "--headless", "--invisible", "--norestore", "--nolockcheck", "--nologo",
            "--nodefault", "--nofirststartwizard", f"-env:UserInstallation={self.profile_url}",
            f"--accept=pipe,name={self.pipe};urp;StarOffice.ComponentContext",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            # New session = own process group, so stopping it can never touch anything else.
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
            )
        if self.state_file:
            # Lets a caller whose own timeout outlives ours kill soffice and clean up if we get stuck.
            state = {"pgid": self.proc.pid, "work": str(self.work), "sockets": self.sockets()}
            Path(self.state_file).write_text(json.dumps(state), encoding="utf-8")
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        url = f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext"
        while True:
            try:
                self.ctx = resolver.resolve(url)
                break
            except NoConnectException:
                pass  # not listening yet
            # oosplash may restart soffice.bin once on a fresh profile; only its own exit is fatal.
            if self.proc.poll() is not None:
                raise RuntimeError(f"soffice exited with code {self.proc.returncode} during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("soffice did not accept the UNO connection before the timeout")
            time.sleep(0.1)
        smgr = self.ctx.ServiceManager
        self.desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)

    def effective_locale(self) -> str:
        """The locale soffice actually uses for input, read back from its configuration."""
        from com.sun.star.beans import PropertyValue

        provider = self.ctx.ServiceManager.createInstanceWithContext(
            "com.sun.star.configuration.ConfigurationProvider", self.ctx
        )
        arg = PropertyValue(Name="nodepath", Value="/org.openoffice.Setup/L10N")
        node = provider.createInstanceWithArguments("com.sun.star.configuration.ConfigurationAccess", (arg,))
        return node.getByName("ooSetupSystemLocale") or f"system (LANG={os.environ.get('LANG', '')})"

    def stop(self) -> int | None:
        """terminate() politely, then SIGTERM/SIGKILL the process group; returns soffice's exit code."""
        if self.proc is None:
            return None
        if self.desktop is not None and self.proc.poll() is None:
            # The bridge often dies mid-call as soffice exits: that is success, not an error.
            with contextlib.suppress(Exception):
                self.desktop.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        kill_group(self.proc)
        self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """Hard stop, used by the watchdog."""
        if self.proc is not None:
            kill_group(self.proc, grace=0)

    def sockets(self) -> list[str]:
        """The sockets soffice leaves in /tmp (a hard-coded place) for our pipe and our profile."""
        uid = os.getuid()
        return [f"/tmp/OSL_PIPE_{uid}_{name}" for name in (self.pipe, ipc_pipe_name(self.profile_url))]

    def cleanup(self) -> None:
        for socket in self.sockets():
            Path(socket).unlink(missing_ok=True)

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds, to the process group of `proc` (its own session)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            proc.poll()  # reap our child: an unreaped zombie would keep the group "alive"
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def props(**kwargs: Any) -> tuple:
    """Keyword arguments → the tuple of PropertyValue that UNO calls take."""
    from com.sun.star.beans import PropertyValue

    return tuple(PropertyValue(Name=k, Value=v) for k, v in kwargs.items())


def cell_state(cell: Any) -> dict:
    """What a cell holds now, to report and to tell a refused typed write from an accepted one."""
    return {
        "type": cell.Type.value,  # EMPTY / VALUE / TEXT / FORMULA
        "value": cell.getValue(),
        "string": cell.getString(),
        "formula": cell.getFormula(),
    }


def apply_edit(doc: Any, edit: dict) -> dict:
    """Apply one edit; returns the edit echoed back with its status and the cell's new content."""
    out = dict(edit)
    kinds = [k for k in ("typed", "text", "value") if k in edit]
    try:
        if len(kinds) != 1:
            raise JobError("an edit needs exactly one of 'typed', 'text', 'value'")
        kind = kinds[0]
        sheet = doc.Sheets.getByName(edit["sheet"])
        cell = sheet.getCellByPosition(*cell_position(edit["cell"]))
        before = cell_state(cell)
        if kind == "typed":
            # FormulaLocal is what typing does: locale-aware parsing, and no write to a locked cell.
            cell.FormulaLocal = str(edit["typed"])
        elif kind == "text":
            cell.setString(str(edit["text"]))
        else:
            cell.setValue(float(edit["value"]))
        after = cell_state(cell)
        locked = sheet.isProtected() and cell.CellProtection.IsLocked
        # LibreOffice refuses silently: a typed write to a locked cell just leaves it as it was.
        out["status"] = "refused" if kind == "typed" and locked and after == before else "ok"
        out["result"] = after
    except Exception as exc:  # every failure becomes this edit's status; the job goes on
        out["status"] = error_text(exc)
    return out


def run_step(items: list[dict], action: Any) -> list[dict]:
    """Run `action(item)` on each item, recording "ok" or the error, and go on after failures."""
    done = []
    for item in items:
        entry = dict(item)
        entry.pop("password", None)  # results are logged; passwords stay out of them
        try:
            action(item)
            entry["status"] = "ok"
        except Exception as exc:  # recorded as the item's status
            entry["status"] = error_text(exc)
        done.append(entry)
    return done


def store(doc: Any, fmt: str, name: str, stage: Path, out_dir: Path) -> Path:
    """Store the document in one format under `stage`, then move it into `out_dir` (no partial files)."""
    import uno

    if fmt not in FILTERS:
        raise JobError(f"unknown output format {fmt!r} (expected one of {', '.join(FILTERS)})")
    if not name or Path(name).name != name:
        raise JobError(f"output name {name!r} must be a plain file name")
    staged = stage / name
    doc.storeToURL(uno.systemPathToFileUrl(str(staged)), props(FilterName=FILTERS[fmt], Overwrite=True))
    target = out_dir / name
    shutil.move(staged, target)
    return target


def run_job(job: dict, office: Office, work: Path, result: dict) -> int:
    """Every step after soffice is up; fills `result` in place and returns the exit code."""
    import uno
    from com.sun.star.lang import IllegalArgumentException

    src = Path(job["src"])
    out_dir = Path(job["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    # Open a private copy: LibreOffice writes .~lock files next to what it opens, and a stale one
    # (after a crash) makes a later load return None.
    copy_dir = work / "in"
    copy_dir.mkdir()
    copy = copy_dir / src.name
    shutil.copyfile(src, copy)

    t = time.monotonic()
    # Hidden, no macros, no link updates: a returned form is untrusted input.
    load_props = props(Hidden=True, MacroExecutionMode=0, UpdateDocMode=0, ReadOnly=False)
    try:
        doc = office.desktop.loadComponentFromURL(uno.systemPathToFileUrl(str(copy)), "_blank", 0, load_props)
    except Exception as exc:  # IllegalArgument/IOException: reported as a load failure
        result["errors"].append(f"cannot load {src}: {error_text(exc)}")
        return EXIT_LOAD
    if doc is None:
        result["errors"].append(f"cannot load {src}: LibreOffice could not open it (damaged or encrypted?)")
        return EXIT_LOAD
    if not hasattr(doc, "Sheets"):
        # Garbage bytes are not refused: the text import opens them as a Writer document.
        result["errors"].append(f"cannot load {src}: LibreOffice did not open it as a spreadsheet")
        doc.close(True)
        return EXIT_LOAD
    result["loaded"] = True
    result["timings"]["load"] = round(time.monotonic() - t, 3)

    try:
        t = time.monotonic()
        sheets = doc.Sheets

        def unprotect(item: dict) -> None:
            try:
                sheets.getByName(item["sheet"]).unprotect(item.get("password", ""))
            except IllegalArgumentException:
                # The only reason unprotect() raises this; say it plainly.
                raise ValueError(f"wrong password for sheet {item['sheet']!r}") from None

        def insert_rows(item: dict) -> None:
            rows = sheets.getByName(item["sheet"]).Rows
            rows.insertByIndex(int(item["before_row"]) - 1, int(item.get("count", 1)))

        def delete_rows(item: dict) -> None:
            rows = sheets.getByName(item["sheet"]).Rows
            rows.removeByIndex(int(item.get("row", item.get("before_row"))) - 1, int(item.get("count", 1)))

        def reprotect(item: dict) -> None:
            sheets.getByName(item["sheet"]).protect(item.get("password", ""))

        # A protected sheet refuses row changes (RuntimeException): unprotect comes first.
        result["unprotect"] = run_step(as_list(job.get("unprotect")), unprotect)
        result["insert_rows"] = run_step(list(job.get("insert_rows", [])), insert_rows)
        result["delete_rows"] = run_step(list(job.get("delete_rows", [])), delete_rows)
        result["edits"] = [apply_edit(doc, e) for e in job.get("edits", [])]
        result["reprotect"] = run_step(as_list(job.get("reprotect")), reprotect)
        if job.get("recalculate", True):
            doc.calculateAll()
        result["timings"]["edit"] = round(time.monotonic() - t, 3)

        t = time.monotonic()
        stage = work / "out"
        stage.mkdir()
        for spec in job.get("outputs", []):
            entry = {"format": spec.get("format"), "name": spec.get("name")}
            try:
                entry["path"] = str(store(doc, spec["format"], spec["name"], stage, out_dir))
                entry["status"] = "ok"
            except Exception as exc:  # one failed format must not stop the others
                entry["status"] = error_text(exc)
            result["outputs"].append(entry)
        result["timings"]["store"] = round(time.monotonic() - t, 3)
    finally:
        try:
            doc.close(True)
        except Exception as exc:  # closing is best effort; terminate() follows anyway
            result["errors"].append(f"close: {error_text(exc)}")

    for step in ("unprotect", "insert_rows", "delete_rows", "edits", "reprotect", "outputs"):
        for item in result[step]:
            if item["status"].startswith("error"):
                result["errors"].append(f"{step}: {item.get('sheet', item.get('name'))}: {item['status']}")
    return EXIT_OK if not result["errors"] else EXIT_FAILED


def check_job(job: Any) -> None:
    """Reject a malformed job before starting soffice (a few seconds saved, a clearer message)."""
    if not isinstance(job, dict):
        raise JobError("the job must be a JSON object")
    for key in ("src", "out_dir"):
        if not job.get(key):
            raise JobError(f"the job needs {key!r}")
    if not Path(job["src"]).is_file():
        raise JobError(f"src {job['src']!r} is not a file")
    locale = job.get("locale", "zh-CN")
    if locale != "system" and not LOCALE_RE.match(str(locale)):
        raise JobError(f"bad locale {locale!r} (expected a tag such as 'zh-CN', or 'system')")
    for spec in job.get("outputs", []):
        if spec.get("format") not in FILTERS:
            raise JobError(f"unknown output format {spec.get('format')!r} (one of {', '.join(FILTERS)})")
    for edit in job.get("edits", []):
        cell_position(str(edit.get("cell", "")))


def write_result(job: dict, result: dict) -> None:
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if job.get("result"):
        Path(job["result"]).write_text(text, encoding="utf-8")
    else:
        print(text)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return EXIT_FAILED
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    started = time.monotonic()
    result: dict[str, Any] = {
        "ok": False, "errors": [], "src": job.get("src") if isinstance(job, dict) else None,
        "loaded": False, "locale": None, "unprotect": [], "insert_rows": [], "delete_rows": [],
        "edits": [], "reprotect": [], "outputs": [], "timings": {}, "soffice": {},
    }  # fmt: skip
    try:
        check_job(job)
    except JobError as exc:
        result["errors"].append(f"bad job: {exc}")
        write_result(job if isinstance(job, dict) else {}, result)
        return EXIT_FAILED

    timeout = float(job.get("timeout", 120))
    work = Path(tempfile.mkdtemp(prefix="kepuxl_lo_"))
    office = Office(work, str(job.get("locale", "zh-CN")), job.get("state_file"))
    done = threading.Event()
    finish = threading.Lock()  # whoever takes it first (main or watchdog) cleans up and writes the result
    timed_out = threading.Event()

    def finalize(code: int) -> int:
        result["soffice"] = {
            "pid": office.proc.pid if office.proc else None, "pipe": office.pipe,
            "profile": str(office.profile), "exit_code": office.proc.returncode if office.proc else None,
            "stderr_tail": office.stderr_tail(),
        }  # fmt: skip
        office.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        result["timings"]["total"] = round(time.monotonic() - started, 3)
        result["ok"] = code == EXIT_OK
        write_result(job, result)
        return code

    def watchdog() -> None:
        if done.wait(timeout):
            return
        timed_out.set()
        office.kill()  # the main thread's pending UNO call then fails with a disposed bridge
        if done.wait(10) or not finish.acquire(blocking=False):
            return
        # The main thread is stuck even with soffice gone: report and leave without it.
        result["errors"].append(f"timeout: no result after {timeout:g} s; soffice killed")
        finalize(EXIT_FAILED)
        os._exit(EXIT_FAILED)

    threading.Thread(target=watchdog, daemon=True).start()
    code = EXIT_FAILED
    try:
        t = time.monotonic()
        office.start(deadline=started + timeout)
        result["timings"]["start"] = round(time.monotonic() - t, 3)
        result["locale"] = office.effective_locale()
        code = run_job(job, office, work, result)
    except Exception as exc:  # turned into the result's error list and exit code 1
        result["errors"].append(error_text(exc))
        code = EXIT_FAILED
    finally:
        t = time.monotonic()
        office.stop()
        result["timings"]["shutdown"] = round(time.monotonic() - t, 3)
        done.set()
    if timed_out.is_set():
        result["errors"].insert(0, f"timeout: the job took longer than {timeout:g} s; soffice killed")
        code = EXIT_FAILED
    with finish:
        return finalize(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
