"""Real mail servers on 127.0.0.1 for the e-mail tests: aiosmtpd (SMTP) and Debian's dovecot (IMAP).

Both speak TLS with a certificate issued at test time by a throwaway CA (trustme); kepuxl is told to
trust that CA through the campaign's `ca_file`, exactly as a clerk would for a self-signed server.
Nothing listens beyond loopback, and no password is written to disk (dovecot's user file holds
a SHA-256 hash).

    from mailservers import SmtpServer, requires_dovecot
    from mailservers import certs_fixture, dovecot_fixture, smtp_server_fixture  # registers the fixtures

dovecot is started once per session with a config in a fresh temporary folder (`dovecot -F -c …`);
any user name logs in with `PASSWORD` and each test uses a name of its own, so tests never see each
other's mail. Without dovecot the tests that need
it are skipped, except under CI (env CI set), where they fail: CI installs dovecot-imapd (.ci/run).
"""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from libreoffice import in_ci

HOST = "127.0.0.1"
PASSWORD = "qwertyuiopasdfgh"  # what a QQ/163 authorization code looks like; both servers take it
INSTALL_HINT = "apt-get install dovecot-imapd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Certs:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost, as files and contexts."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certs(folder: Path) -> Certs:
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    certs = Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(certs.ca_file))
    cert.cert_chain_pems[0].write_to_path(str(certs.cert_file))
    cert.private_key_pem.write_to_path(str(certs.key_file))
    return certs


# -- SMTP -------------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SmtpServer:
    """An aiosmtpd server in a thread: records what it receives, refuses what it is told to."""

    certs: Certs
    security: str = "starttls"  # or "ssl"
    user: str = "kjj@qingxi.example.org"
    password: str = PASSWORD
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # RCPT TO → 550
    drop_once: set[str] = field(default_factory=set)  # DATA for these → 421 and the session closes, once
    logins: int = 0
    failed_logins: int = 0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            hit = self.drop_once & set(envelope.rcpt_tos)
            if hit:
                self.drop_once -= hit
                return "421 4.7.0 Too many messages, closing connection"
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        with self._lock:
            if ok:
                self.logins += 1
            else:
                self.failed_logins += 1
        return AuthResult(
            success=ok, handled=False, auth_data=auth_data
        )  # handled=False: aiosmtpd answers 535

    def start(self) -> SmtpServer:
        self.port = free_port()
        kwargs = {"authenticator": self.authenticate, "auth_required": True, "auth_require_tls": True}
        if self.security == "ssl":
            # aiosmtpd sees TLS only after STARTTLS; on implicit TLS (SMTPS) AUTH must not demand it.
            # The tests check `logins` instead of relying on auth_required.
            kwargs.update(
                ssl_context=self.certs.server_context(), auth_required=False, auth_require_tls=False
            )
        else:
            kwargs["tls_context"] = self.certs.server_context()
            kwargs["require_starttls"] = True
        self._controller = Controller(self, hostname=HOST, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# -- IMAP (dovecot) ---------------------------------------------------------------------------------


def dovecot_path() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )


requires_dovecot = pytest.mark.skipif(
    not in_ci() and dovecot_path() is None, reason=f"dovecot not installed ({INSTALL_HINT})"
)

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = kepuxl-test-{port}
protocols = imap
listen = {host}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = static
  args = password={password_hash}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {starttls_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """One dovecot instance (IMAPS and IMAP+STARTTLS on free loopback ports; `ssl = required`, so no
    password ever crosses unencrypted); every user name is a mailbox of its own."""

    def __init__(self, root: Path, certs: Certs):
        self.root, self.certs, self.port, self.starttls_port = root, certs, free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.password = PASSWORD

    def start(self) -> Dovecot:
        binary = dovecot_path()
        if binary is None:
            raise RuntimeError(f"dovecot is not installed (CI is set, so this fails): {INSTALL_HINT}")
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # the unprivileged login/mail processes must reach their sockets
        if os.geteuid() == 0:  # dovecot refuses to run its login or mail processes as root
            mail_user = pwd.getpwnam("dovecot")
            internal, group, login = "dovecot", grp.getgrgid(mail_user.pw_gid).gr_name, "dovenull"
            uid, gid = mail_user.pw_uid, mail_user.pw_gid
            os.chown(self.root / "mail", uid, gid)
        else:
            me = pwd.getpwuid(os.getuid())
            internal, group, login = me.pw_name, grp.getgrgid(os.getgid()).gr_name, me.pw_name
            uid, gid = os.getuid(), os.getgid()
        conf = self.root / "dovecot.conf"
        conf.write_text(
            CONFIG.format(
                root=self.root,
                host=HOST,
                port=self.port,
                starttls_port=self.starttls_port,
                cert=self.certs.cert_file,
                key=self.certs.key_file,
                internal_user=internal,
                internal_group=group,
                login_user=login,
                uid=uid,
                gid=gid,
                # any user name logs in with this password (each test has its own mailbox); the
                # config holds its SHA-256 only, dovecot's {SHA256} scheme
                password_hash="{SHA256}"
                + base64.b64encode(hashlib.sha256(self.password.encode()).digest()).decode(),
            ),
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [binary, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode()[-2000:]} {self.log()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.5):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on {HOST}:{self.port}: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        self.proc = None

    def client(self, user: str, password: str) -> imaplib.IMAP4_SSL:
        conn = imaplib.IMAP4_SSL(HOST, self.port, ssl_context=self.certs.client_context(), timeout=20)
        conn.login(user, password)
        return conn

    def append(
        self, user: str, password: str, message: bytes, folder: str = "INBOX", when: datetime | None = None
    ) -> None:
        """Deliver a message the way a server does after receiving it: APPEND into the folder, with
        `when` (default now) as the arrival time that IMAP's SINCE searches."""
        conn = self.client(user, password)
        try:
            if folder != "INBOX":
                conn.create(folder)
            arrived = imaplib.Time2Internaldate(when) if when else None
            status, data = conn.append(folder, None, arrived, message)
            assert status == "OK", data
        finally:
            conn.logout()


@pytest.fixture(scope="session", name="certs")
def certs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture(certs: Certs) -> Iterator[Dovecot]:
    if dovecot_path() is None and not in_ci():
        pytest.skip(f"dovecot not installed ({INSTALL_HINT})")
    # A short path of its own: unix socket paths are limited to 108 bytes, and the unprivileged
    # processes must be able to enter it (pytest's tmp folders are 0700).
    root = Path(tempfile.mkdtemp(prefix="kx-dovecot-"))
    server = Dovecot(root, certs)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(certs: Certs) -> Iterator[SmtpServer]:
    server = SmtpServer(certs).start()
    try:
        yield server
    finally:
        server.stop()
