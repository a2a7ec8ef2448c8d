"""Fixtures for flow-host tests: the API test actors (reused from the API tests), a tenant
with a chat flow deployed, a real local HTTP data source, and a job queue that keeps the jobs
a test then runs itself (so a lookup's job runs when the test says, on both backends)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kefu.platform.configs.services import ConfigService
from kefu.platform.db import utcnow
from kefu.platform.flows.lookups import perform_lookup
from kefu.platform.flows.models import FlowSession
from kefu.platform.flows.service import FlowHost, Turn
from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Channel, Direction, Interaction, Message
from kefu.platform.jobs import JobContext
from kefu.runtime.ivr import Mode
from tests.factories import Factory, TokenClient
from tests.functional.api.conftest import (  # noqa: F401 - fixtures used here
    Actor,
    _cheap_password_hashing,
    actor,
    alice,
    bob,
)

CONFIG = """\
tenant shop {
  name "Shop"
  locales en
  timezone "UTC"
  allow_hosts "127.0.0.1"
}

skill billing "Billing" levels 1..5

team desk "Desk" {
  members 2
  skill billing 3
}

queue general "General" {
  require billing >= 1
  max_wait 2m
}

channel webchat "shop-widget" -> main
channel kiosk "lobby" -> main
channel sms "+8610000000"

template leave_note "We got your chat and will answer by SMS."

http account {
  get "http://127.0.0.1:{PORT}/accounts/{account}"
  timeout 1s
  retries 0
  returns {
    name text
    balance number
  }
}

form signup "Sign-up" {
  field account_no account "Account number" {
    length 6..6 "Account numbers have six digits."
    pattern "^[0-9]{6}$"
  }
}

form issue_form "Issue" {
  field topic text "Topic"
}

workflow issue "Issue" {
  form issue_form
  states open, closed
  initial open
  final closed
  transition close open -> closed
}

flow main "Shop chat" {
  on noinput 3 -> operator
  on nomatch 3 -> operator
  say welcome "{WELCOME}"
  menu main_menu {
    prompt "{MENU}"
    option 1, "Billing" -> account
    option 2, "Opening hours" -> hours
    option 0, "Agent" -> operator
    timeout 5s
    on noinput reprompt "Are you still there?"
    on nomatch reprompt "Sorry, that is not an option."
  }
  say hours "We are open 9 to 5." -> goodbye
  ask account -> lookup {
    prompt "Please type your six digit account number."
    dtmf 6
    validate signup.account_no
    on noinput reprompt
    on nomatch reprompt "That was not six digits."
  }
  fetch lookup account into customer {
    on error, timeout -> sorry
  }
  say balance "Hello {customer.name}, your balance is {customer.balance}." -> goodbye
  say sorry "Our account system is not answering." -> operator
  enqueue operator general {
    prompt "Connecting you to an agent."
    on timeout -> note
  }
  ticket note issue -> noted {
    set topic = "chat waited too long"
  }
  say noted "Nobody is free; we logged your request {note.id}." -> goodbye
  hangup goodbye "Thank you, goodbye."
}

flow closed_chat "After hours" {
  play jingle "jingle.wav"
  send confirm sms leave_note to caller.number
  transfer duty "+447700900123" {
    on failed -> box
  }
  voicemail box "Please leave us a message."
}

flow later "Call back" {
  on noinput 3 -> bye
  on nomatch 3 -> bye
  callback offer general {
    prompt "Shall we call you back?"
    on accepted -> bye
    on declined -> bye
  }
  hangup bye "Goodbye."
}
"""

MENU_LINES = "1. Billing\n2. Opening hours\n0. Agent"


def config(port: int = 9, welcome: str = "Welcome to Shop.",
           menu: str = "What can we do for you?") -> str:
    return (CONFIG.replace("{PORT}", str(port)).replace("{WELCOME}", welcome)
            .replace("{MENU}", menu))


# --- jobs ---------------------------------------------------------------------------------


@dataclass
class KeptJobs:
    """A job queue that keeps what is enqueued; ``run_lookups`` runs the flow lookups."""

    platform: Any
    calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    def enqueue(self, func: Any, *args: Any, job_id: str | None = None, retries: Any = None,
                retry_delays: Any = None, **kwargs: Any) -> str:
        job_id = job_id or uuid.uuid4().hex
        self.calls.append((func, args, {**kwargs, "job_id": job_id}))
        return job_id

    def lookups(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(args, kw["job_id"]) for func, args, kw in self.calls if func is perform_lookup]

    def run_lookups(self) -> list[dict[str, Any]]:
        """Run (and forget) every lookup job queued so far, as a worker would."""
        results = []
        for args, job_id in self.lookups():
            ctx = JobContext(settings=self.platform.settings, job_id=job_id,
                             job_name="kefu.platform.flows.lookups:perform_lookup", attempt=1,
                             max_attempts=3, jobs=self, events=self.platform.bus,  # type: ignore[arg-type]
                             session_factory=self.platform.session_factory)
            results.append(perform_lookup(ctx, *args))
        self.calls = [c for c in self.calls if c[0] is not perform_lookup]
        return results


@pytest.fixture
def jobs(platform: Any, monkeypatch: pytest.MonkeyPatch) -> KeptJobs:
    kept = KeptJobs(platform)
    monkeypatch.setattr(platform, "jobs", kept)
    return kept


# --- a local data source -------------------------------------------------------------------


@dataclass
class DataSource:
    port: int
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def data_source() -> Iterator[DataSource]:
    """A real HTTP server on 127.0.0.1: ``/accounts/123456`` is Wang Fang's account."""
    source = DataSource(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            source.requests.append(self.path)
            if self.path == "/accounts/123456":
                body = json.dumps({"name": "Wang Fang", "balance": 42, "secret": "x"}).encode()
                self.send_response(200)
            else:
                body = b'{"error": "no such account"}'
                self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    source.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield source
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def refused_port() -> int:
    """A port nobody listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the shop ------------------------------------------------------------------------------


@dataclass
class Shop:
    """A tenant with the chat config deployed; each call is its own transaction, the way
    each customer message reaches the platform on its own."""

    owner: Actor
    factory: Factory
    wsgi_app: Any
    jobs: KeptJobs
    versions: list[uuid.UUID] = field(default_factory=list)

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.owner.tenant.id

    @property
    def platform(self) -> Any:
        return self.factory.platform

    def deploy(self, source: str) -> uuid.UUID:
        with self.factory.session(self.owner.tenant) as db:
            service = ConfigService(db)
            version = service.store({"tenant.kefu": source}, "", None)
            assert version.compiled is not None, version.diagnostics
            service.deploy(version.id)
            db.commit()
            version_id: uuid.UUID = version.id
        self.platform.configs.invalidate(self.tenant_id)
        self.versions.append(version_id)
        return version_id

    def chat(self, channel: Channel = Channel.CHAT, to: str = "shop-widget",
             sender: str = "visitor-1", version: uuid.UUID | None = None) -> uuid.UUID:
        with self.factory.session(self.owner.tenant) as db:
            row = Interaction(channel=channel, direction=Direction.INBOUND, to_address=to,
                              from_address=sender, config_version_id=version)
            db.add(row)
            db.commit()
            return row.id

    def run(self, work: Callable[[FlowHost], Any], *, clock: Callable[[], datetime] = utcnow
            ) -> Any:
        with self.factory.session(self.owner.tenant) as db:
            result = work(FlowHost(self.platform, db, self.tenant_id, clock=clock))
            db.commit()
            return result

    def start(self, chat: uuid.UUID, **options: Any) -> list[str]:
        turn: Turn = self.run(lambda host: host.start(chat, **options))
        return [m.body_text for m in turn.messages]

    def say(self, chat: uuid.UUID, text: str) -> list[str]:
        turn: Turn = self.run(lambda host: host.feed_text(chat, text))
        return [m.body_text for m in turn.messages]

    def touch(self, chat: uuid.UUID, choice: str) -> list[str]:
        turn: Turn = self.run(lambda host: host.feed_touch(chat, choice))
        return [m.body_text for m in turn.messages]

    def due(self, after: float) -> int:
        """Fire the timers due ``after`` seconds from now."""
        return int(self.run(lambda host: host.due(utcnow() + timedelta(seconds=after))))

    def session(self, chat: uuid.UUID) -> FlowSession:
        with self.factory.session(self.owner.tenant) as db:
            found = db.scalar(sa.select(FlowSession).where(FlowSession.interaction_id == chat))
            assert found is not None
            return found

    def interaction(self, chat: uuid.UUID) -> Interaction:
        with self.factory.session(self.owner.tenant) as db:
            found = db.get(Interaction, chat)
            assert found is not None
            return found

    def messages(self, chat: uuid.UUID) -> list[Message]:
        with self.factory.session(self.owner.tenant) as db:
            return list(db.scalars(sa.select(Message).where(Message.interaction_id == chat)
                                   .order_by(Message.created_at, Message.id)))

    def shown(self, chat: uuid.UUID) -> list[str]:
        """Every text the flow showed the customer so far."""
        return [m.body_text for m in self.messages(chat)]

    def agent(self, name: str) -> tuple[dict[str, Any], TokenClient]:
        """A new agent user with billing skill; returns the record and their API client."""
        user = self.factory.user(self.owner.tenant, Role.AGENT)
        record = self.owner.bearer.api("POST", "/agents", {
            "display_name": name, "user_id": str(user.id),
            "skills": [{"skill": "billing", "level": 3}]}, status=201).json
        return record, TokenClient(self.wsgi_app, self.factory.token(user, self.owner.tenant))


@pytest.fixture
def shop(alice: Actor, factory: Factory, wsgi_app: Any, jobs: KeptJobs) -> Shop:  # noqa: F811
    shop = Shop(alice, factory, wsgi_app, jobs)
    shop.deploy(config())
    return shop


__all__ = ["MENU_LINES", "DataSource", "KeptJobs", "Mode", "Shop", "config"]
