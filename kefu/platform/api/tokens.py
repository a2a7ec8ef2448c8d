"""/api/v1/tokens: the caller's own API tokens in this tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import AwareDatetime, Field, field_validator
from pyramid.request import Request

from kefu.platform.api.context import audit_change, tenant_id
from kefu.platform.api.errors import NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out
from kefu.platform.db import utcnow
from kefu.platform.identity.models import ApiToken, User
from kefu.platform.identity.permissions import Permission
from kefu.platform.identity.services import IdentityService


class TokenOut(Out):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret, shown only in this response")


class TokenCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime | None = Field(None, description="with a time zone; in the future")

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= utcnow():
            raise ValueError("must be in the future")
        return value


def _own(request: Request) -> sa.Select[Any]:
    return sa.select(ApiToken).where(ApiToken.user_id == request.identity.user_id)


@api("/tokens", "GET", permission=Permission.TOKENS_MANAGE, tag="tokens",
     summary="Your API tokens in this tenant", response=TokenOut, list_response=True)
def list_tokens(request: Request) -> Any:
    tokens = list(request.db.scalars(_own(request).order_by(ApiToken.created_at)))
    return [TokenOut.model_validate(t) for t in tokens], len(tokens)


@api("/tokens", "POST", permission=Permission.TOKENS_MANAGE, tag="tokens",
     summary="Create an API token acting as you in this tenant", body=TokenCreate,
     response=TokenCreated, status=201)
def create_token(request: Request, body: TokenCreate) -> TokenCreated:
    user = request.db.get(User, request.identity.user_id)
    secret, row = IdentityService(request.db).create_api_token(
        user, tenant_id(request), body.name, body.expires_at)
    audit_change(request, "token.create", row, name=row.name)
    return TokenCreated.model_validate({**TokenOut.model_validate(row).model_dump(),
                                        "token": secret})


@api("/tokens/{token_id}", "DELETE", permission=Permission.TOKENS_MANAGE, tag="tokens",
     summary="Revoke one of your API tokens")
def revoke_token(request: Request, token_id: uuid.UUID) -> None:
    token = request.db.scalar(_own(request).where(ApiToken.id == token_id))
    if token is None:
        raise NotFound("token")
    token.revoked_at = token.revoked_at or utcnow()
    audit_change(request, "token.revoke", token)
