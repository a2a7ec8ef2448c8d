"""Parse raw RFC 5322 / MIME mail into a plain :class:`ParsedEmail` (sans-I/O).

The standard library parser does the structure (RFC 5322, RFC 2045-2049); kefu does the parts
real mail gets wrong: header charsets (:mod:`.charsets`), attachment names in every encoding
senders use (RFC 2231, RFC 2047 inside quotes, raw bytes), HTML to safe text, and loop and
bounce signals (:mod:`.classify`).

Defects a mail reader tolerates are tolerated here and listed in ``ParsedEmail.defects``
(a missing Message-ID or Date, bad base64 padding, a missing closing boundary, raw 8-bit
headers). Mail whose meaning cannot be recovered raises :class:`MalformedEmail` with a
sentence naming the problem, which the SMTP listener sends back to the sender.
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from kefu.channels.email.charsets import decode_bytes, decode_header_value
from kefu.channels.email.classify import Classification, classify
from kefu.channels.email.html_text import html_to_text
from kefu.channels.email.ids import normalize_message_id, parse_message_ids

# Nesting deeper than this is an attack on the parser, not mail anyone wrote.
MAX_MIME_DEPTH = 20
MAX_MIME_PARTS = 500


class MalformedEmail(ValueError):
    """The bytes are not a mail kefu can read. ``str(error)`` says what is wrong, in words
    fit for an SMTP reply to the sender."""


class _RawHeaderPolicy(Compat32):
    """compat32 that hands header values back as strings even when they hold raw 8-bit
    bytes (compat32 otherwise wraps those in ``Header`` objects); :mod:`.charsets` decodes
    them, with the body's charset as the likely one."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaderPolicy()


@dataclass(frozen=True, slots=True)
class EmailAddress:
    """A mailbox: address plus decoded display name (``张三 <zhang.san@example.cn>``)."""

    address: str
    name: str = ""

    @property
    def key(self) -> str:
        """The address in lower case, for looking customers up."""
        return self.address.lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment or inline part (an image an HTML body shows through ``cid:``).

    Attributes:
        filename: decoded, without any directory part; None when the sender gave none.
        content_type: lower case, e.g. ``image/png``.
        data: the decoded bytes.
        content_id: the Content-ID without brackets, for ``cid:`` references.
        inline: shown in the body rather than offered as a download.
    """

    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """Everything kefu uses of one mail. Ids are normalized (no brackets); text is decoded.

    Attributes:
        message_id: the Message-ID, or None when the sender set none.
        in_reply_to: ids of the In-Reply-To field (normally one).
        references: ids of the References field, oldest first.
        from_address: the author (the first From mailbox).
        reply_to: where replies should go, when the sender asked (Reply-To).
        to, cc: recipients.
        subject: decoded from RFC 2047 in any charset.
        date: the Date field, timezone-aware; None when missing or unreadable.
        text: the body as plain text (text/plain preferred, else HTML converted).
        html: the HTML body as received, for storage; None when there is none.
        attachments: attachments and inline parts, in message order.
        classification: personal mail or automatic (never auto-answered).
        defects: tolerated problems, in words.
        size: the raw message size in bytes.
    """

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: EmailAddress
    reply_to: tuple[EmailAddress, ...]
    to: tuple[EmailAddress, ...]
    cc: tuple[EmailAddress, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    classification: Classification
    defects: tuple[str, ...] = ()
    size: int = 0

    @property
    def reply_address(self) -> EmailAddress:
        """Where a reply goes: Reply-To when set, else From."""
        return self.reply_to[0] if self.reply_to else self.from_address

    @property
    def inline_images(self) -> tuple[Attachment, ...]:
        return tuple(part for part in self.attachments
                     if part.inline and part.content_type.startswith("image/"))


@dataclass
class _Body:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    parts: int = 0


def parse_email(
    raw: bytes,
    *,
    own_domains: Collection[str] = (),
    envelope_from: str | None = None,
) -> ParsedEmail:
    """Parse one mail (RFC 5322 message with MIME, RFC 2045-2049, RFC 2047, RFC 2231).

    Args:
        raw: the message bytes as received (CRLF or LF line ends).
        own_domains: kefu's message-id domains, to recognise its own mail coming back.
        envelope_from: the SMTP MAIL FROM when known ("" for the null reverse-path).

    Returns:
        The parsed message.

    Raises:
        MalformedEmail: empty input, no header section, no From address, a multipart
            without a usable boundary, nesting beyond ``MAX_MIME_DEPTH``, or more than
            ``MAX_MIME_PARTS`` parts.
    """
    if not raw.strip():
        raise MalformedEmail("the message is empty")
    try:
        message = BytesParser(policy=_POLICY).parsebytes(raw)
        return _parse(message, raw, own_domains, envelope_from)
    except MalformedEmail:
        raise
    except RecursionError as exc:
        raise MalformedEmail("MIME parts are nested too deeply to read") from exc
    except (email.errors.MessageError, ValueError, LookupError, TypeError,
            AttributeError, IndexError, UnicodeError) as exc:
        # The stdlib parser has corner cases that raise instead of recording a defect;
        # the sender is told in words, never with a traceback.
        raise MalformedEmail(f"the message cannot be parsed: {exc}") from exc


def _parse(message: Message, raw: bytes, own_domains: Collection[str],
           envelope_from: str | None) -> ParsedEmail:
    if not message.keys():
        raise MalformedEmail(
            "the message has no header section: it must start with header fields such as "
            "'From:' (RFC 5322 section 2.1)")
    body = _Body()
    _walk(message, body, depth=0)
    fallback_charset = _first_text_charset(message)

    def header(name: str) -> str | None:
        value = message.get(name)
        return None if value is None else decode_header_value(
            str(value), fallback_charset=fallback_charset)

    from_values = message.get_all("From") or []
    if not from_values:
        raise MalformedEmail("the message has no From: header field "
                             "(RFC 5322 section 3.6.2 requires one)")
    senders = _addresses(from_values, fallback_charset)
    if not senders:
        raise MalformedEmail(f"the From: header field holds no address: "
                             f"{header('From')!r}")
    defects = list(body.defects)
    message_id = normalize_message_id(message.get("Message-ID"))
    if message_id is None:
        defects.append("no Message-ID")
    date = _date(message.get("Date"), defects)

    text = "\n\n".join(part.rstrip() for part in body.texts if part.strip())
    html = "\n".join(body.htmls) if body.htmls else None
    if not text and html:
        text = html_to_text(html)

    content_type = message.get_content_type()
    report_type = message.get_param("report-type")
    classification = classify(
        header,
        content_type=content_type,
        report_type=report_type.lower() if isinstance(report_type, str) else None,
        message_id=message_id,
        from_address=senders[0].address,
        envelope_from=envelope_from,
        own_domains=own_domains,
    )
    for defect in message.defects:
        defects.append(_defect_text(defect))
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=parse_message_ids(message.get("In-Reply-To")),
        references=parse_message_ids(" ".join(message.get_all("References") or [])),
        from_address=senders[0],
        reply_to=tuple(_addresses(message.get_all("Reply-To") or [], fallback_charset)),
        to=tuple(_addresses(message.get_all("To") or [], fallback_charset)),
        cc=tuple(_addresses(message.get_all("Cc") or [], fallback_charset)),
        subject=header("Subject") or "",
        date=date,
        text=text,
        html=html,
        attachments=tuple(body.attachments),
        classification=classification,
        defects=tuple(dict.fromkeys(defects)),
        size=len(raw),
    )


def _addresses(values: list[Any], fallback_charset: str | None) -> list[EmailAddress]:
    result = []
    # Parse first, decode names after: an encoded word inside quotes ("=?gbk?B?...?=") is
    # not allowed by RFC 2047 §5, yet every mail reader decodes it, and so must we.
    for name, written in getaddresses([str(value) for value in values]):
        # An unbalanced quote leaves the bracketed address inside the "address".
        bracketed = re.search(r"<([^<>\s]+)>", written)
        address = bracketed.group(1) if bracketed else written.strip()
        if not address:
            continue
        result.append(EmailAddress(
            address=decode_header_value(address, fallback_charset=fallback_charset),
            name=decode_header_value(name, fallback_charset=fallback_charset).strip('"'),
        ))
    return result


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        defects.append("no Date")
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        defects.append(f"unreadable Date: {value!r}")
        return None
    # "-0000" means "time zone unknown" (RFC 5322 §3.3); UTC is the honest reading.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _first_text_charset(message: Message) -> str | None:
    for part in message.walk():
        if part.get_content_maintype() == "text":
            charset = part.get_content_charset()
            if charset:
                return charset
    return None


def _defect_text(defect: Any) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    return words or "defect"


def _walk(part: Message, body: _Body, *, depth: int) -> None:
    body.parts += 1
    if body.parts > MAX_MIME_PARTS:
        raise MalformedEmail(f"the message has more than {MAX_MIME_PARTS} MIME parts")
    if depth > MAX_MIME_DEPTH:
        raise MalformedEmail(f"MIME parts are nested more than {MAX_MIME_DEPTH} levels deep")
    content_type = part.get_content_type()
    for defect in part.defects:
        if isinstance(defect, email.errors.NoBoundaryInMultipartDefect):
            raise MalformedEmail(
                f"the {content_type} part has no boundary parameter, so its parts cannot be "
                "told apart (RFC 2046 section 5.1.1)")
        if isinstance(defect, email.errors.StartBoundaryNotFoundDefect):
            raise MalformedEmail(
                f"the {content_type} part declares boundary {part.get_boundary()!r} but no "
                "part starts with it (RFC 2046 section 5.1.1)")
        if depth > 0:
            body.defects.append(_defect_text(defect))

    if content_type in {"message/rfc822", "message/global"}:
        # A forwarded or bounced message is kept whole, as an .eml attachment.
        body.attachments.append(_embedded_message(part))
        return
    if part.get_content_maintype() == "message" and part.is_multipart():
        # message/delivery-status and friends: header blocks, kept as their text.
        blocks = part.get_payload()
        data = b"\n".join(block.as_bytes() for block in blocks if isinstance(block, Message))
        body.attachments.append(Attachment(filename=None, content_type=content_type,
                                           data=data))
        return
    if part.is_multipart():
        children = part.get_payload()
        for child in children if isinstance(children, list) else []:
            if isinstance(child, Message):
                _walk(child, body, depth=depth + 1)
        return
    _leaf(part, body)


def _leaf(part: Message, body: _Body) -> None:
    content_type = part.get_content_type()
    disposition = part.get_content_disposition()
    filename = _filename(part)
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if disposition != "attachment" and filename is None and content_type == "text/plain":
        text = _decode_text(data, part)
        if str(part.get_param("format") or "").lower() == "flowed":
            delsp = str(part.get_param("delsp") or "").lower() == "yes"
            text = unflow(text, delete_space=delsp)
        body.texts.append(text)
    elif disposition != "attachment" and filename is None and content_type == "text/html":
        body.htmls.append(_decode_text(data, part))
    else:
        content_id = normalize_message_id(part.get("Content-ID"))
        body.attachments.append(Attachment(
            filename=filename,
            content_type=content_type,
            data=data,
            content_id=content_id,
            inline=disposition == "inline" or (disposition is None and content_id is not None),
        ))


def _embedded_message(part: Message) -> Attachment:
    inner = part.get_payload(0) if part.is_multipart() else None
    data = inner.as_bytes() if isinstance(inner, Message) else b""
    filename = _filename(part)
    if filename is None and isinstance(inner, Message):
        subject = decode_header_value(str(inner.get("Subject") or ""))
        filename = _safe_filename(f"{subject or 'message'}.eml")
    return Attachment(filename=filename, content_type=part.get_content_type(), data=data,
                      inline=False)


def _decode_text(data: bytes, part: Message) -> str:
    charset = part.get_content_charset()
    if charset is None and part.get_content_subtype() == "html":
        # An HTML part may say its charset only in a <meta> element.
        meta = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_.:-]+)", data[:4096], re.I)
        charset = meta.group(1).decode("ascii") if meta else None
    text = decode_bytes(data, charset)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def unflow(text: str, *, delete_space: bool = False) -> str:
    """Undo format=flowed (RFC 3676 §4): join soft-broken lines, remove space-stuffing.

    Args:
        text: the decoded text/plain body.
        delete_space: the DelSp=yes parameter (the trailing space is not part of the text).

    Returns:
        The text with paragraphs on one line each.
    """
    out: list[str] = []
    current = ""
    for written in text.split("\n"):
        line = written[1:] if written.startswith(" ") else written  # space-stuffing (§4.4)
        if line.endswith(" ") and line != "-- ":
            current += line[:-1] if delete_space else line
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return "\n".join(out)


def _param_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        # RFC 2231 (charset, language, value): the value's bytes arrive as Latin-1 text.
        charset, _language, text = value
        return decode_bytes(str(text).encode("latin-1", errors="replace"), charset or None)
    return decode_header_value(str(value))


def _filename(part: Message) -> str | None:
    raw = part.get_param("filename", header="content-disposition")
    if raw is None:
        raw = part.get_param("name")
    name = _param_text(raw)
    return _safe_filename(name) if name else None


def _safe_filename(name: str) -> str | None:
    """The last path component without control characters: an attachment name must never
    be a path ("../../etc/passwd") when someone saves it."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = name.strip().lstrip(".").strip()
    return name[:255] or None
