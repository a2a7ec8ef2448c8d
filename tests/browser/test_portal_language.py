"""Language and accessibility of the agent desktop and the supervisor console: the UI speaks
the user's language (Chinese or English, from the message catalogues) with a switch; both pages
fit 1024×768 without scrolling sideways; offers are announced to screen readers; the keyboard
reaches everything, with a visible focus and the shortcut list on "?".
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kefu.platform.identity.models import Role, User
from kefu.platform.interactions.models import Channel
from kefu.platform.messaging.intake import Inbound, Intake
from tests.browser.conftest import Kefu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=20_000)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024, f"{page.url} is {width} px wide at a 1024 px window"


def test_the_desktop_speaks_the_users_language_and_switches(kefu: Kefu, browser: Any,
                                                           artifacts: Path) -> None:
    _agent, user = kefu.agent_user("Li Na 李娜")
    with kefu.factory.platform.session() as db:
        db.get(User, user.id).locale = "zh_CN"
        db.commit()
    desk = log_in(browser, kefu.http, user.email, "/agent")
    expect(desk.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(desk.get_by_role("heading", name="座席工作台")).to_be_visible()
    expect(desk.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["首页", "座席工作台"])
    expect(desk.locator(".topbar").get_by_role("button")).to_have_text("退出登录")
    expect(desk.locator("#my-state")).to_have_text("已签出")
    expect(desk.get_by_role("button", name="就绪", exact=True)).to_be_enabled()
    # Texts drawn by the scripts come from the same catalogue.
    expect(desk.locator("#no-work")).to_have_text("暂无会话。设为就绪即可接收会话和邮件。")
    desk.get_by_role("button", name="就绪", exact=True).click()
    expect(desk.locator("#my-state")).to_have_text("就绪")
    no_sideways_scroll(desk)
    desk.screenshot(path=str(artifacts / "agent-desktop-zh.png"))

    desk.get_by_label("语言").select_option("en")
    expect(desk.get_by_role("heading", name="Agent desktop")).to_be_visible()
    expect(desk.locator("#my-state")).to_have_text("Ready")
    desk.reload()  # the choice is remembered
    expect(desk.get_by_role("heading", name="Agent desktop")).to_be_visible()
    assert desk.problems == []


def test_offers_are_announced_and_the_keyboard_reaches_everything(kefu: Kefu,
                                                                  browser: Any) -> None:
    _agent, user = kefu.agent_user("Li Na 李娜")
    desk = log_in(browser, kefu.http, user.email, "/agent")
    no_sideways_scroll(desk)

    # "?" lists the shortcuts; Escape closes the list.
    desk.keyboard.press("?")
    keys = desk.get_by_role("dialog", name="Keyboard shortcuts")
    expect(keys).to_be_visible()
    expect(keys.locator("dd")).to_contain_text(["Accept the ringing offer", "Go ready"])
    desk.keyboard.press("Escape")
    expect(keys).to_be_hidden()

    # Tab moves through the controls in reading order, and the focus is visible.
    desk.get_by_role("button", name="Ready", exact=True).focus()
    desk.keyboard.press("Tab")
    expect(desk.get_by_label("Reason")).to_be_focused()
    outline = desk.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    for control in desk.locator("main select, main input, main textarea").all():
        label = control.evaluate(
            "e => e.labels && e.labels.length ? e.labels[0].textContent.trim() "
            ": e.getAttribute('aria-label')")
        assert label, control.evaluate("e => e.outerHTML")

    # An offer is announced to screen readers; Alt+A accepts it with the keyboard.
    desk.keyboard.press("Alt+r")
    expect(desk.locator("#my-state")).to_have_attribute("data-state", "ready")
    Intake(kefu.server.platform).receive(Inbound(
        channel=Channel.EMAIL, to_address="help@acme.example", from_address="tom@example.com",
        subject="Boiler", text="No heating since yesterday.",
        external_id=f"<{uuid.uuid4()}@example.com>"))
    expect(desk.locator("#live-alert")).to_have_text("New email offered from tom@example.com")
    expect(desk.locator(".offer").get_by_role("button", name="Accept")).to_be_focused()
    expect(desk).to_have_title("🔔 Incoming email · Agent desktop · kefu 客服")
    desk.keyboard.press("Alt+a")
    expect(desk.get_by_role("tab", name="email: tom@example.com")).to_have_attribute(
        "aria-selected", "true")
    expect(desk.get_by_role("log").first).to_have_attribute("aria-live", "polite")
    no_sideways_scroll(desk)

    board = log_in(browser, kefu.http, kefu.factory.user(kefu.tenant, Role.SUPERVISOR).email,
                   "/supervisor")
    expect(board.locator("#agents tbody tr")).to_have_count(1)
    no_sideways_scroll(board)
    assert desk.problems == []
    assert board.problems == []
