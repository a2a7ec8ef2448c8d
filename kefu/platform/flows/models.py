"""Flow sessions: a tenant flow running for one text interaction, kept in the database
between the customer's messages (see :mod:`kefu.platform.flows`)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, TimestampMixin, enum_type, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped
from kefu.runtime.ivr.actions import Mode


class FlowStatus(enum.StrEnum):
    RUNNING = "running"
    ENDED = "ended"


class FlowSession(TimestampMixin, TenantScoped, Base):
    """One interaction's flow: the interpreter's snapshot, the host's timers and where the
    session stands. One per interaction."""

    __tablename__ = "flow_sessions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "interaction_id"),
        # The timer sweep looks across tenants for sessions whose earliest timer has passed.
        sa.Index("ix_flow_sessions_next_due", "next_due_at"),
    )

    id: Mapped[uuid_pk]
    interaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="CASCADE"))
    # The config version the session started on: it finishes on it, whatever is deployed.
    config_version_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("config_versions.id"))
    flow: Mapped[str] = mapped_column(sa.String(100))
    mode: Mapped[Mode] = mapped_column(enum_type(Mode))
    status: Mapped[FlowStatus] = mapped_column(enum_type(FlowStatus), default=FlowStatus.RUNNING)
    # The step the session is at (waiting for an answer, a lookup, an agent), for people.
    node: Mapped[str | None] = mapped_column(sa.String(100))
    # The interpreter's outcome once ended: completed, answered, voicemail, error...
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
    # ``Interpreter.snapshot()``: everything needed to carry on in another process.
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Live timers as the host runs them: {timer name: ISO due time} (text no-input timers
    # stretched, see TEXT_NO_INPUT_SECONDS).
    timers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the host remembers beyond the interpreter (a callback was scheduled...).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The earliest of ``timers``; None when nothing is pending. The sweep's index.
    next_due_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
