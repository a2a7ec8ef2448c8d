"""Inbound messages of every text channel, from the wire to an agent.

A channel adapter (the SMTP listener, the IMAP poller, the SMPP client, Kannel's callback,
the web chat socket) hands :meth:`Intake.receive` an :class:`Inbound`; in one transaction it

1. finds the tenant by the address the message was sent to (``channel_bindings``; an adapter
   that knows the tenant already, like the chat socket, passes it);
2. finds or creates the customer by the sender's address (phone number, mailbox);
3. finds the conversation (interaction) it continues — the chat session; the email thread by
   In-Reply-To/References, but only when the sender is the thread's customer, so a forged
   header cannot drop mail into someone else's conversation; the open SMS conversation between
   the same two numbers — or starts one;
4. stores the message once (a redelivery with the same ``external_id`` changes nothing) with
   its attachments (:mod:`.attachments`; a refused one is named in the message, which is kept);
5. raises ``email.received`` / ``sms.received`` / ``message.received`` for the tenant's rules
   (after commit, as a job) and moves the conversation on: a new one runs the flow its
   ``channel`` declares, or waits in the channel's ``queue`` for an agent; one in a flow feeds
   the flow the text; one with an agent just gains the message (the agent's portal hears of it
   on ``tenant.<id>.message.received``).

Automated mail (auto-replies, bounces, lists) is stored with ``automated=True`` and does
nothing else: no rules, no flow, no agent, so two auto-responders cannot talk forever.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.dsl import ir
from kefu.platform.customers.models import Customer, CustomerEmail, CustomerPhone
from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.interactions.models import (
    DSL_KINDS,
    Attachment,
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Message,
)
from kefu.platform.interactions.services import InteractionService
from kefu.platform.messaging.attachments import AttachmentRejected, AttachmentStore
from kefu.platform.messaging.bindings import normalize_address, resolve_address
from kefu.platform.tenancy.scope import bind_tenant, current_tenant_id

if TYPE_CHECKING:
    from kefu.platform.configs.cache import LoadedConfig
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

_OPEN = (InteractionState.CREATED, InteractionState.IN_FLOW, InteractionState.QUEUED,
         InteractionState.OFFERED, InteractionState.CONNECTED, InteractionState.WRAP_UP)
_WITH_ACD = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.CONNECTED,
             InteractionState.WRAP_UP)


class UnknownAddress(LookupError):
    """No tenant declares a channel with this address (the adapter refuses the message)."""


class ConversationEnded(LookupError):
    """The chat session the message names has ended (the widget starts a new one)."""


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # inline images in HTML mail


@dataclass
class Inbound:
    """One message as a channel adapter received it.

    ``to_address`` is the mailbox, SMS number or widget key it was sent to (it names the
    tenant); ``from_address`` the sender's mailbox, number or chat visitor id. ``external_id``
    is what makes a redelivery recognisable (Message-ID or the email's delivery key, SMSC
    message id, chat client message id). ``thread_id`` is the conversation's own id when the
    channel has one (chat session; email: the thread root's Message-ID); ``thread_keys`` the
    ids of earlier messages it answers (email In-Reply-To and References).
    """

    channel: Channel
    to_address: str
    from_address: str
    text: str = ""
    external_id: str | None = None
    subject: str | None = None
    html: str | None = None
    thread_id: str | None = None
    thread_keys: Sequence[str] = ()
    headers: dict[str, Any] = field(default_factory=dict)
    attachments: Sequence[InboundAttachment] = ()
    display_name: str | None = None
    automated: bool = False
    tenant_id: uuid.UUID | None = None
    received_at: dt.datetime | None = None


@dataclass(frozen=True)
class Received:
    tenant_id: uuid.UUID
    interaction_id: uuid.UUID
    message_id: uuid.UUID
    customer_id: uuid.UUID | None
    created: bool  # False: a redelivery of a stored message
    new_conversation: bool
    rejected_attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Opened:
    tenant_id: uuid.UUID
    interaction_id: uuid.UUID
    customer_id: uuid.UUID | None
    created: bool


def received_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.message.received"


class Intake:
    """Stores inbound messages and moves their conversations on (see the module notes).

    Synchronous (database work); asyncio adapters call it with ``asyncio.to_thread``.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.files = AttachmentStore.from_settings(platform.settings)

    # ------------------------------------------------------------------ tenant
    def tenant_for(self, channel: Channel, address: str) -> uuid.UUID | None:
        """The tenant that declared ``channel <kind> "<address>"``, or None."""
        with self.platform.session() as db:
            return resolve_address(db, DSL_KINDS[channel], address)

    def declared(self, tenant_id: uuid.UUID, channel: Channel,
                 address: str) -> ir.Channel | None:
        """The deployed config's declaration of this channel address, or None."""
        loaded = self.platform.configs.deployed(tenant_id)
        return _declaration(loaded, channel, address) if loaded is not None else None

    # ------------------------------------------------------------------ receive
    def receive(self, inbound: Inbound) -> Received:
        """Store one inbound message and move its conversation on.

        Raises:
            UnknownAddress: no tenant declares ``inbound.to_address`` on this channel.
            ConversationEnded: a chat message for a session that has ended.
        """
        # One session: the address directory is platform-level, then the session is scoped.
        with self.platform.session() as db:
            result = self._receive_in(db, inbound)
            db.commit()
        return result

    def receive_many(self, tenant_id: uuid.UUID,
                     inbounds: Sequence[Inbound]) -> list[Received | Exception]:
        """:meth:`receive` for several messages of one tenant in one transaction (a group
        commit: one database write for a burst of chat messages instead of one each). Each
        result is what :meth:`receive` returned or raised for that message; when any of them
        fails, the transaction is rolled back and each is received on its own, so one bad
        message never costs the others."""
        if len(inbounds) > 1:
            try:
                with self.platform.session() as db:
                    bind_tenant(db, tenant_id)
                    known = _Known.read(db, inbounds)
                    results: list[Received | Exception] = []
                    for inbound in inbounds:
                        try:
                            results.append(self._receive_in(
                                db, replace(inbound, tenant_id=tenant_id),
                                known if inbound.channel == Channel.CHAT else None))
                        except ConversationEnded as exc:  # refused before writing anything
                            results.append(exc)
                    db.commit()
                return results
            except Exception:  # noqa: S110 - each is retried alone below, which reports it
                pass
        out: list[Received | Exception] = []
        for inbound in inbounds:
            try:
                out.append(self.receive(replace(inbound, tenant_id=tenant_id)))
            except Exception as exc:
                out.append(exc)
        return out

    def _receive_in(self, db: Session, inbound: Inbound,
                    known: _Known | None = None) -> Received:
        tenant_id = inbound.tenant_id or resolve_address(
            db, DSL_KINDS[inbound.channel], inbound.to_address)
        if tenant_id is None:
            raise UnknownAddress(f"no tenant declares {DSL_KINDS[inbound.channel]} "
                                 f"{inbound.to_address!r}")
        if current_tenant_id(db) != tenant_id:
            bind_tenant(db, tenant_id)
        if inbound.external_id:
            stored = known.stored.get(inbound.external_id) if known is not None else db.scalar(
                sa.select(Message).where(Message.channel == inbound.channel,
                                         Message.external_id == inbound.external_id))
            if stored is not None:  # a redelivery: nothing changes
                return Received(tenant_id, stored.interaction_id, stored.id,
                                stored.customer_id, False, False)
        loaded = self.platform.configs.deployed(tenant_id)
        declared = _declaration(loaded, inbound.channel, inbound.to_address)
        customer = self._customer(db, inbound)
        session = known.sessions.get(inbound.thread_id or "") if known is not None else None
        if session is not None and session.state in _OPEN:
            interaction, new = session, False
        else:
            interaction, new = self._conversation(db, inbound, customer, loaded)
        rejected: list[str] = []
        fields = self._fields(inbound)
        service = InteractionService(db)
        message, created = service.add_message(
            interaction, fields, jobs=self.platform.jobs,
            raise_events=not inbound.automated and _rules_listen(loaded, inbound.channel),
            looked_up=bool(inbound.external_id), flush=known is None)
        if known is not None and inbound.external_id:
            known.stored[inbound.external_id] = message
        if created:
            rejected = self._attach(db, message, inbound)
            if customer is not None:
                customer.last_contact_at = message.created_at
            if not inbound.automated:
                self._advance(db, tenant_id, interaction, message, declared)
            publish_after_commit(db, self.platform.bus, received_topic(tenant_id), {
                "interaction_id": str(interaction.id), "message_id": str(message.id),
                "external_id": message.external_id,
                "channel": interaction.channel.value,
                "agent_id": str(interaction.agent_id) if interaction.agent_id else None,
                "automated": inbound.automated})
        return Received(tenant_id, interaction.id, message.id, interaction.customer_id,
                        created, new, tuple(rejected))

    # ------------------------------------------------------------------ chat sessions
    def open_conversation(self, tenant_id: uuid.UUID, channel: Channel, *, to_address: str,
                          from_address: str, external_id: str, display_name: str | None = None,
                          email: str | None = None, phone: str | None = None,
                          variables: dict[str, Any] | None = None,
                          subject: str | None = None) -> Opened:
        """Start a conversation before its first message (a web chat after the pre-chat
        form): the customer (matched by ``email`` or ``phone`` when given), the interaction
        with ``external_id`` (the session id), and the channel's flow with ``variables`` — or
        its queue. Opening the same ``external_id`` again returns the stored one."""
        with self.platform.session(tenant_id) as db:
            existing = db.scalar(sa.select(Interaction).where(
                Interaction.channel == channel, Interaction.external_id == external_id))
            if existing is not None:
                return Opened(tenant_id, existing.id, existing.customer_id, False)
            loaded = self.platform.configs.deployed(tenant_id)
            declared = _declaration(loaded, channel, to_address)
            customer = None
            if email:
                customer = _by_email(db, email)
            if customer is None and phone:
                customer = _by_phone(db, phone)
            if customer is None:
                customer = Customer(name=(display_name or email or phone or "Visitor")[:200])
                if email:
                    customer.emails.append(CustomerEmail(address=email.strip().lower()[:254]))
                if phone:
                    customer.phones.append(CustomerPhone(
                        number=normalize_address("sms", phone)[:32]))
                db.add(customer)
            customer.last_contact_at = utcnow()
            db.flush()
            interaction = Interaction(
                channel=channel, direction=Direction.INBOUND, customer_id=customer.id,
                from_address=from_address[:254], to_address=to_address[:254],
                subject=subject, external_id=external_id,
                config_version_id=loaded.version_id if loaded is not None else None,
                data={"opened": {"variables": dict(variables or {})}})
            db.add(interaction)
            db.flush()
            self._start(db, tenant_id, interaction, declared, dict(variables or {}))
            opened = Opened(tenant_id, interaction.id, customer.id, True)
            db.commit()
        return opened

    def end_conversation(self, tenant_id: uuid.UUID, interaction_id: uuid.UUID) -> bool:
        """The customer left (closed the chat): the flow ends, a waiting contact is
        abandoned, a connected one goes to its agent's wrap-up. False when already ended."""
        from kefu.platform.flows.service import FlowHost, NoSession
        from kefu.platform.routing.service import RoutingService

        with self.platform.session(tenant_id) as db:
            interaction = db.get(Interaction, interaction_id)
            if interaction is None or interaction.state not in _OPEN:
                return False
            if interaction.state == InteractionState.IN_FLOW:
                try:
                    FlowHost(self.platform, db, tenant_id).hang_up(interaction)
                except NoSession:
                    RoutingService(self.platform, db, tenant_id).hang_up(interaction)
            else:
                RoutingService(self.platform, db, tenant_id).hang_up(interaction)
            db.commit()
        return True

    # ------------------------------------------------------------------ parts
    @staticmethod
    def _fields(inbound: Inbound) -> dict[str, Any]:
        headers = dict(inbound.headers)
        if inbound.automated:
            headers["automated"] = True
        fields: dict[str, Any] = {
            "direction": Direction.INBOUND, "sender": inbound.from_address[:254],
            "recipients": [inbound.to_address], "subject": inbound.subject,
            "body_text": inbound.text, "body_html": inbound.html,
            "external_id": inbound.external_id,
            "in_reply_to": inbound.thread_keys[0] if inbound.thread_keys else None,
            "headers": headers,
        }
        if inbound.received_at is not None:
            fields["created_at"] = inbound.received_at
        return {k: v for k, v in fields.items() if v is not None}

    def _customer(self, db: Session, inbound: Inbound) -> Customer | None:
        if inbound.channel == Channel.EMAIL:
            customer = _by_email(db, inbound.from_address)
            if customer is None:
                address = inbound.from_address.strip().lower()[:254]
                customer = Customer(name=(inbound.display_name or address)[:200])
                customer.emails.append(CustomerEmail(address=address))
                db.add(customer)
                db.flush()
            return customer
        if inbound.channel in (Channel.SMS, Channel.VOICE, Channel.FAX):
            customer = _by_phone(db, inbound.from_address)
            if customer is None:
                number = normalize_address("sms", inbound.from_address)[:32]
                customer = Customer(name=(inbound.display_name or number)[:200])
                customer.phones.append(CustomerPhone(number=number))
                db.add(customer)
                db.flush()
            return customer
        return None  # chat: the customer came with open_conversation

    def _conversation(self, db: Session, inbound: Inbound, customer: Customer | None,
                      loaded: LoadedConfig | None) -> tuple[Interaction, bool]:
        channel = inbound.channel
        continues: Interaction | None = None
        if channel == Channel.CHAT:
            return self._chat_session(db, inbound), False
        if channel == Channel.EMAIL:
            keys = [k for k in inbound.thread_keys if k]
            if keys:
                earlier = db.scalar(
                    sa.select(Message).where(Message.channel == channel,
                                             Message.external_id.in_(keys))
                    .order_by(Message.created_at.desc()).limit(1))
                if earlier is not None and self._same_party(db, earlier.interaction, inbound):
                    if earlier.interaction.state in _OPEN:
                        return earlier.interaction, False
                    continues = earlier.interaction
        elif channel == Channel.SMS:
            row = db.scalar(
                sa.select(Interaction).where(
                    Interaction.channel == channel,
                    Interaction.from_address == normalize_address("sms", inbound.from_address),
                    Interaction.to_address == normalize_address("sms", inbound.to_address),
                    Interaction.state.in_(_OPEN))
                .order_by(Interaction.created_at.desc()).limit(1))
            if row is not None:
                return row, False
        external_id = inbound.thread_id or inbound.external_id
        if continues is not None or (external_id and db.scalar(sa.select(Interaction.id).where(
                Interaction.channel == channel, Interaction.external_id == external_id))):
            external_id = inbound.external_id  # a new conversation in an old thread
        data: dict[str, Any] = {}
        if continues is not None:
            data["continues"] = str(continues.id)
        from_address = inbound.from_address
        to_address = inbound.to_address
        if channel in (Channel.SMS, Channel.EMAIL):
            from_address = normalize_address(DSL_KINDS[channel], from_address)
            to_address = normalize_address(DSL_KINDS[channel], to_address)
        interaction = Interaction(
            channel=channel, direction=Direction.INBOUND,
            customer_id=customer.id if customer is not None else None,
            from_address=from_address[:254], to_address=to_address[:254],
            subject=(inbound.subject or None) and inbound.subject[:500],
            external_id=external_id,
            config_version_id=loaded.version_id if loaded is not None else None, data=data)
        db.add(interaction)
        db.flush()
        return interaction, True

    @staticmethod
    def _chat_session(db: Session, inbound: Inbound) -> Interaction:
        if not inbound.thread_id:
            raise ConversationEnded("a chat message needs its session")
        row = db.scalar(sa.select(Interaction).where(
            Interaction.channel == Channel.CHAT, Interaction.external_id == inbound.thread_id))
        if row is not None and row.state in _OPEN:
            return row
        if row is not None and inbound.external_id and db.scalar(
                sa.select(Message.id).where(Message.interaction_id == row.id,
                                            Message.external_id == inbound.external_id)):
            return row  # a resend of a message stored before the chat ended
        raise ConversationEnded(f"chat session {inbound.thread_id} has ended")

    @staticmethod
    def _same_party(db: Session, thread: Interaction, inbound: Inbound) -> bool:
        """Whether the sender may continue ``thread``: its customer's own mailbox (or the
        thread's original sender). Anyone else quoting our Message-IDs starts their own."""
        sender = inbound.from_address.strip().lower()
        if (thread.from_address or "").lower() == sender:
            return True
        if thread.customer_id is None:
            return False
        return db.scalar(sa.select(CustomerEmail.id).where(
            CustomerEmail.customer_id == thread.customer_id,
            sa.func.lower(CustomerEmail.address) == sender)) is not None

    def _attach(self, db: Session, message: Message, inbound: Inbound) -> list[str]:
        rejected: list[str] = []
        if not inbound.attachments:
            return rejected
        for part in inbound.attachments:
            try:
                stored = self.files.put(part.data, part.filename, part.content_type)
            except AttachmentRejected as exc:
                log.warning("attachment refused on message %s: %s", message.id, exc)
                rejected.append(str(exc))
                continue
            db.add(Attachment(message_id=message.id, filename=part.filename[:255] or "file",
                              content_type=(part.content_type or "")[:255]
                              or "application/octet-stream",
                              size=stored.size, sha256=stored.sha256,
                              storage_ref=stored.storage_ref,
                              content_id=part.content_id and part.content_id[:255]))
        if rejected:
            message.headers = {**(message.headers or {}), "rejected_attachments": rejected}
        db.flush()
        return rejected

    def _advance(self, db: Session, tenant_id: uuid.UUID, interaction: Interaction,
                 message: Message, declared: ir.Channel | None) -> None:
        from kefu.platform.flows.service import FlowHost, NoSession

        if interaction.state == InteractionState.CREATED:
            variables = {"message": {"text": message.body_text, "subject": message.subject,
                                     "from": message.sender}}
            self._start(db, tenant_id, interaction, declared, variables)
        elif interaction.state == InteractionState.IN_FLOW:
            try:
                FlowHost(self.platform, db, tenant_id).feed_text(interaction,
                                                                message.body_text)
            except NoSession:
                log.warning("interaction %s is in a flow without a session", interaction.id)

    def _start(self, db: Session, tenant_id: uuid.UUID, interaction: Interaction,
               declared: ir.Channel | None, variables: dict[str, Any]) -> None:
        """A new conversation: run the channel's flow, or queue it in the channel's queue.
        Neither declared: the tenant's rules decide (``assign``, ``reply``…)."""
        from kefu.platform.flows.service import FlowHost, NoFlow
        from kefu.platform.routing.service import NoRouting, RoutingService, UnknownQueue

        if declared is not None and declared.flow:
            try:
                FlowHost(self.platform, db, tenant_id).start(interaction, variables=variables)
                return
            except NoFlow as exc:
                log.warning("interaction %s: flow not started: %s", interaction.id, exc)
        if declared is not None and declared.queue:
            try:
                result = RoutingService(self.platform, db, tenant_id).enqueue(
                    interaction, declared.queue, attrs={"channel": interaction.channel.value})
            except (UnknownQueue, NoRouting) as exc:
                log.warning("interaction %s: not queued in %s: %s", interaction.id,
                            declared.queue, exc)
                return
            if result.status == "closed":
                # Out of hours: a message waits for the queue to open (the routing-request
                # sweep tries again), unlike a call, which the flow sends elsewhere.
                interaction.queue = declared.queue
                interaction.data = {**(interaction.data or {}), "routing": {
                    "kind": "channel", "queue": declared.queue, "closed": True}}


@dataclass
class _Known:
    """What :meth:`Intake.receive_many` reads once for a whole burst of chat messages:
    those already stored (by external id) and the chat sessions they belong to."""

    stored: dict[str, Message]
    sessions: dict[str, Interaction]

    @classmethod
    def read(cls, db: Session, inbounds: Sequence[Inbound]) -> _Known:
        chats = [i for i in inbounds if i.channel == Channel.CHAT]
        external_ids = sorted({i.external_id for i in chats if i.external_id})
        thread_ids = sorted({i.thread_id for i in chats if i.thread_id})
        stored = {m.external_id: m for m in db.scalars(sa.select(Message).where(
            Message.channel == Channel.CHAT, Message.external_id.in_(external_ids)))
            if m.external_id} if external_ids else {}
        sessions = {row.external_id: row for row in db.scalars(sa.select(Interaction).where(
            Interaction.channel == Channel.CHAT, Interaction.external_id.in_(thread_ids)))
            if row.external_id} if thread_ids else {}
        return cls(stored, sessions)


def _rules_listen(loaded: LoadedConfig | None, channel: Channel) -> bool:
    """Whether a rule of the deployed config handles this channel's received event. Without
    one, recording the event (a row and a rules job per message) would only cost writes."""
    from kefu.platform.automation.events import MESSAGE_EVENTS

    kind = MESSAGE_EVENTS[channel]
    return loaded is not None and any(rule.event == kind for rule in loaded.config.rules)


def _declaration(loaded: LoadedConfig | None, channel: Channel,
                 address: str) -> ir.Channel | None:
    if loaded is None:
        return None
    kind = DSL_KINDS[channel]
    wanted = normalize_address(kind, address)
    return next((c for c in loaded.config.channels
                 if c.kind == kind and normalize_address(kind, c.address) == wanted), None)


def _by_email(db: Session, address: str) -> Customer | None:
    row = db.scalar(sa.select(CustomerEmail).where(
        sa.func.lower(CustomerEmail.address) == address.strip().lower()).limit(1))
    return row.customer if row is not None else None


def _by_phone(db: Session, number: str) -> Customer | None:
    row = db.scalar(sa.select(CustomerPhone).where(
        CustomerPhone.number == normalize_address("sms", number)).limit(1))
    return row.customer if row is not None else None


__all__ = ["ConversationEnded", "Inbound", "InboundAttachment", "Intake", "Opened",
           "Received", "UnknownAddress", "received_topic"]
