"""A real kefu (uvicorn on 127.0.0.1) for tests of what reaches ``/ws/events``: requests go
to it over HTTP with bearer tokens, sockets listen to it, so the events travel the way they do
in production (the server's own bus, or Redis)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from kefu.platform.context import Platform
from tests.integration.servers import ThreadedServer


@pytest.fixture
def server(settings: Any, factory: Any) -> Iterator[ThreadedServer]:
    platform = Platform(settings)
    with ThreadedServer(platform) as running:
        yield running
    platform.close()


def call(server: ThreadedServer, token: str, method: str, path: str,
         body: Any = None) -> tuple[int, Any]:
    """An API request to the server; returns (status, JSON body)."""
    request = urllib.request.Request(
        server.http + "/api/v1" + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def subscribe(server: ThreadedServer, token: str, topics: list[str]) -> Any:
    """An open ``/ws/events`` socket of the token's user, subscribed to ``topics``."""
    ws = await websockets.connect(server.ws + "/ws/events",
                                  additional_headers={"Authorization": f"Bearer {token}"})
    await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert answer["type"] == "subscribed", answer
    return ws


async def next_event(ws: Any, topic: str, timeout: float = 10) -> dict[str, Any]:
    """The next event on ``topic`` (others are skipped); TimeoutError after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "event" and message["topic"] == topic:
                return message


async def events_until(ws: Any, topic: str, timeout: float = 10) -> list[dict[str, Any]]:
    """Every event up to and including the next one on ``topic``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not seen or seen[-1]["topic"] != topic:
            message = json.loads(await ws.recv())
            if message["type"] == "event":
                seen.append(message)
    return seen


async def silent(ws: Any, seconds: float = 0.5) -> bool:
    """True when nothing arrives on the socket for ``seconds``."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False
