"""Directed offers (a transfer to one agent): only that agent is rung, whatever the skills;
an agent who cannot take it changes nothing; after ring-no-answer or a reject the contact
waits in its queue for anyone. Runs on the in-memory and on the Redis backend."""

from __future__ import annotations

import pytest

from kefu.runtime.acd import AgentSpec, AgentState, QueueConfig, Router, RouterConfig
from kefu.runtime.acd.router import Action, AgentUnavailable
from kefu.runtime.state import Contact, StateBackend


def _router(backend: StateBackend) -> Router:
    r = Router(RouterConfig({"q": QueueConfig("q", require={"billing": 3},
                                              ring_timeout=15)}), backend)
    for i, skills in enumerate(({"billing": 4}, {"billing": 4}, {})):  # a3 lacks the skill
        spec = AgentSpec(f"a{i + 1}", skills, capacity={"chat": 2})
        r.add_agent(spec, 0.0)
        r.login(spec.id, 0.0)
    return r


def _offers(actions: list[Action]) -> list[tuple[str | None, str | None]]:
    return [(a.contact_id, a.agent_id) for a in actions if a.kind == "offer"]


def test_only_the_named_agent_rings_even_without_the_queues_skills(
        backend: StateBackend) -> None:
    r = _router(backend)
    r.ready("a1", 1)  # idle longest: the queue's own choice
    r.ready("a3", 2)
    acts = r.offer_to(Contact("c1", "q", channel="chat"), "a3", 10)
    assert _offers(acts) == [("c1", "a3")]
    assert next(a.detail for a in acts if a.kind == "offer") == 25  # the ring timeout
    assert r.state.get_agent("a3").offered == "c1"
    assert r.state.get_contact("c1").agent == "a3"
    assert r.state.get_agent("a1").offered is None
    r.accept("c1", 11)
    assert r.state.get_agent("a3").state == AgentState.BUSY


@pytest.mark.parametrize(("setup", "why"), [
    (lambda r: None, "the agent is not_ready"),
    (lambda r: (r.ready("a2", 1), r.enqueue(Contact("x", "q", channel="chat"), 2)),
     "another contact is ringing at the agent"),
])
def test_an_agent_who_cannot_take_it_changes_nothing(backend: StateBackend, setup: object,
                                                     why: str) -> None:
    r = _router(backend)
    setup(r)  # type: ignore[operator]
    with pytest.raises(AgentUnavailable) as refused:
        r.offer_to(Contact("c1", "q", channel="chat"), "a2", 10)
    assert refused.value.why == why
    assert r.state.get_contact("c1") is None
    assert r.state.assigned("c1") is None


def test_ring_no_answer_sends_it_on_to_anyone_in_the_queue(backend: StateBackend) -> None:
    r = _router(backend)
    r.ready("a3", 1)
    r.offer_to(Contact("c1", "q", channel="chat"), "a3", 10)
    r.ready("a1", 12)  # a1 is free, but the transfer named a3
    assert r.state.get_agent("a1").offered is None
    acts = r.tick(25)
    assert [(a.contact_id, a.detail) for a in acts if a.kind == "requeued"] == [("c1", "rona")]
    assert (r.state.get_agent("a3").state, r.state.get_agent("a3").reason) == (
        AgentState.NOT_READY, "rona")
    assert _offers(acts) == [("c1", "a1")]
    assert r.state.get_contact("c1").agent is None


def test_a_declined_transfer_goes_to_someone_else(backend: StateBackend) -> None:
    r = _router(backend)
    r.ready("a1", 1)
    r.ready("a2", 2)
    r.offer_to(Contact("c1", "q", channel="chat"), "a2", 10)
    acts = r.reject("c1", 11)
    assert _offers(acts) == [("c1", "a1")]
    assert r.state.get_agent("a2").state == AgentState.READY
