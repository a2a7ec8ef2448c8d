"""/api/v1/users: the members of the caller's tenant and their roles."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import EmailStr, Field, StringConstraints
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import ApiError, Conflict, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out, Query
from kefu.platform.identity.members import MemberService
from kefu.platform.identity.models import Role, User
from kefu.platform.identity.passwords import WeakPasswordError
from kefu.platform.identity.permissions import Permission
from kefu.platform.identity.services import IdentityError, IdentityService


class UserOut(Out):
    id: uuid.UUID
    email: str
    display_name: str
    is_active: bool
    locale: str
    roles: list[Role]
    duty_roles: list[str] = Field(description="roles of the tenant's config (e.g. 值班长) "
                                              "the member holds; workflows allow moves to them")
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(Body):
    email: EmailStr
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    password: str | None = Field(None, min_length=8, max_length=200,
                                 description="omit to create a user who cannot log in yet")
    roles: list[Role] = Field(min_length=1, max_length=5)
    locale: str = Field("en", max_length=16)


class UserUpdate(Body):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    roles: list[Role] | None = Field(None, min_length=1, max_length=5)
    duty_roles: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = \
        Field(None, max_length=20, description="replaces the member's tenant-config roles; "
                                               "each must be a role of the deployed config")
    locale: str | None = Field(None, max_length=16)
    password: str | None = Field(None, min_length=8, max_length=200)


def _out(request: Request, user: User, roles: list[Role]) -> UserOut:
    return UserOut.model_validate({**{k: getattr(user, k) for k in (
        "id", "email", "display_name", "is_active", "locale", "last_login_at", "created_at")},
        "roles": sorted(roles), "duty_roles": MemberService(request.db).duty_roles(user.id)})


def _check_duty_roles(request: Request, roles: list[str]) -> None:
    loaded = request.platform.configs.deployed(request.tenant.id)
    known = [r.id for r in loaded.config.roles] if loaded is not None else []
    unknown = sorted(set(roles) - set(known))
    if unknown:
        offer = ", ".join(known) if known else "none (the deployed config declares no roles)"
        message = f"{unknown[0]!r} is not a role of the tenant's config; roles: {offer}"
        raise ApiError(422, "validation_failed", f"duty_roles: {message}",
                       [{"field": "duty_roles", "message": message}])


def _member(request: Request, user_id: uuid.UUID) -> tuple[User, list[Role]]:
    member = MemberService(request.db).get(user_id)
    if member is None:
        raise NotFound("user")
    return member


@api("/users", "GET", permission=Permission.USERS_READ, tag="users",
     summary="Members of this tenant", query=Query, response=UserOut, list_response=True)
def list_users(request: Request, query: Query) -> Any:
    members = MemberService(request.db).list()
    page = members[query.offset:query.offset + query.limit]
    return [_out(request, user, roles) for user, roles in page], len(members)


@api("/users", "POST", permission=Permission.USERS_MANAGE, tag="users",
     summary="Add a member (creates the user if the email is new)", body=UserCreate,
     response=UserOut, status=201)
def create_user(request: Request, body: UserCreate) -> UserOut:
    service = IdentityService(request.db)
    user = service.user_by_email(body.email)
    if user is None:
        try:
            user = service.create_user(body.email, body.display_name, body.password)
        except (IdentityError, WeakPasswordError) as exc:
            raise ApiError(422, "validation_failed", str(exc),
                           [{"field": "email", "message": str(exc)}]) from None
        user.locale = body.locale
    elif MemberService(request.db).is_member(user.id):
        raise Conflict(f"{body.email} is already a member of this tenant", "email")
    # An existing user of another tenant joins with their own password; ours is not applied.
    MemberService(request.db).set_roles(user, sorted(set(body.roles)))
    audit_change(request, "user.add", user, roles=sorted(body.roles))
    return _out(request, user, sorted(set(body.roles)))


@api("/users/{user_id}", "GET", permission=Permission.USERS_READ, tag="users",
     summary="Get a member", response=UserOut)
def get_user(request: Request, user_id: uuid.UUID) -> UserOut:
    return _out(request, *_member(request, user_id))


@api("/users/{user_id}", "PATCH", permission=Permission.USERS_MANAGE, tag="users",
     summary="Change a member's name, roles, locale or password", body=UserUpdate,
     response=UserOut)
def update_user(request: Request, user_id: uuid.UUID, body: UserUpdate) -> UserOut:
    user, roles = _member(request, user_id)
    shared = MemberService(request.db).belongs_elsewhere(user)
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.locale is not None:
        user.locale = body.locale
    if body.password is not None:
        if shared:
            # The account is also used in other tenants: only its owner or an operator may
            # change its password, not one tenant's admin.
            raise ApiError(403, "forbidden", "this user belongs to other tenants too; "
                           "only they or a platform operator can change the password")
        IdentityService(request.db).set_password(user, body.password)
        IdentityService(request.db).end_all_sessions(user.id)
    if body.roles is not None:
        MemberService(request.db).set_roles(user, body.roles)
        roles = sorted(set(body.roles))
    if body.duty_roles is not None:
        _check_duty_roles(request, body.duty_roles)
        MemberService(request.db).set_duty_roles(user, body.duty_roles)
    request.db.flush()
    audit_change(request, "user.update", user, fields=sorted(body.model_fields_set - {"password"}),
                 password_changed=body.password is not None)
    return _out(request, user, roles)


@api("/users/{user_id}", "DELETE", permission=Permission.USERS_MANAGE, tag="users",
     summary="Remove a member from this tenant (the user account stays for other tenants)")
def remove_user(request: Request, user_id: uuid.UUID) -> None:
    user, _roles = _member(request, user_id)
    if user.id == request.identity.user_id:
        raise ApiError(409, "conflict", "you cannot remove yourself from the tenant")
    MemberService(request.db).set_roles(user, [])
    audit_change(request, "user.remove", user)

