"""/api/v1 for agents in a web chat: the typing indicator and read receipts the visitor's
widget shows. Both are announced on the tenant's bus (``chat.typing``, ``chat.receipt``); the
chat hub of whichever process holds the visitor's socket passes them on (see
``kefu.platform.messaging.webchat``)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from pydantic import Field
from pyramid.request import Request

from kefu.platform.agents.models import Agent
from kefu.platform.api.errors import ApiError, InvalidField
from kefu.platform.api.framework import api
from kefu.platform.api.interactions import _load as load_interaction
from kefu.platform.api.routing import _acting_agent
from kefu.platform.api.schemas import Body, Out
from kefu.platform.db import utcnow
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.models import Channel, Direction, Interaction, Message

#: Receipt events carry at most this many message ids each (events have a size limit).
RECEIPT_BATCH = 500


def _chat(request: Request, interaction_id: uuid.UUID) -> tuple[Interaction, Agent | None]:
    """The chat and the calling agent, who must hold it (supervisors may act in any)."""
    interaction: Interaction = load_interaction(request, interaction_id)
    if interaction.channel != Channel.CHAT:
        raise ApiError(409, "not_chat", f"this is a {interaction.channel.value} interaction; "
                       "typing and read receipts are for web chats")
    agent = _acting_agent(request)
    if Permission.AGENTS_MANAGE not in request.identity.permissions and (
            agent is None or interaction.agent_id != agent.id):
        raise ApiError(403, "forbidden", "only the agent holding the chat or a supervisor may "
                       "do this")
    return interaction, agent


class TypingIn(Body):
    active: bool = Field(description="true while the agent is typing, false when they stop")


@api("/interactions/{interaction_id}/typing", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="chat", summary="Show (or stop showing) the visitor that the agent is typing",
     body=TypingIn)
def agent_typing(request: Request, interaction_id: uuid.UUID, body: TypingIn) -> None:
    interaction, agent = _chat(request, interaction_id)
    request.publish("chat.typing", {
        "interaction_id": str(interaction.id), "who": "agent", "active": body.active,
        "agent_id": str(agent.id) if agent is not None else None})


class ReadIn(Body):
    upto: uuid.UUID = Field(description="the newest customer message the agent has seen; it "
                                        "and every earlier one of the chat become read")


class ReadOut(Out):
    interaction_id: uuid.UUID
    read: list[uuid.UUID] = Field(description="customer messages marked read by this call")


@api("/interactions/{interaction_id}/read", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="chat", summary="Mark the visitor's messages read up to one (the widget shows them "
     "read)", body=ReadIn, response=ReadOut)
def agent_read(request: Request, interaction_id: uuid.UUID, body: ReadIn) -> ReadOut:
    interaction, _agent = _chat(request, interaction_id)
    db = request.db
    anchor = db.scalar(sa.select(Message).where(Message.interaction_id == interaction.id,
                                                Message.id == body.upto))
    if anchor is None or anchor.direction != Direction.INBOUND:
        raise InvalidField("upto", f"no customer message {body.upto} in this chat")
    now = utcnow()
    rows = list(db.scalars(sa.select(Message).where(
        Message.interaction_id == interaction.id, Message.direction == Direction.INBOUND,
        Message.created_at <= anchor.created_at, Message.read_at.is_(None))
        .order_by(Message.created_at)))
    for row in rows:
        row.read_at = now
        row.delivered_at = row.delivered_at or now
    db.flush()
    ids = [str(row.id) for row in rows]
    for start in range(0, len(ids), RECEIPT_BATCH):
        request.publish("chat.receipt", {"interaction_id": str(interaction.id),
                                         "ids": ids[start:start + RECEIPT_BATCH],
                                         "status": "read"})
    return ReadOut(interaction_id=interaction.id, read=[row.id for row in rows])
