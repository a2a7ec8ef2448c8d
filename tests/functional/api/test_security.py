"""Who may call what: anonymous callers get 401, roles without the permission 403, and
browser sessions must send the CSRF token on every state change (bearer tokens need none)."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.platform.identity.models import Role
from kefu.platform.identity.permissions import ROLE_PERMISSIONS
from tests.factories import TokenClient, WebClient
from tests.functional.api.conftest import Actor, World, build_world, error, load_operations
from tests.functional.api.samples import SAMPLE_BODIES, fill, op_id

OPERATIONS = load_operations()
UNSAFE = [op for op in OPERATIONS if op.method != "GET"]


@pytest.fixture
def world(alice: Actor, factory: Any) -> World:
    return build_world(alice, factory)


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_anonymous_callers_get_401(op: Any, world: World, wsgi_app: Any, factory: Any) -> None:
    client = WebClient(wsgi_app)
    path = "/api/v1" + fill(op.path, world.ids)
    body = SAMPLE_BODIES.get((op.method, op.path))
    if op.method == "GET":
        response = client.get(path, status=401)
    else:
        response = getattr(client, f"{op.method.lower()}_json")(path, body or {}, status=401,
                                                                 headers=client.csrf)
    assert error(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_a_wrong_or_revoked_token_is_401(op: Any, world: World, wsgi_app: Any) -> None:
    client = TokenClient(wsgi_app, "kefu_not-a-real-token")
    response = client.api(op.method, fill(op.path, world.ids),
                          SAMPLE_BODIES.get((op.method, op.path)), status=401)
    assert error(response)["code"] == "unauthorized"


ROLE_CASES = [(role, op) for role in Role for op in OPERATIONS
              if op.permission is not None and op.permission not in ROLE_PERMISSIONS[role]]


@pytest.mark.parametrize(("role", "op"), ROLE_CASES,
                         ids=[f"{role}-{op_id(op)}" for role, op in ROLE_CASES])
def test_roles_without_the_permission_get_403(role: Role, op: Any, world: World,
                                              actor: Any, factory: Any) -> None:
    from tests.functional.api.conftest import snapshot

    member = actor(world.owner.tenant, role)
    before = snapshot(factory, world.owner.tenant)
    for client in member.clients():
        response = client.api(op.method, fill(op.path, world.ids),
                              SAMPLE_BODIES.get((op.method, op.path)), status=403)
        assert error(response)["code"] == "forbidden"
    after = snapshot(factory, world.owner.tenant)
    for rows in (before, after):  # the member's own logins and tokens aside
        rows.pop("login_sessions"), rows.pop("api_tokens")
        rows["audit_log"] = [r for r in rows["audit_log"] if r["actor_user_id"] != member.user.id]
    assert after == before


def test_an_agent_cannot_manage_users_but_works_contacts(world: World, actor: Any) -> None:
    agent = actor(world.owner.tenant, Role.AGENT)
    agent.web.api("POST", "/users", SAMPLE_BODIES[("POST", "/users")], status=403)
    agent.web.api("GET", "/users", status=403)
    agent.web.api("DELETE", f"/users/{world.ids['user_id']}", status=403)
    agent.web.api("POST", "/agents", {"display_name": "x"}, status=403)
    agent.web.api("POST", f"/configs/{world.ids['config_id']}/deploy", status=403)
    # What agents do all day is allowed.
    agent.web.api("POST", "/customers", {"name": "Caller"}, status=201)
    agent.web.api("POST", "/tickets", {"type": "enquiry", "subject": "Bill"}, status=201)
    agent.web.api("GET", "/agents", status=200)


@pytest.mark.parametrize("op", UNSAFE, ids=op_id)
def test_session_writes_without_the_csrf_token_are_refused(op: Any, world: World,
                                                           factory: Any, web: Any) -> None:
    from tests.functional.api.conftest import snapshot

    client = world.owner.web
    if str(op.permission).startswith("platform:"):
        # Permission is checked first; only an operator reaches the CSRF check here.
        client = web(factory.user(None, superuser=True))
    before = snapshot(factory, world.owner.tenant)
    path = "/api/v1" + fill(op.path, world.ids)
    body = SAMPLE_BODIES.get((op.method, op.path)) or {}
    send = getattr(client, f"{op.method.lower()}_json")
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        response = send(path, body, headers=headers, status=403)
        assert error(response)["code"] == "csrf_failed"
    assert snapshot(factory, world.owner.tenant) == before


def test_bearer_tokens_need_no_csrf_token(alice: Actor) -> None:
    assert "kefu_csrf" not in alice.bearer.cookies
    alice.bearer.api("POST", "/customers", {"name": "Token client"}, status=201)


def test_a_session_with_the_csrf_token_may_write(alice: Actor) -> None:
    alice.web.api("POST", "/customers", {"name": "Browser"}, status=201)


def test_a_session_cookie_does_not_authorize_a_foreign_bearer(alice: Actor, wsgi_app: Any,
                                                              bob: Actor) -> None:
    """A bearer header wins over the cookie: a wrong token is 401 even with a valid session."""
    response = alice.web.get("/api/v1/customers", status=401,
                             headers={"Authorization": "Bearer kefu_wrong"})
    assert error(response)["code"] == "unauthorized"


def test_a_user_without_a_tenant_cannot_use_tenant_routes(factory: Any, web: Any) -> None:
    loner = factory.user(None)
    client = web(loner)
    response = client.api("GET", "/customers", status=403)
    assert error(response)["code"] in {"forbidden", "no_tenant"}
