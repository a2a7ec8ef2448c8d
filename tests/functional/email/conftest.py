"""The email channel hosted by the platform, against real mail peers.

One kefu runtime per test module (``run_email``, ``run_outbound``, ``follow_deployments`` on a
``RuntimeHost`` in a thread of its own) with its SMTP listener on a free port and
``email.relay_url`` pointing at an aiosmtpd sink run here (the relay's far end). The sink also
plays a naive auto-responder for ``@responder.test``: it answers every mail it gets by sending
one back to kefu's listener. Rules jobs really run: the in-process runner in the embedded
pass, a ``kefu worker`` child process in the production pass. Mail is sent with swaks.

Waits are bounded polls of what a user would see (rows, the sink's mail), never sleeps.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from kefu.channels.email.mime import ParsedEmail, parse_email
from kefu.platform.automation.models import AutomationEvent
from kefu.platform.configs.services import ConfigService
from kefu.platform.context import Platform
from kefu.platform.interactions.models import Direction, Interaction, Message, MessageStatus
from kefu.platform.runtime_host import RuntimeHost
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.scope import cross_tenant
from tests.channels.email.peers import Received, SmtpSink, require
from tests.factories import Factory
from tests.integration.servers import start_kefu, stop
from tests.waiting import wait_until

T = TypeVar("T")
WAIT = 60.0
MESSAGE_ID_DOMAIN = "mail.kefu.test"
RESPONDER_DOMAIN = "responder.test"
MAX_MESSAGE_BYTES = 300_000
MAX_ATTACHMENT_BYTES = 40_000
FIXTURES = Path(__file__).resolve().parents[2] / "channels" / "email" / "fixtures"

CONFIG = """\
tenant mailco {
  name "Mail Co"
  locales en
  timezone "UTC"
}

skill support "Support" levels 1..5

team desk "Desk" {
  members 2
  skill support 3
}

queue general "General" {
  require support >= 1
  max_wait 2m
}

channel email "{ADDRESS}" {
  queue general
}

template ack "Thank you for writing to Mail Co. We will answer within a day."

rule acknowledge "Acknowledge every mail" {
  on email.received
  reply ack
}
"""


def config(address: str) -> str:
    return CONFIG.replace("{ADDRESS}", address)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])




class LoopThread:
    """An asyncio event loop in a daemon thread (where the runtime and the sink run)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Responder:
    """A naive auto-responder at ``@responder.test``: answers every mail it is sent, to the
    mail's From, through kefu's SMTP listener; with or without ``Auto-Submitted``."""

    kefu_port: int = 0
    marks_auto_submitted: bool = True
    answers: list[bytes] = field(default_factory=list)
    in_flight: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def on_message(self, received: Received) -> None:
        mine = [r for r in received.rcpt_tos if r.endswith("@" + RESPONDER_DOMAIN)]
        if not mine:
            return
        self.in_flight += 1
        task = asyncio.create_task(self._answer(mine[0], parse_email(received.raw)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, me: str, incoming: ParsedEmail) -> None:
        try:
            answer = EmailMessage()
            answer["From"] = me
            answer["To"] = incoming.from_address.address
            answer["Subject"] = f"Out of office: {incoming.subject}"
            answer["Date"] = format_datetime(datetime.now(UTC))
            answer["Message-ID"] = make_msgid(domain=RESPONDER_DOMAIN)
            if incoming.message_id:
                answer["In-Reply-To"] = f"<{incoming.message_id}>"
            if self.marks_auto_submitted:
                answer["Auto-Submitted"] = "auto-replied"
            answer.set_content("I am away this week and will read your mail when I am back.")
            raw = answer.as_bytes()
            self.answers.append(raw)
            await asyncio.to_thread(self._send, me, incoming.from_address.address, raw)
        finally:
            self.in_flight -= 1

    def _send(self, sender: str, to: str, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.kefu_port, timeout=20) as client:
            client.sendmail(sender, [to], raw)


@dataclass
class MailSystem:
    """The running platform and its peers."""

    platform: Platform
    loop: LoopThread
    sink: SmtpSink
    responder: Responder
    smtp_port: int

    def sent_to(self, address: str) -> list[Received]:
        """Mail kefu sent (through the relay) to ``address``."""
        return [m for m in self.sink.received if address in m.rcpt_tos]

    def swaks(self, *args: str, sender: str = "li.lei@example.cn",
              to: str = "help@mailco.test") -> tuple[int, str]:
        """Send with swaks to kefu's listener; (exit code, transcript)."""
        done = subprocess.run(
            [require("swaks"), "--server", "127.0.0.1", "--port", str(self.smtp_port),
             "--from", sender, "--to", to, "--timeout", "20", *args],
            capture_output=True, timeout=60, check=False)
        return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def mail(settings: Any, platform: Platform, backend: str, redis_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSystem]:
    loop = LoopThread()
    responder = Responder()
    sink = SmtpSink(on_message=responder.on_message)
    loop.call(sink.__aenter__())
    smtp_port = free_port()
    responder.kefu_port = smtp_port
    queue = f"kefu-email-{uuid.uuid4().hex[:10]}"
    own = Platform(settings.with_overrides(**{
        "jobs.queue": queue, "smtp.port": smtp_port, "smtp.bind": "127.0.0.1",
        "email.relay_url": f"smtp://127.0.0.1:{sink.port}",
        "email.message_id_domain": MESSAGE_ID_DOMAIN,
        "smtp.max_message_bytes": MAX_MESSAGE_BYTES,
        "messaging.max_attachment_bytes": MAX_ATTACHMENT_BYTES}), engine=platform.engine)
    worker = None
    if backend == "production":
        # The rules run in a real `kefu worker`, as in production.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        worker = start_kefu("worker", env={
            **env, "KEFU_REDIS_URL": redis_url, "KEFU_DATABASE_URL": settings.database_url,
            "KEFU_JOBS_QUEUE": queue, "KEFU_DATA_DIR": str(tmp_path_factory.mktemp("worker")),
            "KEFU_LOG_FORMAT": "text"})
    else:
        own.jobs.start()
    host = RuntimeHost(own, services=["kefu.platform.configs.cache:follow_deployments",
                                      "kefu.platform.messaging.outbound:run_outbound",
                                      "kefu.platform.messaging.email_host:run_email"])
    loop.call(host.start())

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", smtp_port), timeout=1) as probe:
                return probe.recv(100).startswith(b"220")
        except OSError:
            return False

    wait_until(listening, "kefu's SMTP listener", timeout=20)
    try:
        yield MailSystem(own, loop, sink, responder, smtp_port)
    finally:
        loop.call(host.stop())
        own.jobs.close()
        if worker is not None:
            from kefu.platform.jobs.testing import purge_queue

            output = stop(worker)
            purge_queue(own.jobs.connection, queue)  # type: ignore[attr-defined]
            assert "Traceback" not in output, output
        own.bus.close()  # on the loop's thread, while it still runs
        loop.call(sink.__aexit__())
        loop.close()


@pytest.fixture
def system(mail: MailSystem, factory: Factory) -> Iterator[MailSystem]:
    """The mail system with a clean sink, for one test (the database is wiped after it)."""
    mail.sink.received.clear()
    mail.responder.answers.clear()
    mail.responder.marks_auto_submitted = True
    yield mail
    quiet(mail)  # nothing of this test may still run when the database is wiped


@dataclass
class MailTenant:
    tenant: Tenant
    address: str
    factory: Factory

    def session(self) -> Any:
        return self.factory.session(self.tenant)

    def messages(self, *where: Any) -> list[Message]:
        with self.session() as db:
            rows = list(db.scalars(sa.select(Message).where(*where)
                                   .order_by(Message.created_at)))
            for row in rows:
                _ = row.attachments  # loaded while the session is open
            return rows

    def inbound(self) -> list[Message]:
        return self.messages(Message.direction == Direction.INBOUND)

    def interactions(self) -> list[Interaction]:
        with self.session() as db:
            return list(db.scalars(sa.select(Interaction).order_by(Interaction.created_at)))


@pytest.fixture
def mail_tenant(system: MailSystem, factory: Factory) -> Callable[..., MailTenant]:
    """``mail_tenant("help@mailco.test")`` → a tenant whose deployed config declares that
    mailbox, queues its mail and acknowledges every mail by a rule."""

    def make(address: str = "help@mailco.test") -> MailTenant:
        tenant = factory.tenant()
        with factory.session(tenant) as db:
            service = ConfigService(db)
            version = service.store({"tenant.kefu": config(address)}, "", None)
            assert version.compiled is not None, version.diagnostics
            service.deploy(version.id)
            db.commit()
        for each in (system.platform, factory.platform):
            each.configs.invalidate(tenant.id)
        return MailTenant(tenant, address, factory)

    return make


def quiet(system: MailSystem) -> None:
    """Wait until nothing is left to happen: no rules event pending, no outbound message
    queued, the responder done — twice in a row (bounded)."""

    def idle() -> bool:
        if system.responder.in_flight:
            return False
        with system.platform.session() as db, cross_tenant(db):
            pending = db.scalar(sa.select(sa.func.count()).select_from(AutomationEvent)
                                .where(AutomationEvent.status == "pending"))
            queued = db.scalar(sa.select(sa.func.count()).select_from(Message).where(
                Message.direction == Direction.OUTBOUND,
                Message.status == MessageStatus.QUEUED))
        return not pending and not queued

    wait_until(lambda: idle() and (time.sleep(0.3) or idle()), "the mail system to settle")
