"""/portal/config: what the portal renders comes from the tenant's deployed config, follows
a new deploy at once (no restart), is tailored to the caller's roles, and is the caller's
tenant's only."""

from __future__ import annotations

from typing import Any

from kefu.platform.identity.models import Role
from tests.functional.portal.portal_desk import (
    CONFIG,
    Desk,
)


def _config(client: Any) -> dict[str, Any]:
    return client.api("GET", "/portal/config", status=200).json  # type: ignore[no-any-return]


def test_agent_sees_forms_workflows_codes_and_capabilities_of_the_deployed_config(
        desk: Desk) -> None:
    agent, li = desk.agent("Li Na")
    config = _config(li)

    assert config["tenant"]["name"] == "Acme Support"
    assert config["tenant"]["timezone"] == "Asia/Shanghai"
    assert config["me"]["agent_id"] == agent["id"]
    assert config["me"]["roles"] == ["agent"]
    assert "tenant:supervise:act" not in config["me"]["permissions"]

    repair = config["forms"]["repair"]
    assert repair["title"] == "Repair report"
    contact, rest = repair["sections"]
    assert (contact["name"], contact["title"]) == ("contact", "Contact")
    assert [f["name"] for f in contact["fields"]] == ["phone", "kind", "company"]
    assert [f["name"] for f in rest["fields"]] == ["bottles", "pin"]
    assert rest["title"] is None
    phone, kind, company = contact["fields"]
    assert phone["required"] is True
    assert phone["pattern"] == "^1[3-9][0-9]{9}$"
    assert phone["messages"]["pattern"] == {"en": "Mobile numbers have 11 digits starting "
                                                   "with 1."}
    assert kind["options"] == ["residential", "business"]
    assert company["visible_when"] == ["!=", ["var", "kind"], ["str", "residential"]]
    bottles, pin = rest["fields"]
    assert (bottles["type"], bottles["min"], bottles["max"]) == ("number", 1, 5)
    assert bottles["message"] == "At most 5 bottles per order."
    assert (pin["min_length"], pin["max_length"]) == (6, 6)

    workflow = config["workflows"]["repair_wf"]
    assert workflow["form"] == "repair"
    assert workflow["states"] == ["open", "dispatched", "closed"]
    allowed = {t["name"]: t["allowed_for_me"] for t in workflow["transitions"]}
    assert allowed == {"dispatch": False, "close": True}

    assert config["dispositions"] == [{"code": "escalated", "label": "Escalated"},
                                      {"code": "resolved", "label": "Resolved"}]
    assert config["not_ready_reasons"] == [{"code": "lunch", "label": "Lunch"},
                                           {"code": "training", "label": "Training"}]
    assert config["templates"][0]["name"] == "greeting"
    assert config["templates"][0]["text"] == "Hello, how can I help you?"
    assert {q["id"]: q["wrap_up_seconds"] for q in config["queues"]} == {"billing": 30,
                                                                         "sales": 0}
    assert config["flows"] == [{"id": "chat_flow", "title": "Chat"}]
    assert config["capabilities"]["chat"] == ["reply", "transfer", "wrap_up"]
    assert "consult" not in config["capabilities"]["email"]
    assert config["customer_form"] == "repair"
    [script] = config["scripts"]
    assert (script["name"], script["title"]) == ("leak", "Gas leak")
    assert [(s["name"], s["next"]) for s in script["steps"]] == [
        ("safety", ["report"]), ("report", ["send", "advise"]), ("send", ["advise"]),
        ("advise", [])]
    assert script["steps"][0]["text"] == "Ask everyone to leave the building."
    assert script["steps"][1]["form"] == "repair"


def test_a_duty_role_opens_its_transitions(desk: Desk) -> None:
    lead = desk.make_actor(desk.admin.tenant, Role.AGENT)
    desk.admin.bearer.api("PATCH", f"/users/{lead.user.id}", {"duty_roles": ["duty_lead"]},
                          status=200)
    config = _config(lead.bearer)
    assert "duty_lead" in config["me"]["roles"]
    allowed = {t["name"]: t["allowed_for_me"]
               for t in config["workflows"]["repair_wf"]["transitions"]}
    assert allowed == {"dispatch": True, "close": True}


def test_a_deploy_shows_in_the_next_read_without_a_restart(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    # A chat in progress: the server has read (and cached) the first version meanwhile.
    agent, client = desk.agent("Wang Wei")
    desk.ready(client, agent)
    chat = desk.connected(client, agent)
    first = _config(li)
    assert [d["code"] for d in first["dispositions"]] == ["escalated", "resolved"]
    assert first["forms"]["repair"]["sections"][1]["fields"][0]["max"] == 5

    changed = (CONFIG.replace('range 1..5 "At most 5 bottles per order."',
                              'range 1..9 "At most 9 bottles per order."')
               .replace('disposition escalated "Escalated"',
                        'disposition escalated "Escalated"\n'
                        'disposition callback_due "Call back later"'))
    admin = desk.admin.bearer
    version = admin.api("POST", "/configs", {"files": {"tenant.kefu": changed},
                                             "message": "more bottles"}, status=201).json
    admin.api("POST", f"/configs/{version['id']}/deploy", status=200)

    second = _config(li)
    assert second["version"] == version["id"] != first["version"]
    assert [d["code"] for d in second["dispositions"]] == ["callback_due", "escalated",
                                                           "resolved"]
    bottles = second["forms"]["repair"]["sections"][1]["fields"][0]
    assert (bottles["max"], bottles["message"]) == (9, "At most 9 bottles per order.")
    # The new code is accepted at once where the server checks dispositions too.
    done = client.api("POST", f"/interactions/{chat['id']}/complete",
                      {"disposition": "callback_due"}, status=200).json
    assert done["disposition"] == "callback_due"


def test_without_a_deployed_config_the_portal_has_nothing_to_render(
        actor: Any) -> None:
    lonely = actor()
    config = _config(lonely.bearer)
    assert config["tenant"] is None
    assert config["forms"] == {}
    assert config["dispositions"] == []
    assert config["capabilities"]["sms"] == ["reply", "transfer", "wrap_up"]


def test_each_tenant_reads_only_its_own_config(desk: Desk, actor: Any) -> None:
    other = actor()  # another tenant, nothing deployed
    assert _config(other.bearer)["tenant"] is None
    assert _config(other.bearer)["me"]["user_id"] == str(other.user.id)
    assert _config(desk.supervisor.bearer)["tenant"]["id"] == "acme"


def test_reading_the_portal_config_needs_a_login(desk: Desk) -> None:
    from tests.factories import WebClient

    anonymous = WebClient(desk.wsgi_app)
    anonymous.api("GET", "/portal/config", status=401)
