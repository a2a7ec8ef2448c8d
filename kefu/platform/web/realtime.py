"""``/ws/events``: live events of the caller's tenant for portals and wallboards.

Protocol (JSON text frames):

- client → ``{"type": "subscribe", "topics": ["interaction.*", "agent.state"]}``: topics and
  patterns are *relative to the caller's tenant*; the server prefixes ``tenant.<id>.``, so a
  socket can never name another tenant's events. Answer: ``{"type": "subscribed", ...}``.
- server → ``{"type": "event", "topic": "interaction.created", "id": "...", "data": {...}}``.
- client → ``{"type": "ping"}`` → ``{"type": "pong"}``.
- ``{"type": "error", "message": "..."}`` for a bad message; the socket stays open.

The login is checked again every ``RECHECK_SECONDS``: a logged-out or deactivated user's
socket closes with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from kefu.platform.context import Platform
from kefu.platform.identity.models import User
from kefu.platform.identity.permissions import Permission
from kefu.platform.identity.security import SESSION_COOKIE
from kefu.platform.identity.services import Identity, IdentityService
from kefu.platform.logs import log_context
from kefu.platform.web.sockets import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_OVERLOADED,
    CLOSE_UNAUTHORIZED,
    Socket,
    SocketClosed,
    websocket_route,
)

log = logging.getLogger("kefu.realtime")
RECHECK_SECONDS = 30.0
MAX_PATTERNS = 20
_RELATIVE_PATTERN = re.compile(r"^[A-Za-z0-9_:*?-][A-Za-z0-9_.:*?-]{0,150}$")


def tenant_topic(tenant_id: object, name: str) -> str:
    """The bus topic of a tenant's event (``tenant.<id>.<name>``)."""
    return f"tenant.{tenant_id}.{name}"


def resolve_socket_identity(platform: Platform, socket: Socket) -> Identity | None:
    """Who opened the socket: a login cookie or a bearer token in the handshake."""
    with platform.session() as db:
        service = IdentityService(db)
        header = socket.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        identity = None
        if scheme.lower() == "bearer" and value.strip():
            token = service.resolve_api_token(value.strip())
            user = db.get(User, token.user_id) if token else None
            if token is not None and user is not None:
                identity = service.identity_for(user, token.tenant_id, "token", token.id)
        elif cookie := socket.cookies.get(SESSION_COOKIE):
            login = service.resolve_session(cookie, max_age=platform.settings["session.max_age"])
            if login is not None:
                identity = service.identity_for(login.user, login.tenant_id, "session", login.id)
        db.commit()  # keeps the sliding-expiry touch
        return identity


@websocket_route("/ws/events")
async def events_socket(socket: Socket, platform: Platform) -> None:
    if not await socket.handshake():
        return
    if not socket.same_origin():
        await socket.reject(CLOSE_FORBIDDEN)
        return
    identity = await asyncio.to_thread(resolve_socket_identity, platform, socket)
    if identity is None or identity.tenant_id is None:
        await socket.reject(CLOSE_UNAUTHORIZED)
        return
    if not identity.can(Permission.TENANT_READ):
        await socket.reject(CLOSE_FORBIDDEN)
        return
    await socket.accept()
    with log_context(tenant_id=identity.tenant_id, user_id=identity.user_id):
        session = _EventsSession(socket, platform, identity)
        await session.run()


class _EventsSession:
    def __init__(self, socket: Socket, platform: Platform, identity: Identity) -> None:
        self.socket = socket
        self.platform = platform
        self.identity = identity
        self.prefix = tenant_topic(identity.tenant_id, "")
        self.patterns: list[str] = []
        self.forwarder: asyncio.Task[None] | None = None  # replaced on every subscribe
        self.subscription: Any = None

    async def run(self) -> None:
        reader = asyncio.create_task(self._read())
        checker = asyncio.create_task(self._recheck())
        try:
            done, _pending = await asyncio.wait({reader, checker},
                                                return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()
        except SocketClosed:
            pass
        finally:
            tasks: list[asyncio.Task[None] | None] = [reader, checker, self.forwarder]
            for task in tasks:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, SocketClosed, Exception):
                        await task
            if self.subscription is not None:
                await self.subscription.close()
            await self.socket.close()

    async def _read(self) -> None:
        while True:
            try:
                message = await self.socket.receive_json()
            except ValueError as exc:
                await self.socket.send_json({"type": "error", "message": str(exc)})
                continue
            kind = message.get("type")
            if kind == "ping":
                await self.socket.send_json({"type": "pong"})
            elif kind == "subscribe":
                await self._subscribe(message.get("topics"))
            else:
                await self.socket.send_json(
                    {"type": "error", "message": f"unknown message type {kind!r}"})

    async def _subscribe(self, topics: Any) -> None:
        if (not isinstance(topics, list) or not topics
                or not all(isinstance(t, str) and _RELATIVE_PATTERN.match(t) for t in topics)):
            await self.socket.send_json({"type": "error", "message":
                "topics must be a non-empty list of names like 'interaction.*'"})
            return
        wanted = sorted(set(self.patterns) | set(topics))
        if len(wanted) > MAX_PATTERNS:
            await self.socket.send_json(
                {"type": "error", "message": f"at most {MAX_PATTERNS} topics per socket"})
            return
        new_subscription = await self.platform.bus.subscribe(
            patterns=[self.prefix + t for t in wanted])
        old_subscription, old_forwarder = self.subscription, self.forwarder
        self.subscription, self.patterns = new_subscription, wanted
        self.forwarder = asyncio.create_task(self._forward(new_subscription))
        if old_forwarder is not None:
            old_forwarder.cancel()
        if old_subscription is not None:
            await old_subscription.close()
        await self.socket.send_json({"type": "subscribed", "topics": wanted})

    async def _forward(self, subscription: Any) -> None:
        from kefu.platform.events.api import SubscriptionLost

        try:
            async for event in subscription:
                await self.socket.send_json({
                    "type": "event", "topic": event.topic[len(self.prefix):],
                    "id": event.id, "data": event.data,
                })
        except SubscriptionLost:
            # The client fell too far behind; it must reload its view, so say so and close.
            log.warning("realtime socket fell behind; closing")
            await self.socket.close(CLOSE_OVERLOADED, "too many events pending; reconnect")

    async def _recheck(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            current = await asyncio.to_thread(resolve_socket_identity, self.platform, self.socket)
            if current is None or current.tenant_id != self.identity.tenant_id:
                await self.socket.close(CLOSE_UNAUTHORIZED, "logged out")
                return


__all__ = ["CLOSE_BAD_MESSAGE", "events_socket", "tenant_topic"]
