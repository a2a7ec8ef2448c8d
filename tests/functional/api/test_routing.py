"""The ACD through the API: agents go ready, interactions are queued, offered, answered,
wrapped up; timers (ring-no-answer, wrap-up, maximum wait) fire from the runtime ticker; the
interaction rows and their history tell the same story as the ACD."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from kefu.platform.configs.services import ConfigService
from kefu.platform.identity.models import Role
from kefu.platform.routing.host import AcdTicker
from tests.factories import TokenClient
from tests.functional.api.conftest import Actor, error, error_fields

CONFIG = """\
tenant acme {
  name "Acme Support"
  locales en
  timezone "UTC"
}

skill billing "Billing" levels 1..5
skill sales "Sales"

team desk "Front desk" {
  members 3
  skill billing 3
  skill sales 2
}

queue billing "Billing" {
  strategy longest_idle
  require billing >= 3
  wrap_up 30s
  max_wait 10m
}

queue sales "Sales" {
  strategy round_robin
  require sales >= 1
  after 60s overflow billing
}

disposition resolved "Resolved"
disposition escalated "Escalated"
not_ready lunch "Lunch"
not_ready training "Training"
"""


def deploy(factory: Any, tenant: Any, source: str = CONFIG) -> None:
    with factory.session(tenant) as db:
        service = ConfigService(db)
        version = service.store({"tenant.kefu": source}, "", None)
        service.deploy(version.id)
        db.commit()
    factory.platform.configs.invalidate(tenant.id)


@dataclass
class Desk:
    """A tenant with the config deployed, its admin (a supervisor too) and agent helpers."""

    admin: Actor
    factory: Any
    wsgi_app: Any

    def agent(self, name: str, skills: dict[str, int] | None = None,
              capacity: dict[str, int] | None = None) -> tuple[dict[str, Any], TokenClient]:
        """A new agent user with an agent record; returns the record and their API client."""
        user = self.factory.user(self.admin.tenant, Role.AGENT)
        body: dict[str, Any] = {
            "display_name": name, "user_id": str(user.id),
            "skills": [{"skill": k, "level": v} for k, v in
                       (skills if skills is not None else {"billing": 4}).items()]}
        if capacity:
            body["capacity"] = capacity
        record = self.admin.bearer.api("POST", "/agents", body, status=201).json
        return record, TokenClient(self.wsgi_app, self.factory.token(user, self.admin.tenant))

    def contact(self, channel: str = "chat", **fields: Any) -> dict[str, Any]:
        return self.admin.bearer.api("POST", "/interactions", {  # type: ignore[no-any-return]
            "channel": channel, "direction": "inbound", **fields}, status=201).json

    def queue(self, interaction: dict[str, Any], queue: str = "billing",
              **extra: Any) -> dict[str, Any]:
        return self.admin.bearer.api(  # type: ignore[no-any-return]
            "POST", f"/interactions/{interaction['id']}/queue", {"queue": queue, **extra}).json

    def get(self, interaction: dict[str, Any]) -> dict[str, Any]:
        return self.admin.bearer.api(  # type: ignore[no-any-return]
            "GET", f"/interactions/{interaction['id']}").json

    def triggers(self, interaction: dict[str, Any]) -> list[str]:
        events = self.admin.bearer.api("GET", f"/interactions/{interaction['id']}/events").json
        return [e["trigger"] for e in events["items"]]

    def tick(self, after: float) -> None:
        """Let ``after`` seconds pass for the ACD's timers (one ticker round)."""
        AcdTicker(self.factory.platform).tick_tenant(self.admin.tenant.id, time.time() + after)


@pytest.fixture
def desk(alice: Actor, factory: Any, wsgi_app: Any) -> Desk:
    deploy(factory, alice.tenant)
    return Desk(alice, factory, wsgi_app)


def presence(client: Any, agent: dict[str, Any], state: str, status: int = 200,
             **extra: Any) -> Any:
    return client.api("PUT", f"/agents/{agent['id']}/presence", {"state": state, **extra},
                      status=status)


def test_a_ready_agent_is_offered_a_queued_chat_answers_it_and_wraps_up(desk: Desk) -> None:
    agent, li = desk.agent("Li Na")
    assert presence(li, agent, "ready").json["state"] == "ready"
    chat = desk.contact()

    place = desk.queue(chat)
    assert place["status"] == "offered"
    assert place["agent_id"] == agent["id"]
    assert desk.get(chat)["state"] == "offered"
    assert li.api("GET", f"/agents/{agent['id']}/presence").json[
        "offered_interaction_id"] == chat["id"]

    assert li.api("POST", f"/interactions/{chat['id']}/accept").json["state"] == "connected"
    busy = li.api("GET", f"/agents/{agent['id']}/presence").json
    assert busy["state"] == "busy"
    assert busy["load"] == {"chat": 1}

    # The chat ends; the billing queue gives 30 s of wrap-up.
    assert li.api("POST", f"/interactions/{chat['id']}/hangup", {}).json["state"] == "wrap_up"
    assert li.api("GET", f"/agents/{agent['id']}/presence").json["state"] == "wrap_up"
    done = li.api("POST", f"/interactions/{chat['id']}/complete",
                  {"disposition": "resolved"}).json
    assert (done["state"], done["outcome"], done["disposition"]) == (
        "ended", "handled", "resolved")
    again = li.api("GET", f"/agents/{agent['id']}/presence").json
    assert again["state"] == "ready"
    assert again["handled_today"] == 1
    assert desk.triggers(chat) == ["enqueue", "offer", "answer", "wrap_up", "end"]


def test_wrap_up_ends_by_itself_when_its_time_is_up(desk: Desk) -> None:
    agent, li = desk.agent("Li Na")
    presence(li, agent, "ready")
    chat = desk.contact()
    desk.queue(chat)
    li.api("POST", f"/interactions/{chat['id']}/accept")
    li.api("POST", f"/interactions/{chat['id']}/hangup", {})

    desk.tick(after=10)
    assert desk.get(chat)["state"] == "wrap_up"
    desk.tick(after=31)
    assert li.api("GET", f"/agents/{agent['id']}/presence").json["state"] == "ready"
    ended = desk.get(chat)
    assert (ended["state"], ended["outcome"]) == ("ended", "handled")


def test_ring_no_answer_requeues_the_contact_and_makes_the_agent_not_ready(desk: Desk) -> None:
    first, li = desk.agent("Li Na")
    presence(li, first, "ready")
    chat = desk.contact()
    desk.queue(chat)

    desk.tick(after=25)  # the offer rang for 20 s unanswered

    assert desk.get(chat)["state"] == "queued"
    away = li.api("GET", f"/agents/{first['id']}/presence").json
    assert (away["state"], away["reason"]) == ("not_ready", "rona")
    late = li.api("POST", f"/interactions/{chat['id']}/accept", status=409)
    assert error(late)["code"] == "not_offered"

    second, wu = desk.agent("Wu Lei")
    presence(wu, second, "ready")  # the waiting contact goes to the next agent at once
    assert desk.get(chat)["agent_id"] == second["id"]
    assert desk.triggers(chat) == ["enqueue", "offer", "requeue", "offer"]


def test_a_rejected_offer_goes_to_another_agent(desk: Desk) -> None:
    first, li = desk.agent("Li Na")
    second, wu = desk.agent("Wu Lei")
    presence(li, first, "ready")
    chat = desk.contact()
    desk.queue(chat)
    presence(wu, second, "ready")

    li.api("POST", f"/interactions/{chat['id']}/reject")

    assert desk.get(chat)["agent_id"] == second["id"]
    assert li.api("GET", f"/agents/{first['id']}/presence").json["state"] == "ready"
    # Only the agent it rings at may answer it.
    refused = li.api("POST", f"/interactions/{chat['id']}/accept", status=409)
    assert error(refused)["code"] == "not_offered"


def test_waiting_contacts_hear_their_position_and_expected_wait(desk: Desk) -> None:
    agent, li = desk.agent("Li Na")
    presence(li, agent, "not_ready", reason="lunch")
    contacts = [desk.contact() for _ in range(3)]
    places = [desk.queue(c) for c in contacts]

    assert [p["position"] for p in places] == [1, 2, 3]
    assert all(p["status"] == "queued" for p in places)
    # One qualified agent logged in; 180 s average handle time until calls have ended.
    waits = [p["expected_wait_seconds"] for p in places]
    assert waits == sorted(waits)
    assert waits[0] == pytest.approx(180)
    queues = {q["id"]: q for q in desk.admin.bearer.api("GET", "/queues").json["items"]}
    assert queues["billing"]["waiting"] == 3
    assert queues["billing"]["agents_logged_in"] == 1
    assert queues["billing"]["agents_ready"] == 0

    presence(li, agent, "ready")
    later = desk.admin.bearer.api("GET", f"/interactions/{contacts[1]['id']}/queue").json
    assert later["position"] == 1  # the first one is ringing at Li Na now


def test_a_vip_priority_jumps_the_queue(desk: Desk) -> None:
    agent, li = desk.agent("Li Na")
    presence(li, agent, "not_ready", reason="training")
    normal = desk.contact()
    desk.queue(normal)
    vip = desk.contact()
    assert desk.queue(vip, priority=50)["position"] == 1
    presence(li, agent, "ready")
    assert desk.get(vip)["state"] == "offered"
    assert desk.get(normal)["state"] == "queued"


def test_max_wait_ends_the_contact_as_voicemail(desk: Desk) -> None:
    chat = desk.contact()
    desk.queue(chat)
    desk.tick(after=601)
    ended = desk.get(chat)
    assert (ended["state"], ended["outcome"]) == ("ended", "voicemail")
    assert desk.admin.bearer.api("GET", f"/interactions/{chat['id']}/queue").json[
        "status"] == "not_queued"


def test_a_long_wait_overflows_to_the_next_queue(desk: Desk) -> None:
    chat = desk.contact()
    assert desk.queue(chat, queue="sales")["queue"] == "sales"
    desk.tick(after=61)
    assert desk.get(chat)["queue"] == "billing"
    agent, li = desk.agent("Li Na", {"billing": 3})  # no sales skill: only billing fits
    presence(li, agent, "ready")
    assert desk.get(chat)["agent_id"] == agent["id"]


def test_capacity_lets_an_agent_work_several_chats_but_one_call(desk: Desk) -> None:
    agent, li = desk.agent("Li Na", capacity={"chat": 2, "voice": 1})
    presence(li, agent, "ready")
    chats = [desk.contact() for _ in range(3)]
    for chat in chats:
        desk.queue(chat)
        li.api("POST", f"/interactions/{chat['id']}/accept", status="*")
    states = [desk.get(c)["state"] for c in chats]
    assert states == ["connected", "connected", "queued"]
    call = desk.contact("voice")
    assert desk.queue(call)["status"] == "offered"  # voice capacity is separate
    li.api("POST", f"/interactions/{chats[0]['id']}/hangup", {})
    # Li Na still holds a chat and a ringing call, so no wrap-up: the freed chat slot
    # goes to the third chat as soon as the ringing call is answered.
    li.api("POST", f"/interactions/{call['id']}/accept")
    desk.tick(after=1)
    assert desk.get(chats[2])["state"] == "offered"


def test_hanging_up_while_waiting_abandons(desk: Desk) -> None:
    chat = desk.contact()
    desk.queue(chat)
    gone = desk.admin.bearer.api("POST", f"/interactions/{chat['id']}/hangup", {}).json
    assert (gone["state"], gone["outcome"]) == ("ended", "abandoned")
    queues = {q["id"]: q for q in desk.admin.bearer.api("GET", "/queues").json["items"]}
    assert queues["billing"]["waiting"] == 0


def test_presence_reasons_and_dispositions_come_from_the_tenant_config(desk: Desk) -> None:
    agent, li = desk.agent("Li Na")
    bad = presence(li, agent, "not_ready", status=422, reason="nap")
    assert error_fields(bad) == ["reason"]
    assert "lunch" in error(bad)["message"]
    assert presence(li, agent, "not_ready", reason="lunch").json["reason"] == "lunch"
    presence(li, agent, "ready")
    chat = desk.contact()
    desk.queue(chat)
    li.api("POST", f"/interactions/{chat['id']}/accept")
    bad = li.api("POST", f"/interactions/{chat['id']}/complete", {"disposition": "meh"},
                 status=422)
    assert error_fields(bad) == ["disposition"]
    assert desk.get(chat)["state"] == "connected"  # nothing changed


def test_agents_act_for_themselves_and_supervisors_for_anyone(desk: Desk) -> None:
    first, li = desk.agent("Li Na")
    second, _wu = desk.agent("Wu Lei")
    refused = presence(li, second, "ready", status=403)
    assert error(refused)["code"] == "forbidden"
    assert presence(desk.admin.bearer, second, "ready").json["state"] == "ready"
    # A supervisor forces an agent out: not while it holds a contact.
    chat = desk.contact()
    desk.queue(chat)
    held = presence(desk.admin.bearer, second, "logged_out", status=409)
    assert "holding" in error(held)["message"]
    presence(li, first, "logged_out")
    assert li.api("GET", f"/agents/{first['id']}/presence").json["state"] == "logged_out"


def test_unknown_queue_is_refused_naming_the_queues(desk: Desk) -> None:
    chat = desk.contact()
    bad = desk.admin.bearer.api("POST", f"/interactions/{chat['id']}/queue",
                                {"queue": "nowhere"}, status=422)
    assert error_fields(bad) == ["queue"]
    assert "billing, sales" in error(bad)["message"]
    assert desk.get(chat)["state"] == "created"


def test_without_a_deployed_config_there_is_nothing_to_queue_to(alice: Actor) -> None:
    chat = alice.bearer.api("POST", "/interactions", {"channel": "chat",
                                                      "direction": "inbound"}).json
    refused = alice.bearer.api("POST", f"/interactions/{chat['id']}/queue",
                               {"queue": "billing"}, status=409)
    assert error(refused)["code"] == "no_routing"
    assert alice.bearer.api("GET", "/queues").json["items"] == []


def test_the_raw_lifecycle_api_cannot_move_a_routed_interaction(desk: Desk) -> None:
    chat = desk.contact()
    desk.queue(chat)
    refused = desk.admin.bearer.api("POST", f"/interactions/{chat['id']}/events",
                                    {"trigger": "end", "outcome": "abandoned"}, status=409)
    assert error(refused)["code"] == "routed"
    assert desk.get(chat)["state"] == "queued"


def test_queued_work_survives_losing_the_acd_state(desk: Desk) -> None:
    """An embedded restart loses the in-memory queues (a Redis flush the shared ones): the
    interaction rows bring every waiting contact back, the ringing one at the head."""
    agent, li = desk.agent("Li Na")
    presence(li, agent, "ready")
    ringing, waiting = desk.contact(), desk.contact()
    desk.queue(ringing)
    desk.queue(waiting)
    platform = desk.factory.platform
    state = platform.acd.state(desk.admin.tenant.id)
    _forget_everything(state)

    desk.tick(after=0)  # the first round after a start resyncs

    assert desk.get(ringing)["state"] == "queued"
    assert [c.id for c in state.waiting("billing")] == [ringing["id"], waiting["id"]]
    assert "resync" in str(desk.admin.bearer.api(
        "GET", f"/interactions/{ringing['id']}/events").json["items"][-1]["data"])


def test_work_of_a_dead_node_is_reclaimed_calls_end_and_chats_go_back(desk: Desk) -> None:
    platform = desk.factory.platform
    state = platform.acd.state(desk.admin.tenant.id)
    agent, li = desk.agent("Li Na", capacity={"chat": 1, "voice": 1})
    second, wu = desk.agent("Wu Lei", capacity={"chat": 1, "voice": 1})
    presence(li, agent, "ready")
    presence(wu, second, "ready")
    state.node_id = "node-that-dies"
    try:
        call, chat = desk.contact("voice"), desk.contact("chat")
        desk.queue(call)
        desk.queue(chat)
    finally:
        state.node_id = None
    # Its last heartbeat counted for 30 s and was 40 s ago; the offers still ring.
    state.heartbeat("node-that-dies", time.time() - 40, 30.0)
    assert {desk.get(call)["state"], desk.get(chat)["state"]} == {"offered"}

    desk.tick(after=1)

    dropped = desk.get(call)
    assert (dropped["state"], dropped["outcome"]) == ("ended", "abandoned")
    back = desk.get(chat)
    assert back["state"] in ("queued", "offered")  # re-queued, maybe offered again at once
    assert "requeue" in desk.triggers(chat)


def _forget_everything(state: Any) -> None:
    if hasattr(state, "clear"):
        state.clear()
    else:
        state.__init__()


@pytest.fixture
def other_desk(bob: Actor, factory: Any, wsgi_app: Any) -> Desk:
    deploy(factory, bob.tenant)
    return Desk(bob, factory, wsgi_app)


def test_one_tenant_cannot_see_or_route_another_tenants_contacts(
        desk: Desk, other_desk: Desk) -> None:
    theirs = other_desk.contact()
    other_desk.queue(theirs)
    agent, li = desk.agent("Li Na")
    presence(li, agent, "ready")  # a free agent of tenant A is never offered B's contact
    assert other_desk.get(theirs)["state"] == "queued"
    mine = {q["id"]: q["waiting"] for q in desk.admin.bearer.api("GET", "/queues").json["items"]}
    assert mine["billing"] == 0
    for path in (f"/interactions/{theirs['id']}/accept", f"/interactions/{theirs['id']}/reject"):
        assert error(li.api("POST", path, status=404))["code"] == "not_found"
    other_agent, _ = other_desk.agent("Zhang San")
    refused = presence(desk.admin.bearer, other_agent, "ready", status=404)
    assert error(refused)["code"] == "not_found"

