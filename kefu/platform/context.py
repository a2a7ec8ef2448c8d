"""The composition root: one ``Platform`` built from settings, shared by every process kind
(``kefu serve``, ``web``, ``runtime``, ``worker`` and the CLI). It owns the database engine,
the event bus and the job queue, each chosen by settings, never by code changes."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import kefu.platform.models  # noqa: F401 - every mapper configured, whatever the process uses
from kefu.platform.db import create_engine, make_session_factory
from kefu.platform.settings import Settings, ensure_secret_key
from kefu.platform.tenancy.scope import bind_tenant

if TYPE_CHECKING:
    from kefu.platform.configs.cache import ConfigCache
    from kefu.platform.events import EventBus
    from kefu.platform.jobs import JobQueue
    from kefu.platform.routing.registry import AcdRegistry


class Platform:
    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = ensure_secret_key(settings)
        self.engine = engine or create_engine(self.settings.database_url)
        self.session_factory: sessionmaker[Session] = make_session_factory(self.engine)

    def session(self, tenant_id: uuid.UUID | None = None) -> Session:
        """A new ORM session, scoped to ``tenant_id`` when given (jobs and channels pass it
        explicitly; see ``kefu.platform.tenancy.scope``)."""
        session = self.session_factory()
        if tenant_id is not None:
            bind_tenant(session, tenant_id)
        return session

    @cached_property
    def bus(self) -> EventBus:
        from kefu.platform.events import make_event_bus

        return make_event_bus(self.settings)

    @cached_property
    def configs(self) -> ConfigCache:
        """Compiled tenant configs: the deployed one for new interactions, any by version."""
        from kefu.platform.configs.cache import ConfigCache

        return ConfigCache(self.session_factory)

    @cached_property
    def jobs(self) -> JobQueue:
        from kefu.platform.jobs import make_job_queue

        return make_job_queue(self.settings, session_factory=self.session_factory, events=self.bus)

    @cached_property
    def acd(self) -> AcdRegistry:
        """Each tenant's ACD state and router (memory, or Redis when configured)."""
        from kefu.platform.routing.registry import AcdRegistry

        return AcdRegistry(self.settings)

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in ("jobs", "bus", "acd"):
            component: Any = self.__dict__.get(name)
            if component is not None and hasattr(component, "close"):
                component.close()
        self.engine.dispose()
