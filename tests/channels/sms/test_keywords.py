"""SMS keywords (unsubscribe: 退订 / TD / STOP) are DSL rules on ``sms.received``; the SMS
channel only has to hand the rules engine the message as :meth:`InboundSms.event_data`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kefu.channels.sms.kannel import parse_mo
from kefu.channels.sms.messages import InboundSms
from kefu.dsl.api import build
from kefu.runtime.rules import Event, RulesEngine

# The rule docs/sms.md recommends, as a tenant would write it.
UNSUBSCRIBE = r"""tenant t {
  locales zh_CN
  timezone "Asia/Shanghai"
}
template 退订确认 "您已退订燃气服务短信,回复 DY 可重新订阅。"
rule 短信退订 "短信退订" {
  on sms.received
  when matches(lower(message.text), "^\s*(td|t|stop|unsubscribe|退订|ｔｄ)\s*[.!。!]?\s*$")
  set customer.unsubscribed = true
  reply 退订确认
}
"""


def engine() -> RulesEngine:
    built = build({"tenant.kefu": UNSUBSCRIBE})
    assert built.ir is not None, built.report
    return RulesEngine(built.ir)


def received(message: InboundSms) -> Event:
    return Event("e1", "sms.received", {"message": message.event_data()}, message.received_at)


def sms(text: str) -> InboundSms:
    return InboundSms("+8613800138000", "10690756", text, datetime(2025, 11, 5, tzinfo=UTC), "smpp")


@pytest.mark.parametrize("text", ["退订", "TD", " td ", "Stop!", "退订。", "ＴＤ", "unsubscribe"])
def test_unsubscribe_keywords_opt_the_customer_out_and_reply_to_the_sender(text: str) -> None:
    [firing] = engine().handle(received(sms(text))).firings
    opt_out, reply = firing.actions
    assert (opt_out.kind, opt_out.var, opt_out.value) == ("set", "customer.unsubscribed", True)
    assert (reply.kind, reply.channel, reply.to) == ("reply", "sms", "+8613800138000")
    assert reply.text == "您已退订燃气服务短信,回复 DY 可重新订阅。"


@pytest.mark.parametrize("text", ["我要退订单", "TD是什么意思", "stop the leak please"])
def test_messages_that_merely_contain_a_keyword_do_not_unsubscribe(text: str) -> None:
    assert engine().handle(received(sms(text))).firings == ()


def test_a_kannel_mo_feeds_the_same_rule() -> None:
    message = parse_mo("from=%2B8613800138000&to=10690756&text=%90%00%8B%A2&coding=2&charset=UTF-16BE")
    assert message.text == "退订"
    [firing] = engine().handle(received(message)).firings
    assert firing.actions[1].to == "+8613800138000"
