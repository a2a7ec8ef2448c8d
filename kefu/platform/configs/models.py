"""Tenant config versions: every DSL source ever applied, with what it compiled to."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, created_at, enum_type, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class ConfigStatus(enum.StrEnum):
    DRAFT = "draft"  # stored, not yet checked
    INVALID = "invalid"  # checked, has errors
    VALID = "valid"  # checked and compiled, not deployed
    DEPLOYED = "deployed"  # the version new interactions run on (one per tenant)
    SUPERSEDED = "superseded"  # was deployed, replaced by a later version


class ConfigVersion(TenantScoped, Base):
    __tablename__ = "config_versions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "version"),
        sa.Index("ix_config_versions_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[uuid_pk]
    # Counts up per tenant: 1, 2, 3...
    version: Mapped[int]
    # {"tenant.kefu": "...", "flows/billing.kefu": "..."}: every file of the config.
    source: Mapped[dict[str, Any]]
    source_hash: Mapped[str] = mapped_column(sa.String(64))
    # Hash of the compiled IR: equal hashes mean the same behaviour.
    compiled_hash: Mapped[str | None] = mapped_column(sa.String(64))
    compiled: Mapped[dict[str, Any] | None]
    # Diagnostics from the last check, as JSON objects with file, line, column, message.
    diagnostics: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[ConfigStatus] = mapped_column(enum_type(ConfigStatus))
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[created_at]
    deployed_at: Mapped[datetime | None]
