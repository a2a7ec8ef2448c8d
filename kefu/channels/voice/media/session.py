"""A call leg's RTP on asyncio, and the one media clock that paces every leg of a process.

:class:`RtpSession` owns one UDP socket (an even port from the :class:`PortPool`); received
packets go to its jitter buffer or, for telephone-events, to its DTMF receiver. The
:class:`MediaClock` ticks every 20 ms on an absolute schedule (``start + n × 20 ms`` on the
loop's clock, so lateness never accumulates into drift) and, per tick, (1) takes one inbound
frame from every session, (2) lets every :class:`Bridge` decide what each of its legs hears
(and records it), (3) sends one packet per session: a DTMF event, the bridged audio, the
current prompt, or silence. One timer for all legs keeps hundreds of calls cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from kefu.channels.voice.media import g711
from kefu.channels.voice.media.dtmf import DtmfReceiver, DtmfSender
from kefu.channels.voice.media.jitter import JitterBuffer
from kefu.channels.voice.media.mixer import add_frames, mix
from kefu.channels.voice.media.rtp import (
    FRAME_SECONDS,
    SAMPLES_PER_FRAME,
    OutgoingStream,
    RtpError,
    parse_rtp,
)
from kefu.channels.voice.media.wav import PromptPlayer, StereoRecorder
from kefu.channels.voice.sdp import Negotiated

log = logging.getLogger(__name__)

#: Ticks the clock may run late before it jumps ahead instead of bursting to catch up.
MAX_CATCH_UP = 5


class PortPool:
    """Even RTP ports in ``[low, high)``; each call leg holds one (RTCP would be port + 1)."""

    def __init__(self, low: int, high: int) -> None:
        if low % 2:
            low += 1
        self._free = list(range(low, high - 1, 2))
        self._used: set[int] = set()

    def take(self) -> int:
        if not self._free:
            raise RuntimeError("no free RTP ports: widen voice.rtp_ports")
        port = self._free.pop(0)
        self._used.add(port)
        return port

    def give(self, port: int) -> None:
        if port in self._used:
            self._used.discard(port)
            self._free.append(port)

    @property
    def available(self) -> int:
        return len(self._free)


@dataclass
class SessionStats:
    received: int = 0
    malformed: int = 0
    sent: int = 0
    send_errors: int = 0
    digits: list[str] = field(default_factory=list)


class RtpSession(asyncio.DatagramProtocol):
    """One call leg's RTP: jitter buffer in, one paced packet out per clock tick."""

    def __init__(self, clock: MediaClock, host: str, port: int) -> None:
        self.clock = clock
        self.host = host
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self._latched = False
        self.plan: Negotiated | None = None
        self.stream = OutgoingStream(0)
        self.jitter = JitterBuffer()
        self.dtmf_in = DtmfReceiver(None)
        self.dtmf_out = DtmfSender()
        self.prompts = PromptPlayer()
        self.stats = SessionStats()
        self._encode: g711.Codec = g711.ulaw_encode
        self._decode: g711.Codec = g711.ulaw_decode
        self.heard_raw: bytes | None = None  # this tick's inbound frame (G.711 payload)
        self._heard_pcm: bytes | None = None
        self.feed: bytes | None = None  # this tick's bridged audio for the peer (PCM)
        # ... or the other leg's payload as it came, when both legs speak the same codec:
        # relayed without decoding and encoding again.
        self.feed_raw: bytes | None = None
        self.bridge: Bridge | None = None
        self.sending = True  # False while the peer holds us (a=sendonly/inactive from them)
        self.on_digit: Callable[[str], None] | None = None
        self.on_prompt_done: Callable[[object], None] | None = None
        self.tap: Callable[[bytes | None], None] | None = None  # each inbound frame (voicemail)
        self.closed = False
        self.last_received = 0.0  # loop time of the last RTP packet (or of the set-up)

    # -- set-up --------------------------------------------------------------------------
    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        self.last_received = loop.time()
        self.clock.add(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def apply(self, plan: Negotiated) -> None:
        """Use a negotiated media plan (a new one on every re-INVITE)."""
        if self.plan is None or plan.payload_type != self.plan.payload_type:
            self.stream.payload_type = plan.payload_type
        self.plan = plan
        self._encode, self._decode = g711.codec(plan.encoding)
        self.dtmf_in.payload_type = plan.dtmf_payload_type
        self.sending = plan.direction in ("sendrecv", "recvonly", "")
        held = plan.address == "0.0.0.0"  # noqa: S104 - RFC 2543 hold, not a bind address
        if plan.address and not held and plan.port and not self._latched:
            self.remote = (plan.address, plan.port)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.clock.discard(self)
        if self.transport is not None:
            self.transport.close()

    # -- receive -------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.stats.malformed += 1
            return
        self.stats.received += 1
        self.last_received = self.clock.now
        if not self._latched and self.plan is not None:
            # Symmetric RTP: answer where the peer's packets come from (NAT-friendly).
            self.remote = (addr[0], addr[1])
            self._latched = True
        if self.plan is not None and packet.payload_type == self.plan.dtmf_payload_type:
            for digit in self.dtmf_in.push(packet):
                self.stats.digits.append(digit)
                if self.on_digit is not None:
                    self.on_digit(digit)
            return
        if self.plan is not None and packet.payload_type == self.plan.payload_type:
            self.jitter.push(packet)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket %s: %s", self.port, exc)

    # -- per tick ------------------------------------------------------------------------
    def pull(self) -> None:
        self.heard_raw = self.jitter.pop()
        self._heard_pcm = None
        self.feed = None
        self.feed_raw = None
        if self.tap is not None:
            self.tap(self.heard)

    @property
    def heard(self) -> bytes | None:
        """This tick's inbound frame as PCM (decoded only when someone needs it)."""
        if self._heard_pcm is None and self.heard_raw is not None:
            self._heard_pcm = self._decode(self.heard_raw)
        return self._heard_pcm

    @property
    def decoder(self) -> g711.Codec:
        return self._decode

    @property
    def encoding(self) -> str:
        return self.plan.encoding if self.plan is not None else ""

    def push(self) -> None:
        event = self.dtmf_out.tick(self.stream.timestamp)
        if event is not None:
            payload, event_ts, marker = event
            pt = self.plan.dtmf_payload_type if self.plan else None
            if pt is not None:
                self._send(self.stream.event(pt, payload, event_ts, marker=marker))
            # The event covers this tick's samples; audio resumes at the matching timestamp.
            self.stream.timestamp = (self.stream.timestamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
            return
        if self.feed_raw is not None and not self.prompts.playing:
            if not self.sending or self.remote is None:
                self.stream.skip()
                return
            self._send(self.stream.audio(self.feed_raw))
            return
        prompt, finished = self.prompts.next_frame()
        for token in finished:
            if self.on_prompt_done is not None:
                self.on_prompt_done(token)
        frame = self.feed
        if frame is None and self.feed_raw is not None:
            frame = self._decode(self.feed_raw)
        if prompt is not None:
            frame = prompt if frame is None else add_frames(prompt, frame)
        if not self.sending or self.remote is None:
            self.stream.skip()
            return
        self._send(self.stream.audio(self._encode(frame if frame is not None else
                                                  bytes(2 * SAMPLES_PER_FRAME))))

    def _send(self, data: bytes) -> None:
        if self.transport is None or self.remote is None:
            return
        try:
            self.transport.sendto(data, self.remote)
            self.stats.sent += 1
        except OSError:
            self.stats.send_errors += 1


class Bridge:
    """Legs that hear each other (a call with an agent, a conference), with an optional
    stereo recording: the ``customer`` leg left, everyone else mixed right.

    Args:
        legs: name → session.
        hears: who hears whom (default: everyone else); see :func:`~.mixer.mix`.
        recorder: the recording, or None.
        customer: the name of the customer leg, for the recording's left channel.
    """

    def __init__(self, legs: dict[str, RtpSession], *, recorder: StereoRecorder | None = None,
                 customer: str | None = None,
                 hears: dict[str, list[str]] | None = None) -> None:
        self.legs = dict(legs)
        self.recorder = recorder
        self.customer = customer
        self.hears = hears
        for session in self.legs.values():
            session.bridge = self

    def tick(self) -> None:
        legs = self.legs
        if len(legs) == 2 and self.hears is None:
            (a_name, a), (_, b) = legs.items()
            if a.encoding == b.encoding:
                # A plain call: relay each side's payload to the other as it came.
                a.feed_raw, b.feed_raw = b.heard_raw, a.heard_raw
                if self.recorder is not None:
                    customer, agent = (a, b) if a_name == self.customer else (b, a)
                    self.recorder.write_encoded(customer.heard_raw, customer.decoder,
                                                agent.heard_raw, agent.decoder)
                return
        frames = {name: s.heard for name, s in legs.items()}
        heard = mix(frames, self.hears)
        for name, session in self.legs.items():
            session.feed = heard.get(name)
        if self.recorder is not None:
            left = frames.get(self.customer) if self.customer else None
            right: bytes | None = None
            for name, frame in frames.items():
                if name != self.customer and frame is not None:
                    right = frame if right is None else add_frames(right, frame)
            self.recorder.write(left, right)

    def close(self) -> None:
        for session in self.legs.values():
            if session.bridge is self:
                session.bridge = None
        self.legs.clear()
        if self.recorder is not None:
            self.recorder.close()


class MediaClock:
    """The process's 20 ms media clock (absolute schedule, no drift)."""

    def __init__(self) -> None:
        self.sessions: set[RtpSession] = set()
        self.bridges: set[Bridge] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0
        self.lateness: list[float] = []  # the last ticks' lateness (s), for the benchmark
        self.measure = False
        self.now = 0.0  # loop time of the last tick (cheaper than a clock read per packet)

    def add(self, session: RtpSession) -> None:
        self.sessions.add(session)
        self._ensure_running()

    def discard(self, session: RtpSession) -> None:
        self.sessions.discard(session)
        if session.bridge is not None:
            session.bridge.legs = {n: s for n, s in session.bridge.legs.items()
                                   if s is not session}

    def add_bridge(self, bridge: Bridge) -> None:
        self.bridges.add(bridge)

    def remove_bridge(self, bridge: Bridge) -> None:
        self.bridges.discard(bridge)
        bridge.close()

    def _ensure_running(self) -> None:
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._start = loop.time()
            self._ticks = 0
            self._handle = loop.call_at(self._start, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.now = now
        due = self._start + self._ticks * FRAME_SECONDS
        if self.measure:
            self.lateness.append(now - due)
        behind = int((now - due) / FRAME_SECONDS)
        if behind > MAX_CATCH_UP:
            # The loop stalled: skip the missed ticks (timestamps still advance) rather than
            # bursting a second of packets at once.
            self.skipped_ticks += behind
            for session in list(self.sessions):
                for _ in range(behind):
                    session.stream.skip()
            self._ticks += behind
        try:
            self.run_once()
        except Exception:  # one bad leg must not stop every call's audio
            log.exception("media tick failed")
        self._ticks += 1
        if not self.sessions:
            self._handle = None
            return
        self._handle = loop.call_at(self._start + self._ticks * FRAME_SECONDS, self._tick)

    def run_once(self) -> None:
        sessions = list(self.sessions)
        for session in sessions:
            session.pull()
        for bridge in list(self.bridges):
            bridge.tick()
        for session in sessions:
            session.push()


def cpu_seconds() -> float:
    return time.process_time()


async def close_all(sessions: list[RtpSession]) -> None:
    for session in sessions:
        with contextlib.suppress(Exception):
            session.close()
