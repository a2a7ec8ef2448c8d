"""kefu's user agent against real SIP phones (baresip) on 127.0.0.1: a caller hears a prompt
and presses a key (RFC 4733); a registered agent phone (digest auth) is called and bridged;
each side hears the other's tone; the stereo recording keeps them apart; hold; hangup."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import numpy as np
import pytest

from kefu.channels.voice.sip.auth import AuthLimiter, DigestServer, password_lookup
from kefu.channels.voice.sip.message import parse_message
from kefu.channels.voice.sip.registrar import Registrar
from kefu.channels.voice.ua import Call, DtmfDigit, UserAgent
from tests.integration.voice.baresip import peak_frequency, read_wav, rms
from tests.integration.voice.conftest import Phones, free_ports

pytestmark = pytest.mark.slow

AGENT_PASSWORD = "s3cret-8001"


def tone(frequency: float, seconds: float) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (8000 * np.sin(2 * np.pi * frequency * t)).astype("<i2").tobytes()


async def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def make_ua(on_call, *, limiter: AuthLimiter | None = None) -> UserAgent:  # type: ignore[no-untyped-def]
    registrar = Registrar(DigestServer("kefu.test", b"test-secret"),
                          password_lookup("kefu.test", {"8001": AGENT_PASSWORD}),
                          limiter=limiter)
    rtp = free_ports(40)
    return UserAgent(host="127.0.0.1", port=free_ports(2), rtp_ports=(rtp, rtp + 40),
                     registrar=registrar, on_call=on_call)


def test_caller_hears_prompt_presses_key_and_is_bridged_to_registered_agent(
        phones: Phones, tmp_path: Path) -> None:
    recording = tmp_path / "recordings" / "call.wav"
    seen: dict[str, object] = {}

    async def on_call(call: Call) -> None:
        await call.answer()
        seen["called"] = call.called
        await call.play(tone(600, 2.0))
        digit = await call.next_digit(15)
        seen["digit"] = digit
        binding = call.ua.registrar.find("8001", call.ua._now())  # type: ignore[union-attr]
        assert binding is not None
        agent = await call.ua.dial(binding.contact, binding.source, caller=call.caller)
        seen["agent_call"] = agent
        bridge = call.ua.bridge({"customer": call, "agent": agent}, recording=str(recording),
                                customer="customer")
        agent.on_hold_change = lambda c, held: seen.setdefault("holds", []).append(held)
        await call.ended.wait()
        call.ua.unbridge(bridge)
        await agent.hangup("customer hung up")

    async def scenario() -> None:
        ua = make_ua(on_call)
        free_rtp_ports = ua.ports.available
        await ua.start()
        try:
            agent = await in_thread(lambda: phones.start(
                "agent", tone_hz=1000,
                account=f"<sip:8001@127.0.0.1:{ua.port}>;auth_pass={AGENT_PASSWORD};"
                        "answermode=auto;regint=600"))
            assert ua.registrar is not None
            for _ in range(200):  # it registers before our ctrl_tcp connection is up
                if ua.registrar.find("8001", ua._now()):
                    break
                await asyncio.sleep(0.05)
            binding = ua.registrar.find("8001", ua._now())
            assert binding is not None
            assert binding.source[1] == agent.sip_port
            caller = await in_thread(lambda: phones.start(
                "caller", tone_hz=440, account="<sip:alice@127.0.0.1:{port}>;regint=0"))
            caller.command("dial", f"sip:+442071234567@127.0.0.1:{ua.port}")
            await in_thread(caller.wait_event, "CALL_ESTABLISHED")
            await asyncio.sleep(2.6)  # the 2 s prompt plays out
            caller.command("sndcode", "5")
            await in_thread(agent.wait_event, "CALL_ESTABLISHED")
            await asyncio.sleep(3.0)  # tones flow both ways through the bridge
            agent.command("hold")  # a re-INVITE with a=sendonly
            await asyncio.sleep(1.5)
            agent.command("resume")
            await asyncio.sleep(2.5)
            caller.command("hangup")
            await in_thread(caller.wait_event, "CALL_CLOSED")
            await in_thread(agent.wait_event, "CALL_CLOSED")
            for _ in range(100):
                if not ua.calls:
                    break
                await asyncio.sleep(0.05)
            assert ua.calls == {}
            assert ua.ports.available == free_rtp_ports  # every RTP port is back
            seen["caller_heard"] = caller.heard()[-1]
            seen["agent_heard"] = agent.heard()[-1]
        finally:
            await ua.stop()

    asyncio.run(asyncio.wait_for(scenario(), 120))

    assert seen["called"] == "+442071234567"
    assert seen["digit"] == DtmfDigit("5", "rfc4733")
    assert seen["holds"] == [True, False]

    heard, rate, _ = read_wav(seen["caller_heard"])  # type: ignore[arg-type]
    # The prompt: 2 s of 600 Hz at the start of the call, clearly not silence.
    prompt = heard[int(0.3 * rate):int(1.7 * rate)]
    assert rms(prompt) > 2000
    assert abs(peak_frequency(prompt, rate) - 600) < 15
    # Then the agent's 1000 Hz tone through the bridge.
    bridged = heard[-int(2.0 * rate):-int(0.3 * rate)]
    assert rms(bridged) > 2000
    assert abs(peak_frequency(bridged, rate) - 1000) < 15
    agent_heard, rate, _ = read_wav(seen["agent_heard"])  # type: ignore[arg-type]
    segment = agent_heard[int(0.5 * rate):int(2.5 * rate)]
    assert rms(segment) > 2000
    assert abs(peak_frequency(segment, rate) - 440) < 15

    stereo, rate, channels = read_wav(recording)
    assert channels == 2
    assert rate == 8000
    assert len(stereo) / rate > 4
    middle = stereo[int(0.5 * rate):int(2.5 * rate)]
    assert abs(peak_frequency(middle[:, 0], rate) - 440) < 15  # customer left
    assert abs(peak_frequency(middle[:, 1], rate) - 1000) < 15  # agent right
    # Each channel holds only its own side: the other tone is far weaker there.
    left_spectrum = np.abs(np.fft.rfft(middle[:, 0]))
    bin_1000 = int(1000 * len(middle) / rate)
    assert left_spectrum[bin_1000 - 2:bin_1000 + 3].max() < left_spectrum.max() / 50


def udp_exchange(port: int, data: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def register(port: int, user: str, branch: str, authorization: str | None = None) -> bytes:
    lines = [f"REGISTER sip:127.0.0.1:{port} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch}",
             f"From: <sip:{user}@kefu.test>;tag=t{branch}", f"To: <sip:{user}@kefu.test>",
             f"Call-ID: reg-{branch}", "CSeq: 1 REGISTER",
             "Contact: <sip:x@127.0.0.1:9>", "Max-Forwards: 70"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode()


def test_malformed_sip_gets_400_and_wrong_passwords_get_the_source_banned() -> None:
    from kefu.channels.voice.sip.auth import answer_challenge

    async def scenario() -> None:
        ua = make_ua(None, limiter=AuthLimiter(max_failures=3, window=60, ban_seconds=60))
        await ua.start()
        try:
            bad = register(ua.port, "8001", "bad1").replace(b"CSeq: 1 REGISTER",
                                                            b"CSeq: x REGISTER")
            reply = await in_thread(udp_exchange, ua.port, bad)
            assert reply is not None
            # the 400 echoes the request's (bad) CSeq, so it is read as text here
            assert reply.startswith(b"SIP/2.0 400 Bad Request\r\n")
            assert b"Call-ID: reg-bad1\r\n" in reply
            assert b"is not a sequence number" in reply
            assert await in_thread(udp_exchange, ua.port, b"\x00garbage\r\n\r\n", 0.5) is None
            options = (register(ua.port, "x", "opt").replace(b"REGISTER", b"OPTIONS"))
            reply = await in_thread(udp_exchange, ua.port, options)
            assert reply is not None
            assert parse_message(reply).status == 200

            challenges: list[int] = []
            for i in range(4):
                first = await in_thread(udp_exchange, ua.port, register(ua.port, "8001",
                                                                        f"u{i}"))
                if first is None:
                    challenges.append(0)
                    continue
                challenge = parse_message(first).headers.get("WWW-Authenticate")
                auth = answer_challenge(challenge or "", method="REGISTER",
                                        uri=f"sip:127.0.0.1:{ua.port}", username="8001",
                                        password="wrong")
                reply = await in_thread(udp_exchange, ua.port,
                                        register(ua.port, "8001", f"w{i}", auth), 0.7)
                challenges.append(parse_message(reply).status if reply else 0)  # type: ignore[union-attr]
            # two wrong answers are challenged again; the third bans: no answer at all
            assert challenges == [401, 401, 0, 0]
        finally:
            await ua.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
