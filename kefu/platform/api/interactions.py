"""/api/v1/interactions: calls, chats, emails, SMS, faxes and kiosk sessions, and the unified
message store behind them.

Posting a message is idempotent on ``external_id`` (the channel's own message id): the first
post stores it (201); a redelivery to the same interaction returns the stored message with 200
and writes nothing; the same external id on another interaction of the channel is a 409."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import ApiError, Conflict, InvalidField, NotFound
from kefu.platform.api.framework import Existing, api
from kefu.platform.api.schemas import Body, Out, Query, not_null
from kefu.platform.configs.services import ConfigService
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.lifecycle import InteractionLifecycle
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    InteractionState,
    MessageStatus,
    Outcome,
)
from kefu.platform.interactions.services import (
    DuplicateInteraction,
    DuplicateMessage,
    InteractionService,
)
from kefu.runtime.lifecycle import InvalidTransition, Trigger


class InteractionOut(Out):
    id: uuid.UUID
    channel: Channel
    direction: Direction
    state: InteractionState
    customer_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    queue: str | None
    flow: str | None
    from_address: str | None
    to_address: str | None
    subject: str | None
    external_id: str | None
    created_at: datetime
    queued_at: datetime | None
    offered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: Outcome | None
    disposition: str | None
    recording_ref: str | None
    document_ref: str | None
    config_version_id: uuid.UUID | None
    data: dict[str, Any]


Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# Times must carry a zone ("...Z" or "+08:00"); they are kept and returned in UTC.
Time = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]
Address = Annotated[str, StringConstraints(min_length=1, max_length=254)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class InteractionCreate(Body):
    """An interaction recorded by an outside system (a PBX, a CRM logging a visit...)."""

    channel: Channel
    direction: Direction
    state: InteractionState = InteractionState.CREATED
    customer_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    queue: Name | None = None
    flow: Name | None = None
    from_address: Address | None = None
    to_address: Address | None = None
    subject: str | None = Field(None, max_length=500)
    external_id: Ref | None = None
    created_at: Time | None = Field(None, description="when it happened; now if left out")
    queued_at: Time | None = None
    offered_at: Time | None = None
    answered_at: Time | None = None
    ended_at: Time | None = None
    outcome: Outcome | None = None
    disposition: Name | None = None
    recording_ref: Ref | None = None
    document_ref: Ref | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class InteractionUpdate(Body):
    """What people and systems may correct on an interaction. Its state, outcome and
    timestamps move only through lifecycle events (``POST /interactions/{id}/events``), so
    every change of state is in the history and on the bus."""

    customer_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    queue: Name | None = None
    flow: Name | None = None
    subject: str | None = Field(None, max_length=500)
    disposition: Name | None = None
    recording_ref: Ref | None = None
    document_ref: Ref | None = None
    data: dict[str, Any] | None = Field(None, description="replaces the whole data object")

    _not_null = not_null("data")


class InteractionQuery(Query):
    channel: Channel | None = None
    state: InteractionState | None = None
    direction: Direction | None = None
    customer_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    queue: str | None = Field(None, max_length=100)
    external_id: str | None = Field(None, max_length=500)
    created_after: Time | None = Field(None, description="inclusive, with a time zone")
    created_before: Time | None = Field(None, description="exclusive, with a time zone")


class MessageCreate(Body):
    """A message of the interaction's channel; its customer is the interaction's."""

    direction: Direction
    status: MessageStatus | None = Field(
        None, description="default: received (inbound) or queued (outbound)")
    sender: Address | None = None
    recipients: list[Address] = Field(default_factory=list, max_length=100)
    subject: str | None = Field(None, max_length=998)
    body_text: str = Field("", max_length=200_000)
    body_html: str | None = Field(None, max_length=500_000)
    external_id: str | None = Field(None, min_length=1, max_length=998,
                                    description="the channel's message id; makes posting "
                                                "idempotent")
    in_reply_to: str | None = Field(None, max_length=998)
    author_agent_id: uuid.UUID | None = None
    headers: dict[str, str] = Field(default_factory=dict, max_length=200)
    sent_at: Time | None = None
    delivered_at: Time | None = None
    read_at: Time | None = None


class MessageOut(Out):
    id: uuid.UUID
    interaction_id: uuid.UUID
    customer_id: uuid.UUID | None
    channel: Channel
    direction: Direction
    status: MessageStatus
    sender: str | None
    recipients: list[Any]
    subject: str | None
    body_text: str
    body_html: str | None
    external_id: str | None
    in_reply_to: str | None
    author_agent_id: uuid.UUID | None
    headers: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None


def _load(request: Request, interaction_id: uuid.UUID) -> Any:
    interaction = InteractionService(request.db).get(interaction_id)
    if interaction is None:
        raise NotFound("interaction")
    return interaction


def _check_references(request: Request, fields: dict[str, Any]) -> None:
    """Referenced records must exist in this tenant (another tenant's are unknown here)."""
    service = InteractionService(request.db)
    if fields.get("customer_id") is not None and not service.customer_exists(
            fields["customer_id"]):
        raise InvalidField("customer_id", "no customer of this tenant has this id")
    for name in ("agent_id", "author_agent_id"):
        if fields.get(name) is not None and not service.agent_exists(fields[name]):
            raise InvalidField(name, "no agent of this tenant has this id")


@api("/interactions", "GET", permission=Permission.INTERACTIONS_READ, tag="interactions",
     summary="List interactions, newest first", query=InteractionQuery, response=InteractionOut,
     list_response=True)
def list_interactions(request: Request, query: InteractionQuery) -> Any:
    filters = query.model_dump(exclude={"limit", "offset"})
    items, total = InteractionService(request.db).search(
        **filters, limit=query.limit, offset=query.offset)
    return [InteractionOut.model_validate(i) for i in items], total


@api("/interactions", "POST", permission=Permission.INTERACTIONS_WRITE, tag="interactions",
     summary="Record an interaction (it runs on the deployed config version; a repeated "
             "channel + external_id returns the stored one with 200)",
     body=InteractionCreate, response=InteractionOut, status=201, idempotent=True)
def create_interaction(request: Request, body: InteractionCreate) -> InteractionOut | Existing:
    fields = body.model_dump(exclude_none=True)
    _check_references(request, fields)
    deployed = ConfigService(request.db).deployed()
    fields["config_version_id"] = deployed.id if deployed is not None else None
    try:
        interaction, created = InteractionService(request.db).create(fields)
    except DuplicateInteraction as exc:
        raise Conflict(str(exc), "external_id") from None
    if not created:
        return Existing(InteractionOut.model_validate(interaction))
    audit_change(request, "interaction.create", interaction, channel=str(interaction.channel))
    return InteractionOut.model_validate(interaction)


@api("/interactions/{interaction_id}", "GET", permission=Permission.INTERACTIONS_READ,
     tag="interactions", summary="Get an interaction", response=InteractionOut)
def get_interaction(request: Request, interaction_id: uuid.UUID) -> InteractionOut:
    return InteractionOut.model_validate(_load(request, interaction_id))


@api("/interactions/{interaction_id}", "PATCH", permission=Permission.INTERACTIONS_WRITE,
     tag="interactions", summary="Change an interaction (only the fields sent)",
     body=InteractionUpdate, response=InteractionOut)
def update_interaction(request: Request, interaction_id: uuid.UUID,
                       body: InteractionUpdate) -> InteractionOut:
    interaction = _load(request, interaction_id)
    fields = body.model_dump(exclude_unset=True)
    _check_references(request, fields)
    InteractionService(request.db).update(interaction, fields)
    audit_change(request, "interaction.update", interaction, fields=sorted(fields))
    return InteractionOut.model_validate(interaction)


@api("/interactions/{interaction_id}/messages", "GET", permission=Permission.INTERACTIONS_READ,
     tag="interactions", summary="The interaction's messages, oldest first", query=Query,
     response=MessageOut, list_response=True)
def list_messages(request: Request, interaction_id: uuid.UUID, query: Query) -> Any:
    _load(request, interaction_id)
    items, total = InteractionService(request.db).messages(
        interaction_id, query.limit, query.offset)
    return [MessageOut.model_validate(m) for m in items], total


@api("/interactions/{interaction_id}/messages", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="interactions", summary="Store a message (201; a redelivery of the same external_id "
                                 "returns the stored one with 200)",
     body=MessageCreate, response=MessageOut, status=201, idempotent=True)
def create_message(request: Request, interaction_id: uuid.UUID,
                   body: MessageCreate) -> MessageOut | Existing:
    interaction = _load(request, interaction_id)
    fields = body.model_dump(exclude_none=True)
    _check_references(request, fields)
    try:
        message, created = InteractionService(request.db).add_message(
            interaction, fields, jobs=request.platform.jobs)
    except DuplicateMessage as exc:
        raise Conflict(str(exc), "external_id") from None
    if not created:
        return Existing(MessageOut.model_validate(message))
    audit_change(request, "message.create", message, interaction_id=str(interaction.id))
    return MessageOut.model_validate(message)


class TransitionCreate(Body):
    trigger: Trigger = Field(description="what happened: enqueue, offer, answer, end, ...")
    outcome: Outcome | None = Field(None, description="required with end")
    queue: Name | None = None
    flow: Name | None = None
    agent_id: uuid.UUID | None = None
    reason: str | None = Field(None, max_length=200, description="why (rona, rejected...)")


class InteractionEventOut(Out):
    id: uuid.UUID
    trigger: Trigger
    from_state: InteractionState
    to_state: InteractionState
    outcome: Outcome | None
    data: dict[str, Any]
    at: datetime


@api("/interactions/{interaction_id}/events", "GET", permission=Permission.INTERACTIONS_READ,
     tag="interactions", summary="The interaction's lifecycle transitions, oldest first",
     response=InteractionEventOut, list_response=True)
def list_interaction_events(request: Request, interaction_id: uuid.UUID) -> Any:
    _load(request, interaction_id)
    events = InteractionLifecycle(request.db, None).history(interaction_id)
    return [InteractionEventOut.model_validate(e) for e in events], len(events)


@api("/interactions/{interaction_id}/events", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="interactions", summary="Move an interaction through its lifecycle (409 when the "
     "trigger does not fit its state)", body=TransitionCreate, response=InteractionOut)
def create_interaction_event(request: Request, interaction_id: uuid.UUID,
                             body: TransitionCreate) -> InteractionOut:
    interaction = _load(request, interaction_id)
    acd = request.platform.acd.state(request.tenant.id)
    if acd.get_contact(str(interaction.id)) is not None or acd.assigned(str(interaction.id)):
        message = ("this interaction is in the ACD; move it with /queue, /accept, /reject, "
                   "/hangup or /complete so queues and agents stay right")
        raise ApiError(409, "routed", message, [{"field": "trigger", "message": message}])
    data = body.model_dump(exclude_none=True, exclude={"trigger", "outcome"}, mode="json")
    _check_references(request, {"agent_id": body.agent_id})
    try:
        InteractionLifecycle(request.db, request.platform.bus).apply(
            interaction, body.trigger, outcome=body.outcome, data=data)
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc),
                       [{"field": "trigger", "message": str(exc)}]) from None
    return InteractionOut.model_validate(interaction)
