"""Ticket timers: nobody touches a late ticket, yet it is warned about, breached (priority
raised, people notified) and escalated (reassigned) on time, on the tenant's business
calendar, each step once. Time is driven by calling the sweep with an explicit ``now``."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from kefu.platform.automation.models import Notification, RuleFiring
from kefu.platform.automation.sweep import sweep
from kefu.platform.identity.models import Role
from kefu.platform.tickets.models import TicketEvent
from kefu.runtime.calendar import resolve
from tests.functional.automation.conftest import Tenancy, at, rows, settle

REPAIR = {"type": "报修", "subject": "厨房漏水", "data": {"地址": "香洲区人民路1号"}}


def _history(tenancy: Tenancy, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return tenancy.api.api(  # type: ignore[no-any-return]
        "GET", f"/tickets/{ticket['id']}/history?limit=200").json["items"]


def _actions(tenancy: Tenancy, ticket: dict[str, Any]) -> list[str]:
    return [e["action"] for e in _history(tenancy, ticket)]


def _notifications(tenancy: Tenancy) -> list[Notification]:
    return rows(tenancy, Notification, order=Notification.created_at)


def test_a_late_ticket_is_warned_breached_and_escalated_without_anyone_touching_it(
        tenancy: Any, auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    supervisor, _ = t.client(Role.SUPERVISOR)
    escalation_user, _ = t.client(Role.AGENT)
    on_duty, _ = t.client(Role.AGENT)
    t.api.api("PATCH", f"/users/{on_duty.id}", {"duty_roles": ["值班长"]})
    t.api.api("POST", "/agents", {"display_name": "督办员", "user_id": str(escalation_user.id),
                                  "department": "督办组"}, status=201)
    ticket = t.api.api("POST", "/tickets", REPAIR, status=201).json
    opened = at(ticket["created_at"])
    # 响应 within 1h, warn at 50%, escalate after 2h (always-open calendar).
    assert at(ticket["next_wakeup_at"]) == opened + timedelta(minutes=30)
    url = f"/tickets/{ticket['id']}"

    assert sweep(auto_platform, opened + timedelta(minutes=29)).ticked == []
    assert "sla_warning" not in _actions(t, ticket)

    warned = sweep(auto_platform, opened + timedelta(minutes=30))
    assert [str(i) for i in warned.ticked] == [ticket["id"]]
    settle(auto_platform)
    now = t.api.api("GET", url).json
    assert (now["priority"], now["state"]) == ("normal", "受理")
    assert at(now["next_wakeup_at"]) == opened + timedelta(hours=1)
    [warning] = [n for n in _notifications(t) if n.reason == "sla_warning"]
    # 值班长 is a role of the tenant's DSL: the member holding it is told.
    assert (warning.target, warning.target_kind, warning.user_id, warning.reason) == (
        "值班长", "role", on_duty.id, "sla_warning")
    assert str(warning.ticket_id) == ticket["id"]
    # The ticket.sla_warning event ran the tenant's rule 超时督办 (notify 值班长 超时提醒).
    [firing] = rows(t, RuleFiring)
    assert (firing.rule, firing.event_kind, firing.status) == (
        "超时督办", "ticket.sla_warning", "done")
    texts = [n.text for n in _notifications(t)]
    assert f"工单{ticket['number']}即将超时" in texts

    # Sweeping again at the same moment changes nothing.
    assert sweep(auto_platform, opened + timedelta(minutes=45)).ticked == []
    settle(auto_platform)
    assert len(_notifications(t)) == 2

    sweep(auto_platform, opened + timedelta(hours=1))
    settle(auto_platform)
    now = t.api.api("GET", url).json
    assert now["priority"] == "high"
    breach = [n for n in _notifications(t) if n.reason == "sla_breached"]
    assert [(n.target, n.user_id) for n in breach] == [("supervisor", supervisor.id)]

    sweep(auto_platform, opened + timedelta(hours=2))
    settle(auto_platform)
    now = t.api.api("GET", url).json
    assert (now["priority"], now["department"]) == ("urgent", "督办组")
    assert now["next_wakeup_at"] is None  # every mark acted on
    escalated = [n for n in _notifications(t) if n.reason == "escalated"]
    assert [(n.target, n.target_kind, n.user_id) for n in escalated] == [
        ("督办组", "department", escalation_user.id)]

    actions = _actions(t, ticket)
    for once in ("sla_warning", "sla_breached", "escalated"):
        assert actions.count(once) == 1, actions
    assert actions.count("priority_raised") == 2
    assigned = [e for e in _history(t, ticket) if e["action"] == "assigned"]
    assert [e["changes"]["assignee"] for e in assigned] == [[None, "督办组"]]
    assert all(e["actor_user_id"] is None for e in _history(t, ticket)[2:])


def test_a_sweep_that_comes_late_acts_on_every_mark_in_order(tenancy: Any,
                                                             auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    ticket = t.api.api("POST", "/tickets", REPAIR, status=201).json
    sweep(auto_platform, at(ticket["created_at"]) + timedelta(hours=5))
    settle(auto_platform)
    actions = [a for a in _actions(t, ticket) if a in ("sla_warning", "sla_breached",
                                                       "escalated", "priority_raised")]
    assert actions == ["sla_warning", "sla_breached", "priority_raised", "escalated",
                       "priority_raised"]
    assert t.api.api("GET", f"/tickets/{ticket['id']}").json["priority"] == "urgent"


def test_a_ticket_answered_in_time_is_never_warned(tenancy: Any, auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    _, agent = t.client(Role.AGENT)
    ticket = t.api.api("POST", "/tickets", REPAIR, status=201).json
    moved = agent.api("PATCH", f"/tickets/{ticket['id']}", {"state": "开始"}).json
    assert moved["next_wakeup_at"] is None  # the SLA stopped; nothing left to wake for
    sweep(auto_platform, at(ticket["created_at"]) + timedelta(hours=5))
    settle(auto_platform)
    assert "sla_warning" not in _actions(t, ticket)
    # The transition's `notify 值班长` was carried out when it happened; nobody holds that
    # duty role yet, so the notification is addressed to the role itself.
    assert [(n.reason, n.target, n.user_id) for n in _notifications(t)] == [
        ("transition", "值班长", None)]


def test_deadlines_follow_the_tenants_business_calendar(tenancy: Any,
                                                       auto_platform: Any) -> None:
    """Gas company: a complaint must be answered within 24 hours of 营业时间 (08:00-20:00);
    the warning comes at 80% of that open time, not of wall-clock time."""
    t: Tenancy = tenancy("gas")
    supervisor, _ = t.client(Role.SUPERVISOR)
    ticket = t.api.api("POST", "/tickets", {
        "type": "投诉", "subject": "服务态度", "data": {"对象": "营业点", "内容": "态度差"}},
        status=201).json
    calendar = resolve(t.config, "营业时间")
    opened = at(ticket["created_at"])
    warn_at = calendar.add_business_time(opened, 0.8 * 24 * 3600)
    due_at = calendar.add_business_time(opened, 24 * 3600)
    assert at(ticket["next_wakeup_at"]) == warn_at

    sweep(auto_platform, warn_at - timedelta(seconds=1))
    assert "sla_warning" not in _actions(t, ticket)
    sweep(auto_platform, warn_at)
    settle(auto_platform)
    assert _actions(t, ticket).count("sla_warning") == 1
    # The gas tenant's own rule 工单超时: on ticket.sla_warning, notify 值班长 超时提醒.
    texts = [n.text for n in _notifications(t) if n.reason == "rule"]
    assert texts == [f"工单{ticket['id']}即将超时,请尽快处理。"]

    sweep(auto_platform, due_at)
    settle(auto_platform)
    now = t.api.api("GET", f"/tickets/{ticket['id']}").json
    assert now["priority"] == "high"
    assert [(n.target, n.user_id) for n in _notifications(t) if n.reason == "sla_breached"] \
        == [("supervisor", supervisor.id)]


def test_tickets_of_a_suspended_tenant_wait(tenancy: Any, auto_platform: Any,
                                            factory: Any) -> None:
    from kefu.platform.tenancy.models import Tenant, TenantStatus

    t: Tenancy = tenancy()
    ticket = t.api.api("POST", "/tickets", REPAIR, status=201).json
    with factory.session() as db:
        db.get(Tenant, t.tenant.id).status = TenantStatus.SUSPENDED
        db.commit()
    assert sweep(auto_platform, at(ticket["created_at"]) + timedelta(hours=5)).ticked == []
    with factory.session() as db:
        db.get(Tenant, t.tenant.id).status = TenantStatus.ACTIVE
        db.commit()
    assert len(sweep(auto_platform, at(ticket["created_at"]) + timedelta(hours=5)).ticked) == 1
    settle(auto_platform)


def test_several_sweepers_at_once_apply_each_step_once(tenancy: Any,
                                                       auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    tickets = [t.api.api("POST", "/tickets", REPAIR, status=201).json for _ in range(5)]
    when = max(at(x["created_at"]) for x in tickets) + timedelta(minutes=31)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(sweep(auto_platform, when)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settle(auto_platform)
    ticked = [i for r in results for i in r.ticked]
    assert sorted(str(i) for i in ticked) == sorted(x["id"] for x in tickets)
    assert not [i for r in results for i in r.failed]
    events = rows(t, TicketEvent, TicketEvent.action == "sla_warning")
    assert len(events) == len(tickets)
    warnings = [n for n in _notifications(t) if n.reason == "sla_warning"]
    assert len(warnings) == len(tickets)
