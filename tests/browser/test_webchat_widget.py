"""The web chat widget in headless Chromium against a real kefu.

A customer's web site (another origin) embeds the widget with one <script> tag. The customer
fills the demo tenant's pre-chat form, goes through the demo flow to an agent, and chats with
the agent (who works through the API and /ws/events) in English and Chinese; receipts and
typing show on both sides; a reload in the middle of the conversation loses nothing; an image
upload works and a file over the limit is refused with the reason on screen.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from websockets.sync.client import ClientConnection, connect

from tests.browser.conftest import UPLOAD_LIMIT, CustomerSite, Kefu

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 20_000
# Every expectation may wait this long: a loaded 2-core CI machine is slow, never wrong.
expect.set_options(timeout=WAIT_MS)
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


class AgentDesk:
    """An agent at work: presence and answers through the API, live events on /ws/events."""

    def __init__(self, record: dict[str, Any], api: Any, events: ClientConnection) -> None:
        self.record, self.api, self.events = record, api, events
        self.events.send(json.dumps({"type": "subscribe",
                                     "topics": ["interaction.*", "message.*", "chat.*"]}))
        assert json.loads(self.events.recv(timeout=10))["type"] == "subscribed"
        self.seen: list[dict[str, Any]] = []

    def ready(self) -> None:
        self.api("PUT", f"/agents/{self.record['id']}/presence", {"state": "ready"})

    def wait_event(self, topic: str, check: Callable[[dict[str, Any]], bool] = lambda d: True,
                   timeout: float = 20) -> dict[str, Any]:
        """The first event (already seen or arriving) on ``topic`` whose data passes."""
        for event in self.seen:
            if event["topic"] == topic and check(event["data"]):
                self.seen.remove(event)
                return event["data"]  # type: ignore[no-any-return]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                frame = json.loads(self.events.recv(timeout=max(0.05, deadline - time.monotonic())))
            except TimeoutError:
                break
            if frame.get("type") != "event":
                continue
            if frame["topic"] == topic and check(frame["data"]):
                return frame["data"]  # type: ignore[no-any-return]
            self.seen.append(frame)
        raise AssertionError(f"no {topic} event within {timeout} s; saw "
                             f"{[e['topic'] for e in self.seen]}")

    def messages(self, interaction_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/interactions/{interaction_id}/messages")["items"]  # type: ignore[no-any-return]

    def inbound_texts(self, interaction_id: str) -> list[str]:
        return [m["body_text"] for m in self.messages(interaction_id)
                if m["direction"] == "inbound"]

    def wait_inbound(self, interaction_id: str, text: str, timeout: float = 20) -> None:
        """Wait until the customer's ``text`` is stored on the agent's side."""
        deadline = time.monotonic() + timeout
        while text not in self.inbound_texts(interaction_id):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never reached the agent: "
                                     f"{self.inbound_texts(interaction_id)}")
            time.sleep(0.1)

    def attachment_names(self, interaction_id: str) -> list[str]:
        return [a["filename"] for m in self.messages(interaction_id)
                for a in self.api("GET", f"/messages/{m['id']}/attachments")["items"]]


@pytest.fixture
def agent(kefu: Kefu) -> Iterator[AgentDesk]:
    record, api, token = kefu.agent("Li Na 李娜")
    with connect(kefu.ws + "/ws/events", open_timeout=10,
                 additional_headers={"Authorization": f"Bearer {token}"}) as events:
        yield AgentDesk(record, api, events)


class Widget:
    """The widget on a customer's page, found through its (open) shadow root."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.locator("[data-kefu-chat]")

    def open(self) -> None:
        self.root.get_by_role("button", name="Chat with us").click()
        expect(self.root.get_by_role("dialog")).to_be_visible(timeout=WAIT_MS)

    @property
    def log(self) -> Locator:
        return self.root.get_by_role("log")

    def messages(self, sender: str | None = None) -> Locator:
        selector = ".msg" if sender is None else f'.msg[data-from="{sender}"]'
        return self.log.locator(selector)

    def say(self, text: str) -> None:
        box = self.root.get_by_role("textbox", name="Message")
        box.fill(text)
        box.press("Enter")
        expect(self.messages("customer").filter(has_text=text)).to_have_count(1, timeout=WAIT_MS)

    def status_of(self, text: str) -> Locator:
        return self.messages("customer").filter(has_text=text).locator(".ticks")


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"))


def test_a_customer_and_an_agent_chat_through_the_widget_and_a_reload_loses_nothing(
        kefu: Kefu, agent: AgentDesk, customer_site: CustomerSite, browser: Any,
        artifacts: Path) -> None:
    url = customer_site.page("index.html", f"{kefu.http}/chat/widget.js", locale="en")
    agent.ready()
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(url)
    widget = Widget(page)
    widget.open()

    # The pre-chat form comes from the DSL (form chat_start); the browser refuses a bad email
    # with the DSL's own message before anything is sent.
    form = widget.root.locator("form[data-form=chat_start]")
    expect(form.get_by_label("Your name")).to_be_visible(timeout=WAIT_MS)
    form.get_by_label("Your name").fill("Mary Smith")
    form.get_by_label("Email (for a copy of the chat)").fill("mary-at-example")
    form.get_by_role("button", name="Start chat").click()
    expect(form.locator("[data-error-for=email]")).to_have_text(
        "That does not look like an email address.")
    assert kefu.admin("GET", "/interactions?channel=chat")["items"] == []
    shot(page, artifacts, "01-form-refused")

    form.get_by_label("Email (for a copy of the chat)").fill("mary@example.com")
    form.get_by_role("button", name="Start chat").click()

    # The demo flow greets in text and offers its menu; 0 asks for a person.
    expect(widget.messages("bot").filter(has_text="Welcome to Acme Gas.")).to_have_count(
        1, timeout=WAIT_MS)
    expect(widget.messages("bot").filter(has_text="For anything else press 0")).to_have_count(
        1, timeout=WAIT_MS)
    widget.say("0")

    offered = agent.wait_event("interaction.offer", lambda d: d.get("channel") == "chat")
    chat_id = offered["interaction_id"]
    agent.api("POST", f"/interactions/{chat_id}/accept")
    expect(widget.log.locator("[data-notice=joined]")).to_have_text(
        "Li Na 李娜 joined the chat.", timeout=WAIT_MS)

    # Customer -> agent, in English and in Chinese.
    widget.say("My meter shows the wrong reading.")
    widget.say("燃气表读数不对，含中文")
    for text in ("My meter shows the wrong reading.", "燃气表读数不对，含中文"):
        agent.wait_inbound(chat_id, text)
        expect(widget.status_of(text)).to_have_attribute("data-status", "sent", timeout=WAIT_MS)

    # The agent types (the customer sees it), then answers.
    agent.api("POST", f"/interactions/{chat_id}/typing", {"active": True})
    expect(widget.root.locator(".typing")).to_have_text("Li Na 李娜 is typing…", timeout=WAIT_MS)
    agent.api("POST", f"/interactions/{chat_id}/reply", {"text": "Hello Mary, 您好！Let me check."})
    reply = widget.messages("agent").filter(has_text="Hello Mary, 您好！Let me check.")
    expect(reply).to_have_count(1, timeout=WAIT_MS)
    expect(reply.locator(".who")).to_have_text("Li Na 李娜")
    expect(widget.root.locator(".typing")).to_have_text("")

    # The widget reports the reply delivered and read (the panel is open and visible) ...
    agent.wait_event("message.status", lambda d: d.get("status") == "read"
                     and d.get("interaction_id") == chat_id)
    # ... and the agent reading shows as read ticks on the customer's messages.
    newest = [m for m in agent.messages(chat_id) if m["direction"] == "inbound"][-1]
    agent.api("POST", f"/interactions/{chat_id}/read", {"upto": newest["id"]})
    for text in ("My meter shows the wrong reading.", "燃气表读数不对，含中文"):
        expect(widget.status_of(text)).to_have_attribute("data-status", "read", timeout=WAIT_MS)
    shot(page, artifacts, "02-chatting")
    before = widget.messages().all_inner_texts()

    # The customer leaves the page; the agent writes meanwhile; the customer comes back.
    page.goto("about:blank")
    agent.api("POST", f"/interactions/{chat_id}/reply", {"text": "Are you still there? 还在吗？"})
    page.goto(url)
    widget = Widget(page)
    expect(widget.messages("agent").filter(has_text="Are you still there? 还在吗？")).to_have_count(
        1, timeout=WAIT_MS)
    after = widget.messages().all_inner_texts()
    assert after[:len(before)] == before, "messages were lost or changed by the reload"
    assert len(after) == len(before) + 1
    expect(widget.log.locator("[data-notice=joined]")).to_have_count(1)
    shot(page, artifacts, "03-after-reload")

    # And the conversation goes on from the reloaded page.
    widget.say("Still here, 还在。")
    agent.wait_inbound(chat_id, "Still here, 还在。")
    expect(widget.status_of("Still here, 还在。")).to_have_attribute(
        "data-status", "sent", timeout=WAIT_MS)

    # A small image goes through the attachment button ...
    widget.root.locator("input[type=file]").set_input_files(
        {"name": "meter.png", "mimeType": "image/png", "buffer": PNG})
    sent = widget.messages("customer").locator("a[data-attachment='meter.png']")
    expect(sent).to_have_count(1, timeout=WAIT_MS)
    deadline = time.monotonic() + 20
    while "meter.png" not in agent.attachment_names(chat_id):
        assert time.monotonic() < deadline, "the upload never reached the agent"
        time.sleep(0.2)

    # ... and one over the limit is refused, saying why.
    widget.root.locator("input[type=file]").set_input_files(
        {"name": "scan.png", "mimeType": "image/png",
         "buffer": b"\x89PNG" + b"\0" * (UPLOAD_LIMIT + 10 * 1024)})
    expect(widget.root.get_by_role("alert")).to_have_text(
        "scan.png is too large (74 KB); the limit is 64 KB.")
    shot(page, artifacts, "04-attachments")
    assert problems == []
    context.close()


def test_in_chinese_a_customer_asks_for_a_call_back_and_ends_the_chat_with_a_transcript(
        kefu: Kefu, customer_site: CustomerSite, browser: Any, artifacts: Path) -> None:
    url = customer_site.page("zh.html", f"{kefu.http}/chat/widget.js", locale="zh_CN")
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = context.new_page()
    page.goto(url)
    widget = Widget(page)
    widget.root.get_by_role("button", name="在线客服").click()
    form = widget.root.locator("form[data-form=chat_start]")
    form.get_by_role("button", name="开始对话").click()
    expect(form.locator("[data-error-for=name]")).to_have_text("Please tell us your name.")
    form.get_by_label("Your name").fill("张三")
    form.get_by_role("button", name="开始对话").click()
    expect(widget.messages("bot").filter(has_text="Welcome to Acme Gas.")).to_have_count(
        1, timeout=WAIT_MS)

    # "Call me back": the number is checked in the browser, then a callback task is queued.
    widget.root.get_by_role("button", name="请给我回电").click()
    sheet = widget.root.locator("form[data-sheet=callback]")
    sheet.get_by_label("您的电话号码").fill("call me")
    sheet.get_by_role("button", name="申请回电").click()
    expect(sheet.locator("[data-error-for=number]")).to_have_text("请输入有效的电话号码。")
    sheet.get_by_label("您的电话号码").fill("+86 138 0013 8000")
    sheet.get_by_label("备注（可选）").fill("下午三点以后")
    sheet.get_by_role("button", name="申请回电").click()
    expect(widget.log.locator("[data-notice=callDone]")).to_have_text(
        "谢谢，我们会回电至 +86 138 0013 8000。", timeout=WAIT_MS)
    tasks = kefu.admin("GET", "/interactions?channel=voice")["items"]
    assert [(t["direction"], t["to_address"]) for t in tasks] == [("outbound", "+8613800138000")]

    # "End chat" with an address for the transcript.
    widget.root.get_by_role("button", name="结束对话").click()
    ending = widget.root.locator("form[data-sheet=end]")
    ending.get_by_label("把聊天记录发到我的邮箱（可选）").fill("zhangsan@example.com")
    ending.get_by_role("button", name="结束对话").click()
    expect(widget.log.locator("[data-notice=ended]")).to_have_text("对话已结束。", timeout=WAIT_MS)
    expect(widget.root.get_by_role("button", name="开始新的对话")).to_be_visible()
    expect(widget.root.get_by_role("textbox", name="消息")).to_be_hidden()
    deadline = time.monotonic() + 20  # the transcript is written just after the chat ends
    while not (mails := kefu.admin("GET", "/interactions?channel=email")["items"]):
        assert time.monotonic() < deadline, "no transcript email was queued"
        time.sleep(0.2)
    assert [(m["direction"], m["to_address"]) for m in mails] == [
        ("outbound", "zhangsan@example.com")]
    shot(page, artifacts, "zh-ended")

    # A page with a key no tenant has says so, in the page's language.
    other = customer_site.page("nokey.html", f"{kefu.http}/chat/widget.js", key="no-such-widget",
                               locale="zh_CN")
    page.goto(other)
    Widget(page).root.get_by_role("button", name="在线客服").click()
    expect(Widget(page).root.get_by_role("alert")).to_have_text("本网站暂未开通在线客服。",
                                                                timeout=WAIT_MS)
    context.close()
