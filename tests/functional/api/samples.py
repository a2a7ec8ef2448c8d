"""A valid request body for every API operation that takes one, keyed by (method, path). The
generic tests use them so that a request fails only for the reason under test."""

from __future__ import annotations

from typing import Any

SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/tenants"): {"slug": "brand-new", "name": "Brand New"},
    ("PATCH", "/tenants/{tenant_id}"): {"name": "Renamed"},
    ("POST", "/users"): {"email": "new.member@example.com", "display_name": "New Member",
                         "roles": ["agent"]},
    ("PATCH", "/users/{user_id}"): {"display_name": "Renamed"},
    ("POST", "/tokens"): {"name": "ci"},
    ("POST", "/customers"): {"name": "Zhao Lei", "is_vip": True},
    ("PATCH", "/customers/{customer_id}"): {"name": "Renamed"},
    # The same extension as the world's agent: extensions are unique per tenant only.
    ("POST", "/agents"): {"display_name": "Zhou Min", "extension": "8001"},
    ("PATCH", "/agents/{agent_id}"): {"team": "night"},
    ("POST", "/interactions"): {"channel": "voice", "direction": "inbound"},
    ("PATCH", "/interactions/{interaction_id}"): {"disposition": "resolved"},
    # The same external id as the world's message: idempotency is per tenant only.
    ("POST", "/interactions/{interaction_id}/messages"): {
        "direction": "inbound", "body_text": "hello", "external_id": "m-1"},
    ("POST", "/tickets"): {"type": "repair", "subject": "Leaking pipe"},
    ("PATCH", "/tickets/{ticket_id}"): {"state": "closed"},
    ("POST", "/tickets/{ticket_id}/comments"): {"comment": "hello"},
    ("POST", "/configs"): {"files": {"tenant.kefu": "tenant a\n"}, "message": "m"},
    ("POST", "/configs/plan"): {"files": {"tenant.kefu": "tenant a\n"}},
    ("POST", "/interactions/{interaction_id}/events"): {"trigger": "enqueue", "queue": "general"},
    ("PUT", "/agents/{agent_id}/presence"): {"state": "ready"},
    ("POST", "/interactions/{interaction_id}/queue"): {"queue": "general"},
    ("POST", "/interactions/{interaction_id}/hangup"): {},
    ("POST", "/interactions/{interaction_id}/complete"): {"disposition": "resolved"},
    ("POST", "/interactions/{interaction_id}/reply"): {"text": "An engineer is on the way."},
    ("POST", "/interactions/{interaction_id}/typing"): {"active": True},
    ("POST", "/interactions/{interaction_id}/read"): {
        "upto": "00000000-0000-4000-8000-000000000001"},
    ("POST", "/knowledge/articles"): {"title": "Opening hours", "body": "08:00-20:00",
                                      "locale": "en"},
    ("PATCH", "/knowledge/articles/{article_id}"): {"published": False},
    ("POST", "/interactions/{interaction_id}/transfer"): {"queue": "general"},
    ("POST", "/interactions/outbound"): {"channel": "sms", "to": "+8613912345678",
                                         "text": "Your engineer comes at 3pm."},
    ("POST", "/interactions/{interaction_id}/reassign"): {
        "agent_id": "00000000-0000-4000-8000-000000000001"},
    ("POST", "/tickets/{ticket_id}/escalate"): {"note": "customer called twice"},
    ("POST", "/forms/{form}/validate"): {"values": {"phone": "13912345678"}},
}


def op_id(op: Any) -> str:
    return f"{op.method} {op.path}"


def fill(path: str, ids: dict[str, str]) -> str:
    return path.format(**ids)
