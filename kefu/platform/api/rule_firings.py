"""/api/v1/rule-firings: every time one of the tenant's messaging rules fired — on which
event, doing what, and what came of each action — newest first.

A firing is recorded once per event and rule, in the transaction that carried its actions
out (see ``docs/workflows-and-rules.md``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from pyramid.request import Request

from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Out, Query
from kefu.platform.automation.models import FiringStatus, RuleFiring
from kefu.platform.db import paginate
from kefu.platform.identity.permissions import Permission


class RuleFiringOut(Out):
    id: uuid.UUID
    rule: str
    event_id: uuid.UUID
    event_kind: str
    interaction_id: uuid.UUID | None
    ticket_id: uuid.UUID | None
    config_version_id: uuid.UUID | None
    chain: list[Any] = Field(description="the rules that led to this firing, this one last")
    actions: list[Any] = Field(description="what the rule asked for, templates filled")
    results: list[Any] = Field(description="per action: ok, what it made or why it failed")
    status: FiringStatus
    at: datetime


class RuleFiringQuery(Query):
    rule: str | None = Field(None, max_length=100, description="the rule's id")
    event_kind: str | None = Field(None, max_length=64, description="e.g. sms.received")
    interaction_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = None
    status: FiringStatus | None = None


@api("/rule-firings", "GET", permission=Permission.INTERACTIONS_READ, tag="rules",
     summary="Rule firings, newest first (filter by rule, event kind, interaction, ticket)",
     query=RuleFiringQuery, response=RuleFiringOut, list_response=True)
def list_rule_firings(request: Request, query: RuleFiringQuery) -> Any:
    statement = sa.select(RuleFiring).order_by(RuleFiring.at.desc(), RuleFiring.id.desc())
    for column, value in ((RuleFiring.rule, query.rule),
                          (RuleFiring.event_kind, query.event_kind),
                          (RuleFiring.interaction_id, query.interaction_id),
                          (RuleFiring.ticket_id, query.ticket_id),
                          (RuleFiring.status, query.status)):
        if value is not None:
            statement = statement.where(column == value)
    items, total = paginate(request.db, statement, query.limit, query.offset)
    return [RuleFiringOut.model_validate(f) for f in items], total
