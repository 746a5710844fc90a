"""邮件 on the page: make the drafts, send them through a real SMTP server (aiosmtpd on 127.0.0.1, TLS),
the authorisation code typed into a password field and kept nowhere, each message's result shown."""

from __future__ import annotations

from pathlib import Path

from conftest import init_sample
from helpers import ROSTER_HEADER, use_roster
from mailservers import SmtpServer, certs_fixture  # noqa: F401 - registers the fixture
from playwright.sync_api import expect
from test_mail import configure, use_smtp
from webpage import chromium, requires_chromium, serving

pytestmark = requires_chromium

ROSTER = [
    ROSTER_HEADER,
    ("T01", "城关街道", "镇（街道）", "王芳", "1", "chengguan@qingxi.example.org"),
    ("T02", "东湖街道", "镇（街道）", "张伟", "2", "donghu@qingxi.example.org"),
    ("D01", "县教育局", "县级部门", "孙丽", "3", "jyj@qingxi.example.org"),
]


def test_drafts_and_sending_from_the_page(tmp_path: Path, certs) -> None:
    folder = init_sample(tmp_path / "青溪县")
    config = folder / "kepuxl.toml"
    use_roster(config, ROSTER)
    configure(config, pause=0, timeout=10)
    server = SmtpServer(certs).start()
    try:
        use_smtp(config, server, certs)
        with serving(config) as served, chromium() as browser:
            page = browser.new_page()
            page.goto(served.url.replace("/?", "/mail?"))
            page.get_by_role("button", name="生成下发邮件草稿").click()
            page.wait_for_selector("text=生成下发邮件草稿完成")
            section = page.locator("section.folder")
            expect(section).to_have_count(1)
            assert (
                "统计表" in section.locator("h2").inner_text()
                and "3 封" in section.locator("h2").inner_text()
            )

            # a wrong code: the login fails, nothing goes out, and the page says so per message
            page.get_by_label("邮箱授权码").fill("wrong-code-123456")
            page.get_by_role("button", name="发送", exact=True).click()
            page.wait_for_selector("text=发送邮件完成")
            assert (
                "失败 1 封" in page.locator("#job").inner_text()
                and "未发送 2 封" in page.locator("#job").inner_text()
            )
            assert server.received == [] and server.failed_logins == 1

            page.get_by_label("邮箱授权码").fill(server.password)
            page.get_by_role("button", name="发送", exact=True).click()
            page.wait_for_selector("text=发送邮件完成")
            results = page.locator("#job table").inner_text()
            assert results.count("已发送") == 3
            assert sorted(r.rcpt_tos[0] for r in server.received) == sorted(row[5] for row in ROSTER[1:])
            assert page.get_by_label("邮箱授权码").input_value() == ""  # the field comes back empty
            storage = page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
            cookies = str(browser.cookies())
        for secret in (server.password, "wrong-code-123456"):
            assert secret not in storage and secret not in cookies
            for path in folder.rglob("*"):
                if path.is_file():
                    assert secret.encode() not in path.read_bytes(), path
            assert secret not in "".join(served.output)
    finally:
        server.stop()
