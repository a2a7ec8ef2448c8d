"""The audit log: who did what to which record, when and from where."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, created_at, uuid_pk


class AuditEntry(Base):
    """Not tenant-scoped by the mixin because platform actions (creating a tenant) have no
    tenant; tenant-level reads filter on ``tenant_id`` through ``AuditService``."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[uuid_pk]
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    # "login", "user.create", "customer.update", "config.deploy"...
    action: Mapped[str] = mapped_column(sa.String(100))
    target_type: Mapped[str | None] = mapped_column(sa.String(50))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[created_at]
