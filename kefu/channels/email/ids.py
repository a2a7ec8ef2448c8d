"""Message identifiers (RFC 5322 §3.6.4): normalize, parse lists, make kefu's own.

Ids are handled without their angle brackets everywhere in kefu ("abc@example.cn"); the
brackets are put back only when a header is written. Ids kefu generates look like
``kefu.<32 hex digits>@<domain>``: the prefix and the configured domain together say "we sent
this", which is how a message of ours coming back (a mail loop) is recognised.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection

KEFU_ID_PREFIX = "kefu."
# A References field can be very long (every message of a long thread); keep the thread root
# and the newest ones, which are the ids that find a conversation.
MAX_REFERENCES = 50
_BRACKETED = re.compile(r"<([^<>]*)>")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def normalize_message_id(value: str | None) -> str | None:
    """One message id without brackets, whitespace or comments.

    Args:
        value: the field body, e.g. ``" <abc@example.cn> (comment)"``; tolerates a missing
            bracket, as some mailers write ids bare.

    Returns:
        ``"abc@example.cn"``, or None when nothing id-like is there.
    """
    ids = parse_message_ids(value)
    return ids[0] if ids else None


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """The ids of an In-Reply-To or References field, in order, without duplicates.

    Args:
        value: the field body; bracketed ids are taken, and when there are none, bare
            whitespace- or comma-separated tokens holding an ``@``.

    Returns:
        The ids without brackets (at most the first and the last ``MAX_REFERENCES - 1``).
    """
    if not value:
        return ()
    found = [re.sub(r"\s+", "", inner) for inner in _BRACKETED.findall(value)]
    if not found:
        found = [token.strip("<>") for token in re.split(r"[\s,]+", value) if "@" in token]
    ids: list[str] = []
    seen: set[str] = set()
    for message_id in found:
        if message_id and message_id not in seen and len(message_id) <= 995:
            seen.add(message_id)
            ids.append(message_id)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1):]
    return tuple(ids)


def new_message_id(domain: str) -> str:
    """A fresh, unguessable message id of kefu's (122 random bits: a reply cannot be forged
    into a conversation by guessing ids).

    Args:
        domain: kefu's message-id domain, e.g. ``mail.kefu.example.cn``.

    Returns:
        ``kefu.<hex>@<domain>`` (without brackets).

    Raises:
        ValueError: ``domain`` is not a host name.
    """
    if not _DOMAIN.match(domain) or len(domain) > 253:
        raise ValueError(f"message-id domain {domain!r} is not a host name")
    return f"{KEFU_ID_PREFIX}{uuid.uuid4().hex}@{domain.lower()}"


def is_own_message_id(message_id: str | None, domains: Collection[str]) -> bool:
    """Whether ``message_id`` is one kefu generated under one of ``domains``.

    Args:
        message_id: a normalized id (without brackets), or None.
        domains: kefu's message-id domains (any case).

    Returns:
        True for ``kefu.…@<one of domains>``.
    """
    if not message_id or "@" not in message_id:
        return False
    local, _, domain = message_id.rpartition("@")
    wanted = {d.lower() for d in domains}
    return local.startswith(KEFU_ID_PREFIX) and domain.lower() in wanted
