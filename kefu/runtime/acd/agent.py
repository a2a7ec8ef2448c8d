"""Agent states of the ACD: an explicit state machine.

States: ``logged_out``, ``ready``, ``not_ready`` (with a reason code), ``offered`` (a contact is
ringing at the agent), ``busy`` (handling one or more contacts) and ``wrap_up`` (after-contact
work, ended by a timer or by the agent). :data:`TRANSITIONS` is the whole table; anything not
in it raises :class:`InvalidTransition`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    OFFERED = "offered"
    BUSY = "busy"
    WRAP_UP = "wrap_up"


class Trigger(enum.StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    READY = "ready"
    NOT_READY = "not_ready"
    OFFER = "offer"
    ACCEPT = "accept"
    REJECT = "reject"
    RONA = "rona"
    END = "end"
    WRAP_DONE = "wrap_done"


S, T = AgentState, Trigger

#: (state, trigger) → the states the trigger may lead to. Where there are several, the caller's
#: situation decides (does the agent still hold contacts? is there wrap-up time?).
TRANSITIONS: dict[tuple[AgentState, Trigger], frozenset[AgentState]] = {
    (S.LOGGED_OUT, T.LOGIN): frozenset({S.NOT_READY}),
    (S.NOT_READY, T.READY): frozenset({S.READY, S.BUSY}),
    (S.NOT_READY, T.NOT_READY): frozenset({S.NOT_READY}),
    (S.NOT_READY, T.LOGOUT): frozenset({S.LOGGED_OUT}),
    (S.NOT_READY, T.END): frozenset({S.NOT_READY}),
    (S.READY, T.OFFER): frozenset({S.OFFERED}),
    (S.READY, T.NOT_READY): frozenset({S.NOT_READY}),
    (S.READY, T.LOGOUT): frozenset({S.LOGGED_OUT}),
    (S.OFFERED, T.ACCEPT): frozenset({S.BUSY}),
    (S.OFFERED, T.REJECT): frozenset({S.READY, S.BUSY}),
    (S.OFFERED, T.RONA): frozenset({S.NOT_READY}),
    (S.OFFERED, T.END): frozenset({S.OFFERED}),
    (S.BUSY, T.OFFER): frozenset({S.OFFERED}),
    (S.BUSY, T.END): frozenset({S.BUSY, S.WRAP_UP, S.READY}),
    (S.BUSY, T.NOT_READY): frozenset({S.NOT_READY}),
    (S.WRAP_UP, T.WRAP_DONE): frozenset({S.READY}),
    (S.WRAP_UP, T.READY): frozenset({S.READY}),
    (S.WRAP_UP, T.NOT_READY): frozenset({S.NOT_READY}),
    (S.WRAP_UP, T.LOGOUT): frozenset({S.LOGGED_OUT}),
}

#: States in which an agent may be offered another contact (if capacity allows).
ROUTABLE = frozenset({S.READY, S.BUSY})


class InvalidTransition(Exception):
    """A trigger that the agent's current state does not allow."""

    def __init__(self, agent_id: str, state: AgentState, trigger: Trigger) -> None:
        super().__init__(f"agent {agent_id}: {trigger.value!r} is not allowed in "
                         f"state {state.value!r}")
        self.agent_id, self.state, self.trigger = agent_id, state, trigger


def next_state(agent_id: str, state: AgentState, trigger: Trigger,
               target: AgentState) -> AgentState:
    """Check ``state --trigger--> target`` against :data:`TRANSITIONS` and log it.

    Returns ``target``. Raises :class:`InvalidTransition` when the table does not allow it.
    """
    allowed = TRANSITIONS.get((state, trigger))
    if allowed is None or target not in allowed:
        raise InvalidTransition(agent_id, state, trigger)
    log.debug("agent %s: %s --%s--> %s", agent_id, state.value, trigger.value, target.value)
    return target


@dataclass(frozen=True)
class AgentSpec:
    """An agent as plain data: skills ``{name: level}``, capacity ``{channel: n}``, teams."""

    id: str
    skills: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=lambda: {"voice": 1})
    teams: tuple[str, ...] = ()


@dataclass
class AgentRecord:
    """An agent's live state as a backend stores it.

    ``idle_since`` is when the agent last became free (ready, or ended its last contact);
    ``load`` counts contacts held or ringing per channel; ``offered`` is the ringing contact
    (offered at ``offered_at``); ``until`` ends a timed wrap-up.
    """

    spec: AgentSpec
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    handled_today: int = 0
    load: dict[str, int] = field(default_factory=dict)
    offered: str | None = None
    offered_at: float = 0.0
    until: float = 0.0

    @property
    def id(self) -> str:
        return self.spec.id

    def clone(self) -> AgentRecord:
        """A copy whose ``load`` can be changed without touching this one."""
        return AgentRecord(self.spec, self.state, self.reason, self.since, self.idle_since,
                           self.handled_today, dict(self.load), self.offered, self.offered_at,
                           self.until)

    def spare(self, channel: str) -> int:
        """How many more contacts of ``channel`` the agent can take."""
        return self.spec.capacity.get(channel, 0) - self.load.get(channel, 0)

    def holding(self) -> int:
        """Contacts the agent is handling or being offered, over all channels."""
        return sum(self.load.values())
