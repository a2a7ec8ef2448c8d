"""Background jobs: one API, two queues chosen by settings.

- Embedded (no ``redis.url``): :class:`InProcessJobQueue`, worker threads inside
  ``kefu serve``; ``start()`` it with the process and ``close()`` it on shutdown.
- Production: :class:`RQJobQueue` enqueues on Redis from ``kefu web`` / ``kefu runtime``;
  ``kefu worker`` processes run the jobs with :func:`run_worker`.

Write jobs as module-level functions::

    @job(retries=5)
    def close_overdue_ticket(ctx: JobContext, tenant_id: str, ticket_id: str) -> None:
        with ctx.transaction() as session:   # exactly-once effect through the job_runs ledger
            ...

and enqueue them after the request's commit (:func:`enqueue_after_commit`). Delivery is at
least once; see ``docs/jobs-and-events.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kefu.platform.jobs.after_commit import enqueue_after_commit
from kefu.platform.jobs.api import (
    DEFAULT_RETRY_DELAYS,
    JobAlreadyDone,
    JobDefinitionError,
    JobError,
    JobInfo,
    JobNotFound,
    JobQueue,
    JobStatus,
    JobTimeout,
    job,
)
from kefu.platform.jobs.context import JobContext, NoDatabase, prune_job_runs
from kefu.platform.jobs.inprocess import InProcessJobQueue
from kefu.platform.jobs.payload import NotJSONError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.platform.events import EventBus
    from kefu.platform.jobs.redis_queue import RQJobQueue, run_worker
    from kefu.platform.settings import Settings

__all__ = [
    "DEFAULT_RETRY_DELAYS",
    "InProcessJobQueue",
    "JobAlreadyDone",
    "JobContext",
    "JobDefinitionError",
    "JobError",
    "JobInfo",
    "JobNotFound",
    "JobQueue",
    "JobStatus",
    "JobTimeout",
    "NoDatabase",
    "NotJSONError",
    "RQJobQueue",
    "enqueue_after_commit",
    "job",
    "make_job_queue",
    "prune_job_runs",
    "run_worker",
]


def __getattr__(name: str) -> Any:
    # RQ is imported only by processes that use it.
    if name in {"RQJobQueue", "run_worker"}:
        from kefu.platform.jobs import redis_queue

        return getattr(redis_queue, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_job_queue(
    settings: Settings,
    session_factory: Callable[[], Session] | None = None,
    *,
    events: EventBus | None = None,
    **options: Any,
) -> JobQueue:
    """The job queue the settings ask for.

    Args:
        settings: embedded (no ``redis.url``) gives :class:`InProcessJobQueue`, otherwise
            :class:`RQJobQueue` on ``settings["jobs.queue"]``.
        session_factory: makes ORM sessions for jobs run by this queue (in-process).
        events: the event bus handed to in-process jobs as ``ctx.events``.
        options: passed to the implementation (``threads``, ``result_ttl``, ...).

    Returns:
        A queue; call ``start()`` in ``kefu serve`` (in-process) and ``close()`` at exit.
    """
    if settings.embedded:
        return InProcessJobQueue(settings, session_factory, events=events, **options)
    from kefu.platform.jobs.redis_queue import RQJobQueue

    return RQJobQueue(settings, session_factory, events=events, **options)
