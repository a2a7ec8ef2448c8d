"""Helpers for tests that need real ``kefu worker`` processes on a real Redis.

:class:`WorkerProcess` starts :func:`~kefu.platform.jobs.redis_queue.run_worker` in a child
process (its own session, so it and its RQ scheduler can be killed together, like a machine
dying) with short heartbeat and maintenance intervals. The child gets the parent's
``sys.path``, so job functions defined in test modules import there under the same names.
:func:`purge_queue` removes what a test queue left in Redis.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

_SCRIPT = """
import sys
from kefu.platform.settings import load_settings
from kefu.platform.jobs.redis_queue import run_worker
run_worker(load_settings(), heartbeat_interval={hi}, heartbeat_grace={hg},
           maintenance_interval={mi}, logging_level="INFO")
"""


class WorkerProcess:
    """One ``kefu worker`` child process.

    Args:
        env: ``KEFU_*`` settings for the child (at least ``KEFU_REDIS_URL``,
            ``KEFU_DATABASE_URL``, ``KEFU_JOBS_QUEUE``), added to the current environment.
        log_path: file that receives the worker's output.
        heartbeat_interval, heartbeat_grace, maintenance_interval: as for ``run_worker``;
            the defaults let a killed worker's job be retried within about 4 seconds.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        heartbeat_interval: int = 1,
        heartbeat_grace: int = 2,
        maintenance_interval: int = 1,
    ) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.script = _SCRIPT.format(
            hi=heartbeat_interval, hg=heartbeat_grace, mi=maintenance_interval
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[Any] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> WorkerProcess:
        path = [p or os.getcwd() for p in sys.path]
        env = {**os.environ, **self.env, "PYTHONPATH": os.pathsep.join(path)}
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", self.script],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its scheduler at once (not a work horse: RQ puts each in
        its own process group; kill that by the pid the job reports)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._close_log()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (RQ's warm shutdown: the running job may finish), then SIGKILL if needed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self.kill()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def purge_queue(connection: Any, queue_name: str) -> None:
    """Delete an RQ queue, its registries and every job they list, from Redis."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    registries = [
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    ]
    job_ids = set(queue.get_job_ids())
    for registry in registries:
        job_ids.update(registry.get_job_ids(cleanup=False))
    keys = [
        key
        for job_id in job_ids
        for key in (f"rq:job:{job_id}", f"rq:results:{job_id}", f"rq:executions:{job_id}")
    ]
    keys += [r.key for r in registries]
    keys += [queue.key, queue.intermediate_queue_key, queue.registry_cleaning_key]
    keys += list(connection.scan_iter(match=f"rq:*:{queue_name}"))
    connection.delete(*keys)
    connection.srem("rq:queues", queue.key)
