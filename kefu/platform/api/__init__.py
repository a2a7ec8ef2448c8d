"""The JSON API under /api/v1. Resource modules declare operations with ``framework.api``;
``includeme`` turns the declarations into routes and views."""

from __future__ import annotations

import importlib

from pydantic import ValidationError
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPException
from pyramid.request import Request
from pyramid.response import Response

# Resource modules, imported for their declarations.
RESOURCES = (
    "tenants", "users", "tokens", "agents", "customers", "interactions", "tickets", "configs",
    "routing",
    "rule_firings",
    "messaging",
    "chat",
    "knowledge",
    "screen_pop",
    "portal",
    "forms",
    "supervisor",
)


def _openapi_view(request: Request) -> Response:
    import json

    from kefu.platform.api.openapi import openapi_document

    return Response(json.dumps(openapi_document(), ensure_ascii=False),
                    content_type="application/json", charset="utf-8")


def _validation_error_view(exc: ValidationError, request: Request) -> Response:
    from kefu.platform.api.errors import error_response
    from kefu.platform.api.framework import validation_fields

    fields = validation_fields(exc)
    return error_response(request, 422, "validation_failed",
                          f"field {fields[0]['field']!r}: {fields[0]['message']}", fields)


def _api_not_found(request: Request) -> Response:
    from pyramid.exceptions import PredicateMismatch

    from kefu.platform.api.errors import error_response, http_exception_view

    if isinstance(request.exception, PredicateMismatch):
        return http_exception_view(request.exception, request)
    return error_response(request, 404, "not_found", f"no API route {request.path}")


def includeme(config: Configurator) -> None:
    from kefu.platform.api import errors
    from kefu.platform.api.framework import register_operations

    for name in RESOURCES:
        try:
            importlib.import_module(f"kefu.platform.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"kefu.platform.api.{name}":
                raise
    config.add_route("api.openapi", "/api/v1/openapi.json")
    config.add_view(_openapi_view, route_name="api.openapi", request_method="GET")
    register_operations(config)
    config.add_exception_view(errors.api_error_view, context=errors.ApiError)
    config.add_exception_view(_validation_error_view, context=ValidationError)
    config.add_exception_view(errors.http_exception_view, context=HTTPException,
                              path_info=r"^/api/")
    config.add_notfound_view(_api_not_found, path_info=r"^/api/")
