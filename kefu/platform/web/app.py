"""Builds the Pyramid application. Features plug in with ``includeme``; the order below
matters where a comment says so."""

from __future__ import annotations

from typing import Any

import zope.sqlalchemy
from pyramid.config import Configurator
from pyramid.csrf import CookieCSRFStoragePolicy
from pyramid.request import Request
from sqlalchemy.orm import Session

from kefu.platform.context import Platform


def _db(request: Request) -> Session:
    platform: Platform = request.registry["kefu.platform"]
    session = platform.session()
    # One transaction per request: pyramid_tm commits when the view returns and aborts when
    # it raises (or an exception view rendered the response).
    zope.sqlalchemy.register(session, transaction_manager=request.tm)
    request.add_finished_callback(lambda _request: session.close())
    return session


def _enqueue(request: Request, func: Any, *args: Any, **kwargs: Any) -> str:
    """Queue a job once this request's transaction commits (dropped if it rolls back)."""
    from kefu.platform.jobs import enqueue_after_commit

    return enqueue_after_commit(request.db, request.platform.jobs, func, *args, **kwargs)


def _publish(request: Request, name: str, data: dict[str, Any]) -> None:
    """Publish ``tenant.<tenant>.<name>`` on the bus once this request's transaction commits,
    so no socket ever sees an event for a change that was rolled back."""
    from kefu.platform.events.after_commit import publish_after_commit
    from kefu.platform.web.realtime import tenant_topic

    publish_after_commit(request.db, request.platform.bus, tenant_topic(request.tenant.id, name),
                         data)
    # A request that writes nothing (an agent typing) would end in a read-only transaction
    # that zope.sqlalchemy never commits, and the event would never go: make it commit.
    zope.sqlalchemy.mark_changed(request.db)


def _platform(request: Request) -> Platform:
    return request.registry["kefu.platform"]


def configure(platform: Platform, **overrides: Any) -> Configurator:
    settings = platform.settings
    pyramid_settings = {
        "tm.manager_hook": "pyramid_tm.explicit_manager",
        "jinja2.directories": "kefu.platform:templates",
        "jinja2.autoescape": True,
        "jinja2.undefined": "strict",
        **overrides,
    }
    config = Configurator(settings=pyramid_settings)
    config.registry["kefu.platform"] = platform
    config.registry["kefu.settings"] = settings

    config.include("pyramid_tm")  # transaction per request; must wrap everything below
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html")
    config.add_request_method(_db, "db", reify=True)
    config.add_request_method(_platform, "platform", reify=True)
    config.add_request_method(_enqueue, "enqueue")
    config.add_request_method(_publish, "publish")

    # Double-submit cookie CSRF on every unsafe method of a cookie-authenticated (or anonymous)
    # request; bearer-token clients carry no ambient credential and are exempt.
    config.set_csrf_storage_policy(CookieCSRFStoragePolicy(
        cookie_name="kefu_csrf", secure=settings["http.secure_cookies"], samesite="Lax"))
    config.set_default_csrf_options(
        require_csrf=True,
        callback=lambda request: getattr(request.identity, "via", None) != "token",
    )

    config.include("kefu.platform.web.tweens")  # request ids, log context, body limits
    config.include("kefu.platform.identity")  # security policy, request.tenant, login pages
    config.include("kefu.platform.web.health")
    config.include("kefu.platform.web.pages")  # home and admin pages
    config.include("kefu.platform.web.portal_pages")  # agent desktop, supervisor console
    config.include("kefu.platform.api")  # /api/v1 and its error views
    for channel_routes in CHANNEL_ROUTES:  # widget script, chat uploads, gateway callbacks
        config.include(channel_routes)
    config.add_static_view("static", "kefu.platform:static", cache_max_age=3600)
    return config


#: Modules with an ``includeme`` adding channel HTTP routes outside ``/api/v1`` (each is
#: authenticated by its own means: a chat visitor token, a gateway's shared secret).
CHANNEL_ROUTES: tuple[str, ...] = (
    "kefu.platform.messaging.sms_callbacks",  # Kannel MO and DLR
    "kefu.platform.messaging.webchat_http",  # widget script, chat uploads and downloads
)


def make_wsgi_app(platform: Platform, **overrides: Any) -> Any:
    return configure(platform, **overrides).make_wsgi_app()
