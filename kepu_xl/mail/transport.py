"""SMTP and IMAP connections: TLS verified against the system CAs (plus an optional ca_file), one login
attempt, server errors in Chinese; `check_servers` logs in to both and says what fails."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import smtplib
import socket
import ssl
from pathlib import Path

from ..campaign import MailSettings, load
from ..findings import Code, Finding, KepuError

MAX_CONNECT_FAILURES = 3  # consecutive; then the rest of the run is not attempted


# ---------------------------------------------------------------------------------------------------
# TLS and servers
# ---------------------------------------------------------------------------------------------------


def tls_context(mail: MailSettings) -> ssl.SSLContext:
    """Verify the server's certificate against the system CAs, plus `ca_file` when configured."""
    context = ssl.create_default_context()
    if mail.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(mail.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise KepuError(
                Finding.make(Code.CAMPAIGN_FILE, path=str(mail.ca_file), error=f"证书文件无法读取：{exc}")
            ) from None
    return context


def require_settings(mail: MailSettings, *keys: str) -> None:
    """Raise MAIL_CONFIG for the first of `keys` that [mail] leaves empty."""
    hints = {
        "smtp_host": "发件服务器，如 QQ 邮箱 smtp.qq.com、163 邮箱 smtp.163.com",
        "smtp_user": "发件邮箱账号，如 12345678@qq.com",
        "imap_host": "收件服务器，如 QQ 邮箱 imap.qq.com、163 邮箱 imap.163.com",
        "imap_user": "收件邮箱账号（不填则同 smtp_user）",
    }
    for key in keys:
        value = mail.login_imap if key == "imap_user" else getattr(mail, key)
        if not value:
            raise KepuError(Finding.make(Code.MAIL_CONFIG, key=key, hint=hints[key]))


def _server_text(code: int | None, text: bytes | str | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join((text or "").split())
    return f"{code} {text}".strip() if code else text or "服务器未说明原因"


def _net_error(exc: BaseException) -> str:
    """A network failure in words a clerk can act on (the class name stays for the technician)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"服务器证书验证失败（{exc.verify_message}）"
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS 握手失败（{exc.reason or exc}），请确认端口与加密方式匹配：465/993 用 ssl，587 用 starttls"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝（端口不对或服务未开启）"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "连接超时"
    if isinstance(exc, socket.gaierror):
        return "找不到服务器（地址写错或没有网络）"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _server_text(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "服务器断开了连接"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Smtp:
    """One SMTP session, opened on first use and reopened after the server drops it."""

    def __init__(self, mail: MailSettings, password: str):
        self.mail, self.password = mail, password
        self.conn: smtplib.SMTP | None = None
        self.server = f"{mail.smtp_host}:{mail.smtp_port}"

    def open(self) -> smtplib.SMTP:
        if self.conn is not None:
            return self.conn
        m, context = self.mail, tls_context(self.mail)
        if m.smtp_security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                m.smtp_host, m.smtp_port, local_hostname="localhost", timeout=m.timeout, context=context
            )
        else:
            conn = smtplib.SMTP(m.smtp_host, m.smtp_port, local_hostname="localhost", timeout=m.timeout)
            try:
                conn.starttls(context=context)
            except BaseException:
                conn.close()
                raise
        try:
            _login(conn, m.smtp_user, self.password)
        except UnicodeEncodeError:  # smtplib sends AUTH in ASCII; QQ/163 authorization codes are ASCII
            conn.close()
            raise smtplib.SMTPAuthenticationError(
                535, "密码含中文等非 ASCII 字符（授权码只有英文字母和数字）"
            ) from None
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return conn

    def drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except Exception:  # the connection is already gone: nothing to tidy up
                self.conn.close()
            self.conn = None


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """One AUTH attempt (PLAIN, else LOGIN): smtplib's `login` tries every mechanism in turn, and each
    wrong try counts towards QQ/163 locking the account."""
    conn.ehlo_or_helo_if_needed()
    offered = conn.esmtp_features.get("auth", "").upper().split()
    for name, method in (("PLAIN", conn.auth_plain), ("LOGIN", conn.auth_login)):
        if name in offered:
            conn.user, conn.password = user, password
            conn.auth(name, method)
            return
    conn.login(user, password)  # CRAM-MD5 only, or no AUTH at all (smtplib says which)


def _imap(mail: MailSettings, password: str) -> imaplib.IMAP4:
    """An IMAP session, logged in. Raises `KepuError` (MAIL_CONNECT / MAIL_LOGIN) when it cannot."""
    server = f"{mail.imap_host}:{mail.imap_port}"
    try:
        if mail.imap_security == "ssl":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                mail.imap_host, mail.imap_port, ssl_context=tls_context(mail), timeout=mail.timeout
            )
        else:
            conn = imaplib.IMAP4(mail.imap_host, mail.imap_port, timeout=mail.timeout)
            conn.starttls(tls_context(mail))
    except (OSError, imaplib.IMAP4.error) as exc:
        raise KepuError(Finding.make(Code.MAIL_CONNECT, server=server, error=_net_error(exc))) from None
    try:
        conn.login(mail.login_imap, password)
    except (imaplib.IMAP4.error, UnicodeEncodeError) as exc:
        _logout(conn)
        error = str(exc.args[0] if exc.args else exc)
        if isinstance(error, bytes):
            error = error.decode("utf-8", "replace")
        raise KepuError(
            Finding.make(Code.MAIL_LOGIN, server=server, user=mail.login_imap, error=error)
        ) from None
    except OSError as exc:
        raise KepuError(Finding.make(Code.MAIL_CONNECT, server=server, error=_net_error(exc))) from None
    _send_id(conn)
    return conn


def _send_id(conn: imaplib.IMAP4) -> None:
    """RFC 2971 ID: 163/126 mail refuse SELECT ("Unsafe Login") from a client that does not name itself."""
    if "ID" not in conn.capabilities:
        return
    imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
    with contextlib.suppress(imaplib.IMAP4.error):
        conn._simple_command("ID", '("name" "kepuxl" "version" "0.1" "vendor" "kepuxl")')


def _logout(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):  # logging out of a broken session: nothing left to do
        conn.logout()


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 §5.1.3): 收件箱 → &ZTZO9g2x-."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii").rstrip("=")
            out.append("&" + raw.replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def imap_utf7_decode(name: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "":
            return "&"
        raw = m.group(1).replace(",", "/")
        raw += "=" * (-len(raw) % 4)
        try:
            return base64.b64decode(raw).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return m.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", sub, name)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _select(conn: imaplib.IMAP4, folder: str) -> None:
    status, _ = conn.select(_quote(imap_utf7(folder)), readonly=True)
    if status == "OK":
        return
    names = []
    st, listing = conn.list()
    for line in listing if st == "OK" else []:
        if isinstance(line, bytes):
            m = re.search(rb'(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$', line)
            if m:
                names.append(imap_utf7_decode((m.group(1) or m.group(2)).decode("ascii", "replace")))
    raise KepuError(Finding.make(Code.MAIL_FOLDER, folder=folder, folders="、".join(names) or "无"))


# ---------------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------------


def check_servers(config: Path, *, password: str) -> list[dict[str, str]]:
    """Log in to the SMTP and the IMAP server; one row per server: server, ok ("是"/"否"), message."""
    mail = load(Path(config)).mail
    rows = []
    if mail.smtp_host:
        smtp = _Smtp(mail, password)
        try:
            smtp.open()
            rows.append({"server": f"SMTP {smtp.server}", "ok": "是", "message": "登录成功"})
        except smtplib.SMTPAuthenticationError as exc:
            error = _server_text(exc.smtp_code, exc.smtp_error)
            message = Code.MAIL_LOGIN.format(server=smtp.server, user=mail.smtp_user, error=error)
            rows.append({"server": f"SMTP {smtp.server}", "ok": "否", "message": message})
        except (OSError, smtplib.SMTPException) as exc:
            message = Code.MAIL_CONNECT.format(server=smtp.server, error=_net_error(exc))
            rows.append({"server": f"SMTP {smtp.server}", "ok": "否", "message": message})
        finally:
            smtp.drop()
    if mail.imap_host:
        server = f"IMAP {mail.imap_host}:{mail.imap_port}"
        try:
            conn = _imap(mail, password)
        except KepuError as exc:
            rows.append({"server": server, "ok": "否", "message": str(exc)})
        else:
            try:
                _select(conn, mail.imap_folder)
                rows.append(
                    {"server": server, "ok": "是", "message": f"登录成功，文件夹“{mail.imap_folder}”可读"}
                )
            except KepuError as exc:
                rows.append({"server": server, "ok": "否", "message": str(exc)})
            finally:
                _logout(conn)
    if not rows:
        raise KepuError(
            Finding.make(Code.MAIL_CONFIG, key="smtp_host", hint="请在 [mail] 中填写 smtp_host 和 imap_host")
        )
    return rows
