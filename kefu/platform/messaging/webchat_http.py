"""Web chat's HTTP routes, beside the ``/ws/chat`` socket (see ``docs/webchat.md``):

- ``GET /chat/widget.js`` — the widget script a tenant's page loads with one ``<script>`` tag;
- ``POST /chat/upload?key=<widget key>`` — a visitor's file (multipart field ``file``, with an
  optional ``text`` and ``client_id``), stored as the visitor's message in their chat; header
  ``X-Kefu-Chat-Token`` carries the visitor token;
- ``GET /chat/attachments/{id}?token=<visitor token>`` — a file of the visitor's own chat.

The widget runs on the tenant's site, another origin: these routes use no cookies (so no CSRF
token either) and answer CORS requests from any origin; the visitor token is the credential.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from kefu.channels.webchat import protocol as p
from kefu.platform.api.errors import error_response
from kefu.platform.db import utcnow
from kefu.platform.interactions.models import Attachment, Channel, Interaction, Message
from kefu.platform.messaging.attachments import AttachmentRejected, AttachmentStore
from kefu.platform.messaging.intake import (
    ConversationEnded,
    Inbound,
    InboundAttachment,
    Intake,
)
from kefu.platform.messaging.webchat import (
    ATTACHMENT_PATH,
    ChatStore,
    external_id_for,
    limits,
)

log = logging.getLogger("kefu.webchat")

WIDGET_FILE = Path(__file__).resolve().parents[2] / "channels" / "webchat" / "static" / \
    "widget.js"
#: Browsers re-check the script this often; a deploy reaches visitors within the hour.
WIDGET_MAX_AGE = 300
TOKEN_HEADER = "X-Kefu-Chat-Token"  # noqa: S105 - a header name, not a secret
_CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}


def _error(request: Request, status: int, code: str, message: str) -> Response:
    response = error_response(request, status, code, message)
    response.headers.update(_CORS)
    return response


# ---------------------------------------------------------------------- widget.js
@lru_cache(maxsize=4)
def _widget(mtime_ns: int) -> tuple[bytes, str]:
    body = WIDGET_FILE.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def widget_js(request: Request) -> Response:
    try:
        body, etag = _widget(WIDGET_FILE.stat().st_mtime_ns)
    except FileNotFoundError:
        log.error("the web chat widget script %s is missing", WIDGET_FILE)
        return Response("/* kefu: the chat widget is not installed */\n", status=404,
                        content_type="application/javascript", charset="utf-8")
    headers = {"Cache-Control": f"public, max-age={WIDGET_MAX_AGE}", "ETag": etag,
               "X-Content-Type-Options": "nosniff", **_CORS}
    if etag in (request.headers.get("If-None-Match") or ""):
        response = Response(status=304)
    else:
        response = Response(body=body, content_type="application/javascript", charset="utf-8")
    response.headers.update(headers)  # (headers= would replace Content-Type)
    return response


# ---------------------------------------------------------------------- visitor token
def _visitor(request: Request, token_text: str | None,
             tenant_id: uuid.UUID | None = None) -> p.VisitorToken | Response:
    if not token_text:
        return _error(request, 401, "unauthorized",
                      f"send the visitor token (header {TOKEN_HEADER} or ?token=)")
    try:
        token = p.verify_token(request.platform.settings.secret_key, token_text, utcnow())
    except p.TokenInvalid as exc:
        log.info("chat request with a refused visitor token: %s", exc)
        return _error(request, 401, "bad_token", f"the visitor token is not valid: {exc}")
    if tenant_id is not None and token.tenant_id != tenant_id:
        log.warning("chat upload: a token of tenant %s used with a key of tenant %s",
                    token.tenant_id, tenant_id)
        return _error(request, 403, "bad_token", "this visitor token belongs to another widget")
    return token


# ---------------------------------------------------------------------- upload
def upload_preflight(request: Request) -> Response:
    response = Response(status=204)
    response.headers.update({
        **_CORS, "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": f"{TOKEN_HEADER}, Content-Type",
        "Access-Control-Max-Age": "600"})
    return response


def upload(request: Request) -> Response:  # noqa: PLR0911 - one answer per refusal
    platform = request.platform
    key = request.GET.get("key", "")
    intake = Intake(platform)
    tenant_id = intake.tenant_for(Channel.CHAT, key) if key else None
    if tenant_id is None:
        return _error(request, 404, "unknown_key", f"no web chat has the key {key[:100]!r}")
    token = _visitor(request, request.headers.get(TOKEN_HEADER), tenant_id)
    if isinstance(token, Response):
        return token
    store = ChatStore(platform, tenant_id)
    session = store.find(token.visitor_id, token.session)
    if session is None or not session.open:
        return _error(request, 409, "no_session", "start a chat before sending files")
    if not (request.content_type or "").startswith("multipart/form-data"):
        return _error(request, 415, "unsupported_media_type",
                      "send the file as multipart/form-data in the field 'file'")
    part = request.POST.get("file")
    if part is None or not hasattr(part, "file"):
        return _error(request, 400, "bad_request", "no file: send it in the multipart field "
                      "'file'")
    filename = (Path(str(part.filename or "file").replace("\\", "/")).name or "file")[:255]
    content_type = str(part.type or "application/octet-stream")
    files = AttachmentStore.from_settings(platform.settings)
    limit = int(limits(platform)["max_attachment_bytes"])
    data = part.file.read(limit + 1)
    if len(data) > limit:
        log.info("chat upload of %r refused: over %d bytes", filename, limit)
        return _error(request, 413, "too_large",
                      f"{filename!r} is larger than {limit} bytes, the largest file allowed")
    try:
        files.check(filename, content_type, len(data))
    except AttachmentRejected as exc:
        log.info("chat upload refused: %s", exc)
        return _error(request, 415, "unsupported_type", str(exc))
    text = str(request.POST.get("text") or "")[:p.MAX_TEXT_CHARS].replace("\x00", "")
    client_id = str(request.POST.get("client_id") or "") or f"upload-{uuid.uuid4().hex}"
    if not p.valid_client_id(client_id):
        return _error(request, 400, "bad_request", "client_id: use 1-100 letters, digits and "
                      "'_ . : -'")
    try:
        received = intake.receive(Inbound(
            channel=Channel.CHAT, to_address=key, from_address=token.visitor_id, text=text,
            external_id=external_id_for(session.external_id, client_id),
            thread_id=session.external_id, tenant_id=tenant_id,
            attachments=[InboundAttachment(filename, content_type, data)]))
    except ConversationEnded:
        return _error(request, 409, "ended", "this chat has ended; start a new one")
    if received.rejected_attachments:
        return _error(request, 415, "unsupported_type", received.rejected_attachments[0])
    frame = store.message(received.message_id, received.interaction_id)
    body: dict[str, Any] = {"id": str(received.message_id), "client_id": client_id,
                            "created": received.created}
    if frame is not None:
        origin = f"{request.scheme}://{request.host}"
        body["at"] = frame["at"]
        body["attachments"] = [{**a, "url": f"{origin}{a['url']}?token="
                                f"{quote(request.headers.get(TOKEN_HEADER, ''))}"}
                               for a in frame["attachments"]]
    response = Response(json_body=body, status=201 if received.created else 200,
                        charset="utf-8")
    response.headers.update(_CORS)
    return response


# ---------------------------------------------------------------------- download
def attachment(request: Request) -> Response:
    token = _visitor(request, request.GET.get("token"))
    if isinstance(token, Response):
        return token
    try:
        attachment_id = uuid.UUID(request.matchdict["attachment_id"])
    except ValueError:
        return _error(request, 404, "not_found", "no such attachment")
    platform = request.platform
    # Scoped to the token's tenant: another tenant's attachment does not exist here.
    with platform.session(token.tenant_id) as db:
        row = db.execute(
            sa.select(Attachment, Interaction)
            .join(Message, Message.id == Attachment.message_id)
            .join(Interaction, Interaction.id == Message.interaction_id)
            .where(Attachment.id == attachment_id)).first()
        if row is None:
            return _error(request, 404, "not_found", "no such attachment")
        found, interaction = row
        mine = (interaction.channel == Channel.CHAT
                and interaction.from_address == token.visitor_id
                and (token.session is None or interaction.external_id == token.session))
        if not mine:
            log.warning("chat visitor %s asked for attachment %s of another chat",
                        token.visitor_id, attachment_id)
            return _error(request, 404, "not_found", "no such attachment")
        filename, content_type = found.filename, found.content_type
        ref = found.storage_ref
    try:
        data = AttachmentStore.from_settings(platform.settings).read(ref)
    except (FileNotFoundError, ValueError):
        log.error("attachment %s: stored file %s is missing", attachment_id, ref)
        return _error(request, 410, "gone", "the file of this attachment is missing")
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace('"', "_")
    response = Response(body=data, content_type=content_type.split(";")[0].strip()
                        or "application/octet-stream")
    response.headers.update({
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store", **_CORS})
    return response


def includeme(config: Configurator) -> None:
    config.add_route("chat.widget", "/chat/widget.js")
    config.add_route("chat.upload", "/chat/upload")
    config.add_route("chat.attachment", ATTACHMENT_PATH.replace("{id}", "{attachment_id}"))
    config.add_view(widget_js, route_name="chat.widget", request_method="GET",
                    require_csrf=False)
    # No cookies are involved (the visitor token is a header), so no CSRF check either.
    config.add_view(upload, route_name="chat.upload", request_method="POST",
                    require_csrf=False)
    config.add_view(upload_preflight, route_name="chat.upload", request_method="OPTIONS",
                    require_csrf=False)
    config.add_view(attachment, route_name="chat.attachment", request_method="GET",
                    require_csrf=False)
