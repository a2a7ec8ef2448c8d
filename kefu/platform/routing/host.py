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
from kefu.platform.runtime_host import node_id
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
