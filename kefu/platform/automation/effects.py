"""Carrying out a workflow step's actions, in the transaction that applies the step.

The ticket row holds state, priority, department, agent and due times; the rest of a
:class:`~kefu.runtime.workflow.Step` is done here, in the same transaction, so it happens
exactly when the step is stored and never twice:

- ``Notify`` → a notification per target (see :mod:`.notify`);
- ``FollowupDue`` → the follow-up visit (回访) becomes an outbound task: an outbound voice
  interaction in state ``created`` for the ticket's customer, which agents work like any
  other contact (announced on ``tenant.<id>.routing.request``);
- ``FollowupDone`` → that task is marked done (the ticket reached the follow-up's target);
- ``Emit`` → an event for the rules engine (see :mod:`.events`), carrying the causal chain
  when a rule caused the step.

``ScheduleFollowup`` needs nothing more: the task is in the ticket's history and its due time
in ``next_wakeup_at``, so the sweep raises it when due.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.automation.events import customer_data, record_event, ticket_data
from kefu.platform.automation.notify import notify
from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.interactions.models import Channel, Direction, Interaction, InteractionState
from kefu.platform.tenancy.scope import current_tenant_id
from kefu.platform.tickets.models import Ticket
from kefu.runtime.workflow import Emit, FollowupDone, FollowupDue, Notify, Step

if TYPE_CHECKING:
    from kefu.dsl import ir
    from kefu.platform.automation.models import AutomationEvent
    from kefu.platform.events import EventBus
    from kefu.platform.jobs import JobQueue

_REASONS = {
    "transition": "needs your attention",
    "sla_warning": "is close to its deadline",
    "sla_breached": "is overdue",
    "escalated": "is escalated to you",
}


def routing_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.routing.request"


def followup_external_id(ticket_id: uuid.UUID, followup: str) -> str:
    """The follow-up task's interaction id for its channel: one task per ticket and
    follow-up, however often it is asked for."""
    return f"followup:{ticket_id}:{followup}"[:500]


class StepEffects:
    """Carries out workflow steps for one tenant session.

    Args:
        db: the tenant-scoped session the step is applied in.
        jobs: the job queue for the rules jobs of the events (None: the sweep queues them).
        bus: the event bus for notifications and routing requests (None: not announced).
        chain, depth: the causal chain when a rule's action caused the step, so the events
            it emits cannot re-trigger the same rules.
    """

    def __init__(self, db: Session, *, jobs: JobQueue | None = None,
                 bus: EventBus | None = None, chain: Sequence[str] = (),
                 depth: int = 0) -> None:
        self.db = db
        self.jobs = jobs
        self.bus = bus
        self.chain = tuple(chain)
        self.depth = depth
        self.events: list[AutomationEvent] = []

    def carry_out(self, ticket: Ticket, step: Step, config: ir.Config | None = None) -> None:
        """Do everything ``step`` asks for beyond the ticket row (see the module notes)."""
        customer: dict[str, Any] | None = None
        for action in step.actions:
            if isinstance(action, Notify):
                self._notify(ticket, action, config)
            elif isinstance(action, FollowupDue):
                self._followup_task(ticket, action, step)
            elif isinstance(action, FollowupDone):
                self._followup_done(ticket, action.followup)
            elif isinstance(action, Emit):
                if customer is None:
                    customer = customer_data(self.db, ticket.customer_id)
                self._emit(ticket, action, customer, step)

    # ------------------------------------------------------------------ actions
    def _notify(self, ticket: Ticket, action: Notify, config: ir.Config | None) -> None:
        what = f"Ticket #{ticket.number} ({ticket.type}, {ticket.state}) " \
               f"{_REASONS.get(action.reason, action.reason)}"
        if action.sla:
            what += f": {action.sla}"
            due = ticket.response_due_at
            if due is not None:
                what += f" due {due.isoformat(timespec='minutes')}"
        notify(self.db, action.targets, action.reason, what, config=config, bus=self.bus,
               ticket_id=ticket.id, interaction_id=ticket.interaction_id,
               data={"ticket_number": ticket.number, "subject": ticket.subject,
                     "state": ticket.state, "priority": str(ticket.priority),
                     "sla": action.sla})

    def _followup_task(self, ticket: Ticket, action: FollowupDue, step: Step) -> Interaction:
        external_id = followup_external_id(ticket.id, action.followup)
        existing = self.db.scalar(sa.select(Interaction).where(
            Interaction.channel == Channel.VOICE, Interaction.external_id == external_id))
        if existing is not None:
            return existing
        customer = customer_data(self.db, ticket.customer_id)
        task = next((t for t in step.ticket.followups if t.followup == action.followup), None)
        wf_followup = {"id": action.followup, "ticket_id": str(ticket.id),
                       "ticket_number": ticket.number, "workflow": ticket.type,
                       "due_at": action.due_at.isoformat(), "status": "due",
                       "form": task.form if task else None,
                       "target": task.target if task else None}
        interaction = Interaction(
            channel=Channel.VOICE, direction=Direction.OUTBOUND, state=InteractionState.CREATED,
            customer_id=ticket.customer_id, to_address=customer.get("phone"),
            subject=f"回访 {action.followup}: #{ticket.number} {ticket.subject}"[:500],
            external_id=external_id, data={"followup": wf_followup})
        self.db.add(interaction)
        self.db.flush()
        tenant_id = current_tenant_id(self.db)
        if self.bus is not None and tenant_id is not None:
            publish_after_commit(self.db, self.bus, routing_topic(tenant_id), {
                "interaction_id": str(interaction.id), "kind": "followup",
                "queue": interaction.queue, "target": ticket.department,
                "ticket_id": str(ticket.id), "followup": action.followup})
        return interaction

    def _followup_done(self, ticket: Ticket, followup: str) -> None:
        task = self.db.scalar(sa.select(Interaction).where(
            Interaction.channel == Channel.VOICE,
            Interaction.external_id == followup_external_id(ticket.id, followup)))
        if task is None:
            return
        data = dict(task.data or {})
        data["followup"] = {**dict(data.get("followup") or {}), "status": "done",
                            "done_at": utcnow().isoformat()}
        task.data = data

    def _emit(self, ticket: Ticket, action: Emit, customer: dict[str, Any], step: Step) -> None:
        data: dict[str, Any] = {k: v for k, v in action.data.items() if k != "ticket"}
        data["ticket"] = ticket_data(ticket, action.data.get("ticket"))
        data["customer"] = customer
        at = step.history[0].at if step.history else utcnow()
        self.events.append(record_event(
            self.db, action.event, data, at=at, interaction_id=ticket.interaction_id,
            ticket_id=ticket.id, chain=self.chain, depth=self.depth, jobs=self.jobs))


__all__ = ["StepEffects", "followup_external_id", "routing_topic"]
