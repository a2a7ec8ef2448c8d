"""/api/v1/interactions: calls, chats, emails, SMS, faxes and kiosk sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pyramid.request import Request

from kefu.platform.api.errors import NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Out, Query
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    InteractionState,
    Outcome,
)
from kefu.platform.interactions.services import InteractionService


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


@api("/interactions/{interaction_id}", "GET", permission=Permission.INTERACTIONS_READ,
     tag="interactions", summary="Get an interaction", response=InteractionOut)
def get_interaction(request: Request, interaction_id: uuid.UUID) -> InteractionOut:
    interaction = InteractionService(request.db).get(interaction_id)
    if interaction is None:
        raise NotFound("interaction")
    return InteractionOut.model_validate(interaction)


@api("/interactions", "GET", permission=Permission.INTERACTIONS_READ, tag="interactions",
     summary="List interactions, newest first", query=Query, response=InteractionOut,
     list_response=True)
def list_interactions(request: Request, query: Query) -> Any:
    items, total = InteractionService(request.db).search(limit=query.limit, offset=query.offset)
    return [InteractionOut.model_validate(i) for i in items], total
