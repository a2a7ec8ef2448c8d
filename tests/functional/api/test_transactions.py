"""One transaction per request: a request that fails half-way leaves nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.functional.api.conftest import Actor, error_fields, snapshot


def test_a_ticket_whose_history_write_fails_is_not_kept(alice: Actor, factory: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The ticket row is inserted (and its number taken), then the history entry violates a
    foreign key in the database: the whole request is rolled back."""
    from kefu.platform.tickets import services
    from kefu.platform.tickets.models import TicketEvent

    before = snapshot(factory, alice.tenant)
    real_event = services.TicketService._event

    def broken_event(self: Any, ticket: Any, action: str, actor: Any, **fields: Any) -> Any:
        assert self.db.scalar(sa.select(sa.func.count()).select_from(services.Ticket)) == 1
        event = TicketEvent(ticket_id=uuid.uuid4(), action=action, **fields)  # no such ticket
        self.db.add(event)
        return event

    monkeypatch.setattr(services.TicketService, "_event", broken_event)
    with pytest.raises(IntegrityError):
        alice.bearer.api("POST", "/tickets", {"type": "repair", "subject": "x"})
    assert snapshot(factory, alice.tenant) == before  # no ticket, no audit entry
    monkeypatch.setattr(services.TicketService, "_event", real_event)
    assert alice.bearer.api("POST", "/tickets", {"type": "repair", "subject": "x"},
                            status=201).json["number"] == 1


def test_an_agent_change_refused_by_a_constraint_keeps_nothing(alice: Actor,
                                                               factory: Any) -> None:
    """The new skills are written first, then the extension trips the unique constraint: the
    409 comes with the skills unchanged."""
    alice.bearer.api("POST", "/agents", {"display_name": "A", "extension": "8001"}, status=201)
    agent = alice.bearer.api("POST", "/agents", {
        "display_name": "B", "extension": "8002", "skills": [{"skill": "gas", "level": 3}]},
        status=201).json
    before = snapshot(factory, alice.tenant)
    response = alice.bearer.api("PATCH", f"/agents/{agent['id']}", {
        "skills": [{"skill": "water", "level": 9}], "extension": "8001", "team": "x"},
        status=409)
    assert error_fields(response) == ["extension"]
    assert snapshot(factory, alice.tenant) == before
    assert alice.bearer.api("GET", f"/agents/{agent['id']}").json["skills"] == [
        {"skill": "gas", "level": 3}]


def test_a_message_conflict_after_lookups_keeps_nothing(alice: Actor, factory: Any) -> None:
    one = alice.bearer.api("POST", "/interactions", {"channel": "sms", "direction": "inbound"},
                           status=201).json
    two = alice.bearer.api("POST", "/interactions", {"channel": "sms", "direction": "inbound"},
                           status=201).json
    body = {"direction": "inbound", "external_id": "x-1"}
    alice.bearer.api("POST", f"/interactions/{one['id']}/messages", body, status=201)
    before = snapshot(factory, alice.tenant)
    alice.bearer.api("POST", f"/interactions/{two['id']}/messages", body, status=409)
    assert snapshot(factory, alice.tenant) == before


def test_duplicate_phone_numbers_of_one_customer_are_merged(alice: Actor) -> None:
    """The (customer, number) constraint is never tripped by one request: numbers that are the
    same once normalized are stored once."""
    customer = alice.bearer.api("POST", "/customers", {"name": "Wang", "phones": [
        {"number": "+86 10 5555 0101", "label": "home"}, {"number": "+861055550101"}]},
        status=201).json
    assert [p["number"] for p in customer["phones"]] == ["+861055550101"]
