"""Agents: find, create, change and remove them, with their skills and channel capacity."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from kefu.platform.agents.models import DEFAULT_CAPACITY, Agent, AgentSkill
from kefu.platform.db import paginate
from kefu.platform.identity.models import Membership


class AgentConflict(ValueError):
    """A unique field (extension, user) is already taken by another agent of the tenant."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Which unique constraint guards which field; matched against the database's error text
# (PostgreSQL names the constraint, SQLite names the columns).
_UNIQUE_FIELDS = (
    ("extension", ("uq_agents_tenant_id_extension", "agents.extension")),
    ("user_id", ("uq_agents_tenant_id_user_id", "agents.user_id")),
)


class AgentService:
    def __init__(self, db: Session) -> None:
        self.db = db

    def _query(self) -> sa.Select[Any]:
        return sa.select(Agent).options(selectinload(Agent.skills))

    def search(
        self, *, text: str | None = None, team: str | None = None,
        department: str | None = None, skill: str | None = None,
        is_active: bool | None = None, user_id: uuid.UUID | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[Agent], int]:
        query = self._query().order_by(Agent.display_name, Agent.id)
        if text:
            pattern = f"%{text.strip()}%"
            query = query.where(sa.or_(Agent.display_name.ilike(pattern),
                                       Agent.extension.ilike(pattern)))
        if team is not None:
            query = query.where(Agent.team == team)
        if department is not None:
            query = query.where(Agent.department == department)
        if skill is not None:
            query = query.where(Agent.skills.any(AgentSkill.skill == skill))
        if is_active is not None:
            query = query.where(Agent.is_active.is_(is_active))
        if user_id is not None:
            query = query.where(Agent.user_id == user_id)
        return paginate(self.db, query, limit, offset)

    def get(self, agent_id: uuid.UUID) -> Agent | None:
        return self.db.scalar(self._query().where(Agent.id == agent_id))

    def exists(self, agent_id: uuid.UUID) -> bool:
        return self.db.scalar(sa.select(Agent.id).where(Agent.id == agent_id)) is not None

    def is_member(self, user_id: uuid.UUID) -> bool:
        """Whether the user has any role in the session's tenant (memberships are scoped)."""
        return self.db.scalar(
            sa.select(Membership.id).where(Membership.user_id == user_id).limit(1)) is not None

    def create(self, fields: dict[str, Any], skills: list[dict[str, Any]]) -> Agent:
        """Add an agent. ``capacity`` is laid over the defaults. Raises AgentConflict."""
        fields = dict(fields)
        fields["capacity"] = {**DEFAULT_CAPACITY, **(fields.get("capacity") or {})}
        agent = Agent(**fields)
        agent.skills = [AgentSkill(skill=s["skill"], level=s["level"])
                        for s in sorted(skills, key=lambda s: s["skill"])]
        self.db.add(agent)
        self._flush()
        return agent

    def update(self, agent: Agent, fields: dict[str, Any],
               skills: list[dict[str, Any]] | None) -> Agent:
        """Change the given fields; ``capacity`` is merged channel by channel, ``skills``
        (when given) replaces the whole set. Raises AgentConflict."""
        if skills is not None:
            self._set_skills(agent, skills)
            self._flush()
        for name, value in fields.items():
            setattr(agent, name, {**agent.capacity, **value} if name == "capacity" else value)
        self._flush()
        return agent

    def delete(self, agent: Agent) -> None:
        self.db.delete(agent)
        self.db.flush()

    def _flush(self) -> None:
        # The unique constraints are the arbiter (a check-then-insert would race); their
        # violation becomes a conflict naming the field. The request's transaction is
        # rolled back by the error the caller raises.
        try:
            self.db.flush()
        except IntegrityError as exc:
            text = str(exc.orig)
            for field, markers in _UNIQUE_FIELDS:
                if any(marker in text for marker in markers):
                    raise AgentConflict(
                        field, f"another agent of this tenant already has this {field}"
                    ) from None
            raise

    @staticmethod
    def _set_skills(agent: Agent, skills: list[dict[str, Any]]) -> None:
        # Existing rows are reused: replacing them with new objects would insert the new
        # before deleting the old and trip the (agent, skill) unique constraint.
        current = {s.skill: s for s in agent.skills}
        wanted: list[AgentSkill] = []
        for skill in sorted(skills, key=lambda s: s["skill"]):  # the order they load in
            row = current.get(skill["skill"]) or AgentSkill(skill=skill["skill"])
            row.level = skill["level"]
            wanted.append(row)
        agent.skills = wanted
