"""/api/v1/interactions and their messages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.functional.api.conftest import Actor, error, error_fields, snapshot


def _create(actor: Actor, **fields: Any) -> dict[str, Any]:
    body = {"channel": "voice", "direction": "inbound", **fields}
    return actor.bearer.api("POST", "/interactions", body, status=201).json  # type: ignore[no-any-return]


def test_record_and_read_an_interaction(alice: Actor) -> None:
    customer = alice.bearer.api("POST", "/customers", {"name": "Wang"}, status=201).json
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li"}, status=201).json
    created = _create(alice, channel="email", customer_id=customer["id"], agent_id=agent["id"],
                      queue="billing", from_address="wang@example.com", subject="Bill",
                      external_id="<abc@mail>", state="ended", outcome="handled",
                      created_at="2024-05-01T08:00:00+08:00",
                      ended_at="2024-05-01T00:10:00Z", data={"ivr_path": ["1", "3"]})
    assert created["state"] == "ended"
    assert created["created_at"] == "2024-05-01T00:00:00Z"
    assert created["config_version_id"] is None  # nothing deployed yet
    assert alice.web.api("GET", f"/interactions/{created['id']}").json == created
    history = alice.web.api("GET", f"/customers/{customer['id']}/history").json
    assert [i["id"] for i in history["items"]] == [created["id"]]


def test_new_interactions_run_on_the_deployed_config(alice: Actor) -> None:
    from tests.functional.api.test_configs import FILES

    version = alice.bearer.api("POST", "/configs", {"files": FILES}, status=201).json
    alice.bearer.api("POST", f"/configs/{version['id']}/deploy")
    assert _create(alice)["config_version_id"] == version["id"]


def test_list_filters(alice: Actor) -> None:
    customer = alice.bearer.api("POST", "/customers", {"name": "Wang"}, status=201).json
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li"}, status=201).json
    early = _create(alice, channel="sms", created_at="2024-01-01T00:00:00Z", queue="q1")
    mid = _create(alice, channel="voice", created_at="2024-02-01T00:00:00Z",
                  customer_id=customer["id"], state="queued")
    late = _create(alice, channel="chat", direction="outbound",
                   created_at="2024-03-01T00:00:00Z", agent_id=agent["id"])

    def ids(query: str) -> list[str]:
        response = alice.bearer.api("GET", "/interactions?" + query).json
        if "limit" not in query:
            assert response["total"] == len(response["items"])
        return [i["id"] for i in response["items"]]

    assert ids("") == [late["id"], mid["id"], early["id"]]  # newest first
    assert ids("channel=sms") == [early["id"]]
    assert ids("state=queued") == [mid["id"]]
    assert ids("direction=outbound") == [late["id"]]
    assert ids(f"customer_id={customer['id']}") == [mid["id"]]
    assert ids(f"agent_id={agent['id']}") == [late["id"]]
    assert ids("queue=q1") == [early["id"]]
    after = quote("2024-02-01T00:00:00+00:00")
    assert ids(f"created_after={after}") == [late["id"], mid["id"]]
    assert ids(f"created_before={after}") == [early["id"]]
    assert ids("limit=1&offset=1") == [mid["id"]]
    assert alice.bearer.api("GET", "/interactions?limit=1").json["total"] == 3
    for query, field in [("channel=pigeon", "channel"), ("created_after=2024-01-01", None),
                         ("created_after=2024-01-01T00:00:00", "created_after"),
                         ("customer_id=42", "customer_id")]:
        response = alice.bearer.api("GET", "/interactions?" + query, status=422)
        assert error_fields(response) == [field or "created_after"]


def test_patch_changes_only_what_is_sent(alice: Actor, factory: Any) -> None:
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li"}, status=201).json
    interaction = _create(alice, subject="Call", data={"a": 1})
    changed = alice.bearer.api("PATCH", f"/interactions/{interaction['id']}", {
        "disposition": "billing-question", "agent_id": agent["id"], "data": {"b": 2}}).json
    assert changed["subject"] == "Call"
    assert changed["disposition"] == "billing-question"
    assert changed["agent_id"] == agent["id"]
    assert changed["data"] == {"b": 2}
    cleared = alice.bearer.api("PATCH", f"/interactions/{interaction['id']}",
                               {"agent_id": None, "disposition": None}).json
    assert cleared["agent_id"] is None
    assert cleared["disposition"] is None
    assert cleared["data"] == {"b": 2}
    # State, outcome and timestamps move only through lifecycle events.
    for body, field in [({"state": "ended"}, "state"), ({"data": None}, "data"),
                        ({"outcome": "handled"}, "outcome"),
                        ({"ended_at": "yesterday"}, "ended_at"),
                        ({"ended_at": "2024-01-01T00:00:00"}, "ended_at"),
                        ({"channel": "sms"}, "channel")]:
        before = snapshot(factory, alice.tenant)
        response = alice.bearer.api("PATCH", f"/interactions/{interaction['id']}", body,
                                    status=422)
        assert error_fields(response) == [field], body
        assert snapshot(factory, alice.tenant) == before


def test_create_needs_channel_and_direction(alice: Actor) -> None:
    response = alice.bearer.api("POST", "/interactions", {}, status=422)
    assert sorted(error_fields(response)) == ["channel", "direction"]
    response = alice.bearer.api("POST", "/interactions", {
        "channel": "pigeon", "direction": "inbound"}, status=422)
    assert error_fields(response) == ["channel"]


def test_messages_are_stored_with_the_interactions_channel_and_customer(alice: Actor) -> None:
    customer = alice.bearer.api("POST", "/customers", {"name": "Wang"}, status=201).json
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li"}, status=201).json
    interaction = _create(alice, channel="sms", customer_id=customer["id"])
    path = f"/interactions/{interaction['id']}/messages"
    inbound = alice.bearer.api("POST", path, {
        "direction": "inbound", "sender": "+8613800000000", "body_text": "hello",
        "external_id": "smsc-1"}, status=201).json
    outbound = alice.web.api("POST", path, {
        "direction": "outbound", "recipients": ["+8613800000000"], "body_text": "hi there",
        "author_agent_id": agent["id"], "headers": {"x-gateway": "kannel"}}, status=201).json
    assert inbound["channel"] == "sms"
    assert inbound["customer_id"] == customer["id"]
    assert inbound["status"] == "received"
    assert outbound["status"] == "queued"
    assert outbound["author_agent_id"] == agent["id"]
    listing = alice.web.api("GET", path).json
    assert [m["id"] for m in listing["items"]] == [inbound["id"], outbound["id"]]
    assert listing["total"] == 2
    assert alice.web.api("GET", path + "?limit=1&offset=1").json["items"] == [outbound]


def test_posting_a_message_is_idempotent_on_its_external_id(alice: Actor,
                                                            factory: Any) -> None:
    first = _create(alice, channel="email")
    other = _create(alice, channel="email")
    body = {"direction": "inbound", "body_text": "hello", "external_id": "<m1@mail>"}
    stored = alice.bearer.api("POST", f"/interactions/{first['id']}/messages", body,
                              status=201).json
    before = snapshot(factory, alice.tenant)
    # A redelivery (SMTP retry) returns the stored message and writes nothing.
    again = alice.bearer.api("POST", f"/interactions/{first['id']}/messages",
                             {**body, "body_text": "changed"}, status=200).json
    assert again == stored
    assert snapshot(factory, alice.tenant)["messages"] == before["messages"]
    # The same id on another interaction of the channel is a conflict.
    response = alice.bearer.api("POST", f"/interactions/{other['id']}/messages", body,
                                status=409)
    assert error_fields(response) == ["external_id"]
    assert snapshot(factory, alice.tenant) == before
    # Another channel has its own ids.
    sms = _create(alice, channel="sms")
    alice.bearer.api("POST", f"/interactions/{sms['id']}/messages", body, status=201)


def test_messages_of_an_unknown_interaction_are_404(alice: Actor) -> None:
    missing = "01900000-0000-7000-8000-000000000000"
    alice.bearer.api("GET", f"/interactions/{missing}/messages", status=404)
    response = alice.bearer.api("POST", f"/interactions/{missing}/messages",
                                {"direction": "inbound"}, status=404)
    assert error(response)["message"] == "interaction not found"
