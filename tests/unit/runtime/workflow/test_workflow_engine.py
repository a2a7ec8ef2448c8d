"""The workflow engine on the example tenants' real workflows (gas, power95598, demo)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from kefu.dsl import ir
from kefu.dsl.loader import compile_path
from kefu.runtime.calendar import NoWorkingTime
from kefu.runtime.workflow import (
    Actor,
    Assign,
    Emit,
    FollowupDone,
    FollowupDue,
    GuardFailed,
    InvalidTransition,
    MissingFields,
    NotAllowed,
    Notify,
    RaisePriority,
    ScheduleFollowup,
    Step,
    Ticket,
    UnknownWorkflow,
    WorkflowEngine,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
CLERK = Actor.of("u-clerk", "agent")
LEAD = Actor.of("u-lead", "值班长")
COURIER = Actor.of("u-courier", "派送员")
FIXER = Actor.of("u-fixer", "抢修员")


@cache
def config(tenant: str) -> ir.Config:
    result = compile_path(f"tenants/{tenant}")
    assert result.ir is not None, result.diagnostics
    return result.ir


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def kinds(step: Step, cls: type) -> list:
    return [a for a in step.actions if isinstance(a, cls)]


def events(step: Step) -> list[str]:
    return [a.event for a in step.actions if isinstance(a, Emit)]


def gas_order(now: dt.datetime) -> Step:
    engine = WorkflowEngine(config("gas"))
    return engine.create("送气", {"用户号": "12345678", "瓶数": 2}, CLERK, now, ticket_id="T1")


# ---------------------------------------------------------------------------- creating


def test_created_ticket_starts_in_initial_state_with_sla_on_business_calendar() -> None:
    step = gas_order(sh(2025, 11, 5, 18, 0))
    t = step.ticket
    assert t.state == "已受理"
    # 4 h on 营业时间 (08:00-20:00) asked at 18:00: due next morning at 10:00.
    assert t.clock("送气时限") is not None
    assert t.response_due_at == sh(2025, 11, 6, 10, 0)
    assert t.clock("送气时限").warn_at == sh(2025, 11, 6, 9, 0)  # type: ignore[union-attr]
    assert events(step) == ["ticket.created"]
    assert [h.action for h in t.history] == ["created", "sla_started"]
    assert t.history[0].changes["用户号"] == (None, "12345678")
    assert t.history[0].actor == "u-clerk"
    assert step.wake_at == sh(2025, 11, 6, 9, 0)


def test_order_placed_before_national_day_is_due_after_it() -> None:
    t = gas_order(sh(2025, 9, 30, 19, 0)).ticket
    assert t.response_due_at == sh(2025, 10, 4, 11, 0)


def test_required_form_fields_are_checked() -> None:
    engine = WorkflowEngine(config("gas"))
    with pytest.raises(MissingFields, match=r"订气单.*用户号") as err:
        engine.create("送气", {"瓶数": 1}, CLERK, sh(2025, 11, 5, 9), ticket_id="T")
    assert err.value.fields == ("用户号",)


def test_unknown_workflow_names_the_known_ones() -> None:
    with pytest.raises(UnknownWorkflow, match="known: 投诉, 报修, 送气"):
        WorkflowEngine(config("gas")).create("x", {}, CLERK, sh(2025, 1, 1), ticket_id="T")


# ---------------------------------------------------------------------------- moving


def test_transition_by_name_assigns_and_logs() -> None:
    engine = WorkflowEngine(config("gas"))
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    step = engine.transition(t, "派送", COURIER, sh(2025, 11, 5, 9, 30))
    assert step.ticket.state == "已派送"
    assert step.ticket.assignee == "香洲营业点"
    assert kinds(step, Assign) == [Assign("T1", "香洲营业点", "transition 派送")]
    moved = step.history[0]
    assert (moved.action, moved.from_state, moved.to_state, moved.actor) == \
        ("transition", "已受理", "已派送", "u-courier")
    assert moved.changes["state"] == ("已受理", "已派送")
    assert step.history[1].changes["assignee"] == (None, "香洲营业点")
    assert events(step) == ["ticket.changed"]
    assert t.state == "已受理"  # the input ticket is not mutated


def test_transition_by_target_state_and_field_changes() -> None:
    engine = WorkflowEngine(config("gas"))
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    step = engine.transition(t, "已派送", COURIER, sh(2025, 11, 5, 9, 30),
                             changes={"瓶数": 3, "用户号": "12345678"})
    assert step.ticket.fields["瓶数"] == 3
    assert step.history[0].changes == {"state": ("已受理", "已派送"), "瓶数": (2, 3)}


def test_role_not_allowed_gets_clear_error_naming_allowed_roles() -> None:
    engine = WorkflowEngine(config("gas"))
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    with pytest.raises(NotAllowed, match=r"transition `派送` \(已受理 → 已派送\) needs one of "
                                         r"the roles 派送员; u-clerk has agent") as err:
        engine.transition(t, "派送", CLERK, sh(2025, 11, 5, 9, 30))
    assert err.value.allowed == ("派送员",)


def test_any_of_several_roles_is_enough() -> None:
    engine = WorkflowEngine(config("power95598"))
    t = engine.create("报修工单", {"联系电话": "13800000000", "地址": "海口"}, CLERK,
                      sh(2025, 11, 5, 9), ticket_id="P1").ticket
    t = engine.transition(t, "受理", CLERK, sh(2025, 11, 5, 9, 1)).ticket
    assert engine.transition(t, "分拣", CLERK, sh(2025, 11, 5, 9, 2)).ticket.state == "分拣"


def test_transition_from_wrong_state_lists_possible_moves() -> None:
    engine = WorkflowEngine(config("gas"))
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    with pytest.raises(InvalidTransition, match=r"`已受理`: no transition `送达`.*派送 → 已派送"):
        engine.transition(t, "送达", COURIER, sh(2025, 11, 5, 9, 30))


def test_guard_on_ticket_fields() -> None:
    guard = ("<=", ("var", "ticket.瓶数"), ("num", 5))
    engine = WorkflowEngine(config("gas"), guards={"送气/派送": guard})
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    many = dataclasses.replace(t, fields={**t.fields, "瓶数": 9})
    with pytest.raises(GuardFailed, match="`派送`"):
        engine.transition(many, "派送", COURIER, sh(2025, 11, 5, 9, 30))
    assert engine.transition(t, "派送", COURIER, sh(2025, 11, 5, 9, 30)).ticket.state == "已派送"


def test_transition_notify_targets() -> None:
    engine = WorkflowEngine(config("power95598"))
    t = Ticket("P2", "报修工单", "处理中", {}, sh(2025, 11, 5, 9), sh(2025, 11, 5, 9))
    step = engine.transition(t, "处理完毕", Actor.of("w", "抢修人员"), sh(2025, 11, 5, 10))
    assert kinds(step, Notify) == [Notify("P2", ("调度员",), "transition")]


def test_update_and_manual_assign_are_in_history() -> None:
    engine = WorkflowEngine(config("gas"))
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    step = engine.update(t, {"瓶数": 4, "用户号": "12345678"}, CLERK, sh(2025, 11, 5, 9, 5))
    assert step.history[0].changes == {"瓶数": (2, 4)}
    step2 = engine.assign(step.ticket, LEAD, sh(2025, 11, 5, 9, 6), agent="agent-7")
    assert step2.ticket.agent == "agent-7"
    assert step2.history[0].changes == {"agent": (None, "agent-7")}
    assert engine.update(t, {"瓶数": 2}, CLERK, sh(2025, 11, 5, 9, 7)).history == ()


# ---------------------------------------------------------------------------- SLAs


def test_warning_then_breach_each_fire_once() -> None:
    engine = WorkflowEngine(config("gas"))
    t = gas_order(sh(2025, 11, 5, 18, 0)).ticket
    assert engine.tick(t, sh(2025, 11, 5, 23, 0)).actions == ()  # night: nothing counts
    warn = engine.tick(t, sh(2025, 11, 6, 9, 0))
    assert kinds(warn, Notify) == [Notify("T1", ("值班长",), "sla_warning", "送气时限")]
    assert events(warn) == ["ticket.sla_warning"]
    assert engine.tick(warn.ticket, sh(2025, 11, 6, 9, 30)).actions == ()
    breach = engine.tick(warn.ticket, sh(2025, 11, 6, 10, 0))
    assert kinds(breach, Notify) == [Notify("T1", ("值班长", "香洲营业点"), "sla_breached",
                                            "送气时限")]
    assert kinds(breach, RaisePriority) == [RaisePriority("T1", "normal", "high",
                                                          "送气时限 breached")]
    assert breach.ticket.priority == "high"
    assert events(breach) == ["ticket.sla_breached"]
    again = engine.tick(breach.ticket, sh(2025, 11, 6, 15, 0))
    assert again.actions == ()
    assert again.wake_at is None


def test_weekend_ticket_is_not_overdue_on_saturday() -> None:
    # demo: office Mon-Fri 08-18, Sat 09-12, Sunday closed; first_visit within 4 h.
    engine = WorkflowEngine(config("demo"))
    saturday = dt.datetime(2025, 11, 8, 13, 0, tzinfo=LONDON)
    t = engine.create("repair", {"address": "1 High St"}, CLERK, saturday,
                      ticket_id="D1").ticket
    assert t.response_due_at == dt.datetime(2025, 11, 10, 12, 0, tzinfo=LONDON)
    for later in (dt.datetime(2025, 11, 8, 23, 0, tzinfo=LONDON),
                  dt.datetime(2025, 11, 9, 17, 0, tzinfo=LONDON)):
        step = engine.tick(t, later)
        assert step.actions == ()
        assert not step.ticket.clock("first_visit").overdue(later)  # type: ignore[union-attr]
    assert events(engine.tick(t, dt.datetime(2025, 11, 10, 12, 0, tzinfo=LONDON))) == \
        ["ticket.sla_warning", "ticket.sla_breached"]


def test_escalation_fires_once_and_reassigns_to_department() -> None:
    # 95598: 城区到达 within 45 m, escalate after 90 m notify 调度中心 (a department).
    engine = WorkflowEngine(config("power95598"))
    t = engine.create("报修工单", {"联系电话": "13800000000", "地址": "海口"}, CLERK,
                      sh(2025, 11, 5, 22, 0), ticket_id="P3").ticket
    late = engine.tick(t, sh(2025, 11, 5, 23, 31))
    escalated = [n for n in kinds(late, Notify) if n.reason == "escalated"]
    assert escalated == [Notify("P3", ("调度中心",), "escalated", "城区到达")]
    assert kinds(late, Assign) == [Assign("P3", "调度中心", "城区到达 escalated")]
    # warning and breach (+1 level) then escalation (+1 level)
    assert late.ticket.priority == "urgent"
    assert engine.tick(late.ticket, sh(2025, 11, 5, 23, 45)).actions == ()
    assert [h.action for h in late.history] == [
        "sla_warning", "sla_breached", "priority_raised", "escalated", "priority_raised",
        "assigned"]


def test_sla_stops_when_its_end_state_is_reached() -> None:
    engine = WorkflowEngine(config("gas"))
    t = engine.create("报修", {"地址": "香洲"}, CLERK, sh(2025, 11, 5, 9, 0),
                      ticket_id="R1").ticket
    step = engine.transition(t, "派工", LEAD, sh(2025, 11, 5, 9, 10))
    clock = step.ticket.clock("派工时限")
    assert clock is not None
    assert clock.stopped_at == sh(2025, 11, 5, 9, 10)
    assert not clock.overdue(sh(2025, 11, 5, 12))
    assert step.ticket.clock("修复时限").running  # type: ignore[union-attr]
    later = engine.tick(step.ticket, sh(2025, 11, 5, 11, 0))  # 派工时限 would have escalated
    assert all(a.sla != "派工时限" for a in kinds(later, Notify))


# ---------------------------------------------------------------------------- closing


def _delivered(engine: WorkflowEngine, at: dt.datetime) -> Step:
    t = gas_order(at - dt.timedelta(hours=2)).ticket
    t = engine.transition(t, "派送", COURIER, at - dt.timedelta(hours=1)).ticket
    return engine.transition(t, "送达", COURIER, at)


def test_follow_up_is_scheduled_on_delivery_and_becomes_due_once() -> None:
    engine = WorkflowEngine(config("gas"))
    step = _delivered(engine, sh(2025, 11, 7, 11, 0))  # Friday
    assert kinds(step, ScheduleFollowup) == [
        ScheduleFollowup("T1", "送气回访", sh(2025, 11, 9, 11, 0), "回访记录", "已回访")]
    assert step.ticket.clock("送气时限").stopped_at is not None  # type: ignore[union-attr]
    due = engine.tick(step.ticket, sh(2025, 11, 9, 11, 0))
    assert kinds(due, FollowupDue) == [FollowupDue("T1", "送气回访", sh(2025, 11, 9, 11, 0))]
    assert "followup.due" in events(due)
    assert engine.tick(due.ticket, sh(2025, 11, 9, 12, 0)).actions == ()


def test_follow_up_in_business_days_when_declared() -> None:
    engine = WorkflowEngine(config("gas"), followup_calendar="营业时间")
    step = _delivered(engine, sh(2025, 9, 30, 11, 0))
    # 2 working days after 30 Sep on 营业时间 skip National Day (1-3 Oct): 5 Oct, not 2 Oct.
    assert kinds(step, ScheduleFollowup)[0].due_at == sh(2025, 10, 5, 11, 0)


def test_doing_the_follow_up_completes_it_and_auto_close_runs() -> None:
    engine = WorkflowEngine(config("gas"))
    step = _delivered(engine, sh(2025, 11, 7, 11, 0))
    visited = engine.transition(step.ticket, "回访", CLERK, sh(2025, 11, 8, 10, 0))
    assert kinds(visited, FollowupDone) == [FollowupDone("T1", "送气回访")]
    assert engine.tick(visited.ticket, sh(2025, 11, 10, 10, 0)).actions == ()
    assert visited.wake_at == sh(2025, 11, 15, 10, 0)  # auto close after 7 d
    closed = engine.tick(visited.ticket, sh(2025, 11, 15, 10, 0))
    assert closed.ticket.state == "已关闭"
    assert closed.ticket.closed_at == sh(2025, 11, 15, 10, 0)
    assert events(closed) == ["ticket.changed", "ticket.closed"]
    assert closed.history[0].actor == "system"
    assert closed.wake_at is None


def test_full_history_of_a_repair() -> None:
    engine = WorkflowEngine(config("gas"))
    now = sh(2025, 11, 5, 9, 0)
    t = engine.create("报修", {"地址": "香洲"}, CLERK, now, ticket_id="R2").ticket
    for name, who in (("派工", LEAD), ("到场", FIXER), ("修复", FIXER), ("回访", CLERK),
                      ("结案", LEAD)):
        now += dt.timedelta(minutes=10)
        t = engine.transition(t, name, who, now).ticket
    moves = [(h.from_state, h.to_state) for h in t.history if h.action == "transition"]
    assert moves == [("受理", "已派工"), ("已派工", "处理中"), ("处理中", "已修复"),
                     ("已修复", "已回访"), ("已回访", "关闭")]
    assert t.closed_at == now
    assert all(not c.running for c in t.slas)
    assert [f.done for f in t.followups] == [True]


def test_sla_on_calendar_without_working_time_is_a_visible_error() -> None:
    gas = config("gas")
    closed = tuple(dataclasses.replace(c, weekly=((),) * 7, workdays=())
                   if c.id == "营业时间" else c for c in gas.calendars)
    engine = WorkflowEngine(dataclasses.replace(gas, calendars=closed))
    with pytest.raises(NoWorkingTime, match="`营业时间` has no working time"):
        engine.create("送气", {"用户号": "12345678"}, CLERK, sh(2025, 11, 5, 9),
                      ticket_id="T")


def test_history_is_plain_data() -> None:
    t = gas_order(sh(2025, 11, 5, 9, 0)).ticket
    entry = dataclasses.asdict(t.history[0])
    assert entry["action"] == "created"
    assert entry["to_state"] == "已受理"
    assert entry["actor"] == "u-clerk"
