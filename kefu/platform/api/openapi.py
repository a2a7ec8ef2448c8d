"""The OpenAPI 3.1 document, generated from the operation declarations and pydantic models."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from kefu.platform.api.framework import API_PREFIX, OPERATIONS, Operation

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "stable machine-readable code"},
            "message": {"type": "string"},
            "fields": {"type": "array", "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            }},
        },
    }},
}


def _models() -> list[tuple[type[BaseModel], Literal["validation", "serialization"]]]:
    pairs: dict[tuple[type[BaseModel], Literal["validation", "serialization"]], None] = {}
    for op in OPERATIONS:
        if op.body is not None:
            pairs[(op.body, "validation")] = None
        if op.response is not None:
            pairs[(op.response, "serialization")] = None
        if op.query is not None:  # for the enums its parameters refer to
            pairs[(op.query, "validation")] = None
    return list(pairs)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "format": "uuid"} if name.endswith("_id")
         else {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.query is not None:
        for name, info in op.query.model_fields.items():
            schema = op.query.model_json_schema(
                ref_template="#/components/schemas/{model}")["properties"][name]
            params.append({"name": info.alias or name, "in": "query",
                           "required": info.is_required(), "schema": schema,
                           "description": info.description or ""})
    return params


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.response is not None:
        schema: dict[str, Any] = _ref(op.response)
        if op.list_response:
            schema = {"type": "object", "required": ["items", "total"], "properties": {
                "items": {"type": "array", "items": _ref(op.response)},
                "total": {"type": "integer"}}}
        responses[str(op.status)] = {"description": "OK",
                                     "content": {"application/json": {"schema": schema}}}
    else:
        responses["204"] = {"description": "done, nothing to return"}
    if op.idempotent and op.response is not None:
        responses["200"] = {"description": "a repeat of an earlier request: the stored record",
                            "content": {"application/json": {"schema": _ref(op.response)}}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for code, text in ((400, "malformed request"), (401, "not authenticated"),
                       (403, "not allowed"), (404, "not found (or another tenant's)"),
                       (422, "invalid field")):
        responses[str(code)] = {"description": text, **error}
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": responses,
    }
    if op.permission is not None:
        spec["x-kefu-permission"] = str(op.permission)
    if op.body is not None:
        spec["requestBody"] = {"required": True,
                               "content": {"application/json": {"schema": _ref(op.body)}}}
    return spec


def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(_models(), ref_template="#/components/schemas/{model}")
    components = dict(schemas.get("$defs", {}))
    components["Error"] = _ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "kefu API", "version": "1",
                 "description": "Tenant-scoped JSON API of kefu. Authenticate with a bearer "
                                "token (`kefu token add`) or a browser session plus the "
                                "X-CSRF-Token header."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "kefu_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
