"""/api/v1/tickets with a deployed config: tickets follow the tenant's DSL workflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kefu.dsl.loader import read_sources
from kefu.platform.configs.services import ConfigService
from kefu.platform.identity.models import Role
from tests.functional.api.conftest import Actor, error, error_fields

TENANTS = Path(__file__).resolve().parents[3] / "tenants"
COMPLAINT = {"type": "投诉", "subject": "服务态度", "data": {"对象": "营业点", "内容": "态度差"}}


def _deploy(factory: Any, actor: Actor, name: str) -> Any:
    files = read_sources(TENANTS / name)[0]
    with factory.session(actor.tenant) as db:
        service = ConfigService(db)
        version = service.store(files, "", None)
        service.deploy(version.id)
        db.commit()
    factory.platform.configs.invalidate(actor.tenant.id)
    loaded = factory.platform.configs.deployed(actor.tenant.id)
    assert loaded is not None
    return loaded.config


@pytest.fixture
def gas(alice: Actor, factory: Any) -> Any:
    """Alice's tenant runs the gas company's config."""
    return _deploy(factory, alice, "gas")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _history(actor: Actor, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return actor.bearer.api(  # type: ignore[no-any-return]
        "GET", f"/tickets/{ticket['id']}/history?limit=100").json["items"]


def test_create_starts_the_workflow_with_sla_due_on_the_business_calendar(
        alice: Actor, gas: Any) -> None:
    from kefu.runtime.calendar import resolve

    ticket = alice.bearer.api("POST", "/tickets", {**COMPLAINT, "state": "whatever"},
                              status=201).json
    assert ticket["state"] == "登记"  # the workflow's initial state, not the one sent
    created = _time(ticket["created_at"])
    due = _time(ticket["response_due_at"])
    assert due > created
    # 24h of 营业时间 (open 08:00-20:00 every day): two working days, not one wall-clock day.
    assert due == resolve(gas, "营业时间").add_business_time(created, 24 * 3600)
    assert due - created >= timedelta(hours=36)
    assert ticket["resolve_due_at"] == ticket["response_due_at"]  # one SLA running
    assert ticket["closed_at"] is None
    actions = [(e["action"], e["to_state"]) for e in ticket["history"]]
    assert actions == [("created", "登记"), ("sla_started", None)]
    created_row, sla_row = ticket["history"]
    assert created_row["actor_user_id"] == str(alice.user.id)
    assert created_row["changes"]["对象"] == [None, "营业点"]
    assert sla_row["changes"]["sla.投诉答复"][1]["calendar"] == "营业时间"
    # The events for the rules engine are recorded, not dropped.
    assert {"kind": "event", "event": "ticket.created"} in created_row["changes"]["actions"][1]


def test_a_type_that_is_no_workflow_is_refused(alice: Actor, gas: Any) -> None:
    response = alice.bearer.api("POST", "/tickets", {"type": "repair", "subject": "x"},
                                status=422)
    assert error_fields(response) == ["type"]
    assert "报修" in error(response)["message"]
    assert "投诉" in error(response)["message"]
    response = alice.bearer.api("POST", "/tickets", {"type": "投诉", "subject": "x",
                                                     "data": {"内容": "态度差"}}, status=422)
    assert error_fields(response) == ["data.对象"]
    assert alice.bearer.api("GET", "/tickets").json["total"] == 0


def test_transitions_follow_roles_and_reach_the_final_state(
        alice: Actor, gas: Any, actor: Callable[..., Actor]) -> None:
    agent = actor(alice.tenant, Role.AGENT)
    supervisor = actor(alice.tenant, Role.SUPERVISOR)
    ticket = agent.bearer.api("POST", "/tickets", COMPLAINT, status=201).json
    url = f"/tickets/{ticket['id']}"

    # 受理 (登记 → 调查) is reserved for supervisors.
    response = agent.bearer.api("PATCH", url, {"state": "调查"}, status=403)
    assert "supervisor" in error(response)["message"]
    # Nothing leads from 登记 straight to 关闭.
    response = supervisor.bearer.api("PATCH", url, {"state": "关闭"}, status=409)
    assert error_fields(response) == ["state"]
    assert "受理 → 调查" in error(response)["message"]
    assert agent.bearer.api("GET", url).json["state"] == "登记"

    # By target state, then by transition name.
    moved = supervisor.bearer.api("PATCH", url, {"state": "调查", "priority": "high"}).json
    assert (moved["state"], moved["priority"]) == ("调查", "high")
    assert moved["response_due_at"] == ticket["response_due_at"]  # the SLA still runs
    moved = supervisor.bearer.api("PATCH", url, {"state": "答复客户"}).json
    assert moved["state"] == "答复"
    assert moved["response_due_at"] is None
    assert moved["resolve_due_at"] is None
    assert moved["closed_at"] is None

    # 结案 needs no role: the agent closes it.
    closed = agent.bearer.api("PATCH", url, {"state": "关闭"}).json
    assert closed["state"] == "关闭"
    assert closed["closed_at"] is not None
    response = agent.bearer.api("PATCH", url, {"state": "调查"}, status=409)
    assert "none" in error(response)["message"]

    history = _history(agent, ticket)
    moves = [(e["from_state"], e["to_state"], e["actor_user_id"]) for e in history
             if e["action"] == "transition"]
    assert moves == [("登记", "调查", str(supervisor.user.id)),
                     ("调查", "答复", str(supervisor.user.id)),
                     ("答复", "关闭", str(agent.user.id))]
    transition = next(e for e in history if e["action"] == "transition")
    assert transition["changes"]["state"] == ["登记", "调查"]
    assert [e["action"] for e in history].count("sla_stopped") == 1
    assert any(e["action"] == "updated" and e["changes"]["priority"] == ["normal", "high"]
               for e in history)
    events = [a["event"] for e in history for a in e["changes"].get("actions", [None, []])[1]
              if a["kind"] == "event"]
    assert events[-2:] == ["ticket.changed", "ticket.closed"]


def test_a_transition_assigns_and_records_notifications(
        alice: Actor, factory: Any, actor: Callable[..., Actor]) -> None:
    _deploy(factory, alice, "power95598")
    supervisor = actor(alice.tenant, Role.SUPERVISOR)
    ticket = alice.bearer.api("POST", "/tickets", {
        "type": "投诉工单", "subject": "电费", "data": {"内容": "多收费"}}, status=201).json
    assert ticket["state"] == "登记"
    assert _time(ticket["resolve_due_at"]) > _time(ticket["created_at"]) + timedelta(days=5)
    moved = supervisor.bearer.api("PATCH", f"/tickets/{ticket['id']}",
                                  {"state": "转办"}).json
    assert (moved["state"], moved["department"]) == ("转办", "营销部")
    assigned = [e for e in _history(alice, ticket) if e["action"] == "assigned"]
    assert [e["changes"]["assignee"] for e in assigned] == [[None, "营销部"]]


def test_free_form_tickets_stay_free_form_after_a_deploy(alice: Actor, factory: Any) -> None:
    """A ticket opened before any config was deployed keeps moving free-form."""
    ticket = alice.bearer.api("POST", "/tickets", {"type": "投诉", "subject": "x"},
                              status=201).json
    _deploy(factory, alice, "gas")
    moved = alice.bearer.api("PATCH", f"/tickets/{ticket['id']}", {"state": "关闭"}).json
    assert moved["state"] == "关闭"
    assert moved["closed_at"] is None
