"""What the SMS gateways hand the host: plain data, the same for SMPP and Kannel."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class DeliveryStatus(enum.StrEnum):
    """Where an outbound message stands, in words the portal can show."""

    ACCEPTED = "accepted"  # the SMSC took it (not yet on the phone)
    PENDING = "pending"  # en route or buffered, a later report will follow
    DELIVERED = "delivered"
    FAILED = "failed"  # expired, deleted, undeliverable or rejected: it will not arrive
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A message from a customer (mobile originated), reassembled when it came in parts.

    ``missing_parts`` is non-empty when some parts of a long message never arrived and kefu
    gave up waiting: the text is what did arrive, so nothing the customer wrote is dropped.
    """

    sender: str
    recipient: str
    text: str
    received_at: datetime
    gateway: str  # "smpp" or "kannel"
    parts: int = 1
    missing_parts: tuple[int, ...] = ()
    gateway_message_id: str | None = None  # Kannel's id for the MO, when it gives one
    smsc_id: str | None = None  # which SMSC connection it came through (Kannel smsc-id)

    @property
    def complete(self) -> bool:
        return not self.missing_parts

    def event_data(self) -> dict[str, object]:
        """The ``message`` of an ``sms.received`` rules event: DSL rules read
        ``message.text`` (keywords such as 退订/TD) and ``reply`` answers ``message.from``."""
        return {
            "channel": "sms", "text": self.text, "from": self.sender, "to": self.recipient,
            "parts": self.parts, "complete": self.complete,
        }


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A report on an outbound message.

    ``message_id`` is what the host was given when it sent: the SMSC's message id for SMPP
    (one per part), kefu's own reference for Kannel.
    """

    message_id: str
    status: DeliveryStatus
    state: str  # the gateway's word: DELIVRD, UNDELIV… (SMPP) or the Kannel DLR type
    received_at: datetime
    gateway: str
    recipient: str = ""
    sender: str = ""
    error: str = ""  # the SMSC's error code or answer text, when it gave one
    done_at: datetime | None = None


class SmsSender(Protocol):
    """What the host needs to send an SMS; both the SMPP client and the Kannel gateway fit."""

    async def send(self, to: str, text: str, *, sender: str | None = None) -> list[str]:
        """Send ``text`` to ``to``; return the ids that delivery receipts will name."""
        ...
