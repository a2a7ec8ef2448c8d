"""Tweens around every request: a request id, log context, and the body size limit."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from kefu.platform.logs import log_context

log = logging.getLogger("kefu.web")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Routes that take file uploads: their bodies may be as large as an attachment may be.
UPLOAD_PATHS = frozenset({"/chat/upload"})


def request_context_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    settings = registry["kefu.settings"]
    max_body = int(settings["http.max_body_bytes"])
    # Uploads carry a whole attachment plus the multipart framing around it.
    max_upload = max(max_body, int(settings["messaging.max_attachment_bytes"]) + 64 * 1024)

    def tween(request: Request) -> Response:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else secrets.token_hex(8)
        request.request_id = request_id
        with log_context(request_id=request_id):
            limit = max_upload if request.path in UPLOAD_PATHS else max_body
            too_big = _body_too_large(request, limit)
            if too_big is not None:
                return too_big
            response = handler(request)
            response.headers["X-Request-Id"] = request_id
            return response

    return tween


def _body_too_large(request: Request, limit: int) -> Response | None:
    """413 for a body over the limit, read no further than limit + 1 bytes when its length
    is not declared (chunked), so an endless upload cannot exhaust memory."""
    if request.method not in _BODY_METHODS:
        return None
    if request.content_length is not None:
        if request.content_length <= limit:
            return None
    else:
        data = request.body_file_raw.read(limit + 1)
        if len(data) <= limit:
            request.body = data
            return None
    from kefu.platform.api.errors import error_response

    log.info("request body over %d bytes refused", limit)
    return error_response(
        request, 413, "payload_too_large", f"request body is larger than {limit} bytes")


def includeme(config: Configurator) -> None:
    config.add_tween("kefu.platform.web.tweens.request_context_tween_factory")


__all__: list[Any] = ["includeme"]
