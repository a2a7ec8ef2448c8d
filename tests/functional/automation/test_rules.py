"""The tenant's rules on real events: an inbound message, a call that ended, an email that
opens a ticket. Each firing is recorded once and its actions carried out once, even when
the job runs again; a rule cannot re-trigger itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from kefu.dsl.api import build
from kefu.platform.automation.events import job_id_for
from kefu.platform.automation.models import AutomationEvent, RuleFiring
from kefu.platform.automation.rules import handle_event
from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.platform.identity.models import Role
from kefu.platform.interactions.models import Interaction, Message
from kefu.platform.jobs import JobContext
from kefu.platform.jobs.api import spec_of
from kefu.platform.jobs.context import run_job_function
from kefu.platform.tickets.models import Ticket
from tests.functional.automation.conftest import TEST_CONFIG, Tenancy, rows, settle


def _sms_conversation(t: Tenancy, name: str = "王女士") -> tuple[dict[str, Any], dict[str, Any]]:
    customer = t.api.api("POST", "/customers", {
        "name": name, "phones": [{"number": "13800138000"}]}, status=201).json
    interaction = t.api.api("POST", "/interactions", {
        "channel": "sms", "direction": "inbound", "customer_id": customer["id"],
        "from_address": "13800138000", "to_address": "10690000"}, status=201).json
    return customer, interaction


def _rerun(platform: Any, tenancy: Tenancy, event_id: Any, job_id: str) -> Any:
    """Run the rules job the way a runner does (a redelivery, or a second job)."""
    ctx = JobContext(settings=platform.settings, job_id=job_id,
                     job_name=spec_of(handle_event).name, attempt=2, max_attempts=6,
                     jobs=platform.jobs, events=None, session_factory=platform.session_factory)
    return run_job_function(spec_of(handle_event), ctx, [str(tenancy.tenant.id), str(event_id)],
                            {})


def test_an_inbound_sms_gets_the_auto_reply_exactly_once(tenancy: Any,
                                                         auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    _customer, interaction = _sms_conversation(t)
    path = f"/interactions/{interaction['id']}/messages"
    t.api.api("POST", path, {"direction": "inbound", "body_text": "燃气味道很大",
                             "sender": "13800138000", "external_id": "smsc-1"}, status=201)
    settle(auto_platform)
    messages = t.api.api("GET", path).json["items"]
    assert [(m["direction"], m["status"]) for m in messages] == [
        ("inbound", "received"), ("outbound", "queued")]
    reply = messages[1]
    assert reply["body_text"] == "王女士您好,已收到您的短信。"
    assert (reply["channel"], reply["recipients"], reply["sender"]) == (
        "sms", ["13800138000"], "10690000")
    assert reply["headers"]["X-Kefu-Rule"] == "自动回复"

    [event] = rows(t, AutomationEvent)
    assert (event.kind, event.status) == ("sms.received", "done")
    # The job delivered again (same id: the ledger), by another job (the event is handled),
    # the message posted again (a redelivery stores nothing): still one reply, one firing.
    assert _rerun(auto_platform, t, event.id, job_id_for(event.id)) is None
    assert _rerun(auto_platform, t, event.id, "another-job")["status"] == "already handled"
    auto_platform.jobs.enqueue(handle_event, str(t.tenant.id), str(event.id),
                               job_id=job_id_for(event.id))
    t.api.api("POST", path, {"direction": "inbound", "body_text": "燃气味道很大",
                             "sender": "13800138000", "external_id": "smsc-1"}, status=200)
    settle(auto_platform)
    assert len(t.api.api("GET", path).json["items"]) == 2
    [firing] = rows(t, RuleFiring)
    assert (firing.rule, firing.event_kind, firing.status, str(firing.interaction_id)) == (
        "自动回复", "sms.received", "done", interaction["id"])
    assert firing.results == [{"kind": "reply", "ok": True, "message_id": reply["id"],
                               "interaction_id": interaction["id"], "channel": "sms",
                               "to": "13800138000"}]

    # A new message is a new event: the rule fires again; one it excludes does not.
    t.api.api("POST", path, {"direction": "inbound", "body_text": "还是有味道",
                             "external_id": "smsc-2"}, status=201)
    t.api.api("POST", path, {"direction": "inbound", "body_text": "退订",
                             "external_id": "smsc-3"}, status=201)
    settle(auto_platform)
    outbound = [m for m in t.api.api("GET", path).json["items"] if m["direction"] == "outbound"]
    assert len(outbound) == 2
    assert len(rows(t, RuleFiring)) == 2


def test_outbound_messages_raise_no_event(tenancy: Any, auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    _customer, interaction = _sms_conversation(t)
    t.api.api("POST", f"/interactions/{interaction['id']}/messages",
              {"direction": "outbound", "body_text": "您好"}, status=201)
    settle(auto_platform)
    assert rows(t, AutomationEvent) == []


def test_an_abandoned_call_gets_an_apology_and_a_callback(tenancy: Any,
                                                          auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    call = t.api.api("POST", "/interactions", {
        "channel": "voice", "direction": "inbound", "from_address": "13900139000"},
        status=201).json
    for body in ({"trigger": "enqueue", "queue": "维修队列"},
                 {"trigger": "end", "outcome": "abandoned"}):
        t.api.api("POST", f"/interactions/{call['id']}/events", body, status=200)
    settle(auto_platform)
    kinds = sorted(e.kind for e in rows(t, AutomationEvent))
    assert kinds == ["call.abandoned", "call.ended", "callback.requested"]
    [firing] = rows(t, RuleFiring)
    assert firing.rule == "未接来电"
    sms = rows(t, Message, Message.channel == "sms")
    assert [(m.direction, m.status, m.recipients, m.body_text) for m in sms] == [
        ("outbound", "queued", ["13900139000"], "您好,我们错过了您的来电,稍后给您回电。")]
    callback = rows(t, Interaction, Interaction.channel == "voice",
                    Interaction.direction == "outbound")
    assert [(c.queue, c.to_address, c.state) for c in callback] == [
        ("维修队列", "13900139000", "created")]
    # callback.requested was caused by the rule: it carries the chain.
    [derived] = rows(t, AutomationEvent, AutomationEvent.kind == "callback.requested")
    assert (derived.chain, derived.depth, derived.status) == (["未接来电"], 1, "done")


def test_an_email_opens_a_ticket_routes_it_and_replies_with_its_number(
        tenancy: Any, auto_platform: Any) -> None:
    t: Tenancy = tenancy()
    customer = t.api.api("POST", "/customers", {
        "name": "李先生", "address": "吉大路3号", "emails": [{"address": "li@example.cn"}]},
        status=201).json
    mail = t.api.api("POST", "/interactions", {
        "channel": "email", "direction": "inbound", "customer_id": customer["id"],
        "from_address": "li@example.cn"}, status=201).json
    path = f"/interactions/{mail['id']}/messages"
    t.api.api("POST", path, {"direction": "inbound", "subject": "报修:厨房漏水",
                             "body_text": "厨房水管漏水", "sender": "li@example.cn",
                             "external_id": "<m1@example.cn>"}, status=201)
    settle(auto_platform)
    [ticket] = rows(t, Ticket)
    assert (ticket.type, ticket.state, ticket.subject) == ("报修", "受理", "报修:厨房漏水")
    assert (str(ticket.customer_id), str(ticket.interaction_id)) == (customer["id"], mail["id"])
    assert ticket.data["地址"] == "吉大路3号"  # the form's address field, from the customer
    assert ticket.department == "维修班"  # assign 维修班
    assert ticket.next_wakeup_at is not None  # its SLA runs like any other ticket's
    routed = t.api.api("GET", f"/interactions/{mail['id']}").json
    assert routed["queue"] == "维修队列"  # the queue that team serves
    assert routed["data"]["routing"]["target"] == "维修班"
    assert routed["data"]["vars"] == {"来源": "邮件"}
    reply = [m for m in t.api.api("GET", path).json["items"] if m["direction"] == "outbound"]
    assert [(m["subject"], m["body_text"], m["recipients"], m["in_reply_to"]) for m in reply] \
        == [("Re: 报修:厨房漏水", f"您的报修单{ticket.number}已受理。", ["li@example.cn"],
             "<m1@example.cn>")]
    [firing] = rows(t, RuleFiring)
    assert [r["kind"] for r in firing.results] == ["create", "assign", "set", "reply"]
    assert all(r["ok"] for r in firing.results)
    # The ticket.created event the rule caused carries its chain.
    [created] = rows(t, AutomationEvent, AutomationEvent.kind == "ticket.created")
    assert (created.chain, created.depth) == (["邮件报修"], 1)


LOOP = """
rule 回环 "建单后再建单" {
  on ticket.changed
  create 报修
}
"""


def test_a_rule_whose_action_would_trigger_itself_fires_once(
        tenancy: Any, auto_platform: Any, factory: Any) -> None:
    """`on ticket.created create 报修` would loop forever. The checker refuses it (E601), so
    the rule is deployed here as a hand-made compiled config, as if the check were
    bypassed: the runtime must not depend on it."""
    t: Tenancy = tenancy()
    built = build({"tenant.kefu": TEST_CONFIG + LOOP})
    assert built.ir_json is not None, built.report
    compiled = json.loads(built.ir_json)
    for rule in compiled["rules"]:
        if rule["id"] == "回环":
            rule["event"] = "ticket.created"
    assert not build({"tenant.kefu": TEST_CONFIG + LOOP.replace("ticket.changed",
                                                                "ticket.created")}).ok
    with factory.session(t.tenant) as db:
        db.execute(sa.update(ConfigVersion).values(status=ConfigStatus.SUPERSEDED))
        db.add(ConfigVersion(version=99, source={}, source_hash="x" * 64,
                             compiled_hash="y" * 64, compiled=compiled,
                             status=ConfigStatus.DEPLOYED))
        db.commit()

    t.api.api("POST", "/tickets", {"type": "报修", "subject": "漏水", "data": {"地址": "x"}},
              status=201)
    settle(auto_platform)
    assert len(rows(t, Ticket)) == 2  # the person's, and the one the rule opened
    [firing] = rows(t, RuleFiring)
    assert firing.rule == "回环"
    created = rows(t, AutomationEvent, AutomationEvent.kind == "ticket.created",
                   order=AutomationEvent.depth)
    assert [(e.chain, e.depth, e.skipped) for e in created] == [
        ([], 0, []), (["回环"], 1, [{"rule": "回环", "reason": "in_chain"}])]


def test_firings_of_a_tenant_without_a_config_are_none(auto_platform: Any, factory: Any,
                                                       auto_app: Any) -> None:
    from tests.factories import TokenClient

    tenant = factory.tenant()
    admin = factory.user(tenant, Role.ADMIN)
    api = TokenClient(auto_app, factory.token(admin, tenant))
    interaction = api.api("POST", "/interactions", {"channel": "sms", "direction": "inbound"},
                          status=201).json
    api.api("POST", f"/interactions/{interaction['id']}/messages",
            {"direction": "inbound", "body_text": "hi"}, status=201)
    settle(auto_platform)
    with factory.session(tenant) as db:
        [event] = db.scalars(sa.select(AutomationEvent)).all()
        assert (event.kind, event.status) == ("sms.received", "done")
        assert db.scalars(sa.select(RuleFiring)).all() == []


def test_an_event_whose_job_fails_every_time_is_marked_failed(
        tenancy: Any, auto_platform: Any, monkeypatch: Any) -> None:
    from kefu.platform.automation.events import pending_events, record_event
    from kefu.platform.automation.rules import RulesHost
    from kefu.platform.db import utcnow
    from kefu.platform.tenancy.scope import cross_tenant

    t: Tenancy = tenancy()
    with t.session() as db:
        event = record_event(db, "sms.received", {"message": {"text": "hi"}})
        db.commit()

    def boom(self: Any, event_id: Any) -> Any:
        raise RuntimeError("the rules engine exploded")

    monkeypatch.setattr(RulesHost, "handle", boom)
    ctx = JobContext(settings=auto_platform.settings, job_id=job_id_for(event.id),
                     job_name=spec_of(handle_event).name, attempt=6, max_attempts=6,
                     session_factory=auto_platform.session_factory)
    with pytest.raises(RuntimeError):
        handle_event(ctx, str(t.tenant.id), str(event.id))
    [stored] = rows(t, AutomationEvent)
    assert stored.status == "failed"
    assert "the rules engine exploded" in (stored.error or "")
    with auto_platform.session() as db, cross_tenant(db):
        assert pending_events(db, older_than=utcnow()) == []
