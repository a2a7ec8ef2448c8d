"""/api/v1/tickets: work orders (registration, complaint, repair, enquiry...) and their history.

When the tenant has a deployed config, a ticket's type must name one of its workflows and the
workflow engine opens and moves it: initial state, assignment and SLA due times on the
business calendar are set for it, and a new state must be a transition the caller's roles
allow. With no config deployed, types and states are free-form names. Every change is
recorded as a history entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import ApiError, Conflict, InvalidField, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out, Query, not_null
from kefu.platform.automation.effects import StepEffects
from kefu.platform.identity.members import MemberService
from kefu.platform.identity.permissions import Permission
from kefu.platform.tickets.models import Priority
from kefu.platform.tickets.services import TicketService
from kefu.platform.tickets.workflow import engine_for
from kefu.runtime.workflow import (
    GuardFailed,
    InvalidTransition,
    MissingFields,
    NotAllowed,
    UnknownWorkflow,
    WorkflowEngine,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# Times must carry a zone ("...Z" or "+08:00"); they are kept and returned in UTC.
Time = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class TicketCreate(Body):
    type: Name = Field(description="the workflow the ticket follows (free-form when the "
                                   "tenant has no deployed config)")
    state: Name = Field("new", description="ignored for workflow tickets (they start in the "
                                           "workflow's initial state)")
    priority: Priority = Priority.NORMAL
    subject: Subject
    description: str = Field("", max_length=20000)
    customer_id: uuid.UUID | None = None
    interaction_id: uuid.UUID | None = None
    department: Name | None = None
    assignee_agent_id: uuid.UUID | None = None
    response_due_at: Time | None = None
    resolve_due_at: Time | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="form fields")


class TicketUpdate(Body):
    state: Name | None = Field(None, description="for a workflow ticket: a target state or a "
                                                 "transition name the caller's roles allow")
    priority: Priority | None = None
    subject: Subject | None = None
    description: str | None = Field(None, max_length=20000)
    customer_id: uuid.UUID | None = None
    department: Name | None = None
    assignee_agent_id: uuid.UUID | None = None
    response_due_at: Time | None = None
    resolve_due_at: Time | None = None
    data: dict[str, Any] | None = Field(None, description="replaces the whole data object")

    _not_null = not_null("state", "priority", "subject", "description", "data")


class CommentCreate(Body):
    comment: Annotated[str, StringConstraints(min_length=1, max_length=20000)]


class TicketEventOut(Out):
    id: uuid.UUID
    ticket_id: uuid.UUID
    action: str
    from_state: str | None
    to_state: str | None
    changes: dict[str, Any]
    comment: str | None
    actor_user_id: uuid.UUID | None
    created_at: datetime


class TicketOut(Out):
    id: uuid.UUID
    number: int
    type: str
    state: str
    priority: Priority
    subject: str
    description: str
    customer_id: uuid.UUID | None
    interaction_id: uuid.UUID | None
    department: str | None
    assignee_agent_id: uuid.UUID | None
    created_by_user_id: uuid.UUID | None
    response_due_at: datetime | None
    resolve_due_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    next_wakeup_at: datetime | None = Field(
        description="when the workflow's next timer is due (SLA warning, breach, escalation, "
                    "automatic transition, follow-up); the automation sweep acts on it")
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TicketDetailOut(TicketOut):
    history: list[TicketEventOut]


class TicketQuery(Query):
    state: str | None = Field(None, max_length=100)
    type: str | None = Field(None, max_length=100)
    priority: Priority | None = None
    department: str | None = Field(None, max_length=100)
    assignee_agent_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    overdue: bool | None = Field(None, description="open and past a due time (or not)")


def _service(request: Request) -> TicketService:
    """The ticket service, with the workflow engine of the tenant's deployed config; what a
    step asks for beyond the row (notifications, follow-up tasks, events for the rules) is
    carried out in the request's transaction, rules jobs queued after it commits."""
    loaded = request.platform.configs.deployed(request.identity.tenant_id)
    engine: WorkflowEngine | None = None
    if loaded is not None:
        engine = engine_for(loaded.version_id, loaded.config)
    effects = StepEffects(request.db, jobs=request.platform.jobs, bus=request.platform.bus)
    return TicketService(request.db, engine, effects=effects)


def _roles(request: Request) -> frozenset[str]:
    """What the workflow checks transitions against: the caller's platform roles and the
    roles of the tenant's config they hold (值班长...)."""
    duty = MemberService(request.db).duty_roles(request.identity.user_id)
    return frozenset(str(role) for role in request.identity.roles) | frozenset(duty)


def _load(request: Request, ticket_id: uuid.UUID, *, with_history: bool = False,
          for_update: bool = False) -> Any:
    ticket = TicketService(request.db).get(ticket_id, with_history=with_history,
                                           for_update=for_update)
    if ticket is None:
        raise NotFound("ticket")
    return ticket


def _check_form(request: Request, workflow_id: str, data: dict[str, Any]) -> None:
    """The workflow form's answers in ``data`` must pass the DSL's rules, the same check as
    ``POST /forms/{form}/validate`` (422 naming each field with the DSL's message). Keys
    that are not fields of the form are kept as they are."""
    from kefu.platform.api.forms import form_errors
    from kefu.runtime.forms import check_form

    loaded = request.platform.configs.deployed(request.identity.tenant_id)
    if loaded is None:
        return
    workflow = next((w for w in loaded.config.workflows if w.id == workflow_id), None)
    form = next((f for f in loaded.config.forms
                 if workflow is not None and f.id == workflow.form), None)
    if form is None:
        return
    names = {f.id for f in form.fields}
    locales = loaded.config.tenant.locales
    errors = check_form(form, {k: v for k, v in data.items() if k in names},
                        locales[0] if locales else None)
    if errors:
        raise form_errors(errors, "data.")


def _check_references(request: Request, fields: dict[str, Any]) -> None:
    missing = TicketService(request.db).missing_reference(fields)
    if missing is not None:
        field, what = missing
        raise InvalidField(field, f"no {what} of this tenant has this id")


@api("/tickets", "GET", permission=Permission.TICKETS_READ, tag="tickets",
     summary="List tickets, newest first", query=TicketQuery, response=TicketOut,
     list_response=True)
def list_tickets(request: Request, query: TicketQuery) -> Any:
    filters = query.model_dump(exclude={"limit", "offset"})
    items, total = TicketService(request.db).search(
        **filters, limit=query.limit, offset=query.offset)
    return [TicketOut.model_validate(t) for t in items], total


@api("/tickets", "POST", permission=Permission.TICKETS_WRITE, tag="tickets",
     summary="Open a ticket (numbered per tenant). With a deployed config, `type` names one "
             "of its workflows, which sets the initial state, assignment and SLA due times; "
             "with none deployed, type and state are free-form.",
     body=TicketCreate, response=TicketDetailOut, status=201)
def create_ticket(request: Request, body: TicketCreate) -> TicketDetailOut:
    fields = body.model_dump()
    _check_references(request, fields)
    _check_form(request, fields["type"], fields["data"])
    service = _service(request)
    try:
        ticket = service.create(fields, request.identity.user_id, roles=_roles(request))
    except UnknownWorkflow as exc:
        raise InvalidField("type", str(exc)) from exc
    except MissingFields as exc:
        raise ApiError(422, "validation_failed", str(exc), [
            {"field": f"data.{name}", "message": "required"} for name in exc.fields]) from exc
    audit_change(request, "ticket.create", ticket, number=ticket.number)
    return TicketDetailOut.model_validate(_load(request, ticket.id, with_history=True))


@api("/tickets/{ticket_id}", "GET", permission=Permission.TICKETS_READ, tag="tickets",
     summary="Get a ticket with its history", response=TicketDetailOut)
def get_ticket(request: Request, ticket_id: uuid.UUID) -> TicketDetailOut:
    return TicketDetailOut.model_validate(_load(request, ticket_id, with_history=True))


@api("/tickets/{ticket_id}", "PATCH", permission=Permission.TICKETS_WRITE, tag="tickets",
     summary="Change a ticket (only the fields sent; each change is recorded in its history). "
             "A new state of a workflow ticket must be a transition the caller's roles "
             "allow (403 names the roles, 409 the possible moves).",
     body=TicketUpdate, response=TicketOut)
def update_ticket(request: Request, ticket_id: uuid.UUID, body: TicketUpdate) -> TicketOut:
    # Locked (PostgreSQL) so the timer sweep does not act on the ticket while it changes.
    ticket = _load(request, ticket_id, for_update=True)
    fields = body.model_dump(exclude_unset=True)
    _check_references(request, fields)
    try:
        changed = _service(request).change(ticket, fields, request.identity.user_id,
                                           roles=_roles(request))
    except NotAllowed as exc:
        raise ApiError(403, "forbidden", str(exc)) from exc
    except (InvalidTransition, GuardFailed) as exc:
        raise Conflict(str(exc), "state") from exc
    if changed:
        audit_change(request, "ticket.update", ticket, fields=changed)
    return TicketOut.model_validate(ticket)


@api("/tickets/{ticket_id}/comments", "POST", permission=Permission.TICKETS_WRITE,
     tag="tickets", summary="Comment on a ticket", body=CommentCreate,
     response=TicketEventOut, status=201)
def comment_ticket(request: Request, ticket_id: uuid.UUID, body: CommentCreate) -> TicketEventOut:
    ticket = _load(request, ticket_id)
    event = TicketService(request.db).comment(ticket, body.comment, request.identity.user_id)
    audit_change(request, "ticket.comment", ticket, event_id=str(event.id))
    return TicketEventOut.model_validate(event)


@api("/tickets/{ticket_id}/history", "GET", permission=Permission.TICKETS_READ, tag="tickets",
     summary="A ticket's history, oldest first", query=Query, response=TicketEventOut,
     list_response=True)
def ticket_history(request: Request, ticket_id: uuid.UUID, query: Query) -> Any:
    _load(request, ticket_id)
    items, total = TicketService(request.db).history(ticket_id, query.limit, query.offset)
    return [TicketEventOut.model_validate(e) for e in items], total
