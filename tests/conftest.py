"""Shared fixtures. The backend under test is chosen by ``KEFU_TEST_BACKEND``:

- ``embedded`` (default): SQLite + in-process event bus and job runner;
- ``production``: PostgreSQL + Redis, with URLs from ``KEFU_TEST_DATABASE_URL`` /
  ``KEFU_TEST_REDIS_URL`` (defaults: the local services on 127.0.0.1).

``bin/test`` runs the whole suite once per backend.
"""

from __future__ import annotations

import os
import uuid as _uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import Factory, WebClient

BACKEND = os.environ.get("KEFU_TEST_BACKEND", "embedded")
if BACKEND not in {"embedded", "production"}:
    raise pytest.UsageError(f"KEFU_TEST_BACKEND must be embedded or production, not {BACKEND!r}")

POSTGRES_URL = os.environ.get(
    "KEFU_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of the machine, for contract tests that exercise the Redis implementations in
    both passes (they are parametrized over both implementations anyway)."""
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return POSTGRES_URL


# --- database and platform -----------------------------------------------------------------


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for the test session, on the backend under test."""
    from kefu.platform import migrate

    if BACKEND == "embedded":
        path = tmp_path_factory.mktemp("db") / "kefu.sqlite3"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    name = f"kefu_test_{_worker_suffix()}_{_uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kefu.platform.settings import load_settings

    env = {
        "KEFU_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "KEFU_DATABASE_URL": database_url,
        "KEFU_LOG_FORMAT": "text",
    }
    if BACKEND == "production":
        env["KEFU_REDIS_URL"] = REDIS_URL
    return load_settings(environ=env)


@pytest.fixture(scope="session")
def platform(settings: Any) -> Iterator[Any]:
    from kefu.platform.context import Platform

    platform = Platform(settings)
    yield platform
    platform.close()


def _wipe(engine: sa.Engine) -> None:
    """Delete every row (children first), keeping the migrated schema for the next test."""
    from kefu.platform.db import Base

    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def factory(platform: Any) -> Iterator[Factory]:
    """Builds tenants, users and records with real commits; wipes the database afterwards."""
    yield Factory(platform)
    _wipe(platform.engine)


@pytest.fixture(scope="session")
def wsgi_app(platform: Any) -> Any:
    from kefu.platform.web.app import make_wsgi_app

    return make_wsgi_app(platform)


@pytest.fixture
def web(wsgi_app: Any, factory: Factory) -> Any:
    """``web(user)`` → a logged-in browser-like client; ``web()`` → an anonymous one."""

    def make(user: Any = None, password: str = Factory.PASSWORD) -> WebClient:
        client = WebClient(wsgi_app)
        if user is not None:
            client.login(user.email, password)
        return client

    return make


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
