"""The supervisor's wallboard: agents with state and time in state, queues with waiting
contacts and longest wait, today's service level and abandon rate by the DSL's kpi in the
tenant's day; changes reach /ws/events subscribers as they happen; agents and other tenants
see nothing of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Interaction
from kefu.platform.portal.wallboard import start_of_today
from kefu.runtime.lifecycle import Outcome, State
from tests.functional.portal.live import (
    call,
    events_until,
    next_event,
    silent,
    subscribe,
)
from tests.functional.portal.portal_desk import (
    Desk,
    deploy,
    error,
)


def _board(client: Any) -> dict[str, Any]:
    return client.api("GET", "/wallboard", status=200).json  # type: ignore[no-any-return]


def _backdate(desk: Desk, interaction: dict[str, Any], seconds: float) -> None:
    """Make a contact have entered its queue ``seconds`` earlier than it did."""
    with desk.factory.session(desk.admin.tenant) as db:
        row = db.get(Interaction, uuid.UUID(interaction["id"]))
        row.queued_at = row.queued_at - dt.timedelta(seconds=seconds)
        db.commit()


def test_agents_and_queues_with_todays_figures(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na", capacity={"chat": 1})
    wang_rec, wang = desk.agent("Wang Wei")
    desk.ready(li, li_rec)
    wang.api("PUT", f"/agents/{wang_rec['id']}/presence", {"state": "not_ready",
                                                            "reason": "lunch"})
    answered = desk.connected(li, li_rec)             # answered at once: within 20 s
    short = desk.contact()
    desk.queue(short)                                  # Li is full: it waits...
    desk.admin.bearer.api("POST", f"/interactions/{short['id']}/hangup", {})  # ...gives up
    patient = desk.contact()
    desk.queue(patient)
    _backdate(desk, patient, 60)
    desk.admin.bearer.api("POST", f"/interactions/{patient['id']}/hangup", {})  # after 60 s
    waiting = desk.contact()
    desk.queue(waiting)

    board = _board(desk.supervisor.bearer)
    agents = {a["name"]: a for a in board["agents"]}
    assert agents["Li Na"]["state"] == "busy"
    assert agents["Li Na"]["interactions"] == [answered["id"]]
    assert agents["Wang Wei"]["state"] == "not_ready"
    assert agents["Wang Wei"]["reason"] == "lunch"
    assert agents["Wang Wei"]["seconds_in_state"] >= 0
    assert agents["Wang Wei"]["since"] is not None

    billing = next(q for q in board["queues"] if q["queue"] == "billing")
    assert billing["name"] == "Billing"
    assert billing["waiting"] == 1
    assert billing["longest_wait_seconds"] >= 0
    assert (billing["answered_today"], billing["abandoned_today"]) == (1, 2)
    # 5 s short abandons are left out of the service level: 1 answered in time of 2 counted.
    assert billing["service_level_today"] == 0.5
    assert billing["abandon_rate_today"] == round(2 / 3, 4)
    assert billing["service_level_target"] == 0.8
    assert billing["service_level_threshold_seconds"] == 20
    sales = next(q for q in board["queues"] if q["queue"] == "sales")
    assert sales["service_level_today"] is None
    assert sales["abandon_rate_today"] is None
    assert board["as_of"]


def test_today_starts_at_midnight_in_the_tenants_timezone(desk: Desk) -> None:
    now = dt.datetime.now(dt.UTC)
    midnight = start_of_today("Asia/Shanghai", now)
    assert midnight.astimezone(dt.timezone(dt.timedelta(hours=8))).time() == dt.time()
    assert dt.timedelta(0) <= now - midnight < dt.timedelta(days=1)
    # Answered just before midnight in Shanghai: yesterday's, not on today's board.
    with desk.factory.session(desk.admin.tenant) as db:
        db.add(Interaction(channel="chat", direction="inbound", state=State.ENDED,
                           queue="billing", outcome=Outcome.HANDLED,
                           queued_at=midnight - dt.timedelta(minutes=2),
                           answered_at=midnight - dt.timedelta(minutes=1),
                           ended_at=midnight - dt.timedelta(seconds=30)))
        db.commit()
    billing = next(q for q in _board(desk.supervisor.bearer)["queues"]
                   if q["queue"] == "billing")
    assert billing["answered_today"] == 0


def test_agents_and_other_tenants_do_not_see_the_wallboard(desk: Desk, actor: Any) -> None:
    _li_rec, li = desk.agent("Li Na")
    assert error(li.api("GET", "/wallboard", status=403))["code"] == "forbidden"
    stranger = actor()  # another tenant's admin sees their own (empty) board
    desk.agent("Li Na")
    board = _board(stranger.bearer)
    assert board["agents"] == []
    assert board["queues"] == []


def test_changes_reach_the_wallboard_socket_and_stay_in_the_tenant(
        server: Any, factory: Any, actor: Any) -> None:
    admin = actor()
    deploy(factory, admin.tenant)
    supervisor = actor(admin.tenant, Role.SUPERVISOR)
    rival = actor()
    deploy(factory, rival.tenant)
    sup_token = factory.token(supervisor.user, admin.tenant)
    admin_token = factory.token(admin.user, admin.tenant)
    rival_token = factory.token(rival.user, rival.tenant)
    person = actor(admin.tenant, Role.AGENT)
    status, agent = call(server, admin_token, "POST", "/agents", {
        "display_name": "Li Na", "user_id": str(person.user.id),
        "skills": [{"skill": "billing", "level": 3}]})
    assert status == 201
    agent_token = factory.token(person.user, admin.tenant)

    async def scenario() -> None:
        board = await subscribe(server, sup_token, ["queue.*", "agent.state", "interaction.*"])
        theirs = await subscribe(server, rival_token, ["*"])
        try:
            _, chat = call(server, admin_token, "POST", "/interactions",
                           {"channel": "chat", "direction": "inbound"})
            call(server, admin_token, "POST", f"/interactions/{chat['id']}/queue",
                 {"queue": "billing"})
            queued = await next_event(board, "queue.status")
            assert queued["data"]["queue"] == "billing"
            assert queued["data"]["waiting"] == 1
            call(server, agent_token, "PUT", f"/agents/{agent['id']}/presence",
                 {"state": "ready"})
            seen = await events_until(board, "interaction.offer")
            states = [e["data"] for e in seen if e["topic"] == "agent.state"]
            assert states[-1]["agent_id"] == agent["id"]
            queues = [e["data"] for e in seen if e["topic"] == "queue.status"]
            assert queues[-1]["waiting"] == 0  # the chat left the queue: it rings at Li
            assert await silent(theirs)
        finally:
            await board.close()
            await theirs.close()

    asyncio.run(scenario())
