"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.view import view_config

from kefu.platform import migrate

log = logging.getLogger("kefu.health")


@view_config(route_name="healthz", renderer="json", require_csrf=False)
def healthz(request: Request) -> dict[str, Any]:
    """The process is up and answering."""
    return {"status": "ok"}


@view_config(route_name="readyz", renderer="json", require_csrf=False)
def readyz(request: Request) -> dict[str, Any]:
    """Ready to serve: the database answers and is migrated; Redis answers when configured."""
    platform = request.platform
    checks: dict[str, str] = {}
    try:
        with platform.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        current = migrate.current_revision(platform.engine)
        head = migrate.head_revision()
        checks["database"] = "ok" if current == head else f"at {current}, expected {head}"
    except Exception as exc:  # any failure means not ready; the message says which
        log.warning("readiness: database check failed: %s", exc)
        checks["database"] = f"error: {type(exc).__name__}"
    if platform.settings.redis_url:
        try:
            import redis

            client = redis.Redis.from_url(platform.settings.redis_url, socket_timeout=2)
            client.ping()
            client.close()
            checks["redis"] = "ok"
        except Exception as exc:  # any failure means not ready; the message says which
            log.warning("readiness: redis check failed: %s", exc)
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    request.response.status_int = 200 if ready else 503
    return {"status": "ready" if ready else "not ready", "checks": checks}


def includeme(config: Configurator) -> None:
    config.add_route("healthz", "/healthz")
    config.add_route("readyz", "/readyz")
    config.scan(__name__)
