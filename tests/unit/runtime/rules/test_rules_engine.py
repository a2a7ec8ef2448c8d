"""The rules engine on the example tenants' rules, and its loop-freedom."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from functools import cache
from zoneinfo import ZoneInfo

from kefu.dsl import ir
from kefu.dsl.api import build
from kefu.dsl.loader import compile_path
from kefu.runtime.expressions import evaluate, fill
from kefu.runtime.rules import Event, RuleAction, RulesEngine, Skip
from kefu.runtime.rules.expressions import Scope
from kefu.runtime.workflow import Actor, Emit, WorkflowEngine

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 11, 5, 10, 0, tzinfo=SHANGHAI)

AUTO_REPLY = """tenant t {
  locales zh_CN
  timezone "Asia/Shanghai"
}
template 欢迎 "{customer.name}您好,我们已收到您的短信。"
rule 自动回复 "自动回复" {
  on sms.received
  when not contains(message.text, "退订")
  reply 欢迎
  set customer.tag = "已回复"
}
"""


@cache
def config(tenant: str) -> ir.Config:
    result = compile_path(f"tenants/{tenant}")
    assert result.ir is not None, result.diagnostics
    return result.ir


def auto_reply_config() -> ir.Config:
    built = build({"tenant.kefu": AUTO_REPLY})
    assert built.ir is not None, built.report
    return built.ir


def event(kind: str, data: dict, event_id: str = "e1", at: dt.datetime = NOW) -> Event:
    return Event(event_id, kind, data, at)


def ids() -> Iterator[str]:
    return (f"d{i}" for i in itertools.count(1))


# ---------------------------------------------------------------------------- messages


def test_auto_reply_fills_the_customers_name() -> None:
    engine = RulesEngine(auto_reply_config())
    sms = event("sms.received", {"message": {"text": "燃气味道很大", "from": "13800000000"},
                                 "customer": {"name": "王女士"}})
    dispatch = engine.handle(sms)
    [firing] = dispatch.firings
    assert (firing.rule, firing.event_id, firing.event) == ("自动回复", "e1", "sms.received")
    reply, tag = firing.actions
    assert reply.kind == "reply"
    assert reply.text == "王女士您好,我们已收到您的短信。"
    assert (reply.channel, reply.to, reply.template) == ("sms", "13800000000", "欢迎")
    assert reply.cause == "自动回复"
    assert (tag.kind, tag.var, tag.value) == ("set", "customer.tag", "已回复")


def test_condition_false_means_no_firing() -> None:
    engine = RulesEngine(auto_reply_config())
    dispatch = engine.handle(event("sms.received", {"message": {"text": "退订"}}))
    assert dispatch.firings == ()
    assert dispatch.skipped == ()


def test_telecom_bill_query_by_sms_in_each_locale() -> None:
    data = {"message": {"text": "CXHF", "from": "13900000000"},
            "customer": {"本月话费": 58.0}}
    zh = RulesEngine(config("telecom")).handle(event("sms.received", data)).actions
    assert [a.text for a in zh] == ["【华信电信】您本月话费58元,详询10000。"]
    en = RulesEngine(config("telecom"), locale="en_US").handle(event("sms.received", data))
    assert en.actions[0].text == "[Huaxin Telecom] Your bill this month is 58 yuan."
    other = RulesEngine(config("telecom")).handle(
        event("sms.received", {"message": {"text": "hello"}}))
    assert other.firings == ()


def test_email_with_repair_subject_creates_ticket_and_routes_it() -> None:
    mail = event("email.received", {"message": {"subject": "报修:厨房漏气", "from": "a@b.cn"}})
    [firing] = RulesEngine(config("gas")).handle(mail).firings
    assert [(a.kind, a.target) for a in firing.actions] == [("create", "报修"),
                                                            ("assign", "调度组")]
    assert all(a.chain == ("邮件受理",) and a.depth == 0 for a in firing.actions)


def test_holiday_greeting_only_on_holidays_for_key_accounts() -> None:
    engine = RulesEngine(config("gas"))
    big = {"customer": {"大客户": True, "phone": "13700000000"}}
    national_day = dt.datetime(2025, 10, 1, 9, 0, tzinfo=SHANGHAI)
    [greeting] = engine.handle(event("daily", big, at=national_day)).actions
    assert (greeting.kind, greeting.channel, greeting.to) == ("send", "sms", "13700000000")
    assert engine.handle(event("daily", big, at=NOW)).firings == ()
    small = {"customer": {"大客户": False, "phone": "1"}}
    assert engine.handle(event("daily", small, at=national_day)).firings == ()


def test_faq_answer_from_knowledge_base_port() -> None:
    faq_rule = ir.Rule("常见问题", None, "email.received", (),
                       (ir.Action("faq"),))
    cfg = dataclasses.replace(config("gas"), rules=(faq_rule,))
    answers = {"营业时间?": "每天 08:00-20:00"}
    engine = RulesEngine(cfg, faq=answers.get)
    mail = event("email.received", {"message": {"subject": "营业时间?", "from": "c@d.cn"}})
    [answer] = engine.handle(mail).actions
    assert (answer.kind, answer.channel, answer.to, answer.text) == \
        ("faq", "email", "c@d.cn", "每天 08:00-20:00")
    unknown = event("email.received", {"message": {"subject": "别的问题"}})
    [firing] = engine.handle(unknown).firings
    assert firing.actions == ()  # fired (recorded) but nothing to answer


# ---------------------------------------------------------------------------- with workflows


def test_delivery_sms_follows_the_workflow_event() -> None:
    workflows = WorkflowEngine(config("gas"))
    courier = Actor.of("c", "派送员")
    t = workflows.create("送气", {"用户号": "12345678"}, Actor.of("a", "agent"), NOW,
                         ticket_id="T9").ticket
    t = workflows.transition(t, "派送", courier, NOW).ticket
    step = workflows.transition(t, "送达", courier, NOW)
    [changed] = [a for a in step.actions if isinstance(a, Emit) and a.event == "ticket.changed"]
    data = {**changed.data, "customer": {"phone": "13600000000"}}
    [sms] = RulesEngine(config("gas")).handle(event(changed.event, data)).actions
    assert (sms.kind, sms.channel, sms.to) == ("send", "sms", "13600000000")
    assert sms.text == "【港湾燃气】您的煤气已送达,如有问题请致电96300。"


def test_breached_repair_notifies_dispatcher_with_ticket_id() -> None:
    workflows = WorkflowEngine(config("power95598"))
    t = workflows.create("报修工单", {"联系电话": "13800000000", "地址": "海口"},
                         Actor.of("a", "agent"), NOW, ticket_id="P7").ticket
    late = workflows.tick(t, NOW + dt.timedelta(hours=1))
    [breach] = [a for a in late.actions if isinstance(a, Emit)
                and a.event == "ticket.sla_breached"]
    [notify] = RulesEngine(config("power95598")).handle(
        event(breach.event, dict(breach.data))).actions
    assert (notify.kind, notify.target, notify.text) == \
        ("notify", "调度员", "报修单P7已超出时限,请立即督办。")


# ---------------------------------------------------------------------------- no loops


def _loop_config(*rules: ir.Rule) -> ir.Config:
    return dataclasses.replace(config("gas"), rules=rules)


def _set_rule(rule_id: str, on: str) -> ir.Rule:
    return ir.Rule(rule_id, None, on, (),
                   (ir.Action("set", var="ticket.标记", value=("str", rule_id)),))


def _perform(next_ids: Iterator[str],
             emits: dict[str, str]) -> Callable[[RuleAction], list[Event]]:
    """Carry out an action: a `set` changes the ticket, which is a new event."""

    def perform(action: RuleAction) -> list[Event]:
        kind = emits.get(action.cause, "ticket.changed")
        return [action.derive(next(next_ids), kind, {"ticket": {"标记": action.value}}, NOW)]

    return perform


def test_rule_whose_action_retriggers_itself_fires_once() -> None:
    engine = RulesEngine(_loop_config(_set_rule("自改", "ticket.changed")))
    start = event("ticket.changed", {"ticket": {"id": "T1"}})
    dispatches = engine.run(start, _perform(ids(), {}))
    fired = [f.rule for d in dispatches for f in d.firings]
    assert fired == ["自改"]
    assert dispatches[1].skipped == (Skip("自改", "in_chain"),)
    assert dispatches[1].event.chain == ("自改",)


def test_two_rules_triggering_each_other_each_fire_once() -> None:
    engine = RulesEngine(_loop_config(_set_rule("甲", "a.changed"),
                                      _set_rule("乙", "b.changed")))
    dispatches = engine.run(event("a.changed", {}),
                            _perform(ids(), {"甲": "b.changed", "乙": "a.changed"}))
    assert [f.rule for d in dispatches for f in d.firings] == ["甲", "乙"]
    assert dispatches[-1].skipped == (Skip("甲", "in_chain"),)


def test_depth_limit_stops_long_chains_of_distinct_rules() -> None:
    rules = tuple(_set_rule(f"r{i}", f"e{i}") for i in range(10))
    emits = {f"r{i}": f"e{i + 1}" for i in range(10)}
    engine = RulesEngine(_loop_config(*rules), max_depth=3)
    dispatches = engine.run(event("e0", {}), _perform(ids(), emits))
    assert [f.rule for d in dispatches for f in d.firings] == ["r0", "r1", "r2", "r3"]
    assert dispatches[-1].skipped == (Skip("r4", "too_deep"),)


def test_outside_events_are_not_affected_by_earlier_chains() -> None:
    engine = RulesEngine(_loop_config(_set_rule("自改", "ticket.changed")))
    for n in range(3):
        assert len(engine.handle(event("ticket.changed", {}, f"x{n}")).firings) == 1


# ---------------------------------------------------------------------------- expressions


def test_expression_semantics_match_the_reference() -> None:
    scope = Scope({"ticket": {"瓶数": "3", "state": "已受理"}, "xs": ["a"]}, NOW)
    assert evaluate((">", ("var", "ticket.瓶数"), ("num", 2)), scope) is True
    assert evaluate(("==", ("var", "ticket.瓶数"), ("num", 3)), scope) is True
    assert evaluate(("in", ("str", "a"), ("var", "xs")), scope) is True
    assert evaluate(("<", ("var", "missing"), ("num", 1)), scope) is False
    assert evaluate(("+", ("str", "单号"), ("num", 7.0)), scope) == "单号7"
    assert evaluate(("call", "open", ("cal", "营业时间")), scope) is False  # no config
    assert fill("{ticket.state}/{nope}", scope) == "已受理/"
    with_cal = Scope({}, NOW, config("gas"))
    assert evaluate(("call", "open", ("cal", "营业时间")), with_cal) is True
    assert evaluate(("call", "lower", ("str", "ABC")), with_cal) == "abc"
    assert evaluate(("call", "starts_with", ("str", "ABC"), ("str", "A")), with_cal) is True


def test_send_without_a_known_address_says_so() -> None:
    changed = {"ticket": {"workflow": "送气", "state": "已送达", "id": "T1"}}
    [sms] = RulesEngine(config("gas")).handle(event("ticket.changed", changed)).actions
    assert sms.to is None
    assert sms.raw == "【港湾燃气】您的煤气已送达,如有问题请致电96300。"
