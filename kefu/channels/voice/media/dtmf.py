"""DTMF as RFC 4733 telephone-events, sans-IO.

:class:`DtmfSender` turns a digit into the packets of one event: the first with the marker
bit, one every 20 ms with a growing duration, and the end packet sent three times (RFC 4733
§2.5.1.4) so a lost packet does not lose the key. :class:`DtmfReceiver` turns received event
packets into digits once each, whether or not the end packets arrive (a new event reports
the previous one).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kefu.channels.voice.media.rtp import SAMPLES_PER_FRAME, RtpPacket

EVENTS = "0123456789*#ABCD"
END_RETRANSMITS = 3


class DtmfError(ValueError):
    """A telephone-event payload or digit that cannot be used."""


@dataclass(frozen=True)
class EventPayload:
    event: int
    end: bool
    volume: int
    duration: int

    def __bytes__(self) -> bytes:
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | (self.volume & 0x3F),
                           self.duration & 0xFFFF)

    @classmethod
    def parse(cls, data: bytes) -> EventPayload:
        if len(data) < 4:
            raise DtmfError(f"telephone-event payload of {len(data)} bytes (expected 4)")
        event, flags, duration = struct.unpack_from("!BBH", data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


def event_code(digit: str) -> int:
    code = EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise DtmfError(f"{digit!r} is not a DTMF key (0-9, *, #, A-D)")
    return code


class DtmfSender:
    """The packets of queued digits, one per media-clock tick.

    Args:
        duration_ms: how long each key is held.
        gap_ms: silence between keys.
    """

    def __init__(self, *, duration_ms: int = 100, gap_ms: int = 60, volume: int = 10) -> None:
        self.frames = max(1, duration_ms // 20)
        self.gap = max(0, gap_ms // 20)
        self.volume = volume
        self._queue: list[int] = []
        self._current: int | None = None
        self._tick = 0
        self._start_ts = 0
        self._gap_left = 0

    def send(self, digits: str) -> None:
        self._queue.extend(event_code(d) for d in digits)

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue) or self._gap_left > 0

    def tick(self, timestamp: int) -> tuple[bytes, int, bool] | None:
        """This tick's event (payload, event timestamp, marker), or None (send audio).

        Args:
            timestamp: the audio timestamp this tick would have used.
        """
        if self._current is None:
            if self._gap_left > 0:
                self._gap_left -= 1
                return None
            if not self._queue:
                return None
            self._current = self._queue.pop(0)
            self._tick = 0
            self._start_ts = timestamp
        self._tick += 1
        ending = self._tick >= self.frames
        duration = min(self._tick, self.frames) * SAMPLES_PER_FRAME
        payload = bytes(EventPayload(self._current, ending, self.volume, duration))
        marker = self._tick == 1
        if self._tick >= self.frames + END_RETRANSMITS - 1:
            self._current = None
            self._gap_left = self.gap
        return payload, self._start_ts, marker


class DtmfReceiver:
    """Digits from telephone-event packets, each reported once."""

    def __init__(self, payload_type: int | None) -> None:
        self.payload_type = payload_type
        self._timestamp: int | None = None
        self._event: int | None = None
        self._reported = True

    def push(self, packet: RtpPacket) -> list[str]:
        """Digits completed by this packet (usually none or one)."""
        if packet.payload_type != self.payload_type:
            return []
        try:
            payload = EventPayload.parse(packet.payload)
        except DtmfError:
            return []
        if payload.event >= len(EVENTS):
            return []  # other events (flash, tones) are not keys
        out: list[str] = []
        if packet.timestamp != self._timestamp:
            if not self._reported and self._event is not None:
                out.append(EVENTS[self._event])  # the previous key's end packets were lost
            self._timestamp = packet.timestamp
            self._event = payload.event
            self._reported = False
        if payload.end and not self._reported:
            out.append(EVENTS[payload.event])
            self._reported = True
        return out
