"""The audio mixer for conferences, whisper and monitoring.

Each tick every participant contributes one 20 ms frame (or None); :func:`mix` returns what
each participant hears: the sum of the frames of the participants it listens to, clipped to
16 bits. Listening is a relation, not always "everyone else": a whisper is a supervisor whom
only the agent hears, a silent monitor listens to all and is heard by none.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kefu.channels.voice.media.wav import FRAME_BYTES


def mix(frames: Mapping[str, bytes | None],
        hears: Mapping[str, tuple[str, ...] | list[str] | set[str]] | None = None
        ) -> dict[str, bytes | None]:
    """What each participant hears this tick.

    Args:
        frames: participant → its frame (16-bit PCM, 320 bytes) or None when silent.
        hears: participant → the participants it hears; default: everyone else.

    Returns:
        participant → mixed frame, or None when nobody it hears made a sound.
    """
    if hears is None and len(frames) == 2:
        # A plain call: each side hears the other as it is (no arithmetic at all).
        first, second = frames
        return {first: frames[second], second: frames[first]}
    arrays = {name: np.frombuffer(frame, dtype="<i2").astype(np.int32)
              for name, frame in frames.items() if frame}
    if hears is None and len(arrays) > 2:
        # Everyone hears everyone else: one total, minus each one's own voice.
        total = np.sum(list(arrays.values()), axis=0)
        out: dict[str, bytes | None] = {}
        for name in frames:
            own = arrays.get(name)
            mixed = total - own if own is not None else total
            out[name] = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
        return out
    out = {}
    for name in frames:
        sources = [other for other in (hears[name] if hears is not None and name in hears
                                       else [n for n in frames if n != name])
                   if other in arrays and other != name]
        if not sources:
            out[name] = None
        elif len(sources) == 1:
            out[name] = frames[sources[0]]
        else:
            mixed = np.sum([arrays[s] for s in sources], axis=0)
            out[name] = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
    return out


def add_frames(a: bytes, b: bytes) -> bytes:
    """Two frames played together (a prompt over bridged audio, two agents), clipped."""
    total = np.frombuffer(a, dtype="<i2").astype(np.int32) + np.frombuffer(b, dtype="<i2")
    return np.clip(total, -32768, 32767).astype("<i2").tobytes()


def silence() -> bytes:
    return bytes(FRAME_BYTES)
