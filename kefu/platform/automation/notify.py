"""Notifications for people: who a target names, and the rows the portal shows.

A target is a name from the config: a platform role (``supervisor``), a team or a
department of the tenant's DSL, or a DSL role (``值班长``). Platform roles resolve to the
members holding them, DSL roles to the members given that duty role, teams and departments
to the users of the active agents in them. A target that reaches nobody (a duty role no
member holds yet) still gets one notification, addressed to the name itself (``user_id``
null), which the portal shows to whoever works that role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.agents.models import Agent
from kefu.platform.automation.models import Notification
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.identity.models import DutyRole, Membership, Role
from kefu.platform.tenancy.scope import current_tenant_id

if TYPE_CHECKING:
    from kefu.dsl import ir
    from kefu.platform.events import EventBus


def notification_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.notification"


def resolve_target(db: Session, target: str,
                   config: ir.Config | None = None) -> tuple[str, list[uuid.UUID]]:
    """``(kind, user ids)`` for a target name; kind is role, team or department."""
    if target in {r.value for r in Role}:
        users = db.scalars(sa.select(Membership.user_id)
                           .where(Membership.role == Role(target))
                           .order_by(Membership.user_id)).all()
        return "role", list(dict.fromkeys(users))
    duty = list(db.scalars(sa.select(DutyRole.user_id).where(DutyRole.role == target)
                           .order_by(DutyRole.user_id)))
    if duty:
        return "role", list(dict.fromkeys(duty))
    teams = {t.id for t in config.teams} if config is not None else set()
    departments = {d.id for d in config.departments} if config is not None else set()
    for kind, column, known in (("team", Agent.team, teams),
                                ("department", Agent.department, departments)):
        users = [u for u in db.scalars(
            sa.select(Agent.user_id).where(column == target, Agent.is_active.is_(True))
            .order_by(Agent.user_id)).all() if u is not None]
        if users or target in known:
            return kind, list(dict.fromkeys(users))
    return "role", []


def notify(db: Session, targets: Iterable[str], reason: str, text: str, *,
           config: ir.Config | None = None, bus: EventBus | None = None,
           ticket_id: uuid.UUID | None = None, interaction_id: uuid.UUID | None = None,
           rule_firing_id: uuid.UUID | None = None,
           data: Mapping[str, Any] | None = None) -> list[Notification]:
    """Write the notifications for ``targets`` in ``db``'s transaction and, with a bus,
    announce each on ``tenant.<id>.notification`` once it commits. A user reached through
    several targets is notified once."""
    rows: list[Notification] = []
    reached: set[uuid.UUID | None] = set()
    for target in dict.fromkeys(targets):
        kind, users = resolve_target(db, target, config)
        recipients: list[uuid.UUID | None] = [u for u in users if u not in reached]
        if not users:
            recipients = [None]
        for user_id in recipients:
            reached.add(user_id)
            rows.append(Notification(
                user_id=user_id, target=target, target_kind=kind, reason=reason, text=text,
                ticket_id=ticket_id, interaction_id=interaction_id,
                rule_firing_id=rule_firing_id, data=dict(data or {})))
    db.add_all(rows)
    db.flush()
    tenant_id = current_tenant_id(db)
    if bus is not None and tenant_id is not None:
        for row in rows:
            publish_after_commit(db, bus, notification_topic(tenant_id), {
                "id": str(row.id), "user_id": None if row.user_id is None else str(row.user_id),
                "target": row.target, "target_kind": row.target_kind, "reason": row.reason,
                "text": row.text, "ticket_id": None if ticket_id is None else str(ticket_id),
                "interaction_id": None if interaction_id is None else str(interaction_id)})
    return rows
