"""People and credentials: users, their roles in tenants, login sessions and API tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.db import Base, TimestampMixin, UTCDateTime, created_at, enum_type, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class Role(enum.StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    DESIGNER = "designer"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class User(TimestampMixin, Base):
    """A person who logs in. Users are platform-wide; what they may do in a tenant comes from
    their memberships there."""

    __tablename__ = "users"

    id: Mapped[uuid_pk]
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Platform operators: may create tenants and act in any of them.
    is_superuser: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    last_login_at: Mapped[datetime | None]

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Membership(TenantScoped, Base):
    """One role of one user in one tenant; a supervisor who also takes calls has two rows."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id", "role"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    role: Mapped[Role] = mapped_column(enum_type(Role))
    created_at: Mapped[created_at]

    user: Mapped[User] = relationship(back_populates="memberships")


class DutyRole(TenantScoped, Base):
    """A role of the tenant's own config (``role 值班长 ...`` in the DSL) held by a member.
    Workflows allow transitions to these roles; permissions still come from memberships."""

    __tablename__ = "duty_roles"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id", "role"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    role: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[created_at]


class LoginSession(Base):
    """A browser login. The cookie holds a random token; only its SHA-256 is stored, so a
    database leak does not hand out sessions. Server-side rows make logout and forced logout
    effective at once."""

    __tablename__ = "login_sessions"

    id: Mapped[uuid_pk]
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    # The tenant the user is working in; switchable among their memberships.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[created_at]
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None]
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))

    user: Mapped[User] = relationship()


class ApiToken(TenantScoped, Base):
    """A bearer token for machine clients, acting as its user within one tenant."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # First characters of the token, shown in lists so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[created_at]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
