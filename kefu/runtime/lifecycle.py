"""The interaction lifecycle every channel shares, as an explicit state machine.

::

    created ──enter_flow──► in_flow ──enqueue──► queued ──offer──► offered ──answer──► connected
       │                      │  ▲                 ▲  │              │                    │
       │                      │  └──to_flow────────┼──┤◄──requeue────┘ (RONA, reject)     │
       └──enqueue─────────────┼────────────────────┘  │                        wrap_up ◄──┤
                              │                       │                           │       │
                              └──────► end (self_service, voicemail, abandoned, callback,  │
                                            overflowed, forwarded, failed)  ◄────┴───────┘

Transfers are transitions too: ``transfer_to_queue`` (connected → queued), ``transfer_to_flow``
(connected → in_flow) and ``transfer_to_agent`` (connected → offered). A contact an agent
starts (an outbound message, a call dialled out) is theirs at once: ``connect`` (created →
connected). Sans-I/O: the machine takes a trigger and ``now`` and returns the transition; the
host persists and publishes it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class State(enum.StrEnum):
    CREATED = "created"
    IN_FLOW = "in_flow"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    ENDED = "ended"


class Outcome(enum.StrEnum):
    HANDLED = "handled"
    SELF_SERVICE = "self_service"
    ABANDONED = "abandoned"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    OVERFLOWED = "overflowed"
    TRANSFERRED = "transferred"
    FORWARDED = "forwarded"
    FAILED = "failed"


class Trigger(enum.StrEnum):
    ENTER_FLOW = "enter_flow"
    ENQUEUE = "enqueue"
    OFFER = "offer"
    REQUEUE = "requeue"  # ring-no-answer, rejected offer, agent logged out while offered
    ANSWER = "answer"
    TRANSFER_TO_QUEUE = "transfer_to_queue"
    TRANSFER_TO_FLOW = "transfer_to_flow"
    TRANSFER_TO_AGENT = "transfer_to_agent"
    RETURN_TO_FLOW = "return_to_flow"  # back into a flow from the queue (e.g. max wait → menu)
    CONNECT = "connect"  # an agent starts an outbound contact: it is theirs from the start
    WRAP_UP = "wrap_up"
    END = "end"


S, T = State, Trigger
_ALIVE = (S.CREATED, S.IN_FLOW, S.QUEUED, S.OFFERED, S.CONNECTED, S.WRAP_UP)
TRANSITIONS: dict[Trigger, tuple[tuple[State, ...], State]] = {
    T.ENTER_FLOW: ((S.CREATED,), S.IN_FLOW),
    T.ENQUEUE: ((S.CREATED, S.IN_FLOW), S.QUEUED),
    T.OFFER: ((S.QUEUED,), S.OFFERED),
    T.REQUEUE: ((S.OFFERED,), S.QUEUED),
    T.ANSWER: ((S.OFFERED,), S.CONNECTED),
    T.TRANSFER_TO_QUEUE: ((S.CONNECTED,), S.QUEUED),
    T.TRANSFER_TO_FLOW: ((S.CONNECTED,), S.IN_FLOW),
    T.TRANSFER_TO_AGENT: ((S.CONNECTED,), S.OFFERED),
    T.RETURN_TO_FLOW: ((S.QUEUED,), S.IN_FLOW),
    T.CONNECT: ((S.CREATED,), S.CONNECTED),
    T.WRAP_UP: ((S.CONNECTED,), S.WRAP_UP),
    T.END: (_ALIVE, S.ENDED),
}
# Which outcomes an END may carry from which state (an interaction never answered cannot be
# "handled"; one that reached an agent cannot be "abandoned").
_END_OUTCOMES: dict[State, frozenset[Outcome]] = {
    S.CREATED: frozenset({Outcome.ABANDONED, Outcome.FAILED, Outcome.FORWARDED}),
    S.IN_FLOW: frozenset({Outcome.SELF_SERVICE, Outcome.ABANDONED, Outcome.VOICEMAIL,
                          Outcome.CALLBACK, Outcome.FORWARDED, Outcome.FAILED,
                          Outcome.TRANSFERRED}),
    S.QUEUED: frozenset({Outcome.ABANDONED, Outcome.VOICEMAIL, Outcome.CALLBACK,
                         Outcome.OVERFLOWED, Outcome.FORWARDED, Outcome.FAILED}),
    S.OFFERED: frozenset({Outcome.ABANDONED, Outcome.FAILED}),
    S.CONNECTED: frozenset({Outcome.HANDLED, Outcome.TRANSFERRED, Outcome.FORWARDED,
                            Outcome.FAILED}),
    S.WRAP_UP: frozenset({Outcome.HANDLED, Outcome.TRANSFERRED}),
}
# The timestamp each state's first entry sets (created_at is set at creation).
STAMPS: dict[State, str] = {
    S.QUEUED: "queued_at", S.OFFERED: "offered_at", S.CONNECTED: "answered_at",
    S.ENDED: "ended_at",
}


class InvalidTransition(ValueError):
    """A trigger that the interaction's current state does not allow (the message says which
    triggers it does allow)."""


@dataclass(frozen=True)
class Transition:
    """One step of an interaction's life: what happened, from where to where, when."""

    trigger: Trigger
    from_state: State
    to_state: State
    at: datetime
    outcome: Outcome | None = None
    # Stamp fields to set, e.g. {"queued_at": at}; only the first entry of a state sets it.
    stamps: dict[str, datetime] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def allowed_triggers(state: State) -> list[Trigger]:
    return [trigger for trigger, (sources, _) in TRANSITIONS.items() if state in sources]


def advance(
    state: State,
    trigger: Trigger,
    now: datetime,
    *,
    outcome: Outcome | None = None,
    already_stamped: frozenset[str] = frozenset(),
    data: dict[str, Any] | None = None,
) -> Transition:
    """Apply ``trigger`` to an interaction in ``state``.

    Args:
        state: the current state.
        trigger: what happened.
        now: when (timezone-aware).
        outcome: required with ``END``; must suit the state ended from.
        already_stamped: names of the stamp fields already set (first entry wins).
        data: details to keep with the transition (queue, agent id, reason...).

    Returns:
        The :class:`Transition` to persist and publish.

    Raises:
        InvalidTransition: the trigger is not allowed in ``state``, or the outcome is missing
            or does not fit.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sources, target = TRANSITIONS[trigger]
    if state not in sources:
        allowed = ", ".join(allowed_triggers(state)) or "nothing (it has ended)"
        raise InvalidTransition(f"cannot {trigger.value} an interaction that is {state.value}; "
                                f"allowed: {allowed}")
    if trigger is Trigger.END:
        if outcome is None:
            raise InvalidTransition("ending an interaction needs an outcome")
        if outcome not in _END_OUTCOMES[state]:
            fits = ", ".join(sorted(_END_OUTCOMES[state]))
            raise InvalidTransition(f"an interaction ending while {state.value} cannot be "
                                    f"{outcome.value}; it can be: {fits}")
    elif outcome is not None:
        raise InvalidTransition(f"only end carries an outcome, not {trigger.value}")
    stamp = STAMPS.get(target)
    stamps = {stamp: now} if stamp and stamp not in already_stamped else {}
    return Transition(trigger=trigger, from_state=state, to_state=target, at=now,
                      outcome=outcome, stamps=stamps, data=dict(data or {}))
