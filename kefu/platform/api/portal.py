"""/api/v1 for the agent portal: what it renders (``/portal/config``, generated from the
tenant's deployed config), transfers, and outbound messages an agent starts.

Transfers (``POST /interactions/{id}/transfer``) name exactly one target:

- ``agent_id``: the interaction rings at that agent (a directed offer) for the queue's ring
  timeout; ring-no-answer and reject apply, after which it waits in its queue for anyone;
- ``queue``: it is queued again (:meth:`RoutingService.enqueue`);
- ``flow``: a text interaction goes back into a flow (``true``: the one its channel
  declares), which starts again from its first step.

``mode`` is ``blind`` (the agent lets go at once) or ``consult`` (talk to the target first),
which only channels declaring ``consult`` support (see :mod:`kefu.runtime.capabilities`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import Field, StringConstraints, model_validator
from pyramid.request import Request

from kefu.platform.agents.models import Agent
from kefu.platform.api.context import audit_change, tenant_id
from kefu.platform.api.errors import ApiError, InvalidField
from kefu.platform.api.framework import api
from kefu.platform.api.interactions import InteractionOut, MessageOut
from kefu.platform.api.interactions import _load as load_interaction
from kefu.platform.api.schemas import Body, Out
from kefu.platform.customers.models import Customer
from kefu.platform.identity.members import MemberService
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.models import Channel
from kefu.platform.portal.actions import ActionRefused, start_outbound, transfer_to_flow
from kefu.platform.portal.config import deployed_now, portal_config
from kefu.platform.routing.service import (
    AgentUnavailable,
    NoRouting,
    RoutingService,
    UnknownQueue,
)
from kefu.runtime.capabilities import capabilities, supports
from kefu.runtime.lifecycle import InvalidTransition as InvalidLifecycle
from kefu.runtime.lifecycle import State

Code = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def caller_agent(request: Request) -> Agent | None:
    """The agent row of the calling user in this tenant, if they are an agent here."""
    return request.db.scalar(sa.select(Agent).where(Agent.user_id == request.identity.user_id))


def caller_roles(request: Request) -> frozenset[str]:
    """Platform roles and the roles of the tenant's config the caller holds (值班长...):
    what workflow transitions are checked against."""
    duty = MemberService(request.db).duty_roles(request.identity.user_id)
    return frozenset(str(role) for role in request.identity.roles) | frozenset(duty)


# ---------------------------------------------------------------------- config
class PortalConfigOut(Out):
    """See docs/portal-api.md for the shape of each part."""

    tenant: dict[str, Any] | None = Field(description="id, name, locales, timezone; null "
                                                      "when nothing is deployed")
    me: dict[str, Any] = Field(description="user_id, display_name, agent_id, roles, "
                                           "permissions")
    forms: dict[str, Any] = Field(description="by name: title and sections of fields with "
                                              "their rules and visible_when conditions")
    workflows: dict[str, Any] = Field(description="by name: states and transitions with "
                                                  "allowed_for_me")
    dispositions: list[dict[str, Any]] = Field(description="[{code, label}]")
    not_ready_reasons: list[dict[str, Any]] = Field(description="[{code, label}]")
    templates: list[dict[str, Any]] = Field(description="[{name, text, texts, subject}]")
    queues: list[dict[str, Any]] = Field(description="[{id, title, wrap_up_seconds}]")
    flows: list[dict[str, Any]] = Field(description="[{id, title}]: where a text "
                                                    "interaction can be transferred back to")
    scripts: list[dict[str, Any]] = Field(description="guided scripts with their steps")
    customer_form: str | None = Field(description="the form for an unknown customer")
    capabilities: dict[str, list[str]] = Field(description="channel → actions it declares")
    version: str | None = Field(description="the deployed config version's id")
    version_number: int | None


@api("/portal/config", "GET", permission=Permission.TENANT_READ, tag="portal",
     summary="What the portal renders, generated from the tenant's deployed config: forms "
     "with their rules, workflows with the transitions your roles allow, dispositions, "
     "not-ready reasons, templates, queues, scripts, channel capabilities",
     response=PortalConfigOut)
def get_portal_config(request: Request) -> PortalConfigOut:
    identity = request.identity
    agent = caller_agent(request)
    roles = caller_roles(request)
    me = {"user_id": str(identity.user_id), "display_name": identity.display_name,
          "agent_id": str(agent.id) if agent is not None else None,
          "roles": sorted(roles), "permissions": sorted(str(p) for p in identity.permissions)}
    loaded = deployed_now(request.db, request.platform.configs, tenant_id(request))
    locale = request.params.get("locale") or None
    return PortalConfigOut.model_validate(portal_config(loaded, me=me, roles=roles,
                                                        locale=locale))


# ---------------------------------------------------------------------- transfer
class TransferIn(Body):
    agent_id: uuid.UUID | None = Field(None, description="ring this agent")
    queue: Code | None = Field(None, description="queue it again here; with agent_id: the "
                               "queue it waits in if the agent does not answer")
    flow: Code | bool | None = Field(None, description="a flow name, or true for the flow "
                                     "the channel declares (text channels)")
    mode: Literal["blind", "consult"] = "blind"

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        targets = [name for name in ("agent_id", "flow") if getattr(self, name) not in
                   (None, False)]
        if self.queue is not None and targets != ["agent_id"]:
            targets.append("queue")
        if len(targets) != 1:
            raise ValueError("name exactly one target: agent_id (optionally with queue), "
                             "queue or flow")
        return self


class TransferOut(Out):
    status: str = Field(description="offered (ringing at agent_id), queued, connected, "
                                    "in_flow or closed (the queue's hours are over)")
    queue: str | None = None
    flow: str | None = None
    agent_id: uuid.UUID | None = None
    position: int | None = None
    interaction: InteractionOut


def may_handle(request: Request, interaction: Any) -> Agent | None:
    """The caller must hold the interaction, or supervise (403 otherwise). Returns the
    caller's agent row."""
    agent = caller_agent(request)
    if Permission.AGENTS_MANAGE in request.identity.permissions:
        return agent
    if agent is None or interaction.agent_id != agent.id:
        raise ApiError(403, "forbidden", "only the agent holding the interaction or a "
                                         "supervisor may do this")
    return agent


def _routing_errors(service: RoutingService, body_queue: str | None,
                    exc: Exception) -> ApiError:
    if isinstance(exc, NoRouting):
        return ApiError(409, "no_routing", str(exc))
    if isinstance(exc, UnknownQueue):
        known = ", ".join(service.queue_ids()) or "none"
        return InvalidField("queue", f"no queue {body_queue!r} in the deployed config; "
                                     f"queues: {known}")
    if isinstance(exc, AgentUnavailable):
        return ApiError(409, "agent_unavailable", str(exc),
                        [{"field": "agent_id", "message": exc.why}])
    return ApiError(409, "invalid_transition", str(exc))


@api("/interactions/{interaction_id}/transfer", "POST",
     permission=Permission.INTERACTIONS_WRITE, tag="portal",
     summary="Transfer a connected interaction to an agent (it rings there; RONA applies), "
     "a queue, or back into a flow; consult only where the channel declares it",
     body=TransferIn, response=TransferOut)
def transfer_interaction(request: Request, interaction_id: uuid.UUID,
                         body: TransferIn) -> TransferOut:
    interaction = load_interaction(request, interaction_id)
    may_handle(request, interaction)
    channel = interaction.channel.value
    if body.mode == "consult" and not supports(channel, "consult"):
        declared = ", ".join(capabilities(channel)) or "nothing"
        raise ApiError(409, "not_supported", f"a {channel} interaction cannot be transferred "
                       f"with consult: its channel declares {declared}; use mode blind",
                       [{"field": "mode", "message": "not supported by this channel"}])
    if body.mode == "consult":  # declared by a channel whose host carries it out
        raise ApiError(409, "not_supported", f"consult transfers of {channel} interactions "
                       "are made from the channel's own controls")
    if interaction.state != State.CONNECTED:
        raise ApiError(409, "invalid_transition", "only a connected interaction can be "
                       f"transferred; this one is {interaction.state.value}")
    service = RoutingService(request.platform, request.db, tenant_id(request))
    before = interaction.agent_id
    try:
        if body.flow not in (None, False):
            name = transfer_to_flow(request.platform, request.db, tenant_id(request),
                                    interaction, body.flow if isinstance(body.flow, str)
                                    else None)
            out = TransferOut(status=interaction.state.value, flow=name,
                              interaction=InteractionOut.model_validate(interaction))
        elif body.agent_id is not None:
            target = request.db.get(Agent, body.agent_id)
            if target is None or not target.is_active:
                raise InvalidField("agent_id", "no active agent of this tenant has this id")
            queue = body.queue or interaction.queue
            if queue is None:
                raise InvalidField("queue", "the interaction has no queue to wait in if the "
                                            "agent does not answer; name one")
            result = service.offer_to_agent(interaction, target, queue)
            out = TransferOut(status=result.status, queue=result.queue,
                              agent_id=result.agent_id, position=result.position,
                              interaction=InteractionOut.model_validate(interaction))
        else:
            assert body.queue is not None
            result = service.enqueue(interaction, body.queue)
            out = TransferOut(status=result.status, queue=result.queue,
                              agent_id=result.agent_id, position=result.position,
                              interaction=InteractionOut.model_validate(interaction))
    except ActionRefused as exc:
        raise ApiError(409, "not_supported", str(exc), [{"field": exc.field or "flow",
                                                         "message": str(exc)}]) from None
    except (NoRouting, UnknownQueue, AgentUnavailable, InvalidLifecycle) as exc:
        raise _routing_errors(service, body.queue, exc) from None
    audit_change(request, "interaction.transfer", interaction, mode=body.mode,
                 from_agent=str(before) if before else None,
                 to_agent=str(body.agent_id) if body.agent_id else None,
                 queue=out.queue, flow=out.flow, status=out.status)
    return out


# ---------------------------------------------------------------------- outbound
class OutboundIn(Body):
    channel: Literal["sms", "email"]
    to: Annotated[str, StringConstraints(min_length=3, max_length=254)] = Field(
        description="the customer's number or email address")
    subject: str | None = Field(None, max_length=500, description="email only")
    text: str = Field(min_length=1, max_length=20_000)
    customer_id: uuid.UUID | None = Field(None, description="default: the customer with this "
                                                            "address, if any")

    @model_validator(mode="after")
    def _address_fits(self) -> OutboundIn:
        if self.channel == "email" and "@" not in self.to:
            raise ValueError(f"to: {self.to!r} is not an email address")
        if self.channel == "sms" and not any(ch.isdigit() for ch in self.to):
            raise ValueError(f"to: {self.to!r} is not a phone number")
        if self.channel == "sms" and self.subject is not None:
            raise ValueError("subject: an SMS has no subject")
        return self


class OutboundOut(Out):
    interaction: InteractionOut
    message: MessageOut


@api("/interactions/outbound", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="portal", summary="Start an outbound SMS or email: a new interaction held by you, "
     "its first message queued for the channel", body=OutboundIn, response=OutboundOut,
     status=201)
def start_outbound_message(request: Request, body: OutboundIn) -> OutboundOut:
    agent = caller_agent(request)
    if agent is None or not agent.is_active:
        raise ApiError(403, "forbidden", "only an agent of this tenant can start an outbound "
                                         "message")
    if body.customer_id is not None and request.db.get(Customer, body.customer_id) is None:
        raise InvalidField("customer_id", "no customer of this tenant has this id")
    try:
        interaction, message = start_outbound(
            request.platform, request.db, tenant_id(request), agent,
            channel=Channel(body.channel), to=body.to, text=body.text, subject=body.subject,
            customer_id=body.customer_id)
    except ActionRefused as exc:
        raise ApiError(409, "not_supported", str(exc),
                       [{"field": exc.field or "channel", "message": str(exc)}]) from None
    audit_change(request, "interaction.outbound", interaction, channel=body.channel)
    return OutboundOut(interaction=InteractionOut.model_validate(interaction),
                       message=MessageOut.model_validate(message))

