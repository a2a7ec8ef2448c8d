"""Alembic environment. The config is built in code by ``kefu.platform.migrate``; the
engine URL comes from kefu's settings, never from an alembic.ini."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

import kefu.platform.models  # noqa: F401 - registers every table on Base.metadata
from kefu.platform.db import Base, create_engine

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _render_item(type_: str, obj: object, autogen_context: Any) -> str | Literal[False]:
    """Render kefu's column types as plain SQLAlchemy types, so migrations never import
    application code that may change later."""
    from sqlalchemy import JSON

    from kefu.platform.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def _run(connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=is_sqlite,
        compare_type=True,
        render_item=_render_item,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Fail fast rather than queue behind a long lock while the old release serves,
            # and let only one process migrate at a time.
            context.execute("SET LOCAL lock_timeout = '5s'")
            context.execute("SELECT pg_advisory_xact_lock(4242001)")
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `kefu db upgrade`")
run_migrations_online()
