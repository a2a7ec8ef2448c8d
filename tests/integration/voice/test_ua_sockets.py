"""The user agent over real UDP sockets with a scripted peer (no phone): a peer that vanishes
without a BYE is hung up after the media timeout; an RTP port another program holds is skipped
and the SDP answer names the port actually used; a CANCEL before the answer ends with 487."""

from __future__ import annotations

import asyncio
import socket

import pytest

from kefu.channels.voice import ua as ua_module
from kefu.channels.voice.sdp import parse_sdp
from kefu.channels.voice.sip.message import Response, parse_message
from kefu.channels.voice.ua import Call, UserAgent
from tests.integration.voice.conftest import free_ports


def invite(port: int, branch: str, method: str = "INVITE") -> bytes:
    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    body = sdp if method == "INVITE" else b""
    head = (f"{method} sip:+442071234567@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch};rport\r\n"
            f"From: <sip:+447700900001@127.0.0.1>;tag=f{branch}\r\n"
            f"To: <sip:+442071234567@127.0.0.1>\r\nCall-ID: {branch}@test\r\n"
            f"CSeq: 1 {method}\r\nContact: <sip:peer@127.0.0.1:9>\r\n"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def receive(sock: socket.socket, timeout: float = 5.0) -> Response | object:
    loop = asyncio.get_running_loop()
    data = await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)
    return parse_message(data)


async def final(sock: socket.socket) -> Response:
    while True:
        message = await receive(sock)
        if isinstance(message, Response) and message.status >= 200:
            return message


def peer() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def ack_for(ok: Response, port: int, branch: str) -> bytes:
    return (f"ACK sip:kefu@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch}ack\r\n"
            f"From: <sip:+447700900001@127.0.0.1>;tag=f{branch}\r\n"
            f"To: {ok.headers.get('To')}\r\nCall-ID: {branch}@test\r\n"
            f"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()


def test_silent_peer_is_hung_up_and_a_taken_rtp_port_is_skipped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ua_module, "WATCHDOG_SECONDS", 0.2)
    ended: list[str] = []

    async def on_call(call: Call) -> None:
        await call.answer()
        await call.ended.wait()
        ended.append(call.end_reason)

    async def scenario() -> None:
        rtp = free_ports(10)
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        first_port = rtp + (rtp % 2)
        blocker.bind(("127.0.0.1", first_port))  # another program holds the first RTP port
        agent = UserAgent(host="127.0.0.1", port=free_ports(2), rtp_ports=(rtp, rtp + 10),
                          on_call=on_call, tcp=False)
        agent.media_timeout = 1.0
        await agent.start()
        sock = peer()
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendto(sock, invite(agent.port, "silent"), ("127.0.0.1", agent.port))
            ok = await final(sock)
            assert ok.status == 200
            media = parse_sdp(ok.body).media[0]
            assert media.port != first_port
            assert media.port % 2 == 0
            await loop.sock_sendto(sock, ack_for(ok, agent.port, "silent"),
                                   ("127.0.0.1", agent.port))
            bye = await receive(sock, timeout=10)  # no RTP from us: kefu gives up with a BYE
            assert getattr(bye, "method", None) == "BYE"
            for _ in range(100):
                if ended:
                    break
                await asyncio.sleep(0.05)
            assert ended == ["media timeout"]
        finally:
            sock.close()
            blocker.close()
            await agent.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_cancel_before_the_answer_ends_the_call_with_487() -> None:
    reasons: list[str] = []

    async def on_call(call: Call) -> None:
        await call.ringing()
        await call.ended.wait()  # never answers
        reasons.append(call.end_reason)

    async def scenario() -> None:
        rtp = free_ports(10)
        agent = UserAgent(host="127.0.0.1", port=free_ports(2), rtp_ports=(rtp, rtp + 10),
                          on_call=on_call, tcp=False)
        await agent.start()
        sock = peer()
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendto(sock, invite(agent.port, "c1"), ("127.0.0.1", agent.port))
            ringing = None
            while ringing is None:
                message = await receive(sock)
                if isinstance(message, Response) and message.status == 180:
                    ringing = message
            await loop.sock_sendto(sock, invite(agent.port, "c1", "CANCEL"),
                                   ("127.0.0.1", agent.port))
            answers: set[tuple[int, str]] = set()
            while not {(200, "CANCEL"), (487, "INVITE")} <= answers:  # bounded by receive()
                message = await receive(sock)
                if isinstance(message, Response):
                    answers.add((message.status, message.cseq.method))
            assert (200, "INVITE") not in answers
            for _ in range(100):
                if reasons:
                    break
                await asyncio.sleep(0.05)
            assert reasons == ["cancelled"]
            assert agent.calls == {}
        finally:
            sock.close()
            await agent.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
