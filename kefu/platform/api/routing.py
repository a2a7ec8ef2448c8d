"""/api/v1 routing: agents' presence, queueing interactions, answering offers, live queues.

Everything here goes through :class:`~kefu.platform.routing.service.RoutingService`, so the
ACD state and the interaction rows move together. Agents change their own presence and answer
their own offers; supervisors (``agents:manage``) may do both for anyone.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from pyramid.request import Request

from kefu.platform.agents.models import Agent
from kefu.platform.api.context import audit_change, tenant_id
from kefu.platform.api.errors import ApiError, InvalidField, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.interactions import InteractionOut
from kefu.platform.api.interactions import _load as load_interaction
from kefu.platform.api.schemas import Body, Out
from kefu.platform.identity.permissions import Permission
from kefu.platform.routing.service import NoRouting, NotOffered, RoutingService, UnknownQueue
from kefu.runtime.acd.agent import AgentState, InvalidTransition
from kefu.runtime.lifecycle import InvalidTransition as InvalidLifecycle
from kefu.runtime.lifecycle import Outcome, State

Code = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def _service(request: Request) -> RoutingService:
    return RoutingService(request.platform, request.db, tenant_id(request))


def _no_routing(exc: NoRouting) -> ApiError:
    return ApiError(409, "no_routing", str(exc))


def _load_agent(request: Request, agent_id: uuid.UUID) -> Agent:
    agent = request.db.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent")
    return agent


def _may_act_for(request: Request, agent: Agent | None) -> None:
    """Agents act for themselves; ``agents:manage`` acts for anyone."""
    identity = request.identity
    if Permission.AGENTS_MANAGE in identity.permissions:
        return
    if agent is None or agent.user_id != identity.user_id:
        raise ApiError(403, "forbidden", "only the agent themselves or a supervisor may do this")


def _acting_agent(request: Request) -> Agent | None:
    """The agent row of the calling user, if they are an agent of this tenant."""
    import sqlalchemy as sa

    return request.db.scalar(sa.select(Agent).where(Agent.user_id == request.identity.user_id))


def _iso(posix: float) -> datetime | None:
    return datetime.fromtimestamp(posix, tz=UTC) if posix else None


# ---------------------------------------------------------------------- presence
class PresenceIn(Body):
    state: Literal["ready", "not_ready", "logged_out"] = Field(
        description="ready to take contacts, not ready (with a reason code), or logged out")
    reason: Code | None = Field(None, description="a not-ready reason code of the tenant "
                                                  "config (default: break)")


class PresenceOut(Out):
    agent_id: uuid.UUID
    state: str
    reason: str | None
    since: datetime | None
    load: dict[str, int]
    capacity: dict[str, int]
    offered_interaction_id: uuid.UUID | None
    handled_today: int


def _presence_out(agent: Agent, rec: Any) -> PresenceOut:
    if rec is None:
        return PresenceOut(agent_id=agent.id, state=AgentState.LOGGED_OUT.value, reason=None,
                           since=None, load={}, capacity={}, offered_interaction_id=None,
                           handled_today=0)
    return PresenceOut(
        agent_id=agent.id, state=rec.state.value, reason=rec.reason, since=_iso(rec.since),
        load={k: v for k, v in rec.load.items() if v}, capacity=dict(rec.spec.capacity),
        offered_interaction_id=uuid.UUID(rec.offered) if rec.offered else None,
        handled_today=rec.handled_today)


@api("/agents/{agent_id}/presence", "GET", permission=Permission.AGENTS_READ, tag="routing",
     summary="An agent's live state: ready, not ready (reason), offered, busy, wrap-up",
     response=PresenceOut)
def get_presence(request: Request, agent_id: uuid.UUID) -> PresenceOut:
    agent = _load_agent(request, agent_id)
    return _presence_out(agent, _service(request).status(agent))


@api("/agents/{agent_id}/presence", "PUT", permission=Permission.INTERACTIONS_WRITE,
     tag="routing", summary="Log in or out, go ready or not ready (agents for themselves, "
     "supervisors for anyone); 409 when the state does not allow it", body=PresenceIn,
     response=PresenceOut)
def set_presence(request: Request, agent_id: uuid.UUID, body: PresenceIn) -> PresenceOut:
    agent = _load_agent(request, agent_id)
    _may_act_for(request, agent)
    service = _service(request)
    reason = body.reason
    if body.state == "not_ready":
        reason = reason or "break"
        _check_code(request, "reason", reason, "not_ready", "break")
    elif reason is not None:
        raise InvalidField("reason", "only not_ready takes a reason")
    if not agent.is_active and body.state != "logged_out":
        raise ApiError(409, "invalid_transition", "this agent is deactivated")
    try:
        rec = service.presence(agent, AgentState(body.state), reason)
    except InvalidTransition as exc:
        message = str(exc)
        if body.state == "logged_out":
            message = "an agent cannot log out while holding or being offered contacts"
        raise ApiError(409, "invalid_transition", message,
                       [{"field": "state", "message": message}]) from None
    except NoRouting as exc:
        raise _no_routing(exc) from None
    audit_change(request, "agent.presence", agent, state=rec.state.value, reason=rec.reason)
    return _presence_out(agent, rec)


def _check_code(request: Request, field: str, value: str, kind: str, default: str) -> None:
    """``value`` must be one of the tenant config's codes of ``kind`` (not_ready reasons,
    dispositions) when the config declares any."""
    from kefu.platform.portal.config import deployed_now

    # As the database says now, not as cached: a deploy's new codes count at once.
    loaded = deployed_now(request.db, request.platform.configs, tenant_id(request))
    codes = [n.id for n in getattr(loaded.config, kind)] if loaded else []
    if codes and value not in codes and value != default:
        raise InvalidField(field, f"{value!r} is not one of the tenant's codes: "
                                  + ", ".join(codes))


# ---------------------------------------------------------------------- queueing
class QueueIn(Body):
    queue: Code = Field(description="a queue of the tenant's deployed config")
    priority: int = Field(0, ge=0, le=100, description="higher is served first")
    attrs: dict[str, Any] = Field(default_factory=dict,
                                  description="attributes queue conditions test, e.g. vip")


class PlaceOut(Out):
    status: str = Field(description="queued, offered, connected, closed or not_queued")
    queue: str
    position: int | None = None
    expected_wait_seconds: float | None = None
    agent_id: uuid.UUID | None = None


def _place(result: Any) -> PlaceOut:
    return PlaceOut(status=result.status, queue=result.queue, position=result.position,
                    expected_wait_seconds=result.expected_wait, agent_id=result.agent_id)


@api("/interactions/{interaction_id}/queue", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="routing", summary="Queue an interaction for agents (or transfer a connected one to "
     "a queue); answers its place, or status closed outside the queue's hours",
     body=QueueIn, response=PlaceOut)
def queue_interaction(request: Request, interaction_id: uuid.UUID, body: QueueIn) -> PlaceOut:
    interaction = load_interaction(request, interaction_id)
    service = _service(request)
    try:
        result = service.enqueue(interaction, body.queue, priority=body.priority,
                                 attrs=body.attrs)
    except NoRouting as exc:
        raise _no_routing(exc) from None
    except UnknownQueue:
        known = ", ".join(service.queue_ids()) or "none"
        raise InvalidField("queue", f"no queue {body.queue!r} in the deployed config; "
                                    f"queues: {known}") from None
    except InvalidLifecycle as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    audit_change(request, "interaction.queue", interaction, queue=result.queue,
                 status=result.status)
    return _place(result)


@api("/interactions/{interaction_id}/queue", "GET", permission=Permission.INTERACTIONS_READ,
     tag="routing", summary="Where a queued interaction stands: position and expected wait "
     "(for announcements)", response=PlaceOut)
def interaction_place(request: Request, interaction_id: uuid.UUID) -> PlaceOut:
    interaction = load_interaction(request, interaction_id)
    try:
        return _place(_service(request).where(interaction))
    except NoRouting as exc:
        raise _no_routing(exc) from None


def _offer_action(request: Request, interaction_id: uuid.UUID, accept: bool) -> InteractionOut:
    interaction = load_interaction(request, interaction_id)
    mine = _acting_agent(request)
    manages = Permission.AGENTS_MANAGE in request.identity.permissions
    if not manages and mine is None:
        raise ApiError(403, "forbidden", "only the agent it rings at or a supervisor may "
                       "answer an offer")
    service = _service(request)
    try:
        (service.accept if accept else service.reject)(interaction, None if manages else mine)
    except NotOffered as exc:
        raise ApiError(409, "not_offered", str(exc)) from None
    except NoRouting as exc:
        raise _no_routing(exc) from None
    audit_change(request, "interaction.accept" if accept else "interaction.reject",
                 interaction)
    return InteractionOut.model_validate(interaction)


@api("/interactions/{interaction_id}/accept", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="routing", summary="Answer the offer ringing at you (409 not_offered when it is not, "
     "e.g. it timed out)", response=InteractionOut)
def accept_interaction(request: Request, interaction_id: uuid.UUID) -> InteractionOut:
    return _offer_action(request, interaction_id, accept=True)


@api("/interactions/{interaction_id}/reject", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="routing", summary="Decline the offer ringing at you: it goes to the next agent",
     response=InteractionOut)
def reject_interaction(request: Request, interaction_id: uuid.UUID) -> InteractionOut:
    return _offer_action(request, interaction_id, accept=False)


class HangupIn(Body):
    outcome: Outcome | None = Field(None, description="how it ended, when it never reached "
                                                      "an agent (default abandoned)")


@api("/interactions/{interaction_id}/hangup", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="routing", summary="The contact ended: waiting or ringing ones are abandoned, "
     "connected ones go to wrap-up (or end handled)", body=HangupIn, response=InteractionOut)
def hangup_interaction(request: Request, interaction_id: uuid.UUID,
                       body: HangupIn) -> InteractionOut:
    interaction = load_interaction(request, interaction_id)
    if interaction.state == State.ENDED:
        raise ApiError(409, "invalid_transition", "the interaction has ended already")
    try:
        _service(request).hang_up(interaction, body.outcome)
    except NoRouting as exc:
        raise _no_routing(exc) from None
    if interaction.state not in (State.ENDED, State.WRAP_UP):
        raise ApiError(409, "invalid_transition",
                       f"outcome {body.outcome} does not fit an interaction that is "
                       f"{interaction.state.value}")
    audit_change(request, "interaction.hangup", interaction, state=interaction.state.value)
    return InteractionOut.model_validate(interaction)


class CompleteIn(Body):
    disposition: Code = Field(description="how it went: a disposition code of the tenant "
                                          "config (any code when the config declares none)")


@api("/interactions/{interaction_id}/complete", "POST",
     permission=Permission.INTERACTIONS_WRITE, tag="routing",
     summary="Finish after-contact work with a disposition: the interaction ends handled and "
     "the agent is ready for the next", body=CompleteIn, response=InteractionOut)
def complete_interaction(request: Request, interaction_id: uuid.UUID,
                         body: CompleteIn) -> InteractionOut:
    interaction = load_interaction(request, interaction_id)
    if interaction.state not in (State.CONNECTED, State.WRAP_UP):
        raise ApiError(409, "invalid_transition", "only a connected interaction or one in "
                       f"wrap-up can be completed; this one is {interaction.state.value}")
    agent = request.db.get(Agent, interaction.agent_id) if interaction.agent_id else None
    _may_act_for(request, agent)
    _check_code(request, "disposition", body.disposition, "dispositions", "")
    try:
        _service(request).complete(interaction, body.disposition)
    except NoRouting as exc:
        raise _no_routing(exc) from None
    audit_change(request, "interaction.complete", interaction, disposition=body.disposition)
    return InteractionOut.model_validate(interaction)


# ---------------------------------------------------------------------- live queues
class QueueStatsOut(Out):
    id: str
    waiting: int
    longest_wait_seconds: float
    agents_ready: int
    agents_logged_in: int


@api("/queues", "GET", permission=Permission.INTERACTIONS_READ, tag="routing",
     summary="Live queues of the deployed config: waiting contacts, longest wait, agents",
     response=QueueStatsOut, list_response=True)
def list_queues(request: Request) -> Any:
    service = _service(request)
    try:
        router = service.router()
    except NoRouting:
        return [], 0
    now = service.clock()
    agents = service.state.agents()
    out = []
    for qid, q in sorted(router.config.queues.items()):
        waiting = service.state.waiting(qid)
        staffed = [a for a in agents if a.state is not AgentState.LOGGED_OUT]
        qualified = [a for a in staffed if all(a.spec.skills.get(s, 0) >= lvl
                                               for s, lvl in q.loosest().items())]
        out.append(QueueStatsOut(
            id=qid, waiting=len(waiting),
            longest_wait_seconds=round(max((now - c.arrived for c in waiting), default=0.0), 1),
            agents_ready=sum(a.state is AgentState.READY for a in qualified),
            agents_logged_in=len(qualified)))
    return out, len(out)
