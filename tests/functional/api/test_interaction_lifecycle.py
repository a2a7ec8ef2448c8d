"""/api/v1/interactions/{id}/events: the lifecycle through the API, persisted and published."""

from __future__ import annotations

import asyncio
from typing import Any

from kefu.platform.identity.models import Role
from tests.functional.api.conftest import Actor, error


def _new(actor: Actor) -> dict[str, Any]:
    return actor.bearer.api("POST", "/interactions", {  # type: ignore[no-any-return]
        "channel": "voice", "direction": "inbound", "from_address": "+8613800138000"},
        status=201).json


def test_a_call_goes_through_its_lifecycle(alice: Actor, factory: Any) -> None:
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li", "extension": "8001"},
                             status=201).json
    call = _new(alice)
    path = f"/interactions/{call['id']}/events"
    for body in ({"trigger": "enter_flow", "flow": "main"},
                 {"trigger": "enqueue", "queue": "billing"},
                 {"trigger": "offer", "agent_id": agent["id"]},
                 {"trigger": "requeue", "reason": "rona"},
                 {"trigger": "offer", "agent_id": agent["id"]},
                 {"trigger": "answer"},
                 {"trigger": "wrap_up"}):
        alice.bearer.api("POST", path, body, status=200)
    ended = alice.bearer.api("POST", path, {"trigger": "end", "outcome": "handled"}).json
    assert ended["state"] == "ended"
    assert ended["outcome"] == "handled"
    assert ended["queue"] == "billing"
    assert ended["flow"] == "main"
    assert ended["agent_id"] == agent["id"]
    assert ended["queued_at"] <= ended["offered_at"] <= ended["answered_at"] <= ended["ended_at"]
    history = alice.bearer.api("GET", path).json
    assert [e["trigger"] for e in history["items"]] == [
        "enter_flow", "enqueue", "offer", "requeue", "offer", "answer", "wrap_up", "end"]
    assert history["items"][3]["data"] == {"reason": "rona"}
    assert history["items"][3]["from_state"] == "offered"


def test_wrong_triggers_are_409_and_change_nothing(alice: Actor) -> None:
    call = _new(alice)
    path = f"/interactions/{call['id']}/events"
    response = alice.bearer.api("POST", path, {"trigger": "answer"}, status=409)
    assert error(response)["code"] == "invalid_transition"
    assert "allowed: enter_flow, enqueue, connect, end" in error(response)["message"]
    alice.bearer.api("POST", path, {"trigger": "enqueue"})
    response = alice.bearer.api("POST", path, {"trigger": "end", "outcome": "handled"},
                                status=409)
    assert "cannot be handled" in error(response)["message"]
    assert alice.bearer.api("GET", f"/interactions/{call['id']}").json["state"] == "queued"
    assert alice.bearer.api("GET", path).json["total"] == 1


def test_an_agent_of_another_tenant_cannot_be_offered(alice: Actor, bob: Actor) -> None:
    theirs = bob.bearer.api("POST", "/agents", {"display_name": "Bob's"}, status=201).json
    call = _new(alice)
    path = f"/interactions/{call['id']}/events"
    alice.bearer.api("POST", path, {"trigger": "enqueue"})
    response = alice.bearer.api("POST", path, {"trigger": "offer", "agent_id": theirs["id"]},
                                status=422)
    assert error(response)["fields"][0]["field"] == "agent_id"


def test_transitions_are_published_after_commit(alice: Actor, platform: Any, factory: Any) -> None:
    call = _new(alice)
    path = f"/interactions/{call['id']}/events"

    async def scenario() -> list[Any]:
        subscription = await platform.bus.subscribe(
            patterns=[f"tenant.{alice.tenant.id}.interaction.*"])
        received = []
        async with subscription:
            await asyncio.to_thread(alice.bearer.api, "POST", path, {"trigger": "enqueue",
                                                                    "queue": "billing"})
            # Refused: nothing may be published for it.
            await asyncio.to_thread(alice.bearer.api, "POST", path, {"trigger": "answer"},
                                    status=409)
            while True:
                try:
                    received.append(await subscription.get(timeout=1.0))
                except TimeoutError:
                    break
        if platform.settings.redis_url:
            await platform.bus.aclose()
            platform.__dict__.pop("bus", None)
        return received

    events = asyncio.run(scenario())
    assert [e.topic.rsplit(".", 1)[-1] for e in events] == ["enqueue"]
    assert events[0].data["interaction_id"] == call["id"]
    assert events[0].data["to"] == "queued"
    assert events[0].data["data"] == {"queue": "billing"}


def test_agents_may_move_interactions_but_analysts_may_not(alice: Actor, factory: Any, web: Any) -> None:
    call = _new(alice)
    analyst = web(factory.user(alice.tenant, Role.ANALYST))
    analyst.api("POST", f"/interactions/{call['id']}/events", {"trigger": "enqueue"}, status=403)
    analyst.api("GET", f"/interactions/{call['id']}/events", status=200)
