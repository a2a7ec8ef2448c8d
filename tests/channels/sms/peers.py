"""Real SMS peers for the integration tests: an SMSC on Perl's Net::SMPP, and Kannel.

Both listen on 127.0.0.1 only. Every wait is bounded; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from kefu.channels.sms.kannel import KannelCallbackError, parse_dlr, parse_mo

SMSC_SCRIPT = Path(__file__).with_name("smsc.pl")
WAIT = 10.0  # upper bound for any single wait on a peer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_net_smpp() -> None:
    probe = subprocess.run(["perl", "-MNet::SMPP", "-e", "1"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.fail("Perl's Net::SMPP is missing: apt-get install libnet-smpp-perl")


class PerlSmsc:
    """tests/channels/sms/smsc.pl as a subprocess: commands on stdin, events from stdout.

    :meth:`expect` returns the next event of a kind, keeping events of other kinds for
    later calls, so a test can wait for events in whatever order it cares about.
    """

    def __init__(self, system_id: str = "kefu", password: str = "secret") -> None:
        self.system_id = system_id
        self.password = password
        self.port = 0
        self.backlog: list[list[str]] = []
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> PerlSmsc:
        require_net_smpp()
        self.process = await asyncio.create_subprocess_exec(
            "perl", str(SMSC_SCRIPT), self.system_id, self.password,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self.port = int((await self.expect("LISTENING"))[1])
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        if self.process.returncode is None:
            self.process.stdin.write(b"QUIT\n")
            try:
                await asyncio.wait_for(self.process.wait(), WAIT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def send(self, command: str) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, kind: str) -> list[str]:
        """The next event whose first word is ``kind`` (waits at most ``WAIT`` seconds)."""
        for index, event in enumerate(self.backlog):
            if event[0] == kind:
                return self.backlog.pop(index)
        assert self.process is not None
        assert self.process.stdout is not None
        while True:
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
            except TimeoutError:
                raise AssertionError(f"the SMSC never reported {kind}; it saw {self.backlog}") from None
            if not line:
                raise AssertionError(f"the SMSC exited before reporting {kind}; saw {self.backlog}")
            event = line.decode().split()
            if event and event[0] == kind:
                return event
            self.backlog.append(event)

    def seen(self, kind: str) -> list[list[str]]:
        """Events of ``kind`` already read but not yet expected."""
        return [event for event in self.backlog if event[0] == kind]


# --- Kannel -------------------------------------------------------------------------------


class CallbackServer:
    """kefu's side of Kannel's HTTP callbacks: parses MO and DLR calls with the real parsers
    and queues what they return; a call they refuse gets 400 with the reason."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.inbound: queue.Queue[Any] = queue.Queue()
        self.receipts: queue.Queue[Any] = queue.Queue()
        self.refused: queue.Queue[str] = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                try:
                    if path == "/sms/kannel/mo":
                        outer.inbound.put(parse_mo(query, secret=outer.secret))
                    elif path == "/sms/kannel/dlr":
                        outer.receipts.put(parse_dlr(query, secret=outer.secret))
                    else:
                        self.send_error(404)
                        return
                except KannelCallbackError as exc:
                    outer.refused.put(str(exc))
                    body = str(exc).encode()
                    self.send_response(400)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CallbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


KANNEL_CONF = """\
group = core
admin-port = {admin_port}
admin-password = {admin_password}
admin-interface = 127.0.0.1
smsbox-port = {smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{tmp}/bearerbox.log"
log-level = 0
dlr-storage = internal
sms-combine-concatenated-mo = true

# The loopback SMSC turns every message kefu sends into one kefu receives.
group = smsc
smsc = loopback
smsc-id = loop

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
sendsms-port = {sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{tmp}/smsbox.log"
log-level = 0

group = sendsms-user
username = kefu
password = {password}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{callback}/sms/kannel/mo?from=%p&to=%P&text=%b&coding=%c&charset=%C&udh=%u&smsc=%i&id=%I&ts=%T&secret={secret}"
"""


class Kannel:
    """bearerbox and smsbox from Debian's kannel with a generated config in ``tmp``."""

    def __init__(self, tmp: Path, callback: str, secret: str, password: str) -> None:
        self.tmp = tmp
        self.password = password
        self.sendsms_port = free_port()
        self.admin_port = free_port()
        config = KANNEL_CONF.format(
            admin_port=self.admin_port, admin_password="admin-pw", smsbox_port=free_port(),
            sendsms_port=self.sendsms_port, tmp=tmp, callback=callback, secret=secret,
            password=password)
        self.config = tmp / "kannel.conf"
        self.config.write_text(config)
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def logs(self) -> str:
        parts = []
        for name in ("bearerbox.log", "smsbox.log"):
            path = self.tmp / name
            if path.exists():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)

    def _start(self, box: str, ready_url: str) -> None:
        """Start a box and wait until ``ready_url`` answers (any HTTP status)."""
        process = subprocess.Popen([f"/usr/sbin/{box}", str(self.config)], cwd=self.tmp,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    self.__exit__()
                    raise AssertionError(f"Kannel's {box} did not start\n{self.logs()}") from None
                time.sleep(0.05)

    def __enter__(self) -> Kannel:
        for box in ("bearerbox", "smsbox"):
            if shutil.which(box, path="/usr/sbin:/usr/bin") is None:
                pytest.fail("Kannel is missing: apt-get install kannel")
        # smsbox gives up at once if bearerbox is not listening yet, so one after the other.
        self._start("bearerbox", f"http://127.0.0.1:{self.admin_port}/status")
        self._start("smsbox", self.sendsms_url)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
