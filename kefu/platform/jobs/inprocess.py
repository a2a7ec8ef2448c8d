"""The embedded job queue: jobs run on worker threads inside the ``kefu serve`` process.

Same contract as RQ (see ``docs/jobs-and-events.md``): delayed and scheduled jobs, retries
with delays, results kept for ``result_ttl`` seconds. Differences that cannot be helped:
queued jobs live in memory, so jobs not yet finished when the process exits are lost (the
ledger still prevents a double effect if they are enqueued again with the same job id), and a
job ``timeout`` is not enforced because a Python thread cannot be interrupted.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kefu.platform.jobs.api import (
    JobInfo,
    JobNotFound,
    JobStatus,
    JobTimeout,
    PreparedCall,
    check_when,
    describe_error,
    prepare_call,
)
from kefu.platform.jobs.context import JobContext, run_job_function

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.platform.events import EventBus
    from kefu.platform.settings import Settings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Record:
    call: PreparedCall
    status: JobStatus
    attempts: int = 0
    result: Any = None
    error: str | None = None
    ended: float | None = None  # monotonic time it became finished/failed

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.call.job_id,
            name=self.call.spec.name,
            status=self.status,
            attempts=self.attempts,
            result=self.result if self.status is JobStatus.FINISHED else None,
            error=self.error if self.status is JobStatus.FAILED else None,
        )


class InProcessJobQueue:
    """Runs jobs on ``threads`` worker threads of this process.

    Args:
        settings: the process settings (read: ``jobs.default_retries``; given to jobs).
        session_factory: makes ORM sessions for ``ctx.session()`` / ``ctx.transaction()``.
        events: an event bus handed to jobs as ``ctx.events``.
        threads: how many jobs may run at once.
        result_ttl: seconds a finished or failed job stays visible to :meth:`get` (and
            keeps its job id taken).
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: Callable[[], Session] | None = None,
        *,
        events: EventBus | None = None,
        threads: int = 4,
        result_ttl: float = 24 * 3600,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.settings = settings
        self.session_factory = session_factory
        self.events = events
        self.result_ttl = result_ttl
        self._n_threads = threads
        self._cond = threading.Condition()
        self._records: dict[str, _Record] = {}
        self._ready: deque[str] = deque()
        self._delayed: list[tuple[float, int, str]] = []  # (monotonic due, seq, job id)
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._closed = False
        self._last_prune = time.monotonic()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (idempotent). Jobs enqueued before wait until now."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            if self._threads:
                return
            self._stopping = False
            self._threads = [
                threading.Thread(target=self._work, name=f"kefu-job-{i}", daemon=True)
                for i in range(self._n_threads)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let running jobs finish (waiting up to ``timeout`` seconds), then stop the threads.

        Jobs still queued stay queued and run if :meth:`start` is called again.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("job thread %s still running a job after stop()", thread.name)

    def close(self) -> None:
        """Stop the threads; the queue refuses further use."""
        self.stop()
        with self._cond:
            self._closed = True

    def __enter__(self) -> InProcessJobQueue:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- enqueueing -----------------------------------------------------------------------

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        retries: int | None = None,
        retry_delays: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> str:
        """See :meth:`kefu.platform.jobs.api.JobQueue.enqueue`."""
        call = prepare_call(
            int(self.settings["jobs.default_retries"]), func, args, kwargs,
            job_id=job_id, retries=retries, retry_delays=retry_delays,
        )
        return self._add(call, delay=None)

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
        """See :meth:`kefu.platform.jobs.api.JobQueue.enqueue_at`."""
        check_when(when)
        call = prepare_call(
            int(self.settings["jobs.default_retries"]), func, args, kwargs,
            job_id=job_id, retries=retries, retry_delays=retry_delays,
        )
        return self._add(call, delay=(when - datetime.now(UTC)).total_seconds())

    def _add(self, call: PreparedCall, delay: float | None) -> str:
        with self._cond:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            self._prune()
            if call.job_id in self._records:
                return call.job_id  # idempotent enqueue by job id
            record = _Record(call, JobStatus.QUEUED if delay is None else JobStatus.SCHEDULED)
            self._records[call.job_id] = record
            if delay is None:
                self._ready.append(call.job_id)
            else:
                due = time.monotonic() + max(0.0, delay)
                heapq.heappush(self._delayed, (due, next(self._seq), call.job_id))
            self._cond.notify()
        return call.job_id

    # -- inspection -----------------------------------------------------------------------

    def get(self, job_id: str) -> JobInfo:
        """See :meth:`kefu.platform.jobs.api.JobQueue.get`."""
        with self._cond:
            record = self._records.get(job_id)
            if record is None:
                raise JobNotFound(f"no job {job_id!r}")
            return record.info()

    def wait(self, job_id: str, timeout: float = 30.0) -> JobInfo:
        """See :meth:`kefu.platform.jobs.api.JobQueue.wait`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                record = self._records.get(job_id)
                if record is None:
                    raise JobNotFound(f"no job {job_id!r}")
                if record.status.terminal:
                    return record.info()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JobTimeout(
                        f"job {job_id} is still {record.status.value} after {timeout} s"
                    )
                self._cond.wait(remaining)

    # -- running --------------------------------------------------------------------------

    def _promote_due(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, job_id = heapq.heappop(self._delayed)
            record = self._records.get(job_id)
            if record is not None:
                record.status = JobStatus.QUEUED
                self._ready.append(job_id)

    def _next(self) -> _Record | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.monotonic()
                self._promote_due(now)
                if self._ready:
                    record = self._records[self._ready.popleft()]
                    record.status = JobStatus.STARTED
                    record.attempts += 1
                    return record
                timeout = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(timeout)

    def _work(self) -> None:
        while (record := self._next()) is not None:
            self._run(record)

    def _run(self, record: _Record) -> None:
        call = record.call
        ctx = JobContext(
            settings=self.settings,
            job_id=call.job_id,
            job_name=call.spec.name,
            attempt=record.attempts,
            max_attempts=call.retries + 1,
            jobs=self,
            events=self.events,
            session_factory=self.session_factory,
        )
        try:
            result = run_job_function(call.spec, ctx, call.args, call.kwargs)
        except BaseException as exc:
            self._failed(record, describe_error(exc))
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: the job is recorded, the thread ends
        else:
            with self._cond:
                record.status = JobStatus.FINISHED
                record.result = result
                record.error = None
                record.ended = time.monotonic()
                self._cond.notify_all()

    def _failed(self, record: _Record, error: str) -> None:
        call = record.call
        with self._cond:
            record.error = error
            retry_number = record.attempts  # attempts so far == number of the next retry
            if retry_number <= call.retries:
                delay = call.delay_before_retry(retry_number)
                if delay > 0:
                    record.status = JobStatus.SCHEDULED
                    heapq.heappush(
                        self._delayed, (time.monotonic() + delay, next(self._seq), call.job_id)
                    )
                else:
                    record.status = JobStatus.QUEUED
                    self._ready.append(call.job_id)
            else:
                record.status = JobStatus.FAILED
                record.ended = time.monotonic()
                log.error("job %s %s failed for good: %s", call.spec.name, call.job_id, error)
            self._cond.notify_all()

    def _prune(self) -> None:
        """Forget finished and failed jobs older than ``result_ttl`` (at most once a minute)."""
        now = time.monotonic()
        if now - self._last_prune < min(60.0, self.result_ttl):
            return
        self._last_prune = now
        expired = [
            job_id
            for job_id, record in self._records.items()
            if record.ended is not None and now - record.ended > self.result_ttl
        ]
        for job_id in expired:
            del self._records[job_id]
