"""The calls other parts of the platform make when something happens that rules may act on.

Each stores an event in the caller's transaction (see :mod:`.events`); nothing here reads
the config or runs rules, so the hooks are cheap and never fail a request for a rule's sake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from kefu.platform.automation.events import (
    MESSAGE_EVENTS,
    customer_data,
    interaction_data,
    message_data,
    record_event,
)
from kefu.platform.automation.models import AutomationEvent
from kefu.platform.interactions.models import Channel, Direction, Interaction, Message
from kefu.runtime.lifecycle import Outcome, Transition

if TYPE_CHECKING:
    from kefu.platform.jobs import JobQueue

#: The event an interaction's end raises, by channel (the DSL has none for the others).
ENDED_EVENTS = {Channel.VOICE: "call.ended", Channel.CHAT: "chat.ended"}


def message_received(db: Session, interaction: Interaction, message: Message, *,
                     jobs: JobQueue | None = None) -> AutomationEvent | None:
    """An inbound message was stored: raise ``sms.received``, ``email.received``... for the
    rules (None for outbound messages, which raise nothing)."""
    if message.direction != Direction.INBOUND:
        return None
    data = {"message": message_data(message, interaction),
            "customer": customer_data(db, interaction.customer_id),
            "interaction": interaction_data(interaction)}
    return record_event(db, MESSAGE_EVENTS[interaction.channel], data,
                        at=message.created_at, interaction_id=interaction.id, jobs=jobs)


def interaction_ended(db: Session, interaction: Interaction, transition: Transition, *,
                      jobs: JobQueue | None = None) -> list[AutomationEvent]:
    """An interaction ended: ``call.ended`` (and ``call.abandoned`` for an abandoned call) or
    ``chat.ended``. A follow-up visit's interaction always raises an event, so the host can
    close the loop on its ticket (see :mod:`.rules`), whatever its channel."""
    kinds = []
    kind = ENDED_EVENTS.get(interaction.channel)
    if kind is None and (interaction.data or {}).get("followup"):
        kind = "interaction.ended"
    if kind is not None:
        kinds.append(kind)
    if interaction.channel == Channel.VOICE and transition.outcome == Outcome.ABANDONED:
        kinds.append("call.abandoned")
    if not kinds:
        return []
    customer = customer_data(db, interaction.customer_id)
    facts = interaction_data(interaction)
    data = {"interaction": facts, "customer": customer}
    if interaction.channel == Channel.VOICE:
        data["call"] = facts
        data["caller"] = {"number": interaction.from_address,
                          "vip": bool(customer.get("vip"))}
    return [record_event(db, k, data, at=transition.at, interaction_id=interaction.id,
                         jobs=jobs) for k in kinds]
