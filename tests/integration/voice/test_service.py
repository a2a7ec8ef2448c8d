"""The voice runtime service as `kefu runtime` runs it: off by default; with `sip.enabled` it
listens on the settings' address and port and answers there; it stops with the host."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from kefu.platform.context import Platform
from kefu.platform.voice.host import run_voice
from tests.integration.voice.conftest import free_ports


def options(port: int) -> bytes:
    return (f"OPTIONS sip:kefu@127.0.0.1:{port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKsvc1\r\n"
            "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:kefu@127.0.0.1>\r\n"
            "Call-ID: svc1@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


async def ask(port: int) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_sendto(sock, options(port), ("127.0.0.1", port))
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 65535), 1.0)
        except TimeoutError:
            return None


def run(platform: Platform, port: int, attempts: int) -> tuple[bytes | None, bool]:
    async def scenario() -> tuple[bytes | None, bool]:
        stopping = asyncio.Event()
        service = asyncio.ensure_future(run_voice(platform, stopping))
        reply = None
        for _ in range(attempts):  # the service binds in the background
            reply = await ask(port)
            if reply is not None or service.done():
                break
        stopping.set()
        await asyncio.wait_for(service, 10)
        return reply, service.done()

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_voice_is_off_unless_enabled(factory: Any) -> None:
    port = free_ports(2)
    platform = Platform(factory.platform.settings.with_overrides(
        **{"sip.port": port, "sip.bind": "127.0.0.1"}))
    try:
        reply, stopped = run(platform, port, attempts=3)
    finally:
        platform.engine.dispose()
    assert reply is None
    assert stopped


def test_enabled_service_answers_on_the_configured_port(factory: Any) -> None:
    port = free_ports(2)
    rtp = free_ports(20)
    platform = Platform(factory.platform.settings.with_overrides(**{
        "sip.enabled": True, "sip.port": port, "sip.bind": "127.0.0.1",
        "rtp.port_min": rtp, "rtp.port_max": rtp + 19}))
    try:
        reply, stopped = run(platform, port, attempts=20)
    finally:
        platform.engine.dispose()
    assert reply is not None
    assert reply.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"Allow: INVITE, ACK, BYE, CANCEL" in reply
    assert stopped
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))  # the port is free again after the stop
