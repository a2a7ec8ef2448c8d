"""Tickets (work orders): numbering, finding, changing with a history of every change."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from kefu.platform.agents.models import Agent
from kefu.platform.automation.effects import StepEffects
from kefu.platform.customers.models import Customer
from kefu.platform.db import paginate, utcnow
from kefu.platform.interactions.models import Interaction
from kefu.platform.tenancy.sequences import next_in_tenant
from kefu.platform.tickets.models import Ticket, TicketEvent
from kefu.platform.tickets.workflow import TicketWorkflow
from kefu.runtime.workflow import UnknownWorkflow, WorkflowEngine


def _plain(value: Any) -> Any:
    """A JSON-ready form of a field value for the history."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _overdue(now: datetime) -> sa.ColumnElement[bool]:
    """Open and past its resolution deadline, or past its response deadline unanswered."""
    return sa.and_(
        Ticket.closed_at.is_(None),
        sa.or_(
            sa.and_(Ticket.resolve_due_at.is_not(None), Ticket.resolve_due_at < now),
            sa.and_(Ticket.response_due_at.is_not(None), Ticket.first_response_at.is_(None),
                    Ticket.response_due_at < now),
        ),
    )


class TicketService:
    """Tickets of one tenant. With ``engine`` (the tenant's deployed config), tickets whose
    type names a workflow are opened and moved by the workflow engine; without it (nothing
    deployed), types and states are free-form names."""

    def __init__(self, db: Session, engine: WorkflowEngine | None = None, *,
                 effects: StepEffects | None = None) -> None:
        self.db = db
        self.workflows = None if engine is None else TicketWorkflow(db, engine, effects=effects)

    def search(
        self, *, state: str | None = None, type: str | None = None,
        priority: str | None = None, assignee_agent_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None, department: str | None = None,
        overdue: bool | None = None, now: datetime | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[Ticket], int]:
        """Newest (highest number) first."""
        query = sa.select(Ticket).order_by(Ticket.number.desc())
        for column, value in ((Ticket.state, state), (Ticket.type, type),
                              (Ticket.priority, priority),
                              (Ticket.assignee_agent_id, assignee_agent_id),
                              (Ticket.customer_id, customer_id),
                              (Ticket.department, department)):
            if value is not None:
                query = query.where(column == value)
        if overdue is not None:
            condition = _overdue(now or utcnow())
            query = query.where(condition if overdue else sa.not_(condition))
        return paginate(self.db, query, limit, offset)

    def get(self, ticket_id: uuid.UUID, *, with_history: bool = False,
            for_update: bool = False) -> Ticket | None:
        """The ticket; ``for_update`` locks its row until the transaction ends (PostgreSQL;
        SQLite serializes writers anyway), so the timer sweep skips it meanwhile."""
        query = sa.select(Ticket).where(Ticket.id == ticket_id)
        if with_history:
            query = query.options(selectinload(Ticket.history))
        if for_update:
            query = query.with_for_update(of=Ticket).execution_options(populate_existing=True)
        return self.db.scalar(query)

    def history(self, ticket_id: uuid.UUID, limit: int = 50,
                offset: int = 0) -> tuple[list[TicketEvent], int]:
        query = (sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                 .order_by(TicketEvent.created_at, TicketEvent.id))
        return paginate(self.db, query, limit, offset)

    def missing_reference(self, fields: dict[str, Any]) -> tuple[str, str] | None:
        """The first of customer_id, interaction_id, assignee_agent_id in ``fields`` that
        names no record of this tenant, as ``(field, what)``; None when all exist."""
        for name, model, what in (("customer_id", Customer, "customer"),
                                  ("interaction_id", Interaction, "interaction"),
                                  ("assignee_agent_id", Agent, "agent")):
            value = fields.get(name)
            if value is not None and self.db.scalar(
                    sa.select(model.id).where(model.id == value)) is None:
                return name, what
        return None

    def create(self, fields: dict[str, Any], actor_user_id: uuid.UUID | None, *,
               roles: frozenset[str] = frozenset()) -> Ticket:
        """Open a ticket with the next number of the tenant and a "created" history entry.

        With a deployed config the ``type`` must name one of its workflows: the engine sets
        the initial state, the assignment and the SLA due times, and writes the history.

        Raises:
            kefu.runtime.workflow.UnknownWorkflow: the type names no workflow of the config.
            kefu.runtime.workflow.MissingFields: required form fields are empty.
        """
        if self.workflows is not None:
            if not self.workflows.has(fields["type"]):
                known = ", ".join(self.workflows.names()) or "none"
                raise UnknownWorkflow(f"no workflow `{fields['type']}` in the deployed "
                                      f"config (known: {known})")
            return self.workflows.create(fields, actor_user_id, roles, utcnow())
        ticket = Ticket(**fields, created_by_user_id=actor_user_id)
        ticket.number = next_in_tenant(self.db, Ticket.number, "tickets")
        self.db.add(ticket)
        self.db.flush()
        self._event(ticket, "created", actor_user_id, to_state=ticket.state)
        self.db.flush()
        return ticket

    def change(self, ticket: Ticket, fields: dict[str, Any], actor_user_id: uuid.UUID | None,
               *, roles: frozenset[str] = frozenset()) -> list[str]:
        """Apply ``fields`` and return the names of those that changed (sorted).

        On a ticket that follows a workflow, a new ``state`` (a state or transition name) goes
        through the engine after the other fields are applied: roles, transition and guard are
        checked, and assignment, SLA clocks and ``closed_at`` follow.

        Raises:
            kefu.runtime.workflow.InvalidTransition, NotAllowed, GuardFailed: the move is
                refused (the caller rolls the transaction back: nothing is applied).
        """
        workflow = None if self.workflows is None else self.workflows.workflow_of(ticket)
        target = fields.get("state")
        if workflow is None or self.workflows is None or target is None \
                or target == ticket.state:
            event = self.update(ticket, fields, actor_user_id)
            return sorted(event.changes) if event is not None else []
        others = {k: v for k, v in fields.items() if k != "state"}
        event = self.update(ticket, others, actor_user_id)
        changed = set(event.changes) if event is not None else set()
        step = self.workflows.transition(ticket, target, actor_user_id, roles, utcnow())
        for entry in step.history:
            changed.update(k for k in entry.changes)
        changed.add("state")
        return sorted(changed)

    def update(self, ticket: Ticket, fields: dict[str, Any],
               actor_user_id: uuid.UUID | None) -> TicketEvent | None:
        """Apply the fields that differ and record them as one history entry
        ``{field: [old, new]}`` (None when nothing changed)."""
        changes: dict[str, list[Any]] = {}
        old_state = ticket.state
        for name, value in fields.items():
            old = getattr(ticket, name)
            if old != value:
                changes[name] = [_plain(old), _plain(value)]
                setattr(ticket, name, value)
        if not changes:
            return None
        action = "state_changed" if "state" in changes else "updated"
        event = self._event(ticket, action, actor_user_id, changes=changes,
                            from_state=old_state, to_state=ticket.state)
        self.db.flush()
        return event

    def comment(self, ticket: Ticket, text: str, actor_user_id: uuid.UUID | None) -> TicketEvent:
        """Add a comment; the first one is the ticket's first response."""
        changes: dict[str, list[Any]] = {}
        if ticket.first_response_at is None:
            now = utcnow()
            changes["first_response_at"] = [None, _plain(now)]
            ticket.first_response_at = now
        event = self._event(ticket, "comment", actor_user_id, changes=changes, comment=text)
        self.db.flush()
        return event

    def _event(self, ticket: Ticket, action: str, actor_user_id: uuid.UUID | None,
               **fields: Any) -> TicketEvent:
        event = TicketEvent(ticket_id=ticket.id, action=action, actor_user_id=actor_user_id,
                            **fields)
        self.db.add(event)
        return event
