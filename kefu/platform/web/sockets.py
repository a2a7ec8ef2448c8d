"""A thin helper over ASGI websocket messages, and the registry of websocket routes.

Features add routes with :func:`websocket_route`; the ASGI app dispatches by exact path. The
protocol work (framing, ping/pong) is uvicorn's; handlers see JSON messages.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Application close codes (RFC 6455 §7.4.2 leaves 4000-4999 to applications).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_MESSAGE = 4400
CLOSE_OVERLOADED = 4429
MAX_MESSAGE_BYTES = 64 * 1024


class SocketClosed(Exception):
    """The peer went away."""


class Socket:
    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                        for k, v in scope.get("headers", [])}
        self.closed = False

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        jar.load(self.headers.get("cookie", ""))
        return {key: morsel.value for key, morsel in jar.items()}

    @property
    def client_addr(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    def same_origin(self) -> bool:
        """Browsers send Origin on websocket handshakes; a page of another site must not ride
        on our session cookie (cross-site websocket hijacking). Clients without Origin
        (machines with bearer tokens) are not browsers and pass."""
        origin = self.headers.get("origin")
        if origin is None:
            return True
        host = self.headers.get("host", "")
        return origin.split("://", 1)[-1].rstrip("/") == host

    async def handshake(self) -> bool:
        message = await self._receive()
        return message["type"] == "websocket.connect"

    async def accept(self) -> None:
        await self._send({"type": "websocket.accept"})

    async def reject(self, code: int = CLOSE_FORBIDDEN) -> None:
        """Refuse before accepting: the client sees an HTTP 403 handshake response."""
        await self._send({"type": "websocket.close", "code": code})
        self.closed = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason[:120]})

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self._send({"type": "websocket.send",
                          "text": json.dumps(payload, ensure_ascii=False)})

    async def receive_json(self) -> dict[str, Any]:
        """The next JSON object from the peer.

        Raises:
            SocketClosed: the peer disconnected.
            ValueError: the message is not a JSON object or is too large (the message says).
        """
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise SocketClosed
        text = message.get("text")
        if text is None:
            raise ValueError("send JSON text frames, not binary")
        if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
            raise ValueError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"message is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("message must be a JSON object")
        return data


SocketHandler = Callable[[Socket, Any], Awaitable[None]]
WEBSOCKET_ROUTES: dict[str, SocketHandler] = {}


def websocket_route(path: str) -> Callable[[SocketHandler], SocketHandler]:
    def register(handler: SocketHandler) -> SocketHandler:
        WEBSOCKET_ROUTES[path] = handler
        return handler

    return register
