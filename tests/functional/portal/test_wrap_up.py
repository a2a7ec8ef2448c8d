"""Wrap-up: after a contact ends the agent has the queue's wrap-up time for after-contact work
(no new offers meanwhile), finishes it with one of the tenant's dispositions, or is made ready
when the timer runs out."""

from __future__ import annotations

from typing import Any

from tests.functional.portal.portal_desk import (
    Desk,
    error,
)


def _complete(client: Any, chat: dict[str, Any], code: str, status: int = 200) -> Any:
    return client.api("POST", f"/interactions/{chat['id']}/complete", {"disposition": code},
                      status=status)


def test_hangup_starts_the_queues_wrap_up_and_a_disposition_ends_it(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)

    assert li.api("POST", f"/interactions/{chat['id']}/hangup", {}).json["state"] == "wrap_up"
    assert desk.presence(li_rec)["state"] == "wrap_up"
    # No new offers during wrap-up.
    waiting = desk.contact()
    assert desk.queue(waiting)["status"] == "queued"

    done = _complete(li, chat, "resolved").json
    assert (done["state"], done["outcome"], done["disposition"]) == ("ended", "handled",
                                                                     "resolved")
    # Ready again, and the waiting chat rings at once.
    assert desk.presence(li_rec)["offered_interaction_id"] == waiting["id"]


def test_the_wrap_up_timer_makes_the_agent_ready(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    li.api("POST", f"/interactions/{chat['id']}/hangup", {})

    desk.tick(after=10)  # within billing's 30 s
    assert desk.presence(li_rec)["state"] == "wrap_up"
    desk.tick(after=31)
    assert desk.presence(li_rec)["state"] == "ready"
    ended = desk.get(chat)
    assert (ended["state"], ended["outcome"]) == ("ended", "handled")
    late = _complete(li, chat, "resolved", status=409)
    assert error(late)["code"] == "invalid_transition"


def test_a_code_that_is_not_a_tenant_disposition_is_refused_by_name(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    li.api("POST", f"/interactions/{chat['id']}/hangup", {})

    response = _complete(li, chat, "happy", status=422)
    assert error(response)["fields"][0]["field"] == "disposition"
    assert "'happy'" in error(response)["message"]
    assert "escalated, resolved" in error(response)["message"]
    assert desk.get(chat)["state"] == "wrap_up"
    assert desk.presence(li_rec)["state"] == "wrap_up"


def test_a_queue_without_wrap_up_time_ends_at_hangup(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    desk.ready(li, li_rec)
    chat = desk.contact()
    desk.queue(chat, "sales")
    li.api("POST", f"/interactions/{chat['id']}/accept")

    ended = li.api("POST", f"/interactions/{chat['id']}/hangup", {}).json
    assert (ended["state"], ended["outcome"]) == ("ended", "handled")
    assert desk.presence(li_rec)["state"] == "ready"


def test_only_the_holder_or_a_supervisor_wraps_up_within_the_tenant(
        desk: Desk, actor: Any) -> None:
    li_rec, li = desk.agent("Li Na")
    _wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    chat = desk.connected(li, li_rec)
    li.api("POST", f"/interactions/{chat['id']}/hangup", {})

    _complete(wang, chat, "resolved", status=403)
    _complete(actor().bearer, chat, "resolved", status=404)
    assert _complete(desk.supervisor.bearer, chat, "escalated").json["disposition"] == \
        "escalated"
