"""Follow-up visits (回访): when one falls due it becomes an outbound task an agent works like
any contact; working it closes the loop on the ticket; an automatic transition finishes it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kefu.platform.automation.models import AutomationEvent
from kefu.platform.automation.sweep import sweep
from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Interaction
from tests.functional.automation.conftest import Tenancy, at, rows, settle


def _repaired_ticket(t: Tenancy) -> tuple[dict[str, Any], dict[str, Any], Any, Any, Any]:
    """A customer, a ticket of theirs moved to 已修复, and an agent (user, client, record)."""
    user, agent = t.client(Role.AGENT)
    record = t.api.api("POST", "/agents", {"display_name": "回访员", "user_id": str(user.id),
                                           "extension": "8001"}, status=201).json
    customer = t.api.api("POST", "/customers", {
        "name": "王女士", "phones": [{"number": "13800138000"}]}, status=201).json
    ticket = agent.api("POST", "/tickets", {
        "type": "报修", "subject": "热水器不出水", "customer_id": customer["id"],
        "data": {"地址": "拱北路2号"}}, status=201).json
    agent.api("PATCH", f"/tickets/{ticket['id']}", {"state": "开始"})
    fixed = agent.api("PATCH", f"/tickets/{ticket['id']}", {"state": "修复"}).json
    assert fixed["state"] == "已修复"
    return customer, fixed, user, agent, record


def _tasks(t: Tenancy) -> list[Interaction]:
    return rows(t, Interaction, Interaction.direction == "outbound")


def test_a_followup_becomes_an_outbound_task_when_due_and_working_it_closes_the_loop(
        tenancy: Any, auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    customer, ticket, user, agent, record = _repaired_ticket(t)
    history = agent.api("GET", f"/tickets/{ticket['id']}/history?limit=100").json["items"]
    scheduled = next(e for e in history if e["action"] == "followup_scheduled")
    repaired = next(e for e in history if e["to_state"] == "已修复")
    due = at(scheduled["changes"]["followup.修复回访"][1]["due_at"])
    assert due == at(repaired["created_at"]) + timedelta(days=1)
    assert at(ticket["next_wakeup_at"]) == due

    sweep(auto_platform, due - timedelta(seconds=1))
    assert _tasks(t) == []

    sweep(auto_platform, due)
    settle(auto_platform)
    [task] = _tasks(t)
    assert (task.channel, task.state) == ("voice", "created")
    assert str(task.customer_id) == customer["id"]
    assert task.to_address == "13800138000"
    followup = task.data["followup"]
    assert (followup["id"], followup["ticket_id"], followup["form"], followup["target"],
            followup["status"]) == ("修复回访", ticket["id"], "回访记录", "已回访", "due")
    # The tenant's rules hear of it too (followup.due), once.
    assert [e.kind for e in rows(t, AutomationEvent, AutomationEvent.kind == "followup.due")] \
        == ["followup.due"]
    # Sweeping again does not make a second task.
    sweep(auto_platform, due + timedelta(hours=1))
    assert len(_tasks(t)) == 1

    # The agent works the task like any contact and ends it handled...
    path = f"/interactions/{task.id}/events"
    for body in ({"trigger": "enqueue", "queue": "维修队列"},
                 {"trigger": "offer", "agent_id": record["id"]}, {"trigger": "answer"},
                 {"trigger": "wrap_up"}, {"trigger": "end", "outcome": "handled"}):
        agent.api("POST", path, body, status=200)
    settle(auto_platform)
    # ...and the ticket moves to the follow-up's target, by that agent.
    visited = agent.api("GET", f"/tickets/{ticket['id']}").json
    assert visited["state"] == "已回访"
    history = agent.api("GET", f"/tickets/{ticket['id']}/history?limit=100").json["items"]
    move = [e for e in history if e["action"] == "transition"][-1]
    assert (move["to_state"], move["actor_user_id"]) == ("已回访", str(user.id))
    assert [e["action"] for e in history].count("followup_done") == 1
    [task] = _tasks(t)
    assert task.data["followup"]["status"] == "done"
    assert task.data["followup"]["closed"] == {"ok": True, "state": "已回访"}

    # 结案 happens by itself three days after the visit.
    sweep(auto_platform, at(move["created_at"]) + timedelta(days=3))
    settle(auto_platform)
    closed = agent.api("GET", f"/tickets/{ticket['id']}").json
    assert closed["state"] == "关闭"
    assert closed["closed_at"] is not None
    assert closed["next_wakeup_at"] is None


def test_a_followup_done_before_it_is_due_creates_no_task(tenancy: Any,
                                                          auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    _customer, ticket, _user, agent, _record = _repaired_ticket(t)
    agent.api("PATCH", f"/tickets/{ticket['id']}", {"state": "已回访"})
    sweep(auto_platform, at(ticket["created_at"]) + timedelta(days=2))
    settle(auto_platform)
    assert _tasks(t) == []
