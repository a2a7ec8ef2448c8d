"""/api/v1/agents: create, find, change (skills replaced as a set), delete."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kefu.platform.agents.models import DEFAULT_CAPACITY, AgentSkill
from kefu.platform.identity.models import Role
from tests.functional.api.conftest import Actor, error, error_fields, snapshot


def test_create_get_and_list(alice: Actor, factory: Any) -> None:
    member = factory.user(alice.tenant, Role.AGENT, password=None)
    created = alice.bearer.api("POST", "/agents", {
        "display_name": "Li Na", "user_id": str(member.id), "extension": "8001",
        "team": "billing", "department": "service", "capacity": {"chat": 4, "voice": 0},
        "forward_number": "+86 138 0000 0000",
        "skills": [{"skill": "mandarin", "level": 9}, {"skill": "billing"}]}, status=201).json
    assert created["capacity"] == {**DEFAULT_CAPACITY, "chat": 4, "voice": 0}
    assert created["skills"] == [{"skill": "billing", "level": 5},
                                 {"skill": "mandarin", "level": 9}]
    assert created["is_active"] is True
    assert alice.web.api("GET", f"/agents/{created['id']}").json == created
    listing = alice.web.api("GET", "/agents").json
    assert listing == {"items": [created], "total": 1}


def test_filters_and_paging(alice: Actor) -> None:
    api = alice.bearer.api
    api("POST", "/agents", {"display_name": "Ann", "team": "a", "extension": "100",
                            "skills": [{"skill": "fr", "level": 3}]}, status=201)
    api("POST", "/agents", {"display_name": "Bo", "team": "b", "is_active": False}, status=201)
    api("POST", "/agents", {"display_name": "Cy", "team": "a", "department": "d"}, status=201)

    def names(query: str) -> list[str]:
        return [a["display_name"] for a in api("GET", "/agents?" + query).json["items"]]

    assert names("team=a") == ["Ann", "Cy"]
    assert names("skill=fr") == ["Ann"]
    assert names("active=false") == ["Bo"]
    assert names("department=d") == ["Cy"]
    assert names("q=10") == ["Ann"]  # by extension
    page = api("GET", "/agents?limit=2&offset=1").json
    assert page["total"] == 3
    assert [a["display_name"] for a in page["items"]] == ["Bo", "Cy"]


def test_user_must_be_a_member_of_this_tenant(alice: Actor, bob: Actor, factory: Any) -> None:
    stranger = factory.user(None)
    for user in (stranger, bob.user):
        response = alice.bearer.api("POST", "/agents", {
            "display_name": "x", "user_id": str(user.id)}, status=422)
        assert error_fields(response) == ["user_id"]


def test_extension_and_user_are_unique_in_the_tenant(alice: Actor, bob: Actor,
                                                     factory: Any) -> None:
    member = factory.user(alice.tenant, Role.AGENT, password=None)
    first = alice.bearer.api("POST", "/agents", {
        "display_name": "One", "extension": "8001", "user_id": str(member.id)}, status=201).json
    before = snapshot(factory, alice.tenant)
    response = alice.bearer.api("POST", "/agents", {"display_name": "Two", "extension": "8001"},
                                status=409)
    assert error(response)["code"] == "conflict"
    assert error_fields(response) == ["extension"]
    response = alice.bearer.api("POST", "/agents", {
        "display_name": "Two", "user_id": str(member.id)}, status=409)
    assert error_fields(response) == ["user_id"]
    second = alice.bearer.api("POST", "/agents", {"display_name": "Two"}, status=201).json
    response = alice.bearer.api("PATCH", f"/agents/{second['id']}", {"extension": "8001"},
                                status=409)
    assert error_fields(response) == ["extension"]
    # Another tenant may use the same extension.
    bob.bearer.api("POST", "/agents", {"display_name": "B", "extension": "8001"}, status=201)
    after = snapshot(factory, alice.tenant)
    assert len(after["agents"]) == len(before["agents"]) + 1
    assert alice.bearer.api("GET", f"/agents/{first['id']}").json["extension"] == "8001"


def test_patch_changes_only_what_is_sent_and_replaces_skills(alice: Actor,
                                                             factory: Any) -> None:
    agent = alice.bearer.api("POST", "/agents", {
        "display_name": "Li", "team": "a", "capacity": {"chat": 2},
        "skills": [{"skill": "billing", "level": 3}, {"skill": "gas", "level": 4}]},
        status=201).json
    with factory.session(alice.tenant) as db:
        billing_row = db.scalar(sa.select(AgentSkill.id).where(AgentSkill.skill == "billing"))
    changed = alice.bearer.api("PATCH", f"/agents/{agent['id']}", {
        "capacity": {"email": 9}, "team": None,
        "skills": [{"skill": "billing", "level": 8}, {"skill": "repair", "level": 2}]}).json
    assert changed["display_name"] == "Li"
    assert changed["team"] is None
    assert changed["capacity"] == {**DEFAULT_CAPACITY, "chat": 2, "email": 9}
    assert changed["skills"] == [{"skill": "billing", "level": 8},
                                 {"skill": "repair", "level": 2}]
    with factory.session(alice.tenant) as db:
        rows = dict(db.execute(sa.select(AgentSkill.skill, AgentSkill.id)).all())
    assert set(rows) == {"billing", "repair"}
    assert rows["billing"] == billing_row  # the existing row was reused
    # Skills left out are kept; an empty list removes them all.
    assert alice.bearer.api("PATCH", f"/agents/{agent['id']}",
                            {"is_active": False}).json["skills"] == changed["skills"]
    assert alice.bearer.api("PATCH", f"/agents/{agent['id']}", {"skills": []}).json[
        "skills"] == []


def test_bad_agent_fields_are_named(alice: Actor) -> None:
    agent = alice.bearer.api("POST", "/agents", {"display_name": "x"}, status=201).json
    cases = [
        ({"display_name": "x", "capacity": {"pigeon": 1}}, "capacity.pigeon.[key]"),
        ({"display_name": "x", "capacity": {"chat": 51}}, "capacity.chat"),
        ({"display_name": "x", "capacity": {"chat": -1}}, "capacity.chat"),
        ({"display_name": "x", "skills": [{"skill": "a", "level": 11}]}, "skills.0.level"),
        ({"display_name": "x", "skills": [{"skill": "a", "level": 0}]}, "skills.0.level"),
        ({"display_name": "x", "skills": [{"skill": "a"}, {"skill": "a"}]}, "skills"),
        ({"display_name": "x", "extension": "80 01"}, "extension"),
        ({"display_name": "x", "forward_number": "call me"}, "forward_number"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x", "is_active": "yes"}, "is_active"),
    ]
    for body, field in cases:
        response = alice.bearer.api("POST", "/agents", body, status=422)
        assert error_fields(response) == [field], body
    for body, field in [({"display_name": None}, "display_name"),
                        ({"skills": None}, "skills"), ({"capacity": None}, "capacity"),
                        ({"is_active": None}, "is_active")]:
        response = alice.bearer.api("PATCH", f"/agents/{agent['id']}", body, status=422)
        assert error_fields(response) == [field]
        assert "not null" in error(response)["message"]


def test_delete_keeps_their_interactions_and_tickets(alice: Actor) -> None:
    api = alice.bearer.api
    agent = api("POST", "/agents", {"display_name": "Gone"}, status=201).json
    interaction = api("POST", "/interactions", {"channel": "voice", "direction": "inbound",
                                                "agent_id": agent["id"]}, status=201).json
    ticket = api("POST", "/tickets", {"type": "repair", "subject": "x",
                                      "assignee_agent_id": agent["id"]}, status=201).json
    api("DELETE", f"/agents/{agent['id']}", status=204)
    api("GET", f"/agents/{agent['id']}", status=404)
    api("DELETE", f"/agents/{agent['id']}", status=404)
    assert api("GET", f"/interactions/{interaction['id']}").json["agent_id"] is None
    assert api("GET", f"/tickets/{ticket['id']}").json["assignee_agent_id"] is None


def test_writes_are_audited(alice: Actor, factory: Any) -> None:
    agent = alice.bearer.api("POST", "/agents", {"display_name": "A"}, status=201).json
    alice.bearer.api("PATCH", f"/agents/{agent['id']}", {"team": "t"})
    alice.bearer.api("DELETE", f"/agents/{agent['id']}", status=204)
    entries = snapshot(factory, alice.tenant)["audit_log"]
    actions = [(e["action"], e["target_id"]) for e in entries if e["target_type"] == "agent"]
    assert actions == [(a, agent["id"]) for a in ("agent.create", "agent.update",
                                                  "agent.delete")]
    assert all(e["actor_user_id"] == alice.user.id for e in entries
               if e["target_type"] == "agent")
