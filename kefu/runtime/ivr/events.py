"""What the host feeds the IVR interpreter: the caller's input and the results of actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PromptFinished:
    """One Say or Play action finished playing (voice). Text channels need not send it."""


@dataclass(frozen=True)
class Digits:
    """DTMF keys (RFC 4733 events or SIP INFO), collected up to the Collect's maximum."""

    digits: str


@dataclass(frozen=True)
class Speech:
    """A speech recognition result with its confidence in [0, 1]."""

    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class Text:
    """A typed reply (web chat, SMS)."""

    text: str


@dataclass(frozen=True)
class Touch:
    """A button pressed or a value entered on a kiosk screen."""

    choice: str


@dataclass(frozen=True)
class NoInput:
    """The caller said nothing before the Collect's timeout (as measured by the host)."""


@dataclass(frozen=True)
class Timer:
    """A timer from a StartTimer action fired."""

    name: str


@dataclass(frozen=True)
class LookupResult:
    """The result of a Lookup: ``status`` is ``ok``, ``error`` or ``timeout``.

    ``request_id`` None means "the lookup in progress"; a result for an older request is
    ignored.
    """

    status: str
    record: dict[str, Any] = field(default_factory=dict)
    request_id: int | None = None


@dataclass(frozen=True)
class Transferred:
    """The transfer connected; the flow is done with this call."""


@dataclass(frozen=True)
class TransferFailed:
    """The transfer failed (busy, no answer, rejected)."""

    reason: str = ""


@dataclass(frozen=True)
class AgentAnswered:
    """An agent answered the queued contact."""

    agent: str = ""


@dataclass(frozen=True)
class QueueTimeout:
    """The contact waited too long in the queue."""


@dataclass(frozen=True)
class NoAgents:
    """No agent is logged in to serve the queue."""


@dataclass(frozen=True)
class RecordingDone:
    """A voicemail recording finished; ``uri`` locates it."""

    uri: str = ""


@dataclass(frozen=True)
class TicketCreated:
    """A CreateTicket action's result: the new ticket's id (None: creation failed)."""

    ticket_id: str | None
    request_id: int | None = None


@dataclass(frozen=True)
class CallerHungUp:
    """The caller hung up or left the conversation."""


Event = (PromptFinished | Digits | Speech | Text | Touch | NoInput | Timer | LookupResult
         | Transferred | TransferFailed | AgentAnswered | QueueTimeout | NoAgents
         | RecordingDone | TicketCreated | CallerHungUp)
