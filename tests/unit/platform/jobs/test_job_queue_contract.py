"""The job queue contract, run against both queues in every backend pass.

``rq`` runs a real ``kefu worker`` child process on the machine's Redis, on a queue of its
own per test. The database the jobs write to is a SQLite file (embedded pass) or a fresh
PostgreSQL schema (production pass). Waits are bounded; nothing asserts a duration.

The job functions are module-level ``@job`` functions, so the worker imports them from this
module by name.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from kefu.platform.db import create_engine, make_session_factory
from kefu.platform.jobs import (
    InProcessJobQueue,
    JobAlreadyDone,
    JobContext,
    JobDefinitionError,
    JobNotFound,
    JobQueue,
    JobStatus,
    JobTimeout,
    NotJSONError,
    RQJobQueue,
    enqueue_after_commit,
    job,
)
from kefu.platform.jobs.models import JobRun
from kefu.platform.jobs.testing import WorkerProcess, purge_queue
from kefu.platform.settings import Settings, load_settings

WAIT = 30.0  # bound for a job to finish; a worker start is included

# A table of job effects, apart from kefu's metadata so nothing else ever sees it.
TEST_METADATA = sa.MetaData()
effects = sa.Table(
    "job_test_effects",
    TEST_METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("step", sa.String(20), nullable=False, default=""),
    sa.Column("attempt", sa.Integer, nullable=False),
)


# -- jobs -------------------------------------------------------------------------------------


@job(retries=0)
def echo(ctx: JobContext, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {
        "args": list(args),
        "kwargs": kwargs,
        "job_id": ctx.job_id,
        "job_name": ctx.job_name,
        "attempt": ctx.attempt,
        "max_attempts": ctx.max_attempts,
        "queue": ctx.settings["jobs.queue"],
    }


@job(retries=0)
def append_line(ctx: JobContext, path: str, text: str = "ran") -> str:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{text}\n")
    return text


@job(retries=2, retry_delays=[0])
def always_fails(ctx: JobContext, path: str) -> None:
    append_line(ctx, path, f"attempt {ctx.attempt}")
    raise ValueError(f"boom on attempt {ctx.attempt}")


@job
def fails_once(ctx: JobContext, path: str) -> dict[str, int]:
    append_line(ctx, path, f"attempt {ctx.attempt}")
    if ctx.attempt == 1:
        raise ConnectionError("gateway unreachable")
    return {"attempt": ctx.attempt}


@job(retries=0)
def returns_a_set(ctx: JobContext) -> Any:
    return {1, 2}


@job(retries=0)
def report_start_time(ctx: JobContext) -> str:
    return datetime.now(UTC).isoformat()


@job(retries=0)
def wait_for_release(ctx: JobContext, started: str, release: str) -> str:
    Path(started).write_text(str(ctx.attempt), encoding="utf-8")
    deadline = time.monotonic() + WAIT
    while not Path(release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the job")
        time.sleep(0.02)
    return "released"


@job(retries=2, retry_delays=[0])
def write_then_crash_before_commit(ctx: JobContext, key: str) -> int:
    with ctx.transaction() as session:
        session.execute(effects.insert().values(key=key, attempt=ctx.attempt))
        if ctx.attempt == 1:
            raise RuntimeError("crash inside the transaction")
    return ctx.attempt


@job(retries=2, retry_delays=[0])
def commit_then_crash(ctx: JobContext, key: str) -> str:
    with ctx.transaction() as session:
        session.execute(effects.insert().values(key=key, attempt=ctx.attempt))
    if ctx.attempt == 1:
        raise RuntimeError("crash after the commit, before the queue heard of it")
    return "done"


@job(retries=2, retry_delays=[0])
def two_steps(ctx: JobContext, key: str) -> str:
    try:
        with ctx.transaction(step="reserve") as session:
            session.execute(effects.insert().values(key=key, step="reserve", attempt=ctx.attempt))
    except JobAlreadyDone:
        pass
    if ctx.attempt == 1:
        raise RuntimeError("crash between the steps")
    with ctx.transaction(step="confirm") as session:
        session.execute(effects.insert().values(key=key, step="confirm", attempt=ctx.attempt))
    return "both"


@job(retries=0)
def enqueue_follow_up(ctx: JobContext, path: str) -> str:
    assert ctx.jobs is not None
    return ctx.jobs.enqueue(append_line, path, "follow-up", job_id=f"{ctx.job_id}-next")


def not_a_job(ctx: JobContext) -> None:
    """A plain function, never decorated."""


@dataclasses.dataclass
class Customer:  # stands in for an ORM object passed by mistake
    id: int


# -- fixtures ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Harness:
    queue: JobQueue
    settings: Settings
    session_factory: sessionmaker[Session]
    tmp: Path

    def effects(self, key: str) -> list[tuple[str, int]]:
        with self.session_factory() as session:
            rows = session.execute(
                sa.select(effects.c.step, effects.c.attempt)
                .where(effects.c.key == key)
                .order_by(effects.c.id)
            )
            return [(r.step, r.attempt) for r in rows]

    def ledger(self, job_id: str) -> list[tuple[str, str]]:
        with self.session_factory() as session:
            rows = session.execute(
                sa.select(JobRun.step, JobRun.job_name).where(JobRun.job_id == job_id)
            )
            return sorted((r.step, r.job_name) for r in rows)

    def path(self, name: str) -> str:
        return str(self.tmp / name)


@pytest.fixture
def database_for_jobs(backend: str, postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with ``job_runs`` and the effects table: a SQLite file, or a PostgreSQL
    schema of its own (so nothing touches the shared test database's tables)."""
    if backend == "embedded":
        url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
        yield url
        return
    schema = f"jobs_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["inprocess", "rq"])
def harness(
    request: pytest.FixtureRequest, database_for_jobs: str, redis_url: str, tmp_path: Path
) -> Iterator[Harness]:
    engine = create_engine(database_for_jobs)
    JobRun.__table__.create(engine)  # type: ignore[attr-defined]
    TEST_METADATA.create_all(engine)
    session_factory = make_session_factory(engine)
    env = {
        "KEFU_DATA_DIR": str(tmp_path / "var"),
        "KEFU_DATABASE_URL": database_for_jobs,
        "KEFU_JOBS_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        "KEFU_JOBS_DEFAULT_RETRIES": "1",
    }
    if request.param == "inprocess":
        settings = load_settings(environ=env)
        queue = InProcessJobQueue(settings, session_factory, threads=2)
        queue.start()
        try:
            yield Harness(queue, settings, session_factory, tmp_path)
        finally:
            queue.close()
            engine.dispose()
        return

    env["KEFU_REDIS_URL"] = redis_url
    settings = load_settings(environ=env)
    rq_queue = RQJobQueue(settings, result_ttl=600, failure_ttl=600)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        yield Harness(rq_queue, settings, session_factory, tmp_path)
    finally:
        worker.stop()
        print(worker.output())  # shown when the test failed
        purge_queue(rq_queue.connection, str(settings["jobs.queue"]))
        rq_queue.close()
        engine.dispose()


def wait_for_file(path: str) -> None:
    deadline = time.monotonic() + WAIT
    while not Path(path).exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines() if Path(path).exists() else []


# -- the contract -----------------------------------------------------------------------------


def test_enqueue_runs_the_job_with_its_context_and_keeps_the_json_result(harness: Harness):
    job_id = harness.queue.enqueue(echo, "T-1", (1, 2), n=3, flags={"vip": True, "notes": None})

    info = harness.queue.wait(job_id, WAIT)

    assert info.status is JobStatus.FINISHED
    assert info.id == job_id
    assert info.name == f"{__name__}:echo"
    assert info.attempts == 1
    assert info.error is None
    assert info.result == {
        "args": ["T-1", [1, 2]],  # tuples travel as lists, as JSON does
        "kwargs": {"n": 3, "flags": {"vip": True, "notes": None}},
        "job_id": job_id,
        "job_name": f"{__name__}:echo",
        "attempt": 1,
        "max_attempts": 1,
        "queue": harness.settings["jobs.queue"],
    }
    assert harness.queue.get(job_id) == info


def test_a_failing_job_is_retried_then_marked_failed_with_its_error(harness: Harness):
    path = harness.path("attempts.txt")
    job_id = harness.queue.enqueue(always_fails, path)

    info = harness.queue.wait(job_id, WAIT)

    assert info.status is JobStatus.FAILED
    assert info.attempts == 3
    assert info.error == "ValueError: boom on attempt 3"
    assert info.result is None
    assert lines(path) == ["attempt 1", "attempt 2", "attempt 3"]


def test_retry_count_and_delays_given_at_enqueue_override_the_job_defaults(harness: Harness):
    path = harness.path("attempts.txt")
    job_id = harness.queue.enqueue(always_fails, path, retries=0)
    assert harness.queue.wait(job_id, WAIT).attempts == 1

    # The settings' jobs.default_retries (1 here) applies to @job without retries=.
    path = harness.path("flaky.txt")
    job_id = harness.queue.enqueue(fails_once, path, retry_delays=[0])
    info = harness.queue.wait(job_id, WAIT)
    assert (info.status, info.attempts, info.result) == (JobStatus.FINISHED, 2, {"attempt": 2})
    assert lines(path) == ["attempt 1", "attempt 2"]


def test_a_retry_waits_for_its_delay(harness: Harness):
    path = harness.path("flaky.txt")
    job_id = harness.queue.enqueue(fails_once, path, retry_delays=[3600])

    deadline = time.monotonic() + WAIT
    while (info := harness.queue.get(job_id)).status is not JobStatus.SCHEDULED:
        assert time.monotonic() < deadline, f"job never went back to scheduled: {info}"
        time.sleep(0.02)

    assert info.attempts == 1
    assert info.error is None  # not failed: waiting for its retry
    assert lines(path) == ["attempt 1"]


def test_enqueue_at_schedules_and_never_runs_early(harness: Harness):
    later = harness.queue.enqueue_at(datetime.now(UTC) + timedelta(hours=1), echo, "later")
    info = harness.queue.get(later)
    assert (info.status, info.attempts, info.result) == (JobStatus.SCHEDULED, 0, None)
    with pytest.raises(JobTimeout, match="still scheduled"):
        harness.queue.wait(later, timeout=0.2)

    when = datetime.now(UTC) + timedelta(seconds=1.5)
    soon = harness.queue.enqueue_at(when, report_start_time)
    info = harness.queue.wait(soon, WAIT)
    assert info.status is JobStatus.FINISHED
    assert datetime.fromisoformat(info.result) >= when


def test_a_running_job_shows_as_started(harness: Harness):
    started, release = harness.path("started"), harness.path("release")
    job_id = harness.queue.enqueue(wait_for_release, started, release)
    wait_for_file(started)

    info = harness.queue.get(job_id)
    assert (info.status, info.attempts) == (JobStatus.STARTED, 1)

    Path(release).touch()
    assert harness.queue.wait(job_id, WAIT).result == "released"


def test_enqueueing_the_same_job_id_again_is_a_no_op(harness: Harness):
    path = harness.path("runs.txt")
    job_id = f"confirm-order-{uuid.uuid4().hex}"

    assert harness.queue.enqueue(append_line, path, job_id=job_id) == job_id
    assert harness.queue.enqueue(append_line, path, job_id=job_id) == job_id
    assert harness.queue.wait(job_id, WAIT).status is JobStatus.FINISHED
    assert harness.queue.enqueue(append_line, path, job_id=job_id) == job_id
    assert harness.queue.wait(job_id, WAIT).status is JobStatus.FINISHED

    assert lines(path) == ["ran"]


def test_bad_calls_are_refused_at_enqueue_with_a_clear_error(harness: Harness):
    queue = harness.queue
    with pytest.raises(NotJSONError, match=r"argument 1 of echo is a uuid\.UUID"):
        queue.enqueue(echo, uuid.uuid4())
    with pytest.raises(NotJSONError, match=r"argument 'customer' of echo is a .*Customer"):
        queue.enqueue(echo, customer=Customer(id=7))
    with pytest.raises(NotJSONError, match=r"argument 2 of echo at \[0\]\['at'\] is a datetime"):
        queue.enqueue(echo, "x", [{"at": datetime.now(UTC)}])
    with pytest.raises(NotJSONError, match="keys must be strings"):
        queue.enqueue(echo, {1: "one"})
    with pytest.raises(JobDefinitionError, match="not_a_job is not a job; decorate it with @job"):
        queue.enqueue(not_a_job)
    with pytest.raises(ValueError, match="job_id must be"):
        queue.enqueue(echo, job_id="order:42")
    with pytest.raises(JobDefinitionError, match="retries must be"):
        queue.enqueue(echo, retries=-1)
    with pytest.raises(JobDefinitionError, match="retry_delays must be"):
        queue.enqueue(echo, retry_delays=[-5])
    with pytest.raises(ValueError, match="timezone-aware"):
        queue.enqueue_at(datetime.now() + timedelta(hours=1), echo)  # noqa: DTZ005
    with pytest.raises(JobNotFound):
        queue.get(f"never-{uuid.uuid4().hex}")
    with pytest.raises(JobNotFound):
        queue.wait(f"never-{uuid.uuid4().hex}", 1)


def test_a_job_returning_something_that_is_not_json_fails(harness: Harness):
    info = harness.queue.wait(harness.queue.enqueue(returns_a_set), WAIT)

    assert info.status is JobStatus.FAILED
    assert info.error is not None
    assert info.error.startswith("kefu.platform.jobs.payload.NotJSONError: the return value of")
    assert "is a set" in info.error


def test_a_crash_inside_the_transaction_rolls_back_and_the_retry_writes_once(harness: Harness):
    key = uuid.uuid4().hex
    job_id = harness.queue.enqueue(write_then_crash_before_commit, key)

    info = harness.queue.wait(job_id, WAIT)

    assert (info.status, info.attempts, info.result) == (JobStatus.FINISHED, 2, 2)
    assert harness.effects(key) == [("", 2)]
    assert harness.ledger(job_id) == [("", f"{__name__}:write_then_crash_before_commit")]


def test_a_redelivered_job_skips_an_effect_it_already_committed(harness: Harness):
    key = uuid.uuid4().hex
    job_id = harness.queue.enqueue(commit_then_crash, key)

    info = harness.queue.wait(job_id, WAIT)

    # Attempt 2 found the ledger row and finished without writing again.
    assert (info.status, info.attempts, info.result) == (JobStatus.FINISHED, 2, None)
    assert harness.effects(key) == [("", 1)]


def test_a_multi_step_job_resumes_after_its_committed_steps(harness: Harness):
    key = uuid.uuid4().hex
    job_id = harness.queue.enqueue(two_steps, key)

    info = harness.queue.wait(job_id, WAIT)

    assert (info.status, info.attempts, info.result) == (JobStatus.FINISHED, 2, "both")
    assert harness.effects(key) == [("reserve", 1), ("confirm", 2)]
    assert [step for step, _ in harness.ledger(job_id)] == ["confirm", "reserve"]


def test_a_job_can_enqueue_a_follow_up_job(harness: Harness):
    path = harness.path("follow.txt")
    job_id = harness.queue.enqueue(enqueue_follow_up, path)

    follow_up = harness.queue.wait(job_id, WAIT).result

    assert follow_up == f"{job_id}-next"
    assert harness.queue.wait(follow_up, WAIT).result == "follow-up"
    assert lines(path) == ["follow-up"]


def test_enqueue_after_commit_queues_on_commit_and_drops_on_rollback(harness: Harness):
    path = harness.path("after-commit.txt")
    with harness.session_factory() as session:
        session.execute(effects.insert().values(key="rolled-back", attempt=0))
        dropped = enqueue_after_commit(session, harness.queue, append_line, path, "dropped")
        session.rollback()
        with pytest.raises(JobNotFound):
            harness.queue.get(dropped)

        session.execute(effects.insert().values(key="committed", attempt=0))
        kept = enqueue_after_commit(session, harness.queue, append_line, path, "kept")
        with pytest.raises(JobNotFound):  # not before the commit
            harness.queue.get(kept)
        session.commit()

        with pytest.raises(NotJSONError):  # checked at once, not at commit
            enqueue_after_commit(session, harness.queue, append_line, Customer(id=1))

    assert harness.queue.wait(kept, WAIT).result == "kept"
    with pytest.raises(JobNotFound):
        harness.queue.get(dropped)
    assert lines(path) == ["kept"]
    assert harness.effects("committed") == [("", 0)]
    assert harness.effects("rolled-back") == []

