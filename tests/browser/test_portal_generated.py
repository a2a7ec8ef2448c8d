"""The portal is generated from the tenant's deployed config: an analyst changes a form and the
disposition list in the DSL and deploys, and the open agent desktop shows the change after a
reload — no restart, no code. Until the reload the page still has the old rules, and the
server's refusal under the new ones is shown next to the field it is about.
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

NEW_REPAIR_FORM = '''form repair_form "Repair report" {
  section where "Where" {
    field address address "Address" {
      required
      length 6..200 "Give the full address: street and town."
    }
    field access choice "Access to the meter" {
      choices inside, outside
    }
  }
  field kind choice "What is wrong" {
    choices leak, no_heating, meter
  }
  field details text "Details" {
    when kind == "meter"
  }
}'''


def changed_demo() -> dict[str, str]:
    files = demo_files()
    forms = files["forms.kefu"]
    start = forms.index('form repair_form "Repair report" {')
    end = forms.index("\n}\n", start) + 2
    files["forms.kefu"] = forms[:start] + NEW_REPAIR_FORM + forms[end:]
    people = files["people.kefu"]
    assert 'disposition escalated "Escalated to a ticket"' in people
    files["people.kefu"] = people.replace(
        'disposition escalated "Escalated to a ticket"',
        'disposition escalated "Escalated to a ticket"\ndisposition callback "Call back booked"')
    return files


def test_a_deployed_change_of_form_and_dispositions_shows_after_a_reload(
        kefu: Kefu, browser: Any) -> None:
    agent, user = kefu.agent_user("Li Na 李娜")
    desk = log_in(browser, kefu.http, user.email, "/agent")
    desk.get_by_role("button", name="Ready", exact=True).click()
    expect(desk.locator("#my-state")).to_have_attribute("data-state", "ready")
    Intake(kefu.server.platform).receive(Inbound(
        channel=Channel.EMAIL, to_address="help@acme.example", from_address="tom@example.com",
        subject="Boiler", text="No heating since yesterday.",
        external_id=f"<{uuid.uuid4()}@example.com>"))
    desk.locator(".offer[data-channel=email]").get_by_role("button", name="Accept").click()
    tickets = desk.locator(".desk-side .tickets")
    tickets.get_by_label("Ticket type").select_option("repair")
    form = tickets.locator("form[data-form=repair_form]")
    expect(form.locator(".field")).to_have_count(4)  # subject, address, kind, details
    expect(form.get_by_label("Access to the meter")).to_have_count(0)
    wrap_options = desk.locator("form.wrapup").get_by_label("Disposition").locator("option")
    expect(wrap_options).to_have_text(["Escalated to a ticket", "Resolved on first contact"])

    version = kefu.admin("POST", "/configs", {"files": changed_demo(), "message": "repair v2"})
    assert version["status"] == "valid", version.get("diagnostics")
    kefu.admin("POST", f"/configs/{version['id']}/deploy")

    # The page still has the old form; the server checks the new rules and says what is wrong
    # next to the field.
    form.get_by_label("Subject").fill("No heating")
    form.get_by_label("Address").fill("Hull")
    form.get_by_role("button", name="Create ticket").click()
    expect(form.locator("[data-error-for=address]")).to_have_text(
        "Give the full address: street and town.")
    expect(desk.locator("#notice")).to_have_text(
        "The server refused the form; see the marked fields.")
    assert kefu.admin("GET", "/tickets")["items"] == []

    # After a reload the desk draws the new version: the section, the new field, the new
    # disposition; the conversation is still there.
    desk.reload()
    tickets = desk.locator(".desk-side .tickets")
    tickets.get_by_label("Ticket type").select_option("repair")
    form = tickets.locator("form[data-form=repair_form]")
    expect(form.locator("fieldset legend")).to_have_text(["Where"])
    expect(form.get_by_label("Access to the meter").locator("option")).to_have_text(
        ["Choose…", "inside", "outside"])
    wrap_options = desk.locator("form.wrapup").get_by_label("Disposition").locator("option")
    expect(wrap_options).to_have_text(
        ["Call back booked", "Escalated to a ticket", "Resolved on first contact"])
    # The browser now knows the new rule itself.
    form.get_by_label("Subject").fill("No heating")
    form.get_by_label("Address").fill("Hull")
    form.get_by_role("button", name="Create ticket").click()
    expect(form.locator("[data-error-for=address]")).to_have_text(
        "Give the full address: street and town.")
    form.get_by_label("Address").fill("3 Dock Street, Hull")
    form.get_by_label("Access to the meter").select_option("outside")
    form.get_by_role("button", name="Create ticket").click()
    expect(desk.locator(".desk-side .ticket-view [data-ticket-state]")).to_have_attribute(
        "data-ticket-state", "new")
    (ticket,) = kefu.admin("GET", "/tickets")["items"]
    assert ticket["data"] == {"address": "3 Dock Street, Hull", "access": "outside"}
    assert desk.problems == []
    assert agent["id"]
