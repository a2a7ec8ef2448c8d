"""The idempotency ledger: one row per job (and step) whose effect has been committed.

RQ delivers a job at least once: a worker that dies after the job's transaction committed but
before RQ recorded the success makes RQ run the job again. :meth:`JobContext.transaction`
writes a ``job_runs`` row in the same transaction as the job's own writes and refuses to run
the body again once the row exists, so the effect happens exactly once.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, UTCDateTime


class JobRun(Base):
    """A committed job effect. Not tenant-owned: job ids are unique across tenants."""

    __tablename__ = "job_runs"

    job_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    # "" for the job's single transaction; a name when a job commits in several steps.
    step: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    job_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<JobRun {self.job_id} {self.step!r} {self.job_name} {self.finished_at}>"
