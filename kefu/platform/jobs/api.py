"""The job API shared by both queues: the ``@job`` decorator, :class:`JobInfo`, the
:class:`JobQueue` interface and the checks every ``enqueue`` runs before anything is queued.

Both implementations (:class:`~kefu.platform.jobs.inprocess.InProcessJobQueue` and
:class:`~kefu.platform.jobs.redis_queue.RQJobQueue`) call :func:`prepare_call` so a bad call
fails the same way, with the same message, in embedded and in production mode.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from kefu.platform.jobs.payload import json_copy, to_json

F = TypeVar("F", bound=Callable[..., Any])

JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Delay before retry n (1-based) is delays[min(n, len(delays)) - 1]: the last value repeats.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (5, 30, 120, 600)
# Names enqueue()/enqueue_at() use themselves, so a job cannot take them as keyword arguments.
RESERVED_PARAMETERS = frozenset({"func", "when", "job_id", "retries", "retry_delays"})
# Largest JSON text of one job's arguments; bigger payloads belong in the database.
MAX_ARGS_BYTES = 512 * 1024


class JobError(Exception):
    """Base class of the job API's errors."""


class JobDefinitionError(JobError, TypeError):
    """A function cannot be a job (not decorated, nested, async, not importable by name)."""


class JobNotFound(JobError, LookupError):
    """No job with this id is known (never enqueued, or its record has expired)."""


class JobTimeout(JobError, TimeoutError):
    """:meth:`JobQueue.wait` gave up before the job finished or failed."""


class JobAlreadyDone(JobError):
    """Raised by :meth:`JobContext.transaction` when the ledger shows this job (and step)
    already committed its effect. Both runners treat it escaping a job as a successful
    finish with result ``None``; catch it to carry on with later steps."""

    def __init__(self, job_id: str, step: str = "") -> None:
        self.job_id = job_id
        self.step = step
        where = f" step {step!r}" if step else ""
        super().__init__(f"job {job_id}{where} already committed its effect")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker
    SCHEDULED = "scheduled"  # waiting for its time (enqueue_at, or a retry delay)
    STARTED = "started"  # a worker is running it
    FINISHED = "finished"  # returned; ``result`` holds the return value
    FAILED = "failed"  # raised on its last attempt (or its worker died with no retry left)

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.FAILED)


@dataclass(frozen=True)
class JobInfo:
    """What a queue knows about one job.

    ``attempts`` counts the runs started so far, the current one included: 0 while the job
    waits for its first run, 1 during and after it, 2 after one retry, and so on.
    ``error`` is the exception of the last attempt as ``"ValueError: message"`` when the job
    failed, else ``None``. ``result`` is the JSON return value when finished, else ``None``.
    """

    id: str
    name: str
    status: JobStatus
    attempts: int
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """How a job function is called; attached to the function as ``__kefu_job__``."""

    name: str  # "module:qualname", how workers import it
    func: Callable[..., Any]
    retries: int | None  # None: settings["jobs.default_retries"]
    retry_delays: tuple[float, ...] | None  # None: DEFAULT_RETRY_DELAYS
    timeout: int | None  # seconds; enforced by the RQ worker only (None: RQ's 180 s)


def job(
    func: F | None = None,
    *,
    retries: int | None = None,
    retry_delays: Sequence[float] | None = None,
    timeout: int | None = None,
) -> Any:
    """Mark a module-level function as a job. Use as ``@job`` or ``@job(retries=5)``.

    The function takes a :class:`~kefu.platform.jobs.context.JobContext` first, then JSON
    arguments only (ids and plain values). It is returned unchanged, so tests can call it
    directly with a context.

    Args:
        func: the function (when used without parentheses).
        retries: default number of retries after a failed attempt; ``None`` uses the
            ``jobs.default_retries`` setting. A call to ``enqueue`` may override it.
        retry_delays: default seconds to wait before retry 1, 2, ... (the last value
            repeats); ``None`` uses ``DEFAULT_RETRY_DELAYS``.
        timeout: seconds after which the RQ worker kills an attempt (counts as a failure).
            The in-process runner cannot interrupt a thread and ignores it.

    Returns:
        The function itself, or a decorator when called with keyword arguments only.

    Raises:
        JobDefinitionError: the function is nested, a coroutine function, takes no
            context parameter or has a parameter named like an ``enqueue`` option
            (``func``, ``when``, ``job_id``, ``retries``, ``retry_delays``); or an option is
            out of range.
    """
    delays = _check_retry_options(retries, retry_delays)
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise JobDefinitionError(f"timeout must be a whole number of seconds > 0, got {timeout!r}")

    def decorate(fn: F) -> F:
        where = getattr(fn, "__qualname__", repr(fn))
        if not inspect.isfunction(fn):
            raise JobDefinitionError(f"@job needs a plain function, got {fn!r}")
        if "<locals>" in fn.__qualname__ or "." in fn.__qualname__:
            raise JobDefinitionError(
                f"{where} is not a module-level function; workers import jobs by name, so "
                "define it at the top level of a module"
            )
        if inspect.iscoroutinefunction(fn):
            raise JobDefinitionError(f"{where} is async; jobs are plain (synchronous) functions")
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise JobDefinitionError(f"{where} must take the JobContext as its first parameter")
        clash = sorted(RESERVED_PARAMETERS.intersection(p.name for p in params[1:]))
        if clash:
            raise JobDefinitionError(
                f"{where} has a parameter named {clash[0]!r}, which enqueue() takes for itself; "
                "rename it"
            )
        fn.__kefu_job__ = JobSpec(  # type: ignore[attr-defined]
            name=f"{fn.__module__}:{fn.__qualname__}",
            func=fn,
            retries=retries,
            retry_delays=delays,
            timeout=timeout,
        )
        return fn

    if func is not None:
        return decorate(func)
    return decorate


def spec_of(func: Callable[..., Any]) -> JobSpec:
    """The :class:`JobSpec` of a ``@job`` function.

    Raises:
        JobDefinitionError: ``func`` is not decorated with ``@job`` or cannot be imported
            back by its name (workers must be able to find it).
    """
    spec = getattr(func, "__kefu_job__", None)
    if not isinstance(spec, JobSpec) or spec.func is not func:
        name = getattr(func, "__qualname__", repr(func))
        raise JobDefinitionError(f"{name} is not a job; decorate it with @job")
    if spec.name.startswith("__main__:"):
        raise JobDefinitionError(
            f"{spec.name} is defined in __main__; workers cannot import it, move it to a module"
        )
    try:
        found = resolve(spec.name)
    except JobDefinitionError as exc:
        raise JobDefinitionError(f"{spec.name} cannot be enqueued: {exc}") from None
    if found is not spec:
        raise JobDefinitionError(
            f"{spec.name} cannot be enqueued: importing it by name gives a different function"
        )
    return spec


def resolve(name: str) -> JobSpec:
    """Import a job by its ``module:qualname`` name, as a worker does.

    Raises:
        JobDefinitionError: the module or function is missing, or it is not a ``@job``.
    """
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise JobDefinitionError(f"cannot import module {module_name!r}: {exc}") from None
    fn = getattr(module, attr, None)
    spec = getattr(fn, "__kefu_job__", None)
    if not isinstance(spec, JobSpec):
        raise JobDefinitionError(f"{name} is not a @job function")
    return spec


def _check_retry_options(
    retries: int | None, retry_delays: Sequence[float] | None
) -> tuple[float, ...] | None:
    if retries is not None and (
        not isinstance(retries, int) or isinstance(retries, bool) or retries < 0
    ):
        raise JobDefinitionError(f"retries must be a whole number >= 0, got {retries!r}")
    if retry_delays is None:
        return None
    if isinstance(retry_delays, str | bytes) or not isinstance(retry_delays, Sequence):
        raise JobDefinitionError(
            f"retry_delays must be a sequence of seconds, got {retry_delays!r}"
        )
    delays = tuple(retry_delays)
    if not delays or any(
        isinstance(d, bool) or not isinstance(d, int | float) or not d >= 0 for d in delays
    ):
        raise JobDefinitionError(
            f"retry_delays must be a non-empty sequence of seconds >= 0, got {retry_delays!r}"
        )
    return delays


@dataclass(frozen=True)
class PreparedCall:
    """A checked ``enqueue`` call, ready for either queue."""

    spec: JobSpec
    job_id: str
    explicit_id: bool
    args: list[Any]
    kwargs: dict[str, Any]
    retries: int
    delays: tuple[float, ...]  # exactly ``retries`` values: delay before retry 1..retries

    def delay_before_retry(self, number: int) -> float:
        """Seconds to wait before retry ``number`` (1-based)."""
        return self.delays[number - 1] if self.delays else 0.0


def prepare_call(
    default_retries: int,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    job_id: str | None,
    retries: int | None,
    retry_delays: Sequence[float] | None,
) -> PreparedCall:
    """Check an ``enqueue`` call and resolve its defaults.

    Args:
        default_retries: retries when neither the call nor ``@job`` says (the
            ``jobs.default_retries`` setting).

    Returns:
        The call with JSON copies of the arguments, a job id (generated when ``job_id`` is
        ``None``) and the retry delays expanded to one value per retry.

    Raises:
        JobDefinitionError: ``func`` is not an importable ``@job`` function, or a retry
            option is out of range.
        NotJSONError: an argument is not a plain JSON value (names which one).
        ValueError: ``job_id`` is malformed, or the arguments are too large.
    """
    spec = spec_of(func)
    if job_id is None:
        job_id, explicit = uuid.uuid4().hex, False
    else:
        if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
            raise ValueError(
                f"job_id must be 1-128 letters, digits, '_' or '-', got {job_id!r}"
            )
        explicit = True
    delays = _check_retry_options(retries, retry_delays)
    n_retries = retries if retries is not None else spec.retries
    if n_retries is None:
        n_retries = default_retries
    base = delays or spec.retry_delays or DEFAULT_RETRY_DELAYS
    expanded = tuple(float(base[min(i, len(base) - 1)]) for i in range(n_retries))
    short = spec.name.rpartition(":")[2]
    copied_args = [json_copy(a, f"argument {i + 1} of {short}") for i, a in enumerate(args)]
    copied_kwargs = {k: json_copy(v, f"argument {k!r} of {short}") for k, v in kwargs.items()}
    size = len(to_json([copied_args, copied_kwargs], short).encode())
    if size > MAX_ARGS_BYTES:
        raise ValueError(
            f"arguments of {short} are {size} bytes of JSON, over {MAX_ARGS_BYTES}; store large "
            "data in the database and pass its id"
        )
    return PreparedCall(spec, job_id, explicit, copied_args, copied_kwargs, n_retries, expanded)


def check_when(when: datetime) -> None:
    """Raise ``ValueError`` unless ``when`` is a timezone-aware datetime."""
    if not isinstance(when, datetime):
        raise TypeError(f"enqueue_at needs a datetime, got {when!r}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"enqueue_at needs a timezone-aware datetime, got naive {when!r}")


def describe_error(exc: BaseException) -> str:
    """``"ValueError: message"`` for an exception, as :attr:`JobInfo.error` shows it."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


@runtime_checkable
class JobQueue(Protocol):
    """Where jobs go. Chosen by :func:`kefu.platform.jobs.make_job_queue` from settings.

    Enqueue only after the database transaction that produced the job's ids has committed
    (see :func:`kefu.platform.jobs.enqueue_after_commit`); a job enqueued earlier may run
    before the rows it needs exist, or for rows that are then rolled back.
    """

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        retries: int | None = None,
        retry_delays: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> str:
        """Queue ``func(ctx, *args, **kwargs)`` to run as soon as a worker is free.

        ``job_id`` (letters, digits, ``_``, ``-``) makes the enqueue idempotent: while a job
        with that id is known, enqueueing it again does nothing and returns the id.

        Returns:
            The job id.

        Raises:
            JobDefinitionError, NotJSONError, ValueError: see :func:`prepare_call`.
        """
        ...

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
        """Like :meth:`enqueue`, but the job is not run before ``when`` (timezone-aware).

        Raises:
            ValueError: ``when`` is naive; otherwise as :meth:`enqueue`.
        """
        ...

    def get(self, job_id: str) -> JobInfo:
        """The current state of a job.

        Raises:
            JobNotFound: the id is unknown or its record has expired.
        """
        ...

    def wait(self, job_id: str, timeout: float = 30.0) -> JobInfo:
        """Block until the job is finished or failed, at most ``timeout`` seconds.

        Raises:
            JobNotFound: the id is unknown.
            JobTimeout: the job is still queued, scheduled or running after ``timeout``.
        """
        ...

    def start(self) -> None:
        """Begin running jobs (in-process) or do nothing (RQ: workers are processes)."""
        ...

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; wait up to ``timeout`` seconds for running ones."""
        ...

    def close(self) -> None:
        """Stop and release connections. The queue cannot be used afterwards."""
        ...
