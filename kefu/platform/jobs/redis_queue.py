"""The production job queue: RQ on Redis, and the ``kefu worker`` entry point.

Every kefu job is stored in RQ as a call of one trampoline, :func:`run_job`, with the job's
``module:qualname`` and its JSON arguments (RQ's JSON serializer: nothing is unpickled from
Redis). The trampoline builds the job's :class:`JobContext` from state that
:func:`run_worker` prepares once per worker process and that each work horse inherits when
RQ forks it.

How a dead worker's job comes back (RQ 3, read from its source): while a job runs, the worker
process refreshes the job's entry in the queue's ``StartedJobRegistry`` every
``heartbeat_interval`` seconds, setting its expiry to ``now + min(remaining job timeout,
heartbeat_interval) + heartbeat_grace``. When the worker dies, nobody refreshes the entry;
once it expires, the next registry cleanup of any live worker on the queue (run every
``maintenance_interval`` seconds, and at worker start) finds the job still ``started`` and,
if it has retries left, re-queues it (or schedules it after its retry delay); otherwise it
marks it failed (``AbandonedJobError``). Stock RQ uses a fixed 60 s grace and a 10 min
maintenance interval; :class:`KefuWorker` makes the grace configurable.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis
from rq import Queue, Retry, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, get_current_job
from rq.job import JobStatus as RQStatus
from rq.serializers import JSONSerializer

from kefu.platform.jobs.api import (
    JobInfo,
    JobNotFound,
    JobStatus,
    JobTimeout,
    PreparedCall,
    check_when,
    describe_error,
    prepare_call,
    resolve,
)
from kefu.platform.jobs.context import JobContext, run_job_function

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.platform.events import EventBus
    from kefu.platform.settings import Settings

log = logging.getLogger(__name__)

TRAMPOLINE = f"{__name__}.run_job"
META_RETRIES = "kefu_retries"
META_ERROR = "kefu_error"
META_ATTEMPT = "kefu_attempt"  # the attempt number of the last run that started

_STATUS = {
    RQStatus.QUEUED: JobStatus.QUEUED,
    RQStatus.CREATED: JobStatus.QUEUED,
    RQStatus.DEFERRED: JobStatus.QUEUED,
    RQStatus.SCHEDULED: JobStatus.SCHEDULED,
    RQStatus.STARTED: JobStatus.STARTED,
    RQStatus.FINISHED: JobStatus.FINISHED,
    RQStatus.FAILED: JobStatus.FAILED,
    RQStatus.STOPPED: JobStatus.FAILED,
    RQStatus.CANCELED: JobStatus.FAILED,
}


class RQJobQueue:
    """Enqueues kefu jobs on an RQ queue and reads their state back.

    This object only talks to Redis; jobs run in ``kefu worker`` processes
    (:func:`run_worker`), any number of them, on any machine that reaches the same Redis
    and database.

    Args:
        settings: needs ``redis.url``; the queue is ``settings["jobs.queue"]``.
        session_factory: unused by the enqueue side; kept so both queues build alike.
        events: unused by the enqueue side.
        connection: a Redis client to use instead of one made from ``redis.url``.
        result_ttl: seconds a finished job's record and result stay readable.
        failure_ttl: seconds a failed job's record stays readable.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: Callable[[], Session] | None = None,
        *,
        events: EventBus | None = None,
        connection: redis.Redis | None = None,
        result_ttl: int = 24 * 3600,
        failure_ttl: int = 7 * 24 * 3600,
    ) -> None:
        if connection is None and not settings.redis_url:
            raise ValueError("RQJobQueue needs the redis.url setting")
        self.settings = settings
        self._own_connection = connection is None
        self.connection: redis.Redis = connection or redis.Redis.from_url(str(settings.redis_url))
        self.queue = Queue(
            str(settings["jobs.queue"]), connection=self.connection, serializer=JSONSerializer
        )
        self.result_ttl = result_ttl
        self.failure_ttl = failure_ttl

    # -- lifecycle: nothing runs here -------------------------------------------------------

    def start(self) -> None:
        """Nothing to start: jobs run in ``kefu worker`` processes."""

    def stop(self, timeout: float = 10.0) -> None:
        """Nothing to stop: jobs run in ``kefu worker`` processes."""

    def close(self) -> None:
        """Close the Redis connection pool (if this object made it)."""
        if self._own_connection:
            self.connection.close()

    # -- enqueueing -----------------------------------------------------------------------

    def _options(self, call: PreparedCall) -> dict[str, Any]:
        short = call.spec.name.rpartition(":")[2]
        return {
            "job_id": call.job_id,
            "unique": call.explicit_id,
            "meta": {META_RETRIES: call.retries},
            # RQ schedules in whole seconds.
            "retry": Retry(max=call.retries, interval=[math.ceil(d) for d in call.delays])
            if call.retries
            else None,
            "result_ttl": self.result_ttl,
            "failure_ttl": self.failure_ttl,
            "description": f"{short} {call.job_id}",
        }

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        retries: int | None = None,
        retry_delays: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> str:
        """See :meth:`kefu.platform.jobs.api.JobQueue.enqueue`.

        Raises:
            redis.exceptions.ConnectionError: Redis cannot be reached (nothing was queued).
        """
        call = prepare_call(
            int(self.settings["jobs.default_retries"]), func, args, kwargs,
            job_id=job_id, retries=retries, retry_delays=retry_delays,
        )
        with contextlib.suppress(DuplicateJobError):  # idempotent enqueue by job id
            self.queue.enqueue_call(
                func=TRAMPOLINE,
                args=[call.spec.name, call.args, call.kwargs],
                timeout=call.spec.timeout,
                **self._options(call),
            )
        return call.job_id

    def enqueue_at(
        self,
        when: datetime,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        retries: int | None = None,
        retry_delays: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> str:
        """See :meth:`kefu.platform.jobs.api.JobQueue.enqueue_at`.

        RQ's scheduler works in whole seconds and would enqueue a job up to a second early;
        ``when`` is rounded up to the next whole second so the job never runs before it.
        """
        check_when(when)
        call = prepare_call(
            int(self.settings["jobs.default_retries"]), func, args, kwargs,
            job_id=job_id, retries=retries, retry_delays=retry_delays,
        )
        ceiled = when.replace(microsecond=0)
        if ceiled < when:
            ceiled += timedelta(seconds=1)
        with contextlib.suppress(DuplicateJobError):
            self.queue.enqueue_at(
                ceiled,
                TRAMPOLINE,
                args=[call.spec.name, call.args, call.kwargs],
                job_timeout=call.spec.timeout,
                **self._options(call),
            )
        return call.job_id

    # -- inspection -----------------------------------------------------------------------

    def get(self, job_id: str) -> JobInfo:
        """See :meth:`kefu.platform.jobs.api.JobQueue.get`."""
        try:
            rq_job = Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            raise JobNotFound(f"no job {job_id!r}") from None
        if rq_job.func_name != TRAMPOLINE:
            raise JobNotFound(f"{job_id!r} is an RQ job, not a kefu job")
        status = _STATUS.get(rq_job.get_status(refresh=False), JobStatus.QUEUED)
        if status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
            # Not from retries_left: RQ marks a retried job SCHEDULED a moment before it
            # saves the decremented retries_left.
            attempts = int(rq_job.meta.get(META_ATTEMPT, 0))
        else:
            retries = int(rq_job.meta.get(META_RETRIES, 0))
            attempts = retries - (rq_job.retries_left or 0) + 1
        result = rq_job.return_value() if status is JobStatus.FINISHED else None
        error = _failure_text(rq_job, attempts) if status is JobStatus.FAILED else None
        return JobInfo(
            id=job_id,
            name=str(rq_job.args[0]),
            status=status,
            attempts=attempts,
            result=result,
            error=error,
        )

    def wait(self, job_id: str, timeout: float = 30.0) -> JobInfo:
        """See :meth:`kefu.platform.jobs.api.JobQueue.wait` (polls Redis)."""
        deadline = time.monotonic() + timeout
        pause = 0.02
        while True:
            info = self.get(job_id)
            if info.status.terminal:
                return info
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JobTimeout(f"job {job_id} is still {info.status.value} after {timeout} s")
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.25)


def _failure_text(rq_job: Job, attempts: int) -> str:
    recorded = rq_job.meta.get(META_ERROR)
    if isinstance(recorded, dict) and recorded.get("attempt") == attempts:
        return str(recorded.get("text"))
    latest = rq_job.latest_result()
    exc_string = (latest.exc_string if latest is not None else None) or ""
    if "AbandonedJobError" in exc_string:
        return "AbandonedJobError: the worker running the job died and no retry was left"
    lines = [line for line in exc_string.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "the job failed"


# -- the worker side --------------------------------------------------------------------------


@dataclass
class _WorkerState:
    settings: Settings
    session_factory: Callable[[], Session] | None
    events: EventBus | None
    jobs: RQJobQueue
    pid: int


class _Process:
    """This process's worker state (a holder, so no ``global`` statements are needed)."""

    state: _WorkerState | None = None
    prepared_pid: int | None = None  # the pid whose connection pool was made fork-safe


def _make_state(
    settings: Settings,
    session_factory: Callable[[], Session] | None,
    events: EventBus | None,
) -> _WorkerState:
    if session_factory is None:
        from kefu.platform.db import create_engine, make_session_factory

        session_factory = make_session_factory(create_engine(settings.database_url))
    return _WorkerState(
        settings=settings,
        session_factory=session_factory,
        events=events,
        jobs=RQJobQueue(settings),
        pid=os.getpid(),
    )


def _engine_of(session_factory: Any) -> Any:
    bind = getattr(session_factory, "kw", {}).get("bind")
    return bind if hasattr(bind, "dispose") else None


def _worker_state() -> _WorkerState:
    """The process's job context, built once: by :func:`run_worker`, or on first use from
    ``load_settings()`` when jobs are run by a plain ``rq worker`` command."""
    if _Process.state is None:
        from kefu.platform.settings import load_settings

        _Process.state = _make_state(load_settings(), None, None)
    state = _Process.state
    pid = os.getpid()
    if _Process.prepared_pid != pid:
        _Process.prepared_pid = pid
        if pid != state.pid:
            # A forked work horse: drop the parent's pooled connections without closing them
            # (SQLAlchemy's documented fork recipe), so the horse opens its own.
            engine = _engine_of(state.session_factory)
            if engine is not None:
                engine.dispose(close=False)
    return state


def run_job(name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """The one function RQ runs for every kefu job (the trampoline).

    Args:
        name: the job's ``module:qualname``.
        args, kwargs: the job's JSON arguments.

    Returns:
        The job's JSON return value.

    Raises:
        Exception: whatever the job raised, after noting it for :meth:`RQJobQueue.get`.
    """
    state = _worker_state()
    rq_job = get_current_job()
    if rq_job is None:
        raise RuntimeError("run_job is called by an RQ worker only")
    retries = int(rq_job.meta.get(META_RETRIES, 0))
    attempt = retries - (rq_job.retries_left or 0) + 1
    rq_job.meta[META_ATTEMPT] = attempt
    rq_job.save_meta()
    spec = resolve(name)
    ctx = JobContext(
        settings=state.settings,
        job_id=rq_job.id,
        job_name=name,
        attempt=attempt,
        max_attempts=retries + 1,
        jobs=state.jobs,
        events=state.events,
        session_factory=state.session_factory,
    )
    try:
        return run_job_function(spec, ctx, args, kwargs)
    except Exception as exc:
        rq_job.meta[META_ERROR] = {"attempt": attempt, "text": describe_error(exc)}
        rq_job.save_meta()
        raise
    finally:
        if os.getpid() != state.pid:
            # The horse exits right after this job: close its connections cleanly.
            engine = _engine_of(state.session_factory)
            if engine is not None:
                engine.dispose()


class KefuWorker(Worker):
    """RQ's forking worker with a configurable heartbeat grace (stock RQ: a fixed 60 s).

    A running job's entry in the started registry expires ``heartbeat_grace`` seconds after
    the heartbeat that should have followed the last one; then the job counts as abandoned.
    """

    heartbeat_grace: int = 60

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        if job.timeout and job.timeout > 0:
            remaining = max(0.0, job.timeout - working_time)
            return int(min(remaining, self.job_monitoring_interval)) + self.heartbeat_grace
        return int(self.job_monitoring_interval) + self.heartbeat_grace


def run_worker(
    settings: Settings,
    session_factory: Callable[[], Session] | None = None,
    *,
    events: EventBus | None = None,
    burst: bool = False,
    with_scheduler: bool = True,
    heartbeat_interval: int = 10,
    heartbeat_grace: int = 20,
    maintenance_interval: int = 15,
    name: str | None = None,
    logging_level: str | None = None,
) -> bool:
    """Run an RQ worker on ``settings["jobs.queue"]`` until SIGTERM/SIGINT (``kefu worker``).

    Each job runs in a forked work horse, so a crashing job cannot take the worker down,
    and ``@job(timeout=...)`` is enforced. The worker also runs RQ's scheduler (one per
    queue holds the lock; the others take over when it dies) so ``enqueue_at`` and retry
    delays work. A first SIGTERM lets the running job finish; a second kills it (it is then
    retried like any failure).

    Args:
        settings: needs ``redis.url`` and ``database.url``.
        session_factory: for ``ctx.session()``; made from ``database.url`` when ``None``.
        events: handed to jobs as ``ctx.events``.
        burst: stop when the queue is empty (tests, one-off runs).
        with_scheduler: also run RQ's scheduler.
        heartbeat_interval: seconds between heartbeats of a running job.
        heartbeat_grace: seconds a missing heartbeat is tolerated before the job counts as
            abandoned. A dead worker's job is retried after at most
            ``heartbeat_interval + heartbeat_grace + maintenance_interval`` seconds.
        maintenance_interval: seconds between registry cleanups (abandoned-job detection,
            scheduler take-over), also the idle worker's wake-up period.
        name: the worker's name (default: random).
        logging_level: RQ's log level; ``None`` keeps the logging set up by the caller.

    Returns:
        True if the worker ran at least one job.

    Raises:
        ValueError: no ``redis.url``, or inconsistent intervals.
    """
    if not settings.redis_url:
        raise ValueError(
            "kefu worker needs the redis.url setting (embedded mode runs jobs in-process)"
        )
    if min(heartbeat_interval, heartbeat_grace, maintenance_interval) < 1:
        raise ValueError(
            "heartbeat_interval, heartbeat_grace and maintenance_interval must be >= 1"
        )
    state = _Process.state = _make_state(settings, session_factory, events)
    _Process.prepared_pid = os.getpid()
    connection = redis.Redis.from_url(str(settings.redis_url))
    worker = KefuWorker(
        [str(settings["jobs.queue"])],
        connection=connection,
        serializer=JSONSerializer,
        name=name,
        job_monitoring_interval=heartbeat_interval,
        maintenance_interval=maintenance_interval,
        # RQ blocks on the queue for worker_ttl - 15 s between maintenance checks.
        worker_ttl=maintenance_interval + 15,
    )
    worker.heartbeat_grace = heartbeat_grace
    log.info(
        "kefu worker %s on queue %s: abandoned jobs retried within about %d s",
        worker.name, settings["jobs.queue"],
        heartbeat_interval + heartbeat_grace + maintenance_interval,
    )
    try:
        return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=logging_level)
    finally:
        connection.close()
        state.jobs.close()

