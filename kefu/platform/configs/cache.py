"""Compiled tenant configs for the runtime: hot reload without disturbing calls in progress.

- ``deployed(tenant_id)`` gives the version new interactions start on. It is refreshed when a
  ``tenant.<id>.config.deploy`` event arrives (``follow_deployments`` runs in every runtime
  process) and, because a deploy from another machine's CLI may not reach this process's bus,
  re-checked against the database at most every ``recheck_seconds``.
- ``for_version(tenant_id, version_id)`` gives any version by id, so an interaction keeps
  running on the version it started with until it ends. Versions are immutable, so they are
  cached without expiry (least recently used dropped past ``max_versions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.platform.tenancy.scope import bind_tenant

if TYPE_CHECKING:
    from kefu.dsl.ir import Config
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedConfig:
    version_id: uuid.UUID
    version: int
    compiled_hash: str
    config: Config


class ConfigCache:
    def __init__(self, session_factory: Callable[[], Session], *, recheck_seconds: float = 5.0,
                 max_versions: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = session_factory
        self._recheck = recheck_seconds
        self._max = max_versions
        self._clock = clock
        self._lock = threading.Lock()
        self._versions: OrderedDict[uuid.UUID, LoadedConfig] = OrderedDict()
        # tenant id -> (deployed version id or None, when it was read)
        self._deployed: dict[uuid.UUID, tuple[uuid.UUID | None, float]] = {}

    def deployed(self, tenant_id: uuid.UUID) -> LoadedConfig | None:
        """The version new interactions of the tenant start on (None: nothing deployed)."""
        with self._lock:
            known = self._deployed.get(tenant_id)
        if known is None or self._clock() - known[1] >= self._recheck:
            with self._session(tenant_id) as db:
                version_id = db.scalar(sa.select(ConfigVersion.id).where(
                    ConfigVersion.status == ConfigStatus.DEPLOYED)
                    .order_by(ConfigVersion.version.desc()).limit(1))
            with self._lock:
                if known is not None and known[0] != version_id:
                    log.info("tenant %s now runs config version %s", tenant_id, version_id)
                self._deployed[tenant_id] = (version_id, self._clock())
            known = (version_id, 0.0)
        return None if known[0] is None else self.for_version(tenant_id, known[0])

    def for_version(self, tenant_id: uuid.UUID, version_id: uuid.UUID) -> LoadedConfig:
        """A compiled version of the tenant by id.

        Raises:
            LookupError: the tenant has no such compiled version.
        """
        with self._lock:
            loaded = self._versions.get(version_id)
            if loaded is not None:
                self._versions.move_to_end(version_id)
                return loaded
        with self._session(tenant_id) as db:
            row = db.get(ConfigVersion, version_id)  # tenant-scoped: another's is not found
            if row is None or row.compiled is None or row.compiled_hash is None:
                raise LookupError(f"tenant {tenant_id} has no compiled config {version_id}")
            from kefu.dsl.api import load_ir

            loaded = LoadedConfig(row.id, row.version, row.compiled_hash,
                                  load_ir(json.dumps(row.compiled)))
        with self._lock:
            self._versions[version_id] = loaded
            while len(self._versions) > self._max:
                self._versions.popitem(last=False)
        return loaded

    def invalidate(self, tenant_id: uuid.UUID) -> None:
        """Forget which version the tenant runs; the next ``deployed`` reads it again."""
        with self._lock:
            self._deployed.pop(tenant_id, None)

    def _session(self, tenant_id: uuid.UUID) -> Session:
        return bind_tenant(self._sessions(), tenant_id)


async def follow_deployments(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: drop a tenant's deployed version from the cache when it changes."""
    subscription = await platform.bus.subscribe(patterns=["tenant.*.config.deploy"])
    async with subscription:
        while not stopping.is_set():
            try:
                event = await subscription.get(timeout=1.0)
            except TimeoutError:
                continue
            with contextlib.suppress(ValueError, IndexError):
                platform.configs.invalidate(uuid.UUID(event.topic.split(".")[1]))


__all__: list[Any] = ["ConfigCache", "LoadedConfig", "follow_deployments"]
