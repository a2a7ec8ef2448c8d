"""Outbound mail through the configured SMTP relay (RFC 5321 client, RFC 3207 STARTTLS,
RFC 4954 AUTH, RFC 8314 implicit TLS).

kefu does not deliver to the world's MX hosts itself: a relay (the company's mail server, a
provider's smarthost) does, with the reputation, SPF/DKIM and retry queue that takes. The
client is the standard library's smtplib in a worker thread, with a timeout on every network
operation; the relay's reply to DATA carries its queue id, which is returned so operators can
follow a message in the relay's logs.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from kefu.channels.email.tls import Security, is_loopback


@dataclass(frozen=True)
class RelaySettings:
    """Where and how to send.

    Attributes:
        host, port: the relay.
        security: STARTTLS (default), SSL or NONE.
        username, password: AUTH credentials, when the relay wants them. They are never
            sent over an unencrypted connection except to a loopback address.
        timeout: seconds for connecting and for each SMTP reply.
        local_hostname: the name sent in EHLO (default: this machine's name).
        tls_context: certificate verification settings (default: system CAs, host name
            checked).
    """

    host: str
    port: int = 587
    security: Security = Security.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    local_hostname: str | None = None
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RelayResult:
    """What the relay said when it took the message.

    Attributes:
        queued_id: the relay's queue id (``"queued as 4XyZ"``), or None when it gave none.
        response: the relay's full reply to DATA.
        refused: recipients the relay refused (address → reply), when others were accepted.
    """

    queued_id: str | None
    response: str
    refused: dict[str, str] = field(default_factory=dict)


class RelayError(Exception):
    """The relay did not take the message. ``transient`` says whether retrying may help
    (4xx replies, network trouble) or not (5xx replies, wrong credentials)."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


_QUEUE_ID = re.compile(r"(?:queued as|id=|queue id:?)\s*<?([A-Za-z0-9._@-]+)>?", re.IGNORECASE)


def _queue_id(response: str) -> str | None:
    match = _QUEUE_ID.search(response)
    return match.group(1) if match else None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply


def _reply_error(what: str, code: int, reply: bytes | str) -> RelayError:
    return RelayError(f"relay refused {what}: {code} {_text(reply)}",
                      transient=400 <= code < 500, code=code)


def _send_blocking(settings: RelaySettings, envelope_from: str, recipients: Sequence[str],
                   raw: bytes) -> RelayResult:
    if (settings.username and settings.security is Security.NONE
            and not is_loopback(settings.host)):
        raise RelayError("refusing to send relay credentials over an unencrypted "
                         f"connection to {settings.host}; use security=starttls or ssl",
                         transient=False)
    context = settings.tls_context or ssl.create_default_context()
    client: smtplib.SMTP
    if settings.security is Security.SSL:
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                  local_hostname=settings.local_hostname, context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout,
                              local_hostname=settings.local_hostname)
    with client:
        client.ehlo_or_helo_if_needed()
        if settings.security is Security.STARTTLS:
            if not client.has_extn("starttls"):
                raise RelayError(f"relay {settings.host}:{settings.port} does not offer "
                                 "STARTTLS, and security=starttls requires it",
                                 transient=False)
            client.starttls(context=context)
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")
        options = [f"SIZE={len(raw)}"]
        if not raw.isascii() and client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        code, reply = client.mail(envelope_from, options)
        if code != 250:
            client.rset()
            raise _reply_error(f"sender <{envelope_from}>", code, reply)
        refused: dict[str, str] = {}
        last_refusal: tuple[int, bytes] | None = None
        for recipient in recipients:
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = f"{code} {_text(reply)}"
                last_refusal = (code, reply)
        if len(refused) == len(recipients):
            client.rset()
            assert last_refusal is not None
            raise _reply_error(f"every recipient ({', '.join(refused)})", *last_refusal)
        code, reply = client.data(raw)
        if code != 250:
            raise _reply_error("the message", code, reply)
        response = f"{code} {_text(reply)}"
        return RelayResult(queued_id=_queue_id(_text(reply)), response=response,
                           refused=refused)


async def send_via_relay(settings: RelaySettings, *, envelope_from: str,
                         recipients: Sequence[str], raw: bytes) -> RelayResult:
    """Send one message through the relay.

    Args:
        settings: the relay.
        envelope_from: the MAIL FROM address; "" for the null reverse-path (RFC 3834 §3.3
            recommends it for automatic answers so nobody answers them).
        recipients: the RCPT TO addresses.
        raw: the message bytes (e.g. ``OutboundEmail.raw``).

    Returns:
        The relay's queue id and reply; recipients it refused while taking the message.

    Raises:
        RelayError: the relay took no copy of the message: every recipient refused, a 4xx
            or 5xx reply, authentication failed, TLS failed, timeout or network error.
            ``transient`` says whether a retry may succeed.
    """
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    try:
        return await asyncio.to_thread(_send_blocking, settings, envelope_from,
                                       list(recipients), raw)
    except RelayError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise RelayError(f"relay {settings.host} rejected the credentials: {exc.smtp_code} "
                         f"{_text(exc.smtp_error)}", transient=False,
                         code=exc.smtp_code) from exc
    except smtplib.SMTPResponseException as exc:
        raise _reply_error("the command", exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPException as exc:
        raise RelayError(f"relay {settings.host}:{settings.port}: {exc}",
                         transient=True) from exc
    except ssl.SSLError as exc:
        raise RelayError(f"TLS with relay {settings.host}:{settings.port} failed: {exc}",
                         transient=False) from exc
    except (OSError, TimeoutError) as exc:
        raise RelayError(f"cannot reach relay {settings.host}:{settings.port}: {exc}",
                         transient=True) from exc
