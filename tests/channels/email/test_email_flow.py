"""The email channel end to end with real peers, hosted the way the platform will host it.

swaks is the customer's mail client, kefu's SMTP listener receives, the host (a small
stand-in for the platform here: parse, de-duplicate, thread, decide, answer) answers through
the relay, and an aiosmtpd sink is the customer's mail server, where replies are captured.
"""

from __future__ import annotations

import asyncio
import itertools
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from kefu.channels.email.compose import (
    AutoReplyDecision,
    OutboundEmail,
    compose_reply,
    decide_auto_reply,
)
from kefu.channels.email.mime import EmailAddress, ParsedEmail, parse_email
from kefu.channels.email.relay import RelaySettings, send_via_relay
from kefu.channels.email.smtp_listener import SmtpListener, accept_domains
from kefu.channels.email.threads import delivery_key, find_thread
from kefu.channels.email.tls import Security
from tests.channels.email.peers import Received, SmtpSink, run, swaks

pytestmark = pytest.mark.slow
DOMAIN = "mail.kefu.test"
SERVICE = EmailAddress("service@kefu.test", "燃气客服")


@dataclass
class Host:
    """What the platform does with each delivered message, kept in memory."""

    relay: RelaySettings
    conversation_of: dict[str, str] = field(default_factory=dict)  # message id -> conversation
    conversations: dict[str, list[ParsedEmail]] = field(default_factory=dict)
    stored_keys: set[str] = field(default_factory=set)
    last_auto_reply: dict[str, datetime] = field(default_factory=dict)
    decisions: list[AutoReplyDecision] = field(default_factory=list)
    sent: list[OutboundEmail] = field(default_factory=list)
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def deliver(self, envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        message = parse_email(raw, own_domains=(DOMAIN,), envelope_from=envelope_from)
        key = delivery_key(message, raw)
        if key in self.stored_keys:
            return  # the same message delivered twice is stored once
        self.stored_keys.add(key)
        match = find_thread(message, self.conversation_of.get)
        conversation = match.conversation if match else f"conversation-{next(self.numbers)}"
        self.conversations.setdefault(conversation, []).append(message)
        if message.message_id:
            self.conversation_of[message.message_id] = conversation
        now = datetime.now(UTC)
        decision = decide_auto_reply(
            message, own_addresses={SERVICE.address},
            last_auto_reply_at=self.last_auto_reply.get(message.reply_address.key), now=now)
        self.decisions.append(decision)
        if decision.allowed:
            answer = compose_reply(message, sender=SERVICE, automatic=True,
                                   message_id_domain=DOMAIN,
                                   text="我们已收到您的来信，客服将在一个工作日内答复。")
            # Recorded before sending: an answer to the answer may arrive while it is sent.
            self.last_auto_reply[message.reply_address.key] = now
            await self.send(answer, conversation)

    async def send(self, outbound: OutboundEmail, conversation: str) -> None:
        self.conversation_of[outbound.message_id] = conversation  # replies thread back
        self.sent.append(outbound)
        await send_via_relay(self.relay, envelope_from=outbound.envelope_from,
                             recipients=outbound.recipients, raw=outbound.raw)


def relay_to(sink: SmtpSink) -> RelaySettings:
    return RelaySettings(host="127.0.0.1", port=sink.port, security=Security.NONE, timeout=10)


def test_customer_mail_gets_one_acknowledgement_and_replies_thread_back() -> None:
    async def scenario() -> None:
        async with SmtpSink() as customer_mx:
            host = Host(relay_to(customer_mx))
            async with SmtpListener(host.deliver, hostname="mx.kefu.test",
                                    accept_recipient=accept_domains({"kefu.test"})) as kefu:
                first = await swaks(kefu.port, "--header", "Subject: 燃气表读数不对",
                                    "--body", "户号 3301-2287，读数比实际多。",
                                    sender="zhu.rong@example.cn")
                assert first.returncode == 0, first.transcript
                (acknowledgement,) = customer_mx.received
                ack = parse_email(acknowledgement.raw)
                assert acknowledgement.rcpt_tos == ("zhu.rong@example.cn",)
                assert acknowledgement.envelope_from == ""
                assert ack.subject == "Auto: 燃气表读数不对"
                assert ack.text == "我们已收到您的来信，客服将在一个工作日内答复。"

                # The customer answers the acknowledgement from their mail client.
                reply = await swaks(kefu.port, "--header", "Subject: Re: Auto: 燃气表读数不对",
                                    "--add-header", f"In-Reply-To: <{ack.message_id}>",
                                    "--add-header", f"References: <{ack.message_id}>",
                                    "--body", "补充：表号 A-778。", sender="zhu.rong@example.cn")
                assert reply.returncode == 0, reply.transcript

                # An agent answers; the customer answers the agent.
                (conversation,) = host.conversations
                latest = host.conversations[conversation][-1]
                agent_answer = compose_reply(latest, sender=SERVICE, text="已安排上门核查。",
                                             message_id_domain=DOMAIN)
                await host.send(agent_answer, conversation)
                second_reply = await swaks(
                    kefu.port, "--header", "Subject: Re: 燃气表读数不对",
                    "--add-header", f"In-Reply-To: <{agent_answer.message_id}>",
                    "--body", "好的，谢谢。", sender="zhu.rong@example.cn")
                assert second_reply.returncode == 0, second_reply.transcript

        assert list(host.conversations) == ["conversation-1"]
        texts = [message.text for message in host.conversations["conversation-1"]]
        assert texts == ["户号 3301-2287，读数比实际多。", "补充：表号 A-778。", "好的，谢谢。"]
        # One acknowledgement per sender per day: the follow-ups were not acknowledged again.
        assert [d.allowed for d in host.decisions] == [True, False, False]
        assert len(customer_mx.received) == 2  # the acknowledgement and the agent's answer
        assert parse_email(customer_mx.received[1].raw).text == "已安排上门核查。"

    run(scenario())


def test_the_same_message_delivered_twice_is_stored_once() -> None:
    async def scenario() -> None:
        async with SmtpSink() as customer_mx:
            host = Host(relay_to(customer_mx))
            async with SmtpListener(host.deliver) as kefu:
                for _ in range(2):  # e.g. the sender's MTA retried after a lost 250
                    result = await swaks(kefu.port, "--header",
                                         "Message-Id: <retry-1@example.cn>",
                                         "--body", "once", sender="li.lei@example.cn")
                    assert result.returncode == 0
        (messages,) = host.conversations.values()
        assert [m.text for m in messages] == ["once"]
        assert len(customer_mx.received) == 1

    run(scenario())


@pytest.mark.parametrize("marks_its_mail", [True, False], ids=["rfc3834-marked", "unmarked"])
def test_an_auto_reply_loop_with_another_auto_responder_stops_after_one_message(
        marks_its_mail: bool) -> None:
    """The customer's mailbox has a vacation responder that answers everything it receives.
    Marked (Auto-Submitted, as Exchange and Gmail do) or not (a naive script), kefu sends one
    acknowledgement and no more, and the responder therefore sends one notice."""
    responses = itertools.count(1)

    async def scenario() -> tuple[Host, SmtpSink]:
        kefu_port: list[int] = []

        async def vacation_responder(received: Received) -> None:
            number = next(responses)
            if number > 10:  # a safety stop for the test itself, should kefu ever loop
                return
            original = parse_email(received.raw)
            marks = "Auto-Submitted: auto-replied\r\n" if marks_its_mail else ""
            notice = (f"From: Zhu Rong <zhu.rong@example.cn>\r\nTo: {original.from_address}\r\n"
                      f"Subject: Out of office: {original.subject}\r\n"
                      f"Message-ID: <vacation-{number}@example.cn>\r\n"
                      f"In-Reply-To: <{original.message_id}>\r\n{marks}"
                      "\r\nI am away until Monday.\r\n").encode()

            def send_notice() -> None:
                with smtplib.SMTP("127.0.0.1", kefu_port[0], timeout=10) as client:
                    client.sendmail("zhu.rong@example.cn", [original.from_address.address],
                                    notice)

            await asyncio.to_thread(send_notice)

        async with SmtpSink(on_message=vacation_responder) as customer_mx:
            host = Host(relay_to(customer_mx))
            async with SmtpListener(host.deliver) as kefu:
                kefu_port.append(kefu.port)
                result = await swaks(kefu.port, "--header", "Subject: bill question",
                                     "--body", "why so high?", sender="zhu.rong@example.cn")
                assert result.returncode == 0, result.transcript
        return host, customer_mx

    host, customer_mx = run(scenario())
    # swaks got its 250 only after the whole exchange above settled (persist-before-ack on
    # both servers), so these counts are final.
    assert len(host.sent) == 1
    assert len(customer_mx.received) == 1
    (conversation,) = host.conversations.values()
    assert [m.text for m in conversation] == ["why so high?", "I am away until Monday."]
    assert [d.allowed for d in host.decisions] == [True, False]
    expected = ("auto_reply mail: Auto-Submitted: auto-replied" if marks_its_mail
                else "zhu.rong@example.cn was answered automatically at ")
    assert host.decisions[1].reason.startswith(expected)
