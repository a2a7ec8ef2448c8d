"""The ACD's runtime service: timers, heartbeats, reconciliation, for every tenant.

About once a second, for each tenant with a deployed config, one runtime node — the holder of
the tenant's short lease in Redis, or the only process in the embedded default — fires the
router's timers (ring-no-answer, wrap-up ends, escalation steps, maximum waits) and routes. Every
node beats for each tenant so the contacts it holds are known to be alive; whoever holds the
lease re-queues the work of nodes whose heartbeat expired (``kefu.runtime.state.reconcile``) and,
every ``RESYNC_SECONDS``, repairs differences between the ACD state and the interaction rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.platform.context import Platform
from kefu.platform.routing.registry import state_prefix
from kefu.platform.routing.service import NoRouting, RoutingService
from kefu.platform.runtime_host import cancel_tasks, node_id
from kefu.platform.tenancy.scope import cross_tenant
from kefu.runtime.state.reconcile import Reconciler

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
TENANTS_SECONDS = 15.0
RESYNC_SECONDS = 30.0
#: The lease on a tenant's timers outlives a tick by this much, so one stalled node is
#: replaced quickly but two live ones never tick the same tenant at once.
LEASE_SECONDS = 3.0


@dataclass
class AcdTicker:
    """One node's timers for all tenants; :meth:`tick` does one round (sans sleeping)."""

    platform: Platform
    node: str = field(default_factory=node_id)
    _tenants: list[uuid.UUID] = field(default_factory=list)
    _tenants_at: float = float("-inf")
    _reconcilers: dict[uuid.UUID, Reconciler] = field(default_factory=dict)
    _resync_at: dict[uuid.UUID, float] = field(default_factory=dict)

    def tenants(self, now: float) -> list[uuid.UUID]:
        """Tenants with a deployed config (re-read every ``TENANTS_SECONDS``)."""
        if now - self._tenants_at >= TENANTS_SECONDS:
            with self.platform.session() as db, cross_tenant(db):
                self._tenants = list(db.scalars(
                    sa.select(ConfigVersion.tenant_id)
                    .where(ConfigVersion.status == ConfigStatus.DEPLOYED).distinct()))
            self._tenants_at = now
        return self._tenants

    def tick(self, now: float | None = None) -> int:
        """One round over every tenant; returns how many actions were carried out."""
        now = time.time() if now is None else now
        done = 0
        for tenant_id in self.tenants(now):
            try:
                done += self.tick_tenant(tenant_id, now)
            except Exception:
                log.exception("ACD tick for tenant %s failed", tenant_id)
        return done

    def tick_tenant(self, tenant_id: uuid.UUID, now: float) -> int:
        state = self.platform.acd.state(tenant_id)
        reconciler = self._reconcilers.get(tenant_id)
        if reconciler is None:
            reconciler = self._reconcilers[tenant_id] = Reconciler(state, self.node)
        reconciler.beat_if_due(now)  # every node beats, leading or not
        if not self._lead(tenant_id):
            return 0
        with self.platform.session(tenant_id) as db, db.begin():
            service = RoutingService(self.platform, db, tenant_id, clock=lambda: now)
            try:
                actions = service.tick()
            except NoRouting:
                return 0
            reclaimed = reconciler.run_if_due(now)
            service.on_reclaimed(reclaimed)
            fixed = 0
            if now >= self._resync_at.get(tenant_id, float("-inf")):
                self._resync_at[tenant_id] = now + RESYNC_SECONDS
                fixed = service.resync()
        if reclaimed or fixed:
            log.info("tenant %s: re-queued %d contacts of dead nodes, repaired %d",
                     tenant_id, len(reclaimed), fixed)
        return len(actions) + len(reclaimed) + fixed

    def _lead(self, tenant_id: uuid.UUID) -> bool:
        """Hold the tenant's timer lease (always, without Redis)."""
        registry = self.platform.acd
        if not registry.shared:
            return True
        client = registry.redis()
        key = state_prefix(tenant_id) + "ticker"
        lease_ms = int(LEASE_SECONDS * 1000)
        if client.set(key, self.node, nx=True, px=lease_ms):
            return True
        holder = client.get(key)
        if holder is not None and holder.decode() == self.node:
            client.pexpire(key, lease_ms)
            return True
        return False


async def run_acd(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: tick every tenant's ACD about once a second."""
    ticker = AcdTicker(platform)
    while not stopping.is_set():
        await asyncio.to_thread(ticker.tick)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), TICK_SECONDS)


# ---------------------------------------------------------------------- rules' requests
#: How old an unrouted request must be before the sweep takes it (the event usually wins).
REQUEST_SWEEP_AGE_SECONDS = 10.0
REQUEST_SWEEP_SECONDS = 30.0


def route_requested(platform: Platform, tenant_id: uuid.UUID, interaction_id: uuid.UUID, *,
                    swept: bool = False) -> bool:
    """Queue an interaction a rule asked to route (``assign`` to a team, ``callback``): the
    rules host stored the queue on it; here it reaches the ACD. Only an interaction nobody
    routed yet (state created) moves; one already in a flow or queue stays where it is. The
    sweep (``swept``) takes only interactions a rule marked (``data.routing``/``callback``),
    not any created interaction that happens to name a queue."""
    from kefu.platform.interactions.models import Interaction
    from kefu.platform.routing.service import UnknownQueue
    from kefu.runtime.lifecycle import InvalidTransition, State

    with platform.session(tenant_id) as db:
        interaction = db.get(Interaction, interaction_id)
        if interaction is None or interaction.state != State.CREATED or not interaction.queue:
            return False
        if swept and not {"routing", "callback"} & set(interaction.data or {}):
            return False
        try:
            result = RoutingService(platform, db, tenant_id).enqueue(
                interaction, interaction.queue, attrs={"channel": interaction.channel.value})
        except (UnknownQueue, NoRouting, InvalidTransition) as exc:
            log.warning("interaction %s: rule's routing request not carried out: %s",
                        interaction_id, exc)
            return False
        db.commit()
        return result.status != "closed"  # closed: the sweep tries again later


def _stale_requests(platform: Platform) -> list[tuple[uuid.UUID, uuid.UUID]]:
    from datetime import timedelta

    from kefu.platform.db import utcnow
    from kefu.platform.interactions.models import Interaction
    from kefu.runtime.lifecycle import State

    cutoff = utcnow() - timedelta(seconds=REQUEST_SWEEP_AGE_SECONDS)
    with platform.session() as db, cross_tenant(db):
        rows = db.execute(sa.select(Interaction.tenant_id, Interaction.id).where(
            Interaction.state == State.CREATED, Interaction.queue.is_not(None),
            Interaction.updated_at < cutoff).limit(200)).all()
    return list(rows)


async def run_routing_requests(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: carry out the rules' ``routing.request`` events, and sweep for
    requests whose event was missed (a restart between the rule's commit and the event)."""
    subscription = await platform.bus.subscribe(patterns=["tenant.*.routing.request"])

    async def listen() -> None:
        async for event in subscription:
            try:
                tenant = uuid.UUID(event.topic.split(".")[1])
                interaction = uuid.UUID(str(event.data["interaction_id"]))
            except (ValueError, KeyError, TypeError, IndexError):
                log.warning("ignoring malformed %s event", event.topic)
                continue
            try:
                await asyncio.to_thread(route_requested, platform, tenant, interaction)
            except Exception:
                log.exception("routing request for %s failed", interaction)

    listener = asyncio.create_task(listen())
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), REQUEST_SWEEP_SECONDS)
            if stopping.is_set():
                break
            try:
                for tenant, interaction in await asyncio.to_thread(_stale_requests, platform):
                    await asyncio.to_thread(route_requested, platform, tenant, interaction,
                                            swept=True)
            except Exception:
                log.exception("routing request sweep failed")
    finally:
        await cancel_tasks([listener])
        await subscription.close()
