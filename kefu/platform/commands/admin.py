"""``kefu tenant``, ``kefu user``, ``kefu token`` and ``kefu demo``: manage who uses kefu."""

from __future__ import annotations

import sys

import click

from kefu.platform.context import Platform
from kefu.platform.identity.models import Role
from kefu.platform.identity.passwords import WeakPasswordError
from kefu.platform.identity.services import IdentityError, IdentityService
from kefu.platform.tenancy.scope import cross_tenant
from kefu.platform.tenancy.services import TenantError, TenantService


def _platform(obj) -> Platform:
    return Platform(obj.settings)


@click.group("tenant")
def tenant() -> None:
    """Tenants: the organisations served by this kefu."""


@tenant.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Display name.")
@click.option("--time-zone", default="UTC", show_default=True, help="IANA time zone.")
@click.option("--locale", default="en", show_default=True)
@click.pass_obj
def tenant_add(obj, slug: str, name: str, time_zone: str, locale: str) -> None:
    """Create tenant SLUG."""
    with _platform(obj) as platform, platform.session() as db:
        try:
            created = TenantService(db).create(slug, name, time_zone=time_zone,
                                               default_locale=locale)
        except TenantError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(f"tenant {created.slug} created ({created.id})")


@tenant.command("list")
@click.pass_obj
def tenant_list(obj) -> None:
    """List tenants."""
    with _platform(obj) as platform, platform.session() as db:
        for row in TenantService(db).all():
            click.echo(f"{row.slug}\t{row.status.value}\t{row.time_zone}\t{row.name}")


def _read_password(password_stdin: bool) -> str | None:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return None


@click.group("user")
def user() -> None:
    """Users and their roles in tenants."""


@user.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--tenant", "tenant_slug", help="Tenant to grant roles in.")
@click.option("--role", "roles", multiple=True, type=click.Choice([r.value for r in Role]),
              help="Role in the tenant (repeat for several).")
@click.option("--superuser", is_flag=True, help="Platform operator: manages every tenant.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def user_add(  # noqa: PLR0917 - click passes every option positionally
    obj, email: str, name: str, tenant_slug: str | None, roles: tuple[str, ...],
             superuser: bool, password_stdin: bool) -> None:
    """Create user EMAIL (or add roles to an existing one). Asks for a password on a
    terminal; without one the user cannot log in until a password is set."""
    if roles and not tenant_slug:
        raise click.UsageError("--role needs --tenant")
    with _platform(obj) as platform, platform.session() as db:
        service = IdentityService(db)
        target = None
        if tenant_slug:
            target = TenantService(db).by_slug(tenant_slug)
            if target is None:
                raise click.ClickException(f"no tenant {tenant_slug!r} (see `kefu tenant list`)")
        existing = service.user_by_email(email)
        try:
            account = existing or service.create_user(
                email, name, _read_password(password_stdin), superuser=superuser)
        except (IdentityError, WeakPasswordError) as exc:
            raise click.ClickException(str(exc)) from None
        for role in roles:
            service.grant(account, target.id, Role(role))  # type: ignore[union-attr]
        db.commit()
        verb = "updated" if existing else "created"
        click.echo(f"user {account.email} {verb}" + (f"; roles in {tenant_slug}: "
                                                     f"{', '.join(roles)}" if roles else ""))


@click.group("token")
def token() -> None:
    """API tokens for machine clients."""


@token.command("add")
@click.argument("email")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--name", default="cli", show_default=True)
@click.pass_obj
def token_add(obj, email: str, tenant_slug: str, name: str) -> None:
    """Create an API token acting as EMAIL in a tenant; prints the secret once."""
    with _platform(obj) as platform, platform.session() as db:
        service = IdentityService(db)
        account = service.user_by_email(email)
        target = TenantService(db).by_slug(tenant_slug)
        if account is None or target is None:
            raise click.ClickException("unknown user or tenant")
        try:
            secret, _row = service.create_api_token(account, target.id, name)
        except IdentityError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(secret)


@click.group("demo")
def demo() -> None:
    """The demo tenant."""


@demo.command("load")
@click.pass_obj
def demo_load(obj) -> None:
    """Create the demo tenant, its users, agents and customers (idempotent)."""
    from kefu.platform.demo import DEMO_PASSWORD, DEMO_USERS, load_demo

    with _platform(obj) as platform:
        with platform.session() as db, cross_tenant(db):
            result = load_demo(db)
            db.commit()
        state = "created" if result.created else "already there"
        click.echo(f"demo tenant {state}; log in with one of these (password {DEMO_PASSWORD}):")
        for email, _name, roles, superuser in DEMO_USERS:
            what = "platform operator" if superuser else ", ".join(r.value for r in roles)
            click.echo(f"  {email:28} {what}")

