"""Per-process access to each tenant's ACD: its state backend, its router, its lock.

The state of a tenant's queues and agents lives in one :class:`StateBackend` per tenant: a
:class:`MemoryState` in the embedded default (one process), Redis keys under
``kefu:acd:<tenant id>:`` in production, shared by every web and runtime process. A
:class:`Router` is rebuilt whenever the tenant deploys a new config version; the state stays,
so contacts already waiting keep their place.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from kefu.runtime.acd.config import build_router_config
from kefu.runtime.acd.router import Router
from kefu.runtime.state.base import StateBackend
from kefu.runtime.state.memory import MemoryState

if TYPE_CHECKING:
    from kefu.platform.configs.cache import LoadedConfig
    from kefu.platform.settings import Settings

def state_prefix(tenant_id: uuid.UUID) -> str:
    return f"kefu:acd:{tenant_id}:"


class AcdRegistry:
    """Everything a process needs to drive tenants' routers. One per :class:`Platform`."""

    def __init__(self, settings: Settings) -> None:
        self.redis_url = settings.redis_url
        self.ring_timeout = float(settings["acd.ring_timeout"])
        self._states: dict[uuid.UUID, StateBackend] = {}
        self._routers: dict[uuid.UUID, tuple[uuid.UUID, Router]] = {}
        self._locks: dict[uuid.UUID, threading.Lock] = {}
        self._guard = threading.Lock()
        self._client: Any = None

    @property
    def shared(self) -> bool:
        """True when the state is shared by several processes (Redis)."""
        return self.redis_url is not None

    def state(self, tenant_id: uuid.UUID) -> StateBackend:
        with self._guard:
            state = self._states.get(tenant_id)
            if state is None:
                state = self._new_state(tenant_id)
                self._states[tenant_id] = state
            return state

    def _new_state(self, tenant_id: uuid.UUID) -> StateBackend:
        if self.redis_url is None:
            return MemoryState()
        from kefu.runtime.state.redis import RedisState

        return RedisState(self.redis(), prefix=state_prefix(tenant_id))

    def redis(self) -> Any:
        """The process's Redis client for ACD state (production only)."""
        import redis

        if self._client is None:
            assert self.redis_url is not None
            self._client = redis.Redis.from_url(self.redis_url)
        return self._client

    def lock(self, tenant_id: uuid.UUID) -> threading.Lock:
        """Serializes this process's calls into one tenant's router (the memory backend is
        not thread-safe; with Redis the backend is atomic and the lock only keeps the
        router's local estimates tidy). Never held while waiting on the database."""
        with self._guard:
            return self._locks.setdefault(tenant_id, threading.Lock())

    def router(self, tenant_id: uuid.UUID, loaded: LoadedConfig) -> Router:
        """The router of the tenant's config version ``loaded`` (built once per version)."""
        with self._guard:
            cached = self._routers.get(tenant_id)
            if cached is not None and cached[0] == loaded.version_id:
                return cached[1]
        router = Router(build_router_config(loaded.config, ring_timeout=self.ring_timeout),
                        self.state(tenant_id))
        with self._guard:
            self._routers[tenant_id] = (loaded.version_id, router)
        return router

    def known_tenants(self) -> list[uuid.UUID]:
        """Tenants this process has a state for (the embedded host ticks these)."""
        with self._guard:
            return list(self._states)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
