"""Prompts: real speech from espeak-ng and piper in telephony format, the prompt cache, the
tenant's engine choice and the offline fallback when edge-tts cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import wave
from pathlib import Path

import pytest

from kefu.channels.speech.audio import read_wav, rms, voiced_fraction
from kefu.channels.speech.tts import SpeechError, SpeechOptions, Synthesizer, VoiceChoice


def assert_telephony_speech(path: Path, min_seconds: float, max_seconds: float) -> None:
    with wave.open(str(path), "rb") as handle:
        assert (handle.getframerate(), handle.getnchannels(), handle.getsampwidth()) == (8000, 1, 2)
    pcm = read_wav(path)
    assert min_seconds <= pcm.seconds <= max_seconds, pcm.seconds
    assert rms(pcm.samples) > 500, "the prompt is (nearly) silent"
    assert voiced_fraction(pcm) > 0.4, "too few frames carry speech"


def test_espeak_prompt_is_real_speech_and_cached(synthesizer: Synthesizer) -> None:
    text = "Welcome to the gas company. For billing press one, for a leak press two."
    path = synthesizer.prompt_sync(text, locale="en_US")
    # ~14 words at 160 words a minute: about five seconds of speech
    assert_telephony_speech(path, 3.0, 9.0)
    assert synthesizer.synthesized == {"espeak": 1}
    before = path.stat().st_mtime_ns

    again = asyncio.run(synthesizer.prompt(text, locale="en_US"))

    assert again == path
    assert synthesizer.synthesized == {"espeak": 1}, "the second request synthesized again"
    assert path.stat().st_mtime_ns == before


def test_a_longer_text_gives_a_longer_prompt(synthesizer: Synthesizer) -> None:
    short = read_wav(synthesizer.prompt_sync("您好", locale="zh_CN"))
    long = read_wav(synthesizer.prompt_sync("您好,欢迎致电港湾燃气客户服务中心,订气请按一,报修请按二。",
                                            locale="zh_CN"))
    assert long.seconds > 3 * short.seconds


def test_cache_is_shared_by_synthesizers_of_the_same_directory(options: SpeechOptions) -> None:
    first = Synthesizer(options, {"*": VoiceChoice("espeak")})
    path = first.prompt_sync("Your call is important to us.", locale="en")
    second = Synthesizer(options, {"*": VoiceChoice("espeak")})

    assert second.cached("Your call is important to us.", locale="en") == path
    assert second.prompt_sync("Your call is important to us.", locale="en") == path
    assert not second.synthesized


def test_engine_voice_and_text_make_different_cache_entries(synthesizer: Synthesizer) -> None:
    a = synthesizer.prompt_sync("Hello", locale="en_US")
    b = synthesizer.prompt_sync("Hello", locale="en_US", voice="en-gb")
    c = synthesizer.prompt_sync("Hello there", locale="en_US")
    assert len({a, b, c}) == 3
    assert synthesizer.synthesized == {"espeak": 3}


def test_numbers_are_read_out_before_synthesis(synthesizer: Synthesizer) -> None:
    # The same words written with digits and in full are the same prompt.
    digits = synthesizer.prompt_sync("您的余额为¥1,234.50", locale="zh_CN")
    words = synthesizer.prompt_sync("您的余额为一千二百三十四元五角", locale="zh_CN")
    assert digits == words
    assert synthesizer.synthesized == {"espeak": 1}


def test_piper_voice_package_speaks(options: SpeechOptions) -> None:
    synthesizer = Synthesizer(options, {"en_US": VoiceChoice("piper")})
    path = synthesizer.prompt_sync("Thank you for calling. Goodbye.", locale="en_US")
    assert path.parts[-3] == "piper"
    assert_telephony_speech(path, 1.0, 5.0)
    assert synthesizer.synthesized == {"piper": 1}


def test_piper_without_a_voice_for_the_language_falls_back_to_espeak(
        options: SpeechOptions) -> None:
    synthesizer = Synthesizer(options, {"zh_CN": VoiceChoice("piper")})
    path = synthesizer.prompt_sync("您好", locale="zh_CN")
    assert path.parts[-3] == "espeak"
    assert synthesizer.fallbacks == 1


def test_tenant_preferring_edge_gets_offline_prompts_without_network(
        options: SpeechOptions, caplog: pytest.LogCaptureFixture) -> None:
    synthesizer = Synthesizer(options, {"zh_CN": VoiceChoice("edge", "zh-CN-XiaoxiaoNeural")})
    caplog.set_level(logging.WARNING, logger="kefu.channels.speech.tts")
    texts = ["您好,欢迎致电。", "请按一。", "再见。"]

    paths = [synthesizer.prompt_sync(text, locale="zh_CN") for text in texts]

    for path in paths:
        assert path.parts[-3] == "espeak"
        assert_telephony_speech(path, 0.3, 6.0)
    assert synthesizer.fallbacks == 3
    assert synthesizer.synthesized == {"espeak": 3}
    warnings = [r for r in caplog.records if "edge-tts unreachable" in r.getMessage()]
    assert len(warnings) == 1, "the fallback is logged once, not per prompt"
    assert "127.0.0.1:1" in warnings[0].getMessage()


def test_edge_is_the_default_engine_and_falls_back(options: SpeechOptions) -> None:
    synthesizer = Synthesizer(options)  # no tenant choice: the options' default, edge
    assert synthesizer.choice_for("en_US") == VoiceChoice("edge")
    path = synthesizer.prompt_sync("Hello", locale="en_US")
    assert path.parts[-3] == "espeak"


def test_tenant_choice_by_locale_then_language_then_every_locale(
        options: SpeechOptions) -> None:
    synthesizer = Synthesizer(options, {"zh_CN": VoiceChoice("edge", "zh-CN-YunxiNeural"),
                                        "en": VoiceChoice("piper"),
                                        "*": VoiceChoice("espeak")})
    assert synthesizer.choice_for("zh_CN") == VoiceChoice("edge", "zh-CN-YunxiNeural")
    assert synthesizer.choice_for("en_GB") == VoiceChoice("piper")
    assert synthesizer.choice_for("ko") == VoiceChoice("espeak")


def test_an_explicit_engine_and_voice_win(synthesizer: Synthesizer) -> None:
    path = synthesizer.prompt_sync("Hello", locale="en_US", engine="piper",
                                   voice="en_US-joe-medium")
    assert path.parts[-3] == "piper"


def test_bad_requests_are_named(synthesizer: Synthesizer) -> None:
    with pytest.raises(SpeechError, match="unknown speech engine 'festival'"):
        synthesizer.prompt_sync("Hello", locale="en", engine="festival")
    with pytest.raises(SpeechError, match="needs text"):
        synthesizer.prompt_sync("  ", locale="en")
    with pytest.raises(SpeechError, match="espeak-ng cannot speak with voice 'xx'"):
        synthesizer.prompt_sync("Hello", locale="xx")
    assert not synthesizer.synthesized


def test_a_voice_the_engine_lacks_falls_back_to_its_default_voice(
        synthesizer: Synthesizer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kefu.channels.speech.tts")
    path = synthesizer.prompt_sync("Hello", locale="en", engine="espeak", voice="xx-nonexistent")
    assert path == synthesizer.prompt_sync("Hello", locale="en", engine="espeak", voice="en-us")
    assert "voice 'xx-nonexistent'" in caplog.text


def test_prompt_sync_works_inside_a_running_event_loop(synthesizer: Synthesizer) -> None:
    async def main() -> Path:
        return synthesizer.prompt_sync("Hello", locale="en")

    assert asyncio.run(main()).is_file()


def test_unknown_engine_in_options_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="offline_engine 'edge'"):
        SpeechOptions(cache_dir=tmp_path, offline_engine="edge")


def test_mp3_audio_is_converted_to_telephony(synthesizer: Synthesizer, tmp_path: Path) -> None:
    # edge-tts answers in 24 kHz MP3; sox (with libsox-fmt-mp3) decodes and resamples it
    import subprocess

    from kefu.channels.speech.audio import parse_wav, to_telephony_sync

    source = synthesizer.prompt_sync("This is an MP3 prompt.", locale="en_US")
    mp3 = tmp_path / "prompt.mp3"
    subprocess.run(["sox", str(source), "-r", "24000", str(mp3)], check=True, timeout=30)
    pcm = parse_wav(to_telephony_sync(mp3.read_bytes(), "mp3"))
    assert pcm.rate == 8000
    assert abs(pcm.seconds - read_wav(source).seconds) < 0.2
    assert voiced_fraction(pcm) > 0.4
