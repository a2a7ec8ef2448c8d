"""The voice channel in kefu: calls in, through the tenant's IVR flow and queue, to an agent.

One runtime service, :func:`run_voice` (with ``sip.enabled``), runs a
:class:`~kefu.channels.voice.ua.UserAgent` on ``sip.bind``:``sip.port`` with a registrar for
agents' phones. For every incoming call, :class:`VoiceHost`:

1. finds the tenant by the dialled number (``channel_bindings``, kind ``voice``; the DSL's
   ``channel voice "+44…" -> flow``) — an unknown number gets 404;
2. finds or creates the customer by the caller's number and creates the interaction;
3. answers and runs the channel's flow with the IVR interpreter (:class:`CallFlow`, the
   call's :class:`~kefu.runtime.ports.MediaPort`): prompts (WAV files, or text spoken by the
   tenant's TTS), DTMF collection, voicemail recording, queueing;
4. queues through :class:`~kefu.platform.routing.service.RoutingService`; when the ACD offers
   the call to an agent, kefu calls the agent's registered phone, and on answer accepts the
   offer and bridges the two legs (RTP relayed through kefu), recording both sides as a
   stereo WAV (customer left, agent right) in ``recordings_dir``;
5. on hangup ends the other leg and the interaction (wrap-up or handled).

Database work runs in worker threads (``asyncio.to_thread``) so the media clock on the event
loop never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kefu.channels.voice.media.wav import PromptError, load_prompt
from kefu.channels.voice.sip.auth import AuthLimiter, DigestServer
from kefu.channels.voice.sip.registrar import Registrar
from kefu.channels.voice.ua import Call, CallFailed, UserAgent
from kefu.platform.agents.models import Agent
from kefu.platform.customers.models import Customer, CustomerPhone
from kefu.platform.db import utcnow
from kefu.platform.interactions.lifecycle import InteractionLifecycle
from kefu.platform.interactions.models import Channel, Direction, Interaction
from kefu.platform.messaging.bindings import normalize_address, resolve_address
from kefu.platform.tenancy.scope import cross_tenant
from kefu.platform.voice.models import CallRecording
from kefu.runtime.ivr import actions as a
from kefu.runtime.ivr import events as e
from kefu.runtime.ivr.actions import Mode
from kefu.runtime.ivr.interpreter import Interpreter, InvalidEvent, IvrError
from kefu.runtime.ivr.interpreter import State as IvrState
from kefu.runtime.lifecycle import InvalidTransition, Outcome, State, Trigger

if TYPE_CHECKING:
    from kefu.platform.configs.cache import LoadedConfig
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

#: Seconds between keys before what was typed is taken as the answer.
INTER_DIGIT_SECONDS = 3.0
#: How often a queued call re-reads its interaction (the bus delivers offers at once; this
#: catches one lost while a subscription was re-established).
QUEUE_POLL_SECONDS = 2.0
#: Flow outcomes that are not the interaction's end (the ACD owns it from there).
_ROUTED = ("answered", "returned")
FLOW_OUTCOMES: dict[str, Outcome] = {
    "completed": Outcome.SELF_SERVICE, "transferred": Outcome.TRANSFERRED,
    "voicemail": Outcome.VOICEMAIL, "abandoned": Outcome.ABANDONED,
}


def music_on_hold() -> bytes:
    """Built-in music on hold: a soft two-note chime (C5, E5), 2 s, played in a loop."""
    import numpy as np

    t = np.arange(4000) / 8000
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) * 20)
    notes = [np.sin(2 * np.pi * f * t) * fade for f in (523.25, 659.25)]
    return (3000 * np.concatenate(notes)).astype("<i2").tobytes()


def normalize_did(number: str) -> list[str]:
    """The forms a dialled number is looked up in: as dialled, and with ``+`` when a trunk
    sent it without (``442071234567`` → ``+442071234567``)."""
    plain = normalize_address("voice", number)
    forms = [plain]
    if plain.isdigit():
        forms.append("+" + plain)
    return forms


@dataclass(frozen=True)
class Inbound:
    tenant_id: uuid.UUID
    interaction_id: uuid.UUID
    flow: str | None
    locale: str | None


class VoiceHost:
    """kefu's side of every call in this process."""

    def __init__(self, platform: Platform, *, host: str | None = None, port: int | None = None,
                 rtp_ports: tuple[int, int] | None = None) -> None:
        settings = platform.settings
        self.platform = platform
        self.realm = str(settings["sip.realm"])
        self.recordings_dir = Path(settings["recordings_dir"])
        self.ring_timeout = float(settings["acd.ring_timeout"])
        digest = DigestServer(self.realm, settings.secret_key.encode())
        limiter = AuthLimiter(max_failures=int(settings["sip.auth_max_failures"]),
                              ban_seconds=float(settings["sip.auth_ban_seconds"]))
        self.registrar = Registrar(digest, self._ha1, limiter=limiter)
        bind = host or str(settings["sip.bind"])
        self.ua = UserAgent(
            host=bind, port=settings["sip.port"] if port is None else port,
            public_host=str(settings["sip.public_address"] or bind),
            rtp_ports=rtp_ports or (int(settings["rtp.port_min"]),
                                    int(settings["rtp.port_max"]) + 1),
            registrar=self.registrar, on_call=self.on_call)
        self.ua.rtp_host = str(settings["sip.public_address"] or settings["rtp.bind"])
        self._credentials: dict[tuple[str, str], tuple[float, str | None]] = {}
        self.flows: dict[str, CallFlow] = {}

    async def start(self) -> None:
        await self.ua.start()

    async def stop(self) -> None:
        await self.ua.stop()

    # -- registrar credentials -----------------------------------------------------------
    def _ha1(self, username: str, algorithm: str) -> str | None:
        """The agent's stored HA1 (cached briefly: a REGISTER storm must not hammer the
        database, and this runs on the event loop)."""
        key = (username, algorithm)
        cached = self._credentials.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < 30:
            return cached[1]
        with self.platform.session() as db, cross_tenant(db):
            agent = db.scalar(sa.select(Agent).where(Agent.sip_username == username,
                                                     Agent.is_active.is_(True)))
            value = None
            if agent is not None:
                value = agent.sip_ha1_sha256 if algorithm == "SHA-256" else agent.sip_ha1_md5
        self._credentials[key] = (now, value)
        return value

    # -- calls ---------------------------------------------------------------------------
    async def on_call(self, call: Call) -> None:
        inbound = await asyncio.to_thread(self._open, call)
        if inbound is None:
            log.info("call from %s to %s: no tenant has this number", call.caller, call.called)
            await call.reject(404, "Number Not Found")
            return
        flow = CallFlow(self, call, inbound)
        self.flows[call.id] = flow
        try:
            await flow.run()
        finally:
            self.flows.pop(call.id, None)

    def _open(self, call: Call) -> Inbound | None:
        """Tenant, customer and interaction for a new call (worker thread)."""
        with self.platform.session() as db:
            tenant_id = None
            for did in normalize_did(call.called):
                tenant_id = resolve_address(db, "voice", did)
                if tenant_id is not None:
                    number = did
                    break
            if tenant_id is None:
                return None
        loaded = self.platform.configs.deployed(tenant_id)
        declared = None
        if loaded is not None:
            declared = next((c for c in loaded.config.channels if c.kind == "voice" and
                             normalize_address("voice", c.address) == number), None)
        with self.platform.session(tenant_id) as db:
            caller = normalize_address("voice", call.caller)
            customer = None
            if caller:
                row = db.scalar(sa.select(CustomerPhone).where(
                    CustomerPhone.number == caller).limit(1))
                customer = row.customer if row is not None else None
            if customer is None:
                customer = Customer(name=(caller or "Caller")[:200])
                if caller:
                    customer.phones.append(CustomerPhone(number=caller[:32]))
                db.add(customer)
            customer.last_contact_at = utcnow()
            db.flush()
            interaction = Interaction(
                channel=Channel.VOICE, direction=Direction.INBOUND, customer_id=customer.id,
                from_address=caller[:254] or None, to_address=number[:254],
                external_id=call.invite.call_id[:500],
                config_version_id=loaded.version_id if loaded is not None else None,
                data={"sip": {"call_id": call.invite.call_id, "from": str(call.invite.from_.uri)}})
            db.add(interaction)
            db.flush()
            inbound = Inbound(tenant_id, interaction.id,
                              declared.flow if declared is not None else None,
                              declared.locale if declared is not None else None)
            db.commit()
        return inbound

    def agent_sip_user(self, tenant_id: uuid.UUID, agent_id: str) -> str | None:
        """The SIP user name of the tenant's agent (worker thread)."""
        with self.platform.session(tenant_id) as db:
            agent = db.get(Agent, uuid.UUID(agent_id))
            return agent.sip_username if agent is not None else None


class CallFlow:
    """One call through its tenant's IVR flow, the queue and an agent (the call's MediaPort)."""

    mode = Mode.VOICE

    def __init__(self, host: VoiceHost, call: Call, inbound: Inbound) -> None:
        self.host = host
        self.platform = host.platform
        self.call = call
        self.inbound = inbound
        self.tenant_id = inbound.tenant_id
        self.interaction_id = inbound.interaction_id
        self.events: asyncio.Queue[e.Event] = asyncio.Queue()
        self.interpreter: Interpreter | None = None
        self.loaded: LoadedConfig | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._collecting: a.Collect | None = None
        self._typed = ""
        self._digit_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.agent_call: Call | None = None
        self.outcome: str | None = None
        self._music: asyncio.Task[None] | None = None
        self._bridge: Any = None

    # -- the flow ------------------------------------------------------------------------
    async def run(self) -> None:
        loaded = self.platform.configs.deployed(self.tenant_id)
        flow_id = self.inbound.flow
        if loaded is None or not flow_id:
            log.warning("tenant %s: no flow for voice %s", self.tenant_id, self.call.called)
            await self.call.reject(480, "No Flow")
            await asyncio.to_thread(self._end_interaction, Outcome.FAILED, "no flow")
            return
        self.loaded = loaded
        try:
            self.interpreter = Interpreter(loaded.config, flow_id, mode=Mode.VOICE,
                                           locale=self.inbound.locale)
        except IvrError as exc:
            log.error("tenant %s: flow %s cannot run: %s", self.tenant_id, flow_id, exc)
            await self.call.reject(500)
            return
        await self.call.answer()
        await asyncio.to_thread(self._enter_flow, flow_id, loaded.version)
        watcher = asyncio.ensure_future(self._watch_hangup())
        self.call.session.on_digit = self._digit
        try:
            actions = self.interpreter.start(utcnow(), variables={
                "caller": {"number": self.call.caller}, "channel": "voice"})
            await self._perform(actions)
            while self.interpreter.state is not IvrState.ENDED:
                event = await self.events.get()
                await self._feed(event)
        finally:
            watcher.cancel()
            for handle in self._timers.values():
                handle.cancel()
            for task in list(self._tasks):
                task.cancel()
        if self.outcome == "answered" and self.agent_call is not None:
            await self._talk()
        elif not self.call.ended.is_set():
            await self.call.hangup("flow ended")

    async def _watch_hangup(self) -> None:
        await self.call.ended.wait()
        self.events.put_nowait(e.CallerHungUp())

    async def _feed(self, event: e.Event) -> None:
        assert self.interpreter is not None
        if self.interpreter.state is IvrState.ENDED:
            return
        if isinstance(event, e.CallerHungUp):
            await asyncio.to_thread(self._routing_hang_up)
        try:
            actions = self.interpreter.feed(event, utcnow())
        except InvalidEvent as exc:
            log.debug("call %s: %s", self.call.id, exc)
            return
        await self._perform(actions)

    async def _perform(self, actions: Sequence[a.Action]) -> None:
        for action in actions:
            reply = await self._do(action)
            if reply is not None:
                self.events.put_nowait(reply)

    async def _do(self, action: a.Action) -> e.Event | None:
        if isinstance(action, a.Say):
            self._start(self.say(action.text, action.locale, barge_in=action.barge_in))
        elif isinstance(action, a.Play):
            self._start(self.play(action.audio, barge_in=action.barge_in))
        elif isinstance(action, a.StopPrompts):
            await self.stop_prompts()
        elif isinstance(action, a.Collect):
            self._collect(action)
        elif isinstance(action, a.StartTimer):
            self._timer(action)
        elif isinstance(action, a.Enqueue):
            return await self._enqueue(action)
        elif isinstance(action, a.Transfer):
            ok = await self.transfer(action.number)
            return e.Transferred() if ok else e.TransferFailed("no trunk for external calls")
        elif isinstance(action, a.Record):
            self._start(self._voicemail(action))
        elif isinstance(action, a.Lookup):
            log.warning("call %s: HTTP lookups are not run on voice calls yet", self.call.id)
            return e.LookupResult("error", request_id=action.request_id)
        elif isinstance(action, a.CreateTicket):
            log.warning("call %s: tickets from voice flows are not created yet", self.call.id)
            return e.TicketCreated(None, action.request_id)
        elif isinstance(action, a.Hangup):
            await self.hangup()
        elif isinstance(action, a.Ended):
            self.outcome = action.outcome
            await asyncio.to_thread(self._flow_ended, action)
        return None

    def _start(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- MediaPort -----------------------------------------------------------------------
    async def play(self, audio: str, *, barge_in: bool = True) -> None:
        """Play a WAV prompt: an absolute path, or one relative to ``data_dir/prompts``."""
        del barge_in  # the interpreter decides barge-in; keys always reach it
        path = Path(audio)
        if not path.is_absolute():
            path = self.platform.settings.data_dir / "prompts" / path
        try:
            pcm = await asyncio.to_thread(load_prompt, path)
        except PromptError as exc:
            log.warning("call %s: %s", self.call.id, exc)
            self.events.put_nowait(e.PromptFinished())
            return
        if await self.call.play(pcm):
            self.events.put_nowait(e.PromptFinished())

    async def say(self, text: str, locale: str, *, barge_in: bool = True) -> None:
        """Speak ``text`` with the tenant's TTS (a cached 8 kHz WAV)."""
        from kefu.platform.speech import synthesizer_for

        config = self.loaded.config if self.loaded is not None else None
        try:
            path = await synthesizer_for(self.platform.settings, config).prompt(
                text, locale=locale or "en")
        except Exception as exc:  # a prompt that cannot be spoken must not stop the call
            log.warning("call %s: cannot speak %r: %s", self.call.id, text[:60], exc)
            self.events.put_nowait(e.PromptFinished())
            return
        await self.play(str(path), barge_in=barge_in)

    async def stop_prompts(self) -> None:
        self.call.stop_prompts()

    async def collect(self, *, dtmf: tuple[int, int] | None, speech: bool,
                      phrases: Sequence[str], timeout: float) -> e.Event:
        """Not used: the interpreter's own Collect action drives :meth:`_collect`."""
        raise NotImplementedError

    async def record(self, box: str, *, max_seconds: int, beep: bool) -> str:
        return await self._voicemail(a.Record(box, max_seconds, beep), report=False)

    async def transfer(self, number: str) -> bool:
        """Blind transfer to an external number needs a SIP trunk (not configurable yet)."""
        log.warning("call %s: transfer to %s refused: no trunk is configured", self.call.id,
                    number)
        return False

    async def hangup(self) -> None:
        await self.call.hangup("flow hangup")

    # -- DTMF ----------------------------------------------------------------------------
    def _collect(self, collect: a.Collect) -> None:
        self._collecting = collect if collect.dtmf else None
        self._typed = ""

    def _digit(self, digit: str) -> None:
        collect = self._collecting
        if collect is None or collect.dtmf is None:
            self.events.put_nowait(e.Digits(digit))  # outside a collection: ignored, logged
            return
        low, high = collect.dtmf
        if self._digit_timer is not None:
            self._digit_timer.cancel()
            self._digit_timer = None
        if digit == "#" and len(self._typed) >= low:
            self._deliver()
            return
        self._typed += digit
        if len(self._typed) >= high:
            self._deliver()
        else:
            self._digit_timer = asyncio.get_running_loop().call_later(
                INTER_DIGIT_SECONDS, self._deliver)

    def _deliver(self) -> None:
        typed, self._typed = self._typed, ""
        self._collecting = None
        if typed:
            self.events.put_nowait(e.Digits(typed))

    def _timer(self, action: a.StartTimer) -> None:
        if action.name.startswith("queue:"):
            return  # the ACD measures time in queue (max_wait)
        old = self._timers.pop(action.name, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, (action.due - utcnow()).total_seconds())
        self._timers[action.name] = asyncio.get_running_loop().call_later(
            delay, self.events.put_nowait, e.Timer(action.name))

    # -- voicemail -----------------------------------------------------------------------
    async def _voicemail(self, action: a.Record, *, report: bool = True) -> str:
        relative = Path(str(self.tenant_id)) / f"{self.interaction_id}-voicemail.wav"
        path = self.host.recordings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        frames: list[bytes] = []
        stop = asyncio.Event()
        if action.beep:
            import numpy as np

            t = np.arange(1600) / 8000
            await self.call.play((6000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2").tobytes())

        def tap(frame: bytes | None) -> None:
            frames.append(frame or bytes(320))
            if len(frames) >= action.max_seconds * 50:
                stop.set()

        def key(digit: str) -> None:
            if digit == "#":
                stop.set()

        self.call.session.tap = tap
        self.call.session.on_digit = key
        ended = asyncio.ensure_future(self.call.ended.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        stopped.cancel()
        self.call.session.tap = None
        self.call.session.on_digit = self._digit
        await asyncio.to_thread(self._save_voicemail, path, relative, b"".join(frames))
        if report:
            self.events.put_nowait(e.RecordingDone(str(relative)))
        return str(relative)

    def _save_voicemail(self, path: Path, relative: Path, pcm: bytes) -> None:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(pcm)
        with self.platform.session(self.tenant_id) as db:
            db.add(CallRecording(interaction_id=self.interaction_id, path=str(relative),
                                 seconds=len(pcm) / 16000, kind="voicemail"))
            db.commit()

    # -- the queue and the agent ---------------------------------------------------------
    async def _enqueue(self, action: a.Enqueue) -> e.Event | None:
        subscription = await self.platform.bus.subscribe(
            f"tenant.{self.tenant_id}.interaction.offer",
            f"tenant.{self.tenant_id}.interaction.end")
        status = await asyncio.to_thread(self._routing_enqueue, action)
        if status in ("closed", "failed"):
            await subscription.close()
            return e.NoAgents()
        self._start(self._wait_for_agent(subscription))
        return None

    def _routing_enqueue(self, action: a.Enqueue) -> str:
        from kefu.platform.routing.service import NoRouting, RoutingService, UnknownQueue

        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            assert interaction is not None
            caller = (self.interpreter.variables.get("caller") if self.interpreter else {}) or {}
            data = dict(interaction.data or {})
            if self.interpreter is not None:
                data["flow"] = {"id": self.inbound.flow,
                                "variables": self.interpreter.variables}
            interaction.data = data
            try:
                result = RoutingService(self.platform, db, self.tenant_id).enqueue(
                    interaction, action.queue, priority=action.priority or 0,
                    attrs={"caller": caller, "flow": self.inbound.flow})
            except (UnknownQueue, NoRouting, InvalidTransition) as exc:
                log.warning("call %s: cannot queue for %s: %s", self.call.id, action.queue,
                            exc)
                db.rollback()
                return "failed"
            db.commit()
            return result.status

    def _state(self) -> tuple[State, str | None]:
        with self.platform.session(self.tenant_id) as db:
            row = db.get(Interaction, self.interaction_id)
            assert row is not None
            return State(row.state), str(row.agent_id) if row.agent_id else None

    async def _wait_for_agent(self, subscription: Any) -> None:
        """Ring each agent the ACD offers the call to until one answers."""
        try:
            while not self.call.ended.is_set():
                state, agent_id = await asyncio.to_thread(self._state)
                if state is State.OFFERED and agent_id:
                    if await self._ring(agent_id):
                        return
                    continue
                if state not in (State.QUEUED, State.OFFERED):
                    if state is State.ENDED:
                        self.events.put_nowait(e.QueueTimeout())
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(subscription.get(), QUEUE_POLL_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await subscription.close()

    async def _ring(self, agent_id: str) -> bool:
        sip_user = await asyncio.to_thread(self.host.agent_sip_user, self.tenant_id, agent_id)
        binding = self.host.registrar.find(sip_user, self.host.ua._now()) if sip_user else None
        if binding is None:
            log.info("call %s: agent %s has no registered phone; declining the offer",
                     self.call.id, agent_id)
            await asyncio.to_thread(self._routing_reject, agent_id)
            return False
        try:
            leg = await asyncio.wait_for(self.host.ua.dial(
                binding.contact, binding.source, caller=self.call.caller or "kefu",
                reliable=binding.reliable), max(1.0, self.host.ring_timeout - 1))
        except (CallFailed, TimeoutError, OSError) as exc:
            log.info("call %s: agent %s did not answer: %s", self.call.id, agent_id, exc)
            await asyncio.to_thread(self._routing_reject, agent_id)
            return False
        if self.call.ended.is_set():
            await leg.hangup("caller left")
            return True
        accepted = await asyncio.to_thread(self._routing_accept, agent_id)
        if not accepted:
            await leg.hangup("offer withdrawn")
            return False
        self.agent_call = leg
        self.call.stop_prompts()
        self.events.put_nowait(e.AgentAnswered(agent_id))
        return True

    def _routing_accept(self, agent_id: str) -> bool:
        from kefu.platform.routing.service import NotOffered, RoutingService

        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            agent = db.get(Agent, uuid.UUID(agent_id))
            assert interaction is not None
            try:
                RoutingService(self.platform, db, self.tenant_id).accept(interaction, agent)
            except NotOffered as exc:
                log.info("call %s: %s", self.call.id, exc)
                db.rollback()
                return False
            db.commit()
            return True

    def _routing_reject(self, agent_id: str) -> None:
        from kefu.platform.routing.service import NotOffered, RoutingService

        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            agent = db.get(Agent, uuid.UUID(agent_id))
            assert interaction is not None
            with contextlib.suppress(NotOffered):
                RoutingService(self.platform, db, self.tenant_id).reject(interaction, agent)
            db.commit()

    def _routing_hang_up(self) -> None:
        from kefu.platform.routing.service import RoutingService

        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            if interaction is None or interaction.state in (State.CREATED, State.IN_FLOW,
                                                            State.ENDED):
                return
            RoutingService(self.platform, db, self.tenant_id).hang_up(interaction)
            db.commit()

    async def _talk(self) -> None:
        """Customer and agent bridged, recorded, until either hangs up."""
        agent = self.agent_call
        assert agent is not None
        relative = Path(str(self.tenant_id)) / f"{self.interaction_id}.wav"
        path = self.host.recordings_dir / relative
        bridge = self.host.ua.bridge({"customer": self.call, "agent": agent},
                                     recording=str(path), customer="customer")
        self._bridge = bridge
        while True:
            agent = self.agent_call
            assert agent is not None
            agent.on_hold_change = self._agent_holds
            agent.on_refer = self._agent_transfers
            customer_left = asyncio.ensure_future(self.call.ended.wait())
            agent_left = asyncio.ensure_future(agent.ended.wait())
            await asyncio.wait({customer_left, agent_left},
                               return_when=asyncio.FIRST_COMPLETED)
            customer_left.cancel()
            agent_left.cancel()
            if self.call.ended.is_set() or self.agent_call is agent:
                break
            # A blind transfer connected another agent: the bridge already has their leg.
        self._agent_holds(agent, False)
        self.host.ua.unbridge(bridge)
        await self.call.hangup("agent hung up")
        await agent.hangup("customer hung up")
        seconds = bridge.recorder.seconds if bridge.recorder is not None else 0.0
        await asyncio.to_thread(self._finish_call, relative, seconds)

    async def _agent_transfers(self, leg: Call, target: str) -> bool:
        """The agent's phone blind-transfers the customer (REFER) to another agent of the
        tenant, named by SIP user: the ACD offers the call to them, kefu rings their phone,
        and on answer the customer is bridged to them and the first agent's leg ends."""
        from kefu.channels.voice.sip.message import SipParseError, Uri

        try:
            user = Uri.parse(target).user or ""
        except SipParseError:
            user = ""
        target_id = await asyncio.to_thread(self._transfer_offer, user)
        if target_id is None:
            return False
        self._agent_holds(leg, True)  # music while the new agent's phone rings
        if not await self._ring(target_id) or self.agent_call is leg:
            self._agent_holds(leg, False)
            return False
        self._agent_holds(leg, False)
        new = self.agent_call
        assert new is not None
        assert self._bridge is not None
        leg.session.bridge = None
        self._bridge.legs["agent"] = new.session
        new.session.bridge = self._bridge
        log.info("call %s: transferred from %s to agent %s", self.call.id, leg.id, target_id)
        return True

    def _transfer_offer(self, sip_user: str) -> str | None:
        """Offer the connected interaction to the tenant's agent with this SIP user name."""
        from kefu.platform.routing.service import (
            AgentUnavailable,
            RoutingService,
            UnknownQueue,
        )

        with self.platform.session(self.tenant_id) as db:
            target = db.scalar(sa.select(Agent).where(Agent.sip_username == sip_user))
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            if target is None or interaction is None or not interaction.queue:
                log.info("call %s: transfer to %r refused: no such agent", self.call.id,
                         sip_user)
                return None
            try:
                RoutingService(self.platform, db, self.tenant_id).offer_to_agent(
                    interaction, target, interaction.queue)
            except (AgentUnavailable, UnknownQueue, InvalidTransition) as exc:
                log.info("call %s: transfer to %s refused: %s", self.call.id, sip_user, exc)
                db.rollback()
                return None
            db.commit()
            return str(target.id)

    def _agent_holds(self, agent: Call, held: bool) -> None:
        """The agent's phone put the customer on hold (or took them off): music meanwhile."""
        del agent
        if held and self._music is None:
            self._music = asyncio.ensure_future(self._play_music())
        elif not held and self._music is not None:
            self._music.cancel()
            self._music = None
            self.call.stop_prompts()

    async def _play_music(self) -> None:
        music = music_on_hold()
        while not self.call.ended.is_set() and await self.call.play(music):
            pass

    def _finish_call(self, relative: Path, seconds: float) -> None:
        from kefu.platform.routing.service import RoutingService

        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            assert interaction is not None
            db.add(CallRecording(interaction_id=interaction.id, path=str(relative),
                                 seconds=seconds, kind="call"))
            interaction.recording_ref = str(relative)
            if interaction.state == State.CONNECTED:
                RoutingService(self.platform, db, self.tenant_id).hang_up(interaction)
            db.commit()

    # -- interaction lifecycle -----------------------------------------------------------
    def _enter_flow(self, flow_id: str, version: int) -> None:
        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            assert interaction is not None
            InteractionLifecycle(db, self.platform.bus).apply(
                interaction, Trigger.ENTER_FLOW, data={"flow": flow_id,
                                                       "config_version": version})
            db.commit()

    def _flow_ended(self, ended: a.Ended) -> None:
        if ended.outcome in _ROUTED:
            return
        outcome = FLOW_OUTCOMES.get(ended.outcome, Outcome.FAILED)
        self._end_interaction(outcome, ended.outcome, node=ended.node)

    def _end_interaction(self, outcome: Outcome, flow_outcome: str,
                         node: str | None = None) -> None:
        with self.platform.session(self.tenant_id) as db:
            interaction = db.get(Interaction, self.interaction_id, with_for_update=True)
            if interaction is None or interaction.state not in (State.CREATED, State.IN_FLOW):
                return
            data = {"flow_outcome": flow_outcome, "node": node}
            InteractionLifecycle(db, self.platform.bus).apply(
                interaction, Trigger.END, outcome=outcome,
                data={k: v for k, v in data.items() if v})
            db.commit()


async def run_voice(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: the SIP user agent, registrar and media of this process."""
    if not platform.settings["sip.enabled"]:
        await stopping.wait()
        return
    host = VoiceHost(platform)
    await host.start()
    log.info("voice: SIP on %s:%s, RTP %s-%s", platform.settings["sip.bind"], host.ua.port,
             platform.settings["rtp.port_min"], platform.settings["rtp.port_max"])
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 60)
            host.registrar.prune(host.ua._now())
    finally:
        await host.stop()


def set_sip_password(agent: Agent, username: str, password: str, realm: str) -> None:
    """Give an agent SIP credentials for its phone (only digest hashes are stored)."""
    from kefu.channels.voice.sip.auth import ha1

    if not username or any(c in username for c in ' :@;<>"'):
        raise ValueError(f"SIP user name {username!r} must be a plain token (no spaces, "
                         "':', '@', ';', quotes or brackets)")
    if len(password) < 8:
        raise ValueError("a SIP password needs at least 8 characters")
    agent.sip_username = username
    agent.sip_ha1_md5 = ha1(username, realm, password, "MD5")
    agent.sip_ha1_sha256 = ha1(username, realm, password, "SHA-256")


__all__ = ["CallFlow", "VoiceHost", "normalize_did", "run_voice", "set_sip_password"]
