"""Discrete-event load simulation that drives the real router (``kefu simulate-load``).

Poisson arrivals, exponential handle times, ``agents`` identical agents on one queue, and
optionally exponential patience (callers hang up). Agents answer offers at once, without
wrap-up, so with infinite patience this is an M/M/c queue that Erlang C describes.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from kefu.runtime.acd.agent import AgentSpec
from kefu.runtime.acd.config import QueueConfig, RouterConfig
from kefu.runtime.acd.router import Action, Router
from kefu.runtime.state.base import Contact


@dataclass(frozen=True)
class LoadResult:
    """Metrics over contacts that arrived between ``warmup`` and ``duration``.

    ``service_level``: answered within ``threshold`` ÷ (answered + abandoned after the
    threshold) — contacts abandoned before the threshold are left out (short abandons);
    ``asa``: mean wait of answered contacts; ``abandon_rate``: abandoned ÷ offered;
    ``aht``: mean handle time; ``occupancy``: handling time ÷ staffed time of all agents.
    """

    offered: int
    answered: int
    abandoned: int
    service_level: float
    asa: float
    abandon_rate: float
    aht: float
    occupancy: float


_ARRIVE, _END, _ABANDON = 0, 1, 2


def simulate_load(*, agents: int,  # noqa: PLR0915 - one event loop reads best whole
                  arrival_rate: float, aht: float, duration: float,
                  threshold: float = 20.0, patience: float | None = None,
                  warmup: float = 0.0, seed: int = 0) -> LoadResult:
    """Run the simulation.

    Takes the number of agents, the arrival rate (contacts per second), the mean handle time
    and mean patience (seconds, None = infinite), the simulated duration and the warm-up at its
    start whose contacts are not measured, the service-level threshold and the RNG seed.
    Returns a :class:`LoadResult`. Raises ``ValueError`` for non-positive inputs.
    """
    if agents < 1 or arrival_rate <= 0 or aht <= 0 or duration <= warmup:
        raise ValueError("need agents >= 1, arrival_rate > 0, aht > 0, duration > warmup")
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    router = Router(RouterConfig({"q": QueueConfig("q", ring_timeout=1e18)}), scan=1)
    for i in range(agents):
        router.add_agent(AgentSpec(f"agent{i}", {}, {"voice": 1}), 0.0)
        router.login(f"agent{i}", 0.0)
        router.ready(f"agent{i}", 0.0)
    events: list[tuple[float, int, int, str]] = []
    seq = 0

    def push(t: float, kind: int, cid: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, cid))

    arrived: dict[str, float] = {}
    waits: list[float] = []
    handles: list[float] = []
    busy = 0.0
    abandoned = short = 0
    within = 0

    def measured(cid: str) -> bool:
        return warmup <= arrived[cid] < duration

    def on_actions(actions: list[Action], t: float) -> None:
        nonlocal busy, within
        for a in actions:
            if a.kind != "offer" or a.contact_id is None:
                continue
            cid = a.contact_id
            router.accept(cid, t)
            handle = rng.expovariate(1 / aht)
            push(t + handle, _END, cid)
            busy += max(0.0, min(t + handle, duration) - max(t, warmup))
            if measured(cid):
                wait = t - arrived[cid]
                waits.append(wait)
                handles.append(handle)
                within += wait <= threshold

    t = rng.expovariate(arrival_rate)
    push(t, _ARRIVE, "c0")
    n = 0
    while events:
        t, _, kind, cid = heapq.heappop(events)
        if kind == _ARRIVE:
            arrived[cid] = t
            n += 1
            nxt = t + rng.expovariate(arrival_rate)
            if nxt < duration:
                push(nxt, _ARRIVE, f"c{n}")
            if patience is not None:
                push(t + rng.expovariate(1 / patience), _ABANDON, cid)
            on_actions(router.enqueue(Contact(cid, "q"), t), t)
        elif kind == _END:
            on_actions(router.end(cid, t), t)
        elif router.state.position(cid) is not None:  # still waiting: hang up
            router.abandon(cid, t)
            if measured(cid):
                abandoned += 1
                short += t - arrived[cid] <= threshold
    offered = len(waits) + abandoned
    answered = len(waits)
    sl_base = answered + abandoned - short
    return LoadResult(
        offered=offered, answered=answered, abandoned=abandoned,
        service_level=within / sl_base if sl_base else 1.0,
        asa=sum(waits) / answered if answered else 0.0,
        abandon_rate=abandoned / offered if offered else 0.0,
        aht=sum(handles) / answered if answered else 0.0,
        occupancy=busy / (agents * (duration - warmup)),
    )
