"""The OpenAPI document lists every route with its method, parameters, permission and models."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.functional.api.conftest import load_operations

OPERATIONS = load_operations()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_the_document_lists_every_operation(web: Any) -> None:
    response = web().get("/api/v1/openapi.json", status=200)
    assert response.content_type == "application/json"
    document = json.loads(response.text)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    listed = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    declared = {(op.method, "/api/v1" + op.path) for op in OPERATIONS}
    assert listed == declared
    for op in OPERATIONS:
        spec = paths["/api/v1" + op.path][op.method.lower()]
        assert spec["operationId"] == op.operation_id
        assert spec["x-kefu-permission"] == str(op.permission)
        in_path = {p["name"] for p in spec["parameters"] if p["in"] == "path"}
        assert in_path == set(re.findall(r"{(\w+)}", op.path))
        if op.body is not None:
            schema = spec["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{op.body.__name__}"}
        if op.query is not None:
            in_query = {p["name"] for p in spec["parameters"] if p["in"] == "query"}
            assert {"limit", "offset"} <= in_query
            assert in_query == set(op.query.model_fields)
        assert str(op.status if op.response is not None else 204) in spec["responses"]
    # Operation ids are unique (clients generate method names from them).
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids))


def test_every_model_is_a_component_and_every_ref_resolves(web: Any) -> None:
    document = web().get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    for op in OPERATIONS:
        for model in (op.body, op.response):
            if model is not None:
                assert model.__name__ in schemas
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    agent = schemas["AgentCreate"]
    assert "display_name" in agent["required"]
    assert agent["additionalProperties"] is False
