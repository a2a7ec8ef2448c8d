"""The state-backend contract: the same behaviour from the in-memory and the Redis backend."""

from __future__ import annotations

import pytest

from kefu.runtime.acd.agent import AgentRecord, AgentSpec, AgentState
from kefu.runtime.state.base import Conflict, Contact, StateBackend


def ready_agent(st: StateBackend, agent_id: str, skills: dict[str, int] | None = None,
                capacity: dict[str, int] | None = None) -> AgentRecord:
    rec = st.put_agent(AgentSpec(agent_id, skills or {"billing": 2},
                                 capacity or {"voice": 1}), 0.0)
    rec.state = AgentState.READY
    st.save_agent(rec, AgentState.LOGGED_OUT)
    return st.get_agent(agent_id)


def ids(contacts: list[Contact]) -> list[str]:
    return [c.id for c in contacts]


def test_new_agent_is_logged_out_and_keeps_state_when_registered_again(backend: StateBackend) -> None:
    rec = backend.put_agent(AgentSpec("a1", {"billing": 3}, {"voice": 1, "chat": 3}), 5.0)
    assert rec.state == AgentState.LOGGED_OUT
    assert rec.spec.capacity == {"voice": 1, "chat": 3}
    rec.state = AgentState.READY
    backend.save_agent(rec, AgentState.LOGGED_OUT)
    again = backend.put_agent(AgentSpec("a1", {"billing": 4}, {"voice": 1}), 9.0)
    assert again.state == AgentState.READY
    assert again.spec.skills == {"billing": 4}
    with pytest.raises(KeyError):
        backend.get_agent("nobody")


def test_save_agent_refuses_a_stale_state(backend: StateBackend) -> None:
    rec = ready_agent(backend, "a1")
    rec.state = AgentState.NOT_READY
    with pytest.raises(Conflict):
        backend.save_agent(rec, AgentState.LOGGED_OUT)
    assert backend.get_agent("a1").state == AgentState.READY


def test_queue_order_is_priority_then_arrival_and_head_requeue_goes_first(
        backend: StateBackend) -> None:
    for i, prio in enumerate([0, 0, 5, 0]):
        backend.enqueue(Contact(f"c{i}", "q", priority=prio, arrived=float(i)))
    assert ids(backend.waiting("q")) == ["c2", "c0", "c1", "c3"]
    assert backend.position("c1") == 3
    assert backend.queue_length("q") == 4
    taken = backend.remove("c0")
    assert taken is not None
    assert taken.id == "c0"
    backend.enqueue(taken, head=True)
    assert ids(backend.waiting("q", 2)) == ["c0", "c2"]
    assert backend.queue_ids() == ["q"]


def test_enqueue_twice_is_refused(backend: StateBackend) -> None:
    backend.enqueue(Contact("c1", "q"))
    with pytest.raises(ValueError):
        backend.enqueue(Contact("c1", "q"))


def test_update_contact_reorders_and_moves_between_queues(backend: StateBackend) -> None:
    for i in range(3):
        backend.enqueue(Contact(f"c{i}", "q"))
    c2 = backend.get_contact("c2")
    assert c2 is not None
    c2.priority = 9
    assert backend.update_contact(c2)
    assert ids(backend.waiting("q")) == ["c2", "c0", "c1"]
    c0 = backend.get_contact("c0")
    assert c0 is not None
    c0.queue, c0.relaxed = "other", {"billing": 1}
    assert backend.update_contact(c0)
    assert ids(backend.waiting("other")) == ["c0"]
    moved = backend.get_contact("c0")
    assert moved is not None
    assert moved.relaxed == {"billing": 1}
    assert not backend.update_contact(Contact("ghost", "q"))


def test_reserve_dequeues_assigns_and_counts_capacity(backend: StateBackend) -> None:
    ready_agent(backend, "a1")
    backend.enqueue(Contact("c1", "q"))
    assert backend.reserve("c1", "a1", 3.0)
    assert backend.assigned("c1") == "a1"
    assert backend.queue_length("q") == 0
    rec = backend.get_agent("a1")
    assert rec.state == AgentState.OFFERED
    assert rec.offered == "c1"
    assert rec.load == {"voice": 1}
    # the same contact cannot be reserved again, by anybody
    ready_agent(backend, "a2")
    assert not backend.reserve("c1", "a2", 3.0)


def test_reserve_refuses_agents_that_cannot_take_the_contact(backend: StateBackend) -> None:
    backend.put_agent(AgentSpec("out", {"billing": 2}), 0.0)  # logged out
    ready_agent(backend, "chat_only", capacity={"chat": 3})
    backend.enqueue(Contact("c1", "q", channel="voice"))
    assert not backend.reserve("c1", "out", 1.0)
    assert not backend.reserve("c1", "chat_only", 1.0)
    assert not backend.reserve("c1", "nobody", 1.0)
    assert backend.queue_length("q") == 1


def test_chat_capacity_allows_three_and_no_more(backend: StateBackend) -> None:
    ready_agent(backend, "a1", capacity={"chat": 3})
    for i in range(4):
        backend.enqueue(Contact(f"c{i}", "q", channel="chat"))
    for i in range(3):
        assert backend.reserve(f"c{i}", "a1", 1.0)
        rec = backend.get_agent("a1")
        assert rec.offered == f"c{i}"
        # answer: busy, offer cleared
        rec.state, rec.offered = AgentState.BUSY, None
        backend.save_agent(rec, AgentState.OFFERED)
    assert not backend.reserve("c3", "a1", 1.0)
    assert backend.get_agent("a1").load == {"chat": 3}
    assert backend.candidates("chat", ["billing"]) == []
    assert backend.release("c0") == "a1"
    assert [a.id for a in backend.candidates("chat", ["billing"])] == ["a1"]
    assert backend.reserve("c3", "a1", 2.0)


def test_candidates_need_every_skill_and_a_free_routable_agent(backend: StateBackend) -> None:
    ready_agent(backend, "a1", {"billing": 2, "english": 1})
    ready_agent(backend, "a2", {"billing": 3})
    backend.put_agent(AgentSpec("a3", {"billing": 5, "english": 5}), 0.0)  # logged out
    assert sorted(a.id for a in backend.candidates("voice", ["billing"])) == ["a1", "a2"]
    assert [a.id for a in backend.candidates("voice", ["billing", "english"])] == ["a1"]
    assert backend.candidates("voice", ["french"]) == []
    assert sorted(a.id for a in backend.candidates("voice", [])) == ["a1", "a2"]
    assert backend.candidates("chat", []) == []


def test_unassign_keeps_the_contact_for_requeue_and_release_forgets_it(
        backend: StateBackend) -> None:
    ready_agent(backend, "a1")
    backend.enqueue(Contact("c1", "q", customer="cust"))
    assert backend.reserve("c1", "a1", 1.0)
    assert backend.unassign("c1") == "a1"
    rec = backend.get_agent("a1")
    assert rec.offered is None
    assert rec.load == {"voice": 0}
    c1 = backend.get_contact("c1")
    assert c1 is not None
    assert c1.customer == "cust"
    backend.enqueue(c1, head=True)
    assert backend.position("c1") == 1
    rec.state = AgentState.READY
    backend.save_agent(rec, AgentState.OFFERED)
    assert backend.reserve("c1", "a1", 2.0)
    assert backend.assignments() == {"c1": "a1"}
    assert backend.release("c1") == "a1"
    assert backend.get_contact("c1") is None
    assert backend.assignments() == {}
    assert backend.release("c1") is None


def test_remove_only_takes_queued_contacts(backend: StateBackend) -> None:
    ready_agent(backend, "a1")
    backend.enqueue(Contact("c1", "q"))
    assert backend.reserve("c1", "a1", 1.0)
    assert backend.remove("c1") is None
    assert backend.remove("never") is None


def test_heads_returns_the_front_of_each_queue(backend: StateBackend) -> None:
    for q in ("a", "b"):
        for i in range(3):
            backend.enqueue(Contact(f"{q}{i}", q))
    heads = backend.heads(["a", "b", "empty"], 2)
    assert {q: ids(cs) for q, cs in heads.items()} == {"a": ["a0", "a1"], "b": ["b0", "b1"]}


def test_last_agent_is_remembered(backend: StateBackend) -> None:
    assert backend.last_agent("cust") is None
    backend.set_last_agent("cust", "a7")
    assert backend.last_agent("cust") == "a7"


def test_contact_attributes_survive_storage(backend: StateBackend) -> None:
    backend.enqueue(Contact("c1", "q", attrs={"caller": {"vip": True}, "name": "王芳"},
                            arrived=12.5))
    got = backend.get_contact("c1")
    assert got is not None
    assert got.attrs == {"caller": {"vip": True}, "name": "王芳"}
    assert got.arrived == 12.5
