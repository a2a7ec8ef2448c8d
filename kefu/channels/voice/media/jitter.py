"""The receive-side jitter buffer, sans-IO.

Packets go in as they arrive (:meth:`JitterBuffer.push`); the media clock takes one frame out
every 20 ms (:meth:`JitterBuffer.pop`). Playout starts once ``depth`` frames are buffered, so
packets may arrive up to ``depth`` × 20 ms late or out of order and still play in sequence
order. A missing frame is reported as None (the caller plays silence). Duplicates and packets
later than their playout slot are dropped and counted. A new SSRC (the peer restarted its
stream, e.g. after a re-INVITE) resets the buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

from kefu.channels.voice.media.rtp import RtpPacket


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    lost: int = 0
    late: int = 0
    duplicate: int = 0
    overflow: int = 0


def _seq_diff(a: int, b: int) -> int:
    """a - b in sequence-number space (wrapping at 2**16)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


class JitterBuffer:
    def __init__(self, depth: int = 3, capacity: int = 50) -> None:
        self.depth = depth
        self.capacity = capacity
        self.stats = JitterStats()
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # the sequence number to play next
        self._ssrc: int | None = None
        self._started = False

    def push(self, packet: RtpPacket) -> None:
        if packet.ssrc != self._ssrc:
            self._ssrc = packet.ssrc
            self._frames.clear()
            self._next = None
            self._started = False
        self.stats.received += 1
        if self._next is None:
            self._next = packet.sequence
        elif _seq_diff(packet.sequence, self._next) < 0:
            if self._started:
                self.stats.late += 1
                return
            self._next = packet.sequence  # reordered before playout began: start earlier
        if packet.sequence in self._frames:
            self.stats.duplicate += 1
            return
        if len(self._frames) >= self.capacity:
            # A burst far beyond the buffer: jump to the newest data instead of growing.
            self.stats.overflow += len(self._frames)
            self._frames.clear()
            self._next = packet.sequence
        self._frames[packet.sequence] = packet.payload

    def pop(self) -> bytes | None:
        """The next frame to play, or None (nothing yet, or that packet was lost)."""
        if self._next is None:
            return None
        if not self._started:
            if len(self._frames) < self.depth:
                return None
            self._started = True
        frame = self._frames.pop(self._next, None)
        if frame is None:
            if not self._frames:
                # Underrun: the stream paused (or ended); wait for depth again.
                self._started = False
                return None
            self.stats.lost += 1
        else:
            self.stats.played += 1
        self._next = (self._next + 1) & 0xFFFF
        return frame

    def __len__(self) -> int:
        return len(self._frames)
