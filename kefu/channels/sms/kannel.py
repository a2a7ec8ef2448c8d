"""The Kannel HTTP gateway: send through ``/cgi-bin/sendsms``, read Kannel's MO and DLR calls.

Kannel (an open-source SMS gateway) talks to the operators' SMSCs; kefu talks HTTP to Kannel.

Sending: :class:`KannelGateway.send` calls smsbox's sendsms with the text as UTF-8 and
``coding=2`` when the text needs UCS-2 (Kannel converts and, with ``concatenation = true`` on
the sendsms-user, splits long texts itself). Each message gets a kefu reference that is put
into the ``dlr-url``, so Kannel's delivery reports come back naming it.

Receiving: Kannel calls kefu for every MO message through an ``sms-service``'s ``get-url``
and for every delivery report through the ``dlr-url``. kefu expects exactly these templates
(the web layer passes the raw query string to :func:`parse_mo` / :func:`parse_dlr`)::

    get-url = "https://KEFU/channels/kannel/mo?from=%p&to=%P&text=%b&coding=%c&charset=%C\
               &udh=%u&smsc=%i&id=%I&ts=%T"                        (one line in kannel.conf)
    dlr-url = https://KEFU/channels/kannel/dlr?ref=<kefu's reference>\
              &type=%d&answer=%A&to=%p&from=%P&smsc=%i&ts=%T       (built by kefu per message)

``%b`` is the message exactly as received (``%a`` would collapse whitespace); ``%c`` and
``%C`` say how to read it — UCS-2 messages arrive as UTF-16BE bytes, so the query string must
be decoded by kefu, not by a web framework that assumes UTF-8. Both URLs may carry
``&secret=…`` (:attr:`KannelSettings.callback_secret`), checked in constant time.
"""

from __future__ import annotations

import asyncio
import codecs
import hmac
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from kefu.channels.sms.encoding import (
    DataCoding,
    SmsEncodingError,
    choose_coding,
    split_text,
    split_udh,
)
from kefu.channels.sms.messages import DeliveryReceipt, DeliveryStatus, InboundSms
from kefu.channels.sms.smpp.pdu import parse_receipt_text

MO_QUERY_TEMPLATE = (
    "from=%p&to=%P&text=%b&coding=%c&charset=%C&udh=%u&smsc=%i&id=%I&ts=%T"
)
DLR_QUERY_TEMPLATE = "type=%d&answer=%A&to=%p&from=%P&smsc=%i&ts=%T"

# Kannel's DLR types (the %d escape) and what each means for the message.
DLR_DELIVERED = 1
DLR_UNDELIVERED = 2
DLR_BUFFERED = 4
DLR_SMSC_ACCEPTED = 8
DLR_SMSC_REJECTED = 16
_DLR_TYPES = {
    DLR_DELIVERED: ("delivered", DeliveryStatus.DELIVERED),
    DLR_UNDELIVERED: ("undelivered", DeliveryStatus.FAILED),
    DLR_BUFFERED: ("buffered", DeliveryStatus.PENDING),
    DLR_SMSC_ACCEPTED: ("smsc_accepted", DeliveryStatus.ACCEPTED),
    DLR_SMSC_REJECTED: ("smsc_rejected", DeliveryStatus.FAILED),
}
MAX_QUERY_LENGTH = 16_384  # an MO of 10 UCS-2 parts, percent-encoded, fits with room to spare


class KannelError(Exception):
    """Kannel could not be reached or refused a message."""


class KannelSendError(KannelError):
    """sendsms answered with an error (``status`` is the HTTP status, ``answer`` its text)."""

    def __init__(self, message: str, status: int, answer: str) -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer


class KannelCallbackError(ValueError):
    """An MO or DLR call from Kannel that kefu cannot use; the message names the parameter."""


@dataclass(frozen=True, slots=True)
class KannelSettings:
    """Where Kannel's sendsms is and how kefu's callback URLs look."""

    sendsms_url: str  # e.g. http://127.0.0.1:13013/cgi-bin/sendsms
    username: str
    password: str
    dlr_url: str | None = None  # kefu's DLR endpoint; None asks for no delivery reports
    dlr_mask: int = DLR_DELIVERED | DLR_UNDELIVERED | DLR_SMSC_ACCEPTED | DLR_SMSC_REJECTED
    default_sender: str = ""
    smsc_id: str | None = None  # route through one of Kannel's SMSC groups
    timeout: float = 10.0
    max_parts: int = 10  # refuse longer texts before Kannel bills them
    callback_secret: str | None = None  # added to the dlr-url, required by parse_*

    def __post_init__(self) -> None:
        scheme = urllib.parse.urlsplit(self.sendsms_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"sendsms_url must be an http(s) URL, got {self.sendsms_url!r}")
        if self.dlr_url is not None and urllib.parse.urlsplit(self.dlr_url).scheme not in (
                "http", "https"):
            raise ValueError(f"dlr_url must be an http(s) URL, got {self.dlr_url!r}")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


class KannelGateway:
    """Sends SMS through Kannel's sendsms interface."""

    def __init__(self, settings: KannelSettings) -> None:
        self.settings = settings

    def dlr_url_for(self, reference: str) -> str:
        """The dlr-url for one message: kefu's reference plus Kannel's escapes."""
        assert self.settings.dlr_url is not None
        query = {"ref": reference}
        if self.settings.callback_secret:
            query["secret"] = self.settings.callback_secret
        separator = "&" if "?" in self.settings.dlr_url else "?"
        # The %-escapes must reach Kannel literally, so they are appended unquoted.
        return (f"{self.settings.dlr_url}{separator}{urllib.parse.urlencode(query)}"
                f"&{DLR_QUERY_TEMPLATE}")

    def sendsms_query(self, to: str, text: str, *, sender: str, reference: str) -> str:
        """The sendsms query string (it carries the password: never log it)."""
        params = {
            "username": self.settings.username,
            "password": self.settings.password,
            "to": to,
            "text": text,
            "charset": "UTF-8",
        }
        if sender:
            params["from"] = sender
        if choose_coding(text) is DataCoding.UCS2:
            params["coding"] = "2"
        if self.settings.smsc_id:
            params["smsc"] = self.settings.smsc_id
        if self.settings.dlr_url:
            params["dlr-mask"] = str(self.settings.dlr_mask)
            params["dlr-url"] = self.dlr_url_for(reference)
        return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)

    async def send(self, to: str, text: str, *, sender: str | None = None,
                   reference: str | None = None) -> list[str]:
        """Hand one message to Kannel.

        Args:
            to: the phone number.
            text: the message; Kannel splits it when long.
            sender: the source address; defaults to ``settings.default_sender``.
            reference: kefu's id for the message (a new UUID when None); DLRs carry it.

        Returns:
            ``[reference]`` — the id :func:`parse_dlr` will report, as SMPP returns ids.

        Raises:
            SmsEncodingError: the text needs more than ``max_parts`` parts.
            KannelSendError: Kannel refused the message (bad login, missing field…).
            KannelError: Kannel could not be reached or did not answer within ``timeout``.
        """
        if not to.strip():
            raise ValueError("send() needs a destination number")
        split_text(text, reference=0, max_parts=self.settings.max_parts)  # refuse early
        reference = reference or uuid.uuid4().hex
        query = self.sendsms_query(to, text, sender=sender or self.settings.default_sender,
                                   reference=reference)
        separator = "&" if "?" in self.settings.sendsms_url else "?"
        status, answer = await asyncio.to_thread(
            self._get, f"{self.settings.sendsms_url}{separator}{query}")
        if not 200 <= status < 300:
            raise KannelSendError(f"Kannel refused the message to {to}: HTTP {status} {answer}",
                                  status, answer)
        return [reference]

    def _get(self, url: str) -> tuple[int, str]:
        request = urllib.request.Request(url, method="GET")  # noqa: S310 - scheme checked
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:  # noqa: S310
                return response.status, response.read(4096).decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(4096).decode("utf-8", "replace").strip()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            where = urllib.parse.urlsplit(self.settings.sendsms_url).netloc
            raise KannelError(f"Kannel sendsms at {where} is unreachable: {reason}") from exc


# --- callbacks from Kannel ----------------------------------------------------------------


class _Query:
    """A raw query string, decoded to bytes so that each parameter's charset can be applied."""

    def __init__(self, raw: str | bytes, kind: str) -> None:
        self.kind = kind
        if isinstance(raw, bytes):
            raw = raw.decode("latin-1")
        if len(raw) > MAX_QUERY_LENGTH:
            raise KannelCallbackError(
                f"{kind} query string is {len(raw)} characters; at most {MAX_QUERY_LENGTH}")
        self.values: dict[str, bytes] = {}
        # latin-1 maps each percent-decoded byte to one character: nothing is interpreted yet.
        try:
            pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, encoding="latin-1",
                                           max_num_fields=40)
        except ValueError as exc:
            raise KannelCallbackError(f"{kind} query string is invalid: {exc}") from None
        for key, value in pairs:
            if key in self.values:
                raise KannelCallbackError(f"{kind} parameter {key!r} is given twice")
            self.values[key] = value.encode("latin-1")

    def raw(self, name: str, *, required: bool = True) -> bytes | None:
        value = self.values.get(name)
        if value is None and required:
            raise KannelCallbackError(
                f"{self.kind} is missing the {name!r} parameter; check the URL template in Kannel")
        return value

    def text(self, name: str, *, required: bool = True) -> str:
        """A UTF-8 parameter; a required one must also be non-blank."""
        value = self.raw(name, required=required)
        if value is None:
            return ""
        try:
            decoded = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KannelCallbackError(
                f"{self.kind} parameter {name!r} is not UTF-8: {exc}") from None
        if required and not decoded.strip():
            raise KannelCallbackError(f"{self.kind} parameter {name!r} is empty")
        return decoded

    def integer(self, name: str, *, default: int | None = None) -> int | None:
        value = self.text(name, required=False)
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise KannelCallbackError(
                f"{self.kind} parameter {name!r} must be a number, got {value[:40]!r}") from None

    def check_secret(self, secret: str | None) -> None:
        if secret is None:
            return
        given = self.values.get("secret", b"")
        if not hmac.compare_digest(given, secret.encode("utf-8")):
            raise KannelCallbackError(f"{self.kind} has a missing or wrong 'secret' parameter")

    def timestamp(self, name: str) -> datetime | None:
        seconds = self.integer(name)
        return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _decode_mo_text(data: bytes, coding: int, charset: str) -> str:
    if not charset:
        charset = "UTF-16BE" if coding == 2 else "UTF-8"
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise KannelCallbackError(f"MO charset {charset!r} is not one kefu knows") from None
    if coding == 1 and charset.lower() in ("", "binary"):
        raise KannelCallbackError("MO is 8-bit binary data (coding=1), not text")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise KannelCallbackError(
            f"MO text is not valid {charset} (coding={coding}): {exc.reason} at byte {exc.start}"
        ) from None


def parse_mo(query: str | bytes, *, secret: str | None = None,
             received_at: datetime | None = None) -> InboundSms:
    """Read Kannel's MO call (the ``get-url`` template in this module's docstring).

    Args:
        query: the raw query string, still percent-encoded (e.g. Pyramid's
            ``request.query_string``) — the text's bytes are decoded with Kannel's charset.
        secret: when set, the query must carry ``secret=`` with this value.
        received_at: when kefu got it; defaults to Kannel's ``ts``, else now.

    Raises:
        KannelCallbackError: a parameter is missing or invalid; the message names it.
    """
    params = _Query(query, "Kannel MO")
    params.check_secret(secret)
    sender = params.text("from")
    recipient = params.text("to")
    coding = params.integer("coding", default=0)
    if coding not in (0, 1, 2):
        raise KannelCallbackError(f"Kannel MO parameter 'coding' must be 0, 1 or 2, got {coding}")
    udh = params.raw("udh", required=False) or b""
    if udh:
        try:
            concatenation, _ = split_udh(udh)
        except SmsEncodingError as exc:
            raise KannelCallbackError(f"Kannel MO parameter 'udh' is invalid: {exc}") from None
        if concatenation is not None and concatenation.total > 1:
            raise KannelCallbackError(
                f"Kannel MO is part {concatenation.sequence} of {concatenation.total} of a long "
                "message; set sms-combine-concatenated-mo = true in Kannel's core group")
    raw_text = params.raw("text")
    assert raw_text is not None
    text = _decode_mo_text(raw_text, coding or 0, params.text("charset", required=False))
    return InboundSms(
        sender=sender, recipient=recipient, text=text,
        received_at=received_at or params.timestamp("ts") or datetime.now(UTC),
        gateway="kannel",
        gateway_message_id=params.text("id", required=False) or None,
        smsc_id=params.text("smsc", required=False) or None,
    )


def parse_dlr(query: str | bytes, *, secret: str | None = None,
              received_at: datetime | None = None) -> DeliveryReceipt:
    """Read Kannel's delivery report call (the dlr-url :class:`KannelGateway` builds).

    Raises:
        KannelCallbackError: a parameter is missing or invalid; the message names it.
    """
    params = _Query(query, "Kannel DLR")
    params.check_secret(secret)
    reference = params.text("ref")
    dlr_type = params.integer("type")
    if dlr_type not in _DLR_TYPES:
        known = ", ".join(f"{code} ({name})" for code, (name, _s) in _DLR_TYPES.items())
        raise KannelCallbackError(f"Kannel DLR parameter 'type' must be one of {known}, "
                                  f"got {dlr_type if dlr_type is not None else 'nothing'}")
    state, status = _DLR_TYPES[dlr_type]
    answer = params.text("answer", required=False)
    error = ""
    if status is DeliveryStatus.FAILED:
        error = answer
        try:  # an SMPP SMSC's receipt text, passed through: keep just its error code
            receipt = parse_receipt_text(answer)
            error = receipt.err if receipt.err.strip("0") else answer
        except ValueError:
            pass
    done_at = params.timestamp("ts")
    return DeliveryReceipt(
        message_id=reference, status=status, state=state,
        received_at=received_at or datetime.now(UTC), gateway="kannel",
        recipient=params.text("to", required=False), sender=params.text("from", required=False),
        error=error, done_at=done_at,
    )
