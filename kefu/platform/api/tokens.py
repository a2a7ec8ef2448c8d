"""/api/v1/tokens: the caller's own API tokens in this tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, field_validator
from pyramid.request import Request

from kefu.platform.api.context import audit_change, tenant_id
from kefu.platform.api.errors import NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out
from kefu.platform.db import utcnow
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


@api("/tokens", "GET", permission=Permission.TOKENS_MANAGE, tag="tokens",
     summary="Your API tokens in this tenant", response=TokenOut, list_response=True)
def list_tokens(request: Request) -> Any:
    tokens = IdentityService(request.db).api_tokens(request.identity.user_id)
    return [TokenOut.model_validate(t) for t in tokens], len(tokens)


@api("/tokens", "POST", permission=Permission.TOKENS_MANAGE, tag="tokens",
     summary="Create an API token acting as you in this tenant", body=TokenCreate,
     response=TokenCreated, status=201)
def create_token(request: Request, body: TokenCreate) -> TokenCreated:
    service = IdentityService(request.db)
    user = service.user(request.identity.user_id)
    if user is None:  # deleted while this request ran
        raise NotFound("user")
    secret, row = service.create_api_token(user, tenant_id(request), body.name, body.expires_at)
    audit_change(request, "token.create", row, name=row.name)
    return TokenCreated.model_validate({**TokenOut.model_validate(row).model_dump(),
                                        "token": secret})


@api("/tokens/{token_id}", "DELETE", permission=Permission.TOKENS_MANAGE, tag="tokens",
     summary="Revoke one of your API tokens")
def revoke_token(request: Request, token_id: uuid.UUID) -> None:
    token = IdentityService(request.db).revoke_api_token(request.identity.user_id, token_id)
    if token is None:
        raise NotFound("token")
    audit_change(request, "token.revoke", token)
