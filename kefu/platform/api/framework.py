"""A small declarative layer for the JSON API: each operation names its path, method,
permission and pydantic models; the same declaration registers the Pyramid view, validates
input, renders output and produces the OpenAPI document."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from kefu.platform.api.errors import ApiError
from kefu.platform.identity.permissions import Permission

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Operation:
    path: str  # relative to API_PREFIX, with {placeholders}
    method: str
    handler: Callable[..., Any]
    permission: Permission | None
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    list_response: bool = False
    status: int = 200
    needs_tenant: bool = True
    # An idempotent create answers a repeat with the stored record and 200 (see Existing).
    idempotent: bool = False

    @property
    def route_name(self) -> str:
        return "api." + self.path.strip("/").replace("/", ".").replace("{", "").replace("}", "")

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


OPERATIONS: list[Operation] = []


def api(
    path: str,
    method: str,
    *,
    permission: Permission | None,
    summary: str,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    list_response: bool = False,
    status: int = 200,
    needs_tenant: bool = True,
    idempotent: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API operation. The handler is called as
    ``handler(request, *, body=..., query=..., **path_params)`` and returns a model, a list of
    models (``list_response``) or None (204)."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        OPERATIONS.append(Operation(
            path=path, method=method.upper(), handler=handler, permission=permission,
            summary=summary, tag=tag, body=body, query=query, response=response,
            list_response=list_response, status=status, needs_tenant=needs_tenant,
            idempotent=idempotent,
        ))
        return handler

    return register


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_fields(exc: ValidationError) -> list[dict[str, str]]:
    fields = []
    for error in exc.errors(include_url=False):
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "this field is required"
        fields.append({"field": _field_path(tuple(error["loc"])), "message": message})
    return fields


def _invalid(exc: ValidationError, where: str) -> ApiError:
    fields = validation_fields(exc)
    first = fields[0]
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return ApiError(422, "validation_failed",
                    f"{where} field {first['field']!r}: {first['message']}{more}", fields)


def _find_nul(value: Any, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The path of the first string (value or key) holding U+0000, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = (*path, key) if "\x00" in key else _find_nul(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_nul(item, (*path, index))
            if found is not None:
                return found
    return None


def parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    content_type = request.content_type or ""
    if request.body and content_type not in {"application/json", ""}:
        raise ApiError(415, "unsupported_media_type",
                       f"send the body as application/json, not {content_type}")
    try:
        data = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    nul_at = _find_nul(data, ())
    if nul_at is not None:
        # PostgreSQL cannot store U+0000 in text; refuse it on every backend alike.
        field = _field_path(nul_at)
        raise ApiError(422, "validation_failed", f"body field {field!r}: contains a NUL character",
                       [{"field": field, "message": "contains a NUL character"}])
    try:
        # JSON-mode validation: strict about types (no "12" for 12) yet reads ISO dates and
        # UUID strings the way JSON clients send them.
        return model.model_validate_json(request.body)
    except ValidationError as exc:
        raise _invalid(exc, "body") from None


def parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    raw: dict[str, Any] = {}
    for key in request.GET:
        values = request.GET.getall(key)
        raw[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(exc, "query") from None


def _json_response(payload: Any, status: int) -> Response:
    return Response(
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        status=status, content_type="application/json", charset="utf-8",
    )


@dataclass(frozen=True)
class Existing:
    """Returned by an idempotent create whose request was a repeat: the stored record is
    answered with 200 instead of the operation's 201."""

    value: BaseModel


def _render(result: Any, op: Operation) -> Response:
    if isinstance(result, Response):  # a file download
        return result
    if isinstance(result, Existing):
        return _json_response(result.value.model_dump(mode="json"), 200)
    if result is None:
        return Response(status=204)
    if op.list_response:
        items, total = result
        return _json_response(
            {"items": [item.model_dump(mode="json") for item in items], "total": total},
            op.status)
    if isinstance(result, BaseModel):
        return _json_response(result.model_dump(mode="json"), op.status)
    return _json_response(result, op.status)


def _make_view(op: Operation) -> Callable[[Request], Response]:
    def view(request: Request) -> Response:
        if op.needs_tenant and request.tenant is None:
            raise ApiError(403, "no_tenant", "this request is not acting in any tenant")
        kwargs: dict[str, Any] = {}
        for name, value in request.matchdict.items():
            if name.endswith("_id"):
                try:
                    kwargs[name] = uuid.UUID(value)
                except ValueError:
                    # A malformed id names nothing; answer as for any unknown id.
                    raise ApiError(404, "not_found", f"no such {name[:-3]}") from None
            else:
                kwargs[name] = value
        if op.body is not None:
            kwargs["body"] = parse_body(request, op.body)
        if op.query is not None:
            kwargs["query"] = parse_query(request, op.query)
        return _render(op.handler(request, **kwargs), op)

    view.__name__ = op.operation_id
    return view


def register_operations(config: Configurator) -> None:
    seen_routes: set[str] = set()
    # Fixed paths first: Pyramid takes the first route that matches, so /interactions/outbound
    # must come before /interactions/{interaction_id} (a fixed path matches only itself).
    for op in sorted(OPERATIONS, key=lambda op: op.path.count("{")):
        if op.route_name not in seen_routes:
            config.add_route(op.route_name, API_PREFIX + op.path)
            seen_routes.add(op.route_name)
        config.add_view(
            _make_view(op), route_name=op.route_name, request_method=op.method,
            permission=op.permission,
        )
