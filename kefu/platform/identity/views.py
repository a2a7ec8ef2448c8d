"""Login, logout and choosing the tenant to work in."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from kefu.platform.audit import services as audit
from kefu.platform.db import utcnow
from kefu.platform.identity.security import SESSION_COOKIE
from kefu.platform.identity.services import IdentityService

MAX_LOGIN_FAILURES = 10
LOGIN_FAILURE_WINDOW = 15 * 60  # seconds


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot be an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = request.registry["kefu.settings"]
    response.set_cookie(
        SESSION_COOKIE, token, max_age=settings["session.max_age"], httponly=True,
        samesite="Lax", secure=settings["http.secure_cookies"], path="/",
    )


@view_config(route_name="login", request_method="GET", renderer="login.html")
def login_form(request: Request) -> dict[str, Any]:
    return {"error": None, "email": "", "next": _safe_next(request.params.get("next"))}


@view_config(route_name="login", request_method="POST", renderer="login.html")
def login_submit(request: Request) -> Any:
    email = request.POST.get("email", "").strip()
    password = request.POST.get("password", "")
    next_url = _safe_next(request.POST.get("next"))
    service = IdentityService(request.db)
    # Failures are counted per email (hashed: the audit column is short) to stop password
    # guessing against one account; the password is not even checked while throttled.
    email_key = ("email", hashlib.sha256(email.strip().lower().encode()).hexdigest())
    since = utcnow() - timedelta(seconds=LOGIN_FAILURE_WINDOW)
    if audit.count_since(request.db, "login.failed", email_key, since) >= MAX_LOGIN_FAILURES:
        request.response.status_int = 429
        minutes = LOGIN_FAILURE_WINDOW // 60
        return {"error": f"Too many failed attempts for this account. Try again in {minutes} "
                         "minutes.", "email": email, "next": next_url}
    user = service.authenticate(email, password) if email and password else None
    if user is None:
        audit.record(request.db, "login.failed", tenant_id=None, actor_user_id=None,
                     details={"email": email[:254]}, remote_addr=request.client_addr,
                     target_key=email_key)
        request.response.status_int = 400
        return {"error": "Wrong email or password.", "email": email, "next": next_url}
    tenants = service.tenants_of(user)
    token, row = service.start_session(
        user, tenants[0].id if tenants else None,
        max_age=request.registry["kefu.settings"]["session.max_age"],
        remote_addr=request.client_addr, user_agent=request.user_agent,
    )
    audit.record(request.db, "login", tenant_id=row.tenant_id, actor_user_id=user.id,
                 remote_addr=request.client_addr)
    response = HTTPSeeOther(location=next_url)
    _set_session_cookie(request, response, token)
    return response


@view_config(route_name="logout", request_method="POST")
def logout(request: Request) -> Response:
    identity = request.identity
    if identity is not None and identity.via == "session":
        IdentityService(request.db).end_session(identity.credential_id)
        audit.record(request.db, "logout", tenant_id=identity.tenant_id,
                     actor_user_id=identity.user_id, remote_addr=request.client_addr)
    response = HTTPSeeOther(location=request.route_path("login"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@view_config(route_name="switch_tenant", request_method="POST")
def switch_tenant(request: Request) -> Response:
    identity = request.identity
    login = getattr(request, "login_session", None)
    if identity is None or login is None:
        return HTTPSeeOther(location=request.route_path("login"))
    try:
        wanted = uuid.UUID(request.POST.get("tenant_id", ""))
    except ValueError:
        raise HTTPBadRequest("tenant_id is not a tenant id") from None
    service = IdentityService(request.db)
    user = login.user
    if wanted not in {t.id for t in service.tenants_of(user)}:
        raise HTTPBadRequest("you are not a member of that tenant")
    login.tenant_id = wanted
    audit.record(request.db, "tenant.switch", tenant_id=wanted, actor_user_id=user.id,
                 remote_addr=request.client_addr)
    return HTTPSeeOther(location="/")
