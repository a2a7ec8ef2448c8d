"""Tickets and guided scripts on the agent desktop, generated from the DSL: a ticket shows its
workflow's states, a button for each transition the agent's role allows (and none for the
supervisor's), its SLA countdown and history; a guided script steps the agent through its
steps, its form checked like every generated form, its branches as buttons.
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

ORDER_SCRIPT = '''
script cylinder "Order a gas cylinder" {
  step greet "Greet" {
    say "Thank the customer and ask for their account."
  }
  step account "Account" {
    say "Key in the customer's account details."
    form signup
    next deliver, cancel
  }
  step deliver "Deliver" {
    say "Offer the next delivery day."
    next done
  }
  step cancel "Cancel" {
    say "Explain how to order later."
    next done
  }
  step done "Done" {
    say "Thank the customer."
  }
}
'''


def test_a_ticket_moves_by_the_agents_role_and_a_script_guides_the_agent(
        kefu: Kefu, browser: Any) -> None:
    files = demo_files()
    files["scripts.kefu"] = ORDER_SCRIPT
    files["tenant.kefu"] = files["tenant.kefu"].replace(
        'include "forms.kefu"', 'include "forms.kefu"\ninclude "scripts.kefu"')
    version = kefu.admin("POST", "/configs", {"files": files, "message": "scripts"})
    assert version["status"] == "valid", version.get("diagnostics")
    kefu.admin("POST", f"/configs/{version['id']}/deploy")

    agent, user = kefu.agent_user("Li Na 李娜")
    kefu.admin("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})
    received = Intake(kefu.server.platform).receive(Inbound(
        channel=Channel.EMAIL, to_address="help@acme.example", from_address="tom@example.com",
        subject="Gas smell", text="It smells of gas near the meter.",
        external_id=f"<{uuid.uuid4()}@example.com>"))
    interaction_id = str(received.interaction_id)
    kefu.admin("POST", f"/interactions/{interaction_id}/accept")
    ticket = kefu.admin("POST", "/tickets", {
        "type": "repair", "subject": "Gas smell near the meter",
        "customer_id": str(received.customer_id), "interaction_id": interaction_id,
        "data": {"address": "2 Mill Lane, York", "kind": "leak"}})
    kefu.admin("PATCH", f"/tickets/{ticket['id']}", {"state": "dispatch"})  # supervisor's move

    desk = log_in(browser, kefu.http, user.email, "/agent")
    pop = desk.locator(".desk-side .pop")
    pop.get_by_role("button", name="#1 Gas smell near the meter · dispatched").click()
    view = desk.locator(".desk-side .ticket-view")
    expect(view.locator(".states li[aria-current=step]")).to_have_text("dispatched")
    expect(view.locator(".sla")).to_contain_text("Due in 3:")
    # Agents may fix; closing is the supervisor's (no button for it).
    expect(view.locator("[data-transition]")).to_have_text(["fix → fixed"])
    view.get_by_role("button", name="fix → fixed").click()
    expect(desk.locator("#notice")).to_have_text("Ticket #1 is now fixed.")
    expect(view.locator(".states li[aria-current=step]")).to_have_text("fixed")
    expect(view.locator(".history li")).to_contain_text(["→ new", "new → dispatched",
                                                         "dispatched → fixed"])
    assert kefu.admin("GET", f"/tickets/{ticket['id']}")["state"] == "fixed"

    # The guided script: text, a form checked with the DSL's rules, then a branch.
    scripts = desk.locator(".desk-side .scripts")
    scripts.get_by_label("Guided scripts").select_option(label="Order a gas cylinder")
    expect(scripts.locator(".script-text")).to_have_text(
        "Thank the customer and ask for their account.")
    expect(scripts.get_by_role("button", name="Previous")).to_be_disabled()
    scripts.get_by_role("button", name="Next").click()
    form = scripts.locator("form[data-form=signup]")
    expect(form.locator("fieldset legend")).to_have_text(["Who you are"])
    form.get_by_label("Full name").fill("Tom Brown")
    form.get_by_label("Phone").fill("+44 113 496 0001")
    form.get_by_label("Account number").fill("1234")
    deliver = scripts.get_by_role("button", name="Deliver")
    expect(deliver).to_be_disabled()
    form.get_by_role("button", name="Save").click()
    expect(form.locator("[data-error-for=account_no]")).to_have_text(
        "Account numbers have eight digits.")
    form.get_by_label("Account number").fill("12345678")
    form.get_by_label("PIN").fill("4321")
    form.get_by_role("button", name="Save").click()
    expect(deliver).to_be_enabled()
    expect(scripts.get_by_role("button", name="Cancel")).to_be_enabled()
    deliver.click()
    expect(scripts.locator(".script-text")).to_have_text("Offer the next delivery day.")
    scripts.get_by_role("button", name="Previous").click()
    expect(scripts.get_by_label("Account number")).to_have_value("12345678")
    scripts.get_by_role("button", name="Deliver").click()
    scripts.get_by_role("button", name="Next").click()
    expect(scripts.locator(".script-text")).to_have_text("Thank the customer.")
    scripts.get_by_role("button", name="Finish").click()
    expect(scripts.locator(".script-text")).to_have_count(0)
    assert desk.problems == []
