"""Real mail peers for the email channel tests: swaks (an SMTP client), an aiosmtpd sink (the
relay's far end), Dovecot (an IMAP server), all on 127.0.0.1 with ephemeral ports.

Every wait is bounded: subprocesses and network calls carry timeouts, and readiness is polled
for a bounded time; no test sleeps and then asserts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

T = TypeVar("T")
FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run one async test body with an overall bound."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed; bin/test installs it from Debian")
    return path


@dataclass
class Delivered:
    envelope_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes


@dataclass
class Recorder:
    """A deliver callable that stores what it is given (the host's role in these tests)."""

    messages: list[Delivered] = field(default_factory=list)

    async def __call__(self, envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        self.messages.append(Delivered(envelope_from, tuple(rcpt_tos), raw))


# --- swaks -----------------------------------------------------------------------------------


@dataclass
class SwaksResult:
    returncode: int
    transcript: str

    @property
    def sent_data(self) -> bytes:
        """The DATA swaks sent in its last transaction, as it appears on the wire (CRLF)."""
        lines = self.transcript.splitlines()
        start = max(i for i, line in enumerate(lines) if line.startswith("<-  354"))
        data: list[str] = []
        for line in lines[start + 1:]:
            if line == " -> .":
                break
            if line.startswith(" -> "):
                text = line[4:]
                data.append(text[1:] if text.startswith("..") else text)
        return ("\r\n".join(data) + "\r\n").encode("utf-8", errors="surrogateescape")

    def replies(self) -> list[str]:
        return [line[4:] for line in self.transcript.splitlines()
                if line.startswith(("<-  ", "<** "))]


async def swaks(port: int, *args: str, sender: str = "customer@example.cn",
                to: str = "service@kefu.test") -> SwaksResult:
    """Send one message with swaks to 127.0.0.1:``port``."""
    process = await asyncio.create_subprocess_exec(
        require("swaks"), "--server", "127.0.0.1", "--port", str(port), "--from", sender,
        "--to", to, "--timeout", "20", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=40)
    return SwaksResult(process.returncode or 0, output.decode("utf-8", errors="surrogateescape"))


# --- an SMTP sink (the relay's far end) -----------------------------------------------------------


@dataclass
class Received:
    envelope_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        received = Received(mail_from, tuple(envelope.rcpt_tos),
                            envelope.original_content or b"",
                            session.auth_data.decode() if isinstance(session.auth_data, bytes)
                            else None)
        self.sink.received.append(received)
        if self.sink.on_message is not None:
            await self.sink.on_message(received)
        return f"250 2.0.0 Ok: queued as SINK{len(self.sink.received)}"


class SmtpSink:
    """An aiosmtpd server that keeps every message (optionally STARTTLS and AUTH)."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None,
                 credentials: tuple[str, str] | None = None,
                 on_message: Callable[[Received], Awaitable[None]] | None = None) -> None:
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.tls_context = tls_context
        self.credentials = credentials
        self.on_message = on_message
        self.server: asyncio.Server | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials)
        # handled=False: aiosmtpd itself answers a failure with 535.
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    def _protocol(self) -> SMTP:
        return SMTP(_SinkHandler(self), hostname="sink.test", tls_context=self.tls_context,
                    require_starttls=self.tls_context is not None,
                    auth_required=self.credentials is not None,
                    authenticator=self._authenticate if self.credentials else None,
                    loop=asyncio.get_running_loop())

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> SmtpSink:
        self.server = await asyncio.get_running_loop().create_server(self._protocol,
                                                                     "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [require("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


# --- Dovecot ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DovecotServer:
    """A private Dovecot instance: its own config, state and maildirs in a temporary
    directory, IMAP on 127.0.0.1, one user with a plain password; started in the foreground
    as our child process and stopped by its pid."""

    def __init__(self, username: str = "service", password: str = "s3cret-imap") -> None:
        self.username = username
        self.password = password
        self.port = free_port()
        # Dovecot's unprivileged helpers must reach these files, so not under pytest's
        # private (0700) temporary root.
        self.root = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        root = self.root
        if os.geteuid() == 0:
            mail_user = "dovecot"
            users = ""
        else:  # an unprivileged run: every Dovecot process is us
            import pwd
            mail_user = pwd.getpwuid(os.geteuid()).pw_name
            users = f"default_internal_user = {mail_user}\ndefault_login_user = {mail_user}\n"
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Fail wrong logins at once: the tests check the error, not brute-force protection.
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
{users}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""

    def __enter__(self) -> DovecotServer:
        dovecot = require("dovecot")
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        self.root.chmod(0o755)
        (self.root / "passwd").write_text(f"{self.username}:{{PLAIN}}{self.password}::::::\n")
        (self.root / "dovecot.conf").write_text(self._config())
        if os.geteuid() == 0:
            shutil.chown(self.root / "mail", "dovecot", "dovecot")
        self.process = subprocess.Popen([dovecot, "-F", "-c", str(self.root / "dovecot.conf")],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"dovecot did not start: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)
