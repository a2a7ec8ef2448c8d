"""Who may reach which portal, in headless Chromium against a real kefu.

An agent has the agent desktop but not the supervisor console (the forbidden page), and the
supervisor actions refuse them through the API the pages use. A member of one tenant reaches
nothing of another tenant's portal: not its records (404, as if they did not exist), not its
tenant (no switching into it), not its live events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from kefu.platform.identity.models import Role
from tests.browser.conftest import Api, Kefu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=20_000)

#: Another tenant's whole config: one queue.
OTHER_CONFIG = """tenant other {
  name "Other Co"
  locales en
}

skill billing "Billing" levels 1..5

team desk "Desk" {
  members 2
  skill billing 3
}

queue other_q "Other" {
  require billing >= 1
}

channel sms "+15550100999" {
  queue other_q
}
"""


def fetch(page: Any, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """Call the JSON API from inside the page, as its scripts do (cookie + CSRF header)."""
    return page.evaluate("""async ([method, path, body]) => {
        const csrf = (document.cookie.match(/(?:^|;\\s*)kefu_csrf=([^;]+)/) || [])[1] || "";
        const response = await fetch("/api/v1" + path, {method, credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf)},
            body: body === null ? undefined : JSON.stringify(body)});
        return {status: response.status, body: await response.text()};
    }""", [method, path, body])


def test_an_agent_has_the_desktop_but_not_the_supervisor_console(kefu: Kefu, browser: Any) -> None:
    me, user = kefu.agent_user("Li Na 李娜")
    other, _other_user = kefu.agent_user("Wang Wei 王伟")
    page = log_in(browser, kefu.http, user.email, "/agent")
    expect(page.get_by_role("heading", name="Agent desktop", exact=True)).to_be_visible()
    # The desktop drew the tenant's reason codes from the deployed config.
    expect(page.locator("#reason option")).to_have_text(["Lunch", "Training"])
    expect(page.get_by_role("link", name="Supervisor console")).to_have_count(0)

    response = page.goto(f"{kefu.http}/supervisor")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    # What the console's buttons call is refused to an agent as well.
    forced = fetch(page, "PUT", f"/agents/{other['id']}/presence", {"state": "logged_out"})
    assert forced["status"] == 403, forced
    own = fetch(page, "PUT", f"/agents/{me['id']}/presence", {"state": "ready"})
    assert own["status"] == 200, own
    assert page.problems == []


def test_another_tenants_portal_is_not_reachable(kefu: Kefu, browser: Any) -> None:
    # Tenant B with an agent of its own and a contact of its own.
    factory = kefu.factory
    other_tenant = factory.tenant()
    b_admin = factory.user(other_tenant, Role.ADMIN, Role.SUPERVISOR)
    b_api = Api(kefu.http, factory.token(b_admin, other_tenant))
    version = b_api("POST", "/configs", {"files": {"tenant.kefu": OTHER_CONFIG}})
    assert version["status"] == "valid", version.get("diagnostics")
    b_api("POST", f"/configs/{version['id']}/deploy")
    b_user = factory.user(other_tenant, Role.AGENT)
    b_agent = b_api("POST", "/agents", {"display_name": "B agent", "user_id": str(b_user.id)})
    b_chat = b_api("POST", "/interactions", {"channel": "chat", "direction": "inbound",
                                             "from_address": "visitor-b"})
    me, user = kefu.agent_user("Li Na 李娜", Role.AGENT, Role.SUPERVISOR)

    page = log_in(browser, kefu.http, user.email, "/supervisor")
    expect(page.get_by_role("heading", name="Supervisor console")).to_be_visible()
    expect(page.locator(".topbar .tenant-name")).to_have_text(kefu.tenant.name)

    # Tenant B's records are unknown here, never forbidden (existence does not leak).
    for method, path, body in (
            ("GET", f"/interactions/{b_chat['id']}/messages", None),
            ("POST", f"/interactions/{b_chat['id']}/accept", None),
            ("GET", f"/agents/{b_agent['id']}/presence", None),
            ("PUT", f"/agents/{b_agent['id']}/presence", {"state": "logged_out"})):
        answer = fetch(page, method, path, body)
        assert answer["status"] == 404, (method, path, answer)

    # No switching into a tenant one is not a member of; the page still shows tenant A.
    switched = page.evaluate("""async (tenantId) => {
        const csrf = decodeURIComponent((document.cookie.match(/kefu_csrf=([^;]+)/) || [])[1]);
        const form = new URLSearchParams({tenant_id: tenantId, csrf_token: csrf});
        const response = await fetch("/switch-tenant", {method: "POST", body: form,
                                                        redirect: "manual"});
        return response.status;
    }""", str(other_tenant.id))
    assert switched == 400
    page.reload()
    expect(page.locator(".topbar .tenant-name")).to_have_text(kefu.tenant.name)

    # Live events: a socket of tenant A, even asking for B's topics by their full name, sees
    # A's agent go ready and never B's.
    page.evaluate("""(otherTenant) => {
        window.seen = [];
        const socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/events");
        socket.onopen = () => socket.send(JSON.stringify({type: "subscribe",
            topics: ["agent.state", "*", `tenant.${otherTenant}.agent.state`]}));
        socket.onmessage = (m) => window.seen.push(JSON.parse(m.data));
    }""", str(other_tenant.id))
    page.wait_for_function("window.seen.some(f => f.type === 'subscribed')")
    b_api("PUT", f"/agents/{b_agent['id']}/presence", {"state": "ready"})
    kefu.admin("PUT", f"/agents/{me['id']}/presence", {"state": "ready"})
    page.wait_for_function(
        "(id) => window.seen.some(f => f.type === 'event' && f.data.agent_id === id)", arg=me["id"])
    seen = page.evaluate("window.seen")
    agents = {frame["data"].get("agent_id") for frame in seen if frame["type"] == "event"}
    assert b_agent["id"] not in agents, json.dumps(seen)[:2000]
    assert page.problems == []
