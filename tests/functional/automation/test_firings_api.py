"""/api/v1/rule-firings: what the tenant's rules did, filterable, and only the tenant's own."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from kefu.platform.identity.models import Role
from tests.functional.automation.conftest import Tenancy, settle


def _fire(t: Tenancy, number: str) -> dict[str, Any]:
    """An SMS conversation whose inbound message makes the auto-reply rule fire."""
    interaction = t.api.api("POST", "/interactions", {
        "channel": "sms", "direction": "inbound", "from_address": number}, status=201).json
    t.api.api("POST", f"/interactions/{interaction['id']}/messages",
              {"direction": "inbound", "body_text": "你好"}, status=201)
    return interaction  # type: ignore[no-any-return]


def test_firings_are_listed_and_filtered(tenancy: Any, auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    first = _fire(t, "13800000001")
    second = _fire(t, "13800000002")
    settle(auto_platform)
    listing = t.api.api("GET", "/rule-firings").json
    assert listing["total"] == 2
    newest = listing["items"][0]
    assert (newest["rule"], newest["event_kind"], newest["status"]) == (
        "自动回复", "sms.received", "done")
    assert newest["interaction_id"] == second["id"]
    assert newest["chain"] == ["自动回复"]
    assert newest["actions"][0]["kind"] == "reply"
    assert newest["actions"][0]["to"] == "13800000002"
    assert newest["results"][0]["ok"] is True

    def total(**query: str) -> int:
        return t.api.api(  # type: ignore[no-any-return]
            "GET", f"/rule-firings?{urlencode(query)}").json["total"]

    assert total(rule="自动回复") == 2
    assert total(rule="超时督办") == 0
    assert total(event_kind="sms.received") == 2
    assert total(event_kind="call.ended") == 0
    assert total(interaction_id=first["id"]) == 1
    assert total(status="failed") == 0
    assert t.api.api("GET", "/rule-firings?limit=1&offset=1").json["items"][0][
        "interaction_id"] == first["id"]
    # Agents see them (they are records of contacts); designers do not.
    _, agent = t.client(Role.AGENT)
    assert agent.api("GET", "/rule-firings").json["total"] == 2
    _, designer = t.client(Role.DESIGNER)
    designer.api("GET", "/rule-firings", status=403)


def test_one_tenant_cannot_read_anothers_firings(tenancy: Any, auto_platform: Any) -> None:
    a: Tenancy = tenancy()
    b: Tenancy = tenancy()
    _fire(a, "13800000001")
    theirs = _fire(b, "13800000009")
    settle(auto_platform)
    mine = a.api.api("GET", "/rule-firings").json
    assert mine["total"] == 1
    assert theirs["id"] not in str(mine)
    assert a.api.api("GET", f"/rule-firings?interaction_id={theirs['id']}").json == {
        "items": [], "total": 0}
    own = b.api.api("GET", "/rule-firings").json
    assert [f["interaction_id"] for f in own["items"]] == [theirs["id"]]


def test_bad_filters_are_422(tenancy: Any) -> None:
    t: Tenancy = tenancy()
    response = t.api.api("GET", "/rule-firings?interaction_id=nope", status=422)
    assert response.json["error"]["fields"][0]["field"] == "interaction_id"
    t.api.api("GET", "/rule-firings?status=exploded", status=422)
    t.api.api("GET", "/rule-firings?surprise=1", status=422)
