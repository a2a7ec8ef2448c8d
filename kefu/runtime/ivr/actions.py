"""What the IVR interpreter asks its host to do, and the presentation modes of a channel.

The interpreter is sans-I/O: it never plays audio, reads a socket or calls a URL. Each call
of :meth:`~kefu.runtime.ivr.interpreter.Interpreter.start` or
:meth:`~kefu.runtime.ivr.interpreter.Interpreter.feed` returns a list of these actions; the
host performs them in order and feeds the results back as events
(:mod:`kefu.runtime.ivr.events`).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


class Mode(enum.Enum):
    """How the channel presents a menu and what the caller answers with."""

    VOICE = "voice"  # prompts are spoken; answers are DTMF or speech
    TEXT = "text"  # chat, SMS: prompts are messages; a menu is numbered lines; answers are text
    TOUCH = "touch"  # kiosk: prompts are shown; menu options are buttons


@dataclass(frozen=True)
class Choice:
    """One menu option as a channel presents it: ``key`` (DTMF key, line number, button id),
    ``label`` (what a text or touch channel shows) and the ``phrases`` speech may use."""

    key: str
    label: str
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Say:
    """Speak (voice) or show (text, touch) ``text`` in ``locale``.

    ``barge_in``: caller input while this prompt plays stops it and counts as the answer.
    ``prompt`` is the shared prompt id, if the text came from one.
    """

    text: str
    locale: str
    barge_in: bool = True
    prompt: str | None = None


@dataclass(frozen=True)
class Play:
    """Play a recorded audio file (voice only; other channels may show or skip it)."""

    audio: str
    barge_in: bool = True


@dataclass(frozen=True)
class StopPrompts:
    """Barge-in: stop every queued or playing prompt now."""


@dataclass(frozen=True)
class Collect:
    """Wait for the caller's answer to node ``node``.

    Attributes:
        node: the ask, menu or callback node waiting.
        mode: the presentation mode of the channel.
        dtmf: (min, max) digits accepted on a keypad, or None.
        speech: speech (or free text) is accepted.
        phrases: words the recognizer should expect (menu phrases), a speech grammar hint.
        choices: menu options to present (numbered lines in text mode, buttons in touch mode).
        timeout: seconds of silence after the prompts end before a no-input.
    """

    node: str
    mode: Mode
    dtmf: tuple[int, int] | None
    speech: bool
    phrases: tuple[str, ...]
    choices: tuple[Choice, ...]
    timeout: int

    def text_menu(self) -> str:
        """The choices as numbered text lines, the way a chat or SMS channel shows a menu.

        Returns:
            One ``"key. label"`` line per choice, joined with newlines ("" for no choices).
        """
        return "\n".join(f"{c.key}. {c.label}" for c in self.choices)


@dataclass(frozen=True)
class StartTimer:
    """Feed ``Timer(name)`` at virtual time ``due`` unless the session moved on (a later
    timer with the same name prefix replaces it; stale timers are ignored when fed)."""

    name: str
    due: dt.datetime


@dataclass(frozen=True)
class Lookup:
    """Call an allow-listed HTTP data source and feed back ``LookupResult(request_id, …)``."""

    request_id: int
    http: str
    method: str
    url: str
    timeout_ms: int
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Enqueue:
    """Put the contact in ACD queue ``queue``; ``priority`` and ``team`` are the queue's
    conditional hints evaluated for this contact. Feed AgentAnswered, QueueTimeout or NoAgents.
    """

    queue: str
    priority: int | None = None
    team: str | None = None


@dataclass(frozen=True)
class Transfer:
    """Blind-transfer the call to ``number``; feed Transferred or TransferFailed."""

    number: str


@dataclass(frozen=True)
class Record:
    """Record a voicemail for mailbox ``box`` after a tone; feed RecordingDone."""

    box: str
    max_seconds: int = 120
    beep: bool = True


@dataclass(frozen=True)
class ScheduleCallback:
    """The caller accepted a call back from ``queue`` at ``number``."""

    queue: str
    number: str


@dataclass(frozen=True)
class CreateTicket:
    """Create a work order of ``workflow`` with ``fields``; feed TicketCreated."""

    request_id: int
    workflow: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendMessage:
    """Send ``text`` (from template ``template``) on ``channel`` (sms, email…) to ``to``."""

    channel: str
    template: str | None
    text: str
    to: str


@dataclass(frozen=True)
class ReturnToAgent:
    """A flow an agent transferred the contact into has returned: hand the contact and the
    flow's variables back to ``target``."""

    target: str
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hangup:
    """Release the call (voice) or close the conversation (text, touch)."""


@dataclass(frozen=True)
class Step:
    """Trace only (``Interpreter(trace=True)``): the session entered node ``node`` of flow
    ``flow``. Flow tests and ``kefu simulate`` use it for ``expect step`` and coverage; a
    channel host never asks for it and would simply ignore it."""

    flow: str
    node: str


@dataclass(frozen=True)
class Ended:
    """The session is over. ``outcome`` is one of completed, answered, transferred,
    voicemail, returned, abandoned, error, retries_exhausted, timeout; ``node`` is the node
    where it ended and ``detail`` e.g. the agent or number."""

    outcome: str
    node: str | None = None
    detail: str = ""


Action = (Say | Play | StopPrompts | Collect | StartTimer | Lookup | Enqueue | Transfer | Record
          | ScheduleCallback | CreateTicket | SendMessage | ReturnToAgent | Hangup | Step | Ended)
