"""`kefu apply`, `kefu rollback` and `kefu plan --tenant` against the config-version store."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kefu.platform.audit.models import AuditEntry
from kefu.platform.cli import main
from kefu.platform.configs.models import ConfigStatus, ConfigVersion

DEMO = Path(__file__).resolve().parents[3] / "tenants" / "demo"


@pytest.fixture
def run(settings: Any, factory: Any) -> Any:
    env = {"KEFU_DATABASE_URL": settings.database_url, "KEFU_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), env=env)


@pytest.fixture
def tenant(factory: Any) -> Any:
    tenant = factory.tenant("acme")
    factory.user(tenant, email="ana@acme.test")
    return tenant


def _versions(factory: Any, tenant: Any) -> dict[int, ConfigStatus]:
    with factory.session(tenant) as db:
        rows = db.execute(sa.select(ConfigVersion.version, ConfigVersion.status)).all()
        return dict(rows)  # type: ignore[arg-type]


def test_apply_plan_and_rollback(run, factory, tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    applied = run("apply", str(DEMO), "--tenant", "acme", "-m", "first", "--author", "ana@acme.test")
    assert applied.exit_code == 0, applied.output
    assert "acme: version 1 deployed" in applied.output

    again = run("apply", str(DEMO), "--tenant", "acme")
    assert "no changes; version 1 stays deployed" in again.output

    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    people = changed / "people.kefu"
    assert "wrap_up 30s" in people.read_text(encoding="utf-8")
    people.write_text(people.read_text(encoding="utf-8").replace("wrap_up 30s", "wrap_up 45s"),
                      encoding="utf-8")
    plan = run("plan", str(changed), "--tenant", "acme")
    assert plan.exit_code == 0, plan.output
    assert "wrap up 30 → 45" in plan.output
    assert _versions(factory, tenant) == {1: ConfigStatus.DEPLOYED}  # planning stores nothing

    assert run("apply", str(changed), "--tenant", "acme", "-m", "longer").exit_code == 0
    assert _versions(factory, tenant) == {1: ConfigStatus.SUPERSEDED, 2: ConfigStatus.DEPLOYED}

    back = run("rollback", "--tenant", "acme", "--to", "1")
    assert back.exit_code == 0, back.output
    assert _versions(factory, tenant) == {1: ConfigStatus.DEPLOYED, 2: ConfigStatus.SUPERSEDED}
    with factory.session() as db:
        deploys = db.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.action == "config.deploy")).all()
    assert len(deploys) == 3


def test_apply_refuses_a_broken_config_but_keeps_it_for_the_record(run, factory, tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "tenant.kefu"
    broken.write_text("tenant acme {\n  name \"Acme\"\n", encoding="utf-8")
    result = run("apply", str(broken), "--tenant", "acme")
    assert result.exit_code == 1
    assert "tenant.kefu:1:13: this `{` is never closed" in result.output
    assert "version 1 has errors and was not deployed" in result.output
    assert _versions(factory, tenant) == {1: ConfigStatus.INVALID}


@pytest.mark.parametrize(("args", "message"), [
    (("rollback", "--tenant", "acme", "--to", "7"), "acme has no config version 7"),
    (("rollback", "--tenant", "nope", "--to", "1"), "no tenant 'nope'"),
    (("apply", str(DEMO), "--tenant", "acme", "--author", "ghost@x.test"), "no user 'ghost@x.test'"),
    (("plan", str(DEMO)), "give either --against OTHER or --tenant SLUG"),
])
def test_mistakes_are_explained(run, tenant, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_demo_load_deploys_the_demo_config(run, factory) -> None:  # type: ignore[no-untyped-def]
    assert run("demo", "load").exit_code == 0
    from kefu.platform.tenancy.models import Tenant
    from kefu.platform.tenancy.scope import cross_tenant

    with factory.session() as db, cross_tenant(db):
        demo = db.scalar(sa.select(Tenant).where(Tenant.slug == "demo"))
        version = db.scalar(sa.select(ConfigVersion).where(ConfigVersion.tenant_id == demo.id))
    assert version.status == ConfigStatus.DEPLOYED
    assert "tenant.kefu" in version.source
    assert not any(name.startswith("tests/") for name in version.source)
