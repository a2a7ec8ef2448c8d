"""The embedded event bus: subscriptions are asyncio objects; publishing is thread-safe.

``publish`` hands each matching subscription its own decoded copy of the event, directly
when called on the subscription's event loop and through ``call_soon_threadsafe`` from other
threads (which keeps one publisher's order, since that queue is FIFO). Nothing waits for a
subscriber: a full subscription overflows instead (see :class:`Subscription`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from kefu.platform.events.api import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PENDING,
    Subscription,
    decode_event,
    encode_event,
)


class InProcessEventBus:
    """An :class:`~kefu.platform.events.api.EventBus` inside one process.

    Args:
        max_event_bytes: the largest event (as JSON) accepted by ``publish``.
    """

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        """See :meth:`kefu.platform.events.api.EventBus.publish`."""
        _, text = encode_event(topic, event, self.max_event_bytes)
        with self._lock:
            if self._closed:
                raise RuntimeError("the event bus is closed")
            targets = [s for s in self._subscriptions if s.matches(topic)]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for subscription in targets:
            copy = decode_event(topic, text)
            if subscription._loop is running:
                subscription._deliver(copy)
            else:
                try:
                    subscription._loop.call_soon_threadsafe(subscription._deliver, copy)
                except RuntimeError:  # its loop is closed: the subscriber is gone
                    self._detach(subscription)

    async def apublish(self, topic: str, event: Mapping[str, Any]) -> None:
        """See :meth:`kefu.platform.events.api.EventBus.apublish`."""
        self.publish(topic, event)

    async def subscribe(
        self,
        *topics: str,
        patterns: Iterable[str] = (),
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> Subscription:
        """See :meth:`kefu.platform.events.api.EventBus.subscribe`."""
        subscription = Subscription(self, topics, patterns, max_pending)
        with self._lock:
            if self._closed:
                raise RuntimeError("the event bus is closed")
            self._subscriptions.add(subscription)
        return subscription

    def _detach(self, subscription: Subscription, *, release: bool = False) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    async def _release(self, subscription: Subscription) -> None:
        return None

    def close(self) -> None:
        """End every subscription (thread-safe); later publishes raise ``RuntimeError``."""
        with self._lock:
            self._closed = True
            subscriptions, self._subscriptions = self._subscriptions, set()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for subscription in subscriptions:
            if subscription._loop is running:
                subscription._end()
            else:
                with contextlib.suppress(RuntimeError):  # its loop is already closed
                    subscription._loop.call_soon_threadsafe(subscription._end)

    async def aclose(self) -> None:
        """See :meth:`close`."""
        self.close()
