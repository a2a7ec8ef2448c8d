"""The screen pop and outbound messages on the agent desktop: a known customer comes up with
their VIP and blacklist marks (the blacklisted number in red) and location; an unknown one gets
the tenant's new-customer form from the DSL, prefilled with their number; the agent starts an
outbound SMS, which opens as a conversation they hold.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from kefu.platform.interactions.models import Channel
from kefu.platform.messaging.intake import Inbound, Intake
from tests.browser.conftest import Kefu, demo_files, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=20_000)
SMS_NUMBER = "+441632960001"  # the demo tenant's SMS channel


def text_in(kefu: Kefu, sender: str, text: str) -> None:
    Intake(kefu.server.platform).receive(Inbound(
        channel=Channel.SMS, to_address=SMS_NUMBER, from_address=sender, text=text,
        external_id=str(uuid.uuid4())))


def test_the_screen_pop_marks_known_customers_and_offers_a_form_for_new_ones(
        kefu: Kefu, browser: Any) -> None:
    files = demo_files()
    if "customer_form signup" not in files["tenant.kefu"]:
        files["tenant.kefu"] = files["tenant.kefu"].replace(
            '  calendar office\n', '  calendar office\n  customer_form signup\n', 1)
        version = kefu.admin("POST", "/configs", {"files": files, "message": "customer form"})
        assert version["status"] == "valid", version.get("diagnostics")
        kefu.admin("POST", f"/configs/{version['id']}/deploy")
    kefu.admin("POST", "/customers", {
        "name": "Rex Rowe", "is_vip": True, "is_blacklisted": True,
        "blacklist_reason": "abusive calls", "phones": [{"number": "+447700900555"}]})
    _agent, user = kefu.agent_user("Li Na 李娜")
    desk = log_in(browser, kefu.http, user.email, "/agent")
    desk.keyboard.press("Alt+r")
    expect(desk.locator("#my-state")).to_have_attribute("data-state", "ready")

    text_in(kefu, "+447700900555", "Where is my engineer?")
    desk.locator(".offer[data-channel=sms]").get_by_role("button", name="Accept").click()
    pop = desk.locator(".desk-side .pop")
    expect(pop.get_by_role("heading", name="Rex Rowe")).to_be_visible()
    expect(pop.locator("[data-mark=vip]")).to_have_text("VIP")
    expect(pop.locator("[data-mark=blacklisted]")).to_have_text("Blacklisted: abusive calls")
    number = pop.locator(".address")
    expect(number).to_have_text("+447700900555")
    assert number.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"  # red
    expect(pop).to_contain_text("United Kingdom")
    expect(pop.locator(".new-customer")).to_have_count(0)

    # Someone kefu does not know (a contact another system hands over with just a number):
    # the DSL's sign-up form, with their number filled in.
    unknown = kefu.admin("POST", "/interactions", {
        "channel": "sms", "direction": "inbound", "from_address": "+447700900777",
        "to_address": SMS_NUMBER})
    kefu.admin("POST", f"/interactions/{unknown['id']}/queue", {"queue": "general_q"})
    desk.locator(".offer[data-channel=sms]").get_by_role("button", name="Accept").click()
    expect(desk.locator(".tab[data-channel=sms]")).to_have_count(2)
    pop = desk.locator(".desk-side .pop")
    expect(pop.get_by_role("heading", name="Unknown customer")).to_be_visible()
    form = pop.locator("form[data-form=signup]")
    expect(form.get_by_label("Phone")).to_have_value("+447700900777")
    form.get_by_role("button", name="Create customer").click()
    expect(form.locator("[data-error-for=full_name]")).to_have_text("Please give your name.")
    form.get_by_label("Full name").fill("Ann Lee")
    form.get_by_role("button", name="Create customer").click()
    expect(desk.locator("#notice")).to_have_text("Customer saved.")
    expect(desk.locator(".desk-side .pop").get_by_role("heading", name="Ann Lee")).to_be_visible()
    (saved,) = kefu.admin("GET", "/customers?q=Ann%20Lee")["items"]
    assert [p["number"] for p in saved["phones"]] == ["+447700900777"]

    # An outbound SMS opens as a conversation the agent holds.
    desk.get_by_role("button", name="New message").click()
    dialog = desk.get_by_role("dialog", name="New outbound message")
    dialog.get_by_label("Channel").select_option("sms")
    dialog.get_by_label("To").fill("+447700900888")
    dialog.get_by_label("Message").fill("Your engineer arrives at 10:00.")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()
    outbound_tab = desk.locator(".tab[data-channel=sms]").filter(has_text="+447700900888")
    expect(outbound_tab).to_have_attribute("aria-selected", "true")
    conversation = desk.locator(".conversation:not([hidden])")
    expect(conversation.locator(".msg[data-from=agent]")).to_contain_text(
        "Your engineer arrives at 10:00.")
    assert desk.problems == []
