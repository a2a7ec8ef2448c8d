"""Agents: the people (with the agent role) who handle contacts, and what they can handle."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.db import Base, TimestampMixin, uuid_pk
from kefu.platform.identity.models import User
from kefu.platform.tenancy.scope import TenantScoped

# How many contacts of each channel an agent works at once unless configured otherwise.
DEFAULT_CAPACITY = {"voice": 1, "chat": 3, "email": 5, "sms": 5, "fax": 1, "kiosk": 1}


class Agent(TimestampMixin, TenantScoped, Base):
    __tablename__ = "agents"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "extension"),
        sa.UniqueConstraint("tenant_id", "user_id"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    # SIP extension of the agent's phone, unique in the tenant ("8001").
    extension: Mapped[str | None] = mapped_column(sa.String(32))
    # Team and department names as declared in the tenant's DSL config.
    team: Mapped[str | None] = mapped_column(sa.String(100))
    department: Mapped[str | None] = mapped_column(sa.String(100))
    # {"voice": 1, "chat": 3, ...}: contacts of each channel at once.
    capacity: Mapped[dict[str, Any]] = mapped_column(default=lambda: dict(DEFAULT_CAPACITY))
    # Number to forward to when the agent is away from the desk (mobile or duty phone).
    forward_number: Mapped[str | None] = mapped_column(sa.String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    # The agent's phone registers with kefu as this SIP user (unique across tenants: a
    # REGISTER names no tenant). Only digest HA1 hashes are kept, never the password.
    sip_username: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    sip_ha1_md5: Mapped[str | None] = mapped_column(sa.String(32))
    sip_ha1_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    user: Mapped[User | None] = relationship()
    skills: Mapped[list[AgentSkill]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", order_by="AgentSkill.skill"
    )


class AgentSkill(TenantScoped, Base):
    """A skill (as named in the DSL) at a level from 1 (basic) to 10 (expert)."""

    __tablename__ = "agent_skills"
    __table_args__ = (
        sa.UniqueConstraint("agent_id", "skill"),
        sa.CheckConstraint("level BETWEEN 1 AND 10", name="level_range"),
        sa.Index("ix_agent_skills_tenant_skill", "tenant_id", "skill"),
    )

    id: Mapped[uuid_pk]
    agent_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("agents.id", ondelete="CASCADE"))
    skill: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[int] = mapped_column(default=5)

    agent: Mapped[Agent] = relationship(back_populates="skills")
