"""The event bus contract, run against both implementations in every backend pass.

Each test builds a fresh bus inside its own event loop (Redis buses get a unique namespace,
so tests never see each other's events) and bounds every wait; nothing here asserts a
duration.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from kefu.platform.events import (
    EventBus,
    EventTooLarge,
    InProcessEventBus,
    NotJSONError,
    RedisEventBus,
    SubscriptionOverflow,
)

WAIT = 10.0  # seconds any single expected event may take to arrive


@pytest.fixture(params=["inprocess", "redis"])
def make_bus(request: pytest.FixtureRequest, redis_url: str) -> Callable[[], EventBus]:
    """Builds a bus of the parametrized kind; call it inside the test's event loop."""
    if request.param == "inprocess":
        return InProcessEventBus
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    return lambda: RedisEventBus(redis_url, namespace=namespace)


def run(make_bus: Callable[[], EventBus], scenario: Callable[[EventBus], Awaitable[None]]) -> None:
    async def main() -> None:
        bus = make_bus()
        try:
            await asyncio.wait_for(scenario(bus), 60)
        finally:
            await bus.aclose()

    asyncio.run(main())


async def take(subscription: Any, n: int) -> list[Any]:
    return [await subscription.get(WAIT) for _ in range(n)]


def test_subscriber_gets_only_events_published_after_it_subscribed_in_order(make_bus):
    async def scenario(bus: EventBus) -> None:
        bus.publish("tenant.t1.interaction.created", {"seq": -1})  # nobody listens yet
        sub = await bus.subscribe("tenant.t1.interaction.created")
        for seq in range(50):
            bus.publish("tenant.t1.interaction.created", {"seq": seq})
        events = await take(sub, 50)
        assert [e.data["seq"] for e in events] == list(range(50))
        assert {e.topic for e in events} == {"tenant.t1.interaction.created"}
        assert len({e.id for e in events}) == 50

    run(make_bus, scenario)


def test_publish_from_plain_threads_and_from_async_code_keeps_each_publishers_order(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe("wallboard")

        def publish_from_thread(name: str) -> None:
            for seq in range(40):
                bus.publish("wallboard", {"publisher": name, "seq": seq})

        threads = [
            threading.Thread(target=publish_from_thread, args=(f"thread-{i}",)) for i in range(3)
        ]
        for thread in threads:
            thread.start()
        for seq in range(40):
            await bus.apublish("wallboard", {"publisher": "async", "seq": seq})
        await asyncio.to_thread(lambda: [t.join(WAIT) for t in threads])

        events = await take(sub, 160)
        by_publisher: dict[str, list[int]] = {}
        for event in events:
            by_publisher.setdefault(event.data["publisher"], []).append(event.data["seq"])
        assert by_publisher == {
            name: list(range(40)) for name in ("async", "thread-0", "thread-1", "thread-2")
        }

    run(make_bus, scenario)


def test_publish_on_the_event_loop_thread_with_the_sync_call_is_delivered(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe("agent.a1.state")
        bus.publish("agent.a1.state", {"state": "ready"})
        assert (await sub.get(WAIT)).data == {"state": "ready"}

    run(make_bus, scenario)


def test_every_subscriber_gets_its_own_copy(make_bus):
    async def scenario(bus: EventBus) -> None:
        first = await bus.subscribe("queue.q1")
        second = await bus.subscribe("queue.q1")
        bus.publish("queue.q1", {"waiting": [1, 2], "name": "sales"})
        a, b = await first.get(WAIT), await second.get(WAIT)
        assert a.id == b.id
        a.data["waiting"].append(3)
        assert b.data == {"waiting": [1, 2], "name": "sales"}

    run(make_bus, scenario)


def test_pattern_subscription_matches_like_redis_glob(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe(patterns=["tenant.t1.interaction.*"])
        for topic in (
            "tenant.t2.interaction.created",  # another tenant
            "tenant.t1.ticket.updated",  # another kind
            "tenant.t1.interactions",  # no dot after "interaction"
            "tenant.t1.interaction.created",
            "tenant.t1.interaction.call.answered",  # '*' spans dots, as in Redis
            "tenant.t1.interaction.end",
        ):
            bus.publish(topic, {"topic": topic})
        events = await take(sub, 3)
        assert [e.topic for e in events] == [
            "tenant.t1.interaction.created",
            "tenant.t1.interaction.call.answered",
            "tenant.t1.interaction.end",
        ]
        assert [e.data["topic"] for e in events] == [e.topic for e in events]

    run(make_bus, scenario)


def test_question_mark_matches_exactly_one_character(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe(patterns=["agent.a?.state"])
        for topic in ("agent.a10.state", "agent.a.state", "agent.a7.state"):
            bus.publish(topic, {})
        assert (await sub.get(WAIT)).topic == "agent.a7.state"

    run(make_bus, scenario)


def test_an_event_matching_several_filters_of_one_subscription_arrives_once(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe(
            "tenant.t1.interaction.created",
            patterns=["tenant.t1.*", "tenant.*.interaction.*"],
        )
        bus.publish("tenant.t1.interaction.created", {"n": 1})
        bus.publish("tenant.t1.ticket.closed", {"n": 2})
        events = await take(sub, 2)
        assert [e.data["n"] for e in events] == [1, 2]

    run(make_bus, scenario)


def test_bad_events_topics_and_patterns_are_rejected_and_nothing_is_sent(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe("tenant.t1.customer.updated")
        topic = "tenant.t1.customer.updated"
        with pytest.raises(NotJSONError, match=r"\['when'\] is a datetime.datetime"):
            bus.publish(topic, {"when": datetime.now(UTC)})
        with pytest.raises(NotJSONError, match=r"\['customer'\]\['id'\] is a uuid.UUID"):
            await bus.apublish(topic, {"customer": {"id": uuid.uuid4()}})
        with pytest.raises(NotJSONError, match="must be a dict"):
            bus.publish(topic, [1, 2, 3])  # type: ignore[arg-type]
        with pytest.raises(NotJSONError, match="JSON cannot carry"):
            bus.publish(topic, {"score": float("nan")})
        with pytest.raises(NotJSONError, match="keys must be strings"):
            bus.publish(topic, {1: "one"})
        with pytest.raises(EventTooLarge, match="over the"):
            bus.publish(topic, {"blob": "x" * 100_000})
        with pytest.raises(ValueError, match="bad topic"):
            bus.publish("tenant t1", {})
        with pytest.raises(ValueError, match="bad topic"):
            bus.publish("tenant.*", {})  # wildcards are for subscribing
        with pytest.raises(ValueError, match="bad pattern"):
            await bus.subscribe(patterns=["tenant.[ab]"])
        with pytest.raises(ValueError, match="at least one"):
            await bus.subscribe()

        bus.publish(topic, {"ok": True})
        assert (await sub.get(WAIT)).data == {"ok": True}

    run(make_bus, scenario)


def test_closing_a_subscription_ends_it_and_leaves_the_others(make_bus):
    async def scenario(bus: EventBus) -> None:
        leaving = await bus.subscribe("chat.c1")
        staying = await bus.subscribe("chat.c1")
        bus.publish("chat.c1", {"n": 1})
        assert (await leaving.get(WAIT)).data == {"n": 1}
        await leaving.close()
        bus.publish("chat.c1", {"n": 2})
        assert [e.data["n"] for e in await take(staying, 2)] == [1, 2]
        assert [event async for event in leaving] == []
        assert not leaving.active

        async with await bus.subscribe("chat.c1") as scoped:
            bus.publish("chat.c1", {"n": 3})
            assert (await scoped.get(WAIT)).data == {"n": 3}
        assert not scoped.active
        assert (await staying.get(WAIT)).data == {"n": 3}

    run(make_bus, scenario)


def test_a_slow_subscriber_overflows_instead_of_blocking_publishers(make_bus):
    async def scenario(bus: EventBus) -> None:
        slow = await bus.subscribe("wallboard", max_pending=5)
        fast = await bus.subscribe("wallboard")

        def burst() -> None:
            for seq in range(20):
                bus.publish("wallboard", {"seq": seq})

        await asyncio.to_thread(burst)  # returns although nobody reads `slow`
        assert [e.data["seq"] for e in await take(fast, 20)] == list(range(20))

        kept = [(await slow.get(WAIT)).data["seq"] for _ in range(5)]
        assert kept == [0, 1, 2, 3, 4]  # what it held before overflowing, then the error
        with pytest.raises(SubscriptionOverflow, match="fell 5 events behind"):
            await slow.get(WAIT)
        assert not slow.active

        bus.publish("wallboard", {"seq": 20})  # the overflowed one is detached
        assert (await fast.get(WAIT)).data == {"seq": 20}
        with pytest.raises(SubscriptionOverflow):
            await slow.get(WAIT)

    run(make_bus, scenario)


def test_closing_the_bus_ends_subscriptions_and_refuses_publishing(make_bus):
    async def scenario(bus: EventBus) -> None:
        sub = await bus.subscribe("tenant.t1.ticket.updated")
        waiting: asyncio.Task[list[Any]] = asyncio.create_task(_collect(sub))
        await asyncio.sleep(0)  # let it start waiting
        await bus.aclose()
        assert await asyncio.wait_for(waiting, WAIT) == []
        with pytest.raises(RuntimeError, match="closed"):
            bus.publish("tenant.t1.ticket.updated", {})
        with pytest.raises(RuntimeError, match="closed"):
            await bus.subscribe("tenant.t1.ticket.updated")

    run(make_bus, scenario)


async def _collect(sub: Any) -> list[Any]:
    return [event async for event in sub]

