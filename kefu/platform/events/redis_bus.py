"""The production event bus: Redis pub/sub, shared by every kefu process on one Redis.

Topic ``t`` is the Redis channel ``<namespace>:t``; patterns are ``PSUBSCRIBE`` patterns
with the same prefix. Publishing uses a plain (thread-safe) Redis client from threads and a
``redis.asyncio`` client from async code. All subscriptions of one bus share one pub/sub
connection and one reader task, which routes each message to the local subscriptions of its
channel or pattern (a portal with a thousand open websockets holds one Redis connection, not
a thousand): the first local subscriber of a channel sends ``SUBSCRIBE`` and waits for the
server's confirmation before ``subscribe`` returns, the last one to leave sends
``UNSUBSCRIBE`` (and ``close`` waits for its confirmation too).

If the pub/sub connection fails, every subscription of the bus ends with
:class:`SubscriptionLost` (events published meanwhile are gone: pub/sub keeps nothing) and
the next ``subscribe`` opens a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kefu.platform.events.api import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PENDING,
    Subscription,
    SubscriptionLost,
    decode_event,
    encode_event,
)

log = logging.getLogger(__name__)

NAMESPACE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisEventBus:
    """An :class:`~kefu.platform.events.api.EventBus` over Redis pub/sub.

    The async methods must all run on one event loop (the first one that uses them).

    Args:
        url: the Redis URL.
        namespace: channel prefix; buses with different namespaces never see each
            other's events.
        max_event_bytes: the largest event (as JSON) accepted by ``publish``.
        health_check_interval: seconds of silence after which the pub/sub connection is
            pinged, so a dead connection is noticed (and its subscriptions ended).
        subscribe_timeout: seconds to wait for Redis to confirm a subscription.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "kefu",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        health_check_interval: int = 30,
        subscribe_timeout: float = 10.0,
    ) -> None:
        if not NAMESPACE_RE.fullmatch(namespace):
            raise ValueError(f"bad namespace {namespace!r}: use letters, digits and '_ . -'")
        self.url = url
        self.prefix = namespace + ":"
        self.max_event_bytes = max_event_bytes
        self.health_check_interval = health_check_interval
        self.subscribe_timeout = subscribe_timeout
        # Shown by CLIENT LIST, so operators can tell the bus's pub/sub connection apart.
        self.client_name = f"kefu-bus-{namespace}"
        self._closed = False
        self._sync: redis.Redis | None = None
        self._sync_lock = threading.Lock()
        # Async state, bound to one loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._publisher: aioredis.Redis | None = None
        self._listener: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._by_topic: dict[str, set[Subscription]] = {}
        self._by_pattern: dict[str, set[Subscription]] = {}
        self._server_topics: set[str] = set()
        self._server_patterns: set[str] = set()
        self._waiters: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- publishing -----------------------------------------------------------------------

    def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        """See :meth:`kefu.platform.events.api.EventBus.publish`. Blocks for one round trip
        to Redis; from async code prefer :meth:`apublish`.

        Raises:
            redis.exceptions.ConnectionError: Redis cannot be reached (the event is lost).
        """
        _, text = encode_event(topic, event, self.max_event_bytes)
        with self._sync_lock:
            if self._closed:
                raise RuntimeError("the event bus is closed")
            if self._sync is None:
                self._sync = redis.Redis.from_url(self.url)
            client = self._sync
        client.publish(self.prefix + topic, text)

    async def apublish(self, topic: str, event: Mapping[str, Any]) -> None:
        """See :meth:`kefu.platform.events.api.EventBus.apublish`."""
        _, text = encode_event(topic, event, self.max_event_bytes)
        self._bind_loop()
        if self._publisher is None:
            self._publisher = aioredis.Redis.from_url(self.url)
        await self._publisher.publish(self.prefix + topic, text)

    # -- subscribing ----------------------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._lock = asyncio.Lock()
        elif self._loop is not loop:
            raise RuntimeError("a RedisEventBus is used from one event loop only")
        return loop

    async def subscribe(
        self,
        *topics: str,
        patterns: Iterable[str] = (),
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> Subscription:
        """See :meth:`kefu.platform.events.api.EventBus.subscribe`.

        Raises:
            redis.exceptions.ConnectionError: Redis cannot be reached.
            TimeoutError: Redis did not confirm the subscription in ``subscribe_timeout``.
        """
        self._bind_loop()
        subscription = Subscription(self, topics, patterns, max_pending)
        for topic in subscription.topics:
            self._by_topic.setdefault(topic, set()).add(subscription)
        for pattern in subscription.patterns:
            self._by_pattern.setdefault(pattern, set()).add(subscription)
        try:
            await self._reconcile()
        except BaseException:
            subscription._end()
            self._detach(subscription, release=True)
            raise
        return subscription

    def _detach(self, subscription: Subscription, *, release: bool = False) -> None:
        """Stop routing to ``subscription``; with ``release`` also update the server's
        subscriptions in the background (a subscription that overflowed calls this)."""
        for index, names in ((self._by_topic, subscription.topics),
                             (self._by_pattern, subscription.patterns)):
            for name in names:
                subs = index.get(name)
                if subs is not None:
                    subs.discard(subscription)
                    if not subs:
                        del index[name]
        if release and self._loop is not None and not self._closed:
            task = self._loop.create_task(self._reconcile_quietly())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _release(self, subscription: Subscription) -> None:
        await self._reconcile_quietly()

    async def _reconcile_quietly(self) -> None:
        try:
            await self._reconcile()
        except Exception as exc:  # the connection is gone; _connection_lost has run
            log.warning("event bus: could not update Redis subscriptions: %s", exc)

    async def _reconcile(self) -> None:
        """Bring the server's subscriptions in line with the local ones (under the lock)."""
        if self._lock is None or self._loop is None:
            raise RuntimeError("the event bus has not been used from an event loop yet")
        async with self._lock:
            if self._closed:
                return
            want_topics, want_patterns = set(self._by_topic), set(self._by_pattern)
            changes = {
                "subscribe": want_topics - self._server_topics,
                "psubscribe": want_patterns - self._server_patterns,
                "unsubscribe": self._server_topics - want_topics,
                "punsubscribe": self._server_patterns - want_patterns,
            }
            if not any(changes.values()):
                return
            pubsub = self._connect()
            confirmations = []
            for kind, names in changes.items():
                for name in names:
                    future: asyncio.Future[None] = self._loop.create_future()
                    self._waiters[(kind, self.prefix + name)] = future
                    confirmations.append(future)
            try:
                for kind, names in changes.items():
                    if names:
                        await getattr(pubsub, kind)(*(self.prefix + n for n in names))
            except Exception as exc:
                await self._connection_lost(exc)
                raise
            self._server_topics = want_topics
            self._server_patterns = want_patterns
            if self._reader is None:
                self._reader = self._loop.create_task(self._read(pubsub))
            await asyncio.wait_for(asyncio.gather(*confirmations), self.subscribe_timeout)

    def _connect(self) -> Any:
        """The pub/sub object, made on first need (its connection opens on first command)."""
        if self._pubsub is None:
            if self._listener is None:
                self._listener = aioredis.Redis.from_url(
                    self.url,
                    health_check_interval=self.health_check_interval,
                    client_name=self.client_name,
                    retry=Retry(NoBackoff(), 0),  # a failure ends the subscriptions
                )
            self._pubsub = self._listener.pubsub()
        return self._pubsub

    async def _read(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=False, timeout=self.health_check_interval
                )
                if message is not None:
                    self._route(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("event bus: lost the Redis pub/sub connection: %s", exc)
            await self._connection_lost(exc)

    def _route(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = _text(message["channel"])
        if kind in ("subscribe", "psubscribe", "unsubscribe", "punsubscribe"):
            waiter = self._waiters.pop((kind, channel), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if kind == "message":
            targets = self._by_topic.get(channel[len(self.prefix):], ())
        elif kind == "pmessage":
            targets = self._by_pattern.get(_text(message["pattern"])[len(self.prefix):], ())
        else:
            return
        if not targets:
            return
        topic = channel[len(self.prefix):]
        try:
            event = decode_event(topic, message["data"])
        except (ValueError, KeyError, TypeError):
            log.warning("event bus: ignored a malformed message on %s", channel)
            return
        for index, subscription in enumerate(list(targets)):
            # Each subscriber gets its own copy, as in-process.
            subscription._deliver(event if index == 0 else decode_event(topic, message["data"]))

    async def _connection_lost(self, exc: BaseException) -> None:
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(SubscriptionLost(f"lost the connection to Redis: {exc}"))
                waiter.exception()  # retrieved here too, so an abandoned waiter never warns
        self._waiters.clear()
        subscriptions = {s for subs in self._by_topic.values() for s in subs}
        subscriptions |= {s for subs in self._by_pattern.values() for s in subs}
        self._by_topic.clear()
        self._by_pattern.clear()
        self._server_topics.clear()
        self._server_patterns.clear()
        for subscription in subscriptions:
            subscription._lose(
                SubscriptionLost(
                    f"lost the connection to Redis ({exc}); events published meanwhile are "
                    "gone: subscribe again and reload"
                )
            )
        pubsub, self._pubsub = self._pubsub, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- shutting down --------------------------------------------------------------------

    async def aclose(self) -> None:
        """See :meth:`kefu.platform.events.api.EventBus.aclose`. Idempotent."""
        if self._closed:
            return
        subscriptions = {s for subs in self._by_topic.values() for s in subs}
        subscriptions |= {s for subs in self._by_pattern.values() for s in subs}
        self._closed = True
        self._by_topic.clear()
        self._by_pattern.clear()
        for subscription in subscriptions:
            subscription._end()
        for waiter in self._waiters.values():
            waiter.cancel()
        self._waiters.clear()
        tasks = [t for t in (self._reader, *self._background) if t is not None]
        self._reader = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        for client in (self._listener, self._publisher):
            if client is not None:
                await client.aclose()
        self._listener = self._publisher = None
        with self._sync_lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    def close(self) -> None:
        """Close from sync code. From a thread other than the bus's loop this runs
        :meth:`aclose` on that loop and waits; on the loop thread itself it schedules it
        (prefer ``await bus.aclose()`` there)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._closed = True
            with self._sync_lock:
                if self._sync is not None:
                    self._sync.close()
                    self._sync = None
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(self.aclose())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif loop.is_running():
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=10)
        else:
            loop.run_until_complete(self.aclose())
