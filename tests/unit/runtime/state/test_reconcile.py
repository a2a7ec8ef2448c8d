"""Heartbeats and reconciliation: work held by a dead node is re-queued once, live work never."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import redis

from kefu.runtime.acd import AgentSpec, AgentState, QueueConfig, Router, RouterConfig
from kefu.runtime.state.base import NODE_LOST, Contact, Reclaimed, StateBackend
from kefu.runtime.state.memory import MemoryState
from kefu.runtime.state.reconcile import Reconciler, reconcile
from kefu.runtime.state.redis import RedisState

from .conftest import REDIS_URL

TTL = 30.0


def ready(st: StateBackend, agent_id: str, capacity: dict[str, int] | None = None) -> None:
    rec = st.put_agent(AgentSpec(agent_id, {}, capacity or {"voice": 1}), 0.0)
    rec.state = AgentState.READY
    st.save_agent(rec, AgentState.LOGGED_OUT)


def ids(contacts: list[Contact]) -> list[str]:
    return [c.id for c in contacts]


def test_dead_nodes_offer_goes_back_to_the_head_after_the_ttl_and_not_before(
        backend: StateBackend) -> None:
    ready(backend, "a1")
    for i in range(3):
        backend.enqueue(Contact(f"c{i}", "q", priority=5 if i == 2 else 0))
    backend.heartbeat("n1", 100.0, TTL)
    assert backend.reserve("c0", "a1", 100.0, node="n1")
    assert backend.held_by("n1") == ["c0"]
    assert reconcile(backend, 100.0 + TTL - 0.1) == []
    assert backend.assigned("c0") == "a1"
    assert backend.expired_nodes(100.0 + TTL - 0.1) == []
    assert backend.expired_nodes(100.0 + TTL) == ["n1"]
    done = reconcile(backend, 100.0 + TTL)
    assert done == [Reclaimed("c0", "q", "a1", "n1", offered=True)]
    # at the very head, above the priority-5 contact, and the agent no longer rings
    assert ids(backend.waiting("q")) == ["c0", "c2", "c1"]
    assert backend.assigned("c0") is None
    assert backend.held_by("n1") == []
    a1 = backend.get_agent("a1")
    assert (a1.state, a1.reason, a1.offered, a1.holding()) == (
        AgentState.NOT_READY, NODE_LOST, None, 0)
    assert reconcile(backend, 200.0) == [], "a reclaimed node is forgotten"


def test_live_nodes_work_is_never_touched(backend: StateBackend) -> None:
    for a in ("a1", "a2"):
        ready(backend, a, {"chat": 2})
    for i in range(3):
        backend.enqueue(Contact(f"c{i}", "q", channel="chat"))
    backend.heartbeat("live", 0.0, TTL)
    backend.heartbeat("dead", 0.0, TTL)
    assert backend.reserve("c0", "a1", 1.0, node="live")
    assert backend.reserve("c1", "a2", 1.0, node="dead")
    # the live node keeps beating; released contacts are no longer held by anybody
    backend.heartbeat("live", 25.0, TTL)
    done = reconcile(backend, 40.0)
    assert [(r.contact_id, r.node) for r in done] == [("c1", "dead")]
    assert backend.assigned("c0") == "a1"
    assert backend.get_agent("a1").state == AgentState.OFFERED
    assert backend.held_by("live") == ["c0"]
    assert backend.release("c0") == "a1"
    assert backend.held_by("live") == []
    assert ids(backend.waiting("q")) == ["c1", "c2"]


def test_accepted_work_is_requeued_and_an_agent_left_with_nothing_is_not_ready(
        backend: StateBackend) -> None:
    router = Router(RouterConfig({"q": QueueConfig("q")}), backend)
    backend.node_id = "n1"
    backend.heartbeat("n1", 0.0, TTL)
    ready(backend, "a1", {"chat": 2})
    router.enqueue(Contact("c0", "q", channel="chat"), 1.0)
    router.accept("c0", 2.0)
    assert backend.held_by("n1") == ["c0"]
    assert backend.get_agent("a1").state == AgentState.BUSY
    backend.node_id = None
    done = reconcile(backend, 31.0)
    assert done == [Reclaimed("c0", "q", "a1", "n1", offered=False)]
    a1 = backend.get_agent("a1")
    assert (a1.state, a1.reason, a1.holding()) == (AgentState.NOT_READY, NODE_LOST, 0)
    assert ids(backend.waiting("q")) == ["c0"]


def test_a_node_that_beats_again_in_time_keeps_its_work(backend: StateBackend) -> None:
    ready(backend, "a1")
    backend.enqueue(Contact("c0", "q"))
    rc = Reconciler(backend, "n1", ttl=TTL, beat_every=5.0, run_every=10.0)
    assert rc.tick(0.0) == []
    assert backend.reserve("c0", "a1", 0.0, node="n1")
    for t in range(1, 120):
        assert rc.tick(float(t)) == []
    assert backend.assigned("c0") == "a1"
    with pytest.raises(ValueError):
        Reconciler(backend, "n2", ttl=5.0, beat_every=5.0)


def test_racing_reconcilers_requeue_each_contact_once(backend: StateBackend) -> None:
    n = 40
    for i in range(n):
        ready(backend, f"a{i:02d}")
        backend.enqueue(Contact(f"c{i:02d}", "q"))
    for node in ("d1", "d2"):
        backend.heartbeat(node, 0.0, TTL)
    for i in range(n):
        assert backend.reserve(f"c{i:02d}", f"a{i:02d}", 1.0, node="d1" if i % 2 else "d2")
    results: list[list[Reclaimed]] = []
    if isinstance(backend, MemoryState):
        results = [reconcile(backend, 60.0) for _ in range(4)]
    else:
        assert isinstance(backend, RedisState)
        start = threading.Barrier(4)

        def run() -> None:
            other = RedisState(redis.Redis.from_url(REDIS_URL), backend.p)
            start.wait()
            results.append(reconcile(other, 60.0))
            other.r.close()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    got = [r.contact_id for res in results for r in res]
    assert sorted(got) == [f"c{i:02d}" for i in range(n)], "each contact re-queued once"
    assert len(backend.waiting("q")) == n
    assert backend.assignments() == {}
    assert all(a.holding() == 0 for a in backend.agents())


SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from kefu.runtime.acd import AgentSpec, QueueConfig, Router, RouterConfig
    from kefu.runtime.state import Contact
    from kefu.runtime.state.redis import RedisState
    from kefu.runtime.state.reconcile import Reconciler
    st = RedisState(sys.argv[1], sys.argv[2], node_id="doomed")
    router = Router(RouterConfig({"q": QueueConfig("q", ring_timeout=600)}), st)
    rc = Reconciler(st, "doomed", ttl=float(sys.argv[3]), beat_every=0.2, run_every=0.5)
    rc.tick(time.time())
    router.add_agent(AgentSpec("a1", {}), 0)
    router.login("a1", time.time())
    router.ready("a1", time.time())
    for i in range(2):
        router.enqueue(Contact(f"c{i}", "q", customer=f"cust{i}"), time.time())
    print("offered", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.slow
def test_work_of_a_sigkilled_process_is_requeued_by_another_node(
        redis_state: RedisState) -> None:
    ttl = 1.0
    proc = subprocess.run([sys.executable, "-c", SCRIPT, REDIS_URL, redis_state.p, str(ttl)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "offered" in proc.stdout
    killed = time.time()
    assert redis_state.assignments() == {"c0": "a1"}
    assert redis_state.held_by("doomed") == ["c0"]
    survivor = Reconciler(redis_state, "survivor", ttl=ttl, beat_every=0.2, run_every=0.1)
    done: list[Reclaimed] = []
    while not done and time.time() < killed + 10 * ttl:
        done = survivor.tick(time.time())
        time.sleep(0.05)
    took = time.time() - killed
    assert [(r.contact_id, r.node, r.offered) for r in done] == [("c0", "doomed", True)]
    assert took <= ttl + 1.0, f"re-queued {took:.2f} s after the kill"
    assert ids(redis_state.waiting("q")) == ["c0", "c1"]
    c0 = redis_state.get_contact("c0")
    assert c0 is not None
    assert c0.customer == "cust0"
    assert redis_state.get_agent("a1").reason == NODE_LOST
    assert survivor.tick(time.time() + 1) == []
