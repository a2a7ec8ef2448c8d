"""Pyramid security policy: who is asking (cookie session or bearer token), in which tenant,
and whether a permission is granted. Resolving the identity also scopes ``request.db`` to
the identity's tenant, so every later query of the request is tenant-scoped."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.security import Allowed, Denied

from kefu.platform.identity.models import User
from kefu.platform.identity.services import Identity, IdentityService
from kefu.platform.logs import bind_log_context
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.scope import bind_tenant

SESSION_COOKIE = "kefu_session"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _resolve(request: Request) -> Identity | None:
    service = IdentityService(request.db)
    settings = request.registry["kefu.settings"]
    identity: Identity | None = None
    token = bearer_token(request)
    if token is not None:
        api_token = service.resolve_api_token(token)
        if api_token is not None:
            user = request.db.get(User, api_token.user_id)
            if user is not None:
                identity = service.identity_for(user, api_token.tenant_id, "token", api_token.id)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            login = service.resolve_session(cookie, max_age=settings["session.max_age"])
            if login is not None:
                request.login_session = login
                identity = service.identity_for(login.user, login.tenant_id, "session", login.id)
    if identity is not None:
        if identity.tenant_id is not None:
            bind_tenant(request.db, identity.tenant_id)
        bind_log_context(user_id=identity.user_id, tenant_id=identity.tenant_id)
    return identity


class KefuSecurityPolicy:
    def identity(self, request: Request) -> Identity | None:
        # Reified per request: resolution reads the database once.
        if not hasattr(request, "_kefu_identity"):
            request._kefu_identity = _resolve(request)
        return request._kefu_identity

    def authenticated_userid(self, request: Request) -> str | None:
        identity = self.identity(request)
        return str(identity.user_id) if identity else None

    def permits(self, request: Request, context: Any, permission: str) -> Allowed | Denied:
        identity = self.identity(request)
        if identity is None:
            return Denied("not logged in")
        if permission in identity.permissions:
            return Allowed(f"granted by roles {sorted(identity.roles)}")
        return Denied(f"{permission} is not granted to roles {sorted(identity.roles)}")

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        return []  # login sessions are opened by the login view, which sets the cookie

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return []


def request_tenant(request: Request) -> Tenant | None:
    """The tenant the request acts in, from its identity (None when anonymous or unset)."""
    identity = request.identity
    if identity is None or identity.tenant_id is None:
        return None
    return request.db.get(Tenant, identity.tenant_id)
