"""The automation sweep: wakes tickets whose timers are due and queues stored events whose
rules job is not queued yet. :func:`automation_service` runs it every few seconds in every
runtime process (``RUNTIME_SERVICES``); tests call :func:`sweep` with an explicit ``now``.

Ticket timers. Every workflow ticket keeps ``next_wakeup_at``, the earliest pending timer
(``WorkflowEngine.next_wakeup``), updated whenever a step is applied. The sweep takes the due
tickets (of active tenants) and, each in its own transaction in its tenant's session, locks
the row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: another runtime process sweeping at the
same moment skips it; SQLite has one writer at a time), checks it is still due, runs
``engine.tick`` and applies the step: SLA warnings, breaches and escalations (notify,
reassign, raise priority), automatic transitions, follow-ups falling due. The step moves
``next_wakeup_at`` on, and the marks acted on are stored with it, so each due step is
applied once. A ticket that cannot be ticked (its config was replaced by one without its
workflow) stops being woken; one whose tick fails is retried after ``ERROR_BACKOFF``.

Stored events. An event whose job was never queued (no queue at hand, or the process died
between commit and enqueue) is queued after ``DISPATCH_GRACE``; the job id is derived from
the event, so queueing it twice runs it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from kefu.platform.automation.configs import deployed
from kefu.platform.automation.effects import StepEffects
from kefu.platform.automation.events import job_id_for, pending_events
from kefu.platform.db import utcnow
from kefu.platform.logs import log_context
from kefu.platform.tenancy.models import Tenant, TenantStatus
from kefu.platform.tenancy.scope import cross_tenant
from kefu.platform.tickets.models import Ticket
from kefu.platform.tickets.workflow import TicketWorkflow, engine_for

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0
BATCH = 100
DISPATCH_GRACE = dt.timedelta(seconds=2)
ERROR_BACKOFF = dt.timedelta(minutes=5)


@dataclass
class SweepResult:
    """What one sweep did: tickets ticked (by id), tickets that failed, events queued."""

    ticked: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    dispatched: int = 0


def sweep(platform: Platform, now: dt.datetime | None = None, *,
          dispatch_grace: dt.timedelta = DISPATCH_GRACE, limit: int = BATCH) -> SweepResult:
    """Tick every due ticket and queue waiting events, as of ``now`` (default: the clock)."""
    now = now or utcnow()
    result = SweepResult()
    seen: set[uuid.UUID] = set()
    while True:
        due = [(t, i) for t, i in _due_tickets(platform, now, limit) if i not in seen]
        if not due:
            break
        for tenant_id, ticket_id in due:
            seen.add(ticket_id)
            with log_context(tenant_id=str(tenant_id)):
                try:
                    if tick_ticket(platform, tenant_id, ticket_id, now):
                        result.ticked.append(ticket_id)
                except Exception:
                    log.exception("ticking ticket %s failed; retrying in %s", ticket_id,
                                  ERROR_BACKOFF)
                    result.failed.append(ticket_id)
                    _back_off(platform, tenant_id, ticket_id, now)
    result.dispatched = dispatch_pending(platform, now - dispatch_grace)
    return result


def _due_tickets(platform: Platform, now: dt.datetime,
                 limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    with platform.session() as db, cross_tenant(db):
        rows = db.execute(
            sa.select(Ticket.tenant_id, Ticket.id)
            .join(Tenant, Tenant.id == Ticket.tenant_id)
            .where(Ticket.next_wakeup_at <= now, Tenant.status == TenantStatus.ACTIVE)
            .order_by(Ticket.next_wakeup_at).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]


def tick_ticket(platform: Platform, tenant_id: uuid.UUID, ticket_id: uuid.UUID,
                now: dt.datetime) -> bool:
    """Tick one ticket if it is still due and nobody else holds it; True when ticked."""
    from kefu.platform.automation.rules import handle_event

    effects: StepEffects | None = None
    with platform.session(tenant_id) as db, db.begin():
        # Claim the ticket with a write first: it takes the row lock on PostgreSQL and the
        # write lock on SQLite, so a concurrent sweeper waits and then finds it no longer due.
        claimed = db.execute(
            sa.update(Ticket).where(Ticket.id == ticket_id, Ticket.next_wakeup_at <= now)
            .values(next_wakeup_at=Ticket.next_wakeup_at)
            .execution_options(synchronize_session=False))
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            return False  # ticked by another sweeper meanwhile
        ticket = db.scalar(sa.select(Ticket).where(Ticket.id == ticket_id)
                           .execution_options(populate_existing=True))
        if ticket is None:
            return False
        loaded = deployed(db, platform.configs)
        effects = StepEffects(db, bus=platform.bus)
        flow = (TicketWorkflow(db, engine_for(loaded.version_id, loaded.config),
                               effects=effects) if loaded is not None else None)
        if flow is None or flow.workflow_of(ticket) is None:
            log.info("ticket %s follows no deployed workflow any more; its timers stop",
                     ticket_id)
            ticket.next_wakeup_at = None
            return False
        flow.tick(ticket, now)
    for event in effects.events:
        # Queued once committed; if this fails the dispatch below (or the next sweep) does it.
        try:
            platform.jobs.enqueue(handle_event, str(tenant_id), str(event.id),
                                  job_id=job_id_for(event.id))
        except Exception:
            log.exception("could not queue the rules job of event %s", event.id)
    return True


def _back_off(platform: Platform, tenant_id: uuid.UUID, ticket_id: uuid.UUID,
              now: dt.datetime) -> None:
    with contextlib.suppress(Exception), platform.session(tenant_id) as db, db.begin():
        db.execute(sa.update(Ticket).where(Ticket.id == ticket_id)
                   .values(next_wakeup_at=now + ERROR_BACKOFF))


def dispatch_pending(platform: Platform, older_than: dt.datetime) -> int:
    """Queue the rules job of every event still pending that was stored before
    ``older_than``; returns how many were handed to the queue."""
    from kefu.platform.automation.rules import handle_event

    with platform.session() as db, cross_tenant(db):
        waiting = pending_events(db, older_than=older_than)
    queued = 0
    for tenant_id, event_id in waiting:
        try:
            platform.jobs.enqueue(handle_event, str(tenant_id), str(event_id),
                                  job_id=job_id_for(event_id))
            queued += 1
        except Exception:
            log.exception("could not queue the rules job of event %s", event_id)
            break
    return queued


async def automation_service(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: sweep every ``SWEEP_SECONDS``, and at once when an interaction ends
    (its event was stored by the lifecycle, which has no job queue at hand)."""
    wake = asyncio.Event()
    listener = asyncio.create_task(_listen(platform, stopping, wake))
    try:
        while not stopping.is_set():
            woken = wake.is_set()
            wake.clear()
            try:
                await asyncio.to_thread(
                    sweep, platform,
                    dispatch_grace=dt.timedelta(0) if woken else DISPATCH_GRACE)
            except Exception:
                log.exception("automation sweep failed; trying again in %.0f s", SWEEP_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stopping, wake), SWEEP_SECONDS)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _listen(platform: Platform, stopping: asyncio.Event, wake: asyncio.Event) -> None:
    """Wake the sweep when an interaction ends. At most once, like every bus event: the
    periodic sweep is the guarantee, this only shortens the wait."""
    while not stopping.is_set():
        try:
            subscription = await platform.bus.subscribe(patterns=["tenant.*.interaction.end"])
            async with subscription:
                while not stopping.is_set():
                    try:
                        await subscription.get(timeout=1.0)
                    except TimeoutError:
                        continue
                    wake.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.info("automation lost its bus subscription; subscribing again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SWEEP_SECONDS)
