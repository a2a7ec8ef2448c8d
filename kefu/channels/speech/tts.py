"""Prompts for calls: text → an 8 kHz mono 16-bit WAV from the prompt cache.

    synthesizer = Synthesizer(SpeechOptions(cache_dir=Path("var/prompt-cache")),
                              voices={"zh_CN": VoiceChoice("edge", "zh-CN-XiaoxiaoNeural")})
    path = await synthesizer.prompt("您好,欢迎致电。", locale="zh_CN")

The engine and voice come from the call (``engine=``/``voice=``), else the tenant's choice for
the locale (its DSL ``speech`` block, matched by locale, then by language), else
``SpeechOptions.default_engine``. Text is normalized for reading out first
(:mod:`kefu.channels.speech.normalize`). The cache key is the SHA-256 of (engine, voice,
normalized text, format): a prompt is synthesized once and then read from the cache, by every
process that shares the directory (files are written atomically).

When edge-tts cannot be reached the prompt comes from the offline engine at once, and edge is
not tried again for ``edge_retry_after`` seconds; the fallback is logged once per outage, not
per prompt. A call never fails for want of the network: espeak-ng always has a voice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kefu.channels.speech.audio import TELEPHONY
from kefu.channels.speech.engines import (
    ENGINES,
    OFFLINE_ENGINES,
    EdgeEngine,
    Engine,
    EngineUnavailable,
    EspeakEngine,
    PiperEngine,
    SpeechError,
    _lang,
)
from kefu.channels.speech.normalize import normalize

log = logging.getLogger(__name__)

EVERY_LOCALE = "*"  # a ``voices`` key: the tenant's choice for locales without their own

__all__ = ["EVERY_LOCALE", "PromptRequest", "SpeechError", "SpeechOptions", "Synthesizer",
           "VoiceChoice"]


@dataclass(frozen=True)
class SpeechOptions:
    """How a process synthesizes (from the ``speech.*`` settings)."""

    cache_dir: Path
    default_engine: str = "edge"  # when neither the call nor the tenant chose one
    offline_engine: str = "espeak"  # the fallback when the chosen engine cannot be used
    edge_proxy: str | None = None
    edge_connect_timeout: float = 2.0
    edge_timeout: float = 15.0
    edge_retry_after: float = 60.0
    piper_voice_dirs: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        for what, engine in (("default_engine", self.default_engine),
                             ("offline_engine", self.offline_engine)):
            allowed = ENGINES if what == "default_engine" else OFFLINE_ENGINES
            if engine not in allowed:
                raise ValueError(f"speech {what} {engine!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class VoiceChoice:
    """An engine and, optionally, one of its voices (None: the engine's voice for the locale)."""

    engine: str
    voice: str | None = None


@dataclass(frozen=True)
class PromptRequest:
    """What is synthesized for a prompt, after choosing the engine and voice: its cache key."""

    engine: str
    voice: str
    text: str  # normalized
    format: str = TELEPHONY

    @property
    def key(self) -> str:
        canonical = json.dumps([self.engine, self.voice, self.text, self.format],
                               ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _EdgeHealth:
    """Process-wide memory of edge-tts outages, per endpoint, so that every synthesizer of the
    process skips an unreachable service and the outage is logged once."""

    def __init__(self) -> None:
        self.down_until: dict[tuple[str, int], float] = {}
        self.logged: set[tuple[str, int]] = set()

    def usable(self, endpoint: tuple[str, int]) -> bool:
        return time.monotonic() >= self.down_until.get(endpoint, 0.0)

    def failed(self, endpoint: tuple[str, int], retry_after: float, reason: str,
               fallback: str) -> None:
        self.down_until[endpoint] = time.monotonic() + retry_after
        if endpoint not in self.logged:
            self.logged.add(endpoint)
            log.warning("edge-tts unreachable (%s); prompts use the offline engine %s and "
                        "edge-tts is retried every %.0fs", reason, fallback, retry_after)

    def worked(self, endpoint: tuple[str, int]) -> None:
        self.down_until.pop(endpoint, None)
        if endpoint in self.logged:
            self.logged.discard(endpoint)
            log.info("edge-tts reachable again; prompts use it")


EDGE_HEALTH = _EdgeHealth()


@dataclass
class Synthesizer:
    """Synthesizes and caches prompts for one tenant (its ``voices``) or for the platform.

    Attributes:
        synthesized: how many prompts each engine synthesized (cache misses), for tests and
            the benchmark.
        fallbacks: how many prompts came from another engine than the chosen one (synthesized
            or from the cache).
    """

    options: SpeechOptions
    voices: Mapping[str, VoiceChoice] = field(default_factory=dict)
    synthesized: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0

    def __post_init__(self) -> None:
        self.engines: dict[str, Engine] = {
            "espeak": EspeakEngine(),
            "piper": PiperEngine(self.options.piper_voice_dirs),
            "edge": EdgeEngine(proxy=self.options.edge_proxy,
                               connect_timeout=self.options.edge_connect_timeout,
                               timeout=self.options.edge_timeout),
        }
        for locale, choice in self.voices.items():
            if choice.engine not in ENGINES:
                raise ValueError(f"speech engine {choice.engine!r} for {locale} is not one of "
                                 f"{', '.join(ENGINES)}")

    # ------------------------------------------------------------------ choosing
    def choice_for(self, locale: str) -> VoiceChoice:
        """The tenant's choice for ``locale`` (exact, then by language, then its choice for
        every locale, ``"*"``), else the process's default engine."""
        if locale in self.voices:
            return self.voices[locale]
        lang, _region = _lang(locale)
        if lang in self.voices:
            return self.voices[lang]
        for declared, choice in self.voices.items():
            if _lang(declared)[0] == lang:
                return choice
        return self.voices.get(EVERY_LOCALE) or VoiceChoice(self.options.default_engine)

    def _request(self, engine: str, voice: str | None, text: str, locale: str
                 ) -> PromptRequest | None:
        chosen = voice or self.engines[engine].default_voice(locale)
        if chosen is None:
            return None
        return PromptRequest(engine, chosen, normalize(text, locale))

    def plan(self, text: str, *, locale: str, engine: str | None = None,
             voice: str | None = None) -> list[PromptRequest]:
        """The requests to try in order: the chosen engine and voice, then the offline engine,
        then espeak-ng (which always has a voice). Unusable engines (edge during an outage,
        piper without a voice for the language) are left out."""
        if engine is not None and engine not in ENGINES:
            raise SpeechError(f"unknown speech engine {engine!r}; use one of "
                              f"{', '.join(ENGINES)}")
        choice = VoiceChoice(engine, voice) if engine else self.choice_for(locale)
        if voice is not None and engine is None:
            choice = VoiceChoice(choice.engine, voice)
        order = [choice, VoiceChoice(self.options.offline_engine), VoiceChoice("espeak")]
        plans: list[PromptRequest] = []
        for candidate in order:
            if candidate.engine == "edge" and not EDGE_HEALTH.usable(self._edge().endpoint):
                continue
            request = self._request(candidate.engine, candidate.voice, text, locale)
            if request is not None and request not in plans:
                plans.append(request)
        return plans

    def _edge(self) -> EdgeEngine:
        engine = self.engines["edge"]
        assert isinstance(engine, EdgeEngine)
        return engine

    # ------------------------------------------------------------------ the cache
    def path_for(self, request: PromptRequest) -> Path:
        key = request.key
        return self.options.cache_dir / request.engine / key[:2] / f"{key}.wav"

    def cached(self, text: str, *, locale: str, engine: str | None = None,
               voice: str | None = None) -> Path | None:
        """The cached prompt the next :meth:`prompt` call would return, if it is cached."""
        for request in self.plan(text, locale=locale, engine=engine, voice=voice):
            path = self.path_for(request)
            if path.is_file():
                return path
        return None

    @staticmethod
    def _store(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)  # readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ prompts
    async def prompt(self, text: str, *, locale: str, engine: str | None = None,
                     voice: str | None = None) -> Path:
        """The cached 8 kHz mono 16-bit PCM WAV of ``text``, synthesizing it on a miss.

        Args:
            text: what to say (numbers, dates, amounts and phone numbers are read out).
            locale: its language, e.g. ``zh_CN``, ``en_US``, ``ko``.
            engine: ``edge``, ``espeak`` or ``piper``; None: the tenant's choice.
            voice: a voice of that engine; None: the tenant's or the engine's for the locale.

        Raises:
            SpeechError: no engine could speak it (e.g. espeak-ng has no such language).
        """
        if not text.strip():
            raise SpeechError("a prompt needs text to speak")
        plans = self.plan(text, locale=locale, engine=engine, voice=voice)
        preferred = engine or self.choice_for(locale).engine
        errors: list[str] = []
        for index, request in enumerate(plans):
            path = self.path_for(request)
            if path.is_file():
                self.fallbacks += request.engine != preferred
                return path
            try:
                data = await self.engines[request.engine].synthesize(request.text,
                                                                     request.voice)
            except EngineUnavailable as exc:
                errors.append(str(exc))
                if request.engine == "edge":
                    fallback = plans[index + 1].engine if index + 1 < len(plans) else "none"
                    EDGE_HEALTH.failed(self._edge().endpoint, self.options.edge_retry_after,
                                       str(exc), fallback)
                continue
            except SpeechError as exc:
                errors.append(str(exc))
                if index + 1 < len(plans):
                    log.warning("%s; using %s %s instead", exc, plans[index + 1].engine,
                                plans[index + 1].voice)
                continue
            if request.engine == "edge":
                EDGE_HEALTH.worked(self._edge().endpoint)
            self.fallbacks += request.engine != preferred
            self._store(path, data)
            self.synthesized[request.engine] += 1
            return path
        raise SpeechError(f"cannot synthesize {text[:40]!r} in {locale}: " + "; ".join(errors))

    def prompt_sync(self, text: str, *, locale: str, engine: str | None = None,
                    voice: str | None = None) -> Path:
        """:meth:`prompt` for synchronous code (jobs, the CLI); safe inside a running loop's
        thread too, since it runs on a worker thread with its own loop."""
        coroutine = self.prompt(text, locale=locale, engine=engine, voice=voice)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()
