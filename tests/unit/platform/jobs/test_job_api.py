"""The job API's own rules: what may be a job, what may travel as JSON, the ledger helper used
directly, the factories, and the in-process queue's lifecycle."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from kefu.platform.db import create_engine, make_session_factory, utcnow
from kefu.platform.events import InProcessEventBus, RedisEventBus, make_event_bus
from kefu.platform.jobs import (
    InProcessJobQueue,
    JobAlreadyDone,
    JobContext,
    JobDefinitionError,
    JobNotFound,
    JobStatus,
    NoDatabase,
    NotJSONError,
    RQJobQueue,
    job,
    make_job_queue,
    prune_job_runs,
)
from kefu.platform.jobs.models import JobRun
from kefu.platform.jobs.payload import check_json
from kefu.platform.settings import Settings, load_settings

WAIT = 10.0


@job(retries=0)
def needs_database(ctx: JobContext) -> None:
    with ctx.session():
        pass


@job(retries=0)
def count_call(ctx: JobContext, path: str) -> int:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("x")
    return len(Path(path).read_text(encoding="utf-8"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={"KEFU_DATA_DIR": str(tmp_path / "var")})


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    JobRun.__table__.create(engine)  # type: ignore[attr-defined]
    yield make_session_factory(engine)
    engine.dispose()


def make_context(settings: Settings, sessions: Any, job_id: str = "job-1") -> JobContext:
    return JobContext(
        settings=settings,
        job_id=job_id,
        job_name="tests:job",
        attempt=1,
        max_attempts=1,
        session_factory=sessions,
    )


# -- @job -------------------------------------------------------------------------------------


def test_only_plain_module_level_functions_taking_a_context_can_be_jobs():
    def nested(ctx: JobContext) -> None:
        pass

    with pytest.raises(JobDefinitionError, match="not a module-level function"):
        job(nested)

    async def coroutine(ctx: JobContext) -> None:
        pass

    coroutine.__qualname__ = "coroutine"  # as if at module level
    with pytest.raises(JobDefinitionError, match="is async"):
        job(coroutine)

    def no_context() -> None:
        pass

    no_context.__qualname__ = "no_context"
    with pytest.raises(JobDefinitionError, match="JobContext as its first parameter"):
        job(no_context)

    def takes_job_id(ctx: JobContext, job_id: str) -> None:
        pass

    takes_job_id.__qualname__ = "takes_job_id"
    with pytest.raises(JobDefinitionError, match="parameter named 'job_id'"):
        job(takes_job_id)

    with pytest.raises(JobDefinitionError, match="retries must be"):
        job(retries=-1)
    with pytest.raises(JobDefinitionError, match="retry_delays must be"):
        job(retry_delays=[])
    with pytest.raises(JobDefinitionError, match="timeout must be"):
        job(timeout=0)


def test_a_job_is_still_a_plain_function_tests_can_call(settings, tmp_path):
    path = str(tmp_path / "calls.txt")
    assert count_call(make_context(settings, None), path) == 1
    assert count_call.__kefu_job__.name == f"{__name__}:count_call"  # type: ignore[attr-defined]


# -- JSON payloads ----------------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"ids": [1, {"x": {2}}]}, r"payload at \['ids'\]\[1\]\['x'\] is a set"),
        ([b"bytes"], r"payload at \[0\] is a bytes"),
        (Color.RED, r"payload is a .*Color"),
        ({"n": float("inf")}, r"payload at \['n'\] is inf, which JSON cannot carry"),
        ({(1, 2): "tuple key"}, r"payload has the key \(1, 2\)"),
    ],
)
def test_non_json_values_are_named_by_their_path(value, message):
    with pytest.raises(NotJSONError, match=message):
        check_json(value, "payload")


def test_deep_json_is_refused_and_plain_json_is_accepted():
    deep: Any = "leaf"
    for _ in range(70):
        deep = [deep]
    with pytest.raises(NotJSONError, match="nested more than 64 levels"):
        check_json(deep, "payload")
    check_json({"a": [1, 2.5, True, None, "s", {"b": []}], "c": (1, 2)}, "payload")


# -- the ledger, used directly -------------------------------------------------------------


def test_transaction_records_the_job_and_refuses_to_run_its_body_again(settings, sessions):
    ctx = make_context(settings, sessions)
    with ctx.transaction() as session:
        session.add(JobRun(job_id="other-job", step="", job_name="x", finished_at=utcnow()))

    ran = []

    def again() -> None:
        with ctx.transaction():
            ran.append(True)

    with pytest.raises(JobAlreadyDone, match="job-1 already committed its effect"):
        again()
    assert ran == []

    with ctx.transaction(step="second"):  # another step of the same job is separate
        pass
    with sessions() as session:
        recorded = session.execute(
            sa.select(JobRun.job_id, JobRun.step).order_by(JobRun.job_id, JobRun.step)
        )
        assert [tuple(r) for r in recorded] == [
            ("job-1", ""), ("job-1", "second"), ("other-job", "")
        ]


def test_transaction_rolls_back_the_writes_and_the_ledger_together(settings, sessions):
    ctx = make_context(settings, sessions, job_id="job-2")

    def fail_midway() -> None:
        with ctx.transaction() as session:
            session.add(JobRun(job_id="job-2-write", step="", job_name="x", finished_at=utcnow()))
            session.flush()
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_midway()
    with sessions() as session:
        assert session.scalars(sa.select(JobRun.job_id)).all() == []


def test_committing_inside_the_transaction_is_refused(settings, sessions):
    ctx = make_context(settings, sessions, job_id="job-3")

    def commit_inside() -> None:
        with ctx.transaction() as session:
            session.commit()

    with pytest.raises(RuntimeError, match="committed or rolled back inside"):
        commit_inside()


def test_old_ledger_rows_can_be_pruned(settings, sessions):
    with sessions.begin() as session:
        old = utcnow() - timedelta(days=40)
        session.add(JobRun(job_id="old", step="", job_name="x", finished_at=old))
        session.add(JobRun(job_id="new", step="", job_name="x", finished_at=utcnow()))
    with sessions.begin() as session:
        assert prune_job_runs(session, utcnow() - timedelta(days=30)) == 1
    with sessions() as session:
        assert session.scalars(sa.select(JobRun.job_id)).all() == ["new"]


def test_a_job_asking_for_the_database_without_a_session_factory_is_told_why(settings):
    with InProcessJobQueue(settings) as queue:
        info = queue.wait(queue.enqueue(needs_database), WAIT)
    assert info.status is JobStatus.FAILED
    assert info.error is not None
    assert info.error.startswith("kefu.platform.jobs.context.NoDatabase: job ")
    assert "has no session factory" in info.error
    assert issubclass(NoDatabase, RuntimeError)


# -- in-process lifecycle ---------------------------------------------------------------------


def test_jobs_wait_until_the_in_process_queue_is_started(settings, tmp_path):
    queue = InProcessJobQueue(settings, threads=1)
    path = str(tmp_path / "calls.txt")
    job_id = queue.enqueue(count_call, path)
    assert queue.get(job_id).status is JobStatus.QUEUED
    queue.start()
    assert queue.wait(job_id, WAIT).result == 1
    queue.stop()
    later = queue.enqueue(count_call, path)
    assert queue.get(later).status is JobStatus.QUEUED  # stopped: nothing runs
    queue.start()
    assert queue.wait(later, WAIT).result == 2
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        queue.enqueue(count_call, path)


def test_finished_jobs_are_forgotten_after_result_ttl(settings, tmp_path):
    path = str(tmp_path / "calls.txt")
    with InProcessJobQueue(settings, result_ttl=0) as queue:
        job_id = f"nightly-{uuid.uuid4().hex}"
        queue.wait(queue.enqueue(count_call, path, job_id=job_id), WAIT)
        other = queue.enqueue(count_call, path)  # enqueueing prunes
        with pytest.raises(JobNotFound):
            queue.get(job_id)
        queue.wait(other, WAIT)
        # The id is free again: the ledger, not the queue, guards effects for longer.
        assert queue.wait(queue.enqueue(count_call, path, job_id=job_id), WAIT).result == 3


# -- factories ----------------------------------------------------------------------------


def test_factories_choose_the_implementation_from_settings(tmp_path, redis_url):
    embedded = load_settings(environ={"KEFU_DATA_DIR": str(tmp_path)})
    production = load_settings(
        environ={"KEFU_DATA_DIR": str(tmp_path), "KEFU_REDIS_URL": redis_url}
    )
    queue = make_job_queue(embedded)
    assert isinstance(queue, InProcessJobQueue)
    queue.close()
    queue = make_job_queue(production)
    assert isinstance(queue, RQJobQueue)
    assert queue.queue.name == "kefu"
    queue.close()
    bus = make_event_bus(embedded)
    assert isinstance(bus, InProcessEventBus)
    bus.close()
    bus = make_event_bus(production)
    assert isinstance(bus, RedisEventBus)
    bus.close()
