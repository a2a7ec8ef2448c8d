"""RTP packets (RFC 3550 §5.1) and the sending side of one stream, sans-IO.

:func:`parse_rtp` raises :class:`RtpError` for anything that is not an RTP version 2 packet;
:class:`RtpPacket` serializes with ``bytes()``. :class:`OutgoingStream` owns one stream's SSRC,
sequence number and timestamp: a random start for each (RFC 3550 §5.1), the sequence number
wrapping at 2**16 and the timestamp at 2**32, and the marker bit on the first packet of a
talkspurt.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BBHII")
#: 20 ms of 8 kHz audio: the samples (and G.711 bytes) per packet.
SAMPLES_PER_FRAME = 160
FRAME_SECONDS = 0.02


class RtpError(ValueError):
    """A datagram that is not a usable RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def __bytes__(self) -> bytes:
        first = 0x80 | len(self.csrcs)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        head = HEADER.pack(first, second, self.sequence & 0xFFFF,
                           self.timestamp & 0xFFFFFFFF, self.ssrc)
        csrc = b"".join(struct.pack("!I", c) for c in self.csrcs)
        return head + csrc + self.payload


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP datagram (padding and header extensions are removed).

    Raises:
        RtpError: naming what is wrong.
    """
    if len(data) < HEADER.size:
        raise RtpError(f"{len(data)} bytes is shorter than the 12-byte RTP header")
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    offset = HEADER.size + 4 * (first & 0x0F)
    if len(data) < offset:
        raise RtpError("CSRC list runs past the end of the packet")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, HEADER.size)
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpError("header extension runs past the end of the packet")
        (_profile, words) = struct.unpack_from("!HH", data, offset)
        offset += 4 + 4 * words
        if len(data) < offset:
            raise RtpError("header extension runs past the end of the packet")
    end = len(data)
    if first & 0x20:
        pad = data[-1]
        if pad == 0 or end - pad < offset:
            raise RtpError(f"bad padding length {pad}")
        end -= pad
    payload_type = second & 0x7F
    if 72 <= payload_type <= 76:
        raise RtpError(f"payload type {payload_type} is RTCP, not RTP")
    return RtpPacket(payload_type, sequence, timestamp, ssrc, data[offset:end],
                     bool(second & 0x80), tuple(csrcs))


class OutgoingStream:
    """Sequence number, timestamp and SSRC of one RTP stream we send.

    Args:
        payload_type: the negotiated audio payload type.
        ssrc: fixed for tests; random otherwise.
    """

    def __init__(self, payload_type: int, *, ssrc: int | None = None,
                 sequence: int | None = None, timestamp: int | None = None) -> None:
        self.payload_type = payload_type
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp
        self._talkspurt = True
        self.sent_packets = 0
        self.sent_bytes = 0

    def audio(self, payload: bytes) -> bytes:
        """The next audio packet (one frame); the timestamp then moves on by its samples."""
        # Packed directly (no RtpPacket object): this runs 50 times a second per leg.
        data = HEADER.pack(0x80, (0x80 if self._talkspurt else 0) | self.payload_type,
                           self.sequence, self.timestamp, self.ssrc) + payload
        self._talkspurt = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        self.sent_packets += 1
        self.sent_bytes += len(payload)
        return data

    def skip(self, samples: int = SAMPLES_PER_FRAME) -> None:
        """A frame not sent (silence suppressed, or on hold): the next packet starts a
        talkspurt and its timestamp shows the gap."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self._talkspurt = True

    def event(self, payload_type: int, payload: bytes, timestamp: int, *,
              marker: bool) -> bytes:
        """A telephone-event packet (RFC 4733): its own timestamp, our sequence."""
        packet = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload, marker)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.sent_packets += 1
        return bytes(packet)
