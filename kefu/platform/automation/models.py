"""What automation stores: the events the rules engine runs on (an outbox, so none is lost
between a commit and a job), every rule firing, and the notifications people receive."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, UTCDateTime, created_at, enum_type, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class EventStatus(enum.StrEnum):
    PENDING = "pending"  # stored; the rules job has not handled it yet
    DONE = "done"  # handled (its firings, if any, are in rule_firings)
    FAILED = "failed"  # its job failed on every attempt (``error`` says why)


class AutomationEvent(TenantScoped, Base):
    """Something that happened that the tenant's rules may act on: an inbound message, an
    interaction that ended, a ticket created, changed or overdue, a follow-up due.

    Written in the same transaction as the change it reports, so it exists exactly when the
    change does; the rules job handles it once (``status``). ``chain`` and ``depth`` are the
    causal chain of rules that led to it (empty for events from the outside world)."""

    __tablename__ = "automation_events"
    __table_args__ = (
        sa.Index("ix_automation_events_status_created", "status", "created_at"),
        sa.Index("ix_automation_events_tenant_interaction", "tenant_id", "interaction_id"),
        sa.Index("ix_automation_events_tenant_ticket", "tenant_id", "ticket_id"),
    )

    id: Mapped[uuid_pk]
    # sms.received, call.ended, ticket.sla_breached, followup.due ... (the DSL's `on` names).
    kind: Mapped[str] = mapped_column(sa.String(64))
    # The rule scope: {"message": {...}, "customer": {...}, "ticket": {...}, ...}.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="SET NULL"))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    chain: Mapped[list[Any]] = mapped_column(default=list)
    depth: Mapped[int] = mapped_column(default=0)
    # When it happened (the rules' `now`).
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[EventStatus] = mapped_column(enum_type(EventStatus),
                                                default=EventStatus.PENDING)
    handled_at: Mapped[datetime | None]
    # Rules that listened but did not run for it: [{"rule": ..., "reason": "in_chain"}].
    skipped: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[created_at]


class FiringStatus(enum.StrEnum):
    DONE = "done"  # every action carried out (or handed to its delivery job)
    PARTIAL = "partial"  # some actions could not be carried out (see ``results``)
    FAILED = "failed"  # none could


class RuleFiring(TenantScoped, Base):
    """One rule that fired on one event: what it was asked to do and what came of it.

    Unique per (event, rule): however often the event is handled, a rule fires on it once."""

    __tablename__ = "rule_firings"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "event_id", "rule"),
        sa.Index("ix_rule_firings_tenant_at", "tenant_id", "at"),
        sa.Index("ix_rule_firings_tenant_rule", "tenant_id", "rule", "at"),
        sa.Index("ix_rule_firings_tenant_interaction", "tenant_id", "interaction_id"),
    )

    id: Mapped[uuid_pk]
    rule: Mapped[str] = mapped_column(sa.String(100))
    event_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("automation_events.id", ondelete="CASCADE"))
    event_kind: Mapped[str] = mapped_column(sa.String(64))
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="SET NULL"))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    config_version_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("config_versions.id", ondelete="SET NULL"))
    # The causal chain of the firing, this rule last.
    chain: Mapped[list[Any]] = mapped_column(default=list)
    # The actions as the engine produced them (kind, channel, to, text, target, ...).
    actions: Mapped[list[Any]] = mapped_column(default=list)
    # One entry per action: {"kind", "ok", "detail"/"error", ids of what it made}.
    results: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[FiringStatus] = mapped_column(enum_type(FiringStatus))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(TenantScoped, Base):
    """A message for people in the portal: an SLA warning, a breach, an escalation, a
    transition someone must act on, a rule's ``notify``.

    One row per recipient user when the target (a platform role, a team or a department)
    resolves to users; one row for the target itself (``user_id`` null) when it names a role
    of the tenant's DSL that no user is mapped to yet."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_tenant_user", "tenant_id", "user_id", "created_at"),
        sa.Index("ix_notifications_tenant_target", "tenant_id", "target", "created_at"),
        sa.Index("ix_notifications_tenant_ticket", "tenant_id", "ticket_id"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"))
    # Who it was addressed to, as the config names them, and what kind of name that is:
    # role (platform or DSL role), team, department.
    target: Mapped[str] = mapped_column(sa.String(100))
    target_kind: Mapped[str] = mapped_column(sa.String(20))
    # transition, sla_warning, sla_breached, escalated, rule
    reason: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="SET NULL"))
    rule_firing_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("rule_firings.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_at]
    read_at: Mapped[datetime | None]
