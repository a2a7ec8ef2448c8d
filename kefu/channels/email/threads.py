"""Which conversation a message belongs to, and when two deliveries are the same message.

Threading follows the headers mail readers use (RFC 5322 §3.6.4; the JWZ algorithm's first
step): the message answered (In-Reply-To) decides; failing that, the References field, newest
first, because a thread's latest messages are the ones most likely stored; failing that, the
message starts a new conversation. The lookup itself is the host's (a database query), given
here as a function, so this module stays pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from kefu.channels.email.mime import ParsedEmail

ConversationId = TypeVar("ConversationId")

# Trace fields every hop adds or rewrites: the same message received by SMTP and then fetched
# by IMAP differs in these only.
_TRACE_FIELDS = re.compile(
    rb"^(received|return-path|delivered-to|x-original-to|x-received|authentication-results|"
    rb"arc-[a-z-]+|received-spf|x-spam-[a-z-]+|x-virus-[a-z-]+|dkim-signature|x-gm-[a-z-]+)"
    rb"\s*:",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ThreadMatch(Generic[ConversationId]):
    """The conversation found and the id that found it (for the interaction log)."""

    conversation: ConversationId
    matched_message_id: str
    via: str  # "in-reply-to" or "references"


def thread_candidates(message: ParsedEmail) -> tuple[tuple[str, str], ...]:
    """The ids to look up, in the order they decide, each with the field it came from.

    Args:
        message: the inbound message.

    Returns:
        ``(message_id, "in-reply-to" | "references")`` pairs, without repeats; a host may
        look them all up in one query and take the first found.
    """
    ordered: list[tuple[str, str]] = []
    seen: set[str] = set()
    for message_id in message.in_reply_to:
        if message_id not in seen:
            seen.add(message_id)
            ordered.append((message_id, "in-reply-to"))
    for message_id in reversed(message.references):
        if message_id not in seen:
            seen.add(message_id)
            ordered.append((message_id, "references"))
    return tuple(ordered)


def find_thread(
    message: ParsedEmail,
    lookup: Callable[[str], ConversationId | None],
) -> ThreadMatch[ConversationId] | None:
    """Find the conversation ``message`` continues.

    Args:
        message: the inbound message.
        lookup: message id → the conversation holding that message, or None.

    Returns:
        The match, or None when the message starts a new conversation.
    """
    for message_id, via in thread_candidates(message):
        conversation = lookup(message_id)
        if conversation is not None:
            return ThreadMatch(conversation, message_id, via)
    return None


def delivery_key(message: ParsedEmail, raw: bytes) -> str:
    """A key equal for every delivery of the same message (store each key once).

    The Message-ID with the sender's address, when there is one (the address keeps a
    forged Message-ID from suppressing somebody else's mail); otherwise a hash of the message
    without its trace fields, so an SMTP delivery and an IMAP fetch of it still match.

    Args:
        message: the parsed message.
        raw: its bytes.

    Returns:
        ``"mid:<id> from:<address>"`` or ``"sha256:<hex>"``.
    """
    if message.message_id:
        return f"mid:{message.message_id} from:{message.from_address.key}"
    return "sha256:" + hashlib.sha256(_without_trace_fields(raw)).hexdigest()


def _without_trace_fields(raw: bytes) -> bytes:
    head, separator, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # continuation of the previous field
            if not skipping:
                kept.append(line)
            continue
        skipping = bool(_TRACE_FIELDS.match(line))
        if not skipping:
            kept.append(line)
    return b"\n".join(kept) + separator + body

