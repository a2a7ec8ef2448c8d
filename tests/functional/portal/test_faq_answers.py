"""FAQ auto-answers: a rule ``answer faq`` replies to an inbound email or SMS with the
knowledge-base article whose question it asks, through the outbound path (marked as a rule's
automatic answer); below the threshold nothing is sent and the message waits in its queue."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from kefu.platform.automation.models import RuleFiring
from kefu.platform.interactions.models import Channel, Direction, Interaction, Message
from kefu.platform.messaging.intake import Inbound, Intake
from kefu.runtime.lifecycle import State
from tests.functional.automation.conftest import Tenancy, rows, settle

CONFIG = """\
tenant faqco {
  name "FAQ Co"
  locales en, zh_CN
  timezone "UTC"
}

skill support "Support" levels 1..5

team desk "Desk" {
  members 2
  skill support 3
}

queue general "General" {
  require support >= 1
  max_wait 10m
}

channel email "{MAILBOX}" {
  queue general
}
channel sms "{NUMBER}" {
  queue general
}

rule mail_faq "Answer common questions by mail" {
  on email.received
  answer faq above 60%
}

rule sms_faq "Answer common questions by SMS" {
  on sms.received
  answer faq
}
"""

ARTICLES = [
    {"title": "How do I reset my password?", "locale": "en", "published": True,
     "body": "Choose 'Forgot password' on the login page and follow the link we send you."},
    {"title": "如何申请退款", "locale": "zh_CN", "published": True,
     "body": "登录账户后，在订单页面点击“申请退款”，三个工作日内处理。"},
    {"title": "What are the winter tariffs?", "locale": "en", "published": False,
     "body": "Draft: not decided yet."},
]


def _tenant(tenancy: Any, articles: list[dict[str, Any]] = ARTICLES) -> tuple[Tenancy, str, str]:
    mailbox = f"help-{uuid.uuid4().hex[:8]}@faq.example"
    number = "+4420" + str(uuid.uuid4().int)[:8]
    t: Tenancy = tenancy({"tenant.kefu": CONFIG.replace("{MAILBOX}", mailbox)
                          .replace("{NUMBER}", number)})
    for article in articles:
        t.api.api("POST", "/knowledge/articles", article, status=201)
    return t, mailbox, number


def _mail(platform: Any, mailbox: str, subject: str, text: str) -> Any:
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    return Intake(platform).receive(Inbound(
        channel=Channel.EMAIL, to_address=mailbox, from_address="wang@customer.example",
        subject=subject, text=text, external_id=message_id, thread_id=message_id))


def _outbound(t: Tenancy, interaction_id: uuid.UUID) -> list[Message]:
    return rows(t, Message, Message.interaction_id == interaction_id,
                Message.direction == Direction.OUTBOUND)


def _firing(t: Tenancy, rule: str) -> RuleFiring:
    [firing] = rows(t, RuleFiring, RuleFiring.rule == rule)
    return firing


def test_an_email_asking_a_known_question_gets_the_article(tenancy: Any,
                                                            auto_platform: Any) -> None:
    t, mailbox, _number = _tenant(tenancy)
    received = _mail(auto_platform, mailbox, "Password",
                     "Hello, I forgot it. How can I reset my password please?\n-- Wang")
    settle(auto_platform)
    [reply] = _outbound(t, received.interaction_id)
    assert reply.channel == Channel.EMAIL
    assert reply.recipients == ["wang@customer.example"]
    assert reply.subject == "Re: Password"
    assert reply.body_text.startswith("How do I reset my password?\n\nChoose 'Forgot password'")
    # Marked as a rule's answer: the mail sender adds Auto-Submitted and rate-limits it.
    assert reply.headers["X-Kefu-Rule"] == "mail_faq"
    [inbound] = rows(t, Message, Message.id == received.message_id)
    assert reply.in_reply_to == inbound.external_id
    result = _firing(t, "mail_faq").results[0]
    assert result["answered"] is True
    assert result["title"] == "How do I reset my password?"
    assert result["score"] >= 0.6
    [conversation] = rows(t, Interaction, Interaction.id == received.interaction_id)
    assert conversation.data["faq"]["message_id"] == str(reply.id)
    # Still with the desk, which sees what was answered.
    assert conversation.state == State.QUEUED
    assert conversation.queue == "general"


def test_below_the_threshold_nothing_is_sent_and_the_mail_waits_for_an_agent(
        tenancy: Any, auto_platform: Any) -> None:
    t, mailbox, _number = _tenant(tenancy)
    # One of the two words of the question (password): 50% < 60%.
    received = _mail(auto_platform, mailbox, "Account", "My password expired yesterday.")
    unrelated = _mail(auto_platform, mailbox, "Bill", "Why is my bill so high this month?")
    settle(auto_platform)
    assert _outbound(t, received.interaction_id) == []
    assert _outbound(t, unrelated.interaction_id) == []
    results = [f.results[0] for f in rows(t, RuleFiring, RuleFiring.rule == "mail_faq")]
    assert sorted((r["answered"], r["best_score"] or 0.0) for r in results) == [
        (False, 0.0), (False, 0.5)]
    for interaction_id in (received.interaction_id, unrelated.interaction_id):
        [conversation] = rows(t, Interaction, Interaction.id == interaction_id)
        assert conversation.state == State.QUEUED
        assert "faq" not in conversation.data


def test_drafts_are_never_sent(tenancy: Any, auto_platform: Any) -> None:
    t, mailbox, _number = _tenant(tenancy)
    received = _mail(auto_platform, mailbox, "Tariffs", "What are the winter tariffs?")
    settle(auto_platform)
    assert _outbound(t, received.interaction_id) == []


def test_a_chinese_sms_gets_the_chinese_article(tenancy: Any, auto_platform: Any) -> None:
    t, _mailbox, number = _tenant(tenancy)
    received = Intake(auto_platform).receive(Inbound(
        channel=Channel.SMS, to_address=number, from_address="+8613800138000",
        text="你好，请问如何申请退款？", external_id=f"smsc-{uuid.uuid4().hex[:8]}"))
    settle(auto_platform)
    [reply] = _outbound(t, received.interaction_id)
    assert reply.channel == Channel.SMS
    assert reply.recipients == ["+8613800138000"]
    assert reply.body_text.startswith("如何申请退款\n\n登录账户后")
    assert reply.headers["X-Kefu-Rule"] == "sms_faq"


def test_another_tenants_articles_never_answer(tenancy: Any, auto_platform: Any) -> None:
    _other, _m, _n = _tenant(tenancy)  # has the password article
    t, mailbox, _number = _tenant(tenancy, articles=[])
    received = _mail(auto_platform, mailbox, "Password", "How do I reset my password?")
    settle(auto_platform)
    assert _outbound(t, received.interaction_id) == []
    assert _firing(t, "mail_faq").results[0]["best_score"] is None
    with t.session() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Message).where(
            Message.direction == Direction.OUTBOUND)) == 0
