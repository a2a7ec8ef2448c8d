"""A contact center for the portal tests: a tenant with a config deployed, its admin, a
supervisor, agents with their API clients, and helpers to move interactions through the ACD.
``conftest.py`` makes its ``desk`` fixture available to the tests here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kefu.platform.configs.services import ConfigService
from kefu.platform.identity.models import Role
from kefu.platform.routing.host import AcdTicker
from tests.factories import TokenClient
from tests.functional.api.conftest import Actor, error, error_fields  # noqa: F401

CONFIG = """\
tenant acme {
  name "Acme Support"
  locales en
  timezone "Asia/Shanghai"
  customer_form repair
}

skill billing "Billing" levels 1..5
team desk "Front desk" {
  members 3
  skill billing 3
}

queue billing "Billing" {
  strategy longest_idle
  require billing >= 1
  wrap_up 30s
}
queue sales "Sales" {
  strategy longest_idle
  require billing >= 1
}

role duty_lead "Duty lead"
disposition resolved "Resolved"
disposition escalated "Escalated"
not_ready lunch "Lunch"
not_ready training "Training"

template greeting "Hello, how can I help you?"

channel webchat "acme-widget" -> chat_flow
channel sms "+8613800000000" {
  queue billing
}
channel email "help@acme.example" {
  queue billing
}

form repair "Repair report" {
  section contact "Contact" {
    field phone phone "Phone" {
      required "Please give a phone number."
      pattern "^1[3-9][0-9]{9}$" "Mobile numbers have 11 digits starting with 1."
    }
    field kind choice "Kind" {
      choices residential, business
    }
    field company text "Company" {
      when kind != "residential"
      required "Businesses give their company name."
    }
  }
  field bottles number "Bottles" {
    range 1..5 "At most 5 bottles per order."
  }
  field pin pin "PIN" {
    length 6..6 "The PIN has six digits."
  }
}

workflow repair_wf "Repair" {
  form repair
  states open, dispatched, closed
  initial open
  final closed
  transition dispatch open -> dispatched {
    roles duty_lead
  }
  transition close dispatched -> closed
}

script leak "Gas leak" {
  step safety "Safety first" {
    say "Ask everyone to leave the building."
  }
  step report "Report" {
    say "Take the details."
    form repair
    next send, advise
  }
  step send "Send an engineer"
  step advise "Advice only"
}

kpi sl "Service level" {
  service_level 80% within 20s
  short_abandon 5s
  queues billing
}

flow chat_flow "Chat" {
  say hello "Hi! One moment please."
  enqueue to_agent billing {
    prompt "Connecting you to an agent."
    on timeout -> sorry
  }
  hangup sorry "Nobody is free just now; please try again later."
}
"""


def deploy(factory: Any, tenant: Any, source: str = CONFIG) -> str:
    """Store and deploy ``source`` as the tenant's config; returns the version id."""
    with factory.session(tenant) as db:
        service = ConfigService(db)
        version = service.store({"tenant.kefu": source}, "", None)
        service.deploy(version.id)
        db.commit()
        return str(version.id)


@dataclass
class Desk:
    """A tenant with :data:`CONFIG` deployed, its admin, a supervisor and agent helpers."""

    admin: Actor
    supervisor: Actor
    factory: Any
    wsgi_app: Any
    make_actor: Callable[..., Actor]
    agents: list[dict[str, Any]] = field(default_factory=list)

    def agent(self, name: str, *, user_role: Role = Role.AGENT,
              capacity: dict[str, int] | None = None,
              skills: dict[str, int] | None = None) -> tuple[dict[str, Any], TokenClient]:
        """A new user with ``user_role`` and an agent record (default skills: billing 3);
        returns the record and the user's API client."""
        person = self.make_actor(self.admin.tenant, user_role)
        skills = {"billing": 3} if skills is None else skills
        body: dict[str, Any] = {"display_name": name, "user_id": str(person.user.id),
                                "skills": [{"skill": k, "level": v} for k, v in skills.items()]}
        if capacity:
            body["capacity"] = capacity
        record = self.admin.bearer.api("POST", "/agents", body, status=201).json
        self.agents.append(record)
        return record, person.bearer

    def ready(self, client: Any, agent: dict[str, Any]) -> None:
        client.api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"}, status=200)

    def contact(self, channel: str = "chat", **fields: Any) -> dict[str, Any]:
        body = {"channel": channel, "direction": "inbound", **fields}
        if channel == "chat":
            body.setdefault("to_address", "acme-widget")
            body.setdefault("from_address", "visitor-1")
        return self.admin.bearer.api("POST", "/interactions", body,  # type: ignore[no-any-return]
                                     status=201).json

    def queue(self, interaction: dict[str, Any], queue: str = "billing") -> dict[str, Any]:
        return self.admin.bearer.api(  # type: ignore[no-any-return]
            "POST", f"/interactions/{interaction['id']}/queue", {"queue": queue}).json

    def connected(self, client: Any, agent: dict[str, Any], channel: str = "chat",
                  **fields: Any) -> dict[str, Any]:
        """A new interaction offered to ``agent`` (who must be ready) and accepted."""
        interaction = self.contact(channel, **fields)
        place = self.queue(interaction)
        assert place["status"] == "offered", place
        assert place["agent_id"] == agent["id"], place
        client.api("POST", f"/interactions/{interaction['id']}/accept", status=200)
        return self.get(interaction)

    def get(self, interaction: dict[str, Any]) -> dict[str, Any]:
        return self.admin.bearer.api(  # type: ignore[no-any-return]
            "GET", f"/interactions/{interaction['id']}").json

    def presence(self, agent: dict[str, Any]) -> dict[str, Any]:
        return self.admin.bearer.api(  # type: ignore[no-any-return]
            "GET", f"/agents/{agent['id']}/presence").json

    def triggers(self, interaction: dict[str, Any]) -> list[str]:
        events = self.admin.bearer.api("GET", f"/interactions/{interaction['id']}/events").json
        return [e["trigger"] for e in events["items"]]

    def tick(self, after: float) -> None:
        """Let ``after`` seconds pass for the ACD's timers (one ticker round)."""
        AcdTicker(self.factory.platform).tick_tenant(self.admin.tenant.id, time.time() + after)


@pytest.fixture
def desk(actor: Callable[..., Actor], factory: Any, wsgi_app: Any) -> Desk:
    admin = actor()
    deploy(factory, admin.tenant)
    factory.platform.configs.invalidate(admin.tenant.id)
    supervisor = actor(admin.tenant, Role.SUPERVISOR)
    return Desk(admin, supervisor, factory, wsgi_app, actor)
