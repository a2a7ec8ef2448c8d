"""/ws/events on a real uvicorn server: authentication, origin check, tenant isolation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kefu.platform.context import Platform
from kefu.platform.identity.models import Role
from kefu.platform.web import realtime
from kefu.platform.web.realtime import tenant_topic
from tests.integration.servers import ThreadedServer


@pytest.fixture
def server(settings: Any, factory: Any) -> Iterator[ThreadedServer]:
    platform = Platform(settings)
    with ThreadedServer(platform) as running:
        yield running
    platform.close()


@pytest.fixture
def publisher(server: ThreadedServer, backend: str, settings: Any) -> Iterator[Any]:
    """Publishes as another part of kefu would: in the same process when embedded, from a
    separate Platform (another process's view of Redis) in production."""
    if backend == "embedded":
        yield server.platform.bus
        return
    other = Platform(settings)
    yield other.bus
    other.close()


def _cookie_header(client: Any) -> dict[str, str]:
    return {"Cookie": f"kefu_session={client.cookies['kefu_session']}"}


async def _next_event(ws: Any, timeout: float = 5) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == "event":
            return message


async def _expect_silence(ws: Any, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


def test_anonymous_and_cross_origin_handshakes_are_refused(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    client = web(factory.user(tenant, Role.AGENT))

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as anonymous:
            async with websockets.connect(server.ws + "/ws/events"):
                pass
        assert anonymous.value.response.status_code == 403
        with pytest.raises(InvalidStatus):
            async with websockets.connect(server.ws + "/ws/events", origin="http://evil.example",
                                          additional_headers=_cookie_header(client)):
                pass
        with pytest.raises(InvalidStatus):
            async with websockets.connect(server.ws + "/ws/nowhere"):
                pass

    asyncio.run(scenario())


def test_events_reach_only_sockets_of_their_tenant(server, factory, web, publisher) -> None:  # type: ignore[no-untyped-def]
    acme, rival = factory.tenant("acme"), factory.tenant("rival")
    acme_agent = web(factory.user(acme, Role.AGENT))
    rival_token = factory.token(factory.user(rival, Role.SUPERVISOR), rival)

    async def scenario() -> None:
        async with websockets.connect(server.ws + "/ws/events",
                                      additional_headers=_cookie_header(acme_agent)) as acme_ws, \
                websockets.connect(server.ws + "/ws/events", additional_headers={
                    "Authorization": f"Bearer {rival_token}"}) as rival_ws:
            for ws in (acme_ws, rival_ws):
                await ws.send(json.dumps({"type": "subscribe", "topics": ["*"]}))
                assert json.loads(await ws.recv()) == {"type": "subscribed", "topics": ["*"]}
            publisher.publish(tenant_topic(rival.id, "interaction.created"), {"secret": "rival"})
            publisher.publish(tenant_topic(acme.id, "interaction.created"), {"caller": "+86100"})
            event = await _next_event(acme_ws)
            assert event["topic"] == "interaction.created"
            assert event["data"] == {"caller": "+86100"}
            rival_event = await _next_event(rival_ws)
            assert rival_event["data"] == {"secret": "rival"}
            await _expect_silence(acme_ws)
            await _expect_silence(rival_ws)

    asyncio.run(scenario())


def test_subscriptions_cannot_escape_the_tenant_prefix(server, factory, web, publisher) -> None:  # type: ignore[no-untyped-def]
    acme, rival = factory.tenant("acme"), factory.tenant("rival")
    client = web(factory.user(acme, Role.AGENT))

    async def scenario() -> None:
        async with websockets.connect(server.ws + "/ws/events",
                                      additional_headers=_cookie_header(client)) as ws:
            # A pattern naming another tenant is just a topic inside our own tenant.
            await ws.send(json.dumps({"type": "subscribe",
                                      "topics": [f"tenant.{rival.id}.*", "agent.*"]}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            publisher.publish(tenant_topic(rival.id, "agent.state"), {"agent": "theirs"})
            await _expect_silence(ws)
            publisher.publish(tenant_topic(acme.id, "agent.state"), {"agent": "ours"})
            assert (await _next_event(ws))["data"] == {"agent": "ours"}

    asyncio.run(scenario())


def test_bad_messages_get_errors_and_the_socket_stays_open(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    client = web(factory.user(tenant, Role.AGENT))

    async def scenario() -> None:
        async with websockets.connect(server.ws + "/ws/events",
                                      additional_headers=_cookie_header(client)) as ws:
            for bad, expected in (
                ("{not json", "not valid JSON"),
                ("[1, 2]", "must be a JSON object"),
                (json.dumps({"type": "dance"}), "unknown message type 'dance'"),
                (json.dumps({"type": "subscribe", "topics": "all"}), "non-empty list"),
                (json.dumps({"type": "subscribe", "topics": ["bad topic!"]}), "non-empty list"),
            ):
                await ws.send(bad)
                reply = json.loads(await ws.recv())
                assert reply["type"] == "error"
                assert expected in reply["message"]
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}

    asyncio.run(scenario())


def test_logging_out_closes_the_socket(server, factory, web, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(realtime, "RECHECK_SECONDS", 0.2)
    tenant = factory.tenant()
    client = web(factory.user(tenant, Role.AGENT))
    headers = _cookie_header(client)

    async def scenario() -> None:
        async with websockets.connect(server.ws + "/ws/events", additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
            await asyncio.to_thread(client.post, "/logout",
                                    {"csrf_token": client.cookies["kefu_csrf"]})
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())
