"""kepu_xl/mail.py and the `kepuxl mail drafts / send / fetch / remind` commands, against real servers.

SMTP: aiosmtpd on 127.0.0.1 (STARTTLS and implicit TLS, AUTH LOGIN/PLAIN) records what arrives.
IMAP: Debian's dovecot on 127.0.0.1 (IMAPS) serves the mailbox `kepuxl fetch` reads. Both use a
certificate from a throwaway CA that the campaign trusts through `ca_file`. No mocks.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner, Result
from helpers import ROSTER_HEADER, use_roster
from mailservers import (  # noqa: F401 (fixtures)
    Certs,
    Dovecot,
    SmtpServer,
    certs_fixture,
    dovecot_fixture,
    free_port,
    requires_dovecot,
    smtp_server_fixture,
)
from openpyxl import load_workbook

from kepu_xl import audit, campaign, intake, mail, materials, reader
from kepu_xl.cli import cli
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code, KepuError, dumps
from kepu_xl.init import init_campaign
from kepu_xl.ledger import Ledger
from kepu_xl.results import FileResult
from kepu_xl.sample_returns import ACTIVITY, values_for

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # inside aiosmtpd

CLERK = "kjj@qingxi.example.org"
ROSTER = [
    ROSTER_HEADER,
    ("T01", "城关街道", "镇（街道）", "王芳", "13900000001", "chengguan@qingxi.example.org"),
    ("T02", "青山镇", "镇（街道）", "刘洋", "13900000003", "qingshan@qingxi.example.org"),
    ("D01", "县教育局", "县级部门", "朱红", "13900000101", "jyj@qingxi.example.org"),
    ("T06", "白沙镇", "镇（街道）", "赵磊", "13900000006", ""),
]
WITH_ADDRESS = ["chengguan@qingxi.example.org", "qingshan@qingxi.example.org", "jyj@qingxi.example.org"]
SUBJECT = "【请于5月30日17:30前报送】2023年科技活动周开展情况统计表（{unit}）"
ATTACHMENT = "2023年科技活动周开展情况统计表（{unit}）.xlsx"
PASSWORD_ENV = "KEPUXL_MAIL_PASSWORD"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False)


def configure(config: Path, materials_required: dict[str, int] | None = None, **keys: Any) -> None:
    """Set [mail] keys in kepuxl.toml (replacing the sample's lines) and, optionally, [materials]."""
    text = config.read_text(encoding="utf-8")
    for key, value in keys.items():
        line = f"{key} = {toml_value(value)}"
        text, n = re.subn(rf"(?m)^{key} = .*$", lambda _m, line=line: line, text)
        if n == 0:
            text = text.replace("[mail]\n", f"[mail]\n{line}\n", 1)
    if materials_required:
        text += "\n[materials]\n" + "".join(f"{k} = {v}\n" for k, v in materials_required.items())
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A campaign made by `kepuxl init`, with four units (one without an address), cwd = its folder."""
    path = tmp_path / "青溪县"
    config = init_campaign(path)
    use_roster(config, ROSTER)
    configure(config, pause=0, timeout=10)
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def config(folder: Path) -> Path:
    return folder / CONFIG_NAME


def use_smtp(config: Path, server: SmtpServer, certs: Certs) -> None:
    configure(
        config,
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        smtp_security=server.security,
        smtp_user=server.user,
        ca_file=str(certs.ca_file),
    )


def use_imap(config: Path, server: Dovecot, user: str, certs: Certs) -> None:
    configure(
        config,
        imap_host="127.0.0.1",
        imap_port=server.port,
        imap_user=user,
        imap_security="ssl",
        ca_file=str(certs.ca_file),
    )


def runner_for(password: str = "") -> Callable[..., Result]:
    env = {"COLUMNS": "200", PASSWORD_ENV: password} if password else {"COLUMNS": "200"}
    runner = CliRunner(env=env)

    def invoke(*args: Any) -> Result:
        result = runner.invoke(cli, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    return {p.get_filename(): p.get_payload(decode=True) for p in msg.walk() if p.get_filename()}


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def identify(ctx: Context, data: bytes) -> str:
    """The unit a form's bytes belong to, through the reader and the identity check (no finding)."""
    form = reader.read(data, "xlsx", ctx.spec, ctx.cells)
    unit, found = audit.identify(form, ctx.campaign, ctx.spec, ctx.cells, ctx.secret)
    assert unit is not None and not found, found
    return unit.id


# -- building messages ------------------------------------------------------------------------------------


def test_message_names_decode_in_every_parser_kepuxl_and_clients_use() -> None:
    name = "2023年科技活动周开展情况统计表（县文化旅游体育局）.xlsx"
    data = mail.build_message(
        sender=("青溪县科学技术局", CLERK),
        to=("县文化旅游体育局 郭婷", "wlj@qingxi.example.org"),
        subject=SUBJECT.format(unit="县文化旅游体育局"),
        body="郭婷同志：\n您好！\n",
        attachments=[mail.Attachment(name, b"PK\x03\x04 not really a form")],
        message_id="<x@qingxi.example.org>",
    )
    lines = data.split(b"\r\n")
    assert data.isascii() and b"\n" not in data.replace(b"\r\n", b"")  # 7-bit, CRLF only
    long_lines = [line for line in lines if len(line) > 78]
    # the one line over 78 is the xlsx type itself, exactly as Thunderbird writes it (RFC 5322 allows 998)
    assert long_lines == [b"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"]
    assert b"filename*0*=utf-8''2023%E5%B9%B4" in data  # RFC 2231 continuations
    assert b'name="=?utf-8?b?' in data  # RFC 2047 for Outlook/Foxmail
    for policy in (email.policy.default, email.policy.compat32):
        msg = email.message_from_bytes(data, policy=policy)
        parts = [p for p in msg.walk() if p.get_filename()]
        assert [p.get_filename() for p in parts] == [name]
        assert parts[0].get_payload(decode=True) == b"PK\x03\x04 not really a form"
    msg = parsed(data)
    assert str(msg["Subject"]) == SUBJECT.format(unit="县文化旅游体育局")
    assert msg["To"].addresses[0].display_name == "县文化旅游体育局 郭婷"
    assert body_text(msg) == "郭婷同志：\r\n您好！\r\n"
    assert [c.name for c in intake.candidates_from_email(data, path="m.eml")] == [name]


def test_rfc2231_pieces_are_cut_between_characters() -> None:
    value = "县文化旅游体育局" * 6 + ".xlsx"
    param = mail.rfc2231_param("filename", value, width=40)
    pieces = re.findall(r"filename\*\d+\*=([^;]*)", param)
    assert len(pieces) > 3 and all(len(p) <= 40 for p in pieces)
    joined = "".join(re.sub(r"^utf-8''", "", p) for p in pieces)
    assert unquote(joined) == value
    for piece in pieces:  # each piece is whole characters: it decodes by itself
        unquote(re.sub(r"^utf-8''", "", piece), errors="strict")


def test_imap_folder_names_use_modified_utf7() -> None:
    assert mail.imap_utf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501 §5.1.3
    assert mail.imap_utf7("A&B 回执") == "A&-B &Vt5iZw-"
    for name in ("INBOX", "其他文件夹/回执", "&", "a&b/台北"):
        assert mail.imap_utf7_decode(mail.imap_utf7(name)) == name


def test_mail_config_errors_name_the_key(config: Path) -> None:
    configure(config, smtp_prot=465, smtp_security="tls", imap_port=99999)
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    assert [(f.code.name, f.context["key"]) for f in info.value.findings] == [
        ("CAMPAIGN_BAD_VALUE", "smtp_prot"),
        ("CAMPAIGN_BAD_VALUE", "smtp_security"),
        ("CAMPAIGN_BAD_VALUE", "imap_port"),
    ]
    assert "未知配置项" in info.value.findings[0].message and "smtp_port" in info.value.findings[0].message


def test_materials_config(config: Path) -> None:
    configure(config, materials_required={"photos": 4, "summary": 1, "scan": 0})
    assert campaign.load(config).materials == (("photos", 4), ("summary", 1))
    text = config.read_text(encoding="utf-8") + "video = 1\n"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(KepuError) as info:
        campaign.load(config)
    assert [f.context["key"] for f in info.value.findings] == ["video"]


# -- mail drafts ------------------------------------------------------------------------------------------


def test_mail_drafts(config: Path, folder: Path) -> None:
    run = runner_for()
    result = run("mail", "drafts")
    assert result.exit_code == 0, result.output
    outdir = folder / "output" / "邮件" / "统计表"
    drafts = sorted(outdir.glob("*.eml"))
    assert [p.name for p in drafts] == ["01_城关街道.eml", "02_青山镇.eml", "03_县教育局.eml"]
    assert squash(f"2023年科技活动周：已生成邮件草稿 3 封 → {outdir}") in squash(result.stdout)
    assert "MAIL_NO_ADDRESS" in result.stdout and "白沙镇" in result.stdout
    ctx = Context.load(config)
    msg = parsed(drafts[2].read_bytes())
    assert str(msg["Subject"]) == SUBJECT.format(unit="县教育局")
    assert msg["To"].addresses[0].addr_spec == "jyj@qingxi.example.org"
    assert msg["From"].addresses[0].display_name == "青溪县科学技术局"
    assert msg["X-Unsent"] == "1" and msg["X-Kepuxl-Unit"] == "D01"
    files = attachments(msg)
    assert list(files) == [ATTACHMENT.format(unit="县教育局")]
    assert identify(ctx, files[ATTACHMENT.format(unit="县教育局")]) == "D01"
    body = body_text(msg)
    for text in ("县教育局 朱红同志：", "2023年5月30日17:30", "李明", "0557-5550123", "1. 填好的统计表"):
        assert text in body
    # the same drafts made again are the same messages (so they are never sent twice)
    again = run("mail", "drafts", "--json", "-")
    assert again.exit_code == 0
    assert parsed(drafts[2].read_bytes())["Message-ID"] == msg["Message-ID"]
    assert json.loads(again.stdout) == json.loads(dumps(mail.make_drafts(config).to_dict()))
    # the folder is replaced as a whole: one holding mail that is not a kepuxl draft is left alone
    (outdir / "来信.eml").write_bytes(b"From: a@b.c\r\nSubject: x\r\n\r\nhi\r\n")
    use_roster(config, ROSTER[:3])
    before = {p.name: p.read_bytes() for p in outdir.iterdir()}
    result = run("mail", "drafts")
    assert result.exit_code == 3
    assert squash(Code.MAIL_DRAFTS_FOLDER.format(folder=outdir, name="来信.eml")) in squash(result.stderr)
    assert {p.name: p.read_bytes() for p in outdir.iterdir()} == before
    assert sorted(p.name for p in outdir.parent.iterdir()) == ["统计表"]  # no temp folder left
    # a unit gone from the roster loses its old draft
    (outdir / "来信.eml").unlink()
    assert run("mail", "drafts").exit_code == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["01_城关街道.eml", "02_青山镇.eml", mail.MANIFEST]


def test_mail_drafts_use_the_edited_template_and_required_materials(config: Path, folder: Path) -> None:
    configure(config, materials_required={"photos": 4, "summary": 1, "scan": 1})
    (folder / "邮件模板.txt").write_text(
        "主题：请报{表名}（{单位}）\n\n{称呼}：请于{截止}前回复。{不存在}\n{所需材料}\n", encoding="utf-8"
    )
    report = mail.make_drafts(config)
    assert report.findings.flatten(("code",)) == [["MAIL_TEMPLATE"], ["MAIL_NO_ADDRESS"]]
    assert "“{不存在}”" in report.findings.items[0].message
    msg = parsed(Path(report.drafts[0]["file"]).read_bytes())
    assert str(msg["Subject"]) == "请报科技活动周开展情况统计表（城关街道）"
    assert body_text(msg).replace("\r\n", "\n") == (
        "城关街道 王芳同志：请于5月30日17:30前回复。{不存在}\n"
        f"1. 填好的统计表（即附件《{ATTACHMENT.format(unit='城关街道')}》，请直接回传此 Excel 文件）\n"
        "2. 活动照片不少于 4 张（JPG 等图片）\n"
        "3. 活动总结1 份（Word 或 PDF）\n"
        "4. 盖章扫描件1 份（PDF 或清晰照片）\n"
    )


def test_drafts_without_a_sender_cannot_proceed(config: Path) -> None:
    configure(config, sender="", smtp_user="")
    result = runner_for()("mail", "drafts")
    assert result.exit_code == 3
    assert "sender" in result.stderr and result.stdout == ""


# -- send -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_send(config: Path, folder: Path, certs: Certs, security: str) -> None:
    server = SmtpServer(certs, security=security).start()
    try:
        use_smtp(config, server, certs)
        run = runner_for(server.password)
        assert run("mail", "drafts").exit_code == 0
        result = run("send")
        assert result.exit_code == 0, result.output
        assert "已发送3封，失败0封，跳过0封" in squash(result.stdout)
        assert server.logins == 1 and server.failed_logins == 0  # one session for the whole run
        ctx = Context.load(config)
        by_rcpt = {r.rcpt_tos[0]: r for r in server.received}
        assert sorted(by_rcpt) == sorted(WITH_ADDRESS) and all(len(r.rcpt_tos) == 1 for r in server.received)
        for unit_id, name, address in (
            ("T01", "城关街道", WITH_ADDRESS[0]),
            ("D01", "县教育局", WITH_ADDRESS[2]),
        ):
            got = by_rcpt[address]
            assert got.mail_from == server.user
            msg = parsed(got.data)
            assert str(msg["Subject"]) == SUBJECT.format(unit=name)
            assert msg["X-Unsent"] is None and msg["Date"] is not None
            files = attachments(msg)
            assert list(files) == [ATTACHMENT.format(unit=name)]
            assert identify(ctx, files[ATTACHMENT.format(unit=name)]) == unit_id
        with Ledger(folder / ".kepuxl" / "ledger.sqlite") as ledger:
            rows = ledger.db.execute(
                "SELECT unit_id, kind, outcome, recipient FROM sent ORDER BY unit_id"
            ).fetchall()
        assert rows == [
            ("D01", "form", "sent", WITH_ADDRESS[2]),
            ("T01", "form", "sent", WITH_ADDRESS[0]),
            ("T02", "form", "sent", WITH_ADDRESS[1]),
        ]
        # a second run sends nothing
        again = run("send")
        assert again.exit_code == 0 and len(server.received) == 3
        assert "已发送0封，失败0封，跳过3封" in squash(again.stdout)
    finally:
        server.stop()


def test_send_pauses_between_messages(config: Path, smtp_server: SmtpServer, certs: Certs) -> None:
    use_smtp(config, smtp_server, certs)
    configure(config, pause=2.5)
    mail.make_drafts(config)
    pauses: list[float] = []
    report = mail.send_drafts(config, password=smtp_server.password, sleep=pauses.append)
    assert report.counts["sent"] == 3 and report.ok
    assert pauses == [2.5, 2.5]  # between messages, not before the first or after the last


def test_send_goes_on_after_failures_and_a_rerun_sends_only_the_rest(
    config: Path, folder: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_smtp(config, smtp_server, certs)
    run = runner_for(smtp_server.password)
    assert run("mail", "drafts").exit_code == 0
    smtp_server.refuse = {WITH_ADDRESS[0]}  # 城关街道: 550 unknown user
    smtp_server.drop_once = {WITH_ADDRESS[1]}  # 青山镇: 421 and the server hangs up
    result = run("send", "--json", "-")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(m["unit"], m["outcome"]) for m in report["messages"]] == [
        ("城关街道", "failed"),
        ("青山镇", "failed"),
        ("县教育局", "sent"),
    ]
    assert [f["code"] for f in report["findings"]] == ["MAIL_REFUSED", "MAIL_SEND_FAILED"]
    assert "550 5.1.1" in report["findings"][0]["message"]
    assert "421" in report["findings"][1]["message"]
    assert [r.rcpt_tos for r in smtp_server.received] == [[WITH_ADDRESS[2]]]
    assert smtp_server.logins == 2  # reconnected after the hang-up

    smtp_server.refuse = set()
    result = run("send")
    assert result.exit_code == 0, result.output
    assert "已发送2封，失败0封，跳过1封" in squash(result.stdout)
    sent_to = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert sent_to == sorted(WITH_ADDRESS)  # each unit exactly once

    # drafts made again after a template change are new messages: not sent to units that have their form
    template = folder / "邮件模板.txt"
    template.write_text(
        template.read_text(encoding="utf-8").replace("您好！", "您好！（更正）"), encoding="utf-8"
    )
    assert run("mail", "drafts").exit_code == 0
    result = run("send", "--json", "-")
    assert result.exit_code == 0
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["MAIL_ALREADY_SENT"] * 3
    assert len(smtp_server.received) == 3
    result = run("send", "--resend")
    assert result.exit_code == 0 and len(smtp_server.received) == 6


def test_a_broken_draft_is_reported_and_the_others_go(config: Path, folder: Path) -> None:
    assert runner_for()("mail", "drafts").exit_code == 0
    outdir = folder / "output" / "邮件" / "统计表"
    (outdir / "00_手改.eml").write_bytes(b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n")
    edited = outdir / "02_青山镇.eml"
    edited.write_bytes(edited.read_bytes().replace(b"X-Unsent: 1", b"X-Unsent: 0"))
    report = mail.send_drafts(config, dry_run=True)
    assert [i.outcome for i in report.items] == ["failed", "dry-run", "failed", "dry-run"]
    assert [i.finding.message if i.finding else "" for i in report.items] == [
        Code.MAIL_DRAFT.format(
            draft="00_手改.eml", error=f"不在草稿清单 {mail.MANIFEST} 中（不是与这批草稿一起生成的）"
        ),
        "",
        Code.MAIL_DRAFT.format(draft="02_青山镇.eml", error="草稿生成后被改动或已损坏"),
        "",
    ]
    assert not report.ok


def test_send_with_a_wrong_password_stops_at_once(
    config: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_smtp(config, smtp_server, certs)
    run = runner_for("wrong-code")
    assert run("mail", "drafts").exit_code == 0
    result = run("send", "--json", "-")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [m["outcome"] for m in report["messages"]] == ["failed", "not-attempted", "not-attempted"]
    assert [f["code"] for f in report["findings"]] == [
        "MAIL_LOGIN",
        "MAIL_NOT_ATTEMPTED",
        "MAIL_NOT_ATTEMPTED",
    ]
    assert "授权码" in report["findings"][0]["message"] and "535" in report["findings"][0]["message"]
    assert smtp_server.failed_logins == 1 and smtp_server.received == []  # one try: QQ locks accounts


def test_send_without_a_server_says_so_for_each_message(config: Path, certs: Certs) -> None:
    configure(
        config, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_user=CLERK, ca_file=str(certs.ca_file)
    )
    run = runner_for("x")
    assert run("mail", "drafts").exit_code == 0
    result = run("send")
    assert result.exit_code == 1
    assert squash("无法连接127.0.0.1") in squash(result.stdout) and "连接被拒绝" in result.stdout
    assert "已发送0封，失败3封" in squash(result.stdout)


def test_send_refuses_an_untrusted_certificate(config: Path, smtp_server: SmtpServer, certs: Certs) -> None:
    use_smtp(config, smtp_server, certs)
    configure(config, ca_file="")  # the system CAs do not know the test CA
    run = runner_for(smtp_server.password)
    assert run("mail", "drafts").exit_code == 0
    result = run("send", "--json", "-")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert findings[0]["code"] == "MAIL_CONNECT" and "证书验证失败" in findings[0]["message"]
    assert smtp_server.logins == 0 and smtp_server.received == []


def test_send_dry_run_needs_no_password_and_sends_nothing(
    config: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_smtp(config, smtp_server, certs)
    run = runner_for()
    assert run("mail", "drafts").exit_code == 0
    result = run("send", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "演练：将发送3封" in squash(result.stdout)
    assert smtp_server.logins == 0 and smtp_server.received == []
    result = run("send")  # no password in the environment, and no terminal to ask on
    assert result.exit_code == 3 and PASSWORD_ENV in result.stderr


def test_the_password_is_never_written(
    config: Path, folder: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_smtp(config, smtp_server, certs)
    run = runner_for(smtp_server.password)
    assert run("mail", "drafts").exit_code == 0
    assert run("send", "--json", "out.json").exit_code == 0
    assert len(smtp_server.received) == 3
    secret = smtp_server.password.encode()
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert folder / ".kepuxl" / "ledger.sqlite" in written
    assert [p for p in written if secret in p.read_bytes()] == []


# -- fetch ------------------------------------------------------------------------------------------------


def reply(
    unit_address: str,
    subject: str,
    when: datetime,
    files: dict[str, bytes],
    *,
    sender: str = "",
    message_id: str = "",
) -> bytes:
    """A reply as a mail client writes it (policy.default: RFC 2231 names, base64 parts)."""
    msg = EmailMessage()
    msg["From"] = sender or unit_address
    msg["To"] = CLERK
    msg["Subject"] = subject
    msg["Date"] = when
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain="qingxi.example.org")
    msg.set_content("李明您好，附件是我单位的统计表和材料，请查收。")
    for name, data in files.items():
        maintype, subtype = {
            ".xlsx": mail.message.XLSX_TYPE,
            ".jpg": ("image", "jpeg"),
            ".pdf": ("application", "pdf"),
            ".docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
        }[Path(name).suffix]
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@requires_dovecot
def test_fetch_is_idempotent_filters_and_leaves_the_mailbox_alone(
    config: Path, folder: Path, dovecot: Dovecot, certs: Certs
) -> None:
    user, password = "fetch-1@qingxi.example.org", dovecot.password
    use_imap(config, dovecot, user, certs)
    when = datetime(2023, 5, 28, 10, 15, tzinfo=timezone(timedelta(hours=8)))
    wanted = reply(
        WITH_ADDRESS[0],
        "回复：" + SUBJECT.format(unit="城关街道"),
        when,
        {"a.jpg": b"\xff\xd8\xff" + bytes(50)},
    )
    other = reply(WITH_ADDRESS[1], "周末聚餐", when, {})
    old = reply(WITH_ADDRESS[1], "回复：科技活动周（去年）", datetime(2022, 5, 1, tzinfo=when.tzinfo), {})
    for message, day in ((wanted, when), (other, when), (old, datetime(2022, 5, 1, tzinfo=when.tzinfo))):
        dovecot.append(user, password, message, when=day)
    run = runner_for(password)
    result = run("fetch", "--since", "2023-05-01")
    assert result.exit_code == 0, result.output
    files = sorted((folder / "inbox" / "邮件").glob("*.eml"))
    assert len(files) == 1 and files[0].read_bytes() == re.sub(rb"\r?\n", b"\r\n", wanted)
    assert files[0].name.startswith(f"{when.astimezone().replace(tzinfo=None):%Y%m%d-%H%M%S}_chengguan@")
    assert squash("新下载1封") in squash(result.stdout) and squash("主题不符1封") in squash(result.stdout)
    again = run("fetch", "--since", "2023-05-01", "--json", "-")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["counts"] == {
        "fetched": 0,
        "already": 1,
        "filtered": 1,
        "own": 0,
        "too-large": 0,
        "failed": 0,
    }
    assert len(list((folder / "inbox" / "邮件").glob("*.eml"))) == 1
    everything = json.loads(run("fetch", "--all", "--since", "2022-01-01", "--json", "-").stdout)
    assert everything["counts"]["fetched"] == 2 and everything["counts"]["already"] == 1
    conn = dovecot.client(user, password)  # read-only: still unread, none deleted
    conn.select("INBOX")
    assert conn.search(None, "UNSEEN")[1][0].split() == [b"1", b"2", b"3"]
    conn.logout()


@requires_dovecot
def test_fetch_errors(config: Path, dovecot: Dovecot, certs: Certs) -> None:
    user, password = "fetch-2@qingxi.example.org", dovecot.password
    use_imap(config, dovecot, user, certs)
    dovecot.append(
        user, password, reply(WITH_ADDRESS[0], "x", datetime(2023, 5, 28), {}), folder=mail.imap_utf7("回执")
    )
    result = runner_for("wrong")("fetch")
    assert result.exit_code == 3
    assert "登录" in result.stderr and "授权码" in result.stderr and user in result.stderr
    result = runner_for(password)("fetch", "--folder", "其他")
    assert result.exit_code == 3
    assert squash("邮箱中没有文件夹“其他”（现有：回执、INBOX）") in squash(result.stderr)
    result = runner_for(password)("fetch", "--folder", "回执", "--all", "--json", "-")
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"]["fetched"] == 1


@requires_dovecot
def test_a_message_too_large_for_the_inbox_is_not_downloaded(
    config: Path, folder: Path, dovecot: Dovecot, certs: Certs
) -> None:
    """A reply over the inbox's 30 MB cap for one message stays in the mailbox, with a finding that says
    to take its attachments from the web mail; the rest is fetched."""
    user = "fetch-4@qingxi.example.org"
    use_imap(config, dovecot, user, certs)
    when = datetime(2023, 5, 29, 9)
    big = reply(WITH_ADDRESS[0], "统计表（含视频）", when, {"录像.pdf": bytes(mail.message.MAX_MESSAGE)})
    dovecot.append(user, dovecot.password, big)
    dovecot.append(user, dovecot.password, reply(WITH_ADDRESS[1], "统计表", when, {}))
    report = mail.fetch(config, password=dovecot.password, subject=())
    assert (report.counts["too-large"], report.counts["fetched"]) == (1, 1)
    assert report.findings.flatten(("code",)) == [["MAIL_FETCH_FAILED"]]
    assert "请在网页邮箱中下载附件" in report.findings.items[0].message
    assert len(list((folder / "inbox" / "邮件").glob("*.eml"))) == 1


@requires_dovecot
def test_fetch_over_starttls(config: Path, folder: Path, dovecot: Dovecot, certs: Certs) -> None:
    user = "fetch-3@qingxi.example.org"
    use_imap(config, dovecot, user, certs)
    configure(config, imap_port=dovecot.starttls_port, imap_security="starttls")
    dovecot.append(user, dovecot.password, reply(WITH_ADDRESS[2], "统计表", datetime(2023, 5, 29, 9), {}))
    report = mail.fetch(config, password=dovecot.password, subject=())
    assert report.counts["fetched"] == 1 and report.ok
    assert report.to_dict()["messages"][0]["sender"] == WITH_ADDRESS[2]
    assert len(list((folder / "inbox" / "邮件").glob("*.eml"))) == 1


@requires_dovecot
def test_mail_check(config: Path, smtp_server: SmtpServer, dovecot: Dovecot, certs: Certs) -> None:
    use_smtp(config, smtp_server, certs)
    use_imap(config, dovecot, "check@qingxi.example.org", certs)
    result = runner_for(smtp_server.password)("mail", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("正常") == 2 and "登录成功" in result.stdout
    assert runner_for("wrong")("mail", "check").exit_code == 1
    rows = mail.check_servers(config, password="wrong")
    assert [(r["server"].split()[0], r["ok"]) for r in rows] == [("SMTP", "否"), ("IMAP", "否")]
    assert all("授权码" in r["message"] for r in rows) and "535" in rows[0]["message"]
    configure(config, imap_folder="回执")
    assert runner_for(smtp_server.password)("mail", "check").exit_code == 1
    rows = mail.check_servers(config, password=smtp_server.password)
    assert [r["ok"] for r in rows] == ["是", "否"] and "邮箱中没有文件夹“回执”" in rows[1]["message"]


# -- the whole round trip ---------------------------------------------------------------------------------


def fill_received(ctx: Context, data: bytes, values: dict[str, Any]) -> bytes:
    """What a unit does with the form it received: fill it in (openpyxl stands in for Excel) and save."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb[ctx.spec.sheet]
    for fid, value in values.items():
        ws[ctx.cells.fields[fid].a1] = value
    ws[ctx.cells.info["preparer"].a1] = "王芳"
    ws[ctx.cells.info["phone"].a1] = "13900000001"
    ws[ctx.cells.info["fill_date"].a1] = datetime(2023, 5, 28)
    if ctx.spec.detail is not None:
        sheet = wb[ctx.spec.detail.sheet]
        for i in range(values["activities"] if isinstance(values["activities"], int) else 0):
            for col, value in enumerate(ACTIVITY, start=1):
                sheet.cell(row=ctx.cells.detail_first + i + 1, column=col + 1, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(300)
SCAN = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@requires_dovecot
def test_round_trip_drafts_send_reply_fetch_collect_remind(
    config: Path, folder: Path, smtp_server: SmtpServer, dovecot: Dovecot, certs: Certs
) -> None:
    user, password = CLERK, smtp_server.password  # one account for sending and receiving, as at QQ/163
    assert dovecot.password == password
    use_smtp(config, smtp_server, certs)
    use_imap(config, dovecot, user, certs)
    configure(config, materials_required={"photos": 4, "summary": 1, "scan": 1})
    run = runner_for(password)
    ctx = Context.load(config)

    # 1. forms out
    assert run("mail", "drafts").exit_code == 0
    assert run("send").exit_code == 0
    received = {r.rcpt_tos[0]: parsed(r.data) for r in smtp_server.received}
    assert sorted(received) == sorted(WITH_ADDRESS)

    # 2. 城关街道 fills the form it received and replies with its materials
    out = received[WITH_ADDRESS[0]]
    form = attachments(out)[ATTACHMENT.format(unit="城关街道")]
    values = values_for(1, {})
    when = datetime(2023, 5, 28, 10, 15, tzinfo=timezone(timedelta(hours=8)))
    files = {ATTACHMENT.format(unit="城关街道"): fill_received(ctx, form, values)}
    files |= {f"活动照片{i}.jpg": PHOTO + bytes([i]) for i in range(1, 5)}
    files |= {"城关街道科技活动周总结.docx": docx(), "统计表盖章扫描件.pdf": SCAN}
    subject = "回复：" + str(out["Subject"])
    dovecot.append(user, password, reply(WITH_ADDRESS[0], subject, when, files))

    # 3. 青山镇's form (with a mistake) is forwarded by a colleague from another address
    out = received[WITH_ADDRESS[1]]
    form = attachments(out)[ATTACHMENT.format(unit="青山镇")]
    bad = fill_received(ctx, form, values_for(2, {"fund_enterprise": "约300"}))
    inner = reply(WITH_ADDRESS[1], "统计表", when, {ATTACHMENT.format(unit="青山镇"): bad})
    forward = EmailMessage()
    forward["From"], forward["To"], forward["Date"] = (
        "colleague@qingxi.example.org",
        CLERK,
        when + timedelta(hours=1),
    )
    forward["Subject"] = "转发：青山镇科技活动周统计表"
    forward["Message-ID"] = email.utils.make_msgid(domain="qingxi.example.org")
    forward.set_content("青山镇的表，代为转发。")
    forward.add_attachment(parsed(inner))  # message/rfc822
    dovecot.append(user, password, forward.as_bytes())
    # the clerk's own copy of a sent message is not downloaded as a return
    dovecot.append(user, password, smtp_server.received[0].data)

    # 4. returns in
    result = run("fetch", "--json", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {
        "fetched": 2,
        "already": 0,
        "filtered": 0,
        "own": 1,
        "too-large": 0,
        "failed": 0,
    }
    result = run("collect", "inbox", "--json", "-")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    units = {u["unit_id"]: u for u in report["units"]}
    assert {k: u["status"] for k, u in units.items()} == {
        "T01": "accepted",
        "T02": "rejected",
        "D01": "missing",
        "T06": "missing",
    }
    assert units["T01"]["received"] == when.astimezone().replace(tzinfo=None).isoformat()
    assert not units["T01"]["late"]
    assert {k: units["T01"]["values"][k] for k in values} == pytest.approx(values)
    sender_notes = [f for f in report["findings"] if f["code"] == "RESOLVE_SENDER"]
    assert [(f["unit"], f["severity"]) for f in sender_notes] == [("青山镇", "info")]
    assert "colleague@qingxi.example.org" in sender_notes[0]["message"]

    # materials sent with the form, counted per unit
    from kepu_xl.collection import collect

    library = collect(folder / "inbox", config, write=False)
    counted = materials.count_materials(library)
    assert counted["T01"].counts == {"photos": 4, "summary": 1, "scan": 1, "videos": 0, "media": 0}
    assert counted["T02"].counts == {"photos": 0, "summary": 0, "scan": 0, "videos": 0, "media": 0}
    short = materials.shortfalls(library.campaign, counted)
    assert "T01" not in short
    assert [f.message for f in short["T02"]] == [
        Code.MATERIAL_MISSING.format(name="活动照片", need=4, got=0, measure="张"),
        Code.MATERIAL_MISSING.format(name="活动总结", need=1, got=0, measure="份"),
        Code.MATERIAL_MISSING.format(name="盖章扫描件", need=1, got=0, measure="份"),
    ]

    # collect's resolve applied them: the shortfalls are each unit's findings, once
    by_unit = {
        u.unit.id: [f.code.name for f in u.findings if f.code is Code.MATERIAL_MISSING] for u in library.units
    }
    assert by_unit == {"T01": [], "T02": ["MATERIAL_MISSING"] * 3, "D01": [], "T06": []}
    assert sum(f.code is Code.MATERIAL_MISSING for f in library.findings) == 3
    assert (
        materials.summary_text(counted["T01"], library.campaign)
        == "活动照片 4/4，活动总结 1/1，盖章扫描件 1/1"
        == next(u for u in library.units if u.unit.id == "T01").materials_text
    )

    # 5. reminders only to the missing and the rejected unit (白沙镇 has no address)
    before = len(smtp_server.received)
    result = run("remind", "--send", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(d["unit"], d["status"]) for d in data["drafts"]["drafts"]] == [
        ("青山镇", "rejected"),
        ("县教育局", "missing"),
    ]
    assert [f["code"] for f in data["drafts"]["findings"]] == ["MAIL_NO_ADDRESS"]
    assert data["send"]["counts"]["sent"] == 2
    reminders = {r.rcpt_tos[0]: parsed(r.data) for r in smtp_server.received[before:]}
    assert sorted(reminders) == [WITH_ADDRESS[2], WITH_ADDRESS[1]]
    rejected = reminders[WITH_ADDRESS[1]]
    assert str(rejected["Subject"]) == "【退回修改】2023年科技活动周开展情况统计表（青山镇）"
    body = body_text(rejected)
    assert "约300" in body and "活动照片应至少 4 张，收到 0 张" in body
    feedback = attachments(rejected)
    assert list(feedback) == ["2023年科技活动周开展情况统计表（青山镇）_反馈.xlsx"]
    assert identify(ctx, next(iter(feedback.values()))) == "T02"
    missing = reminders[WITH_ADDRESS[2]]
    assert str(missing["Subject"]) == "【催报】2023年科技活动周开展情况统计表（县教育局）"
    assert "尚未收到贵单位" in body_text(missing)
    assert identify(ctx, attachments(missing)[ATTACHMENT.format(unit="县教育局")]) == "D01"
    # reminding again the same day makes the same messages, which are not sent twice
    result = run("remind", "--send", "--json", "-")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["send"]["counts"]
    assert (counts["sent"], counts["skipped"], counts["failed"]) == (0, 2, 0)
    assert len(smtp_server.received) == before + 2


# -- materials --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "label", "expected"),
    [
        ("a.eml → 活动照片1.jpg", "图片", "photos"),
        ("a.eml → 盖章扫描件.jpg", "图片", "scan"),
        ("a.eml → 统计表.pdf", "PDF", "scan"),
        ("a.eml → 活动总结.pdf", "PDF", "summary"),
        ("a.eml → 总结.docx", "Word 文档", "summary"),
        ("县教育局/情况.doc", "Word 文档", "summary"),
        ("a.eml → 说明.txt", "文本", None),
        ("a.zip → 照片.png", "", "photos"),
    ],
)
def test_classify_materials(path: str, label: str, expected: str | None) -> None:
    from kepu_xl.findings import Finding

    findings = [Finding.make(Code.READ_OTHER_FILE, name=path, kind=label)] if label else []
    f = FileResult(path=path, sha256="0", kind="other", received=None, findings=findings)
    assert materials.classify(f) == expected


def test_a_material_file_goes_to_the_unit_named_in_its_path() -> None:
    # the longest name found wins (县教育局 before 教育局), then the first in the roster; the lookup is
    # by substring, so a province's 10,000 names cost no more per stray photo than a county's 26
    from kepu_xl.campaign import Unit

    units = [
        Unit("D01", "教育局", seq=1),
        Unit("D02", "县教育局", seq=2),
        Unit("T01", "城关", seq=3),
        Unit("T02", "河口", seq=4),
        *(Unit(f"U{i:05d}", f"第{i}号单位", seq=10 + i) for i in range(1, 10_001)),
    ]
    named_in = materials.NameFinder(units)
    assert named_in("县教育局/活动照片1.jpg") == "D02"
    assert named_in("教育局 活动照片.jpg") == "D01"
    assert named_in("城关河口联合活动.jpg") == "T01"  # two names of one length: the first in the roster
    assert named_in("邮件.eml → 第9999号单位总结.docx") == "U09999"
    assert named_in("第99号单位照片.jpg") == "U00099"  # not 第9号单位: that is not in the text
    assert named_in("活动照片.jpg") == ""
    assert named_in("") == ""
