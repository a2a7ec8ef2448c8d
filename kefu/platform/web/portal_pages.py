"""The agent desktop (``/agent``) and the supervisor console (``/supervisor``).

The pages are thin shells: the server renders the frame in the user's language and the ES
modules under ``static/portal/`` draw the rest from ``/api/v1/portal/config`` (the tenant's
deployed config), the JSON API and ``/ws/events``. One set of message catalogues serves both:
``static/portal/i18n/<lang>.json`` is read here for the templates and fetched by the scripts.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.events import BeforeRender, subscriber
from pyramid.request import Request
from pyramid.view import view_config

from kefu.platform.identity.permissions import Permission

LANGUAGES = ("en", "zh")
LANG_COOKIE = "kefu_lang"
_CATALOGUES = Path(__file__).resolve().parents[1] / "static" / "portal" / "i18n"


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """The UI texts of ``lang`` (one of :data:`LANGUAGES`)."""
    with (_CATALOGUES / f"{lang}.json").open(encoding="utf-8") as source:
        texts: dict[str, str] = json.load(source)
    return texts


def _language(value: str | None) -> str | None:
    """``en`` or ``zh`` for a locale name such as ``zh_CN``, ``zh-Hans`` or ``en-GB``."""
    if not value:
        return None
    head = value.strip().lower().replace("-", "_").split("_", maxsplit=1)[0]
    return head if head in LANGUAGES else None


def pick_language(request: Request) -> str:
    """The switch (``?lang=``, then its cookie), else the user's locale, else the tenant's,
    else English."""
    for candidate in (request.params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if (lang := _language(candidate)) is not None:
            return lang
    login = getattr(request, "login_session", None)
    user = getattr(login, "user", None)
    tenant = request.tenant
    for candidate in (getattr(user, "locale", None) if user is not None and user.locale != "en"
                      else None, getattr(tenant, "default_locale", None)):
        if (lang := _language(candidate)) is not None:
            return lang
    return "en"


def translator(lang: str) -> Any:
    """``t(key, **values)``: the catalogue's text with ``{name}`` placeholders filled in."""
    texts = catalogue(lang)

    def translate(key: str, **values: Any) -> str:
        text = texts.get(key, key)
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    return translate


@subscriber(BeforeRender)
def _texts(event: BeforeRender) -> None:
    """Every page template may use ``t('key')`` and ``lang`` (the top bar of every page is
    in the user's language)."""
    request = event.get("request")
    if request is None or (event.rendering_val is not None
                           and not isinstance(event.rendering_val, dict)):
        return
    lang = pick_language(request)
    event.setdefault("lang", lang)
    event.setdefault("t", translator(lang))


def _portal(request: Request, page: str) -> dict[str, Any]:
    lang = pick_language(request)
    if request.params.get("lang") and _language(request.params.get("lang")):
        request.response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600,
                                    samesite="Lax", httponly=True)
    translate = translator(lang)
    identity = request.identity
    boot = {"page": page, "lang": lang, "languages": list(LANGUAGES),
            "user": {"id": str(identity.user_id), "name": identity.display_name},
            "tenant": {"id": str(request.tenant.id), "name": request.tenant.name}}
    return {"t": translate, "lang": lang, "languages": [(code, catalogue(code)["lang.name"])
                                                       for code in LANGUAGES],
            "boot_json": json.dumps(boot, ensure_ascii=False).replace("</", "<\\/")}


@view_config(route_name="portal_agent", renderer="agent.html",
             permission=Permission.INTERACTIONS_WRITE)
def agent_desktop(request: Request) -> dict[str, Any]:
    return _portal(request, "agent")


@view_config(route_name="portal_supervisor", renderer="supervisor.html",
             permission=Permission.SUPERVISE)
def supervisor_console(request: Request) -> dict[str, Any]:
    return _portal(request, "supervisor")


def includeme(config: Configurator) -> None:
    config.add_route("portal_agent", "/agent")
    config.add_route("portal_supervisor", "/supervisor")
    config.scan(__name__)
