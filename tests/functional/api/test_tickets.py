"""/api/v1/tickets: numbering, filters, changes recorded in the history, comments."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import TokenClient
from tests.functional.api.conftest import Actor, error_fields, snapshot


def _open(actor: Actor, **fields: Any) -> dict[str, Any]:
    body = {"type": "repair", "subject": "Gas leak", **fields}
    return actor.bearer.api("POST", "/tickets", body, status=201).json  # type: ignore[no-any-return]


def test_open_a_ticket(alice: Actor) -> None:
    customer = alice.bearer.api("POST", "/customers", {"name": "Wang"}, status=201).json
    ticket = _open(alice, customer_id=customer["id"], priority="high", department="field",
                   description="smells of gas", resolve_due_at="2030-01-01T08:00:00+08:00",
                   data={"meter": "M-1"})
    assert ticket["number"] == 1
    assert ticket["state"] == "new"
    assert ticket["priority"] == "high"
    assert ticket["resolve_due_at"] == "2030-01-01T00:00:00Z"
    assert ticket["created_by_user_id"] == str(alice.user.id)
    assert [(e["action"], e["to_state"]) for e in ticket["history"]] == [("created", "new")]
    assert alice.web.api("GET", f"/tickets/{ticket['id']}").json == ticket


def test_numbers_count_up_per_tenant(alice: Actor, bob: Actor) -> None:
    assert [_open(alice)["number"] for _ in range(3)] == [1, 2, 3]
    assert _open(bob)["number"] == 1
    assert _open(alice)["number"] == 4


def test_concurrent_creates_never_share_a_number(alice: Actor, factory: Any) -> None:
    """Many clients at once, each in its own thread and database transaction."""
    token = factory.token(alice.user, alice.tenant)
    numbers: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        client = TokenClient(alice.web.app, token)
        try:
            for _ in range(4):
                numbers.append(client.api("POST", "/tickets", {
                    "type": "repair", "subject": "x"}, status=201).json["number"])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert sorted(numbers) == list(range(1, 25))


def test_a_number_is_not_taken_twice_by_interleaved_transactions(alice: Actor,
                                                                 factory: Any) -> None:
    """The first transaction has inserted its ticket and not committed when the second asks
    for a number; the second waits and takes the next one instead of failing."""
    from kefu.platform.tickets.services import TicketService

    first = factory.session(alice.tenant)
    first_ticket = TicketService(first).create({"type": "t", "state": "new", "subject": "a"},
                                               None)
    result: dict[str, Any] = {}

    def second() -> None:
        with factory.session(alice.tenant) as db:
            try:
                ticket = TicketService(db).create({"type": "t", "state": "new", "subject": "b"},
                                                  None)
                db.commit()
                result["number"] = ticket.number
            except Exception as exc:  # reported below
                result["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # let the second reach the allocation and wait there
    assert thread.is_alive(), "the second allocation did not wait for the first"
    number = first_ticket.number
    first.commit()
    first.close()
    thread.join(10)
    assert "error" not in result, result
    assert sorted([number, result["number"]]) == [1, 2]


def test_list_filters(alice: Actor) -> None:
    customer = alice.bearer.api("POST", "/customers", {"name": "Wang"}, status=201).json
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li"}, status=201).json
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    late = _open(alice, type="complaint", resolve_due_at=past, customer_id=customer["id"])
    unanswered = _open(alice, response_due_at=past, assignee_agent_id=agent["id"])
    fine = _open(alice, state="open", resolve_due_at=future, priority="urgent",
                 department="field")
    answered = _open(alice, response_due_at=past)
    alice.bearer.api("POST", f"/tickets/{answered['id']}/comments", {"comment": "on it"},
                     status=201)

    def numbers(query: str) -> list[int]:
        return [t["number"] for t in alice.bearer.api("GET", "/tickets?" + query).json["items"]]

    assert numbers("") == [4, 3, 2, 1]
    assert numbers("overdue=true") == [unanswered["number"], late["number"]]
    assert numbers("overdue=false") == [answered["number"], fine["number"]]
    assert numbers("state=open") == [fine["number"]]
    assert numbers("type=complaint") == [late["number"]]
    assert numbers(f"customer_id={customer['id']}") == [late["number"]]
    assert numbers(f"assignee_agent_id={agent['id']}") == [unanswered["number"]]
    assert numbers("priority=urgent&department=field") == [fine["number"]]
    assert numbers("limit=2&offset=1") == [3, 2]
    response = alice.bearer.api("GET", "/tickets?overdue=maybe", status=422)
    assert error_fields(response) == ["overdue"]


def test_every_change_is_recorded(alice: Actor) -> None:
    agent = alice.bearer.api("POST", "/agents", {"display_name": "Li"}, status=201).json
    ticket = _open(alice, data={"meter": "M-1"})
    changed = alice.web.api("PATCH", f"/tickets/{ticket['id']}", {
        "state": "assigned", "assignee_agent_id": agent["id"], "priority": "high",
        "resolve_due_at": "2030-01-01T00:00:00Z", "subject": "Gas leak"}).json
    assert changed["state"] == "assigned"
    assert changed["assignee_agent_id"] == agent["id"]
    alice.web.api("PATCH", f"/tickets/{ticket['id']}", {"department": "field",
                                                        "data": {"meter": "M-2"}})
    # Nothing different: nothing recorded.
    alice.web.api("PATCH", f"/tickets/{ticket['id']}", {"department": "field"})
    history = alice.web.api("GET", f"/tickets/{ticket['id']}/history").json
    assert history["total"] == 3
    created, reassigned, updated = history["items"]
    assert created["action"] == "created"
    assert reassigned["action"] == "state_changed"
    assert (reassigned["from_state"], reassigned["to_state"]) == ("new", "assigned")
    assert reassigned["changes"] == {
        "state": ["new", "assigned"], "assignee_agent_id": [None, agent["id"]],
        "priority": ["normal", "high"], "resolve_due_at": [None, "2030-01-01T00:00:00+00:00"]}
    assert reassigned["actor_user_id"] == str(alice.user.id)
    assert updated["action"] == "updated"
    assert (updated["from_state"], updated["to_state"]) == ("assigned", "assigned")
    assert updated["changes"] == {"department": [None, "field"],
                                  "data": [{"meter": "M-1"}, {"meter": "M-2"}]}
    assert alice.web.api("GET", f"/tickets/{ticket['id']}").json["history"] == history["items"]
    page = alice.web.api("GET", f"/tickets/{ticket['id']}/history?limit=1&offset=2").json
    assert page["items"] == [updated]


def test_comments(alice: Actor, actor: Any) -> None:
    from kefu.platform.identity.models import Role

    ticket = _open(alice)
    agent = actor(alice.tenant, Role.AGENT)
    comment = agent.web.api("POST", f"/tickets/{ticket['id']}/comments",
                            {"comment": "Technician sent"}, status=201).json
    assert comment["action"] == "comment"
    assert comment["comment"] == "Technician sent"
    assert comment["actor_user_id"] == str(agent.user.id)
    alice.web.api("POST", f"/tickets/{ticket['id']}/comments", {"comment": "Thanks"},
                  status=201)
    now = alice.web.api("GET", f"/tickets/{ticket['id']}").json
    assert now["first_response_at"] is not None
    assert list(comment["changes"]) == ["first_response_at"]  # only the first comment sets it
    assert now["history"][-1]["changes"] == {}
    assert [e["comment"] for e in now["history"]] == [None, "Technician sent", "Thanks"]
    for body, field in [({}, "comment"), ({"comment": ""}, "comment"),
                        ({"comment": 5}, "comment")]:
        response = alice.web.api("POST", f"/tickets/{ticket['id']}/comments", body, status=422)
        assert error_fields(response) == [field]


def test_bad_ticket_fields_are_named(alice: Actor, factory: Any) -> None:
    ticket = _open(alice)
    before = snapshot(factory, alice.tenant)
    for body, field in [({"type": "repair"}, "subject"),
                        ({"type": "repair", "subject": "x", "priority": "asap"}, "priority"),
                        ({"type": "repair", "subject": "x",
                          "resolve_due_at": "2030-01-01T00:00:00"}, "resolve_due_at"),
                        ({"type": "", "subject": "x"}, "type"),
                        ({"type": "repair", "subject": "x", "data": []}, "data")]:
        response = alice.bearer.api("POST", "/tickets", body, status=422)
        assert error_fields(response) == [field], body
    for body, field in [({"state": None}, "state"), ({"subject": None}, "subject"),
                        ({"number": 7}, "number"), ({"priority": None}, "priority"),
                        ({"closed_at": "2030-01-01T00:00:00Z"}, "closed_at")]:
        response = alice.bearer.api("PATCH", f"/tickets/{ticket['id']}", body, status=422)
        assert error_fields(response) == [field], body
    assert snapshot(factory, alice.tenant) == before
