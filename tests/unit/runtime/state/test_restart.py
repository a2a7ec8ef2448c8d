"""A runtime process killed mid-work: the queued and in-flight contacts are still in Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from kefu.runtime.acd import AgentState, QueueConfig, Router, RouterConfig
from kefu.runtime.state.redis import RedisState

from .conftest import REDIS_URL

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from kefu.runtime.acd import AgentSpec, QueueConfig, Router, RouterConfig
    from kefu.runtime.state import Contact
    from kefu.runtime.state.redis import RedisState
    router = Router(RouterConfig({"q": QueueConfig("q", ring_timeout=15)}),
                    RedisState(sys.argv[1], sys.argv[2]))
    router.add_agent(AgentSpec("a1", {}), 0)
    router.login("a1", 0)
    router.ready("a1", 0)
    for i in range(3):
        router.enqueue(Contact(f"c{i}", "q", customer=f"cust{i}"), 1 + i)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_queued_and_ringing_contacts_survive_a_killed_process(redis_state: RedisState) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, REDIS_URL, redis_state.p],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # a new process on the same Redis sees everything the dead one left
    router = Router(RouterConfig({"q": QueueConfig("q", ring_timeout=15)}), redis_state)
    assert redis_state.assignments() == {"c0": "a1"}
    assert [c.id for c in redis_state.waiting("q")] == ["c1", "c2"]
    assert redis_state.get_agent("a1").state == AgentState.OFFERED
    # and carries on: the unanswered offer times out and c0 goes back to the head
    acts = router.tick(100)
    assert [a.contact_id for a in acts if a.kind == "requeued"] == ["c0"]
    assert [c.id for c in redis_state.waiting("q")] == ["c0", "c1", "c2"]
    waiting = redis_state.get_contact("c0")
    assert waiting is not None
    assert waiting.customer == "cust0"
