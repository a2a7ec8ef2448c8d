"""The interaction lifecycle shared by every channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kefu.runtime.lifecycle import InvalidTransition, Outcome, State, Trigger, advance

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _walk(steps: list[tuple[Trigger, Outcome | None]]) -> list[tuple[State, dict[str, datetime]]]:
    state, stamped, seen = State.CREATED, frozenset[str](), []
    for minute, (trigger, outcome) in enumerate(steps, 1):
        step = advance(state, trigger, T0 + timedelta(minutes=minute), outcome=outcome,
                       already_stamped=stamped)
        state, stamped = step.to_state, stamped | set(step.stamps)
        seen.append((state, step.stamps))
    return seen


def test_a_call_through_ivr_queue_ring_no_answer_and_an_agent() -> None:
    seen = _walk([(Trigger.ENTER_FLOW, None), (Trigger.ENQUEUE, None), (Trigger.OFFER, None),
                  (Trigger.REQUEUE, None), (Trigger.OFFER, None), (Trigger.ANSWER, None),
                  (Trigger.WRAP_UP, None), (Trigger.END, Outcome.HANDLED)])
    assert [s for s, _ in seen] == [State.IN_FLOW, State.QUEUED, State.OFFERED, State.QUEUED,
                                    State.OFFERED, State.CONNECTED, State.WRAP_UP, State.ENDED]
    # Wait time counts from the first time it was queued and offered, not the re-offer.
    assert seen[1][1] == {"queued_at": T0 + timedelta(minutes=2)}
    assert seen[2][1] == {"offered_at": T0 + timedelta(minutes=3)}
    assert seen[3][1] == {}
    assert seen[4][1] == {}
    assert seen[5][1] == {"answered_at": T0 + timedelta(minutes=6)}
    assert seen[7][1] == {"ended_at": T0 + timedelta(minutes=8)}


@pytest.mark.parametrize(("steps", "outcome"), [
    ([Trigger.ENTER_FLOW], Outcome.SELF_SERVICE),
    ([Trigger.ENTER_FLOW], Outcome.VOICEMAIL),
    ([Trigger.ENTER_FLOW, Trigger.ENQUEUE], Outcome.ABANDONED),
    ([Trigger.ENTER_FLOW, Trigger.ENQUEUE], Outcome.CALLBACK),
    ([Trigger.ENTER_FLOW, Trigger.ENQUEUE], Outcome.OVERFLOWED),
    ([Trigger.ENQUEUE, Trigger.OFFER, Trigger.ANSWER], Outcome.TRANSFERRED),
])
def test_every_branch_ends_with_its_outcome(steps: list[Trigger], outcome: Outcome) -> None:
    seen = _walk([(t, None) for t in steps] + [(Trigger.END, outcome)])
    assert seen[-1][0] == State.ENDED


def test_transfers_move_a_connected_contact_back_into_a_queue_a_flow_or_to_an_agent() -> None:
    for trigger, target in ((Trigger.TRANSFER_TO_QUEUE, State.QUEUED),
                            (Trigger.TRANSFER_TO_FLOW, State.IN_FLOW),
                            (Trigger.TRANSFER_TO_AGENT, State.OFFERED)):
        assert advance(State.CONNECTED, trigger, T0).to_state == target


def test_invalid_triggers_say_what_is_allowed() -> None:
    with pytest.raises(InvalidTransition, match="cannot answer an interaction that is queued; "
                                                "allowed: offer, return_to_flow, end"):
        advance(State.QUEUED, Trigger.ANSWER, T0)
    with pytest.raises(InvalidTransition, match="allowed: nothing"):
        advance(State.ENDED, Trigger.ENQUEUE, T0)


def test_outcomes_must_fit_the_state_they_end_from() -> None:
    with pytest.raises(InvalidTransition, match="needs an outcome"):
        advance(State.QUEUED, Trigger.END, T0)
    with pytest.raises(InvalidTransition, match="ending while queued cannot be handled"):
        advance(State.QUEUED, Trigger.END, T0, outcome=Outcome.HANDLED)
    with pytest.raises(InvalidTransition, match="only end carries an outcome"):
        advance(State.QUEUED, Trigger.OFFER, T0, outcome=Outcome.HANDLED)
    with pytest.raises(ValueError, match="timezone-aware"):
        advance(State.CREATED, Trigger.ENQUEUE, datetime(2026, 1, 1))  # noqa: DTZ001
