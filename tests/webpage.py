"""The page for the tests: `kepuxl serve` started as a real subprocess, and Debian's Chromium driven by Playwright.

    from webpage import Served, serve_process, chromium

`serve_process(config)` starts `python -m kepu_xl serve -c CONFIG --no-browser --port 0` (the command a
clerk runs), reads the address it prints and returns a `Served` (url with the token, port, process);
`Served.stop()` sends Ctrl-C (SIGINT) and waits for a clean exit. `chromium()` launches /usr/bin/chromium
headless with the flags this machine needs and a fresh profile. Without chromium the browser tests are
skipped, except under CI, where they fail: .ci/run installs it.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from libreoffice import in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_\-]+)")
START_TIMEOUT = 30.0


@dataclass
class Served:
    url: str  # with ?token=
    port: int
    token: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None  # reads `output` until the server exits, then closes the pipe

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20.0) -> int:
        """Ctrl-C, as a clerk stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        if self.reader is not None:
            self.reader.join(timeout)
        return code

    def request(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        cookie: bool = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> http.client.HTTPResponse:
        """One raw HTTP request (the path sent as written, the Host header as given)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{self.port}")
        if cookie:
            conn.putheader("Cookie", f"kepuxl_{self.port}={self.token}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response


def serve_process(config: Path, *extra: str, env: dict[str, str] | None = None) -> Served:
    """`kepuxl serve` as a subprocess, once it listens."""
    command = [sys.executable, "-m", "kepu_xl", "serve", "-c", str(config), "--no-browser", "--port", "0"]
    process = subprocess.Popen(
        [*command, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
    )
    lines: list[str] = []
    found: list[re.Match[str]] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        with process.stdout:  # closed at the end of the output, when the server has exited
            for line in process.stdout:
                lines.append(line)
                match = ADDRESS.search(line)
                if match and not found:
                    found.append(match)
                    ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(START_TIMEOUT)
    if not found:
        process.kill()
        raise AssertionError("kepuxl serve did not print its address:\n" + "".join(lines))
    match = found[0]
    return Served(match.group(0), int(match.group(1)), match.group(2), process, lines, reader)


@contextmanager
def serving(config: Path) -> Iterator[Served]:
    served = serve_process(config)
    try:
        yield served
    finally:
        served.stop()


def have_chromium() -> bool:
    if os.path.exists(CHROMIUM):
        return True
    if in_ci():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs chromium (apt-get install chromium)")
    return False


requires_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not in_ci(), reason="Debian's chromium is not installed"
)


@contextmanager
def chromium(viewport: tuple[int, int] = (1366, 768)) -> Iterator[Any]:
    """A headless Chromium context (Playwright) with a fresh profile, downloads accepted."""
    assert have_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="kepuxl-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": viewport[0], "height": viewport[1]},
                accept_downloads=True,
                locale="zh-CN",
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(predicate: Any, timeout: float = 60.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(step)
