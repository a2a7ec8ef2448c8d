"""The event bus API shared by both implementations: :class:`Event`, :class:`Subscription`,
the :class:`EventBus` interface, and topic, pattern and payload checks.

Topics are dot-separated names such as ``tenant.<tenant id>.interaction.created``: letters,
digits and ``_ . : -``. Patterns add two wildcards with Redis ``PSUBSCRIBE`` meaning: ``*``
matches any run of characters (dots included, so ``tenant.7.*`` matches
``tenant.7.interaction.created``) and ``?`` matches one character.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kefu.platform.jobs.payload import NotJSONError, to_json

if TYPE_CHECKING:
    from types import TracebackType

TOPIC_RE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
PATTERN_RE = re.compile(r"[A-Za-z0-9_.:*?-]{1,200}")
DEFAULT_MAX_PENDING = 1000
DEFAULT_MAX_EVENT_BYTES = 64 * 1024


class EventBusError(Exception):
    """Base class of the event bus's errors."""


class SubscriptionLost(EventBusError):
    """Raised by a subscription's iterator once it can no longer promise to deliver every
    event: events it already holds are yielded first, then this. Subscribe again (and reload
    whatever state the events were keeping current) to continue."""


class SubscriptionOverflow(SubscriptionLost):
    """The subscriber fell ``max_pending`` events behind; newer events were not kept."""


class EventTooLarge(EventBusError, ValueError):
    """An event's JSON is larger than the bus accepts."""


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic; else raise ``ValueError`` saying why."""
    if not isinstance(topic, str) or not TOPIC_RE.fullmatch(topic):
        raise ValueError(
            f"bad topic {topic!r}: use 1-200 letters, digits and '_ . : -' "
            "(e.g. 'tenant.<id>.interaction.created')"
        )
    return topic


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if valid (a topic that may use ``*`` and ``?``); else ``ValueError``."""
    if not isinstance(pattern, str) or not PATTERN_RE.fullmatch(pattern):
        raise ValueError(
            f"bad pattern {pattern!r}: use letters, digits, '_ . : -' and the wildcards "
            "'*' (any characters) and '?' (one character)"
        )
    return pattern


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression matching the topics ``pattern`` matches in Redis."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class Event:
    """One delivered event: its topic, its JSON object, and an id unique to the publish."""

    topic: str
    data: dict[str, Any]
    id: str


def encode_event(topic: str, event: Mapping[str, Any], max_bytes: int) -> tuple[str, str]:
    """Check a publish and return ``(event id, wire JSON)``.

    Raises:
        ValueError: bad topic.
        NotJSONError: ``event`` is not a JSON object of plain JSON values.
        EventTooLarge: the JSON exceeds ``max_bytes``.
    """
    check_topic(topic)
    if not isinstance(event, dict):
        raise NotJSONError(f"an event must be a dict (a JSON object), got {type(event).__name__}")
    event_id = uuid.uuid4().hex
    text = to_json({"id": event_id, "event": event}, f"event for topic {topic!r}")
    size = len(text.encode())
    if size > max_bytes:
        raise EventTooLarge(
            f"event for topic {topic!r} is {size} bytes of JSON, over the {max_bytes} byte "
            "limit; publish an id and let subscribers load the data"
        )
    return event_id, text


def decode_event(topic: str, text: str | bytes) -> Event:
    """An :class:`Event` from wire JSON made by :func:`encode_event`."""
    envelope = json.loads(text)
    return Event(topic=topic, data=envelope["event"], id=envelope["id"])


class _Detacher(Protocol):
    def _detach(self, subscription: Subscription, *, release: bool = False) -> None: ...

    async def _release(self, subscription: Subscription) -> None: ...


class Subscription:
    """An async iterator of :class:`Event` for some topics and patterns.

    Made by :meth:`EventBus.subscribe`. It yields events published after ``subscribe``
    returned, each once even if several of its topics and patterns match, in publish order
    per publisher. It keeps at most ``max_pending`` unread events: one more and it is
    detached from the bus (publishers never wait for it), yields what it holds, then raises
    :class:`SubscriptionOverflow`. After :meth:`close` (or ``async with`` exit) iteration
    stops. All methods must be called on the event loop it was created on.
    """

    def __init__(
        self,
        bus: _Detacher,
        topics: Iterable[str],
        patterns: Iterable[str],
        max_pending: int,
    ) -> None:
        self.topics = frozenset(check_topic(t) for t in topics)
        self.patterns = frozenset(check_pattern(p) for p in patterns)
        if not self.topics and not self.patterns:
            raise ValueError("subscribe to at least one topic or pattern")
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self._regexes = tuple(pattern_regex(p) for p in self.patterns)
        self._bus = bus
        self._max_pending = max_pending
        self._pending: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._error: SubscriptionLost | None = None
        self._last_id: str | None = None

    def matches(self, topic: str) -> bool:
        """Whether an event on ``topic`` is for this subscription."""
        return topic in self.topics or any(r.fullmatch(topic) for r in self._regexes)

    @property
    def active(self) -> bool:
        """False once closed or lost: no further events will arrive."""
        return not self._closed and self._error is None

    # Called on the subscription's loop by the bus.
    def _deliver(self, event: Event) -> None:
        if not self.active or event.id == self._last_id:
            return  # Redis sends one copy per matching channel/pattern, back to back
        self._last_id = event.id
        if len(self._pending) >= self._max_pending:
            self._lose(
                SubscriptionOverflow(
                    f"subscriber fell {self._max_pending} events behind; later events were "
                    "dropped for it"
                )
            )
            self._bus._detach(self, release=True)
            return
        self._pending.append(event)
        self._wakeup.set()

    def _lose(self, error: SubscriptionLost) -> None:
        if self.active:
            self._error = error
            self._wakeup.set()

    def _end(self) -> None:
        self._closed = True
        self._pending.clear()
        self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._pending:
                return self._pending.popleft()
            if self._error is not None:
                raise self._error
            self._wakeup.clear()
            await self._wakeup.wait()

    async def get(self, timeout: float | None = None) -> Event:
        """The next event, waiting at most ``timeout`` seconds.

        Raises:
            TimeoutError: nothing arrived in time.
            SubscriptionLost: events were lost (see the class docstring).
            StopAsyncIteration: the subscription is closed.
        """
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def close(self) -> None:
        """Stop receiving; pending events are discarded. Idempotent."""
        if self._closed:
            return
        self._end()
        self._bus._detach(self)
        await self._bus._release(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@runtime_checkable
class EventBus(Protocol):
    """Publish/subscribe of JSON events by topic. At most once: an event reaches the
    subscriptions that exist when it is published, and nobody else, ever."""

    def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        """Publish from any thread (a Pyramid view, a job). Never waits for subscribers.

        Raises:
            ValueError: bad topic. NotJSONError: ``event`` is not a JSON object.
            EventTooLarge: the event is too big. RuntimeError: the bus is closed.
        """
        ...

    async def apublish(self, topic: str, event: Mapping[str, Any]) -> None:
        """Publish from async code without blocking the loop. Raises as :meth:`publish`."""
        ...

    async def subscribe(
        self,
        *topics: str,
        patterns: Iterable[str] = (),
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> Subscription:
        """Subscribe to exact topics and/or patterns. Events published after this returns
        are delivered to the returned :class:`Subscription`.

        Raises:
            ValueError: bad topic or pattern, or none given. RuntimeError: the bus is closed.
        """
        ...

    def close(self) -> None:
        """End all subscriptions and release connections (best effort from sync code)."""
        ...

    async def aclose(self) -> None:
        """End all subscriptions and release connections; the async way to shut down."""
        ...
