"""Shared fixtures. The backend under test is chosen by ``KEFU_TEST_BACKEND``:

- ``embedded`` (default): SQLite + in-process event bus and job runner;
- ``production``: PostgreSQL + Redis, with URLs from ``KEFU_TEST_DATABASE_URL`` /
  ``KEFU_TEST_REDIS_URL`` (defaults: the local services on 127.0.0.1).

``bin/test`` runs the whole suite once per backend.
"""

from __future__ import annotations

import os

import pytest

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
