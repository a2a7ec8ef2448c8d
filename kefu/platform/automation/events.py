"""Events for the rules engine: their data, and recording them reliably.

An event is stored as an ``automation_events`` row in the transaction of the change it
reports, and the rules job (:func:`kefu.platform.automation.rules.handle_event`) is queued
for it once that transaction commits. If the queue cannot be reached, or the process dies
between the commit and the enqueue, or the caller has no queue at hand, the row stays
``pending`` and the automation sweep queues it a few seconds later. The job's id is derived
from the event's, so the event is handled once however often it is queued.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.automation.models import AutomationEvent
from kefu.platform.customers.models import Customer
from kefu.platform.db import utcnow
from kefu.platform.interactions.models import Channel, Interaction, Message
from kefu.platform.tenancy.scope import current_tenant_id
from kefu.platform.tickets.models import Ticket

if TYPE_CHECKING:
    from kefu.platform.jobs import JobQueue

#: The event an inbound message raises, by channel. A message stored on a voice interaction
#: is a voicemail; chat and kiosk messages are ``message.received`` (replies go to web chat).
MESSAGE_EVENTS = {
    Channel.SMS: "sms.received", Channel.EMAIL: "email.received", Channel.FAX: "fax.received",
    Channel.VOICE: "voicemail.received", Channel.CHAT: "message.received",
    Channel.KIOSK: "message.received",
}


def job_id_for(event_id: uuid.UUID | str) -> str:
    """The rules job's id for an event: one job per event, whoever queues it."""
    return f"rules-{event_id}"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _plain(value: Any) -> Any:
    """JSON-ready: times as ISO text, ids as strings, enums by value, containers walked."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------- data


def customer_data(db: Session, customer_id: uuid.UUID | None) -> dict[str, Any]:
    """The ``customer`` namespace of rules (empty when there is no customer)."""
    if customer_id is None:
        return {}
    customer = db.get(Customer, customer_id)
    if customer is None:
        return {}
    phones = [p.number for p in customer.phones]
    emails = [e.address for e in customer.emails]
    return {
        "id": str(customer.id), "name": customer.name, "company": customer.company,
        "account_number": customer.account_number, "locale": customer.locale,
        "vip": customer.is_vip, "blacklisted": customer.is_blacklisted,
        "service_point": customer.service_point, "address": customer.address,
        "phone": phones[0] if phones else None, "phones": phones,
        "email": emails[0] if emails else None, "emails": emails,
    }


def interaction_data(interaction: Interaction) -> dict[str, Any]:
    """The ``interaction`` (and, for calls, ``call``) namespace of rules."""
    return {
        "id": str(interaction.id), "channel": interaction.channel.value,
        "direction": interaction.direction.value, "state": str(interaction.state),
        "queue": interaction.queue, "flow": interaction.flow,
        "from": interaction.from_address, "to": interaction.to_address,
        "subject": interaction.subject,
        "outcome": interaction.outcome.value if interaction.outcome else None,
        "disposition": interaction.disposition,
        "agent_id": None if interaction.agent_id is None else str(interaction.agent_id),
        "customer_id": None if interaction.customer_id is None else str(interaction.customer_id),
        "created_at": _iso(interaction.created_at), "answered_at": _iso(interaction.answered_at),
        "ended_at": _iso(interaction.ended_at),
        "vars": _plain(dict((interaction.data or {}).get("vars") or {})),
    }


def message_data(message: Message, interaction: Interaction) -> dict[str, Any]:
    """The ``message`` namespace of rules. ``from`` falls back to the interaction's address,
    so a reply reaches the sender even when the channel did not repeat it on the message."""
    sender = message.sender or interaction.from_address
    return {
        "id": str(message.id), "channel": message.channel.value,
        "text": message.body_text, "body": message.body_text, "subject": message.subject,
        "from": sender, "to": list(message.recipients or []),
        "external_id": message.external_id,
    }


def ticket_data(ticket: Ticket, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``ticket`` namespace of rules: the engine's variables (form fields, id, workflow,
    state, priority, assignee, agent) plus the row's number, subject and links."""
    base = dict(variables) if variables is not None else {
        **dict(ticket.data or {}), "id": str(ticket.id), "workflow": ticket.type,
        "state": ticket.state, "priority": str(ticket.priority),
        "assignee": ticket.department,
        "agent": None if ticket.assignee_agent_id is None else str(ticket.assignee_agent_id)}
    base.update({
        "number": ticket.number, "subject": ticket.subject, "type": ticket.type,
        "customer_id": None if ticket.customer_id is None else str(ticket.customer_id),
        "interaction_id": None if ticket.interaction_id is None else str(ticket.interaction_id),
        "response_due_at": _iso(ticket.response_due_at),
        "resolve_due_at": _iso(ticket.resolve_due_at),
    })
    return dict(_plain(base))


# ---------------------------------------------------------------------------- recording


def record_event(db: Session, kind: str, data: Mapping[str, Any], *, at: dt.datetime | None = None,
                 interaction_id: uuid.UUID | None = None, ticket_id: uuid.UUID | None = None,
                 chain: Sequence[str] = (), depth: int = 0,
                 jobs: JobQueue | None = None) -> AutomationEvent:
    """Store an event in ``db``'s transaction (tenant-scoped) and, with ``jobs``, queue the
    rules job for it after commit (without, the sweep queues it within seconds)."""
    event = AutomationEvent(kind=kind, data=_plain(dict(data)), interaction_id=interaction_id,
                            ticket_id=ticket_id, chain=list(chain), depth=depth,
                            at=at or utcnow())
    db.add(event)
    db.flush()
    if jobs is not None:
        queue_event(db, jobs, event)
    return event


def queue_event(db: Session, jobs: JobQueue, event: AutomationEvent) -> None:
    """Queue the rules job for a stored event once ``db`` commits."""
    from kefu.platform.automation.rules import handle_event
    from kefu.platform.jobs import enqueue_after_commit

    tenant_id = current_tenant_id(db) or event.tenant_id
    enqueue_after_commit(db, jobs, handle_event, str(tenant_id), str(event.id),
                         job_id=job_id_for(event.id))


def pending_events(db: Session, *, older_than: dt.datetime,
                   limit: int = 200) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant id, event id) of events still waiting for their job, stored before
    ``older_than``, oldest first. Platform-level: call inside ``cross_tenant``."""
    rows = db.execute(
        sa.select(AutomationEvent.tenant_id, AutomationEvent.id)
        .where(AutomationEvent.status == "pending", AutomationEvent.created_at < older_than)
        .order_by(AutomationEvent.created_at).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]
