"""Bad input on the core resources: nulls in PATCH, junk phone numbers, NUL characters,
token expiry, and the order contacts come back in."""

from __future__ import annotations

import pytest

from kefu.platform.identity.models import Role


@pytest.fixture
def agent_client(factory, web):  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    return web(factory.user(tenant, Role.AGENT))


@pytest.mark.parametrize("field", ["name", "is_vip", "is_blacklisted", "notes", "phones"])
def test_patch_refuses_null_for_required_fields(agent_client, field: str) -> None:  # type: ignore[no-untyped-def]
    customer = agent_client.api("POST", "/customers", {"name": "Qian"}, status=201).json
    error = agent_client.api("PATCH", f"/customers/{customer['id']}", {field: None}, status=422)
    assert error.json["error"]["fields"] == [{"field": field,
                                              "message": "Value error, may be left out but not null"}]
    assert agent_client.api("GET", f"/customers/{customer['id']}").json["name"] == "Qian"


@pytest.mark.parametrize("number", ["---", "()", "+1-", "12"])
def test_phone_numbers_need_three_digits(agent_client, number: str) -> None:  # type: ignore[no-untyped-def]
    error = agent_client.api("POST", "/customers", {"name": "x", "phones": [{"number": number}]},
                             status=422).json["error"]
    assert error["fields"][0]["field"] == "phones.0.number"


def test_nul_characters_are_refused_naming_the_field(agent_client) -> None:  # type: ignore[no-untyped-def]
    error = agent_client.api("POST", "/customers",
                             {"name": "ok", "phones": [{"number": "+8610", "label": "a\u0000b"}]},
                             status=422).json["error"]
    assert error["fields"] == [{"field": "phones.0.label", "message": "contains a NUL character"}]
    assert agent_client.api("GET", "/customers").json["total"] == 0


def test_contacts_come_back_sorted_the_same_way_after_patch(agent_client) -> None:  # type: ignore[no-untyped-def]
    customer = agent_client.api("POST", "/customers", {"name": "Sun"}, status=201).json
    patched = agent_client.api("PATCH", f"/customers/{customer['id']}", {"phones": [
        {"number": "+8613900000002"}, {"number": "+8613900000001"}]}).json
    fetched = agent_client.api("GET", f"/customers/{customer['id']}").json
    assert [p["number"] for p in patched["phones"]] == ["+8613900000001", "+8613900000002"]
    assert patched["phones"] == fetched["phones"]


@pytest.mark.parametrize(("expires_at", "message"), [
    ("2030-01-01T00:00:00", "timezone"),
    ("2001-01-01T00:00:00Z", "must be in the future"),
])
def test_token_expiry_must_be_aware_and_in_the_future(agent_client, expires_at: str, message: str) -> None:  # type: ignore[no-untyped-def]
    error = agent_client.api("POST", "/tokens", {"name": "ci", "expires_at": expires_at},
                             status=422).json["error"]
    assert error["fields"][0]["field"] == "expires_at"
    assert message in error["fields"][0]["message"]
    assert agent_client.api("GET", "/tokens").json["total"] == 0
