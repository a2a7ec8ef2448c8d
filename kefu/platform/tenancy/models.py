"""Tenants: the organisations whose contact centers kefu runs."""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, TimestampMixin, enum_type, uuid_pk


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(TimestampMixin, Base):
    __tablename__ = "tenants"

    id: Mapped[uuid_pk]
    # Short, URL-safe handle used on the command line and in URLs ("demo", "gas-co").
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[TenantStatus] = mapped_column(
        enum_type(TenantStatus),
        default=TenantStatus.ACTIVE,
    )
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    default_locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


