"""Transfers from the agent desktop: to another agent (a directed offer, with ring-no-answer
still applying), to a queue, or back into the channel's flow; consult only where the channel
declares it; only the holder (or a supervisor) transfers, and only within the tenant."""

from __future__ import annotations

from typing import Any

from tests.functional.portal.portal_desk import (
    Desk,
    error,
)


def _transfer(client: Any, chat: dict[str, Any], status: int = 200, **body: Any) -> Any:
    return client.api("POST", f"/interactions/{chat['id']}/transfer", body, status=status)


def test_transfer_to_an_agent_rings_there_and_frees_the_first_agent(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    desk.ready(wang, wang_rec)

    out = _transfer(li, chat, agent_id=wang_rec["id"]).json
    assert (out["status"], out["agent_id"], out["queue"]) == ("offered", wang_rec["id"],
                                                              "billing")
    assert out["interaction"]["state"] == "offered"
    # Li lets go at once: no wrap-up for a transfer, the capacity is free again.
    assert desk.presence(li_rec)["state"] == "ready"
    assert desk.presence(li_rec)["load"] == {}
    assert desk.presence(wang_rec)["offered_interaction_id"] == chat["id"]

    wang.api("POST", f"/interactions/{chat['id']}/accept", status=200)
    now = desk.get(chat)
    assert (now["state"], now["agent_id"]) == ("connected", wang_rec["id"])
    assert desk.triggers(chat)[-2:] == ["transfer_to_agent", "answer"]


def test_an_unanswered_transfer_goes_on_to_the_queue_as_ring_no_answer(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    desk.ready(wang, wang_rec)
    # Li has room for a second chat, but the transfer names Wang: only Wang is rung.
    _transfer(li, chat, agent_id=wang_rec["id"])
    assert desk.presence(li_rec)["offered_interaction_id"] is None

    desk.tick(after=25)  # past the 20 s ring timeout

    wang_now = desk.presence(wang_rec)
    assert (wang_now["state"], wang_now["reason"]) == ("not_ready", "rona")
    # Back in its queue, the chat is offered to whoever is free: Li.
    assert desk.presence(li_rec)["offered_interaction_id"] == chat["id"]
    assert desk.triggers(chat)[-3:] == ["transfer_to_agent", "requeue", "offer"]


def test_a_transfer_to_an_agent_who_cannot_take_it_changes_nothing(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    wang_rec, _wang = desk.agent("Wang Wei")  # logged out
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)

    response = _transfer(li, chat, status=409, agent_id=wang_rec["id"])
    assert error(response)["code"] == "agent_unavailable"
    assert "logged_out" in error(response)["message"]
    assert desk.get(chat)["state"] == "connected"
    assert desk.presence(li_rec)["load"] == {"chat": 1}


def test_transfer_to_a_queue_queues_it_again(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    desk.ready(wang, wang_rec)

    out = _transfer(li, chat, queue="sales").json
    assert (out["status"], out["queue"], out["agent_id"]) == ("offered", "sales",
                                                              wang_rec["id"])
    assert desk.get(chat)["queue"] == "sales"
    assert "transfer_to_queue" in desk.triggers(chat)

    unknown = _transfer(wang, chat, status=409, queue="nowhere")
    assert error(unknown)["code"] == "invalid_transition"  # it rings, nobody holds it


def test_an_unknown_queue_is_named(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    response = _transfer(li, chat, status=422, queue="nowhere")
    assert "nowhere" in error(response)["message"]
    assert "billing, sales" in error(response)["message"]
    assert desk.get(chat)["state"] == "connected"


def test_transfer_back_into_the_flow_runs_the_channel_flow_again(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)

    out = _transfer(li, chat, flow=True).json
    assert out["flow"] == "chat_flow"
    # The flow greets again and queues the chat for an agent; Li is free, so it rings Li.
    texts = [m["body_text"] for m in li.api(
        "GET", f"/interactions/{chat['id']}/messages").json["items"]]
    assert "Hi! One moment please." in texts
    assert desk.get(chat)["state"] == "offered"
    assert desk.triggers(chat)[-3:] == ["transfer_to_flow", "enqueue", "offer"]

    bad = _transfer(li, chat, status=409, flow="nope")
    assert error(bad)["code"] == "invalid_transition"  # ringing, not connected


def test_an_unknown_flow_is_refused_before_anything_changes(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    response = _transfer(li, chat, status=409, flow="nope")
    assert "chat_flow" in error(response)["message"]
    assert desk.get(chat)["state"] == "connected"
    assert desk.presence(li_rec)["load"] == {"chat": 1}


def test_consult_needs_a_channel_that_declares_it(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    desk.ready(wang, wang_rec)
    chat = desk.connected(li, li_rec)
    response = _transfer(li, chat, status=409, agent_id=wang_rec["id"], mode="consult")
    assert error(response)["code"] == "not_supported"
    assert "consult" in error(response)["message"]
    assert "reply, transfer, wrap_up" in error(response)["message"]
    assert desk.get(chat)["agent_id"] == li_rec["id"]


def test_exactly_one_target(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    _transfer(li, chat, status=422)
    _transfer(li, chat, status=422, agent_id=li_rec["id"], flow="chat_flow")
    _transfer(li, chat, status=422, queue="sales", flow=True)


def test_only_the_holder_or_a_supervisor_transfers_within_the_tenant(
        desk: Desk, actor: Any) -> None:
    li_rec, li = desk.agent("Li Na")
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    desk.ready(wang, wang_rec)
    chat = desk.connected(li, li_rec)
    assert error(_transfer(wang, chat, status=403, queue="sales"))["code"] == "forbidden"

    stranger = actor()  # another tenant's admin
    _transfer(stranger.bearer, chat, status=404, queue="sales")
    outsider_agent = stranger.bearer.api("POST", "/agents", {"display_name": "Zhao"},
                                         status=201).json
    response = _transfer(li, chat, status=422, agent_id=outsider_agent["id"])
    assert error(response)["fields"][0]["field"] == "agent_id"

    # A supervisor may move anyone's interaction.
    out = _transfer(desk.supervisor.bearer, chat, agent_id=wang_rec["id"]).json
    assert out["agent_id"] == wang_rec["id"]
