"""Hot reload: new interactions start on the deployed version, running ones keep theirs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kefu.dsl.loader import read_sources
from kefu.platform.configs.cache import ConfigCache
from kefu.platform.configs.services import ConfigService
from kefu.platform.runtime_host import RuntimeHost

DEMO = Path(__file__).resolve().parents[3] / "tenants" / "demo"


def _deploy(factory: Any, tenant: Any, files: dict[str, str]) -> Any:
    with factory.session(tenant) as db:
        service = ConfigService(db)
        version = service.store(files, "", None)
        service.deploy(version.id)
        db.commit()
        return version.id


@pytest.fixture
def demo_files() -> dict[str, str]:
    return read_sources(DEMO)[0]


def test_new_interactions_switch_running_ones_stay(platform, factory, demo_files) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    now = [0.0]
    cache = ConfigCache(platform.session_factory, recheck_seconds=5, clock=lambda: now[0])
    assert cache.deployed(tenant.id) is None
    v1 = _deploy(factory, tenant, demo_files)
    cache.invalidate(tenant.id)
    first = cache.deployed(tenant.id)
    assert first is not None
    assert first.version_id == v1
    assert first.config.flows  # the demo's flows, compiled

    changed = dict(demo_files)
    changed["people.kefu"] = changed["people.kefu"].replace("wrap_up 30s", "wrap_up 45s")
    v2 = _deploy(factory, tenant, changed)
    # Within the re-check interval the cache may still hand out v1 to new interactions...
    assert cache.deployed(tenant.id).version_id == v1  # type: ignore[union-attr]
    # ...and after it (or a deploy event) it hands out v2.
    now[0] += 5
    assert cache.deployed(tenant.id).version_id == v2  # type: ignore[union-attr]
    # An interaction that started on v1 finishes on v1.
    assert cache.for_version(tenant.id, v1).config == first.config
    assert cache.for_version(tenant.id, v2).compiled_hash != first.compiled_hash


def test_another_tenants_version_is_not_found(platform, factory, demo_files) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = factory.tenant(), factory.tenant()
    their_version = _deploy(factory, theirs, demo_files)
    cache = ConfigCache(platform.session_factory)
    with pytest.raises(LookupError):
        cache.for_version(mine.id, their_version)
    assert cache.deployed(mine.id) is None


def test_a_deploy_event_switches_at_once(settings, factory, demo_files) -> None:  # type: ignore[no-untyped-def]
    from kefu.platform.context import Platform

    tenant = factory.tenant()
    v1 = _deploy(factory, tenant, demo_files)
    host_platform = Platform(settings)
    host_platform.configs._recheck = 3600  # only the event can make it look again

    async def scenario() -> tuple[Any, Any]:
        host = RuntimeHost(host_platform, services=[
            "kefu.platform.configs.cache:follow_deployments"])
        await host.start()
        try:
            before = host_platform.configs.deployed(tenant.id)
            changed = dict(demo_files)
            changed["people.kefu"] = changed["people.kefu"].replace("wrap_up 30s",
                                                                    "wrap_up 45s")
            await asyncio.to_thread(_deploy, factory, tenant, changed)
            for _ in range(50):
                # Published until seen: the service may not have subscribed yet (at most once).
                await host_platform.bus.apublish(f"tenant.{tenant.id}.config.deploy",
                                                 {"version": 2})
                await asyncio.sleep(0.1)
                after = host_platform.configs.deployed(tenant.id)
                if after is not None and after.version_id != before.version_id:  # type: ignore[union-attr]
                    return before, after
            return before, after
        finally:
            await host.stop()
            await host_platform.bus.aclose()

    before, after = asyncio.run(scenario())
    host_platform.close()
    assert before.version_id == v1
    assert after.version == 2
