"""Tickets (work orders): registrations, complaints, repairs, enquiries and their history."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.db import Base, TimestampMixin, created_at, enum_type, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Ticket(TimestampMixin, TenantScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_tickets_tenant_state", "tenant_id", "state"),
        sa.Index("ix_tickets_tenant_due", "tenant_id", "resolve_due_at"),
        sa.Index("ix_tickets_tenant_customer", "tenant_id", "customer_id"),
        # The timer sweep looks across tenants for tickets whose next timer has passed.
        sa.Index("ix_tickets_next_wakeup", "next_wakeup_at"),
    )

    id: Mapped[uuid_pk]
    # Human-facing number, counting up per tenant ("#1042").
    number: Mapped[int]
    # Ticket type and state names as declared in the tenant's DSL workflows.
    type: Mapped[str] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(100))
    priority: Mapped[Priority] = mapped_column(enum_type(Priority), default=Priority.NORMAL)
    subject: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"))
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="SET NULL"))
    department: Mapped[str | None] = mapped_column(sa.String(100))
    assignee_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    # SLA deadlines computed on the tenant's business calendar.
    response_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # When the workflow engine must next look at the ticket (an SLA warning, breach or
    # escalation, an automatic transition, a follow-up falling due); None: nothing pending.
    next_wakeup_at: Mapped[datetime | None]
    # Form fields captured with the ticket (address, meter number, fault description...).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    history: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketEvent.created_at")


class TicketEvent(TenantScoped, Base):
    """One change to a ticket: created, state changed, reassigned, commented, escalated..."""

    __tablename__ = "ticket_events"
    __table_args__ = (sa.Index("ix_ticket_events_tenant_ticket", "tenant_id", "ticket_id"),)

    id: Mapped[uuid_pk]
    ticket_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(50))
    from_state: Mapped[str | None] = mapped_column(sa.String(100))
    to_state: Mapped[str | None] = mapped_column(sa.String(100))
    # {"field": [old, new]} for every field the change touched.
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[created_at]

    ticket: Mapped[Ticket] = relationship(back_populates="history")
