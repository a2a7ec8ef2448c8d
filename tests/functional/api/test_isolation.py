"""Tenant isolation through every API route: tenant A's users (browser session and bearer
token) can neither read, list, change nor delete tenant B's records. A record of another
tenant does not exist for them: 404, never 403, and B's data is unchanged afterwards.

The main test walks every registered operation, so a new route is covered (or fails the
completeness check) without anyone remembering to add it here."""

from __future__ import annotations

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
#: Creating operations only an agent may call (outbound messages are held by their agent).
AGENT_ONLY = {("POST", "/interactions/outbound")}


def _params(op: Any) -> list[str]:
    return re.findall(r"{(\w+)}", op.path)


def test_every_operation_is_known_to_the_generic_tests(bob_world: World) -> None:
    for op in OPERATIONS:
        if op.body is not None:
            assert (op.method, op.path) in SAMPLE_BODIES, f"no sample body for {op_id(op)}"
        for name in _params(op):
            assert name in bob_world.ids, f"no record id for {{{name}}} in {op_id(op)}"
    declared = {(op.method, op.path) for op in OPERATIONS}
    assert set(SAMPLE_BODIES) <= declared, "samples for operations that do not exist"


def _call(client: Any, op: Any, path: str, status: Any) -> Any:
    body = SAMPLE_BODIES.get((op.method, op.path))
    return client.api(op.method, path, body, status=status)


@pytest.mark.parametrize("via", ["session", "token"])
@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_tenant_a_cannot_reach_tenant_b(op: Any, via: str, alice: Actor, bob_world: World,
                                        factory: Any) -> None:
    client = alice.web if via == "session" else alice.bearer
    before = snapshot(factory, bob_world.owner.tenant)
    if _params(op):
        response = _call(client, op, fill(op.path, bob_world.ids), status=404)
        assert error(response)["code"] == "not_found"
    elif op.method == "GET" or op.status == 200:
        # Reads, and POSTs that compute without creating (config plan).
        response = _call(client, op, op.path, status=200)
        leaked = [name for name, value in bob_world.ids.items() if value in response.text]
        assert not leaked, f"tenant B's {leaked} listed to tenant A"
    elif (op.method, op.path) in AGENT_ONLY:
        # Only an agent of the tenant starts these; A's admin is none, and B is untouched.
        response = _call(client, op, op.path, status=403)
        assert error(response)["code"] == "forbidden"
    elif str(op.permission).startswith("platform:"):
        # Platform operations (creating tenants) are not for tenant admins at all.
        response = _call(client, op, op.path, status=403)
        assert error(response)["code"] == "forbidden"
    else:
        created = _call(client, op, op.path, status=201).json
        # What A created is A's: B cannot see it either.
        assert created["id"] not in snapshot(factory, bob_world.owner.tenant).__repr__()
    assert snapshot(factory, bob_world.owner.tenant) == before


@pytest.fixture
def alice_world(alice: Actor, factory: Any) -> World:
    return build_world(alice, factory)


# (method, path with A's ids, body with {B's ids}, field named in the 422)
CROSS_REFERENCES = [
    ("POST", "/interactions", {"channel": "voice", "direction": "inbound",
                               "customer_id": "{customer_id}"}, "customer_id"),
    ("POST", "/interactions", {"channel": "voice", "direction": "inbound",
                               "agent_id": "{agent_id}"}, "agent_id"),
    ("PATCH", "/interactions/{interaction_id}", {"customer_id": "{customer_id}"}, "customer_id"),
    ("PATCH", "/interactions/{interaction_id}", {"agent_id": "{agent_id}"}, "agent_id"),
    ("POST", "/interactions/{interaction_id}/messages",
     {"direction": "outbound", "author_agent_id": "{agent_id}"}, "author_agent_id"),
    ("POST", "/tickets", {"type": "repair", "subject": "x", "customer_id": "{customer_id}"},
     "customer_id"),
    ("POST", "/tickets", {"type": "repair", "subject": "x",
                          "interaction_id": "{interaction_id}"}, "interaction_id"),
    ("POST", "/tickets", {"type": "repair", "subject": "x",
                          "assignee_agent_id": "{agent_id}"}, "assignee_agent_id"),
    ("PATCH", "/tickets/{ticket_id}", {"assignee_agent_id": "{agent_id}"}, "assignee_agent_id"),
    ("PATCH", "/tickets/{ticket_id}", {"customer_id": "{customer_id}"}, "customer_id"),
    ("POST", "/agents", {"display_name": "x", "user_id": "{user_id}"}, "user_id"),
    ("PATCH", "/agents/{agent_id}", {"user_id": "{user_id}"}, "user_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), CROSS_REFERENCES,
                         ids=[f"{m} {p} {f}" for m, p, _b, f in CROSS_REFERENCES])
def test_references_to_another_tenants_records_are_invalid(
        method: str, path: str, body: dict[str, str], field: str, alice_world: World,
        bob_world: World, factory: Any) -> None:
    alice = alice_world.owner
    before_a = snapshot(factory, alice.tenant)
    before_b = snapshot(factory, bob_world.owner.tenant)
    payload = {k: v.format(**bob_world.ids) for k, v in body.items()}
    response = alice.bearer.api(method, fill(path, alice_world.ids), payload, status=422)
    assert error_fields(response) == [field]
    assert snapshot(factory, alice.tenant) == before_a
    assert snapshot(factory, bob_world.owner.tenant) == before_b


@pytest.mark.parametrize(("path", "param"), [
    ("/interactions?customer_id={customer_id}", "customer_id"),
    ("/interactions?agent_id={agent_id}", "agent_id"),
    ("/tickets?customer_id={customer_id}", "customer_id"),
    ("/tickets?assignee_agent_id={agent_id}", "agent_id"),
    ("/agents?user_id={user_id}", "user_id"),
    ("/customers?phone=%2B86105555 0101", "customer_id"),
    ("/customers?email=wang@example.com", "customer_id"),
    ("/interactions?external_id=sms-1", "interaction_id"),
])
def test_filters_by_another_tenants_values_find_nothing(path: str, param: str, alice: Actor,
                                                        bob_world: World) -> None:
    response = alice.bearer.api("GET", path.format(**bob_world.ids), status=200)
    assert response.json == {"items": [], "total": 0}
    # The same filter finds B's record for B, so the filter itself works.
    own = bob_world.owner.bearer.api("GET", path.format(**bob_world.ids), status=200).json
    assert own["total"] == 1


def test_a_token_acts_only_in_its_own_tenant(alice: Actor, bob: Actor, factory: Any) -> None:
    """A user who belongs to both tenants: each token sees its own tenant's records only."""
    from kefu.platform.identity.models import Role, User
    from kefu.platform.identity.services import IdentityService
    from tests.factories import TokenClient

    both = factory.user(alice.tenant, Role.ADMIN)
    with factory.platform.session() as db:
        IdentityService(db).grant(db.get(User, both.id), bob.tenant.id, Role.ADMIN)
        db.commit()
    in_a = TokenClient(alice.web.app, factory.token(both, alice.tenant))
    in_b = TokenClient(alice.web.app, factory.token(both, bob.tenant))
    customer = in_b.api("POST", "/customers", {"name": "Only in B"}, status=201).json
    in_a.api("GET", f"/customers/{customer['id']}", status=404)
    assert in_a.api("GET", "/customers").json["total"] == 0
    assert in_b.api("GET", "/customers").json["total"] == 1
