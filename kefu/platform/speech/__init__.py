"""Hosting speech: synthesizers and recognizers built from the settings and a tenant's config,
and the deploy-time job that synthesizes a config's prompts ahead (:mod:`.jobs`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kefu.channels.speech.asr import Recognizer
from kefu.channels.speech.tts import EVERY_LOCALE, SpeechOptions, Synthesizer, VoiceChoice
from kefu.dsl import ir
from kefu.platform.settings import Settings

__all__ = ["recognizer_for", "speech_options", "static_prompts", "synthesizer_for",
           "tenant_voices"]


def speech_options(settings: Settings) -> SpeechOptions:
    """The process's TTS options from the ``speech.*`` settings."""
    voices_dir = str(settings["speech.piper_voices_dir"] or "")
    return SpeechOptions(
        cache_dir=Path(settings["prompt_cache_dir"]),
        default_engine=settings["speech.tts_engine"],
        offline_engine=settings["speech.offline_engine"],
        edge_proxy=settings["speech.edge_tts_proxy"] or None,
        edge_connect_timeout=float(settings["speech.edge_tts_connect_timeout"]),
        edge_retry_after=float(settings["speech.edge_tts_retry_after"]),
        piper_voice_dirs=(Path(voices_dir),) if voices_dir else (),
    )


def tenant_voices(config: ir.Config | None) -> dict[str, VoiceChoice]:
    """The tenant's ``speech { tts … }`` choices by locale (``"*"``: every other locale)."""
    if config is None:
        return {}
    return {choice.locale or EVERY_LOCALE: VoiceChoice(choice.engine, choice.voice)
            for choice in config.tts}


def synthesizer_for(settings: Settings, config: ir.Config | None = None) -> Synthesizer:
    """A synthesizer with the settings' options and the tenant config's voices."""
    return Synthesizer(speech_options(settings), tenant_voices(config))


def recognizer_for(settings: Settings) -> Recognizer:
    """A recognizer with the models and thresholds of the settings."""
    return Recognizer(dict(settings["speech.vosk_models"]),
                      min_confidence=float(settings["speech.asr_min_confidence"]),
                      silence=float(settings["speech.asr_silence"]))


def _texts(text: ir.Text | None) -> Iterator[tuple[str, str]]:
    if text is not None:
        yield from ((text_, locale) for locale, text_ in text.texts.items())


def static_prompts(config: ir.Config) -> list[tuple[str, str]]:
    """Every fixed text a call of this config may hear, as ``(text, locale)``: named prompts,
    the prompts of flow steps, their reprompts and apologies, and queue announcements. Texts
    with ``{placeholders}`` depend on the call and are synthesized when said."""
    found: list[tuple[str, str]] = []
    for prompt in config.prompts:
        if prompt.kind == "prompt":
            found.extend((text, locale) for locale, text in prompt.texts.items())
    for flow in config.flows:
        for handler in flow.handlers:
            found.extend(_texts(handler.text))
        for node in flow.nodes:
            found.extend(_texts(node.prompt))
            for handler in node.handlers:
                found.extend(_texts(handler.text))
    for queue in config.queues:
        found.extend(_texts(queue.announce))
    default = config.tenant.locales[0] if config.tenant.locales else "en"
    unique: dict[tuple[str, str], None] = {}
    for text, locale in found:
        if text.strip() and "{" not in text:
            unique.setdefault((text, locale or default), None)
    return list(unique)
