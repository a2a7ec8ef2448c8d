"""Outbound messages: agents' replies, and delivering every queued message on its channel.

Whoever writes to a customer — an agent (:meth:`Outbox.reply`), a flow, a rule — stores a
``messages`` row, direction outbound, status ``queued``, and announces it on
``tenant.<id>.message.queued`` after commit (:func:`announce`). Delivery is the
:class:`Dispatcher`'s, run by the ``run_outbound`` runtime service on every runtime node:

- each channel's host registers a :class:`Sender` for its channel in its process
  (:func:`register_sender`: the email relay, the SMPP client, Kannel); a node without a sender
  for a channel leaves that channel's messages to the nodes that have one;
- a message is *claimed* by a conditional UPDATE (status queued and due) that also sets a
  lease, so of several nodes hearing the announcement exactly one sends it; a node that dies
  mid-send leaves the lease to expire and the message is tried again;
- a transient failure retries with backoff (``messaging.delivery_attempts`` in all); a
  permanent one (a refused address, an opted-out customer) fails at once, with the reason;
- every change is announced on ``tenant.<id>.message.status``.

Web chat is not dispatched here: the chat socket that holds the customer pushes its messages
(the chat host marks them sent and delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.customers.models import Customer
from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.interactions.models import (
    Attachment,
    Channel,
    Direction,
    Interaction,
    Message,
    MessageStatus,
)
from kefu.platform.messaging.attachments import AttachmentStore
from kefu.platform.messaging.intake import InboundAttachment
from kefu.platform.tenancy.scope import cross_tenant

if TYPE_CHECKING:
    from kefu.platform.context import Platform
    from kefu.platform.events import EventBus

log = logging.getLogger(__name__)

#: How long a claimed message is left to its sender before another node may try again.
LEASE_SECONDS = 120
SWEEP_SECONDS = 10.0
SWEEP_BATCH = 100
#: Statuses a later report may not undo (a late "sent" after "delivered").
_RANK = {MessageStatus.QUEUED: 0, MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2,
         MessageStatus.READ: 3, MessageStatus.FAILED: 2}


class DeliveryFailed(Exception):
    """A sender could not deliver. ``permanent``: retrying cannot help (bad address,
    refused by the provider); otherwise the dispatcher tries again later."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class Delivered:
    """What a sender reports: the provider's id for the message (Message-ID, SMSC message
    ids joined by commas), kept to match later delivery receipts."""

    external_id: str | None = None
    headers: dict[str, Any] | None = None


class Sender(Protocol):
    def deliver(self, db: Session, message: Message, interaction: Interaction) -> Delivered:
        """Send ``message`` (synchronously; called in a worker thread with a session bound to
        the message's tenant). Raise :class:`DeliveryFailed` when it did not go."""


_SENDERS: dict[Channel, Sender] = {}


def register_sender(channel: Channel, sender: Sender) -> Callable[[], None]:
    """Make ``sender`` this process's way to deliver ``channel``; returns the undo."""
    _SENDERS[channel] = sender

    def unregister() -> None:
        if _SENDERS.get(channel) is sender:
            del _SENDERS[channel]

    return unregister


def sender_for(channel: Channel) -> Sender | None:
    return _SENDERS.get(channel)


def queued_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.message.queued"


def status_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.message.status"


def announce(db: Session, bus: EventBus | None, message: Message, **extra: Any) -> None:
    """Announce a queued outbound message after the transaction commits."""
    if bus is None:
        return
    publish_after_commit(db, bus, queued_topic(message.tenant_id), {
        "message_id": str(message.id), "interaction_id": str(message.interaction_id),
        "channel": message.channel.value, **extra})


def _status_event(db: Session, bus: EventBus | None, message: Message) -> None:
    if bus is None:
        return
    publish_after_commit(db, bus, status_topic(message.tenant_id), {
        "message_id": str(message.id), "interaction_id": str(message.interaction_id),
        "channel": message.channel.value, "status": message.status.value,
        "error": message.error})


class NotReplyable(ValueError):
    """The interaction's channel has no outbound messages (a call), or no address."""


class Outbox:
    """Agents' replies and delivery reports, in the caller's transaction."""

    def __init__(self, platform: Platform, db: Session) -> None:
        self.platform = platform
        self.db = db
        self.files = AttachmentStore.from_settings(platform.settings)

    def reply(self, interaction: Interaction, text: str, *, agent_id: uuid.UUID | None = None,
              subject: str | None = None, html: str | None = None,
              attachments: Sequence[InboundAttachment] = ()) -> Message:
        """Write to the customer on the interaction's own channel (queued for delivery).

        Raises:
            NotReplyable: a voice or fax interaction, or one without the customer's address.
            AttachmentRejected: an attachment over the limits (nothing is stored).
        """
        if interaction.channel not in (Channel.CHAT, Channel.EMAIL, Channel.SMS):
            raise NotReplyable(f"a {interaction.channel.value} interaction has no messages")
        to = (interaction.from_address if interaction.direction == Direction.INBOUND
              else interaction.to_address)
        if not to:
            raise NotReplyable("the interaction has no address to write to")
        for part in attachments:
            self.files.check(part.filename, part.content_type, len(part.data))
        last_in = self.db.scalar(
            sa.select(Message).where(Message.interaction_id == interaction.id,
                                     Message.direction == Direction.INBOUND)
            .order_by(Message.created_at.desc()).limit(1))
        if interaction.channel == Channel.EMAIL and subject is None:
            original = (last_in.subject if last_in is not None else None) \
                or interaction.subject or ""
            subject = original if original.lower().startswith("re:") else (
                f"Re: {original}" if original else None)
        sender = (interaction.to_address if interaction.direction == Direction.INBOUND
                  else interaction.from_address)
        message = Message(
            interaction_id=interaction.id, customer_id=interaction.customer_id,
            channel=interaction.channel, direction=Direction.OUTBOUND,
            status=MessageStatus.QUEUED, sender=sender, recipients=[to], subject=subject,
            body_text=text, body_html=html, author_agent_id=agent_id,
            in_reply_to=last_in.external_id if last_in is not None else None, headers={})
        self.db.add(message)
        self.db.flush()
        for part in attachments:
            stored = self.files.put(part.data, part.filename, part.content_type)
            self.db.add(Attachment(message_id=message.id, filename=part.filename[:255],
                                   content_type=part.content_type[:255], size=stored.size,
                                   sha256=stored.sha256, storage_ref=stored.storage_ref))
        self.db.flush()
        announce(self.db, self.platform.bus, message,
                 agent_id=str(agent_id) if agent_id else None)
        return message

    def mark(self, channel: Channel, external_id: str, status: MessageStatus, *,
             error: str | None = None, at: dt.datetime | None = None) -> Message | None:
        """A delivery report for the message the provider knows as ``external_id`` (one of
        the ids a sender returned). Never moves a message backwards."""
        message = self.db.scalar(sa.select(Message).where(
            Message.channel == channel, Message.direction == Direction.OUTBOUND,
            sa.or_(Message.external_id == external_id,
                   Message.external_id.like(f"%,{external_id}"),
                   Message.external_id.like(f"{external_id},%"),
                   Message.external_id.like(f"%,{external_id},%"))).limit(1))
        if message is None:
            return None
        set_status(self.db, self.platform.bus, message, status, error=error, at=at)
        return message


def set_status(db: Session, bus: EventBus | None, message: Message, status: MessageStatus, *,
               error: str | None = None, at: dt.datetime | None = None) -> bool:
    """Move a message's status forward (and stamp when); False when it would go back.

    The move is one conditional UPDATE, not a read then a write: two reports for the same
    message may arrive at once (Kannel posts "sent to the SMSC" and "delivered" together),
    and the one read first must not overwrite the other when it commits last."""
    if _RANK[status] < _RANK[message.status] or status == message.status:
        return False
    db.flush()  # the caller's own pending changes go first, so nothing below discards them
    at = at or utcnow()
    values: dict[str, Any] = {"status": status}
    if status == MessageStatus.SENT:
        values["sent_at"] = sa.func.coalesce(Message.sent_at, at)
    elif status == MessageStatus.DELIVERED:
        values["delivered_at"] = sa.func.coalesce(Message.delivered_at, at)
    elif status == MessageStatus.READ:
        values["read_at"] = sa.func.coalesce(Message.read_at, at)
        values["delivered_at"] = sa.func.coalesce(Message.delivered_at, at)
    if error is not None:
        values["error"] = error[:500]
    behind = [s for s, rank in _RANK.items() if rank <= _RANK[status] and s != status]
    moved = db.execute(
        sa.update(Message).where(Message.id == message.id, Message.status.in_(behind))
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.expire(message, ["status", "sent_at", "delivered_at", "read_at", "error"])
    if not moved:
        return False
    _status_event(db, bus, message)
    return True


class Dispatcher:
    """Claims and delivers queued outbound messages (see the module notes)."""

    def __init__(self, platform: Platform, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.platform = platform
        self.clock = clock
        self.max_attempts = int(platform.settings["messaging.delivery_attempts"])

    def due(self, limit: int = SWEEP_BATCH) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, message) of queued outbound messages this process can send, due now."""
        channels = [c for c in _SENDERS if c != Channel.CHAT]
        if not channels:
            return []
        now = self.clock()
        with self.platform.session() as db, cross_tenant(db):
            rows = db.execute(
                sa.select(Message.tenant_id, Message.id)
                .where(Message.status == MessageStatus.QUEUED,
                       Message.direction == Direction.OUTBOUND,
                       Message.channel.in_(channels),
                       sa.or_(Message.next_attempt_at.is_(None),
                              Message.next_attempt_at <= now))
                .order_by(Message.created_at).limit(limit)).all()
        return list(rows)

    def deliver(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> MessageStatus | None:
        """Claim one message and send it. None: not ours to send (another node has it, it
        is not due, or no sender for its channel here)."""
        now = self.clock()
        with self.platform.session(tenant_id) as db:
            claimed = db.execute(
                sa.update(Message)
                .where(Message.id == message_id, Message.status == MessageStatus.QUEUED,
                       Message.direction == Direction.OUTBOUND,
                       sa.or_(Message.next_attempt_at.is_(None),
                              Message.next_attempt_at <= now))
                .values(attempts=Message.attempts + 1,
                        next_attempt_at=now + dt.timedelta(seconds=LEASE_SECONDS))
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:
                return None
            db.commit()
            message = db.get(Message, message_id)
            if message is None:
                return None
            sender = _SENDERS.get(message.channel)
            if sender is None or message.channel == Channel.CHAT:
                message.next_attempt_at = None
                message.attempts = max(0, message.attempts - 1)
                db.commit()
                return None
            interaction = message.interaction
            try:
                self._check_opt_out(db, message)
                delivered = sender.deliver(db, message, interaction)
            except DeliveryFailed as exc:
                return self._failed(db, message, str(exc), permanent=exc.permanent)
            except Exception as exc:  # a sender bug must not stop the others
                log.exception("sender for %s failed on message %s", message.channel.value,
                              message.id)
                return self._failed(db, message, f"internal error: {type(exc).__name__}",
                                    permanent=False)
            # A delivery receipt may have been written while the sender worked: read the row
            # again so that "sent" never overwrites "delivered".
            db.commit()
            db.refresh(message)
            if delivered.external_id:
                message.external_id = delivered.external_id[:998]
            if delivered.headers:
                message.headers = {**(message.headers or {}), **delivered.headers}
            message.next_attempt_at = None
            message.error = None
            set_status(db, self.platform.bus, message, MessageStatus.SENT, at=self.clock())
            db.commit()
            return MessageStatus.SENT

    @staticmethod
    def _check_opt_out(db: Session, message: Message) -> None:
        """A customer who unsubscribed from a channel gets only replies to what they wrote."""
        if message.in_reply_to or message.customer_id is None:
            return
        customer = db.get(Customer, message.customer_id)
        if customer is not None and message.channel.value in (customer.opt_outs or []):
            raise DeliveryFailed(f"the customer unsubscribed from {message.channel.value}",
                                 permanent=True)

    def _failed(self, db: Session, message: Message, reason: str, *,
                permanent: bool) -> MessageStatus:
        log.warning("message %s on %s not delivered (attempt %d): %s", message.id,
                    message.channel.value, message.attempts, reason)
        message.error = reason[:500]
        if permanent or message.attempts >= self.max_attempts:
            message.next_attempt_at = None
            set_status(db, self.platform.bus, message, MessageStatus.FAILED, error=reason)
            db.commit()
            return MessageStatus.FAILED
        backoff = min(5 * 2 ** (message.attempts - 1), 3600)
        message.next_attempt_at = self.clock() + dt.timedelta(seconds=backoff)
        db.commit()
        return MessageStatus.QUEUED


async def run_outbound(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: deliver announced messages at once, and sweep for due retries."""
    from kefu.platform.runtime_host import cancel_tasks

    dispatcher = Dispatcher(platform)
    subscription = await platform.bus.subscribe(patterns=["tenant.*.message.queued"])
    pending: asyncio.Queue[tuple[uuid.UUID, uuid.UUID]] = asyncio.Queue()

    async def listen() -> None:
        async for event in subscription:
            tenant = event.topic.split(".")[1]
            try:
                pending.put_nowait((uuid.UUID(tenant), uuid.UUID(event.data["message_id"])))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring malformed %s event", event.topic)

    async def sweep() -> None:
        while not stopping.is_set():
            for item in await asyncio.to_thread(dispatcher.due):
                pending.put_nowait(item)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SWEEP_SECONDS)

    async def work() -> None:
        while True:
            tenant_id, message_id = await pending.get()
            try:
                await asyncio.to_thread(dispatcher.deliver, tenant_id, message_id)
            except Exception:
                log.exception("delivering message %s failed", message_id)

    tasks = [asyncio.create_task(listen()), asyncio.create_task(sweep()),
             asyncio.create_task(work()), asyncio.create_task(work())]
    try:
        await stopping.wait()
    finally:
        await cancel_tasks(tasks)
        await subscription.close()
