"""/api/v1/agents: the people who handle contacts, their skills and channel capacity."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints
from pyramid.request import Request

from kefu.platform.agents.services import AgentConflict, AgentService
from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import Conflict, InvalidField, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out, Query, not_null
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.models import Channel

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Extension = Annotated[str, StringConstraints(min_length=1, max_length=32,
                                             pattern=r"^[0-9A-Za-z*#+._-]+$")]
PhoneNumber = Annotated[str, StringConstraints(min_length=3, max_length=32,
                                               pattern=r"^\+?[0-9 ()./-]+$")]
Capacity = dict[Channel, Annotated[int, Field(ge=0, le=50)]]


class SkillIn(Body):
    skill: Label
    level: int = Field(5, ge=1, le=10)


def _unique_skills(skills: list[SkillIn]) -> list[SkillIn]:
    names = [s.skill for s in skills]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"skill {duplicates[0]!r} is listed more than once")
    return skills


Skills = Annotated[list[SkillIn], AfterValidator(_unique_skills), Field(max_length=100)]


class AgentCreate(Body):
    display_name: Name
    user_id: uuid.UUID | None = Field(None, description="a member of this tenant")
    extension: Extension | None = Field(None, description="SIP extension, unique in the tenant")
    team: Label | None = None
    department: Label | None = None
    capacity: Capacity = Field(default_factory=dict,
                               description="contacts per channel at once (0..50); "
                                           "channels left out keep their defaults")
    forward_number: PhoneNumber | None = None
    is_active: bool = True
    skills: Skills = Field(default_factory=list)


class AgentUpdate(Body):
    display_name: Name | None = None
    user_id: uuid.UUID | None = None
    extension: Extension | None = None
    team: Label | None = None
    department: Label | None = None
    capacity: Capacity | None = Field(None, description="merged into the current capacity")
    forward_number: PhoneNumber | None = None
    is_active: bool | None = None
    skills: Skills | None = Field(None, description="replaces the whole set of skills")

    _not_null = not_null("display_name", "capacity", "is_active", "skills")


class SkillOut(Out):
    skill: str
    level: int


class AgentOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID | None
    display_name: str
    extension: str | None
    team: str | None
    department: str | None
    capacity: dict[str, int]
    forward_number: str | None
    is_active: bool
    skills: list[SkillOut]
    created_at: datetime
    updated_at: datetime


class AgentQuery(Query):
    q: str | None = Field(None, max_length=200, description="name or extension")
    team: str | None = Field(None, max_length=100)
    department: str | None = Field(None, max_length=100)
    skill: str | None = Field(None, max_length=100, description="agents having this skill")
    active: bool | None = None
    user_id: uuid.UUID | None = None


def _load(request: Request, agent_id: uuid.UUID) -> Any:
    agent = AgentService(request.db).get(agent_id)
    if agent is None:
        raise NotFound("agent")
    return agent


def _check_member(request: Request, user_id: uuid.UUID | None) -> None:
    if user_id is not None and not AgentService(request.db).is_member(user_id):
        raise InvalidField("user_id", "no member of this tenant has this id")


def _split(body: Body, *, partial: bool) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    data = body.model_dump(exclude_unset=partial)
    skills = data.pop("skills", None)
    if "capacity" in data:
        data["capacity"] = {str(channel): n for channel, n in data["capacity"].items()}
    return data, skills


@api("/agents", "GET", permission=Permission.AGENTS_READ, tag="agents",
     summary="List agents", query=AgentQuery, response=AgentOut, list_response=True)
def list_agents(request: Request, query: AgentQuery) -> Any:
    items, total = AgentService(request.db).search(
        text=query.q, team=query.team, department=query.department, skill=query.skill,
        is_active=query.active, user_id=query.user_id, limit=query.limit, offset=query.offset)
    return [AgentOut.model_validate(a) for a in items], total


@api("/agents", "POST", permission=Permission.AGENTS_MANAGE, tag="agents",
     summary="Create an agent", body=AgentCreate, response=AgentOut, status=201)
def create_agent(request: Request, body: AgentCreate) -> AgentOut:
    _check_member(request, body.user_id)
    fields, skills = _split(body, partial=False)
    try:
        agent = AgentService(request.db).create(fields, skills or [])
    except AgentConflict as exc:
        raise Conflict(str(exc), exc.field) from None
    audit_change(request, "agent.create", agent, display_name=agent.display_name)
    return AgentOut.model_validate(agent)


@api("/agents/{agent_id}", "GET", permission=Permission.AGENTS_READ, tag="agents",
     summary="Get an agent", response=AgentOut)
def get_agent(request: Request, agent_id: uuid.UUID) -> AgentOut:
    return AgentOut.model_validate(_load(request, agent_id))


@api("/agents/{agent_id}", "PATCH", permission=Permission.AGENTS_MANAGE, tag="agents",
     summary="Change an agent (only the fields sent; skills are replaced as a set)",
     body=AgentUpdate, response=AgentOut)
def update_agent(request: Request, agent_id: uuid.UUID, body: AgentUpdate) -> AgentOut:
    agent = _load(request, agent_id)
    _check_member(request, body.user_id)
    fields, skills = _split(body, partial=True)
    try:
        AgentService(request.db).update(agent, fields, skills)
    except AgentConflict as exc:
        raise Conflict(str(exc), exc.field) from None
    audit_change(request, "agent.update", agent, fields=sorted(body.model_fields_set))
    return AgentOut.model_validate(agent)


@api("/agents/{agent_id}", "DELETE", permission=Permission.AGENTS_MANAGE, tag="agents",
     summary="Delete an agent (their interactions and tickets keep no agent)")
def delete_agent(request: Request, agent_id: uuid.UUID) -> None:
    agent = _load(request, agent_id)
    audit_change(request, "agent.delete", agent, display_name=agent.display_name)
    AgentService(request.db).delete(agent)
