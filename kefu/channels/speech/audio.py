"""Telephony audio: 8 kHz mono 16-bit PCM, WAV files, conversion with sox, resampling, levels.

Everything the speech engines hand over is converted to the one format calls carry
(:data:`TELEPHONY`), so the voice channel can packetize a cached prompt as it is.
"""

from __future__ import annotations

import asyncio
import io
import math
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

TELEPHONY_RATE = 8000
TELEPHONY = "wav-8000-mono-s16"  # part of every prompt cache key
SOX_TIMEOUT = 30.0


class AudioError(RuntimeError):
    """Audio could not be converted or read (the message names the file or tool)."""


@dataclass(frozen=True)
class Pcm:
    """Mono 16-bit little-endian PCM at ``rate`` Hz."""

    samples: bytes
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / 2 / self.rate


def read_wav(path: str | Path) -> Pcm:
    """Read a mono 16-bit PCM WAV file.

    Raises:
        AudioError: not a WAV file, or not mono 16-bit (convert it with :func:`convert_file`).
    """
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate = (handle.getnchannels(), handle.getsampwidth(),
                                     handle.getframerate())
            frames = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path}: not a PCM WAV file ({exc})") from None
    if channels != 1 or width != 2:
        raise AudioError(f"{path}: {channels} channel(s) of {8 * width}-bit audio; "
                         "kefu reads mono 16-bit PCM")
    return Pcm(frames, rate)


def wav_bytes(pcm: Pcm) -> bytes:
    """A WAV file holding ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(pcm.rate)
        handle.writeframes(pcm.samples)
    return out.getvalue()


def sox_path() -> str:
    path = shutil.which("sox")
    if path is None:
        raise AudioError("sox is not installed (Debian: apt-get install sox libsox-fmt-mp3)")
    return path


def _sox_args(in_type: str | None) -> list[str]:
    args = [sox_path(), "-q", "-V1"]
    if in_type:
        args += ["-t", in_type]
    # dither off: identical input gives identical cache files
    return [*args, "-", "-D", "-t", "wav", "-r", str(TELEPHONY_RATE), "-c", "1", "-b", "16",
            "-e", "signed-integer", "-"]


def _check_sox(result_code: int | None, stderr: bytes, in_type: str | None) -> None:
    if result_code != 0:
        message = stderr.decode("utf-8", "replace").strip() or f"exit status {result_code}"
        raise AudioError(f"sox could not convert {in_type or 'the'} audio to 8 kHz: {message}")


async def to_telephony(data: bytes, in_type: str | None = None) -> bytes:
    """Convert audio (WAV by default, or ``in_type`` such as ``mp3``) to an 8 kHz mono 16-bit
    WAV file's bytes, with sox (its resampler is band-limited, unlike a naive decimation)."""
    proc = await asyncio.create_subprocess_exec(
        *_sox_args(in_type), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), SOX_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AudioError(f"sox took longer than {SOX_TIMEOUT:.0f}s") from None
    _check_sox(proc.returncode, err, in_type)
    return _fix_wav_header(out)


def to_telephony_sync(data: bytes, in_type: str | None = None) -> bytes:
    """:func:`to_telephony` for threads without an event loop."""
    try:
        done = subprocess.run(_sox_args(in_type), input=data,  # noqa: S603 - sox, fixed args
                              capture_output=True,
                              timeout=SOX_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"sox took longer than {SOX_TIMEOUT:.0f}s") from None
    _check_sox(done.returncode, done.stderr, in_type)
    return _fix_wav_header(done.stdout)


def convert_file(path: str | Path) -> Pcm:
    """Any audio file sox reads (WAV of any rate or width, mp3, flac…) as 8 kHz mono PCM."""
    source = Path(path)
    if not source.is_file():
        raise AudioError(f"{source}: no such audio file")
    in_type = source.suffix.lstrip(".").lower() or None
    return parse_wav(to_telephony_sync(source.read_bytes(), in_type))


def _fix_wav_header(data: bytes) -> bytes:
    """sox writing to a pipe cannot seek back to fill in the sizes: rewrite them."""
    pcm = parse_wav(data)
    return wav_bytes(pcm)


def parse_wav(data: bytes) -> Pcm:
    """PCM from WAV bytes, tolerating the unknown-length header a pipe writer leaves."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not WAV data")
    pos = 12
    rate = 0
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            channels = int.from_bytes(data[body + 2:body + 4], "little")
            rate = int.from_bytes(data[body + 4:body + 8], "little")
            bits = int.from_bytes(data[body + 14:body + 16], "little")
            if channels != 1 or bits != 16:
                raise AudioError(f"expected mono 16-bit WAV, got {channels} channel(s), "
                                 f"{bits}-bit")
        elif chunk == b"data":
            end = len(data) if size in (0, 0xFFFFFFFF) or body + size > len(data) else body + size
            samples = data[body:end]
            return Pcm(samples[: len(samples) // 2 * 2], rate)
        pos = body + size + (size & 1)
    raise AudioError("WAV data without a data chunk")


def rms(samples: bytes) -> float:
    """Root mean square level of 16-bit samples (0 for silence, 32767 for full scale)."""
    if len(samples) < 2:
        return 0.0
    import numpy as np  # the speech extra; deploys import this module without it

    values = np.frombuffer(samples[: len(samples) // 2 * 2], dtype="<i2").astype(np.float64)
    return float(math.sqrt(float(np.mean(values * values))))


def voiced_fraction(pcm: Pcm, frame_ms: int = 20, threshold: float = 300.0) -> float:
    """Share of ``frame_ms`` frames whose RMS is above ``threshold`` (speech, not silence)."""
    step = pcm.rate * frame_ms // 1000 * 2
    frames = [pcm.samples[i:i + step] for i in range(0, len(pcm.samples) - step + 1, step)]
    if not frames:
        return 0.0
    return sum(1 for f in frames if rms(f) > threshold) / len(frames)


class StreamResampler:
    """Streaming resampling of 16-bit mono PCM by linear interpolation, keeping the phase and
    the last sample between chunks so a stream of 20 ms frames resamples like one buffer.

    Linear interpolation is enough between telephony rates and a recognizer's 16 kHz: the
    images it leaves above 4 kHz carry little energy, and no band-limited filter is needed
    on the way up."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in = rate_in
        self.rate_out = rate_out
        self._step = rate_in / rate_out  # input samples per output sample
        self._pos = 0.0  # next output position, in input samples relative to _last
        self._last: float | None = None

    def feed(self, samples: bytes) -> bytes:
        if self.rate_in == self.rate_out:
            return samples
        import numpy as np

        data = np.frombuffer(samples[: len(samples) // 2 * 2], dtype="<i2").astype(np.float64)
        if not len(data):
            return b""
        if self._last is None:
            self._last = float(data[0])
            self._pos = 1.0
        buffer = np.concatenate(([self._last], data))  # index 0 is the previous chunk's last
        end = len(buffer) - 1
        positions = np.arange(self._pos, end + 1e-9, self._step)
        out = np.interp(positions, np.arange(len(buffer)), buffer)
        self._pos = (positions[-1] + self._step - end) if len(positions) else self._pos - end
        self._last = float(buffer[-1])
        return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()


def silence(seconds: float, rate: int = TELEPHONY_RATE) -> bytes:
    """``seconds`` of digital silence."""
    return bytes(2 * int(seconds * rate))
