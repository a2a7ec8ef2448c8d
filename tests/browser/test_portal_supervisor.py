"""The supervisor console's actions in headless Chromium against a real kefu: reading a live
conversation as it goes on, reassigning it to another agent (it rings there), and escalating
an overdue ticket. Voice supervision buttons never show for a channel that does not declare
them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Channel
from kefu.platform.messaging.intake import Inbound, Intake
from tests.browser.conftest import Kefu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=20_000)


def email(kefu: Kefu, text: str, message_id: str, *, answers: str | None = None) -> Any:
    return Intake(kefu.server.platform).receive(Inbound(
        channel=Channel.EMAIL, to_address="help@acme.example", from_address="tom@example.com",
        subject="Boiler", text=text, external_id=message_id,
        thread_keys=(answers,) if answers else ()))


def test_the_supervisor_reads_a_live_conversation_and_reassigns_it(kefu: Kefu,
                                                                   browser: Any) -> None:
    li_na, _user = kefu.agent_user("Li Na 李娜")
    wang_wei, _other = kefu.agent_user("Wang Wei 王伟")
    board = log_in(browser, kefu.http, kefu.factory.user(kefu.tenant, Role.SUPERVISOR).email,
                   "/supervisor")
    kefu.admin("PUT", f"/agents/{li_na['id']}/presence", {"state": "ready"})
    first = f"<{uuid.uuid4()}@example.com>"
    received = email(kefu, "No heating since yesterday.", first)
    interaction_id = str(received.interaction_id)
    kefu.admin("POST", f"/interactions/{interaction_id}/accept")

    row = board.locator(f"#live tr[data-interaction='{interaction_id}']")
    expect(row.locator("td").nth(0)).to_have_text("Connected")
    expect(row.locator("td").nth(1)).to_have_text("Li Na 李娜")
    # Email declares no voice supervision: no monitor / whisper / barge here.
    expect(row.locator("[data-capability]")).to_have_count(0)

    # Read only, and live: the customer's next message shows without a reload.
    row.get_by_role("button", name="Open read-only").click()
    view = board.locator("#chat-view")
    expect(view.locator(".msg[data-from=customer] .body")).to_have_text(
        ["No heating since yesterday."])
    expect(view.locator("textarea, input")).to_have_count(0)
    email(kefu, "The pilot light is out too.", f"<{uuid.uuid4()}@example.com>", answers=first)
    expect(view.locator(".msg[data-from=customer] .body")).to_have_text(
        ["No heating since yesterday.", "The pilot light is out too."])

    # Reassigned, it rings at the other agent.
    kefu.admin("PUT", f"/agents/{wang_wei['id']}/presence", {"state": "ready"})
    row.get_by_role("button", name="Reassign").click()
    dialog = board.get_by_role("dialog", name="Reassign")
    dialog.get_by_label("Reassign to").select_option(wang_wei["id"])
    dialog.get_by_role("button", name="Reassign").click()
    expect(board.locator(f"#agents tr[data-agent='{wang_wei['id']}']")).to_have_attribute(
        "data-state", "offered")
    expect(board.locator("#notice")).to_have_text("Done.")
    assert kefu.admin("GET", f"/interactions/{interaction_id}")["state"] == "offered"
    assert board.problems == []


def test_the_supervisor_escalates_an_overdue_ticket(kefu: Kefu, browser: Any) -> None:
    ticket = kefu.admin("POST", "/tickets", {
        "type": "repair", "subject": "Gas smell in the cellar",
        "data": {"address": "2 Mill Lane, York", "kind": "leak"}})
    late = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    kefu.admin("PATCH", f"/tickets/{ticket['id']}", {"resolve_due_at": late})
    board = log_in(browser, kefu.http, kefu.factory.user(kefu.tenant, Role.SUPERVISOR).email,
                   "/supervisor")
    item = board.locator(f"#overdue li[data-ticket='{ticket['id']}']")
    expect(item).to_contain_text("#1 Gas smell in the cellar · new")
    expect(item.locator(".overdue-by")).to_contain_text("overdue by 1:00:")
    item.get_by_label("Note").fill("Customer called twice")
    item.get_by_role("button", name="Escalate").click()
    expect(board.locator("#notice")).to_have_text("Ticket #1 escalated.")
    expect(board.locator(f"#overdue li[data-ticket='{ticket['id']}']")).to_contain_text(
        "escalated 1×")
    after = kefu.admin("GET", f"/tickets/{ticket['id']}")
    assert after["priority"] != ticket["priority"]
    assert [e["comment"] for e in after["history"] if e["action"] == "escalated"] == [
        "Customer called twice"]
    assert board.problems == []


def test_voice_supervision_buttons_come_from_the_channels_declared_capabilities(
        kefu: Kefu, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A channel that declares monitor, whisper and barge (as the voice channel does) gets the
    # buttons on its connected interactions; here email stands in for it.
    from kefu.runtime import capabilities

    monkeypatch.setitem(capabilities._declared, "email",
                        (*capabilities.capabilities("email"), "monitor", "whisper", "barge"))
    li_na, _user = kefu.agent_user("Li Na 李娜")
    kefu.admin("PUT", f"/agents/{li_na['id']}/presence", {"state": "ready"})
    received = email(kefu, "No heating since yesterday.", f"<{uuid.uuid4()}@example.com>")
    kefu.admin("POST", f"/interactions/{received.interaction_id}/accept")
    board = log_in(browser, kefu.http, kefu.factory.user(kefu.tenant, Role.SUPERVISOR).email,
                   "/supervisor")
    row = board.locator(f"#live tr[data-interaction='{received.interaction_id}']")
    expect(row.locator("[data-capability]")).to_have_text(["Monitor", "Whisper", "Barge in"])
    assert board.problems == []


def test_the_supervisor_takes_a_conversation_over_and_forces_an_agent_not_ready(
        kefu: Kefu, browser: Any) -> None:
    li_na, _user = kefu.agent_user("Li Na 李娜")
    boss, boss_user = kefu.agent_user("Sam Supervisor 班长", Role.SUPERVISOR)
    kefu.admin("PUT", f"/agents/{li_na['id']}/presence", {"state": "ready"})
    board = log_in(browser, kefu.http, boss_user.email, "/supervisor")
    received = email(kefu, "No heating since yesterday.", f"<{uuid.uuid4()}@example.com>")
    interaction_id = str(received.interaction_id)
    kefu.admin("POST", f"/interactions/{interaction_id}/accept")
    # The supervisor takes contacts too once ready (taking over needs room for it).
    kefu.admin("PUT", f"/agents/{boss['id']}/presence", {"state": "ready"})

    row = board.locator(f"#live tr[data-interaction='{interaction_id}']")
    expect(row.locator("td").nth(1)).to_have_text("Li Na 李娜")
    row.get_by_role("button", name="Take over").click()
    expect(row.locator("td").nth(1)).to_have_text("Sam Supervisor 班长")
    assert kefu.admin("GET", f"/interactions/{interaction_id}")["agent_id"] == boss["id"]

    li_na_row = board.locator(f"#agents tr[data-agent='{li_na['id']}']")
    expect(li_na_row).to_have_attribute("data-state", "ready")
    li_na_row.get_by_role("button", name="Force not ready").click()
    expect(li_na_row).to_have_attribute("data-state", "not_ready", timeout=1_000)
    expect(li_na_row.locator(".state-badge")).to_have_text("Not ready · Lunch")
    assert board.problems == []
