"""/healthz and /readyz."""

from __future__ import annotations

from pathlib import Path

from webtest import TestApp

from kefu.platform.context import Platform
from kefu.platform.settings import load_settings
from kefu.platform.web.app import make_wsgi_app


def test_healthz_and_readyz_on_a_migrated_database(wsgi_app, backend) -> None:  # type: ignore[no-untyped-def]
    client = TestApp(wsgi_app)
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz").json
    assert ready["status"] == "ready"
    assert ready["checks"]["database"] == "ok"
    if backend == "production":
        assert ready["checks"]["redis"] == "ok"


def test_readyz_is_503_when_the_schema_is_behind(tmp_path: Path) -> None:
    platform = Platform(load_settings(environ={"KEFU_DATA_DIR": str(tmp_path)}))
    try:
        response = TestApp(make_wsgi_app(platform)).get("/readyz", status=503)
        assert response.json["status"] == "not ready"
        assert response.json["checks"]["database"].startswith("at None, expected")
        assert TestApp(make_wsgi_app(platform)).get("/healthz").status_int == 200
    finally:
        platform.close()


def test_readyz_is_503_when_redis_is_unreachable(tmp_path: Path, database_url: str) -> None:
    platform = Platform(load_settings(environ={
        "KEFU_DATA_DIR": str(tmp_path), "KEFU_DATABASE_URL": database_url,
        # Port 1 on loopback: nothing listens there, the connection is refused at once.
        "KEFU_REDIS_URL": "redis://127.0.0.1:1/0"}))
    try:
        body = TestApp(make_wsgi_app(platform)).get("/readyz", status=503).json
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("error")
    finally:
        platform.close()
