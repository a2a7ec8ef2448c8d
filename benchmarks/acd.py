"""ACD routing decisions per second and decision latency, for both state backends.

Setup: 1,000 agents with 3 of 50 skills each (levels 1-5), 50 queues (one per skill, level
>= 2, a mix of strategies), 10,000 waiting contacts; every agent is busy. A *decision* is what
the router does for an agent that has just become free (``Router.serve``): read the heads of
the agent's queues, pick the best contact it qualifies for (highest priority, then longest
waiting) and reserve it atomically. The agent's preceding ``end`` (release the old contact,
save the new agent state) is timed apart and reported as the full cycle end+decision.
The queue is topped up after each decision so 10,000 always wait.

    .venv/bin/python benchmarks/acd.py [--decisions N] [--redis-decisions N] [--redis URL]

Targets (issue 4): in-memory >= 20,000 decisions/s and p99 <= 1 ms; Redis >= 2,000/s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

from kefu.runtime.acd import AgentSpec, QueueConfig, Router, RouterConfig
from kefu.runtime.state import Contact, MemoryState, StateBackend

SKILLS = [f"skill{i:02d}" for i in range(50)]
STRATEGIES = ["longest_idle", "skills_based", "least_calls", "round_robin", "last_agent"]


def build(state: StateBackend, waiting: int, seed: int = 1) -> tuple[Router, random.Random]:
    rng = random.Random(seed)
    queues = {s: QueueConfig(s, strategy=STRATEGIES[i % len(STRATEGIES)], require={s: 2},
                             prefer={SKILLS[(i + 1) % 50]: (3, 1.0)})
              for i, s in enumerate(SKILLS)}
    router = Router(RouterConfig(queues), state)
    for i in range(1000):
        skills = {s: rng.randint(2, 5) for s in rng.sample(SKILLS, 3)}
        router.add_agent(AgentSpec(f"agent{i:04d}", skills, {"voice": 1}), 0.0)
        router.login(f"agent{i:04d}", 0.0)
    for n in range(waiting):
        router.enqueue(Contact(f"w{n}", rng.choice(SKILLS), priority=rng.choice([0, 0, 0, 5]),
                               customer=f"cust{rng.randint(0, 5000)}"), 1.0)
    return router, rng


def run(state: StateBackend, decisions: int, label: str) -> None:
    t0 = time.perf_counter()
    router, rng = build(state, 10_000)
    held: list[str] = []
    now = 2.0
    for rec in router.state.agents():  # everybody picks up work: all agents busy
        for a in router.ready(rec.id, now):
            if a.kind == "offer" and a.contact_id:
                router.accept(a.contact_id, now)
                held.append(a.contact_id)
    extra = 0
    while router.state.queue_length("skill00") + sum(
            router.state.queue_length(s) for s in SKILLS[1:]) < 10_000:
        extra += 1
        router.enqueue(Contact(f"x{extra}", rng.choice(SKILLS)), now)
    setup = time.perf_counter() - t0
    lat: list[float] = []
    cycle: list[float] = []
    made = 0
    for k in range(decisions):
        now += 0.01
        cid = held.pop(rng.randrange(len(held)))
        agent_id = router.state.assigned(cid)
        assert agent_id is not None
        t = time.perf_counter()
        router.end(cid, now, wrap_up=0, serve=False)
        t1 = time.perf_counter()
        acts = router.serve(agent_id, now)
        t2 = time.perf_counter()
        lat.append(t2 - t1)
        cycle.append(t2 - t)
        for a in acts:
            if a.kind == "offer" and a.contact_id:
                made += 1
                router.accept(a.contact_id, now)
                held.append(a.contact_id)
        # keep 10,000 waiting (untimed); an idle agent is given work by the new contact
        for a in router.enqueue(Contact(f"n{k}", rng.choice(SKILLS)), now):
            if a.kind == "offer" and a.contact_id:
                router.accept(a.contact_id, now)
                held.append(a.contact_id)
    lat.sort()
    cycle.sort()
    total = sum(lat)
    print(f"{label:>8}: {decisions} decisions ({made} offers) in {total:.2f} s  "
          f"→ {decisions / total:,.0f} decisions/s   p50 {statistics.median(lat) * 1e3:.3f} ms"
          f"   p99 {lat[int(len(lat) * 0.99)] * 1e3:.3f} ms")
    print(f"{'':>8}  end+decision cycle: {decisions / sum(cycle):,.0f}/s   "
          f"p50 {statistics.median(cycle) * 1e3:.3f} ms   "
          f"p99 {cycle[int(len(cycle) * 0.99)] * 1e3:.3f} ms   (setup {setup:.1f} s; agents "
          f"{len(router.state.agents())}, waiting "
          f"{sum(router.state.queue_length(s) for s in SKILLS)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=50_000)
    ap.add_argument("--redis-decisions", type=int, default=5_000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    run(MemoryState(), args.decisions, "memory")
    try:
        import redis

        from kefu.runtime.state.redis import RedisState

        st = RedisState(redis.Redis.from_url(args.redis), f"bench:acd:{uuid.uuid4().hex}:")
        st.r.ping()
    except Exception as exc:  # report and go on without Redis
        print(f"   redis: skipped ({exc})")
        return
    try:
        run(st, args.redis_decisions, "redis")
    finally:
        st.clear()


if __name__ == "__main__":
    main()
