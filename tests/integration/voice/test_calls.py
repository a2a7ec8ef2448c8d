"""Calls through kefu end to end, with real SIP phones (baresip) on 127.0.0.1: a caller dials
a tenant's number, hears the flow's prompts, presses a key (RFC 4733), is queued and connected
to the agent whose phone registered with digest auth; each hears the other's tone; the stereo
recording keeps them apart; after hangup the interaction is complete in the database."""

from __future__ import annotations

import asyncio
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from kefu.platform.agents.models import Agent, AgentSkill
from kefu.platform.configs.services import ConfigService
from kefu.platform.context import Platform
from kefu.platform.interactions.models import Interaction
from kefu.platform.routing.service import RoutingService
from kefu.platform.voice.host import VoiceHost, set_sip_password
from kefu.platform.voice.models import CallRecording
from kefu.runtime.acd.agent import AgentState
from kefu.runtime.lifecycle import Outcome, State
from tests.integration.voice.baresip import peak_frequency, read_wav, rms, tone_wav
from tests.integration.voice.conftest import Phones, free_ports

pytestmark = pytest.mark.slow

CONFIG = """\
tenant {SLUG} {
  name "{NAME}"
  locales en
  timezone "UTC"
}

speech {
  tts espeak
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

channel voice "{DID}" -> main

flow main "Phone" {
  on noinput 3 -> goodbye
  on nomatch 3 -> goodbye
  play welcome "{WELCOME}"
  menu main_menu {
    prompt "Press one for an agent."
    option 1, "Agent" -> operator
    timeout 10s
  }
  enqueue operator general {
    on timeout -> goodbye
  }
  hangup goodbye "Goodbye."
}
"""


def deploy(factory: Any, tenant: Any, did: str, welcome: Path) -> None:
    source = (CONFIG.replace("{SLUG}", tenant.slug.replace("-", "_"))
              .replace("{NAME}", tenant.name).replace("{DID}", did)
              .replace("{WELCOME}", str(welcome)))
    with factory.session(tenant) as db:
        service = ConfigService(db)
        version = service.store({"tenant.kefu": source}, "", None)
        service.deploy(version.id)
        db.commit()
    factory.platform.configs.invalidate(tenant.id)


def ready_agent(platform: Platform, tenant: Any, sip_user: str, password: str, *,
                extension: str = "8001") -> uuid.UUID:
    with platform.session(tenant.id) as db:
        agent = Agent(display_name=sip_user, extension=extension,
                      skills=[AgentSkill(skill="billing", level=3)])
        set_sip_password(agent, sip_user, password, platform.settings["sip.realm"])
        db.add(agent)
        db.flush()
        RoutingService(platform, db, tenant.id).presence(agent, AgentState.READY)
        db.commit()
        return agent.id


def new_did() -> str:
    return "+4420" + "".join(secrets.choice("0123456789") for _ in range(8))


async def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def wait_for(check, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        value = await in_thread(check)
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_host(platform: Platform) -> VoiceHost:
    rtp = free_ports(40)
    return VoiceHost(platform, host="127.0.0.1", port=free_ports(2), rtp_ports=(rtp, rtp + 40))


@pytest.fixture
def voice_platform(factory: Any) -> Iterator[Platform]:
    """A platform of the runtime process hosting the calls: its own event bus connections,
    which live on the test's event loop (closed by the test before the loop ends)."""
    platform = Platform(factory.platform.settings)
    yield platform
    platform.engine.dispose()


async def stop(host: VoiceHost, platform: Platform) -> None:
    await host.stop()
    await platform.bus.aclose()


def test_call_hears_prompt_presses_key_is_queued_and_talks_to_the_agent(
        factory: Any, voice_platform: Platform, phones: Phones, tmp_path: Path) -> None:
    platform = voice_platform
    tenant = factory.tenant(name="Acme Gas")
    did = new_did()
    welcome = tone_wav(tmp_path / "welcome.wav", 600, 1.5)
    deploy(factory, tenant, did, welcome)
    sip_user = f"ann-{secrets.token_hex(3)}"
    password = "horse-battery-9"
    agent_id = ready_agent(platform, tenant, sip_user, password)
    found: dict[str, Any] = {}

    async def scenario() -> None:
        host = start_host(platform)
        await host.start()
        port = host.ua.port
        try:
            agent = await in_thread(lambda: phones.start(
                "agent", tone_hz=1000,
                account=f"<sip:{sip_user}@127.0.0.1:{port}>;auth_pass={password};"
                        "answermode=auto;regint=600"))
            await wait_for(lambda: host.registrar.bindings.get(sip_user),
                           "the agent's phone to register")
            caller = await in_thread(lambda: phones.start(
                "caller", tone_hz=440, account="<sip:+447700900123@127.0.0.1:{port}>;regint=0"))
            caller.command("dial", f"sip:{did}@127.0.0.1:{port}")
            await in_thread(caller.wait_event, "CALL_ESTABLISHED")
            await asyncio.sleep(4.0)  # the tone, then "Press one for an agent." (espeak)
            caller.command("sndcode", "1")
            await in_thread(agent.wait_event, "CALL_ESTABLISHED")
            await asyncio.sleep(3.0)  # both tones through the bridge
            agent.command("hold")  # the customer hears music meanwhile
            await asyncio.sleep(3.0)
            agent.command("resume")
            await asyncio.sleep(3.0)
            caller.command("hangup")
            await in_thread(caller.wait_event, "CALL_CLOSED")
            await in_thread(agent.wait_event, "CALL_CLOSED")

            def ended() -> Any:
                with platform.session(tenant.id) as db:
                    row = db.scalar(sa.select(Interaction))
                    recording = db.scalar(sa.select(CallRecording))
                    if row is not None and row.state == State.ENDED and recording is not None:
                        db.expunge_all()
                        return row, recording
                    return None

            found["interaction"], found["recording"] = await wait_for(
                ended, "the interaction to end with its recording")
            assert host.ua.calls == {}
            found["caller_heard"] = caller.heard()[-1]
            found["agent_heard"] = agent.heard()[-1]
        finally:
            await stop(host, platform)

    asyncio.run(asyncio.wait_for(scenario(), 150))

    interaction = found["interaction"]
    assert interaction.channel.value == "voice"
    assert interaction.from_address == "+447700900123"
    assert interaction.to_address == did
    assert interaction.flow == "main"
    assert interaction.queue == "general"
    assert interaction.agent_id == agent_id
    assert interaction.outcome == Outcome.HANDLED
    assert interaction.answered_at is not None
    assert interaction.ended_at is not None

    heard, rate, _ = read_wav(found["caller_heard"])
    tone_part = heard[int(0.3 * rate):int(1.3 * rate)]  # the play step: 1.5 s of 600 Hz
    assert rms(tone_part) > 2000
    assert abs(peak_frequency(tone_part, rate) - 600) < 15
    speech = heard[int(1.6 * rate):int(3.2 * rate)]  # espeak's menu prompt: not silence
    assert rms(speech) > 300
    assert abs(peak_frequency(speech, rate) - 600) > 30  # and not the tone
    bridged = heard[-int(2.0 * rate):-int(0.3 * rate)]  # after the hold: the agent again
    assert abs(peak_frequency(bridged, rate) - 1000) < 15
    held = heard[-int(5.3 * rate):-int(3.7 * rate)]  # in the hold: the music's two notes
    spectrum = np.abs(np.fft.rfft(held * np.hanning(len(held))))
    freqs = np.fft.rfftfreq(len(held), 1 / rate)
    top = sorted(freqs[np.argsort(spectrum)[-40:]])
    assert any(abs(f - 523) < 10 for f in top)
    assert any(abs(f - 659) < 10 for f in top)
    assert not any(abs(f - 1000) < 10 for f in top)
    agent_heard, rate, _ = read_wav(found["agent_heard"])
    segment = agent_heard[int(0.5 * rate):int(2.0 * rate)]
    assert rms(segment) > 2000
    assert abs(peak_frequency(segment, rate) - 440) < 15

    recording = found["recording"]
    assert recording.kind == "call"
    assert recording.interaction_id == interaction.id
    assert interaction.recording_ref == recording.path
    path = Path(platform.settings["recordings_dir"]) / recording.path
    stereo, rate, channels = read_wav(path)
    assert channels == 2
    assert recording.seconds > 2
    middle = stereo[int(0.5 * rate):int(2.0 * rate)]
    assert abs(peak_frequency(middle[:, 0], rate) - 440) < 15  # customer left
    assert abs(peak_frequency(middle[:, 1], rate) - 1000) < 15  # agent right
    left = np.abs(np.fft.rfft(middle[:, 0]))
    k = int(1000 * len(middle) / rate)
    assert left[k - 2:k + 3].max() < left.max() / 50


def invite(did: str, port: int, branch: str) -> bytes:
    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=audio 9 RTP/AVP 0\r\n")
    head = (f"INVITE sip:{did}@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch}\r\n"
            f"From: <sip:+447700900999@127.0.0.1>;tag={branch}\r\nTo: <sip:{did}@127.0.0.1>\r\n"
            f"Call-ID: {branch}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:9>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n")
    return head.encode() + sdp


def final_status(port: int, data: bytes) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(data, ("127.0.0.1", port))
        while True:
            status = int(s.recv(65535).split(b" ", 2)[1])
            if status >= 200:
                return status


def test_a_number_reaches_only_its_own_tenant(factory: Any, voice_platform: Platform,
                                               tmp_path: Path) -> None:
    """Tenant B's number starts a call in tenant B; a number nobody declared gets 404."""
    platform = voice_platform
    tenant_a = factory.tenant(name="Tenant A")
    tenant_b = factory.tenant(name="Tenant B")
    welcome = tone_wav(tmp_path / "welcome.wav", 600, 0.5)
    did_a, did_b = new_did(), new_did()
    deploy(factory, tenant_a, did_a, welcome)
    deploy(factory, tenant_b, did_b, welcome)

    async def scenario() -> None:
        host = start_host(platform)
        await host.start()
        try:
            assert await in_thread(final_status, host.ua.port,
                                   invite(new_did(), host.ua.port, "nobody1")) == 404
            assert await in_thread(final_status, host.ua.port,
                                   invite(did_b.lstrip("+"), host.ua.port, "tob1")) == 200
        finally:
            await stop(host, platform)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    with platform.session(tenant_a.id) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0
    with platform.session(tenant_b.id) as db:
        (row,) = db.scalars(sa.select(Interaction)).all()
        assert row.to_address == did_b
        assert row.from_address == "+447700900999"


def test_agent_blind_transfers_the_caller_to_another_agent(
        factory: Any, voice_platform: Platform, phones: Phones, tmp_path: Path) -> None:
    """The answering agent's phone transfers the call (REFER) to the other agent by SIP user:
    the caller then talks to the second agent, whose id the interaction ends with."""
    platform = voice_platform
    tenant = factory.tenant(name="Acme Water")
    did = new_did()
    deploy(factory, tenant, did, tone_wav(tmp_path / "welcome.wav", 600, 0.5))
    tag = secrets.token_hex(3)
    users = {f"ann-{tag}": 1000.0, f"bob-{tag}": 1500.0}
    password = "horse-battery-9"
    ids = {user: ready_agent(platform, tenant, user, password, extension=str(8001 + i))
           for i, user in enumerate(users)}
    found: dict[str, Any] = {}

    async def scenario() -> None:
        host = start_host(platform)
        await host.start()
        port = host.ua.port
        try:
            agents = {}
            for user, hz in users.items():
                agents[user] = await in_thread(lambda user=user, hz=hz: phones.start(
                    user, tone_hz=hz,
                    account=f"<sip:{user}@127.0.0.1:{port}>;auth_pass={password};"
                            "answermode=auto;regint=600"))
                await wait_for(lambda user=user: host.registrar.bindings.get(user),
                               f"{user}'s phone to register")
            caller = await in_thread(lambda: phones.start(
                "caller", tone_hz=440, account="<sip:+447700900124@127.0.0.1:{port}>;regint=0"))
            caller.command("dial", f"sip:{did}@127.0.0.1:{port}")
            await in_thread(caller.wait_event, "CALL_ESTABLISHED")
            await asyncio.sleep(3.5)
            caller.command("sndcode", "1")

            def answered() -> Any:
                with platform.session(tenant.id) as db:
                    row = db.scalar(sa.select(Interaction))
                    return row.agent_id if row is not None and row.state == State.CONNECTED \
                        else None

            first_id = await wait_for(answered, "an agent to answer")
            first = next(u for u, i in ids.items() if i == first_id)
            second = next(u for u in users if u != first)
            await asyncio.sleep(2.0)
            agents[first].command("transfer", f"sip:{second}@127.0.0.1:{port}")
            await in_thread(agents[first].wait_event, "CALL_CLOSED")
            await asyncio.sleep(3.0)
            caller.command("hangup")
            await in_thread(caller.wait_event, "CALL_CLOSED")

            def ended() -> Any:
                with platform.session(tenant.id) as db:
                    row = db.scalar(sa.select(Interaction))
                    if row is not None and row.state == State.ENDED:
                        db.expunge(row)
                        return row
                    return None

            found["interaction"] = await wait_for(ended, "the interaction to end")
            found["second"] = ids[second]
            found["second_hz"] = users[second]
            found["caller_heard"] = caller.heard()[-1]
        finally:
            await stop(host, platform)

    asyncio.run(asyncio.wait_for(scenario(), 150))

    interaction = found["interaction"]
    assert interaction.agent_id == found["second"]
    assert interaction.outcome == Outcome.HANDLED
    heard, rate, _ = read_wav(found["caller_heard"])
    after = heard[-int(2.5 * rate):-int(0.3 * rate)]
    assert rms(after) > 2000
    assert abs(peak_frequency(after, rate) - found["second_hz"]) < 15
