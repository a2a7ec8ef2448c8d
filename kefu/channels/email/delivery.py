"""The one callable through which every inbound mail reaches the host.

The SMTP listener and the IMAP poller both hand each message to a ``Deliver`` callable the host
supplies (the platform stores the message, threads it, runs the tenant's rules). Delivery is
acknowledged only after the callable returned: an SMTP 250 or an IMAP ``\\Seen`` flag means
"stored", so a crash never loses a message that the sender thinks was accepted. The price is
that a message may arrive twice (the host crashed after storing, before acknowledging), so the
host stores by :func:`kefu.channels.email.threads.delivery_key` and ignores repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Deliver(Protocol):
    """Store one inbound message; return only when it is stored."""

    async def __call__(self, envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        """Take one message.

        Args:
            envelope_from: the SMTP reverse-path ("" for the null path ``<>`` of bounces);
                for IMAP, the Return-Path field when present, else "".
            rcpt_tos: the envelope recipients (for IMAP, the mailbox's address).
            raw: the message bytes exactly as received.

        Raises:
            DeliveryDeferred: try again later (SMTP 451; IMAP leaves it unseen).
            DeliveryRejected: never accept this message (SMTP 550 with the reason).
        """


class DeliveryDeferred(Exception):
    """The host cannot store the message now (database down, shutting down): retry later."""


class DeliveryRejected(Exception):
    """The host refuses the message for good; ``str(error)`` is the reason told to the sender."""
