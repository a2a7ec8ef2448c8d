"""Overdue tickets for the supervisor: open tickets past a due time, most overdue first, and
escalation by hand (priority up a step, history with the note, an event on the bus)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tests.functional.portal.portal_desk import (
    Desk,
    error,
)

FORM = {"phone": "13912345678", "kind": "residential"}


def _ticket(desk: Desk, subject: str, late_hours: float | None) -> dict[str, Any]:
    api = desk.admin.bearer.api
    ticket = api("POST", "/tickets", {"type": "repair_wf", "subject": subject, "data": FORM},
                 status=201).json
    if late_hours is not None:
        due = dt.datetime.now(dt.UTC) - dt.timedelta(hours=late_hours)
        api("PATCH", f"/tickets/{ticket['id']}", {"resolve_due_at": due.isoformat()})
    return ticket  # type: ignore[no-any-return]


def test_overdue_tickets_come_most_overdue_first(desk: Desk) -> None:
    _ticket(desk, "on time", None)
    a_bit = _ticket(desk, "a bit late", 1)
    very = _ticket(desk, "very late", 30)
    _ticket(desk, "due later", -5)

    listed = desk.supervisor.bearer.api("GET", "/tickets/overdue").json
    assert listed["total"] == 2
    assert [t["id"] for t in listed["items"]] == [very["id"], a_bit["id"]]
    first = listed["items"][0]
    assert first["missed"] == ["resolve"]
    assert 30 * 3600 <= first["overdue_seconds"] < 31 * 3600
    assert first["escalations"] == 0


def test_escalating_raises_priority_and_records_the_note(desk: Desk, platform: Any) -> None:
    late = _ticket(desk, "very late", 30)
    sup = desk.supervisor

    def escalate() -> None:
        out = sup.bearer.api("POST", f"/tickets/{late['id']}/escalate",
                             {"note": "customer called twice"}).json
        assert out["priority"] == "high"

    events = _collect(platform, desk.admin.tenant.id, escalate)
    escalated = [e for e in events if e.topic.endswith(".ticket.escalated")]
    assert escalated
    assert escalated[0].data["ticket_id"] == late["id"]

    history = sup.bearer.api("GET", f"/tickets/{late['id']}/history").json["items"]
    last = history[-1]
    assert (last["action"], last["comment"]) == ("escalated", "customer called twice")
    assert last["actor_user_id"] == str(sup.user.id)
    assert last["changes"] == {"priority": ["normal", "high"]}
    again = sup.bearer.api("POST", f"/tickets/{late['id']}/escalate", {}).json
    assert again["priority"] == "urgent"
    listed = sup.bearer.api("GET", "/tickets/overdue").json["items"]
    assert listed[0]["escalations"] == 2


def test_a_closed_ticket_is_not_escalated(desk: Desk) -> None:
    ticket = _ticket(desk, "done", None)
    api = desk.admin.bearer.api
    desk.admin.bearer.api("PATCH", f"/users/{desk.admin.user.id}",
                          {"duty_roles": ["duty_lead"]})
    api("PATCH", f"/tickets/{ticket['id']}", {"state": "dispatched"})
    api("PATCH", f"/tickets/{ticket['id']}", {"state": "closed"})
    response = desk.supervisor.bearer.api("POST", f"/tickets/{ticket['id']}/escalate", {},
                                          status=409)
    assert "closed" in error(response)["message"]


def test_another_tenants_tickets_are_not_there(desk: Desk, actor: Any) -> None:
    late = _ticket(desk, "very late", 30)
    stranger = actor()
    assert stranger.bearer.api("GET", "/tickets/overdue").json["total"] == 0
    stranger.bearer.api("POST", f"/tickets/{late['id']}/escalate", {}, status=404)
    stranger.bearer.api("POST", "/tickets/not-a-uuid/escalate", {}, status=404)


def _collect(platform: Any, tenant_id: Any, action: Any) -> list[Any]:
    """Subscribe to the tenant's events, run ``action`` in a thread, return what arrived."""

    async def scenario() -> list[Any]:
        subscription = await platform.bus.subscribe(patterns=[f"tenant.{tenant_id}.*"])
        received = []
        async with subscription:
            await asyncio.to_thread(action)
            while True:
                try:
                    received.append(await subscription.get(timeout=1.0))
                except TimeoutError:
                    return received

    async def run_and_close() -> list[Any]:
        try:
            return await scenario()
        finally:
            if platform.settings.redis_url:
                await platform.bus.aclose()
                platform.__dict__.pop("bus", None)

    return asyncio.run(run_and_close())
