"""Poll an IMAP mailbox (RFC 9051 / RFC 3501) for mail that does not come to kefu's own
SMTP listener: a company mailbox on Exchange, a provider's mailbox, a shared inbox.

Each poll takes the unseen messages above the last UID processed, hands each to the same
:class:`~kefu.channels.email.delivery.Deliver` callable the SMTP listener uses, and only then
records the UID and sets ``\\Seen``. The (UIDVALIDITY, UID) cursor is the host's to persist: a
UID is processed once; when the server's UIDVALIDITY changes (the mailbox was rebuilt, RFC 9051
§2.3.1.1) the old UIDs mean nothing and the unseen messages are read again, which the host's
duplicate check (:func:`~kefu.channels.email.threads.delivery_key`) absorbs.

The standard library's imaplib runs in a worker thread, with a timeout on the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Protocol

from kefu.channels.email.delivery import Deliver, DeliveryDeferred, DeliveryRejected
from kefu.channels.email.mime import MalformedEmail, parse_email
from kefu.channels.email.smtp_listener import DEFAULT_MAX_MESSAGE_BYTES
from kefu.channels.email.tls import Security, is_loopback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImapSettings:
    """The mailbox to poll.

    Attributes:
        host, port: the IMAP server (993 for implicit TLS, 143 for STARTTLS or none).
        username, password: the login.
        security: SSL (default), STARTTLS or NONE (NONE only to a loopback address when a
            password is sent).
        mailbox: the folder, e.g. ``INBOX``.
        address: the mailbox's e-mail address, passed to ``deliver`` as the recipient
            (default: the username).
        timeout: seconds for connecting and each reply.
        max_message_bytes: larger messages are not fetched (they stay unseen in the mailbox).
        batch_size: messages per poll; the rest are taken by the next poll.
        tls_context: certificate verification settings (default: system CAs).
    """

    host: str
    username: str
    password: str = field(repr=False)
    port: int = 993
    security: Security = Security.SSL
    mailbox: str = "INBOX"
    address: str | None = None
    timeout: float = 30.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    batch_size: int = 50
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class MailboxCursor:
    """How far a mailbox has been processed: UIDs up to ``last_uid`` of the mailbox
    incarnation ``uidvalidity``."""

    uidvalidity: int
    last_uid: int


class CursorStore(Protocol):
    """Where the host keeps a mailbox's cursor (a database row in production)."""

    async def load(self) -> MailboxCursor | None:
        """The saved cursor, or None before the first poll."""

    async def save(self, cursor: MailboxCursor) -> None:
        """Persist the cursor (called after each delivered message)."""


class MemoryCursorStore:
    """A cursor kept in memory (tests, and hosts that rely on the duplicate check alone)."""

    def __init__(self, cursor: MailboxCursor | None = None) -> None:
        self.cursor = cursor

    async def load(self) -> MailboxCursor | None:
        return self.cursor

    async def save(self, cursor: MailboxCursor) -> None:
        self.cursor = cursor


@dataclass(frozen=True)
class PollResult:
    """What one poll did.

    Attributes:
        delivered: UIDs handed to ``deliver`` and marked seen.
        rejected: (UID, reason) for messages not delivered and never retried (too big,
            malformed, refused by the host); they stay unseen in the mailbox for a person.
        deferred: why the poll stopped early (the host asked to retry); None otherwise.
        more: more unseen messages wait than one batch took.
        cursor: the cursor after the poll.
    """

    delivered: tuple[int, ...]
    rejected: tuple[tuple[int, str], ...]
    deferred: str | None
    more: bool
    cursor: MailboxCursor | None


class ImapError(Exception):
    """The mailbox could not be polled (connection, TLS, login, missing folder)."""


def _quote_mailbox(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^>]*)>", re.IGNORECASE | re.MULTILINE)
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def _return_path(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _RETURN_PATH.search(head)
    return match.group(1).decode("utf-8", errors="replace").strip() if match else ""


class _Session:
    """The blocking IMAP conversation; every method runs in a worker thread."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client: imaplib.IMAP4 | None = None

    def open(self) -> int:
        settings = self.settings
        if settings.security is Security.NONE and not is_loopback(settings.host):
            raise ImapError(f"refusing to send the IMAP password unencrypted to "
                            f"{settings.host}; use security=ssl or starttls")
        context = settings.tls_context or ssl.create_default_context()
        client: imaplib.IMAP4
        if settings.security is Security.SSL:
            client = imaplib.IMAP4_SSL(settings.host, settings.port, ssl_context=context,
                                       timeout=settings.timeout)
        else:
            client = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
        self.client = client
        if settings.security is Security.STARTTLS:
            client.starttls(ssl_context=context)
        client.login(settings.username, settings.password)
        status, data = client.select(_quote_mailbox(settings.mailbox))
        if status != "OK":
            raise ImapError(f"cannot open mailbox {settings.mailbox!r}: "
                            f"{b' '.join(d for d in data if isinstance(d, bytes))!r}")
        _, values = client.response("UIDVALIDITY")
        if not values or not isinstance(values[0], bytes):
            raise ImapError(f"server sent no UIDVALIDITY for {settings.mailbox!r}")
        return int(values[0])

    def unseen_uids(self, first_uid: int) -> list[int]:
        assert self.client is not None
        status, data = self.client.uid("SEARCH", "UID", f"{first_uid}:*", "UNSEEN")
        if status != "OK":
            raise ImapError(f"UID SEARCH failed: {data!r}")
        uids = [int(token) for token in (data[0] or b"").split()] if data else []
        # "N:*" always includes the highest UID, even one below N (RFC 9051 §6.4.8).
        return sorted(uid for uid in uids if uid >= first_uid)

    def size(self, uid: int) -> int | None:
        assert self.client is not None
        status, data = self.client.uid("FETCH", str(uid), "(RFC822.SIZE)")
        for item in data if status == "OK" else []:
            line = item[0] if isinstance(item, tuple) else item
            match = _SIZE.search(line) if isinstance(line, bytes) else None
            if match:
                return int(match.group(1))
        return None  # expunged meanwhile

    def fetch(self, uid: int) -> bytes | None:
        assert self.client is not None
        # BODY.PEEK leaves \Seen alone: it is set only after the host stored the message.
        status, data = self.client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        for item in data if status == "OK" else []:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def mark_seen(self, uid: int) -> None:
        assert self.client is not None
        self.client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Seen)")

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()  # the connection is going away either way


class ImapPoller:
    """Polls one mailbox into ``deliver``.

    Args:
        settings: the mailbox.
        deliver: the host's callable (the same one the SMTP listener uses).
        cursors: where the (UIDVALIDITY, UID) cursor is kept.
    """

    def __init__(self, settings: ImapSettings, deliver: Deliver, cursors: CursorStore) -> None:
        self.settings = settings
        self.deliver = deliver
        self.cursors = cursors

    async def poll_once(self) -> PollResult:
        """Deliver the unseen messages above the cursor (at most ``batch_size``).

        Returns:
            What was delivered, rejected or deferred.

        Raises:
            ImapError: connecting, TLS, login or opening the folder failed, or the
                connection broke (what was delivered before is recorded in the cursor).
        """
        session = _Session(self.settings)
        try:
            return await self._poll(session)
        except (imaplib.IMAP4.error, OSError, TimeoutError) as exc:
            raise ImapError(f"IMAP {self.settings.host}:{self.settings.port} "
                            f"({self.settings.username}): {exc}") from exc
        finally:
            await asyncio.to_thread(session.close)

    async def _poll(self, session: _Session) -> PollResult:
        settings = self.settings
        uidvalidity = await asyncio.to_thread(session.open)
        cursor = await self.cursors.load()
        if cursor is not None and cursor.uidvalidity != uidvalidity:
            log.warning("mailbox %s was rebuilt (UIDVALIDITY %s -> %s); reading its unseen "
                        "messages again", settings.mailbox, cursor.uidvalidity, uidvalidity)
            cursor = None
        first_uid = cursor.last_uid + 1 if cursor is not None else 1
        uids = await asyncio.to_thread(session.unseen_uids, first_uid)
        batch, more = uids[: settings.batch_size], len(uids) > settings.batch_size
        delivered: list[int] = []
        rejected: list[tuple[int, str]] = []
        recipient = settings.address or settings.username

        for uid in batch:
            reason = await self._reject_reason(session, uid)
            raw = None if reason else await asyncio.to_thread(session.fetch, uid)
            if reason is None and raw is None:
                reason = "the message was removed from the mailbox before it was fetched"
            if reason is None and raw is not None:
                envelope_from = _return_path(raw)
                try:
                    parse_email(raw, envelope_from=envelope_from)
                    await self.deliver(envelope_from, (recipient,), raw)
                except MalformedEmail as exc:
                    reason = f"malformed message: {exc}"
                except DeliveryRejected as exc:
                    reason = f"refused by kefu: {exc}"
                except Exception as exc:
                    # DeliveryDeferred or an outage: stop here, keep order, retry next poll.
                    if not isinstance(exc, DeliveryDeferred):
                        log.exception("delivery of UID %s from %s failed", uid,
                                      settings.mailbox)
                    return PollResult(tuple(delivered), tuple(rejected),
                                      deferred=f"UID {uid}: {exc or type(exc).__name__}",
                                      more=True, cursor=cursor)
            cursor = MailboxCursor(uidvalidity, uid)
            await self.cursors.save(cursor)
            if reason is None:
                await asyncio.to_thread(session.mark_seen, uid)
                delivered.append(uid)
            else:
                # Left unseen on purpose: a person reading the mailbox still sees it.
                log.warning("not delivering UID %s of %s: %s", uid, settings.mailbox, reason)
                rejected.append((uid, reason))
        return PollResult(tuple(delivered), tuple(rejected), deferred=None, more=more,
                          cursor=cursor)

    async def _reject_reason(self, session: _Session, uid: int) -> str | None:
        size = await asyncio.to_thread(session.size, uid)
        if size is not None and size > self.settings.max_message_bytes:
            return (f"message of {size} bytes is over the limit of "
                    f"{self.settings.max_message_bytes} bytes")
        return None

    async def run(self, stop: asyncio.Event, *, interval: float = 60.0) -> None:
        """Poll until ``stop`` is set: at once while a backlog remains, else every
        ``interval`` seconds. Errors are logged and the next poll tries again.

        Args:
            stop: set it to end the loop (it ends within one poll).
            interval: seconds between polls when the mailbox is drained.
        """
        while not stop.is_set():
            backlog = False
            try:
                result = await self.poll_once()
                backlog = result.more and result.deferred is None
            except ImapError as exc:
                log.warning("%s", exc)
            if backlog:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


__all__ = ["CursorStore", "ImapError", "ImapPoller", "ImapSettings", "MailboxCursor",
           "MemoryCursorStore", "PollResult"]
