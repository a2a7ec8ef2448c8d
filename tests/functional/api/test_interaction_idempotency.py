"""A channel that retries handing over a contact gets the interaction it already made."""

from __future__ import annotations

from typing import Any

from tests.functional.api.conftest import Actor, snapshot


def test_the_same_call_id_twice_is_one_interaction(alice: Actor, factory: Any) -> None:
    body = {"channel": "voice", "direction": "inbound", "external_id": "a84b4c76e66710@pc33"}
    first = alice.bearer.api("POST", "/interactions", body, status=201).json
    before = snapshot(factory, alice.tenant)
    again = alice.bearer.api("POST", "/interactions", body, status=200).json
    assert again == first
    assert snapshot(factory, alice.tenant) == before  # nothing written, not even an audit row
    # The same id on another channel is another contact; so is a call without an id.
    alice.bearer.api("POST", "/interactions", {**body, "channel": "chat"}, status=201)
    no_id = {"channel": "voice", "direction": "inbound"}
    alice.bearer.api("POST", "/interactions", no_id, status=201)
    alice.bearer.api("POST", "/interactions", no_id, status=201)
    assert alice.bearer.api("GET", "/interactions").json["total"] == 4


def test_channel_ids_are_per_tenant(alice: Actor, bob: Actor) -> None:
    body = {"channel": "email", "direction": "inbound", "external_id": "<root@mail.example>"}
    mine = alice.bearer.api("POST", "/interactions", body, status=201).json
    theirs = bob.bearer.api("POST", "/interactions", body, status=201).json
    assert mine["id"] != theirs["id"]
