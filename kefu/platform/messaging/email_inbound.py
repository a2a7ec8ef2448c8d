"""Inbound mail into the platform: the deliver callable and the recipient directory that the
SMTP listener and the IMAP pollers share.

Each message is parsed (:func:`kefu.channels.email.mime.parse_email`), classified (automatic
mail — auto-replies, bounces, lists, kefu's own mail coming back — is stored with
``automated=True`` and never answered), keyed so that a second delivery is recognised
(:func:`kefu.channels.email.threads.delivery_key`), and handed to :class:`Intake` once per
tenant among its recipients. Storing happens before the SMTP ``250`` / IMAP ``\\Seen``: a
database outage answers ``451`` (the sender retries) and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import time
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from kefu.channels.email.delivery import DeliveryDeferred, DeliveryRejected
from kefu.channels.email.mime import Attachment, MalformedEmail, ParsedEmail, parse_email
from kefu.channels.email.threads import delivery_key, thread_candidates
from kefu.platform.interactions.models import Channel, Direction, Message
from kefu.platform.messaging.bindings import addresses, normalize_address, resolve_address
from kefu.platform.messaging.intake import (
    Inbound,
    InboundAttachment,
    Intake,
    Received,
    UnknownAddress,
)

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

#: How long the recipient directory is trusted before it is read again.
DIRECTORY_SECONDS = 5.0
# Errors that mean "the platform's stores are unreachable now", not "this mail is bad".
_OUTAGES = (SQLAlchemyError, RedisError, OSError)


def inbound_from(parsed: ParsedEmail, raw: bytes, *, to_address: str,
                 tenant_id: uuid.UUID | None, envelope_from: str) -> Inbound:
    """The :class:`Inbound` of one parsed mail for one recipient address."""
    candidates = [message_id for message_id, _via in thread_candidates(parsed)]
    sender = parsed.from_address.key
    # Our own messages are stored under their Message-ID, the customer's under their
    # delivery key ("mid:<id> from:<address>"): a reply to either finds its conversation.
    thread_keys = candidates + [f"mid:{message_id} from:{sender}" for message_id in candidates]
    root = (parsed.references[:1] or parsed.in_reply_to[:1] or (None,))[0]
    classification = parsed.classification
    headers: dict[str, Any] = {
        "message_id": parsed.message_id,
        "in_reply_to": list(parsed.in_reply_to),
        "references": list(parsed.references),
        "envelope_from": envelope_from,
        "to": [str(mailbox) for mailbox in parsed.to],
        "cc": [str(mailbox) for mailbox in parsed.cc],
        "mail_kind": classification.kind.value,
        "size": parsed.size,
    }
    if parsed.reply_to:
        headers["reply_to"] = [str(mailbox) for mailbox in parsed.reply_to]
    if classification.reasons:
        headers["automated_reasons"] = list(classification.reasons)
    if parsed.defects:
        headers["defects"] = list(parsed.defects)
    if parsed.date is not None:
        headers["date"] = parsed.date.isoformat()
    return Inbound(
        channel=Channel.EMAIL, to_address=to_address,
        from_address=parsed.from_address.address, text=parsed.text,
        external_id=delivery_key(parsed, raw), subject=parsed.subject[:998] or None,
        html=parsed.html, thread_id=root, thread_keys=thread_keys, headers=headers,
        attachments=[_attachment(part, index) for index, part in
                     enumerate(parsed.attachments, start=1)],
        display_name=parsed.from_address.name or None,
        automated=classification.automatic, tenant_id=tenant_id)


def _attachment(part: Attachment, index: int) -> InboundAttachment:
    filename = part.filename
    if not filename:
        # Inline images and embedded reports often come without a name.
        extension = mimetypes.guess_extension(part.content_type) or ".bin"
        stem = f"inline-{index}" if part.content_id else f"part-{index}"
        filename = stem + extension
    return InboundAttachment(filename=filename, content_type=part.content_type,
                             data=part.data, content_id=part.content_id)


class EmailInbound:
    """The deliver callable (:class:`kefu.channels.email.delivery.Deliver`) and the RCPT
    check of the platform.

    Args:
        platform: the platform.
        own_domains: kefu's Message-ID domains (mail carrying one of ours is a loop).
    """

    def __init__(self, platform: Platform, *, own_domains: Collection[str]) -> None:
        self.platform = platform
        self.intake = Intake(platform)
        self.own_domains = tuple(own_domains)
        self._directory: dict[str, uuid.UUID] = {}
        self._read_at = float("-inf")

    # ------------------------------------------------------------------ directory
    def refresh(self) -> None:
        """Read every bound mailbox (blocking; run in a worker thread)."""
        with self.platform.session() as db:
            self._directory = addresses(db, "email")
        self._read_at = time.monotonic()

    def _resolve(self, address: str) -> uuid.UUID | None:
        with self.platform.session() as db:
            return resolve_address(db, "email", address)

    async def tenant_of(self, address: str, *, fresh: bool = False) -> uuid.UUID | None:
        """The tenant whose config declares ``channel email "<address>"``, or None.

        Args:
            address: the recipient.
            fresh: ask the database rather than the directory read a few seconds ago
                (for storing; the RCPT check may use the recent copy).

        Raises:
            DeliveryDeferred: the directory cannot be read now.
        """
        key = normalize_address("email", address)
        try:
            if not fresh and time.monotonic() - self._read_at > DIRECTORY_SECONDS:
                await asyncio.to_thread(self.refresh)
            tenant = None if fresh else self._directory.get(key)
            if tenant is None:
                # Bound a moment ago (a deploy since the last read): ask the database.
                tenant = await asyncio.to_thread(self._resolve, key)
        except _OUTAGES as exc:
            log.warning("cannot read the mailbox directory: %s", exc)
            raise DeliveryDeferred("the address directory is unavailable") from exc
        return tenant

    async def accepts(self, address: str) -> bool:
        """RCPT TO check: only addresses some tenant declared (kefu never relays)."""
        tenant = await self.tenant_of(address)
        if tenant is None:
            log.info("refused RCPT TO <%s>: no tenant declares this mailbox", address)
        return tenant is not None

    def _stored(self, tenant_id: uuid.UUID, external_id: str | None) -> uuid.UUID | None:
        """The message already stored under this delivery key: a redelivery (the sender's
        retry after a lost 250, the same mail by SMTP and IMAP) is acknowledged, not stored
        again, and starts no second conversation."""
        if not external_id:
            return None
        with self.platform.session(tenant_id) as db:
            return db.scalar(sa.select(Message.id).where(
                Message.channel == Channel.EMAIL, Message.direction == Direction.INBOUND,
                Message.external_id == external_id).limit(1))

    # ------------------------------------------------------------------ deliver
    async def __call__(self, envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        try:
            parsed = parse_email(raw, own_domains=self.own_domains, envelope_from=envelope_from)
        except MalformedEmail as exc:
            log.info("refused malformed mail from <%s>: %s", envelope_from, exc)
            raise DeliveryRejected(f"malformed message: {exc}") from exc
        recipients: dict[uuid.UUID, str] = {}
        unknown: list[str] = []
        for address in rcpt_tos:
            tenant = await self.tenant_of(address, fresh=True)
            if tenant is None:
                unknown.append(address)
            else:
                recipients.setdefault(tenant, address)
        if not recipients:
            raise DeliveryRejected(f"no mailbox here for {', '.join(unknown) or 'nobody'}")
        for tenant, address in recipients.items():
            inbound = inbound_from(parsed, raw, to_address=address, tenant_id=tenant,
                                   envelope_from=envelope_from)
            try:
                earlier = await asyncio.to_thread(self._stored, tenant, inbound.external_id)
                if earlier is not None:
                    log.info("mail %s from <%s> to <%s> was stored before (message %s); "
                             "redelivery ignored", parsed.message_id,
                             parsed.from_address.address, address, earlier)
                    continue
                received = await asyncio.to_thread(self.intake.receive, inbound)
            except UnknownAddress as exc:
                # Unbound since the RCPT check (a deploy removed the mailbox).
                log.info("mail for <%s> refused: %s", address, exc)
                if len(recipients) == 1:
                    raise DeliveryRejected(str(exc)) from exc
                continue
            except _OUTAGES as exc:
                # Whatever was stored for other tenants is found again by its delivery key
                # when the sender retries.
                log.warning("cannot store mail from <%s> for <%s> now: %s",
                            parsed.from_address.address, address, exc)
                raise DeliveryDeferred("the message store is unavailable") from exc
            self._log(parsed, address, received)

    @staticmethod
    def _log(parsed: ParsedEmail, address: str, received: Received) -> None:
        if not received.created:
            log.info("mail %s from <%s> to <%s> was stored before (message %s); "
                     "redelivery ignored", parsed.message_id, parsed.from_address.address,
                     address, received.message_id)
            return
        automatic = parsed.classification
        log.info("mail %s from <%s> to <%s> stored as message %s in interaction %s%s",
                 parsed.message_id, parsed.from_address.address, address,
                 received.message_id, received.interaction_id,
                 f" ({automatic.kind.value}: {'; '.join(automatic.reasons)}; never answered)"
                 if automatic.automatic else "")
        for reason in received.rejected_attachments:
            log.warning("mail %s: attachment refused: %s", parsed.message_id, reason)


__all__ = ["EmailInbound", "inbound_from"]
