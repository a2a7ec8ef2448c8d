"""Fixtures for the SMS channel in kefu: tenants running a config with an SMS number, the real
runtime services (``run_sms`` and ``run_outbound``) on an event loop of their own, and the
real peers: the Net::SMPP SMSC (tests/channels/sms/smsc.pl) and Kannel.

Jobs really run (see tests/functional/automation/conftest.py), so rules fire and their
replies are queued, dispatched and sent as they are in ``kefu serve``.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from kefu.dsl.loader import read_sources
from kefu.platform.context import Platform
from kefu.platform.customers.models import Customer
from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Channel, Interaction, Message
from kefu.platform.runtime_host import RuntimeHost
from tests.channels.sms.peers import WAIT, PerlSmsc
from tests.factories import TokenClient
from tests.functional.automation.conftest import (  # noqa: F401 - fixtures used here
    TENANTS,
    Tenancy,
    auto_app,
    auto_platform,
    settle,
    tenancy,
)
from tests.waiting import wait_until

T = TypeVar("T")

SERVICES = ["kefu.platform.messaging.sms_host:run_sms",
            "kefu.platform.messaging.outbound:run_outbound"]
DEMO_NUMBER = "+441632960001"  # tenants/demo: channel sms "+441632960001" { queue general_q }
CUSTOMER = "+447700900123"

# A second tenant with a number of its own, for isolation.
OTHER_CONFIG = """\
tenant other {
  name "Other Water Co"
  locales en
  timezone "UTC"
}
skill billing "Billing" levels 1..5
team desk "Desk" {
  members 2
  skill billing 2
}
queue inbox "Inbox" {
  require billing >= 1
}
channel sms "+8610690756" {
  queue inbox
}
"""
OTHER_NUMBER = "+8610690756"


def demo_files(extra: str = "") -> dict[str, str]:
    """tenants/demo with ``extra`` appended, open around the clock: the demo's queues follow
    its office hours, and a test must not depend on when it runs."""
    files = read_sources(TENANTS / "demo")[0]
    assert "  calendar office\n  allow_hosts" in files["tenant.kefu"]
    files["tenant.kefu"] = files["tenant.kefu"].replace(
        "  calendar office\n  allow_hosts", "  allow_hosts", 1) + extra
    return files


class Loop:
    """An asyncio event loop in a thread: the runtime node's, as in ``kefu runtime``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT + 5) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def loop(auto_platform: Platform) -> Iterator[Loop]:  # noqa: F811
    """One loop for the session: the platform's Redis event bus serves one event loop (and
    is closed on it before the loop stops)."""
    running = Loop()
    yield running
    running.run(auto_platform.bus.aclose())
    running.close()




@dataclass
class Site:
    """kefu with its SMS runtime services, for tenants that declare SMS numbers."""

    platform: Platform
    loop: Loop
    tenancy: Any
    host: RuntimeHost | None = None
    tenants: list[Tenancy] = field(default_factory=list)

    def start(self, monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
        monkeypatch.setattr(self.platform, "settings",
                            self.platform.settings.with_overrides(**settings))
        self.host = RuntimeHost(self.platform, services=SERVICES)
        self.loop.run(self.host.start())

    def stop(self) -> None:
        if self.host is not None:
            self.loop.run(self.host.stop())
            self.host = None

    def settle(self) -> None:
        settle(self.platform)

    # --- reading what kefu stored ---------------------------------------------------------
    def interactions(self, tenant: Tenancy, channel: Channel = Channel.SMS) -> list[Interaction]:
        with tenant.session() as db:
            return list(db.scalars(sa.select(Interaction).where(Interaction.channel == channel)
                                   .order_by(Interaction.created_at)))

    def messages(self, tenant: Tenancy, *where: Any) -> list[Message]:
        with tenant.session() as db:
            return list(db.scalars(sa.select(Message).where(Message.channel == Channel.SMS,
                                                            *where)
                                   .order_by(Message.created_at, Message.id)))

    def message(self, tenant: Tenancy, message_id: uuid.UUID) -> Message:
        with tenant.session() as db:
            found = db.get(Message, message_id)
            assert found is not None
            return found

    def wait_message(self, tenant: Tenancy, message_id: uuid.UUID,
                     check: Callable[[Message], bool], what: str) -> Message:
        """The message once ``check`` holds for it (bounded wait)."""
        found: list[Message] = []

        def ready() -> bool:
            message = self.message(tenant, message_id)
            found[:] = [message]
            return check(message)

        wait_until(ready, what)
        return found[0]

    def customer(self, tenant: Tenancy, customer_id: uuid.UUID | None) -> Customer:
        with tenant.session() as db:
            found = db.get(Customer, customer_id)
            assert found is not None
            return found

    def agent(self, tenant: Tenancy, name: str, skills: dict[str, int],
              capacity: dict[str, int]) -> tuple[dict[str, Any], TokenClient]:
        user, client = tenant.client(Role.AGENT)
        record = tenant.api.api("POST", "/agents", {
            "display_name": name, "user_id": str(user.id), "capacity": capacity,
            "skills": [{"skill": k, "level": v} for k, v in skills.items()]}, status=201).json
        return record, client


@pytest.fixture
def site(auto_platform: Platform, loop: Loop, tenancy: Any) -> Iterator[Site]:  # noqa: F811
    running = Site(auto_platform, loop, tenancy)
    yield running
    running.stop()


@dataclass
class Smsc:
    """The Net::SMPP SMSC, driven from the test thread."""

    peer: PerlSmsc
    loop: Loop

    def send(self, command: str) -> None:
        self.loop.run(self.peer.send(command))

    def expect(self, kind: str) -> list[str]:
        return self.loop.run(self.peer.expect(kind))

    def deliver(self, sender: str, recipient: str, text: str = "", *, payload: bytes | None = None,
                coding: int | None = None, esm_class: int = 0) -> list[str]:
        """A mobile-originated SMS from ``sender`` (international, TON 1) to ``recipient``
        (sent as the SMSC's digits, TON 0, the way many SMSCs write short codes and DIDs);
        returns the SMSC's report of the deliver_sm_resp kefu answered."""
        if payload is None:
            gsm = all(ord(c) < 128 for c in text)
            payload = text.encode("ascii") if gsm else text.encode("utf-16-be")
            coding = 0 if gsm else 8
        self.send(f"DELIVER 1 {sender.lstrip('+')} {recipient.lstrip('+')} {coding or 0} "
                  f"{esm_class} {payload.hex() or '-'}")
        sequence = self.expect("SENT_DELIVER")[1]
        return self.answer_to(sequence)

    def answer_to(self, sequence: str) -> list[str]:
        """kefu's deliver_sm_resp to the deliver_sm with ``sequence`` (answers to receipts
        the SMSC sent meanwhile are kept for whoever waits for them)."""
        others = []
        try:
            while True:
                answer = self.expect("DELIVER_RESP")
                if answer[1] == sequence:
                    return answer
                others.append(answer)
        finally:
            self.peer.backlog.extend(others)


@pytest.fixture
def smsc(loop: Loop) -> Iterator[Smsc]:
    peer = PerlSmsc()
    loop.run(peer.__aenter__())
    yield Smsc(peer, loop)
    loop.run(peer.__aexit__(None, None, None))


def smpp_url(smsc: Smsc, **params: str) -> str:
    query = "&".join(["system_type=KEFU", "enquire_link_interval=5",
                      "reconnect_initial_delay=0.05", "reconnect_max_delay=0.5",
                      *(f"{k}={v}" for k, v in params.items())])
    return f"smpp://kefu:secret@127.0.0.1:{smsc.peer.port}?{query}"


__all__ = ["CUSTOMER", "DEMO_NUMBER", "OTHER_CONFIG", "OTHER_NUMBER", "Loop", "Site", "Smsc",
           "demo_files", "smpp_url", "wait_until"]
