"""WAV prompts in, stereo call recordings out.

:func:`load_prompt` reads a WAV file as 8 kHz mono 16-bit PCM (what a G.711 call carries):
other rates, widths and channel counts are converted — with ``sox`` when it is installed (a
proper low-pass resampler), else with NumPy's linear interpolation. :class:`StereoRecorder`
writes a call as a stereo WAV, customer left and agent right, one 20 ms frame per side per
media-clock tick, so both channels stay aligned in time even when one side is silent.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from kefu.channels.voice.media.g711 import Codec

RATE = 8000
FRAME_BYTES = 320  # 20 ms of 16-bit mono at 8 kHz
SILENCE = bytes(FRAME_BYTES)


class PromptError(ValueError):
    """A prompt file that cannot be played, naming the file and the reason."""


def load_prompt(path: str | Path) -> bytes:
    """The prompt as 8 kHz mono 16-bit little-endian PCM.

    Raises:
        PromptError: missing file, not a WAV, or an unsupported sample format.
    """
    path = Path(path)
    if not path.is_file():
        raise PromptError(f"prompt {path} does not exist")
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise PromptError(f"prompt {path} is not a PCM WAV file: {exc}") from None
    if (rate, channels, width) == (RATE, 1, 2):
        return frames
    sox = shutil.which("sox")
    if sox:
        return _convert_with_sox(sox, path)
    return _convert(frames, rate, channels, width, path)


def _convert_with_sox(sox: str, path: Path) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "prompt.wav"
        result = subprocess.run(  # noqa: S603 - fixed program, paths we chose
            [sox, str(path), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
             str(out)], capture_output=True, timeout=60, check=False)
        if result.returncode != 0:
            raise PromptError(f"prompt {path} could not be converted: "
                              f"{result.stderr.decode(errors='replace').strip()}")
        with wave.open(str(out), "rb") as wav:
            return wav.readframes(wav.getnframes())


def _convert(frames: bytes, rate: int, channels: int, width: int, path: Path) -> bytes:
    if width == 1:
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128) * 256
    elif width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    elif width == 4:
        samples = np.frombuffer(frames, dtype="<i4").astype(np.float64) / 65536
    else:
        raise PromptError(f"prompt {path}: {8 * width}-bit samples are not supported")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != RATE and len(samples):
        count = int(len(samples) * RATE / rate)
        samples = np.interp(np.arange(count) * rate / RATE, np.arange(len(samples)), samples)
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


class PromptPlayer:
    """Prompts queued for a call, played one 20 ms frame per tick."""

    def __init__(self) -> None:
        self._queue: list[tuple[bytes, object]] = []
        self._offset = 0

    def enqueue(self, pcm: bytes, token: object = None) -> None:
        self._queue.append((pcm, token))

    def clear(self) -> list[object]:
        """Stop everything; returns the tokens of the prompts that were cut off."""
        tokens = [token for _, token in self._queue]
        self._queue.clear()
        self._offset = 0
        return tokens

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    def next_frame(self) -> tuple[bytes | None, list[object]]:
        """(frame or None when idle, tokens of prompts that finished with this frame)."""
        if not self._queue:
            return None, []
        finished: list[object] = []
        out = bytearray()
        while len(out) < FRAME_BYTES and self._queue:
            pcm, token = self._queue[0]
            take = pcm[self._offset:self._offset + FRAME_BYTES - len(out)]
            out += take
            self._offset += len(take)
            if self._offset >= len(pcm):
                self._queue.pop(0)
                self._offset = 0
                finished.append(token)
        if len(out) < FRAME_BYTES:
            out += bytes(FRAME_BYTES - len(out))
        return bytes(out), finished


def _frame(pcm: bytes | None) -> bytes:
    if pcm is None:
        return SILENCE
    if len(pcm) == FRAME_BYTES:
        return pcm
    return (pcm + SILENCE)[:FRAME_BYTES]


def _pcm(frames: list[tuple[bytes | None, Codec | None]]) -> bytes:
    """The side's block as PCM: encoded runs decoded in one call per codec run."""
    out: list[bytes] = []
    run: list[bytes] = []
    run_decoder: Codec | None = None
    for payload, decoder in frames:
        if decoder is not None and payload is not None and len(payload) == FRAME_BYTES // 2:
            if decoder is not run_decoder and run:
                out.append(run_decoder(b"".join(run)))  # type: ignore[misc]
                run = []
            run_decoder = decoder
            run.append(payload)
            continue
        if run:
            out.append(run_decoder(b"".join(run)))  # type: ignore[misc]
            run = []
        out.append(_frame(payload if decoder is None else
                          (decoder(payload) if payload is not None else None)))
    if run:
        out.append(run_decoder(b"".join(run)))  # type: ignore[misc]
    return b"".join(out)


class StereoRecorder:
    """A call recording: customer on the left channel, agent on the right.

    Frames are buffered and written in blocks, so a few hundred calls recording at once cost
    a write per call per second, not per packet.
    """

    def __init__(self, path: str | Path, *, flush_frames: int = 50) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(RATE)
        # Per side: frames as (payload, decoder) — PCM frames carry decoder None. Decoding
        # happens per block at flush, one table lookup for a second of audio.
        self._left: list[tuple[bytes | None, Codec | None]] = []
        self._right: list[tuple[bytes | None, Codec | None]] = []
        self._flush_frames = flush_frames
        self.frames = 0
        self.closed = False

    def write(self, customer: bytes | None, agent: bytes | None) -> None:
        """One tick of audio from each side (None: that side was silent)."""
        self._left.append((customer, None))
        self._right.append((agent, None))
        self.frames += 1
        if len(self._left) >= self._flush_frames:
            self.flush()

    def write_encoded(self, customer: bytes | None, customer_decode: Codec,
                      agent: bytes | None, agent_decode: Codec) -> None:
        """One tick as G.711 payloads (decoded later, a block at a time)."""
        self._left.append((customer, customer_decode))
        self._right.append((agent, agent_decode))
        self.frames += 1
        if len(self._left) >= self._flush_frames:
            self.flush()

    def flush(self) -> None:
        """Interleave the buffered frames (once per block, not per tick) and write them."""
        if self._left and not self.closed:
            stereo = np.empty((len(self._left) * FRAME_BYTES // 2, 2), dtype="<i2")
            stereo[:, 0] = np.frombuffer(_pcm(self._left), dtype="<i2")
            stereo[:, 1] = np.frombuffer(_pcm(self._right), dtype="<i2")
            self._wav.writeframes(stereo.tobytes())
            self._left.clear()
            self._right.clear()

    @property
    def seconds(self) -> float:
        return self.frames * 0.02

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self._wav.close()
            self.closed = True
