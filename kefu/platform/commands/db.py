"""``kefu db``: migrate the database schema."""

from __future__ import annotations

import click

from kefu.platform import migrate
from kefu.platform.db import create_engine


@click.group("db")
def command() -> None:
    """Database schema migrations (Alembic)."""


@command.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def upgrade(obj, revision: str) -> None:
    """Upgrade the schema to REVISION (default: the latest)."""
    migrate.upgrade(obj.settings.database_url, revision)
    click.echo(f"database at {revision}")


@command.command("downgrade")
@click.argument("revision")
@click.pass_obj
def downgrade(obj, revision: str) -> None:
    """Downgrade the schema to REVISION ('base' removes every table)."""
    migrate.downgrade(obj.settings.database_url, revision)
    click.echo(f"database at {revision}")


@command.command("current")
@click.pass_obj
def current(obj) -> None:
    """Print the database's revision and the latest one."""
    engine = create_engine(obj.settings.database_url)
    click.echo(f"current: {migrate.current_revision(engine)}  head: {migrate.head_revision()}")
    engine.dispose()


@command.command("check")
@click.pass_obj
def check(obj) -> None:
    """Fail if the database is not at head or the models drifted from the migrations."""
    engine = create_engine(obj.settings.database_url)
    try:
        current_rev, head = migrate.current_revision(engine), migrate.head_revision()
        if current_rev != head:
            raise click.ClickException(f"database at {current_rev}, latest is {head}")
        differences = migrate.drift(engine)
    finally:
        engine.dispose()
    if differences:
        lines = "\n".join(f"  {d}" for d in differences)
        raise click.ClickException(f"models and migrations differ:\n{lines}")
    click.echo("database is at head and matches the models")
