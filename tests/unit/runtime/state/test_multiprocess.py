"""Two runtime processes share one Redis: 1,000 contacts, 50 agents, nothing twice or lost."""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from typing import Any

import pytest
import redis

from kefu.runtime.acd import AgentSpec, QueueConfig, Router, RouterConfig
from kefu.runtime.acd.router import Action
from kefu.runtime.state import Contact
from kefu.runtime.state.redis import RedisState

from .conftest import REDIS_URL

CONFIG = RouterConfig({"q": QueueConfig("q", strategy="longest_idle")})
AGENTS = [AgentSpec(f"a{i:02d}", {"billing": 1 + i % 3}, {"voice": 1, "chat": 2})
          for i in range(50)]


def worker(prefix: str, name: str, count: int, out: Any) -> None:
    """One runtime process: enqueue ``count`` contacts, answer and end whatever it is offered."""
    st = RedisState(redis.Redis.from_url(REDIS_URL), prefix)
    router = Router(CONFIG, st)
    got: list[tuple[str, str]] = []
    held: list[str] = []
    over: list[str] = []

    def take(actions: list[Action]) -> None:
        for a in actions:
            if a.kind == "offer":
                assert a.contact_id
                assert a.agent_id
                got.append((a.contact_id, a.agent_id))
                held.append(a.contact_id)

    def finish(contact_id: str) -> None:
        take(router.accept(contact_id, time.time()))
        agent_id = st.assigned(contact_id)
        assert agent_id is not None
        rec = st.get_agent(agent_id)
        over.extend(f"{agent_id}:{ch}" for ch, n in rec.load.items()
                    if n > rec.spec.capacity.get(ch, 0))
        take(router.end(contact_id, time.time()))

    for i in range(count):
        channel = "chat" if i % 3 == 0 else "voice"
        take(router.enqueue(Contact(f"{name}-{i}", "q", channel=channel), time.time()))
        while len(held) > 20:
            finish(held.pop(0))
    for _ in range(200_000):
        if held:
            finish(held.pop(0))
        elif st.queue_length("q") == 0:
            break
        else:
            take(router.dispatch(time.time()))
    out.put((name, got, over, st.queue_length("q")))
    st.r.close()


@pytest.mark.slow
def test_two_processes_assign_each_contact_once_and_respect_capacity() -> None:
    prefix = f"test:acd:mp:{uuid.uuid4().hex}:"
    st = RedisState(redis.Redis.from_url(REDIS_URL), prefix)
    try:
        now = time.time()
        for spec in AGENTS:
            st.put_agent(spec, now)
        boot = Router(CONFIG, st)
        for spec in AGENTS:
            boot.login(spec.id, now)
            boot.ready(spec.id, now)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(prefix, name, 500, out)) for name in "AB"]
        for p in procs:
            p.start()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        offered = [pair for _, got, _, _ in results for pair in got]
        contacts = [c for c, _ in offered]
        assert len(contacts) == 1000, "every contact reached an agent"
        assert len(set(contacts)) == 1000, "no contact went to two agents"
        assert {c.split("-")[0] for c in contacts} == {"A", "B"}
        assert all(not over for _, _, over, _ in results), "no agent over capacity"
        # both processes did routing work, and every agent is free again at the end
        assert all(len(got) > 0 for _, got, _, _ in results)
        assert st.assignments() == {}
        assert st.queue_length("q") == 0
        assert all(sum(a.load.values()) == 0 for a in st.agents())
    finally:
        st.clear()
        st.r.close()
