"""The flow timer sweep: about once a second, every runtime process fires the timers of flow
sessions that are due (no-input re-prompts, lookup timeouts, the tenant's IVR time limit).

Each due session is advanced in its own transaction in its tenant's session, its interaction
and session rows locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several runtime
processes sweep side by side without firing a timer twice and without waiting on a session a
customer's message is advancing right now (it is taken by the next sweep). A session whose
timers fail is retried after ``ERROR_BACKOFF``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa

from kefu.platform.db import utcnow
from kefu.platform.flows.models import FlowSession, FlowStatus
from kefu.platform.flows.service import FlowHost
from kefu.platform.logs import log_context
from kefu.platform.tenancy.models import Tenant, TenantStatus
from kefu.platform.tenancy.scope import cross_tenant

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
BATCH = 100
ERROR_BACKOFF = dt.timedelta(seconds=30)


def sweep(platform: Platform, now: dt.datetime | None = None, *, limit: int = BATCH) -> int:
    """Fire every due flow timer of every active tenant as of ``now`` (default: the clock).

    Returns:
        How many sessions were advanced.
    """
    now = now or utcnow()
    seen: set[uuid.UUID] = set()
    advanced = 0
    while True:
        due = [(t, s) for t, s in _due_sessions(platform, now, limit) if s not in seen]
        if not due:
            return advanced
        for tenant_id, session_id in due:
            seen.add(session_id)
            with log_context(tenant_id=str(tenant_id)):
                try:
                    with platform.session(tenant_id) as db, db.begin():
                        if FlowHost(platform, db, tenant_id).fire(session_id, now):
                            advanced += 1
                except Exception:
                    log.exception("flow session %s: timers failed; retrying in %s",
                                  session_id, ERROR_BACKOFF)
                    _back_off(platform, tenant_id, session_id, now)


def _due_sessions(platform: Platform, now: dt.datetime,
                  limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    with platform.session() as db, cross_tenant(db):
        rows = db.execute(
            sa.select(FlowSession.tenant_id, FlowSession.id)
            .join(Tenant, Tenant.id == FlowSession.tenant_id)
            .where(FlowSession.status == FlowStatus.RUNNING, FlowSession.next_due_at <= now,
                   Tenant.status == TenantStatus.ACTIVE)
            .order_by(FlowSession.next_due_at).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]


def _back_off(platform: Platform, tenant_id: uuid.UUID, session_id: uuid.UUID,
              now: dt.datetime) -> None:
    with contextlib.suppress(Exception), platform.session(tenant_id) as db, db.begin():
        db.execute(sa.update(FlowSession).where(FlowSession.id == session_id)
                   .values(next_due_at=now + ERROR_BACKOFF))


async def run_flow_timers(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: sweep the flow timers of all tenants every ``SWEEP_SECONDS``."""
    while not stopping.is_set():
        try:
            await asyncio.to_thread(sweep, platform)
        except Exception:
            log.exception("flow timer sweep failed; trying again in %.0f s", SWEEP_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), SWEEP_SECONDS)
