"""Enqueue after commit: the rule that a job is queued only once the transaction that made its
inputs has committed, as a helper bound to a SQLAlchemy session.

A job enqueued inside the transaction can start before the commit (and not find its rows) or
run for rows that are then rolled back. With :func:`enqueue_after_commit` the call is checked
at once (bad arguments fail inside the request, where they can still be reported), held in
``session.info``, and handed to the queue by the session's ``after_commit`` event; a rollback
drops it. This works with pyramid_tm / zope.sqlalchemy too, since they commit the session.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from kefu.platform.jobs.api import JobQueue, prepare_call

log = logging.getLogger(__name__)

_PENDING = "kefu.jobs.after_commit"


def enqueue_after_commit(
    session: Session,
    queue: JobQueue,
    func: Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
    retries: int | None = None,
    retry_delays: Sequence[float] | None = None,
    **kwargs: Any,
) -> str:
    """Enqueue ``func(ctx, *args, **kwargs)`` on ``queue`` when ``session`` next commits.

    Args:
        session: the session whose (outermost) transaction must commit first.
        queue: the job queue.
        func, args, kwargs, retries, retry_delays: as :meth:`JobQueue.enqueue`.
        job_id: as :meth:`JobQueue.enqueue`; generated now when ``None`` so the caller can
            store or return it before the commit.

    Returns:
        The job id the job will have.

    Raises:
        JobDefinitionError, NotJSONError, ValueError: the call is invalid (checked now).

    A rollback discards every job held for the session, including ones registered before a
    savepoint. If the queue cannot be reached at commit time the data stays committed and
    the error propagates from ``commit()``: the job was not queued.
    """
    prepare_call(0, func, args, kwargs, job_id=job_id, retries=retries, retry_delays=retry_delays)
    job_id = job_id or uuid.uuid4().hex
    pending: list[tuple[JobQueue, Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
    pending = session.info.setdefault(_PENDING, [])
    if not pending and not event.contains(session, "after_commit", _after_commit):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    options = {"job_id": job_id, "retries": retries, "retry_delays": retry_delays}
    pending.append((queue, func, args, {**kwargs, **options}))
    return job_id


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for queue, func, args, kwargs in pending:
        try:
            queue.enqueue(func, *args, **kwargs)
        except Exception:
            log.exception("committed, but could not enqueue job %s", kwargs.get("job_id"))
            raise


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
