"""SMS in kefu over SMPP, against an SMSC written by others (Perl's Net::SMPP).

The runtime services run as in ``kefu runtime`` (``run_sms`` from ``sms.smpp_url``, and the
outbound dispatcher); the SMSC encodes what kefu receives and decodes what kefu sends.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from kefu.channels.sms.smpp.pdu import CommandStatus
from kefu.platform.interactions.models import Direction, InteractionState, Message, MessageStatus
from kefu.platform.tickets.models import Ticket
from tests.functional.automation.conftest import rows
from tests.functional.sms.conftest import (
    CUSTOMER,
    DEMO_NUMBER,
    OTHER_CONFIG,
    OTHER_NUMBER,
    Site,
    Smsc,
    demo_files,
    smpp_url,
)

# 300 characters of Chinese: five UCS-2 parts of at most 67 characters each.
CHINESE_300 = ("您好,我家厨房的燃气表附近有很浓的气味,已经关掉了总阀门并打开了窗户,"
               "请尽快安排师傅上门检查。地址是香洲区人民路一百号三栋二单元五零一室,"
               "联系电话就是本机号码,家里白天有老人在,随时可以上门。谢谢!") * 4
CHINESE_300 = CHINESE_300[:300]


def start(site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch,
          files: dict[str, str] | None = None) -> Any:
    demo = site.tenancy(files or demo_files())
    site.start(monkeypatch, **{"sms.smpp_url": smpp_url(smsc)})
    assert smsc.expect("BIND")[1:] == ["kefu", "secret", "KEFU", "34", "0"]
    return demo


def submits(smsc: Smsc, count: int) -> list[list[str]]:
    return [smsc.expect("SUBMIT") for _ in range(count)]


def ucs2_text(parts: list[list[str]]) -> str:
    """The text of a long UCS-2 message as the SMSC received it, parts put in order by UDH."""
    by_number = {}
    for part in parts:
        raw = bytes.fromhex(part[9])
        udh_length = raw[0]
        assert raw[1:3] == b"\x00\x03"  # concatenation, 8-bit reference
        by_number[raw[5]] = raw[1 + udh_length:]
        assert raw[4] == len(parts)
    return b"".join(by_number[n] for n in sorted(by_number)).decode("utf-16-be")


def outbound(site: Site, demo: Any, *where: Any) -> list[Message]:
    return site.messages(demo, Message.direction == Direction.OUTBOUND, *where)


def test_an_sms_becomes_a_conversation_the_rule_answers_and_the_receipt_marks_it_delivered(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = start(site, smsc, monkeypatch)
    answer = smsc.deliver(CUSTOMER, DEMO_NUMBER, "Gas leak in my kitchen, please come")
    assert answer[2] == "0"  # stored, then acknowledged

    [conversation] = site.interactions(demo)
    assert (conversation.from_address, conversation.to_address) == (CUSTOMER, DEMO_NUMBER)
    assert conversation.state == InteractionState.QUEUED
    assert conversation.queue == "general_q"  # the channel's queue, for the ACD
    [inbound] = site.messages(demo, Message.direction == Direction.INBOUND)
    assert inbound.body_text == "Gas leak in my kitchen, please come"
    assert inbound.interaction_id == conversation.id

    site.settle()  # the demo's leak_text rule: a repair ticket and a reply
    [ticket] = rows(demo, Ticket)
    assert ticket.type == "repair"
    assert ticket.customer_id == conversation.customer_id

    [submit] = submits(smsc, 1)
    _, _, src_ton, src, dst_ton, dst, esm, coding, registered, data, smsc_id = submit
    assert (src_ton, src, dst_ton, dst) == ("1", "441632960001", "1", "447700900123")
    assert (esm, coding, registered) == ("0", "0", "1")
    text = bytes.fromhex(data).decode("ascii")
    assert text.startswith("Acme Gas: we have logged your report ")
    assert text.endswith(". An engineer is on the way.")

    [reply] = outbound(site, demo)
    assert reply.interaction_id == conversation.id
    # The SMSC's receipt (sent right after submit_sm_resp) marks the reply delivered.
    delivered = site.wait_message(demo, reply.id,
                                  lambda m: m.status == MessageStatus.DELIVERED,
                                  "the delivery receipt")
    assert delivered.external_id == smsc_id
    assert delivered.delivered_at is not None

    smsc.send(f"RECEIPT {smsc_id} UNDELIV 5")  # a later report cannot undo "delivered"
    smsc.expect("DELIVER_RESP")
    assert site.message(demo, reply.id).status == MessageStatus.DELIVERED


def test_a_300_character_chinese_sms_in_five_parts_arrives_as_one_message(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = start(site, smsc, monkeypatch)
    units = CHINESE_300.encode("utf-16-be")
    chunks = [units[i:i + 134] for i in range(0, len(units), 134)]
    assert len(CHINESE_300) == 300
    assert len(chunks) == 5
    for number in (2, 1, 5, 3, 4):  # parts travel separately and out of order
        udh = bytes((5, 0, 3, 0x7A, 5, number))
        answer = smsc.deliver(CUSTOMER, DEMO_NUMBER, payload=udh + chunks[number - 1],
                              coding=8, esm_class=0x40)
        assert answer[2] == "0"

    [message] = site.messages(demo, Message.direction == Direction.INBOUND)
    assert message.body_text == CHINESE_300
    assert message.headers["parts"] == 5
    assert len(site.interactions(demo)) == 1


def test_an_agent_reply_goes_out_as_long_ucs2_parts_with_receipts(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = start(site, smsc, monkeypatch)
    agent, li = site.agent(demo, "Li Na", {"billing": 4}, {"sms": 2})
    li.api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})
    smsc.deliver(CUSTOMER, DEMO_NUMBER, "Hello, my meter shows a strange number")
    [conversation] = site.interactions(demo)
    assert (conversation.state, str(conversation.agent_id)) == (InteractionState.OFFERED,
                                                                agent["id"])
    li.api("POST", f"/interactions/{conversation.id}/accept")

    sent = li.api("POST", f"/interactions/{conversation.id}/reply", {"text": CHINESE_300},
                  status=201).json
    parts = submits(smsc, 5)
    assert {(p[6], p[7]) for p in parts} == {("64", "8")}  # UDH present, UCS-2
    assert {p[5] for p in parts} == {"447700900123"}
    assert ucs2_text(parts) == CHINESE_300
    delivered = site.wait_message(demo, uuid.UUID(sent["id"]),
                                  lambda m: m.status == MessageStatus.DELIVERED,
                                  "receipts for the reply")
    assert delivered.external_id == ",".join(p[10] for p in parts)
    assert delivered.author_agent_id is not None


def test_sms_conversations_are_offered_to_ready_agents_within_their_sms_capacity(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = start(site, smsc, monkeypatch)
    agent, li = site.agent(demo, "Li Na", {"billing": 4}, {"sms": 1})
    li.api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})

    smsc.deliver(CUSTOMER, DEMO_NUMBER, "My bill looks wrong")
    smsc.deliver("+447700900456", DEMO_NUMBER, "When is the engineer coming?")
    first, second = site.interactions(demo)
    assert first.from_address == CUSTOMER
    assert (first.state, str(first.agent_id)) == (InteractionState.OFFERED, agent["id"])
    li.api("POST", f"/interactions/{first.id}/accept")
    # One SMS at a time for this agent: the second waits in the channel's queue.
    assert (second.state, second.queue, second.agent_id) == (InteractionState.QUEUED,
                                                             "general_q", None)

    # The customer writes again: same conversation, the agent's.
    smsc.deliver(CUSTOMER, DEMO_NUMBER, "Account 12345678")
    assert len(site.interactions(demo)) == 2
    texts = [m.body_text for m in site.messages(demo, Message.interaction_id == first.id)]
    assert texts == ["My bill looks wrong", "Account 12345678"]


NOTICE_RULE = """
template outage "Acme Gas: the gas supply in your street is off until 17:00."
rule outage_notice "Outage notice to the customer of a new ticket" {
  on ticket.created
  send sms outage to customer.phone
}
"""


def test_stop_unsubscribes_later_notices_fail_but_replies_still_go(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = start(site, smsc, monkeypatch, demo_files(NOTICE_RULE))
    smsc.deliver(CUSTOMER, DEMO_NUMBER, "STOP")
    site.settle()
    [conversation] = site.interactions(demo)
    assert site.customer(demo, conversation.customer_id).opt_outs == ["sms"]
    [confirmation] = submits(smsc, 1)  # the rule's reply answers what the customer wrote
    assert bytes.fromhex(confirmation[9]).decode() == (
        "Acme Gas: you will get no more texts from us. Text START to get them again.")

    # A notice kefu starts itself is refused for good, and never reaches the SMSC.
    demo.api.api("POST", "/tickets", {
        "type": "repair", "subject": "Street outage", "customer_id": str(conversation.customer_id),
        "data": {"address": "1 High Street"}}, status=201)
    site.settle()
    [notice] = outbound(site, demo, Message.body_text.like("%supply in your street%"))
    failed = site.wait_message(demo, notice.id, lambda m: m.status == MessageStatus.FAILED,
                               "the refused notice")
    assert failed.error == "the customer unsubscribed from sms"

    # START opts back in; the next notice goes out.
    smsc.deliver(CUSTOMER, DEMO_NUMBER, "start")
    site.settle()
    assert site.customer(demo, conversation.customer_id).opt_outs == []
    welcome = smsc.expect("SUBMIT")
    assert bytes.fromhex(welcome[9]).decode().startswith("Acme Gas: welcome back")
    demo.api.api("POST", "/tickets", {
        "type": "repair", "subject": "Street outage again",
        "customer_id": str(conversation.customer_id), "data": {"address": "1 High Street"}},
        status=201)
    site.settle()
    notice_again = smsc.expect("SUBMIT")
    assert "supply in your street" in bytes.fromhex(notice_again[9]).decode()
    assert smsc.peer.seen("SUBMIT") == []  # the refused one never went


def test_each_number_delivers_only_into_its_own_tenant_and_unknown_numbers_are_refused(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    demo = start(site, smsc, monkeypatch)
    other = site.tenancy({"tenant.kefu": OTHER_CONFIG})

    smsc.deliver(CUSTOMER, OTHER_NUMBER, "Water meter reading 0042")
    [theirs] = site.interactions(other)
    assert (theirs.to_address, theirs.queue) == (OTHER_NUMBER, "inbox")
    assert site.interactions(demo) == []

    smsc.deliver(CUSTOMER, DEMO_NUMBER, "Gas meter reading 1234")
    [ours] = site.interactions(demo)
    assert [m.body_text for m in site.messages(demo)] == ["Gas meter reading 1234"]
    assert [m.body_text for m in site.messages(other)] == ["Water meter reading 0042"]
    assert ours.customer_id != theirs.customer_id  # same phone, a customer of each tenant

    with caplog.at_level(logging.WARNING):
        answer = smsc.deliver(CUSTOMER, "+441632969999", "hello?")
    assert answer[2] == str(int(CommandStatus.ESME_RX_P_APPN))  # the SMSC stops retrying
    assert "no tenant declares sms '441632969999'" in caplog.text
    assert len(site.messages(demo)) == len(site.messages(other)) == 1


def test_invalid_pdus_are_answered_and_logged_and_the_link_keeps_serving(
        site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    demo = start(site, smsc, monkeypatch)
    with caplog.at_level(logging.WARNING):
        smsc.send("RAW 00000010000000990000000000000007")  # unknown command id
        assert smsc.expect("GENERIC_NACK")[1:] == ["7", str(int(CommandStatus.ESME_RINVCMDID))]
        smsc.send("RAW 000000120000000500000000000000086162")  # deliver_sm cut short
        assert smsc.expect("DELIVER_RESP")[1:] == ["8", str(int(CommandStatus.ESME_RINVMSGLEN))]
        binary = smsc.deliver(CUSTOMER, DEMO_NUMBER, payload=b"\x00\xff\x10", coding=4)
    assert binary[2] == str(int(CommandStatus.ESME_RX_P_APPN))
    assert "bad PDU from the SMSC" in caplog.text
    assert "refusing deliver_sm" in caplog.text
    assert site.messages(demo) == []

    assert smsc.deliver(CUSTOMER, DEMO_NUMBER, "still there?")[2] == "0"
    assert [m.body_text for m in site.messages(demo)] == ["still there?"]
    assert smsc.peer.seen("BIND") == []  # never dropped and bound again

