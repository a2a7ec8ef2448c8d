"""Alembic: an empty database upgrades to head and back on both SQLite and PostgreSQL, and
the models never drift from the migrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kefu.platform import migrate
from kefu.platform.cli import main
from kefu.platform.db import Base, create_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"kefu_migrate_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_to_head_then_back_to_base(empty_database: str) -> None:
    import kefu.platform.models  # noqa: F401 - every table on Base.metadata

    engine = create_engine(empty_database)
    try:
        migrate.upgrade(empty_database)
        assert migrate.current_revision(engine) == migrate.head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert migrate.drift(engine) == []

        migrate.downgrade(empty_database, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        # And up again: a downgrade leaves nothing behind that breaks the next upgrade.
        migrate.upgrade(empty_database)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_drift_is_detected(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    engine = create_engine(empty_database)
    extra = sa.Column("surprise", sa.String(10))
    table = Base.metadata.tables["customers"]
    table.append_column(extra)
    try:
        differences = migrate.drift(engine)
        assert any("surprise" in str(d) for d in differences)
    finally:
        table._columns.remove(extra)  # restore the shared metadata for other tests
        engine.dispose()
    engine = create_engine(empty_database)
    assert migrate.drift(engine) == []
    engine.dispose()


def test_db_commands(empty_database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"KEFU_DATABASE_URL": empty_database, "KEFU_DATA_DIR": str(tmp_path)}
    behind = runner.invoke(main, ["db", "check"], env=env)
    assert behind.exit_code == 1
    assert "database at None" in behind.output
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    checked = runner.invoke(main, ["db", "check"], env=env)
    assert checked.exit_code == 0, checked.output
    assert "matches the models" in checked.output
    down = runner.invoke(main, ["db", "downgrade", "base"], env=env)
    assert down.exit_code == 0, down.output
    current = runner.invoke(main, ["db", "current"], env=env)
    assert "current: None" in current.output
