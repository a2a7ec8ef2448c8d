"""Thin asyncio SIP transports: UDP datagrams and TCP streams on one address.

Both hand raw message bytes to one callback, ``on_message(data, source, reliable)``; the
user agent parses them (:mod:`.sip.message`). Responses and requests go out with
:meth:`SipTransport.send`: over the TCP connection the peer opened when there is one (a phone
registered over TCP is reached on its own connection), else over UDP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

from kefu.channels.voice.sip.message import SipParseError, StreamFramer

log = logging.getLogger(__name__)

Addr = tuple[str, int]
OnMessage = Callable[[bytes, Addr, bool], None]
#: An idle TCP connection is closed after this long (phones re-register well within it).
TCP_IDLE_SECONDS = 3600.0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_message: OnMessage) -> None:
        self.on_message = on_message
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip(b"\r\n\x00") == b"":
            return  # keep-alive
        self.on_message(data, (addr[0], addr[1]), False)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP: %s", exc)


class SipTransport:
    """UDP and TCP listeners on ``host:port``.

    Args:
        host: the address to bind.
        port: the port (0 picks a free one; see :attr:`port` after :meth:`start`).
        on_message: called with each message's bytes, its source and whether it came on TCP.
    """

    def __init__(self, host: str, port: int, on_message: OnMessage, *,
                 tcp: bool = True) -> None:
        self.host = host
        self.port = port
        self.on_message = on_message
        self.with_tcp = tcp
        self._udp: _Udp | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[Addr, asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Udp(self.on_message), local_addr=(self.host, self.port))
        self._udp = protocol
        self.port = transport.get_extra_info("sockname")[1]
        if self.with_tcp:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)

    def send(self, data: bytes, address: Addr, *, reliable: bool = False) -> None:
        writer = self._connections.get(address)
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        if reliable:
            log.info("SIP TCP connection to %s:%s is gone; sending over UDP", *address)
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.sendto(data, address)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source: Addr = (peer[0], peer[1])
        self._connections[source] = writer
        framer = StreamFramer()
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), TCP_IDLE_SECONDS)
                if not data:
                    break
                try:
                    messages = framer.feed(data)
                except SipParseError as exc:
                    log.warning("SIP TCP from %s:%s closed: %s", *source, exc)
                    break
                for message in messages:
                    self.on_message(message, source, True)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            if self._connections.get(source) is writer:
                del self._connections[source]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
