"""Server-rendered pages: the home page, the admin page (tenants and users) and the web chat
demo page."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.events import BeforeRender, subscriber
from pyramid.httpexceptions import HTTPForbidden, HTTPSeeOther
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import forbidden_view_config, view_config

from kefu.platform.identity.permissions import Permission
from kefu.platform.identity.services import IdentityService
from kefu.platform.web.directory import Directory


@subscriber(BeforeRender)
def _page_globals(event: BeforeRender) -> None:
    """What every page template may use: who is logged in, the tenant, the tenants they can
    switch to and the CSRF token for forms."""
    request = event.get("request")
    if request is None or (event.rendering_val is not None
                           and not isinstance(event.rendering_val, dict)):
        return
    identity = request.identity
    tenants: list[Any] = []
    login = getattr(request, "login_session", None)
    if identity is not None and login is not None:
        tenants = IdentityService(request.db).tenants_of(login.user)
    event.setdefault("identity", identity)
    event.setdefault("tenant", request.tenant)
    event.setdefault("tenants", tenants)
    event.setdefault("csrf_token", get_csrf_token(request))


def _page(request: Request, **values: Any) -> dict[str, Any]:
    return values


@view_config(route_name="home", renderer="home.html", permission=Permission.TENANT_READ)
def home(request: Request) -> dict[str, Any]:
    return _page(request)


@view_config(route_name="admin", renderer="admin.html", permission=Permission.USERS_READ)
def admin(request: Request) -> dict[str, Any]:
    directory = Directory(request.db, request.identity)
    return _page(request, tenant_rows=directory.tenants(), user_rows=directory.users())


@view_config(route_name="chat_demo", renderer="chat_demo.html",
             permission=NO_PERMISSION_REQUIRED)
def chat_demo(request: Request) -> dict[str, Any]:
    """A stand-in for a tenant's website with the chat widget on it, to try web chat (the
    README's first five minutes). Public: the widget key is public by design."""
    key = str(request.params.get("key", "demo-widget"))[:100]
    chinese = str(request.params.get("lang", "")).startswith("zh")
    return {"key": key, "script_url": request.route_url("chat_demo").rsplit("/", 1)[0]
            + "/widget.js", "lang": "zh" if chinese else "en",
            "lang_locale": "zh_CN" if chinese else "en"}


@forbidden_view_config(renderer="forbidden.html")
def forbidden(exc: HTTPForbidden, request: Request) -> Any:
    if request.path.startswith("/api/"):
        from kefu.platform.api.errors import forbidden_json

        return forbidden_json(exc, request)
    if request.identity is None:
        return HTTPSeeOther(location=request.route_path("login", _query={"next": request.path}))
    request.response.status_int = 403
    return _page(request, reason=str(exc.result or "not allowed"))


def includeme(config: Configurator) -> None:
    config.add_route("home", "/")
    config.add_route("admin", "/admin")
    config.add_route("chat_demo", "/chat/demo")
    config.scan(__name__)
