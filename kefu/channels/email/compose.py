"""Build outbound mail: agent answers, automatic answers (FAQ, acknowledgements), new mail.

Every message gets a Message-ID of kefu's (:func:`~kefu.channels.email.ids.new_message_id`),
so a customer's reply threads back (In-Reply-To / References, RFC 5322 §3.6.4) and kefu's own
mail coming back is recognised as a loop. Automatic answers follow RFC 3834: they carry
``Auto-Submitted: auto-replied`` (and Microsoft's ``X-Auto-Response-Suppress: All``) so other
responders stay quiet, use the null reverse-path so bounces of them go nowhere, go to a sender
at most once per interval, and are never sent to automatic mail at all.

Text is UTF-8; headers are RFC 2047-encoded and bodies quoted-printable or base64 as needed,
so the mail passes any relay, 8BITMIME or not.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from kefu.channels.email.ids import MAX_REFERENCES, new_message_id
from kefu.channels.email.mime import Attachment, EmailAddress, ParsedEmail

# 7-bit transfer encodings keep the message intact through relays without 8BITMIME.
_POLICY = SMTP.clone(cte_type="7bit", max_line_length=78)
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|回复|答复|回覆)\s*(\[\d+\])?\s*[:：]",
                           re.IGNORECASE)
# Addresses nobody reads; answering them only produces bounces.
_UNANSWERABLE_LOCAL_PARTS = frozenset({"mailer-daemon", "mail-daemon", "postmaster", "noreply",
                                       "no-reply", "donotreply", "do-not-reply"})


class AutoReplyRefused(ValueError):
    """An automatic answer was asked for mail that must not get one (automatic mail)."""


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """A message ready for the relay.

    Attributes:
        message_id: its Message-ID, without brackets (store it: replies refer to it).
        envelope_from: the MAIL FROM to use ("" for automatic answers).
        recipients: the RCPT TO addresses (To, Cc and Bcc).
        raw: the message bytes, CRLF line ends.
        automatic: whether it is an automatic answer.
    """

    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    automatic: bool


@dataclass(frozen=True, slots=True)
class AutoReplyDecision:
    """Whether kefu may answer a message automatically, and why (for the interaction log)."""

    allowed: bool
    reason: str


def _header_text(value: str) -> str:
    # Header text comes from customers and tenant rules: a line break in it must never be
    # able to start a new header field (header injection).
    return " ".join(value.split())


def _address(mailbox: EmailAddress) -> Address:
    try:
        return Address(display_name=_header_text(mailbox.name), addr_spec=mailbox.address)
    except ValueError as exc:  # the stdlib's header defects are ValueErrors with terse text
        raise ValueError(f"{mailbox.address!r} is not a mail address kefu can send to: "
                         f"{exc}") from exc


def reply_subject(subject: str, *, automatic: bool = False) -> str:
    """The subject of an answer: ``Re: <subject>`` (once), or ``Auto: <subject>`` for
    automatic answers (RFC 3834 §3.1.5).

    Args:
        subject: the subject being answered.
        automatic: the answer is automatic.

    Returns:
        The new subject.
    """
    subject = _header_text(subject)
    if automatic:
        return f"Auto: {subject}" if subject else "Auto: your message"
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".rstrip()


def compose_email(
    *,
    sender: EmailAddress,
    to: Sequence[EmailAddress],
    subject: str,
    text: str,
    message_id_domain: str,
    html: str | None = None,
    cc: Sequence[EmailAddress] = (),
    bcc: Sequence[EmailAddress] = (),
    reply_to: EmailAddress | None = None,
    attachments: Sequence[Attachment] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    automatic: bool = False,
    envelope_from: str | None = None,
    now: datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> OutboundEmail:
    """Build a message (RFC 5322, MIME RFC 2045-2049, RFC 2047/2231 for non-ASCII).

    Args:
        sender: the From mailbox (the tenant's service address).
        to, cc, bcc: recipients; Bcc is not written into the message.
        subject: the subject (line breaks are flattened).
        text: the plain-text body.
        message_id_domain: kefu's message-id domain.
        html: an HTML alternative of ``text``.
        reply_to: where replies should go, if not to ``sender``.
        attachments: files; those with ``inline=True`` and a ``content_id`` are put next to
            the HTML body (multipart/related) for ``cid:`` references.
        in_reply_to: the id answered (without brackets).
        references: the thread's ids, oldest first (without brackets).
        automatic: an automatic answer: ``Auto-Submitted: auto-replied`` and a null
            reverse-path (RFC 3834 §3.1.7, §3.3).
        envelope_from: overrides the MAIL FROM.
        now: the Date (default: the current time).
        extra_headers: further fields, e.g. a ticket reference.

    Returns:
        The message with its id, envelope and bytes.

    Raises:
        ValueError: no recipient, or an address that is not an addr-spec.
    """
    if not (to or cc or bcc):
        raise ValueError("a message needs at least one recipient")
    message = EmailMessage(policy=_POLICY)
    message_id = new_message_id(message_id_domain)
    message["From"] = _address(sender)
    if to:
        message["To"] = [_address(mailbox) for mailbox in to]
    if cc:
        message["Cc"] = [_address(mailbox) for mailbox in cc]
    if reply_to is not None:
        message["Reply-To"] = _address(reply_to)
    message["Subject"] = _header_text(subject)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
    thread = list(dict.fromkeys(references))
    if len(thread) > MAX_REFERENCES:
        thread = thread[:1] + thread[-(MAX_REFERENCES - 1):]
    if thread:
        message["References"] = " ".join(f"<{ref}>" for ref in thread)
    if automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    for name, value in (extra_headers or {}).items():
        message[name] = _header_text(value)

    _add_body(message, text, html, attachments)

    recipients = tuple(dict.fromkeys(mailbox.address for mailbox in (*to, *cc, *bcc)))
    if envelope_from is None:
        envelope_from = "" if automatic else sender.address
    return OutboundEmail(message_id=message_id, envelope_from=envelope_from,
                         recipients=recipients, raw=message.as_bytes(), automatic=automatic)


def _add_body(message: EmailMessage, text: str, html: str | None,
              attachments: Sequence[Attachment]) -> None:
    """text/plain, or multipart/alternative with the HTML (multipart/related when it has
    inline images), inside multipart/mixed when there are attachments (RFC 2046, RFC 2387)."""
    message.set_content(text, charset="utf-8")
    related = [part for part in attachments if part.inline and part.content_id]
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
        payload = message.get_payload()
        html_part = payload[-1] if isinstance(payload, list) else None
        assert isinstance(html_part, EmailMessage)
        for part in related:
            maintype, _, subtype = part.content_type.partition("/")
            html_part.add_related(part.data, maintype=maintype,
                                  subtype=subtype or "octet-stream",
                                  cid=f"<{part.content_id}>", filename=part.filename,
                                  disposition="inline")
    for part in attachments:
        if html is not None and part in related:
            continue
        maintype, _, subtype = part.content_type.partition("/")
        message.add_attachment(part.data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=part.filename or "attachment",
                               cid=f"<{part.content_id}>" if part.content_id else None)


def compose_reply(
    original: ParsedEmail,
    *,
    sender: EmailAddress,
    text: str,
    message_id_domain: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    automatic: bool = False,
    subject: str | None = None,
    cc: Sequence[EmailAddress] = (),
    now: datetime | None = None,
) -> OutboundEmail:
    """Answer ``original``, threaded (In-Reply-To and References, RFC 5322 §3.6.4).

    Args:
        original: the message answered.
        sender: the From mailbox.
        text, html, attachments: the answer.
        message_id_domain: kefu's message-id domain.
        automatic: an automatic answer (FAQ, acknowledgement); see :func:`compose_email`.
        subject: overrides :func:`reply_subject`.
        cc: further recipients.
        now: the Date.

    Returns:
        The answer, addressed to the original's Reply-To or From.

    Raises:
        AutoReplyRefused: ``automatic`` and the original is automatic mail itself.
    """
    if automatic and original.classification.automatic:
        raise AutoReplyRefused(
            f"not answering {original.classification.kind} mail automatically "
            f"({'; '.join(original.classification.reasons)})")
    references = list(original.references) or list(original.in_reply_to[:1])
    if original.message_id:
        references.append(original.message_id)
    return compose_email(
        sender=sender,
        to=[original.reply_address],
        cc=cc,
        subject=subject if subject is not None else reply_subject(original.subject,
                                                                  automatic=automatic),
        text=text,
        html=html,
        attachments=attachments,
        message_id_domain=message_id_domain,
        in_reply_to=original.message_id,
        references=references,
        automatic=automatic,
        now=now,
    )


def decide_auto_reply(
    message: ParsedEmail,
    *,
    own_addresses: Collection[str],
    last_auto_reply_at: datetime | None,
    now: datetime,
    min_interval: timedelta = timedelta(days=1),
) -> AutoReplyDecision:
    """Whether ``message`` may get an automatic answer (RFC 3834 §2).

    No answer to automatic mail (bounces, auto-replies, lists, bulk, kefu's own mail), to
    kefu's own addresses, to addresses nobody reads (``noreply@``, ``mailer-daemon@``), or to a
    sender answered automatically less than ``min_interval`` ago: the last rule is what stops
    a loop with an auto-responder that marks its mail with none of the usual headers. The
    host must record an automatic answer *before* sending it: the other side's answer to it
    can arrive while the relay is still sending.

    Args:
        message: the inbound message.
        own_addresses: kefu's service addresses (any case).
        last_auto_reply_at: when this sender last got an automatic answer, if ever.
        now: the current time.
        min_interval: at most one automatic answer per sender per interval.

    Returns:
        The decision and its reason.
    """
    if message.classification.automatic:
        return AutoReplyDecision(False, f"{message.classification.kind} mail: "
                                        + "; ".join(message.classification.reasons))
    recipient = message.reply_address.key
    if recipient in {address.lower() for address in own_addresses}:
        return AutoReplyDecision(False, f"{recipient} is kefu's own address")
    if recipient.partition("@")[0] in _UNANSWERABLE_LOCAL_PARTS:
        return AutoReplyDecision(False, f"{recipient} is not read by a person")
    if last_auto_reply_at is not None and now - last_auto_reply_at < min_interval:
        return AutoReplyDecision(False, f"{recipient} was answered automatically at "
                                        f"{last_auto_reply_at.isoformat()}")
    return AutoReplyDecision(True, "personal mail")
