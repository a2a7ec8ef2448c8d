"""`kefu tenant`, `kefu user`, `kefu token` and `kefu demo` as an operator uses them."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kefu.platform.cli import main
from kefu.platform.customers.models import Customer
from kefu.platform.identity.models import Membership, User
from kefu.platform.identity.passwords import verify_password
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.scope import cross_tenant


@pytest.fixture
def run(settings: Any, factory: Any) -> Any:
    env = {"KEFU_DATABASE_URL": settings.database_url, "KEFU_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(main, list(args), env=env, input=stdin)

    return invoke


def test_tenant_user_and_token(run, factory, wsgi_app) -> None:  # type: ignore[no-untyped-def]
    created = run("tenant", "add", "gas-co", "--name", "燃气公司", "--time-zone", "Asia/Shanghai")
    assert created.exit_code == 0, created.output
    listed = run("tenant", "list")
    assert "gas-co\tactive\tAsia/Shanghai\t燃气公司" in listed.output

    added = run("user", "add", "wang@gas.test", "--name", "王芳", "--tenant", "gas-co",
                "--role", "agent", "--role", "supervisor", "--password-stdin",
                stdin="a long enough password\n")
    assert added.exit_code == 0, added.output
    with factory.session() as db, cross_tenant(db):
        user = db.scalar(sa.select(User).where(User.email == "wang@gas.test"))
        assert verify_password(user.password_hash, "a long enough password")
        roles = db.scalars(sa.select(Membership.role).where(Membership.user_id == user.id))
        assert sorted(roles) == ["agent", "supervisor"]

    token = run("token", "add", "wang@gas.test", "--tenant", "gas-co")
    assert token.exit_code == 0
    from tests.factories import TokenClient

    client = TokenClient(wsgi_app, token.output.strip())
    assert client.api("GET", "/tenants").json["items"][0]["slug"] == "gas-co"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenant", "add", "Bad Slug!", "--name", "x"), "must be 1-63 lower-case letters"),
        (("tenant", "add", "ok", "--name", "x", "--time-zone", "Mars/Base"), "unknown time zone"),
        (("user", "add", "not-an-email", "--name", "x"), "is not an email address"),
        (("user", "add", "a@b.test", "--name", "x", "--role", "agent"), "--role needs --tenant"),
        (("user", "add", "a@b.test", "--name", "x", "--tenant", "nope", "--role", "agent"),
         "no tenant 'nope'"),
        (("token", "add", "ghost@b.test", "--tenant", "nope"), "unknown user or tenant"),
    ],
)
def test_bad_input_is_explained(run, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_weak_password_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    result = run("user", "add", "weak@b.test", "--name", "x", "--password-stdin", stdin="short\n")
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output


def test_demo_load_is_idempotent(run, factory) -> None:  # type: ignore[no-untyped-def]
    first = run("demo", "load")
    assert first.exit_code == 0, first.output
    assert "demo tenant created" in first.output
    assert "admin@demo.example" in first.output
    second = run("demo", "load")
    assert "already there" in second.output
    with factory.session() as db, cross_tenant(db):
        assert db.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 1
        assert db.scalar(sa.select(sa.func.count()).select_from(Customer)) == 3
        assert db.scalar(sa.select(sa.func.count()).select_from(User)) == 6
