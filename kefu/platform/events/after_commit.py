"""Publish after commit: an event about a database change goes out only once the change has
committed, and never for a change that rolled back. Held in ``session.info`` and released by
the session's ``after_commit`` event, so it works in web requests (pyramid_tm commits the
session), jobs and runtime services alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from kefu.platform.events.api import DEFAULT_MAX_EVENT_BYTES, EventBus, encode_event

log = logging.getLogger(__name__)
_PENDING = "kefu.events.after_commit"


def publish_after_commit(session: Session, bus: EventBus, topic: str,
                         data: Mapping[str, Any]) -> None:
    """Publish ``data`` on ``topic`` when ``session`` next commits.

    Raises:
        ValueError, NotJSONError, EventTooLarge: the topic or payload is invalid (checked now,
            where the caller can still report it).
    """
    encode_event(topic, data, DEFAULT_MAX_EVENT_BYTES)
    pending: list[tuple[EventBus, str, dict[str, Any]]] = session.info.setdefault(_PENDING, [])
    if not pending and not event.contains(session, "after_commit", _release):
        event.listen(session, "after_commit", _release)
        event.listen(session, "after_rollback", _discard)
    pending.append((bus, topic, dict(data)))


def _release(session: Session) -> None:
    for bus, topic, data in session.info.pop(_PENDING, []):
        try:
            bus.publish(topic, data)
        except Exception:  # the data is committed; a lost notification must not undo that
            log.exception("publishing %s after commit failed", topic)


def _discard(session: Session) -> None:
    session.info.pop(_PENDING, None)
