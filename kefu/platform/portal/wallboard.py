"""The supervisor's wallboard: agents with their live state, queues with what waits now and
how today went.

Live figures (agent states, waiting contacts, longest wait) come from the ACD state; today's
figures from the interaction rows of the tenant's day ("today" starts at midnight in the
tenant's timezone). The definitions are the DSL's ``kpi`` ones (the first kpi naming the queue,
else the first kpi without queues, else an 80/20 service level with no short abandons):

- ``service_level_today``: answered within the threshold ÷ (answered + abandoned − abandoned
  within ``short_abandon``), None before any contact counts;
- ``abandon_rate_today``: abandoned ÷ (answered + abandoned), None before any contact.

Both count contacts that entered the queue today and have been answered or abandoned.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.dsl import ir
from kefu.platform.agents.models import Agent
from kefu.platform.interactions.models import Interaction
from kefu.platform.routing.service import NoRouting, RoutingService
from kefu.runtime.acd.agent import AgentState
from kefu.runtime.lifecycle import Outcome, State

if TYPE_CHECKING:
    from kefu.platform.context import Platform

#: What a queue's service level means when no kpi of the config says: 80% within 20 s.
DEFAULT_THRESHOLD = 20
HELD = (State.OFFERED, State.CONNECTED, State.WRAP_UP)


@dataclass(frozen=True)
class KpiRule:
    threshold: int
    short_abandon: int
    target: float | None


def kpi_for(config: ir.Config, queue: str) -> KpiRule:
    """The service-level definition that applies to ``queue``."""
    chosen = next((k for k in config.kpis if queue in k.queues), None) or next(
        (k for k in config.kpis if not k.queues), None)
    if chosen is None:
        return KpiRule(DEFAULT_THRESHOLD, 0, None)
    return KpiRule(chosen.threshold if chosen.threshold is not None else DEFAULT_THRESHOLD,
                   chosen.short_abandon or 0,
                   chosen.service_level / 100 if chosen.service_level is not None else None)


def start_of_today(timezone: str, now: dt.datetime) -> dt.datetime:
    """Midnight of ``now``'s day in ``timezone``, in UTC."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    return dt.datetime.combine(local.date(), dt.time(), zone).astimezone(dt.UTC)


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def _iso(posix: float) -> str | None:
    return dt.datetime.fromtimestamp(posix, tz=dt.UTC).isoformat() if posix else None


def today_by_queue(db: Session, config: ir.Config, since: dt.datetime
                   ) -> dict[str, dict[str, Any]]:
    """Answered, abandoned, service level and abandon rate of each queue since ``since``."""
    rows = db.execute(sa.select(Interaction.queue, Interaction.queued_at,
                                Interaction.answered_at, Interaction.ended_at,
                                Interaction.outcome)
                      .where(Interaction.queued_at >= since, Interaction.queue.is_not(None)))
    counts: dict[str, dict[str, int]] = {}
    rules = {q.id: kpi_for(config, q.id) for q in config.queues}
    for queue, queued_at, answered_at, ended_at, outcome in rows:
        rule = rules.get(queue or "")
        if queue is None or rule is None:
            continue
        c = counts.setdefault(queue, {"answered": 0, "abandoned": 0, "within": 0, "short": 0})
        if answered_at is not None:
            c["answered"] += 1
            waited = _seconds(answered_at, queued_at) or 0.0
            c["within"] += waited <= rule.threshold
        elif outcome == Outcome.ABANDONED:
            c["abandoned"] += 1
            waited = _seconds(ended_at, queued_at) or 0.0
            c["short"] += waited <= rule.short_abandon
    out: dict[str, dict[str, Any]] = {}
    for queue, rule in rules.items():
        c = counts.get(queue, {"answered": 0, "abandoned": 0, "within": 0, "short": 0})
        base = c["answered"] + c["abandoned"] - c["short"]
        offered = c["answered"] + c["abandoned"]
        out[queue] = {
            "answered_today": c["answered"], "abandoned_today": c["abandoned"],
            "service_level_today": round(c["within"] / base, 4) if base else None,
            "abandon_rate_today": round(c["abandoned"] / offered, 4) if offered else None,
            "service_level_target": rule.target,
            "service_level_threshold_seconds": rule.threshold,
        }
    return out


def wallboard(platform: Platform, db: Session, tenant_id: uuid.UUID,
              now: dt.datetime | None = None) -> dict[str, Any]:
    """The ``/wallboard`` document."""
    now = now or dt.datetime.now(dt.UTC)
    service = RoutingService(platform, db, tenant_id)
    records = {rec.id: rec for rec in service.state.agents()}
    held: dict[uuid.UUID, list[str]] = {}
    for interaction_id, agent_id in db.execute(
            sa.select(Interaction.id, Interaction.agent_id)
            .where(Interaction.state.in_(HELD), Interaction.agent_id.is_not(None))
            .order_by(Interaction.created_at)):
        if agent_id is not None:
            held.setdefault(agent_id, []).append(str(interaction_id))
    agents = []
    for agent in db.scalars(sa.select(Agent).where(Agent.is_active.is_(True))
                            .order_by(Agent.display_name, Agent.id)):
        rec = records.get(str(agent.id))
        since = rec.since if rec is not None else 0.0
        agents.append({
            "agent_id": str(agent.id), "name": agent.display_name,
            "team": agent.team, "department": agent.department,
            "state": rec.state.value if rec is not None else AgentState.LOGGED_OUT.value,
            "reason": rec.reason if rec is not None else None,
            "since": _iso(since),
            "seconds_in_state": round(now.timestamp() - since, 1) if since else None,
            "interactions": held.get(agent.id, []),
            "load": {k: v for k, v in (rec.load if rec is not None else {}).items() if v},
            "handled_today": rec.handled_today if rec is not None else 0,
        })
    queues = []
    try:
        router = service.router()
    except NoRouting:
        router = None
    if router is not None:
        config = platform.configs.deployed(tenant_id)
        assert config is not None
        tz = config.config.tenant.timezone
        today = today_by_queue(db, config.config, start_of_today(tz, now))
        titles = {q.id: q.title for q in config.config.queues}
        staffed = [r for r in records.values() if r.state is not AgentState.LOGGED_OUT]
        for qid, q in sorted(router.config.queues.items()):
            waiting = service.state.waiting(qid)
            qualified = [a for a in staffed if all(a.spec.skills.get(s, 0) >= lvl
                                                   for s, lvl in q.loosest().items())]
            queues.append({
                "queue": qid, "name": titles.get(qid) or qid, "waiting": len(waiting),
                "longest_wait_seconds": round(max((now.timestamp() - c.arrived
                                                   for c in waiting), default=0.0), 1),
                "agents_ready": sum(a.state is AgentState.READY for a in qualified),
                "agents_logged_in": len(qualified),
                **today[qid],
            })
    return {"agents": agents, "queues": queues, "as_of": now.isoformat()}
