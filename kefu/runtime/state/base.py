"""The one interface for ACD runtime state: queues, agent states and capacity, assignment.

Backends: :class:`~kefu.runtime.state.memory.MemoryState` (embedded, one process) and
:class:`~kefu.runtime.state.redis.RedisState` (several runtime processes). Both pass the same
contract suite (``tests/unit/runtime/state``).

Guarantees every backend gives:
- :meth:`StateBackend.reserve` is atomic: a contact is taken out of its queue and given to one
  agent at most once, and only while the agent is routable, has no other pending offer and has
  spare capacity on the contact's channel;
- a queued or assigned contact stays in the store until :meth:`StateBackend.remove` or
  :meth:`StateBackend.release`; nothing is lost when the process holding it goes away (Redis);
- a contact reserved by a node (``node_id``) is recorded as held by it until released or
  unassigned; :meth:`StateBackend.reclaim` re-queues the work of a node whose heartbeat expired,
  atomically and once (see :mod:`kefu.runtime.state.reconcile`).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kefu.runtime.acd.agent import AgentRecord, AgentSpec, AgentState


class Conflict(Exception):
    """Another process changed the agent since it was read; re-read and decide again."""


@dataclass
class Contact:
    """A waiting or assigned contact.

    ``arrived`` is when it first queued (wait and service level are measured from it);
    ``queued_at`` when it entered its current queue (escalation steps count from it);
    ``relaxed`` holds skill levels lowered by relax steps; ``step`` how many steps of the current
    queue were applied; ``team`` a dedicated team, if a condition chose one; ``agent`` the one
    agent it is offered to when it was transferred to that agent (a directed offer).
    """

    id: str
    queue: str
    channel: str = "voice"
    priority: int = 0
    arrived: float = 0.0
    queued_at: float = 0.0
    customer: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    relaxed: dict[str, int] = field(default_factory=dict)
    step: int = 0
    team: str | None = None
    agent: str | None = None

    def clone(self) -> Contact:
        """A copy whose dicts can be changed without touching this one."""
        return Contact(self.id, self.queue, self.channel, self.priority, self.arrived,
                       self.queued_at, self.customer, dict(self.attrs), dict(self.relaxed),
                       self.step, self.team, self.agent)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Contact:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Reclaimed:
    """A contact re-queued (at the head of ``queue``) because ``node`` stopped heartbeating.
    ``offered`` tells whether it was still ringing (else it had been accepted); the agent was
    put ``not_ready`` with reason ``node_lost`` if it was ringing or held nothing else."""

    contact_id: str
    queue: str
    agent_id: str
    node: str
    offered: bool


#: Reason given to an agent whose contact was reclaimed from a dead node.
NODE_LOST = "node_lost"


def spec_to_json(spec: AgentSpec) -> str:
    return json.dumps({"id": spec.id, "skills": spec.skills, "capacity": spec.capacity,
                       "teams": list(spec.teams)}, separators=(",", ":"), ensure_ascii=False)


def spec_from_json(text: str | bytes) -> AgentSpec:
    d = json.loads(text)
    return AgentSpec(id=d["id"], skills=d["skills"], capacity=d["capacity"],
                     teams=tuple(d["teams"]))


class StateBackend(abc.ABC):
    """Storage for queues, agents and assignments. Every method may raise the backend's
    connection errors; none of them sleeps or retries.

    ``node_id`` names the runtime process using this backend object: contacts it reserves
    are recorded as held by that node (None: not recorded, nothing to reconcile)."""

    node_id: str | None = None

    # ---- agents
    @abc.abstractmethod
    def put_agent(self, spec: AgentSpec, now: float) -> AgentRecord:
        """Register an agent (logged out) or update the skills/capacity of a known one;
        returns its record. Live state of a known agent is kept."""

    @abc.abstractmethod
    def get_agent(self, agent_id: str) -> AgentRecord:
        """The agent's record. Raises ``KeyError`` for an unknown agent."""

    @abc.abstractmethod
    def agents(self) -> list[AgentRecord]:
        """Every registered agent."""

    @abc.abstractmethod
    def save_agent(self, rec: AgentRecord, expect: AgentState) -> None:
        """Write state, reason, since, idle_since, handled_today and offered of ``rec``
        (never ``load``, which only :meth:`reserve`/:meth:`release` change) if the stored state
        is still ``expect``. Raises :class:`Conflict` otherwise, ``KeyError`` if unknown."""

    @abc.abstractmethod
    def candidates(self, channel: str, skills: Sequence[str]) -> list[AgentRecord]:
        """Agents that could take a ``channel`` contact now: ready or busy, no pending offer,
        spare capacity on ``channel``, and holding every skill named (any level)."""

    # ---- queues
    @abc.abstractmethod
    def enqueue(self, contact: Contact, *, head: bool = False) -> None:
        """Queue ``contact`` behind contacts of equal or higher priority (or at the very head
        of its queue with ``head=True``). Raises ``ValueError`` if it is queued or assigned."""

    @abc.abstractmethod
    def get_contact(self, contact_id: str) -> Contact | None:
        """The queued or assigned contact, or None."""

    @abc.abstractmethod
    def update_contact(self, contact: Contact) -> bool:
        """Store changed fields of a queued contact (priority changes reorder it). Moving it
        to another queue keeps its place by priority and arrival. False if not queued."""

    @abc.abstractmethod
    def remove(self, contact_id: str) -> Contact | None:
        """Take a contact out of its queue (abandon, max wait); None if it was not queued."""

    @abc.abstractmethod
    def waiting(self, queue_id: str, limit: int | None = None) -> list[Contact]:
        """Queued contacts of a queue, head first."""

    def heads(self, queue_ids: Sequence[str], limit: int) -> dict[str, list[Contact]]:
        """The first ``limit`` contacts of each queue (queues without any are left out)."""
        out = {}
        for q in queue_ids:
            items = self.waiting(q, limit)
            if items:
                out[q] = items
        return out

    def agent_and_heads(self, agent_id: str, queue_ids: Sequence[str], limit: int
                        ) -> tuple[AgentRecord, dict[str, list[Contact]]]:
        """:meth:`get_agent` and :meth:`heads` together (one round trip in Redis).
        Raises ``KeyError`` for an unknown agent."""
        return self.get_agent(agent_id), self.heads(queue_ids, limit)

    @abc.abstractmethod
    def queue_length(self, queue_id: str) -> int:
        """How many contacts wait in the queue."""

    @abc.abstractmethod
    def position(self, contact_id: str) -> int | None:
        """1-based place of a queued contact in its queue, or None."""

    @abc.abstractmethod
    def queue_ids(self) -> list[str]:
        """Queues that hold at least one contact."""

    # ---- assignment
    @abc.abstractmethod
    def reserve(self, contact_id: str, agent_id: str, now: float, *,
                node: str | None = None) -> bool:
        """Atomically offer a queued contact to an agent: dequeue it, record the assignment,
        set the agent ``offered`` and count the contact against its capacity; the contact is
        held by ``node`` (default :attr:`node_id`) until released or unassigned. Returns False
        (changing nothing) if the contact is not queued or the agent cannot take it."""

    @abc.abstractmethod
    def release(self, contact_id: str) -> str | None:
        """Forget the assignment and free the capacity; returns the agent id, or None if the
        contact was not assigned. The contact record is dropped."""

    def finish(self, contact_id: str) -> tuple[Contact, AgentRecord] | None:
        """:meth:`release`, returning the contact as it was and the agent's record after it
        (one round trip in the Redis backend). None if the contact was not assigned."""
        c = self.get_contact(contact_id)
        agent_id = self.release(contact_id)
        if c is None or agent_id is None:
            return None
        return c, self.get_agent(agent_id)

    @abc.abstractmethod
    def unassign(self, contact_id: str) -> str | None:
        """Free the agent's capacity but keep the contact (for re-queueing after RONA or a
        reject); clears the agent's pending offer. Returns the agent id or None."""

    @abc.abstractmethod
    def assigned(self, contact_id: str) -> str | None:
        """The agent a contact is assigned to, or None."""

    @abc.abstractmethod
    def assignments(self) -> dict[str, str]:
        """Every contact id → agent id."""

    # ---- nodes: heartbeats and reclaiming the work of dead ones
    @abc.abstractmethod
    def heartbeat(self, node_id: str, now: float, ttl: float) -> None:
        """Record that ``node_id`` is alive at ``now``; it counts as dead from ``now + ttl``
        unless it beats again."""

    @abc.abstractmethod
    def expired_nodes(self, now: float) -> list[str]:
        """Nodes whose last heartbeat expired at or before ``now`` (and not yet reclaimed)."""

    @abc.abstractmethod
    def held_by(self, node_id: str) -> list[str]:
        """Ids of the assigned contacts held by a node, sorted."""

    @abc.abstractmethod
    def reclaim(self, node_id: str, now: float) -> list[Reclaimed]:
        """Atomically, if ``node_id``'s heartbeat has expired at ``now``: free every contact
        it holds, put each back at the head of its queue (agents: see :class:`Reclaimed`) and
        forget the node. Returns what was re-queued; [] if the node is alive, unknown or was
        already reclaimed (so concurrent reclaimers re-queue each contact once)."""

    # ---- stickiness
    @abc.abstractmethod
    def set_last_agent(self, customer: str, agent_id: str) -> None:
        """Remember who last served a customer."""

    @abc.abstractmethod
    def last_agent(self, customer: str) -> str | None:
        """Who last served a customer, or None."""
