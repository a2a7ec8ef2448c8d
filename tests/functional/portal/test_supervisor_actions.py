"""Supervisor actions: take over or reassign an interaction, read any live chat, force an agent
not ready or logged out (the agent's desktop socket hears it). Agents get 403 on each, and
another tenant's interactions and agents do not exist."""

from __future__ import annotations

import asyncio
from typing import Any

from kefu.platform.identity.models import Role
from tests.functional.portal.live import (
    call,
    next_event,
    silent,
    subscribe,
)
from tests.functional.portal.portal_desk import (
    Desk,
    deploy,
    error,
)


def test_agents_get_403_on_every_supervisor_action(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    ticket = li.api("POST", "/tickets", {"type": "repair_wf", "subject": "Leak", "data": {
        "phone": "13912345678", "kind": "residential"}}, status=201).json
    for method, path, body in (
            ("GET", "/wallboard", None),
            ("POST", f"/interactions/{chat['id']}/takeover", None),
            ("POST", f"/interactions/{chat['id']}/reassign", {"agent_id": li_rec["id"]}),
            ("GET", "/tickets/overdue", None),
            ("POST", f"/tickets/{ticket['id']}/escalate", {"note": "hurry"})):
        response = li.api(method, path, body, status=403)
        assert error(response)["code"] == "forbidden", path
    assert desk.get(chat)["agent_id"] == li_rec["id"]


def test_a_supervisor_takes_over_a_chat_at_once(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    boss_rec, boss = desk.agent("Zhang Min", user_role=Role.SUPERVISOR)
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    desk.ready(boss, boss_rec)

    out = boss.api("POST", f"/interactions/{chat['id']}/takeover", status=200).json
    assert (out["status"], out["agent_id"]) == ("connected", boss_rec["id"])
    now = desk.get(chat)
    assert (now["state"], now["agent_id"]) == ("connected", boss_rec["id"])
    assert desk.presence(li_rec)["load"] == {}
    assert desk.presence(boss_rec)["load"] == {"chat": 1}
    # The supervisor answers in the chat as its holder now.
    boss.api("POST", f"/interactions/{chat['id']}/reply", {"text": "I am the supervisor."},
             status=201)


def test_takeover_needs_an_agent_record_that_can_take_it(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    response = desk.supervisor.bearer.api("POST", f"/interactions/{chat['id']}/takeover",
                                          status=409)
    assert error(response)["code"] == "no_agent"
    _boss_rec, boss = desk.agent("Zhang Min", user_role=Role.SUPERVISOR)  # logged out
    response = boss.api("POST", f"/interactions/{chat['id']}/takeover", status=409)
    assert error(response)["code"] == "agent_unavailable"
    assert desk.get(chat)["agent_id"] == li_rec["id"]


def test_reassign_rings_the_chosen_agent(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    wang_rec, wang = desk.agent("Wang Wei")
    zhao_rec, zhao = desk.agent("Zhao Lei")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    waiting = desk.contact()
    assert desk.queue(waiting)["status"] == "queued"  # Li is full, nobody else is ready
    desk.ready(zhao, zhao_rec)  # Zhao is rung for the waiting chat
    assert desk.presence(zhao_rec)["offered_interaction_id"] == waiting["id"]
    desk.ready(wang, wang_rec)

    # A connected chat moves from Li to Wang; Li is free for the next.
    sup = desk.supervisor.bearer
    out = sup.api("POST", f"/interactions/{chat['id']}/reassign",
                  {"agent_id": wang_rec["id"]}).json
    assert (out["status"], out["agent_id"]) == ("offered", wang_rec["id"])
    assert desk.presence(li_rec)["load"] == {}
    wang.api("POST", f"/interactions/{chat['id']}/accept", status=200)
    assert desk.get(chat)["agent_id"] == wang_rec["id"]


def test_reassigning_a_waiting_chat_skips_the_queue_order(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    desk.ready(li, li_rec)
    desk.connected(li, li_rec)
    older, newer = desk.contact(), desk.contact()
    desk.queue(older)
    desk.queue(newer)
    # Wang lacks the queue's skill: the ACD never offers him its chats by itself.
    wang_rec, wang = desk.agent("Wang Wei", skills={})
    wang.api("PUT", f"/agents/{wang_rec['id']}/presence",
             {"state": "not_ready", "reason": "training"})
    sup = desk.supervisor.bearer
    response = sup.api("POST", f"/interactions/{newer['id']}/reassign",
                       {"agent_id": wang_rec["id"]}, status=409)
    assert "not_ready" in error(response)["message"]
    assert desk.get(newer)["state"] == "queued"

    desk.ready(wang, wang_rec)
    assert desk.presence(wang_rec)["offered_interaction_id"] is None
    out = sup.api("POST", f"/interactions/{newer['id']}/reassign",
                  {"agent_id": wang_rec["id"]}).json
    assert (out["status"], out["agent_id"]) == ("offered", wang_rec["id"])
    assert desk.get(newer)["state"] == "offered"
    assert desk.get(older)["state"] == "queued"
    wang.api("POST", f"/interactions/{newer['id']}/accept", status=200)
    assert desk.get(newer)["agent_id"] == wang_rec["id"]


def test_supervisors_read_any_live_chat(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    li.api("POST", f"/interactions/{chat['id']}/reply", {"text": "How can I help?"},
           status=201)
    messages = desk.supervisor.bearer.api("GET", f"/interactions/{chat['id']}/messages").json
    assert [m["body_text"] for m in messages["items"]] == ["How can I help?"]


def test_another_tenants_interactions_and_agents_do_not_exist(desk: Desk, actor: Any) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    stranger = actor()
    theirs = stranger.bearer
    theirs.api("POST", f"/interactions/{chat['id']}/takeover", status=404)
    theirs.api("POST", f"/interactions/{chat['id']}/reassign", {"agent_id": li_rec["id"]},
               status=404)
    their_agent = theirs.api("POST", "/agents", {"display_name": "Zhao"}, status=201).json
    response = desk.supervisor.bearer.api("POST", f"/interactions/{chat['id']}/reassign",
                                          {"agent_id": their_agent["id"]}, status=422)
    assert error(response)["fields"][0]["field"] == "agent_id"
    theirs.api("PUT", f"/agents/{li_rec['id']}/presence", {"state": "logged_out"},
               status=404)
    assert desk.get(chat)["agent_id"] == li_rec["id"]


def test_a_forced_state_reaches_the_agents_desktop_socket(
        server: Any, factory: Any, actor: Any) -> None:
    admin = actor()
    deploy(factory, admin.tenant)
    supervisor = actor(admin.tenant, Role.SUPERVISOR)
    rival = actor()
    person = actor(admin.tenant, Role.AGENT)
    admin_token = factory.token(admin.user, admin.tenant)
    sup_token = factory.token(supervisor.user, admin.tenant)
    agent_token = factory.token(person.user, admin.tenant)
    rival_token = factory.token(rival.user, rival.tenant)
    status, agent = call(server, admin_token, "POST", "/agents", {
        "display_name": "Li Na", "user_id": str(person.user.id),
        "skills": [{"skill": "billing", "level": 3}]})
    assert status == 201
    presence = f"/agents/{agent['id']}/presence"

    async def scenario() -> None:
        # A pattern naming the other tenant is only a topic inside the agent's own tenant.
        desktop = await subscribe(server, agent_token,
                                  ["agent.state", f"tenant.{rival.tenant.id}.*"])
        theirs = await subscribe(server, rival_token, ["agent.state", "customer.*"])
        try:
            assert call(server, agent_token, "PUT", presence, {"state": "ready"})[0] == 200
            assert (await next_event(desktop, "agent.state"))["data"]["state"] == "not_ready"
            assert (await next_event(desktop, "agent.state"))["data"]["state"] == "ready"
            status, _ = call(server, sup_token, "PUT", presence,
                             {"state": "not_ready", "reason": "training"})
            assert status == 200
            forced = await next_event(desktop, "agent.state")
            assert (forced["data"]["state"], forced["data"]["reason"]) == ("not_ready",
                                                                           "training")
            status, _ = call(server, sup_token, "PUT", presence, {"state": "logged_out"})
            assert status == 200
            out = await next_event(desktop, "agent.state")
            assert (out["data"]["agent_id"], out["data"]["state"]) == (agent["id"],
                                                                      "logged_out")
            assert await silent(theirs)
            # The other tenant's own events reach its sockets, never this tenant's.
            assert call(server, rival_token, "POST", "/customers", {"name": "Zhao"})[0] == 201
            assert (await next_event(theirs, "customer.create"))["data"]["target_id"]
            assert await silent(desktop)
        finally:
            await desktop.close()
            await theirs.close()

    asyncio.run(scenario())


def test_an_agent_cannot_force_another_agent(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(wang, wang_rec)
    response = li.api("PUT", f"/agents/{wang_rec['id']}/presence", {"state": "logged_out"},
                      status=403)
    assert error(response)["code"] == "forbidden"
    assert desk.presence(wang_rec)["state"] == "ready"
    # A supervisor forces not ready with one of the tenant's reasons, then logs Wang out.
    sup = desk.supervisor.bearer
    assert sup.api("PUT", f"/agents/{wang_rec['id']}/presence",
                   {"state": "not_ready", "reason": "training"}).json["state"] == "not_ready"
    sup.api("PUT", f"/agents/{wang_rec['id']}/presence", {"state": "not_ready",
                                                           "reason": "nap"}, status=422)
    assert sup.api("PUT", f"/agents/{wang_rec['id']}/presence",
                   {"state": "logged_out"}).json["state"] == "logged_out"
    _ = li_rec
