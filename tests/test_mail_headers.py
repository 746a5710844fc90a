"""Nothing misdirected: a draft goes to the roster's 电子邮箱 of its unit, and roster or config text never
becomes a mail header (issue 12).

`send` runs against the real aiosmtpd server of tests/mailservers.py and the assertions are on the
envelope (RCPT TO) it received. Control characters are put into `Unit`/`Campaign` objects directly, so
these tests exercise mail.py's own checks whatever the roster loader refuses.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import json
from pathlib import Path

import pytest
from helpers import ROSTER_HEADER, use_roster
from mailservers import (  # noqa: F401 (fixtures)
    Certs,
    SmtpServer,
    certs_fixture,
    smtp_server_fixture,
)
from test_mail import configure, use_smtp

from kepu_xl import mail
from kepu_xl.campaign import Unit
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.findings import Code, KepuError
from kepu_xl.init import init_campaign, samples_dir
from kepu_xl.ledger import Ledger

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # inside aiosmtpd

# the header fields of every kepuxl draft, in order
DRAFT_HEADERS = [
    "Content-Type",
    "MIME-Version",
    "From",
    "To",
    "Subject",
    "Message-ID",
    "Reply-To",
    "X-Kepuxl-Campaign",
    "X-Kepuxl-Unit",
    "X-Kepuxl-Kind",
    "X-Unsent",
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "青溪县"
    configure(init_campaign(path), pause=0, timeout=10)
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def config(folder: Path) -> Path:
    return folder / CONFIG_NAME


def headers_of(data: bytes) -> list[str]:
    """The top-level header names of a message, as both parsers kepuxl meets see them (they must agree)."""
    names = [
        list(email.message_from_bytes(data, policy=p).keys())
        for p in (email.policy.compat32, email.policy.default)
    ]
    assert names[0] == names[1]
    return names[0]


def with_units(ctx: Context, units: list[Unit], **mail_settings: str) -> Context:
    camp = ctx.campaign
    settings = dataclasses.replace(camp.mail, **mail_settings)
    return dataclasses.replace(ctx, campaign=dataclasses.replace(camp, units=tuple(units), mail=settings))


# -- 1. the recipient is the roster's address -----------------------------------------------------------


def test_send_goes_to_the_roster_address_never_to_one_written_in_a_name(
    config: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_roster(
        config,
        [
            ROSTER_HEADER,
            ("T01", "城关街道", "镇（街道）", "张三 <evil@attacker.test>", "1", "real@unit.test"),
            ("T02", "东岭镇 <evil2@attacker.test>", "镇（街道）", "李四", "2", "dongling@unit.test"),
            ("T03", "青山镇", "镇（街道）", "张三,李四", "3", "qingshan@unit.test"),
            ("T04", "河口镇", "镇（街道）", '"x@attacker.test" <y@attacker.test>', "4", "hekou@unit.test"),
        ],
    )
    use_smtp(config, smtp_server, certs)
    drafts = mail.make_drafts(config)
    assert drafts.findings.items == []
    report = mail.send_drafts(config, password=smtp_server.password)
    expected = ["real@unit.test", "dongling@unit.test", "qingshan@unit.test", "hekou@unit.test"]
    assert [(i.outcome, i.to) for i in report.items] == [("sent", a) for a in expected]
    assert [r.rcpt_tos for r in smtp_server.received] == [[a] for a in expected]  # the envelope
    # the names are still shown as written, in the To the unit sees
    to = email.message_from_bytes(smtp_server.received[0].data, policy=email.policy.default)["To"]
    assert to.addresses[0].display_name == "城关街道 张三 <evil@attacker.test>"
    assert to.addresses[0].addr_spec == "real@unit.test" and len(to.addresses) == 1
    with Ledger(config.parent / ".kepuxl" / "ledger.sqlite") as ledger:
        rows = ledger.db.execute("SELECT recipient FROM sent ORDER BY draft").fetchall()
    assert [r[0] for r in rows] == expected


def test_a_draft_naming_other_recipients_is_not_sent(
    config: Path, folder: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    """A draft whose own header lists another address (a Bcc made by an older kepuxl from a roster name
    with a line break, or the roster's address changed since) is refused; the others go."""
    use_smtp(config, smtp_server, certs)
    mail.make_drafts(config)
    outdir = folder / "output" / "邮件" / "统计表"
    manifest = json.loads((outdir / mail.MANIFEST).read_text(encoding="utf-8"))
    first = outdir / manifest["drafts"][0]["file"]
    data = first.read_bytes().replace(b"\r\nX-Unsent: 1\r\n", b"\r\nX-Unsent: 1\r\nBcc: spy@evil.test\r\n", 1)
    first.write_bytes(data)
    manifest["drafts"][0]["sha256"] = hashlib.sha256(data).hexdigest()  # as if it had been made so
    (outdir / mail.MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    rows = [(*row[:5], "moved@unit.test" if row[0] == "T02" else row[5]) for row in sample_rows()]
    use_roster(config, [ROSTER_HEADER, *rows])
    report = mail.send_drafts(config, password=smtp_server.password)
    refused = {i.unit: i.finding.message for i in report.items if i.outcome == "failed" and i.finding}
    assert refused == {
        "城关街道": Code.MAIL_DRAFT.format(
            draft=first.name, error="草稿的收件人与名单中的电子邮箱 chengguan@qingxi.example.org 不符"
        ),
        "东湖街道": Code.MAIL_DRAFT.format(
            draft=manifest["drafts"][1]["file"], error="草稿的收件人与名单中的电子邮箱 moved@unit.test 不符"
        ),
    }
    rcpts = [a for r in smtp_server.received for a in r.rcpt_tos]
    assert len(rcpts) == len(report.items) - 2 and len(set(rcpts)) == len(rcpts)
    assert "spy@evil.test" not in rcpts and "moved@unit.test" not in rcpts
    assert "chengguan@qingxi.example.org" not in rcpts


def sample_rows() -> list[tuple[str, ...]]:
    """The sample roster's rows (kepuxl init writes it as units.xlsx; the CSV is the bundled source)."""
    text = (samples_dir() / "units.csv").read_text(encoding="utf-8")
    return [tuple(line.split(",")) for line in text.splitlines()[1:] if line]


# -- 2. no header from unchecked text -------------------------------------------------------------------


def test_header_text_never_makes_a_header_line() -> None:
    """build_message flattens what it is given, whatever the caller checked (defence in depth)."""
    data = mail.build_message(
        sender=("青溪县\r\nBcc: a@evil.test", "kjj@qingxi.example.org\r\nBcc: b@evil.test"),
        to=("Dept X\r\nBcc: c@evil.test", "t@unit.test"),
        subject="统计表\nBcc: d@evil.test",
        body="正文\r\nBcc: not a header, the body\r\n",
        headers={"X-Kepuxl-Unit": "T01\rBcc: e@evil.test", "X-Kepuxl-Kind": "form\x00\u2028Bcc: f@evil.test"},
        message_id="<x@qingxi.example.org>\nBcc: g@evil.test",
    )
    top = [
        "Content-Type",
        "MIME-Version",
        "From",
        "To",
        "Subject",
        "Message-ID",
        "X-Kepuxl-Unit",
        "X-Kepuxl-Kind",
    ]
    assert headers_of(data) == top
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc" not in head  # a long value may be folded (CRLF + space), never cut into a header
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "t@unit.test"
    assert msg["To"].addresses[0].display_name == "Dept X Bcc: c@evil.test"
    assert str(msg["Subject"]) == "统计表 Bcc: d@evil.test"
    assert msg["X-Kepuxl-Kind"] == "form Bcc: f@evil.test"


HOSTILE = [
    # (unit, the roster column the finding names and the text in it; no column: no valid address)
    (Unit("T02", "Dept X\r\nBcc: spy@evil.test", contact="Bob", email="deptx@unit.test", seq=2), "单位名称"),
    (Unit("T03", "青山镇", contact="Bob\nBcc: spy@evil.test", email="qingshan@unit.test", seq=3), "联系人"),
    (Unit("T04", "东岭镇\nBcc: x@evil.test", email="dongling@unit.test", seq=4), "单位名称"),
    (Unit("T05", "白沙镇", contact="赵磊\x0bBcc: y@evil.test", email="baisha@unit.test", seq=5), "联系人"),
    (Unit("T06\r\nBcc: w@evil.test", "南湖镇", email="nanhu@unit.test", seq=6), "单位编码"),
    (Unit("T07", "河口镇", email="hekou@unit.test\r\nBcc: z@evil.test", seq=7), ""),
    (Unit("T08", "西山镇", email="a,b@unit.test", seq=8), ""),
]
COLUMN_TEXT = {"单位编码": lambda u: u.id, "单位名称": lambda u: u.name, "联系人": lambda u: u.contact}


def test_units_with_control_characters_get_a_finding_and_no_draft(config: Path, folder: Path) -> None:
    ctx = Context.load(config, create_secret=True)
    good = Unit("T01", "城关街道", contact="王芳", email="chengguan@unit.test", seq=1)
    last = Unit("T09", "北山镇", contact="刘洋", email="beishan@unit.test", seq=9)
    report = mail.make_drafts(with_units(ctx, [good, *(u for u, _ in HOSTILE), last]))
    assert [d["unit_id"] for d in report.drafts] == ["T01", "T09"]  # the run went on
    expected = []
    for unit, column in HOSTILE:
        name = mail.message.visible(unit.name)
        if column:
            chars = mail.message.control_chars(COLUMN_TEXT[column](unit))
            message = Code.MAIL_UNSAFE_TEXT.format(
                name=name, id=mail.message.visible(unit.id), column=column, chars=chars
            )
            expected.append(("MAIL_UNSAFE_TEXT", name, message))
        else:
            expected.append(("MAIL_NO_ADDRESS", name, Code.MAIL_NO_ADDRESS.format(name=name)))
    assert [(f.code.name, f.unit, f.message) for f in report.findings] == expected
    assert (
        "名单中“Dept X\\r\\nBcc: spy@evil.test”（单位编码 T02）的“单位名称”含换行等控制字符（\\r\\n）"
        in report.findings.items[0].message
    )
    outdir = folder / "output" / "邮件" / "统计表"
    files = sorted(p for p in outdir.iterdir() if p.suffix == ".eml")
    assert [p.name for p in files] == ["01_城关街道.eml", "09_北山镇.eml"]
    for path in files:
        data = path.read_bytes()
        assert headers_of(data) == DRAFT_HEADERS
        assert b"evil.test" not in data


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sender", "kjj@qingxi.example.org\r\nBcc: spy@evil.test"),
        ("sender", "kjj@qingxi.example.org, spy@evil.test"),
        ("sender_name", "青溪县科学技术局\nBcc: spy@evil.test"),
        ("sender_name", "Qingxi\r\nBcc: spy@evil.test"),
    ],
)
def test_a_sender_that_cannot_go_into_a_header_stops_drafts(
    config: Path, folder: Path, key: str, value: str
) -> None:
    ctx = Context.load(config, create_secret=True)
    with pytest.raises(KepuError) as info:
        mail.make_drafts(with_units(ctx, list(ctx.campaign.units), **{key: value}))
    assert [(f.code.name, f.context["key"]) for f in info.value.findings] == [("CAMPAIGN_BAD_VALUE", key)]
    assert mail.message.visible(value) in info.value.findings[0].message
    assert not (folder / "output" / "邮件").exists()  # nothing written, not even a temp folder


def test_a_sender_with_a_line_break_in_kepuxl_toml_sends_nothing(
    config: Path, smtp_server: SmtpServer, certs: Certs
) -> None:
    use_smtp(config, smtp_server, certs)
    mail.make_drafts(config)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            'sender = "kjj@qingxi.example.org"', 'sender = "kjj@qingxi.example.org\\r\\nBcc: spy@evil.test"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(KepuError) as info:
        mail.send_drafts(config, password=smtp_server.password)
    assert "sender" in str(info.value)
    assert smtp_server.received == [] and smtp_server.logins == 0
