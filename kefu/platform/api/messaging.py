"""/api/v1 messaging: agents write to customers, read a customer's whole history across
channels, and download attachments.

A reply goes out on the interaction's own channel (chat, email, SMS): it is stored queued and
delivered by the channel (see ``kefu.platform.messaging.outbound``). Agents reply to
interactions they hold; supervisors (``agents:manage``) to any.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from pyramid.request import Request
from pyramid.response import FileResponse, Response

from kefu.platform.agents.models import Agent
from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import ApiError, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.interactions import MessageOut
from kefu.platform.api.interactions import _load as load_interaction
from kefu.platform.api.schemas import Body, Out, Query
from kefu.platform.customers.models import Customer
from kefu.platform.db import paginate
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.models import Attachment, Message
from kefu.platform.messaging.attachments import AttachmentStore
from kefu.platform.messaging.outbound import NotReplyable, Outbox
from kefu.runtime.lifecycle import State

#: Interactions an agent may still write in (after wrap-up the conversation is over).
_WRITABLE = (State.CREATED, State.IN_FLOW, State.QUEUED, State.OFFERED, State.CONNECTED,
             State.WRAP_UP)


class ReplyIn(Body):
    text: str = Field(min_length=1, max_length=20_000, description="what the customer reads")
    subject: str | None = Field(None, max_length=500,
                                description="email only; default `Re:` the thread's subject")


class AttachmentOut(Out):
    id: uuid.UUID
    message_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str


class HistoryItem(MessageOut):
    attachments: list[AttachmentOut]


@api("/interactions/{interaction_id}/reply", "POST", permission=Permission.INTERACTIONS_WRITE,
     tag="messaging", summary="Write to the customer on the interaction's channel (201; "
     "queued, then sent by the channel)", body=ReplyIn, response=MessageOut, status=201)
def reply_to_customer(request: Request, interaction_id: uuid.UUID, body: ReplyIn) -> MessageOut:
    interaction = load_interaction(request, interaction_id)
    agent = request.db.scalar(sa.select(Agent).where(Agent.user_id == request.identity.user_id))
    supervisor = Permission.AGENTS_MANAGE in request.identity.permissions
    if not supervisor and (agent is None or interaction.agent_id != agent.id):
        raise ApiError(403, "forbidden", "only the agent holding the interaction or a "
                                         "supervisor may write in it")
    if interaction.state not in _WRITABLE:
        raise ApiError(409, "ended", f"the interaction is {interaction.state.value}; start an "
                                     "outbound message instead")
    try:
        message = Outbox(request.platform, request.db).reply(
            interaction, body.text, agent_id=agent.id if agent is not None else None,
            subject=body.subject)
    except NotReplyable as exc:
        raise ApiError(409, "not_replyable", str(exc)) from None
    audit_change(request, "message.reply", message, interaction_id=str(interaction.id))
    return MessageOut.model_validate(message)


@api("/customers/{customer_id}/messages", "GET", permission=Permission.INTERACTIONS_READ,
     tag="messaging", summary="Every message with the customer on every channel, newest first",
     query=Query, response=HistoryItem, list_response=True)
def customer_messages(request: Request, customer_id: uuid.UUID, query: Query) -> Any:
    if request.db.get(Customer, customer_id) is None:
        raise NotFound("customer")
    statement = (sa.select(Message).where(Message.customer_id == customer_id)
                 .order_by(Message.created_at.desc(), Message.id))
    items, total = paginate(request.db, statement, query.limit, query.offset)
    return [HistoryItem.model_validate({
        **MessageOut.model_validate(m).model_dump(),
        "attachments": [AttachmentOut.model_validate(a) for a in m.attachments]})
        for m in items], total


@api("/messages/{message_id}/attachments", "GET", permission=Permission.INTERACTIONS_READ,
     tag="messaging", summary="The message's attachments", response=AttachmentOut,
     list_response=True)
def message_attachments(request: Request, message_id: uuid.UUID) -> Any:
    message = request.db.get(Message, message_id)
    if message is None:
        raise NotFound("message")
    return [AttachmentOut.model_validate(a) for a in message.attachments], \
        len(message.attachments)


@api("/attachments/{attachment_id}", "GET", permission=Permission.INTERACTIONS_READ,
     tag="messaging", summary="Download an attachment (the file itself)")
def download_attachment(request: Request, attachment_id: uuid.UUID) -> Response:
    attachment = request.db.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("attachment")
    path = AttachmentStore.from_settings(request.platform.settings).path(attachment.storage_ref)
    if not path.exists():
        raise ApiError(410, "gone", "the attachment's file is no longer stored")
    return file_download(request, path, attachment.filename, attachment.content_type)


def file_download(request: Request, path: Any, filename: str, content_type: str) -> Response:
    """A stored file as a download: never rendered inline by the browser (an uploaded HTML
    or SVG must not run on kefu's origin)."""
    from urllib.parse import quote

    response = FileResponse(str(path), request=request, content_type="application/octet-stream"
                            if not content_type else content_type.split(";", maxsplit=1)[0])
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
