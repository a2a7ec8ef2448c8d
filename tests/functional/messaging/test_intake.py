"""The messaging core: inbound messages find their tenant, customer and conversation, are
stored once with their attachments, run the channel's flow or wait in its queue; agents reply
on the same channel; the dispatcher delivers what is queued."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from kefu.platform.automation.models import AutomationEvent
from kefu.platform.customers.models import Customer, CustomerPhone
from kefu.platform.interactions.models import (
    Attachment,
    Channel,
    Direction,
    Interaction,
    Message,
    MessageStatus,
)
from kefu.platform.messaging.attachments import AttachmentStore
from kefu.platform.messaging.bindings import resolve_address
from kefu.platform.messaging.intake import (
    ConversationEnded,
    Inbound,
    InboundAttachment,
    Intake,
    Received,
    UnknownAddress,
)
from kefu.platform.messaging.outbound import (
    Delivered,
    DeliveryFailed,
    Dispatcher,
    Outbox,
    register_sender,
    set_status,
)
from kefu.runtime.lifecycle import State
from tests.functional.api.conftest import Actor
from tests.functional.api.test_routing import Desk, deploy

CONFIG = """\
tenant acme {
  name "Acme Support"
  locales en
  timezone "UTC"
}

skill billing "Billing" levels 1..5

team desk "Front desk" {
  members 3
  skill billing 3
}

queue billing "Billing" {
  require billing >= 3
  max_wait 10m
}

form chat_start "Before we start" {
  field name text "Your name" {
    required "Please tell us your name."
  }
}

flow bot "Chat bot" {
  on noinput 3 -> operator
  on nomatch 3 -> operator
  menu main_menu {
    prompt "Hello {form.name}. Type 1 for opening hours, 0 for a person."
    option 1, "hours" -> hours
    option 0, "person" -> operator
    on noinput reprompt
    on nomatch reprompt "Sorry, that is not an option."
  }
  say hours "We are open 9 to 5." -> bye
  enqueue operator billing {
    on timeout -> bye
  }
  hangup bye "Goodbye."
}

channel sms "+44 1632 960001" {
  queue billing
}
channel email "Help@Acme.example" {
  queue billing
}
channel webchat "acme-widget" -> bot {
  form chat_start
}
"""


def other_config(number: str = "+441632960001", mailbox: str = "help@acme.example") -> str:
    return CONFIG.replace('"+44 1632 960001"', f'"{number}"').replace(
        '"Help@Acme.example"', f'"{mailbox}"')


@pytest.fixture
def acme(alice: Actor, factory: Any, wsgi_app: Any) -> Desk:
    deploy(factory, alice.tenant, CONFIG)
    return Desk(alice, factory, wsgi_app)


def sms(text: str, *, sender: str = "+8613800138000", external_id: str | None = None,
        to: str = "+441632960001") -> Inbound:
    return Inbound(channel=Channel.SMS, to_address=to, from_address=sender, text=text,
                   external_id=external_id or f"smsc-{uuid.uuid4().hex[:8]}")


def email(text: str, *, sender: str = "wang@example.cn", message_id: str | None = None,
          replying_to: tuple[str, ...] = (), subject: str = "Meter", **extra: Any) -> Inbound:
    message_id = message_id or f"<{uuid.uuid4().hex}@example.cn>"
    return Inbound(channel=Channel.EMAIL, to_address="help@acme.example", from_address=sender,
                   text=text, subject=subject, external_id=message_id, thread_id=message_id,
                   thread_keys=replying_to, **extra)


def rows(factory: Any, tenant: Any, model: Any, *where: Any) -> list[Any]:
    with factory.session(tenant) as db:
        return list(db.scalars(sa.select(model).where(*where)))


# ---------------------------------------------------------------------- the address directory
def test_a_deployed_config_binds_its_addresses_to_its_tenant_only(
        acme: Desk, bob: Actor, factory: Any) -> None:
    with factory.platform.session() as db:
        assert resolve_address(db, "sms", "+441632960001") == acme.admin.tenant.id
        assert resolve_address(db, "email", "HELP@acme.example") == acme.admin.tenant.id
        assert resolve_address(db, "webchat", "acme-widget") == acme.admin.tenant.id
    # Bob declares the same number and mailbox: they stay with Alice's tenant.
    deploy(factory, bob.tenant, CONFIG.replace('"acme-widget"', '"bob-widget"'))
    received = Intake(factory.platform).receive(sms("hello"))
    assert received.tenant_id == acme.admin.tenant.id
    with factory.platform.session() as db:
        assert resolve_address(db, "webchat", "bob-widget") == bob.tenant.id
    # Alice drops her SMS channel: the number is free, and nobody receives for it now.
    deploy(factory, acme.admin.tenant, CONFIG.replace(
        'channel sms "+44 1632 960001" {\n  queue billing\n}\n', ""))
    with pytest.raises(UnknownAddress, match=r"sms '\+441632960001'"):
        Intake(factory.platform).receive(sms("anyone there?"))


def test_tenant_b_number_delivers_into_b_and_customers_do_not_cross(
        acme: Desk, bob: Actor, factory: Any) -> None:
    deploy(factory, bob.tenant, other_config("+441632960999", "help@bob.example"))
    intake = Intake(factory.platform)
    to_alice = intake.receive(sms("alice, my meter", sender="+8613800138000"))
    to_bob = intake.receive(sms("bob, my bill", sender="+8613800138000", to="+441632960999"))
    assert (to_alice.tenant_id, to_bob.tenant_id) == (acme.admin.tenant.id, bob.tenant.id)
    assert to_alice.customer_id != to_bob.customer_id  # one person, a customer in each tenant
    bob_messages = rows(factory, bob.tenant, Message)
    assert [m.body_text for m in bob_messages] == ["bob, my bill"]
    with factory.session(bob.tenant) as db:
        assert db.get(Interaction, to_alice.interaction_id) is None


# ---------------------------------------------------------------------- SMS conversations
def test_an_sms_finds_or_makes_its_customer_and_waits_in_the_channel_queue(
        acme: Desk, factory: Any) -> None:
    intake = Intake(factory.platform)
    first = intake.receive(sms("My meter is broken", external_id="smsc-1"))
    assert first.created
    assert first.new_conversation
    again = intake.receive(sms("My meter is broken", external_id="smsc-1"))  # redelivered
    assert not again.created
    assert again.message_id == first.message_id
    second = intake.receive(sms("It is at 5 Main Street", external_id="smsc-2"))
    assert second.interaction_id == first.interaction_id
    assert not second.new_conversation

    interaction = rows(factory, acme.admin.tenant, Interaction)[0]
    assert (interaction.state, interaction.queue) == (State.QUEUED, "billing")
    assert interaction.from_address == "+8613800138000"
    customers = rows(factory, acme.admin.tenant, CustomerPhone)
    assert [p.number for p in customers] == ["+8613800138000"]
    texts = [m.body_text for m in rows(factory, acme.admin.tenant, Message)]
    assert sorted(texts) == ["It is at 5 Main Street", "My meter is broken"]
    # No rule of this tenant handles sms.received, so no rules event is stored for them.
    assert rows(factory, acme.admin.tenant, AutomationEvent) == []


def test_the_queued_sms_is_offered_to_a_ready_agent_who_replies_on_sms(
        acme: Desk, factory: Any) -> None:
    agent, li = acme.agent("Li Wei")
    li.api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})
    received = Intake(factory.platform).receive(sms("Is my bill paid?"))
    chat = {"id": str(received.interaction_id)}
    assert acme.get(chat)["state"] == "offered"
    li.api("POST", f"/interactions/{chat['id']}/accept")
    sent = li.api("POST", f"/interactions/{chat['id']}/reply",
                  {"text": "Yes, paid on 3 March. 已付款。"}, status=201).json
    assert sent["channel"] == "sms"
    assert sent["direction"] == "outbound"
    assert sent["status"] == "queued"
    assert sent["recipients"] == ["+8613800138000"]
    assert sent["author_agent_id"] == agent["id"]
    assert sent["in_reply_to"] is not None  # the customer's message it answers


def test_only_the_agent_holding_an_interaction_or_a_supervisor_replies(
        acme: Desk, factory: Any) -> None:
    holder, li = acme.agent("Li Wei")
    _other, wu = acme.agent("Wu Fei", {"billing": 1})  # not skilled for the queue
    li.api("PUT", f"/agents/{holder['id']}/presence", {"state": "ready"})
    received = Intake(factory.platform).receive(sms("Hello?"))
    path = f"/interactions/{received.interaction_id}"
    li.api("POST", f"{path}/accept")
    refused = wu.api("POST", f"{path}/reply", {"text": "Not mine"}, status=403)
    assert refused.json["error"]["code"] == "forbidden"
    acme.admin.bearer.api("POST", f"{path}/reply", {"text": "Supervisor here"}, status=201)
    li.api("POST", f"{path}/hangup")  # no wrap-up in this queue: it ends here
    ended = li.api("POST", f"{path}/reply", {"text": "One more thing"}, status=409)
    assert ended.json["error"]["code"] == "ended"


# ---------------------------------------------------------------------- email threads
def test_a_reply_threads_into_its_conversation_only_from_the_same_customer(
        acme: Desk, factory: Any) -> None:
    intake = Intake(factory.platform)
    first = intake.receive(email("My meter is broken", message_id="<m1@example.cn>"))
    reply = intake.receive(email("Here is the photo", message_id="<m2@example.cn>",
                                 replying_to=("<m1@example.cn>",), subject="Re: Meter"))
    assert reply.interaction_id == first.interaction_id
    # Someone else quoting the thread's Message-ID starts a conversation of their own.
    forged = intake.receive(email("Let me in", sender="mallory@evil.example",
                                  message_id="<m3@evil.example>",
                                  replying_to=("<m1@example.cn>",)))
    assert forged.interaction_id != first.interaction_id
    assert forged.new_conversation


def test_a_reply_to_an_ended_thread_starts_a_new_conversation_that_remembers_the_old(
        acme: Desk, factory: Any) -> None:
    intake = Intake(factory.platform)
    first = intake.receive(email("Question", message_id="<q1@example.cn>"))
    acme.admin.bearer.api("POST", f"/interactions/{first.interaction_id}/hangup")
    later = intake.receive(email("Another question", message_id="<q2@example.cn>",
                                 replying_to=("<q1@example.cn>",)))
    assert later.new_conversation
    assert later.interaction_id != first.interaction_id
    with factory.session(acme.admin.tenant) as db:
        row = db.get(Interaction, later.interaction_id)
        assert row is not None
        assert row.data["continues"] == str(first.interaction_id)
        assert row.state == State.QUEUED


def test_automated_mail_is_kept_but_raises_nothing(acme: Desk, factory: Any) -> None:
    received = Intake(factory.platform).receive(email(
        "I am out of the office", automated=True, headers={"Auto-Submitted": "auto-replied"}))
    assert received.created
    assert rows(factory, acme.admin.tenant, AutomationEvent) == []
    with factory.session(acme.admin.tenant) as db:
        row = db.get(Interaction, received.interaction_id)
        assert row is not None
        assert row.state == State.CREATED
        message = db.get(Message, received.message_id)
        assert message is not None
        assert message.headers["automated"] is True


# ---------------------------------------------------------------------- attachments
def test_attachments_are_stored_once_by_content_and_refused_ones_are_named(
        acme: Desk, factory: Any) -> None:
    photo = InboundAttachment("meter.jpg", "image/jpeg", b"\xff\xd8\xff" + b"x" * 100)
    intake = Intake(factory.platform)
    one = intake.receive(email("photo", attachments=[photo]))
    two = intake.receive(email("same photo again", attachments=[
        InboundAttachment("again.jpg", "image/jpeg", photo.data),
        InboundAttachment("tool.exe", "application/x-msdownload", b"MZ..."),
        InboundAttachment("huge.pdf", "application/pdf",
                          b"%" * (factory.platform.settings["messaging.max_attachment_bytes"]
                                  + 1))]))
    stored = rows(factory, acme.admin.tenant, Attachment)
    assert sorted(a.filename for a in stored) == ["again.jpg", "meter.jpg"]
    assert len({a.storage_ref for a in stored}) == 1  # one file on disk
    store = AttachmentStore.from_settings(factory.platform.settings)
    assert store.read(stored[0].storage_ref) == photo.data
    assert one.rejected_attachments == ()
    assert len(two.rejected_attachments) == 2
    assert "tool.exe" in two.rejected_attachments[0]
    assert "not accepted" in \
        two.rejected_attachments[0]
    assert "huge.pdf" in two.rejected_attachments[1]
    assert "at most" in two.rejected_attachments[1]
    with factory.session(acme.admin.tenant) as db:
        message = db.get(Message, two.message_id)
        assert message is not None
        assert message.body_text == "same photo again"
        assert message.headers["rejected_attachments"] == list(two.rejected_attachments)


# ---------------------------------------------------------------------- chat sessions
def test_a_chat_runs_the_channel_flow_and_the_customer_answers_it(
        acme: Desk, factory: Any) -> None:
    intake = Intake(factory.platform)
    opened = intake.open_conversation(
        acme.admin.tenant.id, Channel.CHAT, to_address="acme-widget", from_address="visitor-1",
        external_id="chat-1", display_name="Zhang Wei", email="zhang@example.cn",
        variables={"form": {"name": "Zhang Wei"}})
    assert opened.created
    again = intake.open_conversation(
        acme.admin.tenant.id, Channel.CHAT, to_address="acme-widget", from_address="visitor-1",
        external_id="chat-1")
    assert not again.created
    assert again.interaction_id == opened.interaction_id

    def bot_says() -> list[str]:
        return [m.body_text for m in rows(factory, acme.admin.tenant, Message,
                                         Message.direction == Direction.OUTBOUND)]

    assert bot_says()[0].startswith("Hello Zhang Wei. Type 1 for opening hours")
    chat = Inbound(channel=Channel.CHAT, to_address="acme-widget", from_address="visitor-1",
                   text="1", external_id="c-1", thread_id="chat-1",
                   tenant_id=acme.admin.tenant.id)
    intake.receive(chat)
    assert "We are open 9 to 5." in bot_says()
    assert "Goodbye." in bot_says()
    with pytest.raises(ConversationEnded):
        intake.receive(Inbound(channel=Channel.CHAT, to_address="acme-widget",
                               from_address="visitor-1", text="hello?", external_id="c-2",
                               thread_id="chat-1", tenant_id=acme.admin.tenant.id))
    customer = rows(factory, acme.admin.tenant, Customer)[0]
    assert customer.name == "Zhang Wei"


def test_a_burst_of_chat_messages_is_stored_together_each_once_and_an_ended_chat_refused(
        acme: Desk, factory: Any) -> None:
    """The web chat's group commit: many visitors' messages in one transaction, with the
    same answers :meth:`Intake.receive` gives one at a time."""
    intake = Intake(factory.platform)
    tenant_id = acme.admin.tenant.id
    sessions = []
    for n in range(3):
        opened = intake.open_conversation(
            tenant_id, Channel.CHAT, to_address="acme-widget", from_address=f"visitor-{n}",
            external_id=f"chat-b{n}", variables={"form": {"name": f"Visitor {n}"}})
        sessions.append(opened.interaction_id)
    intake.end_conversation(tenant_id, sessions[2])

    def chat(n: int, client: str, text: str) -> Inbound:
        return Inbound(channel=Channel.CHAT, to_address="acme-widget",
                       from_address=f"visitor-{n}", text=text,
                       external_id=f"chat-b{n}/{client}", thread_id=f"chat-b{n}")

    burst = [chat(0, "m1", "0"), chat(1, "m1", "hello"), chat(0, "m1", "0"),  # a resend
             chat(2, "m1", "still there?"), chat(1, "m2", "anyone?")]
    results = intake.receive_many(tenant_id, burst)

    assert [type(r).__name__ for r in results] == [
        "Received", "Received", "Received", "ConversationEnded", "Received"]
    first, second, resent = results[:3]
    assert isinstance(first, Received)
    assert isinstance(second, Received)
    assert isinstance(resent, Received)
    assert first.created
    assert not resent.created
    assert resent.message_id == first.message_id
    assert second.interaction_id == sessions[1]
    inbound = rows(factory, acme.admin.tenant, Message, Message.direction == Direction.INBOUND)
    assert sorted(m.external_id for m in inbound) == ["chat-b0/m1", "chat-b1/m1", "chat-b1/m2"]
    # The answers went on as if the messages came one by one: visitor 0 chose a person.
    assert acme.get({"id": str(sessions[0])})["state"] == "queued"
    # Another tenant's id sees nothing of these sessions.
    other = factory.tenant()
    refused = intake.receive_many(other.id, [chat(1, "m3", "hi")])
    assert isinstance(refused[0], ConversationEnded)


def test_a_customer_sees_every_channel_in_one_history(acme: Desk, factory: Any) -> None:
    with factory.session(acme.admin.tenant) as db:
        customer = Customer(name="Wang Fang")
        customer.phones.append(CustomerPhone(number="+8613800138000"))
        db.add(customer)
        db.commit()
        customer_id = customer.id
    from kefu.platform.customers.models import CustomerEmail

    with factory.session(acme.admin.tenant) as db:
        db.add(CustomerEmail(customer_id=customer_id, address="wang@example.cn"))
        db.commit()
    intake = Intake(factory.platform)
    intake.receive(sms("SMS: my meter"))
    intake.receive(email("Email: the photo", attachments=[
        InboundAttachment("meter.png", "image/png", b"\x89PNG...")]))
    history = acme.admin.bearer.api("GET", f"/customers/{customer_id}/messages").json
    assert history["total"] == 2
    assert [(m["channel"], m["body_text"]) for m in history["items"]] == [
        ("email", "Email: the photo"), ("sms", "SMS: my meter")]
    attachment = history["items"][0]["attachments"][0]
    download = acme.admin.bearer.api("GET", f"/attachments/{attachment['id']}")
    assert download.body == b"\x89PNG..."
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------------- delivery
class Recorder:
    """A sender that records what it is given and fails the way a test tells it to."""

    def __init__(self, *failures: DeliveryFailed) -> None:
        self.failures = list(failures)
        self.sent: list[str] = []

    def deliver(self, db: Any, message: Message, interaction: Interaction) -> Delivered:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message.body_text)
        return Delivered(external_id=f"provider-{len(self.sent)}")


@pytest.fixture
def queued_reply(acme: Desk, factory: Any) -> tuple[uuid.UUID, uuid.UUID]:
    received = Intake(factory.platform).receive(sms("Hello"))
    with factory.platform.session(acme.admin.tenant.id) as db:
        interaction = db.get(Interaction, received.interaction_id)
        assert interaction is not None
        message = Outbox(factory.platform, db).reply(interaction, "Hi, how can we help?")
        db.commit()
        return acme.admin.tenant.id, message.id


def status_of(factory: Any, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    with factory.platform.session(tenant_id) as db:
        message = db.get(Message, message_id)
        assert message is not None
        db.expunge(message)
        return message


def test_a_transient_failure_is_retried_later_and_then_sent_once(
        queued_reply: tuple[uuid.UUID, uuid.UUID], factory: Any) -> None:
    tenant_id, message_id = queued_reply
    recorder = Recorder(DeliveryFailed("SMSC throttled"))
    undo = register_sender(Channel.SMS, recorder)
    now = dt.datetime.now(dt.UTC)
    try:
        dispatcher = Dispatcher(factory.platform, clock=lambda: now)
        assert dispatcher.deliver(tenant_id, message_id) == MessageStatus.QUEUED
        waiting = status_of(factory, tenant_id, message_id)
        assert waiting.error == "SMSC throttled"
        assert waiting.attempts == 1
        assert (tenant_id, message_id) not in dispatcher.due()  # backing off
        assert dispatcher.deliver(tenant_id, message_id) is None
        now += dt.timedelta(seconds=6)
        assert (tenant_id, message_id) in dispatcher.due()
        assert dispatcher.deliver(tenant_id, message_id) == MessageStatus.SENT
        assert dispatcher.deliver(tenant_id, message_id) is None  # sent; not again
    finally:
        undo()
    sent = status_of(factory, tenant_id, message_id)
    assert recorder.sent == ["Hi, how can we help?"]
    assert (sent.status, sent.external_id, sent.error) == (MessageStatus.SENT, "provider-1", None)
    with factory.platform.session(tenant_id) as db:
        Outbox(factory.platform, db).mark(Channel.SMS, "provider-1", MessageStatus.DELIVERED)
        Outbox(factory.platform, db).mark(Channel.SMS, "provider-1", MessageStatus.SENT)
        db.commit()
    assert status_of(factory, tenant_id, message_id).status == MessageStatus.DELIVERED


def test_two_reports_read_at_once_never_move_a_message_back(
        queued_reply: tuple[uuid.UUID, uuid.UUID], factory: Any) -> None:
    """Kannel posts "sent to the SMSC" and "delivered" at the same moment: both requests read
    the queued message, "delivered" commits first, "sent" must not overwrite it."""
    tenant_id, message_id = queued_reply
    with factory.platform.session(tenant_id) as early, \
            factory.platform.session(tenant_id) as late:
        read_by_late = late.get(Message, message_id)
        read_by_early = early.get(Message, message_id)
        assert read_by_late.status == read_by_early.status == MessageStatus.QUEUED
        assert set_status(early, None, read_by_early, MessageStatus.DELIVERED)
        early.commit()
        assert not set_status(late, None, read_by_late, MessageStatus.SENT)
        late.commit()
    stored = status_of(factory, tenant_id, message_id)
    assert stored.status == MessageStatus.DELIVERED
    assert stored.delivered_at is not None


def test_a_permanent_failure_fails_at_once_with_its_reason(
        queued_reply: tuple[uuid.UUID, uuid.UUID], factory: Any) -> None:
    tenant_id, message_id = queued_reply
    undo = register_sender(Channel.SMS, Recorder(DeliveryFailed("unknown subscriber",
                                                                permanent=True)))
    try:
        assert Dispatcher(factory.platform).deliver(tenant_id, message_id) == \
            MessageStatus.FAILED
    finally:
        undo()
    failed = status_of(factory, tenant_id, message_id)
    assert (failed.status, failed.error) == (MessageStatus.FAILED, "unknown subscriber")


def test_a_customer_who_unsubscribed_gets_replies_but_nothing_unsolicited(
        acme: Desk, queued_reply: tuple[uuid.UUID, uuid.UUID], factory: Any) -> None:
    tenant_id, reply_id = queued_reply
    with factory.platform.session(tenant_id) as db:
        customer = db.scalars(sa.select(Customer)).one()
        customer.opt_outs = ["sms"]
        reply = db.get(Message, reply_id)
        assert reply is not None
        promotion = Message(interaction_id=reply.interaction_id, customer_id=customer.id,
                            channel=Channel.SMS, direction=Direction.OUTBOUND,
                            status=MessageStatus.QUEUED, recipients=["+8613800138000"],
                            body_text="50% off this week!")
        db.add(promotion)
        db.commit()
        promotion_id = promotion.id
    recorder = Recorder()
    undo = register_sender(Channel.SMS, recorder)
    try:
        dispatcher = Dispatcher(factory.platform)
        assert dispatcher.deliver(tenant_id, reply_id) == MessageStatus.SENT
        assert dispatcher.deliver(tenant_id, promotion_id) == MessageStatus.FAILED
    finally:
        undo()
    assert recorder.sent == ["Hi, how can we help?"]
    assert "unsubscribed" in (status_of(factory, tenant_id, promotion_id).error or "")


# ---------------------------------------------------------------------- rules' routing requests
def test_a_rule_routing_request_queues_the_conversation_once(acme: Desk, factory: Any) -> None:
    from kefu.platform.routing.host import route_requested

    tenant_id = acme.admin.tenant.id
    with factory.session(acme.admin.tenant) as db:
        asked = Interaction(channel=Channel.EMAIL, direction=Direction.INBOUND, queue="billing",
                            data={"routing": {"kind": "assign", "target": "desk"}})
        unasked = Interaction(channel=Channel.EMAIL, direction=Direction.INBOUND,
                              queue="billing")
        db.add_all([asked, unasked])
        db.commit()
        asked_id, unasked_id = asked.id, unasked.id
    # The sweep only takes what a rule asked for; the event names its interaction.
    assert route_requested(factory.platform, tenant_id, unasked_id, swept=True) is False
    assert route_requested(factory.platform, tenant_id, asked_id, swept=True) is True
    assert route_requested(factory.platform, tenant_id, asked_id) is False  # already queued
    assert acme.get({"id": str(asked_id)})["state"] == "queued"
    assert acme.get({"id": str(unasked_id)})["state"] == "created"
    # Another tenant's id is simply unknown.
    other = factory.tenant()
    assert route_requested(factory.platform, other.id, asked_id) is False


def test_the_first_mail_of_a_thread_delivered_twice_is_stored_once(
        acme: Desk, factory: Any) -> None:
    intake = Intake(factory.platform)
    first = intake.receive(email("Question", message_id="<root@example.cn>"))
    again = intake.receive(email("Question", message_id="<root@example.cn>"))
    assert (again.created, again.interaction_id, again.message_id) == (
        False, first.interaction_id, first.message_id)
    assert len(rows(factory, acme.admin.tenant, Interaction)) == 1


def test_a_message_out_of_hours_waits_for_its_queue_to_open(
        alice: Actor, factory: Any, wsgi_app: Any) -> None:
    from kefu.platform.routing.host import route_requested

    shut = CONFIG.replace('queue billing "Billing" {', 'calendar shut {\n  open mon 08:00-08:01\n'
                          '  closed 2020-01-01..2099-12-31 "closed for good"\n}\n\n'
                          'queue billing "Billing" {\n  calendar shut')
    deploy(factory, alice.tenant, shut)
    received = Intake(factory.platform).receive(sms("Anyone there at night?"))
    desk = Desk(alice, factory, wsgi_app)
    waiting = desk.get({"id": str(received.interaction_id)})
    assert (waiting["state"], waiting["queue"]) == ("created", "billing")
    assert waiting["data"]["routing"]["closed"] is True
    assert route_requested(factory.platform, alice.tenant.id, received.interaction_id,
                           swept=True) is False  # still closed
    deploy(factory, alice.tenant, CONFIG)  # the queue opens
    assert route_requested(factory.platform, alice.tenant.id, received.interaction_id,
                           swept=True) is True
    assert desk.get({"id": str(received.interaction_id)})["state"] == "queued"
