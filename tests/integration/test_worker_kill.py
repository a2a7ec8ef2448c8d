"""Killing a ``kefu worker`` mid-job: the job is retried by another worker and its effect
happens exactly once.

A real worker process (``run_worker`` in a child process, on the machine's Redis) takes a job
that writes a row and then sleeps, either inside its transaction (nothing committed yet) or
after it (the row committed, but RQ never heard the job finished). The test SIGKILLs the
worker, its scheduler and the work horse running the job, as a dying machine would, then
starts a second worker. RQ's registry cleanup in the second worker finds the dead job's
heartbeat expired, re-queues it (it has retries left), and the retry runs:

- killed inside the transaction: the first write was rolled back, the retry writes once;
- killed after the commit: the retry finds the job in the ``job_runs`` ledger and skips it.

The workers use a 1 s heartbeat, 2 s grace and 1 s maintenance interval, so the retry comes a
few seconds after the kill. The database is a SQLite file (embedded pass) or a PostgreSQL
schema of its own (production pass).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kefu.platform.db import create_engine, make_session_factory
from kefu.platform.jobs import JobContext, JobStatus, RQJobQueue, job
from kefu.platform.jobs.models import JobRun
from kefu.platform.jobs.testing import WorkerProcess, purge_queue
from kefu.platform.settings import load_settings

pytestmark = pytest.mark.slow

WAIT = 45.0

TEST_METADATA = sa.MetaData()
effects = sa.Table(
    "worker_kill_effects",
    TEST_METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
)


@job(retries=2, retry_delays=[0])
def write_row_slowly(ctx: JobContext, key: str, marker: str, pause: str) -> int:
    """Write one row; on the first attempt, hang inside or after the transaction."""

    def hang() -> None:
        if ctx.attempt == 1:
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            time.sleep(300)  # the test kills us long before

    with ctx.transaction() as session:
        session.execute(effects.insert().values(key=key, attempt=ctx.attempt))
        session.flush()
        if pause == "inside":
            hang()
    if pause == "after":
        hang()
    return ctx.attempt


@pytest.fixture
def database_url(backend: str, postgres_url: str, tmp_path: Path) -> Iterator[str]:
    if backend == "embedded":
        yield f"sqlite:///{tmp_path / 'kill.sqlite3'}"
        return
    schema = f"kill_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("pause", ["inside", "after"])
def test_a_killed_workers_job_is_retried_and_its_effect_happens_once(
    pause: str, database_url: str, redis_url: str, tmp_path: Path
):
    engine = create_engine(database_url)
    JobRun.__table__.create(engine)  # type: ignore[attr-defined]
    TEST_METADATA.create_all(engine)
    sessions = make_session_factory(engine)
    env = {
        "KEFU_DATA_DIR": str(tmp_path / "var"),
        "KEFU_DATABASE_URL": database_url,
        "KEFU_REDIS_URL": redis_url,
        "KEFU_JOBS_QUEUE": f"kill-{uuid.uuid4().hex[:12]}",
    }
    queue = RQJobQueue(load_settings(environ=env), result_ttl=600, failure_ttl=600)
    first = WorkerProcess(env, tmp_path / "first-worker.log").start()
    second = WorkerProcess(env, tmp_path / "second-worker.log")
    key, marker = uuid.uuid4().hex, tmp_path / "horse.pid"

    def rows() -> list[int]:
        with sessions() as session:
            return list(session.scalars(sa.select(effects.c.attempt).where(effects.c.key == key)))

    try:
        job_id = queue.enqueue(write_row_slowly, key, str(marker), pause)
        wait_until(marker.exists, "the first attempt to start")
        assert queue.get(job_id).status is JobStatus.STARTED

        horse = int(marker.read_text())
        first.kill()  # the worker and its scheduler, at once
        os.kill(horse, signal.SIGKILL)  # and the work horse, in its own process group
        wait_until(lambda: process_gone(horse), "the work horse to die")

        # Nobody is left to report: RQ still believes the job is running.
        killed = queue.get(job_id)
        assert (killed.status, killed.attempts) == (JobStatus.STARTED, 1)
        assert rows() == ([] if pause == "inside" else [1])

        second.start()
        info = queue.wait(job_id, WAIT)

        assert info.status is JobStatus.FINISHED, second.output()
        assert info.attempts == 2
        if pause == "inside":
            assert info.result == 2  # the retry did the work; attempt 1 was rolled back
            assert rows() == [2]
        else:
            assert info.result is None  # the retry found the ledger row and skipped
            assert rows() == [1]
        with sessions() as session:
            assert session.scalar(
                sa.select(sa.func.count()).select_from(JobRun).where(JobRun.job_id == job_id)
            ) == 1
    finally:
        first.kill()
        second.stop()
        purge_queue(queue.connection, env["KEFU_JOBS_QUEUE"])
        queue.close()
        engine.dispose()
