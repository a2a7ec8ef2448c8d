"""The web chat protocol against a real server: a visitor fills the pre-chat form, talks to the
flow, waits in the queue, an agent joins, types and replies; receipts go both ways; a
reconnect loses nothing; a callback request and the end with a transcript."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from kefu.platform.interactions.models import Channel, Direction, Interaction, Message
from tests.functional.webchat.conftest import Shop, Widget, connect


def _rows(shop: Shop, model: Any, *where: Any) -> list[Any]:
    with shop.factory.session(shop.tenant) as db:
        rows = list(db.scalars(sa.select(model).where(*where)))
        db.expunge_all()
        return rows


def _message(shop: Shop, message_id: str) -> Message:
    (row,) = _rows(shop, Message, Message.id == uuid.UUID(message_id))
    return row  # type: ignore[no-any-return]


def _ready_agent(shop: Shop, name: str) -> tuple[dict[str, Any], Any]:
    agent, client = shop.agent(name)
    client.api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})
    return agent, client


def test_a_visitor_talks_to_the_flow_waits_and_an_agent_answers(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            welcome = await widget.hello()
            assert welcome["session"] is None
            assert welcome["history"] == []
            assert welcome["limits"]["max_attachment_bytes"] == 4096
            assert "image/*" in welcome["limits"]["attachment_types"]
            form = welcome["form"]
            assert form["id"] == "chat_start"
            assert [(f["name"], f["type"], f["required"]) for f in form["fields"]] == [
                ("name", "text", True), ("email", "email", False)]

            # The form's own rules and messages, from the DSL.
            await widget.send(type="start", fields={"name": "", "email": "not-mail"})
            errors = (await widget.next("form_errors"))["errors"]
            assert errors["name"] == "Please tell us your name."
            assert "email" in errors
            started = await widget.start("王芳", "wang@example.com")
            session = started["session"]
            assert session["state"] == "in_flow"
            assert started["token"] != welcome["token"]
            greeting, menu = await widget.messages(2)
            assert (greeting["from"], greeting["text"]) == ("bot", "Welcome to Acme Gas.")
            assert menu["text"].startswith("How can we help?")
            assert "0. Agent" in menu["text"]
            assert greeting["status"] == "sent"
            chat = shop.interaction(session["id"])
            assert chat["channel"] == "chat"
            customer = shop.admin.api("GET", f"/customers/{chat['customer_id']}").json
            assert customer["name"] == "王芳"
            assert [e["address"] for e in customer["emails"]] == ["wang@example.com"]

            # The visitor asks for a person: acked, stored once even when resent.
            ack = await widget.say("0", client_id="c-1")
            again = await widget.say("0", client_id="c-1")
            assert again["id"] == ack["id"]
            assert len(_rows(shop, Message, Message.interaction_id == uuid.UUID(session["id"]),
                             Message.direction == Direction.INBOUND)) == 1
            connecting = await widget.next("message")
            assert connecting["text"] == "Connecting you to an agent."
            place = await widget.next("queue")
            assert place["position"] == 1

            # An agent goes ready, is offered the chat and answers it.
            _agent, li = _ready_agent(shop, "Li Na")
            li.api("POST", f"/interactions/{session['id']}/accept")
            joined = await widget.next("agent_joined")
            assert joined["name"] == "Li Na"

            li.api("POST", f"/interactions/{session['id']}/typing", {"active": True},
                   status=204)
            assert await widget.next("typing") == {"type": "typing", "who": "agent",
                                                   "active": True}
            reply = li.api("POST", f"/interactions/{session['id']}/reply",
                           {"text": "您好，我是李娜。How can I help?"}, status=201).json
            pushed = await widget.next("message")
            assert pushed["id"] == reply["id"]
            assert (pushed["from"], pushed["name"]) == ("agent", "Li Na")
            assert pushed["text"] == "您好，我是李娜。How can I help?"
            assert _message(shop, reply["id"]).status.value == "sent"

            # The widget reports the agent's message delivered, then read.
            await widget.send(type="received", ids=[reply["id"]])
            await widget.send(type="ping")
            await widget.next("pong")
            assert _message(shop, reply["id"]).status.value == "delivered"
            await widget.send(type="read", upto=reply["id"])
            await widget.send(type="ping")
            await widget.next("pong")
            assert _message(shop, reply["id"]).status.value == "read"

            # The agent reads the visitor's messages: the widget shows them read.
            mine = await widget.say("My meter is broken")
            read = li.api("POST", f"/interactions/{session['id']}/read",
                          {"upto": mine["id"]}).json
            assert set(read["read"]) == {ack["id"], mine["id"]}
            receipts = {(await widget.next("receipt"))["id"] for _ in range(2)}
            assert receipts == {ack["id"], mine["id"]}
            assert _message(shop, mine["id"]).read_at is not None

    asyncio.run(scenario())


def test_a_reconnecting_widget_gets_exactly_the_messages_it_missed(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            await widget.hello()
            started = await widget.start()
            session = started["session"]
            token = started["token"]
            first = await widget.messages(2)
            ack = await widget.say("0")
            connecting = await widget.next("message")
        # Away: the agent answers and writes twice.
        _agent, li = _ready_agent(shop, "Li Na")
        li.api("POST", f"/interactions/{session['id']}/accept")
        missed = [li.api("POST", f"/interactions/{session['id']}/reply", {"text": text},
                         status=201).json["id"] for text in ("Hello?", "Are you there?")]
        assert _message(shop, missed[0]).status.value == "queued"

        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            welcome = await widget.hello(token=token, since=connecting["id"])
            assert welcome["session"]["id"] == session["id"]
            assert welcome["session"]["state"] == "connected"
            assert welcome["session"]["agent"] == {"name": "Li Na"}
            assert [m["id"] for m in welcome["history"]] == missed
            assert [m["text"] for m in welcome["history"]] == ["Hello?", "Are you there?"]
            assert all(_message(shop, m).status.value == "sent" for m in missed)
            # Live again: the next reply is pushed.
            live = li.api("POST", f"/interactions/{session['id']}/reply", {"text": "Good."},
                          status=201).json
            assert (await widget.next("message"))["id"] == live["id"]

        # A second tab without `since` gets the whole conversation, in order.
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            welcome = await widget.hello(token=token)
            ids = [m["id"] for m in welcome["history"]]
            assert ids == [*(m["id"] for m in first), ack["id"], connecting["id"], *missed,
                           live["id"]]
            assert welcome["history"][2]["from"] == "customer"
            assert welcome["history"][2]["client_id"] == ack["client_id"]

    asyncio.run(scenario())


def test_two_tabs_of_one_visitor_both_see_the_conversation(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws1:
            tab1 = Widget(ws1)
            await tab1.hello()
            started = await tab1.start()
            await tab1.messages(2)
            async with connect(shop.server, shop.key) as ws2:
                tab2 = Widget(ws2)
                welcome = await tab2.hello(token=started["token"])
                assert len(welcome["history"]) == 2
                ack = await tab1.say("1")
                # The other tab sees the visitor's message and the answer (frames of one
                # turn may come in any order; the widget places them by "at").
                frames = sorted(await tab2.messages(3), key=lambda m: m["at"])
                assert [(m["from"], m["text"]) for m in frames] == [
                    ("customer", "1"), ("bot", "We are open 9 to 5."),
                    ("bot", "Thank you, goodbye.")]
                assert frames[0]["id"] == ack["id"]
                assert [m["id"] for m in await tab1.messages(2)] == [m["id"] for m in frames[1:]]
                # The flow hung up: both tabs hear the chat has ended.
                assert (await tab1.next("ended"))["reason"] == "self_service"
                assert (await tab2.next("ended"))["reason"] == "self_service"

    asyncio.run(scenario())


def test_a_callback_request_becomes_a_queued_call_task(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            await widget.hello()
            await widget.send(type="callback", number="+86 138 0013 8000", note="after 6pm")
            assert (await widget.next("error"))["code"] == "no_session"
            session = (await widget.start())["session"]
            await widget.send(type="callback", number="call me", note="")
            error = await widget.next("error")
            assert error["code"] == "bad_message"
            assert "callback.number" in error["message"]
            await widget.send(type="callback", number="+86 138 0013 8000", note="after 6pm")
            requested = await widget.next("callback_requested")
        (task,) = _rows(shop, Interaction, Interaction.id == uuid.UUID(requested["id"]))
        assert (task.channel, task.direction) == (Channel.VOICE, Direction.OUTBOUND)
        assert task.to_address == "+8613800138000"
        assert task.data["callback_for"] == session["id"]
        assert task.data["note"] == "after 6pm"
        assert (task.state.value, task.queue) == ("queued", "general")

    asyncio.run(scenario())


def test_ending_with_a_transcript_queues_an_email_of_the_conversation(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            await widget.hello(locale="zh_CN")
            session = (await widget.start())["session"]
            await widget.messages(2)
            await widget.say("我想问一下营业时间")
            await widget.send(type="end", transcript_to="wang@example.com")
            ended = await widget.next("ended")
            assert ended["reason"] == "customer_left"
            await widget.send(type="message", client_id="late", text="hello?")
            assert (await widget.next("error"))["code"] == "ended"
        (chat,) = _rows(shop, Interaction, Interaction.id == uuid.UUID(session["id"]))
        assert chat.state.value == "ended"
        (mail,) = _rows(shop, Interaction, Interaction.channel == Channel.EMAIL)
        assert (mail.direction, mail.to_address) == (Direction.OUTBOUND, "wang@example.com")
        assert mail.customer_id == chat.customer_id
        (message,) = _rows(shop, Message, Message.interaction_id == mail.id)
        assert message.status.value == "queued"
        assert message.recipients == ["wang@example.com"]
        assert message.subject.startswith("您的聊天记录")
        body = message.body_text
        assert "我想问一下营业时间" in body
        assert "Welcome to Acme Gas." in body
        assert "您:" in body
        assert "自动助手:" in body

    asyncio.run(scenario())
