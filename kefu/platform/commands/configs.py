"""``kefu apply`` and ``kefu rollback``: deploy a tenant's config versions from the command
line (the same store and checks as ``/api/v1/configs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kefu.platform.context import Platform

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.platform.tenancy.models import Tenant


def _tenant_session(platform: Platform, slug: str) -> tuple[Session, Tenant]:
    from kefu.platform.tenancy.scope import bind_tenant
    from kefu.platform.tenancy.services import TenantService

    db = platform.session()
    tenant = TenantService(db).by_slug(slug)
    if tenant is None:
        db.close()
        raise click.ClickException(f"no tenant {slug!r} (see `kefu tenant list`)")
    bind_tenant(db, tenant.id)
    return db, tenant


def _announce(platform: Platform, db: Session, tenant_id: Any, version: int) -> None:
    """Tell runtime processes (through Redis) to switch new interactions to the version; in
    embedded mode they notice within seconds by themselves."""
    if platform.settings.embedded:
        return
    from kefu.platform.events.after_commit import publish_after_commit

    publish_after_commit(db, platform.bus, f"tenant.{tenant_id}.config.deploy",
                         {"version": version, "via": "cli"})


def _prompt_jobs(platform: Platform) -> Any:
    """The queue for the deploy's prompt synthesis: RQ in production; in embedded mode this
    process's runner would exit with the command, so prompts are synthesized when said."""
    return None if platform.settings.embedded else platform.jobs


@click.command("apply")
@click.argument("path", type=click.Path(exists=True))
@click.option("--tenant", "slug", required=True, help="Tenant to deploy to.")
@click.option("-m", "--message", default="", help="What changed, like a commit message.")
@click.option("--author", help="Email of the user applying it (recorded with the version).")
@click.pass_obj
def apply(obj: Any, path: str, slug: str, message: str, author: str | None) -> None:
    """Check PATH, store it as the tenant's next config version and deploy it."""
    from kefu.dsl.loader import read_sources
    from kefu.platform.audit import services as audit
    from kefu.platform.configs.models import ConfigStatus
    from kefu.platform.configs.services import ConfigService
    from kefu.platform.identity.services import IdentityService

    files, _entry = read_sources(path)
    with Platform(obj.settings) as platform:
        db, tenant = _tenant_session(platform, slug)
        with db:
            author_id = None
            if author:
                user = IdentityService(db).user_by_email(author)
                if user is None:
                    raise click.ClickException(f"no user {author!r}")
                author_id = user.id
            service = ConfigService(db)
            planned, changes = service.plan(files)
            deployed = service.deployed()
            if (deployed is not None and planned.compiled_hash is not None
                    and planned.compiled_hash == deployed.compiled_hash):
                click.echo(f"{slug}: no changes; version {deployed.version} stays deployed")
                return
            version = service.store(files, message, author_id)
            if version.status != ConfigStatus.VALID:
                db.commit()  # the invalid version is kept, with its diagnostics, for the record
                for diagnostic in version.diagnostics:
                    if diagnostic["severity"] == "error":
                        click.echo(f"{diagnostic['file']}:{diagnostic['line']}:"
                                   f"{diagnostic['column']}: {diagnostic['message']}", err=True)
                raise click.ClickException(
                    f"version {version.version} has errors and was not deployed")
            service.deploy(version.id, jobs=_prompt_jobs(platform))
            audit.record(db, "config.deploy", tenant_id=tenant.id, actor_user_id=author_id,
                         target=version, details={"version": version.version, "via": "cli"})
            _announce(platform, db, tenant.id, version.version)
            db.commit()
    for line in changes:
        click.echo(f"  {line}")
    click.echo(f"{slug}: version {version.version} deployed "
               f"({len(changes)} change(s), {version.compiled_hash})")


@click.command("rollback")
@click.option("--tenant", "slug", required=True)
@click.option("--to", "to_version", type=int, required=True, help="Version number to deploy.")
@click.pass_obj
def rollback(obj: Any, slug: str, to_version: int) -> None:
    """Deploy an earlier config version of a tenant again."""
    import sqlalchemy as sa

    from kefu.platform.audit import services as audit
    from kefu.platform.configs.models import ConfigVersion
    from kefu.platform.configs.services import ConfigError, ConfigService

    with Platform(obj.settings) as platform:
        db, tenant = _tenant_session(platform, slug)
        with db:
            version = db.scalar(sa.select(ConfigVersion).where(ConfigVersion.version == to_version))
            if version is None:
                raise click.ClickException(f"{slug} has no config version {to_version}")
            try:
                ConfigService(db).deploy(version.id, jobs=_prompt_jobs(platform))
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            audit.record(db, "config.deploy", tenant_id=tenant.id, actor_user_id=None,
                         target=version, details={"version": to_version, "via": "cli rollback"})
            _announce(platform, db, tenant.id, to_version)
            db.commit()
    click.echo(f"{slug}: version {to_version} deployed again")
