"""Changes made through the API reach the tenant's live event stream after commit, and
changes that roll back never do."""

from __future__ import annotations

import asyncio
from typing import Any

from kefu.platform.identity.models import Role


def _collect(platform: Any, tenant_id: Any, action: Any) -> list[Any]:
    """Subscribe to the tenant's events, run ``action`` in a thread, return what arrived."""

    async def scenario() -> list[Any]:
        subscription = await platform.bus.subscribe(patterns=[f"tenant.{tenant_id}.*"])
        received = []
        async with subscription:
            await asyncio.to_thread(action)
            while True:
                try:
                    received.append(await subscription.get(timeout=1.0))
                except TimeoutError:
                    return received

    async def run_and_close() -> list[Any]:
        try:
            return await scenario()
        finally:
            if platform.settings.redis_url:
                # The Redis bus's connections belong to this loop; close them with it and let
                # the next user of the shared platform make a fresh bus.
                await platform.bus.aclose()
                platform.__dict__.pop("bus", None)

    return asyncio.run(run_and_close())


def test_committed_change_is_published(platform, factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    client = web(factory.user(tenant, Role.AGENT))
    client.get("/login")
    created: dict[str, Any] = {}

    def act() -> None:
        created.update(client.api("POST", "/customers", {"name": "Zhao"}, status=201).json)

    events = _collect(platform, tenant.id, act)
    assert [e.topic for e in events] == [f"tenant.{tenant.id}.customer.create"]
    assert events[0].data["target_id"] == created["id"]


def test_failed_request_publishes_nothing(platform, factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    client = web(factory.user(tenant, Role.AGENT))
    client.get("/login")

    def act() -> None:
        client.api("POST", "/customers", {"name": "Zhao", "is_vip": "yes"}, status=422)

    assert _collect(platform, tenant.id, act) == []
