"""Recognition beside a live call: frames fed on the event loop, Vosk on a worker thread,
barge-in and the answer reported back on the loop."""

from __future__ import annotations

import asyncio

from kefu.channels.speech.asr import FRAME_BYTES, EventKind, Recognizer, SpeechEvent
from kefu.channels.speech.listen import CallListener
from kefu.channels.speech.tts import Synthesizer
from tests.channels.speech.conftest import spoken

MENU = ["상담원", "예약", "안내", "변경"]
WAIT = 60.0


def listen(recognizer: Recognizer, samples: bytes, *, end_of_audio: bool = False,
           close_after: int | None = None) -> tuple[list[SpeechEvent], CallListener]:
    async def main() -> tuple[list[SpeechEvent], CallListener]:
        events: list[SpeechEvent] = []
        final = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_event(event: SpeechEvent) -> None:
            assert asyncio.get_running_loop() is loop  # reported on the call's loop
            events.append(event)
            if event.final:
                final.set()

        listener = CallListener(recognizer.stream(locale="ko", phrases=MENU, silence=0.5),
                                on_event)
        for index, offset in enumerate(range(0, len(samples), FRAME_BYTES)):
            if close_after is not None and index == close_after:
                listener.close()
            listener.feed(samples[offset:offset + FRAME_BYTES])
            await asyncio.sleep(0)
        if end_of_audio:
            listener.feed(None)
        if close_after is None:
            await asyncio.wait_for(final.wait(), WAIT)
        assert await asyncio.to_thread(listener.join, WAIT)
        await asyncio.sleep(0.05)  # anything still on its way to the loop arrives now
        return events, listener

    return asyncio.run(main())


def test_barge_in_then_the_answer_arrive_on_the_loop(korean: Recognizer,
                                                    synthesizer: Synthesizer) -> None:
    events, listener = listen(korean, spoken(synthesizer, "안내", "ko").samples)
    assert [e.kind for e in events] == [EventKind.STARTED, EventKind.RECOGNIZED]
    assert events[1].phrase == "안내"
    assert listener.done


def test_end_of_the_callers_audio_gives_the_result(korean: Recognizer,
                                                   synthesizer: Synthesizer) -> None:
    # the caller hangs up right after the word: no trailing silence to end the utterance
    audio = spoken(synthesizer, "변경", "ko", tail=0.0).samples
    events, _ = listen(korean, audio, end_of_audio=True)
    assert events[-1].kind is EventKind.RECOGNIZED
    assert events[-1].phrase == "변경"


def test_close_stops_every_event(korean: Recognizer, synthesizer: Synthesizer) -> None:
    # the caller pressed a key during the silence before speaking: speech no longer counts
    events, listener = listen(korean, spoken(synthesizer, "예약", "ko", lead=0.5).samples,
                              close_after=10)
    assert events == []
    assert listener.done
