"""SIP messages (RFC 3261 §7, §19, §20, §25): parsing and building, sans-IO.

:func:`parse_message` turns one datagram (or one framed stream message) into a
:class:`Request` or :class:`Response`; anything malformed raises :class:`SipParseError` naming
what is wrong and where. :class:`StreamFramer` cuts a TCP byte stream into messages by their
Content-Length. Messages serialize with ``bytes(message)``; Content-Length is always written
from the body so it cannot disagree with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
#: RFC 3261 §8.1.1.7: branches starting with it are globally unique (transaction ids).
BRANCH_COOKIE = "z9hG4bK"
#: Larger messages are refused (a datagram cannot be larger; on TCP it bounds memory).
MAX_MESSAGE_BYTES = 65_535

COMPACT_FORMS = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact",
    "k": "Supported", "l": "Content-Length", "m": "Contact", "o": "Event",
    "r": "Refer-To", "s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via",
    "x": "Session-Expires", "y": "Identity", "n": "Identity-Info",
}

_CANONICAL = {name.lower(): name for name in (
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
    "Max-Forwards", "Min-Expires", "MIME-Version", "Organization", "P-Asserted-Identity",
    "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck",
    "Record-Route", "Refer-To", "Referred-By", "Reply-To", "Require", "Retry-After", "Route",
    "RSeq", "Server", "Session-Expires", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)}

#: Headers whose values are comma-separated lists (RFC 3261 §7.3.1), so a message may carry
#: them on one line or several; :meth:`Headers.get_all` returns the items either way.
LIST_HEADERS = frozenset({
    "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require",
    "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language",
    "Content-Encoding", "Allow-Events", "Content-Language", "In-Reply-To",
})

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~\-]+")
_METHOD = _TOKEN
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)")


class SipParseError(ValueError):
    """A SIP message (or part of one) that cannot be understood.

    Attributes:
        what: what is wrong, e.g. ``bad CSeq header: 'x' is not a number``.
        where: where it is, e.g. ``line 5`` or ``start line``.
    """

    def __init__(self, what: str, where: str) -> None:
        super().__init__(f"{what} ({where})")
        self.what = what
        self.where = where


def canonical_name(name: str) -> str:
    """The header name as written in RFC 3261 (``v`` → ``Via``, ``call-id`` → ``Call-ID``)."""
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    known = _CANONICAL.get(lower)
    if known:
        return known
    return "-".join(part.capitalize() for part in name.split("-"))


def split_list(value: str) -> list[str]:
    """Split a list header value on commas outside quotes and angle brackets."""
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    if '"' not in value and "<" not in value:
        return [item.strip() for item in value.split(",") if item.strip()]
    items: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    items.append(value[start:].strip())
    return [item for item in items if item]


def parse_params(text: str, where: str) -> dict[str, str | None]:
    """``;a=1;b;c="x"`` → ``{"a": "1", "b": None, "c": '"x"'}`` (names lower-cased)."""
    params: dict[str, str | None] = {}
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"expected ';' before parameters, found {text[:20]!r}", where)
    try:
        parts = _split_outside_quotes(text[1:], ";")
    except ValueError as exc:
        raise SipParseError(f"{exc} in parameters", where) from None
    for raw in parts:
        part = raw.strip()
        if not part:
            raise SipParseError("empty parameter", where)
        name, eq, val = part.partition("=")
        name = name.strip()
        if not _TOKEN.fullmatch(name):
            raise SipParseError(f"bad parameter name {name!r}", where)
        params[name.lower()] = val.strip() if eq else None
    return params


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    quoted = False
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise ValueError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass
class Uri:
    """A SIP, SIPS or tel URI (RFC 3261 §19.1, RFC 3966).

    Attributes:
        scheme: ``sip``, ``sips`` or ``tel``.
        user: the user part (a number for a DID), or None.
        host: host name or address (IPv6 in brackets); for ``tel`` the number.
        port: the port, or None for the default.
        params: URI parameters (``transport``, ``lr``, …), names lower-cased.
        headers: the ``?`` header part, kept as text.
    """

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""
    password: str | None = None

    @classmethod
    def parse(cls, text: str, where: str = "URI") -> Uri:
        """Parse ``sip:user@host:port;params?headers``.

        Raises:
            SipParseError: the URI is malformed.
        """
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips", "tel"):
            raise SipParseError(f"unsupported URI {text[:60]!r} (expected sip:, sips: or tel:)",
                                where)
        rest, _, headers = rest.partition("?")
        if scheme == "tel":
            number, _, ptext = rest.partition(";")
            if not number:
                raise SipParseError("tel URI without a number", where)
            return cls("tel", number, number, None,
                       parse_params(";" + ptext, where) if ptext else {}, headers)
        user: str | None = None
        password: str | None = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, _, pw = userinfo.partition(":")
            password = pw or None
            if not user:
                raise SipParseError("empty user part before '@'", where)
        hostport, semi, ptext = rest.partition(";")
        params = parse_params(";" + ptext, where) if semi else {}
        match = _HOST.match(hostport)
        if not match:
            raise SipParseError(f"missing or bad host in {text[:60]!r}", where)
        host = match.group(1)
        tail = hostport[match.end():]
        port: int | None = None
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit() or len(tail) > 6:
                raise SipParseError(f"bad port {tail!r} in {text[:60]!r}", where)
            port = int(tail[1:])
            if not 0 < port < 65536:
                raise SipParseError(f"port {port} out of range", where)
        return cls(scheme, user, host, port, params, headers, password)

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.scheme == "tel":
            out = f"tel:{self.user}{format_params(self.params)}"
        else:
            userinfo = ""
            if self.user is not None:
                userinfo = self.user + (f":{self.password}" if self.password else "") + "@"
            out = f"{self.scheme}:{userinfo}{self.hostport}{format_params(self.params)}"
        return out + (f"?{self.headers}" if self.headers else "")


@dataclass
class Address:
    """A name-addr or addr-spec with header parameters: From, To, Contact, Route…

    Attributes:
        uri: the URI.
        display: the display name (unquoted), or None.
        params: header parameters (``tag``, ``expires``, ``q``…), names lower-cased.
        star: the ``Contact: *`` of a REGISTER that removes all bindings.
    """

    uri: Uri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    star: bool = False

    @classmethod
    def parse(cls, text: str, where: str = "address") -> Address:
        text = text.strip()
        if text == "*":
            return cls(Uri("sip", None, "*"), star=True)
        display: str | None = None
        rest = text
        if rest.startswith('"'):
            end = 1
            while end < len(rest) and rest[end] != '"':
                end += 2 if rest[end] == "\\" else 1
            if end >= len(rest):
                raise SipParseError("unterminated quoted display name", where)
            display = rest[1:end].replace('\\"', '"')
            rest = rest[end + 1:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError("display name not followed by <URI>", where)
        if "<" in rest:
            before, _, after = rest.partition("<")
            if display is None and before.strip():
                display = before.strip()
            uri_text, gt, after = after.partition(">")
            if not gt:
                raise SipParseError("'<' without closing '>'", where)
            uri = Uri.parse(uri_text, where)
            params = parse_params(after.strip(), where)
        else:
            # addr-spec: parameters after the URI belong to the header, not the URI.
            uri_text, semi, ptext = rest.partition(";")
            uri = Uri.parse(uri_text, where)
            params = parse_params(";" + ptext, where) if semi else {}
        try:
            return cls(uri, display, params)
        except ValueError as exc:  # pragma: no cover - dataclass cannot fail
            raise SipParseError(str(exc), where) from exc

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        if self.star:
            return "*"
        name = f'"{self.display}" ' if self.display else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"


@dataclass
class Via:
    """One Via entry: ``SIP/2.0/UDP host:port;branch=z9hG4bK…;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, where: str = "Via header") -> Via:
        text = text.strip()
        proto, sep, rest = text.partition(" ")
        parts = [p.strip() for p in proto.split("/")]
        if not sep or len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0":
            raise SipParseError(f"bad Via {text[:60]!r}: expected 'SIP/2.0/<transport> host'",
                                where)
        transport = parts[2].upper()
        if not _TOKEN.fullmatch(transport):
            raise SipParseError(f"bad Via transport {transport!r}", where)
        rest = rest.strip()
        hostport, semi, ptext = rest.partition(";")
        hostport = hostport.strip()
        match = _HOST.fullmatch(hostport.rsplit(":", 1)[0]) if not hostport.startswith(
            "[") else _HOST.match(hostport)
        if not hostport or not match:
            raise SipParseError(f"bad Via sent-by {hostport!r}", where)
        host = match.group(1)
        tail = hostport[len(host):]
        port = None
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit() or len(tail) > 6:
                raise SipParseError(f"bad Via port {tail!r}", where)
            port = int(tail[1:])
        return cls(transport, host, port, parse_params(";" + ptext, where) if semi else {})

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{format_params(self.params)}"


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str, where: str = "CSeq header") -> CSeq:
        parts = text.split()
        if len(parts) != 2:
            raise SipParseError(f"bad CSeq {text!r}: expected '<number> <method>'", where)
        if not parts[0].isdigit() or len(parts[0]) > 10 or int(parts[0]) >= 2**31:
            raise SipParseError(f"bad CSeq {text!r}: {parts[0]!r} is not a sequence number "
                                "below 2**31", where)
        if not _METHOD.fullmatch(parts[1]):
            raise SipParseError(f"bad CSeq method {parts[1]!r}", where)
        return cls(int(parts[0]), parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


class Headers:
    """An ordered, case-insensitive multi-map of header fields (compact names expanded)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(k), v) for k, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get(self, name: str) -> str | None:
        """The first value of ``name`` (the first list item for list headers)."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order, comma lists split for list headers."""
        name = canonical_name(name)
        out: list[str] = []
        for key, value in self._items:
            if key == name:
                if name in LIST_HEADERS:
                    out.extend(split_list(value))
                else:
                    out.append(value)
        return out

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), str(value)))

    def prepend(self, name: str, value: str) -> None:
        self._items.insert(0, (canonical_name(name), str(value)))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` field with one, where the first one stood."""
        name = canonical_name(name)
        for i, (key, _) in enumerate(self._items):
            if key == name:
                self._items[i] = (name, str(value))
                self._items = [(k, v) for j, (k, v) in enumerate(self._items)
                               if k != name or j == i]
                return
        self._items.append((name, str(value)))

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first ``name`` field (e.g. the top Via, when it is alone on its line)."""
        name = canonical_name(name)
        for i, (key, old) in enumerate(self._items):
            if key == name:
                rest = split_list(old)[1:] if name in LIST_HEADERS else []
                self._items[i] = (name, ", ".join([value, *rest]))
                return
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self._items = [(k, v) for k, v in self._items if k != name]

    def copy(self) -> Headers:
        new = Headers()
        new._items = list(self._items)
        return new


class Message:
    """What requests and responses share: headers, body and typed header access."""

    headers: Headers
    body: bytes

    def _typed(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header", "headers")
        return value

    @property
    def call_id(self) -> str:
        return self._typed("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._typed("CSeq"))

    @property
    def from_(self) -> Address:
        return Address.parse(self._typed("From"), "From header")

    @property
    def to(self) -> Address:
        return Address.parse(self._typed("To"), "To header")

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return Via.parse(self._typed("Via"))

    @property
    def contacts(self) -> list[Address]:
        return [Address.parse(v, "Contact header") for v in self.headers.get_all("Contact")]

    @property
    def routes(self) -> list[Address]:
        return [Address.parse(v, "Route header") for v in self.headers.get_all("Route")]

    @property
    def record_routes(self) -> list[Address]:
        return [Address.parse(v, "Record-Route header")
                for v in self.headers.get_all("Record-Route")]

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return value.split(";")[0].strip().lower() if value else None

    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        lines = [self.start_line()]
        lines.extend(f"{k}: {v}" for k, v in self.headers if k != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


class Request(Message):
    """A SIP request."""

    def __init__(self, method: str, uri: Uri, headers: Headers | None = None,
                 body: bytes = b"") -> None:
        self.method = method
        self.uri = uri
        self.headers = headers if headers is not None else Headers()
        self.body = body

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response."""

    def __init__(self, status: int, reason: str, headers: Headers | None = None,
                 body: bytes = b"") -> None:
        self.status = status
        self.reason = reason
        self.headers = headers if headers is not None else Headers()
        self.body = body

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    407: "Proxy Authentication Required", 408: "Request Timeout", 415: "Unsupported Media Type",
    420: "Bad Extension", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
    603: "Decline",
}

#: Headers a response copies from its request (RFC 3261 §8.2.6.2).
_COPIED = ("Via", "From", "To", "Call-ID", "CSeq")


def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, body: bytes = b"",
                  headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A response to ``request`` with Via/From/To/Call-ID/CSeq copied (and a To tag added
    when given and the request had none)."""
    out = Headers()
    for name, value in request.headers:
        if name in _COPIED:
            tagged = value
            if name == "To" and to_tag and ";tag=" not in value.replace(" ", "").lower():
                tagged = f"{value};tag={to_tag}"
            out.add(name, tagged)
    for name, value in headers:
        out.add(name, value)
    return Response(status, reason or REASONS.get(status, "Unknown"), out, body)


def _check_mandatory(message: Request | Response) -> None:
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if message.headers.get(name) is None:
            raise SipParseError(f"missing {name} header", "headers")
    where = "CSeq header"
    cseq = CSeq.parse(message._typed("CSeq"), where)
    if isinstance(message, Request) and cseq.method != message.method and not (
            message.method == "ACK" and cseq.method == "INVITE"):
        raise SipParseError(f"CSeq method {cseq.method} does not match request method "
                            f"{message.method}", where)
    for i, via in enumerate(message.headers.get_all("Via")):
        Via.parse(via, f"Via header {i + 1}")
    Address.parse(message._typed("From"), "From header")
    Address.parse(message._typed("To"), "To header")
    for value in message.headers.get_all("Contact"):
        Address.parse(value, "Contact header")
    for name in ("Route", "Record-Route"):
        for value in message.headers.get_all(name):
            Address.parse(value, f"{name} header")
    mf = message.headers.get("Max-Forwards")
    if mf is not None and (not mf.strip().isdigit() or len(mf.strip()) > 3):
        raise SipParseError(f"bad Max-Forwards {mf!r}: expected 0-255", "Max-Forwards header")


def parse_message(data: bytes, *, stream: bool = False  # noqa: PLR0912 - one pass
                  ) -> Request | Response:
    """Parse one SIP message.

    Args:
        data: the message bytes (one datagram, or one message cut by :class:`StreamFramer`).
        stream: it came over a stream transport, where Content-Length is mandatory.

    Returns:
        The request or response.

    Raises:
        SipParseError: naming what is malformed and where.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}",
                            "message")
    head_end = data.find(b"\r\n\r\n")
    sep_len = 4
    if head_end < 0:
        head_end = data.find(b"\n\n")
        sep_len = 2
    if head_end < 0:
        raise SipParseError("no blank line after the headers (message truncated?)", "headers")
    try:
        head = data[:head_end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header bytes are not UTF-8 (byte {exc.start})", "headers") from None
    body = data[head_end + sep_len:]
    lines = head.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():  # RFC 3261 §7.5: ignore leading CRLFs
        lines.pop(0)
    if not lines:
        raise SipParseError("empty message", "start line")
    message = _parse_start_line(lines[0])
    fields = _unfold(lines[1:])
    for lineno, line in fields:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon:
            raise SipParseError(f"header line without ':': {line[:40]!r}", f"line {lineno}")
        if not _TOKEN.fullmatch(name):
            raise SipParseError(f"bad header name {name[:40]!r}", f"line {lineno}")
        if _CONTROL.search(value):
            raise SipParseError(f"control character in {name} header", f"line {lineno}")
        message.headers.add(name, value.strip())
    length_text = message.headers.get("Content-Length")
    if length_text is not None:
        length_text = length_text.strip()
        if not length_text.isdigit() or len(length_text) > 6:
            raise SipParseError(f"bad Content-Length {length_text!r}", "Content-Length header")
        length = int(length_text)
        if length > len(body):
            raise SipParseError(f"body is {len(body)} bytes, Content-Length says {length} "
                                "(message truncated)", "body")
        body = body[:length]
    elif stream:
        raise SipParseError("missing Content-Length on a stream transport",
                            "Content-Length header")
    message.body = body
    _check_mandatory(message)
    return message


def _parse_start_line(line: str) -> Request | Response:
    where = "start line"
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if parts[0] != SIP_VERSION:
            raise SipParseError(f"unsupported version {parts[0][:20]!r}", where)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise SipParseError(f"bad status code in {line[:60]!r}", where)
        status = int(parts[1])
        if not 100 <= status <= 699:
            raise SipParseError(f"status code {status} outside 100-699", where)
        return Response(status, parts[2] if len(parts) > 2 else "")
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError(f"expected 'METHOD URI SIP/2.0', found {line[:60]!r}", where)
    method, uri_text, version = parts
    if not _METHOD.fullmatch(method):
        raise SipParseError(f"bad method {method[:20]!r}", where)
    if version != SIP_VERSION:
        raise SipParseError(f"unsupported version {version[:20]!r}", where)
    return Request(method, Uri.parse(uri_text, "Request-URI"))


def _unfold(lines: list[str]) -> list[tuple[int, str]]:
    """Join continuation lines (RFC 3261 §7.3.1) keeping each field's first line number."""
    fields: list[tuple[int, str]] = []
    for i, line in enumerate(lines, start=2):
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("continuation line before any header", f"line {i}")
            lineno, prev = fields[-1]
            fields[-1] = (lineno, prev + " " + line.strip())
        elif line:
            fields.append((i, line))
    return fields


class StreamFramer:
    """Cuts a TCP byte stream into whole SIP messages by Content-Length (RFC 3261 §18.3).

    Keep-alive CRLFs between messages (RFC 5626) are skipped. A header block larger than
    :data:`MAX_MESSAGE_BYTES` or a bad Content-Length raises :class:`SipParseError`: the stream
    cannot be resynchronised and the connection should be closed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while True:
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    raise SipParseError("header block too large", "stream")
                return out
            head = bytes(self._buffer[:end])
            match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\S*)", head)
            if not match:
                raise SipParseError("missing Content-Length on a stream transport", "stream")
            if not match.group(1).isdigit() or int(match.group(1)) > MAX_MESSAGE_BYTES:
                raise SipParseError(f"bad Content-Length {match.group(1)[:12]!r}", "stream")
            total = end + 4 + int(match.group(1))
            if len(self._buffer) < total:
                return out
            out.append(bytes(self._buffer[:total]))
            del self._buffer[:total]
