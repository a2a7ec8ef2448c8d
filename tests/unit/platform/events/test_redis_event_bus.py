"""Behaviour only the Redis bus has: shared server subscriptions, namespaces, and what a
subscriber sees when the pub/sub connection dies (a real connection, killed by Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis

from kefu.platform.events import RedisEventBus, SubscriptionLost

WAIT = 10.0


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def admin(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def numsub(admin: redis.Redis, channel: str) -> int:
    return dict(admin.pubsub_numsub(channel))[channel]


def test_local_subscribers_share_one_server_subscription_released_by_the_last(
    redis_url, namespace, admin
):
    channel = f"{namespace}:queue.q1"

    async def scenario() -> None:
        bus = RedisEventBus(redis_url, namespace=namespace)
        try:
            first = await bus.subscribe("queue.q1")
            second = await bus.subscribe("queue.q1", patterns=["queue.*"])
            assert numsub(admin, channel) == 1
            await first.close()
            assert numsub(admin, channel) == 1
            bus.publish("queue.q1", {"n": 1})
            assert (await second.get(WAIT)).data == {"n": 1}
            await second.close()
            assert numsub(admin, channel) == 0
        finally:
            await bus.aclose()

    run(scenario)


def test_buses_in_different_namespaces_do_not_see_each_other(redis_url, namespace):
    async def scenario() -> None:
        mine = RedisEventBus(redis_url, namespace=namespace)
        other = RedisEventBus(redis_url, namespace=namespace + "-other")
        try:
            sub = await mine.subscribe(patterns=["*"])
            other.publish("tenant.t1.interaction.created", {"from": "other"})
            mine.publish("tenant.t1.interaction.created", {"from": "mine"})
            assert (await sub.get(WAIT)).data == {"from": "mine"}
        finally:
            await mine.aclose()
            await other.aclose()

    run(scenario)


def test_a_dropped_connection_ends_subscriptions_with_subscription_lost(
    redis_url, namespace, admin
):
    async def scenario() -> None:
        bus = RedisEventBus(redis_url, namespace=namespace)
        try:
            sub = await bus.subscribe("agent.a1.state")
            bus.publish("agent.a1.state", {"n": 1})
            [victim] = [c for c in admin.client_list() if c["name"] == bus.client_name]
            admin.client_kill_filter(_id=victim["id"])
            # The event that arrived before the drop is still handed out, then the loss.
            assert (await sub.get(WAIT)).data == {"n": 1}
            with pytest.raises(SubscriptionLost, match="subscribe again"):
                await sub.get(WAIT)
            assert not sub.active

            again = await bus.subscribe("agent.a1.state")
            bus.publish("agent.a1.state", {"n": 2})
            assert (await again.get(WAIT)).data == {"n": 2}
        finally:
            await bus.aclose()

    run(scenario)


def test_a_bus_refuses_a_second_event_loop(redis_url, namespace):
    async def elsewhere(bus: RedisEventBus) -> None:
        with pytest.raises(RuntimeError, match="one event loop"):
            await bus.subscribe("x")

    async def scenario() -> None:
        bus = RedisEventBus(redis_url, namespace=namespace)
        try:
            await bus.subscribe("x")
            await asyncio.to_thread(asyncio.run, elsewhere(bus))
        finally:
            await bus.aclose()

    run(scenario)
