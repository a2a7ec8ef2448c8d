"""ACD router behaviour: strategies, agent states, RONA, escalation, overflow, estimates."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kefu.runtime.acd import (
    AgentSpec,
    AgentState,
    InvalidTransition,
    QueueConfig,
    Router,
    RouterConfig,
    Step,
)
from kefu.runtime.acd.router import Action, UnknownQueue
from kefu.runtime.state import Contact, StateBackend

Make = Callable[..., Router]


@pytest.fixture
def make(backend: StateBackend) -> Make:
    """A router factory; every test here runs on the in-memory and on the Redis backend."""

    def build(*queues: QueueConfig, agents: list[AgentSpec] | None = None,
              ready: bool = True) -> Router:
        r = Router(RouterConfig({q.id: q for q in queues}), backend)
        for i, spec in enumerate(agents or []):
            r.add_agent(spec, 0.0)
            r.login(spec.id, 0.0)
            if ready:
                r.ready(spec.id, float(i))  # a1 has been idle longest
        return r

    return build


def offers(actions: list[Action]) -> list[tuple[str | None, str | None]]:
    return [(a.contact_id, a.agent_id) for a in actions if a.kind == "offer"]


def agent(i: int, **skills: int) -> AgentSpec:
    return AgentSpec(f"a{i}", skills or {"billing": 2})


def answer_and_finish(r: Router, contact_id: str, now: float) -> list[Action]:
    r.accept(contact_id, now)
    return r.end(contact_id, now + 1)


# ---------------------------------------------------------------- agent state machine


def test_agent_walks_through_its_states(make: Make) -> None:
    r = make(QueueConfig("q", wrap_up=30), agents=[agent(1)], ready=False)
    assert r.state.get_agent("a1").state == AgentState.NOT_READY
    assert r.state.get_agent("a1").reason == "login"
    r.ready("a1", 1)
    assert offers(r.enqueue(Contact("c1", "q"), 2)) == [("c1", "a1")]
    assert r.state.get_agent("a1").state == AgentState.OFFERED
    r.accept("c1", 3)
    assert r.state.get_agent("a1").state == AgentState.BUSY
    r.end("c1", 50)
    assert r.state.get_agent("a1").state == AgentState.WRAP_UP
    r.tick(79)
    assert r.state.get_agent("a1").state == AgentState.WRAP_UP
    r.tick(80)  # 30 s of wrap-up are over
    assert r.state.get_agent("a1").state == AgentState.READY
    r.not_ready("a1", "lunch", 90)
    rec = r.state.get_agent("a1")
    assert (rec.state, rec.reason) == (AgentState.NOT_READY, "lunch")
    r.logout("a1", 100)
    assert r.state.get_agent("a1").state == AgentState.LOGGED_OUT


def test_invalid_triggers_raise(make: Make) -> None:
    r = make(QueueConfig("q"), agents=[agent(1)], ready=False)
    with pytest.raises(InvalidTransition):
        r.login("a1", 1)  # already logged in
    r.logout("a1", 2)
    with pytest.raises(InvalidTransition):
        r.ready("a1", 3)  # must log in first
    with pytest.raises(InvalidTransition):
        r.not_ready("a1", "lunch", 3)


def test_agent_cannot_log_out_while_holding_a_contact(make: Make) -> None:
    r = make(QueueConfig("q"), agents=[agent(1)])
    r.enqueue(Contact("c1", "q"), 1)
    r.accept("c1", 2)
    with pytest.raises(InvalidTransition):
        r.logout("a1", 3)


def test_not_ready_agents_get_nothing_and_get_work_when_ready(make: Make) -> None:
    r = make(QueueConfig("q"), agents=[agent(1)], ready=False)
    assert offers(r.enqueue(Contact("c1", "q"), 1)) == []
    assert r.position("c1") == 1
    assert offers(r.ready("a1", 5)) == [("c1", "a1")]


# ---------------------------------------------------------------- RONA and reject


def test_rona_requeues_at_the_head_and_makes_the_agent_not_ready(make: Make) -> None:
    r = make(QueueConfig("q", ring_timeout=15), agents=[agent(1), agent(2)])
    r.not_ready("a2", "break", 0.5)
    assert offers(r.enqueue(Contact("c1", "q"), 1)) == [("c1", "a1")]
    r.enqueue(Contact("c2", "q"), 2)
    assert r.tick(15.9) == []  # still ringing
    acts = r.tick(16)
    assert [(a.contact_id, a.detail) for a in acts if a.kind == "requeued"] == [("c1", "rona")]
    rec = r.state.get_agent("a1")
    assert (rec.state, rec.reason) == (AgentState.NOT_READY, "rona")
    assert r.position("c1") == 1  # ahead of c2, which came later anyway
    assert r.position("c2") == 2
    with pytest.raises(KeyError):
        r.accept("c1", 17)  # the offer is gone
    assert offers(r.ready("a2", 20)) == [("c1", "a2")]


def test_rona_puts_the_contact_ahead_of_higher_priority_newcomers(make: Make) -> None:
    r = make(QueueConfig("q", ring_timeout=10), agents=[agent(1)])
    r.enqueue(Contact("c1", "q"), 0)
    r.enqueue(Contact("vip", "q", priority=10), 1)
    r.tick(10)
    assert r.position("c1") == 1
    assert r.position("vip") == 2


def test_reject_offers_the_contact_to_the_next_agent(make: Make) -> None:
    r = make(QueueConfig("q"), agents=[agent(1), agent(2)])
    r.enqueue(Contact("c1", "q"), 1)
    acts = r.reject("c1", 2)
    assert offers(acts) == [("c1", "a2")]
    assert r.state.get_agent("a1").state == AgentState.READY


# ---------------------------------------------------------------- strategies


def test_longest_idle_picks_the_agent_free_for_longest(make: Make) -> None:
    r = make(QueueConfig("q", strategy="longest_idle"), agents=[agent(1), agent(2), agent(3)])
    assert offers(r.enqueue(Contact("c1", "q"), 10)) == [("c1", "a1")]
    answer_and_finish(r, "c1", 11)  # a1 idle again since 12
    assert offers(r.enqueue(Contact("c2", "q"), 13)) == [("c2", "a2")]
    assert offers(r.enqueue(Contact("c3", "q"), 14)) == [("c3", "a3")]
    assert offers(r.enqueue(Contact("c4", "q"), 15)) == [("c4", "a1")]


def test_round_robin_takes_agents_in_turn(make: Make) -> None:
    r = make(QueueConfig("q", strategy="round_robin"), agents=[agent(3), agent(1), agent(2)])
    got = []
    for i in range(6):
        (_cid, aid), = offers(r.enqueue(Contact(f"c{i}", "q"), 10 + i))
        got.append(aid)
        answer_and_finish(r, f"c{i}", 10 + i)
    assert got == ["a1", "a2", "a3", "a1", "a2", "a3"]


def test_least_calls_picks_the_agent_with_fewest_contacts_today(make: Make) -> None:
    r = make(QueueConfig("q", strategy="least_calls"), agents=[agent(1), agent(2)])
    for i in range(2):  # a1 handles two contacts while a2 is on a break
        r.not_ready("a2", "break", 1)
        r.enqueue(Contact(f"x{i}", "q"), 2 + i)
        answer_and_finish(r, f"x{i}", 2 + i)
        r.ready("a2", 100)  # a2 is now the most recently idle
    r.enqueue(Contact("y1", "q"), 200)
    # a1 has been idle longer, but a2 has handled fewer contacts today
    assert r.state.assigned("y1") == "a2"


def test_skills_based_needs_required_levels_and_prefers_weighted_skills(make: Make) -> None:
    q = QueueConfig("q", strategy="skills_based", require={"billing": 2},
                    prefer={"english": (2, 1.0), "vip_care": (1, 3.0)})
    r = make(q, agents=[AgentSpec("novice", {"billing": 1, "english": 3, "vip_care": 3}),
                        AgentSpec("plain", {"billing": 3}),
                        AgentSpec("english", {"billing": 2, "english": 2}),
                        AgentSpec("carer", {"billing": 2, "vip_care": 1})])
    assert offers(r.enqueue(Contact("c1", "q"), 10)) == [("c1", "carer")]  # weight 3
    assert offers(r.enqueue(Contact("c2", "q"), 11)) == [("c2", "english")]  # weight 1
    assert offers(r.enqueue(Contact("c3", "q"), 12)) == [("c3", "plain")]
    assert offers(r.enqueue(Contact("c4", "q"), 13)) == []  # novice lacks billing 2


def test_vip_priority_jumps_the_queue(make: Make) -> None:
    q = QueueConfig("q", priorities=((("var", "caller.vip"), 10),))
    r = make(q, agents=[agent(1)], ready=False)
    r.enqueue(Contact("c1", "q"), 1)
    r.enqueue(Contact("c2", "q"), 2)
    r.enqueue(Contact("vip", "q", attrs={"caller": {"vip": True}}), 3)
    assert [r.position(c) for c in ("vip", "c1", "c2")] == [1, 2, 3]
    assert offers(r.ready("a1", 4)) == [("vip", "a1")]


def test_sticky_last_agent_serves_the_same_customer_again(make: Make) -> None:
    r = make(QueueConfig("q", strategy="last_agent"), agents=[agent(1), agent(2), agent(3)])
    r.enqueue(Contact("c1", "q", customer="13800000000"), 1)
    r.enqueue(Contact("c2", "q", customer="13900000000"), 1)
    assert r.state.assigned("c2") == "a2"
    answer_and_finish(r, "c1", 2)
    answer_and_finish(r, "c2", 2)
    # a3 is idle longest now, but the customer of c2 spoke to a2 last time
    assert offers(r.enqueue(Contact("c3", "q", customer="13900000000"), 10)) == [("c3", "a2")]
    assert offers(r.enqueue(Contact("c4", "q", customer="new"), 11)) == [("c4", "a3")]


def test_channel_capacity_one_call_or_three_chats(make: Make) -> None:
    r = make(QueueConfig("q"), agents=[AgentSpec("a1", {}, {"voice": 1, "chat": 3})])
    got = []
    for i in range(4):
        acts = r.enqueue(Contact(f"chat{i}", "q", channel="chat"), i)
        for cid, _ in offers(acts):
            r.accept(str(cid), i)
            got.append(cid)
    assert got == ["chat0", "chat1", "chat2"]
    assert r.position("chat3") == 1
    assert r.state.get_agent("a1").state == AgentState.BUSY
    r.end("chat0", 10)
    assert r.state.assigned("chat3") == "a1"


def test_dedicated_team_condition_and_queue_teams_limit_agents(make: Make) -> None:
    q = QueueConfig("q", teams=("front",), dedicated=((("var", "vip"), "gold"),))
    r = make(q, agents=[AgentSpec("f1", {}, teams=("front",)),
                        AgentSpec("g1", {}, teams=("gold",)),
                        AgentSpec("x1", {}, teams=("other",))])
    assert offers(r.enqueue(Contact("c1", "q", attrs={"vip": True}), 5)) == [("c1", "g1")]
    assert offers(r.enqueue(Contact("c2", "q"), 6)) == [("c2", "f1")]
    assert offers(r.enqueue(Contact("c3", "q"), 7)) == []  # x1 is not in the queue's teams


# ---------------------------------------------------------------- escalation and overflow


def test_relax_step_lets_less_skilled_agents_take_the_contact_after_n_seconds(make: Make) -> None:
    q = QueueConfig("q", require={"billing": 3},
                    steps=(Step(60, "relax", skill="billing", level=1),))
    r = make(q, agents=[agent(1, billing=1)])
    assert offers(r.enqueue(Contact("c1", "q"), 0)) == []
    assert offers(r.tick(59)) == []
    acts = r.tick(60)
    assert [a.kind for a in acts] == ["relaxed", "offer"]
    assert r.state.assigned("c1") == "a1"


def test_overflow_step_moves_the_contact_to_another_queue(make: Make) -> None:
    r = make(QueueConfig("vip", require={"gold": 1}, steps=(Step(30, "overflow", queue="general"),)),
             QueueConfig("general"), agents=[agent(1)])
    r.enqueue(Contact("c1", "vip"), 0)
    assert r.state.assigned("c1") is None
    acts = r.tick(30)
    assert [(a.kind, a.queue) for a in acts][:1] == [("overflow", "general")]
    assert offers(acts) == [("c1", "a1")]


def test_priority_step_raises_a_waiting_contact_above_newcomers(make: Make) -> None:
    r = make(QueueConfig("q", steps=(Step(20, "priority", priority=5),)), agents=[agent(1)],
             ready=False)
    r.enqueue(Contact("old", "q"), 0)
    r.enqueue(Contact("vipnew", "q", priority=3), 10)
    assert r.position("old") == 2
    r.tick(20)
    assert r.position("old") == 1


def test_overflow_on_queue_length_sends_newcomers_elsewhere(make: Make) -> None:
    r = make(QueueConfig("q", overflow_length=2, overflow_to="backup"), QueueConfig("backup"))
    for i in range(3):
        r.enqueue(Contact(f"c{i}", "q"), i)
    assert r.state.queue_length("q") == 2
    assert [c.id for c in r.state.waiting("backup")] == ["c2"]


@pytest.mark.parametrize("outcome", ["voicemail", "callback"])
def test_max_wait_ends_queueing_with_the_configured_outcome(outcome: str, make: Make) -> None:
    r = make(QueueConfig("q", max_wait=120, max_wait_outcome=outcome))
    r.enqueue(Contact("c1", "q"), 0)
    assert r.tick(119) == []
    acts = r.tick(120)
    assert [(a.kind, a.contact_id, a.detail) for a in acts] == [("max_wait", "c1", outcome)]
    assert r.position("c1") is None


def test_abandon_while_waiting_and_while_ringing(make: Make) -> None:
    r = make(QueueConfig("q"), agents=[agent(1)])
    r.enqueue(Contact("c1", "q"), 0)  # rings a1
    r.enqueue(Contact("c2", "q"), 1)
    acts = r.abandon("c1", 2)
    assert acts[0].kind == "abandoned"
    assert offers(acts) == [("c2", "a1")]  # a1 is free again and takes c2
    r.enqueue(Contact("c3", "q"), 3)
    assert [a.detail for a in r.abandon("c3", 10)] == [7]


def test_unknown_queue_is_refused(make: Make) -> None:
    r = make(QueueConfig("q"))
    with pytest.raises(UnknownQueue):
        r.enqueue(Contact("c1", "nope"), 0)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy"):
        QueueConfig("q", strategy="telepathy")


# ---------------------------------------------------------------- estimates


def test_position_and_expected_wait_for_announcements(make: Make) -> None:
    r = make(QueueConfig("q", aht=120), agents=[agent(1), agent(2)], ready=False)
    for i in range(5):
        r.enqueue(Contact(f"c{i}", "q"), i)
    assert r.position("c3") == 4
    # 4th in line, two staffed agents, 120 s per contact
    assert r.expected_wait("c3") == pytest.approx(240)
    assert r.expected_wait("nobody") is None
    r.ready("a1", 10)
    r.accept("c0", 10)
    r.end("c0", 70)  # one contact took 60 s: the estimate follows measured handle time
    assert r.average_handle_time("q") == pytest.approx(60)
