"""Fixtures for web chat tests: a real uvicorn server hosting kefu, a tenant with a chat widget
(pre-chat form, a menu flow, a queue) deployed, agents, and a widget client speaking the
protocol over a real websocket."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets

from kefu.platform.configs.services import ConfigService
from kefu.platform.context import Platform
from kefu.platform.identity.models import Role
from kefu.platform.web.app import make_wsgi_app
from tests.factories import TokenClient
from tests.functional.api.conftest import (  # noqa: F401 - fixtures used here
    _cheap_password_hashing,
)
from tests.integration.servers import ThreadedServer

#: The server's attachment limit in these tests (small, to test refusals cheaply).
MAX_ATTACHMENT = 4096

CONFIG = """\
tenant {SLUG} {
  name "{NAME}"
  locales en
  timezone "UTC"
}

skill billing "Billing" levels 1..5

team desk "Desk" {
  members 2
  skill billing 3
}

queue general "General" {
  require billing >= 1
  max_wait 30m
}

form chat_start "Before we start" {
  field name text "Your name" {
    required "Please tell us your name."
    length 1..80
  }
  field email email "Email" {
    pattern "^[^@ ]+@[^@ ]+$" "That does not look like an email address."
  }
}

channel webchat "{KEY}" -> main {
  form chat_start
}
channel email "help@{SLUG}.example" {
  queue general
}

flow main "Chat" {
  on noinput 3 -> operator
  on nomatch 3 -> operator
  say welcome "Welcome to {NAME}."
  menu main_menu {
    prompt "How can we help?"
    option 1, "Opening hours" -> hours
    option 0, "Agent" -> operator
    timeout 30s
    on nomatch reprompt "Sorry, that is not an option."
  }
  say hours "We are open 9 to 5." -> goodbye
  enqueue operator general {
    prompt "Connecting you to an agent."
    on timeout -> goodbye
  }
  hangup goodbye "Thank you, goodbye."
}
"""


def deploy(factory: Any, server: ThreadedServer, tenant: Any, key: str) -> None:
    source = (CONFIG.replace("{SLUG}", tenant.slug.replace("-", "_"))
              .replace("{NAME}", tenant.name).replace("{KEY}", key))
    with factory.session(tenant) as db:
        service = ConfigService(db)
        version = service.store({"tenant.kefu": source}, "", None)
        service.deploy(version.id)
        db.commit()
    server.platform.configs.invalidate(tenant.id)
    factory.platform.configs.invalidate(tenant.id)


@pytest.fixture
def server(settings: Any, factory: Any) -> Iterator[ThreadedServer]:
    platform = Platform(settings.with_overrides(**{
        "messaging.max_attachment_bytes": MAX_ATTACHMENT}))
    with ThreadedServer(platform) as running:
        yield running
    platform.close()


@dataclass
class Shop:
    """A tenant with the chat widget deployed, its admin's API client and agent helpers."""

    tenant: Any
    key: str
    admin: TokenClient
    server: ThreadedServer
    factory: Any
    app: Any

    def agent(self, name: str) -> tuple[dict[str, Any], TokenClient]:
        user = self.factory.user(self.tenant, Role.AGENT)
        record = self.admin.api("POST", "/agents", {
            "display_name": name, "user_id": str(user.id),
            "skills": [{"skill": "billing", "level": 3}]}, status=201).json
        return record, TokenClient(self.app, self.factory.token(user, self.tenant))

    def interaction(self, interaction_id: str) -> dict[str, Any]:
        return self.admin.api("GET", f"/interactions/{interaction_id}").json  # type: ignore[no-any-return]


@pytest.fixture
def shop_maker(server: ThreadedServer, factory: Any) -> Any:
    app = make_wsgi_app(server.platform)

    def make(name: str = "Acme Gas") -> Shop:
        tenant = factory.tenant(name=name)
        key = f"widget-{uuid.uuid4().hex[:8]}"
        deploy(factory, server, tenant, key)
        admin = factory.user(tenant, Role.ADMIN)
        return Shop(tenant, key, TokenClient(app, factory.token(admin, tenant)), server,
                    factory, app)

    return make


@pytest.fixture
def shop(shop_maker: Any) -> Shop:
    return shop_maker()


class Widget:
    """A chat widget's side of the protocol over a real websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.unread: list[dict[str, Any]] = []  # received while waiting for another kind

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame, ensure_ascii=False))

    async def next(self, kind: str | None = None, timeout: float = 10) -> dict[str, Any]:
        """The next frame of ``kind`` (frames of other kinds stay unread for later)."""
        for index, frame in enumerate(self.unread):
            if kind is None or frame["type"] == kind:
                return self.unread.pop(index)
        while True:
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            except TimeoutError:
                raise AssertionError(f"no {kind} frame; got {self.seen[-5:]}") from None
            self.seen.append(frame)
            if kind is None or frame["type"] == kind:
                return frame  # type: ignore[no-any-return]
            self.unread.append(frame)

    async def silent(self, seconds: float = 0.5) -> None:
        """Nothing arrives for a while (pending ``seen`` frames aside)."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    async def drain(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Read whatever arrives until nothing has for ``seconds``."""
        frames, self.unread = self.unread, []
        while True:
            try:
                frames.append(json.loads(await asyncio.wait_for(self.ws.recv(), seconds)))
            except TimeoutError:
                return frames

    async def messages(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        return [await self.next("message", timeout) for _ in range(count)]

    async def hello(self, token: str | None = None, since: str | None = None,
                    locale: str = "en") -> dict[str, Any]:
        await self.send(type="hello", token=token, since=since, locale=locale)
        return await self.next("welcome")

    async def start(self, name: str = "王芳", email: str = "wang@example.com"
                    ) -> dict[str, Any]:
        await self.send(type="start", fields={"name": name, "email": email})
        return await self.next("started")

    async def say(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        client_id = client_id or uuid.uuid4().hex
        await self.send(type="message", client_id=client_id, text=text)
        ack = await self.next("ack")
        assert ack["client_id"] == client_id
        return ack


def chat_url(server: ThreadedServer, key: str) -> str:
    return f"{server.ws}/ws/chat?key={key}"


def connect(server: ThreadedServer, key: str) -> Any:
    return websockets.connect(chat_url(server, key), max_size=4 * 1024 * 1024)


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """A real HTTP request to the server: (status, headers (any case), body)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def multipart(files: dict[str, tuple[str, str, bytes]], fields: dict[str, str] | None = None
              ) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in (fields or {}).items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, (filename, content_type, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"
