"""The event bus: publish JSON events by topic from threads or async code; subscribe by topic
or pattern with an async iterator. In-process in embedded mode, Redis pub/sub in production.

::

    bus.publish(f"tenant.{tenant_id}.interaction.created", {"interaction_id": str(i.id)})

    async with await bus.subscribe(patterns=[f"tenant.{tenant_id}.interaction.*"]) as sub:
        async for event in sub:
            await websocket.send(json.dumps(event.data))

Delivery is at most once (see ``docs/jobs-and-events.md``): use events to tell live screens
that something changed, never as the only record of a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kefu.platform.events.api import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PENDING,
    Event,
    EventBus,
    EventBusError,
    EventTooLarge,
    Subscription,
    SubscriptionLost,
    SubscriptionOverflow,
    check_pattern,
    check_topic,
)
from kefu.platform.events.inprocess import InProcessEventBus
from kefu.platform.jobs.payload import NotJSONError

if TYPE_CHECKING:
    from kefu.platform.events.redis_bus import RedisEventBus
    from kefu.platform.settings import Settings

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_PENDING",
    "Event",
    "EventBus",
    "EventBusError",
    "EventTooLarge",
    "InProcessEventBus",
    "NotJSONError",
    "RedisEventBus",
    "Subscription",
    "SubscriptionLost",
    "SubscriptionOverflow",
    "check_pattern",
    "check_topic",
    "make_event_bus",
]


def __getattr__(name: str) -> Any:
    if name == "RedisEventBus":
        from kefu.platform.events.redis_bus import RedisEventBus

        return RedisEventBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_event_bus(settings: Settings, **options: Any) -> EventBus:
    """The event bus the settings ask for.

    Args:
        settings: embedded (no ``redis.url``) gives :class:`InProcessEventBus`, otherwise a
            :class:`RedisEventBus` on ``redis.url``.
        options: passed to the implementation (``max_event_bytes``; for Redis also
            ``namespace``, ``health_check_interval``, ``subscribe_timeout``).

    Returns:
        A bus. Nothing to start; ``await bus.aclose()`` (or ``bus.close()``) at exit.
    """
    if settings.embedded:
        return InProcessEventBus(**options)
    from kefu.platform.events.redis_bus import RedisEventBus

    return RedisEventBus(str(settings.redis_url), **options)
