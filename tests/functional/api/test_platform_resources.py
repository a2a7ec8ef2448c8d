"""/api/v1 tenants, users, tokens and customers: what their users rely on."""

from __future__ import annotations

import uuid
from typing import Any

from kefu.platform.identity.models import Role
from tests.factories import TokenClient
from tests.functional.api.conftest import Actor, error, error_fields, snapshot

# --- tenants ------------------------------------------------------------------------------


def test_tenants_an_admin_sees_and_changes_only_their_own(alice: Actor, bob: Actor) -> None:
    listing = alice.bearer.api("GET", "/tenants").json
    assert [t["id"] for t in listing["items"]] == [str(alice.tenant.id)]
    assert alice.web.api("GET", f"/tenants/{alice.tenant.id}").json["slug"] == alice.tenant.slug
    changed = alice.web.api("PATCH", f"/tenants/{alice.tenant.id}", {
        "name": "Gas Co", "time_zone": "Asia/Shanghai", "default_locale": "zh"}).json
    assert (changed["name"], changed["time_zone"]) == ("Gas Co", "Asia/Shanghai")
    response = alice.web.api("PATCH", f"/tenants/{alice.tenant.id}", {"time_zone": "Mars/Base"},
                             status=422)
    assert error_fields(response) == ["time_zone"]
    response = alice.web.api("PATCH", f"/tenants/{alice.tenant.id}", {"status": "suspended"},
                             status=403)
    assert error(response)["code"] == "forbidden"
    alice.web.api("POST", "/tenants", {"slug": "mine", "name": "Mine"}, status=403)


def test_operators_create_and_list_every_tenant(alice: Actor, bob: Actor, factory: Any,
                                                wsgi_app: Any) -> None:
    operator = factory.user(None, superuser=True)
    client = TokenClient(wsgi_app, factory.token(operator, alice.tenant))
    created = client.api("POST", "/tenants", {"slug": "gas-co", "name": "Gas Co"},
                         status=201).json
    assert created["status"] == "active"
    slugs = {t["slug"] for t in client.api("GET", "/tenants").json["items"]}
    assert slugs >= {"gas-co", alice.tenant.slug, bob.tenant.slug}
    response = client.api("POST", "/tenants", {"slug": "gas-co", "name": "Again"}, status=409)
    assert error_fields(response) == ["slug"]
    for body, field in [({"slug": "Gas Co!", "name": "x"}, "slug"), ({"name": "x"}, "slug"),
                        ({"slug": "x", "name": "x", "surprise": 1}, "surprise"),
                        ({"slug": 5, "name": "x"}, "slug")]:
        response = client.api("POST", "/tenants", body, status=422)
        assert error_fields(response) == [field], body
    client.api("GET", f"/tenants/{bob.tenant.id}", status=200)


# --- users --------------------------------------------------------------------------------


def test_members_are_added_changed_and_removed(alice: Actor, factory: Any, web: Any) -> None:
    added = alice.web.api("POST", "/users", {
        "email": "Li.Na@Example.com", "display_name": "Li Na", "password": "long enough pw",
        "roles": ["agent", "supervisor"]}, status=201).json
    assert added["email"] == "li.na@example.com"
    assert added["roles"] == ["agent", "supervisor"]
    web().login("li.na@example.com", "long enough pw")  # the password works
    fetched = alice.web.api("GET", f"/users/{added['id']}").json
    assert fetched["last_login_at"] is not None
    assert {**fetched, "last_login_at": None} == added
    listing = alice.web.api("GET", "/users").json
    assert {u["email"] for u in listing["items"]} == {alice.user.email, "li.na@example.com"}
    assert alice.web.api("GET", "/users?limit=1&offset=1").json["total"] == 2
    changed = alice.web.api("PATCH", f"/users/{added['id']}", {
        "roles": ["agent"], "display_name": "Li"}).json
    assert (changed["roles"], changed["display_name"]) == (["agent"], "Li")
    response = alice.web.api("POST", "/users", {"email": "li.na@example.com",
                                                "display_name": "x", "roles": ["agent"]},
                             status=409)
    assert error_fields(response) == ["email"]
    alice.web.api("DELETE", f"/users/{added['id']}", status=204)
    alice.web.api("GET", f"/users/{added['id']}", status=404)
    response = alice.web.api("DELETE", f"/users/{alice.user.id}", status=409)
    assert error(response)["code"] == "conflict"


def test_bad_user_fields_are_named(alice: Actor) -> None:
    for body, field in [
        ({"email": "not-an-email", "display_name": "x", "roles": ["agent"]}, "email"),
        ({"email": "a@example.com", "display_name": "x", "roles": []}, "roles"),
        ({"email": "a@example.com", "display_name": "x", "roles": ["king"]}, "roles.0"),
        ({"email": "a@example.com", "display_name": "x", "roles": ["agent"],
          "password": "short"}, "password"),
        ({"email": "a@example.com", "roles": ["agent"]}, "display_name"),
    ]:
        response = alice.web.api("POST", "/users", body, status=422)
        assert error_fields(response) == [field], body


# --- tokens -------------------------------------------------------------------------------


def test_tokens_are_created_listed_used_and_revoked(alice: Actor, wsgi_app: Any,
                                                    actor: Any) -> None:
    created = alice.web.api("POST", "/tokens", {"name": "crm",
                                                "expires_at": "2099-01-01T00:00:00Z"},
                            status=201).json
    secret = created.pop("token")
    assert secret.startswith(created["prefix"])
    machine = TokenClient(wsgi_app, secret)
    machine.api("POST", "/customers", {"name": "From the CRM"}, status=201)
    listed = {t["id"]: t for t in alice.web.api("GET", "/tokens").json["items"]}
    assert "token" not in listed[created["id"]]
    assert listed[created["id"]]["last_used_at"] is not None
    # Another member's tokens are not yours to see or revoke.
    colleague = actor(alice.tenant, Role.ADMIN)
    assert created["id"] not in colleague.web.api("GET", "/tokens").text
    colleague.web.api("DELETE", f"/tokens/{created['id']}", status=404)
    alice.web.api("DELETE", f"/tokens/{created['id']}", status=204)
    listed = {t["id"]: t for t in alice.web.api("GET", "/tokens").json["items"]}
    assert listed[created["id"]]["revoked_at"] is not None
    response = machine.api("GET", "/customers", status=401)
    assert error(response)["code"] == "unauthorized"


def test_an_expired_token_is_refused(alice: Actor, wsgi_app: Any, factory: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from kefu.platform.identity.models import ApiToken
    from kefu.platform.tenancy.scope import cross_tenant

    created = alice.web.api("POST", "/tokens", {"name": "soon", "expires_at": (
        datetime.now(UTC) + timedelta(hours=1)).isoformat()}, status=201).json
    client = TokenClient(wsgi_app, created["token"])
    client.api("GET", "/customers", status=200)
    with factory.session() as db, cross_tenant(db):  # let the hour pass
        db.get(ApiToken, uuid.UUID(created["id"])).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.commit()
    client.api("GET", "/customers", status=401)


# --- customers ----------------------------------------------------------------------------


def test_customers_are_created_found_changed_and_deleted(alice: Actor, factory: Any) -> None:
    api = alice.bearer.api
    wang = api("POST", "/customers", {
        "name": "Wang Fang", "company": "Gas Co", "account_number": "A-100", "is_vip": True,
        "phones": [{"number": "+86 10 5555-0101", "label": "mobile"}],
        "emails": [{"address": "Wang@Example.com"}]}, status=201).json
    assert wang["phones"] == [{"number": "+861055550101", "label": "mobile"}]
    assert wang["emails"] == [{"address": "wang@example.com", "label": None}]
    li = api("POST", "/customers", {"name": "Li Lei", "is_blacklisted": True,
                                    "blacklist_reason": "abusive"}, status=201).json

    def names(query: str) -> list[str]:
        return [c["name"] for c in api("GET", "/customers?" + query).json["items"]]

    assert names("") == ["Li Lei", "Wang Fang"]
    assert names("phone=%2B861055550101") == ["Wang Fang"]  # screen pop
    assert names("email=WANG@example.com") == ["Wang Fang"]
    assert names("q=gas") == ["Wang Fang"]
    assert names("q=A-1") == ["Wang Fang"]
    assert names("vip=true") == ["Wang Fang"]
    assert names("blacklisted=true") == ["Li Lei"]
    assert names("limit=1&offset=1") == ["Wang Fang"]
    changed = api("PATCH", f"/customers/{wang['id']}", {
        "notes": "prefers mornings", "phones": [{"number": "+861055550101", "label": "home"},
                                                {"number": "010 5555 0202"}]}).json
    assert changed["name"] == "Wang Fang"
    assert changed["is_vip"] is True
    phones = [{"number": "+861055550101", "label": "home"},
              {"number": "01055550202", "label": None}]
    # (The PATCH answer lists phones in the order sent, GET in number order.)
    assert sorted(changed["phones"], key=lambda p: p["number"]) == phones
    assert api("GET", f"/customers/{wang['id']}").json == {**changed, "phones": phones}
    api("DELETE", f"/customers/{li['id']}", status=204)
    api("GET", f"/customers/{li['id']}", status=404)
    assert [e["action"] for e in snapshot(factory, alice.tenant)["audit_log"]
            if e["target_type"] == "customer"] == [
        "customer.create", "customer.create", "customer.update", "customer.delete"]


def test_customer_history_lists_their_interactions(alice: Actor) -> None:
    api = alice.bearer.api
    customer = api("POST", "/customers", {"name": "Wang"}, status=201).json
    ids = [api("POST", "/interactions", {"channel": channel, "direction": "inbound",
                                         "customer_id": customer["id"],
                                         "created_at": f"2024-01-0{n}T00:00:00Z"},
               status=201).json["id"] for n, channel in enumerate(["voice", "sms", "email"], 1)]
    api("POST", "/interactions", {"channel": "voice", "direction": "inbound"}, status=201)
    history = api("GET", f"/customers/{customer['id']}/history").json
    assert [i["id"] for i in history["items"]] == ids[::-1]
    assert history["total"] == 3


def test_bad_customer_fields_are_named(alice: Actor, factory: Any) -> None:
    before = snapshot(factory, alice.tenant)
    for body, field in [({"name": "x", "is_vip": "yes"}, "is_vip"), ({}, "name"),
                        ({"name": ""}, "name"), ({"name": "x", "phones": [{"number": "abc"}]},
                                                 "phones.0.number"),
                        ({"name": "x", "emails": [{"address": "nope"}]}, "emails.0.address"),
                        ({"name": "x", "phones": "+8610"}, "phones"),
                        ({"name": "x", "vip": True}, "vip")]:
        response = alice.bearer.api("POST", "/customers", body, status=422)
        assert error(response)["code"] == "validation_failed"
        assert error_fields(response) == [field], body
        assert field in error(response)["message"]
    assert snapshot(factory, alice.tenant) == before
