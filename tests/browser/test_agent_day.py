"""A day at the agent desktop in miniature, in headless Chromium against a real kefu.

An agent logs in and goes ready; a customer starts a web chat through the real widget on the
tenant's web site and writes an email (through messaging Intake, as the SMTP listener hands
it over); the agent answers both from the desktop, opens a repair ticket with the workflow's
generated form (a bad value is refused with the DSL's own message), transfers the chat to a
colleague, ends the email and wraps it up with one of the tenant's dispositions. A supervisor
watches on the wallboard in a second browser context: each of the agent's state changes shows
there within a second of the action, and the supervisor finally logs the agent out, which the
agent's desktop shows. Screenshots of both pages are saved at 1024×768.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Channel
from kefu.platform.messaging.intake import Inbound, Intake
from tests.browser.conftest import CustomerSite, Kefu, demo_files, log_in
from tests.browser.test_webchat_widget import Widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)
#: How soon the wallboard must show a change after the action that caused it returned.
LIVE_MS = 1_000
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
DOC_IMAGES = REPO / "docs" / "images"

# The repair form of the demo, with a contact number whose pattern carries its own message.
REPAIR_FORM_WITH_PHONE = '''form repair_form "Repair report" {
  field address address "Address" {
    required "Please give the address of the repair."
  }
  field contact phone "Contact phone" {
    pattern "^[+]?[0-9 ]{7,15}$" "Please give a phone number of 7 to 15 digits."
  }
  field kind choice "What is wrong" {
    choices leak, no_heating, meter
  }
  field details text "Details" {
    when kind == "meter"
  }
}'''


ARTICLE_BODY = ("When the meter reading differs from the bill, the bill was probably "
                "estimated.")


def save_shot(page: Page, name: str, artifacts: Path) -> None:
    """A 1024×768 screenshot in the test's artifacts, var/screenshots/ and docs/images/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    shutil.copyfile(path, artifacts / f"{name}.png")
    shutil.copyfile(path, DOC_IMAGES / f"{name}.png")


def deploy_demo_with(kefu: Kefu, old: str, new: str) -> None:
    files = demo_files()
    start = files["forms.kefu"].index(old)
    end = files["forms.kefu"].index("\n}\n", start) + 2
    files["forms.kefu"] = files["forms.kefu"][:start] + new + files["forms.kefu"][end:]
    version = kefu.admin("POST", "/configs", {"files": files, "message": "repair contact"})
    assert version["status"] == "valid", version.get("diagnostics")
    kefu.admin("POST", f"/configs/{version['id']}/deploy")


def wallboard_row(page: Page, agent_id: str) -> Locator:
    return page.locator(f"#agents tr[data-agent='{agent_id}']")


def test_a_day_at_the_agent_desktop_watched_live_by_the_supervisor(
        kefu: Kefu, browser: Any, customer_site: CustomerSite, artifacts: Path) -> None:
    deploy_demo_with(kefu, 'form repair_form "Repair report" {', REPAIR_FORM_WITH_PHONE)
    kefu.admin("POST", "/knowledge/articles", {
        "title": "Meter readings and bills", "body": ARTICLE_BODY, "locale": "en",
        "tags": ["meter", "billing"], "published": True})
    li_na, li_na_user = kefu.agent_user("Li Na 李娜")
    wang_wei, _wang_wei_user = kefu.agent_user("Wang Wei 王伟")
    supervisor_user = kefu.factory.user(kefu.tenant, Role.SUPERVISOR)

    # The supervisor opens the console: both agents are logged out.
    board = log_in(browser, kefu.http, supervisor_user.email, "/supervisor")
    expect(board.get_by_role("heading", name="Supervisor console")).to_be_visible()
    row = wallboard_row(board, li_na["id"])
    expect(row).to_have_attribute("data-state", "logged_out")
    expect(board.locator("#queues tr[data-queue=general_q]")).to_be_visible()
    expect(board.locator("#live-indicator")).to_have_attribute("data-live", "true")

    # The agent logs in and goes ready with the keyboard; the wallboard follows within 1 s.
    desk = log_in(browser, kefu.http, li_na_user.email, "/agent")
    expect(desk.locator("#live-indicator")).to_have_attribute("data-live", "true")
    desk.keyboard.press("Alt+r")
    expect(desk.locator("#my-state")).to_have_attribute("data-state", "ready")
    expect(row).to_have_attribute("data-state", "ready", timeout=LIVE_MS)

    # A customer starts a chat on the tenant's web site and asks for a person.
    site = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    visitor_page = site.new_page()
    visitor_page.goto(customer_site.page("index.html", f"{kefu.http}/chat/widget.js",
                                         locale="en"))
    widget = Widget(visitor_page)
    widget.open()
    form = widget.root.locator("form[data-form=chat_start]")
    form.get_by_label("Your name").fill("Mary Smith")
    form.get_by_label("Email (for a copy of the chat)").fill("mary@example.com")
    form.get_by_role("button", name="Start chat").click()
    expect(widget.messages("bot").filter(has_text="For anything else press 0")).to_have_count(1)
    widget.say("0")

    # The offer rings at the desk with its RONA countdown; Alt+A accepts it.
    offer = desk.locator(".offer[data-channel=chat]")
    expect(offer).to_be_visible()
    expect(offer.locator("[data-rona]")).to_contain_text("s left before it goes to the next agent")
    expect(row).to_have_attribute("data-state", "offered", timeout=LIVE_MS)
    desk.keyboard.press("Alt+a")
    expect(offer).to_have_count(0)
    chat_tab = desk.locator(".tab[data-channel=chat]")
    expect(chat_tab).to_have_attribute("aria-selected", "true")
    expect(row).to_have_attribute("data-state", "busy", timeout=LIVE_MS)
    chat_id = chat_tab.get_attribute("data-interaction")
    chat = desk.locator(f".conversation[data-interaction='{chat_id}']")

    # The customer types (the desk shows it) and writes; the agent answers with Ctrl+Enter,
    # the customer seeing them type first.
    widget.root.get_by_role("textbox", name="Message").press_sequentially("My meter")
    expect(chat.locator(".typing")).to_have_text("The customer is typing…")
    widget.root.get_by_role("textbox", name="Message").fill("")
    widget.say("My meter shows the wrong reading.")
    expect(chat.locator(".msg[data-from=customer]").filter(
        has_text="My meter shows the wrong reading.")).to_have_count(1)
    expect(chat.locator(".typing")).to_have_text("")
    chat.get_by_label("Your reply").fill("Hello Mary, 您好！Let me check that for you.")
    expect(widget.root.locator(".typing")).to_have_text("Li Na 李娜 is typing…")
    chat.get_by_label("Your reply").press("Control+Enter")
    expect(widget.messages("agent").filter(has_text="Let me check that for you.")).to_have_count(1)
    expect(widget.root.locator(".typing")).to_have_text("")
    expect(chat.locator(".msg[data-from=agent]")).to_have_count(1)

    # An email arrives as the SMTP listener hands it over; it rings while the chat goes on.
    Intake(kefu.server.platform).receive(Inbound(
        channel=Channel.EMAIL, to_address="help@acme.example", from_address="mary@example.com",
        display_name="Mary Smith", subject="Gas meter reading",
        text="Hello, my gas meter shows 1234 but the bill says 4321.",
        external_id=f"<{uuid.uuid4()}@example.com>"))
    email_offer = desk.locator(".offer[data-channel=email]")
    expect(email_offer).to_be_visible()
    email_offer.get_by_role("button", name="Accept").click()
    email_tab = desk.locator(".tab[data-channel=email]")
    expect(email_tab).to_have_attribute("aria-selected", "true")
    email_id = email_tab.get_attribute("data-interaction")
    email = desk.locator(f".conversation[data-interaction='{email_id}']")
    expect(email.locator(".msg[data-from=customer]")).to_contain_text("my gas meter shows 1234")
    expect(desk.locator(".tab")).to_have_count(2)

    # The screen pop knows the customer by their email address, with the chat in the history.
    pop = desk.locator(".desk-side .pop")
    expect(pop.locator(".address")).to_have_text("mary@example.com")
    expect(pop.locator(".history li[data-channel=chat]")).not_to_have_count(0)

    # The answer comes from the knowledge base: found, read and inserted into the reply.
    email.get_by_label("Search articles").fill("meter reading")
    email.get_by_role("button", name="Search", exact=True).click()
    article = email.locator(".kb-results li").filter(has_text="Meter readings and bills")
    expect(article).to_have_count(1)
    article.get_by_role("button", name="Insert answer").click()
    expect(email.get_by_label("Your reply")).to_have_value(ARTICLE_BODY)
    expect(email.get_by_label("Your reply")).to_be_focused()
    email.get_by_label("Your reply").press("End")
    email.get_by_label("Your reply").type(" We will send an engineer to check it.")
    email.get_by_role("button", name="Send (Ctrl+Enter)").click()
    expect(email.locator(".msg[data-from=agent]")).to_contain_text(
        "estimated. We will send an engineer")

    # A repair ticket from the workflow's generated form: the browser refuses a bad phone
    # number with the DSL's message; corrected, the server opens the ticket.
    tickets = desk.locator(".desk-side .tickets")
    tickets.get_by_label("Ticket type").select_option("repair")
    ticket_form = tickets.locator("form[data-form=repair_form]")
    ticket_form.get_by_label("Subject").fill("Meter reading wrong")
    ticket_form.get_by_label("Address").fill("1 High Street, Leeds")
    ticket_form.get_by_label("Contact phone").fill("123")
    expect(ticket_form.get_by_label("Details")).to_be_hidden()
    ticket_form.get_by_label("What is wrong").select_option("meter")
    expect(ticket_form.get_by_label("Details")).to_be_visible()
    ticket_form.get_by_label("Details").fill("Reads 1234, bill says 4321")
    ticket_form.get_by_role("button", name="Create ticket").click()
    expect(ticket_form.locator("[data-error-for=contact]")).to_have_text(
        "Please give a phone number of 7 to 15 digits.")
    expect(ticket_form.get_by_label("Contact phone")).to_be_focused()
    assert kefu.admin("GET", "/tickets")["items"] == []
    ticket_form.get_by_label("Contact phone").fill("+44 113 496 0000")
    ticket_form.get_by_role("button", name="Create ticket").click()
    ticket_view = desk.locator(".desk-side .ticket-view")
    expect(ticket_view.locator("[data-ticket-state]")).to_have_attribute("data-ticket-state", "new")
    expect(ticket_view.locator(".states li[aria-current=step]")).to_have_text("new")
    expect(ticket_view.locator(".sla")).to_contain_text("Due in")
    (ticket,) = kefu.admin("GET", "/tickets")["items"]
    assert ticket["type"] == "repair"
    assert ticket["interaction_id"] == email_id
    assert ticket["data"] == {"address": "1 High Street, Leeds", "contact": "+44 113 496 0000",
                              "kind": "meter", "details": "Reads 1234, bill says 4321"}
    expect(pop.locator(".open-tickets li")).to_contain_text(["#1 Meter reading wrong · new"])
    desk.evaluate("document.querySelectorAll('.desk > *').forEach(c => { c.scrollTop = 0; })")
    save_shot(desk, "agent-desktop", artifacts)

    # The chat goes to a colleague (Alt+T opens the transfer dialog on the open tab).
    kefu.admin("PUT", f"/agents/{wang_wei['id']}/presence", {"state": "ready"})
    chat_tab.click()
    desk.keyboard.press("Alt+t")
    dialog = desk.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("radio", name="An agent").check()
    dialog.get_by_role("combobox", name="An agent").select_option(wang_wei["id"])
    dialog.get_by_role("button", name="Transfer", exact=True).click()
    expect(chat_tab).to_have_count(0)
    expect(wallboard_row(board, wang_wei["id"])).to_have_attribute("data-state", "offered",
                                                                    timeout=LIVE_MS)
    moved = kefu.admin("GET", f"/interactions/{chat_id}")
    assert moved["state"] == "offered"

    # The email is done: ending it starts wrap-up with the queue's timer; the agent picks one
    # of the tenant's dispositions.
    email.get_by_role("button", name="End conversation").click()
    wrap = email.locator("form.wrapup")
    expect(wrap).to_be_visible()
    expect(row).to_have_attribute("data-state", "wrap_up", timeout=LIVE_MS)
    expect(wrap.locator("[data-wrap-timer]")).to_contain_text("Wrap-up time left: 0:")
    expect(wrap.get_by_label("Disposition").locator("option")).to_have_text(
        ["Escalated to a ticket", "Resolved on first contact"])
    wrap.get_by_label("Disposition").select_option("escalated")
    wrap.get_by_role("button", name="Complete").click()
    expect(desk.locator(".tab")).to_have_count(0)
    expect(row).to_have_attribute("data-state", "ready", timeout=LIVE_MS)
    assert kefu.admin("GET", f"/interactions/{email_id}")["disposition"] == "escalated"
    expect(desk.locator("#my-state")).to_have_attribute("data-state", "ready")

    # The supervisor logs the agent out; the desktop shows it.
    expect(board.locator("#live tr[data-channel=chat]")).to_have_count(1)
    expect(board.locator("#live tr[data-channel=email]")).to_have_count(0)
    save_shot(board, "wallboard", artifacts)
    row.get_by_role("button", name="Log out").click()
    expect(row).to_have_attribute("data-state", "logged_out", timeout=LIVE_MS)
    expect(desk.locator("#my-state")).to_have_attribute("data-state", "logged_out")
    expect(desk.locator("#notice")).to_have_text(
        "A supervisor logged you out. Choose Ready to log in again.")
    assert desk.problems == []
    assert board.problems == []
