"""The page's door, against the real `kepuxl serve` subprocess with raw HTTP requests.

Token (no token, wrong token → 403; the first visit turns it into a cookie), Host (DNS rebinding → 403),
CSRF on every POST (→ 403, nothing changed), path traversal (→ 404, nothing leaked), 127.0.0.1 only,
unit text never HTML, Ctrl-C stops cleanly, and the CLI never loads the web stack.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import init_sample
from helpers import ROSTER_HEADER, lock_held_elsewhere, use_roster
from webpage import Served, serve_process

from kepu_xl import lastrun, locks
from kepu_xl.collection import collect
from kepu_xl.ledger import Ledger, ledger_path

XSS_NAME = "<script>alert('x')</script>镇"
FORMULA_NAME = '=HYPERLINK("http://evil.example/","点我")'


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = init_sample(tmp_path_factory.mktemp("web") / "青溪县", with_returns=True)
    collect(folder / "inbox", folder / "kepuxl.toml")
    return folder


@pytest.fixture(scope="module")
def served(county: Path):
    s = serve_process(county / "kepuxl.toml")
    yield s
    assert s.stop() == 0


SECRET_MARK = "qingxi-2023-science-week"  # in kepuxl.toml: must never come back through a traversal


def test_no_token_no_page(served: Served) -> None:
    for path in ("/", "/units", "/units/T06", "/static/app.css", "/static/htmx.min.js", "/download/summary"):
        assert served.request("GET", path, cookie=False).status == 403, path
    assert served.request("GET", "/?token=wrong", cookie=False).status == 403
    assert (
        served.request("GET", "/", cookie=False, headers={"Cookie": f"kepuxl_{served.port}=wrong"}).status
        == 403
    )


def test_the_token_becomes_a_strict_cookie_and_leaves_the_address(served: Served) -> None:
    response = served.request("GET", f"/units?status=pending&token={served.token}", cookie=False)
    assert response.status == 303
    assert response.getheader("Location") == "/units?status=pending"
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith(f"kepuxl_{served.port}={served.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert served.request("GET", "/units?status=pending").status == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "127.0.0.1.evil.example:{port}",
        "localhost.evil.example",
        "192.168.1.10:{port}",
        "[::1]:{port}",
        "",
    ],
)
def test_another_host_name_is_refused(served: Served, host: str) -> None:
    """A page of another site that re-points its name at 127.0.0.1 (DNS rebinding) sends its own Host."""
    assert served.request("GET", "/", host=host.format(port=served.port)).status == 403


def test_localhost_is_fine(served: Served) -> None:
    assert served.request("GET", "/", host=f"localhost:{served.port}").status == 200
    assert served.request("GET", "/", host=f"127.0.0.1:{served.port}").status == 200


def test_security_headers(served: Served) -> None:
    response = served.request("GET", "/")
    csp = response.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("Cache-Control") == "no-store"
    assert response.getheader("Referrer-Policy") == "no-referrer"


def csrf_of(served: Served) -> str:
    import re
    import urllib.request

    request = urllib.request.Request(
        served.base + "/", headers={"Cookie": f"kepuxl_{served.port}={served.token}"}
    )
    page = urllib.request.urlopen(request).read().decode("utf-8")
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


@pytest.mark.parametrize("csrf", [None, "wrong"])
def test_a_post_without_the_csrf_token_changes_nothing(
    served: Served, county: Path, csrf: str | None
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    form = "note=%E7%94%B5%E8%AF%9D%E6%A0%B8%E5%AE%9E"
    if csrf:
        headers["X-CSRF-Token"] = csrf
        form += f"&csrf={csrf}"
    before = sorted(p.name for p in (county / "inbox").iterdir())
    collected = lastrun.load(county / ".kepuxl")["generated_at"]
    assert served.request("POST", "/units/T06/confirm", headers=headers, body=form.encode()).status == 403
    assert served.request("POST", "/collect", headers=headers, body=b"").status == 403
    assert served.request("POST", "/forms/make", headers=headers, body=b"").status == 403
    assert served.request("POST", "/mail/drafts", headers=headers, body=b"").status == 403
    upload = {**headers, "Content-Type": "application/octet-stream", "X-File-Name": "x.xlsx"}
    assert served.request("POST", "/inbox/upload", headers=upload, body=b"PK").status == 403
    with Ledger(ledger_path(county / ".kepuxl")) as ledger:
        assert ledger.confirmations() == {}
    assert sorted(p.name for p in (county / "inbox").iterdir()) == before
    assert not (county / "output" / "forms").exists() and not (county / "output" / "邮件").exists()
    assert lastrun.load(county / ".kepuxl")["generated_at"] == collected


def test_a_post_with_the_csrf_token_is_let_through(served: Served, county: Path) -> None:
    token = csrf_of(served)
    headers = {"X-CSRF-Token": token, "Content-Type": "application/octet-stream"}
    name = quote("../../逃出去.pdf")
    response = served.request(
        "POST", "/inbox/upload", headers={**headers, "X-File-Name": name}, body=b"%PDF-1.4"
    )
    assert response.status == 200
    assert (county / "inbox" / "逃出去.pdf").read_bytes() == b"%PDF-1.4"  # inside the inbox, by its basename
    assert not (county.parent / "逃出去.pdf").exists() and not (county / "逃出去.pdf").exists()
    (county / "inbox" / "逃出去.pdf").unlink()


def test_large_uploads_stop_at_the_inboxs_cap_for_their_kind(served: Served, county: Path) -> None:
    headers = {"X-CSRF-Token": csrf_of(served), "Content-Type": "application/octet-stream"}
    photo = b"\xff\xd8\xff\xe0" + bytes(3 << 20)  # a 3 MB photo: over any form-sized limit, under the cap
    response = served.request(
        "POST", "/inbox/upload", headers={**headers, "X-File-Name": "photo.jpg"}, body=photo
    )
    assert response.status == 200
    assert (county / "inbox" / "photo.jpg").stat().st_size == len(photo)
    (county / "inbox" / "photo.jpg").unlink()
    huge = bytes((20 << 20) + 1)  # one byte over the 20 MB a workbook may have
    response = served.request(
        "POST", "/inbox/upload", headers={**headers, "X-File-Name": "huge.xlsx"}, body=huge
    )
    assert response.status == 422
    assert not (county / "inbox" / "huge.xlsx").exists()
    assert not [p for p in (county / "inbox").iterdir() if p.name.startswith(".")]


TRAVERSALS = [
    "/static/../kepuxl.toml",
    "/static/..%2f..%2fkepuxl.toml",
    "/static/%2e%2e%2f%2e%2e%2fkepuxl.toml",
    "/static/..%5c..%5ckepuxl.toml",
    "/static/%252e%252e%252fkepuxl.toml",
    "/download/..%2f..%2fkepuxl.toml",
    "/download/../../.kepuxl/secret",
    "/download/%2e%2e%2f.kepuxl%2fsecret",
    "/download/summary%2f..%2f..%2fkepuxl.toml",
    "/download/%2Fetc%2Fpasswd",
    "/units/..%2f..%2fkepuxl.toml/feedback",
    "/units/T03%2f..%2f..%2f..%2fkepuxl.toml/feedback",
    "/units/..%5c..%5c.kepuxl%5csecret/feedback",
    "/units/%2e%2e/feedback",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_finds_nothing(served: Served, path: str) -> None:
    import urllib.error
    import urllib.request

    assert served.request("GET", path).status == 404
    request = urllib.request.Request(
        served.base + path, headers={"Cookie": f"kepuxl_{served.port}={served.token}"}
    )
    try:
        body = urllib.request.urlopen(request).read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        assert exc.code in (404, 400), path
    assert SECRET_MARK.encode() not in body and b"root:" not in body


def test_downloads_are_the_servers_own_list(served: Served, county: Path) -> None:
    assert served.request("GET", "/download/summary").status == 200
    assert served.request("GET", "/units/T03/feedback").status == 200  # 青山镇: rejected, has feedback
    assert served.request("GET", "/units/T01/feedback").status == 404  # 城关街道: accepted, none
    assert served.request("GET", "/download/forms.zip").status == 404  # no forms made yet
    assert served.request("GET", "/download/kepuxl.toml").status == 404


def test_it_listens_on_127_0_0_1_only(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5):
        pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", served.port), timeout=5):
        pass


def test_a_collect_from_the_command_line_makes_the_page_wait(served: Served, county: Path) -> None:
    with lock_held_elsewhere(lastrun.lock_path(county / ".kepuxl")):
        assert locks.is_held(lastrun.lock_path(county / ".kepuxl"))
        import urllib.request

        request = urllib.request.Request(
            served.base + "/collect",
            data=b"",
            method="POST",
            headers={"Cookie": f"kepuxl_{served.port}={served.token}", "X-CSRF-Token": csrf_of(served)},
        )
        page = urllib.request.urlopen(request).read().decode("utf-8")
        assert "另一个汇总正在进行" in page


def test_unit_text_is_never_html(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "县")
    config = folder / "kepuxl.toml"
    use_roster(
        config,
        [
            ROSTER_HEADER,
            ("X01", XSS_NAME, "镇（街道）", "<b>张</b>", "1", ""),
            ("X02", FORMULA_NAME, "部门", "", "", ""),
        ],
    )
    collect(folder / "inbox", config)
    served = serve_process(config)
    try:
        import urllib.request

        cookie = {"Cookie": f"kepuxl_{served.port}={served.token}"}
        units = urllib.request.urlopen(urllib.request.Request(served.base + "/units", headers=cookie)).read()
        page = units.decode("utf-8")
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;镇" in page
        assert "=HYPERLINK(&#34;http://evil.example/&#34;,&#34;点我&#34;)" in page
        assert 'href="http://evil.example/' not in page
        unit = urllib.request.urlopen(
            urllib.request.Request(served.base + "/units/X01", headers=cookie)
        ).read()
        assert b"<b>" not in unit.split(b"<main", 1)[1] and "&lt;b&gt;张&lt;/b&gt;".encode() in unit
    finally:
        assert served.stop() == 0


def test_ctrl_c_stops_it_cleanly(tmp_path: Path) -> None:
    folder = init_sample(tmp_path / "县")
    served = serve_process(folder / "kepuxl.toml")
    assert served.request("GET", "/").status == 200
    assert served.stop() == 0
    assert "工作台已停止" in "".join(served.output)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", served.port), timeout=5):
        pass
    assert (folder / "打开工作台.bat").read_bytes().decode("gbk").startswith("@echo off\r\n")


def test_the_cli_does_not_load_the_web_stack() -> None:
    code = "import sys\nfrom kepu_xl.cli import cli\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'waitress', 'werkzeug', 'jinja2') or m.startswith('kepu_xl.web'))))"
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_a_config_broken_while_serving_is_explained_on_the_page(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    folder = init_sample(tmp_path / "县")
    config = folder / "kepuxl.toml"
    served = serve_process(config)
    try:
        config.write_text(
            config.read_text(encoding="utf-8").replace('title = "', "title = “"), encoding="utf-8"
        )
        request = urllib.request.Request(
            served.base + "/", headers={"Cookie": f"kepuxl_{served.port}={served.token}"}
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request)
        page = error.value.read().decode("utf-8")
        assert error.value.code == 500 and "无法继续" in page and "第 4 行" in page and "中文引号" in page
    finally:
        assert served.stop() == 0
