"""The compiled config automation runs on, and the engines built from it (cached per version:
versions are immutable).

Automation reads which version is deployed inside its own transaction, every time (one
indexed query), so a job or sweep never acts on a config that was replaced moments ago;
the compiled IR of a version is cached by :class:`~kefu.platform.configs.cache.ConfigCache`.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.configs.cache import ConfigCache, LoadedConfig
from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.platform.tenancy.scope import current_tenant_id
from kefu.runtime.rules import RulesEngine
from kefu.runtime.workflow import WorkflowEngine

T = TypeVar("T")
_MAX = 64
_LOCK = threading.Lock()
_CACHES: dict[int, tuple[object, ConfigCache]] = {}
_RULES: OrderedDict[uuid.UUID, RulesEngine] = OrderedDict()
_WORKFLOWS: OrderedDict[uuid.UUID, WorkflowEngine] = OrderedDict()


def cache_for(session_factory: Callable[[], Session]) -> ConfigCache:
    """One config cache per session factory (per database), for jobs, which get no
    platform object."""
    key = id(session_factory)
    with _LOCK:
        known = _CACHES.get(key)
        if known is not None and known[0] is session_factory:
            return known[1]
        cache = ConfigCache(session_factory)
        _CACHES[key] = (session_factory, cache)
        return cache


def deployed(db: Session, cache: ConfigCache) -> LoadedConfig | None:
    """The config deployed for ``db``'s tenant right now (None: nothing deployed)."""
    tenant_id = current_tenant_id(db)
    if tenant_id is None:
        raise RuntimeError("automation needs a tenant-scoped session")
    version_id = db.scalar(sa.select(ConfigVersion.id).where(
        ConfigVersion.status == ConfigStatus.DEPLOYED)
        .order_by(ConfigVersion.version.desc()).limit(1))
    return None if version_id is None else cache.for_version(tenant_id, version_id)


def _cached(store: OrderedDict[uuid.UUID, T], key: uuid.UUID, make: Callable[[], T]) -> T:
    with _LOCK:
        found = store.get(key)
        if found is not None:
            store.move_to_end(key)
            return found
    made = make()
    with _LOCK:
        store[key] = made
        while len(store) > _MAX:
            store.popitem(last=False)
    return made


def rules_engine(loaded: LoadedConfig) -> RulesEngine:
    return _cached(_RULES, loaded.version_id, lambda: RulesEngine(loaded.config))


def workflow_engine(loaded: LoadedConfig) -> WorkflowEngine:
    """The workflow engine automation opens and moves tickets with. Unlike a person filling
    a form, a rule cannot ask for missing required fields, so tickets it opens are created
    with whatever the event told (an agent completes the form)."""
    return _cached(_WORKFLOWS, loaded.version_id,
                   lambda: WorkflowEngine(loaded.config, validate_required=False))
