"""kefu's own SMTP listener (RFC 5321), on aiosmtpd, in the host's event loop.

It is a final destination (an MX), never a relay: it accepts mail only for the recipients the
host's predicate accepts. Each message is checked (size, MIME) and then handed to the host's
:class:`~kefu.channels.email.delivery.Deliver` callable; the 250 reply is sent only after that
returned, so a message the sender saw accepted is stored (persist-before-ack). Every refusal is
an SMTP reply with an enhanced status code (RFC 3463) and a sentence naming the problem:

==========  =====================================================================
451 4.3.0   the host could not store the message, or check a recipient, now (the sender's
            MTA retries)
452 4.5.3   too many recipients in one message
421 4.7.0   too many connections at once
550 5.7.1   recipient not served here, or the host refused the message
550 5.6.0   malformed message (what is wrong is named)
552 5.3.4   message larger than the limit (the limit is named)
==========  =====================================================================

A refusal ends only that transaction; messages accepted earlier on the same connection stay
accepted, and the client can go on sending.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from kefu.channels.email.delivery import Deliver, DeliveryDeferred, DeliveryRejected
from kefu.channels.email.mime import MalformedEmail, parse_email

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # what the large mail services accept
DEFAULT_MAX_RECIPIENTS = 100  # RFC 5321 §4.5.3.1.8: servers must accept at least 100


def accept_domains(domains: Collection[str]) -> Callable[[str], bool]:
    """A recipient predicate accepting any address in ``domains`` (any case).

    Args:
        domains: the mail domains kefu is the MX for, e.g. ``{"help.example.cn"}``.

    Returns:
        A predicate for :class:`SmtpListener`'s ``accept_recipient``.
    """
    wanted = frozenset(domain.lower().rstrip(".") for domain in domains)
    return lambda address: address.rpartition("@")[2].lower().rstrip(".") in wanted


def _reply_text(text: str, limit: int = 400) -> str:
    """Make text safe for one SMTP reply line: ASCII, no line breaks, bounded."""
    text = " ".join(text.split())
    text = text.encode("ascii", errors="backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Handler:
    """aiosmtpd hooks (``handle_<VERB>``): recipient checks, then parse, deliver, answer."""

    def __init__(self, listener: SmtpListener) -> None:
        self.listener = listener

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        listener = self.listener
        if len(envelope.rcpt_tos) >= listener.max_recipients:
            return (f"452 4.5.3 Too many recipients: at most {listener.max_recipients} "
                    "per message")
        if listener.accept_recipient is not None:
            try:
                verdict = listener.accept_recipient(address)
                # A host's address directory is often a database: it may answer later.
                accepted = await verdict if inspect.isawaitable(verdict) else verdict
            except DeliveryDeferred as exc:
                return (f"451 4.3.0 <{_reply_text(address, 200)}>: cannot check the recipient "
                        f"now, please retry: {_reply_text(str(exc), 200)}")
            if not accepted:
                return (f"550 5.7.1 <{_reply_text(address, 200)}>: no such recipient here "
                        "(not relaying)")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        listener = self.listener
        raw = envelope.original_content or b""
        # aiosmtpd reports the null reverse-path of bounces as "<>"; kefu says "".
        envelope_from = "" if envelope.mail_from in (None, "", "<>") else envelope.mail_from
        try:
            # Parse to refuse what cannot be read now, while the sender can still be told;
            # the host parses again with its own settings.
            parse_email(raw, envelope_from=envelope_from)
        except MalformedEmail as exc:
            log.info("refused malformed message from <%s>: %s", envelope_from, exc)
            return f"550 5.6.0 Malformed message: {_reply_text(str(exc))}"
        try:
            async with asyncio.timeout(listener.delivery_timeout):
                await listener.deliver(envelope_from, tuple(envelope.rcpt_tos), raw)
        except DeliveryRejected as exc:
            return f"550 5.7.1 Message refused: {_reply_text(str(exc))}"
        except DeliveryDeferred as exc:
            return f"451 4.3.0 Cannot store the message now, please retry: {_reply_text(str(exc))}"
        except TimeoutError:
            log.warning("delivery from <%s> took over %ss; asked the sender to retry",
                        envelope_from, listener.delivery_timeout)
            return "451 4.3.0 Storing the message timed out, please retry"
        except Exception:
            # Anything else is our bug or an outage; a temporary failure makes the sender's
            # MTA keep the message and retry, so nothing is lost.
            log.exception("delivery from <%s> failed", envelope_from)
            return "451 4.3.0 Cannot store the message now, please retry"
        return "250 2.0.0 Message accepted"


class _SMTP(SMTP):
    """aiosmtpd's protocol with kefu's wording for size refusals (naming the limit) and a
    count of open connections."""

    def __init__(self, listener: SmtpListener, **kwargs: Any) -> None:
        super().__init__(_Handler(listener), **kwargs)
        self._listener = listener

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith(
            ("552 Error: Too much mail data", "552 Error: message size exceeds")
        ):
            status = (f"552 5.3.4 Message too big: this server accepts at most "
                      f"{self._listener.max_message_bytes} bytes")
            peer = self.session.peer if self.session is not None else None
            log.info("refused a message from %s over the size limit of %s bytes", peer,
                     self._listener.max_message_bytes)
        await super().push(status)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._listener._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._listener._connections.discard(self)
        super().connection_lost(error)


class _Busy(asyncio.Protocol):
    """Answers a connection over the limit with 421 (RFC 5321 §3.8) and hangs up."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
        transport.close()


class SmtpListener:
    """An SMTP server for inbound mail, running in the current event loop.

    Usage::

        listener = SmtpListener(deliver, host="0.0.0.0", port=25,
                                accept_recipient=accept_domains({"help.example.cn"}))
        await listener.start()
        ...
        await listener.stop()

    Args:
        deliver: the host's callable; see :class:`~kefu.channels.email.delivery.Deliver`.
        host: address to bind.
        port: port to bind; 0 picks a free one (read it from :attr:`port`).
        hostname: the name in the greeting and EHLO reply (default: the machine's name).
        max_message_bytes: larger messages are refused with 552 (advertised as SIZE).
        max_recipients: more recipients per message get 452.
        max_connections: connections beyond this get 421.
        accept_recipient: predicate for RCPT TO addresses (may be a coroutine function;
            raising DeliveryDeferred answers 451 so the sender retries); None accepts every
            address.
        tls_context: offer STARTTLS with this context (RFC 3207).
        require_starttls: refuse mail until the client has started TLS.
        idle_timeout: seconds a silent client keeps its connection.
        delivery_timeout: seconds ``deliver`` may take before the sender is told to retry.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        max_connections: int = 200,
        accept_recipient: Callable[[str], bool | Awaitable[bool]] | None = None,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        idle_timeout: float = 300.0,
        delivery_timeout: float = 60.0,
    ) -> None:
        if max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        self.deliver = deliver
        self.host = host
        self._requested_port = port
        # socket.getfqdn() can block on DNS for seconds; the plain host name does not.
        self.hostname = hostname or socket.gethostname()
        self.max_message_bytes = max_message_bytes
        self.max_recipients = max_recipients
        self.max_connections = max_connections
        self.accept_recipient = accept_recipient
        self.tls_context = tls_context
        self.require_starttls = require_starttls
        self.idle_timeout = idle_timeout
        self.delivery_timeout = delivery_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[_SMTP] = set()

    def _protocol(self) -> asyncio.Protocol:
        if len(self._connections) >= self.max_connections:
            return _Busy()
        return _SMTP(
            self,
            data_size_limit=self.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="kefu ESMTP",
            tls_context=self.tls_context,
            require_starttls=self.require_starttls,
            timeout=self.idle_timeout,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        """Bind and start accepting connections.

        Raises:
            OSError: the address cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("the SMTP listener is already running")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host,
                                                self._requested_port)
        log.info("SMTP listener on %s:%s", self.host, self.port)

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the SMTP listener is not running")
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting and close open connections (their unfinished transactions were
        never acknowledged, so their senders retry)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        await server.wait_closed()

    async def __aenter__(self) -> SmtpListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


__all__ = ["SmtpListener", "accept_domains"]
