"""The web chat wire protocol, version 1 (see ``docs/webchat.md``), without I/O.

- :func:`parse_frame` turns one websocket message from the widget into a typed frame or raises
  :class:`FrameError` whose ``code`` and message say what is wrong and where;
- the ``*_frame`` builders make the server's frames (plain dicts, sent as JSON text);
- :func:`form_schema` and :func:`validate_form` show and check the pre-chat form the tenant's
  DSL declares (``channel webchat "key" { form chat_start }``), with the DSL's own field rules;
- :func:`sign_token` / :func:`verify_token` make and check the visitor token: the widget's only
  credential (it runs on the tenant's site, another origin, so no cookies are used);
- :func:`transcript` writes the conversation as an email body, in English or Chinese.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kefu.dsl import ir
from kefu.runtime.forms import check_form, visible

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
MAX_TEXT_CHARS = 8000
MAX_IDS = 200
MAX_FIELD_CHARS = 2000
MAX_NOTE_CHARS = 500
LOCALES = ("en", "zh_CN")
#: A visitor token is good for this long; an older one starts a new visitor.
TOKEN_MAX_AGE_SECONDS = 30 * 24 * 3600
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_TOKEN_SALT = b"kefu.webchat.visitor.v1"


class FrameError(ValueError):
    """A frame the server cannot use. ``code`` is the error frame's code (``bad_message``,
    ``too_large``…); the message names the field and the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------- client frames
@dataclass(frozen=True)
class Hello:
    token: str | None
    since: str | None
    locale: str


@dataclass(frozen=True)
class Start:
    fields: dict[str, str]


@dataclass(frozen=True)
class SendText:
    client_id: str
    text: str


@dataclass(frozen=True)
class Typing:
    active: bool


@dataclass(frozen=True)
class Received:
    ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class Read:
    upto: uuid.UUID


@dataclass(frozen=True)
class CallbackRequest:
    number: str
    note: str


@dataclass(frozen=True)
class End:
    transcript_to: str | None


@dataclass(frozen=True)
class Ping:
    pass


ClientFrame = Hello | Start | SendText | Typing | Received | Read | CallbackRequest | End | Ping


def decode(text: str | None, data: bytes | None = None) -> dict[str, Any]:
    """The JSON object of one websocket message (text frame), or :class:`FrameError`."""
    if text is None:
        if data is not None and len(data) > MAX_FRAME_BYTES:
            raise FrameError("too_large", f"frame larger than {MAX_FRAME_BYTES} bytes")
        raise FrameError("bad_message", "send JSON text frames, not binary ones")
    if len(text) > MAX_FRAME_BYTES or len(text.encode("utf-8", "surrogatepass")) > \
            MAX_FRAME_BYTES:
        raise FrameError("too_large", f"frame larger than {MAX_FRAME_BYTES} bytes")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameError("bad_message", f"frame is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FrameError("bad_message", "a frame must be a JSON object")
    return value


def parse_frame(text: str | None, data: bytes | None = None) -> ClientFrame:
    """One websocket message from the widget as a typed frame.

    Raises:
        FrameError: not JSON, not an object, too large, unknown type, or a field missing or
            of the wrong type (the message names it).
    """
    raw = decode(text, data)
    kind = raw.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        known = ", ".join(sorted(_PARSERS))
        raise FrameError("bad_message", f"unknown frame type {kind!r}; expected one of {known}")
    frame: ClientFrame = parser(_Fields(raw, str(kind)))
    return frame


class _Fields:
    """Typed access to a frame's fields with errors naming ``<type>.<field>``."""

    def __init__(self, raw: dict[str, Any], kind: str) -> None:
        self.raw = raw
        self.kind = kind

    def fail(self, name: str, problem: str) -> FrameError:
        return FrameError("bad_message", f"{self.kind}.{name}: {problem}")

    def text(self, name: str, *, required: bool = True, limit: int = MAX_TEXT_CHARS,
             allow_empty: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return None
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, not {_json_type(value)}")
        if "\x00" in value:
            raise self.fail(name, "contains a NUL character")
        if not allow_empty and not value.strip():
            raise self.fail(name, "must not be empty")
        if len(value) > limit:
            raise self.fail(name, f"is longer than {limit} characters")
        return value

    def boolean(self, name: str) -> bool:
        value = self.raw.get(name)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, not {_json_type(value)}")
        return value

    def message_id(self, value: Any, name: str) -> uuid.UUID:
        if not isinstance(value, str):
            raise self.fail(name, f"must be a message id (string), not {_json_type(value)}")
        try:
            return uuid.UUID(value)
        except ValueError:
            raise self.fail(name, f"{value[:60]!r} is not a message id") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _hello(f: _Fields) -> Hello:
    token = f.text("token", required=False, limit=2000)
    since = f.raw.get("since")
    since_id = str(f.message_id(since, "since")) if since is not None else None
    locale = f.raw.get("locale", "en")
    if locale not in LOCALES:
        raise f.fail("locale", f"must be one of {', '.join(LOCALES)}, not {locale!r}")
    return Hello(token or None, since_id, str(locale))


def _start(f: _Fields) -> Start:
    fields = f.raw.get("fields", {})
    if not isinstance(fields, dict):
        raise f.fail("fields", f"must be an object of form values, not {_json_type(fields)}")
    if len(fields) > 100:
        raise f.fail("fields", "has more than 100 entries")
    clean: dict[str, str] = {}
    for name, given in fields.items():
        if given is None:
            continue
        value: Any = given
        if isinstance(given, bool):
            value = "true" if given else "false"
        elif isinstance(given, int | float):
            value = str(given)
        if not isinstance(value, str):
            raise f.fail(f"fields.{name}", f"must be text, not {_json_type(value)}")
        if "\x00" in value or "\x00" in name:
            raise f.fail(f"fields.{name}", "contains a NUL character")
        if len(value) > MAX_FIELD_CHARS:
            raise f.fail(f"fields.{name}", f"is longer than {MAX_FIELD_CHARS} characters")
        clean[str(name)[:100]] = value.strip()
    return Start(clean)


def _message(f: _Fields) -> SendText:
    client_id = f.text("client_id", limit=100) or ""
    if not _CLIENT_ID.match(client_id):
        raise f.fail("client_id", "use 1-100 letters, digits and '_ . : -' (a UUID is best)")
    return SendText(client_id, f.text("text") or "")


def _typing(f: _Fields) -> Typing:
    return Typing(f.boolean("active"))


def _received(f: _Fields) -> Received:
    ids = f.raw.get("ids")
    if not isinstance(ids, list) or not ids:
        raise f.fail("ids", "must be a non-empty array of message ids")
    if len(ids) > MAX_IDS:
        raise f.fail("ids", f"has more than {MAX_IDS} entries")
    return Received(tuple(f.message_id(v, f"ids[{i}]") for i, v in enumerate(ids)))


def _read(f: _Fields) -> Read:
    return Read(f.message_id(f.raw.get("upto"), "upto"))


def _callback(f: _Fields) -> CallbackRequest:
    number = f.text("number", limit=40) or ""
    if not valid_phone(number):
        raise f.fail("number", f"{number!r} is not a phone number (digits, optional +)")
    note = f.text("note", required=False, limit=MAX_NOTE_CHARS, allow_empty=True) or ""
    return CallbackRequest(number.strip(), note.strip())


def _end(f: _Fields) -> End:
    address = f.text("transcript_to", required=False, limit=254)
    if address is not None and not _EMAIL.match(address.strip()):
        raise f.fail("transcript_to", f"{address!r} is not an email address")
    return End(address.strip() if address else None)


def _ping(f: _Fields) -> Ping:
    return Ping()


_PARSERS: dict[str, Callable[[_Fields], ClientFrame]] = {
    "hello": _hello, "start": _start, "message": _message, "typing": _typing,
    "received": _received, "read": _read, "callback": _callback, "end": _end, "ping": _ping}


def valid_client_id(client_id: str) -> bool:
    return _CLIENT_ID.match(client_id) is not None


def valid_phone(number: str) -> bool:
    return _PHONE.match(re.sub(r"[\s()-]", "", number)) is not None


# ---------------------------------------------------------------------- pre-chat form
def _pick(text: ir.Text | None, locale: str) -> str | None:
    if text is None or not text.texts:
        return None
    if locale in text.texts:
        return text.texts[locale]
    lang = locale.split("_", maxsplit=1)[0]
    for key, value in text.texts.items():
        if key.split("_", maxsplit=1)[0] == lang:
            return value
    return next(iter(text.texts.values()))


def _rule(fld: ir.Field, kind: str) -> ir.FieldRule | None:
    return next((r for r in fld.rules if r.kind == kind), None)


def _required(fld: ir.Field) -> bool:
    rule = _rule(fld, "required")
    return bool(rule is not None and rule.value)


def form_schema(form: ir.Form, locale: str) -> dict[str, Any]:
    """The form as the widget draws it (the ``welcome`` frame's ``form``)."""
    fields = []
    for fld in form.fields:
        pattern = _rule(fld, "pattern")
        length = _rule(fld, "length")
        numbers = _rule(fld, "range")
        bounds = length or numbers
        message = next((_pick(r.message, locale) for r in fld.rules if r.message), None)
        fields.append({
            "name": fld.id, "type": fld.type, "label": fld.label or fld.id,
            "required": _required(fld),
            "pattern": pattern.value if pattern is not None else None,
            "message": message,
            "min": bounds.value[0] if bounds is not None else None,
            "max": bounds.value[1] if bounds is not None else None,
            "choices": list(fld.choices),
        })
    return {"id": form.id, "title": form.title or form.id, "fields": fields}


def validate_form(form: ir.Form, values: Mapping[str, str],
                  locale: str) -> tuple[dict[str, str], dict[str, str]]:
    """Check the pre-chat answers with the DSL's rules (:func:`kefu.runtime.forms.check_form`,
    the same check every form of the tenant gets).

    Returns:
        ``(clean, errors)``: the answers of the form's fields that apply (unknown names
        dropped) and, per field name, the message to show (the rule's own message in the DSL
        when it has one).
    """
    answers = dict(values)
    errors = check_form(form, dict(answers), locale)
    clean = {f.id: answers[f.id] for f in form.fields
             if answers.get(f.id, "") != "" and f.id not in errors and visible(f, answers)}
    return clean, errors


_NAME_FIELDS = ("name", "full_name", "display_name", "your_name", "nickname")


def contact_details(form: ir.Form | None,
                    values: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """``(display name, email, phone)`` from the answers: a name-like field, the first email
    field and the first phone field."""
    fields = form.fields if form is not None else ()
    name = next((values[f.id] for f in fields if f.id in _NAME_FIELDS and values.get(f.id)),
                None)
    if name is None:
        name = next((values[f.id] for f in fields
                     if "name" in f.id and f.type == "text" and values.get(f.id)), None)
    if name is None and form is None:
        name = next((values[k] for k in _NAME_FIELDS if values.get(k)), None)
    email = next((values[f.id] for f in fields if f.type == "email" and values.get(f.id)),
                 None)
    phone = next((values[f.id] for f in fields if f.type == "phone" and values.get(f.id)),
                 None)
    return name, email, phone


# ---------------------------------------------------------------------- visitor token
class TokenInvalid(ValueError):
    """A visitor token that kefu did not make (or was altered)."""


class TokenExpired(TokenInvalid):
    """A genuine visitor token older than :data:`TOKEN_MAX_AGE_SECONDS`."""


@dataclass(frozen=True)
class VisitorToken:
    tenant_id: uuid.UUID
    visitor_id: str
    session: str | None = None  # the chat interaction's external id, once started


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str) -> bytes:
    # A key of its own for chat tokens, derived from the platform secret.
    return hmac.new(secret.encode("utf-8"), _TOKEN_SALT, hashlib.sha256).digest()


def sign_token(secret: str, token: VisitorToken, now: dt.datetime) -> str:
    """``<payload>.<signature>``: base64url JSON and its HMAC-SHA256."""
    payload = {"t": str(token.tenant_id), "v": token.visitor_id, "s": token.session,
               "i": int(now.timestamp())}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    signature = hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def verify_token(secret: str, text: str, now: dt.datetime,
                 max_age: int = TOKEN_MAX_AGE_SECONDS) -> VisitorToken:
    """The token's contents.

    Raises:
        TokenInvalid: not one of ours, or altered.
        TokenExpired: genuine but older than ``max_age`` seconds.
    """
    body, _, signature = text.partition(".")
    try:
        expected = hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise TokenInvalid("the visitor token's signature does not match")
        payload = json.loads(_unb64(body))
        token = VisitorToken(uuid.UUID(payload["t"]), str(payload["v"]), payload.get("s"))
        issued = int(payload["i"])
    except TokenInvalid:
        raise
    except (ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise TokenInvalid(f"not a visitor token ({type(exc).__name__})") from None
    if now.timestamp() - issued > max_age:
        raise TokenExpired("the visitor token has expired")
    return token


# ---------------------------------------------------------------------- server frames
def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def ack_frame(client_id: str, message_id: uuid.UUID, at: dt.datetime) -> dict[str, Any]:
    return {"type": "ack", "client_id": client_id, "id": str(message_id), "at": iso(at)}


def receipt_frame(message_id: uuid.UUID | str, status: str) -> dict[str, Any]:
    return {"type": "receipt", "id": str(message_id), "status": status}


def typing_frame(active: bool) -> dict[str, Any]:
    return {"type": "typing", "who": "agent", "active": active}


def queue_frame(position: int, expected_wait: float | None) -> dict[str, Any]:
    return {"type": "queue", "position": position,
            "expected_wait": round(expected_wait) if expected_wait is not None else None}


def iso(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.isoformat()


@dataclass(frozen=True)
class AttachmentView:
    id: uuid.UUID
    filename: str
    content_type: str
    size: int


def message_frame(*, message_id: uuid.UUID, sender: str, name: str | None, text: str,
                  at: dt.datetime, status: str, choices: Sequence[Mapping[str, Any]] | None,
                  attachments: Iterable[AttachmentView], attachment_url: str,
                  client_id: str | None) -> dict[str, Any]:
    """A message of the conversation. ``sender``: customer, bot, agent or system;
    ``attachment_url`` a format string with ``{id}``."""
    frame: dict[str, Any] = {
        "type": "message", "id": str(message_id), "from": sender, "name": name, "text": text,
        "attachments": [{"id": str(a.id), "filename": a.filename,
                         "content_type": a.content_type, "size": a.size,
                         "url": attachment_url.format(id=a.id)} for a in attachments],
        "at": iso(at), "status": status,
    }
    if choices:
        frame["choices"] = [{"key": str(c.get("key", "")), "label": str(c.get("label", ""))}
                            for c in choices if isinstance(c, Mapping)]
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


# ---------------------------------------------------------------------- transcript
_TRANSCRIPT = {
    "en": {"subject": "Your chat transcript", "intro": "Here is the transcript of your chat.",
           "customer": "You", "bot": "Assistant", "agent": "Agent", "system": "Notice",
           "attachment": "attachment"},
    "zh_CN": {"subject": "您的聊天记录", "intro": "以下是您本次聊天的记录。", "customer": "您",
              "bot": "自动助手", "agent": "客服", "system": "通知", "attachment": "附件"},
}


@dataclass(frozen=True)
class TranscriptLine:
    at: dt.datetime
    sender: str  # customer, bot, agent, system
    name: str | None
    text: str
    attachments: tuple[str, ...] = ()


def transcript(lines: Iterable[TranscriptLine], locale: str,
               title: str | None = None) -> tuple[str, str]:
    """``(subject, body)`` of the transcript email, labels in the visitor's language."""
    labels = _TRANSCRIPT.get(locale, _TRANSCRIPT["en"])
    subject = f"{labels['subject']} — {title}" if title else labels["subject"]
    out = [labels["intro"], ""]
    for line in lines:
        who = labels.get(line.sender, line.sender)
        if line.sender == "agent" and line.name:
            who = f"{who} {line.name}"
        stamp = iso(line.at)[:19].replace("T", " ")
        out.append(f"[{stamp} UTC] {who}:")
        out.extend(f"  {row}" for row in (line.text.splitlines() or [""]))
        out.extend(f"  ({labels['attachment']}: {name})" for name in line.attachments)
    return subject, "\n".join(out).rstrip() + "\n"


__all__ = [
    "MAX_FRAME_BYTES", "PROTOCOL_VERSION", "AttachmentView", "CallbackRequest", "ClientFrame",
    "End", "FrameError", "Hello", "Ping", "Read", "Received", "SendText", "Start",
    "TokenExpired", "TokenInvalid", "TranscriptLine", "Typing", "VisitorToken", "ack_frame",
    "contact_details", "decode", "error_frame", "form_schema", "iso", "message_frame",
    "parse_frame", "queue_frame", "receipt_frame", "sign_token", "transcript", "typing_frame",
    "valid_client_id", "valid_phone", "validate_form", "verify_token",
]
