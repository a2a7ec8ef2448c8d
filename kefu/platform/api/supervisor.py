"""/api/v1 for the supervisor console: the wallboard, taking over and reassigning
interactions, overdue tickets and their escalation. Every operation needs
``tenant:supervise:act`` (supervisors and admins); agents get 403.

Forcing an agent not ready or logged out is ``PUT /agents/{id}/presence`` (supervisors may set
anyone's presence); the agent's desktop hears it as ``agent.state`` on ``/ws/events``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from pyramid.request import Request

from kefu.platform.agents.models import Agent
from kefu.platform.api.context import audit_change, tenant_id
from kefu.platform.api.errors import ApiError, InvalidField, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.interactions import InteractionOut
from kefu.platform.api.interactions import _load as load_interaction
from kefu.platform.api.portal import caller_agent
from kefu.platform.api.schemas import Body, Out, Query
from kefu.platform.api.tickets import TicketOut
from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.identity.permissions import Permission
from kefu.platform.portal.wallboard import wallboard
from kefu.platform.routing.service import (
    AgentUnavailable,
    NoRouting,
    RoutingService,
    UnknownQueue,
)
from kefu.platform.tickets.models import Priority, Ticket, TicketEvent
from kefu.platform.tickets.services import TicketService
from kefu.runtime.lifecycle import InvalidTransition as InvalidLifecycle
from kefu.runtime.lifecycle import State
from kefu.runtime.workflow.model import raised


# ---------------------------------------------------------------------- wallboard
class WallboardAgentOut(Out):
    agent_id: uuid.UUID
    name: str
    team: str | None
    department: str | None
    state: str
    reason: str | None
    since: datetime | None
    seconds_in_state: float | None
    interactions: list[uuid.UUID] = Field(description="offered, connected or in wrap-up")
    load: dict[str, int]
    handled_today: int


class WallboardQueueOut(Out):
    queue: str
    name: str
    waiting: int
    longest_wait_seconds: float
    agents_ready: int
    agents_logged_in: int
    answered_today: int
    abandoned_today: int
    service_level_today: float | None = Field(description="0..1; null before any contact")
    abandon_rate_today: float | None = Field(description="0..1; null before any contact")
    service_level_target: float | None
    service_level_threshold_seconds: int


class WallboardOut(Out):
    agents: list[WallboardAgentOut]
    queues: list[WallboardQueueOut]
    as_of: datetime


@api("/wallboard", "GET", permission=Permission.SUPERVISE, tag="supervisor",
     summary="Agents with state and time in state; queues with waiting contacts, longest "
     "wait, and today's service level and abandon rate (the tenant's day, the DSL's kpi)",
     response=WallboardOut)
def get_wallboard(request: Request) -> WallboardOut:
    return WallboardOut.model_validate(wallboard(request.platform, request.db,
                                                 tenant_id(request)))


# ---------------------------------------------------------------------- takeover, reassign
class ReassignIn(Body):
    agent_id: uuid.UUID = Field(description="the agent it rings at next")
    queue: str | None = Field(None, min_length=1, max_length=100,
                              description="where it waits if that agent does not answer "
                                          "(default: its queue)")


class MovedOut(Out):
    status: str = Field(description="offered (ringing at agent_id) or connected (taken over)")
    agent_id: uuid.UUID | None
    queue: str | None
    interaction: InteractionOut


def _queue_of(interaction: Any, given: str | None) -> str:
    queue = given or interaction.queue
    if queue is None:
        raise InvalidField("queue", "the interaction has no queue; name the queue it belongs to")
    return queue


def _moved(request: Request, action: str, interaction: Any, target: Agent, queue: str, *,
           take: bool) -> MovedOut:
    if interaction.state not in (State.CONNECTED, State.QUEUED):
        raise ApiError(409, "invalid_transition", f"only a waiting or connected interaction "
                       f"can be {action}; this one is {interaction.state.value}")
    service = RoutingService(request.platform, request.db, tenant_id(request))
    before = interaction.agent_id
    try:
        result = (service.take_over(interaction, target, queue) if take
                  else service.offer_to_agent(interaction, target, queue))
    except NoRouting as exc:
        raise ApiError(409, "no_routing", str(exc)) from None
    except UnknownQueue:
        raise InvalidField("queue", f"no queue {queue!r} in the deployed config") from None
    except AgentUnavailable as exc:
        raise ApiError(409, "agent_unavailable", str(exc),
                       [{"field": "agent_id", "message": exc.why}]) from None
    except InvalidLifecycle as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    audit_change(request, f"interaction.{action}", interaction,
                 from_agent=str(before) if before else None, to_agent=str(target.id),
                 status=result.status)
    return MovedOut(status=result.status, agent_id=result.agent_id, queue=result.queue,
                    interaction=InteractionOut.model_validate(interaction))


@api("/interactions/{interaction_id}/takeover", "POST", permission=Permission.SUPERVISE,
     tag="supervisor", summary="Take a waiting or connected interaction yourself: it is "
     "connected to your agent at once (you must be ready or busy with room for it)",
     response=MovedOut)
def take_over(request: Request, interaction_id: uuid.UUID) -> MovedOut:
    interaction = load_interaction(request, interaction_id)
    me = caller_agent(request)
    if me is None or not me.is_active:
        raise ApiError(409, "no_agent", "you have no agent record in this tenant to take "
                       "interactions with; an admin creates one under /agents")
    return _moved(request, "takeover", interaction, me, _queue_of(interaction, None), take=True)


@api("/interactions/{interaction_id}/reassign", "POST", permission=Permission.SUPERVISE,
     tag="supervisor", summary="Give a waiting or connected interaction to another agent: "
     "it rings there (RONA applies, then it waits in its queue)", body=ReassignIn,
     response=MovedOut)
def reassign(request: Request, interaction_id: uuid.UUID, body: ReassignIn) -> MovedOut:
    interaction = load_interaction(request, interaction_id)
    target = request.db.get(Agent, body.agent_id)
    if target is None or not target.is_active:
        raise InvalidField("agent_id", "no active agent of this tenant has this id")
    return _moved(request, "reassign", interaction, target,
                  _queue_of(interaction, body.queue), take=False)


# ---------------------------------------------------------------------- tickets
class OverdueOut(TicketOut):
    overdue_seconds: float = Field(description="how long past its earliest missed due time")
    missed: list[str] = Field(description="response and/or resolve")
    escalations: int = Field(description="times escalated so far (by SLA or by hand)")


def _missed(ticket: Ticket, now: datetime) -> tuple[list[str], float]:
    missed, late = [], 0.0
    if (ticket.response_due_at is not None and ticket.first_response_at is None
            and ticket.response_due_at < now):
        missed.append("response")
        late = max(late, (now - ticket.response_due_at).total_seconds())
    if ticket.resolve_due_at is not None and ticket.resolve_due_at < now:
        missed.append("resolve")
        late = max(late, (now - ticket.resolve_due_at).total_seconds())
    return missed, late


@api("/tickets/overdue", "GET", permission=Permission.SUPERVISE, tag="supervisor",
     summary="Open tickets past a due time, most overdue first", query=Query,
     response=OverdueOut, list_response=True)
def overdue_tickets(request: Request, query: Query) -> Any:
    now = utcnow()
    tickets, _ = TicketService(request.db).search(overdue=True, limit=10_000, offset=0)
    counted: dict[uuid.UUID, int] = {}
    if tickets:
        for ticket_id, count in request.db.execute(
                sa.select(TicketEvent.ticket_id, sa.func.count())
                .where(TicketEvent.action == "escalated",
                       TicketEvent.ticket_id.in_([t.id for t in tickets]))
                .group_by(TicketEvent.ticket_id)):
            counted[ticket_id] = count
    rows = []
    for ticket in tickets:
        missed, late = _missed(ticket, now)
        rows.append(OverdueOut.model_validate({
            **TicketOut.model_validate(ticket).model_dump(), "overdue_seconds": round(late, 1),
            "missed": missed, "escalations": counted.get(ticket.id, 0)}))
    rows.sort(key=lambda r: -r.overdue_seconds)
    return rows[query.offset:query.offset + query.limit], len(rows)


class EscalateIn(Body):
    note: str | None = Field(None, max_length=2000, description="why, for the history")


@api("/tickets/{ticket_id}/escalate", "POST", permission=Permission.SUPERVISE,
     tag="supervisor", summary="Escalate a ticket by hand: its priority goes up one step and "
     "the escalation (with your note) is in its history and on the bus", body=EscalateIn,
     response=TicketOut)
def escalate_ticket(request: Request, ticket_id: uuid.UUID, body: EscalateIn) -> TicketOut:
    ticket = TicketService(request.db).get(ticket_id, for_update=True)
    if ticket is None:
        raise NotFound("ticket")
    if ticket.closed_at is not None:
        raise ApiError(409, "closed", "a closed ticket cannot be escalated")
    old = ticket.priority
    new = Priority(raised(old.value))
    changes: dict[str, Any] = {}
    if new != old:
        ticket.priority = new
        changes["priority"] = [old.value, new.value]
    request.db.add(TicketEvent(ticket_id=ticket.id, action="escalated",
                               actor_user_id=request.identity.user_id, changes=changes,
                               comment=body.note or "escalated by a supervisor"))
    request.db.flush()
    publish_after_commit(request.db, request.platform.bus,
                         f"tenant.{tenant_id(request)}.ticket.escalated",
                         {"ticket_id": str(ticket.id), "number": ticket.number,
                          "priority": ticket.priority.value,
                          "by": str(request.identity.user_id), "note": body.note})
    audit_change(request, "ticket.escalate", ticket, priority=ticket.priority.value)
    return TicketOut.model_validate(ticket)
