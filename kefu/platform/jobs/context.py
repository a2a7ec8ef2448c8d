"""What a running job gets as its first argument, and the exactly-once transaction helper."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.platform.db import utcnow
from kefu.platform.jobs.api import JobAlreadyDone, JobSpec, describe_error
from kefu.platform.jobs.models import JobRun
from kefu.platform.jobs.payload import NotJSONError, json_copy

if TYPE_CHECKING:
    from kefu.platform.events import EventBus
    from kefu.platform.jobs.api import JobQueue
    from kefu.platform.settings import Settings

log = logging.getLogger(__name__)

STEP_MAX = 64


class NoDatabase(RuntimeError):
    """The job asked for a database session but its queue was built without a session factory."""


@dataclass(frozen=True)
class JobContext:
    """The first argument of every job.

    Attributes:
        settings: the process's settings.
        job_id: this job's id (stable across retries and redeliveries).
        job_name: ``module:qualname`` of the job function.
        attempt: 1 for the first run, 2 for the first retry, ...
        max_attempts: ``1 + retries``.
        jobs: the queue, for follow-up jobs (enqueue them after your transaction commits).
        events: the event bus, when the composition root gave one (else ``None``).
    """

    settings: Settings
    job_id: str
    job_name: str
    attempt: int
    max_attempts: int
    jobs: JobQueue | None = None
    events: EventBus | None = None
    session_factory: Callable[[], Session] | None = field(default=None, repr=False)

    def session(self) -> Session:
        """A new ORM session; use it as a context manager so it is closed.

        Raises:
            NoDatabase: the queue was built without ``session_factory``.
        """
        if self.session_factory is None:
            raise NoDatabase(
                f"job {self.job_name} needs the database, but its queue has no session factory; "
                "pass session_factory= to make_job_queue / run_worker"
            )
        return self.session_factory()

    @contextmanager
    def transaction(self, step: str = "") -> Iterator[Session]:
        """One database transaction holding the job's writes and its ledger row.

        On entry, if ``job_runs`` already holds (job id, ``step``), the body is skipped by
        raising :class:`JobAlreadyDone`; the runners count that as a successful finish. On a
        normal exit the ledger row is added and everything commits together; on an exception
        everything rolls back and the exception propagates (so the job is retried).

        Args:
            step: names one of several transactions of a multi-step job; catch
                :class:`JobAlreadyDone` around a step to continue with the next one.

        Yields:
            The session. Do not commit or roll it back yourself.

        Raises:
            JobAlreadyDone: this job (and step) already committed, now or by a concurrent
                duplicate run that won the race.
            NoDatabase: the queue has no session factory.
            RuntimeError: the body committed or rolled back the session itself.
        """
        if not isinstance(step, str) or len(step) > STEP_MAX:
            raise ValueError(f"step must be a string of at most {STEP_MAX} characters")
        with self.session() as session, session.begin():
            transaction = session.get_transaction()
            done = session.scalar(
                sa.select(JobRun.job_id).where(JobRun.job_id == self.job_id, JobRun.step == step)
            )
            if done is not None:
                raise JobAlreadyDone(self.job_id, step)
            yield session
            if session.get_transaction() is not transaction:
                raise RuntimeError(
                    f"job {self.job_name} committed or rolled back inside ctx.transaction(); "
                    "leave that to the block so the ledger row commits with the writes"
                )
            session.flush()  # the body's own errors surface as themselves, before the ledger's
            session.add(
                JobRun(job_id=self.job_id, step=step, job_name=self.job_name, finished_at=utcnow())
            )
            try:
                session.flush()
            except IntegrityError as exc:
                # A duplicate delivery running at the same time committed first.
                raise JobAlreadyDone(self.job_id, step) from exc


def prune_job_runs(session: Session, older_than: datetime) -> int:
    """Delete ledger rows of effects committed before ``older_than``; returns how many.

    Keep rows far longer than any job can be redelivered (retries plus worker death
    detection: days, not minutes). The caller commits.
    """
    result = session.execute(sa.delete(JobRun).where(JobRun.finished_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def run_job_function(
    spec: JobSpec, ctx: JobContext, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """Call a job the way both runners do.

    Returns:
        The JSON copy of the return value (``None`` when the body was skipped with
        :class:`JobAlreadyDone`).

    Raises:
        Exception: whatever the job raised; :class:`NotJSONError` when it returned a value
            that is not JSON.
    """
    from kefu.platform.logs import log_context

    with log_context(job_id=ctx.job_id):
        try:
            result = spec.func(ctx, *args, **kwargs)
        except JobAlreadyDone as done:
            log.info("job %s (%s): effect already committed, skipping", ctx.job_id, done.step)
            return None
        except Exception as exc:
            log.warning(
                "job %s %s attempt %d/%d failed: %s",
                ctx.job_name, ctx.job_id, ctx.attempt, ctx.max_attempts, describe_error(exc),
            )
            raise
    try:
        return json_copy(result, f"the return value of {spec.name}")
    except NotJSONError as exc:
        raise NotJSONError(f"{exc} (jobs must return JSON values)") from None
