"""JSON errors with a stable ``code``, a plain message and, for bad input, the fields at fault:

    {"error": {"code": "validation_failed", "message": "...",
               "fields": [{"field": "phones.0.number", "message": "..."}]}}

Codes are part of the API contract; clients branch on them, people read the messages.
"""

from __future__ import annotations

import json
from typing import Any

from pyramid.httpexceptions import HTTPException, HTTPForbidden
from pyramid.request import Request
from pyramid.response import Response


class ApiError(Exception):
    """Raised by API handlers and services' callers; rendered as a JSON error (and, being an
    exception, rolls the request's transaction back)."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []


class NotFound(ApiError):
    def __init__(self, what: str = "resource") -> None:
        super().__init__(404, "not_found", f"{what} not found")


class Conflict(ApiError):
    def __init__(self, message: str, field: str | None = None) -> None:
        fields = [{"field": field, "message": message}] if field else None
        super().__init__(409, "conflict", message, fields)


class InvalidField(ApiError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(422, "validation_failed", f"{field}: {message}",
                         [{"field": field, "message": message}])


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return json.dumps({"error": error}, ensure_ascii=False).encode("utf-8")


def error_response(
    request: Request, status: int, code: str, message: str,
    fields: list[dict[str, str]] | None = None,
) -> Response:
    response = Response(
        body=error_body(code, message, fields), status=status,
        content_type="application/json", charset="utf-8",
    )
    request_id = getattr(request, "request_id", None)
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_failed",
}


def api_error_view(exc: ApiError, request: Request) -> Response:
    return error_response(request, exc.status, exc.code, exc.message, exc.fields)


def http_exception_view(exc: HTTPException, request: Request) -> Response:
    from pyramid.exceptions import BadCSRFToken, PredicateMismatch

    if isinstance(exc, BadCSRFToken):
        return error_response(request, 403, "csrf_failed",
                              "missing or wrong CSRF token (send the kefu_csrf cookie's value "
                              "in the X-CSRF-Token header, or use a bearer token)")
    if isinstance(exc, PredicateMismatch):
        return error_response(request, 405, "method_not_allowed",
                              f"{request.method} is not allowed on {request.path}")
    code = _HTTP_CODES.get(exc.code or 500, "error")
    message = exc.detail or exc.explanation or exc.title
    return error_response(request, exc.code or 500, code, str(message))


def forbidden_json(exc: HTTPForbidden, request: Request) -> Response:
    if request.identity is None:
        response = error_response(request, 401, "unauthorized",
                                  "log in or send an API token (Authorization: Bearer ...)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="kefu"'
        return response
    return error_response(request, 403, "forbidden",
                          "your roles in this tenant do not allow this action")
