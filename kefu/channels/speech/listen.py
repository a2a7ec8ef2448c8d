"""Recognition beside a live call: frames in on the event loop, Vosk on a worker thread,
events back on the loop.

Vosk decodes synchronously; with a grammar a 20 ms frame costs about a millisecond, but
free-form decoding with a large model can take longer than the audio itself, which would
stall every call of the event loop. :class:`CallListener` keeps the loop free:

    listener = CallListener(recognizer.stream(locale=locale, phrases=collect.phrases),
                            on_event=handle)          # handle(event) runs on the loop
    call.session.tap(listener.feed)                   # every received 8 kHz PCM frame
    ...
    listener.close()                                  # the caller hung up / DTMF answered

``handle`` gets ``STARTED`` (stop the prompt: barge-in) and then one final event
(``RECOGNIZED`` or ``NO_MATCH``; ``event.to_ivr_event()`` is what the interpreter takes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable

from kefu.channels.speech.asr import FRAME_MS, RecognitionStream, SpeechEvent

log = logging.getLogger(__name__)

MAX_BACKLOG_SECONDS = 10.0


class CallListener:
    """Feeds one recognition stream from a call on a worker thread.

    Args:
        stream: the recognition (one utterance).
        on_event: called on ``loop`` with each event; the final one ends the listener.
        loop: the event loop to report on (default: the running one).
        max_backlog_seconds: audio that may wait for the recognizer; beyond it frames are
            dropped (and logged once) rather than letting memory grow without bound.
    """

    def __init__(self, stream: RecognitionStream, on_event: Callable[[SpeechEvent], None], *,
                 loop: asyncio.AbstractEventLoop | None = None,
                 max_backlog_seconds: float = MAX_BACKLOG_SECONDS) -> None:
        self.stream = stream
        self.on_event = on_event
        self.loop = loop or asyncio.get_running_loop()
        self._frames: queue.Queue[bytes | None] = queue.Queue(
            maxsize=max(1, int(max_backlog_seconds * 1000 / FRAME_MS)))
        self._cancelled = threading.Event()  # close(): no more events for the caller
        self._done = threading.Event()  # the worker ended (final event, end of audio, error)
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name="kefu-asr", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        """True once the utterance ended (its final event is on its way) or on close()."""
        return self._done.is_set() or self._cancelled.is_set()

    def feed(self, pcm16_8k: bytes | None) -> None:
        """A received frame (None: the caller's audio ended). Never blocks."""
        if self.done:
            return
        try:
            self._frames.put_nowait(pcm16_8k)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1:
                log.warning("speech recognition falls behind the call; dropping audio")

    def close(self) -> None:
        """Stop listening (the answer came another way, or the call ended): no more events
        are delivered, not even ones already on their way."""
        self._cancelled.set()
        with contextlib.suppress(queue.Full):  # else the worker sees the flag after a frame
            self._frames.put_nowait(None)

    def join(self, timeout: float) -> bool:
        """Wait for the worker thread to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _report(self, event: SpeechEvent) -> None:
        self.loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: SpeechEvent) -> None:
        if not self._cancelled.is_set():
            self.on_event(event)

    def _run(self) -> None:
        try:
            while not self._cancelled.is_set():
                frame = self._frames.get()
                if frame is None:
                    if not self._cancelled.is_set():
                        final = self.stream.finish()
                        if final is not None:
                            self._report(final)
                    return
                event = self.stream.feed(frame)
                while event is not None:
                    self._report(event)
                    if event.final:
                        return
                    event = self.stream.poll()
        except Exception:  # a recognizer failure must not kill the call: it hears nothing
            log.exception("speech recognition failed")
        finally:
            self._done.set()
