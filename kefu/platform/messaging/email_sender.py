"""Outbound mail: the EMAIL :class:`~kefu.platform.messaging.outbound.Sender`.

Each queued outbound email message (an agent's reply, a rule's ``reply``/``send``, a flow's
message) is composed (:mod:`kefu.channels.email.compose`) with a Message-ID of kefu's, threaded
to the message it answers (In-Reply-To / References), and handed to the configured relay. The
Message-ID is returned as the message's ``external_id``, so the customer's answer finds the
conversation again.

Automatic messages — those a rule (``X-Kefu-Rule``) or a flow (``X-Kefu-Flow``) wrote — follow
RFC 3834: marked ``Auto-Submitted``, never sent to an address whose mail was automatic (an
auto-responder, a bounce) or that nobody reads, never to kefu's own mailboxes, and an automatic
*answer* goes to one address at most once a day per tenant (a flow's dialogue by mail: at most
``FLOW_MESSAGES_PER_DAY``). This is what ends a loop with an auto-responder that marks its mail
with none of the usual headers. The answer is recorded before it is sent, because the other
side's reply can arrive while the relay is still sending.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.channels.email.classify import PERSONAL, Classification, MailKind
from kefu.channels.email.compose import OutboundEmail, compose_email, decide_auto_reply
from kefu.channels.email.mime import Attachment, EmailAddress, ParsedEmail
from kefu.channels.email.relay import RelayError, RelaySettings, send_via_relay
from kefu.platform.customers.models import Customer
from kefu.platform.db import utcnow
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    Interaction,
    Message,
    MessageStatus,
)
from kefu.platform.messaging.attachments import AttachmentStore
from kefu.platform.messaging.bindings import addresses
from kefu.platform.messaging.outbound import Delivered, DeliveryFailed

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

AUTO_REPLY_INTERVAL = dt.timedelta(days=1)
#: Automatic messages a flow may send one address a day (its questions in a dialogue by mail).
FLOW_MESSAGES_PER_DAY = 10
# How many recent outbound messages are read to find earlier automatic answers to an address
# that belongs to no customer.
_RECENT_SCAN = 2000


def _plain_message_id(key: str | None) -> str | None:
    """The Message-ID inside a stored key: inbound mail is stored under its delivery key
    ``mid:<id> from:<address>``, ours under the bare id; a hash key has no id."""
    if not key or key.startswith("sha256:"):
        return None
    if key.startswith("mid:"):
        return key[4:].split(" from:", 1)[0] or None
    return key if "@" in key else None


class EmailSender:
    """Sends queued EMAIL messages through the relay (see the module notes).

    Args:
        platform: the platform (for attachments).
        relay: the relay to send through.
        message_id_domain: the domain of kefu's Message-IDs.
    """

    def __init__(self, platform: Platform, relay: RelaySettings, message_id_domain: str) -> None:
        self.platform = platform
        self.relay = relay
        self.message_id_domain = message_id_domain
        self.files = AttachmentStore.from_settings(platform.settings)

    # ------------------------------------------------------------------ Sender
    def deliver(self, db: Session, message: Message, interaction: Interaction) -> Delivered:
        headers = dict(message.headers or {})
        sender = message.sender or (interaction.to_address
                                    if interaction.direction == Direction.INBOUND
                                    else interaction.from_address)
        if not sender or "@" not in sender:
            raise DeliveryFailed("no mailbox to send from: the tenant declares no "
                                 "`channel email` address", permanent=True)
        recipients = [str(r).strip() for r in message.recipients or [] if str(r).strip()]
        if not recipients:
            raise DeliveryFailed("the message has no recipient", permanent=True)
        answered = self._answered(db, message, interaction)
        in_reply_to, references = self._thread(answered, message.in_reply_to)
        automatic = "X-Kefu-Rule" in headers or "X-Kefu-Flow" in headers
        auto_reply = automatic and (in_reply_to is not None or answered is not None)
        if automatic:
            recipients = self._allowed(db, message, answered, recipients,
                                       flow="X-Kefu-Flow" in headers,
                                       auto_reply=auto_reply)
        extra = {} if not automatic or auto_reply else {"Auto-Submitted": "auto-generated"}
        try:
            outbound = compose_email(
                sender=EmailAddress(sender), to=[EmailAddress(r) for r in recipients],
                subject=message.subject or "", text=message.body_text or "",
                html=message.body_html, attachments=self._attachments(message),
                message_id_domain=self.message_id_domain, in_reply_to=in_reply_to,
                references=references, automatic=auto_reply, extra_headers=extra)
        except ValueError as exc:
            raise DeliveryFailed(f"cannot compose the message: {exc}", permanent=True) from exc
        # Stored before sending: an answer to it (an auto-responder is quick) can arrive
        # before the relay has even replied, and must find this conversation.
        message.external_id = outbound.message_id
        db.commit()
        result = self._send(outbound)
        if result.refused:
            log.warning("relay refused some recipients of message %s: %s", message.id,
                        result.refused)
        log.info("message %s sent as <%s> to %s through %s:%s (%s)", message.id,
                 outbound.message_id, ", ".join(outbound.recipients), self.relay.host,
                 self.relay.port, result.queued_id or result.response)
        sent: dict[str, Any] = {"message_id": outbound.message_id, "references": references,
                                "relay_response": result.response[:200]}
        if in_reply_to:
            sent["in_reply_to"] = [in_reply_to]
        if result.refused:
            sent["refused_recipients"] = result.refused
        return Delivered(external_id=outbound.message_id, headers=sent)

    # ------------------------------------------------------------------ parts
    def _send(self, outbound: OutboundEmail) -> Any:
        try:
            # Called in a dispatcher worker thread: no event loop runs here.
            return asyncio.run(send_via_relay(self.relay, envelope_from=outbound.envelope_from,
                                              recipients=outbound.recipients, raw=outbound.raw))
        except RelayError as exc:
            raise DeliveryFailed(str(exc), permanent=not exc.transient) from exc

    def _attachments(self, message: Message) -> list[Attachment]:
        parts = []
        for stored in message.attachments:
            try:
                data = self.files.read(stored.storage_ref)
            except (OSError, ValueError) as exc:
                raise DeliveryFailed(f"attachment {stored.filename!r} cannot be read: {exc}",
                                     permanent=True) from exc
            parts.append(Attachment(filename=stored.filename, content_type=stored.content_type,
                                    data=data, content_id=stored.content_id,
                                    inline=stored.content_id is not None))
        return parts

    @staticmethod
    def _answered(db: Session, message: Message, interaction: Interaction) -> Message | None:
        """The stored message this one answers: the one named by ``in_reply_to``, or for a
        flow's message in a mail conversation, the customer's latest mail."""
        if message.in_reply_to:
            return db.scalar(sa.select(Message).where(
                Message.channel == Channel.EMAIL,
                Message.external_id == message.in_reply_to).limit(1))
        if ("X-Kefu-Flow" in (message.headers or {}) and interaction.channel == Channel.EMAIL
                and interaction.direction == Direction.INBOUND):
            return db.scalar(sa.select(Message).where(
                Message.interaction_id == interaction.id,
                Message.direction == Direction.INBOUND)
                .order_by(Message.created_at.desc()).limit(1))
        return None

    @staticmethod
    def _thread(answered: Message | None,
                in_reply_to: str | None) -> tuple[str | None, list[str]]:
        """In-Reply-To and References of an answer (RFC 5322 §3.6.4)."""
        if answered is None:
            plain = _plain_message_id(in_reply_to)
            return plain, [plain] if plain else []
        stored = answered.headers or {}
        message_id = (stored.get("message_id") if answered.direction == Direction.INBOUND
                      else answered.external_id) or _plain_message_id(answered.external_id)
        references = [str(r) for r in stored.get("references") or []]
        if not references:
            references = [str(r) for r in (stored.get("in_reply_to") or [])[:1]]
        if message_id:
            references.append(message_id)
        return message_id, list(dict.fromkeys(references))

    def _allowed(self, db: Session, message: Message, answered: Message | None,
                 recipients: list[str], *, flow: bool, auto_reply: bool) -> list[str]:
        """The recipients an automatic message may go to; records the answer before it is
        sent. Raises DeliveryFailed (permanent) when none may get it."""
        if message.customer_id is not None:
            # One automatic answer at a time per customer, across runtime nodes (PostgreSQL
            # row lock; SQLite has a single writer anyway).
            db.execute(sa.select(Customer.id).where(Customer.id == message.customer_id)
                       .with_for_update())
        now = utcnow()
        own = set(addresses(db, "email"))
        recent = self._recent_automatic(db, message, now) if auto_reply else []
        allowed, refused = [], []
        for recipient in recipients:
            key = recipient.lower()
            earlier = [at for to, at in recent if to == key]
            decision = decide_auto_reply(
                _standin(recipient, self._classification(db, answered, key)),
                own_addresses=own,
                last_auto_reply_at=None if flow or not earlier else max(earlier),
                now=now, min_interval=AUTO_REPLY_INTERVAL)
            reason = None if decision.allowed else decision.reason
            if reason is None and flow and len(earlier) >= FLOW_MESSAGES_PER_DAY:
                reason = (f"{key} got {len(earlier)} automatic messages in the last day "
                          f"(at most {FLOW_MESSAGES_PER_DAY})")
            if reason is None:
                allowed.append(recipient)
            else:
                refused.append(reason)
        if not allowed:
            log.info("automatic message %s not sent: %s", message.id, "; ".join(refused))
            raise DeliveryFailed("suppressed automatic message: " + "; ".join(refused),
                                 permanent=True)
        if auto_reply:
            message.headers = {**(message.headers or {}), "auto_submitted": "auto-replied",
                               "auto_reply_to": [r.lower() for r in allowed],
                               "auto_replied_at": now.isoformat()}
            db.commit()  # recorded before sending: a reply to it may arrive meanwhile
        return allowed

    @staticmethod
    def _recent_automatic(db: Session, message: Message,
                          now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """(address, when) of the automatic answers recorded in the last interval."""
        query = sa.select(Message.headers).where(
            Message.channel == Channel.EMAIL, Message.direction == Direction.OUTBOUND,
            Message.id != message.id, Message.status != MessageStatus.FAILED,
            Message.created_at >= now - AUTO_REPLY_INTERVAL)
        if message.customer_id is not None:
            query = query.where(Message.customer_id == message.customer_id)
        rows = db.scalars(query.order_by(Message.created_at.desc()).limit(_RECENT_SCAN))
        found: list[tuple[str, dt.datetime]] = []
        for headers in rows:
            at = (headers or {}).get("auto_replied_at")
            if not at:
                continue
            try:
                when = dt.datetime.fromisoformat(str(at))
            except ValueError:
                continue
            if now - when < AUTO_REPLY_INTERVAL:
                found.extend((str(to), when) for to in headers.get("auto_reply_to") or [])
        return found

    @staticmethod
    def _classification(db: Session, answered: Message | None, address: str) -> Classification:
        """Whether the mail being answered — or else the last mail from ``address`` — was
        automatic."""
        source = answered if answered is not None and answered.direction == Direction.INBOUND \
            else db.scalar(sa.select(Message).where(
                Message.channel == Channel.EMAIL, Message.direction == Direction.INBOUND,
                sa.func.lower(Message.sender) == address)
                .order_by(Message.created_at.desc()).limit(1))
        headers = (source.headers or {}) if source is not None else {}
        if not headers.get("automated"):
            return PERSONAL
        try:
            kind = MailKind(str(headers.get("mail_kind")))
        except ValueError:
            kind = MailKind.AUTO_GENERATED
        if kind is MailKind.PERSONAL:
            kind = MailKind.AUTO_GENERATED
        return Classification(kind, tuple(headers.get("automated_reasons") or ()))


def _standin(address: str, classification: Classification) -> ParsedEmail:
    """The answered mail as :func:`decide_auto_reply` reads it: who wrote it and what kind."""
    return ParsedEmail(message_id=None, in_reply_to=(), references=(),
                       from_address=EmailAddress(address), reply_to=(), to=(), cc=(),
                       subject="", date=None, text="", html=None, attachments=(),
                       classification=classification)


__all__ = ["AUTO_REPLY_INTERVAL", "FLOW_MESSAGES_PER_DAY", "EmailSender"]
