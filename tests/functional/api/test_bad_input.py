"""Bad input on every operation that reads a body or a query: malformed JSON, wrong types,
unknown and missing fields, oversized bodies. Each answer is a 4xx JSON error that names the
field, and nothing is written."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from tests.functional.api.conftest import (
    Actor,
    World,
    build_world,
    error,
    error_fields,
    load_operations,
    snapshot,
)
from tests.functional.api.samples import SAMPLE_BODIES, fill, op_id

OPERATIONS = load_operations()
WITH_BODY = [op for op in OPERATIONS if op.body is not None]
# Creating tenants is for platform operators; its bad input is tested in test_tenants.
TENANT_BODY_OPS = [op for op in WITH_BODY if not str(op.permission).startswith("platform:")]
WITH_QUERY = [op for op in OPERATIONS if op.query is not None]


@pytest.fixture
def world(alice: Actor, factory: Any) -> World:
    return build_world(alice, factory)


def _send(world: World, op: Any, raw: bytes, *, status: int,
          content_type: str = "application/json") -> Any:
    """Send raw bytes as the body, as a superuser-free tenant admin with a bearer token."""
    client = world.owner.bearer
    url = "/api/v1" + fill(op.path, world.ids)
    return client.request(url, method=op.method, body=raw, status=status,
                          headers={"Authorization": f"Bearer {client.token}",
                                   "Content-Type": content_type})


def _path_of(op: Any) -> str:
    return op.path.replace("{", "").replace("}", "")


def _allowed_status(op: Any) -> int:
    """Tenant admins may not create tenants: the permission check answers before the body is
    read, so that operation is tested with its own status."""
    return 403 if str(op.permission).startswith("platform:") else 0


@pytest.mark.parametrize("op", WITH_BODY, ids=op_id)
@pytest.mark.parametrize(("raw", "why"), [
    (b'{"name": ', "truncated"),
    (b"{'name': 'x'}", "single quotes"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "an array"),
    (b'"text"', "a string"),
    (b"", "empty"),
])
def test_a_body_that_is_not_a_json_object_is_400(op: Any, raw: bytes, why: str, world: World,
                                                 factory: Any) -> None:
    before = snapshot(factory, world.owner.tenant)
    forbidden = _allowed_status(op)
    response = _send(world, op, raw, status=forbidden or 400)
    if not forbidden:
        assert error(response)["code"] == "invalid_json", why
    assert snapshot(factory, world.owner.tenant) == before


@pytest.mark.parametrize("op", TENANT_BODY_OPS, ids=op_id)
def test_unknown_fields_are_422_naming_them(op: Any, world: World, factory: Any) -> None:
    before = snapshot(factory, world.owner.tenant)
    body = {**SAMPLE_BODIES[(op.method, op.path)], "surprise": 1}
    response = _send(world, op, json.dumps(body).encode(), status=422)
    assert error(response)["code"] == "validation_failed"
    assert error_fields(response) == ["surprise"]
    assert "unknown field" in error(response)["message"]
    assert snapshot(factory, world.owner.tenant) == before


def _wrong_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int):
        return "5"
    if isinstance(value, str):
        return 12345
    return "text"  # lists and objects


@pytest.mark.parametrize("op", TENANT_BODY_OPS, ids=op_id)
def test_wrong_types_are_422_naming_the_field(op: Any, world: World, factory: Any) -> None:
    before = snapshot(factory, world.owner.tenant)
    sample = SAMPLE_BODIES[(op.method, op.path)]
    for name, value in sample.items():
        body = {**sample, name: _wrong_value(value)}
        response = _send(world, op, json.dumps(body).encode(), status=422)
        assert error_fields(response)[0].split(".")[0] == name, (name, response.text)
        assert name in error(response)["message"]
    assert snapshot(factory, world.owner.tenant) == before


#: Bodies that must name exactly one of several optional fields, and what the 422 says.
ONE_OF_BODIES = {("POST", "/interactions/{interaction_id}/transfer"): "name exactly one target"}


@pytest.mark.parametrize("op", TENANT_BODY_OPS, ids=op_id)
def test_missing_required_fields_are_422_naming_each(op: Any, world: World,
                                                    factory: Any) -> None:
    required = sorted(n for n, f in op.body.model_fields.items() if f.is_required())
    if (op.method, op.path) in ONE_OF_BODIES:  # no field is required, but one of them is
        response = _send(world, op, b"{}", status=422)
        assert ONE_OF_BODIES[(op.method, op.path)] in error(response)["message"]
        return
    response = _send(world, op, b"{}", status=422 if required else "20*")  # type: ignore[arg-type]
    if required:
        assert sorted(error_fields(response)) == required
        assert all(f["message"] == "this field is required"
                   for f in error(response)["fields"])
    else:
        assert response.status_int in {200, 201}


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.method != "GET"], ids=op_id)
def test_bodies_over_the_limit_are_413(op: Any, world: World, factory: Any) -> None:
    limit = factory.platform.settings["http.max_body_bytes"]
    before = snapshot(factory, world.owner.tenant)
    raw = json.dumps({"name": "x" * limit}).encode()
    response = _send(world, op, raw, status=413)
    assert error(response)["code"] == "payload_too_large"
    assert snapshot(factory, world.owner.tenant) == before


def test_a_body_just_under_the_limit_is_read(world: World, factory: Any) -> None:
    limit = factory.platform.settings["http.max_body_bytes"]
    op = next(o for o in WITH_BODY if (o.method, o.path) == ("POST", "/customers"))
    raw = json.dumps({"name": "x", "notes": ""}).encode()
    padding = limit - len(raw)
    raw = raw[:-1] + b" " * padding + b"}"
    assert len(raw) == limit
    _send(world, op, raw, status=201)


def test_chunked_bodies_over_the_limit_are_413(world: World, factory: Any) -> None:
    """No Content-Length: the body is read up to the limit and refused."""
    limit = factory.platform.settings["http.max_body_bytes"]
    client = world.owner.bearer
    request = client.RequestClass.blank(
        "/api/v1/customers", method="POST",
        headers={"Authorization": f"Bearer {client.token}", "Content-Type": "application/json",
                 "Transfer-Encoding": "chunked"})
    raw = json.dumps({"name": "x" * limit}).encode()
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input"] = io.BytesIO(raw)
    request.environ["wsgi.input_terminated"] = True
    response = client.do_request(request, status=413)
    assert error(response)["code"] == "payload_too_large"
    # The same way, a body under the limit is read and used.
    request = client.RequestClass.blank(
        "/api/v1/customers", method="POST",
        headers={"Authorization": f"Bearer {client.token}", "Content-Type": "application/json",
                 "Transfer-Encoding": "chunked"})
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input"] = io.BytesIO(b'{"name": "Chunked"}')
    request.environ["wsgi.input_terminated"] = True
    assert client.do_request(request, status=201).json["name"] == "Chunked"


@pytest.mark.parametrize("op", WITH_BODY, ids=op_id)
def test_a_body_that_is_not_json_is_415(op: Any, world: World) -> None:
    forbidden = _allowed_status(op)
    response = _send(world, op, b"name=x", status=forbidden or 415,
                     content_type="application/x-www-form-urlencoded")
    if not forbidden:
        assert error(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("op", WITH_QUERY, ids=op_id)
@pytest.mark.parametrize(("query", "field"), [
    ("surprise=1", "surprise"), ("limit=0", "limit"), ("limit=501", "limit"),
    ("limit=ten", "limit"), ("offset=-1", "offset"),
])
def test_bad_query_parameters_are_422_naming_them(op: Any, query: str, field: str,
                                                   world: World) -> None:
    path = fill(op.path, world.ids) + "?" + query
    response = world.owner.bearer.api("GET", path, status=422)
    assert error_fields(response) == [field]
    assert f"query field {field!r}" in error(response)["message"]


@pytest.mark.parametrize("op", [op for op in OPERATIONS if re.search(r"{\w+_id}", op.path)],
                         ids=op_id)
def test_a_malformed_id_is_404(op: Any, world: World) -> None:
    path = re.sub(r"{\w+_id}", "not-a-uuid", op.path)
    response = world.owner.bearer.api(op.method, path, SAMPLE_BODIES.get(
        (op.method, op.path)), status=404)
    assert error(response)["code"] == "not_found"


def test_unknown_routes_and_methods_answer_json(world: World) -> None:
    response = world.owner.bearer.api("GET", "/nothing-here", status=404)
    assert error(response)["code"] == "not_found"
    response = world.owner.bearer.api("PUT", "/customers", {"name": "x"}, status=405)
    assert error(response)["code"] == "method_not_allowed"


def test_a_chat_upload_may_be_as_large_as_an_attachment_but_no_larger(
        world: World, factory: Any) -> None:
    """Uploads hold a whole file: their limit is the attachment limit (plus framing), not the
    JSON API's; past it they are refused before anything is read into memory."""
    settings = factory.platform.settings
    api_limit = settings["http.max_body_bytes"]
    file_limit = settings["messaging.max_attachment_bytes"]
    assert file_limit > api_limit  # the defaults this test is about
    client = world.owner.bearer
    over_api = b"x" * (api_limit + 1)
    # Past the tween (no 413), the upload view refuses the missing chat token instead.
    refused = client.post("/chat/upload?key=nobody", over_api,
                          headers={"Content-Type": "application/octet-stream"}, status="*")
    assert refused.status_int != 413
    too_big = b"x" * (file_limit + 64 * 1024 + 1)
    response = client.post("/chat/upload?key=nobody", too_big,
                           headers={"Content-Type": "application/octet-stream"}, status=413)
    assert error(response)["code"] == "payload_too_large"
