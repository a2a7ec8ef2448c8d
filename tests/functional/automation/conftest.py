"""Fixtures for automation: a platform whose jobs really run (the in-process runner in the
embedded pass; a real ``kefu worker`` child process on a queue of its own in the production
pass), its web app, tenants running a deployed config, and helpers to let jobs settle and
to read rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kefu.dsl.loader import read_sources
from kefu.platform.automation.events import job_id_for
from kefu.platform.automation.models import AutomationEvent
from kefu.platform.automation.sweep import dispatch_pending
from kefu.platform.configs.services import ConfigService
from kefu.platform.context import Platform
from kefu.platform.db import utcnow
from kefu.platform.identity.models import Role, User
from kefu.platform.jobs import JobNotFound, JobStatus
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.scope import cross_tenant
from tests.factories import Factory, TokenClient

TENANTS = Path(__file__).resolve().parents[3] / "tenants"
WAIT = 60.0

TEST_CONFIG = (Path(__file__).parent / "automation.kefu").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def auto_platform(settings: Any, platform: Any, backend: str, redis_url: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The test database, with a job queue of its own whose jobs run."""
    queue = f"kefu-auto-{uuid.uuid4().hex[:10]}"
    own = Platform(settings.with_overrides(jobs_queue=queue), engine=platform.engine)
    worker = None
    if backend == "production":
        from kefu.platform.jobs.testing import WorkerProcess

        worker = WorkerProcess({
            "KEFU_REDIS_URL": redis_url, "KEFU_DATABASE_URL": settings.database_url,
            "KEFU_JOBS_QUEUE": queue, "KEFU_DATA_DIR": str(tmp_path_factory.mktemp("worker")),
            "KEFU_LOG_FORMAT": "text"}, tmp_path_factory.mktemp("log") / "worker.log").start()
    else:
        own.jobs.start()
    yield own
    own.jobs.close()
    if worker is not None:
        from kefu.platform.jobs.testing import purge_queue

        worker.stop()
        purge_queue(own.jobs.connection, queue)  # type: ignore[attr-defined]
    own.bus.close()


@pytest.fixture(scope="session")
def auto_app(auto_platform: Platform) -> Any:
    from kefu.platform.web.app import make_wsgi_app

    return make_wsgi_app(auto_platform)


@dataclass
class Tenancy:
    """A tenant running a config, with an admin's API client."""

    tenant: Tenant
    admin: User
    api: TokenClient
    config: Any
    factory: Factory
    app: Any

    def client(self, *roles: Role) -> tuple[User, TokenClient]:
        user = self.factory.user(self.tenant, *roles)
        return user, TokenClient(self.app, self.factory.token(user, self.tenant))

    def session(self) -> Any:
        return self.factory.session(self.tenant)


def deploy(factory: Factory, platform: Platform, tenant: Tenant, files: dict[str, str]) -> Any:
    with factory.session(tenant) as db:
        service = ConfigService(db)
        version = service.store(files, "", None)
        assert version.compiled is not None, version.diagnostics
        service.deploy(version.id)
        db.commit()
    for each in (platform, factory.platform):
        each.configs.invalidate(tenant.id)
    loaded = platform.configs.deployed(tenant.id)
    assert loaded is not None
    return loaded.config


@pytest.fixture
def tenancy(factory: Factory, auto_platform: Platform, auto_app: Any) -> Any:
    """``tenancy(files_or_tenant_dir)`` → a new tenant running that config."""

    def make(source: str | dict[str, str] = "test") -> Tenancy:
        if isinstance(source, str):
            files = ({"tenant.kefu": TEST_CONFIG} if source == "test"
                     else read_sources(TENANTS / source)[0])
        else:
            files = source
        tenant = factory.tenant()
        admin = factory.user(tenant, Role.ADMIN)
        config = deploy(factory, auto_platform, tenant, files)
        return Tenancy(tenant, admin, TokenClient(auto_app, factory.token(admin, tenant)),
                       config, factory, auto_app)

    return make


def settle(platform: Platform, timeout: float = WAIT) -> None:
    """Let every stored event's rules job run (queueing those nobody queued), including the
    events those jobs cause, and fail on a job that failed."""
    deadline = time.monotonic() + timeout
    while True:
        with platform.session() as db, cross_tenant(db):
            pending = list(db.scalars(sa.select(AutomationEvent.id).where(
                AutomationEvent.status == "pending")))
        if not pending:
            return
        assert time.monotonic() < deadline, f"events still pending: {pending}"
        dispatch_pending(platform, utcnow() + timedelta(days=1))
        for event_id in pending:
            try:
                info = platform.jobs.wait(job_id_for(event_id), timeout=max(
                    1.0, deadline - time.monotonic()))
            except JobNotFound:
                continue
            assert info.status == JobStatus.FINISHED, info.error


def rows(tenancy: Tenancy, model: Any, *where: Any, order: Any = None) -> list[Any]:
    with tenancy.session() as db:
        query = sa.select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return list(db.scalars(query))


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)
