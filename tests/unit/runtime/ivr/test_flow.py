"""Flow semantics: lookups, subflows, transfer into a flow and back, business hours, queues,
callbacks, voicemail, tickets and messages, Chinese prompts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from kefu.dsl import ir
from kefu.runtime.ivr import (
    AgentAnswered,
    CreateTicket,
    Digits,
    Ended,
    Enqueue,
    Hangup,
    Host,
    Interpreter,
    Lookup,
    LookupResult,
    Mode,
    QueueTimeout,
    Record,
    RecordingDone,
    ReturnToAgent,
    Say,
    ScheduleCallback,
    SendMessage,
    Speech,
    StartTimer,
    State,
    Text,
    Timer,
    Transfer,
    TransferFailed,
    Transferred,
    host_allowed,
    run_script,
)
from kefu.runtime.ivr.actions import Action

from .conftest import MONDAY_10, SUNDAY_10, local, tenant

T = MONDAY_10


def said(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def at_lookup(lab: ir.Config) -> tuple[Interpreter, Lookup, StartTimer]:
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    interp.start(T)
    interp.feed(Text("1"), T)
    out = interp.feed(Text("1234"), T)
    lookup = next(a for a in out if isinstance(a, Lookup))
    timer = next(a for a in out if isinstance(a, StartTimer) and a.name.startswith("lookup"))
    assert interp.state is State.FETCHING
    return interp, lookup, timer


# ------------------------------------------------------------------ lookups


def test_lookup_ok_stores_the_record(lab: ir.Config) -> None:
    interp, lookup, timer = at_lookup(lab)
    assert (lookup.method, lookup.timeout_ms) == ("GET", 2000)
    assert timer.due == T + dt.timedelta(seconds=2)
    out = interp.feed(LookupResult("ok", {"name": "Ann"}, lookup.request_id), T)
    assert said(out) == ["Hello Ann.", "Goodbye."]
    assert interp.variables["rec"] == {"name": "Ann"}
    assert out[-2:] == [Hangup(), Ended("completed", "bye")]


def test_lookup_error_retries_then_takes_the_error_exit(lab: ir.Config) -> None:
    interp, lookup, _ = at_lookup(lab)
    out = interp.feed(LookupResult("error", request_id=lookup.request_id), T)
    retry = next(a for a in out if isinstance(a, Lookup))  # `retries 1`
    assert retry.request_id != lookup.request_id
    out = interp.feed(LookupResult("error"), T)
    assert said(out) == ["Lookup failed."]
    assert Enqueue("help_q") in out


def test_lookup_timeout_fires_on_the_virtual_clock(lab: ir.Config) -> None:
    interp, _lookup, timer = at_lookup(lab)
    out = interp.feed(Timer(timer.name), timer.due)
    retry_timer = next(a for a in out if isinstance(a, StartTimer))
    assert retry_timer.due == timer.due + dt.timedelta(seconds=2)
    out = interp.feed(Timer(retry_timer.name), retry_timer.due)
    assert said(out) == ["Lookup timed out."]
    assert interp.state is State.QUEUED


def test_late_result_of_an_abandoned_request_is_ignored(lab: ir.Config) -> None:
    interp, lookup, timer = at_lookup(lab)
    interp.feed(Timer(timer.name), timer.due)  # timed out: a retry is in flight
    assert interp.feed(LookupResult("ok", {"name": "Old"}, lookup.request_id), T) == []
    assert interp.state is State.FETCHING
    interp.feed(LookupResult("timeout"), T)
    assert interp.node == "agent"


def test_lookup_to_a_host_not_allow_listed_is_refused(lab: ir.Config) -> None:
    closed = dataclasses.replace(lab, tenant=dataclasses.replace(lab.tenant, allow_hosts=()))
    interp = Interpreter(closed, "main", mode=Mode.TEXT)
    interp.start(T)
    interp.feed(Text("1"), T)
    out = interp.feed(Text("1234"), T)
    assert not any(isinstance(a, Lookup) for a in out)
    assert said(out)[0] == "Lookup failed."
    assert any("refused" in h[2] for h in interp.history)


def test_variables_cannot_change_the_lookup_host(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    out = interp.start(T, node="look", variables={"pin": "x@evil.example/y?z"})
    lookup = next(a for a in out if isinstance(a, Lookup))
    assert lookup.url == "https://api.example.com/accounts/x%40evil.example%2Fy%3Fz"


def test_host_allowed() -> None:
    hosts = ("api.example.com", "*.corp.example")
    assert host_allowed("https://api.example.com/x", hosts)
    assert host_allowed("http://crm.corp.example/x", hosts)
    assert not host_allowed("https://corp.example.evil/x", hosts)
    assert not host_allowed("https://api.example.com.evil.net/x", hosts)
    assert not host_allowed("https://api.example.com@evil.net/x", hosts)
    assert not host_allowed("ftp://api.example.com/x", hosts)
    assert not host_allowed("https://other.example/x", ())


# ------------------------------------------------------------------ subflows, agent transfer


def test_subflow_returns_to_the_node_after_the_call(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    interp.start(T)
    out = interp.feed(Text("help"), T)
    assert said(out) == ["Tip: you can say help at any time."]
    assert Enqueue("help_q") in out  # `call tips help_tips -> agent`
    assert any("return from help_tips" in h[2] for h in interp.history)


def test_chinese_subflow_return_in_the_gas_tenant() -> None:
    gas = tenant("gas")
    t = run_script(gas, "燃气热线", [Digits("3")], T)
    assert "如闻到燃气异味,请立即关闭阀门、打开门窗,切勿开关电器。" in t.said
    assert t.of(Enqueue) == [Enqueue("抢修调度")]


def test_agent_transfers_into_a_flow_and_gets_the_contact_back(lab: ir.Config) -> None:
    interp = Interpreter(lab, "verify")
    out = interp.start(T, variables={"caller": {"number": "+15551234"}, "case": "C-7"},
                       return_to="agent-7")
    assert said(out) == ["Please enter your four digit PIN for the agent."]
    out = interp.feed(Digits("4321"), T)
    back = next(a for a in out if isinstance(a, ReturnToAgent))
    assert back.target == "agent-7"
    assert back.variables["code"] == "4321"
    assert back.variables["verified"] is True
    assert back.variables["case"] == "C-7"
    assert back.variables["caller"]["number"] == "+15551234"
    assert out[-1] == Ended("returned", "give_back", "agent-7")
    assert not any(isinstance(a, Hangup) for a in out)  # the call stays up


def test_enter_a_flow_at_a_node(lab: ir.Config) -> None:
    t = run_script(lab, "main", [Speech("small")], T, node="size")
    assert t.said[0] == "Which size?"
    assert t.variables["size"] == "small"
    assert t.outcome == "completed"


# ------------------------------------------------------------------ business hours


def test_business_hours_open_and_closed(lab: ir.Config) -> None:
    def first(now: dt.datetime) -> str:
        return said(Interpreter(lab, "main").start(now))[0]

    assert first(T) == "Welcome."
    assert first(SUNDAY_10) == "We are closed. Leave a message."
    assert first(local(2025, 3, 3, 16, 59)) == "Welcome."
    assert first(local(2025, 3, 3, 17, 0)) == "We are closed. Leave a message."
    assert first(local(2025, 12, 25, 10, 0)) == "We are closed. Leave a message."


def test_business_hours_use_the_calendar_time_zone() -> None:
    demo = tenant("demo")  # office opens 08:00 Europe/London
    summer_utc = dt.datetime(2025, 7, 7, 7, 30, tzinfo=dt.UTC)  # 08:30 BST
    assert said(Interpreter(demo, "main").start(summer_utc))[0] == "Welcome to Acme Gas."
    assert said(Interpreter(demo, "main").start(summer_utc.replace(tzinfo=None)))[0] \
        .startswith("We are closed")


def test_voicemail_records_then_hangs_up(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main")
    out = interp.start(SUNDAY_10)
    assert Record("closed", 120) in out
    assert not next(a for a in out if isinstance(a, Say)).barge_in
    assert interp.state is State.RECORDING
    out = interp.feed(RecordingDone("file:1.wav"), SUNDAY_10)
    assert out == [Hangup(), Ended("voicemail", "closed", "file:1.wav")]


# ------------------------------------------------------------------ queues and callbacks


def test_queue_answered_and_timeout_to_callback_offer(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    interp.start(T, variables={"caller": {"number": "+15550001"}})
    interp.feed(Text("help"), T)
    out = interp.feed(QueueTimeout(), T)
    assert said(out) == ["Shall we call you back? Press 1 for yes, 2 for no."]
    out = interp.feed(Text("yes"), T)
    assert ScheduleCallback("help_q", "+15550001") in out
    assert interp.outcome == "completed"

    declined = Interpreter(lab, "main", mode=Mode.TEXT)
    declined.start(T)
    declined.feed(Text("help"), T)
    declined.feed(QueueTimeout(), T)
    assert said(declined.feed(Text("maybe"), T))[0].startswith("Shall we")
    declined.feed(Digits("2"), T)
    assert declined.state is State.RECORDING

    answered = Interpreter(lab, "main", mode=Mode.TEXT)
    answered.start(T)
    answered.feed(Text("help"), T)
    assert answered.feed(AgentAnswered("alice"), T) == [Ended("answered", "agent", "alice")]


def test_transfer_failed_and_connected() -> None:
    demo = tenant("demo")
    busy = Host(agents="busy", transfer_fails=True)
    t = run_script(demo, "main", [Digits("2")], T, host=busy)
    assert t.of(Transfer) == [Transfer("+447700900123")]
    assert t.outcome == "voicemail"
    t = run_script(demo, "main", [Digits("2")], T, host=Host(agents="busy"))
    assert t.outcome == "transferred"
    interp = Interpreter(demo, "main")
    interp.start(T)
    interp.feed(Digits("2"), T)
    interp.feed(QueueTimeout(), T)
    assert interp.state is State.TRANSFERRING
    assert interp.feed(TransferFailed("busy"), T)[-1] == Record("voicemail_box", 120)
    assert interp.feed(RecordingDone(), T)[-1].outcome == "voicemail"  # type: ignore[union-attr]
    other = Interpreter(demo, "main")
    other.start(T)
    other.feed(Digits("2"), T)
    other.feed(QueueTimeout(), T)
    assert other.feed(Transferred(), T) == [Ended("transferred", "duty_phone", "+447700900123")]


def test_tenant_ivr_time_limit(lab: ir.Config) -> None:
    limited = dataclasses.replace(lab, tenant=dataclasses.replace(lab.tenant,
                                                                  max_ivr_seconds=60))
    interp = Interpreter(limited, "main", mode=Mode.TEXT)
    out = interp.start(T)
    limit = next(a for a in out if isinstance(a, StartTimer) and a.name.startswith("limit"))
    assert limit.due == T + dt.timedelta(seconds=60)
    assert interp.feed(Timer(limit.name), limit.due)[-1] == Ended("timeout", "top")


# ------------------------------------------------------------------ Chinese self-service


def test_chinese_vip_greeting_from_a_lookup() -> None:
    gas = tenant("gas")
    host = Host(lookups={"客户识别": LookupResult("ok", {"姓名": "王先生", "大客户": True})})
    t = run_script(gas, "燃气热线", [], T, host=host,
                   variables={"caller": {"number": "13900000000"}})
    lookup = t.of(Lookup)[0]
    assert lookup.url == "https://crm.gas.example.cn/api/customers?phone=13900000000"
    assert t.said[0] == "尊敬的大客户王先生,您好,正在为您接通专属客户专员。"
    assert t.of(Enqueue) == [Enqueue("大客户专线")]
    assert t.outcome == "answered"


def test_chinese_gas_order_creates_a_ticket_and_sends_an_sms() -> None:
    gas = tenant("gas")
    host = Host(lookups={"账户验证": LookupResult("ok", {"有效": True, "送气地址": "海港路1号"})})
    t = run_script(gas, "燃气热线", [Digits("1"), Digits("12345678"), Digits("123456"),
                                      Digits("2")], T, host=host,
                   variables={"caller": {"number": "13900000000"}})
    assert t.said[:2] == ["您好,欢迎致电港湾燃气客户服务中心。",
                          "订购煤气请按1,开户登记请按2,燃气报修请按3,投诉建议请按4,人工服务请按0。"]
    ticket = t.of(CreateTicket)[0]
    assert ticket.workflow == "送气"
    assert ticket.fields == {"用户号": "12345678", "瓶数": "2", "送气地址": "海港路1号"}
    assert t.variables["送气单"]["id"] == "T0001"
    sms = t.of(SendMessage)[0]
    assert (sms.channel, sms.to) == ("sms", "13900000000")
    assert t.said[-1] == "您的订单已受理,送气员将尽快送达海港路1号。感谢您的来电,再见。"
    assert all(s.locale == "zh_CN" for s in t.of(Say))


def test_chinese_speech_menu_and_locale_switch() -> None:
    telecom = tenant("telecom")
    t = run_script(telecom, "统一IVR", [Speech("普通话"), Speech("我要查话费")], T)
    assert any("欢迎致电华信电信" in s for s in t.said)
    assert t.interpreter.node == "号码"
    english = run_script(telecom, "统一IVR", [Digits("3")], T)
    welcome = [s for s in english.of(Say) if "Welcome to Huaxin Telecom" in s.text]
    assert welcome
    assert welcome[0].locale == "en_US"


# ------------------------------------------------------------------ persistence


def test_snapshot_restores_a_session_in_another_process(lab: ir.Config) -> None:
    interp, lookup, timer = at_lookup(lab)
    data = json.loads(json.dumps(interp.snapshot(), ensure_ascii=False))
    again = Interpreter.restore(lab, data)
    assert again.state is State.FETCHING
    assert again.node == "look"
    out = again.feed(LookupResult("ok", {"name": "Bo"}, lookup.request_id), timer.due)
    assert said(out) == ["Hello Bo.", "Goodbye."]
    assert again.variables["pin"] == "1234"

    collecting = Interpreter(lab, "main", mode=Mode.TEXT)
    collecting.start(T)
    collecting.feed(Text("9"), T)
    resumed = Interpreter.restore(lab, json.loads(json.dumps(collecting.snapshot())))
    assert said(resumed.feed(Text("9"), T))[0] == "Still not an option."
